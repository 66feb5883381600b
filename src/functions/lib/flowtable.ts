/**
 * Exact-match flow table for connection state (DPI streams, load-balancer affinity, conntrack):
 * open addressing with linear probing over typed arrays, keys of 10 words — source and
 * destination addresses as 4 words each (IPv4 as ::ffff:a.b.c.d), ports, protocol — so that IPv4
 * and IPv6 share one table. Deletion is by backward shift (no tombstones), which moves entries:
 * the owner keeps its per-flow values in its own arrays indexed like the table and is told of
 * every move through the `move` callback given once at construction.
 */
import { fmix32 } from './flowhash.js';
import { flowKeyOfFlowTableKey } from './flowkey.js';

export const FLOW_KEY_WORDS = 10;

export class FlowTableError extends Error {
  override readonly name = 'FlowTableError';
}

/**
 * @example
 * const t = new FlowTable(100_000, (from, to) => { state[to] = state[from]; });
 * const k = t.scratch;                   // fill with setKey4(...) then:
 * let i = t.find(k);
 * if (i < 0) i = t.insert(k, now);       // -1 when full
 */
export class FlowTable {
  readonly capacity: number;
  readonly maxFlows: number;
  readonly keys: Uint32Array;
  readonly used: Uint8Array;
  readonly lastSeen: Float64Array;
  /** A key buffer callers fill before find/insert (no allocation per packet). */
  readonly scratch = new Uint32Array(FLOW_KEY_WORDS);
  private readonly mask: number;
  private readonly mult = new Int32Array(FLOW_KEY_WORDS);
  private n = 0;

  constructor(
    maxFlows: number,
    private readonly move: (from: number, to: number) => void,
  ) {
    if (!Number.isInteger(maxFlows) || maxFlows < 1) throw new FlowTableError(`maxFlows must be a positive integer, got ${maxFlows}`);
    let cap = 16;
    while (cap < maxFlows * 2) cap *= 2;
    this.capacity = cap;
    this.maxFlows = maxFlows;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * FLOW_KEY_WORDS);
    this.used = new Uint8Array(cap);
    this.lastSeen = new Float64Array(cap);
    const seed = (Math.random() * 2 ** 32) >>> 0;
    for (let w = 0; w < FLOW_KEY_WORDS; w++) this.mult[w] = fmix32((seed + Math.imul(w + 1, 0x9e3779b9)) >>> 0) | 1;
  }

  get size(): number {
    return this.n;
  }

  /**
   * Key hash: a sum of the 10 words times per-table odd multipliers, then fmix32. The products are
   * independent (they pipeline, unlike a word-by-word chain), and the multipliers come from a
   * random seed, so colliding keys cannot be precomputed from the source code.
   */
  hash(k: Uint32Array, at = 0): number {
    const m = this.mult;
    const h =
      (Math.imul(k[at] as number, m[0] as number) +
        Math.imul(k[at + 1] as number, m[1] as number) +
        Math.imul(k[at + 2] as number, m[2] as number) +
        Math.imul(k[at + 3] as number, m[3] as number) +
        Math.imul(k[at + 4] as number, m[4] as number) +
        Math.imul(k[at + 5] as number, m[5] as number) +
        Math.imul(k[at + 6] as number, m[6] as number) +
        Math.imul(k[at + 7] as number, m[7] as number) +
        Math.imul(k[at + 8] as number, m[8] as number) +
        Math.imul(k[at + 9] as number, m[9] as number)) |
      0;
    return fmix32(h);
  }


  private same(i: number, k: Uint32Array): boolean {
    const keys = this.keys;
    const o = i * FLOW_KEY_WORDS;
    for (let w = 0; w < FLOW_KEY_WORDS; w++) if (keys[o + w] !== k[w]) return false;
    return true;
  }

  /** Index of key `k`, or -1. */
  find(k: Uint32Array): number {
    let i = this.hash(k) & this.mask;
    const used = this.used;
    while (used[i] === 1) {
      if (this.same(i, k)) return i;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** Inserts `k` (which must not be present); returns its index, or -1 when the table is full. */
  insert(k: Uint32Array, now: number): number {
    if (this.n >= this.maxFlows) return -1;
    let i = this.hash(k) & this.mask;
    while (this.used[i] === 1) i = (i + 1) & this.mask;
    this.used[i] = 1;
    this.keys.set(k, i * FLOW_KEY_WORDS);
    this.lastSeen[i] = now;
    this.n++;
    return i;
  }

  /** Removes the entry at index `i` (backward shift; entries that move are reported). */
  removeAt(i: number): void {
    const m = this.mask;
    const keys = this.keys;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      if (this.used[j] !== 1) break;
      const home = this.hash(keys, j * FLOW_KEY_WORDS) & m;
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      keys.copyWithin(hole * FLOW_KEY_WORDS, j * FLOW_KEY_WORDS, (j + 1) * FLOW_KEY_WORDS);
      this.lastSeen[hole] = this.lastSeen[j] as number;
      this.move(j, hole);
      hole = j;
    }
    this.used[hole] = 0;
    this.n--;
  }

  /**
   * Removes entries idle for `timeoutMs` or more (or `timeoutOf(i)` when given, per entry);
   * `onExpire(i)` runs before each removal. Returns how many.
   */
  expire(now: number, timeoutMs: number, onExpire?: (i: number) => void, timeoutOf?: (i: number) => number): number {
    let removed = 0;
    // Walk from an empty slot so that a backward shift never moves an unvisited entry behind us.
    let start = 0;
    while (start < this.capacity && this.used[start] === 1) start++;
    if (start === this.capacity) start = 0;
    for (let s = 1; s <= this.capacity; s++) {
      const i = (start + this.capacity - s) & this.mask; // backwards
      if (this.used[i] === 1 && now - (this.lastSeen[i] as number) >= (timeoutOf ? timeoutOf(i) : timeoutMs)) {
        onExpire?.(i);
        this.removeAt(i);
        removed++;
      }
    }
    return removed;
  }

  /**
   * The newest `lastSeen` of the entries (0 when empty): the clock of an exporter, against which
   * idle times are taken.
   *
   * @example
   * const now = t.latest(); // idleMs of entry i: now - t.lastSeen[i]
   */
  latest(): number {
    let now = 0;
    for (let i = 0; i < this.capacity; i++) if (this.used[i] === 1) now = Math.max(now, this.lastSeen[i] as number);
    return now;
  }

  /**
   * Moves every entry onto the clock `now`: imported entries are inserted with lastSeen = −idle
   * (the importer's clock is known only at its next batch), so lastSeen becomes now − idle.
   *
   * @example
   * t.insert(key, -idleMs); // importState
   * t.rebase(ctx.now);      // next process/tick
   */
  rebase(now: number): void {
    for (let i = 0; i < this.capacity; i++) if (this.used[i] === 1) this.lastSeen[i] = now + (this.lastSeen[i] as number);
  }

  /** Removes everything. */
  /**
   * Partitioning (exportFlows): removes the entries whose flow key `owns` accepts and returns
   * their items of `rows`, the owner's rows one per used slot in slot order (as its exportState
   * lists them).
   *
   * @example return { connections: this.conns.take(this.exportState().connections, owns) };
   */
  take<T>(rows: readonly T[], owns: (key: number) => boolean): T[] {
    const out: T[] = [];
    const moving: Uint32Array[] = [];
    let row = 0;
    for (let i = 0; i < this.capacity; i++) {
      if (this.used[i] !== 1) continue;
      if (owns(flowKeyOfFlowTableKey(this.keys, i * FLOW_KEY_WORDS))) {
        out.push(rows[row] as T);
        moving.push(this.keys.slice(i * FLOW_KEY_WORDS, (i + 1) * FLOW_KEY_WORDS));
      }
      row++;
    }
    // A removal shifts entries: each is found again by its key.
    for (const key of moving) {
      const i = this.find(key);
      if (i >= 0) this.removeAt(i);
    }
    return out;
  }

  clear(): void {
    this.used.fill(0);
    this.n = 0;
  }
}

/**
 * Fills `k` with an IPv4 5-tuple (addresses as ::ffff:a.b.c.d).
 *
 * @example
 * setKey4(table.scratch, 0x0a000001, 0x0a000002, 40000, 80, 6);
 * const i = table.find(table.scratch);
 */
export function setKey4(k: Uint32Array, src: number, dst: number, sport: number, dport: number, proto: number): void {
  k[0] = 0;
  k[1] = 0;
  k[2] = 0xffff;
  k[3] = src >>> 0;
  k[4] = 0;
  k[5] = 0;
  k[6] = 0xffff;
  k[7] = dst >>> 0;
  k[8] = ((sport << 16) | dport) >>> 0;
  k[9] = proto;
}

/** Fills `k` with an IPv6 5-tuple read from bytes (addresses at `srcOff`/`dstOff`). */
export function setKey6(k: Uint32Array, b: Uint8Array, srcOff: number, dstOff: number, sport: number, dport: number, proto: number): void {
  for (let w = 0; w < 4; w++) {
    const s = srcOff + 4 * w;
    const d = dstOff + 4 * w;
    k[w] = (((b[s] as number) << 24) | ((b[s + 1] as number) << 16) | ((b[s + 2] as number) << 8) | (b[s + 3] as number)) >>> 0;
    k[4 + w] = (((b[d] as number) << 24) | ((b[d + 1] as number) << 16) | ((b[d + 2] as number) << 8) | (b[d + 3] as number)) >>> 0;
  }
  k[8] = ((sport << 16) | dport) >>> 0;
  k[9] = proto;
}

/** Text of the address in key words [at, at+4): dotted quad for ::ffff:0:0/96, else IPv6. */
export function keyAddrText(k: Uint32Array, at: number): string {
  if (k[at] === 0 && k[at + 1] === 0 && k[at + 2] === 0xffff) {
    const a = k[at + 3] as number;
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  }
  const g: string[] = [];
  for (let w = 0; w < 4; w++) {
    const x = k[at + w] as number;
    g.push((x >>> 16).toString(16), (x & 0xffff).toString(16));
  }
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}
