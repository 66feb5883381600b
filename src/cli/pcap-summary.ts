/**
 * One line per frame, as `tcpdump -n` prints it (tcpdump 4.99, no -v, no -e), from the layers
 * decodeFrame returns. TCP sequence numbers are shown relative to the first ones seen in each
 * conversation, as tcpdump does without -S. Timestamps are printed in UTC.
 *
 * @example
 * const s = new FrameSummarizer();
 * const line = s.summarize(rec.tsNs, frame, decodeFrame(frame, 0, frame.length).layers, rec.origLen);
 */
import type { ArpPacket } from '../packet/arp.js';
import type { Layer } from '../packet/decode.js';
import type { Icmp4Header } from '../packet/icmp4.js';
import type { Icmp6Header } from '../packet/icmp6.js';
import { ipv4ToString } from '../packet/ipv4.js';
import { ipv6ToString, type Ipv6ExtHeader, type Ipv6Header } from '../packet/ipv6.js';
import type { TcpHeader } from '../packet/tcp.js';

/** The layers decodeFrame returns. */
export type SummaryLayer = Layer;

/** A line and the protocol it is counted under in the totals. */
export interface FrameSummary {
  text: string;
  protocol: string;
}

const ETHERTYPE_NAMES: Record<number, string> = { 0x0800: 'IPv4', 0x86dd: 'IPv6', 0x0806: 'ARP', 0x8100: '802.1Q', 0x88a8: '802.1Q-QinQ', 0x8847: 'MPLS unicast', 0x8848: 'MPLS multicast' };

const ICMP6_NAMES: Record<number, string> = {
  1: 'destination unreachable', 2: 'packet too big', 3: 'time exceeded', 4: 'parameter problem',
  128: 'echo request', 129: 'echo reply', 130: 'multicast listener query', 131: 'multicast listener report',
  132: 'multicast listener done', 133: 'router solicitation', 134: 'router advertisement',
  135: 'neighbor solicitation', 136: 'neighbor advertisement', 137: 'redirect', 143: 'multicast listener report v2',
};
const ICMP6_UNREACH = ['no route to', 'unreachable prohibited', 'beyond scope', 'unreachable address', 'unreachable port'];

/** `HH:MM:SS.uuuuuu` in UTC; nanoseconds are cut to microseconds as tcpdump does by default. */
export function formatTime(tsNs: bigint): string {
  const us = tsNs / 1000n;
  const sec = Number(us / 1_000_000n);
  const frac = Number(us % 1_000_000n);
  const d = new Date(sec * 1000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.${String(frac).padStart(6, '0')}`;
}

/** tcpdump's flag letters, in its order (print-tcp.c tcp_flag_values). */
function tcpFlags(f: number): string {
  let s = '';
  if (f & 0x01) s += 'F';
  if (f & 0x02) s += 'S';
  if (f & 0x04) s += 'R';
  if (f & 0x08) s += 'P';
  if (f & 0x10) s += '.';
  if (f & 0x20) s += 'U';
  if (f & 0x40) s += 'E';
  if (f & 0x80) s += 'W';
  if (f & 0x100) s += 'e';
  return s === '' ? 'none' : s;
}

function u16(b: Uint8Array, o: number): number { return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0); }
function u32(b: Uint8Array, o: number): number { return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0; }

interface SeqState { seq: number; ack: number }

/** Stateful (TCP relative sequence numbers) summariser; one per capture. */
export class FrameSummarizer {
  private readonly tcp = new Map<string, SeqState>();

  /** The full line (timestamp first) for one frame. */
  summarize(tsNs: bigint, frame: Uint8Array, layers: readonly SummaryLayer[], origLen: number): FrameSummary {
    const body = this.describe(frame, layers, 0, origLen);
    return { text: `${formatTime(tsNs)} ${body.text}`, protocol: body.protocol };
  }

  /** The line without its timestamp, from layer `i` on; `wireLen` is the frame's length on the wire. */
  describe(frame: Uint8Array, layers: readonly SummaryLayer[], i: number, wireLen: number): FrameSummary {
    const l = layers[i];
    if (l === undefined) return { text: `[|ether] length ${wireLen}`, protocol: 'malformed' };
    if (l.kind !== 'eth') return this.network(frame, layers, i, wireLen);
    // Without -e tcpdump says nothing of the Ethernet header, VLAN tags included.
    let etherType = l.etherType;
    let j = i + 1;
    const linkLen = wireLen - 14;
    for (let t = layers[j]; t?.kind === 'vlan'; t = layers[++j]) etherType = t.etherType;
    const next = layers[j];
    if (next === undefined || next.kind === 'payload') {
      if (etherType < 0x0600) return { text: `802.3, length ${linkLen}`, protocol: 'other' };
      // A known type whose header did not decode: tcpdump's "[|proto]" truncation mark.
      if (etherType === 0x0800) return { text: 'IP  [|ip]', protocol: 'malformed' };
      if (etherType === 0x86dd) return { text: 'IP6  [|ip6]', protocol: 'malformed' };
      if (etherType === 0x0806) return { text: 'ARP, [|arp]', protocol: 'malformed' };
      const name = ETHERTYPE_NAMES[etherType];
      if (name !== undefined) return { text: `${name}, [|${name.toLowerCase()}], length ${linkLen}`, protocol: 'malformed' };
      return { text: `${l.src} > ${l.dst}, ethertype Unknown (0x${hex4(etherType)}), length ${wireLen}:`, protocol: 'other' };
    }
    return this.network(frame, layers, j, linkLen - 4 * (j - i - 1));
  }

  private network(frame: Uint8Array, layers: readonly SummaryLayer[], i: number, len: number): FrameSummary {
    const l = layers[i];
    if (l === undefined) return { text: `[|network] length ${len}`, protocol: 'malformed' };
    switch (l.kind) {
      case 'arp': return { text: arp(l, len), protocol: 'arp' };
      case 'mpls': {
        let s = '';
        let j = i;
        for (let m = layers[j]; m?.kind === 'mpls'; m = layers[++j]) s += `${s === '' ? 'MPLS ' : ' '}(label ${m.label}, tc ${m.tc}${m.bottom ? ', [S]' : ''}, ttl ${m.ttl})`;
        if (layers[j] === undefined || layers[j]?.kind === 'payload') return { text: `${s}, length ${len}`, protocol: 'mpls' };
        const inner = this.network(frame, layers, j, len - 4 * (j - i));
        return { text: `${s} ${inner.text}`, protocol: inner.protocol };
      }
      case 'ipv4': {
        const head = 'IP ';
        const src = ipv4ToString(l.src);
        const dst = ipv4ToString(l.dst);
        if (l.fragOffset > 0) return { text: `${head}${src} > ${dst}: ip-proto-${l.protocol}`, protocol: 'ipv4-fragment' };
        return this.transport(frame, layers, i + 1, head, src, dst, l.protocol, l.payloadLength, 4);
      }
      case 'ipv6': {
        const head = 'IP6 ';
        let ext = '';
        for (const e of l.extensions) ext += extName(e, l);
        if (l.laterFragment) return { text: `${head}${l.src} > ${l.dst}: ${ext.trimEnd()}`, protocol: 'ipv6-fragment' };
        const plen = l.end - l.upperOffset;
        let j = i + 1;
        while (layers[j]?.kind === 'ipv6-ext') j++;
        return this.transport(frame, layers, j, head, l.src, l.dst, l.upperProtocol, plen, 6, ext);
      }
      default:
        return { text: `${l.kind}, length ${len}`, protocol: l.kind };
    }
  }

  private transport(frame: Uint8Array, layers: readonly SummaryLayer[], i: number, head: string, src: string, dst: string, proto: number, plen: number, v: 4 | 6, ext = ''): FrameSummary {
    const r = this.transportBody(frame, layers, i, src, dst, proto, plen, v, ext);
    return { text: head + r.text, protocol: r.protocol };
  }

  private transportBody(frame: Uint8Array, layers: readonly SummaryLayer[], i: number, src: string, dst: string, proto: number, plen: number, v: 4 | 6, ext: string): FrameSummary {
    const l = layers[i];
    const base = `${src} > ${dst}: ${ext}`;
    if (l === undefined || l.kind === 'payload') {
      const known = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 1 ? 'icmp' : proto === 58 ? 'icmp6' : '';
      if (known !== '' && l === undefined) return { text: `${src} > ${dst}: ${ext}[|${known}]`, protocol: 'malformed' };
      return { text: `${src} > ${dst}: ${ext}${protoName(proto)} ${plen}`, protocol: v === 4 ? 'ipv4-other' : 'ipv6-other' };
    }
    switch (l.kind) {
      case 'udp': {
        const ep = `${src}.${l.srcPort} > ${dst}.${l.dstPort}: ${ext}`;
        const vx = layers[i + 1];
        if (vx?.kind === 'vxlan') {
          // tcpdump ends the line after the VNI and prints the inner frame (without MACs) on the next.
          const inner = layers[i + 2]?.kind === 'eth' ? `\n${this.describe(frame, layers, i + 2, l.payloadLength - 8).text}` : '';
          return { text: `${ep}VXLAN, flags [${vx.vniValid ? 'I' : '.'}] (0x${vx.flags.toString(16).padStart(2, '0')}), vni ${vx.vni}${inner}`, protocol: 'vxlan' };
        }
        return { text: `${ep}UDP, length ${l.payloadLength}`, protocol: 'udp' };
      }
      case 'tcp': return { text: this.tcpLine(l, src, dst, ext, v), protocol: 'tcp' };
      case 'icmp': return { text: `${base}${icmp4(l, frame, plen)}`, protocol: 'icmp' };
      case 'icmpv6': return { text: `${base}${icmp6(l, frame, plen)}`, protocol: 'icmpv6' };
      default: return { text: `${base}${protoName(proto)} ${plen}`, protocol: v === 4 ? 'ipv4-other' : 'ipv6-other' };
    }
  }

  private tcpLine(t: TcpHeader, src: string, dst: string, ext: string, v: 4 | 6): string {
    const ackFlag = (t.flags & 0x10) !== 0;
    let seq = t.seq;
    let ack = t.ack;
    let ackBase = 0;
    if (ackFlag) {
      // tcpdump keys a conversation by its addresses and ports in a canonical order and keeps the
      // first seq/ack it saw (reset by a SYN); later segments print relative to them.
      const rev = src > dst || (src === dst && t.srcPort > t.dstPort);
      const key = rev ? `${v}|${dst}|${t.dstPort}|${src}|${t.srcPort}` : `${v}|${src}|${t.srcPort}|${dst}|${t.dstPort}`;
      const st = this.tcp.get(key);
      if (st === undefined || (t.flags & 0x02) !== 0) {
        const ns: SeqState = rev ? { ack: t.seq, seq: (t.ack - 1) >>> 0 } : { seq: t.seq, ack: (t.ack - 1) >>> 0 };
        this.tcp.set(key, ns);
        ackBase = (t.ack - 1) >>> 0;
      } else if (rev) {
        seq = (seq - st.ack) >>> 0;
        ack = (ack - st.seq) >>> 0;
        ackBase = st.seq;
      } else {
        seq = (seq - st.seq) >>> 0;
        ack = (ack - st.ack) >>> 0;
        ackBase = st.ack;
      }
    }
    let s = `${src}.${t.srcPort} > ${dst}.${t.dstPort}: ${ext}Flags [${tcpFlags(t.flags)}]`;
    const len = t.payloadLength;
    if (len > 0 || (t.flags & 0x07) !== 0) {
      s += `, seq ${seq}`;
      if (len > 0) s += `:${(seq + len) >>> 0}`;
    }
    if (ackFlag) s += `, ack ${ack}`;
    s += `, win ${t.window}`;
    if (t.flags & 0x20) s += `, urg ${t.urgentPointer}`;
    if (t.options.length > 0) s += `, options [${tcpOptions(t, ackBase)}]`;
    return `${s}, length ${len}`;
  }
}

function hex4(n: number): string { return n.toString(16).padStart(4, '0'); }

function etherTypeName(t: number): string {
  const n = ETHERTYPE_NAMES[t];
  return n !== undefined ? `${n} (0x${hex4(t)})` : `Unknown (0x${hex4(t)})`;
}

function protoName(p: number): string {
  switch (p) {
    case 1: return 'ICMP';
    case 6: return 'tcp';
    case 17: return 'udp';
    case 58: return 'ICMP6';
    default: return `ip-proto-${p}`;
  }
}

function extName(e: Ipv6ExtHeader, ip: Ipv6Header): string {
  switch (e.type) {
    case 0: return 'HBH ';
    case 60: return 'DSTOPT ';
    case 43: return `srcrt (len=${e.headerLength / 8 - 1}, type=${e.routingType}, segleft=${e.segmentsLeft}) `;
    case 44: {
      const fragLen = ip.end - (e.offset + e.headerLength);
      return `frag (${e.fragOffset * 8}|${fragLen}) `;
    }
    case 51: return `AH(spi=0x${(e.spi >>> 0).toString(16).padStart(8, '0')}) `;
    default: return `ext-${e.type} `;
  }
}

function arp(a: ArpPacket, len: number): string {
  const spa = ipv4ToString(a.spa);
  const tpa = ipv4ToString(a.tpa);
  if (a.op === 1) return `ARP, Request who-has ${tpa} tell ${spa}, length ${len}`;
  if (a.op === 2) return `ARP, Reply ${spa} is-at ${a.sha}, length ${len}`;
  return `ARP, op ${a.op}, length ${len}`;
}

/** The quoted datagram of an ICMPv4 error: "dst udp port N" style, as print-icmp.c. */
function quoted4(frame: Uint8Array, q: number): { dst: string; proto: number; dport: number } | null {
  if (q < 0 || q + 20 > frame.length) return null;
  const hl = ((frame[q] ?? 0) & 0x0f) * 4;
  const proto = frame[q + 9] ?? 0;
  const dport = q + hl + 4 <= frame.length ? u16(frame, q + hl + 2) : -1;
  return { dst: ipv4ToString(u32(frame, q + 16)), proto, dport };
}

function icmp4(c: Icmp4Header, frame: Uint8Array, len: number): string {
  switch (c.type) {
    case 0: return `ICMP echo reply, id ${c.identifier}, seq ${c.sequence}, length ${len}`;
    case 8: return `ICMP echo request, id ${c.identifier}, seq ${c.sequence}, length ${len}`;
    case 3: {
      const q = quoted4(frame, c.quotedOffset);
      const dst = q?.dst ?? '?';
      switch (c.code) {
        case 0: return `ICMP net ${dst} unreachable, length ${len}`;
        case 1: return `ICMP host ${dst} unreachable, length ${len}`;
        case 2: return `ICMP ${dst} protocol ${q?.proto ?? 0} unreachable, length ${len}`;
        case 3: return `ICMP ${dst} ${q?.proto === 6 ? 'tcp' : 'udp'} port ${q?.dport ?? 0} unreachable, length ${len}`;
        case 4: return `ICMP ${dst} unreachable - need to frag (mtu ${c.nextHopMtu}), length ${len}`;
        case 13: return `ICMP host ${dst} unreachable - admin prohibited filter, length ${len}`;
        default: return `ICMP ${dst} unreachable - code ${c.code}, length ${len}`;
      }
    }
    case 11: return `ICMP ${c.code === 1 ? 'ip reassembly time exceeded' : 'time exceeded in-transit'}, length ${len}`;
    case 5: return `ICMP redirect ${quoted4(frame, c.quotedOffset)?.dst ?? '?'} to ${ipv4ToString(c.gateway >>> 0)}, length ${len}`;
    case 12: return `ICMP parameter problem - octet ${c.pointer}, length ${len}`;
    default: return `ICMP type-#${c.type}, length ${len}`;
  }
}

function icmp6(c: Icmp6Header, frame: Uint8Array, len: number): string {
  const name = ICMP6_NAMES[c.type] ?? `unknown icmp6 type (${c.type})`;
  const head = `ICMP6, ${name}`;
  switch (c.type) {
    case 128: case 129: return `${head}, id ${c.identifier}, seq ${c.sequence}, length ${len}`;
    case 135: return `${head}, who has ${c.target}, length ${len}`;
    case 136: return `${head}, tgt is ${c.target}, length ${len}`;
    case 137: return `${head}, ${c.destination} to ${c.target}, length ${len}`;
    case 143: return `${head}, ${u16(frame, c.offset + 6)} group record(s), length ${len}`;
    case 2: return `${head}, mtu ${c.mtu}, length ${len}`;
    case 1: {
      const why = ICMP6_UNREACH[c.code] ?? `unknown unreach code (${c.code})`;
      const q = c.quotedOffset;
      if (c.code === 4 && q >= 0 && q + 44 <= frame.length) {
        const nh = frame[q + 6] ?? 0;
        const dst = ipv6ToString(frame, q + 24);
        if (nh === 6 || nh === 17) return `${head}, ${why}, ${dst} ${nh === 6 ? 'tcp' : 'udp'} port ${u16(frame, q + 42)}, length ${len}`;
      }
      if (q >= 0 && q + 40 <= frame.length) return `${head}, ${why} ${ipv6ToString(frame, q + 24)}, length ${len}`;
      return `${head}, ${why}, length ${len}`;
    }
    case 3: {
      const q = c.quotedOffset;
      if (c.code === 0) return `${head} in-transit${q >= 0 && q + 40 <= frame.length ? ` for ${ipv6ToString(frame, q + 24)}` : ''}, length ${len}`;
      return `${head} in-transit${c.code === 1 ? ' (reassembly)' : ` unknown code (${c.code})`}, length ${len}`;
    }
    case 4: return `${head}, pointer ${c.pointer}, length ${len}`;
    default: return `${head}, length ${len}`;
  }
}

/** Options as tcpdump lists them; SACK edges relative to the segment's acknowledgment base. */
function tcpOptions(t: TcpHeader, ackBase: number): string {
  const out: string[] = [];
  let sackDone = false;
  for (const o of t.options) {
    switch (o.kind) {
      case 0: out.push('eol'); break;
      case 1: out.push('nop'); break;
      case 2: out.push(`mss ${t.mss}`); break;
      case 3: out.push(`wscale ${t.windowScale}`); break;
      case 4: out.push('sackOK'); break;
      case 5: {
        if (sackDone) break;
        sackDone = true;
        let s = `sack ${t.sack.length / 2} `;
        for (let k = 0; k + 1 < t.sack.length; k += 2) s += `{${(t.sack[k]! - ackBase) >>> 0}:${(t.sack[k + 1]! - ackBase) >>> 0}}`;
        out.push(s);
        break;
      }
      case 8: out.push(`TS val ${t.tsVal} ecr ${t.tsEcr}`); break;
      default: out.push(`unknown-${o.kind}`);
    }
  }
  return out.join(',');
}
