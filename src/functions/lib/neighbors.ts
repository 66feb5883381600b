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
 * sent or dropped), chained per entry with a bounded queue length.
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

export class NeighborTable {
  readonly capacity: number;
  // Hash slots → entry id (-1 empty).
  private readonly slotEntry: Int32Array;
  private readonly mask: number;
  // Per entry: key = (iface << 1 | family6) and 4 address words (IPv4 uses word 0 only).
  readonly keyIf: Int32Array;
  readonly k0: Uint32Array;
  readonly k1: Uint32Array;
  readonly k2: Uint32Array;
  readonly k3: Uint32Array;
  readonly state: Uint8Array;
  /** Neighbour MAC as a 48-bit number (-1 unknown). */
  readonly mac: Float64Array;
  /** dst MAC, src MAC, EtherType: 14 bytes at id × HDR_STRIDE (16, so that words are aligned). */
  readonly hdr: Uint8Array;
  /** The same bytes as 32-bit words (entry id at word id × 4): the MACs are words 0..2. */
  readonly hdr32: Int32Array;
  /** Until when the entry may be used without any state change (REACHABLE, PERMANENT = ∞). */
  readonly fastUntil: Float64Array;
  /** Last confirmation of reachability (ms). */
  readonly confirmed: Float64Array;
  /** Last use or state change (ms), for garbage collection. */
  readonly touched: Float64Array;
  /** When the next timer of the entry fires (probe, DELAY → PROBE), or ∞. */
  readonly timer: Float64Array;
  /** Probes sent in the current INCOMPLETE/PROBE round. */
  readonly probes: Uint8Array;
  /** Routes (adjacencies) that hold the entry: it is never collected while > 0. */
  readonly refs: Int32Array;
  // Hold queue: linked list of arena buffers per entry.
  readonly holdHead: Int32Array;
  readonly holdTail: Int32Array;
  readonly holdCount: Int32Array;
  readonly holdBytes: Uint8Array;
  readonly holdLen: Int32Array;
  /** Ingress port of each held frame (for ICMP errors when resolution fails). */
  readonly holdPort: Int32Array;
  private readonly holdNext: Int32Array;
  readonly holdBufferSize: number;
  private holdFree: number[] = [];
  private freeIds: number[] = [];
  private used = 0;
  /** Held frames right now. */
  heldNow = 0;

  constructor(init: NeighborTableInit) {
    const cap = init.capacity;
    this.capacity = cap;
    let slots = 16;
    while (slots < cap * 2) slots *= 2;
    this.slotEntry = new Int32Array(slots).fill(-1);
    this.mask = slots - 1;
    this.keyIf = new Int32Array(cap).fill(-1);
    this.k0 = new Uint32Array(cap);
    this.k1 = new Uint32Array(cap);
    this.k2 = new Uint32Array(cap);
    this.k3 = new Uint32Array(cap);
    this.state = new Uint8Array(cap);
    this.mac = new Float64Array(cap).fill(-1);
    this.hdr = new Uint8Array(cap * HDR_STRIDE);
    this.hdr32 = new Int32Array(this.hdr.buffer);
    this.fastUntil = new Float64Array(cap);
    this.confirmed = new Float64Array(cap);
    this.touched = new Float64Array(cap);
    this.timer = new Float64Array(cap).fill(Infinity);
    this.probes = new Uint8Array(cap);
    this.refs = new Int32Array(cap);
    this.holdHead = new Int32Array(cap).fill(-1);
    this.holdTail = new Int32Array(cap).fill(-1);
    this.holdCount = new Int32Array(cap);
    this.holdBufferSize = init.holdBufferSize;
    this.holdBytes = new Uint8Array(init.holdBuffers * init.holdBufferSize);
    this.holdLen = new Int32Array(init.holdBuffers);
    this.holdPort = new Int32Array(init.holdBuffers);
    this.holdNext = new Int32Array(init.holdBuffers).fill(-1);
    for (let i = init.holdBuffers - 1; i >= 0; i--) this.holdFree.push(i);
    for (let i = cap - 1; i >= 0; i--) this.freeIds.push(i);
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
    const id = this.freeIds.pop();
    if (id === undefined) throw new NeighborTableFullError(`neighbour table full (${this.capacity} entries)`);
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
    return id >= 0 && id < this.capacity && (this.keyIf[id] as number) >= 0;
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
    for (let i = 0; i < this.capacity; i++) if ((this.keyIf[i] as number) >= 0) r.push(i);
    return r;
  }

  /**
   * Copies a frame into the hold queue of `id`. Returns false (nothing held) when the entry's
   * queue already holds `maxPerEntry` frames, the arena is full, or the frame is too large.
   */
  hold(id: number, b: Uint8Array, off: number, len: number, port: number, maxPerEntry: number): boolean {
    if ((this.holdCount[id] as number) >= maxPerEntry || len > this.holdBufferSize) return false;
    const buf = this.holdFree.pop();
    if (buf === undefined) return false;
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
