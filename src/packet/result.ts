/**
 * The typed result every `parseX(b, off, len)` of src/packet returns. Parsing untrusted bytes never
 * throws and never reads outside [off, off + len): a malformed header comes back as
 * `{ ok: false, reason, offset }` where `offset` is the absolute byte offset (in `b`) of the field
 * found wrong.
 *
 * @example
 * const r = parseIpv4(b, 14, b.length - 14);
 * if (!r.ok) counters[r.reason]++; else use(r.ttl);
 */
export type ParseErrorReason =
  /** Fewer bytes than the fixed part of the header (or than a length field inside it promises). */
  | 'truncated'
  /** A length field larger than the bytes available, or smaller than its own header. */
  | 'bad-length'
  /** IPv4 IHL under 5 (header shorter than 20 bytes). */
  | 'ihl-too-small'
  /** TCP data offset under 5 (header shorter than 20 bytes). */
  | 'data-offset-too-small'
  /** IP version nibble is not the one expected. */
  | 'bad-version'
  /** Checksum verification asked for (`strict`) and failed. */
  | 'bad-checksum'
  /** An option TLV (IPv4, IPv6 HBH/DstOpts, TCP, NDP) is malformed: zero length or runs past its header. */
  | 'bad-option'
  /** An IPv6 hop-by-hop header that is not the first extension header (RFC 8200 §4.1). */
  | 'bad-header-order'
  /** More stacked headers (VLAN tags, MPLS labels, IPv6 extension headers, VXLAN nesting) than the decoder follows. */
  | 'too-many-headers'
  /** A well-formed header of a variant this library does not decode (e.g. ARP over non-Ethernet hardware). */
  | 'unsupported';

/** A failed parse: why, and the absolute offset of the offending field. */
export interface ParseFail {
  readonly ok: false;
  readonly reason: ParseErrorReason;
  readonly offset: number;
}

/** Either the header's fields with `ok: true`, or a {@link ParseFail}. */
export type ParseResult<T> = (T & { readonly ok: true }) | ParseFail;

/**
 * Checksum verdict reported as a field (never thrown): `good`/`bad`; `zero` for a UDP checksum of 0
 * (sender did not compute one); `unverified` when it cannot be checked (no pseudo-header given, a
 * first IP fragment whose payload is incomplete).
 */
export type ChecksumStatus = 'good' | 'bad' | 'zero' | 'unverified';

export function fail(reason: ParseErrorReason, offset: number): ParseFail {
  return { ok: false, reason, offset: Number.isInteger(offset) && offset >= 0 ? offset : 0 };
}

/**
 * Clamps a caller's (off, len) to the bytes that exist, so that a lying `len` cannot make a parser
 * read past the end of `b` (reads past a typed array return `undefined`, silently).
 * Returns -1 when `off` itself is unusable.
 */
export function usable(b: Uint8Array, off: number, len: number): number {
  if (!Number.isInteger(off) || off < 0 || off > b.length || !(len >= 0)) return -1;
  const avail = b.length - off;
  return len > avail ? avail : Math.floor(len);
}
