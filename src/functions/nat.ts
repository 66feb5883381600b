/**
 * NAT44 between an inside and an outside interface, in line (Ethernet headers untouched), after
 * Linux nf_nat: every translated flow is a conntrack entry (lib/conntrack.ts) whose ORIGINAL
 * tuple is the packet as first seen and whose REPLY tuple is the answer expected after
 * translation; a packet in one direction is rewritten to the inverse of the other direction's
 * tuple. Hence one lookup per packet, and mappings that expire with the TCP/UDP/ICMP timeouts.
 *
 * - Source NAT (masquerade to one address or a pool): the external address is chosen by a hash of
 *   the inside address (a host keeps one address, RFC 4787 "paired" pooling), the port kept when
 *   free in the range, otherwise the next free one; ports are owned per external address and per
 *   protocol (TCP, UDP, ICMP echo identifiers), each mapping holding its own port (no overloading,
 *   so exhaustion is exact: range size × addresses flows per protocol).
 * - Destination NAT (port forwarding) for connections opened from outside; the forwarded ports are
 *   reserved so that source NAT never hands them out. Hairpinning (inside host → outside address of
 *   a forward) translates both ends and sends the packet back inside.
 * - Checksums by RFC 1624 (eqn 3): IPv4 header; TCP/UDP over the pseudo-header (a UDP checksum of
 *   0 — none — stays 0, a computed 0 is sent as 0xffff, RFC 768); ICMP echo identifier.
 * - ICMP errors about a translated flow: the outer address, the quoted header (addresses, ports,
 *   its header checksum and its transport checksum when quoted) and the outer ICMP checksum.
 *
 * IPv6 and non-IP frames cross unchanged. IPv4 fragments after the first are dropped (counted):
 * there is no reassembly.
 */
import { MAX_BATCH, type Batch } from '../packet/pool.js';
import { checksumUpdate16, checksumUpdate32, foldSum, sum16 } from '../packet/checksum.js';
import { rewriteDst, rewriteSrc } from '../packet/ipv4.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, bool, formatIpv4, int, ipv4, oneOf, parseIpv4, parsePrefix, str, strictObject, type Parse } from './config.js';
import { CT, Conntrack, DEFAULT_TIMEOUTS, KW, L4, PARSE, PacketView, invertTuple, parsePacket, parseTimeouts, type ConntrackTimeouts } from './lib/conntrack.js';
import { flowHash4, fmix32 } from './lib/flowhash.js';
import { flowBucket, flowKeyOfTuple, symmetricKey } from './lib/flowkey.js';
import { countDrop, countTx, dropBatch, portRange, portRows } from './lib/port-counters.js';

export interface NatForward {
  readonly proto: 6 | 17;
  /** External address (0 = every SNAT address). */
  readonly address: number;
  readonly ports: readonly [number, number];
  readonly to: number;
  /** First inside port (the range maps one to one). */
  readonly toPort: number;
}

export interface NatConfig {
  readonly inside: string;
  readonly outside: string;
  /** External addresses (empty: no source NAT). */
  readonly addresses: readonly number[];
  /** Inside sources that get source NAT (prefix as [addr, len]); empty = all. */
  readonly sources: readonly (readonly [number, number])[];
  readonly portRange: readonly [number, number];
  readonly icmpIdRange: readonly [number, number];
  readonly forwards: readonly NatForward[];
  readonly hairpin: boolean;
  readonly maxFlows: number;
  readonly tcpLoose: boolean;
  readonly timeouts: ConntrackTimeouts;
  /**
   * Runs as one of several instances behind a flow-key spreader (src/host/partition.ts): source
   * NAT picks the external port (ICMP: identifier) so that the translated flow's key
   * (lib/flowkey.ts) falls in the bucket of the original's, so replies reach the instance that
   * holds the binding. Port forwards and protocols without ports are not partition-safe.
   */
  readonly partitioned: boolean;
}

// "203.0.113.1" or "203.0.113.0/30" (every address of the prefix) → addresses.
const addressList: Parse<number[]> = (v, path) => {
  const items = arrayOf<number[]>((x, p) => {
    if (typeof x === 'string' && x.includes('/')) {
      const pf = parsePrefix(x);
      if (typeof pf === 'string') throw new ConfigError(p, pf);
      if (pf.family !== 4) throw new ConfigError(p, 'expected an IPv4 prefix');
      if (pf.len < 24) throw new ConfigError(p, 'a pool prefix must be /24 or longer');
      return Array.from({ length: 2 ** (32 - pf.len) }, (_, i) => (pf.addr + i) >>> 0);
    }
    return [ipv4()(x, p)];
  }, 1)(v, path);
  const all = [...new Set(items.flat())];
  if (all.length > 256) throw new ConfigError(path, 'at most 256 external addresses');
  return all;
};

/**
 * Parses and checks a NAT configuration.
 *
 * @example
 * parseNatConfig({
 *   snat: { addresses: ['203.0.113.1'], sources: ['10.0.0.0/8'], ports: '1024-65535' },
 *   forwards: [{ proto: 'tcp', port: 8080, to: '10.0.0.5', toPort: 80 }],
 * });
 */
export function parseNatConfig(config: unknown): NatConfig {
  const o = strictObject(config, '', ['interfaces', 'snat', 'forwards', 'hairpin', 'maxFlows', 'tcpLoose', 'timeouts', 'partitioned']);
  const ifs = o.opt('interfaces', (v, p) => {
    const io = strictObject(v, p, ['inside', 'outside']);
    return { inside: io.opt('inside', str(), 'inside'), outside: io.opt('outside', str(), 'outside') };
  }, { inside: 'inside', outside: 'outside' });
  if (ifs.inside === ifs.outside) throw new ConfigError('interfaces.outside', 'must differ from inside');
  const snat = o.opt('snat', (v, p) => {
    const so = strictObject(v, p, ['addresses', 'sources', 'ports', 'icmpIds']);
    const sources = so.opt('sources', arrayOf((x, q): readonly [number, number] => {
      const pf = typeof x === 'string' ? parsePrefix(x) : 'expected a prefix like 10.0.0.0/8';
      if (typeof pf === 'string') throw new ConfigError(q, pf);
      if (pf.family !== 4) throw new ConfigError(q, 'expected an IPv4 prefix');
      return [pf.addr, pf.len];
    }), []);
    return {
      addresses: so.req('addresses', addressList),
      sources,
      ports: so.opt('ports', portRange, [1024, 65535] as const),
      icmpIds: so.opt('icmpIds', portRange, [0, 65535] as const),
    };
  }, null);
  const addresses = snat?.addresses ?? [];
  const forwards = o.opt('forwards', arrayOf((v, p): NatForward => {
    const fo = strictObject(v, p, ['proto', 'address', 'port', 'to', 'toPort']);
    const proto = fo.req('proto', oneOf(['tcp', 'udp'] as const)) === 'tcp' ? 6 : 17;
    const address = fo.opt('address', ipv4(), 0);
    if (address === 0 && addresses.length === 0) throw new ConfigError(`${p}.address`, 'is required when there is no snat pool');
    const ports = fo.req('port', portRange);
    const toPort = fo.opt('toPort', int(1, 65535), ports[0]);
    if (toPort + (ports[1] - ports[0]) > 65535) throw new ConfigError(`${p}.toPort`, 'the range would end beyond 65535');
    return { proto, address, ports, to: fo.req('to', ipv4()), toPort };
  }), []);
  forwards.forEach((f, i) => {
    for (const g of forwards.slice(0, i)) {
      const sameAddr = f.address === 0 || g.address === 0 || f.address === g.address;
      if (g.proto === f.proto && sameAddr && f.ports[0] <= g.ports[1] && g.ports[0] <= f.ports[1]) throw new ConfigError(`forwards[${i}].port`, 'overlaps an earlier forward');
    }
  });
  return {
    inside: ifs.inside,
    outside: ifs.outside,
    addresses,
    sources: snat?.sources ?? [],
    portRange: snat?.ports ?? [1024, 65535],
    icmpIdRange: snat?.icmpIds ?? [0, 65535],
    forwards,
    hairpin: o.opt('hairpin', bool(), false),
    maxFlows: o.opt('maxFlows', int(1, 1 << 22), 65_536),
    tcpLoose: o.opt('tcpLoose', bool(), false),
    timeouts: o.opt('timeouts', parseTimeouts, DEFAULT_TIMEOUTS),
    partitioned: o.opt('partitioned', bool(), false),
  };
}

const INSIDE = 0;
const OUTSIDE = 1;
// Connection mark: port (16 bits) | protocol class << 16 (2) | external index << 18 (8) |
// allocated << 26 | opened from outside << 27 | hairpin << 28.
const M_ALLOC = 1 << 26;
const M_FROM_OUT = 1 << 27;
const M_HAIRPIN = 1 << 28;
const pclass = (proto: number): number => (proto === 6 ? 0 : proto === 17 ? 1 : proto === 1 ? 2 : 3);

/**
 * The NAT. Port 0 is the inside interface, port 1 the outside.
 *
 * @example
 * const nat = natFactory.create({ snat: { addresses: ['203.0.113.1'] } });
 * nat.process(0, batch, ctx); // inside → outside: sources become 203.0.113.1:port
 */
export class Nat implements NetworkFunction {
  readonly kind = 'nat';
  readonly ports: readonly PortDecl[];
  readonly cfg: NatConfig;
  private readonly ct: Conntrack;
  private readonly v = new PacketView();
  private readonly tmp = new Uint32Array(KW);
  // Per-batch stage arrays: tuples, whether looked up, hashes.
  private bKeys = new Uint32Array(MAX_BATCH * KW);
  private bUse = new Uint8Array(MAX_BATCH);
  private bHash = new Int32Array(MAX_BATCH);
  private readonly ext: Uint32Array;
  // Port ownership bitmaps: [(extIndex · 3 + class) · 2048 + port >>> 5], and counts per (ext, class).
  private readonly used: Uint32Array;
  private readonly usedCount: Int32Array;
  private readonly pc: Float64Array;
  /**
   * Ports owned by more than one mapping, (address · 3 + class) · 65536 + port → extra owners:
   * flows imported from another instance (partitioning) may hold a port this instance also
   * handed out, to another remote endpoint (their reply tuples differ, so both translate).
   */
  private readonly shared = new Map<number, number>();
  private readonly c = {
    in: 0, out: 0, dropped: 0, snat: 0, dnat: 0, hairpin: 0, translated: 0, passed: 0, malformed: 0, fragments: 0,
    noMapping: 0, portExhausted: 0, invalid: 0, icmpErrors: 0, clash: 0, tableFull: 0, bucketMiss: 0,
  };

  constructor(cfg: NatConfig) {
    this.cfg = cfg;
    this.ports = [{ name: cfg.inside }, { name: cfg.outside }];
    this.ext = Uint32Array.from(cfg.addresses);
    const n = Math.max(1, cfg.addresses.length);
    this.used = new Uint32Array(n * 3 * 2048);
    this.usedCount = new Int32Array(n * 3);
    this.pc = new Float64Array(2 * 5);
    this.ct = new Conntrack({ maxFlows: cfg.maxFlows, timeouts: cfg.timeouts, tcpLoose: cfg.tcpLoose, onRemove: (conn) => this.release(conn) });
    // Forwarded ports are never handed out by source NAT.
    for (const f of cfg.forwards) {
      this.ext.forEach((a, e) => {
        if (f.address !== 0 && f.address !== a) return;
        for (let p = f.ports[0]; p <= f.ports[1]; p++) this.take(e, pclass(f.proto), p);
      });
    }
  }

  private take(e: number, cls: number, port: number): boolean {
    const w = (e * 3 + cls) * 2048 + (port >>> 5);
    const bit = 1 << (port & 31);
    if (this.used[w]! & bit) return false;
    this.used[w] = this.used[w]! | bit;
    this.usedCount[e * 3 + cls]!++;
    return true;
  }

  private release(conn: number): void {
    const m = this.ct.mark[conn]!;
    if (m & M_ALLOC) this.releaseMark(m);
  }

  /** A free port of class `cls` on external address `e` (preferring `want`), or -1. */
  private allocPort(e: number, cls: number, want: number, hash: number): number {
    const [lo, hi] = cls === 2 ? this.cfg.icmpIdRange : this.cfg.portRange;
    const size = hi - lo + 1;
    if (this.usedCount[e * 3 + cls]! >= size) return -1;
    const start = want >= lo && want <= hi ? want - lo : hash % size;
    for (let k = 0; k < size; k++) {
      let p = start + k;
      if (p >= size) p -= size;
      if (this.take(e, cls, lo + p)) return lo + p;
    }
    return -1;
  }

  /**
   * Partitioned: a free port (identifier) of class `cls` on external address `e` that keeps the
   * flow's bucket — the original tuple's key and the translated one's fall in one bucket. About
   * FLOW_BUCKETS candidates are hashed per new flow; when no free port keeps the bucket, any
   * free port (counted as bucketMiss: the replies will reach another instance).
   */
  private allocPortInBucket(e: number, cls: number, v: PacketView, hash: number): number {
    const [lo, hi] = cls === 2 ? this.cfg.icmpIdRange : this.cfg.portRange;
    const size = hi - lo + 1;
    if (this.usedCount[e * 3 + cls]! >= size) return -1;
    const want = flowBucket(flowKeyOfTuple(v.key, 0));
    const a = this.ext[e]!;
    const dst = v.key[7]!;
    const dport = v.key[8]! & 0xffff;
    const proto = v.proto;
    const start = v.sport >= lo && v.sport <= hi ? v.sport - lo : hash % size;
    for (let k = 0; k < size; k++) {
      let p = start + k;
      if (p >= size) p -= size;
      p += lo;
      if (flowBucket(symmetricKey(a, p, dst, cls === 2 ? p : dport, proto)) !== want) continue;
      if (this.take(e, cls, p)) return p;
    }
    this.c.bucketMiss++;
    return this.allocPort(e, cls, v.sport, hash);
  }

  private extIndex(a: number): number {
    const x = this.ext;
    for (let i = 0; i < x.length; i++) if (x[i] === a) return i;
    return -1;
  }

  private sourceMatches(a: number): boolean {
    const s = this.cfg.sources;
    if (s.length === 0) return true;
    for (const [net, len] of s) if (len === 0 || a >>> (32 - len) === net >>> (32 - len)) return true;
    return false;
  }

  private forwardFor(v: PacketView): number {
    if (v.kind !== L4.PORTS) return -1;
    const f = this.cfg.forwards;
    const dst = v.key[7]!;
    for (let i = 0; i < f.length; i++) {
      const x = f[i]!;
      if (x.proto !== v.proto || v.dport < x.ports[0] || v.dport > x.ports[1]) continue;
      if (x.address !== 0 ? x.address === dst : this.extIndex(dst) >= 0) return i;
    }
    return -1;
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const { pool, out, now } = ctx;
    const b = pool.bytes;
    const n = batch.count;
    const c = this.c;
    const ct = this.ct;
    const v = this.v;
    const pc = this.pc;
    ct.setNow(now);
    c.in += n;
    if (port !== INSIDE && port !== OUTSIDE) {
      dropBatch(out, batch);
      c.dropped += n;
      c.malformed += n;
      return;
    }
    const other = 1 - port;
    if (n > this.bUse.length) {
      this.bKeys = new Uint32Array(n * KW);
      this.bUse = new Uint8Array(n);
      this.bHash = new Int32Array(n);
    }
    // As the firewall: tuples of the whole batch first, their conntrack cache misses overlapped,
    // then each frame in order (parsed again: its bytes are in cache by now).
    const keys = this.bKeys;
    const use = this.bUse;
    for (let i = 0; i < n; i++) {
      const k = parsePacket(b, batch.offs[i]!, batch.lens[i]!, v) === PARSE.OK && v.family === 4 ? v.kind : -1;
      if (k === L4.PORTS || k === L4.ICMP_ECHO || k === L4.OTHER) {
        use[i] = 1;
        keys.set(v.key, i * KW);
      } else use[i] = 0;
    }
    ct.prefetch(keys, n, use, this.bHash);
    for (let i = 0; i < n; i++) {
      const slot = batch.slots[i]!;
      const off = batch.offs[i]!;
      const len = batch.lens[i]!;
      pc[port * 5] = pc[port * 5]! + 1;
      pc[port * 5 + 1] = pc[port * 5 + 1]! + len;
      const pr = parsePacket(b, off, len, v);
      if (pr === PARSE.NOT_IP || (pr === PARSE.OK && v.family === 6)) {
        c.passed++;
        this.send(out, slot, off, len, other);
        continue;
      }
      if (pr !== PARSE.OK) {
        c.malformed++;
        this.drop(out, slot, port);
        continue;
      }
      if (v.kind === L4.FRAGMENT) {
        c.fragments++;
        this.drop(out, slot, port);
        continue;
      }
      if (v.kind === L4.ICMP_ERROR) {
        const ref = ct.lookup(v.inner);
        if (ref < 0) {
          c.noMapping++;
          this.drop(out, slot, port);
          continue;
        }
        c.icmpErrors++;
        this.translateError(b, ref, v);
        this.send(out, slot, off, len, this.egress(ref));
        continue;
      }
      let ref = use[i] ? ct.lookupAt(keys, i * KW, this.bHash[i]!) : ct.lookup(v.key);
      if (ref >= 0) {
        if (ct.update(ref, v, now) === CT.INVALID) c.invalid++;
      } else {
        ref = this.open(port, v, now);
        if (ref === -2) {
          // Not subject to NAT (a source outside `sources`): routed unchanged, untracked.
          c.passed++;
          this.send(out, slot, off, len, other);
          continue;
        }
        if (ref < 0) {
          this.drop(out, slot, port);
          continue;
        }
      }
      this.translate(b, ref, v);
      this.send(out, slot, off, len, this.egress(ref));
    }
  }

  // Where a packet of tuple `ref` leaves.
  private egress(ref: number): number {
    const m = this.ct.mark[ref >>> 1]!;
    if (m & M_HAIRPIN) return INSIDE;
    const fromOut = (m & M_FROM_OUT) !== 0;
    return (ref & 1) === 0 ? (fromOut ? INSIDE : OUTSIDE) : fromOut ? OUTSIDE : INSIDE;
  }

  /** Creates the mapping for the first packet of a flow; returns its tuple ref, -1 (dropped) or -2 (pass untranslated). */
  private open(port: number, v: PacketView, now: number): number {
    const c = this.c;
    const ct = this.ct;
    if (v.kind === L4.ICMP_OTHER || v.kind === L4.ICMP_ERROR) {
      c.noMapping++;
      return -1;
    }
    const cls = pclass(v.proto);
    const classify = ct.classify(v, now);
    if (classify !== CT.NEW) {
      c.invalid++;
      return -1;
    }
    const reply = this.tmp;
    invertTuple(v.key, 0, reply, 0);
    let mark = 0;
    const fwd = this.forwardFor(v);
    const src = v.key[3]!;
    if (port === OUTSIDE) {
      if (fwd < 0) {
        c.noMapping++;
        return -1;
      }
      mark |= M_FROM_OUT;
    }
    const hairpin = port === INSIDE && fwd >= 0 && this.cfg.hairpin;
    if (fwd >= 0 && (port === OUTSIDE || hairpin)) {
      const f = this.cfg.forwards[fwd]!;
      reply[3] = f.to;
      const toPort = f.toPort + (v.dport - f.ports[0]);
      reply[8] = ((toPort << 16) | (reply[8]! & 0xffff)) >>> 0;
    }
    if (port === INSIDE) {
      if (this.ext.length === 0 || !this.sourceMatches(src)) return -2;
      const h = flowHash4(src, 0, 0, 0, 0);
      const n = this.ext.length;
      let e0 = h % n;
      let p = -1;
      if (cls === 3) p = 0;
      else {
        for (let k = 0; k < n && p < 0; k++) {
          const e = (e0 + k) % n;
          p = this.cfg.partitioned ? this.allocPortInBucket(e, cls, v, fmix32(h ^ v.key[8]!)) : this.allocPort(e, cls, v.sport, fmix32(h ^ v.key[8]!));
          if (p >= 0) e0 = e;
        }
        if (p < 0) {
          c.portExhausted++;
          return -1;
        }
        mark |= M_ALLOC | (e0 << 18) | (cls << 16) | p;
      }
      reply[7] = this.ext[e0]!;
      if (cls === 2) reply[8] = ((p << 16) | (reply[8]! & 0xffff)) >>> 0;
      else if (cls !== 3) reply[8] = ((reply[8]! & 0xffff0000) | p) >>> 0;
      if (hairpin) mark |= M_HAIRPIN;
    }
    const conn = ct.create(v.key, reply, v, now);
    if (conn < 0) {
      if (mark & M_ALLOC) this.releaseMark(mark);
      if (conn === -1) c.tableFull++;
      else c.clash++;
      return -1;
    }
    ct.mark[conn] = mark;
    if (hairpin) c.hairpin++;
    else if (port === OUTSIDE) c.dnat++;
    else c.snat++;
    return conn * 2;
  }

  private releaseMark(m: number): void {
    const port = m & 0xffff;
    const cls = (m >>> 16) & 3;
    const e = (m >>> 18) & 0xff;
    const sk = (e * 3 + cls) * 65536 + port;
    const n = this.shared.get(sk);
    if (n !== undefined) {
      if (n > 1) this.shared.set(sk, n - 1);
      else this.shared.delete(sk);
      return;
    }
    const w = (e * 3 + cls) * 2048 + (port >>> 5);
    const bit = 1 << (port & 31);
    if (this.used[w]! & bit) {
      this.used[w] = this.used[w]! & ~bit;
      this.usedCount[e * 3 + cls]!--;
    }
  }

  /** Rewrites the packet of tuple `ref` to the inverse of the other direction's tuple. */
  private translate(b: Uint8Array, ref: number, v: PacketView): void {
    const t = this.ct.tuples;
    const o = this.ct.at(ref ^ 1);
    const newSrc = t[o + 7]!;
    const newDst = t[o + 3]!;
    const pw = t[o + 8]!;
    const l3 = v.l3;
    const l4 = v.l4;
    const k = v.key;
    const oldSrc = k[3]!;
    const oldDst = k[7]!;
    let changed = false;
    const proto = v.proto;
    // Transport checksum position and the pseudo-header part of it.
    const csAt = proto === 6 ? l4 + 16 : proto === 17 ? l4 + 6 : proto === 1 ? l4 + 2 : -1;
    let cs = csAt >= 0 ? (b[csAt]! << 8) | b[csAt + 1]! : 0;
    const udpNone = proto === 17 && cs === 0;
    const pseudo = proto === 6 || (proto === 17 && !udpNone);
    if (newSrc !== oldSrc) {
      rewriteSrc(b, l3, newSrc);
      if (pseudo) cs = checksumUpdate32(cs, oldSrc, newSrc);
      changed = true;
    }
    if (newDst !== oldDst) {
      rewriteDst(b, l3, newDst);
      if (pseudo) cs = checksumUpdate32(cs, oldDst, newDst);
      changed = true;
    }
    if (proto === 6 || proto === 17) {
      const ns = pw & 0xffff;
      const nd = pw >>> 16;
      if (ns !== v.sport) {
        b[l4] = ns >>> 8;
        b[l4 + 1] = ns;
        if (!udpNone) cs = checksumUpdate16(cs, v.sport, ns);
        changed = true;
      }
      if (nd !== v.dport) {
        b[l4 + 2] = nd >>> 8;
        b[l4 + 3] = nd;
        if (!udpNone) cs = checksumUpdate16(cs, v.dport, nd);
        changed = true;
      }
      if (proto === 17 && !udpNone && cs === 0) cs = 0xffff;
    } else if (proto === 1 && v.kind === L4.ICMP_ECHO) {
      const id = pw >>> 16;
      if (id !== v.sport) {
        b[l4 + 4] = id >>> 8;
        b[l4 + 5] = id;
        cs = checksumUpdate16(cs, v.sport, id);
        changed = true;
      }
    }
    if (csAt >= 0 && !udpNone) {
      b[csAt] = cs >>> 8;
      b[csAt + 1] = cs;
    }
    if (changed) this.c.translated++;
  }

  /**
   * ICMP error about the flow of tuple `ref` (the error's own direction): the outer addresses as
   * for a packet of that direction, the quoted packet as one of the opposite direction, then the
   * ICMP checksum by RFC 1624 over the quoted bytes that changed.
   */
  private translateError(b: Uint8Array, ref: number, v: PacketView): void {
    const t = this.ct.tuples;
    const cur = this.ct.at(ref);
    const o = this.ct.at(ref ^ 1);
    // The target tuple T' of the error's direction: src = other.dst, dst = other.src, ports swapped.
    const tSrc = t[o + 7]!;
    const tDst = t[o + 3]!;
    const pw = t[o + 8]!;
    const l3 = v.l3;
    if (t[cur + 3] !== tSrc) rewriteSrc(b, l3, tSrc);
    if (t[cur + 7] !== tDst) rewriteDst(b, l3, tDst);
    const q = v.innerL3;
    const ql4 = v.innerL4;
    const end = v.innerEnd;
    const regionEnd = Math.min(end, ql4 + 20);
    const before = foldSum(sum16(b, q, regionEnd - q));
    const qSrc = ((b[q + 12]! << 24) | (b[q + 13]! << 16) | (b[q + 14]! << 8) | b[q + 15]!) >>> 0;
    const qDst = ((b[q + 16]! << 24) | (b[q + 17]! << 16) | (b[q + 18]! << 8) | b[q + 19]!) >>> 0;
    const p = v.innerProto;
    // The quoted packet travelled the other way: its new tuple is the inverse of T'.
    const nSrc = tDst;
    const nDst = tSrc;
    const csAt = p === 6 ? (ql4 + 18 <= end ? ql4 + 16 : -1) : p === 17 ? ql4 + 6 : p === 1 ? ql4 + 2 : -1;
    let cs = csAt >= 0 ? (b[csAt]! << 8) | b[csAt + 1]! : 0;
    const udpNone = p === 17 && cs === 0;
    const pseudo = p === 6 || (p === 17 && !udpNone);
    if (qSrc !== nSrc) {
      rewriteSrc(b, q, nSrc);
      if (pseudo) cs = checksumUpdate32(cs, qSrc, nSrc);
    }
    if (qDst !== nDst) {
      rewriteDst(b, q, nDst);
      if (pseudo) cs = checksumUpdate32(cs, qDst, nDst);
    }
    if (p === 6 || p === 17) {
      const qs = (b[ql4]! << 8) | b[ql4 + 1]!;
      const qd = (b[ql4 + 2]! << 8) | b[ql4 + 3]!;
      const ns = pw >>> 16; // T'.dport
      const nd = pw & 0xffff; // T'.sport
      if (qs !== ns) {
        b[ql4] = ns >>> 8;
        b[ql4 + 1] = ns;
        if (!udpNone) cs = checksumUpdate16(cs, qs, ns);
      }
      if (qd !== nd) {
        b[ql4 + 2] = nd >>> 8;
        b[ql4 + 3] = nd;
        if (!udpNone) cs = checksumUpdate16(cs, qd, nd);
      }
      if (p === 17 && !udpNone && cs === 0) cs = 0xffff;
    } else if (p === 1) {
      const qid = (b[ql4 + 4]! << 8) | b[ql4 + 5]!;
      const nid = pw >>> 16;
      if (qid !== nid) {
        b[ql4 + 4] = nid >>> 8;
        b[ql4 + 5] = nid;
        cs = checksumUpdate16(cs, qid, nid);
      }
    }
    if (csAt >= 0 && !udpNone) {
      b[csAt] = cs >>> 8;
      b[csAt + 1] = cs;
    }
    // RFC 1624 eqn 3 over the whole changed region: HC' = ~(~HC + ~m + m').
    const after = foldSum(sum16(b, q, regionEnd - q));
    const ic = v.l4 + 2;
    let s = (~((b[ic]! << 8) | b[ic + 1]!) & 0xffff) + (~before & 0xffff) + after;
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    const hc = ~s & 0xffff;
    b[ic] = hc >>> 8;
    b[ic + 1] = hc;
    this.c.translated++;
  }

  private send(out: ProcessContext['out'], slot: number, off: number, len: number, port: number): void {
    countTx(this.pc, port, len);
    this.c.out++;
    out.send(port, slot, off, len);
  }

  private drop(out: ProcessContext['out'], slot: number, port: number): void {
    countDrop(this.pc, port);
    this.c.dropped++;
    out.drop(slot);
  }

  /** Expires mappings incrementally (their ports return to the pool). */
  tick(ctx: ProcessContext): void {
    this.ct.sweep(ctx.now);
  }

  counters(): Counters {
    const n = this.ext.length;
    return {
      ...this.c,
      mappings: this.ct.count,
      conntrack: { ...this.ct.stats },
      addresses: Array.from({ length: n }, (_, e) => ({ tcpPorts: this.usedCount[e * 3]!, udpPorts: this.usedCount[e * 3 + 1]!, icmpIds: this.usedCount[e * 3 + 2]! })),
      ports: portRows(this.pc, this.ports.length),
    };
  }

  /**
   * The mappings as conntrack rows; `mark` encodes the owned port: port | class << 16 |
   * address index << 18 | 1 << 26 (allocated) | 1 << 27 (opened from outside) | 1 << 28 (hairpin).
   */
  exportState(): Plain {
    return { addresses: this.cfg.addresses.map(formatIpv4), connections: this.ct.exportRows() };
  }

  /** Replaces the mappings (the pool must list the same addresses in the same order). */
  importState(state: Plain): void {
    this.shared.clear();
    const o = strictObject(state, 'state', ['addresses', 'connections']);
    const addrs = o.req('addresses', arrayOf((x, p) => {
      const a = typeof x === 'string' ? parseIpv4(x) : -1;
      if (a < 0) throw new ConfigError(p, 'expected an IPv4 address');
      return a;
    }));
    if (addrs.length !== this.ext.length || addrs.some((a, i) => a !== this.ext[i])) throw new ConfigError('state.addresses', 'the external addresses differ from this NAT\'s pool');
    const conns = this.ct.importRows(o.req('connections', (x) => x), 'state.connections');
    this.used.fill(0);
    this.usedCount.fill(0);
    for (const f of this.cfg.forwards) {
      this.ext.forEach((a, e) => {
        if (f.address !== 0 && f.address !== a) return;
        for (let p = f.ports[0]; p <= f.ports[1]; p++) this.take(e, pclass(f.proto), p);
      });
    }
    conns.forEach((conn, i) => {
      const m = this.ct.mark[conn]!;
      if ((m & M_ALLOC) === 0) return;
      const e = (m >>> 18) & 0xff;
      const cls = (m >>> 16) & 3;
      const rt = this.ct.at(conn * 2 + 1);
      if (e >= this.ext.length || cls > 2 || this.ct.tuples[rt + 7] !== this.ext[e]) throw new ConfigError(`state.connections[${i}].mark`, 'does not match the reply tuple and the pool');
      if (!this.take(e, cls, m & 0xffff)) throw new ConfigError(`state.connections[${i}].mark`, 'port owned twice');
    });
  }

  /** Partitioning: the mappings whose flow key (of the original tuple) `owns` accepts, removed here (ports freed). */
  exportFlows(owns: (key: number) => boolean): Plain {
    return { addresses: this.cfg.addresses.map(formatIpv4), connections: this.ct.takeRows(owns) };
  }

  /** Partitioning: adds mappings another instance exported (same pool); a port both hold is shared. */
  importFlows(flows: Plain): void {
    const o = strictObject(flows, 'flows', ['addresses', 'connections']);
    const addrs = o.req('addresses', arrayOf((x, p) => {
      const a = typeof x === 'string' ? parseIpv4(x) : -1;
      if (a < 0) throw new ConfigError(p, 'expected an IPv4 address');
      return a;
    }));
    if (addrs.length !== this.ext.length || addrs.some((a, i) => a !== this.ext[i])) throw new ConfigError('flows.addresses', 'the external addresses differ from this NAT\'s pool');
    const conns = this.ct.importRows(o.req('connections', (x) => x), 'flows.connections', true);
    for (const conn of conns) {
      const m = this.ct.mark[conn]!;
      if ((m & M_ALLOC) === 0) continue;
      const e = (m >>> 18) & 0xff;
      const cls = (m >>> 16) & 3;
      if (e >= this.ext.length || cls > 2) continue;
      if (!this.take(e, cls, m & 0xffff)) {
        const sk = (e * 3 + cls) * 65536 + (m & 0xffff);
        this.shared.set(sk, (this.shared.get(sk) ?? 0) + 1);
      }
    }
  }
}

export const natFactory: FunctionFactory = {
  kind: 'nat',
  summary: 'NAT44: source NAT with port/ICMP id allocation over a pool, port forwarding, hairpinning, ICMP error translation',
  create: (config: unknown) => new Nat(parseNatConfig(config)),
  ports: (config: unknown) => {
    const c = parseNatConfig(config);
    return [{ name: c.inside }, { name: c.outside }];
  },
};
