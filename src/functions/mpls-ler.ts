/**
 * MPLS label edge router. Ingress: an IP packet's destination is looked up by longest-prefix
 * match (DIR-24-8 for IPv4, multibit trie for IPv6) in a table that maps each prefix either to a
 * FEC — a label stack to push toward a next hop (the FEC → NHLFE map of RFC 3031 §3.10) — or to a
 * plain IP route. Egress: a frame whose top label is an explicit null (0, 2) or one of this
 * router's local labels has that label popped and is forwarded by IP lookup; frames already
 * popped upstream (penultimate-hop popping) arrive as IP and take the same lookup.
 *
 * TTL, one decrement per router (RFC 3443): at ingress the IP TTL is decremented (RFC 1624
 * checksum update) and copied into pushed labels in the uniform model, or the labels start at
 * 255 in the pipe model. At egress the uniform model sets the IP TTL to min(IP, label − 1), the
 * pipe model decrements the IP TTL alone. A TTL that would reach 0 is dropped and counted.
 * Pushed labels take their TC from the IP precedence (top 3 bits of the TOS / traffic class).
 *
 * ARP and neighbour discovery are not handled here: next hops are given as MAC addresses.
 */
import type { Batch } from '../packet/pool.js';
import { etherType } from '../packet/ethernet.js';
import * as ip4 from '../packet/ipv4.js';
import * as ip6 from '../packet/ipv6.js';
import * as mpls from '../packet/mpls.js';
import { headerChecksumOk } from '../packet/ipv4.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, formatIpv4, formatIpv6, int, mac, oneOf, prefix, strictObject, type Prefix } from './config.js';
import { Lpm4 } from './lib/lpm4.js';
import { Lpm6 } from './lib/lpm6.js';
import { ETHERTYPE_MPLS, MAX_PUSH, interfaceRef, outLabel, parseInterfaces, putMac, setIpv4Ttl, writeEthernet, type InterfaceConfig, type TtlModel } from './mpls.js';

export interface LerRoute {
  readonly prefix: Prefix;
  /** Labels to push, outermost first; empty = plain IP route. */
  readonly labels: readonly number[];
  readonly interface: string;
  readonly nextHop: number;
}

export interface LerConfig {
  readonly interfaces: readonly InterfaceConfig[];
  readonly ttlModel: TtlModel;
  readonly routes: readonly LerRoute[];
  readonly localLabels: readonly number[];
}

/**
 * Parses an LER configuration: `fec` entries push labels, `routes` forward plain IP.
 *
 * @example
 * parseLerConfig({
 *   interfaces: [{ name: 'ce', mac: '02:00:00:00:03:01' }, { name: 'core', mac: '02:00:00:00:03:02' }],
 *   fec: [{ prefix: '198.51.100.0/24', labels: [1000], interface: 'core', nextHop: '02:00:00:00:04:01' }],
 *   routes: [{ prefix: '192.0.2.0/24', interface: 'ce', nextHop: '02:00:00:00:05:01' }],
 *   localLabels: [2000],
 * });
 */
export function parseLerConfig(config: unknown): LerConfig {
  const o = strictObject(config, '', ['interfaces', 'ttlModel', 'fec', 'routes', 'localLabels']);
  const interfaces = parseInterfaces(o);
  const ttlModel = o.opt('ttlModel', oneOf(['uniform', 'pipe'] as const), 'uniform');
  const fec = o.opt('fec', arrayOf((v, p): LerRoute => {
    const e = strictObject(v, p, ['prefix', 'labels', 'interface', 'nextHop']);
    const labels = e.req('labels', arrayOf(outLabel, 1, MAX_PUSH));
    labels.forEach((l, i) => {
      if (l === 3) throw new ConfigError(`${p}.labels[${i}]`, 'implicit null cannot be pushed (use a plain route)');
    });
    return { prefix: e.req('prefix', prefix()), labels, interface: e.req('interface', interfaceRef(interfaces)), nextHop: e.req('nextHop', mac()) };
  }), []);
  const routes = o.opt('routes', arrayOf((v, p): LerRoute => {
    const e = strictObject(v, p, ['prefix', 'interface', 'nextHop']);
    return { prefix: e.req('prefix', prefix()), labels: [], interface: e.req('interface', interfaceRef(interfaces)), nextHop: e.req('nextHop', mac()) };
  }), []);
  const seen = new Map<string, string>();
  [...fec.map((r, i) => [r, `fec[${i}].prefix`] as const), ...routes.map((r, i) => [r, `routes[${i}].prefix`] as const)].forEach(([r, path]) => {
    const key = `${r.prefix.family === 4 ? formatIpv4(r.prefix.addr) : formatIpv6(r.prefix.addr)}/${r.prefix.len}`;
    const prev = seen.get(key);
    if (prev) throw new ConfigError(path, `${key} already given at ${prev}`);
    seen.set(key, path);
  });
  const localLabels = o.opt('localLabels', arrayOf((v, p) => {
    const l = int(16, 0xfffff)(v, p);
    return l;
  }), []);
  return { interfaces, ttlModel, routes: [...fec, ...routes], localLabels };
}

/**
 * The label edge router; ports are its interfaces.
 *
 * @example
 * const ler = mplsLerFactory.create(config);
 * ler.process(0, batch, ctx); // IP in → labelled out (or routed); labelled in → popped, routed
 */
export class MplsLer implements NetworkFunction {
  readonly kind = 'mpls-ler';
  readonly ports: readonly PortDecl[];
  private readonly pipe: boolean;
  private readonly fib4 = new Lpm4();
  private readonly fib6 = new Lpm6();
  private readonly local = new Uint8Array(1 << 20);
  private readonly outPort: Int32Array;
  private readonly nLabels: Int32Array;
  private readonly labels: Int32Array;
  private readonly macs: Uint8Array;
  private readonly nhPackets: Float64Array;
  private readonly routes: readonly LerRoute[];
  private c = { in: 0, out: 0, dropped: 0, pushed: 0, popped: 0, routed: 0, ttlExpired: 0, noRoute: 0, malformed: 0, unknownLabel: 0, notBottom: 0, notIp: 0, noHeadroom: 0 };

  constructor(cfg: LerConfig) {
    this.pipe = cfg.ttlModel === 'pipe';
    this.ports = cfg.interfaces.map((i) => ({ name: i.name }));
    this.routes = cfg.routes;
    const n = cfg.routes.length;
    this.outPort = new Int32Array(n);
    this.nLabels = new Int32Array(n);
    this.labels = new Int32Array(n * MAX_PUSH);
    this.macs = new Uint8Array(n * 12);
    this.nhPackets = new Float64Array(n);
    cfg.routes.forEach((r, k) => {
      const port = cfg.interfaces.findIndex((x) => x.name === r.interface);
      this.outPort[k] = port;
      this.nLabels[k] = r.labels.length;
      r.labels.forEach((l, q) => (this.labels[k * MAX_PUSH + q] = l));
      putMac(this.macs, k * 12, r.nextHop);
      putMac(this.macs, k * 12 + 6, (cfg.interfaces[port] as InterfaceConfig).mac);
      if (r.prefix.family === 4) this.fib4.insert(r.prefix.addr, r.prefix.len, k);
      else this.fib6.insert(r.prefix.addr, r.prefix.len, k);
    });
    this.local[0] = 1;
    this.local[2] = 1;
    for (const l of cfg.localLabels) this.local[l] = 1;
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const { pool, out } = ctx;
    const b = pool.bytes;
    const n = batch.count;
    const c = this.c;
    c.in += n;
    for (let i = 0; i < n; i++) {
      const slot = batch.slots[i] as number;
      let off = batch.offs[i] as number;
      let len = batch.lens[i] as number;
      if (len < 14) {
        this.drop(out, slot);
        c.malformed++;
        continue;
      }
      const type = etherType(b, off);
      let labelTtl = 256; // > any TTL: no label popped
      if (type === ETHERTYPE_MPLS) {
        if (len < 19) {
          this.drop(out, slot);
          c.malformed++;
          continue;
        }
        const l = off + 14;
        const label = mpls.label(b, l);
        if (this.local[label] !== 1) {
          this.drop(out, slot);
          c.unknownLabel++;
          continue;
        }
        if (((b[l + 2] as number) & 1) === 0) {
          // More labels below: this edge terminates single-label LSPs only.
          this.drop(out, slot);
          c.notBottom++;
          continue;
        }
        labelTtl = b[l + 3] as number;
        if (labelTtl <= 1) {
          this.drop(out, slot);
          c.ttlExpired++;
          continue;
        }
        off += 4;
        len -= 4;
        c.popped++;
      } else if (type !== 0x0800 && type !== 0x86dd) {
        this.drop(out, slot);
        c.notIp++;
        continue;
      }
      const ip = off + 14;
      const ver = len > 14 ? (b[ip] as number) >>> 4 : 0;
      let k: number;
      let ttl: number;
      let prec: number;
      if (ver === 4 && (type !== 0x86dd)) {
        const hl = ((b[ip] as number) & 0x0f) << 2;
        const tl = ip4.totalLength(b, ip);
        if (len < 34 || hl < 20 || 14 + hl > len || tl < hl || 14 + tl > len || !headerChecksumOk(b, ip)) {
          this.drop(out, slot);
          c.malformed++;
          continue;
        }
        ttl = this.newTtl(b[ip + 8] as number, labelTtl);
        if (ttl < 1) {
          this.drop(out, slot);
          c.ttlExpired++;
          continue;
        }
        k = this.fib4.lookupBytes(b, ip + 16);
        if (k < 0) {
          this.drop(out, slot);
          c.noRoute++;
          continue;
        }
        setIpv4Ttl(b, ip, ttl);
        prec = (b[ip + 1] as number) >>> 5;
        this.forward(ctx, slot, off, len, k, ttl, prec, 0x0800);
      } else if (ver === 6 && type !== 0x0800) {
        const pl = ip6.payloadLength(b, ip);
        if (len < 54 || 54 + pl > len) {
          this.drop(out, slot);
          c.malformed++;
          continue;
        }
        ttl = this.newTtl(b[ip + 7] as number, labelTtl);
        if (ttl < 1) {
          this.drop(out, slot);
          c.ttlExpired++;
          continue;
        }
        k = this.fib6.lookupBytes(b, ip + 24);
        if (k < 0) {
          this.drop(out, slot);
          c.noRoute++;
          continue;
        }
        b[ip + 7] = ttl;
        prec = (((b[ip] as number) & 0x0f) << 4 | ((b[ip + 1] as number) >>> 4)) >>> 5;
        this.forward(ctx, slot, off, len, k, ttl, prec, 0x86dd);
      } else {
        this.drop(out, slot);
        c.malformed++;
      }
    }
  }

  // This router's hop: decrement, or at an egress pop in the uniform model take min(IP, label − 1).
  private newTtl(ipTtl: number, labelTtl: number): number {
    if (labelTtl === 256 || this.pipe) return ipTtl - 1;
    return Math.min(ipTtl, labelTtl - 1);
  }

  private drop(out: ProcessContext['out'], slot: number): void {
    out.drop(slot);
    this.c.dropped++;
  }

  private forward(ctx: ProcessContext, slot: number, off: number, len: number, k: number, ttl: number, prec: number, ipType: number): void {
    const b = ctx.pool.bytes;
    const nl = this.nLabels[k] as number;
    if (nl === 0) {
      writeEthernet(b, off, this.macs, k * 12, ipType);
      this.c.routed++;
    } else {
      if (off - 4 * nl < ctx.pool.slotStart(slot)) {
        this.drop(ctx.out, slot);
        this.c.noHeadroom++;
        return;
      }
      off -= 4 * nl;
      len += 4 * nl;
      writeEthernet(b, off, this.macs, k * 12, ETHERTYPE_MPLS);
      const t = this.pipe ? 255 : ttl;
      for (let q = 0; q < nl; q++) {
        const lab = this.labels[k * MAX_PUSH + q] as number;
        const at = off + 14 + 4 * q;
        b[at] = lab >>> 12;
        b[at + 1] = (lab >>> 4) & 0xff;
        b[at + 2] = ((lab & 0xf) << 4) | (prec << 1) | (q === nl - 1 ? 1 : 0);
        b[at + 3] = t;
      }
      this.c.pushed++;
    }
    this.nhPackets[k] = (this.nhPackets[k] as number) + 1;
    this.c.out++;
    ctx.out.send(this.outPort[k] as number, slot, off, len);
  }

  counters(): Counters {
    return {
      ...this.c,
      routes: this.routes.map((r, k) => ({ packets: this.nhPackets[k] as number, labels: r.labels.length })),
    };
  }

  /** Tables are configuration; no dynamic state. */
  exportState(): Plain {
    return {};
  }

  importState(state: Plain): void {
    strictObject(state, 'state', []);
  }
}

export const mplsLerFactory: FunctionFactory = {
  kind: 'mpls-ler',
  summary: 'MPLS label edge router: IPv4/IPv6 prefix → label push at ingress, pop and IP forwarding at egress',
  create: (config: unknown) => new MplsLer(parseLerConfig(config)),
  ports: (config: unknown) => parseLerConfig(config).interfaces.map((i) => ({ name: i.name })),
};
