/**
 * Deep packet inspection: Aho–Corasick over TCP and UDP payloads with signatures that alert,
 * drop or tag. A bump in the wire with two ports: what passes enters on one and leaves by the
 * other.
 *
 * TCP is inspected as streams (one per direction): each flow keeps the next expected sequence
 * number and the automaton state, so a pattern split across in-order segments is found. Without
 * a reassembly buffer, segments out of order are handled so: a retransmission overlapping data
 * already seen is scanned only from the first new byte (first copy wins, as in most IDS stream
 * policies); a segment beyond a gap, or one that arrives late, is scanned alone from the start
 * state and the stream resynchronises after it — patterns inside it are still found, patterns
 * straddling the gap are not (counted as `outOfOrder`). A `drop` match blocks the flow: its later
 * segments, retransmissions included, are dropped until the flow times out. UDP datagrams are
 * scanned one by one. IP fragments are passed uninspected and counted.
 *
 * Hot path: one typed-array load per payload byte (see AhoCorasick), flow state in typed arrays,
 * no allocation except when an alert is recorded.
 */
import type { Batch } from '../packet/pool.js';
import { etherType, vlanEtherType } from '../packet/ethernet.js';
import * as ip4 from '../packet/ipv4.js';
import * as ip6 from '../packet/ipv6.js';
import * as tcp from '../packet/tcp.js';
import { checksumUpdate16 } from '../packet/checksum.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, int, oneOf, str, strictObject, type Parse } from './config.js';
import { AhoCorasick } from './lib/ahocorasick.js';
import { FLOW_KEY_WORDS, FlowTable, keyAddrText, setKey4, setKey6 } from './lib/flowtable.js';
import { hashString } from './lib/flowhash.js';

export interface Signature {
  readonly name: string;
  readonly pattern: Uint8Array;
  readonly protocol: 'tcp' | 'udp' | 'any';
  /** Match only when either port equals this (0 = any port). */
  readonly port: number;
  readonly action: 'alert' | 'drop' | 'tag';
  /** DSCP to set for `tag` (−1 = count only). */
  readonly dscp: number;
  /** ASCII letters match in either case. */
  readonly nocase: boolean;
}

export interface DpiConfig {
  readonly ports: readonly [string, string];
  readonly signatures: readonly Signature[];
  readonly maxFlows: number;
  readonly flowTimeoutMs: number;
  readonly maxAlerts: number;
}

export interface Alert {
  readonly timeMs: number;
  readonly signature: string;
  readonly action: 'alert' | 'drop' | 'tag';
  readonly protocol: number;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
}

/**
 * Snort-style content: literal text with |hex bytes| segments, e.g. `GET /x|0d 0a|Host`.
 * Returns the bytes or an error message.
 *
 * @example
 * parseContent('a|0d 0a|b'); // Uint8Array [0x61, 0x0d, 0x0a, 0x62]
 */
export function parseContent(s: string): Uint8Array | string {
  const out: number[] = [];
  const enc = new TextEncoder();
  let i = 0;
  while (i < s.length) {
    const bar = s.indexOf('|', i);
    if (bar < 0) {
      out.push(...enc.encode(s.slice(i)));
      break;
    }
    out.push(...enc.encode(s.slice(i, bar)));
    const end = s.indexOf('|', bar + 1);
    if (end < 0) return `unterminated |hex| segment at ${bar}`;
    const hex = s.slice(bar + 1, end).replace(/\s+/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) return `bad hex bytes '${s.slice(bar + 1, end)}'`;
    for (let k = 0; k < hex.length; k += 2) out.push(parseInt(hex.slice(k, k + 2), 16));
    i = end + 1;
  }
  if (out.length === 0) return 'empty pattern';
  return new Uint8Array(out);
}

const content: Parse<Uint8Array> = (v, p) => {
  const r = parseContent(str()(v, p));
  if (typeof r === 'string') throw new ConfigError(p, r);
  return r;
};

/**
 * Parses a DPI configuration.
 *
 * @example
 * parseDpiConfig({ signatures: [
 *   { name: 'evil-get', pattern: 'GET /evil', protocol: 'tcp', port: 80, action: 'drop' },
 *   { name: 'video', pattern: '|00 00 01 b3|', action: 'tag', dscp: 34 },
 * ] });
 */
export function parseDpiConfig(config: unknown): DpiConfig {
  const o = strictObject(config, '', ['ports', 'signatures', 'maxFlows', 'flowTimeoutMs', 'maxAlerts']);
  const ports = o.opt('ports', arrayOf(str(), 2, 2), ['a', 'b']);
  if (ports[0] === ports[1]) throw new ConfigError('ports[1]', 'port names must differ');
  const signatures = o.req('signatures', arrayOf((v, p): Signature => {
    const s = strictObject(v, p, ['name', 'pattern', 'protocol', 'port', 'action', 'dscp', 'nocase']);
    const action = s.req('action', oneOf(['alert', 'drop', 'tag'] as const));
    if (action !== 'tag' && s.has('dscp')) throw new ConfigError(`${p}.dscp`, 'only for action tag');
    return {
      name: s.req('name', str()),
      pattern: s.req('pattern', content),
      protocol: s.opt('protocol', oneOf(['tcp', 'udp', 'any'] as const), 'any'),
      port: s.opt('port', int(1, 65535), 0),
      action,
      dscp: action === 'tag' ? s.opt('dscp', int(0, 63), -1) : -1,
      nocase: s.opt('nocase', (x, q) => {
        if (typeof x !== 'boolean') throw new ConfigError(q, 'expected true or false');
        return x;
      }, false),
    };
  }, 1, 100_000));
  const names = new Set<string>();
  signatures.forEach((s, i) => {
    if (names.has(s.name)) throw new ConfigError(`signatures[${i}].name`, `duplicate signature '${s.name}'`);
    names.add(s.name);
  });
  return {
    ports: [ports[0] as string, ports[1] as string],
    signatures,
    maxFlows: o.opt('maxFlows', int(1, 1 << 22), 65536),
    flowTimeoutMs: o.opt('flowTimeoutMs', int(1, 86_400_000), 120_000),
    maxAlerts: o.opt('maxAlerts', int(0, 1_000_000), 1024),
  };
}

const F_BLOCKED = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const ACT_ALERT = 1;
const ACT_DROP = 2;
const ACT_TAG = 3;

/**
 * @example
 * const dpi = dpiFactory.create(config) as Dpi;
 * dpi.process(0, batch, ctx);   // frames leave by port 1 unless dropped
 * dpi.alerts();                 // recent alerts, oldest first
 */
export class Dpi implements NetworkFunction {
  readonly kind = 'dpi';
  readonly ports: readonly PortDecl[];
  private readonly cfg: DpiConfig;
  // Case-sensitive and case-insensitive signatures live in two automata (a DFA cannot mix the
  // two without blowing up); each maps its pattern ids back to signature indexes.
  private readonly ac: AhoCorasick;
  private readonly acNc: AhoCorasick;
  private readonly sigOf: Int32Array;
  private readonly sigOfNc: Int32Array;
  private readonly acState2: Int32Array;
  private pktAction = 0;
  private pktDscp = -1;
  /** Fingerprint of the signature set: exported stream states are only valid for the same set. */
  private readonly fingerprint: string;
  private readonly sigProto: Uint8Array;
  private readonly sigPort: Int32Array;
  private readonly sigAction: Uint8Array;
  private readonly sigDscp: Int32Array;
  private readonly sigHits: Float64Array;
  private readonly sigStamp: Float64Array;
  private stamp = 0;
  private readonly flows: FlowTable;
  private readonly expected: Uint32Array;
  private readonly acState: Int32Array;
  private readonly flags: Uint8Array;
  private readonly alertRing: Alert[] = [];
  private alertsDropped = 0;
  private lastSweep = 0;
  private rebase = false;
  private c = { in: 0, out: 0, dropped: 0, malformed: 0, inspected: 0, bytesScanned: 0, uninspected: 0, fragments: 0, outOfOrder: 0, overlaps: 0, blockedFlow: 0, matched: 0, flows: 0, flowTableFull: 0, expired: 0, alerts: 0, tagged: 0 };

  constructor(cfg: DpiConfig) {
    this.cfg = cfg;
    this.ports = cfg.ports.map((name) => ({ name }));
    const cs = cfg.signatures.map((s, i) => [s, i] as const).filter(([s]) => !s.nocase);
    const nc = cfg.signatures.map((s, i) => [s, i] as const).filter(([s]) => s.nocase);
    this.ac = new AhoCorasick(cs.map(([s]) => s.pattern));
    this.acNc = new AhoCorasick(nc.map(([s]) => s.pattern), 1024, true);
    this.sigOf = Int32Array.from(cs.map(([, i]) => i));
    this.sigOfNc = Int32Array.from(nc.map(([, i]) => i));
    const n = cfg.signatures.length;
    this.sigProto = new Uint8Array(n);
    this.sigPort = new Int32Array(n);
    this.sigAction = new Uint8Array(n);
    this.sigDscp = new Int32Array(n);
    this.sigHits = new Float64Array(n);
    this.sigStamp = new Float64Array(n);
    let fp = 0;
    cfg.signatures.forEach((s, i) => {
      this.sigProto[i] = s.protocol === 'tcp' ? PROTO_TCP : s.protocol === 'udp' ? PROTO_UDP : 0;
      this.sigPort[i] = s.port;
      this.sigAction[i] = s.action === 'alert' ? ACT_ALERT : s.action === 'drop' ? ACT_DROP : ACT_TAG;
      this.sigDscp[i] = s.dscp;
      fp = hashString(`${s.nocase ? 'i' : 's'}${Buffer.from(s.pattern).toString('hex')}`, fp);
    });
    this.fingerprint = `${n}:${fp.toString(16)}`;
    this.flows = new FlowTable(cfg.maxFlows, (from, to) => {
      this.expected[to] = this.expected[from] as number;
      this.acState[to] = this.acState[from] as number;
      this.acState2[to] = this.acState2[from] as number;
      this.flags[to] = this.flags[from] as number;
    });
    const cap = this.flows.capacity;
    this.expected = new Uint32Array(cap);
    this.acState = new Int32Array(cap);
    this.acState2 = new Int32Array(cap);
    this.flags = new Uint8Array(cap);
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const { pool, out, now } = ctx;
    if (this.rebase) this.doRebase(now);
    const b = pool.bytes;
    const n = batch.count;
    const c = this.c;
    const egress = port === 0 ? 1 : 0;
    const key = this.flows.scratch;
    c.in += n;
    for (let i = 0; i < n; i++) {
      const slot = batch.slots[i] as number;
      const off = batch.offs[i] as number;
      const len = batch.lens[i] as number;
      const end = off + len;
      if (len < 14 || port < 0 || port > 1) {
        out.drop(slot);
        c.dropped++;
        c.malformed++;
        continue;
      }
      let l3 = off + 14;
      let type = etherType(b, off);
      if (type === 0x8100 && len >= 18) {
        type = vlanEtherType(b, off + 14);
        l3 += 4;
      }
      let proto: number;
      let l4: number;
      let l4end: number;
      let v6 = false;
      if (type === 0x0800) {
        if (l3 + 20 > end || (b[l3] as number) >>> 4 !== 4) {
          out.drop(slot);
          c.dropped++;
          c.malformed++;
          continue;
        }
        const hl = ((b[l3] as number) & 0x0f) << 2;
        const tl = ip4.totalLength(b, l3);
        if (hl < 20 || tl < hl || l3 + tl > end) {
          out.drop(slot);
          c.dropped++;
          c.malformed++;
          continue;
        }
        if (ip4.isFragment(b, l3)) {
          this.pass(out, slot, off, len, egress);
          c.fragments++;
          continue;
        }
        proto = b[l3 + 9] as number;
        l4 = l3 + hl;
        l4end = l3 + tl;
      } else if (type === 0x86dd) {
        if (l3 + 40 > end || (b[l3] as number) >>> 4 !== 6) {
          out.drop(slot);
          c.dropped++;
          c.malformed++;
          continue;
        }
        const pl = ip6.payloadLength(b, l3);
        if (l3 + 40 + pl > end) {
          out.drop(slot);
          c.dropped++;
          c.malformed++;
          continue;
        }
        proto = b[l3 + 6] as number; // extension headers are not walked: such packets pass uninspected
        l4 = l3 + 40;
        l4end = l4 + pl;
        v6 = true;
      } else {
        this.pass(out, slot, off, len, egress);
        c.uninspected++;
        continue;
      }
      let pay: number;
      let sport: number;
      let dport: number;
      if (proto === PROTO_TCP) {
        if (l4 + 20 > l4end) {
          out.drop(slot);
          c.dropped++;
          c.malformed++;
          continue;
        }
        const doff = ((b[l4 + 12] as number) >>> 4) << 2;
        if (doff < 20 || l4 + doff > l4end) {
          out.drop(slot);
          c.dropped++;
          c.malformed++;
          continue;
        }
        pay = l4 + doff;
      } else if (proto === PROTO_UDP) {
        if (l4 + 8 > l4end) {
          out.drop(slot);
          c.dropped++;
          c.malformed++;
          continue;
        }
        pay = l4 + 8;
      } else {
        this.pass(out, slot, off, len, egress);
        c.uninspected++;
        continue;
      }
      sport = tcp.srcPort(b, l4); // TCP and UDP share the port layout
      dport = tcp.dstPort(b, l4);
      let scanFrom = pay;
      let startState = 0;
      let startState2 = 0;
      let fi = -1;
      if (proto === PROTO_TCP) {
        if (v6) setKey6(key, b, l3 + 8, l3 + 24, sport, dport, proto);
        else setKey4(key, ip4.src(b, l3), ip4.dst(b, l3), sport, dport, proto);
        const seq = tcp.seq(b, l4);
        const tflags = b[l4 + 13] as number;
        const plen = l4end - pay;
        fi = this.flows.find(key);
        if (fi >= 0 && ((this.flags[fi] as number) & F_BLOCKED) !== 0) {
          this.flows.lastSeen[fi] = now;
          out.drop(slot);
          c.dropped++;
          c.blockedFlow++;
          continue;
        }
        if (fi < 0 && (plen > 0 || (tflags & 0x02) !== 0) && (tflags & 0x04) === 0) {
          fi = this.flows.insert(key, now);
          if (fi >= 0) {
            c.flows++;
            this.expected[fi] = (tflags & 0x02) !== 0 ? (seq + 1) >>> 0 : seq;
            this.acState[fi] = 0;
            this.acState2[fi] = 0;
            this.flags[fi] = 0;
          } else c.flowTableFull++;
        }
        if (fi >= 0) {
          this.flows.lastSeen[fi] = now;
          if ((tflags & 0x02) !== 0) {
            // SYN (or a retransmitted one): the stream starts after its sequence number.
            this.expected[fi] = (seq + 1) >>> 0;
            this.acState[fi] = 0;
            this.acState2[fi] = 0;
          } else if (plen > 0) {
            const d = (seq - (this.expected[fi] as number)) | 0;
            if (d === 0) {
              startState = this.acState[fi] as number;
              startState2 = this.acState2[fi] as number;
            } else if (d < 0 && d + plen > 0) {
              scanFrom = pay - d; // only the bytes not seen yet
              startState = this.acState[fi] as number;
              startState2 = this.acState2[fi] as number;
              c.overlaps++;
            } else {
              c.outOfOrder++; // beyond a gap, or late: scanned alone
            }
          }
        }
      }
      // Scan.
      this.pktAction = 0;
      this.pktDscp = -1;
      if (scanFrom < l4end) {
        const ac = this.ac;
        const acNc = this.acNc;
        const stamp = ++this.stamp;
        let st = 0;
        let st2 = 0;
        if (ac.patternCount > 0) {
          st = ac.scan(b, scanFrom, l4end, startState);
          if (ac.matchCount > 0) this.apply(ac, this.sigOf, stamp, now, proto, key, v6, b, l3, sport, dport);
        }
        if (acNc.patternCount > 0) {
          st2 = acNc.scan(b, scanFrom, l4end, startState2);
          if (acNc.matchCount > 0) this.apply(acNc, this.sigOfNc, stamp, now, proto, key, v6, b, l3, sport, dport);
        }
        c.bytesScanned += l4end - scanFrom;
        if (fi >= 0) {
          const seqEnd = (tcp.seq(b, l4) + (l4end - pay)) >>> 0;
          // The stream only moves forward: a late segment scanned alone leaves it where it is.
          if ((((this.expected[fi] as number) - seqEnd) | 0) < 0) {
            this.expected[fi] = seqEnd;
            this.acState[fi] = st;
            this.acState2[fi] = st2;
          }
        }
        if (this.pktAction !== 0) c.matched++;
      }
      const action = this.pktAction;
      const dscp = this.pktDscp;
      c.inspected++;
      if (fi >= 0 && proto === PROTO_TCP) {
        const tflags = b[l4 + 13] as number;
        if (action === ACT_DROP) this.flags[fi] = (this.flags[fi] as number) | F_BLOCKED;
        else if ((tflags & 0x05) !== 0) this.flows.removeAt(fi); // FIN or RST: this direction is over
      }
      if (action === ACT_DROP) {
        out.drop(slot);
        c.dropped++;
        continue;
      }
      if (dscp >= 0) {
        this.setDscp(b, l3, v6, dscp);
        c.tagged++;
      }
      this.pass(out, slot, off, len, egress);
    }
  }

  // Signature hits of one scan: counted once per packet (`stamp`), filtered by protocol and port.
  private apply(ac: AhoCorasick, sigOf: Int32Array, stamp: number, now: number, proto: number, key: Uint32Array, v6: boolean, b: Uint8Array, l3: number, sport: number, dport: number): void {
    for (let m = 0; m < ac.matchCount; m++) {
      const sig = sigOf[ac.matches[m] as number] as number;
      if (this.sigStamp[sig] === stamp) continue;
      const sp = this.sigProto[sig] as number;
      const spt = this.sigPort[sig] as number;
      if ((sp !== 0 && sp !== proto) || (spt !== 0 && spt !== sport && spt !== dport)) continue;
      this.sigStamp[sig] = stamp;
      this.sigHits[sig] = (this.sigHits[sig] as number) + 1;
      const a = this.sigAction[sig] as number;
      if (a === ACT_DROP) this.pktAction = ACT_DROP;
      else if (a === ACT_TAG) {
        if (this.pktAction === 0) this.pktAction = ACT_TAG;
        if ((this.sigDscp[sig] as number) >= 0) this.pktDscp = this.sigDscp[sig] as number;
      } else if (this.pktAction === 0) this.pktAction = ACT_ALERT;
      if (a !== ACT_TAG) this.recordAlert(now, sig, proto, key, v6, b, l3, sport, dport);
    }
  }

  private pass(out: ProcessContext['out'], slot: number, off: number, len: number, egress: number): void {
    this.c.out++;
    out.send(egress, slot, off, len);
  }

  // DSCP is the top 6 bits of the IPv4 TOS / IPv6 traffic class (RFC 2474); ECN bits are kept.
  private setDscp(b: Uint8Array, l3: number, v6: boolean, dscp: number): void {
    if (v6) {
      const tc = ((((b[l3] as number) & 0x0f) << 4) | ((b[l3 + 1] as number) >>> 4));
      const ntc = (dscp << 2) | (tc & 3);
      b[l3] = 0x60 | (ntc >>> 4);
      b[l3 + 1] = ((ntc & 0x0f) << 4) | ((b[l3 + 1] as number) & 0x0f);
      return;
    }
    const old = ((b[l3] as number) << 8) | (b[l3 + 1] as number);
    const tos = (dscp << 2) | ((b[l3 + 1] as number) & 3);
    const hc = checksumUpdate16(ip4.checksum(b, l3), old, ((b[l3] as number) << 8) | tos);
    b[l3 + 1] = tos;
    b[l3 + 10] = hc >>> 8;
    b[l3 + 11] = hc & 0xff;
  }

  private recordAlert(now: number, sig: number, proto: number, key: Uint32Array, v6: boolean, b: Uint8Array, l3: number, sport: number, dport: number): void {
    this.c.alerts++;
    if (this.cfg.maxAlerts === 0) return;
    if (proto !== PROTO_TCP) {
      // UDP: the flow key was not filled for this packet.
      if (v6) setKey6(key, b, l3 + 8, l3 + 24, sport, dport, proto);
      else setKey4(key, ip4.src(b, l3), ip4.dst(b, l3), sport, dport, proto);
    }
    const s = this.cfg.signatures[sig] as Signature;
    this.alertRing.push({ timeMs: now, signature: s.name, action: s.action, protocol: proto, src: keyAddrText(key, 0), dst: keyAddrText(key, 4), srcPort: sport, dstPort: dport });
    if (this.alertRing.length > this.cfg.maxAlerts) {
      this.alertRing.shift();
      this.alertsDropped++;
    }
  }

  /** Recent alerts (at most `maxAlerts`), oldest first. */
  alerts(): readonly Alert[] {
    return this.alertRing.slice();
  }

  /** Returns and forgets the recent alerts. */
  drainAlerts(): Alert[] {
    return this.alertRing.splice(0, this.alertRing.length);
  }

  tick(ctx: ProcessContext): void {
    if (this.rebase) this.doRebase(ctx.now);
    if (ctx.now - this.lastSweep < Math.min(1000, this.cfg.flowTimeoutMs / 4)) return;
    this.lastSweep = ctx.now;
    this.c.expired += this.flows.expire(ctx.now, this.cfg.flowTimeoutMs);
  }

  private doRebase(now: number): void {
    this.flows.rebase(now);
    this.rebase = false;
  }

  counters(): Counters {
    return {
      ...this.c,
      activeFlows: this.flows.size,
      alertsOverwritten: this.alertsDropped,
      signatures: this.cfg.signatures.map((s, i) => ({ hits: this.sigHits[i] as number })),
    };
  }

  /** Stream states (with idle times), blocked flows and recent alerts. */
  exportState(): Plain {
    const now = this.flows.latest();
    const flows: Plain[] = [];
    const k = this.flows.keys;
    for (let i = 0; i < this.flows.capacity; i++) {
      if (this.flows.used[i] !== 1) continue;
      const o = i * FLOW_KEY_WORDS;
      flows.push({
        key: Array.from(k.subarray(o, o + FLOW_KEY_WORDS)),
        expected: this.expected[i] as number,
        state: this.acState[i] as number,
        state2: this.acState2[i] as number,
        blocked: ((this.flags[i] as number) & F_BLOCKED) !== 0,
        idleMs: this.rebase ? -(this.flows.lastSeen[i] as number) : now - (this.flows.lastSeen[i] as number),
      });
    }
    return { signatures: this.fingerprint, flows, alerts: this.alertRing.map((a) => ({ ...a })) };
  }

  /**
   * Replaces the stream table. Automaton states are kept only when the signature set is the same
   * (same fingerprint); otherwise streams restart from the start state at their next byte.
   */
  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['signatures', 'flows', 'alerts']);
    const rows = this.parseFlowRows(o.req('signatures', str()) === this.fingerprint, o.req('flows', (x) => x), 'state.flows');
    const alerts = o.opt('alerts', arrayOf((v, p): Alert => {
      const a = strictObject(v, p, ['timeMs', 'signature', 'action', 'protocol', 'src', 'dst', 'srcPort', 'dstPort']);
      return {
        timeMs: a.req('timeMs', (x, q) => { if (typeof x !== 'number') throw new ConfigError(q, 'expected a number'); return x; }),
        signature: a.req('signature', str()),
        action: a.req('action', oneOf(['alert', 'drop', 'tag'] as const)),
        protocol: a.req('protocol', int(0, 255)),
        src: a.req('src', str()),
        dst: a.req('dst', str()),
        srcPort: a.req('srcPort', int(0, 65535)),
        dstPort: a.req('dstPort', int(0, 65535)),
      };
    }), []);
    this.flows.clear();
    this.insertFlowRows(rows, 0);
    this.alertRing.splice(0, this.alertRing.length, ...alerts.slice(-this.cfg.maxAlerts));
    this.rebase = true;
  }

  private parseFlowRows(sameSigs: boolean, v: unknown, path: string): FlowRow[] {
    const u32 = int(0, 0xffffffff);
    return arrayOf((x, p): FlowRow => {
      const r = strictObject(x, p, ['key', 'expected', 'state', 'state2', 'blocked', 'idleMs']);
      const keyWords = r.req('key', arrayOf(u32, FLOW_KEY_WORDS, FLOW_KEY_WORDS));
      const st = r.req('state', int(0, 0x7fffffff));
      if (sameSigs && !this.ac.isState(st)) throw new ConfigError(`${p}.state`, 'not a state of this automaton');
      const st2 = r.opt('state2', int(0, 0x7fffffff), 0);
      if (sameSigs && !this.acNc.isState(st2)) throw new ConfigError(`${p}.state2`, 'not a state of the case-insensitive automaton');
      const blocked = r.req('blocked', (y, q) => {
        if (typeof y !== 'boolean') throw new ConfigError(q, 'expected true or false');
        return y;
      });
      return { key: keyWords, expected: r.req('expected', u32), state: sameSigs ? st : 0, state2: sameSigs ? st2 : 0, blocked, idle: r.req('idleMs', int(0, Number.MAX_SAFE_INTEGER)) };
    })(v, path);
  }

  /** Inserts parsed stream rows (skipping keys already present), lastSeen = `base` − idle. */
  private insertFlowRows(rows: readonly FlowRow[], base: number): void {
    const key = this.flows.scratch;
    for (const r of rows) {
      key.set(r.key);
      if (this.flows.find(key) >= 0) continue;
      const i = this.flows.insert(key, base - r.idle);
      if (i < 0) break;
      this.expected[i] = r.expected;
      this.acState[i] = r.state;
      this.acState2[i] = r.state2;
      this.flags[i] = r.blocked ? F_BLOCKED : 0;
    }
  }

  /** Partitioning: the streams whose flow key `owns` accepts (rows as in the state), removed here. */
  exportFlows(owns: (key: number) => boolean): Plain {
    return { signatures: this.fingerprint, flows: this.flows.take((this.exportState() as { flows: Plain[] }).flows, owns) };
  }

  /** Partitioning: adds streams another instance exported (automaton states kept when the signatures are the same). */
  importFlows(flows: Plain): void {
    const o = strictObject(flows, 'flows', ['signatures', 'flows']);
    const rows = this.parseFlowRows(o.req('signatures', str()) === this.fingerprint, o.req('flows', (x) => x), 'flows.flows');
    // Idle times stay relative while an import's rebase is pending, else they count from the table's clock.
    this.insertFlowRows(rows, this.rebase ? 0 : this.flows.latest());
  }
}

interface FlowRow {
  key: number[];
  expected: number;
  state: number;
  state2: number;
  blocked: boolean;
  idle: number;
}

export const dpiFactory: FunctionFactory = {
  kind: 'dpi',
  summary: 'deep packet inspection: Aho-Corasick over TCP streams and UDP, signatures that alert, drop or tag',
  create: (config: unknown) => new Dpi(parseDpiConfig(config)),
  ports: (config: unknown) => parseDpiConfig(config).ports.map((name) => ({ name })),
};
