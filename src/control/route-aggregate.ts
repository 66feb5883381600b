/**
 * Exact FIB aggregation for pushed routes: two sibling prefixes (the two halves of one prefix
 * one bit shorter) with the same next hops become that shorter prefix, repeatedly, unless the
 * shorter prefix is itself a route (or one to avoid, such as a static route of the spec).
 * Longest-prefix match then picks the same next hops for every address as before: an address in
 * the merged prefix matched one of its halves (or a longer route, still there), and a shorter
 * route covering it lost to the halves as it loses to the merged prefix. Holes (a connected or
 * unreachable prefix between two others) are never covered, since both halves must exist.
 * This is the level-1 FIB aggregation of SMALTA (Uzmi et al., CoNEXT 2011) without its
 * "whiteholing": the forwarding behaviour is unchanged, only the table is smaller. A line of
 * 200 routers keeps ~40 routes per router instead of ~800 (each side's prefixes collapse into
 * the binary decomposition of their count).
 */
import { formatIpv4, formatIpv6, parsePrefix } from '../functions/config.js';
import type { RouteSpec } from '../functions/router.js';

/** Prefix nodes past this count make the shared tree of `aggregateRoutes` start over (a bound). */
const MAX_NODES = 1 << 18;

/**
 * Prefixes as node numbers, each with its sibling and parent found once: the prefixes of one
 * network's FIBs are few (its subnets and their aggregates) while its routes are many (every
 * router has most of them), so routes compare and merge by number, in arrays.
 *
 * @example
 * const t = new PrefixTree();
 * const a = t.intern('10.0.0.0/24'), b = t.intern('10.0.1.0/24');
 * t.aggregate([{ node: a, sig: 'x', spec: { prefix: '10.0.0.0/24', via: 'x' } }, { node: b, sig: 'x', spec: { prefix: '10.0.1.0/24', via: 'x' } }], []);
 * // [{ prefix: '10.0.0.0/23', via: 'x' }]
 */
export class PrefixTree {
  private readonly fam: (4 | 6)[] = [];
  /** IPv4: one word; IPv6: four big-endian words. */
  private readonly w: (readonly number[])[] = [];
  private readonly len: number[] = [];
  private readonly text: (string | undefined)[] = [];
  private readonly sib: number[] = [];
  private readonly par: number[] = [];
  private readonly byValue = new Map<string, number>();
  private readonly byText = new Map<string, number>();
  // Scratch of aggregate(): per node, the generation it was last live / taken in and its entry.
  private live = new Int32Array(0);
  private taken = new Int32Array(0);
  private entry = new Int32Array(0);
  private gen = 0;
  private readonly levels: number[][] = Array.from({ length: 129 }, () => []);

  get size(): number {
    return this.len.length;
  }

  /** The node of a prefix by value (host bits clear). */
  node(family: 4 | 6, w: readonly number[], len: number, text?: string): number {
    const k = family === 4 ? `${w[0] as number}/${len}` : `${w[0] as number}.${w[1] as number}.${w[2] as number}.${w[3] as number}/${len}`;
    let n = this.byValue.get(k);
    if (n === undefined) {
      n = this.len.length;
      this.byValue.set(k, n);
      this.fam.push(family);
      this.w.push(w);
      this.len.push(len);
      this.text.push(text);
      this.sib.push(-1);
      this.par.push(-1);
    } else if (text !== undefined) this.text[n] ??= text;
    return n;
  }

  /** The node of prefix text, or -1 if it does not parse. */
  intern(text: string): number {
    let n = this.byText.get(text);
    if (n === undefined) {
      const p = parsePrefix(text);
      n = typeof p === 'string' ? -1 : this.node(p.family, words(p.family, p.family === 4 ? p.addr : p.addr), p.len, text);
      this.byText.set(text, n);
    }
    return n;
  }

  /** Text of a node (`a.b.c.d/n`, `x::/n`). */
  textOf(n: number): string {
    const t = this.text[n];
    if (t !== undefined) return t;
    const w = this.w[n] as readonly number[];
    let out: string;
    if (this.fam[n] === 4) out = `${formatIpv4(w[0] as number)}/${this.len[n] as number}`;
    else {
      const b = new Uint8Array(16);
      w.forEach((x, i) => {
        b[i * 4] = x >>> 24;
        b[i * 4 + 1] = (x >>> 16) & 0xff;
        b[i * 4 + 2] = (x >>> 8) & 0xff;
        b[i * 4 + 3] = x & 0xff;
      });
      out = `${formatIpv6(b)}/${this.len[n] as number}`;
    }
    this.text[n] = out;
    return out;
  }

  /** Finds the other half of the prefix one bit shorter, and that prefix (len ≥ 1). */
  private relatives(n: number): void {
    const w = this.w[n] as readonly number[];
    const fam = this.fam[n] as 4 | 6;
    const len = this.len[n] as number;
    const b = len - 1;
    const wi = b >>> 5;
    const m = (1 << (31 - (b & 31))) >>> 0;
    const sw = [...w];
    sw[wi] = ((w[wi] as number) ^ m) >>> 0;
    const pw = [...w];
    pw[wi] = ((w[wi] as number) & ~m) >>> 0;
    const s = this.node(fam, sw, len);
    const p = this.node(fam, pw, b);
    this.sib[n] = s;
    this.par[n] = p;
  }

  /**
   * Merges sibling prefixes of `items` with the same `sig` (everything but the prefix) up the
   * tree, never into a node of `items` or `taken` (prefixes installed beside: connected
   * subnets, static routes). Returns the routes in the order of the first item each stands for.
   */
  aggregate(items: readonly { readonly node: number; readonly sig: string; readonly spec: RouteSpec }[], taken: Iterable<number>): RouteSpec[] {
    const list = new RouteList<RouteSpec>();
    for (const it of items) list.push(it.node, it.sig, it.spec);
    return this.aggregateList(list, taken, (spec, prefix) => (spec.prefix === prefix ? spec : { ...spec, prefix }));
  }

  /**
   * `aggregate` over parallel arrays, each route built by `make(spec, prefix)` only if it is
   * in the result (a FIB of many routes allocates one object per route left, not per input).
   */
  aggregateList<T>(items: RouteList<T>, taken: Iterable<number>, make: (spec: T, prefix: string) => RouteSpec): RouteSpec[] {
    const g = ++this.gen;
    const sigs: string[] = [];
    const specs: T[] = [];
    const orders: number[] = [];
    const nodes: number[] = [];
    const add = (node: number, sig: string, spec: T, order: number): void => {
      this.fit();
      this.live[node] = g;
      this.taken[node] = g;
      this.entry[node] = sigs.length;
      sigs.push(sig);
      specs.push(spec);
      orders.push(order);
      nodes.push(node);
      (this.levels[this.len[node] as number] as number[]).push(node);
    };
    this.fit();
    for (const t of taken) this.taken[t] = g;
    for (let i = 0; i < items.nodes.length; i++) add(items.nodes[i] as number, items.sigs[i] as string, items.specs[i] as T, i);
    let merged = 0;
    for (let len = 128; len >= 1; len--) {
      const level = this.levels[len] as number[];
      for (let k = 0; k < level.length; k++) {
        const n = level[k] as number;
        if (this.live[n] !== g) continue;
        if (this.sib[n] === -1) this.relatives(n);
        const s = this.sib[n] as number;
        const p = this.par[n] as number;
        this.fit();
        const e = this.entry[n] as number;
        if (this.live[s] !== g || sigs[this.entry[s] as number] !== sigs[e] || this.taken[p] === g) continue;
        this.live[n] = 0;
        this.live[s] = 0;
        add(p, sigs[e] as string, specs[e] as T, Math.min(orders[e] as number, orders[this.entry[s] as number] as number));
        merged++;
      }
      level.length = 0;
    }
    (this.levels[0] as number[]).length = 0;
    const out: { order: number; e: number }[] = [];
    for (let e = 0; e < nodes.length; e++) if (this.live[nodes[e] as number] === g) out.push({ order: orders[e] as number, e });
    if (merged > 0) out.sort((x, y) => x.order - y.order);
    return out.map((x) => make(specs[x.e] as T, this.textOf(nodes[x.e] as number)));
  }

  /** Grows the scratch arrays to the node count. */
  private fit(): void {
    if (this.live.length >= this.len.length) return;
    const size = Math.max(64, this.len.length * 2);
    for (const k of ['live', 'taken', 'entry'] as const) {
      const a = new Int32Array(size);
      a.set(this[k]);
      this[k] = a;
    }
  }
}

/**
 * Routes to aggregate as parallel arrays (no object per route): prefix node, signature, payload.
 * @example
 * const l = new RouteList<string>(); l.push(tree.intern('10.0.0.0/24'), 'via-a', 'a');
 */
export class RouteList<T> {
  readonly nodes: number[] = [];
  readonly sigs: string[] = [];
  readonly specs: T[] = [];
  push(node: number, sig: string, spec: T): void {
    this.nodes.push(node);
    this.sigs.push(sig);
    this.specs.push(spec);
  }
}

/**
 * An address as 32-bit big-endian words (one for IPv4, four for IPv6).
 * @example words(6, parseIpv6('2001:db8::1')!); // [0x20010db8, 0, 0, 1]
 */
export function words(family: 4 | 6, a: number | Uint8Array): number[] {
  if (family === 4 || typeof a === 'number') return [a as number];
  const w: number[] = [];
  for (let i = 0; i < 16; i += 4) w.push((((a[i] as number) << 24) | ((a[i + 1] as number) << 16) | ((a[i + 2] as number) << 8) | (a[i + 3] as number)) >>> 0);
  return w;
}

/**
 * What must be equal for two routes to merge: everything but the prefix.
 * @example sigOf({ prefix: '10.0.0.0/24', via: '10.9.0.1' }); // '10.9.0.1'
 */
export function sigOf(r: RouteSpec): string {
  if (r.type === undefined && r.dev === undefined && r.nexthops === undefined && typeof r.via === 'string') return r.via;
  const via = r.via === undefined ? '' : typeof r.via === 'string' ? r.via : r.via.join(',');
  return `${r.type ?? ''}|${via}|${r.dev ?? ''}|${r.nexthops ? JSON.stringify(r.nexthops) : ''}`;
}

let shared = new PrefixTree();

/**
 * A smaller table with the same forwarding as `routes` under longest-prefix match, by
 * merging sibling prefixes with the same next hops; `avoid` are prefixes installed beside that
 * must not be produced (connected subnets, static routes that win over computed ones for the
 * same prefix). A route whose prefix does not parse is kept as it is.
 *
 * @example
 * aggregateRoutes([{ prefix: '10.0.0.0/24', via: '10.9.0.1' }, { prefix: '10.0.1.0/24', via: '10.9.0.1' }]);
 * // [{ prefix: '10.0.0.0/23', via: '10.9.0.1' }]
 */
export function aggregateRoutes(routes: readonly RouteSpec[], avoid: Iterable<string> = []): RouteSpec[] {
  if (shared.size > MAX_NODES) shared = new PrefixTree();
  const t = shared;
  const taken: number[] = [];
  for (const a of avoid) {
    const n = t.intern(a);
    if (n >= 0) taken.push(n);
  }
  const items: { node: number; sig: string; spec: RouteSpec }[] = [];
  const bad: { at: number; spec: RouteSpec }[] = [];
  routes.forEach((r, i) => {
    const n = t.intern(r.prefix);
    if (n < 0) bad.push({ at: i, spec: r });
    else items.push({ node: n, sig: sigOf(r), spec: r });
  });
  const out = t.aggregate(items, taken);
  // Unparseable routes go back where they were, for the router to reject.
  for (const b of bad) out.splice(Math.min(b.at, out.length), 0, b.spec);
  return out;
}
