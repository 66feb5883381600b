/**
 * Whole frames in fresh Uint8Arrays, lengths and checksums computed: for tests, traffic
 * generators, control-plane replies (ARP, NDP, ICMP errors). Not for per-packet hot paths.
 *
 * @example
 * const ping = icmp4EchoFrame({ srcMac: 0x020000000001, dstMac: 0x020000000002, src: '10.0.0.1', dst: '10.0.0.2', identifier: 1, sequence: 1 });
 * const syn = tcpFrame({ srcMac, dstMac, src: 'fd00::1', dst: 'fd00::2', srcPort: 40000, dstPort: 80, flags: TCP_FLAG.SYN, options: { mss: 1440 } });
 */
import { ETHERTYPE, buildEthernet, ethernetLength, type Mac, type VlanInit } from './ethernet.js';
import { ARP_OP, buildArp } from './arp.js';
import { IPPROTO, buildIpv4, ipv4Addr, ipv4HeaderLength, type Ipv4Addr } from './ipv4.js';
import { buildIpv6, ipv6Addr, type Ipv6Addr } from './ipv6.js';
import { ICMP4, buildIcmp4 } from './icmp4.js';
import { ICMP6, buildIcmp6, buildNeighborAdvert, buildNeighborSolicit, buildRouterAdvert, buildRouterSolicit, type PrefixInit } from './icmp6.js';
import { buildUdp, UDP_HLEN } from './udp.js';
import { buildTcp, encodeTcpOptions, type TcpOptionsInit } from './tcp.js';
import { buildMplsStack, type MplsInit } from './mpls.js';
import { VXLAN_PORT, buildVxlan } from './vxlan.js';
import type { PseudoHeader } from './checksum.js';

/** Link-layer part of every frame builder. */
export interface L2Init {
  srcMac: Mac;
  dstMac: Mac;
  /** VLAN tags, outermost first. */
  vlans?: readonly VlanInit[];
}

/** IPv4 or IPv6 by the form of the addresses: a number or dotted quad is IPv4, text with ':' or 16 bytes IPv6. */
export interface L3Init {
  src: Ipv4Addr | Ipv6Addr;
  dst: Ipv4Addr | Ipv6Addr;
  /** TTL / hop limit; default 64. */
  ttl?: number;
  /** IPv4 identification. */
  id?: number;
  /** IPv4 DF bit; default true (as Linux sends). */
  df?: boolean;
  /** IPv4 TOS / IPv6 traffic class. */
  tos?: number;
  flowLabel?: number;
}

function isV6(a: Ipv4Addr | Ipv6Addr): boolean {
  return a instanceof Uint8Array || (typeof a === 'string' && a.includes(':'));
}

function l2(o: L2Init, etherType: number): { hdr: number; write: (b: Uint8Array) => void } {
  const init = { dst: o.dstMac, src: o.srcMac, etherType, ...(o.vlans ? { vlans: o.vlans } : {}) };
  return { hdr: ethernetLength(init), write: (b) => void buildEthernet(b, 0, init) };
}

/**
 * An IP packet in Ethernet whose upper layer `writeL4(b, off, pseudo)` writes `l4Len` bytes.
 * Shared by the UDP, TCP and ICMP builders.
 */
function ipFrame(o: L2Init & L3Init, protocol: number, l4Len: number, writeL4: (b: Uint8Array, off: number, pseudo: PseudoHeader) => void): Uint8Array {
  if (isV6(o.src)) {
    const src = ipv6Addr(o.src as Ipv6Addr);
    const dst = ipv6Addr(o.dst as Ipv6Addr);
    const e = l2(o, ETHERTYPE.IPV6);
    const b = new Uint8Array(e.hdr + 40 + l4Len);
    e.write(b);
    buildIpv6(b, e.hdr, { nextHeader: protocol, hopLimit: o.ttl ?? 64, src, dst, payloadLength: l4Len, trafficClass: o.tos ?? 0, flowLabel: o.flowLabel ?? 0 });
    writeL4(b, e.hdr + 40, { v: 6, src, dst });
    return b;
  }
  const src = ipv4Addr(o.src as Ipv4Addr);
  const dst = ipv4Addr(o.dst as Ipv4Addr);
  const e = l2(o, ETHERTYPE.IPV4);
  const hl = ipv4HeaderLength({});
  const b = new Uint8Array(e.hdr + hl + l4Len);
  e.write(b);
  buildIpv4(b, e.hdr, { protocol, src, dst, ttl: o.ttl ?? 64, id: o.id ?? 0, df: o.df ?? true, tos: o.tos ?? 0, payloadLength: l4Len });
  writeL4(b, e.hdr + hl, { v: 4, src, dst });
  return b;
}

export interface EchoInit extends L2Init, L3Init {
  identifier: number;
  sequence: number;
  /** Default: 56 bytes 0x00..0x37, as ping sends after its timestamp. */
  payload?: Uint8Array;
  /** Default false (a request). */
  reply?: boolean;
}

const defaultPingData = (): Uint8Array => Uint8Array.from({ length: 56 }, (_, i) => i);

/**
 * ICMPv4 echo request/reply in IPv4 in Ethernet (or ICMPv6 echo when the addresses are IPv6).
 *
 * @example
 * icmp4EchoFrame({ srcMac: 'aa:aa:aa:aa:aa:01', dstMac: 'aa:aa:aa:aa:aa:02', src: '10.0.0.1', dst: '10.0.0.2', identifier: 7, sequence: 1 });
 */
export function icmp4EchoFrame(o: EchoInit): Uint8Array {
  const data = o.payload ?? defaultPingData();
  if (isV6(o.src)) return icmp6EchoFrame(o);
  return ipFrame(o, IPPROTO.ICMP, 8 + data.length, (b, off) => {
    buildIcmp4(b, off, { type: o.reply ? ICMP4.ECHO_REPLY : ICMP4.ECHO_REQUEST, identifier: o.identifier, sequence: o.sequence, payload: data });
  });
}

/**
 * ICMPv6 echo request/reply in IPv6 in Ethernet.
 *
 * @example
 * icmp6EchoFrame({ srcMac, dstMac, src: 'fd00::1', dst: 'fd00::2', identifier: 1, sequence: 1 });
 */
export function icmp6EchoFrame(o: EchoInit): Uint8Array {
  const data = o.payload ?? defaultPingData();
  return ipFrame(o, IPPROTO.ICMPV6, 8 + data.length, (b, off, pseudo) => {
    buildIcmp6(b, off, { type: o.reply ? ICMP6.ECHO_REPLY : ICMP6.ECHO_REQUEST, identifier: o.identifier, sequence: o.sequence, payload: data, pseudo });
  });
}

export interface Icmp4ErrorInit extends L2Init, L3Init {
  /** ICMP4.DEST_UNREACH, TIME_EXCEEDED, PARAM_PROBLEM... */
  type: number;
  code: number;
  /** For type 3 code 4 (RFC 1191). */
  nextHopMtu?: number;
  /** The invoking IP packet (from its IP header). */
  invoking: Uint8Array;
  /** Bytes of it quoted. Default IP header + 8 (RFC 792); RFC 1812 routers may quote up to 576 − 28. */
  quote?: number;
}

/**
 * An ICMPv4 error quoting the invoking datagram (IP header + 8 bytes by default), TOS 0xc0 as Linux sends.
 *
 * @example
 * icmp4ErrorFrame({ srcMac, dstMac, src: routerIp, dst: ipv4ToString(ipv4.src(b, 14)), type: 11, code: 0, invoking: b.subarray(14) });
 */
export function icmp4ErrorFrame(o: Icmp4ErrorInit): Uint8Array {
  const ihl = o.invoking.length > 0 ? (o.invoking[0]! & 0x0f) << 2 : 0;
  const q = o.invoking.subarray(0, Math.min(o.invoking.length, o.quote ?? ihl + 8));
  return ipFrame({ tos: 0xc0, df: false, ...o }, IPPROTO.ICMP, 8 + q.length, (b, off) => {
    buildIcmp4(b, off, { type: o.type, code: o.code, ...(o.nextHopMtu !== undefined ? { nextHopMtu: o.nextHopMtu } : { rest: 0 }), payload: q });
  });
}

export interface Icmp6ErrorInit extends L2Init, L3Init {
  /** ICMP6.DEST_UNREACH, PACKET_TOO_BIG, TIME_EXCEEDED, PARAM_PROBLEM. */
  type: number;
  code: number;
  /** MTU (packet too big) or pointer (parameter problem). */
  value?: number;
  invoking: Uint8Array;
}

/**
 * An ICMPv6 error quoting as much of the invoking packet as fits in the minimum MTU 1280 (RFC 4443 §2.4 (c)).
 *
 * @example
 * icmp6ErrorFrame({ srcMac, dstMac, src: routerIp, dst: senderIp, type: ICMP6.PACKET_TOO_BIG, code: 0, value: 1400, invoking: b.subarray(14) });
 */
export function icmp6ErrorFrame(o: Icmp6ErrorInit): Uint8Array {
  const q = o.invoking.subarray(0, Math.min(o.invoking.length, 1280 - 48));
  return ipFrame(o, IPPROTO.ICMPV6, 8 + q.length, (b, off, pseudo) => {
    buildIcmp6(b, off, { type: o.type, code: o.code, rest: (o.value ?? 0) >>> 0, payload: q, pseudo });
  });
}

export interface UdpFrameInit extends L2Init, L3Init {
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
  /** Leave the UDP checksum 0 (IPv4 only). */
  noChecksum?: boolean;
}

/**
 * A UDP datagram over IPv4 or IPv6 in Ethernet.
 *
 * @example
 * udpFrame({ srcMac, dstMac, src: 'fd00::1', dst: 'fd00::2', srcPort: 5000, dstPort: 5001, payload: new TextEncoder().encode('hi') });
 */
export function udpFrame(o: UdpFrameInit): Uint8Array {
  const data = o.payload ?? new Uint8Array(0);
  return ipFrame(o, IPPROTO.UDP, UDP_HLEN + data.length, (b, off, pseudo) => {
    buildUdp(b, off, { srcPort: o.srcPort, dstPort: o.dstPort, payload: data, ...(o.noChecksum && pseudo.v === 4 ? {} : { pseudo }) });
  });
}

export interface TcpFrameInit extends L2Init, L3Init {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: TcpOptionsInit | Uint8Array;
  payload?: Uint8Array;
}

/**
 * A TCP segment over IPv4 or IPv6 in Ethernet (a SYN with options, a data segment...).
 *
 * @example
 * tcpFrame({ srcMac, dstMac, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 80, seq: 1000, flags: TCP_FLAG.SYN, options: { mss: 1460, sackPermitted: true, timestamp: [1, 0], windowScale: 7 } });
 */
export function tcpFrame(o: TcpFrameInit): Uint8Array {
  const ob = o.options instanceof Uint8Array ? o.options : o.options ? encodeTcpOptions(o.options) : new Uint8Array(0);
  const data = o.payload ?? new Uint8Array(0);
  const len = 20 + ((ob.length + 3) & ~3) + data.length;
  return ipFrame(o, IPPROTO.TCP, len, (b, off, pseudo) => {
    buildTcp(b, off, { srcPort: o.srcPort, dstPort: o.dstPort, seq: o.seq ?? 0, ack: o.ack ?? 0, flags: o.flags, window: o.window ?? 64240, options: ob, payload: data, pseudo });
  });
}

/**
 * ff02::1:ffXX:XXXX, the solicited-node multicast address of `a` (RFC 4291 §2.7.1).
 *
 * @example
 * ipv6ToString(solicitedNode('2001:db8::1:2'), 0); // 'ff02::1:ff01:2'
 */
export function solicitedNode(a: Ipv6Addr): Uint8Array {
  const t = ipv6Addr(a);
  const s = ipv6Addr('ff02::1:ff00:0');
  s.set(t.subarray(13, 16), 13);
  return s;
}

/**
 * 33:33 + the low 32 bits of an IPv6 multicast address (RFC 2464 §7), as a 48-bit MAC.
 *
 * @example
 * multicastMac('ff02::1'); // 0x333300000001
 */
export function multicastMac(a: Ipv6Addr): number {
  const t = ipv6Addr(a);
  return 0x3333 * 0x100000000 + (((t[12]! << 24) | (t[13]! << 16) | (t[14]! << 8) | t[15]!) >>> 0);
}

export interface NsFrameInit {
  srcMac: Mac;
  /** Source address (:: for duplicate address detection, which then omits the SLLA option). */
  src: Ipv6Addr;
  target: Ipv6Addr;
  /** Default: the target's solicited-node group (multicast resolution); a unicast address for NUD. */
  dst?: Ipv6Addr;
  dstMac?: Mac;
  vlans?: readonly VlanInit[];
}

/**
 * A neighbor solicitation (hop limit 255, RFC 4861 §7.2.2) for `target`.
 *
 * @example
 * nsFrame({ srcMac: 0x020000000001, src: 'fe80::1', target: 'fe80::2' });
 */
export function nsFrame(o: NsFrameInit): Uint8Array {
  const dst = o.dst !== undefined ? ipv6Addr(o.dst) : solicitedNode(o.target);
  const src = ipv6Addr(o.src);
  const dad = src.every((x) => x === 0);
  const len = 24 + (dad ? 0 : 8);
  return ipFrame({ srcMac: o.srcMac, dstMac: o.dstMac ?? multicastMac(dst), ...(o.vlans ? { vlans: o.vlans } : {}), src, dst, ttl: 255 }, IPPROTO.ICMPV6, len, (b, off, pseudo) => {
    buildNeighborSolicit(b, off, { target: o.target, ...(dad ? {} : { sourceLinkAddr: o.srcMac }), pseudo });
  });
}

export interface NaFrameInit extends L2Init {
  src: Ipv6Addr;
  dst: Ipv6Addr;
  target: Ipv6Addr;
  /** NA_FLAG bits; default solicited + override. */
  flags?: number;
}

/**
 * A neighbor advertisement carrying the target link-layer address (= srcMac), hop limit 255.
 *
 * @example
 * naFrame({ srcMac: myMac, dstMac: askerMac, src: 'fe80::2', dst: 'fe80::1', target: 'fe80::2' });
 */
export function naFrame(o: NaFrameInit): Uint8Array {
  return ipFrame({ ...o, ttl: 255 }, IPPROTO.ICMPV6, 32, (b, off, pseudo) => {
    buildNeighborAdvert(b, off, { target: o.target, flags: o.flags ?? 0x60, targetLinkAddr: o.srcMac, pseudo });
  });
}

/**
 * A router solicitation to ff02::2 with the SLLA option.
 *
 * @example
 * rsFrame({ srcMac: myMac, src: 'fe80::1' });
 */
export function rsFrame(o: { srcMac: Mac; src: Ipv6Addr; vlans?: readonly VlanInit[] }): Uint8Array {
  const dst = ipv6Addr('ff02::2');
  return ipFrame({ srcMac: o.srcMac, dstMac: multicastMac(dst), ...(o.vlans ? { vlans: o.vlans } : {}), src: o.src, dst, ttl: 255 }, IPPROTO.ICMPV6, 16, (b, off, pseudo) => {
    buildRouterSolicit(b, off, { sourceLinkAddr: o.srcMac, pseudo });
  });
}

export interface RaFrameInit {
  srcMac: Mac;
  /** Link-local source (RFC 4861 §6.1.2). */
  src: Ipv6Addr;
  /** Default ff02::1. */
  dst?: Ipv6Addr;
  routerLifetime?: number;
  flags?: number;
  mtu?: number;
  prefixes?: readonly PrefixInit[];
}

/**
 * A router advertisement with SLLA, MTU and prefix information options.
 *
 * @example
 * raFrame({ srcMac: myMac, src: 'fe80::1', mtu: 1500, prefixes: [{ prefix: '2001:db8::', prefixLength: 64 }] });
 */
export function raFrame(o: RaFrameInit): Uint8Array {
  const dst = ipv6Addr(o.dst ?? 'ff02::1');
  const len = 16 + 8 + (o.mtu !== undefined ? 8 : 0) + 32 * (o.prefixes?.length ?? 0);
  return ipFrame({ srcMac: o.srcMac, dstMac: multicastMac(dst), src: o.src, dst, ttl: 255 }, IPPROTO.ICMPV6, len, (b, off, pseudo) => {
    buildRouterAdvert(b, off, {
      sourceLinkAddr: o.srcMac,
      routerLifetime: o.routerLifetime ?? 1800,
      flags: o.flags ?? 0,
      ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
      ...(o.prefixes ? { prefixes: o.prefixes } : {}),
      pseudo,
    });
  });
}

export interface ArpFrameInit {
  srcMac: Mac;
  spa: Ipv4Addr;
  tpa: Ipv4Addr;
  /** For a reply: the requester's MAC (also the frame's destination). */
  tha?: Mac;
  vlans?: readonly VlanInit[];
}

/**
 * An ARP request (broadcast) for `tpa`, padded to the 60-byte Ethernet minimum as Linux sends it.
 *
 * @example
 * arpRequestFrame({ srcMac: 0x020000000001, spa: '10.0.0.1', tpa: '10.0.0.2' });
 */
export function arpRequestFrame(o: ArpFrameInit): Uint8Array {
  return arpFrame(o, ARP_OP.REQUEST);
}

/**
 * An ARP reply to `tha` (unicast) saying `spa` is at `srcMac`.
 *
 * @example
 * arpReplyFrame({ srcMac: myMac, spa: '10.0.0.2', tpa: '10.0.0.1', tha: askerMac });
 */
export function arpReplyFrame(o: ArpFrameInit & { tha: Mac }): Uint8Array {
  return arpFrame(o, ARP_OP.REPLY);
}

function arpFrame(o: ArpFrameInit, op: number): Uint8Array {
  const dstMac = op === ARP_OP.REPLY && o.tha !== undefined ? o.tha : 0xffffffffffff;
  const e = l2({ srcMac: o.srcMac, dstMac, ...(o.vlans ? { vlans: o.vlans } : {}) }, ETHERTYPE.ARP);
  const b = new Uint8Array(Math.max(60, e.hdr + 28));
  e.write(b);
  buildArp(b, e.hdr, { op, sha: o.srcMac, spa: o.spa, tpa: o.tpa, tha: op === ARP_OP.REPLY ? (o.tha ?? 0) : 0 });
  return b;
}

export interface VxlanEncapInit {
  /** Underlay (outer) Ethernet + IPv4/IPv6 addresses. */
  outer: L2Init & L3Init & { srcPort?: number; dstPort?: number };
  vni: number;
  /** The inner Ethernet frame. */
  inner: Uint8Array;
}

/**
 * Encapsulates an Ethernet frame in VXLAN/UDP/IP/Ethernet (RFC 7348). Over IPv4 the UDP
 * checksum is 0 (§5: SHOULD be zero); over IPv6 it is computed (RFC 8200 forbids 0). The source
 * port defaults to a hash of the inner MACs (§5: entropy for ECMP), in 49152-65535.
 *
 * @example
 * const outer = vxlanEncap({ outer: { srcMac, dstMac, src: '192.0.2.1', dst: '192.0.2.2' }, vni: 5001, inner: frame });
 */
export function vxlanEncap(o: VxlanEncapInit): Uint8Array {
  let h = 0;
  for (let i = 0; i < 12 && i < o.inner.length; i++) h = (h * 31 + o.inner[i]!) >>> 0;
  const srcPort = o.outer.srcPort ?? 49152 + (h % 16384);
  const len = UDP_HLEN + 8 + o.inner.length;
  return ipFrame({ ...o.outer, df: o.outer.df ?? false }, IPPROTO.UDP, len, (b, off, pseudo) => {
    b.set(o.inner, off + 16);
    buildVxlan(b, off + 8, o.vni);
    buildUdp(b, off, { srcPort, dstPort: o.outer.dstPort ?? VXLAN_PORT, payloadLength: 8 + o.inner.length, ...(pseudo.v === 6 ? { pseudo } : {}) });
  });
}

export interface MplsFrameInit extends L2Init {
  labels: readonly MplsInit[];
  /** The labelled packet (an IP packet from its header). */
  payload: Uint8Array;
}

/**
 * An MPLS-labelled frame (ethertype 0x8847), labels outermost first.
 *
 * @example
 * mplsFrame({ srcMac, dstMac, labels: [{ label: 100 }, { label: 200 }], payload: ipPacket });
 */
export function mplsFrame(o: MplsFrameInit): Uint8Array {
  const e = l2(o, ETHERTYPE.MPLS);
  const b = new Uint8Array(e.hdr + 4 * o.labels.length + o.payload.length);
  e.write(b);
  const n = buildMplsStack(b, e.hdr, o.labels);
  b.set(o.payload, e.hdr + n);
  return b;
}
