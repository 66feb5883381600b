/**
 * The Internet checksum (RFC 1071), the UDP/TCP/ICMPv6 pseudo-headers of IPv4 (RFC 768/793) and
 * IPv6 (RFC 8200 §8.1), and the incremental update of RFC 1624.
 *
 * Sums are kept unfolded in a JS number (exact up to 2^53) and folded once at the end: a 64 KiB
 * datagram adds at most 32768 words of 0xffff, far below 2^53.
 *
 * @example
 * const c = internetChecksum(b, off, 20);          // value to store in the IPv4 header (field zeroed)
 * const ok = foldSum(sum16(b, off, 20)) === 0xffff;  // verification over a header with its checksum
 * const hc2 = checksumUpdate16(hc, oldWord, newWord); // RFC 1624 eqn 3
 */

/** One's complement sum (unfolded) of `len` bytes at `off` as big-endian 16-bit words, plus `initial`. An odd last byte is padded with zero. */
export function sum16(b: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  const end = off + (len & ~1);
  let i = off;
  for (; i < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (len & 1) s += b[i]! << 8;
  return s;
}

/** Folds an unfolded sum into 16 bits with end-around carry. */
export function foldSum(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum to store: complement of the folded sum of the bytes (checksum field taken as it is, normally zero). */
export function internetChecksum(b: Uint8Array, off: number, len: number, initial = 0): number {
  return ~foldSum(sum16(b, off, len, initial)) & 0xffff;
}

/** True when the bytes, checksum field included, sum to 0xffff (RFC 1071 §1 verification). */
export function checksumValid(b: Uint8Array, off: number, len: number, initial = 0): boolean {
  return foldSum(sum16(b, off, len, initial)) === 0xffff;
}

/** Unfolded sum of the IPv4 pseudo-header: source, destination (uint32), zero, protocol, upper-layer length. */
export function pseudoSum4(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** Pseudo-header sum taking the addresses from the IPv4 header at `ipOff`. */
export function pseudoSum4At(b: Uint8Array, ipOff: number, protocol: number, length: number): number {
  return sum16(b, ipOff + 12, 8, protocol + length);
}

/**
 * Pseudo-header sum of IPv6 (RFC 8200 §8.1) from the header at `ip6Off`: 32 address bytes, the
 * 32-bit upper-layer length and the next header. `dstOff` overrides where the destination is read
 * (the final destination of a routing header, which the sender uses).
 */
export function pseudoSum6At(b: Uint8Array, ip6Off: number, nextHeader: number, length: number, dstOff = ip6Off + 24): number {
  return sum16(b, dstOff, 16, sum16(b, ip6Off + 8, 16, nextHeader + (length >>> 16) + (length & 0xffff)));
}

/**
 * RFC 1624 eqn 3: HC' = ~(~HC + ~m + m'), the header checksum after one 16-bit word changes from
 * `m` to `m2`. Unlike eqn 2 (HC - ~m - m') it never yields 0xffff for a sum that should be 0x0000.
 */
export function checksumUpdate16(hc: number, m: number, m2: number): number {
  let s = (~hc & 0xffff) + (~m & 0xffff) + (m2 & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 update for a 32-bit field (an address rewritten by NAT): two 16-bit words. */
export function checksumUpdate32(hc: number, m: number, m2: number): number {
  return checksumUpdate16(checksumUpdate16(hc, m >>> 16, m2 >>> 16), m & 0xffff, m2 & 0xffff);
}

/**
 * Computes the Internet checksum of the `len` bytes at `off` over the unfolded pseudo-header sum
 * `pseudo` (0 for none) with the checksum field at `at` zeroed, and stores it there; returns it.
 * TCP and ICMP fill theirs this way (UDP maps a computed 0 to 0xffff instead, RFC 768).
 *
 * @example
 * storeChecksum(b, l4, len, pseudoSum4At(b, ipOff, 6, len), l4 + 16); // TCP
 */
export function storeChecksum(b: Uint8Array, off: number, len: number, pseudo: number, at: number): number {
  b[at] = 0;
  b[at + 1] = 0;
  const c = internetChecksum(b, off, len, pseudo);
  b[at] = c >>> 8;
  b[at + 1] = c;
  return c;
}

/** The addresses a transport checksum covers: an IPv4 pair (uint32) or an IPv6 pair (16 bytes each). */
export type PseudoHeader = { readonly v: 4; readonly src: number; readonly dst: number } | { readonly v: 6; readonly src: Uint8Array; readonly dst: Uint8Array };

/** Unfolded pseudo-header sum for `protocol` and upper-layer `length`. */
export function pseudoSum(p: PseudoHeader, protocol: number, length: number): number {
  if (p.v === 4) return pseudoSum4(p.src, p.dst, protocol, length);
  return sum16(p.dst, 0, 16, sum16(p.src, 0, 16, protocol + (length >>> 16) + (length & 0xffff)));
}
