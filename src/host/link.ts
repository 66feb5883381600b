/**
 * An emulated link between two servers, as Mininet's TCLink (HTB rate + netem) or netem alone:
 * bandwidth, propagation delay, jitter, random loss and a tail-drop transmit queue.
 *
 * A frame handed to `send` at time t is first checked against the queue limit (tail drop, as
 * netem's `limit`, counting the frame being serialized), then against the loss probability
 * (netem's `loss random`), then serialized at `bandwidth` after the frames before it
 * (start = max(t, link free), end = start + (len + overhead)·8 / bandwidth) and delivered at
 * end + delay + jitter. Jitter is uniform in [−j, +j] (netem's default) or normal with
 * σ = j; frames keep their order (a frame is never delivered before the one sent before it,
 * as with netem's rate/TCLink shaping), so delivery = max(that, previous delivery).
 *
 * Time is injected (seconds, any monotonic origin), and randomness comes from a seeded
 * generator, so a run is reproducible; `RealtimeLink` drives one from the wall clock.
 *
 * @example
 * const link = new Link({ bandwidth: 100e6, delay: 0.005, jitter: 0.001, loss: 0.01, queue: 100, seed: 1 });
 * link.send(batch, now, dropped);   // dropped: descriptors the caller must free
 * link.poll(now + 0.01, arrived);   // frames due by then, in order
 */
import { Batch } from '../packet/pool.js';

export interface LinkInit {
  /** Bits per second; 0 or absent = infinitely fast. */
  bandwidth?: number;
  /** One-way delay in seconds. */
  delay?: number;
  /** Seconds; see `jitterDistribution`. */
  jitter?: number;
  jitterDistribution?: 'uniform' | 'normal';
  /** Probability in [0, 1] that a frame is lost. */
  loss?: number;
  /** Frames the transmit queue holds (including the one on the wire); default 1000 as netem. */
  queue?: number;
  /** Bytes added to each frame on the wire (24 = preamble, SFD, FCS and inter-frame gap). */
  overhead?: number;
  seed?: number;
}

export interface LinkCounters {
  sent: number;
  delivered: number;
  bytesDelivered: number;
  lost: number;
  queueDrops: number;
  inFlight: number;
  queued: number;
}

export class LinkConfigError extends Error {
  override readonly name = 'LinkConfigError';
}

/** mulberry32: small, fast, good enough for loss and jitter draws; seeded for replay. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Link {
  readonly bandwidth: number;
  readonly delay: number;
  readonly jitter: number;
  readonly loss: number;
  readonly queueLimit: number;
  readonly overhead: number;
  private readonly normal: boolean;
  private readonly rand: () => number;
  private freeAt = -Infinity;
  private lastDelivery = -Infinity;
  // Frames on their way: a FIFO ring (delivery times are non-decreasing).
  private slots = new Int32Array(256);
  private offs = new Int32Array(256);
  private lens = new Int32Array(256);
  private due = new Float64Array(256);
  private head = 0;
  private count = 0;
  // Serialization end times of the frames still in the transmit queue.
  private txEnds = new Float64Array(256);
  private txHead = 0;
  private txCount = 0;
  private readonly c = { sent: 0, delivered: 0, bytesDelivered: 0, lost: 0, queueDrops: 0 };

  constructor(init: LinkInit = {}) {
    this.bandwidth = init.bandwidth ?? 0;
    this.delay = init.delay ?? 0;
    this.jitter = init.jitter ?? 0;
    this.loss = init.loss ?? 0;
    this.queueLimit = init.queue ?? 1000;
    this.overhead = init.overhead ?? 0;
    this.normal = init.jitterDistribution === 'normal';
    const bad = (what: string): never => {
      throw new LinkConfigError(what);
    };
    if (!(this.bandwidth >= 0) || !Number.isFinite(this.bandwidth)) bad(`bandwidth must be ≥ 0 bits/s, got ${init.bandwidth}`);
    if (!(this.delay >= 0) || !Number.isFinite(this.delay)) bad(`delay must be ≥ 0 s, got ${init.delay}`);
    if (!(this.jitter >= 0) || !Number.isFinite(this.jitter)) bad(`jitter must be ≥ 0 s, got ${init.jitter}`);
    if (!(this.loss >= 0 && this.loss <= 1)) bad(`loss must be in [0, 1], got ${init.loss}`);
    if (!Number.isInteger(this.queueLimit) || this.queueLimit < 1) bad(`queue must be a positive integer, got ${init.queue}`);
    this.rand = seededRandom(init.seed ?? 1);
  }

  /**
   * Offers a batch at time `now`. Frames dropped (queue full or lost) are appended to
   * `dropped` so that the caller gives their slots back; the others are now the link's.
   * Returns how many were accepted.
   */
  send(batch: Batch, now: number, dropped?: Batch): number {
    this.drainTx(now);
    let accepted = 0;
    for (let k = 0; k < batch.count; k++) {
      const len = batch.lens[k] as number;
      this.c.sent++;
      if (this.txCount >= this.queueLimit) {
        this.c.queueDrops++;
        if (dropped && !dropped.full) dropped.push(batch.slots[k] as number, batch.offs[k] as number, len);
        continue;
      }
      if (this.loss > 0 && this.rand() < this.loss) {
        this.c.lost++;
        if (dropped && !dropped.full) dropped.push(batch.slots[k] as number, batch.offs[k] as number, len);
        continue;
      }
      const start = Math.max(now, this.freeAt);
      const end = this.bandwidth > 0 ? start + ((len + this.overhead) * 8) / this.bandwidth : start;
      this.freeAt = end;
      this.pushTx(end);
      let at = end + this.delay + this.jitterSample();
      if (at < end) at = end; // jitter never makes a frame arrive before it left
      if (at < this.lastDelivery) at = this.lastDelivery;
      this.lastDelivery = at;
      this.pushFlight(batch.slots[k] as number, batch.offs[k] as number, len, at);
      accepted++;
    }
    return accepted;
  }

  /** Appends the frames delivered by `now` (in order, up to `out`'s room); returns how many. */
  poll(now: number, out: Batch): number {
    let n = 0;
    const cap = this.due.length;
    while (this.count > 0 && !out.full && (this.due[this.head] as number) <= now) {
      const i = this.head;
      out.push(this.slots[i] as number, this.offs[i] as number, this.lens[i] as number);
      this.c.bytesDelivered += this.lens[i] as number;
      this.head = (i + 1) % cap;
      this.count--;
      n++;
    }
    this.c.delivered += n;
    return n;
  }

  /** When the wire finishes serializing what it was given (−Infinity if it never was busy). */
  get busyUntil(): number {
    return this.freeAt;
  }

  /** Delivery time of the next frame, or Infinity when nothing is in flight. */
  nextDue(): number {
    return this.count > 0 ? (this.due[this.head] as number) : Infinity;
  }

  counters(now?: number): LinkCounters {
    if (now !== undefined) this.drainTx(now);
    return { ...this.c, inFlight: this.count, queued: this.txCount };
  }

  private jitterSample(): number {
    if (this.jitter === 0) return 0;
    if (!this.normal) return (2 * this.rand() - 1) * this.jitter;
    // Box–Muller.
    const u = 1 - this.rand();
    const v = this.rand();
    return this.jitter * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  private drainTx(now: number): void {
    const cap = this.txEnds.length;
    while (this.txCount > 0 && (this.txEnds[this.txHead] as number) <= now) {
      this.txHead = (this.txHead + 1) % cap;
      this.txCount--;
    }
  }

  private pushTx(end: number): void {
    if (this.txCount === this.txEnds.length) {
      const bigger = new Float64Array(this.txEnds.length * 2);
      for (let k = 0; k < this.txCount; k++) bigger[k] = this.txEnds[(this.txHead + k) % this.txEnds.length] as number;
      this.txEnds = bigger;
      this.txHead = 0;
    }
    this.txEnds[(this.txHead + this.txCount) % this.txEnds.length] = end;
    this.txCount++;
  }

  private pushFlight(slot: number, off: number, len: number, at: number): void {
    if (this.count === this.due.length) {
      const n = this.due.length * 2;
      const s = new Int32Array(n);
      const o = new Int32Array(n);
      const l = new Int32Array(n);
      const d = new Float64Array(n);
      for (let k = 0; k < this.count; k++) {
        const i = (this.head + k) % this.due.length;
        s[k] = this.slots[i] as number;
        o[k] = this.offs[i] as number;
        l[k] = this.lens[i] as number;
        d[k] = this.due[i] as number;
      }
      this.slots = s;
      this.offs = o;
      this.lens = l;
      this.due = d;
      this.head = 0;
    }
    const i = (this.head + this.count) % this.due.length;
    this.slots[i] = slot;
    this.offs[i] = off;
    this.lens[i] = len;
    this.due[i] = at;
    this.count++;
  }
}

/**
 * Drives a Link from the wall clock for live runs: `send` stamps batches with the current
 * time and a timer delivers each frame batch at its due time to `onDeliver`.
 *
 * @example
 * const rt = new RealtimeLink(new Link({ delay: 0.01 }), (b) => forward(b), (b) => pool.releaseBatch(b));
 * rt.send(batch);
 * rt.stop();
 */
export class RealtimeLink {
  private timer: NodeJS.Timeout | undefined;
  private readonly out = new Batch();
  private readonly dropped = new Batch();
  private readonly t0 = performance.now();
  private stopped = false;

  constructor(
    readonly link: Link,
    private readonly onDeliver: (b: Batch) => void,
    private readonly onDrop: (b: Batch) => void = () => undefined,
  ) {}

  /** Seconds since this driver started: the link's clock. */
  now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  send(batch: Batch): number {
    this.dropped.clear();
    const n = this.link.send(batch, this.now(), this.dropped);
    if (this.dropped.count > 0) this.onDrop(this.dropped);
    this.arm();
    return n;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer || this.stopped) return;
    const due = this.link.nextDue();
    if (due === Infinity) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, (due - this.now()) * 1000));
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.now();
    for (;;) {
      this.out.clear();
      if (this.link.poll(now, this.out) === 0) break;
      this.onDeliver(this.out);
    }
    this.arm();
  }
}
