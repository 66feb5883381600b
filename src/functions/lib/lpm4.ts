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
 */

const EXT = 0x80000000;
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

/**
 * A DIR-24-8 table mapping IPv4 prefixes to next-hop indexes (small integers the caller maps to
 * interfaces / neighbours). Memory: 64 MiB for the first level plus 1 KiB per /24 that holds
 * longer prefixes.
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
  readonly tbl24: Uint32Array = new Uint32Array(1 << 24);
  tbl8: Uint32Array = new Uint32Array(256 * 64);
  private chunkCount = 0;
  private freeChunks: number[] = [];
  // One map per prefix length: masked prefix → next hop. The source of truth for deletes and export.
  private readonly rules: Map<number, number>[] = Array.from({ length: 33 }, () => new Map<number, number>());
  private ruleCount = 0;

  /** Number of prefixes in the table. */
  get size(): number {
    return this.ruleCount;
  }

  /** Second-level chunks in use (for memory accounting). */
  get chunksInUse(): number {
    return this.chunkCount - this.freeChunks.length;
  }

  /** Next hop for `addr` (unsigned 32-bit), or -1 when no prefix covers it. */
  lookup(addr: number): number {
    let e = this.tbl24[addr >>> 8] as number;
    if (e & EXT) e = this.tbl8[((e & 0x7fffffff) << 8) | (addr & 0xff)] as number;
    return (e & NH_MASK) - 1;
  }

  /** Next hop for the address stored big-endian at `b[off..off+4)`, or -1. */
  lookupBytes(b: Uint8Array, off: number): number {
    let e = this.tbl24[((b[off] as number) << 16) | ((b[off + 1] as number) << 8) | (b[off + 2] as number)] as number;
    if (e & EXT) e = this.tbl8[((e & 0x7fffffff) << 8) | (b[off + 3] as number)] as number;
    return (e & NH_MASK) - 1;
  }

  /** Looks up `n` addresses at once (out[i] = next hop or -1). */
  lookupMany(addrs: Uint32Array, out: Int32Array, n: number): void {
    const t24 = this.tbl24;
    const t8 = this.tbl8;
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
    this.tbl24.fill(0);
    this.tbl8 = new Uint32Array(256 * 64);
    this.chunkCount = 0;
    this.freeChunks = [];
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
