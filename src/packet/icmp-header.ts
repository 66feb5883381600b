/**
 * The 4 bytes ICMPv4 and ICMPv6 share: type, code, checksum (RFC 792, RFC 4443 §2.1), and the
 * checksum fill and echo-reply rewrite built on them. icmp4.ts and icmp6.ts re-export the
 * accessors; their checksums differ only by the pseudo-header sum (none for ICMPv4).
 *
 * @example
 * if (type(b, l4) === 8) echoReply(b, l4, 0);
 */
import { checksumUpdate16, foldSum, sum16 } from './checksum.js';

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
  setChecksum(b, off, 0);
  const c = ~foldSum(sum16(b, off, len, pseudo)) & 0xffff;
  setChecksum(b, off, c);
  return c;
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
