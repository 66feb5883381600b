/**
 * IPv4 longest-prefix match, DIR-24-8 (Gupta, Lin, McKeown, "Routing lookups in hardware at
 * memory access speeds", 1998; the scheme of DPDK's rte_lpm): a 2^24-entry first level indexed by
 * the top 24 bits of the address, and 256-entry second-level chunks for the few /24s that hold
 * prefixes longer than /24. A lookup is one or two array loads.
 *
 * Entry layout (Uint32): bit 31 set → the low 31 bits index a chunk; otherwise bits 0..22 hold
 * next hop + 1 (0 = no route) and bits 23..30 the length of the prefix that wrote the entry. The
 * stored length is what makes overlapping prefixes correct: an insert of /d overwrites only
 * entries written by prefixes of length ≤ d, and a delete of /d restores, in the entries it
 * wrote (length = d), the entry of the longest remaining prefix that covers it.
 *
 * Small tables start in a compact mode: a multibit trie of 8-bit strides (root indexed by the
 * first byte, 256-entry nodes below, same entry layout and prefix expansion) kept in `tbl8`, so
 * that a router with a handful of routes costs a few KiB instead of the 64 MiB first level. Once
 * the table holds more than `compactMax` prefixes it is rebuilt as DIR-24-8 and stays so (no
 * switching back on deletes, so a FIB hovering around the threshold is not rebuilt repeatedly);
 * clear() returns to compact mode.
 */

const EXT = 0x80000000;
const EMPTY = new Uint32Array(0);
const NH_MASK = 0x7fffff;
const DEPTH_SHIFT = 23;
/** Largest next-hop index an entry can hold. */
export const LPM4_MAX_NEXT_HOP = NH_MASK - 1;

export class LpmError extends Error {
  override readonly name = 'LpmError';
}

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

function depthOf(e: number): number {
  return (e >>> DEPTH_SHIFT) & 0xff;
}

/** Default `compactMax`: beyond this many prefixes the trie's up to four dependent loads and its nodes cost more than DIR-24-8's 64 MiB. */
export const LPM4_COMPACT_MAX = 1024;

export interface Lpm4Options {
  /** Prefixes held in the compact trie before switching to DIR-24-8 (0: DIR-24-8 from the start). */
  readonly compactMax?: number;
}

/**
 * A DIR-24-8 table mapping IPv4 prefixes to next-hop indexes (small integers the caller maps to
 * interfaces / neighbours). Memory: compact mode 1 KiB per trie node (4 KiB to start); DIR-24-8
 * 64 MiB for the first level plus 1 KiB per /24 that holds longer prefixes.
 *
 * @example
 * const t = new Lpm4();
 * t.insert(0x0a000000, 8, 1);        // 10.0.0.0/8 → next hop 1
 * t.insert(0x0a010200, 24, 2);       // 10.1.2.0/24 → next hop 2
 * t.lookup(0x0a010203);              // 2
 * t.lookup(0x0a7f0001);              // 1
 * t.lookup(0x0b000001);              // -1 (no route)
 */
export class Lpm4 {
  /** DIR-24-8 first level; empty in compact mode (see `compact`). */
  tbl24: Uint32Array;
  /** DIR-24-8 second-level chunks; in compact mode the trie's nodes (node 0: the root). */
  tbl8: Uint32Array;
  private chunkCount = 0;
  private freeChunks: number[] = [];
  // One map per prefix length: masked prefix → next hop. The source of truth for deletes and export.
  private readonly rules: Map<number, number>[] = Array.from({ length: 33 }, () => new Map<number, number>());
  private ruleCount = 0;
  private readonly compactMax: number;

  constructor(opts: Lpm4Options = {}) {
    this.compactMax = opts.compactMax ?? LPM4_COMPACT_MAX;
    this.tbl24 = EMPTY;
    this.tbl8 = EMPTY;
    this.reset();
  }

  /** True while the table is the compact trie (tbl24 empty); lookups then take up to four loads. */
  get compact(): boolean {
    return this.tbl24.length === 0;
  }

  private reset(): void {
    this.chunkCount = 0;
    this.freeChunks = [];
    if (this.compactMax > 0) {
      this.tbl24 = EMPTY;
      this.tbl8 = new Uint32Array(256 * 4);
      this.chunkCount = 1; // the root
    } else {
      this.tbl24 = new Uint32Array(1 << 24);
      this.tbl8 = new Uint32Array(256 * 64);
    }
  }

  /** Number of prefixes in the table. */
  get size(): number {
    return this.ruleCount;
  }

  /** Second-level chunks in use (for memory accounting); in compact mode, trie nodes including the root. */
  get chunksInUse(): number {
    return this.chunkCount - this.freeChunks.length;
  }

  /**
   * The final entry for `addr` in either mode: bits 0..22 next hop + 1 (0: no route), bits
   * 23..30 the matched prefix length.
   */
  entry(addr: number): number {
    const t8 = this.tbl8;
    let e: number;
    if (this.tbl24.length === 0) {
      e = t8[addr >>> 24] as number;
      if (e & EXT) {
        e = t8[((e & 0x7fffffff) << 8) | ((addr >>> 16) & 0xff)] as number;
        if (e & EXT) {
          e = t8[((e & 0x7fffffff) << 8) | ((addr >>> 8) & 0xff)] as number;
          if (e & EXT) e = t8[((e & 0x7fffffff) << 8) | (addr & 0xff)] as number;
        }
      }
      return e;
    }
    e = this.tbl24[addr >>> 8] as number;
    if (e & EXT) e = t8[((e & 0x7fffffff) << 8) | (addr & 0xff)] as number;
    return e;
  }

  /** Next hop for `addr` (unsigned 32-bit), or -1 when no prefix covers it. */
  lookup(addr: number): number {
    return (this.entry(addr) & NH_MASK) - 1;
  }

  /** Next hop for the address stored big-endian at `b[off..off+4)`, or -1. */
  lookupBytes(b: Uint8Array, off: number): number {
    if (this.tbl24.length === 0) return (this.entry((((b[off] as number) << 24) | ((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number)) >>> 0) & NH_MASK) - 1;
    let e = this.tbl24[((b[off] as number) << 16) | ((b[off + 1] as number) << 8) | (b[off + 2] as number)] as number;
    if (e & EXT) e = this.tbl8[((e & 0x7fffffff) << 8) | (b[off + 3] as number)] as number;
    return (e & NH_MASK) - 1;
  }

  /** Looks up `n` addresses at once (out[i] = next hop or -1). */
  lookupMany(addrs: Uint32Array, out: Int32Array, n: number): void {
    const t24 = this.tbl24;
    const t8 = this.tbl8;
    if (t24.length === 0) {
      for (let i = 0; i < n; i++) out[i] = (this.entry(addrs[i] as number) & NH_MASK) - 1;
      return;
    }
    for (let i = 0; i < n; i++) {
      const a = addrs[i] as number;
      let e = t24[a >>> 8] as number;
      if (e & EXT) e = t8[((e & 0x7fffffff) << 8) | (a & 0xff)] as number;
      out[i] = (e & NH_MASK) - 1;
    }
  }

  /** The next hop stored for exactly this prefix, or -1. */
  get(prefix: number, len: number): number {
    this.check(len);
    return this.rules[len]?.get((prefix & maskOf(len)) >>> 0) ?? -1;
  }

  /** Adds or replaces `prefix/len` → `nextHop`. Host bits of `prefix` are ignored. */
  insert(prefix: number, len: number, nextHop: number): void {
    this.check(len);
    if (!Number.isInteger(nextHop) || nextHop < 0 || nextHop > LPM4_MAX_NEXT_HOP) throw new LpmError(`next hop ${nextHop} out of range 0..${LPM4_MAX_NEXT_HOP}`);
    const p = (prefix & maskOf(len)) >>> 0;
    const rules = this.rules[len] as Map<number, number>;
    if (!rules.has(p)) this.ruleCount++;
    rules.set(p, nextHop);
    const e = ((len << DEPTH_SHIFT) | (nextHop + 1)) >>> 0;
    if (this.tbl24.length === 0) {
      if (this.ruleCount > this.compactMax) this.toDir24();
      else this.trieInsert(p, len, e);
      return;
    }
    this.dirInsert(p, len, e);
  }

  // Rebuilds the table as DIR-24-8 from the rules, shortest first (each insert then only
  // overwrites what shorter prefixes wrote).
  private toDir24(): void {
    this.tbl24 = new Uint32Array(1 << 24);
    this.tbl8 = new Uint32Array(256 * 64);
    this.chunkCount = 0;
    this.freeChunks = [];
    for (let len = 0; len <= 32; len++) for (const [p, nh] of this.rules[len] as Map<number, number>) this.dirInsert(p, len, ((len << DEPTH_SHIFT) | (nh + 1)) >>> 0);
  }

  private dirInsert(p: number, len: number, e: number): void {
    const t24 = this.tbl24;
    if (len <= 24) {
      const start = p >>> 8;
      const end = start + (1 << (24 - len));
      for (let i = start; i < end; i++) {
        const cur = t24[i] as number;
        if (cur & EXT) {
          const t8 = this.tbl8;
          const base = (cur & 0x7fffffff) << 8;
          for (let j = base; j < base + 256; j++) if (depthOf(t8[j] as number) <= len) t8[j] = e;
        } else if (depthOf(cur) <= len) {
          t24[i] = e;
        }
      }
      return;
    }
    const i = p >>> 8;
    let cur = t24[i] as number;
    if (!(cur & EXT)) {
      const c = this.allocChunk();
      this.tbl8.fill(cur, c << 8, (c << 8) + 256);
      cur = (EXT | c) >>> 0;
      t24[i] = cur;
    }
    const t8 = this.tbl8;
    const base = ((cur & 0x7fffffff) << 8) + (p & 0xff);
    const end = base + (1 << (32 - len));
    for (let j = base; j < end; j++) if (depthOf(t8[j] as number) <= len) t8[j] = e;
  }

  /** Removes `prefix/len`; returns false when it was not in the table. */
  delete(prefix: number, len: number): boolean {
    this.check(len);
    const p = (prefix & maskOf(len)) >>> 0;
    const rules = this.rules[len] as Map<number, number>;
    if (!rules.delete(p)) return false;
    this.ruleCount--;
    // The entry of the longest remaining prefix covering p/len replaces what p/len wrote.
    let parent = 0;
    for (let l = len - 1; l >= 0; l--) {
      const nh = this.rules[l]?.get((p & maskOf(l)) >>> 0);
      if (nh !== undefined) {
        parent = ((l << DEPTH_SHIFT) | (nh + 1)) >>> 0;
        break;
      }
    }
    if (this.tbl24.length === 0) {
      this.trieDelete(p, len, parent);
      return true;
    }
    const t24 = this.tbl24;
    const start = p >>> 8;
    const end = len <= 24 ? start + (1 << (24 - len)) : start + 1;
    const lo = len <= 24 ? 0 : p & 0xff;
    const hi = len <= 24 ? 256 : lo + (1 << (32 - len));
    for (let i = start; i < end; i++) {
      const cur = t24[i] as number;
      if (cur & EXT) {
        const t8 = this.tbl8;
        const base = (cur & 0x7fffffff) << 8;
        for (let j = base + lo; j < base + hi; j++) {
          const x = t8[j] as number;
          if (depthOf(x) === len && (x & NH_MASK) !== 0) t8[j] = parent;
        }
        this.maybeCollapse(i);
      } else if (depthOf(cur) === len && (cur & NH_MASK) !== 0) {
        t24[i] = parent;
      }
    }
    return true;
  }

  /** Every prefix as [prefix, len, nextHop], shortest first. */
  *entries(): IterableIterator<[number, number, number]> {
    for (let len = 0; len <= 32; len++) for (const [p, nh] of this.rules[len] as Map<number, number>) yield [p, len, nh];
  }

  /** Removes every prefix. */
  clear(): void {
    this.reset();
    for (const m of this.rules) m.clear();
    this.ruleCount = 0;
  }

  private check(len: number): void {
    if (!Number.isInteger(len) || len < 0 || len > 32) throw new LpmError(`prefix length ${len} out of range 0..32`);
  }

  private allocChunk(): number {
    const f = this.freeChunks.pop();
    if (f !== undefined) return f;
    const c = this.chunkCount++;
    if ((c + 1) << 8 > this.tbl8.length) {
      const bigger = new Uint32Array(this.tbl8.length * 2);
      bigger.set(this.tbl8);
      this.tbl8 = bigger;
    }
    return c;
  }

  // --- compact mode: trie of 8-bit strides; level L holds prefixes of length 8L+1..8L+8 (and /0 at
  // level 0) by expansion over 2^(8L+8-len) entries of one node.

  private trieInsert(p: number, len: number, e: number): void {
    const L = len === 0 ? 0 : (len - 1) >>> 3;
    let node = 0;
    for (let l = 0; l < L; l++) {
      const i = (node << 8) | ((p >>> (24 - 8 * l)) & 0xff);
      let cur = this.tbl8[i] as number;
      if (!(cur & EXT)) {
        const c = this.allocChunk(); // may replace tbl8
        this.tbl8.fill(cur, c << 8, (c << 8) + 256);
        cur = (EXT | c) >>> 0;
        this.tbl8[i] = cur;
      }
      node = cur & 0x7fffffff;
    }
    const start = (node << 8) | ((p >>> (24 - 8 * L)) & 0xff);
    const end = start + (1 << (8 * L + 8 - len));
    for (let j = start; j < end; j++) this.trieFill(j, len, e);
  }

  // Writes `e` into entry j and, through pointers, every entry below it written by a prefix of length ≤ len.
  private trieFill(j: number, len: number, e: number): void {
    const t8 = this.tbl8;
    const cur = t8[j] as number;
    if (cur & EXT) {
      const base = (cur & 0x7fffffff) << 8;
      for (let k = base; k < base + 256; k++) this.trieFill(k, len, e);
    } else if (depthOf(cur) <= len) t8[j] = e;
  }

  private trieDelete(p: number, len: number, parent: number): void {
    const L = len === 0 ? 0 : (len - 1) >>> 3;
    const path: number[] = [];
    let node = 0;
    for (let l = 0; l < L; l++) {
      const i = (node << 8) | ((p >>> (24 - 8 * l)) & 0xff);
      const cur = this.tbl8[i] as number;
      if (!(cur & EXT)) return; // nothing of p/len below (its entries would sit in a node)
      path.push(i);
      node = cur & 0x7fffffff;
    }
    const start = (node << 8) | ((p >>> (24 - 8 * L)) & 0xff);
    const end = start + (1 << (8 * L + 8 - len));
    for (let j = start; j < end; j++) this.trieRestore(j, len, parent, L);
    for (let l = L - 1; l >= 0; l--) this.trieCollapse(path[l] as number, l);
  }

  // Replaces in entry j (at level `level`) and below what p/len wrote with `parent`.
  private trieRestore(j: number, len: number, parent: number, level: number): void {
    const t8 = this.tbl8;
    const cur = t8[j] as number;
    if (cur & EXT) {
      const base = (cur & 0x7fffffff) << 8;
      for (let k = base; k < base + 256; k++) this.trieRestore(k, len, parent, level + 1);
      this.trieCollapse(j, level);
    } else if (depthOf(cur) === len && (cur & NH_MASK) !== 0) t8[j] = parent;
  }

  // Entry j at `level` points at a node that covers bits 8(level+1)..; when its 256 entries are
  // equal and come from a prefix no longer than 8(level+1), the node folds back into j.
  private trieCollapse(j: number, level: number): void {
    const t8 = this.tbl8;
    const cur = t8[j] as number;
    if (!(cur & EXT)) return;
    const c = cur & 0x7fffffff;
    const base = c << 8;
    const first = t8[base] as number;
    if (first & EXT || depthOf(first) > 8 * (level + 1)) return;
    for (let k = base + 1; k < base + 256; k++) if (t8[k] !== first) return;
    t8[j] = first;
    this.freeChunks.push(c);
  }

  // A chunk whose 256 entries are equal and come from a prefix of length ≤ 24 is folded back.
  private maybeCollapse(i: number): void {
    const cur = this.tbl24[i] as number;
    const c = cur & 0x7fffffff;
    const t8 = this.tbl8;
    const base = c << 8;
    const first = t8[base] as number;
    if (depthOf(first) > 24) return;
    for (let j = base + 1; j < base + 256; j++) if (t8[j] !== first) return;
    this.tbl24[i] = first;
    this.freeChunks.push(c);
  }
}
