/**
 * IPv6 longest-prefix match: a multibit trie with a 16-bit first stride (one 65,536-entry root,
 * always hit in cache) then 8-bit strides, so that each further level is indexed by one address
 * byte read straight from the frame. The global table is mostly /32–/48, so a lookup is a root
 * load plus 2–4 node loads. Chosen over binary search on prefix lengths (Waldvogel) because it has
 * no hashing of 128-bit keys on the lookup path and updates need no markers; the cost is memory
 * (1 KiB per node; about 1–2 nodes per /48 of random low bits).
 *
 * Most deep nodes hold one or two prefixes (a /48 under its /40): 256 entries in a few runs of
 * equal values. Each such node also gets a 64-byte sparse record — the start of each run and its
 * entry — and the pointer to it is flagged, so lookups read one cache line instead of a line of a
 * 1 KiB node: the lookup working set shrinks by an order of magnitude, which is what matters for
 * a walk of dependent cache misses. The dense nodes stay the source of truth for updates; after
 * each insert or delete the nodes it touched are re-encoded, deepest first.
 *
 * Entries use the layout of Lpm4: bit 31 set → pointer to a child node; otherwise next hop + 1 in
 * bits 0..22 and the length of the prefix that wrote the entry in bits 23..30. Inserts overwrite
 * only entries of shorter-or-equal prefixes (descending into child nodes in range); deletes put
 * back the longest remaining covering prefix and fold nodes that became uniform.
 */
import { LpmError } from './lpm4.js';

const EXT = 0x80000000;
/** In a pointer entry: the child is also encoded as a sparse record (see `sparse`). */
const SPARSE = 0x40000000;
const PTR_MASK = 0x3fffffff;
/** Most runs of equal entries a node may have to get a sparse record. */
const MAX_RUNS = 8;
const NH_MASK = 0x7fffff;
const DEPTH_SHIFT = 23;
const ROOT_SIZE = 65536;
// Nodes below the root reserved at the first insert (they grow by doubling): a dual-stack router
// with three interfaces needs 38–46 (each /128 address of its own is a path of 14 nodes), so 64
// from the start — a table of 320 KiB rather than 512 KiB plus 32 KiB of records, without the two
// doublings from 16 that copied the root twice (a 200-router cell spent a third of its build
// there). An empty table (an IPv4-only router) allocates nothing of its own: until its first
// insert it reads a zero root shared by every empty table (never written: inserts allocate
// first), so lookups need no extra branch.
const INITIAL_NODES = 64;
let emptyRoot: Uint32Array | undefined;
function sharedEmptyRoot(): Uint32Array {
  emptyRoot ??= new Uint32Array(ROOT_SIZE);
  return emptyRoot;
}
/** Largest next-hop index an entry can hold. */
export const LPM6_MAX_NEXT_HOP = NH_MASK - 1;

/**
 * Index in `sp` of the entry for `byte` in the sparse record at `r`: the run is the number of run
 * starts ≤ byte (starts are sorted; unused ones are 256). Counted without branches —
 * (start − 1 − byte) is negative exactly when byte ≥ start — because which run a random address
 * falls in is unpredictable, and a mispredicted loop exit costs more than seven subtractions.
 */
function sparseSlot(sp: Uint32Array, r: number, byte: number): number {
  const q =
    (((sp[r + 1] as number) - 1 - byte) >>> 31) +
    (((sp[r + 2] as number) - 1 - byte) >>> 31) +
    (((sp[r + 3] as number) - 1 - byte) >>> 31) +
    (((sp[r + 4] as number) - 1 - byte) >>> 31) +
    (((sp[r + 5] as number) - 1 - byte) >>> 31) +
    (((sp[r + 6] as number) - 1 - byte) >>> 31) +
    (((sp[r + 7] as number) - 1 - byte) >>> 31);
  return r + 8 + q;
}

function depthOf(e: number): number {
  return (e >>> DEPTH_SHIFT) & 0xff;
}

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

// Rule key: the 32 hex digits of the prefix (a table look-up per byte: keys are built on every
// insert and delete, and number formatting per byte dominated a route push).
function keyOf(p: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += HEX2[p[i] as number] as string;
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
  /** Root then child nodes; the shared zero root until the first insert. */
  nodes: Uint32Array = sharedEmptyRoot();
  /** Sparse records, 16 words per node (indexed like pointers): [runs, start of runs 1..7, entries of runs 0..7]. */
  sparse: Uint32Array = new Uint32Array(0);
  // Per node (indexed by pointer value): entry index of the pointer to it, level, allocated.
  private parentEntry = new Int32Array(0);
  private level = new Uint8Array(0);
  private live = new Uint8Array(0);
  private touched: Set<number>[] = Array.from({ length: 16 }, () => new Set<number>());
  private nodeCount = 0;
  private freeNodes: number[] = [];
  private readonly rules: Map<string, number>[] = Array.from({ length: 129 }, () => new Map<string, number>());
  private ruleCount = 0;
  private deferred = 0;

  get size(): number {
    return this.ruleCount;
  }

  /** Nodes whose lookups read their 64-byte sparse record (the others: their 1 KiB node). */
  get sparseNodes(): number {
    let n = 0;
    for (let k = 256; k < 256 + this.nodeCount; k++) if (this.live[k] === 1 && ((this.nodes[this.parentEntry[k] as number] as number) & SPARSE) !== 0) n++;
    return n;
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
    const sp = this.sparse;
    while (e & EXT) {
      const byte = b[k++] as number;
      if (e & SPARSE) e = sp[sparseSlot(sp, (e & PTR_MASK) << 4, byte)] as number;
      else e = nodes[((e & PTR_MASK) << 8) + byte] as number;
    }
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
        if (e0 & EXT) e0 = this.step(e0, b[k0++] as number);
        if (e1 & EXT) e1 = this.step(e1, b[k1++] as number);
        if (e2 & EXT) e2 = this.step(e2, b[k2++] as number);
        if (e3 & EXT) e3 = this.step(e3, b[k3++] as number);
      }
      out[i] = (e0 & NH_MASK) - 1;
      out[i + 1] = (e1 & NH_MASK) - 1;
      out[i + 2] = (e2 & NH_MASK) - 1;
      out[i + 3] = (e3 & NH_MASK) - 1;
    }
    for (; i < n; i++) out[i] = this.lookupBytes(b, offs[i] as number);
  }

  // One level down from pointer entry e by address byte `byte`.
  private step(e: number, byte: number): number {
    if (e & SPARSE) return this.sparse[sparseSlot(this.sparse, (e & PTR_MASK) << 4, byte)] as number;
    return this.nodes[((e & PTR_MASK) << 8) + byte] as number;
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
    if (this.nodes === emptyRoot) this.allocRoot();
    const e = ((len << DEPTH_SHIFT) | (nextHop + 1)) >>> 0;
    // Walk down to the node whose stride contains bit `len`, creating nodes on the way.
    let base = 0;
    let end = 16; // bit position after this node's stride
    let idx = ((p[0] as number) << 8) | (p[1] as number);
    while (len > end) {
      const cur = this.nodes[base + idx] as number;
      let child: number;
      if (cur & EXT) {
        child = (cur & PTR_MASK) << 8;
      } else {
        child = this.allocNode((end - 16) / 8 + 1);
        this.nodes.fill(cur, child, child + 256);
        this.nodes[base + idx] = (EXT | (child >>> 8)) >>> 0;
        this.parentEntry[child >>> 8] = base + idx;
        this.touch(child);
        this.touch(base + idx);
      }
      base = child;
      idx = p[end >>> 3] as number;
      end += 8;
    }
    const count = 1 << (end - len);
    for (let j = base + idx; j < base + idx + count; j++) this.overwrite(j, e, len);
    if (this.deferred === 0) this.reencode();
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
      if (!(cur & EXT)) {
        if (this.deferred === 0) this.reencode();
        return true; // unreachable when tables are consistent: nothing to restore
      }
      path.push(base + idx);
      base = (cur & PTR_MASK) << 8;
      idx = p[end >>> 3] as number;
      end += 8;
    }
    const count = 1 << (end - len);
    for (let j = base + idx; j < base + idx + count; j++) this.restore(j, parent, len, end);
    // Fold nodes that became uniform, deepest first. The node under path[k] covers bits from 16 + 8k.
    for (let k = path.length - 1; k >= 0; k--) if (!this.maybeFold(path[k] as number, 16 + 8 * k)) break;
    if (this.deferred === 0) this.reencode();
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
    this.nodes = sharedEmptyRoot();
    this.sparse = new Uint32Array(0);
    this.parentEntry = new Int32Array(0);
    this.level = new Uint8Array(0);
    this.live = new Uint8Array(0);
    for (const t of this.touched) t.clear();
    this.nodeCount = 0;
    this.freeNodes = [];
    for (const m of this.rules) m.clear();
    this.ruleCount = 0;
  }

  /**
   * Runs `fn` (inserts and deletes) with the sparse records re-encoded once at the end instead of
   * after each change: a push of many routes re-encodes each touched node once, not once per
   * route under it. Lookups inside `fn` may read stale records; the dense nodes stay exact.
   *
   * @example
   * t.update(() => { for (const [p, len, nh] of routes) t.insert(p, len, nh); });
   */
  update<T>(fn: () => T): T {
    this.deferred++;
    try {
      return fn();
    } finally {
      if (--this.deferred === 0) this.reencode();
    }
  }

  private check(prefix: Uint8Array, len: number): void {
    if (prefix.length < 16) throw new LpmError(`IPv6 prefix needs 16 bytes, got ${prefix.length}`);
    if (!Number.isInteger(len) || len < 0 || len > 128) throw new LpmError(`prefix length ${len} out of range 0..128`);
  }

  // Writes e wherever a prefix of length ≤ len wrote before, descending into child nodes.
  private overwrite(j: number, e: number, len: number): void {
    const cur = this.nodes[j] as number;
    if (cur & EXT) {
      const child = (cur & PTR_MASK) << 8;
      for (let i = child; i < child + 256; i++) this.overwrite(i, e, len);
    } else if (depthOf(cur) <= len) {
      this.nodes[j] = e;
      this.touch(j);
    }
  }

  // Puts `parent` back where the deleted prefix of length `len` wrote; `start` is the bit
  // position where the node below j would begin.
  private restore(j: number, parent: number, len: number, start: number): void {
    const cur = this.nodes[j] as number;
    if (cur & EXT) {
      const child = (cur & PTR_MASK) << 8;
      for (let i = child; i < child + 256; i++) this.restore(i, parent, len, start + 8);
      this.maybeFold(j, start);
    } else if (depthOf(cur) === len && (cur & NH_MASK) !== 0) {
      this.nodes[j] = parent;
      this.touch(j);
    }
  }

  // If the node pointed to by entry j (covering bits from `start`) is uniform and was written by
  // a prefix no longer than `start`, the entry can hold the value itself.
  private maybeFold(j: number, start: number): boolean {
    const cur = this.nodes[j] as number;
    if (!(cur & EXT)) return false;
    const child = (cur & PTR_MASK) << 8;
    const first = this.nodes[child] as number;
    if (first & EXT || depthOf(first) > start) return false;
    for (let i = child + 1; i < child + 256; i++) if (this.nodes[i] !== first) return false;
    this.nodes[j] = first;
    this.touch(j);
    this.freeNodes.push(child);
    this.live[child >>> 8] = 0;
    return true;
  }

  private allocRoot(): void {
    this.nodes = new Uint32Array(ROOT_SIZE + 256 * INITIAL_NODES);
    this.sparse = new Uint32Array((256 + INITIAL_NODES) * 16);
    this.parentEntry = new Int32Array(256 + INITIAL_NODES);
    this.level = new Uint8Array(256 + INITIAL_NODES);
    this.live = new Uint8Array(256 + INITIAL_NODES);
  }

  private allocNode(level: number): number {
    let base = this.freeNodes.pop();
    if (base === undefined) {
      base = ROOT_SIZE + this.nodeCount * 256;
      this.nodeCount++;
      if (base + 256 > this.nodes.length) {
        // Double the nodes, not the root: a router's handful of /64 and /128 addresses needs
        // a few dozen nodes, and doubling root and all would cost 256 KiB per step.
        const bigger = new Uint32Array(ROOT_SIZE + 2 * (this.nodes.length - ROOT_SIZE));
        bigger.set(this.nodes);
        this.nodes = bigger;
      }
      const ptrs = (base >>> 8) + 1;
      if (ptrs * 16 > this.sparse.length) {
        const sp = new Uint32Array(Math.max(ptrs * 16, this.sparse.length * 2));
        sp.set(this.sparse);
        this.sparse = sp;
        const pe = new Int32Array(sp.length / 16);
        pe.set(this.parentEntry);
        this.parentEntry = pe;
        const lv = new Uint8Array(sp.length / 16);
        lv.set(this.level);
        this.level = lv;
        const li = new Uint8Array(sp.length / 16);
        li.set(this.live);
        this.live = li;
      }
    }
    this.level[base >>> 8] = level;
    this.live[base >>> 8] = 1;
    return base;
  }

  // Notes that entry j changed: its node needs re-encoding.
  private touch(j: number): void {
    if (j < ROOT_SIZE) return;
    const k = j >>> 8;
    (this.touched[this.level[k] as number] as Set<number>).add(k);
  }

  // Re-encodes touched nodes deepest first; a node whose sparse/dense kind changed gets its parent
  // pointer rewritten, which touches the parent (a shallower level, handled later in the loop).
  private reencode(): void {
    for (let lv = this.touched.length - 1; lv >= 1; lv--) {
      const set = this.touched[lv] as Set<number>;
      for (const k of set) {
        // Freed (and maybe reused at another level) since it was touched: its level's set has it.
        if (this.live[k] !== 1 || this.level[k] !== lv) continue;
        const sparse = this.encode(k);
        const pe = this.parentEntry[k] as number;
        const ptr = (EXT | (sparse ? SPARSE : 0) | k) >>> 0;
        if (this.nodes[pe] !== ptr) {
          this.nodes[pe] = ptr;
          this.touch(pe);
        }
      }
      set.clear();
    }
  }

  // Writes node k's runs into its sparse record; false when it has more than MAX_RUNS runs.
  private encode(k: number): boolean {
    const nodes = this.nodes;
    const base = k << 8;
    const sp = this.sparse;
    const r = k << 4;
    let n = 1;
    let prev = nodes[base] as number;
    sp[r + 8] = prev;
    for (let i = 1; i < 256; i++) {
      const e = nodes[base + i] as number;
      if (e === prev) continue;
      if (n === MAX_RUNS) return false;
      sp[r + n] = i;
      sp[r + 8 + n] = e;
      n++;
      prev = e;
    }
    sp[r] = n;
    for (let q = n; q < MAX_RUNS; q++) sp[r + q] = 256; // unused run starts never count
    return true;
  }

}
