/**
 * IPv6 longest-prefix match: a multibit trie with a 16-bit first stride (one 65,536-entry root,
 * always hit in cache) then 8-bit strides, so that each further level is indexed by one address
 * byte read straight from the frame. The global table is mostly /32–/48, so a lookup is a root
 * load plus 2–4 node loads. Chosen over binary search on prefix lengths (Waldvogel) because it has
 * no hashing of 128-bit keys on the lookup path and updates need no markers; the cost is memory
 * (1 KiB per node; about 1–2 nodes per /48 of random low bits).
 *
 * Entries use the layout of Lpm4: bit 31 set → pointer to a child node; otherwise next hop + 1 in
 * bits 0..22 and the length of the prefix that wrote the entry in bits 23..30. Inserts overwrite
 * only entries of shorter-or-equal prefixes (descending into child nodes in range); deletes put
 * back the longest remaining covering prefix and fold nodes that became uniform.
 */
import { LpmError } from './lpm4.js';

const EXT = 0x80000000;
const NH_MASK = 0x7fffff;
const DEPTH_SHIFT = 23;
const ROOT_SIZE = 65536;
/** Largest next-hop index an entry can hold. */
export const LPM6_MAX_NEXT_HOP = NH_MASK - 1;

function depthOf(e: number): number {
  return (e >>> DEPTH_SHIFT) & 0xff;
}

function keyOf(p: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += (p[i] as number).toString(16).padStart(2, '0');
  return s;
}

/** The first `len` bits of `prefix` (16 bytes from `off`), the rest zeroed, as a new array. */
function masked(prefix: Uint8Array, len: number, off = 0): Uint8Array {
  const p = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = len - i * 8;
    const b = prefix[off + i] ?? 0;
    p[i] = bits >= 8 ? b : bits <= 0 ? 0 : b & ((0xff << (8 - bits)) & 0xff);
  }
  return p;
}

/**
 * IPv6 prefix → next-hop index table.
 *
 * @example
 * const t = new Lpm6();
 * t.insert(parseIpv6('2001:db8::')!, 32, 1);
 * t.insert(parseIpv6('2001:db8:1::')!, 48, 2);
 * t.lookup(parseIpv6('2001:db8:1::5')!);   // 2
 * t.lookup(parseIpv6('2001:db8:2::5')!);   // 1
 */
export class Lpm6 {
  nodes: Uint32Array = new Uint32Array(ROOT_SIZE + 256 * 256);
  private nodeCount = 0;
  private freeNodes: number[] = [];
  private readonly rules: Map<string, number>[] = Array.from({ length: 129 }, () => new Map<string, number>());
  private ruleCount = 0;

  get size(): number {
    return this.ruleCount;
  }

  /** Trie nodes (256 entries each) in use. */
  get nodesInUse(): number {
    return this.nodeCount - this.freeNodes.length;
  }

  /** Next hop for the 16-byte address at `b[off..]`, or -1 when no prefix covers it. */
  lookupBytes(b: Uint8Array, off: number): number {
    const nodes = this.nodes;
    let e = nodes[((b[off] as number) << 8) | (b[off + 1] as number)] as number;
    let k = off + 2;
    while (e & EXT) e = nodes[((e & 0x7fffffff) << 8) + (b[k++] as number)] as number;
    return (e & NH_MASK) - 1;
  }

  /**
   * Looks up `n` addresses at once: address i is 16 bytes at `b[offs[i]..]`, its next hop (or -1)
   * goes to `out[i]`. Four lookups walk the trie in lockstep so that their cache misses overlap
   * (a lone walk is a chain of dependent loads); use this on batches.
   */
  lookupBatch(b: Uint8Array, offs: Int32Array, out: Int32Array, n: number): void {
    const nodes = this.nodes;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      let k0 = offs[i] as number;
      let k1 = offs[i + 1] as number;
      let k2 = offs[i + 2] as number;
      let k3 = offs[i + 3] as number;
      let e0 = nodes[((b[k0] as number) << 8) | (b[k0 + 1] as number)] as number;
      let e1 = nodes[((b[k1] as number) << 8) | (b[k1 + 1] as number)] as number;
      let e2 = nodes[((b[k2] as number) << 8) | (b[k2 + 1] as number)] as number;
      let e3 = nodes[((b[k3] as number) << 8) | (b[k3 + 1] as number)] as number;
      k0 += 2;
      k1 += 2;
      k2 += 2;
      k3 += 2;
      while ((e0 | e1 | e2 | e3) & EXT) {
        if (e0 & EXT) e0 = nodes[((e0 & 0x7fffffff) << 8) + (b[k0++] as number)] as number;
        if (e1 & EXT) e1 = nodes[((e1 & 0x7fffffff) << 8) + (b[k1++] as number)] as number;
        if (e2 & EXT) e2 = nodes[((e2 & 0x7fffffff) << 8) + (b[k2++] as number)] as number;
        if (e3 & EXT) e3 = nodes[((e3 & 0x7fffffff) << 8) + (b[k3++] as number)] as number;
      }
      out[i] = (e0 & NH_MASK) - 1;
      out[i + 1] = (e1 & NH_MASK) - 1;
      out[i + 2] = (e2 & NH_MASK) - 1;
      out[i + 3] = (e3 & NH_MASK) - 1;
    }
    for (; i < n; i++) out[i] = this.lookupBytes(b, offs[i] as number);
  }

  /** Next hop for a 16-byte address, or -1. */
  lookup(addr: Uint8Array): number {
    return this.lookupBytes(addr, 0);
  }

  /** The next hop stored for exactly this prefix, or -1. */
  get(prefix: Uint8Array, len: number): number {
    this.check(prefix, len);
    return this.rules[len]?.get(keyOf(masked(prefix, len))) ?? -1;
  }

  /** Adds or replaces `prefix/len` → `nextHop` (prefix: 16 bytes; host bits ignored). */
  insert(prefix: Uint8Array, len: number, nextHop: number): void {
    this.check(prefix, len);
    if (!Number.isInteger(nextHop) || nextHop < 0 || nextHop > LPM6_MAX_NEXT_HOP) throw new LpmError(`next hop ${nextHop} out of range 0..${LPM6_MAX_NEXT_HOP}`);
    const p = masked(prefix, len);
    const rules = this.rules[len] as Map<string, number>;
    const key = keyOf(p);
    if (!rules.has(key)) this.ruleCount++;
    rules.set(key, nextHop);
    const e = ((len << DEPTH_SHIFT) | (nextHop + 1)) >>> 0;
    // Walk down to the node whose stride contains bit `len`, creating nodes on the way.
    let base = 0;
    let end = 16; // bit position after this node's stride
    let idx = ((p[0] as number) << 8) | (p[1] as number);
    while (len > end) {
      const cur = this.nodes[base + idx] as number;
      let child: number;
      if (cur & EXT) {
        child = (cur & 0x7fffffff) << 8;
      } else {
        child = this.allocNode();
        this.nodes.fill(cur, child, child + 256);
        this.nodes[base + idx] = (EXT | (child >>> 8)) >>> 0;
      }
      base = child;
      idx = p[end >>> 3] as number;
      end += 8;
    }
    const count = 1 << (end - len);
    for (let j = base + idx; j < base + idx + count; j++) this.overwrite(j, e, len);
  }

  /** Removes `prefix/len`; returns false when it was not in the table. */
  delete(prefix: Uint8Array, len: number): boolean {
    this.check(prefix, len);
    const p = masked(prefix, len);
    const rules = this.rules[len] as Map<string, number>;
    if (!rules.delete(keyOf(p))) return false;
    this.ruleCount--;
    let parent = 0;
    for (let l = len - 1; l >= 0; l--) {
      const nh = this.rules[l]?.get(keyOf(masked(p, l)));
      if (nh !== undefined) {
        parent = ((l << DEPTH_SHIFT) | (nh + 1)) >>> 0;
        break;
      }
    }
    // Path of (node base, index) down to the node holding the range, for folding on the way back.
    const path: number[] = [];
    let base = 0;
    let end = 16;
    let idx = ((p[0] as number) << 8) | (p[1] as number);
    while (len > end) {
      const cur = this.nodes[base + idx] as number;
      if (!(cur & EXT)) return true; // unreachable when tables are consistent: nothing to restore
      path.push(base + idx);
      base = (cur & 0x7fffffff) << 8;
      idx = p[end >>> 3] as number;
      end += 8;
    }
    const count = 1 << (end - len);
    for (let j = base + idx; j < base + idx + count; j++) this.restore(j, parent, len, end);
    // Fold nodes that became uniform, deepest first. The node under path[k] covers bits from 16 + 8k.
    for (let k = path.length - 1; k >= 0; k--) if (!this.maybeFold(path[k] as number, 16 + 8 * k)) break;
    return true;
  }

  /** Every prefix as [16-byte prefix, len, nextHop], shortest first. */
  *entries(): IterableIterator<[Uint8Array, number, number]> {
    for (let len = 0; len <= 128; len++) {
      for (const [k, nh] of this.rules[len] as Map<string, number>) {
        const p = new Uint8Array(16);
        for (let i = 0; i < 16; i++) p[i] = parseInt(k.slice(2 * i, 2 * i + 2), 16);
        yield [p, len, nh];
      }
    }
  }

  clear(): void {
    this.nodes = new Uint32Array(ROOT_SIZE + 256 * 256);
    this.nodeCount = 0;
    this.freeNodes = [];
    for (const m of this.rules) m.clear();
    this.ruleCount = 0;
  }

  private check(prefix: Uint8Array, len: number): void {
    if (prefix.length < 16) throw new LpmError(`IPv6 prefix needs 16 bytes, got ${prefix.length}`);
    if (!Number.isInteger(len) || len < 0 || len > 128) throw new LpmError(`prefix length ${len} out of range 0..128`);
  }

  // Writes e wherever a prefix of length ≤ len wrote before, descending into child nodes.
  private overwrite(j: number, e: number, len: number): void {
    const cur = this.nodes[j] as number;
    if (cur & EXT) {
      const child = (cur & 0x7fffffff) << 8;
      for (let i = child; i < child + 256; i++) this.overwrite(i, e, len);
    } else if (depthOf(cur) <= len) {
      this.nodes[j] = e;
    }
  }

  // Puts `parent` back where the deleted prefix of length `len` wrote; `start` is the bit
  // position where the node below j would begin.
  private restore(j: number, parent: number, len: number, start: number): void {
    const cur = this.nodes[j] as number;
    if (cur & EXT) {
      const child = (cur & 0x7fffffff) << 8;
      for (let i = child; i < child + 256; i++) this.restore(i, parent, len, start + 8);
      this.maybeFold(j, start);
    } else if (depthOf(cur) === len && (cur & NH_MASK) !== 0) {
      this.nodes[j] = parent;
    }
  }

  // If the node pointed to by entry j (covering bits from `start`) is uniform and was written by
  // a prefix no longer than `start`, the entry can hold the value itself.
  private maybeFold(j: number, start: number): boolean {
    const cur = this.nodes[j] as number;
    if (!(cur & EXT)) return false;
    const child = (cur & 0x7fffffff) << 8;
    const first = this.nodes[child] as number;
    if (first & EXT || depthOf(first) > start) return false;
    for (let i = child + 1; i < child + 256; i++) if (this.nodes[i] !== first) return false;
    this.nodes[j] = first;
    this.freeNodes.push(child);
    return true;
  }

  private allocNode(): number {
    const f = this.freeNodes.pop();
    if (f !== undefined) return f;
    const base = ROOT_SIZE + this.nodeCount * 256;
    this.nodeCount++;
    if (base + 256 > this.nodes.length) {
      const bigger = new Uint32Array(this.nodes.length * 2);
      bigger.set(this.nodes);
      this.nodes = bigger;
    }
    return base;
  }
}
