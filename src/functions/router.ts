/**
 * IPv4/IPv6 router, forwarding as the Linux kernel does (net/ipv4/ip_forward.c,
 * net/ipv6/ip6_output.c ip6_forward), so that a replay of a kernel router's ingress capture
 * yields its egress capture byte for byte.
 *
 * - Interfaces (one per port) with a MAC, an MTU and several IPv4/IPv6 addresses with prefix
 *   lengths; an IPv6 link-local address is derived from the MAC (EUI-64, RFC 4291 §2.5.1) unless
 *   one is configured. Connected routes and /32, /128 local routes come from the addresses.
 * - Static routes (`via` one gateway, several for ECMP, `dev` for on-link, or blackhole /
 *   unreachable / prohibit), replaceable at run time with `setRoutes` (the control plane pushes
 *   FIBs). Longest-prefix match with DIR-24-8 (lib/lpm4) and a 16-8-8… trie (lib/lpm6). ECMP
 *   picks a member by the hash-threshold method of RFC 2992 over a 5-tuple flow hash.
 * - ARP and IPv6 Neighbor Discovery (lib/neighbors): answers for own addresses, resolves next
 *   hops, NUD ageing (reachable → stale → delay → probe), bounded hold queues, static entries.
 * - TTL / hop-limit decrement (IPv4 checksum by RFC 1624, in the form of Linux ip_decrease_ttl,
 *   which never stores 0xffff); ICMP/ICMPv6 echo replies; time exceeded, destination unreachable
 *   (net, host, port, protocol, prohibited), fragmentation needed / packet too big; IPv4
 *   fragmentation without DF as ip_do_fragment does; ICMP error rate limiting with Linux's
 *   global token bucket (icmp_msgs_per_sec/burst) and per-destination bucket (icmp_ratelimit,
 *   burst factor 6, inet_peer_xrlim_allow).
 *
 * Fast path (a unicast IPv4/IPv6 frame to our MAC, to a resolved next hop): a few typed-array
 * reads, one LPM lookup, the TTL update, a 12-byte MAC copy from the adjacency's prebuilt header,
 * and a send. Everything else (ARP, ND, local delivery, errors, resolution) takes the slow path.
 *
 * Counters: every input frame ends as forwarded, local (answered or consumed), dropped (by reason)
 * or queued (waiting for a neighbour): in = forwarded + local + dropped + queued.
 */
import type { Batch } from '../packet/pool.js';
import { foldSum, sum16 } from '../packet/checksum.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, bool, formatIpv4, formatIpv6, formatMac, int, mac as macParse, oneOf, parseIpv4, parseIpv6, parsePrefix, str, strictObject, type Parse, type StrictObject } from './config.js';
import { Lpm4 } from './lib/lpm4.js';
import { Lpm6 } from './lib/lpm6.js';
import { flowHashBytes } from './lib/flowhash.js';
import { HDR_STRIDE, NeighborTable, NUD, NUD_NAMES } from './lib/neighbors.js';

// --- configuration -----------------------------------------------------------------------------

export interface RouterAddress4 { readonly addr: number; readonly len: number }
export interface RouterAddress6 { readonly addr: Uint8Array; readonly len: number }

export interface RouterInterfaceConfig {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly v4: readonly RouterAddress4[];
  /** Global (and configured link-local) addresses; the derived link-local is in `linkLocal`. */
  readonly v6: readonly RouterAddress6[];
  readonly linkLocal: Uint8Array;
}

export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit';

/** A route as the control plane writes it (plain data, also what exportState carries). */
export interface RouteSpec {
  readonly prefix: string;
  /** Gateway address, or several for ECMP. */
  readonly via?: string | readonly string[];
  /** Egress interface (on-link route without `via`; required for a link-local gateway). */
  readonly dev?: string;
  /** ECMP with per-hop interfaces. */
  readonly nexthops?: readonly { readonly via?: string; readonly dev?: string }[];
  readonly type?: RouteType;
}

interface Hop { readonly iface: number; readonly via4: number; readonly via6: Uint8Array | null }
interface ParsedRoute {
  /** Identity of the prefix: a number for IPv4 (cheap to hash), a string for IPv6. */
  readonly key: string | number;
  readonly family: 4 | 6;
  readonly addr4: number;
  readonly addr6: Uint8Array;
  readonly len: number;
  readonly type: RouteType;
  readonly hops: readonly Hop[];
  readonly spec: RouteSpec;
  /** Canonical form of type and next hops: equal signatures route alike. */
  readonly sig: string;
}

export interface StaticNeighbor { readonly iface: number; readonly family: 4 | 6; readonly addr4: number; readonly addr6: Uint8Array; readonly mac: number }

export interface NeighborParams {
  /** REACHABLE lasts this long after a confirmation (Linux base_reachable_time, without its random factor). */
  readonly reachableMs: number;
  /** DELAY before the first unicast probe (delay_first_probe_time). */
  readonly delayMs: number;
  /** Interval between probes (retrans_time). */
  readonly retransMs: number;
  /** Broadcast/multicast probes while INCOMPLETE (mcast_solicit). */
  readonly multicastProbes: number;
  /** Unicast probes in PROBE (ucast_solicit). */
  readonly unicastProbes: number;
  /** Unreferenced STALE/FAILED entries are collected after this long (gc_stale_time). */
  readonly gcStaleMs: number;
  /** Frames held per unresolved neighbour. */
  readonly holdQueue: number;
  /** Frames held at once over all neighbours. */
  readonly holdTotal: number;
  readonly maxEntries: number;
}

export interface IcmpParams {
  /** Send ICMP errors at all. */
  readonly errors: boolean;
  /** Per-destination interval (icmp_ratelimit / icmpv6 ratelimit), 0 = unlimited. */
  readonly ratelimitMs: number;
  /** Types limited (icmp_ratemask; IPv4 only; IPv6 limits every error but packet too big). */
  readonly ratemask: number;
  /** Global bucket (icmp_msgs_per_sec, icmp_msgs_burst); 0 per second = unlimited. */
  readonly msgsPerSec: number;
  readonly msgsBurst: number;
}

export interface RouterConfig {
  readonly interfaces: readonly RouterInterfaceConfig[];
  readonly routes: readonly ParsedRoute[];
  readonly neighbors: readonly StaticNeighbor[];
  readonly neighbor: NeighborParams;
  readonly icmp: IcmpParams;
  /** TTL / hop limit of packets the router originates (ip_default_ttl). */
  readonly ttl: number;
}

const ZERO16 = new Uint8Array(16);
// Buffer-free: built for every IPv6 route's target key on a push.
const hex16 = (a: Uint8Array): string => hexOf(a);

function eui64LinkLocal(mac: number): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  const m: number[] = [];
  for (let i = 0; i < 6; i++) m.push(Math.floor(mac / 2 ** (40 - 8 * i)) & 0xff);
  a[8] = (m[0] as number) ^ 0x02;
  a[9] = m[1] as number;
  a[10] = m[2] as number;
  a[11] = 0xff;
  a[12] = 0xfe;
  a[13] = m[3] as number;
  a[14] = m[4] as number;
  a[15] = m[5] as number;
  return a;
}

function isLinkLocal6(a: Uint8Array, o = 0): boolean {
  return a[o] === 0xfe && ((a[o + 1] as number) & 0xc0) === 0x80;
}

// "10.0.0.1/24" or "2001:db8::1/64": an interface address (host bits allowed).
const ifAddress: Parse<{ family: 4; addr: number; len: number } | { family: 6; addr: Uint8Array; len: number }> = (v, path) => {
  const m = typeof v === 'string' ? /^([^/]+)\/(\d{1,3})$/.exec(v) : null;
  if (!m) throw new ConfigError(path, `expected ADDRESS/LENGTH like 10.0.0.1/24, got ${JSON.stringify(v)}`);
  const len = Number(m[2]);
  const text = m[1] as string;
  if (text.includes(':')) {
    const a = parseIpv6(text);
    if (!a) throw new ConfigError(path, `bad IPv6 address '${text}'`);
    if (len > 128) throw new ConfigError(path, `prefix length ${len} > 128`);
    if (a[0] === 0xff) throw new ConfigError(path, 'a multicast address cannot be an interface address');
    return { family: 6, addr: a, len };
  }
  const a = parseIpv4(text);
  if (a < 0) throw new ConfigError(path, `bad IPv4 address '${text}'`);
  if (len > 32) throw new ConfigError(path, `prefix length ${len} > 32`);
  if (a >>> 28 === 0xe || a === 0 || a === 0xffffffff) throw new ConfigError(path, `${text} cannot be an interface address`);
  return { family: 4, addr: a, len };
};

function parseInterfaces(o: StrictObject): RouterInterfaceConfig[] {
  const ifs = o.req('interfaces', arrayOf((v, p): RouterInterfaceConfig => {
    const io = strictObject(v, p, ['name', 'mac', 'mtu', 'addresses']);
    const addrs = io.opt('addresses', arrayOf(ifAddress), []);
    const v4: RouterAddress4[] = [];
    const v6: RouterAddress6[] = [];
    for (const a of addrs) {
      if (a.family === 4) v4.push({ addr: a.addr, len: a.len });
      else v6.push({ addr: a.addr, len: a.len });
    }
    const macv = io.req('mac', macParse());
    if (Math.floor(macv / 2 ** 40) & 1) throw new ConfigError(`${p}.mac`, 'must be a unicast MAC (group bit clear)');
    const ll = v6.find((a) => isLinkLocal6(a.addr));
    return { name: io.req('name', str()), mac: macv, mtu: io.opt('mtu', int(68, 9216), 1500), v4, v6, linkLocal: ll ? ll.addr : eui64LinkLocal(macv) };
  }, 1, 4096));
  const names = new Set<string>();
  const seen4 = new Set<number>();
  const seen6 = new Set<string>();
  ifs.forEach((f, i) => {
    if (names.has(f.name)) throw new ConfigError(`interfaces[${i}].name`, `duplicate interface name '${f.name}'`);
    names.add(f.name);
    if (f.v6.length > 0 && f.mtu < 1280) throw new ConfigError(`interfaces[${i}].mtu`, 'an IPv6 interface needs an MTU of at least 1280 (RFC 8200 §5)');
    for (const a of f.v4) {
      if (seen4.has(a.addr)) throw new ConfigError(`interfaces[${i}].addresses`, `address ${formatIpv4(a.addr)} configured twice`);
      seen4.add(a.addr);
    }
    for (const a of f.v6) {
      const k = hex16(a.addr);
      if (seen6.has(k)) throw new ConfigError(`interfaces[${i}].addresses`, `address ${formatIpv6(a.addr)} configured twice`);
      seen6.add(k);
    }
  });
  return ifs;
}

// Dotted quad in s[from..to) → uint32, or -1 (strict: no leading zeros, 4 parts).
function quad(s: string, from: number, to: number): number {
  if (to < 0) return -1;
  let v = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = from; i <= to; i++) {
    const ch = i === to ? 46 : s.charCodeAt(i);
    if (ch === 46) {
      if (digits === 0 || part > 255) return -1;
      v = v * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (ch >= 48 && ch <= 57) {
      if (digits > 0 && part === 0) return -1;
      part = part * 10 + (ch - 48);
      if (++digits > 3) return -1;
    } else return -1;
  }
  return parts === 4 ? v : -1;
}

function lenOf(s: string, from: number): number {
  if (from <= 0 || from >= s.length || s.length - from > 2) return -1;
  let n = 0;
  for (let i = from; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 48 || ch > 57 || (i > from && n === 0)) return -1;
    n = n * 10 + (ch - 48);
  }
  return n <= 32 ? n : -1;
}

// Hex text of each byte, for IPv6 route keys built without Buffer or toString per byte.
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
function hexOf(a: Uint8Array): string {
  let h = '';
  for (let i = 0; i < 16; i++) h += HEX2[a[i] as number] as string;
  return h;
}

const G6 = new Int32Array(8);
/**
 * IPv6 text in s[from..to) → 16 bytes in `out`, without regular expressions or substrings (the
 * pushed-FIB fast path). Returns false for anything it does not take — including the embedded
 * IPv4 form — and the caller then uses the full parser, which gives the error.
 */
function parse6(s: string, from: number, to: number, out: Uint8Array): boolean {
  if (to - from < 2 || to - from > 39) return false;
  let n = 0;
  let dbl = -1;
  let i = from;
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return false;
    dbl = 0;
    i += 2;
  }
  while (i < to) {
    let v = 0;
    let d = 0;
    for (; i < to; i++) {
      const c = s.charCodeAt(i);
      const h = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (h < 0) break;
      v = v * 16 + h;
      if (++d > 4) return false;
    }
    if (d === 0 || n === 8) return false;
    G6[n++] = v;
    if (i === to) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < to && s.charCodeAt(i) === 58) {
      if (dbl >= 0) return false;
      dbl = n;
      i++;
    } else if (i === to) return false;
  }
  if (dbl < 0 ? n !== 8 : n > 7) return false;
  out.fill(0);
  const tail = dbl < 0 ? n : dbl;
  for (let k = 0; k < n; k++) {
    const pos = k < tail ? k : 8 - (n - k);
    out[pos * 2] = (G6[k] as number) >>> 8;
    out[pos * 2 + 1] = (G6[k] as number) & 0xff;
  }
  return true;
}

function len6(s: string, from: number): number {
  if (from <= 0 || from >= s.length || s.length - from > 3) return -1;
  let n = 0;
  for (let i = from; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 48 || ch > 57 || (i > from && n === 0)) return -1;
    n = n * 10 + (ch - 48);
  }
  return n <= 128 ? n : -1;
}

function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

function inPrefix6(a: Uint8Array, ao: number, p: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) {
    const bit = 7 - (i & 7);
    if ((((a[ao + (i >>> 3)] as number) >>> bit) & 1) !== (((p[i >>> 3] as number) >>> bit) & 1)) return false;
  }
  return true;
}

/** The interface whose connected prefix holds the gateway, or -1. */
function onLinkInterface(ifs: readonly RouterInterfaceConfig[], family: 4 | 6, a4: number, a6: Uint8Array): number {
  for (let i = 0; i < ifs.length; i++) {
    const f = ifs[i] as RouterInterfaceConfig;
    if (family === 4) {
      for (const a of f.v4) if (((a4 ^ a.addr) & mask4(a.len)) === 0) return i;
    } else {
      for (const a of f.v6) if (!isLinkLocal6(a.addr) && inPrefix6(a6, 0, a.addr, a.len)) return i;
    }
  }
  return -1;
}

/**
 * Parses routes (the `routes` key of the configuration, or a FIB pushed with setRoutes).
 *
 * @example
 * parseRoutes([{ prefix: '0.0.0.0/0', via: '10.0.0.254' }], ifs, 'routes');
 */
export function parseRoutes(v: unknown, ifs: readonly RouterInterfaceConfig[], path = 'routes'): ParsedRoute[] {
  const byName = new Map(ifs.map((f, i) => [f.name, i]));
  const devOf = (p: string, x: unknown): number => {
    const n = str()(x, p);
    const i = byName.get(n);
    if (i === undefined) throw new ConfigError(p, `no interface named '${n}'`);
    return i;
  };
  // The common shape of a pushed FIB, { prefix: 'a.b.c.d/n', via: 'a.b.c.d' }, parsed without
  // regular expressions or intermediate objects (a 1M-route push is dominated by this).
  const gwHops = new Map<string, Hop>();
  const fast = (rv: unknown): ParsedRoute | null => {
    if (typeof rv !== 'object' || rv === null || Array.isArray(rv)) return null;
    const o = rv as Record<string, unknown>;
    let keys = 0;
    for (const k in o) {
      if (k !== 'prefix' && k !== 'via') return null;
      keys++;
    }
    const pt = o['prefix'];
    const vt = o['via'];
    if (keys !== 2 || typeof pt !== 'string' || typeof vt !== 'string') return null;
    const slash = pt.indexOf('/');
    if (slash > 0 && pt.charCodeAt(slash - 1) !== 46 && pt.includes(':')) return fast6(pt, vt, slash);
    const pa = quad(pt, 0, slash);
    const len = pa < 0 ? -1 : lenOf(pt, pt.indexOf('/') + 1);
    if (pa < 0 || len < 0 || (pa & ~mask4(len)) !== 0) return null;
    let hop = gwHops.get(vt);
    if (!hop) {
      const va = quad(vt, 0, vt.length);
      if (va < 0) return null;
      const i = onLinkInterface(ifs, 4, va, ZERO16);
      if (i < 0) return null;
      hop = { iface: i, via4: va, via6: null };
      gwHops.set(vt, hop);
    }
    return { key: pa * 64 + len, family: 4, addr4: pa, addr6: ZERO16, len, type: 'unicast', hops: [hop], spec: { prefix: pt, via: vt }, sig: `u/${hop.iface}/${hop.via4}` };
  };
  // The same for IPv6 ({ prefix: '2001:db8::/48', via: '2001:db8:1::2' }): one 16-byte array per
  // route (its prefix), gateways and their signatures parsed once per push.
  const gw6 = new Map<string, { hop: Hop; sig: string }>();
  const fast6 = (pt: string, vt: string, slash: number): ParsedRoute | null => {
    const len = len6(pt, slash + 1);
    const a = new Uint8Array(16);
    if (len < 0 || !parse6(pt, 0, slash, a)) return null;
    for (let bit = len; bit < 128; bit++) if ((((a[bit >>> 3] as number) >>> (7 - (bit & 7))) & 1) !== 0) return null;
    let g = gw6.get(vt);
    if (!g) {
      const va = new Uint8Array(16);
      if (!parse6(vt, 0, vt.length, va) || va[0] === 0xff || isLinkLocal6(va)) return null;
      const i = onLinkInterface(ifs, 6, 0, va);
      if (i < 0) return null;
      g = { hop: { iface: i, via4: 0, via6: va }, sig: `u/${i}/${hexOf(va)}` };
      gw6.set(vt, g);
    }
    return { key: `6/${hexOf(a)}/${len}`, family: 6, addr4: 0, addr6: a, len, type: 'unicast', hops: [g.hop], spec: { prefix: pt, via: vt }, sig: g.sig };
  };
  const routes = arrayOf((rv, p): ParsedRoute => {
    const quick = fast(rv);
    if (quick) return quick;
    const ro = strictObject(rv, p, ['prefix', 'via', 'dev', 'nexthops', 'type']);
    const ptext = ro.req('prefix', str());
    const pfx = parsePrefix(ptext);
    if (typeof pfx === 'string') throw new ConfigError(`${p}.prefix`, pfx);
    const family = pfx.family;
    const type = ro.opt('type', oneOf(['unicast', 'blackhole', 'unreachable', 'prohibit'] as const), 'unicast');
    const spec: { prefix: string; via?: string | string[]; dev?: string; nexthops?: { via?: string; dev?: string }[]; type?: RouteType } = { prefix: ptext };
    if (type !== 'unicast') spec.type = type;
    const hops: Hop[] = [];
    const gw = (x: unknown, hp: string, dev: number | null): Hop => {
      const t = str()(x, hp);
      if (family === 4) {
        const a = parseIpv4(t);
        if (a < 0) throw new ConfigError(hp, `expected an IPv4 gateway address, got '${t}'`);
        const i = dev ?? onLinkInterface(ifs, 4, a, ZERO16);
        if (i < 0) throw new ConfigError(hp, `gateway ${t} is not on any connected subnet (give dev)`);
        return { iface: i, via4: a, via6: null };
      }
      const a = parseIpv6(t);
      if (!a) throw new ConfigError(hp, `expected an IPv6 gateway address, got '${t}'`);
      if (a[0] === 0xff) throw new ConfigError(hp, 'a gateway cannot be a multicast address');
      if (isLinkLocal6(a) && dev === null) throw new ConfigError(hp, `link-local gateway ${t} needs dev`);
      const i = dev ?? onLinkInterface(ifs, 6, 0, a);
      if (i < 0) throw new ConfigError(hp, `gateway ${t} is not on any connected subnet (give dev)`);
      return { iface: i, via4: 0, via6: a };
    };
    if (type !== 'unicast') {
      for (const k of ['via', 'dev', 'nexthops']) if (ro.has(k)) throw new ConfigError(`${p}.${k}`, `not allowed with type ${type}`);
    } else if (ro.has('nexthops')) {
      if (ro.has('via') || ro.has('dev')) throw new ConfigError(`${p}.nexthops`, 'give either nexthops or via/dev');
      const list = ro.req('nexthops', arrayOf((hv, hp) => {
        const ho = strictObject(hv, hp, ['via', 'dev']);
        const dev = ho.has('dev') ? devOf(`${hp}.dev`, ho.value['dev']) : null;
        if (!ho.has('via')) {
          if (dev === null) throw new ConfigError(hp, 'needs via or dev');
          return { hop: { iface: dev, via4: 0, via6: null } as Hop, spec: { dev: ifs[dev]?.name ?? '' } };
        }
        const h = gw(ho.value['via'], `${hp}.via`, dev);
        return { hop: h, spec: dev === null ? { via: str()(ho.value['via'], hp) } : { via: str()(ho.value['via'], hp), dev: ifs[dev]?.name ?? '' } };
      }, 1, 64));
      for (const x of list) hops.push(x.hop);
      spec.nexthops = list.map((x) => x.spec);
    } else {
      const dev = ro.has('dev') ? devOf(`${p}.dev`, ro.value['dev']) : null;
      if (dev !== null) spec.dev = ifs[dev]?.name ?? '';
      const via = ro.value['via'];
      if (via === undefined) {
        if (dev === null) throw new ConfigError(p, 'needs via, dev, nexthops or a type');
        hops.push({ iface: dev, via4: 0, via6: null });
      } else if (Array.isArray(via)) {
        if (via.length === 0 || via.length > 64) throw new ConfigError(`${p}.via`, 'needs 1 to 64 gateways');
        via.forEach((x: unknown, k) => hops.push(gw(x, `${p}.via[${k}]`, dev)));
        spec.via = via.map((x: unknown) => String(x));
      } else {
        hops.push(gw(via, `${p}.via`, dev));
        spec.via = str()(via, `${p}.via`);
      }
    }
    const addr6 = pfx.family === 6 ? pfx.addr : ZERO16;
    const addr4 = pfx.family === 4 ? pfx.addr : 0;
    const key = family === 4 ? addr4 * 64 + pfx.len : `6/${hex16(addr6)}/${pfx.len}`;
    const sig = `${type[0]}/${hops.map((h) => `${h.iface}/${h.via6 ? hex16(h.via6) : h.via4}`).join(',')}`;
    return { key, family, addr4, addr6, len: pfx.len, type, hops, spec, sig };
  });
  const list = routes(v, path);
  const keys = new Set<string | number>();
  list.forEach((r, i) => {
    if (keys.has(r.key)) throw new ConfigError(`${path}[${i}].prefix`, `duplicate route for ${r.spec.prefix}`);
    keys.add(r.key);
  });
  return list;
}

/**
 * Parses and checks a router configuration (see docs/functions.md).
 *
 * @example
 * parseRouterConfig({
 *   interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addresses: ['10.0.1.1/24'] },
 *                { name: 'eth1', mac: '02:00:00:00:00:02', addresses: ['10.0.2.1/24'] }],
 *   routes: [{ prefix: '0.0.0.0/0', via: '10.0.2.254' }],
 * });
 */
export function parseRouterConfig(config: unknown): RouterConfig {
  const o = strictObject(config, '', ['interfaces', 'routes', 'neighbors', 'neighbor', 'icmp', 'ttl']);
  const ifs = parseInterfaces(o);
  const routes = o.has('routes') ? parseRoutes(o.value['routes'], ifs, 'routes') : [];
  const byName = new Map(ifs.map((f, i) => [f.name, i]));
  const neighbors = o.opt('neighbors', arrayOf((v, p): StaticNeighbor => {
    const no = strictObject(v, p, ['interface', 'address', 'mac']);
    const n = no.req('interface', str());
    const iface = byName.get(n);
    if (iface === undefined) throw new ConfigError(`${p}.interface`, `no interface named '${n}'`);
    const t = no.req('address', str());
    const m = no.req('mac', macParse());
    if (t.includes(':')) {
      const a = parseIpv6(t);
      if (!a || a[0] === 0xff) throw new ConfigError(`${p}.address`, `expected a unicast IPv6 address, got '${t}'`);
      return { iface, family: 6, addr4: 0, addr6: a, mac: m };
    }
    const a = parseIpv4(t);
    if (a < 0) throw new ConfigError(`${p}.address`, `expected an IPv4 address, got '${t}'`);
    return { iface, family: 4, addr4: a, addr6: new Uint8Array(16), mac: m };
  }), []);
  const nb = o.maybe('neighbor', (v, p) => strictObject(v, p, ['reachableMs', 'delayMs', 'retransMs', 'multicastProbes', 'unicastProbes', 'gcStaleMs', 'holdQueue', 'holdTotal', 'maxEntries']));
  const neighbor: NeighborParams = {
    reachableMs: nb?.opt('reachableMs', int(1, 86_400_000), 30_000) ?? 30_000,
    delayMs: nb?.opt('delayMs', int(0, 3_600_000), 5_000) ?? 5_000,
    retransMs: nb?.opt('retransMs', int(1, 3_600_000), 1_000) ?? 1_000,
    multicastProbes: nb?.opt('multicastProbes', int(1, 255), 3) ?? 3,
    unicastProbes: nb?.opt('unicastProbes', int(0, 255), 3) ?? 3,
    gcStaleMs: nb?.opt('gcStaleMs', int(1, 86_400_000), 60_000) ?? 60_000,
    holdQueue: nb?.opt('holdQueue', int(0, 4096), 16) ?? 16,
    holdTotal: nb?.opt('holdTotal', int(0, 65536), 1024) ?? 1024,
    maxEntries: nb?.opt('maxEntries', int(16, 1 << 20), 16384) ?? 16384,
  };
  const io = o.maybe('icmp', (v, p) => strictObject(v, p, ['errors', 'ratelimitMs', 'ratemask', 'msgsPerSec', 'msgsBurst']));
  const icmp: IcmpParams = {
    errors: io?.opt('errors', bool(), true) ?? true,
    ratelimitMs: io?.opt('ratelimitMs', int(0, 3_600_000), 1000) ?? 1000,
    ratemask: io?.opt('ratemask', int(0, 0x7ffff), 0x1818) ?? 0x1818,
    msgsPerSec: io?.opt('msgsPerSec', int(0, 1 << 30), 1000) ?? 1000,
    msgsBurst: io?.opt('msgsBurst', int(1, 1 << 30), 50) ?? 50,
  };
  const cfg: RouterConfig = { interfaces: ifs, routes, neighbors, neighbor, icmp, ttl: o.opt('ttl', int(1, 255), 64) };
  if (neighbors.length > neighbor.maxEntries / 2) throw new ConfigError('neighbors', `more static neighbours than half of neighbor.maxEntries (${neighbor.maxEntries})`);
  return cfg;
}

// --- the router --------------------------------------------------------------------------------

const T_LOCAL = 1;
const T_CONNECTED = 2;
const T_GW = 3;
const T_ECMP = 4;
const T_BLACKHOLE = 5;
const T_UNREACH = 6;
const T_PROHIBIT = 7;
const T_BCAST = 8;

// 2^(32 − shift) slots in the IPv6 /40 walk cache.
const V6_CACHE_SHIFT = 16;

// + 0x0100 in network byte order, as seen in a host-order 16-bit word.
const TTL_INC = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0x0001 : 0x0100;

const ETH_IP4 = 0x0800;
const ETH_ARP = 0x0806;
const ETH_IP6 = 0x86dd;

/** Why frames were dropped (counter names). */
const DROP_REASONS = [
  'malformed', 'badChecksum', 'notForUs', 'martian', 'noRoute', 'ttlExceeded', 'tooBig', 'neighborFailed', 'holdOverflow',
  'blackhole', 'unreachable', 'prohibited', 'multicast', 'broadcast', 'unsupported', 'scope', 'reassembly', 'noBuffer',
  'localChecksum', 'unknownPort',
] as const;
type DropReason = (typeof DROP_REASONS)[number];

const GENERATED = ['arpRequest', 'arpReply', 'neighborSolicit', 'neighborAdvert', 'echoReply4', 'echoReply6', 'icmpError4', 'icmpError6', 'fragments', 'tcpReset'] as const;
type Generated = (typeof GENERATED)[number];

const LOCAL_KINDS = ['arp', 'nd', 'echo', 'icmp', 'other'] as const;

export class RouterError extends Error {
  override readonly name = 'RouterError';
}

interface PeerBucket { tokens: number; last: number }

function u32(b: Uint8Array, o: number): number {
  return (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
function putMac(b: Uint8Array, o: number, mac: number): void {
  for (let k = 0; k < 6; k++) b[o + k] = Math.floor(mac / 2 ** (40 - 8 * k)) & 0xff;
}
function readMac(b: Uint8Array, o: number): number {
  return ((b[o] as number) * 256 + (b[o + 1] as number)) * 2 ** 32 + u32(b, o + 2);
}
function cksum(b: Uint8Array, o: number, len: number, init = 0): number {
  return ~foldSum(sum16(b, o, len, init)) & 0xffff;
}
function pseudo6(b: Uint8Array, ip: number, nh: number, len: number): number {
  return sum16(b, ip + 8, 32, nh + len);
}

/**
 * The router. Port i is interface i of the configuration.
 *
 * @example
 * const r = routerFactory.create({
 *   interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addresses: ['10.0.1.1/24', '2001:db8:1::1/64'] },
 *                { name: 'eth1', mac: '02:00:00:00:00:02', addresses: ['10.0.2.1/24', '2001:db8:2::1/64'] }],
 *   neighbors: [{ interface: 'eth1', address: '10.0.2.2', mac: '02:00:00:00:00:22' }],
 * });
 * r.process(0, batch, ctx); // forwards 10.0.2.0/24 out of eth1, answers ARP and ping on both
 */
export class Router implements NetworkFunction {
  readonly kind = 'router';
  readonly ports: readonly PortDecl[];
  readonly lpm4 = new Lpm4();
  readonly lpm6 = new Lpm6();
  private readonly cfg: RouterConfig;
  private readonly ifs: readonly RouterInterfaceConfig[];
  private readonly nIf: number;
  private readonly ifMtu: Int32Array;
  private readonly ifMacW: Uint16Array;
  readonly neighbors: NeighborTable;
  // Targets (what an LPM next-hop index means): kind, and for GW the adjacency, for CONNECTED
  // the interface, for ECMP the start and size of its member list in groupAdj.
  private tKind = new Uint8Array(1024);
  private tA = new Int32Array(1024);
  private tB = new Int32Array(1024);
  private tRefs = new Int32Array(1024);
  private tKeys: string[] = [];
  private tFree: number[] = [];
  private tCount = 0;
  private readonly tByKey = new Map<string, number>();
  private groupAdj = new Int32Array(1024);
  private groupUsed = 0;
  private readonly localTarget: number;
  private readonly bcastTarget: number;
  // Installed static routes by key, and the connected / local prefixes (for export and ICMP scaling).
  private readonly routes = new Map<string | number, { route: ParsedRoute; target: number }>();
  private readonly connected = new Set<string>();
  // Own addresses (IPv6 are per interface for ND: "iface/hex").
  private readonly own6OnIf = new Set<string>();
  private readonly staticKeys = new Set<number>();
  // ICMP rate limiting.
  private globalCredit: number;
  private globalStamp = -Infinity;
  private readonly peers = new Map<string, PeerBucket>();
  private ipId = 0;
  private rebaseAt = NaN;
  private readonly pc: Float64Array; // per interface: rxP, rxB, txP, txB, drops
  private c = { in: 0, out: 0, forwarded: 0, local: 0, dropped: 0 };
  private readonly drops: Record<DropReason, number>;
  private readonly gen: Record<Generated, number>;
  private readonly localKinds: Record<(typeof LOCAL_KINDS)[number], number>;
  private icmpRateLimited = 0;
  private queuedTransit = 0;
  private fragmentedPackets = 0;
  private neighborsFailed = 0;
  // Per-batch scratch of the data path: class, LPM entry, next key byte (IPv6).
  private cls = new Uint8Array(256);
  private ent = new Int32Array(256);
  private pos = new Int32Array(256);
  private live = new Int32Array(256);
  // IPv6 /40 → trie entry after the first five bytes (key 0 = empty: such destinations are
  // slow-pathed). Allocated (576 KiB) at the first IPv6 batch: routers that never forward IPv6 do not pay it.
  private v6Key = new Uint32Array(0);
  private v6Val = new Int32Array(0);
  private v6Key5 = new Uint8Array(0);
  // Word views of the pool's buffer (made once per buffer).
  private viewOf: ArrayBufferLike | null = null;
  private u16: Uint16Array<ArrayBufferLike> = new Uint16Array(0);
  private u32: Int32Array<ArrayBufferLike> = new Int32Array(0);

  private allocV6Cache(): void {
    this.v6Key = new Uint32Array(1 << (32 - V6_CACHE_SHIFT));
    this.v6Val = new Int32Array(1 << (32 - V6_CACHE_SHIFT));
    this.v6Key5 = new Uint8Array(1 << (32 - V6_CACHE_SHIFT));
  }

  constructor(cfg: RouterConfig) {
    this.cfg = cfg;
    this.ifs = cfg.interfaces;
    const n = cfg.interfaces.length;
    this.nIf = n;
    this.ports = cfg.interfaces.map((f) => ({ name: f.name }));
    this.ifMtu = new Int32Array(n);
    const macBytes = new Uint8Array(n * 6);
    cfg.interfaces.forEach((f, i) => putMac(macBytes, i * 6, f.mac));
    this.ifMacW = new Uint16Array(macBytes.buffer);
    cfg.interfaces.forEach((f, i) => {
      this.ifMtu[i] = f.mtu;
    });
    this.neighbors = new NeighborTable({ capacity: cfg.neighbor.maxEntries, holdBuffers: Math.max(1, cfg.neighbor.holdTotal), holdBufferSize: Math.max(...cfg.interfaces.map((f) => f.mtu)) + 14 });
    this.pc = new Float64Array(n * 5);
    this.drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
    this.gen = Object.fromEntries(GENERATED.map((r) => [r, 0])) as Record<Generated, number>;
    this.localKinds = Object.fromEntries(LOCAL_KINDS.map((r) => [r, 0])) as Record<(typeof LOCAL_KINDS)[number], number>;
    this.globalCredit = cfg.icmp.msgsBurst;
    this.localTarget = this.target(`local`, T_LOCAL, 0, 0);
    this.bcastTarget = this.target(`bcast`, T_BCAST, 0, 0);
    this.tRefs[this.localTarget] = 1 << 30;
    this.tRefs[this.bcastTarget] = 1 << 30;
    // Connected and local routes (Linux's local and main tables).
    cfg.interfaces.forEach((f, i) => {
      const conn = this.target(`conn/${i}`, T_CONNECTED, i, 0);
      this.tRefs[conn] = 1 << 30;
      for (const a of f.v4) {
        const net = (a.addr & mask4(a.len)) >>> 0;
        if (this.lpm4.get(net, a.len) < 0) this.lpm4.insert(net, a.len, conn);
        this.connected.add(`4/${net}/${a.len}`);
        if (a.len <= 30) {
          // Subnet-directed broadcast: not forwarded (bc_forwarding=0), not answered.
          this.lpm4.insert((net | ~mask4(a.len)) >>> 0, 32, this.bcastTarget);
          this.lpm4.insert(net, 32, this.bcastTarget);
        }
      }
      for (const a of f.v6) {
        if (isLinkLocal6(a.addr)) continue;
        if (this.lpm6.get(a.addr, a.len) < 0) this.lpm6.insert(a.addr, a.len, conn);
        this.connected.add(`6/${a.len}`);
      }
    });
    cfg.interfaces.forEach((f, i) => {
      for (const a of f.v4) this.lpm4.insert(a.addr, 32, this.localTarget);
      for (const a of f.v6) {
        this.lpm6.insert(a.addr, 128, this.localTarget);
        this.own6OnIf.add(`${i}/${hex16(a.addr)}`);
      }
      this.lpm6.insert(f.linkLocal, 128, this.localTarget);
      this.own6OnIf.add(`${i}/${hex16(f.linkLocal)}`);
    });
    for (const s of cfg.neighbors) this.addStaticNeighbor(s);
    this.applyRoutes(cfg.routes);
  }

  // --- targets and routes ------------------------------------------------------------------------

  private target(key: string, kind: number, a: number, b: number): number {
    const found = this.tByKey.get(key);
    if (found !== undefined) return found;
    let t = this.tFree.pop();
    if (t === undefined) {
      t = this.tCount++;
      if (t >= this.tKind.length) {
        const grow = <A extends Uint8Array | Int32Array>(x: A, make: (n: number) => A): A => {
          const y = make(x.length * 2);
          y.set(x);
          return y;
        };
        this.tKind = grow(this.tKind, (n) => new Uint8Array(n));
        this.tA = grow(this.tA, (n) => new Int32Array(n));
        this.tB = grow(this.tB, (n) => new Int32Array(n));
        this.tRefs = grow(this.tRefs, (n) => new Int32Array(n));
      }
    }
    this.tKind[t] = kind;
    this.tA[t] = a;
    this.tB[t] = b;
    this.tRefs[t] = 0;
    this.tKeys[t] = key;
    this.tByKey.set(key, t);
    return t;
  }

  private hopAdj(h: Hop): number {
    const nb = this.neighbors;
    const id = h.via6 ? nb.ensure(h.iface, 6, words(h.via6)) : nb.ensure(h.iface, 4, [h.via4]);
    nb.refs[id] = (nb.refs[id] as number) + 1;
    return id;
  }

  private routeTarget(r: ParsedRoute): number {
    if (r.type === 'blackhole') return this.target('blackhole', T_BLACKHOLE, 0, 0);
    if (r.type === 'unreachable') return this.target('unreachable', T_UNREACH, 0, 0);
    if (r.type === 'prohibit') return this.target('prohibit', T_PROHIBIT, 0, 0);
    const hopKey = (h: Hop): string => (h.via6 ? `${h.iface}/${hex16(h.via6)}` : h.via4 || r.family === 6 ? `${h.iface}/${h.via4}/${r.family}` : `${h.iface}/dev`);
    const onLink = (h: Hop): boolean => h.via6 === null && (r.family === 6 || h.via4 === 0);
    if (r.hops.length === 1) {
      const h = r.hops[0] as Hop;
      if (onLink(h)) return this.target(`conn/${h.iface}`, T_CONNECTED, h.iface, 0);
      const key = `gw/${hopKey(h)}`;
      const existing = this.tByKey.get(key);
      if (existing !== undefined) return existing;
      return this.target(key, T_GW, this.hopAdj(h), 0);
    }
    const key = `ecmp/${r.family}/${r.hops.map(hopKey).join(',')}`;
    const existing = this.tByKey.get(key);
    if (existing !== undefined) return existing;
    if (r.hops.some(onLink)) throw new ConfigError('routes', `ECMP route ${r.spec.prefix}: every next hop needs a gateway`);
    const start = this.groupUsed;
    if (start + r.hops.length > this.groupAdj.length) {
      const g = new Int32Array(Math.max(this.groupAdj.length * 2, start + r.hops.length));
      g.set(this.groupAdj);
      this.groupAdj = g;
    }
    r.hops.forEach((h, k) => (this.groupAdj[start + k] = this.hopAdj(h)));
    this.groupUsed += r.hops.length;
    return this.target(key, T_ECMP, start, r.hops.length);
  }

  private releaseTarget(t: number): void {
    this.tRefs[t] = (this.tRefs[t] as number) - 1;
    if ((this.tRefs[t] as number) > 0) return;
    const kind = this.tKind[t];
    const nb = this.neighbors;
    const unpin = (id: number): void => {
      nb.refs[id] = (nb.refs[id] as number) - 1;
    };
    if (kind === T_GW) unpin(this.tA[t] as number);
    else if (kind === T_ECMP) for (let k = 0; k < (this.tB[t] as number); k++) unpin(this.groupAdj[(this.tA[t] as number) + k] as number);
    this.tByKey.delete(this.tKeys[t] as string);
    this.tKind[t] = 0;
    this.tFree.push(t);
  }

  private applyRoutes(list: readonly ParsedRoute[]): void {
    // lpm6's sparse records are re-encoded once for the whole push, not once per route.
    this.lpm6.update(() => this.applyRoutesNow(list));
  }

  private applyRoutesNow(list: readonly ParsedRoute[]): void {
    const want = new Map(list.map((r) => [r.key, r]));
    for (const [key, cur] of [...this.routes]) {
      const w = want.get(key);
      if (w && w.sig === cur.route.sig) {
        want.delete(key);
        continue;
      }
      this.routes.delete(key);
      if (cur.route.family === 4) this.lpm4.delete(cur.route.addr4, cur.route.len);
      else this.lpm6.delete(cur.route.addr6, cur.route.len);
      this.restoreBase(cur.route);
      this.releaseTarget(cur.target);
    }
    for (const r of want.values()) {
      const t = this.routeTarget(r);
      this.tRefs[t] = (this.tRefs[t] as number) + 1;
      this.routes.set(r.key, { route: r, target: t });
      if (r.family === 4) this.lpm4.insert(r.addr4, r.len, t);
      else this.lpm6.insert(r.addr6, r.len, t);
    }
    this.v6Key.fill(0);
    // Groups whose targets were freed leave holes in groupAdj; compact when it is mostly garbage.
    if (this.groupUsed > 4096 && this.groupUsed > 4 * this.liveGroupSize()) this.compactGroups();
  }

  // A static route may shadow a connected, local or broadcast prefix of the same length; put it back.
  private restoreBase(r: ParsedRoute): void {
    this.ifs.forEach((f, i) => {
      const conn = this.tByKey.get(`conn/${i}`) as number;
      if (r.family === 4) {
        for (const a of f.v4) {
          const net = (a.addr & mask4(a.len)) >>> 0;
          if (r.len === a.len && net === r.addr4) this.lpm4.insert(net, a.len, conn);
          if (r.len === 32 && r.addr4 === a.addr) this.lpm4.insert(a.addr, 32, this.localTarget);
          if (r.len === 32 && a.len <= 30 && (r.addr4 === net || r.addr4 === (net | ~mask4(a.len)) >>> 0)) this.lpm4.insert(r.addr4, 32, this.bcastTarget);
        }
      } else {
        for (const a of f.v6) {
          if (!isLinkLocal6(a.addr) && r.len === a.len && inPrefix6(a.addr, 0, r.addr6, r.len)) this.lpm6.insert(a.addr, a.len, conn);
          if (r.len === 128 && hex16(a.addr) === hex16(r.addr6)) this.lpm6.insert(a.addr, 128, this.localTarget);
        }
        if (r.len === 128 && hex16(f.linkLocal) === hex16(r.addr6)) this.lpm6.insert(f.linkLocal, 128, this.localTarget);
      }
    });
  }

  private liveGroupSize(): number {
    let n = 0;
    for (let t = 0; t < this.tCount; t++) if (this.tKind[t] === T_ECMP) n += this.tB[t] as number;
    return n;
  }

  private compactGroups(): void {
    const g = new Int32Array(Math.max(1024, this.liveGroupSize() * 2));
    let used = 0;
    for (let t = 0; t < this.tCount; t++) {
      if (this.tKind[t] !== T_ECMP) continue;
      const s = this.tA[t] as number;
      const n = this.tB[t] as number;
      g.set(this.groupAdj.subarray(s, s + n), used);
      this.tA[t] = used;
      used += n;
    }
    this.groupAdj = g;
    this.groupUsed = used;
  }

  /**
   * Replaces the static routes (the FIB the control plane computed). Connected and local routes
   * stay. Only prefixes that changed are touched, so a push of 1M routes with a few changes is
   * cheap. Throws ConfigError (path `routes[i]...`) and changes nothing when a route is invalid.
   *
   * @example
   * router.setRoutes([{ prefix: '0.0.0.0/0', via: ['10.0.1.2', '10.0.2.2'] }]);
   */
  setRoutes(routes: readonly RouteSpec[] | unknown): void {
    this.applyRoutes(parseRoutes(routes, this.ifs, 'routes'));
  }

  /** Alias of setRoutes for a FIB push. */
  applyFib(routes: readonly RouteSpec[] | unknown): void {
    this.setRoutes(routes);
  }

  /** The static routes as plain specs (the FIB). */
  routeSpecs(): RouteSpec[] {
    return [...this.routes.values()].map((r) => r.route.spec);
  }

  private addStaticNeighbor(s: StaticNeighbor): void {
    const nb = this.neighbors;
    const id = s.family === 4 ? nb.ensure(s.iface, 4, [s.addr4]) : nb.ensure(s.iface, 6, words(s.addr6));
    nb.setMac(id, s.mac, this.ifs[s.iface]?.mac ?? 0, s.family === 4 ? ETH_IP4 : ETH_IP6);
    nb.state[id] = NUD.PERMANENT;
    nb.fastUntil[id] = Infinity;
    nb.timer[id] = Infinity;
    this.staticKeys.add(id);
  }

  // --- the data path -----------------------------------------------------------------------------

  /**
   * The data path, in the manner of VPP: a first pass over the batch validates the frames that
   * may take the fast path and computes their LPM keys; a second pass does the table loads level
   * by level across the whole batch (independent loads, so the CPU overlaps their cache misses
   * instead of waiting for each packet's in turn); a third pass rewrites and sends. Frames that
   * fail any check go to the slow path, which redoes everything in Linux's order.
   */
  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const { pool, out } = ctx;
    const now = ctx.now;
    if (this.rebaseAt === this.rebaseAt) this.rebase(now);
    const b = pool.bytes;
    const n = batch.count;
    const c = this.c;
    c.in += n;
    if (port < 0 || port >= this.nIf) {
      for (let i = 0; i < n; i++) out.drop(batch.slots[i] as number);
      c.dropped += n;
      this.drops.malformed += n;
      return;
    }
    if (n > this.cls.length) this.growScratch(n);
    const cls = this.cls;
    const ent = this.ent;
    const pos = this.pos;
    const offs = batch.offs;
    const lens = batch.lens;
    if (pool.buffer !== this.viewOf) this.makeViews(pool.buffer);
    // Our MAC as the three host-order words a frame addressed to us starts with.
    const m0 = this.ifMacW[port * 3] as number;
    const m1 = this.ifMacW[port * 3 + 1] as number;
    const m2 = this.ifMacW[port * 3 + 2] as number;
    const u16 = this.u16;
    const w32 = this.u32;
    let hdr32 = this.neighbors.hdr32;
    // Pass 1: validation and keys. cls: 0 slow, 4 IPv4, 6 IPv6.
    let any6 = false;
    for (let i = 0; i < n; i++) {
      const off = offs[i] as number;
      const len = lens[i] as number;
      cls[i] = 0;
      if (len < 34 || (off & 1) !== 0) continue;
      const mw = off >> 1;
      if (u16[mw] !== m0 || u16[mw + 1] !== m1 || u16[mw + 2] !== m2) continue;
      const et = ((b[off + 12] as number) << 8) | (b[off + 13] as number);
      const ip = off + 14;
      if (et === ETH_IP4) {
        if (b[ip] !== 0x45) continue;
        const l3 = ((b[ip + 2] as number) << 8) | (b[ip + 3] as number);
        if (l3 < 20 || l3 > len - 14 || (b[ip + 8] as number) <= 1) continue;
        const s0 = b[ip + 12] as number;
        const d0 = b[ip + 16] as number;
        if (s0 === 0 || s0 === 127 || s0 >= 224 || d0 === 0 || d0 === 127 || d0 >= 224) continue;
        // RFC 1071 verification of the 20-byte header, as host-order words (the sum of swapped
        // words is the swapped sum, and 0xffff is its own swap).
        const hw = ip >> 1;
        let s = (u16[hw] as number) + (u16[hw + 1] as number) + (u16[hw + 2] as number) + (u16[hw + 3] as number) + (u16[hw + 4] as number) + (u16[hw + 5] as number) + (u16[hw + 6] as number) + (u16[hw + 7] as number) + (u16[hw + 8] as number) + (u16[hw + 9] as number);
        s = (s & 0xffff) + (s >>> 16);
        s = (s & 0xffff) + (s >>> 16);
        if (s !== 0xffff) continue;
        cls[i] = 4;
        ent[i] = (d0 << 16) | ((b[ip + 17] as number) << 8) | (b[ip + 18] as number);
      } else if (et === ETH_IP6) {
        if (len < 54 || ((b[ip] as number) & 0xf0) !== 0x60) continue;
        if ((((b[ip + 4] as number) << 8) | (b[ip + 5] as number)) + 54 > len || (b[ip + 7] as number) <= 1) continue;
        const s0 = b[ip + 8] as number;
        const d0 = b[ip + 24] as number;
        if (s0 === 0 || s0 === 0xff || (s0 === 0xfe && ((b[ip + 9] as number) & 0xc0) === 0x80)) continue;
        if (d0 === 0 || d0 === 0xff || (d0 === 0xfe && ((b[ip + 25] as number) & 0xc0) === 0x80)) continue;
        cls[i] = 6;
        ent[i] = (d0 << 8) | (b[ip + 25] as number);
        pos[i] = ip + 26;
        any6 = true;
      }
    }
    // Pass 2: LPM loads, level by level over the batch.
    const lpm4 = this.lpm4;
    const t24 = lpm4.tbl24;
    const c4 = t24.length === 0;
    const t8 = lpm4.tbl8;
    const nodes = this.lpm6.nodes;
    if (any6 && this.v6Key.length === 0) this.allocV6Cache();
    const v6Key = this.v6Key;
    const v6Val = this.v6Val;
    const v6Key5 = this.v6Key5;
    let ext = false;
    for (let i = 0; i < n; i++) {
      const k = cls[i] as number;
      if (k === 4) {
        // Compact (small) FIB: the trie walk, whole; DIR-24-8: the first level here, tbl8 below.
        const e = c4 ? lpm4.entry((((ent[i] as number) << 8) | (b[(offs[i] as number) + 33] as number)) >>> 0) : (t24[ent[i] as number] as number);
        ent[i] = e;
        if (e & 0x80000000) ext = true;
      } else if (k === 6) {
        // The walk over the first 40 bits of the destination is memoised per /40 (a direct-mapped
        // cache cleared whenever the FIB changes): one load from a small table instead of four
        // dependent ones scattered over the trie.
        const ip = (offs[i] as number) + 14;
        const key = (((b[ip + 24] as number) << 24) | ((b[ip + 25] as number) << 16) | ((b[ip + 26] as number) << 8) | (b[ip + 27] as number)) >>> 0;
        const k5 = b[ip + 28] as number;
        const slot = Math.imul(key ^ Math.imul(k5, 0x85ebca6b), 0x9e3779b1) >>> V6_CACHE_SHIFT;
        let e: number;
        if (v6Key[slot] === key && v6Key5[slot] === k5) e = v6Val[slot] as number;
        else {
          e = nodes[ent[i] as number] as number;
          if (e & 0x80000000) e = nodes[((e & 0x7fffffff) << 8) + (b[ip + 26] as number)] as number;
          if (e & 0x80000000) e = nodes[((e & 0x7fffffff) << 8) + (b[ip + 27] as number)] as number;
          if (e & 0x80000000) e = nodes[((e & 0x7fffffff) << 8) + k5] as number;
          v6Key[slot] = key;
          v6Key5[slot] = k5;
          v6Val[slot] = e;
        }
        ent[i] = e;
        pos[i] = ip + 29;
        if (e & 0x80000000) ext = true;
      }
    }
    if (ext) {
      for (let i = 0; i < n; i++) {
        const e = ent[i] as number;
        if (cls[i] === 4 && e & 0x80000000) ent[i] = t8[((e & 0x7fffffff) << 8) | (b[(offs[i] as number) + 33] as number)] as number;
      }
    }
    if (any6 && ext) {
      // Walk down the trie one level per pass over the frames still pointing at a node.
      const live = this.live;
      let m = 0;
      for (let i = 0; i < n; i++) if (cls[i] === 6 && (ent[i] as number) & 0x80000000) live[m++] = i;
      for (let level = 0; level < 14 && m > 0; level++) {
        let m2 = 0;
        for (let j = 0; j < m; j++) {
          const i = live[j] as number;
          const e = ent[i] as number;
          const p = pos[i] as number;
          const e2 = nodes[((e & 0x7fffffff) << 8) + (b[p] as number)] as number;
          ent[i] = e2;
          pos[i] = p + 1;
          if (e2 & 0x80000000) live[m2++] = i;
        }
        m = m2;
      }
    }
    // Pass 3: forward.
    const pc = this.pc;
    const tKind = this.tKind;
    const tA = this.tA;
    const tB = this.tB;
    const groupAdj = this.groupAdj;
    const nb = this.neighbors;
    // The neighbour arrays are replaced when the table grows (a new entry on the slow path).
    let gen = nb.generation;
    let fastUntil = nb.fastUntil;
    let keyIf = nb.keyIf;
    let hdr = nb.hdr;
    let nstate = nb.state;
    let touched = nb.touched;
    const ifMtu = this.ifMtu;
    let rxBytes = 0;
    let fwd = 0;
    for (let i = 0; i < n; i++) {
      const slot = batch.slots[i] as number;
      const off = offs[i] as number;
      const len = lens[i] as number;
      rxBytes += len;
      const k = cls[i] as number;
      fast: {
        if (k === 0) break fast;
        const t = ((ent[i] as number) & 0x7fffff) - 1;
        if (t < 0) break fast;
        const ip = off + 14;
        const kind = tKind[t] as number;
        let adj: number;
        if (kind === T_GW) adj = tA[t] as number;
        else if (kind === T_ECMP) {
          let h: number;
          if (k === 4) {
            const fragd = ((((b[ip + 6] as number) & 0x3f) << 8) | (b[ip + 7] as number)) !== 0;
            h = flowHashBytes(b, ip + 12, ip + 16, 4, b[ip + 9] as number, ip + 20, fragd ? 0 : ((((b[ip + 2] as number) << 8) | (b[ip + 3] as number)) - 20));
          } else {
            const nh = b[ip + 6] as number;
            h = flowHashBytes(b, ip + 8, ip + 24, 16, nh, ip + 40, nh === 6 || nh === 17 ? (((b[ip + 4] as number) << 8) | (b[ip + 5] as number)) : 0);
          }
          adj = groupAdj[(tA[t] as number) + (((h >>> 16) * (tB[t] as number)) >>> 16)] as number;
        } else if (kind === T_CONNECTED) {
          adj = k === 4 ? nb.find4(tA[t] as number, u32(b, ip + 16)) : nb.find6(tA[t] as number, b, ip + 24);
          if (adj < 0) break fast;
        } else break fast;
        if (!((fastUntil[adj] as number) > now)) {
          // DELAY and PROBE send with the MAC they hold (Linux neigh_resolve_output; xmit does the
          // same): only the use is recorded. Entries learned from a neighbour's ARP request start
          // STALE and sit in DELAY for delayMs (5 s) after their first use, the whole of a short
          // run; STALE itself (its first use starts DELAY) takes the slow path.
          const st = nstate[adj] as number;
          if (st !== NUD.DELAY && st !== NUD.PROBE) break fast;
          touched[adj] = now;
        }
        const eg = (keyIf[adj] as number) >> 1;
        let l3len: number;
        if (k === 4) {
          l3len = ((b[ip + 2] as number) << 8) | (b[ip + 3] as number);
          if (l3len > (ifMtu[eg] as number)) break fast;
          // TTL − 1: the checksum word holding TTL drops by 0x0100, so HC' = HC + 0x0100 with
          // end-around carry (RFC 1624 eqn 3); like Linux ip_decrease_ttl, 0xffff is stored as 0.
          // The word is read in host order: + 0x0100 in network order is + TTL_INC in host order,
          // and end-around carry commutes with the byte swap (RFC 1071 §2(B)).
          b[ip + 8] = (b[ip + 8] as number) - 1;
          const cw = (ip + 10) >> 1;
          let hc = (u16[cw] as number) + TTL_INC;
          hc = (hc & 0xffff) + (hc >>> 16);
          if (hc === 0xffff) hc = 0;
          u16[cw] = hc;
        } else {
          l3len = (((b[ip + 4] as number) << 8) | (b[ip + 5] as number)) + 40;
          if (l3len > (ifMtu[eg] as number)) break fast;
          b[ip + 7] = (b[ip + 7] as number) - 1;
        }
        l3len += 14;
        pc[eg * 5 + 2] = (pc[eg * 5 + 2] as number) + 1;
        pc[eg * 5 + 3] = (pc[eg * 5 + 3] as number) + l3len;
        if ((off & 3) === 0) {
          // Aligned: the 12 MAC bytes as three words from the entry's prebuilt header.
          const w = off >> 2;
          const h = adj << 2;
          w32[w] = hdr32[h] as number;
          w32[w + 1] = hdr32[h + 1] as number;
          w32[w + 2] = hdr32[h + 2] as number;
        } else {
          const ho = adj * HDR_STRIDE;
          for (let q = 0; q < 12; q++) b[off + q] = hdr[ho + q] as number;
        }
        out.send(eg, slot, off, l3len);
        fwd++;
        continue;
      }
      this.slow(port, slot, off, len, ctx);
      if (nb.generation !== gen) {
        gen = nb.generation;
        fastUntil = nb.fastUntil;
        keyIf = nb.keyIf;
        hdr = nb.hdr;
        hdr32 = nb.hdr32;
        nstate = nb.state;
        touched = nb.touched;
      }
    }
    pc[port * 5] = (pc[port * 5] as number) + n;
    pc[port * 5 + 1] = (pc[port * 5 + 1] as number) + rxBytes;
    c.forwarded += fwd;
    c.out += fwd;
  }

  private makeViews(buf: ArrayBufferLike): void {
    this.viewOf = buf;
    this.u16 = new Uint16Array(buf, 0, buf.byteLength >> 1);
    this.u32 = new Int32Array(buf, 0, buf.byteLength >> 2);
  }

  private growScratch(n: number): void {
    this.cls = new Uint8Array(n);
    this.ent = new Int32Array(n);
    this.pos = new Int32Array(n);
    this.live = new Int32Array(n);
  }

  // --- slow path ---------------------------------------------------------------------------------

  private drop(ctx: ProcessContext, slot: number, port: number, reason: DropReason): void {
    ctx.out.drop(slot);
    this.c.dropped++;
    this.drops[reason]++;
    if (port >= 0) this.pc[port * 5 + 4] = (this.pc[port * 5 + 4] as number) + 1;
  }

  private consume(ctx: ProcessContext, slot: number, kind: (typeof LOCAL_KINDS)[number]): void {
    ctx.out.drop(slot);
    this.c.local++;
    this.localKinds[kind]++;
  }

  private send(ctx: ProcessContext, eg: number, slot: number, off: number, len: number): void {
    this.pc[eg * 5 + 2] = (this.pc[eg * 5 + 2] as number) + 1;
    this.pc[eg * 5 + 3] = (this.pc[eg * 5 + 3] as number) + len;
    this.c.out++;
    ctx.out.send(eg, slot, off, len);
  }

  private slow(port: number, slot: number, off: number, len: number, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    if (len < 14) return this.drop(ctx, slot, port, 'malformed');
    const dstMac = readMac(b, off);
    const group = ((b[off] as number) & 1) === 1;
    if (!group && dstMac !== (this.ifs[port] as RouterInterfaceConfig).mac) return this.drop(ctx, slot, port, 'notForUs');
    if ((b[off + 6] as number) & 1) return this.drop(ctx, slot, port, 'malformed');
    const et = ((b[off + 12] as number) << 8) | (b[off + 13] as number);
    if (et === ETH_IP4) return this.slow4(port, slot, off, len, group, ctx);
    if (et === ETH_IP6) return this.slow6(port, slot, off, len, group, ctx);
    if (et === ETH_ARP) return this.arpIn(port, slot, off, len, ctx);
    return this.drop(ctx, slot, port, 'unsupported');
  }

  private slow4(port: number, slot: number, off: number, len: number, group: boolean, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const ip = off + 14;
    if (len < 34 || (b[ip] as number) >>> 4 !== 4) return this.drop(ctx, slot, port, 'malformed');
    const hl = ((b[ip] as number) & 15) * 4;
    if (hl < 20 || len - 14 < hl) return this.drop(ctx, slot, port, 'malformed');
    if (foldSum(sum16(b, ip, hl)) !== 0xffff) return this.drop(ctx, slot, port, 'badChecksum');
    const tot = ((b[ip + 2] as number) << 8) | (b[ip + 3] as number);
    if (tot < hl || tot > len - 14) return this.drop(ctx, slot, port, 'malformed');
    const src = u32(b, ip + 12);
    const dst = u32(b, ip + 16);
    if (dst === 0xffffffff) return this.drop(ctx, slot, port, 'broadcast');
    if (dst >>> 28 === 0xe) return this.drop(ctx, slot, port, 'multicast');
    // Martians (ip_route_input_slow): source multicast / limited broadcast / 0.0.0.0/8 / loopback; destination 0/8, loopback.
    if (src >>> 28 === 0xe || src === 0xffffffff || src >>> 24 === 0 || src >>> 24 === 127 || dst >>> 24 === 0 || dst >>> 24 === 127) return this.drop(ctx, slot, port, 'martian');
    if (group) return this.drop(ctx, slot, port, 'notForUs');
    const t = this.lpm4.lookup(dst);
    if (t < 0) {
      this.icmpError4(ctx, port, slot, off, tot, 3, 0, 0, false);
      return this.drop(ctx, slot, port, 'noRoute');
    }
    const kind = this.tKind[t] as number;
    if (kind === T_LOCAL) return this.local4(port, slot, off, tot, hl, ctx);
    if (kind === T_BCAST) return this.drop(ctx, slot, port, 'broadcast');
    if (kind === T_BLACKHOLE) return this.drop(ctx, slot, port, 'blackhole');
    if (kind === T_UNREACH || kind === T_PROHIBIT) {
      this.icmpError4(ctx, port, slot, off, tot, 3, kind === T_UNREACH ? 1 : 13, 0, false);
      return this.drop(ctx, slot, port, kind === T_UNREACH ? 'unreachable' : 'prohibited');
    }
    // ip_forward: TTL, then MTU (DF), then the TTL decrement, then the neighbour.
    if ((b[ip + 8] as number) <= 1) {
      this.icmpError4(ctx, port, slot, off, tot, 11, 0, 0, false);
      return this.drop(ctx, slot, port, 'ttlExceeded');
    }
    const [eg, adj, nh4] = this.select4(t, b, ip, tot, hl, dst);
    const mtu = this.ifMtu[eg] as number;
    const df = ((b[ip + 6] as number) & 0x40) !== 0;
    if (tot > mtu && df) {
      this.icmpError4(ctx, port, slot, off, tot, 3, 4, mtu, false);
      return this.drop(ctx, slot, port, 'tooBig');
    }
    b[ip + 8] = (b[ip + 8] as number) - 1;
    let hc = (((b[ip + 10] as number) << 8) | (b[ip + 11] as number)) + 0x0100;
    hc = (hc & 0xffff) + (hc >>> 16);
    if (hc === 0xffff) hc = 0;
    put16(b, ip + 10, hc);
    if (tot > mtu) return this.fragment4(port, slot, off, tot, hl, mtu, eg, adj, nh4, ctx);
    this.c.forwarded++;
    this.xmit(ctx, eg, adj, 4, nh4, null, 0, slot, off, 14 + tot, port, true);
  }

  // Egress interface, adjacency (-1 when a connected destination has no entry yet) and the IPv4 next hop.
  private select4(t: number, b: Uint8Array, ip: number, tot: number, hl: number, dst: number): [number, number, number] {
    const kind = this.tKind[t];
    const nb = this.neighbors;
    if (kind === T_CONNECTED) {
      const eg = this.tA[t] as number;
      return [eg, nb.find4(eg, dst), dst];
    }
    let adj = this.tA[t] as number;
    if (kind === T_ECMP) {
      const fragd = ((((b[ip + 6] as number) & 0x3f) << 8) | (b[ip + 7] as number)) !== 0;
      const h = flowHashBytes(b, ip + 12, ip + 16, 4, b[ip + 9] as number, ip + hl, fragd ? 0 : tot - hl);
      adj = this.groupAdj[adj + (((h >>> 16) * (this.tB[t] as number)) >>> 16)] as number;
    }
    return [nb.iface(adj), adj, nb.k0[adj] as number];
  }

  private select6(t: number, b: Uint8Array, ip: number, tot: number): [number, number] {
    const kind = this.tKind[t];
    const nb = this.neighbors;
    if (kind === T_CONNECTED) {
      const eg = this.tA[t] as number;
      return [eg, nb.find6(eg, b, ip + 24)];
    }
    let adj = this.tA[t] as number;
    if (kind === T_ECMP) {
      const nh = b[ip + 6] as number;
      const h = flowHashBytes(b, ip + 8, ip + 24, 16, nh, ip + 40, nh === 6 || nh === 17 ? tot - 40 : 0);
      adj = this.groupAdj[adj + (((h >>> 16) * (this.tB[t] as number)) >>> 16)] as number;
    }
    return [nb.iface(adj), adj];
  }

  /**
   * IPv4 fragmentation as ip_do_fragment's slow path: every fragment but the last carries
   * (mtu − hl) rounded down to 8 bytes; options without the copy flag become NOPs after the first
   * fragment (ip_options_fragment); the last keeps the original MF bit; the ID is kept.
   */
  private fragment4(port: number, slot: number, off: number, tot: number, hl: number, mtu: number, eg: number, adj: number, nh4: number, ctx: ProcessContext): void {
    const pool = ctx.pool;
    const b = pool.bytes;
    const ip = off + 14;
    const chunk = (mtu - hl) & ~7;
    if (chunk <= 0) return this.drop(ctx, slot, port, 'tooBig');
    const flagsOff = ((b[ip + 6] as number) << 8) | (b[ip + 7] as number);
    const baseOff = flagsOff & 0x1fff;
    const origMf = flagsOff & 0x2000;
    const keepFlags = flagsOff & 0xc000;
    const dataLen = tot - hl;
    const nfrag = Math.ceil(dataLen / chunk);
    // Build fragments 2..n in new slots from the original bytes before truncating the first.
    const slots: number[] = [];
    for (let k = 1; k < nfrag; k++) {
      const s = pool.alloc();
      if (s < 0) {
        for (const x of slots) ctx.out.drop(x);
        return this.drop(ctx, slot, port, 'noBuffer');
      }
      slots.push(s);
      const fo = pool.frameOffset(s);
      const pos = k * chunk;
      const n = Math.min(chunk, dataLen - pos);
      b.copyWithin(fo, off, off + 14 + hl);
      b.copyWithin(fo + 14 + hl, ip + hl + pos, ip + hl + pos + n);
      const fip = fo + 14;
      // ip_options_fragment: options not flagged "copied" are replaced by NOPs.
      for (let o = 20; o < hl; ) {
        const opt = b[fip + o] as number;
        if (opt === 0) break;
        if (opt === 1) { o++; continue; }
        const ol = b[fip + o + 1] as number;
        if (ol < 2 || o + ol > hl) break;
        if ((opt & 0x80) === 0) b.fill(1, fip + o, fip + o + ol);
        o += ol;
      }
      put16(b, fip + 2, hl + n);
      const last = k === nfrag - 1;
      put16(b, fip + 6, keepFlags | (last ? origMf : 0x2000) | (baseOff + (pos >>> 3)));
      put16(b, fip + 10, 0);
      put16(b, fip + 10, cksum(b, fip, hl));
    }
    put16(b, ip + 2, hl + chunk);
    put16(b, ip + 6, keepFlags | 0x2000 | baseOff);
    put16(b, ip + 10, 0);
    put16(b, ip + 10, cksum(b, ip, hl));
    this.c.forwarded++;
    this.fragmentedPackets++;
    this.xmit(ctx, eg, adj, 4, nh4, null, 0, slot, off, 14 + hl + chunk, port, true);
    for (let k = 0; k < slots.length; k++) {
      const s = slots[k] as number;
      const fo = pool.frameOffset(s);
      this.gen.fragments++;
      this.xmit(ctx, eg, adj, 4, nh4, null, 0, s, fo, 14 + (((b[fo + 16] as number) << 8) | (b[fo + 17] as number)), -1, false);
    }
  }

  private slow6(port: number, slot: number, off: number, len: number, group: boolean, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const ip = off + 14;
    if (len < 54 || (b[ip] as number) >>> 4 !== 6) return this.drop(ctx, slot, port, 'malformed');
    const tot = (((b[ip + 4] as number) << 8) | (b[ip + 5] as number)) + 40;
    if (tot > len - 14) return this.drop(ctx, slot, port, 'malformed');
    const s0 = b[ip + 8] as number;
    // ip6_rcv_core: multicast source, loopback source or destination are dropped.
    if (s0 === 0xff || isLoopback6(b, ip + 8) || isLoopback6(b, ip + 24)) return this.drop(ctx, slot, port, 'martian');
    const d0 = b[ip + 24] as number;
    if (d0 === 0xff) return this.multicast6(port, slot, off, tot, ctx);
    if (group) return this.drop(ctx, slot, port, 'notForUs');
    if (isLinkLocal6(b, ip + 24)) {
      if (this.own6OnIf.has(`${port}/${Buffer.from(b.subarray(ip + 24, ip + 40)).toString('hex')}`)) return this.local6(port, slot, off, tot, ctx);
      return this.drop(ctx, slot, port, 'scope');
    }
    const t = this.lpm6.lookupBytes(b, ip + 24);
    if (t < 0) {
      this.icmpError6(ctx, port, slot, off, tot, 1, 0, 0);
      return this.drop(ctx, slot, port, 'noRoute');
    }
    const kind = this.tKind[t] as number;
    if (kind === T_LOCAL) return this.local6(port, slot, off, tot, ctx);
    if (kind === T_BLACKHOLE) return this.drop(ctx, slot, port, 'blackhole');
    if (kind === T_UNREACH || kind === T_PROHIBIT) {
      this.icmpError6(ctx, port, slot, off, tot, 1, kind === T_UNREACH ? 0 : 1, 0);
      return this.drop(ctx, slot, port, kind === T_UNREACH ? 'unreachable' : 'prohibited');
    }
    // ip6_forward: hop limit, source scope, MTU, decrement, neighbour.
    if ((b[ip + 7] as number) <= 1) {
      this.icmpError6(ctx, port, slot, off, tot, 3, 0, 0);
      return this.drop(ctx, slot, port, 'ttlExceeded');
    }
    if (s0 === 0 && isUnspecified6(b, ip + 8)) return this.drop(ctx, slot, port, 'martian');
    if (isLinkLocal6(b, ip + 8)) {
      this.icmpError6(ctx, port, slot, off, tot, 1, 2, 0);
      return this.drop(ctx, slot, port, 'scope');
    }
    const [eg, adj] = this.select6(t, b, ip, tot);
    const mtu = this.ifMtu[eg] as number;
    if (tot > mtu) {
      this.icmpError6(ctx, port, slot, off, tot, 2, 0, mtu);
      return this.drop(ctx, slot, port, 'tooBig');
    }
    b[ip + 7] = (b[ip + 7] as number) - 1;
    this.c.forwarded++;
    this.xmit(ctx, eg, adj, 6, 0, b, ip + 24, slot, off, 14 + tot, port, true);
  }

  /**
   * Sends a frame whose L3 part is ready through neighbour `adj` on `eg` (for a connected
   * destination without an entry, adj is -1 and the entry is created from the next hop). Frames
   * wait in the hold queue while the neighbour resolves. `transit` says the frame counts as a
   * forwarded input (for the queued gauge); `port` is where it came in (-1 when generated).
   */
  private xmit(ctx: ProcessContext, eg: number, adj: number, family: 4 | 6, nh4: number, nh6b: Uint8Array | null, nh6o: number, slot: number, off: number, len: number, port: number, transit: boolean): void {
    const nb = this.neighbors;
    const b = ctx.pool.bytes;
    const now = ctx.now;
    if (adj < 0) {
      try {
        adj = family === 4 ? nb.ensure(eg, 4, [nh4]) : nb.ensure(eg, 6, words(nh6b as Uint8Array, nh6o));
      } catch {
        this.gcNeighbors(now, true);
        adj = family === 4 ? nb.find4(eg, nh4) : nb.find6(eg, nh6b as Uint8Array, nh6o);
        if (adj < 0) {
          if (transit) { this.c.forwarded--; return this.drop(ctx, slot, port, 'neighborFailed'); }
          ctx.out.drop(slot);
          return;
        }
      }
      nb.touched[adj] = now;
    }
    const st = nb.state[adj] as number;
    if ((nb.fastUntil[adj] as number) > now || st === NUD.STALE || st === NUD.DELAY || st === NUD.PROBE || (st === NUD.REACHABLE && (nb.mac[adj] as number) >= 0)) {
      if (st === NUD.REACHABLE && !((nb.fastUntil[adj] as number) > now)) nb.state[adj] = NUD.STALE;
      if (nb.state[adj] === NUD.STALE) {
        // RFC 4861 §7.3.3: using a STALE entry starts DELAY.
        nb.state[adj] = NUD.DELAY;
        nb.timer[adj] = now + this.cfg.neighbor.delayMs;
      }
      nb.touched[adj] = now;
      b.set(nb.hdr.subarray(adj * HDR_STRIDE, adj * HDR_STRIDE + 12), off);
      this.send(ctx, eg, slot, off, len);
      return;
    }
    // NONE, INCOMPLETE or FAILED: resolve and hold.
    if (st === NUD.NONE || st === NUD.FAILED) {
      nb.state[adj] = NUD.INCOMPLETE;
      nb.probes[adj] = 0;
      nb.touched[adj] = now;
      // A request that never left (no free buffer) is no transmission: the next tick sends it
      // (RFC 1122 §2.3.2.1 limits requests actually sent to one per second per destination).
      if (this.solicit(ctx, adj, false, b, off + 14)) {
        nb.probes[adj] = 1;
        nb.timer[adj] = now + this.cfg.neighbor.retransMs;
      } else nb.timer[adj] = now;
    }
    if (nb.hold(adj, b, off, len, transit ? port : -1 - Math.max(port, 0), this.cfg.neighbor.holdQueue)) {
      if (transit) {
        this.c.forwarded--;
        this.queuedTransit++;
      }
      ctx.out.drop(slot);
      return;
    }
    if (transit) {
      this.c.forwarded--;
      this.drop(ctx, slot, port, 'holdOverflow');
    } else ctx.out.drop(slot);
  }

  // ARP request or NS for entry `adj`; unicast (to the known MAC) in PROBE. `pkt`: the IP header
  // of the frame that triggered it (Linux takes its source address when it is ours). False when
  // no buffer was free: nothing was sent, the caller retries at the next tick.
  private solicit(ctx: ProcessContext, adj: number, unicast: boolean, pb: Uint8Array | null, pip: number): boolean {
    const pool = ctx.pool;
    const s = pool.alloc();
    if (s < 0) return false;
    const b = pool.bytes;
    const o = pool.frameOffset(s);
    const nb = this.neighbors;
    const eg = nb.iface(adj);
    const f = this.ifs[eg] as RouterInterfaceConfig;
    if (nb.family(adj) === 4) {
      const target = nb.k0[adj] as number;
      let spa = -1;
      if (pb && (pb[pip] as number) >>> 4 === 4) {
        const psrc = u32(pb, pip + 12);
        if (f.v4.some((a) => a.addr === psrc)) spa = psrc;
      }
      if (spa < 0) spa = this.source4On(eg, target);
      if (unicast) putMac(b, o, nb.mac[adj] as number);
      else b.fill(0xff, o, o + 6);
      putMac(b, o + 6, f.mac);
      put16(b, o + 12, ETH_ARP);
      put16(b, o + 14, 1);
      put16(b, o + 16, ETH_IP4);
      b[o + 18] = 6;
      b[o + 19] = 4;
      put16(b, o + 20, 1);
      putMac(b, o + 22, f.mac);
      put32(b, o + 28, spa >>> 0);
      b.fill(0, o + 32, o + 38);
      put32(b, o + 38, target);
      this.gen.arpRequest++;
      this.send(ctx, eg, s, o, 42);
      return true;
    }
    const tgt = addrOf(nb, adj);
    let src: Uint8Array | null = null;
    if (pb && (pb[pip] as number) >>> 4 === 6 && this.own6OnIf.has(`${eg}/${Buffer.from(pb.subarray(pip + 8, pip + 24)).toString('hex')}`)) src = pb.slice(pip + 8, pip + 24);
    // ndisc_send_ns: the link-local address unless the packet came from one of ours on the link.
    src ??= f.linkLocal;
    // NS (RFC 4861 §4.3) to the solicited-node group ff02::1:ffXX:XXXX, or unicast in PROBE.
    const dst = new Uint8Array(16);
    if (unicast) dst.set(tgt);
    else {
      dst.set([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]);
      dst[13] = tgt[13] as number;
      dst[14] = tgt[14] as number;
      dst[15] = tgt[15] as number;
    }
    if (unicast) putMac(b, o, nb.mac[adj] as number);
    else {
      b[o] = 0x33;
      b[o + 1] = 0x33;
      b.set(dst.subarray(12, 16), o + 2);
    }
    putMac(b, o + 6, f.mac);
    put16(b, o + 12, ETH_IP6);
    const ip = o + 14;
    this.ip6Header(b, ip, 0, 0, 32, 58, 255, src, dst);
    const l4 = ip + 40;
    b.fill(0, l4, l4 + 8);
    b[l4] = 135;
    b.set(tgt, l4 + 8);
    b[l4 + 24] = 1;
    b[l4 + 25] = 1;
    putMac(b, l4 + 26, f.mac);
    put16(b, l4 + 2, cksum(b, l4, 32, pseudo6(b, ip, 58, 32)));
    this.gen.neighborSolicit++;
    this.send(ctx, eg, s, o, 14 + 40 + 32);
    return true;
  }

  private ip6Header(b: Uint8Array, ip: number, tclass: number, flow: number, plen: number, nh: number, hlim: number, src: Uint8Array, dst: Uint8Array): void {
    put32(b, ip, (0x60000000 | (tclass << 20) | (flow & 0xfffff)) >>> 0);
    put16(b, ip + 4, plen);
    b[ip + 6] = nh;
    b[ip + 7] = hlim;
    b.set(src.subarray(0, 16), ip + 8);
    b.set(dst.subarray(0, 16), ip + 24);
  }

  // inet_select_addr: an address of `eg` on the subnet of `near`, else its first address, else any.
  private source4On(eg: number, near: number): number {
    const f = this.ifs[eg] as RouterInterfaceConfig;
    for (const a of f.v4) if (((a.addr ^ near) & mask4(a.len)) === 0) return a.addr;
    if (f.v4[0]) return f.v4[0].addr;
    for (const g of this.ifs) if (g.v4[0]) return g.v4[0].addr;
    return 0;
  }

  // RFC 6724 in short: link-local for a link-local destination, else an address on the subnet,
  // else the interface's first global, else its link-local.
  private source6On(eg: number, near: Uint8Array, no: number): Uint8Array {
    const f = this.ifs[eg] as RouterInterfaceConfig;
    if (isLinkLocal6(near, no)) return f.linkLocal;
    const globals = f.v6.filter((a) => !isLinkLocal6(a.addr));
    for (const a of globals) if (inPrefix6(near, no, a.addr, a.len)) return a.addr;
    return globals[0]?.addr ?? f.linkLocal;
  }

  // --- ARP and ND --------------------------------------------------------------------------------

  private arpIn(port: number, slot: number, off: number, len: number, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const a = off + 14;
    if (len < 42 || ((b[a] as number) << 8 | (b[a + 1] as number)) !== 1 || ((b[a + 2] as number) << 8 | (b[a + 3] as number)) !== ETH_IP4 || b[a + 4] !== 6 || b[a + 5] !== 4) return this.drop(ctx, slot, port, 'malformed');
    const op = ((b[a + 6] as number) << 8) | (b[a + 7] as number);
    const sha = readMac(b, a + 8);
    const spa = u32(b, a + 14);
    const tpa = u32(b, a + 24);
    if (op !== 1 && op !== 2) return this.drop(ctx, slot, port, 'unsupported');
    if ((b[a + 8] as number) & 1 || spa >>> 28 === 0xe || tpa >>> 28 === 0xe || tpa >>> 24 === 127) return this.drop(ctx, slot, port, 'martian');
    const f = this.ifs[port] as RouterInterfaceConfig;
    // arp_ignore=0: answer for any local address, on any interface (Linux default).
    const forUs = tpa !== 0 && this.lpm4.lookup(tpa) === this.localTarget;
    const nb = this.neighbors;
    const now = ctx.now;
    if (spa !== 0) {
      let id = nb.find4(port, spa);
      if (id < 0 && op === 1 && forUs) {
        try { id = nb.ensure(port, 4, [spa]); } catch { id = -1; }
      }
      // arp_process: a reply addressed to us confirms (REACHABLE); anything else makes it STALE.
      if (id >= 0) this.neighborUpdate(ctx, id, sha, op === 2 && !((b[off] as number) & 1), true, now);
    }
    if (op === 1 && forUs) {
      // Reply in place (RFC 826): swap, fill in our MAC.
      putMac(b, off, sha);
      putMac(b, off + 6, f.mac);
      put16(b, a + 6, 2);
      b.copyWithin(a + 18, a + 8, a + 18);
      putMac(b, a + 8, f.mac);
      put32(b, a + 14, tpa);
      this.gen.arpReply++;
      this.c.local++;
      this.localKinds.arp++;
      this.send(ctx, port, slot, off, 42);
      return;
    }
    this.consume(ctx, slot, 'arp');
  }

  /**
   * neigh_update: a new or changed MAC becomes STALE (or REACHABLE when confirmed); the same MAC
   * confirmed becomes REACHABLE; the same MAC unconfirmed keeps a valid state. Releases held frames.
   */
  private neighborUpdate(ctx: ProcessContext, id: number, mac: number, confirmed: boolean, override: boolean, now: number): void {
    const nb = this.neighbors;
    const st = nb.state[id] as number;
    if (st === NUD.PERMANENT) return;
    const known = (nb.mac[id] as number) >= 0 && st !== NUD.NONE && st !== NUD.INCOMPLETE && st !== NUD.FAILED;
    const same = known && nb.mac[id] === mac;
    if (known && !same && !override) {
      if (st === NUD.REACHABLE) { nb.state[id] = NUD.STALE; nb.fastUntil[id] = 0; }
      return;
    }
    const f = this.ifs[nb.iface(id)] as RouterInterfaceConfig;
    if (!same) nb.setMac(id, mac, f.mac, nb.family(id) === 4 ? ETH_IP4 : ETH_IP6);
    nb.touched[id] = now;
    if (confirmed) {
      nb.state[id] = NUD.REACHABLE;
      nb.confirmed[id] = now;
      nb.fastUntil[id] = now + this.cfg.neighbor.reachableMs;
      nb.timer[id] = Infinity;
      nb.probes[id] = 0;
    } else if (!same) {
      nb.state[id] = NUD.STALE;
      nb.fastUntil[id] = 0;
      nb.timer[id] = Infinity;
      nb.probes[id] = 0;
    }
    this.releaseHeld(ctx, id);
  }

  private releaseHeld(ctx: ProcessContext, id: number): void {
    const nb = this.neighbors;
    if ((nb.holdCount[id] as number) === 0 || (nb.mac[id] as number) < 0) return;
    const pool = ctx.pool;
    const eg = nb.iface(id);
    for (;;) {
      const buf = nb.popHold(id);
      if (buf < 0) break;
      const hp = nb.holdPort[buf] as number;
      const transit = hp >= 0;
      if (transit) this.queuedTransit--;
      const s = pool.alloc();
      if (s < 0) {
        nb.freeHold(buf);
        if (transit) { this.c.dropped++; this.drops.noBuffer++; }
        continue;
      }
      const o = pool.frameOffset(s);
      const l = nb.holdLen[buf] as number;
      pool.bytes.set(nb.holdBytes.subarray(buf * nb.holdBufferSize, buf * nb.holdBufferSize + l), o);
      nb.freeHold(buf);
      pool.bytes.set(nb.hdr.subarray(id * HDR_STRIDE, id * HDR_STRIDE + 12), o);
      if (transit) this.c.forwarded++;
      this.send(ctx, eg, s, o, l);
    }
  }

  private multicast6(port: number, slot: number, off: number, tot: number, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const ip = off + 14;
    // Only ND to us matters here: NS to our solicited-node group; everything else (MLD, RS, RA...) is consumed.
    const nhOff = this.upperLayer6(b, ip, tot);
    if (nhOff >= 0 && b[ip + 6] === 58 && b[ip + 25] === 0x02) {
      const t = b[nhOff] as number;
      if (t === 135 || t === 136) return this.nd(port, slot, off, tot, nhOff, ctx);
    }
    if (b[ip + 25] !== 0x01 && b[ip + 25] !== 0x02) return this.drop(ctx, slot, port, 'multicast');
    this.consume(ctx, slot, 'other');
  }

  // Offset of the upper-layer header when the packet has no extension headers it must walk (-1 else).
  private upperLayer6(b: Uint8Array, ip: number, tot: number): number {
    return tot >= 48 && b[ip + 6] === 58 ? ip + 40 : -1;
  }

  private nd(port: number, slot: number, off: number, tot: number, l4: number, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const ip = off + 14;
    const ilen = tot - 40;
    // RFC 4861 §7.1.1 / §7.1.2 validation: hop limit 255, code 0, checksum, length ≥ 24, target not multicast.
    if (b[ip + 7] !== 255 || b[l4 + 1] !== 0 || ilen < 24 || b[l4 + 8] === 0xff) return this.drop(ctx, slot, port, 'malformed');
    if (foldSum(sum16(b, l4, ilen, pseudo6(b, ip, 58, ilen))) !== 0xffff) return this.drop(ctx, slot, port, 'badChecksum');
    let lladdr = -1;
    for (let o = l4 + 24; o + 8 <= l4 + ilen; ) {
      const ol = (b[o + 1] as number) * 8;
      if (ol === 0 || o + ol > l4 + ilen) return this.drop(ctx, slot, port, 'malformed');
      if ((b[o] === 1 && b[l4] === 135) || (b[o] === 2 && b[l4] === 136)) lladdr = readMac(b, o + 2);
      o += ol;
    }
    const nb = this.neighbors;
    const now = ctx.now;
    const srcUnspec = isUnspecified6(b, ip + 8);
    const f = this.ifs[port] as RouterInterfaceConfig;
    if (b[l4] === 135) {
      const dstMulticast = b[ip + 24] === 0xff;
      if (srcUnspec && (!dstMulticast || lladdr >= 0)) return this.drop(ctx, slot, port, 'malformed');
      if (!this.own6OnIf.has(`${port}/${Buffer.from(b.subarray(l4 + 8, l4 + 24)).toString('hex')}`)) return this.consume(ctx, slot, 'nd');
      if (!srcUnspec && lladdr >= 0) {
        let id = nb.find6(port, b, ip + 8);
        if (id < 0) {
          try { id = nb.ensure(port, 6, words(b, ip + 8)); } catch { id = -1; }
        }
        if (id >= 0) this.neighborUpdate(ctx, id, lladdr, false, true, now);
      }
      // NA in place (ndisc_send_na): to the soliciter (all-nodes if it had no address yet), from the
      // target; R (we forward), S when solicited by a unicast source, O and the target link-layer
      // option only when the NS was multicast.
      const target = b.slice(l4 + 8, l4 + 24);
      const dst = srcUnspec ? ALL_NODES : b.slice(ip + 8, ip + 24);
      const withOpt = dstMulticast;
      const plen = withOpt ? 32 : 24;
      const dmac = srcUnspec ? 0x333300000001 : readMac(b, off + 6);
      putMac(b, off, dmac);
      putMac(b, off + 6, f.mac);
      this.ip6Header(b, ip, 0, 0, plen, 58, 255, target, dst);
      b.fill(0, l4, l4 + 8);
      b[l4] = 136;
      b[l4 + 4] = 0x80 | (srcUnspec ? 0 : 0x40) | (withOpt ? 0x20 : 0);
      b.set(target, l4 + 8);
      if (withOpt) {
        b[l4 + 24] = 2;
        b[l4 + 25] = 1;
        putMac(b, l4 + 26, f.mac);
      }
      put16(b, l4 + 2, cksum(b, l4, plen, pseudo6(b, ip, 58, plen)));
      this.gen.neighborAdvert++;
      this.c.local++;
      this.localKinds.nd++;
      this.send(ctx, port, slot, off, 14 + 40 + plen);
      return;
    }
    // NA: updates an existing entry only (RFC 4861 §7.2.5).
    const solicited = ((b[l4 + 4] as number) & 0x40) !== 0;
    const override = ((b[l4 + 4] as number) & 0x20) !== 0;
    if (solicited && b[ip + 24] === 0xff) return this.drop(ctx, slot, port, 'malformed');
    const id = nb.find6(port, b, l4 + 8);
    if (id >= 0) {
      const st = nb.state[id] as number;
      if (lladdr >= 0) this.neighborUpdate(ctx, id, lladdr, solicited, override || st === NUD.INCOMPLETE, now);
      else if (solicited && (nb.mac[id] as number) >= 0 && st !== NUD.INCOMPLETE) this.neighborUpdate(ctx, id, nb.mac[id] as number, true, false, now);
    }
    this.consume(ctx, slot, 'nd');
  }

  // --- local delivery ----------------------------------------------------------------------------

  private local4(port: number, slot: number, off: number, tot: number, hl: number, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const ip = off + 14;
    if (((((b[ip + 6] as number) & 0x3f) << 8) | (b[ip + 7] as number)) !== 0) return this.drop(ctx, slot, port, 'reassembly');
    const proto = b[ip + 9] as number;
    const l4 = ip + hl;
    const l4len = tot - hl;
    if (proto === 1) {
      if (l4len < 8) return this.drop(ctx, slot, port, 'malformed');
      if (foldSum(sum16(b, l4, l4len)) !== 0xffff) return this.drop(ctx, slot, port, 'localChecksum');
      if (b[l4] !== 8) return this.consume(ctx, slot, 'icmp');
      // Echo reply (RFC 792) from the address pinged, routed back like any local packet.
      const src = u32(b, ip + 12);
      const dst = u32(b, ip + 16);
      const tos = b[ip + 1] as number;
      const no = off + hl - 20; // drop options: the reply header is 20 bytes, right before the ICMP message
      const nip = no + 14;
      this.ip4Header(b, nip, tos, 20 + l4len, 0, 1, dst, src);
      b[l4] = 0;
      put16(b, l4 + 2, 0);
      put16(b, l4 + 2, cksum(b, l4, l4len));
      this.gen.echoReply4++;
      this.c.local++;
      this.localKinds.echo++;
      this.output4(ctx, slot, no, 14 + 20 + l4len, src);
      return;
    }
    if (proto === 17) {
      if (l4len < 8) return this.drop(ctx, slot, port, 'malformed');
      const ulen = ((b[l4 + 4] as number) << 8) | (b[l4 + 5] as number);
      if (ulen < 8 || ulen > l4len) return this.drop(ctx, slot, port, 'malformed');
      const ck = ((b[l4 + 6] as number) << 8) | (b[l4 + 7] as number);
      if (ck !== 0 && foldSum(sum16(b, l4, ulen, sum16(b, ip + 12, 8, 17 + ulen))) !== 0xffff) return this.drop(ctx, slot, port, 'localChecksum');
      this.icmpError4(ctx, port, slot, off, tot, 3, 3, 0, true);
      return this.drop(ctx, slot, port, 'unknownPort');
    }
    if (proto === 6) return this.tcpReset(port, slot, off, tot, 4, hl, ctx);
    if (proto === 2) return this.consume(ctx, slot, 'other');
    this.icmpError4(ctx, port, slot, off, tot, 3, 2, 0, true);
    return this.drop(ctx, slot, port, 'unsupported');
  }

  private ip4Header(b: Uint8Array, ip: number, tos: number, tot: number, flags: number, proto: number, src: number, dst: number): void {
    b[ip] = 0x45;
    b[ip + 1] = tos;
    put16(b, ip + 2, tot);
    put16(b, ip + 4, this.ipId);
    this.ipId = (this.ipId + 1) & 0xffff;
    put16(b, ip + 6, flags);
    b[ip + 8] = this.cfg.ttl;
    b[ip + 9] = proto;
    put16(b, ip + 10, 0);
    put32(b, ip + 12, src);
    put32(b, ip + 16, dst);
    put16(b, ip + 10, cksum(b, ip, 20));
  }

  /**
   * tcp_v4_send_reset / tcp_v6_send_reset for a segment to a closed port (RFC 793 p. 36): with ACK
   * the RST takes seq = SEG.ACK; otherwise RST|ACK with ack = SEG.SEQ + SEG.LEN (+1 per SYN/FIN).
   * IPv4: DF set and ID 0 as Linux's control socket sends it.
   */
  private tcpReset(port: number, slot: number, off: number, tot: number, family: 4 | 6, hl: number, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const ip = off + 14;
    const l4 = ip + hl;
    const l4len = tot - hl;
    if (l4len < 20) return this.drop(ctx, slot, port, 'malformed');
    const thl = ((b[l4 + 12] as number) >>> 4) * 4;
    if (thl < 20 || thl > l4len) return this.drop(ctx, slot, port, 'malformed');
    const ps = family === 4 ? sum16(b, ip + 12, 8, 6 + l4len) : pseudo6(b, ip, 6, l4len);
    if (foldSum(sum16(b, l4, l4len, ps)) !== 0xffff) return this.drop(ctx, slot, port, 'localChecksum');
    const flags = b[l4 + 13] as number;
    if (flags & 0x04) return this.consume(ctx, slot, 'other');
    const seq = u32(b, l4 + 4);
    const ackn = u32(b, l4 + 8);
    const sport = ((b[l4] as number) << 8) | (b[l4 + 1] as number);
    const dport = ((b[l4 + 2] as number) << 8) | (b[l4 + 3] as number);
    const dataLen = l4len - thl;
    const hasAck = (flags & 0x10) !== 0;
    const outSeq = hasAck ? ackn : 0;
    const outAck = hasAck ? 0 : (seq + dataLen + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0)) >>> 0;
    const nl4 = family === 4 ? ip + 20 : ip + 40;
    const tcp = new Uint8Array(20);
    put16(tcp, 0, dport);
    put16(tcp, 2, sport);
    put32(tcp, 4, outSeq);
    put32(tcp, 8, outAck);
    tcp[12] = 0x50;
    tcp[13] = hasAck ? 0x04 : 0x14;
    if (family === 4) {
      const src = u32(b, ip + 12);
      const dst = u32(b, ip + 16);
      const tos = b[ip + 1] as number;
      this.ipId = (this.ipId - 1) & 0xffff; // ID 0 below, do not consume one
      this.ip4Header(b, ip, tos, 40, 0x4000, 6, dst, src);
      put16(b, ip + 4, 0);
      put16(b, ip + 10, 0);
      put16(b, ip + 10, cksum(b, ip, 20));
      b.set(tcp, nl4);
      put16(b, nl4 + 16, cksum(b, nl4, 20, sum16(b, ip + 12, 8, 6 + 20)));
      this.gen.tcpReset++;
      this.c.local++;
      this.localKinds.other++;
      this.output4(ctx, slot, off, 54, src);
      return;
    }
    const src = b.slice(ip + 8, ip + 24);
    const dst = b.slice(ip + 24, ip + 40);
    this.ip6Header(b, ip, 0, 0, 20, 6, this.cfg.ttl, dst, src);
    b.set(tcp, nl4);
    put16(b, nl4 + 16, cksum(b, nl4, 20, pseudo6(b, ip, 6, 20)));
    this.gen.tcpReset++;
    this.c.local++;
    this.localKinds.other++;
    this.output6(ctx, slot, off, 74, src, port);
  }

  /** Routes a locally originated IPv4 frame (IP header at off+14) to `dst`. */
  private output4(ctx: ProcessContext, slot: number, off: number, len: number, dst: number): void {
    const b = ctx.pool.bytes;
    const t = this.lpm4.lookup(dst);
    const kind = t < 0 ? 0 : (this.tKind[t] as number);
    if (kind !== T_GW && kind !== T_ECMP && kind !== T_CONNECTED) {
      ctx.out.drop(slot);
      return;
    }
    const ip = off + 14;
    const tot = len - 14;
    const [eg, adj, nh4] = this.select4(t, b, ip, tot, 20, dst);
    b[off + 12] = 0x08;
    b[off + 13] = 0x00;
    if (tot > (this.ifMtu[eg] as number)) {
      ctx.out.drop(slot);
      return;
    }
    this.xmit(ctx, eg, adj, 4, nh4, null, 0, slot, off, len, -1, false);
  }

  private output6(ctx: ProcessContext, slot: number, off: number, len: number, dst: Uint8Array, port: number): void {
    const b = ctx.pool.bytes;
    b[off + 12] = 0x86;
    b[off + 13] = 0xdd;
    if (isLinkLocal6(dst)) {
      // Link-local destinations are reached on the interface the conversation came in by.
      const eg = port;
      this.xmit(ctx, eg, this.neighbors.find(eg, 1, ...words4(dst)), 6, 0, dst, 0, slot, off, len, -1, false);
      return;
    }
    const t = this.lpm6.lookup(dst);
    const kind = t < 0 ? 0 : (this.tKind[t] as number);
    if (kind !== T_GW && kind !== T_ECMP && kind !== T_CONNECTED) {
      ctx.out.drop(slot);
      return;
    }
    const [eg, adj] = this.select6(t, b, off + 14, len - 14);
    if (len - 14 > (this.ifMtu[eg] as number)) {
      ctx.out.drop(slot);
      return;
    }
    this.xmit(ctx, eg, adj, 6, 0, dst, 0, slot, off, len, -1, false);
  }

  private local6(port: number, slot: number, off: number, tot: number, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const ip = off + 14;
    // Walk hop-by-hop, destination options and routing (segments left 0) headers to the upper layer.
    let nh = b[ip + 6] as number;
    let o = ip + 40;
    let nhField = ip + 6;
    const end = ip + tot;
    for (let k = 0; k < 8 && (nh === 0 || nh === 60 || nh === 43 || nh === 44); k++) {
      if (nh === 44) return this.drop(ctx, slot, port, 'reassembly');
      if (o + 8 > end) return this.drop(ctx, slot, port, 'malformed');
      if (nh === 43 && b[o + 3] !== 0) return this.drop(ctx, slot, port, 'unsupported');
      nhField = o;
      nh = b[o] as number;
      o += ((b[o + 1] as number) + 1) * 8;
    }
    if (o > end) return this.drop(ctx, slot, port, 'malformed');
    const l4len = end - o;
    if (nh === 58) {
      if (l4len < 8) return this.drop(ctx, slot, port, 'malformed');
      if (foldSum(sum16(b, o, l4len, pseudo6(b, ip, 58, l4len))) !== 0xffff) return this.drop(ctx, slot, port, 'localChecksum');
      const t = b[o] as number;
      if (t === 135 || t === 136) {
        if (o !== ip + 40) return this.consume(ctx, slot, 'nd');
        return this.nd(port, slot, off, tot, o, ctx);
      }
      if (t !== 128) return this.consume(ctx, slot, 'icmp');
      // Echo reply (icmpv6_echo_reply): from the address pinged, hop limit ttl, traffic class
      // reflected, flow label 0 (Linux with auto_flowlabels=0; with auto flow labels it hashes the
      // flow with a random key).
      const src = b.slice(ip + 8, ip + 24);
      const me = b.slice(ip + 24, ip + 40);
      const tc = (((b[ip] as number) & 0x0f) << 4) | ((b[ip + 1] as number) >>> 4);
      const no = o - 40 - 14;
      this.ip6Header(b, no + 14, tc, 0, l4len, 58, this.cfg.ttl, me, src);
      b[o] = 129;
      put16(b, o + 2, 0);
      put16(b, o + 2, cksum(b, o, l4len, pseudo6(b, no + 14, 58, l4len)));
      this.gen.echoReply6++;
      this.c.local++;
      this.localKinds.echo++;
      this.output6(ctx, slot, no, 14 + 40 + l4len, src, port);
      return;
    }
    if (nh === 59) return this.consume(ctx, slot, 'other');
    if (nh === 17) {
      if (l4len < 8) return this.drop(ctx, slot, port, 'malformed');
      const ulen = ((b[o + 4] as number) << 8) | (b[o + 5] as number);
      if (ulen < 8 || ulen > l4len || foldSum(sum16(b, o, ulen, pseudo6(b, ip, 17, ulen))) !== 0xffff) return this.drop(ctx, slot, port, 'localChecksum');
      this.icmpError6(ctx, port, slot, off, tot, 1, 4, 0);
      return this.drop(ctx, slot, port, 'unknownPort');
    }
    if (nh === 6 && o === ip + 40) return this.tcpReset(port, slot, off, tot, 6, 40, ctx);
    // ip6_input: unknown next header → parameter problem, code 1, pointing at the next-header field.
    this.icmpError6(ctx, port, slot, off, tot, 4, 1, nhField - ip);
    return this.drop(ctx, slot, port, 'unsupported');
  }

  // --- ICMP errors -------------------------------------------------------------------------------

  // icmp_global_allow + inet_peer_xrlim_allow.
  private rateAllow(key: string, now: number, timeoutMs: number): boolean {
    const ic = this.cfg.icmp;
    if (ic.msgsPerSec > 0 && this.globalCredit <= 0) {
      const delta = Math.min(now - this.globalStamp, 1000);
      const incr = delta >= 20 ? Math.floor((ic.msgsPerSec * delta) / 1000) : 0;
      if (incr <= 0) return false;
      this.globalStamp = now;
      this.globalCredit = Math.min(this.globalCredit + incr, ic.msgsBurst);
    }
    if (timeoutMs > 0) {
      let p = this.peers.get(key);
      if (!p) {
        if (this.peers.size >= 65536) this.peers.clear();
        p = { tokens: 0, last: now - 60_000 };
        this.peers.set(key, p);
      }
      let tok = p.tokens + (now - p.last);
      p.last = now;
      if (tok > 6 * timeoutMs) tok = 6 * timeoutMs;
      if (tok < timeoutMs) {
        p.tokens = tok;
        return false;
      }
      p.tokens = tok - timeoutMs;
    }
    if (ic.msgsPerSec > 0) this.globalCredit--;
    return true;
  }

  /**
   * icmp_send: an error about the IPv4 datagram at off+14 (`tot` bytes), built in front of it in
   * the same slot when the headroom allows (the quoted datagram does not move), else in a copy.
   * `local`: the datagram was addressed to us (the error comes from that address).
   */
  private icmpError4(ctx: ProcessContext, port: number, slot: number, off: number, tot: number, type: number, code: number, info: number, local: boolean): void {
    if (!this.cfg.icmp.errors) return;
    const pool = ctx.pool;
    const b = pool.bytes;
    const ip = off + 14;
    const hl = ((b[ip] as number) & 15) * 4;
    const src = u32(b, ip + 12);
    const dst = u32(b, ip + 16);
    // Never about non-first fragments, ICMP errors, or packets from/to group addresses.
    if ((((b[ip + 6] as number) & 0x1f) << 8 | (b[ip + 7] as number)) !== 0) return;
    if (src === 0 || src >>> 28 === 0xe || src === 0xffffffff || dst >>> 28 === 0xe) return;
    if (b[ip + 9] === 1 && tot >= hl + 1) {
      const it = b[ip + hl] as number;
      if (it > 18 || it === 3 || it === 4 || it === 5 || it === 11 || it === 12) return;
    }
    const back = this.lpm4.lookup(src);
    const bk = back < 0 ? 0 : (this.tKind[back] as number);
    if (bk !== T_GW && bk !== T_ECMP && bk !== T_CONNECTED) return;
    const limited = ((this.cfg.icmp.ratemask >>> type) & 1) === 1 && !(type === 3 && code === 4);
    if (limited && !this.rateAllow(`4/${src}`, ctx.now, this.cfg.icmp.ratelimitMs)) {
      this.icmpRateLimited++;
      return;
    }
    const [eg, , nh] = this.select4(back, b, ip, tot, hl, src);
    const room = Math.min(576, this.ifMtu[eg] as number) - 28;
    const dlen = Math.min(tot, room);
    const from = local ? dst : this.source4On(eg, nh);
    const tos = ((b[ip + 1] as number) & 0x1e) | 0xc0;
    const s = pool.alloc();
    if (s < 0) return;
    const no = pool.frameOffset(s);
    b.copyWithin(no + 42, ip, ip + dlen);
    const nip = no + 14;
    this.ip4Header(b, nip, tos, 28 + dlen, 0, 1, from, src);
    const ic = nip + 20;
    b[ic] = type;
    b[ic + 1] = code;
    put16(b, ic + 2, 0);
    put32(b, ic + 4, type === 3 && code === 4 ? info & 0xffff : type === 12 ? (info & 0xff) << 24 : 0);
    put16(b, ic + 2, cksum(b, ic, 8 + dlen));
    this.gen.icmpError4++;
    this.output4(ctx, s, no, 14 + 28 + dlen, src);
  }

  /** icmp6_send: as icmpError4 for the IPv6 packet at off+14; the message fits in 1280 bytes. */
  private icmpError6(ctx: ProcessContext, port: number, slot: number, off: number, tot: number, type: number, code: number, info: number): void {
    if (!this.cfg.icmp.errors) return;
    const pool = ctx.pool;
    const b = pool.bytes;
    const ip = off + 14;
    const srcA = b.slice(ip + 8, ip + 24);
    if (isUnspecified6(srcA, 0) || srcA[0] === 0xff) return;
    if (b[ip + 24] === 0xff && !(type === 2 || (type === 4 && code === 2))) return;
    if (this.isIcmp6Error(b, ip, tot)) return;
    const dstA = b.slice(ip + 24, ip + 40);
    let eg = port;
    let adj = -1;
    let plen = 128;
    if (!isLinkLocal6(srcA)) {
      const back = this.lpm6.lookup(srcA);
      const bk = back < 0 ? 0 : (this.tKind[back] as number);
      if (bk !== T_GW && bk !== T_ECMP && bk !== T_CONNECTED) return;
      [eg, adj] = this.select6(back, b, ip, tot);
      plen = this.depth6(srcA);
    }
    // icmpv6_xrlim_allow: packet too big is never limited; the interval shrinks for short prefixes.
    if (type !== 2) {
      const tmo = plen < 128 ? this.cfg.icmp.ratelimitMs >> ((128 - plen) >> 5) : this.cfg.icmp.ratelimitMs;
      if (!this.rateAllow(`6/${hex16(srcA)}`, ctx.now, tmo)) {
        this.icmpRateLimited++;
        return;
      }
    }
    const ownDst = this.own6OnIf.has(`${port}/${hex16(dstA)}`) || (!isLinkLocal6(dstA) && this.lpm6.lookup(dstA) === this.localTarget);
    const from = ownDst ? dstA : this.source6On(eg, srcA, 0);
    const dlen = Math.min(tot, 1280 - 48);
    const s = pool.alloc();
    if (s < 0) return;
    const no = pool.frameOffset(s);
    b.copyWithin(no + 62, ip, ip + dlen);
    const nip = no + 14;
    this.ip6Header(b, nip, 0, 0, 8 + dlen, 58, this.cfg.ttl, from, srcA);
    const ic = nip + 40;
    b[ic] = type;
    b[ic + 1] = code;
    put16(b, ic + 2, 0);
    put32(b, ic + 4, info >>> 0);
    put16(b, ic + 2, cksum(b, ic, 8 + dlen, pseudo6(b, nip, 58, 8 + dlen)));
    this.gen.icmpError6++;
    b[no + 12] = 0x86;
    b[no + 13] = 0xdd;
    if (adj >= 0 || !isLinkLocal6(srcA)) {
      if ((14 + 48 + dlen) - 14 > (this.ifMtu[eg] as number)) { ctx.out.drop(s); return; }
      this.xmit(ctx, eg, adj, 6, 0, srcA, 0, s, no, 14 + 48 + dlen, -1, false);
    } else this.output6(ctx, s, no, 14 + 48 + dlen, srcA, port);
  }

  private isIcmp6Error(b: Uint8Array, ip: number, tot: number): boolean {
    let nh = b[ip + 6] as number;
    let o = ip + 40;
    const end = ip + tot;
    for (let k = 0; k < 8 && (nh === 0 || nh === 60 || nh === 43 || nh === 44); k++) {
      if (o + 8 > end) return false;
      if (nh === 44) {
        if (((((b[o + 2] as number) << 8) | (b[o + 3] as number)) & 0xfff8) !== 0) return false;
        nh = b[o] as number;
        o += 8;
        continue;
      }
      nh = b[o] as number;
      o += ((b[o + 1] as number) + 1) * 8;
    }
    // ICMPv6 errors are types 0..127 (RFC 4443 §2.1); an unparseable header counts as one.
    return nh === 58 && (o >= end || (b[o] as number) < 128);
  }

  private depth6(a: Uint8Array): number {
    const nodes = this.lpm6.nodes;
    let e = nodes[((a[0] as number) << 8) | (a[1] as number)] as number;
    let k = 2;
    while (e & 0x80000000) e = nodes[((e & 0x7fffffff) << 8) + (a[k++] as number)] as number;
    return (e >>> 23) & 0xff;
  }

  // --- timers ------------------------------------------------------------------------------------

  /** Neighbour timers: probe retransmissions, DELAY → PROBE, failures (held frames get ICMP host unreachable), ageing, garbage collection. */
  tick(ctx: ProcessContext): void {
    const now = ctx.now;
    if (this.rebaseAt === this.rebaseAt) this.rebase(now);
    const nb = this.neighbors;
    const p = this.cfg.neighbor;
    for (const id of nb.ids()) {
      const st = nb.state[id] as number;
      if (st === NUD.PERMANENT) continue;
      if (st === NUD.REACHABLE && (nb.fastUntil[id] as number) <= now) {
        // neigh_timer_handler: used within the last delayMs → DELAY, else STALE.
        if ((nb.touched[id] as number) + p.delayMs > now) {
          nb.state[id] = NUD.DELAY;
          nb.timer[id] = now + p.delayMs;
        } else nb.state[id] = NUD.STALE;
        continue;
      }
      if ((nb.timer[id] as number) > now) {
        if ((st === NUD.STALE || st === NUD.FAILED || st === NUD.NONE) && nb.refs[id] === 0 && (nb.touched[id] as number) + p.gcStaleMs <= now && nb.holdCount[id] === 0) nb.remove(id);
        continue;
      }
      if (st === NUD.DELAY) {
        // Confirmed during the delay (a reply or solicited NA) → REACHABLE, else probe.
        if ((nb.confirmed[id] as number) + p.delayMs >= now) {
          nb.state[id] = NUD.REACHABLE;
          nb.fastUntil[id] = (nb.confirmed[id] as number) + p.reachableMs;
          nb.timer[id] = Infinity;
        } else if (p.unicastProbes > 0) {
          nb.state[id] = NUD.PROBE;
          nb.probes[id] = 0;
          // Not sent (no free buffer): the PROBE branch sends it at the next tick.
          if (this.solicit(ctx, id, true, null, 0)) {
            nb.probes[id] = 1;
            nb.timer[id] = now + p.retransMs;
          }
        } else this.fail(ctx, id);
        continue;
      }
      if (st === NUD.PROBE) {
        if ((nb.probes[id] as number) < p.unicastProbes) {
          // A probe not sent (no free buffer) is not counted; the timer stays due.
          if (this.solicit(ctx, id, true, null, 0)) {
            nb.probes[id] = (nb.probes[id] as number) + 1;
            nb.timer[id] = now + p.retransMs;
          }
        } else this.fail(ctx, id);
        continue;
      }
      if (st === NUD.INCOMPLETE) {
        if ((nb.probes[id] as number) < p.multicastProbes) {
          if (this.solicit(ctx, id, false, null, 0)) {
            nb.probes[id] = (nb.probes[id] as number) + 1;
            nb.timer[id] = now + p.retransMs;
          }
        } else this.fail(ctx, id);
      }
    }
  }

  // neigh_invalidate: the entry fails; each held frame gets ICMP host unreachable (arp_error_report / ndisc_error_report).
  private fail(ctx: ProcessContext, id: number): void {
    const nb = this.neighbors;
    const pool = ctx.pool;
    nb.state[id] = NUD.FAILED;
    nb.mac[id] = -1;
    nb.fastUntil[id] = 0;
    nb.timer[id] = Infinity;
    nb.touched[id] = ctx.now;
    this.neighborsFailed++;
    for (;;) {
      const buf = nb.popHold(id);
      if (buf < 0) break;
      const hp = nb.holdPort[buf] as number;
      const transit = hp >= 0;
      const inPort = transit ? hp : -1 - hp;
      if (transit) {
        this.queuedTransit--;
        this.c.dropped++;
        this.drops.neighborFailed++;
        this.pc[inPort * 5 + 4] = (this.pc[inPort * 5 + 4] as number) + 1;
      }
      const s = pool.alloc();
      if (s >= 0) {
        const o = pool.frameOffset(s);
        const l = nb.holdLen[buf] as number;
        pool.bytes.set(nb.holdBytes.subarray(buf * nb.holdBufferSize, buf * nb.holdBufferSize + l), o);
        const et = ((pool.bytes[o + 12] as number) << 8) | (pool.bytes[o + 13] as number);
        if (et === ETH_IP4) this.icmpError4(ctx, inPort, s, o, l - 14, 3, 1, 0, false);
        else this.icmpError6(ctx, inPort, s, o, l - 14, 1, 3, 0);
        ctx.out.drop(s);
      }
      nb.freeHold(buf);
    }
    if (nb.refs[id] === 0) nb.remove(id);
  }

  private gcNeighbors(now: number, force: boolean): void {
    const nb = this.neighbors;
    for (const id of nb.ids()) {
      const st = nb.state[id] as number;
      if (st === NUD.PERMANENT || nb.refs[id] !== 0 || nb.holdCount[id] !== 0) continue;
      if (st === NUD.STALE || st === NUD.FAILED || st === NUD.NONE || (force && (nb.touched[id] as number) + 5000 <= now)) nb.remove(id);
    }
  }

  private rebase(now: number): void {
    const nb = this.neighbors;
    for (const id of nb.ids()) {
      nb.confirmed[id] = (nb.confirmed[id] as number) + now;
      nb.touched[id] = (nb.touched[id] as number) + now;
      if (Number.isFinite(nb.fastUntil[id] as number) && (nb.fastUntil[id] as number) !== 0) nb.fastUntil[id] = (nb.fastUntil[id] as number) + now;
      if (Number.isFinite(nb.timer[id] as number)) nb.timer[id] = (nb.timer[id] as number) + now;
    }
    this.rebaseAt = NaN;
  }

  // --- state and counters ------------------------------------------------------------------------

  counters(): Counters {
    return {
      ...this.c,
      queued: this.queuedTransit,
      drops: { ...this.drops },
      local: this.c.local,
      localKinds: { ...this.localKinds },
      generated: { ...this.gen },
      icmpRateLimited: this.icmpRateLimited,
      fragmentedPackets: this.fragmentedPackets,
      neighborsFailed: this.neighborsFailed,
      neighbors: this.neighbors.size,
      held: this.neighbors.heldNow,
      routes: this.routes.size,
      prefixes4: this.lpm4.size,
      prefixes6: this.lpm6.size,
      interfaces: this.ports.map((p, i) => ({
        rxPackets: this.pc[i * 5] as number,
        rxBytes: this.pc[i * 5 + 1] as number,
        txPackets: this.pc[i * 5 + 2] as number,
        txBytes: this.pc[i * 5 + 3] as number,
        drops: this.pc[i * 5 + 4] as number,
      })),
    };
  }

  /** The neighbour cache as rows (for show commands and tests). */
  neighborRows(now: number): { interface: string; address: string; mac: string | null; state: string; ageMs: number }[] {
    const nb = this.neighbors;
    return nb.ids().map((id) => ({
      interface: this.ifs[nb.iface(id)]?.name ?? '?',
      address: nb.family(id) === 4 ? formatIpv4(nb.k0[id] as number) : formatIpv6(addrOf(nb, id)),
      mac: (nb.mac[id] as number) >= 0 && nb.state[id] !== NUD.INCOMPLETE ? formatMac(nb.mac[id] as number) : null,
      state: NUD_NAMES[nb.state[id] as number] ?? '?',
      ageMs: Math.max(0, now - (nb.confirmed[id] as number)),
    })).sort((a, b) => a.interface.localeCompare(b.interface) || a.address.localeCompare(b.address));
  }

  /**
   * Routes (the FIB) and the neighbour cache with each entry's age relative to the newest event,
   * plus the ICMP ID counter. Held frames are not exported (they are in flight).
   */
  exportState(): Plain {
    const nb = this.neighbors;
    let ref = 0;
    for (const id of nb.ids()) ref = Math.max(ref, nb.touched[id] as number, nb.confirmed[id] as number);
    const neighbors: Plain[] = [];
    for (const id of nb.ids()) {
      const st = nb.state[id] as number;
      if (st === NUD.NONE || st === NUD.INCOMPLETE || st === NUD.FAILED || (nb.mac[id] as number) < 0) continue;
      neighbors.push({
        interface: this.ifs[nb.iface(id)]?.name ?? '',
        address: nb.family(id) === 4 ? formatIpv4(nb.k0[id] as number) : formatIpv6(addrOf(nb, id)),
        mac: formatMac(nb.mac[id] as number),
        state: NUD_NAMES[st] ?? 'stale',
        // Whole ms: times are performance.now() fractions, importState takes an integer.
        ageMs: st === NUD.PERMANENT ? 0 : Math.max(0, Math.round(ref - (nb.confirmed[id] as number))),
      });
    }
    return { routes: this.routeSpecs() as unknown as Plain[], neighbors, ipId: this.ipId };
  }

  /** Replaces routes and learned neighbours; ages are rebased on the importer's clock at its next process/tick. */
  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['routes', 'neighbors', 'ipId']);
    const routes = parseRoutes(o.value['routes'] ?? [], this.ifs, 'state.routes');
    const byName = new Map(this.ifs.map((f, i) => [f.name, i]));
    const rows = o.opt('neighbors', arrayOf((v, p) => {
      const r = strictObject(v, p, ['interface', 'address', 'mac', 'state', 'ageMs']);
      const name = r.req('interface', str());
      const iface = byName.get(name);
      if (iface === undefined) throw new ConfigError(`${p}.interface`, `no interface named '${name}'`);
      const text = r.req('address', str());
      const a6 = text.includes(':') ? parseIpv6(text) : null;
      const a4 = text.includes(':') ? -1 : parseIpv4(text);
      if (!a6 && a4 < 0) throw new ConfigError(`${p}.address`, `bad address '${text}'`);
      return { iface, a4, a6, mac: r.req('mac', macParse()), state: r.req('state', oneOf(['reachable', 'stale', 'delay', 'probe', 'permanent'] as const)), age: r.req('ageMs', int(0, Number.MAX_SAFE_INTEGER)) };
    }), []);
    const ipId = o.opt('ipId', int(0, 0xffff), this.ipId);
    this.applyRoutes(routes);
    const nb = this.neighbors;
    for (const id of nb.ids()) {
      if (nb.state[id] === NUD.PERMANENT && this.staticKeys.has(id)) continue;
      while (nb.popHold(id) >= 0) { /* in-flight frames are not migrated */ }
      nb.state[id] = NUD.NONE;
      nb.mac[id] = -1;
      nb.fastUntil[id] = 0;
      nb.timer[id] = Infinity;
      if (nb.refs[id] === 0) nb.remove(id);
    }
    this.queuedTransit = 0;
    for (const r of rows) {
      const id = r.a6 ? nb.ensure(r.iface, 6, words(r.a6)) : nb.ensure(r.iface, 4, [r.a4]);
      nb.setMac(id, r.mac, this.ifs[r.iface]?.mac ?? 0, r.a6 ? ETH_IP6 : ETH_IP4);
      if (r.state === 'permanent') {
        nb.state[id] = NUD.PERMANENT;
        nb.fastUntil[id] = Infinity;
        continue;
      }
      const reachable = r.state === 'reachable' && r.age < this.cfg.neighbor.reachableMs;
      nb.state[id] = reachable ? NUD.REACHABLE : NUD.STALE;
      nb.confirmed[id] = -r.age;
      nb.touched[id] = -r.age;
      nb.fastUntil[id] = reachable ? this.cfg.neighbor.reachableMs - r.age : 0;
      nb.timer[id] = Infinity;
    }
    this.ipId = ipId;
    this.rebaseAt = 0;
  }
}

const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

function isUnspecified6(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 16; i++) if (b[o + i] !== 0) return false;
  return true;
}
function isLoopback6(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 15; i++) if (b[o + i] !== 0) return false;
  return b[o + 15] === 1;
}
function words(a: Uint8Array, o = 0): number[] {
  return [u32(a, o), u32(a, o + 4), u32(a, o + 8), u32(a, o + 12)];
}
function words4(a: Uint8Array): [number, number, number, number] {
  return [u32(a, 0), u32(a, 4), u32(a, 8), u32(a, 12)];
}
function addrOf(nb: NeighborTable, id: number): Uint8Array {
  const a = new Uint8Array(16);
  put32(a, 0, nb.k0[id] as number);
  put32(a, 4, nb.k1[id] as number);
  put32(a, 8, nb.k2[id] as number);
  put32(a, 12, nb.k3[id] as number);
  return a;
}

export const routerFactory: FunctionFactory = {
  kind: 'router',
  stateCarriedByPreCopy: true,
  summary: 'IPv4/IPv6 router: LPM (DIR-24-8, trie), ECMP, ARP/ND with NUD, ICMP errors and rate limits, fragmentation, as Linux forwards',
  create: (config: unknown) => new Router(parseRouterConfig(config)),
  ports: (config: unknown) => parseRouterConfig(config).interfaces.map((f) => ({ name: f.name })),
};
