/**
 * Neighbour cache of a router (ARP for IPv4, Neighbor Discovery for IPv6), with the NUD states of
 * RFC 4861 §7.3.2 as Linux implements them for both families (net/core/neighbour.c):
 * INCOMPLETE → REACHABLE → (reachableMs) STALE → (used) DELAY → (delayMs) PROBE → FAILED,
 * PERMANENT for static entries. The table only keeps state; the router sends the probes.
 *
 * Storage is typed arrays indexed by a stable entry id (an adjacency: routes hold it directly),
 * found by an open-addressing hash on (interface, family, address) with backward-shift deletion.
 * Each entry carries its prebuilt Ethernet header (destination MAC, source MAC, EtherType), so a
 * forwarded frame gets its MACs by copying 12 bytes. Frames waiting for resolution are copied
 * into a fixed arena of hold buffers (the pool slot goes back at once, so a batch is always fully
 * sent or dropped), chained per entry with a bounded queue length. Entries and hold buffers start
 * small and double on demand up to `capacity` / `holdBuffers`, so a router with a few neighbours
 * costs a few KiB, not the ~2 MiB its limits would take up front.
 *
 * @example
 * const t = new NeighborTable({ capacity: 1024, holdBuffers: 64, holdBufferSize: 2048 });
 * const id = t.ensure(0, 4, [0x0a000002, 0, 0, 0]);     // interface 0, 10.0.0.2
 * t.setMac(id, 0x020000000002, 0x020000000001, 0x0800);
 * t.state[id] = NUD.REACHABLE;
 */
import { fmix32 } from './flowhash.js';

/** Neighbour Unreachability Detection states (values stored in `state`). */
export const NUD = { NONE: 0, INCOMPLETE: 1, REACHABLE: 2, STALE: 3, DELAY: 4, PROBE: 5, FAILED: 6, PERMANENT: 7 } as const;
export const NUD_NAMES = ['none', 'incomplete', 'reachable', 'stale', 'delay', 'probe', 'failed', 'permanent'] as const;

/** Bytes between the prebuilt headers of consecutive entries. */
export const HDR_STRIDE = 16;

export class NeighborTableFullError extends Error {
  override readonly name = 'NeighborTableFullError';
}

export interface NeighborTableInit {
  /** Most entries held at once. */
  capacity: number;
  /** Frames that can wait for resolution at once, over all entries. */
  holdBuffers: number;
  /** Bytes per held frame (larger frames are not held). */
  holdBufferSize: number;
}

/** Entries and hold buffers a new table starts with; both double on demand up to their limits. */
const INITIAL_ENTRIES = 16;
const INITIAL_HOLD = 4;

export class NeighborTable {
  /** Most entries held at once (the arrays below grow by doubling up to it). */
  readonly capacity: number;
  /** Most hold buffers (the arena grows by doubling up to it). */
  readonly holdLimit: number;
  // Hash slots → entry id (-1 empty).
  private slotEntry: Int32Array;
  private mask: number;
  // The per-entry arrays are replaced when the table grows (only inside `ensure`): callers that
  // cache one across a call that may create an entry must read it again (see `generation`).
  // Per entry: key = (iface << 1 | family6) and 4 address words (IPv4 uses word 0 only).
  keyIf: Int32Array;
  k0: Uint32Array;
  k1: Uint32Array;
  k2: Uint32Array;
  k3: Uint32Array;
  state: Uint8Array;
  /** Neighbour MAC as a 48-bit number (-1 unknown). */
  mac: Float64Array;
  /** dst MAC, src MAC, EtherType: 14 bytes at id × HDR_STRIDE (16, so that words are aligned). */
  hdr: Uint8Array;
  /** The same bytes as 32-bit words (entry id at word id × 4): the MACs are words 0..2. */
  hdr32: Int32Array;
  /** Until when the entry may be used without any state change (REACHABLE, PERMANENT = ∞). */
  fastUntil: Float64Array;
  /** Last confirmation of reachability (ms). */
  confirmed: Float64Array;
  /** Last use or state change (ms), for garbage collection. */
  touched: Float64Array;
  /** When the next timer of the entry fires (probe, DELAY → PROBE), or ∞. */
  timer: Float64Array;
  /** Probes sent in the current INCOMPLETE/PROBE round. */
  probes: Uint8Array;
  /** Routes (adjacencies) that hold the entry: it is never collected while > 0. */
  refs: Int32Array;
  // Hold queue: linked list of arena buffers per entry.
  holdHead: Int32Array;
  holdTail: Int32Array;
  holdCount: Int32Array;
  /** The arena (replaced when it grows, inside `hold` only). */
  holdBytes: Uint8Array;
  holdLen: Int32Array;
  /** Ingress port of each held frame (for ICMP errors when resolution fails). */
  holdPort: Int32Array;
  private holdNext: Int32Array;
  readonly holdBufferSize: number;
  private holdFree: number[] = [];
  /** Entry ids below `allocated` that were freed; ids at or above it were never used. */
  private freeIds: number[] = [];
  private allocated = 0;
  private used = 0;
  /** Held frames right now. */
  heldNow = 0;
  /** Bumped each time the per-entry arrays are replaced. */
  generation = 0;

  constructor(init: NeighborTableInit) {
    const cap = init.capacity;
    this.capacity = cap;
    this.holdLimit = init.holdBuffers;
    this.holdBufferSize = init.holdBufferSize;
    const n = Math.min(cap, INITIAL_ENTRIES);
    this.slotEntry = new Int32Array(0);
    this.mask = 0;
    this.keyIf = new Int32Array(0);
    this.k0 = this.k1 = this.k2 = this.k3 = new Uint32Array(0);
    this.state = this.probes = new Uint8Array(0);
    this.mac = this.fastUntil = this.confirmed = this.touched = this.timer = new Float64Array(0);
    this.hdr = new Uint8Array(0);
    this.hdr32 = new Int32Array(0);
    this.refs = this.holdHead = this.holdTail = this.holdCount = new Int32Array(0);
    this.resize(n);
    const h = Math.min(init.holdBuffers, INITIAL_HOLD);
    this.holdBytes = new Uint8Array(h * init.holdBufferSize);
    this.holdLen = new Int32Array(h);
    this.holdPort = new Int32Array(h);
    this.holdNext = new Int32Array(h).fill(-1);
    for (let i = h - 1; i >= 0; i--) this.holdFree.push(i);
  }

  /** Entries the arrays have room for now (≤ capacity). */
  get allocatedEntries(): number {
    return this.keyIf.length;
  }

  /** Hold buffers allocated now (≤ holdLimit). */
  get allocatedHoldBuffers(): number {
    return this.holdLen.length;
  }

  // Moves every per-entry array to `n` entries (n ≥ the current length) and rehashes: the slot
  // array stays ≥ 2 × entries so that probe chains stay short (load ≤ 1/2).
  private resize(n: number): void {
    const old = this.keyIf.length;
    const grow = <T extends Int32Array | Uint32Array | Uint8Array | Float64Array>(a: T, mk: (n: number) => T, fill: number): T => {
      const b = mk(n);
      b.set(a as never);
      if (fill !== 0) b.fill(fill, old);
      return b;
    };
    this.keyIf = grow(this.keyIf, (m) => new Int32Array(m), -1);
    this.k0 = grow(this.k0, (m) => new Uint32Array(m), 0);
    this.k1 = grow(this.k1, (m) => new Uint32Array(m), 0);
    this.k2 = grow(this.k2, (m) => new Uint32Array(m), 0);
    this.k3 = grow(this.k3, (m) => new Uint32Array(m), 0);
    this.state = grow(this.state, (m) => new Uint8Array(m), 0);
    this.mac = grow(this.mac, (m) => new Float64Array(m), -1);
    const hdr = new Uint8Array(n * HDR_STRIDE);
    hdr.set(this.hdr);
    this.hdr = hdr;
    this.hdr32 = new Int32Array(hdr.buffer);
    this.fastUntil = grow(this.fastUntil, (m) => new Float64Array(m), 0);
    this.confirmed = grow(this.confirmed, (m) => new Float64Array(m), 0);
    this.touched = grow(this.touched, (m) => new Float64Array(m), 0);
    this.timer = grow(this.timer, (m) => new Float64Array(m), Infinity);
    this.probes = grow(this.probes, (m) => new Uint8Array(m), 0);
    this.refs = grow(this.refs, (m) => new Int32Array(m), 0);
    this.holdHead = grow(this.holdHead, (m) => new Int32Array(m), -1);
    this.holdTail = grow(this.holdTail, (m) => new Int32Array(m), -1);
    this.holdCount = grow(this.holdCount, (m) => new Int32Array(m), 0);
    let slots = 16;
    while (slots < n * 2) slots *= 2;
    this.slotEntry = new Int32Array(slots).fill(-1);
    this.mask = slots - 1;
    for (let e = 0; e < old; e++) {
      const kif = this.keyIf[e] as number;
      if (kif < 0) continue;
      let i = this.hash(kif, this.k0[e] as number, this.k1[e] as number, this.k2[e] as number, this.k3[e] as number);
      while ((this.slotEntry[i] as number) >= 0) i = (i + 1) & this.mask;
      this.slotEntry[i] = e;
    }
    this.generation++;
  }

  // Doubles the hold arena (bounded by holdLimit); false when it is at its limit.
  private growHold(): boolean {
    const old = this.holdLen.length;
    if (old >= this.holdLimit) return false;
    const n = Math.min(this.holdLimit, Math.max(1, old * 2));
    const bytes = new Uint8Array(n * this.holdBufferSize);
    bytes.set(this.holdBytes);
    this.holdBytes = bytes;
    const len = new Int32Array(n);
    len.set(this.holdLen);
    this.holdLen = len;
    const port = new Int32Array(n);
    port.set(this.holdPort);
    this.holdPort = port;
    const next = new Int32Array(n).fill(-1);
    next.set(this.holdNext);
    this.holdNext = next;
    for (let i = n - 1; i >= old; i--) this.holdFree.push(i);
    return true;
  }

  /** Entries in use. */
  get size(): number {
    return this.used;
  }

  private hash(kif: number, a0: number, a1: number, a2: number, a3: number): number {
    let h = fmix32(a0 ^ Math.imul(kif + 1, 0x9e3779b1));
    if (kif & 1) h = fmix32(h ^ a1) ^ fmix32(a2 + Math.imul(a3, 0x85ebca6b));
    return h & this.mask;
  }

  /** Entry id for (iface, family, address words), or -1. */
  find(iface: number, family6: number, a0: number, a1: number, a2: number, a3: number): number {
    const kif = (iface << 1) | family6;
    let i = this.hash(kif, a0, a1, a2, a3);
    const se = this.slotEntry;
    for (;;) {
      const e = se[i] as number;
      if (e < 0) return -1;
      if (this.keyIf[e] === kif && this.k0[e] === a0 && this.k1[e] === a1 && this.k2[e] === a2 && this.k3[e] === a3) return e;
      i = (i + 1) & this.mask;
    }
  }

  /** Entry id for IPv4 `addr` on `iface`, or -1 (hot path: one hash, usually one probe). */
  find4(iface: number, addr: number): number {
    const kif = iface << 1;
    let i = fmix32(addr ^ Math.imul(kif + 1, 0x9e3779b1)) & this.mask;
    const se = this.slotEntry;
    for (;;) {
      const e = se[i] as number;
      if (e < 0) return -1;
      if (this.k0[e] === addr && this.keyIf[e] === kif) return e;
      i = (i + 1) & this.mask;
    }
  }

  /** Entry id for the IPv6 address at b[o..o+16) on `iface`, or -1. */
  find6(iface: number, b: Uint8Array, o: number): number {
    return this.find(iface, 1, word(b, o), word(b, o + 4), word(b, o + 8), word(b, o + 12));
  }

  /** The existing entry or a new one in state NONE; throws NeighborTableFullError when full. */
  ensure(iface: number, family: 4 | 6, a: readonly number[]): number {
    const a0 = (a[0] ?? 0) >>> 0;
    const a1 = (a[1] ?? 0) >>> 0;
    const a2 = (a[2] ?? 0) >>> 0;
    const a3 = (a[3] ?? 0) >>> 0;
    const f6 = family === 6 ? 1 : 0;
    const found = this.find(iface, f6, a0, a1, a2, a3);
    if (found >= 0) return found;
    let id = this.freeIds.pop();
    if (id === undefined) {
      if (this.allocated >= this.capacity) throw new NeighborTableFullError(`neighbour table full (${this.capacity} entries)`);
      if (this.allocated >= this.keyIf.length) this.resize(Math.min(this.capacity, this.keyIf.length * 2));
      id = this.allocated++;
    }
    const kif = (iface << 1) | f6;
    this.keyIf[id] = kif;
    this.k0[id] = a0;
    this.k1[id] = a1;
    this.k2[id] = a2;
    this.k3[id] = a3;
    this.state[id] = NUD.NONE;
    this.mac[id] = -1;
    this.fastUntil[id] = 0;
    this.timer[id] = Infinity;
    this.probes[id] = 0;
    this.refs[id] = 0;
    this.hdr.fill(0, id * HDR_STRIDE, id * HDR_STRIDE + 14);
    let i = this.hash(kif, a0, a1, a2, a3);
    while ((this.slotEntry[i] as number) >= 0) i = (i + 1) & this.mask;
    this.slotEntry[i] = id;
    this.used++;
    return id;
  }

  /** Removes entry `id` (its held frames must have been drained). */
  remove(id: number): void {
    const kif = this.keyIf[id] as number;
    if (kif < 0) return;
    let i = this.hash(kif, this.k0[id] as number, this.k1[id] as number, this.k2[id] as number, this.k3[id] as number);
    while (this.slotEntry[i] !== id) i = (i + 1) & this.mask;
    // Backward-shift deletion (Knuth 6.4 algorithm R).
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      const e = this.slotEntry[j] as number;
      if (e < 0) break;
      const home = this.hash(this.keyIf[e] as number, this.k0[e] as number, this.k1[e] as number, this.k2[e] as number, this.k3[e] as number);
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (inRange) continue;
      this.slotEntry[hole] = e;
      hole = j;
    }
    this.slotEntry[hole] = -1;
    this.keyIf[id] = -1;
    this.state[id] = NUD.NONE;
    this.freeIds.push(id);
    this.used--;
  }

  /** Interface index of entry `id`. */
  iface(id: number): number {
    return (this.keyIf[id] as number) >> 1;
  }

  /** 4 or 6. */
  family(id: number): 4 | 6 {
    return ((this.keyIf[id] as number) & 1) === 1 ? 6 : 4;
  }

  /** True when `id` is a live entry. */
  live(id: number): boolean {
    return id >= 0 && id < this.keyIf.length && (this.keyIf[id] as number) >= 0;
  }

  /** Records the neighbour's MAC and rebuilds the prebuilt header. */
  setMac(id: number, mac: number, ownMac: number, etherType: number): void {
    this.mac[id] = mac;
    const h = this.hdr;
    const o = id * HDR_STRIDE;
    for (let k = 0; k < 6; k++) {
      h[o + k] = Math.floor(mac / 2 ** (40 - 8 * k)) & 0xff;
      h[o + 6 + k] = Math.floor(ownMac / 2 ** (40 - 8 * k)) & 0xff;
    }
    h[o + 12] = etherType >>> 8;
    h[o + 13] = etherType & 0xff;
  }

  /** Every live entry id. */
  ids(): number[] {
    const r: number[] = [];
    for (let i = 0; i < this.allocated; i++) if ((this.keyIf[i] as number) >= 0) r.push(i);
    return r;
  }

  /**
   * Copies a frame into the hold queue of `id`. Returns false (nothing held) when the entry's
   * queue already holds `maxPerEntry` frames, the arena is full, or the frame is too large.
   */
  hold(id: number, b: Uint8Array, off: number, len: number, port: number, maxPerEntry: number): boolean {
    if ((this.holdCount[id] as number) >= maxPerEntry || len > this.holdBufferSize) return false;
    let buf = this.holdFree.pop();
    if (buf === undefined) {
      if (!this.growHold()) return false;
      buf = this.holdFree.pop() as number;
    }
    this.holdBytes.set(b.subarray(off, off + len), buf * this.holdBufferSize);
    this.holdLen[buf] = len;
    this.holdPort[buf] = port;
    this.holdNext[buf] = -1;
    const tail = this.holdTail[id] as number;
    if (tail < 0) this.holdHead[id] = buf;
    else this.holdNext[tail] = buf;
    this.holdTail[id] = buf;
    this.holdCount[id] = (this.holdCount[id] as number) + 1;
    this.heldNow++;
    return true;
  }

  /** Removes and returns the first held buffer of `id` (-1 when none); release it with `freeHold`. */
  popHold(id: number): number {
    const buf = this.holdHead[id] as number;
    if (buf < 0) return -1;
    const next = this.holdNext[buf] as number;
    this.holdHead[id] = next;
    if (next < 0) this.holdTail[id] = -1;
    this.holdCount[id] = (this.holdCount[id] as number) - 1;
    this.heldNow--;
    return buf;
  }

  freeHold(buf: number): void {
    this.holdFree.push(buf);
  }
}

function word(b: Uint8Array, o: number): number {
  return (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0;
}
