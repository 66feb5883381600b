/**
 * Stateful firewall (bump in the wire between interfaces). Every IPv4/IPv6 packet gets a
 * conntrack state (new, established, related, invalid, untracked; see lib/conntrack.ts) and is
 * judged by an ordered rule list — interfaces in/out, family, protocol, source/destination
 * prefix, port ranges, ICMP type/code, conntrack state — whose first match decides: allow,
 * deny (silent drop) or reject (TCP RST for TCP; ICMP/ICMPv6 port or admin-prohibited
 * unreachable for the rest). No match: the default policy.
 *
 * A connection is tracked only once a packet opening it is allowed (denied probes leave no
 * state). With `fastPath` (default), established and related packets of a tracked connection
 * pass without walking the rules — pf's "keep state", or an iptables ruleset that starts with
 * `-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT` — so the per-packet cost of a known flow
 * does not grow with the rule count. New flows walk only the rules that can match their
 * protocol and destination port: the rules are pre-split into per-protocol lists indexed by
 * elementary destination-port interval (TCP/UDP) or ICMP type, each keeping the rule order.
 *
 * Reject frames go back out of the ingress interface with the MAC addresses (and VLAN tags)
 * of the offending frame mirrored, the source address being the one the packet was sent to:
 * TCP RST as Linux nf_send_reset (RST with seq = ack when the segment had ACK, else RST+ACK
 * acknowledging it), ICMP quoting as much of the packet as fits 576 bytes (RFC 1812 §4.3.2.3) or,
 * for ICMPv6, 1280 (RFC 4443 §2.4). No reject for ICMP errors, RSTs, fragments or
 * broadcast/multicast: those are dropped (counted in `rejectSuppressed`).
 *
 * Limits: no IP reassembly (non-first fragments are "untracked" and carry no ports), no TCP
 * sequence-window check.
 */
import { MAX_BATCH, type Batch } from '../packet/pool.js';
import { internetChecksum, sum16 } from '../packet/checksum.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, bool, int, oneOf, prefix, str, strictObject, type Parse, type Prefix, type StrictObject } from './config.js';
import { countDrop, countTx, dropBatch, portRange, portRows } from './lib/port-counters.js';
import { CT, CT_NAMES, Conntrack, DEFAULT_TIMEOUTS, KW, L4, PARSE, PacketView, parsePacket, parsePacketInto, parseTimeouts, type ConntrackTimeouts } from './lib/conntrack.js';

export type FirewallAction = 'allow' | 'deny' | 'reject';
export type RejectWith = 'tcp-reset' | 'port-unreachable' | 'admin-prohibited';

export interface FirewallRule {
  readonly name: string;
  readonly in: string | null;
  readonly out: string | null;
  readonly family: 0 | 4 | 6;
  /** IP protocol number, -1 = any. */
  readonly proto: number;
  readonly src: Prefix | null;
  readonly dst: Prefix | null;
  readonly sport: readonly [number, number] | null;
  readonly dport: readonly [number, number] | null;
  readonly icmpType: number;
  readonly icmpCode: number;
  /** CT bits; 0 = any state. */
  readonly state: number;
  readonly action: FirewallAction;
  /** For non-TCP packets (TCP always gets a RST). */
  readonly rejectWith: 'port-unreachable' | 'admin-prohibited';
}

export interface FirewallInterface {
  readonly name: string;
  /** Where allowed frames arriving here leave. */
  readonly to: string;
}

export interface FirewallConfig {
  readonly interfaces: readonly FirewallInterface[];
  readonly rules: readonly FirewallRule[];
  readonly defaultPolicy: FirewallAction;
  readonly fastPath: boolean;
  readonly nonIp: 'allow' | 'deny';
  readonly maxFlows: number;
  readonly tcpLoose: boolean;
  readonly timeouts: ConntrackTimeouts;
}

const PROTOS: Readonly<Record<string, number>> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132, gre: 47, esp: 50, ah: 51 };

const protoParse: Parse<number> = (v, path) => {
  if (typeof v === 'number') return int(0, 255)(v, path);
  if (typeof v === 'string' && PROTOS[v] !== undefined) return PROTOS[v];
  throw new ConfigError(path, `expected a protocol (${Object.keys(PROTOS).join(', ')}) or a number 0-255, got ${JSON.stringify(v)}`);
};

const RULE_KEYS = ['name', 'in', 'out', 'family', 'proto', 'src', 'dst', 'sport', 'dport', 'icmpType', 'icmpCode', 'state', 'action', 'rejectWith'];

function parseRule(v: unknown, p: string, ifNames: readonly string[], i: number): FirewallRule {
  const o: StrictObject = strictObject(v, p, RULE_KEYS);
  const iface = (x: unknown, q: string): string => {
    const n = str()(x, q);
    if (!ifNames.includes(n)) throw new ConfigError(q, `no interface named '${n}' (have: ${ifNames.join(', ')})`);
    return n;
  };
  const proto = o.opt('proto', protoParse, -1);
  const src = o.opt('src', prefix(), null);
  const dst = o.opt('dst', prefix(), null);
  let family = o.opt('family', (x, q) => {
    const f = int(4, 6)(x, q);
    if (f === 5) throw new ConfigError(q, 'expected 4 or 6');
    return f as 4 | 6;
  }, 0 as 0 | 4 | 6);
  for (const [k, pf] of [['src', src], ['dst', dst]] as const) {
    if (!pf) continue;
    if (family !== 0 && family !== pf.family) throw new ConfigError(`${p}.${k}`, `IPv${pf.family} prefix in an IPv${family} rule`);
    family = pf.family;
  }
  if (proto === 1) {
    if (family === 6) throw new ConfigError(`${p}.proto`, 'icmp is IPv4 (use icmpv6)');
    family = 4;
  }
  if (proto === 58) {
    if (family === 4) throw new ConfigError(`${p}.proto`, 'icmpv6 is IPv6 (use icmp)');
    family = 6;
  }
  const sport = o.opt('sport', portRange, null);
  const dport = o.opt('dport', portRange, null);
  if ((sport || dport) && proto !== 6 && proto !== 17 && proto !== 132) throw new ConfigError(`${p}.${sport ? 'sport' : 'dport'}`, 'ports need proto tcp, udp or sctp');
  const icmpType = o.opt('icmpType', int(0, 255), -1);
  const icmpCode = o.opt('icmpCode', int(0, 255), -1);
  if ((icmpType >= 0 || icmpCode >= 0) && proto !== 1 && proto !== 58) throw new ConfigError(`${p}.icmpType`, 'ICMP type/code need proto icmp or icmpv6');
  if (icmpCode >= 0 && icmpType < 0) throw new ConfigError(`${p}.icmpCode`, 'icmpCode needs icmpType');
  const states = o.opt('state', arrayOf(oneOf(Object.keys(CT_NAMES)), 1), []);
  const action = o.req('action', oneOf(['allow', 'deny', 'reject'] as const));
  const rejectWith = o.opt('rejectWith', oneOf(['port-unreachable', 'admin-prohibited'] as const), 'port-unreachable');
  if (o.has('rejectWith') && action !== 'reject') throw new ConfigError(`${p}.rejectWith`, 'only for action reject');
  return {
    name: o.opt('name', str(), `rule${i}`),
    in: o.opt('in', iface, null),
    out: o.opt('out', iface, null),
    family,
    proto,
    src,
    dst,
    sport,
    dport,
    icmpType,
    icmpCode,
    state: states.reduce((m, s) => m | (CT_NAMES[s] ?? 0), 0),
    action,
    rejectWith,
  };
}

/**
 * Parses and checks a firewall configuration.
 *
 * @example
 * parseFirewallConfig({
 *   interfaces: [{ name: 'lan' }, { name: 'wan' }],
 *   defaultPolicy: 'deny',
 *   rules: [
 *     { in: 'lan', action: 'allow' },
 *     { in: 'wan', proto: 'tcp', dst: '192.0.2.10/32', dport: 443, action: 'allow' },
 *     { in: 'wan', proto: 'tcp', dport: '1-1023', action: 'reject' },
 *   ],
 * });
 */
export function parseFirewallConfig(config: unknown): FirewallConfig {
  const o = strictObject(config, '', ['interfaces', 'rules', 'defaultPolicy', 'fastPath', 'nonIp', 'maxFlows', 'tcpLoose', 'timeouts']);
  const raw = o.req('interfaces', arrayOf((v, p) => {
    const io = strictObject(v, p, ['name', 'to']);
    return { name: io.req('name', str()), to: io.maybe('to', str()) };
  }, 1, 64));
  const names = raw.map((r) => r.name);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) throw new ConfigError(`interfaces[${i}].name`, `duplicate interface '${n}'`);
  });
  const interfaces = raw.map((r, i): FirewallInterface => {
    if (r.to !== undefined) {
      if (!names.includes(r.to)) throw new ConfigError(`interfaces[${i}].to`, `no interface named '${r.to}'`);
      return { name: r.name, to: r.to };
    }
    if (names.length !== 2) throw new ConfigError(`interfaces[${i}].to`, 'is required unless there are exactly two interfaces');
    return { name: r.name, to: names[1 - i]! };
  });
  const rules = o.opt('rules', (v, p) => arrayOf((x, q) => x, 0, 100_000)(v, p).map((x, i) => parseRule(x, `${p}[${i}]`, names, i)), []);
  return {
    interfaces,
    rules,
    defaultPolicy: o.opt('defaultPolicy', oneOf(['allow', 'deny', 'reject'] as const), 'deny'),
    fastPath: o.opt('fastPath', bool(), true),
    nonIp: o.opt('nonIp', oneOf(['allow', 'deny'] as const), 'allow'),
    maxFlows: o.opt('maxFlows', int(1, 1 << 22), 65_536),
    tcpLoose: o.opt('tcpLoose', bool(), false),
    timeouts: o.opt('timeouts', parseTimeouts, DEFAULT_TIMEOUTS),
  };
}

const ACT_ALLOW = 0;
const ACT_DENY = 1;
const ACT_REJECT = 2;
const actionCode = (a: FirewallAction): number => (a === 'allow' ? ACT_ALLOW : a === 'deny' ? ACT_DENY : ACT_REJECT);

// Per-protocol candidate lists: [0] TCP and [1] UDP by destination-port class, [2] ICMP by type,
// [3] other protocols, [4] everything (fragments).
interface PortIndex {
  readonly classOf: Uint16Array | Uint32Array;
  readonly start: Int32Array;
  readonly rules: Int32Array;
}

function listsIndex(lists: number[][], classOf: Uint16Array | Uint32Array): PortIndex {
  const start = new Int32Array(lists.length + 1);
  let n = 0;
  lists.forEach((l, i) => {
    start[i] = n;
    n += l.length;
  });
  start[lists.length] = n;
  const rules = new Int32Array(n);
  let k = 0;
  for (const l of lists) for (const r of l) rules[k++] = r;
  return { classOf, start, rules };
}

/**
 * The firewall. Port i is interface i of the configuration.
 *
 * @example
 * const fw = firewallFactory.create({ interfaces: [{ name: 'lan' }, { name: 'wan' }], rules: [{ in: 'lan', action: 'allow' }] });
 * fw.process(0, batch, ctx); // lan → wan allowed and tracked; replies from wan pass as established
 */
export class Firewall implements NetworkFunction {
  readonly kind = 'firewall';
  readonly ports: readonly PortDecl[];
  readonly cfg: FirewallConfig;
  private readonly ct: Conntrack;
  private readonly v = new PacketView();
  private readonly toPort: Int32Array;
  // Rules as parallel arrays.
  private readonly nRules: number;
  private readonly rIn: Int32Array;
  private readonly rOut: Int32Array;
  private readonly rFamily: Uint8Array;
  private readonly rProto: Int16Array;
  private readonly rFlags: Uint8Array; // 1 src, 2 dst, 4 sport, 8 dport, 16 icmp type, 32 icmp code
  private readonly rSrc: Uint32Array;
  private readonly rSrcMask: Uint32Array;
  private readonly rDst: Uint32Array;
  private readonly rDstMask: Uint32Array;
  private readonly rPorts: Uint16Array; // sportLo, sportHi, dportLo, dportHi
  private readonly rIcmp: Int16Array; // type, code
  private readonly rState: Uint8Array;
  private readonly rAction: Uint8Array;
  private readonly rRejectCode: Uint8Array; // 0 port-unreachable, 1 admin-prohibited
  private readonly rPackets: Float64Array;
  private readonly rBytes: Float64Array;
  private readonly idx: PortIndex[];
  private readonly defaultAction: number;
  private defPackets = 0;
  private defBytes = 0;
  private readonly scratch = new Uint8Array(2048);
  // Per-batch stage arrays (tuples, whether tracked, hashes, protocol, TCP flags).
  private bKeys = new Uint32Array(MAX_BATCH * KW);
  private bUse = new Uint8Array(MAX_BATCH);
  private bHash = new Int32Array(MAX_BATCH);
  private bProto = new Uint8Array(MAX_BATCH);
  private bFlags = new Uint16Array(MAX_BATCH);
  private readonly pc: Float64Array;
  private readonly c = {
    in: 0, out: 0, dropped: 0, allowed: 0, denied: 0, rejected: 0, rejectSuppressed: 0, malformed: 0, nonIp: 0,
    fastPath: 0, ruleWalks: 0, rulesVisited: 0, new: 0, established: 0, related: 0, invalid: 0, untracked: 0, tableFull: 0,
  };

  constructor(cfg: FirewallConfig) {
    this.cfg = cfg;
    const names = cfg.interfaces.map((i) => i.name);
    this.ports = cfg.interfaces.map((i) => ({ name: i.name }));
    this.toPort = Int32Array.from(cfg.interfaces.map((i) => names.indexOf(i.to)));
    this.pc = new Float64Array(names.length * 5);
    this.ct = new Conntrack({ maxFlows: cfg.maxFlows, timeouts: cfg.timeouts, tcpLoose: cfg.tcpLoose });
    const n = cfg.rules.length;
    this.nRules = n;
    this.rIn = new Int32Array(n);
    this.rOut = new Int32Array(n);
    this.rFamily = new Uint8Array(n);
    this.rProto = new Int16Array(n);
    this.rFlags = new Uint8Array(n);
    this.rSrc = new Uint32Array(n * 4);
    this.rSrcMask = new Uint32Array(n * 4);
    this.rDst = new Uint32Array(n * 4);
    this.rDstMask = new Uint32Array(n * 4);
    this.rPorts = new Uint16Array(n * 4);
    this.rIcmp = new Int16Array(n * 2);
    this.rState = new Uint8Array(n);
    this.rAction = new Uint8Array(n);
    this.rRejectCode = new Uint8Array(n);
    this.rPackets = new Float64Array(n);
    this.rBytes = new Float64Array(n);
    cfg.rules.forEach((r, i) => {
      this.rIn[i] = r.in === null ? -1 : names.indexOf(r.in);
      this.rOut[i] = r.out === null ? -1 : names.indexOf(r.out);
      this.rFamily[i] = r.family;
      this.rProto[i] = r.proto;
      let f = 0;
      if (r.src) { f |= 1; putPrefix(r.src, this.rSrc, this.rSrcMask, i * 4); }
      if (r.dst) { f |= 2; putPrefix(r.dst, this.rDst, this.rDstMask, i * 4); }
      if (r.sport) { f |= 4; this.rPorts[i * 4] = r.sport[0]; this.rPorts[i * 4 + 1] = r.sport[1]; }
      if (r.dport) { f |= 8; this.rPorts[i * 4 + 2] = r.dport[0]; this.rPorts[i * 4 + 3] = r.dport[1]; }
      if (r.icmpType >= 0) { f |= 16; this.rIcmp[i * 2] = r.icmpType; }
      if (r.icmpCode >= 0) { f |= 32; this.rIcmp[i * 2 + 1] = r.icmpCode; }
      this.rFlags[i] = f;
      this.rState[i] = r.state;
      this.rAction[i] = actionCode(r.action);
      this.rRejectCode[i] = r.rejectWith === 'admin-prohibited' ? 1 : 0;
    });
    this.defaultAction = actionCode(cfg.defaultPolicy);
    this.idx = this.buildIndex();
  }

  // Candidate lists per protocol bucket (see PortIndex).
  private buildIndex(): PortIndex[] {
    const rules = this.cfg.rules;
    const all = rules.map((_, i) => i);
    const byPort = (proto: number): PortIndex => {
      const cand = all.filter((i) => rules[i]!.proto === -1 || rules[i]!.proto === proto);
      const cuts = new Set<number>([0, 65536]);
      for (const i of cand) {
        const d = rules[i]!.dport;
        if (d) { cuts.add(d[0]); cuts.add(d[1] + 1); }
      }
      const pts = [...cuts].sort((a, b) => a - b);
      const lists: number[][] = [];
      const classOf = pts.length - 1 <= 65535 ? new Uint16Array(65536) : new Uint32Array(65536);
      let total = 0;
      for (let k = 0; k + 1 < pts.length; k++) {
        const lo = pts[k]!;
        const l = cand.filter((i) => { const d = rules[i]!.dport; return !d || (d[0] <= lo && lo <= d[1]); });
        total += l.length;
        classOf.fill(k, lo, pts[k + 1]!);
        lists.push(l);
      }
      // Pathological rule sets (many wide overlapping ranges): one list, still correct.
      if (total > 4_000_000) return listsIndex([cand], new Uint16Array(65536));
      return listsIndex(lists, classOf);
    };
    const icmpLists: number[][] = [];
    const icmpClass = new Uint16Array(65536);
    for (let t = 0; t < 256; t++) {
      icmpClass[t] = t;
      icmpLists.push(all.filter((i) => { const r = rules[i]!; return (r.proto === -1 || r.proto === 1 || r.proto === 58) && (r.icmpType < 0 || r.icmpType === t); }));
    }
    const other = all.filter((i) => { const p = rules[i]!.proto; return p !== 6 && p !== 17 && p !== 1 && p !== 58; });
    return [byPort(6), byPort(17), listsIndex(icmpLists, icmpClass), listsIndex([other], new Uint16Array(65536)), listsIndex([all], new Uint16Array(65536))];
  }

  private matches(r: number, inPort: number, outPort: number, v: PacketView, st: number): boolean {
    const ri = this.rIn[r]!;
    if (ri >= 0 && ri !== inPort) return false;
    const ro = this.rOut[r]!;
    if (ro >= 0 && ro !== outPort) return false;
    const fam = this.rFamily[r]!;
    if (fam !== 0 && fam !== v.family) return false;
    const pr = this.rProto[r]!;
    if (pr >= 0 && pr !== v.proto) return false;
    const sm = this.rState[r]!;
    if (sm !== 0 && (sm & st) === 0) return false;
    const f = this.rFlags[r]!;
    if (f === 0) return true;
    const k = v.key;
    if (f & 1) {
      const o = r * 4;
      const n = this.rSrc;
      const m = this.rSrcMask;
      if ((k[3]! & m[o + 3]!) >>> 0 !== n[o + 3] || (k[0]! & m[o]!) >>> 0 !== n[o] || (k[1]! & m[o + 1]!) >>> 0 !== n[o + 1] || (k[2]! & m[o + 2]!) >>> 0 !== n[o + 2]) return false;
    }
    if (f & 2) {
      const o = r * 4;
      const n = this.rDst;
      const m = this.rDstMask;
      if ((k[7]! & m[o + 3]!) >>> 0 !== n[o + 3] || (k[4]! & m[o]!) >>> 0 !== n[o] || (k[5]! & m[o + 1]!) >>> 0 !== n[o + 1] || (k[6]! & m[o + 2]!) >>> 0 !== n[o + 2]) return false;
    }
    if (f & 12) {
      if (v.kind !== L4.PORTS) return false;
      const o = r * 4;
      if (f & 4 && (v.sport < this.rPorts[o]! || v.sport > this.rPorts[o + 1]!)) return false;
      if (f & 8 && (v.dport < this.rPorts[o + 2]! || v.dport > this.rPorts[o + 3]!)) return false;
    }
    if (f & 16 && v.icmpType !== this.rIcmp[r * 2]) return false;
    if (f & 32 && v.icmpCode !== this.rIcmp[r * 2 + 1]) return false;
    return true;
  }

  /** First matching rule index, or -1 (default policy). */
  private walk(inPort: number, outPort: number, v: PacketView, st: number): number {
    const p = v.proto;
    let ix: PortIndex;
    let key = 0;
    if (v.kind === L4.FRAGMENT) ix = this.idx[4]!;
    else if (p === 6 || p === 17) {
      ix = this.idx[p === 6 ? 0 : 1]!;
      key = v.dport;
    } else if (p === 1 || p === 58) {
      ix = this.idx[2]!;
      key = v.icmpType & 0xff;
    } else ix = this.idx[3]!;
    const cls = ix.classOf[key]!;
    const end = ix.start[cls + 1]!;
    const list = ix.rules;
    for (let j = ix.start[cls]!; j < end; j++) {
      const r = list[j]!;
      this.c.rulesVisited++;
      if (this.matches(r, inPort, outPort, v, st)) return r;
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
    if (port < 0 || port >= this.ports.length) {
      dropBatch(out, batch);
      c.dropped += n;
      c.malformed += n;
      return;
    }
    const egress = this.toPort[port]!;
    const fast = this.cfg.fastPath;
    // Per-batch sums of the common path, folded into the counters once at the end.
    let rxBytes = 0;
    let fastN = 0;
    let fastBytes = 0;
    if (n > this.bUse.length) {
      // A batch larger than MAX_BATCH (a custom Batch capacity): grow the stage arrays once.
      this.bKeys = new Uint32Array(n * KW);
      this.bUse = new Uint8Array(n);
      this.bHash = new Int32Array(n);
      this.bProto = new Uint8Array(n);
      this.bFlags = new Uint16Array(n);
    }
    // Stage 1: parse every frame and keep the tuples of trackable ones; stage 2: overlap the
    // cache misses of their conntrack lookups; stage 3: per frame, in order.
    const keys = this.bKeys;
    const use = this.bUse;
    const protos = this.bProto;
    const flags = this.bFlags;
    for (let i = 0; i < n; i++) {
      const k = parsePacketInto(b, batch.offs[i]!, batch.lens[i]!, v, keys, i * KW) === PARSE.OK ? v.kind : -1;
      if (k === L4.PORTS || k === L4.ICMP_ECHO || k === L4.OTHER) {
        use[i] = 1;
        protos[i] = v.proto;
        flags[i] = v.tcpFlags;
      } else use[i] = 0;
    }
    ct.prefetch(keys, n, use, this.bHash);
    for (let i = 0; i < n; i++) {
      const slot = batch.slots[i]!;
      const off = batch.offs[i]!;
      const len = batch.lens[i]!;
      rxBytes += len;
      let ref = -1;
      let st = 0;
      if (use[i]) {
        ref = ct.lookupAt(keys, i * KW, this.bHash[i]!);
        if (ref >= 0) {
          st = ct.updateRaw(ref, protos[i]!, flags[i]!, now);
          if (fast && st === CT.ESTABLISHED) {
            fastN++;
            fastBytes += len;
            out.send(egress, slot, off, len);
            continue;
          }
        }
      }
      // Slow path: the frame's parse again in `v`.
      const pr = parsePacket(b, off, len, v);
      if (pr !== PARSE.OK) {
        if (pr === PARSE.NOT_IP) {
          c.nonIp++;
          if (this.cfg.nonIp === 'allow') {
            this.send(out, slot, off, len, egress);
            continue;
          }
        } else c.malformed++;
        this.drop(out, slot, port);
        continue;
      }
      if (ref < 0) st = use[i] ? ct.classifyMiss(v) : ct.classify(v, now);
      if (st === CT.ESTABLISHED) c.established++;
      else if (st === CT.RELATED) c.related++;
      else if (st === CT.NEW) c.new++;
      else if (st === CT.INVALID) c.invalid++;
      else c.untracked++;
      if (fast && st === CT.RELATED) {
        c.fastPath++;
        c.allowed++;
        this.send(out, slot, off, len, egress);
        continue;
      }
      c.ruleWalks++;
      const r = this.nRules === 0 ? -1 : this.walk(port, egress, v, st);
      let act: number;
      if (r >= 0) {
        this.rPackets[r] = this.rPackets[r]! + 1;
        this.rBytes[r] = this.rBytes[r]! + len;
        act = this.rAction[r]!;
      } else {
        this.defPackets++;
        this.defBytes += len;
        act = this.defaultAction;
      }
      if (act === ACT_ALLOW) {
        if (st === CT.NEW) {
          const conn = ct.create(v.key, null, v, now);
          if (conn < 0) {
            c.tableFull++;
            this.drop(out, slot, port);
            continue;
          }
          ct.mark[conn] = r;
        }
        c.allowed++;
        this.send(out, slot, off, len, egress);
      } else if (act === ACT_DENY) {
        c.denied++;
        this.drop(out, slot, port);
      } else {
        c.rejected++;
        const rlen = this.buildReject(b, off, v, r >= 0 ? this.rRejectCode[r]! : 0);
        if (rlen > 0 && off + rlen <= pool.slotStart(slot) + pool.slotSize) {
          b.set(this.scratch.subarray(0, rlen), off);
          this.send(out, slot, off, rlen, port);
        } else {
          c.rejectSuppressed++;
          this.drop(out, slot, port);
        }
      }
    }
    pc[port * 5] = pc[port * 5]! + n;
    pc[port * 5 + 1] = pc[port * 5 + 1]! + rxBytes;
    pc[egress * 5 + 2] = pc[egress * 5 + 2]! + fastN;
    pc[egress * 5 + 3] = pc[egress * 5 + 3]! + fastBytes;
    c.established += fastN;
    c.fastPath += fastN;
    c.allowed += fastN;
    c.out += fastN;
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

  /**
   * Writes the reject answer to the packet `v` (frame at `off`) into the scratch buffer; returns
   * its length, or 0 when no answer may be sent.
   */
  private buildReject(b: Uint8Array, off: number, v: PacketView, code: number): number {
    const s = this.scratch;
    // Never answer group-addressed frames, fragments or errors (RFC 1122 §3.2.2, RFC 4443 §2.4 e).
    if ((b[off]! & 1) !== 0 || v.kind === L4.FRAGMENT || v.kind === L4.ICMP_ERROR) return 0;
    const l3 = v.l3;
    if (v.family === 4) {
      const d = v.key[7]!;
      if (d === 0xffffffff || d >>> 28 === 14) return 0;
    } else if (b[l3 + 24] === 0xff) return 0;
    if (v.proto === 6 && v.tcpFlags & 0x04) return 0;
    // L2: mirrored MACs, same VLAN tags.
    const l2 = l3 - off;
    s.set(b.subarray(off + 6, off + 12), 0);
    s.set(b.subarray(off, off + 6), 6);
    s.set(b.subarray(off + 12, l3), 12);
    const o3 = l2;
    const fam = v.family;
    const hl = fam === 4 ? 20 : 40;
    const o4 = o3 + hl;
    let l4len: number;
    let proto: number;
    if (v.proto === 6) {
      proto = 6;
      l4len = 20;
      const t = v.l4;
      const flags = v.tcpFlags;
      s[o4] = b[t + 2]!;
      s[o4 + 1] = b[t + 3]!;
      s[o4 + 2] = b[t]!;
      s[o4 + 3] = b[t + 1]!;
      const doff = (b[t + 12]! >>> 4) << 2;
      const payload = v.ipLen - v.l3len - doff;
      if (flags & 0x10) {
        // RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>
        s.set(b.subarray(t + 8, t + 12), o4 + 4);
        s.fill(0, o4 + 8, o4 + 12);
        s[o4 + 13] = 0x04;
      } else {
        // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN counting one each.
        const seq = ((b[t + 4]! << 24) | (b[t + 5]! << 16) | (b[t + 6]! << 8) | b[t + 7]!) >>> 0;
        const ack = (seq + payload + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0)) >>> 0;
        s.fill(0, o4 + 4, o4 + 8);
        s[o4 + 8] = ack >>> 24;
        s[o4 + 9] = ack >>> 16;
        s[o4 + 10] = ack >>> 8;
        s[o4 + 11] = ack;
        s[o4 + 13] = 0x14;
      }
      s[o4 + 12] = 0x50;
      s.fill(0, o4 + 14, o4 + 20); // window 0, checksum, urgent pointer
    } else {
      proto = fam === 4 ? 1 : 58;
      const quote = Math.min(v.ipLen, fam === 4 ? 576 - 28 : 1280 - 48);
      l4len = 8 + quote;
      s[o4] = fam === 4 ? 3 : 1;
      s[o4 + 1] = fam === 4 ? (code === 1 ? 13 : 3) : code === 1 ? 1 : 4;
      s.fill(0, o4 + 2, o4 + 8);
      s.set(b.subarray(l3, l3 + quote), o4 + 8);
    }
    // IP header: source = the address the packet was sent to.
    if (fam === 4) {
      const tot = 20 + l4len;
      s[o3] = 0x45;
      s[o3 + 1] = proto === 1 ? 0xc0 : 0; // ICMP as Linux sends it (precedence internetwork control)
      s[o3 + 2] = tot >>> 8;
      s[o3 + 3] = tot;
      s[o3 + 4] = 0;
      s[o3 + 5] = 0;
      s[o3 + 6] = proto === 6 ? 0x40 : 0; // DF on the RST as nf_send_reset
      s[o3 + 7] = 0;
      s[o3 + 8] = 64;
      s[o3 + 9] = proto;
      s[o3 + 10] = 0;
      s[o3 + 11] = 0;
      s.set(b.subarray(l3 + 16, l3 + 20), o3 + 12);
      s.set(b.subarray(l3 + 12, l3 + 16), o3 + 16);
      const hc = internetChecksum(s, o3, 20);
      s[o3 + 10] = hc >>> 8;
      s[o3 + 11] = hc;
      const pseudo = proto === 6 ? sum16(s, o3 + 12, 8, 6 + l4len) : 0;
      const cs = internetChecksum(s, o4, l4len, pseudo);
      s[o4 + (proto === 6 ? 16 : 2)] = cs >>> 8;
      s[o4 + (proto === 6 ? 17 : 3)] = cs;
    } else {
      s[o3] = 0x60;
      s.fill(0, o3 + 1, o3 + 4);
      s[o3 + 4] = l4len >>> 8;
      s[o3 + 5] = l4len;
      s[o3 + 6] = proto;
      s[o3 + 7] = 64;
      s.set(b.subarray(l3 + 24, l3 + 40), o3 + 8);
      s.set(b.subarray(l3 + 8, l3 + 24), o3 + 24);
      const pseudo = sum16(s, o3 + 8, 32, proto + l4len);
      const cs = internetChecksum(s, o4, l4len, pseudo);
      s[o4 + (proto === 6 ? 16 : 2)] = cs >>> 8;
      s[o4 + (proto === 6 ? 17 : 3)] = cs;
    }
    return o4 + l4len;
  }

  /** Expires connections incrementally. */
  tick(ctx: ProcessContext): void {
    this.ct.sweep(ctx.now);
  }

  counters(): Counters {
    return {
      ...this.c,
      flows: this.ct.count,
      conntrack: { ...this.ct.stats },
      rules: this.cfg.rules.map((r, i) => ({ name: r.name, packets: this.rPackets[i]!, bytes: this.rBytes[i]! }) as unknown as Counters),
      defaultPolicy: { packets: this.defPackets, bytes: this.defBytes },
      ports: portRows(this.pc, this.ports.length),
    };
  }

  /** Tracked connections (tuples, TCP state, remaining lifetime, admitting rule as `mark`). */
  exportState(): Plain {
    return { connections: this.ct.exportRows() };
  }

  /** Replaces the connection table; lifetimes continue from the importer's clock at its next batch. */
  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['connections']);
    this.ct.importRows(o.req('connections', (x) => x), 'state.connections');
  }

  /** Partitioning: the connections whose flow key `owns` accepts, removed from this table. */
  exportFlows(owns: (key: number) => boolean): Plain {
    return { connections: this.ct.takeRows(owns) };
  }

  /** Partitioning: adds connections another instance exported (same format as the state). */
  importFlows(flows: Plain): void {
    const o = strictObject(flows, 'flows', ['connections']);
    this.ct.importRows(o.req('connections', (x) => x), 'flows.connections', true);
  }
}

// A prefix as 4 address words and 4 mask words (IPv4 as ::ffff:a.b.c.d/96+len).
function putPrefix(p: Prefix, net: Uint32Array, mask: Uint32Array, o: number): void {
  if (p.family === 4) {
    net[o] = 0;
    net[o + 1] = 0;
    net[o + 2] = 0xffff;
    mask[o] = mask[o + 1] = mask[o + 2] = 0xffffffff;
    const m = p.len === 0 ? 0 : (0xffffffff << (32 - p.len)) >>> 0;
    mask[o + 3] = m;
    net[o + 3] = (p.addr & m) >>> 0;
    return;
  }
  for (let w = 0; w < 4; w++) {
    const bits = Math.max(0, Math.min(32, p.len - w * 32));
    const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const a = ((p.addr[w * 4]! << 24) | (p.addr[w * 4 + 1]! << 16) | (p.addr[w * 4 + 2]! << 8) | p.addr[w * 4 + 3]!) >>> 0;
    mask[o + w] = m;
    net[o + w] = (a & m) >>> 0;
  }
}

export const firewallFactory: FunctionFactory = {
  kind: 'firewall',
  summary: 'stateful firewall: ordered 5-tuple/ICMP/state rules with allow, deny, reject (RST/ICMP), conntrack with timeouts',
  create: (config: unknown) => new Firewall(parseFirewallConfig(config)),
  ports: (config: unknown) => parseFirewallConfig(config).interfaces.map((i) => ({ name: i.name })),
};
