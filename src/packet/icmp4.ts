/**
 * ICMPv4 (RFC 792, RFC 1191 for the next-hop MTU): echo, destination unreachable, time
 * exceeded, redirect, parameter problem. The checksum covers the whole ICMP message.
 *
 * @example
 * if (icmp4.type(b, l4) === ICMP4.ECHO_REQUEST) { icmp4.setType(b, l4, 0); icmp4.fixChecksumAfterType(b, l4, 8, 0); }
 */
import { foldSum, sum16 } from './checksum.js';
import { fail, usable, type ChecksumStatus, type ParseResult } from './result.js';
import { checksum, code, echoReply, fillIcmpChecksum, setChecksum, type, writeIcmp } from './icmp-header.js';

export { checksum, code, setChecksum, type };

export const ICMP4_HLEN = 8;
export const ICMP4 = {
  ECHO_REPLY: 0,
  DEST_UNREACH: 3,
  SOURCE_QUENCH: 4,
  REDIRECT: 5,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAM_PROBLEM: 12,
  TIMESTAMP: 13,
  TIMESTAMP_REPLY: 14,
} as const;
/** Destination-unreachable codes (RFC 792, RFC 1812). */
export const UNREACH = { NET: 0, HOST: 1, PROTOCOL: 2, PORT: 3, FRAG_NEEDED: 4, SRC_ROUTE_FAILED: 5, ADMIN_PROHIBITED: 13 } as const;

export function identifier(b: Uint8Array, off: number): number {
  return (b[off + 4]! << 8) | b[off + 5]!;
}
export function sequence(b: Uint8Array, off: number): number {
  return (b[off + 6]! << 8) | b[off + 7]!;
}
export function setType(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
}
/**
 * Echo request → reply in place: type 8 → 0 and the checksum updated by RFC 1624 (no re-sum of the payload).
 *
 * @example
 * icmp4.echoToReply(b, l4); // then swap the IPv4 addresses (ipv4.rewriteSrc/Dst) and the MACs
 */
export function echoToReply(b: Uint8Array, off: number): void {
  echoReply(b, off, ICMP4.ECHO_REPLY);
}
/**
 * Computes and stores the checksum over the `len`-byte message.
 *
 * @example
 * icmp4.fillChecksum(b, l4, ipPayloadLength);
 */
export function fillChecksum(b: Uint8Array, off: number, len: number): number {
  return fillIcmpChecksum(b, off, len, 0);
}

/** True for the types that quote the invoking datagram after the 8-byte header. */
export function isError(t: number): boolean {
  return t === 3 || t === 4 || t === 5 || t === 11 || t === 12;
}

export interface Icmp4Header {
  readonly kind: 'icmp';
  readonly offset: number;
  readonly headerLength: 8;
  /** icmp.type */
  readonly type: number;
  /** icmp.code */
  readonly code: number;
  /** icmp.checksum */
  readonly checksum: number;
  /** icmp.checksum.status */
  readonly checksumStatus: ChecksumStatus;
  /** icmp.ident (echo and timestamp), else -1. */
  readonly identifier: number;
  /** icmp.seq (echo and timestamp), else -1. */
  readonly sequence: number;
  /** icmp.mtu: next-hop MTU of "fragmentation needed" (type 3 code 4, RFC 1191), else -1. */
  readonly nextHopMtu: number;
  /** icmp.redir_gw (type 5, uint32), else -1. */
  readonly gateway: number;
  /** icmp.pointer (type 12), else -1. */
  readonly pointer: number;
  /** Bytes 4..7 as one uint32 (whatever the type). */
  readonly rest: number;
  /** Offset of the quoted invoking IP header for error types, else -1. */
  readonly quotedOffset: number;
  /** Bytes of the message after the 8-byte header. */
  readonly payloadLength: number;
}

export interface ParseIcmp4Options {
  /** Default true; false reports 'unverified' (a first fragment holds only part of the message). */
  verify?: boolean;
  strict?: boolean;
}

/**
 * Parses an ICMPv4 message of `len` bytes (the IP payload; the checksum covers all of it).
 * Errors: 'truncated', 'bad-checksum' (strict). Unknown types parse with their raw `rest`.
 *
 * @example
 * const m = parseIcmp4(b, ip.payloadOffset, ip.payloadLength);
 * if (m.ok && m.type === 3 && m.code === 4) pmtu(m.nextHopMtu);
 */
export function parseIcmp4(b: Uint8Array, off: number, len: number, opts?: ParseIcmp4Options): ParseResult<Icmp4Header> {
  len = usable(b, off, len);
  if (len < ICMP4_HLEN) return fail('truncated', Math.max(0, off));
  const t = b[off]!;
  const c = b[off + 1]!;
  const status: ChecksumStatus = opts?.verify === false ? 'unverified' : foldSum(sum16(b, off, len)) === 0xffff ? 'good' : 'bad';
  if (status === 'bad' && opts?.strict) return fail('bad-checksum', off + 2);
  const echo = t === 0 || t === 8 || t === 13 || t === 14;
  return {
    ok: true,
    kind: 'icmp',
    offset: off,
    headerLength: 8,
    type: t,
    code: c,
    checksum: checksum(b, off),
    checksumStatus: status,
    identifier: echo ? identifier(b, off) : -1,
    sequence: echo ? sequence(b, off) : -1,
    nextHopMtu: t === 3 && c === 4 ? sequence(b, off) : -1,
    gateway: t === 5 ? (((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0) : -1,
    pointer: t === 12 ? b[off + 4]! : -1,
    rest: ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0,
    quotedOffset: isError(t) && len > ICMP4_HLEN ? off + 8 : -1,
    payloadLength: len - 8,
  };
}

export interface Icmp4Init {
  type: number;
  code?: number;
  /** Echo/timestamp identifier. */
  identifier?: number;
  sequence?: number;
  /** Type 3 code 4 next-hop MTU. */
  nextHopMtu?: number;
  /** Bytes 4..7 raw (overrides identifier/sequence/nextHopMtu); a redirect's gateway. */
  rest?: number;
  /** Data (echo) or quoted invoking datagram (errors), copied after the header. */
  payload?: Uint8Array;
  payloadLength?: number;
  checksum?: number;
}

/**
 * Writes an ICMPv4 message at `off` with its checksum; returns its length.
 *
 * @example
 * buildIcmp4(b, 34, { type: ICMP4.ECHO_REQUEST, identifier: 1, sequence: 1, payload: data });
 * buildIcmp4(b, 34, { type: 3, code: UNREACH.FRAG_NEEDED, nextHopMtu: 1400, payload: quoted });
 */
export function buildIcmp4(b: Uint8Array, off: number, init: Icmp4Init): number {
  const rest = init.rest ?? (init.nextHopMtu !== undefined ? init.nextHopMtu & 0xffff : (((init.identifier ?? 0) & 0xffff) * 0x10000 + ((init.sequence ?? 0) & 0xffff)));
  return writeIcmp(b, off, init, rest, null);
}
