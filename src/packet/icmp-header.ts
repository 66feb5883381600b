/**
 * The 4 bytes ICMPv4 and ICMPv6 share: type, code, checksum (RFC 792, RFC 4443 §2.1), and the
 * checksum fill and echo-reply rewrite built on them. icmp4.ts and icmp6.ts re-export the
 * accessors; their checksums differ only by the pseudo-header sum (none for ICMPv4).
 *
 * @example
 * if (type(b, l4) === 8) echoReply(b, l4, 0);
 */
import { checksumUpdate16, pseudoSum, storeChecksum, type PseudoHeader } from './checksum.js';

export function type(b: Uint8Array, off: number): number {
  return b[off]!;
}
export function code(b: Uint8Array, off: number): number {
  return b[off + 1]!;
}
export function checksum(b: Uint8Array, off: number): number {
  return (b[off + 2]! << 8) | b[off + 3]!;
}
export function setChecksum(b: Uint8Array, off: number, v: number): void {
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/**
 * Computes and stores the checksum of the `len`-byte message over the unfolded pseudo-header
 * sum `pseudo` (0 for ICMPv4); returns it.
 *
 * @example
 * fillIcmpChecksum(b, l4, len, pseudoSum6At(b, ip6Off, 58, len));
 */
export function fillIcmpChecksum(b: Uint8Array, off: number, len: number, pseudo: number): number {
  return storeChecksum(b, off, len, pseudo, off + 2);
}

/**
 * Echo request → reply in place: the type becomes `replyType` and the checksum is updated by
 * RFC 1624 (no re-sum of the payload).
 *
 * @example
 * echoReply(b, l4, 129); // ICMPv6 echo request → reply
 */
export function echoReply(b: Uint8Array, off: number, replyType: number): void {
  const w = (b[off]! << 8) | b[off + 1]!;
  b[off] = replyType;
  setChecksum(b, off, checksumUpdate16(checksum(b, off), w, (replyType << 8) | b[off + 1]!));
}

/** What buildIcmp4 and buildIcmp6 take alike. */
export interface IcmpInitCommon {
  type: number;
  code?: number;
  payload?: Uint8Array;
  payloadLength?: number;
  checksum?: number;
}

/**
 * Writes an ICMP message at `off`: type, code, bytes 4..7 = `rest`, the payload, and the checksum
 * (`init.checksum` as given, else computed; ICMPv6 over `pseudo`, next header 58); returns its length.
 *
 * @example
 * writeIcmp(b, 34, { type: 8, payload: data }, (id << 16 | seq) >>> 0, null); // ICMPv4 echo
 */
export function writeIcmp(b: Uint8Array, off: number, init: IcmpInitCommon, rest: number, pseudo: PseudoHeader | null): number {
  const pl = init.payload?.length ?? init.payloadLength ?? 0;
  if (init.payload) b.set(init.payload, off + 8);
  b[off] = init.type;
  b[off + 1] = init.code ?? 0;
  b[off + 4] = rest >>> 24;
  b[off + 5] = rest >>> 16;
  b[off + 6] = rest >>> 8;
  b[off + 7] = rest;
  const n = 8 + pl;
  if (init.checksum !== undefined) setChecksum(b, off, init.checksum);
  else fillIcmpChecksum(b, off, n, pseudo ? pseudoSum(pseudo, 58, n) : 0);
  return n;
}
