/**
 * Layer-4 load balancer in the manner of Maglev (NSDI 2016): packets to a virtual IP (VIP) are
 * spread over backends by Maglev consistent hashing of the 5-tuple, and a connection table pins
 * every connection to its backend, so that connections survive changes of the backend set (a
 * backend added, or one marked down: only connections of a dead backend move). Backends are
 * marked up or down at run time (`setBackendUp`).
 *
 * Two forwarding modes:
 * - `dsr` (default, direct server return): only the destination MAC is rewritten to the
 *   backend's; the backends own the VIP on a loopback interface and answer clients directly. The
 *   IP packet is untouched (no checksum work), the balancer sees one direction only and its
 *   state is just affinity, so it scales with inbound traffic alone — why large deployments
 *   (Maglev, Katran) do this. It needs the backends on the same L2 segment.
 * - `nat`: the destination IP is rewritten to the backend's (IPv4; IP and TCP/UDP checksums fixed
 *   up incrementally, RFC 1624) and replies, which must come back through the balancer on the
 *   server port, get the VIP back as source. For backends that cannot hold the VIP or sit behind
 *   a router.
 *
 * Port 0 faces clients, port 1 backends. Only TCP and UDP to the VIP (and its ports, if listed)
 * are balanced; other frames are dropped and counted.
 */
import type { Batch } from '../packet/pool.js';
import { etherType, src48 } from '../packet/ethernet.js';
import * as ip4 from '../packet/ipv4.js';
import * as ip6 from '../packet/ipv6.js';
import * as tcp from '../packet/tcp.js';
import { checksumUpdate32 } from '../packet/checksum.js';
import { rewriteDst, rewriteSrc } from '../packet/ipv4.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, bool, formatMac, int, ipv4, mac, oneOf, parseIpv4, parseIpv6, parseMac, str, strictObject } from './config.js';
import { FLOW_KEY_WORDS, FlowTable, keyAddrText, setKey4, setKey6 } from './lib/flowtable.js';
import { flowHash4, flowHashBytes } from './lib/flowhash.js';
import { Maglev } from './lib/maglev.js';
import { putMac } from './mpls.js';

export interface BackendConfig {
  readonly name: string;
  readonly mac: number;
  /** Backend address (nat mode); -1 when not given. */
  readonly ip: number;
  readonly up: boolean;
  readonly weight: number;
}

export interface LoadBalancerConfig {
  readonly ports: readonly [string, string];
  readonly mac: number;
  /** VIP: 16 bytes (IPv4 as ::ffff:a.b.c.d) and its family. */
  readonly vip: Uint8Array;
  readonly vip4: number;
  readonly family: 4 | 6;
  readonly vipPorts: readonly number[];
  readonly protocols: readonly ('tcp' | 'udp')[];
  readonly mode: 'dsr' | 'nat';
  readonly backends: readonly BackendConfig[];
  readonly tableSize: number;
  readonly maxConnections: number;
  readonly tcpTimeoutMs: number;
  readonly udpTimeoutMs: number;
  readonly closingTimeoutMs: number;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/**
 * Parses a load-balancer configuration.
 *
 * @example
 * parseLoadBalancerConfig({
 *   mac: '02:00:00:00:0a:01', vip: '192.0.2.10', vipPorts: [80], mode: 'dsr',
 *   backends: [{ name: 'web1', mac: '02:00:00:00:0b:01' }, { name: 'web2', mac: '02:00:00:00:0b:02' }],
 * });
 */
export function parseLoadBalancerConfig(config: unknown): LoadBalancerConfig {
  const o = strictObject(config, '', ['ports', 'mac', 'vip', 'vipPorts', 'protocols', 'mode', 'backends', 'tableSize', 'maxConnections', 'tcpTimeoutMs', 'udpTimeoutMs', 'closingTimeoutMs']);
  const ports = o.opt('ports', arrayOf(str(), 2, 2), ['client', 'server']);
  if (ports[0] === ports[1]) throw new ConfigError('ports[1]', 'port names must differ');
  const vipText = o.req('vip', str());
  let vip: Uint8Array;
  let family: 4 | 6;
  const v4 = parseIpv4(vipText);
  if (v4 >= 0) {
    family = 4;
    vip = new Uint8Array(16);
    vip[10] = 0xff;
    vip[11] = 0xff;
    vip[12] = v4 >>> 24;
    vip[13] = (v4 >>> 16) & 0xff;
    vip[14] = (v4 >>> 8) & 0xff;
    vip[15] = v4 & 0xff;
  } else {
    const v6 = parseIpv6(vipText);
    if (!v6) throw new ConfigError('vip', `expected an IPv4 or IPv6 address, got "${vipText}"`);
    family = 6;
    vip = v6;
  }
  const mode = o.opt('mode', oneOf(['dsr', 'nat'] as const), 'dsr');
  if (mode === 'nat' && family === 6) throw new ConfigError('mode', 'nat mode supports an IPv4 VIP only (use dsr for IPv6)');
  const backends = o.req('backends', arrayOf((v, p): BackendConfig => {
    const b = strictObject(v, p, ['name', 'mac', 'ip', 'up', 'weight']);
    const ip = b.maybe('ip', ipv4());
    if (mode === 'nat' && ip === undefined) throw new ConfigError(`${p}.ip`, 'is required in nat mode');
    return { name: b.req('name', str()), mac: b.req('mac', mac()), ip: ip ?? -1, up: b.opt('up', bool(), true), weight: b.opt('weight', int(1, 100), 1) };
  }, 1, 10_000));
  backends.forEach((b, i) => {
    if (backends.findIndex((x) => x.name === b.name) !== i) throw new ConfigError(`backends[${i}].name`, `duplicate backend '${b.name}'`);
  });
  const tableSize = o.opt('tableSize', int(3, 10_000_019), 65537);
  if (!isPrime(tableSize)) throw new ConfigError('tableSize', `must be prime (Maglev), got ${tableSize}`);
  if (tableSize < backends.length * 10) throw new ConfigError('tableSize', `should be at least 10 × the number of backends (${backends.length * 10})`);
  return {
    ports: [ports[0] as string, ports[1] as string],
    mac: o.req('mac', mac()),
    vip,
    vip4: family === 4 ? v4 : -1,
    family,
    vipPorts: o.opt('vipPorts', arrayOf(int(1, 65535), 1), []),
    protocols: o.opt('protocols', arrayOf(oneOf(['tcp', 'udp'] as const), 1, 2), ['tcp', 'udp']),
    mode,
    backends,
    tableSize,
    maxConnections: o.opt('maxConnections', int(1, 1 << 22), 262_144),
    tcpTimeoutMs: o.opt('tcpTimeoutMs', int(1, 86_400_000), 300_000),
    udpTimeoutMs: o.opt('udpTimeoutMs', int(1, 86_400_000), 30_000),
    closingTimeoutMs: o.opt('closingTimeoutMs', int(1, 86_400_000), 10_000),
  };
}

const C_CLOSING = 1;

/**
 * @example
 * const lb = loadBalancerFactory.create(config) as LoadBalancer;
 * lb.process(0, batch, ctx);          // client → VIP: out by port 1 to a backend
 * lb.setBackendUp('web2', false);     // web2's connections move, the others stay
 */
export class LoadBalancer implements NetworkFunction {
  readonly kind = 'loadbalancer';
  readonly ports: readonly PortDecl[];
  private readonly cfg: LoadBalancerConfig;
  private readonly maglev: Maglev;
  private readonly names: string[];
  private readonly up: boolean[];
  private readonly weights: number[];
  private readonly bMacs: Uint8Array;
  // Backend dst MAC + balancer src MAC as big-endian words, for four DataView stores per frame.
  private readonly bMacWords: Uint32Array;
  private readonly bIp: Int32Array;
  private readonly bPackets: Float64Array;
  private readonly bConns: Float64Array;
  private readonly portAllowed = new Uint8Array(65536);
  private readonly tcp: boolean;
  private readonly udp: boolean;
  private readonly conns: FlowTable;
  private readonly connBackend: Int32Array;
  private readonly connFlags: Uint8Array;
  private readonly clientMac: Float64Array;
  private readonly lbMac = new Uint8Array(6);
  private lastSweep = 0;
  private rebase = false;
  private c = { in: 0, out: 0, dropped: 0, malformed: 0, notVip: 0, noBackend: 0, newConnections: 0, reassigned: 0, tableFull: 0, expired: 0, replies: 0, unknownReply: 0 };

  constructor(cfg: LoadBalancerConfig) {
    this.cfg = cfg;
    this.ports = cfg.ports.map((name) => ({ name }));
    this.names = cfg.backends.map((b) => b.name);
    this.up = cfg.backends.map((b) => b.up);
    this.weights = cfg.backends.map((b) => b.weight);
    const n = cfg.backends.length;
    this.bMacs = new Uint8Array(n * 12);
    this.bMacWords = new Uint32Array(n * 4);
    this.bIp = new Int32Array(n);
    cfg.backends.forEach((b, i) => {
      putMac(this.bMacs, i * 12, b.mac);
      putMac(this.bMacs, i * 12 + 6, cfg.mac);
      const mv = new DataView(this.bMacs.buffer, i * 12, 12);
      this.bMacWords.set([mv.getUint32(0), mv.getUint16(4), mv.getUint32(6), mv.getUint16(10)], i * 4);
      this.bIp[i] = b.ip | 0;
    });
    putMac(this.lbMac, 0, cfg.mac);
    this.bPackets = new Float64Array(n);
    this.bConns = new Float64Array(n);
    if (cfg.vipPorts.length === 0) this.portAllowed.fill(1);
    for (const p of cfg.vipPorts) this.portAllowed[p] = 1;
    this.tcp = cfg.protocols.includes('tcp');
    this.udp = cfg.protocols.includes('udp');
    this.maglev = new Maglev(cfg.tableSize);
    this.maglev.build(this.names, this.up, this.weights);
    this.conns = new FlowTable(cfg.maxConnections, (from, to) => {
      this.connBackend[to] = this.connBackend[from] as number;
      this.connFlags[to] = this.connFlags[from] as number;
      this.clientMac[to] = this.clientMac[from] as number;
    });
    const cap = this.conns.capacity;
    this.connBackend = new Int32Array(cap);
    this.connFlags = new Uint8Array(cap);
    this.clientMac = new Float64Array(cap);
  }

  /** Marks a backend up or down and rebuilds the Maglev table; returns false for an unknown name. */
  setBackendUp(name: string, up: boolean): boolean {
    const i = this.names.indexOf(name);
    if (i < 0) return false;
    this.up[i] = up;
    this.maglev.build(this.names, this.up, this.weights);
    return true;
  }

  /** Backend names with their state. */
  backends(): { name: string; up: boolean }[] {
    return this.names.map((name, i) => ({ name, up: this.up[i] === true }));
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const { pool, out, now } = ctx;
    if (this.rebase) this.doRebase(now);
    const b = pool.bytes;
    const n = batch.count;
    const c = this.c;
    c.in += n;
    if (port !== 0) {
      for (let i = 0; i < n; i++) this.reply(b, batch.slots[i] as number, batch.offs[i] as number, batch.lens[i] as number, port, ctx);
      return;
    }
    const key = this.conns.scratch;
    const vip = this.cfg.vip;
    const is4 = this.cfg.family === 4;
    const vip4 = this.cfg.vip4;
    const nat = this.cfg.mode === 'nat';
    for (let i = 0; i < n; i++) {
      const slot = batch.slots[i] as number;
      const off = batch.offs[i] as number;
      const len = batch.lens[i] as number;
      if (len < 14) {
        this.drop(out, slot);
        c.malformed++;
        continue;
      }
      const type = etherType(b, off);
      const l3 = off + 14;
      let proto: number;
      let l4: number;
      let l4end: number;
      if (is4 && type === 0x0800) {
        const hl = ((b[l3] as number) & 0x0f) << 2;
        if (len < 34 || (b[l3] as number) >>> 4 !== 4 || hl < 20) {
          this.drop(out, slot);
          c.malformed++;
          continue;
        }
        const tl = ip4.totalLength(b, l3);
        const dst = ip4.dst(b, l3);
        if (dst !== vip4) {
          this.drop(out, slot);
          c.notVip++;
          continue;
        }
        if (tl < hl || 14 + tl > len) {
          this.drop(out, slot);
          c.malformed++;
          continue;
        }
        proto = b[l3 + 9] as number;
        l4 = l3 + hl;
        l4end = l3 + tl;
        // Non-first fragments carry no ports: they cannot be balanced per connection.
        if (ip4.fragOffset(b, l3) !== 0) {
          this.drop(out, slot);
          c.notVip++;
          continue;
        }
      } else if (!is4 && type === 0x86dd) {
        if (len < 54 || (b[l3] as number) >>> 4 !== 6) {
          this.drop(out, slot);
          c.malformed++;
          continue;
        }
        let same = true;
        for (let q = 0; q < 16; q++) if (b[l3 + 24 + q] !== vip[q]) { same = false; break; }
        if (!same) {
          this.drop(out, slot);
          c.notVip++;
          continue;
        }
        const pl = ip6.payloadLength(b, l3);
        if (54 + pl > len) {
          this.drop(out, slot);
          c.malformed++;
          continue;
        }
        proto = b[l3 + 6] as number;
        l4 = l3 + 40;
        l4end = l4 + pl;
      } else {
        this.drop(out, slot);
        c.notVip++;
        continue;
      }
      if (!((proto === 6 && this.tcp) || (proto === 17 && this.udp)) || l4 + (proto === 6 ? 20 : 8) > l4end) {
        this.drop(out, slot);
        c.notVip++;
        continue;
      }
      const sport = tcp.srcPort(b, l4); // TCP and UDP share the port layout
      const dport = tcp.dstPort(b, l4);
      if (this.portAllowed[dport] !== 1) {
        this.drop(out, slot);
        c.notVip++;
        continue;
      }
      let src4 = 0;
      if (is4) {
        src4 = ip4.src(b, l3);
        setKey4(key, src4, vip4, sport, dport, proto);
      } else setKey6(key, b, l3 + 8, l3 + 24, sport, dport, proto);
      let ci = this.conns.find(key);
      let be: number;
      if (ci >= 0) {
        be = this.connBackend[ci] as number;
        if (this.up[be] !== true) {
          // Its backend went down: the connection is lost anyway, so move it (counted).
          be = this.pick(is4, src4, vip4, sport, dport, proto, b, l3);
          if (be < 0) {
            this.drop(out, slot);
            c.noBackend++;
            continue;
          }
          this.connBackend[ci] = be;
          this.bConns[be] = (this.bConns[be] as number) + 1;
          c.reassigned++;
        }
      } else {
        be = this.pick(is4, src4, vip4, sport, dport, proto, b, l3);
        if (be < 0) {
          this.drop(out, slot);
          c.noBackend++;
          continue;
        }
        ci = this.conns.insert(key, now);
        if (ci >= 0) {
          this.connBackend[ci] = be;
          this.connFlags[ci] = 0;
          c.newConnections++;
          this.bConns[be] = (this.bConns[be] as number) + 1;
        } else c.tableFull++; // still forwarded: Maglev alone keeps most affinity
      }
      if (ci >= 0) {
        this.conns.lastSeen[ci] = now;
        if (nat) this.clientMac[ci] = src48(b, off); // where replies go back to
        if (proto === 6) {
          const fl = b[l4 + 13] as number;
          if (fl & 0x04) {
            this.conns.removeAt(ci); // RST: the connection is over
          } else if (fl & 0x01) this.connFlags[ci] = (this.connFlags[ci] as number) | C_CLOSING;
        }
      }
      if (nat) {
        const nip = this.bIp[be] as number >>> 0;
        const l4sum = proto === 6 ? l4 + 16 : l4 + 6;
        const old = ((b[l4sum] as number) << 8) | (b[l4sum + 1] as number);
        if (proto === 6 || old !== 0) {
          // The TCP/UDP checksum covers the pseudo-header's destination address (RFC 793/768).
          let s = checksumUpdate32(old, vip4, nip);
          if (proto === 17 && s === 0) s = 0xffff;
          b[l4sum] = s >>> 8;
          b[l4sum + 1] = s & 0xff;
        }
        rewriteDst(b, l3, nip);
      }
      const mw = this.bMacWords;
      const view = pool.view;
      view.setUint32(off, mw[be * 4] as number);
      view.setUint16(off + 4, mw[be * 4 + 1] as number);
      view.setUint32(off + 6, mw[be * 4 + 2] as number);
      view.setUint16(off + 10, mw[be * 4 + 3] as number);
      this.bPackets[be] = (this.bPackets[be] as number) + 1;
      c.out++;
      out.send(1, slot, off, len);
    }
  }

  private pick(is4: boolean, src4: number, vip4: number, sport: number, dport: number, proto: number, b: Uint8Array, l3: number): number {
    const h = is4 ? flowHash4(src4, vip4, sport, dport, proto) : flowHashBytes(b, l3 + 8, l3 + 24, 16, proto, l3 + 40, 4);
    return this.maglev.lookup(h);
  }

  // nat mode: backend → client replies get the VIP back as source.
  private reply(b: Uint8Array, slot: number, off: number, len: number, port: number, ctx: ProcessContext): void {
    const c = this.c;
    const out = ctx.out;
    if (this.cfg.mode !== 'nat' || port !== 1) {
      this.drop(out, slot);
      c.notVip++;
      return;
    }
    const l3 = off + 14;
    if (len < 34 || etherType(b, off) !== 0x0800 || (b[l3] as number) >>> 4 !== 4) {
      this.drop(out, slot);
      c.malformed++;
      return;
    }
    const hl = ((b[l3] as number) & 0x0f) << 2;
    const tl = ip4.totalLength(b, l3);
    const proto = b[l3 + 9] as number;
    const l4 = l3 + hl;
    if (hl < 20 || tl < hl || 14 + tl > len || (proto !== 6 && proto !== 17) || l4 + (proto === 6 ? 20 : 8) > l3 + tl) {
      this.drop(out, slot);
      c.malformed++;
      return;
    }
    const src = ip4.src(b, l3);
    const dst = ip4.dst(b, l3);
    const sport = tcp.srcPort(b, l4); // TCP and UDP share the port layout
    const dport = tcp.dstPort(b, l4);
    // The connection is keyed client → VIP; a reply is backend:port → client:port.
    const key = this.conns.scratch;
    setKey4(key, dst, this.cfg.vip4, dport, sport, proto);
    const ci = this.conns.find(key);
    if (ci < 0 || (this.bIp[this.connBackend[ci] as number] as number) >>> 0 !== src) {
      this.drop(out, slot);
      c.unknownReply++;
      return;
    }
    this.conns.lastSeen[ci] = ctx.now;
    const vip4 = this.cfg.vip4;
    const l4sum = proto === 6 ? l4 + 16 : l4 + 6;
    const old = ((b[l4sum] as number) << 8) | (b[l4sum + 1] as number);
    if (proto === 6 || old !== 0) {
      let s = checksumUpdate32(old, src, vip4);
      if (proto === 17 && s === 0) s = 0xffff;
      b[l4sum] = s >>> 8;
      b[l4sum + 1] = s & 0xff;
    }
    rewriteSrc(b, l3, vip4);
    putMac(b, off, this.clientMac[ci] as number);
    for (let q = 0; q < 6; q++) b[off + 6 + q] = this.lbMac[q] as number;
    if (proto === 6) {
      const fl = b[l4 + 13] as number;
      if (fl & 0x04) this.conns.removeAt(ci);
      else if (fl & 0x01) this.connFlags[ci] = (this.connFlags[ci] as number) | C_CLOSING;
    }
    c.replies++;
    c.out++;
    out.send(0, slot, off, len);
  }

  private drop(out: ProcessContext['out'], slot: number): void {
    out.drop(slot);
    this.c.dropped++;
  }

  private timeoutOf(i: number): number {
    if (((this.connFlags[i] as number) & C_CLOSING) !== 0) return this.cfg.closingTimeoutMs;
    return this.conns.keys[i * FLOW_KEY_WORDS + 9] === 6 ? this.cfg.tcpTimeoutMs : this.cfg.udpTimeoutMs;
  }

  tick(ctx: ProcessContext): void {
    if (this.rebase) this.doRebase(ctx.now);
    if (ctx.now - this.lastSweep < 1000) return;
    this.lastSweep = ctx.now;
    this.c.expired += this.conns.expire(ctx.now, 0, undefined, (i) => this.timeoutOf(i));
  }

  private doRebase(now: number): void {
    this.conns.rebase(now);
    this.rebase = false;
  }

  counters(): Counters {
    return {
      ...this.c,
      connections: this.conns.size,
      backends: this.names.map((_, i) => ({ up: this.up[i] ? 1 : 0, packets: this.bPackets[i] as number, connections: this.bConns[i] as number })),
    };
  }

  /** Connection table (client, ports, backend by name, idle time) and backend up/down states. */
  exportState(): Plain {
    const now = this.conns.latest();
    const conns: Plain[] = [];
    const k = this.conns.keys;
    for (let i = 0; i < this.conns.capacity; i++) {
      if (this.conns.used[i] !== 1) continue;
      const o = i * FLOW_KEY_WORDS;
      conns.push({
        client: keyAddrText(k, o),
        clientPort: (k[o + 8] as number) >>> 16,
        port: (k[o + 8] as number) & 0xffff,
        protocol: k[o + 9] === 6 ? 'tcp' : 'udp',
        backend: this.names[this.connBackend[i] as number] as string,
        clientMac: formatMac(this.clientMac[i] as number),
        closing: ((this.connFlags[i] as number) & C_CLOSING) !== 0,
        idleMs: this.rebase ? -(this.conns.lastSeen[i] as number) : now - (this.conns.lastSeen[i] as number),
      });
    }
    return { backends: this.backends(), connections: conns };
  }

  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['backends', 'connections']);
    const ups = o.req('backends', arrayOf((v, p) => {
      const r = strictObject(v, p, ['name', 'up']);
      const name = r.req('name', str());
      if (!this.names.includes(name)) throw new ConfigError(`${p}.name`, `no backend named '${name}'`);
      return { name, up: r.req('up', bool()) };
    }));
    const rows = this.parseConnRows(o.req('connections', (x) => x), 'state.connections');
    for (const u of ups) this.up[this.names.indexOf(u.name)] = u.up;
    this.maglev.build(this.names, this.up, this.weights);
    this.conns.clear();
    this.insertConnRows(rows, 0);
    this.rebase = true;
  }

  private parseConnRows(v: unknown, path: string): ConnRow[] {
    return arrayOf((x, p): ConnRow => {
      const r = strictObject(x, p, ['client', 'clientPort', 'port', 'protocol', 'backend', 'clientMac', 'closing', 'idleMs']);
      const client = r.req('client', str());
      const c4 = parseIpv4(client);
      const c6 = c4 < 0 ? parseIpv6(client) : null;
      if (c4 < 0 && !c6) throw new ConfigError(`${p}.client`, 'bad address');
      if ((c4 >= 0) !== (this.cfg.family === 4)) throw new ConfigError(`${p}.client`, `not an IPv${this.cfg.family} address`);
      const backend = r.req('backend', str());
      const be = this.names.indexOf(backend);
      if (be < 0) throw new ConfigError(`${p}.backend`, `no backend named '${backend}'`);
      const cm = parseMac(r.req('clientMac', str()));
      if (cm < 0) throw new ConfigError(`${p}.clientMac`, 'bad MAC address');
      return {
        c4, c6, be, cm,
        sport: r.req('clientPort', int(0, 65535)),
        dport: r.req('port', int(0, 65535)),
        proto: r.req('protocol', oneOf(['tcp', 'udp'] as const)) === 'tcp' ? 6 : 17,
        closing: r.req('closing', bool()),
        idle: r.req('idleMs', int(0, Number.MAX_SAFE_INTEGER)),
      };
    })(v, path);
  }

  /** Inserts parsed connections (skipping those already present), lastSeen = `base` − idle. */
  private insertConnRows(rows: readonly ConnRow[], base: number): void {
    const key = this.conns.scratch;
    const tmp = new Uint8Array(32);
    tmp.set(this.cfg.vip, 16);
    for (const r of rows) {
      if (r.c6) {
        tmp.set(r.c6, 0);
        setKey6(key, tmp, 0, 16, r.sport, r.dport, r.proto);
      } else setKey4(key, r.c4, this.cfg.vip4, r.sport, r.dport, r.proto);
      if (this.conns.find(key) >= 0) continue;
      const i = this.conns.insert(key, base - r.idle);
      if (i < 0) break;
      this.connBackend[i] = r.be;
      this.connFlags[i] = r.closing ? C_CLOSING : 0;
      this.clientMac[i] = r.cm;
    }
  }

  /**
   * Partitioning: the connections whose flow key (client ↔ VIP) `owns` accepts, removed here.
   * Partition-safe with direct server return (replies do not cross the balancer).
   */
  exportFlows(owns: (key: number) => boolean): Plain {
    return { connections: this.conns.take((this.exportState() as { connections: Plain[] }).connections, owns) };
  }

  /** Partitioning: adds connections another instance exported (their backends keep them). */
  importFlows(flows: Plain): void {
    const o = strictObject(flows, 'flows', ['connections']);
    const rows = this.parseConnRows(o.req('connections', (x) => x), 'flows.connections');
    this.insertConnRows(rows, this.rebase ? 0 : this.conns.latest());
  }
}

interface ConnRow {
  c4: number;
  c6: Uint8Array | null;
  be: number;
  cm: number;
  sport: number;
  dport: number;
  proto: number;
  closing: boolean;
  idle: number;
}

export const loadBalancerFactory: FunctionFactory = {
  kind: 'loadbalancer',
  summary: 'L4 load balancer: Maglev consistent hashing, connection affinity, DSR or NAT forwarding',
  create: (config: unknown) => new LoadBalancer(parseLoadBalancerConfig(config)),
  ports: (config: unknown) => parseLoadBalancerConfig(config).ports.map((name) => ({ name })),
};

