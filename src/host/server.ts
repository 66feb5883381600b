/**
 * An emulated server: a CPU capacity (work units per second) that the runtime enforces, shared
 * among software networks by the token scheduler, so that several emulated servers on one
 * machine behave like separate boxes.
 *
 * Each network submits batches of frame descriptors with their arrival time; `serve(now)` adds
 * capacity × (now − last call) to the budget (an idle server banks nothing; a descheduled one
 * banks at most `maxBurst` seconds), then asks the scheduler which network to serve and how
 * much, hands that batch to the network's handler (its functions) and records each frame's
 * sojourn time (arrival → end of its batch's work). The work unit is the scheduler's: 'packets'
 * (capacity in frames/s), 'bytes' (bytes/s) or 'cpu' (ns of CPU per second, e.g. 0.5e9 for
 * half a core; each batch's real CPU time is measured and settled with the scheduler).
 *
 * @example
 * const srv = new EmulatedServer({ capacity: 1e6, unit: 'packets' });
 * srv.addNetwork('voip', { allocation: 640, priority: 1, handler: (b) => router.process(0, b, ctx) });
 * srv.submit('voip', batch, performance.now() / 1000);
 * srv.serve(performance.now() / 1000);
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import { TokenScheduler, UnknownNetworkError, type CostUnit, type NetworkBalance } from './tokens.js';

export interface EmulatedServerInit {
  /** Work units per second (see `unit`). */
  capacity: number;
  unit: CostUnit;
  /** Longest stretch of time whose capacity can be banked (s); default 2 ms. */
  maxBurst?: number;
  /** Frames a network may have queued before tail drop; default 65 536. */
  queueLimit?: number;
  /** Clock (s) that stamps the end of each batch's work (sojourn times) and measures CPU time in 'cpu' mode; default performance.now. */
  clock?: () => number;
  /** 'cpu' mode: the timer (s) that measures each batch's work; default `clock`. */
  workTimer?: () => number;
  /** 'cpu' mode: initial per-frame cost estimate (ns). */
  cpuEstimate?: number;
}

export interface ServerNetworkInit {
  allocation: number;
  priority?: number;
  /** Processes a batch of this network's frames; owns the slots from then on. */
  handler: (batch: Batch) => void;
}

export interface ServerNetworkStats {
  net: string;
  submitted: number;
  served: number;
  dropped: number;
  queued: number;
  /** Sojourn time quantiles in seconds (NaN before the first frame). */
  p50: number;
  p99: number;
  share: NetworkBalance;
}

export interface ServerStats {
  /** Work units done, and what the capacity allowed over the time served. */
  work: number;
  capacityWork: number;
  networks: ServerNetworkStats[];
}

/**
 * Log-bucketed histogram of durations (1 % wide buckets from 100 ns to 100 s): constant-time
 * record, quantiles within 1 %.
 */
export class Histogram {
  private static readonly MIN = 1e-7;
  private static readonly STEP = Math.log(1.01);
  private readonly counts = new Float64Array(Math.ceil(Math.log(1e9) / Histogram.STEP) + 2);
  total = 0;

  record(seconds: number, times = 1): void {
    const i = seconds <= Histogram.MIN ? 0 : Math.min(this.counts.length - 1, 1 + Math.floor(Math.log(seconds / Histogram.MIN) / Histogram.STEP));
    this.counts[i] = (this.counts[i] as number) + times;
    this.total += times;
  }

  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const want = q * this.total;
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i] as number;
      if (acc >= want) return i === 0 ? Histogram.MIN : Histogram.MIN * Math.exp(i * Histogram.STEP);
    }
    return Infinity;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
  }
}

class NetQueue {
  slots = new Int32Array(1024);
  offs = new Int32Array(1024);
  lens = new Int32Array(1024);
  at = new Float64Array(1024);
  head = 0;
  count = 0;
  submitted = 0;
  served = 0;
  dropped = 0;
  readonly hist = new Histogram();
  constructor(readonly handler: (b: Batch) => void) {}

  grow(): void {
    const n = this.at.length * 2;
    const s = new Int32Array(n);
    const o = new Int32Array(n);
    const l = new Int32Array(n);
    const a = new Float64Array(n);
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) % this.at.length;
      s[k] = this.slots[i] as number;
      o[k] = this.offs[i] as number;
      l[k] = this.lens[i] as number;
      a[k] = this.at[i] as number;
    }
    this.slots = s;
    this.offs = o;
    this.lens = l;
    this.at = a;
    this.head = 0;
  }
}

export class EmulatedServer {
  readonly scheduler: TokenScheduler;
  readonly capacity: number;
  private readonly maxBurst: number;
  private readonly queueLimit: number;
  private readonly clock: () => number;
  private readonly workTimer: () => number;
  private readonly nets = new Map<string, NetQueue>();
  private readonly scratch = new Batch(MAX_BATCH);
  private budget = 0;
  private last: number;
  private work = 0;
  private capacityWork = 0;

  constructor(init: EmulatedServerInit) {
    if (!(init.capacity > 0) || !Number.isFinite(init.capacity)) throw new RangeError(`capacity must be a positive number, got ${init.capacity}`);
    this.capacity = init.capacity;
    this.maxBurst = init.maxBurst ?? 0.002;
    this.queueLimit = init.queueLimit ?? 65536;
    this.clock = init.clock ?? (() => performance.now() / 1000);
    this.last = this.clock();
    this.workTimer = init.workTimer ?? this.clock;
    this.scheduler = new TokenScheduler(init.cpuEstimate === undefined ? { unit: init.unit } : { unit: init.unit, cpuEstimate: init.cpuEstimate });
  }

  addNetwork(net: string, init: ServerNetworkInit): void {
    this.scheduler.addNetwork(net, init.priority === undefined ? { allocation: init.allocation } : { allocation: init.allocation, priority: init.priority });
    this.nets.set(net, new NetQueue(init.handler));
  }

  /** Returns the frames the network still had queued (the caller frees them). */
  removeNetwork(net: string): number {
    this.nets.delete(net);
    return this.scheduler.removeNetwork(net);
  }

  /** Elastic sizing, applied at the scheduler's next round; nothing queued is dropped. */
  setAllocation(net: string, allocation: number, priority?: number): void {
    this.scheduler.setAllocation(net, allocation, priority);
  }

  /**
   * Queues a batch for `net`, each frame arriving at `at` (one time, or one per frame).
   * Frames beyond the queue limit are tail-dropped into `dropped` (the caller frees them).
   * Returns how many were queued.
   */
  submit(net: string, batch: Batch, at: number | Float64Array, dropped?: Batch): number {
    const q = this.nets.get(net);
    if (!q) throw new UnknownNetworkError(`no network '${net}' on this server`);
    const room = Math.max(0, this.queueLimit - q.count);
    const n = Math.min(room, batch.count);
    while (q.count + n > q.at.length) q.grow();
    const cap = q.at.length;
    for (let k = 0; k < n; k++) {
      const i = (q.head + q.count + k) % cap;
      q.slots[i] = batch.slots[k] as number;
      q.offs[i] = batch.offs[k] as number;
      q.lens[i] = batch.lens[k] as number;
      q.at[i] = typeof at === 'number' ? at : (at[k] as number);
    }
    q.count += n;
    q.submitted += batch.count;
    if (n > 0) {
      this.scratch.clear();
      for (let k = 0; k < n; k++) this.scratch.push(0, 0, batch.lens[k] as number);
      this.scheduler.enqueueBatch(net, this.scratch);
    }
    if (n < batch.count) {
      q.dropped += batch.count - n;
      if (dropped) for (let k = n; k < batch.count && !dropped.full; k++) dropped.push(batch.slots[k] as number, batch.offs[k] as number, batch.lens[k] as number);
    }
    return n;
  }

  /** Frames `net` has queued (0 for an unknown network). */
  queued(net: string): number {
    return this.nets.get(net)?.count ?? 0;
  }

  /** Does the work the capacity allows since the last call; returns the work units done. */
  serve(now: number): number {
    const dt = Math.max(0, now - this.last);
    this.last = now;
    this.capacityWork += this.capacity * dt;
    this.budget = Math.min(this.budget + this.capacity * dt, this.capacity * this.maxBurst);
    const s = this.scheduler;
    const cpu = s.unit === 'cpu';
    let done = 0;
    for (;;) {
      const g = s.next(this.budget);
      if (!g) break;
      const q = this.nets.get(g.net) as NetQueue;
      const b = this.scratch;
      b.clear();
      const cap = q.at.length;
      for (let k = 0; k < g.count; k++) {
        const i = (q.head + k) % cap;
        b.push(q.slots[i] as number, q.offs[i] as number, q.lens[i] as number);
      }
      const t0 = cpu ? this.workTimer() : 0;
      q.handler(b);
      let cost = g.cost;
      if (cpu) {
        const measured = (this.workTimer() - t0) * 1e9;
        s.settle(g.net, g, measured);
        cost = measured;
      }
      const tEnd = this.clock();
      // Sojourn: arrival → end of the batch's work (one clock read per batch, not per frame).
      for (let k = 0; k < g.count; k++) q.hist.record(tEnd - (q.at[(q.head + k) % cap] as number));
      q.head = (q.head + g.count) % cap;
      q.count -= g.count;
      q.served += g.count;
      this.budget -= cost;
      done += cost;
    }
    if (s.backlog === 0) this.budget = 0; // an idle server banks nothing
    this.work += done;
    return done;
  }

  stats(): ServerStats {
    const shares = new Map(this.scheduler.balances().networks.map((n) => [n.net, n]));
    return {
      work: this.work,
      capacityWork: this.capacityWork,
      networks: [...this.nets].map(([net, q]) => ({
        net,
        submitted: q.submitted,
        served: q.served,
        dropped: q.dropped,
        queued: q.count,
        p50: q.hist.quantile(0.5),
        p99: q.hist.quantile(0.99),
        share: shares.get(net) as NetworkBalance,
      })),
    };
  }

  /** Starts a new measurement window (counters and histograms), keeping queues and balances. */
  resetStats(): void {
    this.work = 0;
    this.capacityWork = 0;
    for (const q of this.nets.values()) {
      q.submitted = 0;
      q.served = 0;
      q.dropped = 0;
      q.hist.reset();
    }
  }
}
