/**
 * Frames live in slots of one shared buffer pool; a batch is a list of (slot, offset, length)
 * descriptors into it. Nothing is copied between functions of one domain: they pass batches.
 *
 * Each slot keeps `headroom` free bytes before the frame so that an encapsulation (MPLS push,
 * VXLAN, 802.1Q) can grow the frame forwards without a copy.
 *
 * @example
 * const pool = new PacketPool({ slots: 1024 });
 * const batch = new Batch();
 * const slot = pool.alloc();
 * const off = pool.frameOffset(slot);
 * pool.bytes.set(frame, off);
 * batch.push(slot, off, frame.length);
 */
export interface PacketPoolInit {
  /** Number of slots (frames the pool can hold at once). */
  slots: number;
  /** Bytes per slot, headroom included. Default 2048. */
  slotSize?: number;
  /** Free bytes kept in front of each frame for encapsulation. Default 128. */
  headroom?: number;
  /** Share an existing buffer (another domain's pool) instead of allocating one. */
  buffer?: SharedArrayBuffer;
}

export const MAX_BATCH = 256;

export class PoolExhaustedError extends Error {
  override readonly name = 'PoolExhaustedError';
}

export class PacketPool {
  readonly buffer: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly slotSize: number;
  readonly headroom: number;
  readonly slots: number;
  private readonly free: Int32Array;
  private freeCount: number;

  constructor(init: PacketPoolInit) {
    this.slotSize = init.slotSize ?? 2048;
    this.headroom = init.headroom ?? 128;
    this.slots = init.slots;
    if (!Number.isInteger(this.slots) || this.slots <= 0) throw new RangeError(`slots must be a positive integer, got ${init.slots}`);
    if (this.headroom >= this.slotSize) throw new RangeError('headroom must be smaller than slotSize');
    this.buffer = init.buffer ?? new SharedArrayBuffer(this.slots * this.slotSize);
    if (this.buffer.byteLength < this.slots * this.slotSize) throw new RangeError('buffer smaller than slots × slotSize');
    this.bytes = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.free = new Int32Array(this.slots);
    // Highest slot popped first keeps low slots hot in cache for small pools: order is free.
    for (let i = 0; i < this.slots; i++) this.free[i] = this.slots - 1 - i;
    this.freeCount = this.slots;
  }

  /** A free slot, or -1 when the pool is exhausted (callers count the drop). */
  alloc(): number {
    if (this.freeCount === 0) return -1;
    return this.free[--this.freeCount] as number;
  }

  release(slot: number): void {
    this.free[this.freeCount++] = slot;
  }

  /** Slots currently free. */
  get available(): number {
    return this.freeCount;
  }

  /** Byte offset in `bytes` where a fresh frame in `slot` starts (after the headroom). */
  frameOffset(slot: number): number {
    return slot * this.slotSize + this.headroom;
  }

  /** First byte of the slot: an offset can move back (encapsulation) no further than this. */
  slotStart(slot: number): number {
    return slot * this.slotSize;
  }

  /** Largest frame a slot holds when it starts at the default offset. */
  get mtu(): number {
    return this.slotSize - this.headroom;
  }

  /** Copies `frame` into a new slot; returns the slot or -1 when the pool is exhausted. */
  load(frame: Uint8Array, into: Batch): number {
    const slot = this.alloc();
    if (slot < 0) return -1;
    const off = this.frameOffset(slot);
    this.bytes.set(frame.length > this.mtu ? frame.subarray(0, this.mtu) : frame, off);
    into.push(slot, off, Math.min(frame.length, this.mtu));
    return slot;
  }

  /** A view (no copy) of frame `i` of a batch. Allocates a view object: not for hot paths. */
  frame(batch: Batch, i: number): Uint8Array {
    const off = batch.offs[i] as number;
    return this.bytes.subarray(off, off + (batch.lens[i] as number));
  }
}

/**
 * Up to MAX_BATCH frame descriptors. Reused across calls: `clear()` instead of a new batch,
 * so that nothing is allocated per batch on the hot path.
 */
export class Batch {
  readonly slots: Int32Array;
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  count = 0;

  constructor(capacity: number = MAX_BATCH) {
    this.slots = new Int32Array(capacity);
    this.offs = new Int32Array(capacity);
    this.lens = new Int32Array(capacity);
  }

  get capacity(): number {
    return this.slots.length;
  }

  get full(): boolean {
    return this.count === this.slots.length;
  }

  push(slot: number, off: number, len: number): void {
    const i = this.count++;
    this.slots[i] = slot;
    this.offs[i] = off;
    this.lens[i] = len;
  }

  clear(): void {
    this.count = 0;
  }
}
