/**
 * A link shared by several software networks with token-based isolation: each network has its
 * own queue (tail drop at `queueLimit`, like an HTB leaf's pfifo), and a TokenScheduler costed
 * in wire bytes, with rounds clocked by the link rate, decides which network's frames go on the
 * wire next. Frames are handed to the underlying Link only `horizon` seconds ahead of the wire,
 * so that the order on the wire is the scheduler's and not the arrival order.
 *
 * @example
 * const l = new SharedLink({ bandwidth: 10e6, delay: 0.002, overhead: 24 });
 * l.addNetwork('voip', { allocation: 16 * 1538, priority: 1 });
 * l.send('voip', batch, now, dropped);
 * l.poll(now, out, nets);   // nets[k] = index (see `networks`) of the network of out[k]
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import { Link, type LinkInit } from './link.js';
import { TokenScheduler, UnknownNetworkError, type NetworkShare, type SchedulerSnapshot } from './tokens.js';

export interface SharedLinkInit extends LinkInit {
  /** Bits per second; required (a shared link without a rate has nothing to share). */
  bandwidth: number;
  /** How far ahead of the wire frames are committed (s); default 1 ms. */
  horizon?: number;
  /** Frames each network may queue before tail drop; default 1000. */
  queueLimit?: number;
}

export interface SharedLinkNetworkStats {
  net: string;
  sent: number;
  queueDrops: number;
  lost: number;
  delivered: number;
  bytesDelivered: number;
  queued: number;
}

class Fifo {
  slots = new Int32Array(64);
  offs = new Int32Array(64);
  lens = new Int32Array(64);
  head = 0;
  count = 0;
  sent = 0;
  queueDrops = 0;
  lost = 0;
  delivered = 0;
  bytesDelivered = 0;

  push(slot: number, off: number, len: number): void {
    if (this.count === this.slots.length) {
      const n = this.slots.length * 2;
      const s = new Int32Array(n);
      const o = new Int32Array(n);
      const l = new Int32Array(n);
      for (let k = 0; k < this.count; k++) {
        const i = (this.head + k) % this.slots.length;
        s[k] = this.slots[i] as number;
        o[k] = this.offs[i] as number;
        l[k] = this.lens[i] as number;
      }
      this.slots = s;
      this.offs = o;
      this.lens = l;
      this.head = 0;
    }
    const i = (this.head + this.count) % this.slots.length;
    this.slots[i] = slot;
    this.offs[i] = off;
    this.lens[i] = len;
    this.count++;
  }
}

export class SharedLink {
  readonly link: Link;
  readonly scheduler: TokenScheduler;
  private readonly horizon: number;
  private readonly queueLimit: number;
  private readonly byteRate: number;
  private readonly ids: string[] = [];
  private readonly queues: Fifo[] = [];
  private readonly index = new Map<string, number>();
  private readonly scratch = new Batch(MAX_BATCH);
  private readonly lostBatch = new Batch(MAX_BATCH);
  // Network index of each frame on the wire, in wire order (the Link keeps order).
  private onWire = new Int32Array(256);
  private wireHead = 0;
  private wireCount = 0;
  private clock = 0;
  /** Largest frame cost seen: how far past the horizon one grant may reach. */
  private maxCost = 0;

  constructor(init: SharedLinkInit) {
    if (!(init.bandwidth > 0)) throw new RangeError('a shared link needs a bandwidth > 0');
    this.horizon = init.horizon ?? 0.001;
    this.queueLimit = init.queueLimit ?? 1000;
    this.byteRate = init.bandwidth / 8;
    // The wire's own queue never drops: the per-network queues are where tail drop happens.
    this.link = new Link({ ...init, queue: 1 << 30 });
    this.scheduler = new TokenScheduler({ unit: 'bytes', frameOverhead: init.overhead ?? 0, rate: this.byteRate, now: () => this.clock });
  }

  /** Network names by index, as reported by `poll`. */
  get networks(): readonly string[] {
    return this.ids;
  }

  addNetwork(net: string, share: NetworkShare): void {
    this.scheduler.addNetwork(net, share);
    this.index.set(net, this.ids.length);
    this.ids.push(net);
    this.queues.push(new Fifo());
  }

  /** Elastic sizing: applies at the next round, nothing queued is dropped. */
  setAllocation(net: string, allocation: number, priority?: number): void {
    this.scheduler.setAllocation(net, allocation, priority);
  }

  /**
   * Queues `net`'s frames at time `now`; frames beyond its queue limit, and frames the link
   * loses, are appended to `dropped` for the caller to free. Returns how many were queued.
   */
  send(net: string, batch: Batch, now: number, dropped?: Batch): number {
    const i = this.index.get(net);
    if (i === undefined) throw new UnknownNetworkError(`no network '${net}' on this link`);
    const q = this.queues[i] as Fifo;
    const n = Math.max(0, Math.min(batch.count, this.queueLimit - q.count));
    for (let k = 0; k < n; k++) q.push(batch.slots[k] as number, batch.offs[k] as number, batch.lens[k] as number);
    q.sent += batch.count;
    if (n > 0) this.scheduler.enqueue(net, this.costs(batch, n), n);
    q.queueDrops += batch.count - n;
    if (dropped) for (let k = n; k < batch.count && !dropped.full; k++) dropped.push(batch.slots[k] as number, batch.offs[k] as number, batch.lens[k] as number);
    this.pump(now, dropped);
    return n;
  }

  /**
   * Appends the frames delivered by `now` to `out` and, if given, each one's network index to
   * `nets`; returns how many.
   */
  poll(now: number, out: Batch, nets?: Int32Array, dropped?: Batch): number {
    this.pump(now, dropped);
    const first = out.count;
    const n = this.link.poll(now, out);
    const cap = this.onWire.length;
    for (let k = 0; k < n; k++) {
      const i = this.onWire[this.wireHead] as number;
      this.wireHead = (this.wireHead + 1) % cap;
      const q = this.queues[i] as Fifo;
      q.delivered++;
      q.bytesDelivered += out.lens[first + k] as number;
      if (nets) nets[first + k] = i;
    }
    this.wireCount -= n;
    return n;
  }

  /** When something next happens (a delivery, or room on the wire for queued frames). */
  nextEvent(): number {
    const queued = this.scheduler.backlog > 0 ? Math.max(this.clock, this.link.busyUntil - this.horizon) : Infinity;
    return Math.min(this.link.nextDue(), queued);
  }

  stats(): SharedLinkNetworkStats[] {
    return this.ids.map((net, i) => {
      const q = this.queues[i] as Fifo;
      return { net, sent: q.sent, queueDrops: q.queueDrops, lost: q.lost, delivered: q.delivered, bytesDelivered: q.bytesDelivered, queued: q.count };
    });
  }

  balances(): SchedulerSnapshot {
    return this.scheduler.balances();
  }

  private costsBuf = new Float64Array(MAX_BATCH);

  private costs(batch: Batch, n: number): Float64Array {
    if (this.costsBuf.length < n) this.costsBuf = new Float64Array(n);
    const o = this.link.overhead;
    // Tokens are wire bytes: the frame plus the link's per-frame overhead.
    for (let k = 0; k < n; k++) {
      const c = (batch.lens[k] as number) + o;
      this.costsBuf[k] = c;
      if (c > this.maxCost) this.maxCost = c;
    }
    return this.costsBuf;
  }

  /** Commits frames to the wire up to `horizon` ahead, in the scheduler's order. */
  private pump(now: number, dropped?: Batch): void {
    if (now > this.clock) this.clock = now;
    for (;;) {
      const start = Math.max(now, this.link.busyUntil);
      if (start >= now + this.horizon) return;
      // What the wire can take within the horizon, plus one largest frame so that a frame longer
      // than the horizon still goes out the moment the wire frees up (overshoot ≤ one frame).
      const g = this.scheduler.next((now + this.horizon - start) * this.byteRate + this.maxCost);
      if (!g) return;
      const i = this.index.get(g.net) as number;
      const q = this.queues[i] as Fifo;
      const b = this.scratch;
      b.clear();
      const cap = q.slots.length;
      for (let k = 0; k < g.count; k++) {
        const j = (q.head + k) % cap;
        b.push(q.slots[j] as number, q.offs[j] as number, q.lens[j] as number);
      }
      q.head = (q.head + g.count) % cap;
      q.count -= g.count;
      this.lostBatch.clear();
      this.link.send(b, now, this.lostBatch);
      const lost = this.lostBatch.count;
      q.lost += lost;
      if (dropped) for (let k = 0; k < lost && !dropped.full; k++) dropped.push(this.lostBatch.slots[k] as number, this.lostBatch.offs[k] as number, this.lostBatch.lens[k] as number);
      this.recordWire(i, g.count - lost);
    }
  }

  private recordWire(i: number, n: number): void {
    while (this.wireCount + n > this.onWire.length) {
      const bigger = new Int32Array(this.onWire.length * 2);
      for (let k = 0; k < this.wireCount; k++) bigger[k] = this.onWire[(this.wireHead + k) % this.onWire.length] as number;
      this.onWire = bigger;
      this.wireHead = 0;
    }
    const cap = this.onWire.length;
    for (let k = 0; k < n; k++) this.onWire[(this.wireHead + this.wireCount + k) % cap] = i;
    this.wireCount += n;
  }
}
