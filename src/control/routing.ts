/**
 * SDN routing: the control plane computes every router's FIB from the software network's
 * topology and pushes it (Router.setRoutes), the routers only forward.
 *
 * - The topology is the network's functions and links. A link joins two ports ("fn:port", or a
 *   bare "fn"); a switch joins all of its ports into one L2 segment (VLANs are not separated);
 *   router interfaces on one segment are neighbours. Each router interface's addresses give
 *   connected prefixes (IPv4 and global IPv6); an interface whose links all failed owns nothing.
 * - Cost of a segment: its links' latency in microseconds (a link without latency costs 1 µs),
 *   the largest one on a switched segment; or 1 per hop with `metric: 'hops'`. Integer costs
 *   keep equal-cost comparisons exact.
 * - Per prefix, a multi-source Dijkstra from the routers that own it (over the reversed
 *   neighbour graph) gives every router's distance; a router's next hops are all the neighbours
 *   N with cost(R, N) + dist(N) = dist(R): ECMP when there are several (at most 64, the
 *   router's limit). IPv6 next hops are the neighbour's global address on a shared prefix,
 *   otherwise its link-local address with the egress interface.
 * - Failures (links by index in spec.links, functions by name) are removed before computing;
 *   `SdnRouting` keeps them and reports which routers' FIBs changed.
 */
import { ConfigError } from '../functions/contract.js';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../functions/config.js';
import { parseRouterConfig, type RouteSpec, type RouterInterfaceConfig } from '../functions/router.js';
import { shortestDistances } from '../policy/scheduling.js';
import { parseDuration } from './manifest/quantity.js';
import { PrefixTree, RouteList, sigOf, words } from './route-aggregate.js';
import type { SoftwareNetworkSpec } from './manifest/types.js';

export class RoutingError extends Error {
  override readonly name = 'RoutingError';
}

export interface NextHop {
  /** Gateway address (the neighbour router's address on the shared segment). */
  readonly via: string;
  /** Egress interface of this router. */
  readonly dev: string;
  /** The neighbour router's function name. */
  readonly neighbor: string;
}

export interface FibEntry {
  readonly prefix: string;
  readonly family: 4 | 6;
  /** Path cost (µs of latency, or hops). */
  readonly cost: number;
  /** One for a single path, several for ECMP, sorted by (dev, via). */
  readonly nexthops: readonly NextHop[];
}

export interface RoutingResult {
  /** Per router: its computed FIB (connected prefixes are not in it; the router derives them). */
  readonly fibs: ReadonlyMap<string, readonly FibEntry[]>;
  /** Per router: the same FIB in the router function's setRoutes format. */
  readonly routes: ReadonlyMap<string, readonly RouteSpec[]>;
  /** Per router: prefixes it has no path to (after failures). */
  readonly unreachable: ReadonlyMap<string, readonly string[]>;
}

export interface RoutingOptions {
  readonly metric?: 'latency' | 'hops';
  /** Indexes into spec.links of failed links. */
  readonly failedLinks?: Iterable<number>;
  /** Names of failed functions (routers or switches). */
  readonly failedNodes?: Iterable<string>;
  /** Function kinds that join their ports into one L2 segment (default ['switch']). */
  readonly l2Kinds?: readonly string[];
  /**
   * `routes` aggregated exactly (route-aggregate.ts: sibling prefixes with the same next hops
   * merged, never into a router's connected subnet or one of its static routes): the same
   * forwarding from a smaller table. `fibs` are then left empty: one entry per prefix and
   * router is the allocation this saves (a 200-router line: ~158,000).
   */
  readonly aggregate?: boolean;
}

interface RIf { readonly r: number; readonly i: number }
interface Edge {
  readonly to: number;
  readonly cost: number;
  readonly hop: NextHop;
  /** the router infers `dev` from `via` itself */
  readonly implied: boolean;
  /** sigOf() of its one-hop route spec (aggregation compares routes by it) */
  readonly sig: string;
}

const MAX_ECMP = 64;

function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}
function isLinkLocal6(a: Uint8Array): boolean {
  return a[0] === 0xfe && ((a[1] as number) & 0xc0) === 0x80;
}
function in6(a: Uint8Array, p: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) {
    const bit = 7 - (i & 7);
    if ((((a[i >>> 3] as number) >>> bit) & 1) !== (((p[i >>> 3] as number) >>> bit) & 1)) return false;
  }
  return true;
}
function net6(a: Uint8Array, len: number): Uint8Array {
  const o = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, len - 8 * i));
    o[i] = (a[i] as number) & ((0xff << (8 - bits)) & 0xff);
  }
  return o;
}

/**
 * Computes every router's routes.
 * @example
 * const { routes } = computeRoutes(net.spec as SoftwareNetworkSpec);
 * for (const [name, fib] of routes) routers.get(name)?.setRoutes(fib);
 */
export function computeRoutes(spec: SoftwareNetworkSpec, o: RoutingOptions = {}): RoutingResult {
  const failedLinks = new Set(o.failedLinks ?? []);
  const failedNodes = new Set(o.failedNodes ?? []);
  const l2 = new Set(o.l2Kinds ?? ['switch']);
  const kindOf = new Map(spec.functions.map((f) => [f.name, f.kind]));
  // Routers and their parsed interfaces.
  const names: string[] = [];
  const ifs: (readonly RouterInterfaceConfig[])[] = [];
  const rIndex = new Map<string, number>();
  const tree = o.aggregate ? new PrefixTree() : undefined;
  /** Per router, the prefixes aggregation must not produce (connected subnets, static routes). */
  const fixed: number[][] = [];
  for (const f of spec.functions) {
    if (f.kind !== 'router' || failedNodes.has(f.name)) continue;
    let parsed: readonly RouterInterfaceConfig[];
    try {
      const c = parseRouterConfig(f.config ?? {});
      parsed = c.interfaces;
      if (tree) {
        // Every connected subnet (up or not: the router installs it) and every static route.
        const own = c.routes.map((x) => tree.node(x.family, x.family === 4 ? [x.addr4] : words(6, x.addr6), x.len));
        for (const i of c.interfaces) {
          for (const x of i.v4) own.push(tree.node(4, [(x.addr & mask4(x.len)) >>> 0], x.len));
          for (const x of i.v6) own.push(tree.node(6, words(6, net6(x.addr, x.len)), x.len));
        }
        fixed.push(own);
      }
    } catch (e) {
      if (e instanceof ConfigError) throw new RoutingError(`router ${f.name}: ${e.message}`);
      throw e;
    }
    rIndex.set(f.name, names.length);
    names.push(f.name);
    ifs.push(parsed);
  }
  const links = spec.links ?? [];
  // Bare router endpoints take the first interface no link names explicitly.
  const named = new Set<string>();
  for (const l of links) for (const e of l.endpoints) if (e.includes(':')) named.add(e);
  const bareNext = new Map<string, number>();
  const nodeKey = (e: string): string | null => {
    const c = e.indexOf(':');
    const fn = c < 0 ? e : e.slice(0, c);
    const kind = kindOf.get(fn);
    if (kind === undefined) throw new RoutingError(`link endpoint ${e}: no function named ${fn}`);
    if (failedNodes.has(fn)) return null;
    if (l2.has(kind)) return fn;
    if (kind !== 'router') return c < 0 ? `${fn}:` : e;
    const r = rIndex.get(fn) as number;
    const list = ifs[r] as readonly RouterInterfaceConfig[];
    if (c >= 0) {
      if (!list.some((f) => f.name === e.slice(c + 1))) throw new RoutingError(`link endpoint ${e}: router ${fn} has no interface ${e.slice(c + 1)}`);
      return e;
    }
    let k = bareNext.get(fn) ?? 0;
    while (k < list.length && named.has(`${fn}:${(list[k] as RouterInterfaceConfig).name}`)) k++;
    const f = list[k];
    if (!f) throw new RoutingError(`link endpoint ${e}: router ${fn} has no free interface left`);
    bareNext.set(fn, k + 1);
    return `${fn}:${f.name}`;
  };
  // Union-find over endpoint keys; a segment's cost is its largest link cost.
  const parent = new Map<string, string>();
  const segCost = new Map<string, number>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r) as string;
    let y = x;
    while (y !== r) {
      const n = parent.get(y) as string;
      parent.set(y, r);
      y = n;
    }
    return r;
  };
  const make = (x: string): void => {
    if (!parent.has(x)) {
      parent.set(x, x);
      segCost.set(x, 0);
    }
  };
  const linkedIfs = new Set<string>();
  links.forEach((l, idx) => {
    const [a, b] = l.endpoints.map(nodeKey);
    for (const k of [a, b]) if (k) linkedIfs.add(k);
    if (!a || !b || failedLinks.has(idx)) return;
    const cost = o.metric === 'hops' ? 1 : l.latency === undefined ? 1 : Math.max(1, Math.round(parseDuration(l.latency) * 1000));
    make(a);
    make(b);
    const ra = find(a);
    const rb = find(b);
    const c = Math.max(cost, segCost.get(ra) as number, segCost.get(rb) as number);
    if (ra !== rb) parent.set(ra, rb);
    segCost.set(rb, c);
  });
  // An interface named by links is up only if one of them survived; one no link names is a stub (up).
  const segments = new Map<string, RIf[]>();
  const up: boolean[][] = ifs.map((list, r) =>
    list.map((f, i) => {
      const key = `${names[r]}:${f.name}`;
      if (!parent.has(key)) return !linkedIfs.has(key);
      const root = find(key);
      const l = segments.get(root);
      if (l) l.push({ r, i });
      else segments.set(root, [{ r, i }]);
      return true;
    }),
  );
  // Neighbour edges per family: R → N with the gateway R uses.
  const R = names.length;
  const out4: Edge[][] = Array.from({ length: R }, () => []);
  const out6: Edge[][] = Array.from({ length: R }, () => []);
  for (const [root, members] of segments) {
    const cost = segCost.get(root) as number;
    for (const a of members) {
      const fa = (ifs[a.r] as readonly RouterInterfaceConfig[])[a.i] as RouterInterfaceConfig;
      for (const b of members) {
        if (a.r === b.r) continue;
        const fb = (ifs[b.r] as readonly RouterInterfaceConfig[])[b.i] as RouterInterfaceConfig;
        const own = ifs[a.r] as readonly RouterInterfaceConfig[];
        const neighbor = names[b.r] as string;
        const v4 = fb.v4.find((x) => fa.v4.some((y) => ((x.addr ^ y.addr) & mask4(y.len)) === 0));
        if (v4) {
          const hop = { via: formatIpv4(v4.addr), dev: fa.name, neighbor };
          const implied = impliedDev(own, 4, hop.via) === fa.name;
          (out4[a.r] as Edge[]).push({ to: b.r, cost, hop, implied, sig: edgeSig(hop, implied) });
        }
        const g6 = fb.v6.find((x) => !isLinkLocal6(x.addr) && fa.v6.some((y) => !isLinkLocal6(y.addr) && in6(x.addr, y.addr, y.len)));
        const hop6 = { via: formatIpv6(g6 ? g6.addr : fb.linkLocal), dev: fa.name, neighbor };
        const implied6 = impliedDev(own, 6, hop6.via) === fa.name;
        (out6[a.r] as Edge[]).push({ to: b.r, cost, hop: hop6, implied: implied6, sig: edgeSig(hop6, implied6) });
      }
    }
  }
  // Prefixes and their owners.
  const prefixes = new Map<string, { family: 4 | 6; text: string; owners: number[]; node: number }>();
  ifs.forEach((list, r) =>
    list.forEach((f, i) => {
      if (!(up[r] as boolean[])[i]) return;
      const own = (key: string, family: 4 | 6, text: string, w: () => number[], len: number): void => {
        const p = prefixes.get(key);
        if (!p) prefixes.set(key, { family, text, owners: [r], node: tree ? tree.node(family, w(), len, text) : -1 });
        else if (!p.owners.includes(r)) p.owners.push(r);
      };
      for (const a of f.v4) {
        const net = (a.addr & mask4(a.len)) >>> 0;
        own(`4/${net}/${a.len}`, 4, `${formatIpv4(net)}/${a.len}`, () => [net], a.len);
      }
      for (const a of f.v6) {
        if (isLinkLocal6(a.addr)) continue;
        const n6 = net6(a.addr, a.len);
        const t = `${formatIpv6(n6)}/${a.len}`;
        own(`6/${t}`, 6, t, () => words(6, n6), a.len);
      }
    }),
  );
  // Reversed graphs for the multi-source Dijkstra toward a prefix's owners.
  const reverse = (out: Edge[][]): number[][] => {
    const adj: number[][] = Array.from({ length: R }, () => []);
    out.forEach((es, r) => {
      for (const e of es) (adj[e.to] as number[]).push(r, e.cost);
    });
    return adj;
  };
  const rev4 = reverse(out4);
  const rev6 = reverse(out6);
  const fibs: FibEntry[][] = Array.from({ length: R }, () => []);
  const specs: RouteSpec[][] = Array.from({ length: R }, () => []);
  const items: RouteList<Edge | RouteSpec>[] = tree ? Array.from({ length: R }, () => new RouteList<Edge | RouteSpec>()) : [];
  const unreachable: string[][] = Array.from({ length: R }, () => []);
  const distCache = new Map<string, Float64Array>();
  for (const p of prefixes.values()) {
    const ownersKey = `${p.family}/${[...p.owners].sort((a, b) => a - b).join(',')}`;
    let dist = distCache.get(ownersKey);
    if (!dist) {
      dist = shortestDistances(p.family === 4 ? rev4 : rev6, p.owners);
      distCache.set(ownersKey, dist);
    }
    const out = p.family === 4 ? out4 : out6;
    for (let r = 0; r < R; r++) {
      const d = dist[r] as number;
      if (d === 0) continue; // an owner: connected route
      if (d === Infinity) {
        (unreachable[r] as string[]).push(p.text);
        continue;
      }
      const es = out[r] as Edge[];
      if (tree) {
        // Aggregating: a route of one next hop (the common case) is its edge until it is built.
        let one: Edge | undefined;
        let more = false;
        for (const e of es) {
          if (e.cost + (dist[e.to] as number) !== d) continue;
          if (one && !(one.hop.via === e.hop.via && one.hop.dev === e.hop.dev)) more = true;
          one ??= e;
        }
        if (one && !more) {
          (items[r] as RouteList<Edge | RouteSpec>).push(p.node, one.sig, one);
          continue;
        }
      }
      const hops: NextHop[] = [];
      let implied = true;
      for (const e of es) {
        if (e.cost + (dist[e.to] as number) !== d) continue;
        if (hops.some((h) => h.via === e.hop.via && h.dev === e.hop.dev)) continue;
        hops.push(e.hop);
        implied &&= e.implied;
      }
      if (hops.length > 1) hops.sort((a, b) => (a.dev < b.dev ? -1 : a.dev > b.dev ? 1 : a.via < b.via ? -1 : a.via > b.via ? 1 : 0));
      if (hops.length > MAX_ECMP) hops.length = MAX_ECMP;
      const entry: FibEntry = { prefix: p.text, family: p.family, cost: d, nexthops: hops };
      const rs = routeSpec(entry, implied);
      if (tree) {
        (items[r] as RouteList<Edge | RouteSpec>).push(p.node, sigOf(rs), rs);
        continue;
      }
      (fibs[r] as FibEntry[]).push(entry);
      (specs[r] as RouteSpec[]).push(rs);
    }
  }
  const fibMap = new Map<string, readonly FibEntry[]>();
  const routeMap = new Map<string, readonly RouteSpec[]>();
  const unreach = new Map<string, readonly string[]>();
  names.forEach((n, r) => {
    const fib = fibs[r] as FibEntry[];
    fibMap.set(n, fib);
    routeMap.set(n, tree ? tree.aggregateList(items[r] as RouteList<Edge | RouteSpec>, fixed[r] as number[], buildRoute) : (specs[r] as RouteSpec[]));
    unreach.set(n, unreachable[r] as string[]);
  });
  return { fibs: fibMap, routes: routeMap, unreachable: unreach };
}

function edgeSig(hop: NextHop, implied: boolean): string {
  return sigOf(implied ? { prefix: '', via: hop.via } : { prefix: '', via: hop.via, dev: hop.dev });
}

/** A route left by aggregation: from its one-hop edge, or its spec under its (maybe shorter) prefix. */
function buildRoute(x: Edge | RouteSpec, prefix: string): RouteSpec {
  if ('prefix' in x) return x.prefix === prefix ? x : { ...x, prefix };
  return x.implied ? { prefix, via: x.hop.via } : { prefix, via: x.hop.via, dev: x.hop.dev };
}

/** The interface the router itself would pick for a gateway (its first connected prefix holding it). */
function impliedDev(ifs: readonly RouterInterfaceConfig[], family: 4 | 6, via: string): string | null {
  if (family === 4) {
    const a = parseIpv4(via);
    for (const f of ifs) for (const x of f.v4) if (((a ^ x.addr) & mask4(x.len)) === 0) return f.name;
    return null;
  }
  const a = parseIpv6(via);
  if (!a || isLinkLocal6(a)) return null; // a link-local gateway always needs its dev
  for (const f of ifs) for (const x of f.v6) if (!isLinkLocal6(x.addr) && in6(a, x.addr, x.len)) return f.name;
  return null;
}

/**
 * One FIB entry in the router's setRoutes format: `{ prefix, via }` when the router infers the
 * egress interface itself (the shape its fast parser takes), `via: [...]` for such ECMP, and
 * `{ prefix, nexthops: [{ via, dev }] }` or `{ prefix, via, dev }` otherwise.
 * @example toRouteSpec({ prefix: '10.0.9.0/24', family: 4, cost: 2, nexthops: [{ via: '10.0.1.2', dev: 'eth0', neighbor: 'r2' }] }, ifs)
 */
export function toRouteSpec(e: FibEntry, ifs: readonly RouterInterfaceConfig[]): RouteSpec {
  return routeSpec(e, e.nexthops.every((h) => impliedDev(ifs, e.family, h.via) === h.dev));
}

function routeSpec(e: FibEntry, implied: boolean): RouteSpec {
  if (e.nexthops.length === 1) {
    const h = e.nexthops[0] as NextHop;
    return implied ? { prefix: e.prefix, via: h.via } : { prefix: e.prefix, via: h.via, dev: h.dev };
  }
  if (implied) return { prefix: e.prefix, via: e.nexthops.map((h) => h.via) };
  return { prefix: e.prefix, nexthops: e.nexthops.map((h) => ({ via: h.via, dev: h.dev })) };
}

/** Routers whose pushed routes differ between two results (new routers count as changed). */
export function changedRouters(before: RoutingResult | null, after: RoutingResult): string[] {
  const out: string[] = [];
  for (const [n, routes] of after.routes) {
    const old = before?.routes.get(n);
    if (!old || JSON.stringify(old) !== JSON.stringify(routes)) out.push(n);
  }
  return out;
}

/** Anything with the router function's FIB push. */
export interface FibTarget {
  setRoutes(routes: readonly RouteSpec[]): void;
}

/**
 * Routing state of one network across failures: mark links/functions down or up, recompute,
 * and push only to the routers whose FIB changed.
 * @example
 * const sdn = new SdnRouting(spec);
 * sdn.push(routers);            // initial FIBs
 * sdn.failLink(3);
 * sdn.push(routers);            // only the routers whose routes changed
 */
export class SdnRouting {
  private readonly links = new Set<number>();
  private readonly nodes = new Set<string>();
  private last: RoutingResult | null = null;

  constructor(
    private spec: SoftwareNetworkSpec,
    private readonly o: Omit<RoutingOptions, 'failedLinks' | 'failedNodes'> = {},
  ) {}

  failLink(index: number): void {
    this.links.add(index);
  }
  restoreLink(index: number): void {
    this.links.delete(index);
  }
  failNode(name: string): void {
    this.nodes.add(name);
  }
  restoreNode(name: string): void {
    this.nodes.delete(name);
  }
  /** A new topology (the network was re-applied); failures are kept. */
  update(spec: SoftwareNetworkSpec): void {
    this.spec = spec;
  }

  /** Recomputes; returns the result and the routers whose routes changed since the last compute. */
  compute(): { result: RoutingResult; changed: string[] } {
    const result = computeRoutes(this.spec, { ...this.o, failedLinks: this.links, failedNodes: this.nodes });
    const changed = changedRouters(this.last, result);
    this.last = result;
    return { result, changed };
  }

  /** Recomputes and pushes the changed FIBs into `routers` (by function name); returns the names pushed. */
  push(routers: ReadonlyMap<string, FibTarget>): string[] {
    const { result, changed } = this.compute();
    for (const n of changed) routers.get(n)?.setRoutes(result.routes.get(n) ?? []);
    return changed;
  }
}
