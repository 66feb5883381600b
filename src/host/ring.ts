/**
 * A single-producer single-consumer ring of frame descriptors (slot, offset, length) in a
 * SharedArrayBuffer: the shared half of a virtual NIC, as Xen's netfront/netback rings.
 *
 * Indices are free-running 32-bit counters (compared with `(a - b) | 0`, so they wrap), the
 * capacity is a power of two, and each side only writes its own index: the producer
 * `prod` after the descriptors (Atomics.store is a release), the consumer `cons` after
 * reading them. Notifications follow Xen's event-index protocol (RING_PUSH_REQUESTS_AND_
 * CHECK_NOTIFY): a consumer about to sleep publishes `consEvent = cons + 1` ("wake me when
 * prod passes this"), re-checks, then sleeps; a producer that moves prod from `old` to `new`
 * notifies only if consEvent lies in (old, new]. So a busy consumer costs no notification,
 * and a sleeping one gets exactly one per batch — never one per frame. The same protocol
 * runs the other way for a producer waiting for space (`prodEvent`).
 *
 * @example
 * const ring = new Ring({ capacity: 1024 });
 * // domain A (producer), domain B gets `new Ring({ buffer: ring.buffer })`
 * ring.push(batch);            // returns how many fitted (backpressure when full)
 * const got = peer.pop(into);  // appends up to into.capacity - into.count descriptors
 * if (got === 0) peer.waitForData(10);
 */
import type { Batch } from '../packet/pool.js';

export interface RingInit {
  /** Descriptors the ring holds; a power of two. Ignored when `buffer` is given. */
  capacity?: number;
  /** The buffer of an existing ring (the other end, in another domain). */
  buffer?: SharedArrayBuffer;
}

export class RingError extends Error {
  override readonly name = 'RingError';
}

// Header words, each on its own 64-byte line so that the two sides do not false-share.
const PROD = 0;
const CONS = 16;
const CONS_EVENT = 32;
const PROD_EVENT = 48;
const NOTIFY_CONS = 64; // notifications sent to the consumer
const NOTIFY_PROD = 65; // notifications sent to the producer
const CAPACITY = 80;
const HEADER_WORDS = 96;

interface WaitAsyncResult {
  async: boolean;
  value: Promise<'ok' | 'timed-out'> | 'not-equal' | 'timed-out' | 'ok';
}
type WaitAsync = (ta: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;

export class Ring {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly h: Int32Array;
  private readonly d: Int32Array;
  private readonly mask: number;

  constructor(init: RingInit = {}) {
    if (init.buffer) {
      this.buffer = init.buffer;
      if (this.buffer.byteLength < HEADER_WORDS * 4) throw new RingError('buffer is not a ring');
      this.h = new Int32Array(this.buffer, 0, HEADER_WORDS);
      this.capacity = this.h[CAPACITY] as number;
      if (this.buffer.byteLength !== Ring.bytesFor(this.capacity)) throw new RingError('buffer is not a ring');
    } else {
      const cap = init.capacity ?? 1024;
      if (!Number.isInteger(cap) || cap < 2 || (cap & (cap - 1)) !== 0 || cap > 1 << 24) throw new RangeError(`capacity must be a power of two in [2, 2^24], got ${cap}`);
      this.buffer = new SharedArrayBuffer(Ring.bytesFor(cap));
      this.h = new Int32Array(this.buffer, 0, HEADER_WORDS);
      this.h[CAPACITY] = cap;
      this.capacity = cap;
    }
    this.mask = this.capacity - 1;
    this.d = new Int32Array(this.buffer, HEADER_WORDS * 4, this.capacity * 3);
  }

  static bytesFor(capacity: number): number {
    return HEADER_WORDS * 4 + capacity * 12;
  }

  /** Descriptors waiting to be consumed. */
  get size(): number {
    return (Atomics.load(this.h, PROD) - Atomics.load(this.h, CONS)) | 0;
  }

  /** Notifications the producer sent to a sleeping consumer, and the other way. */
  get notifications(): { toConsumer: number; toProducer: number } {
    return { toConsumer: Atomics.load(this.h, NOTIFY_CONS), toProducer: Atomics.load(this.h, NOTIFY_PROD) };
  }

  /**
   * Producer: appends descriptors `from…batch.count` of `batch`; returns how many fitted
   * (fewer when the ring is full: the caller keeps the rest, that is the backpressure).
   * One index store and at most one notification per call.
   */
  push(batch: Batch, from = 0): number {
    const h = this.h;
    const prod = h[PROD] as number; // only this side writes it
    const cons = Atomics.load(h, CONS);
    const room = this.capacity - ((prod - cons) | 0);
    const n = Math.min(batch.count - from, room);
    if (n <= 0) return 0;
    const d = this.d;
    const { slots, offs, lens } = batch;
    for (let k = 0; k < n; k++) {
      const j = ((prod + k) & this.mask) * 3;
      d[j] = slots[from + k] as number;
      d[j + 1] = offs[from + k] as number;
      d[j + 2] = lens[from + k] as number;
    }
    const next = (prod + n) | 0;
    Atomics.store(h, PROD, next);
    // Notify iff the consumer's event index lies in (prod, next] (unsigned arithmetic).
    const ev = Atomics.load(h, CONS_EVENT);
    if ((next - ev) >>> 0 < (next - prod) >>> 0) {
      Atomics.add(h, NOTIFY_CONS, 1);
      Atomics.notify(h, PROD);
    }
    return n;
  }

  /** Consumer: appends up to `max` waiting descriptors to `into`; returns how many. */
  pop(into: Batch, max = into.capacity - into.count): number {
    const h = this.h;
    const cons = h[CONS] as number;
    const prod = Atomics.load(h, PROD);
    const n = Math.min((prod - cons) | 0, max, into.capacity - into.count);
    if (n <= 0) return 0;
    const d = this.d;
    const { slots, offs, lens } = into;
    let c = into.count;
    for (let k = 0; k < n; k++, c++) {
      const j = ((cons + k) & this.mask) * 3;
      slots[c] = d[j] as number;
      offs[c] = d[j + 1] as number;
      lens[c] = d[j + 2] as number;
    }
    into.count = c;
    const next = (cons + n) | 0;
    Atomics.store(h, CONS, next);
    const ev = Atomics.load(h, PROD_EVENT);
    if ((next - ev) >>> 0 < (next - cons) >>> 0) {
      Atomics.add(h, NOTIFY_PROD, 1);
      Atomics.notify(h, CONS);
    }
    return n;
  }

  /**
   * Consumer, in a worker: sleeps until the ring is non-empty or `timeoutMs` passes. Returns
   * true when data is waiting. Publishes the event index first, then re-checks (the final
   * check of Xen's RING_FINAL_CHECK_FOR_REQUESTS), so a push between the two is not lost.
   */
  waitForData(timeoutMs = Infinity): boolean {
    const seen = this.armConsumer();
    if (seen === null) return true;
    Atomics.wait(this.h, PROD, seen, timeoutMs);
    return this.size > 0;
  }

  /** Consumer, on a thread that must not block (domain 0): resolves like `waitForData`. */
  async waitForDataAsync(timeoutMs = Infinity): Promise<boolean> {
    const seen = this.armConsumer();
    if (seen === null) return true;
    const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    const r = waitAsync(this.h, PROD, seen, timeoutMs);
    if (r.async) await r.value;
    return this.size > 0;
  }

  /** Producer, in a worker: sleeps until at least `need` slots are free (or timeout). */
  waitForSpace(need = 1, timeoutMs = Infinity): boolean {
    const h = this.h;
    for (;;) {
      const prod = h[PROD] as number;
      const cons = Atomics.load(h, CONS);
      if (this.capacity - ((prod - cons) | 0) >= need) return true;
      // Wake me when cons reaches prod - capacity + need.
      Atomics.store(h, PROD_EVENT, (prod - this.capacity + need) | 0);
      const cons2 = Atomics.load(h, CONS);
      if (this.capacity - ((prod - cons2) | 0) >= need) return true;
      if (Atomics.wait(h, CONS, cons2, timeoutMs) === 'timed-out') return this.capacity - ((prod - Atomics.load(h, CONS)) | 0) >= need;
    }
  }

  /** Returns the value of prod to sleep on, or null when data is already there. */
  private armConsumer(): number | null {
    const h = this.h;
    const cons = h[CONS] as number;
    Atomics.store(h, CONS_EVENT, (cons + 1) | 0);
    const prod = Atomics.load(h, PROD);
    return prod !== cons ? null : prod;
  }
}
