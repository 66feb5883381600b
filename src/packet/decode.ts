/**
 * # swnet packet layer (src/packet/): the API others build on
 *
 * One file per format: ethernet.ts (Ethernet II, 802.1Q, QinQ), arp.ts, ipv4.ts, ipv6.ts, icmp4.ts,
 * icmp6.ts (errors + NDP), udp.ts, tcp.ts, mpls.ts, vxlan.ts, checksum.ts; result.ts holds the
 * typed parse result; frames.ts builds whole frames; this file decodes whole frames.
 *
 * Three levels, pick by how hot the path is:
 *
 * 1. **Hot-path accessors**: plain functions over `(b: Uint8Array, off: number)` that read or write
 *    one field, never allocate and never check bounds (the caller validated the frame once, e.g.
 *    with `parseX` or by length). Import a format as a namespace:
 *    `import * as ipv4 from '../packet/ipv4.js'` then `ipv4.ttl(b, off)`, `ipv4.dst(b, off)` (uint32),
 *    `ipv4.headerChecksumOk(b, off)`, `ipv4.decTtl(b, off)` (RFC 1624 update),
 *    `ethernet.etherType(b, off)`, `ethernet.src48(b, off)` (MAC as a 48-bit integer),
 *    `udp.dstPort(b, off)`, `tcp.flags(b, off)`, `mpls.label(b, off)`, `vxlan.vni(b, off)`.
 *    `off` is always the first byte of that header (for a VLAN tag: the TCI, after the TPID).
 *    Fastest: the DataView flavour over `pool.view` for the per-packet fields, e.g.
 *    `ipv4.checkView(v, off, len)` (validation + checksum), `ipv4.dstView`, `ethernet.etherTypeView`,
 *    `udp.dstPortView`, `tcp.flagsView`: one bounds check per 16/32-bit field instead of one per
 *    byte (bench/packet.ts: ~59 vs ~43 Mpps per core). They throw past the end of the view, so
 *    [off, off + len) must lie inside it (batch descriptors guarantee it).
 *
 * 2. **Safe parsing** of untrusted bytes: `parseX(b, off, len, opts?)` returns
 *    `{ ok: true, kind, offset, headerLength, ...fields }` or `{ ok: false, reason, offset }` with
 *    `reason` a {@link ParseErrorReason} ('truncated', 'bad-length', 'ihl-too-small', 'bad-version',
 *    'bad-checksum', 'bad-option', ...). Never throws, never reads outside [off, off + len) (a `len`
 *    past the end of `b` is clamped). Checksums come back as `checksumStatus`
 *    ('good' | 'bad' | 'zero' | 'unverified'); `{ strict: true }` turns 'bad' into a failure.
 *    Absent optional fields are -1 (numbers) or '' (strings), never undefined.
 *
 * 3. **Whole frames**: {@link decodeFrame} walks Ethernet → VLAN tags → MPLS / ARP / IPv4 / IPv6 (+
 *    extension headers) → ICMP / ICMPv6 / UDP / TCP → VXLAN → inner Ethernet..., returning every
 *    layer (the `parseX` results, in wire order) and the first error, with the layers decoded
 *    before it. The packet quoted by an ICMP error follows its ICMP layer (from `quotedFrom`), as in
 *    tshark. Allocates: for tools, tests, slow paths; not for the 15 Mpps forwarding loop.
 *
 * Builders: `buildX(b, off, init)` write a header (computing lengths and checksums) and return the
 * bytes written; frames.ts returns fresh whole frames (ICMP echo, UDP, TCP SYN, NDP, ARP, VXLAN).
 * Parse → build gives back the same bytes (see the *.test.ts round trips).
 *
 * ## Wireshark / tshark field names (`tshark -T fields -e NAME`) → layer fields
 * Raw numbers everywhere; {@link wiresharkFields} renders them as tshark 4.0 prints them (checked
 * field by field against tshark in decode.tshark.test.ts; `{ checksumStatus: true }` adds the
 * `*.checksum.status` values tshark prints with `-o ip/udp/tcp.check_checksum:TRUE`).
 * | tshark | layer.kind / field |
 * |---|---|
 * | eth.dst, eth.src, eth.type | eth / dst, src (text; dst48/src48 integers), etherType |
 * | vlan.priority, vlan.dei, vlan.id, vlan.etype (ieee8021ad.* for a 0x88a8 tag) | vlan / pcp, dei, vid, etherType |
 * | mpls.label, mpls.exp, mpls.bottom, mpls.ttl | mpls / label, tc, bottom, ttl |
 * | arp.opcode, arp.src.hw_mac, arp.src.proto_ipv4, arp.dst.hw_mac, arp.dst.proto_ipv4 | arp / op, sha, spa, tha, tpa |
 * | ip.version, ip.hdr_len, ip.dsfield, ip.len, ip.id, ip.flags, ip.frag_offset, ip.ttl, ip.proto, ip.checksum, ip.src, ip.dst | ipv4 / version, headerLength, tos, totalLength, id, flags (3 bits), fragOffset (8-byte units, as tshark 4.0 prints it), ttl, protocol, checksum, src, dst (uint32) |
 * | ipv6.tclass, ipv6.flow, ipv6.plen, ipv6.nxt, ipv6.hlim, ipv6.src, ipv6.dst | ipv6 / trafficClass, flowLabel, payloadLength, nextHeader, hopLimit, src, dst |
 * | ipv6.fraghdr.offset, ipv6.fraghdr.more, ipv6.fraghdr.ident, ipv6.routing.type, ipv6.routing.segleft | ipv6-ext / fragOffset, more, fragId, routingType, segmentsLeft |
 * | icmp.type, icmp.code, icmp.checksum, icmp.ident, icmp.seq, icmp.mtu | icmp / type, code, checksum, identifier, sequence, nextHopMtu |
 * | icmpv6.type, icmpv6.code, icmpv6.checksum, icmpv6.echo.identifier, icmpv6.echo.sequence_number, icmpv6.mtu, icmpv6.nd.ns.target_address, icmpv6.opt.linkaddr, icmpv6.opt.prefix | icmpv6 / type, code, checksum, identifier, sequence, mtu, target, sourceLinkAddr/targetLinkAddr, prefixes[].prefix |
 * | udp.srcport, udp.dstport, udp.length, udp.checksum | udp / srcPort, dstPort, length, checksum |
 * | tcp.srcport, tcp.dstport, tcp.seq_raw, tcp.ack_raw, tcp.hdr_len, tcp.flags, tcp.window_size_value, tcp.checksum, tcp.urgent_pointer, tcp.options.mss_val, tcp.options.wscale.shift, tcp.options.timestamp.tsval, tcp.options.timestamp.tsecr, tcp.len | tcp / srcPort, dstPort, seq, ack, headerLength, flags, window, checksum, urgentPointer, mss, windowScale, tsVal, tsEcr, payloadLength |
 * | vxlan.flags, vxlan.vni | vxlan / flags, vni |
 * | *.checksum.status | checksumStatus |
 *
 * @example
 * const f = decodeFrame(frame);
 * if (f.error) console.log(f.error.reason, 'at', f.error.offset, 'in', f.error.layer);
 * for (const l of f.layers) if (l.kind === 'ipv4') console.log(ipv4ToString(l.src), l.ttl);
 */
import { pseudoSum4At, pseudoSum6At } from './checksum.js';
import { ETH_HLEN, ETHERTYPE, MAX_VLAN_TAGS, isVlanTpid, parseEthernet, parseVlan, type EthernetHeader, type VlanTag } from './ethernet.js';
import { parseArp, type ArpPacket } from './arp.js';
import { IPPROTO, ipv4ToString, parseIpv4, type Ipv4Header } from './ipv4.js';
import { parseIpv6, pseudoDstOffset, type Ipv6ExtHeader, type Ipv6Header } from './ipv6.js';
import { parseIcmp4, type Icmp4Header } from './icmp4.js';
import { parseIcmp6, type Icmp6Header } from './icmp6.js';
import { parseUdp, type UdpHeader } from './udp.js';
import { parseTcp, type TcpHeader } from './tcp.js';
import { MAX_MPLS_LABELS, parseMpls, type MplsEntry } from './mpls.js';
import { VXLAN_PORT, parseVxlan, type VxlanHeader } from './vxlan.js';
import { usable, type ParseErrorReason, type ParseResult } from './result.js';

export type { ParseErrorReason, ParseFail, ParseResult, ChecksumStatus } from './result.js';

/** Bytes no decoder here interprets: an upper-layer payload, a later fragment, an unknown protocol. */
export interface PayloadLayer {
  readonly kind: 'payload';
  readonly offset: number;
  /** Length of the payload (bytes). */
  readonly headerLength: number;
  /** Why decoding stopped here. */
  readonly what: 'data' | 'fragment' | 'unknown-ethertype' | 'llc' | 'unknown-protocol' | 'esp' | 'quoted' | 'mpls-payload';
  /** The ethertype or IP protocol that was not followed (else -1). */
  readonly type: number;
}

type Ok<T> = T & { readonly ok: true };

/** One decoded header, discriminated by `kind`. */
export type Layer =
  | Ok<EthernetHeader>
  | Ok<VlanTag>
  | Ok<MplsEntry>
  | Ok<ArpPacket>
  | Ok<Ipv4Header>
  | Ok<Ipv6Header>
  | Ok<Ipv6ExtHeader>
  | Ok<Icmp4Header>
  | Ok<Icmp6Header>
  | Ok<UdpHeader>
  | Ok<TcpHeader>
  | Ok<VxlanHeader>
  | PayloadLayer;

export type LayerKind = Layer['kind'];

/** The first malformation met: why, where (absolute offset), and which header was being parsed. */
export interface DecodeError {
  readonly reason: ParseErrorReason;
  readonly offset: number;
  readonly layer: LayerKind;
}

export interface DecodedFrame {
  /** Headers in wire order (a VXLAN frame continues with the inner eth, ...). */
  readonly layers: Layer[];
  /** First malformation, or null. Layers decoded before it are kept. */
  error: DecodeError | null;
  /** False when any layer's checksumStatus is 'bad' (layers of a quoted packet excepted). */
  checksumsOk: boolean;
  /**
   * Index in `layers` of the first layer of the packet quoted by an ICMP/ICMPv6 error (decoded as
   * tshark does, tolerating its truncation; its malformations are not frame errors), or -1.
   */
  quotedFrom: number;
  readonly offset: number;
  readonly length: number;
}

export interface DecodeOptions {
  /** UDP destination port decoded as VXLAN. Default 4789; -1 disables. */
  vxlanPort?: number;
  /** Verify checksums (IPv4 header, ICMP, ICMPv6, UDP, TCP). Default true. */
  verifyChecksums?: boolean;
  /** Nested VXLAN encapsulations followed before 'too-many-headers'. Default 4. */
  maxVxlanDepth?: number;
}

interface Ctx {
  readonly b: Uint8Array;
  readonly f: DecodedFrame;
  readonly vxlanPort: number;
  verify: boolean;
  readonly maxDepth: number;
  /** Decoding the packet quoted in an ICMP error: lengths may exceed the bytes, errors only stop. */
  quote: boolean;
}

/**
 * Decodes a whole Ethernet frame of untrusted bytes: never throws, never reads outside
 * [off, off + len).
 *
 * @example
 * const f = decodeFrame(bytes);                    // whole array
 * const g = decodeFrame(pool.bytes, off, len, { vxlanPort: 8472 });
 * const ip = g.layers.find((l) => l.kind === 'ipv4');
 */
export function decodeFrame(b: Uint8Array, off = 0, len: number = b.length - off, opts?: DecodeOptions): DecodedFrame {
  const n = usable(b, off, len);
  const f: DecodedFrame = { layers: [], error: null, checksumsOk: true, quotedFrom: -1, offset: off, length: Math.max(0, n) };
  if (n < 0) {
    f.error = { reason: 'truncated', offset: 0, layer: 'eth' };
    return f;
  }
  const ctx: Ctx = { b, f, vxlanPort: opts?.vxlanPort ?? VXLAN_PORT, verify: opts?.verifyChecksums ?? true, maxDepth: opts?.maxVxlanDepth ?? 4, quote: false };
  ethernet(ctx, off, off + n, 0);
  return f;
}

function bad(ctx: Ctx, r: ParseResult<unknown> & { ok: false }, layer: LayerKind): false {
  if (!ctx.quote) ctx.f.error = { reason: r.reason, offset: r.offset, layer };
  return false;
}

function payload(ctx: Ctx, o: number, end: number, what: PayloadLayer['what'], type = -1): void {
  if (end > o) ctx.f.layers.push({ kind: 'payload', offset: o, headerLength: end - o, what, type });
}

function check(ctx: Ctx, s: string): void {
  if (s === 'bad' && !ctx.quote) ctx.f.checksumsOk = false;
}

function ethernet(ctx: Ctx, o: number, end: number, depth: number): void {
  const { b, f } = ctx;
  const e = parseEthernet(b, o, end - o);
  if (!e.ok) return void bad(ctx, e, 'eth');
  f.layers.push(e);
  let t = e.etherType;
  let p = o + ETH_HLEN - 2; // position of the type field being followed
  let tags = 0;
  while (isVlanTpid(t)) {
    if (tags >= MAX_VLAN_TAGS) return void (f.error = { reason: 'too-many-headers', offset: p, layer: 'vlan' });
    const v = parseVlan(b, p + 2, end - p - 2, t);
    if (!v.ok) return void bad(ctx, v, 'vlan');
    f.layers.push(v);
    t = v.etherType;
    p += 4;
    tags++;
  }
  const q = p + 2;
  if (t < 0x0600) return payload(ctx, q, end, 'llc', t);
  switch (t) {
    case ETHERTYPE.ARP: {
      const a = parseArp(b, q, end - q);
      if (!a.ok) return void bad(ctx, a, 'arp');
      f.layers.push(a);
      return;
    }
    case ETHERTYPE.IPV4:
      return ip4(ctx, q, end, depth);
    case ETHERTYPE.IPV6:
      return ip6(ctx, q, end, depth);
    case ETHERTYPE.MPLS:
    case ETHERTYPE.MPLS_MC:
      return mplsStack(ctx, q, end, depth);
    default:
      return payload(ctx, q, end, 'unknown-ethertype', t);
  }
}

function mplsStack(ctx: Ctx, o: number, end: number, depth: number): void {
  for (let i = 0; ; i++) {
    if (i >= MAX_MPLS_LABELS) return void (ctx.f.error = { reason: 'too-many-headers', offset: o, layer: 'mpls' });
    const m = parseMpls(ctx.b, o, end - o);
    if (!m.ok) return void bad(ctx, m, 'mpls');
    ctx.f.layers.push(m);
    o += 4;
    if (m.bottom) break;
  }
  // RFC 3032 leaves the payload type to the label binding; like Wireshark, guess from the first nibble.
  if (o >= end) return;
  const v = ctx.b[o]! >>> 4;
  if (v === 4) return ip4(ctx, o, end, depth);
  if (v === 6) return ip6(ctx, o, end, depth);
  payload(ctx, o, end, 'mpls-payload');
}

function ip4(ctx: Ctx, o: number, end: number, depth: number): void {
  const { b, f } = ctx;
  const ip = parseIpv4(b, o, end - o, ctx.quote ? { partial: true } : undefined);
  if (!ip.ok) return void bad(ctx, ip, 'ipv4');
  f.layers.push(ctx.verify ? ip : { ...ip, checksumStatus: 'unverified' });
  if (ctx.verify) check(ctx, ip.checksumStatus);
  const s = ip.payloadOffset;
  const e = s + ip.payloadLength;
  if (ip.fragOffset !== 0) return payload(ctx, s, e, 'fragment', ip.protocol);
  // A first fragment, or a quoted packet cut short, holds only part of the transport message: no checksum check.
  const verify = ctx.verify && !ip.mf && ip.payloadLength === ip.totalLength - ip.headerLength;
  const pseudo = verify ? pseudoSum4At(b, o, ip.protocol, ip.payloadLength) : undefined;
  upper(ctx, ip.protocol, s, e, verify, pseudo, 4, depth, ip.mf || ctx.quote);
}

function ip6(ctx: Ctx, o: number, end: number, depth: number): void {
  const { b, f } = ctx;
  const ip = parseIpv6(b, o, end - o, ctx.quote ? { partial: true } : undefined);
  if (!ip.ok) return void bad(ctx, ip, 'ipv6');
  f.layers.push(ip);
  for (const x of ip.extensions) f.layers.push({ ok: true, ...x });
  const s = ip.upperOffset;
  const e = ip.end;
  if (ip.laterFragment) return payload(ctx, s, e, 'fragment', ip.upperProtocol);
  const verify = ctx.verify && !ip.fragmented && ip.end === o + 40 + ip.payloadLength;
  const pseudo = verify ? pseudoSum6At(b, o, ip.upperProtocol, e - s, pseudoDstOffset(b, ip)) : undefined;
  upper(ctx, ip.upperProtocol, s, e, verify, pseudo, 6, depth, ip.fragmented || ctx.quote);
}

function upper(ctx: Ctx, proto: number, s: number, e: number, verify: boolean, pseudo: number | undefined, v: 4 | 6, depth: number, partial = false): void {
  const { b, f } = ctx;
  const po = pseudo === undefined ? {} : { pseudo };
  switch (proto) {
    case IPPROTO.UDP: {
      const u = parseUdp(b, s, e - s, partial ? { partial: true, ...po } : po);
      if (!u.ok) return void bad(ctx, u, 'udp');
      f.layers.push(u);
      check(ctx, u.checksumStatus);
      const ps = u.payloadOffset;
      const pe = ps + u.payloadLength;
      if (partial) return payload(ctx, ps, pe, 'data');
      if (u.dstPort === ctx.vxlanPort && ctx.vxlanPort >= 0 && !ctx.quote) {
        const x = parseVxlan(b, ps, pe - ps);
        if (!x.ok) return void bad(ctx, x, 'vxlan');
        f.layers.push(x);
        if (depth + 1 >= ctx.maxDepth) return void (f.error = { reason: 'too-many-headers', offset: ps, layer: 'vxlan' });
        return ethernet(ctx, ps + 8, pe, depth + 1);
      }
      return payload(ctx, ps, pe, 'data');
    }
    case IPPROTO.TCP: {
      // A quoted TCP header is usually cut after 8 bytes (RFC 792): not decodable as a header.
      if (ctx.quote && e - s < 20) return payload(ctx, s, e, 'quoted', proto);
      const t = parseTcp(b, s, e - s, po);
      if (!t.ok) return void bad(ctx, t, 'tcp');
      f.layers.push(t);
      check(ctx, t.checksumStatus);
      return payload(ctx, t.payloadOffset, e, 'data');
    }
    case IPPROTO.ICMP: {
      if (v !== 4) return payload(ctx, s, e, 'unknown-protocol', proto);
      const m = parseIcmp4(b, s, e - s, { verify });
      if (!m.ok) return void bad(ctx, m, 'icmp');
      f.layers.push(m);
      check(ctx, m.checksumStatus);
      if (m.quotedOffset >= 0 && !ctx.quote) return quoted(ctx, m.quotedOffset, e, 4);
      return payload(ctx, s + 8, e, 'data');
    }
    case IPPROTO.ICMPV6: {
      if (v !== 6) return payload(ctx, s, e, 'unknown-protocol', proto);
      const m = parseIcmp6(b, s, e - s, po);
      if (!m.ok) return void bad(ctx, m, 'icmpv6');
      f.layers.push(m);
      check(ctx, m.checksumStatus);
      if (m.quotedOffset >= 0 && !ctx.quote) return quoted(ctx, m.quotedOffset, e, 6);
      return payload(ctx, s + m.headerLength + m.ndpOptions.reduce((n, x) => n + x.length, 0), e, 'data');
    }
    case IPPROTO.IPIP:
      return ip4(ctx, s, e, depth);
    case IPPROTO.IPV6:
      return ip6(ctx, s, e, depth);
    case IPPROTO.ESP:
      return payload(ctx, s, e, 'esp', proto);
    case IPPROTO.NONE:
      return payload(ctx, s, e, 'data', proto);
    default:
      return payload(ctx, s, e, 'unknown-protocol', proto);
  }
}

/** The invoking packet of an ICMP error, decoded leniently after the ICMP layer. */
function quoted(ctx: Ctx, o: number, e: number, v: 4 | 6): void {
  const f = ctx.f;
  f.quotedFrom = f.layers.length;
  ctx.quote = true;
  const before = f.layers.length;
  const first = ctx.b[o]! >>> 4;
  if (v === 4 && first === 4) ip4(ctx, o, e, ctx.maxDepth);
  else if (v === 6 && first === 6) ip6(ctx, o, e, ctx.maxDepth);
  if (f.layers.length === before) {
    f.quotedFrom = -1;
    payload(ctx, o, e, 'quoted');
  }
  ctx.quote = false;
}

// --- tshark-style field rendering ---------------------------------------------------------------

const hex = (v: number, digits: number): string => '0x' + v.toString(16).padStart(digits, '0');

export interface WiresharkFieldsOptions {
  /**
   * Also render `ip/udp/tcp/icmp/icmpv6.checksum.status` as tshark prints them when it verifies
   * checksums (`-o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE`):
   * 0 bad, 1 good, 2 unverified, 3 not present (UDP/IPv4 zero), 4 illegal (UDP/IPv6 zero).
   */
  checksumStatus?: boolean;
}

const STATUS: Record<string, number> = { bad: 0, good: 1, unverified: 2, zero: 3 };

/**
 * The fields of a decoded frame under tshark's names, rendered as `tshark -T fields` (4.x)
 * prints them; a field that occurs in several layers (QinQ, VXLAN inner headers) appears once per
 * layer, outermost first, as tshark lists them comma-separated. Raw values stay in `layers`.
 *
 * @example
 * const m = wiresharkFields(decodeFrame(frame));
 * m.get('ip.ttl'); // ['64']
 */
export function wiresharkFields(frame: DecodedFrame, opts?: WiresharkFieldsOptions): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const withStatus = opts?.checksumStatus === true;
  let inV6 = false;
  const put = (k: string, v: string | number): void => {
    const a = m.get(k);
    if (a) a.push(String(v));
    else m.set(k, [String(v)]);
  };
  // tshark reassembles fragments: it shows no transport layer for one fragment alone.
  let fragment = false;
  for (const l of frame.layers) {
    if (l.kind === 'eth') fragment = false;
    if (fragment && l.kind !== 'ipv6-ext') continue;
    if ((l.kind === 'ipv4' && (l.mf || l.fragOffset !== 0)) || (l.kind === 'ipv6' && l.fragmented)) fragment = true;
    if (l.kind === 'ipv4') inV6 = false;
    if (l.kind === 'ipv6') inV6 = true;
    if (withStatus && 'checksumStatus' in l) {
      const proto = l.kind === 'ipv4' ? 'ip' : l.kind;
      put(`${proto}.checksum.status`, l.kind === 'udp' && l.checksumStatus === 'zero' && inV6 ? 4 : STATUS[l.checksumStatus]!);
    }
    switch (l.kind) {
      case 'eth':
        put('eth.dst', l.dst);
        put('eth.src', l.src);
        put('eth.type', hex(l.etherType, 4));
        break;
      case 'vlan':
        // tshark decodes an 802.1ad service tag (TPID 0x88a8) with its own protocol, ieee8021ad.
        if (l.tpid === 0x88a8) {
          put('ieee8021ad.priority', l.pcp);
          put('ieee8021ad.dei', l.dei);
          put('ieee8021ad.id', l.vid);
        } else {
          put('vlan.priority', l.pcp);
          put('vlan.dei', l.dei);
          put('vlan.id', l.vid);
          put('vlan.etype', hex(l.etherType, 4));
        }
        break;
      case 'mpls':
        put('mpls.label', l.label);
        put('mpls.exp', l.tc);
        put('mpls.bottom', l.bottom ? 1 : 0);
        put('mpls.ttl', l.ttl);
        break;
      case 'arp':
        put('arp.opcode', l.op);
        put('arp.src.hw_mac', l.sha);
        put('arp.src.proto_ipv4', ipv4ToString(l.spa));
        put('arp.dst.hw_mac', l.tha);
        put('arp.dst.proto_ipv4', ipv4ToString(l.tpa));
        break;
      case 'ipv4':
        put('ip.version', 4);
        put('ip.hdr_len', l.headerLength);
        put('ip.dsfield', hex(l.tos, 2));
        put('ip.len', l.totalLength);
        put('ip.id', hex(l.id, 4));
        put('ip.flags', hex(l.flags, 2)); // tshark 4.0 prints the 3 flag bits shifted down (DF = 0x02)
        put('ip.frag_offset', l.fragOffset);
        put('ip.ttl', l.ttl);
        put('ip.proto', l.protocol);
        put('ip.checksum', hex(l.checksum, 4));
        put('ip.src', ipv4ToString(l.src));
        put('ip.dst', ipv4ToString(l.dst));
        break;
      case 'ipv6':
        put('ipv6.tclass', hex(l.trafficClass, 8)); // tshark 4.0 prints tclass as 8 hex digits, flow as 6
        put('ipv6.flow', hex(l.flowLabel, 6));
        put('ipv6.plen', l.payloadLength);
        put('ipv6.nxt', l.nextHeader);
        put('ipv6.hlim', l.hopLimit);
        put('ipv6.src', l.src);
        put('ipv6.dst', l.dst);
        break;
      case 'ipv6-ext':
        if (l.type === 44) {
          put('ipv6.fraghdr.offset', l.fragOffset);
          put('ipv6.fraghdr.more', l.more ? 1 : 0);
          put('ipv6.fraghdr.ident', hex(l.fragId, 8));
        } else if (l.type === 43) {
          put('ipv6.routing.type', l.routingType);
          put('ipv6.routing.segleft', l.segmentsLeft);
        }
        break;
      case 'icmp':
        put('icmp.type', l.type);
        put('icmp.code', l.code);
        put('icmp.checksum', hex(l.checksum, 4));
        if (l.identifier >= 0) {
          put('icmp.ident', l.identifier);
          put('icmp.seq', l.sequence);
        }
        if (l.nextHopMtu >= 0) put('icmp.mtu', l.nextHopMtu);
        break;
      case 'icmpv6':
        put('icmpv6.type', l.type);
        put('icmpv6.code', l.code);
        put('icmpv6.checksum', hex(l.checksum, 4));
        if (l.identifier >= 0) {
          put('icmpv6.echo.identifier', hex(l.identifier, 4));
          put('icmpv6.echo.sequence_number', l.sequence);
        }
        if (l.mtu >= 0) put('icmpv6.mtu', l.mtu);
        if (l.type === 135) put('icmpv6.nd.ns.target_address', l.target);
        if (l.type === 136) put('icmpv6.nd.na.target_address', l.target);
        if (l.sourceLinkAddr) put('icmpv6.opt.linkaddr', l.sourceLinkAddr);
        if (l.targetLinkAddr) put('icmpv6.opt.linkaddr', l.targetLinkAddr);
        if (l.type === 134) {
          put('icmpv6.nd.ra.cur_hop_limit', l.curHopLimit);
          put('icmpv6.nd.ra.router_lifetime', l.routerLifetime);
          put('icmpv6.nd.ra.reachable_time', l.reachableTime);
          put('icmpv6.nd.ra.retrans_timer', l.retransTimer);
        }
        for (const p of l.prefixes) {
          put('icmpv6.opt.prefix', p.prefix);
          put('icmpv6.opt.prefix.length', p.prefixLength);
          put('icmpv6.opt.prefix.valid_lifetime', p.validLifetime);
          put('icmpv6.opt.prefix.preferred_lifetime', p.preferredLifetime);
        }
        if (l.mtuOption >= 0) put('icmpv6.opt.mtu', l.mtuOption);
        break;
      case 'udp':
        put('udp.srcport', l.srcPort);
        put('udp.dstport', l.dstPort);
        put('udp.length', l.length);
        put('udp.checksum', hex(l.checksum, 4));
        break;
      case 'tcp':
        put('tcp.srcport', l.srcPort);
        put('tcp.dstport', l.dstPort);
        put('tcp.seq_raw', l.seq);
        put('tcp.ack_raw', l.ack);
        put('tcp.hdr_len', l.headerLength);
        put('tcp.flags', hex(l.flags, 4));
        put('tcp.window_size_value', l.window);
        put('tcp.checksum', hex(l.checksum, 4));
        put('tcp.urgent_pointer', l.urgentPointer);
        if (l.mss >= 0) put('tcp.options.mss_val', l.mss);
        if (l.windowScale >= 0) put('tcp.options.wscale.shift', l.windowScale);
        if (l.tsVal >= 0) {
          put('tcp.options.timestamp.tsval', l.tsVal);
          put('tcp.options.timestamp.tsecr', l.tsEcr);
        }
        put('tcp.len', l.payloadLength);
        break;
      case 'vxlan':
        put('vxlan.flags', hex((l.flags << 8) | (l.reserved1 >>> 16), 4));
        put('vxlan.vni', l.vni);
        break;
      case 'payload':
        break;
    }
  }
  return m;
}
