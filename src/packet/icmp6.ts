/**
 * ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861): echo; destination unreachable, packet too
 * big, time exceeded, parameter problem; RS, RA, NS, NA, redirect with options (source/target
 * link-layer address, prefix information, MTU). The checksum covers the IPv6 pseudo-header
 * (checksum.ts `pseudoSum6At`) and the whole message.
 *
 * @example
 * if (icmp6.type(b, l4) === ICMP6.NEIGHBOR_SOLICIT) answer(ipv6ToString(b, l4 + 8));
 */
import { foldSum, sum16, type PseudoHeader } from './checksum.js';
import { macToString, writeMac, type Mac } from './ethernet.js';
import { ipv6Addr, ipv6ToString, type Ipv6Addr } from './ipv6.js';
import { fail, usable, type ChecksumStatus, type ParseResult } from './result.js';
import { checksum, code, echoReply, fillIcmpChecksum, setChecksum, type, writeIcmp } from './icmp-header.js';

export { checksum, code, setChecksum, type };

export const ICMP6_HLEN = 8;
export const ICMP6 = {
  DEST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  ROUTER_SOLICIT: 133,
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
  REDIRECT: 137,
} as const;
export const NDP_OPT = { SOURCE_LLADDR: 1, TARGET_LLADDR: 2, PREFIX_INFO: 3, REDIRECTED_HEADER: 4, MTU: 5 } as const;
/** NA flags byte (RFC 4861 §4.4): Router, Solicited, Override. */
export const NA_FLAG = { ROUTER: 0x80, SOLICITED: 0x40, OVERRIDE: 0x20 } as const;
/** RA flags byte (RFC 4861 §4.2): Managed, Other. */
export const RA_FLAG = { MANAGED: 0x80, OTHER: 0x40 } as const;

/**
 * Computes and stores the checksum of the `len`-byte message given the unfolded pseudo-header sum.
 *
 * @example
 * icmp6.fillChecksum(b, l4, len, pseudoSum6At(b, ip6Off, 58, len));
 */
export function fillChecksum(b: Uint8Array, off: number, len: number, pseudo: number): number {
  return fillIcmpChecksum(b, off, len, pseudo);
}

/**
 * Echo request → reply in place: type 128 → 129, checksum updated by RFC 1624 (swapping the IPv6
 * source and destination leaves the pseudo-header sum unchanged, so no re-sum is needed).
 *
 * @example
 * icmp6.echoToReply(b, l4); // then swap the IPv6 addresses and the MACs
 */
export function echoToReply(b: Uint8Array, off: number): void {
  echoReply(b, off, ICMP6.ECHO_REPLY);
}

/** Fixed bytes (header included) before the options of an NDP message, or 0 for non-NDP types. */
export function ndpFixedLength(t: number): number {
  switch (t) {
    case ICMP6.ROUTER_SOLICIT:
      return 8;
    case ICMP6.ROUTER_ADVERT:
      return 16;
    case ICMP6.NEIGHBOR_SOLICIT:
    case ICMP6.NEIGHBOR_ADVERT:
      return 24;
    case ICMP6.REDIRECT:
      return 40;
    default:
      return 0;
  }
}

export interface NdpOption {
  /** icmpv6.opt.type */
  readonly type: number;
  /** Length in bytes (the wire field × 8). */
  readonly length: number;
  readonly offset: number;
}

export interface NdpPrefix {
  /** icmpv6.opt.prefix.length */
  readonly prefixLength: number;
  /** L flag */
  readonly onLink: boolean;
  /** A flag */
  readonly autonomous: boolean;
  readonly validLifetime: number;
  readonly preferredLifetime: number;
  /** icmpv6.opt.prefix */
  readonly prefix: string;
}

export interface Icmp6Header {
  readonly kind: 'icmpv6';
  readonly offset: number;
  /** 8, or the fixed part of an NDP message (options follow). */
  readonly headerLength: number;
  /** icmpv6.type */
  readonly type: number;
  /** icmpv6.code */
  readonly code: number;
  /** icmpv6.checksum */
  readonly checksum: number;
  /** icmpv6.checksum.status */
  readonly checksumStatus: ChecksumStatus;
  /** icmpv6.echo.identifier, else -1 */
  readonly identifier: number;
  /** icmpv6.echo.sequence_number, else -1 */
  readonly sequence: number;
  /** icmpv6.mtu (packet too big), else -1 */
  readonly mtu: number;
  /** icmpv6.pointer (parameter problem), else -1 */
  readonly pointer: number;
  /** Bytes 4..7 as one uint32, whatever the type (raw value for builders). */
  readonly rest: number;
  /** Offset of the quoted invoking packet (error types 1-4), else -1. */
  readonly quotedOffset: number;
  /** NS/NA/redirect target (icmpv6.nd.ns.target_address / icmpv6.nd.na.target_address), else ''. */
  readonly target: string;
  /** Redirect destination, else ''. */
  readonly destination: string;
  /** NA flags byte (NA_FLAG) or RA flags byte (RA_FLAG), else 0. */
  readonly ndFlags: number;
  /** RA: icmpv6.nd.ra.cur_hop_limit, else -1 */
  readonly curHopLimit: number;
  /** RA: icmpv6.nd.ra.router_lifetime, else -1 */
  readonly routerLifetime: number;
  /** RA: icmpv6.nd.ra.reachable_time, else -1 */
  readonly reachableTime: number;
  /** RA: icmpv6.nd.ra.retrans_timer, else -1 */
  readonly retransTimer: number;
  readonly ndpOptions: readonly NdpOption[];
  /** Source link-layer address option (icmpv6.opt.linkaddr), else ''. */
  readonly sourceLinkAddr: string;
  /** Target link-layer address option, else ''. */
  readonly targetLinkAddr: string;
  /** MTU option (icmpv6.opt.mtu), else -1. */
  readonly mtuOption: number;
  readonly prefixes: readonly NdpPrefix[];
}

export interface ParseIcmp6Options {
  /** Unfolded pseudo-header sum (over `len` bytes, next header 58); without it the checksum is 'unverified'. */
  pseudo?: number;
  strict?: boolean;
}

/**
 * Parses an ICMPv6 message of `len` bytes (to the end of the IPv6 payload). Errors: 'truncated'
 * (shorter than the header or an NDP message's fixed part), 'bad-option' (NDP option of length 0 or
 * running past the message, a link-layer/MTU/prefix option of the wrong size), 'bad-checksum' (strict).
 *
 * @example
 * const m = parseIcmp6(b, ip6.upperOffset, ip6.end - ip6.upperOffset, { pseudo: pseudoSum6At(b, ip6.offset, 58, ip6.end - ip6.upperOffset) });
 */
export function parseIcmp6(b: Uint8Array, off: number, len: number, opts?: ParseIcmp6Options): ParseResult<Icmp6Header> {
  len = usable(b, off, len);
  if (len < ICMP6_HLEN) return fail('truncated', Math.max(0, off));
  const t = b[off]!;
  const fixed = ndpFixedLength(t);
  if (fixed > len) return fail('truncated', off + len);
  const u32 = (o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  const ndpOptions: NdpOption[] = [];
  const prefixes: NdpPrefix[] = [];
  let sourceLinkAddr = '';
  let targetLinkAddr = '';
  let mtuOption = -1;
  if (fixed > 0) {
    const end = off + len;
    for (let o = off + fixed; o < end; ) {
      if (o + 2 > end) return fail('bad-option', o);
      const ot = b[o]!;
      const ol = b[o + 1]! << 3;
      if (ol === 0 || o + ol > end) return fail('bad-option', o + 1);
      if (ot === NDP_OPT.SOURCE_LLADDR || ot === NDP_OPT.TARGET_LLADDR) {
        // Ethernet: 8 bytes (RFC 2464 §6); longer link-layer addresses are kept as options only.
        if (ol === 8) {
          if (ot === NDP_OPT.SOURCE_LLADDR) sourceLinkAddr = macToString(b, o + 2);
          else targetLinkAddr = macToString(b, o + 2);
        }
      } else if (ot === NDP_OPT.PREFIX_INFO) {
        if (ol !== 32) return fail('bad-option', o + 1);
        prefixes.push({
          prefixLength: b[o + 2]!,
          onLink: (b[o + 3]! & 0x80) !== 0,
          autonomous: (b[o + 3]! & 0x40) !== 0,
          validLifetime: u32(o + 4),
          preferredLifetime: u32(o + 8),
          prefix: ipv6ToString(b, o + 16),
        });
      } else if (ot === NDP_OPT.MTU) {
        if (ol !== 8) return fail('bad-option', o + 1);
        mtuOption = u32(o + 4);
      }
      ndpOptions.push({ type: ot, length: ol, offset: o });
      o += ol;
    }
  }
  let status: ChecksumStatus = 'unverified';
  if (opts?.pseudo !== undefined) status = foldSum(sum16(b, off, len, opts.pseudo)) === 0xffff ? 'good' : 'bad';
  if (status === 'bad' && opts?.strict) return fail('bad-checksum', off + 2);
  const echo = t === ICMP6.ECHO_REQUEST || t === ICMP6.ECHO_REPLY;
  const ra = t === ICMP6.ROUTER_ADVERT;
  const nsna = t === ICMP6.NEIGHBOR_SOLICIT || t === ICMP6.NEIGHBOR_ADVERT || t === ICMP6.REDIRECT;
  return {
    ok: true,
    kind: 'icmpv6',
    offset: off,
    headerLength: fixed > 0 ? fixed : 8,
    type: t,
    code: b[off + 1]!,
    checksum: checksum(b, off),
    checksumStatus: status,
    identifier: echo ? (b[off + 4]! << 8) | b[off + 5]! : -1,
    sequence: echo ? (b[off + 6]! << 8) | b[off + 7]! : -1,
    mtu: t === ICMP6.PACKET_TOO_BIG ? u32(off + 4) : -1,
    pointer: t === ICMP6.PARAM_PROBLEM ? u32(off + 4) : -1,
    rest: u32(off + 4),
    quotedOffset: t >= 1 && t <= 4 && len > 8 ? off + 8 : -1,
    target: nsna ? ipv6ToString(b, off + 8) : '',
    destination: t === ICMP6.REDIRECT ? ipv6ToString(b, off + 24) : '',
    ndFlags: ra ? b[off + 5]! : t === ICMP6.NEIGHBOR_ADVERT ? b[off + 4]! : 0,
    curHopLimit: ra ? b[off + 4]! : -1,
    routerLifetime: ra ? (b[off + 6]! << 8) | b[off + 7]! : -1,
    reachableTime: ra ? u32(off + 8) : -1,
    retransTimer: ra ? u32(off + 12) : -1,
    ndpOptions,
    sourceLinkAddr,
    targetLinkAddr,
    mtuOption,
    prefixes,
  };
}

// --- builders --------------------------------------------------------------------------------------

export interface Icmp6Init {
  type: number;
  code?: number;
  /** Bytes 4..7 as a uint32 (echo: identifier << 16 | sequence; packet too big: MTU; NA: flags << 24). */
  rest?: number;
  identifier?: number;
  sequence?: number;
  /** Everything after the first 8 bytes (echo data, quoted packet, NDP body and options). */
  payload?: Uint8Array;
  payloadLength?: number;
  /** IPv6 addresses for the (mandatory) checksum. */
  pseudo: PseudoHeader;
  checksum?: number;
}

/**
 * Writes an ICMPv6 message at `off`, checksum computed over the pseudo-header; returns its length.
 *
 * @example
 * buildIcmp6(b, 54, { type: ICMP6.ECHO_REQUEST, identifier: 7, sequence: 1, payload: data, pseudo: { v: 6, src, dst } });
 */
export function buildIcmp6(b: Uint8Array, off: number, init: Icmp6Init): number {
  const rest = init.rest ?? ((init.identifier ?? 0) & 0xffff) * 0x10000 + ((init.sequence ?? 0) & 0xffff);
  return writeIcmp(b, off, init, rest, init.pseudo);
}

/**
 * A source (1) or target (2) link-layer address option for Ethernet: 8 bytes.
 *
 * @example
 * ndpLinkAddrOption(1, '02:00:00:00:00:01');
 */
export function ndpLinkAddrOption(optType: 1 | 2, mac: Mac): Uint8Array {
  const o = new Uint8Array(8);
  o[0] = optType;
  o[1] = 1;
  writeMac(o, 2, mac);
  return o;
}

/**
 * An MTU option (RFC 4861 §4.6.4): 8 bytes.
 *
 * @example
 * ndpMtuOption(1500);
 */
export function ndpMtuOption(mtu: number): Uint8Array {
  const o = new Uint8Array(8);
  o[0] = NDP_OPT.MTU;
  o[1] = 1;
  new DataView(o.buffer).setUint32(4, mtu >>> 0);
  return o;
}

export interface PrefixInit {
  prefix: Ipv6Addr;
  prefixLength: number;
  onLink?: boolean;
  autonomous?: boolean;
  validLifetime?: number;
  preferredLifetime?: number;
}

/**
 * A prefix information option (RFC 4861 §4.6.2): 32 bytes; L and A set by default.
 *
 * @example
 * ndpPrefixOption({ prefix: '2001:db8::', prefixLength: 64 });
 */
export function ndpPrefixOption(p: PrefixInit): Uint8Array {
  const o = new Uint8Array(32);
  const v = new DataView(o.buffer);
  o[0] = NDP_OPT.PREFIX_INFO;
  o[1] = 4;
  o[2] = p.prefixLength;
  o[3] = (p.onLink ?? true ? 0x80 : 0) | (p.autonomous ?? true ? 0x40 : 0);
  v.setUint32(4, (p.validLifetime ?? 2592000) >>> 0);
  v.setUint32(8, (p.preferredLifetime ?? 604800) >>> 0);
  o.set(ipv6Addr(p.prefix), 16);
  return o;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface NeighborSolicitInit {
  target: Ipv6Addr;
  /** Source link-layer address option (omit for DAD, whose source is ::). */
  sourceLinkAddr?: Mac;
  pseudo: PseudoHeader;
}

/**
 * Writes a neighbor solicitation at `off`; returns its length (24, or 32 with the SLLA option).
 *
 * @example
 * buildNeighborSolicit(b, 54, { target: 'fe80::2', sourceLinkAddr: myMac, pseudo: { v: 6, src, dst: solicitedNode } });
 */
export function buildNeighborSolicit(b: Uint8Array, off: number, init: NeighborSolicitInit): number {
  const parts: Uint8Array[] = [ipv6Addr(init.target)];
  if (init.sourceLinkAddr !== undefined) parts.push(ndpLinkAddrOption(1, init.sourceLinkAddr));
  return buildIcmp6(b, off, { type: ICMP6.NEIGHBOR_SOLICIT, rest: 0, payload: concat(parts), pseudo: init.pseudo });
}

export interface NeighborAdvertInit {
  target: Ipv6Addr;
  /** NA_FLAG bits. */
  flags: number;
  targetLinkAddr?: Mac;
  pseudo: PseudoHeader;
}

/**
 * Writes a neighbor advertisement at `off`; returns its length.
 *
 * @example
 * buildNeighborAdvert(b, 54, { target: 'fe80::2', flags: NA_FLAG.SOLICITED | NA_FLAG.OVERRIDE, targetLinkAddr: myMac, pseudo });
 */
export function buildNeighborAdvert(b: Uint8Array, off: number, init: NeighborAdvertInit): number {
  const parts: Uint8Array[] = [ipv6Addr(init.target)];
  if (init.targetLinkAddr !== undefined) parts.push(ndpLinkAddrOption(2, init.targetLinkAddr));
  return buildIcmp6(b, off, { type: ICMP6.NEIGHBOR_ADVERT, rest: (init.flags & 0xff) * 0x1000000, payload: concat(parts), pseudo: init.pseudo });
}

/**
 * Writes a router solicitation (with an optional SLLA option) at `off`; returns its length.
 *
 * @example
 * buildRouterSolicit(b, 54, { sourceLinkAddr: myMac, pseudo: { v: 6, src, dst: allRouters } });
 */
export function buildRouterSolicit(b: Uint8Array, off: number, init: { sourceLinkAddr?: Mac; pseudo: PseudoHeader }): number {
  const parts: Uint8Array[] = init.sourceLinkAddr !== undefined ? [ndpLinkAddrOption(1, init.sourceLinkAddr)] : [];
  return buildIcmp6(b, off, { type: ICMP6.ROUTER_SOLICIT, rest: 0, payload: concat(parts), pseudo: init.pseudo });
}

export interface RouterAdvertInit {
  curHopLimit?: number;
  /** RA_FLAG bits. */
  flags?: number;
  routerLifetime?: number;
  reachableTime?: number;
  retransTimer?: number;
  sourceLinkAddr?: Mac;
  mtu?: number;
  prefixes?: readonly PrefixInit[];
  pseudo: PseudoHeader;
}

/**
 * Writes a router advertisement with options (SLLA, MTU, prefixes, in that order) at `off`; returns its length.
 *
 * @example
 * buildRouterAdvert(b, 54, { routerLifetime: 1800, sourceLinkAddr: myMac, mtu: 1500, prefixes: [{ prefix: '2001:db8::', prefixLength: 64 }], pseudo });
 */
export function buildRouterAdvert(b: Uint8Array, off: number, init: RouterAdvertInit): number {
  const fixed = new Uint8Array(8);
  const v = new DataView(fixed.buffer);
  v.setUint32(0, (init.reachableTime ?? 0) >>> 0);
  v.setUint32(4, (init.retransTimer ?? 0) >>> 0);
  const parts: Uint8Array[] = [fixed];
  if (init.sourceLinkAddr !== undefined) parts.push(ndpLinkAddrOption(1, init.sourceLinkAddr));
  if (init.mtu !== undefined) parts.push(ndpMtuOption(init.mtu));
  for (const p of init.prefixes ?? []) parts.push(ndpPrefixOption(p));
  const rest = ((init.curHopLimit ?? 64) & 0xff) * 0x1000000 + ((init.flags ?? 0) & 0xff) * 0x10000 + ((init.routerLifetime ?? 1800) & 0xffff);
  return buildIcmp6(b, off, { type: ICMP6.ROUTER_ADVERT, rest, payload: concat(parts), pseudo: init.pseudo });
}
