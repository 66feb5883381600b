/**
 * IPv4 (RFC 791): header fields, options, fragmentation fields, the header checksum.
 *
 * Addresses are uint32 numbers (`0x0a000001` is 10.0.0.1) on every path; `ipv4ToString` and
 * `ipv4Addr` convert for humans and configuration.
 *
 * @example
 * if (ipv4.headerChecksumOk(b, off) && ipv4.ttl(b, off) > 1) ipv4.decTtl(b, off); // RFC 1624 update
 */
import { checksumUpdate16, foldSum, sum16 } from './checksum.js';
import { fail, usable, type ChecksumStatus, type ParseErrorReason, type ParseResult } from './result.js';

export const IPV4_MIN_HLEN = 20;
export const IPPROTO = {
  HOPOPT: 0,
  ICMP: 1,
  IGMP: 2,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  SCTP: 132,
} as const;

// --- hot-path accessors over the IPv4 header at `off` -------------------------------------------

export function version(b: Uint8Array, off: number): number {
  return b[off]! >>> 4;
}
export function ihl(b: Uint8Array, off: number): number {
  return b[off]! & 0x0f;
}
/** IHL × 4. */
export function headerLength(b: Uint8Array, off: number): number {
  return (b[off]! & 0x0f) << 2;
}
export function tos(b: Uint8Array, off: number): number {
  return b[off + 1]!;
}
export function dscp(b: Uint8Array, off: number): number {
  return b[off + 1]! >>> 2;
}
export function ecn(b: Uint8Array, off: number): number {
  return b[off + 1]! & 3;
}
export function totalLength(b: Uint8Array, off: number): number {
  return (b[off + 2]! << 8) | b[off + 3]!;
}
export function id(b: Uint8Array, off: number): number {
  return (b[off + 4]! << 8) | b[off + 5]!;
}
/** The 3 flag bits: 0b010 = DF, 0b001 = MF. */
export function flags(b: Uint8Array, off: number): number {
  return b[off + 6]! >>> 5;
}
export function dontFragment(b: Uint8Array, off: number): boolean {
  return (b[off + 6]! & 0x40) !== 0;
}
export function moreFragments(b: Uint8Array, off: number): boolean {
  return (b[off + 6]! & 0x20) !== 0;
}
/** Fragment offset in units of 8 bytes (Wireshark's ip.frag_offset shows bytes: ×8). */
export function fragOffset(b: Uint8Array, off: number): number {
  return ((b[off + 6]! & 0x1f) << 8) | b[off + 7]!;
}
/** True for any fragment (MF set or offset ≠ 0). */
export function isFragment(b: Uint8Array, off: number): boolean {
  return ((((b[off + 6]! & 0x3f) << 8) | b[off + 7]!) !== 0);
}
export function ttl(b: Uint8Array, off: number): number {
  return b[off + 8]!;
}
export function protocol(b: Uint8Array, off: number): number {
  return b[off + 9]!;
}
export function checksum(b: Uint8Array, off: number): number {
  return (b[off + 10]! << 8) | b[off + 11]!;
}
export function src(b: Uint8Array, off: number): number {
  return ((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0;
}
export function dst(b: Uint8Array, off: number): number {
  return ((b[off + 16]! << 24) | (b[off + 17]! << 16) | (b[off + 18]! << 8) | b[off + 19]!) >>> 0;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Sets TTL without touching the checksum (see {@link decTtl} for the forwarding case). */
export function setTtl(b: Uint8Array, off: number, v: number): void {
  b[off + 8] = v;
}
export function setTos(b: Uint8Array, off: number, v: number): void {
  b[off + 1] = v;
}
export function setTotalLength(b: Uint8Array, off: number, v: number): void {
  put16(b, off + 2, v);
}
export function setId(b: Uint8Array, off: number, v: number): void {
  put16(b, off + 4, v);
}
export function setProtocol(b: Uint8Array, off: number, v: number): void {
  b[off + 9] = v;
}
export function setChecksum(b: Uint8Array, off: number, v: number): void {
  put16(b, off + 10, v);
}
/** Sets the source address without touching the checksum (see {@link rewriteSrc}). */
export function setSrc(b: Uint8Array, off: number, v: number): void {
  put32(b, off + 12, v);
}
export function setDst(b: Uint8Array, off: number, v: number): void {
  put32(b, off + 16, v);
}

/** Header checksum over IHL×4 bytes with the stored checksum counted as zero: the value to store. */
export function computeHeaderChecksum(b: Uint8Array, off: number): number {
  const hl = (b[off]! & 0x0f) << 2;
  const s = sum16(b, off, hl) - ((b[off + 10]! << 8) | b[off + 11]!);
  return ~foldSum(s) & 0xffff;
}

/** Recomputes and stores the header checksum. */
export function updateHeaderChecksum(b: Uint8Array, off: number): void {
  put16(b, off + 10, computeHeaderChecksum(b, off));
}

/**
 * Verifies the header checksum (RFC 1071: the header, checksum included, sums to 0xffff).
 * The caller guarantees IHL×4 bytes are present. Runs per packet: unrolled for 20 bytes, high and
 * low bytes summed apart (one shift instead of ten). {@link headerChecksumOkView} is faster still.
 */
export function headerChecksumOk(b: Uint8Array, off: number): boolean {
  const hl = (b[off]! & 0x0f) << 2;
  let s =
    (b[off]! + b[off + 2]! + b[off + 4]! + b[off + 6]! + b[off + 8]! + b[off + 10]! + b[off + 12]! + b[off + 14]! + b[off + 16]! + b[off + 18]!) * 256 +
    (b[off + 1]! + b[off + 3]! + b[off + 5]! + b[off + 7]! + b[off + 9]! + b[off + 11]! + b[off + 13]! + b[off + 15]! + b[off + 17]! + b[off + 19]!);
  for (let i = off + 20; i < off + hl; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/**
 * Forwarding step: TTL − 1 with the checksum updated incrementally (RFC 1624 eqn 3 over the
 * TTL/protocol word) instead of re-summing the header. Returns the new TTL.
 */
export function decTtl(b: Uint8Array, off: number): number {
  const old = (b[off + 8]! << 8) | b[off + 9]!;
  const t = (b[off + 8]! - 1) & 0xff;
  b[off + 8] = t;
  put16(b, off + 10, checksumUpdate16((b[off + 10]! << 8) | b[off + 11]!, old, (t << 8) | b[off + 9]!));
  return t;
}

/** Rewrites the source address (NAT) with the header checksum updated per RFC 1624. */
export function rewriteSrc(b: Uint8Array, off: number, addr: number): void {
  let hc = (b[off + 10]! << 8) | b[off + 11]!;
  hc = checksumUpdate16(hc, (b[off + 12]! << 8) | b[off + 13]!, addr >>> 16);
  hc = checksumUpdate16(hc, (b[off + 14]! << 8) | b[off + 15]!, addr & 0xffff);
  put32(b, off + 12, addr);
  put16(b, off + 10, hc);
}

/** Rewrites the destination address (NAT) with the header checksum updated per RFC 1624. */
export function rewriteDst(b: Uint8Array, off: number, addr: number): void {
  let hc = (b[off + 10]! << 8) | b[off + 11]!;
  hc = checksumUpdate16(hc, (b[off + 16]! << 8) | b[off + 17]!, addr >>> 16);
  hc = checksumUpdate16(hc, (b[off + 18]! << 8) | b[off + 19]!, addr & 0xffff);
  put32(b, off + 16, addr);
  put16(b, off + 10, hc);
}

/**
 * Allocation-free validation for forwarding paths: 0 when the header at `off` (with `len` bytes
 * available from `off`) is a sane IPv4 header with a correct checksum, else a code indexing
 * {@link CHECK_REASON}: 1 truncated, 2 bad-version, 3 ihl-too-small, 4 bad-length, 5 bad-checksum.
 * Options are not walked (parseIpv4 does that); a router forwards them untouched.
 *
 * @example
 * const c = ipv4.check(b, off + 14, len - 14);
 * if (c !== 0) { drops[c]++; continue; }
 */
export function check(b: Uint8Array, off: number, len: number): number {
  if (len < 20) return 1;
  const v = b[off]!;
  if (v >>> 4 !== 4) return 2;
  const hl = (v & 0x0f) << 2;
  if (hl < 20) return 3;
  if (hl > len) return 1;
  const tl = (b[off + 2]! << 8) | b[off + 3]!;
  if (tl < hl || tl > len) return 4;
  return headerChecksumOk(b, off) ? 0 : 5;
}

/** Reasons of the codes {@link check} returns (index 0 is unused: success). */
export const CHECK_REASON: readonly ParseErrorReason[] = ['truncated', 'truncated', 'bad-version', 'ihl-too-small', 'bad-length', 'bad-checksum'];

// --- DataView flavour ----------------------------------------------------------------------------
// The same reads through a DataView over the pool (`pool.view`): one bounds check per 16/32-bit
// field instead of one per byte, which makes the per-packet validation of bench/packet.ts about
// 1.7× faster. A DataView throws RangeError past its end, so the caller guarantees
// [off, off + len) lies inside the view (batch descriptors do).

/** {@link headerChecksumOk} through a DataView: ten 16-bit reads for a 20-byte header. */
export function headerChecksumOkView(v: DataView, off: number): boolean {
  const hl = (v.getUint8(off) & 0x0f) << 2;
  let s =
    v.getUint16(off) + v.getUint16(off + 2) + v.getUint16(off + 4) + v.getUint16(off + 6) + v.getUint16(off + 8) +
    v.getUint16(off + 10) + v.getUint16(off + 12) + v.getUint16(off + 14) + v.getUint16(off + 16) + v.getUint16(off + 18);
  for (let i = off + 20; i < off + hl; i += 2) s += v.getUint16(i);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/**
 * {@link check} through a DataView: 0 or a {@link CHECK_REASON} code.
 *
 * @example
 * const c = ipv4.checkView(pool.view, off + 14, len - 14);
 */
export function checkView(v: DataView, off: number, len: number): number {
  if (len < 20) return 1;
  const x = v.getUint8(off);
  if (x >>> 4 !== 4) return 2;
  const hl = (x & 0x0f) << 2;
  if (hl < 20) return 3;
  if (hl > len) return 1;
  const tl = v.getUint16(off + 2);
  if (tl < hl || tl > len) return 4;
  return headerChecksumOkView(v, off) ? 0 : 5;
}
export function headerLengthView(v: DataView, off: number): number {
  return (v.getUint8(off) & 0x0f) << 2;
}
export function totalLengthView(v: DataView, off: number): number {
  return v.getUint16(off + 2);
}
export function ttlView(v: DataView, off: number): number {
  return v.getUint8(off + 8);
}
export function protocolView(v: DataView, off: number): number {
  return v.getUint8(off + 9);
}
export function srcView(v: DataView, off: number): number {
  return v.getUint32(off + 12);
}
export function dstView(v: DataView, off: number): number {
  return v.getUint32(off + 16);
}

// --- addresses -----------------------------------------------------------------------------------

/** Dotted quad of a uint32. */
export function ipv4ToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export class Ipv4AddressError extends Error {
  override readonly name = 'Ipv4AddressError';
}

/** Parses a dotted quad; throws Ipv4AddressError (configuration input, never wire bytes). */
export function parseIpv4Addr(text: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) throw new Ipv4AddressError(`not an IPv4 address: '${text}'`);
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) throw new Ipv4AddressError(`not an IPv4 address: '${text}'`);
    v = v * 256 + o;
  }
  return v;
}

/** An IPv4 address as a uint32 or dotted text. */
export type Ipv4Addr = number | string;

export function ipv4Addr(a: Ipv4Addr): number {
  return typeof a === 'number' ? a >>> 0 : parseIpv4Addr(a);
}

// --- safe parsing ----------------------------------------------------------------------------------

export interface Ipv4Option {
  /** Option type byte (copied flag, class, number): 0x07 RR, 0x44 timestamp, 0x83 LSRR, 0x89 SSRR, 0x94 router alert. */
  readonly type: number;
  /** Total option length (1 for EOL/NOP). */
  readonly length: number;
  readonly offset: number;
}

export interface Ipv4Header {
  readonly kind: 'ipv4';
  readonly offset: number;
  /** ip.hdr_len (bytes) */
  readonly headerLength: number;
  /** ip.version */
  readonly version: number;
  readonly ihl: number;
  /** ip.dsfield */
  readonly tos: number;
  /** ip.dsfield.dscp */
  readonly dscp: number;
  /** ip.dsfield.ecn */
  readonly ecn: number;
  /** ip.len */
  readonly totalLength: number;
  /** ip.id */
  readonly id: number;
  /** ip.flags: the 3 flag bits (0b010 DF, 0b001 MF), as tshark 4.0 prints them (0x02 = DF). */
  readonly flags: number;
  /** ip.flags.df */
  readonly df: boolean;
  /** ip.flags.mf */
  readonly mf: boolean;
  /** Fragment offset in 8-byte units (ip.frag_offset = fragOffset × 8 in Wireshark ≥ 3). */
  readonly fragOffset: number;
  /** ip.ttl */
  readonly ttl: number;
  /** ip.proto */
  readonly protocol: number;
  /** ip.checksum */
  readonly checksum: number;
  /** ip.checksum.status */
  readonly checksumStatus: ChecksumStatus;
  /** ip.src (uint32) */
  readonly src: number;
  /** ip.dst (uint32) */
  readonly dst: number;
  readonly options: readonly Ipv4Option[];
  /** Offset where the payload starts (offset + headerLength). */
  readonly payloadOffset: number;
  /** totalLength − headerLength (bytes after are link-layer padding); cut at the bytes present when `partial`. */
  readonly payloadLength: number;
}

export interface ParseIpv4Options {
  /** Fail with 'bad-checksum' instead of reporting `checksumStatus: 'bad'`. */
  strict?: boolean;
  /**
   * The bytes are a packet cut short on purpose (quoted in an ICMP error): a total length larger
   * than `len` is accepted and the payload is cut at `len`.
   */
  partial?: boolean;
}

/**
 * Parses an IPv4 header of untrusted bytes. Errors: 'truncated' (< 20 bytes or < IHL×4),
 * 'bad-version', 'ihl-too-small', 'bad-length' (total length < header or > bytes available),
 * 'bad-option', 'bad-checksum' (strict only). Bytes past total length (Ethernet padding) are ignored.
 *
 * @example
 * const ip = parseIpv4(frame, 14, frame.length - 14);
 * if (ip.ok && ip.checksumStatus === 'good') route(ip.dst);
 */
export function parseIpv4(b: Uint8Array, off: number, len: number, opts?: ParseIpv4Options): ParseResult<Ipv4Header> {
  len = usable(b, off, len);
  if (len < 1) return fail('truncated', Math.max(0, off));
  if (b[off]! >>> 4 !== 4) return fail('bad-version', off);
  if (len < IPV4_MIN_HLEN) return fail('truncated', off + len);
  const ihlv = b[off]! & 0x0f;
  if (ihlv < 5) return fail('ihl-too-small', off);
  const hl = ihlv << 2;
  if (hl > len) return fail('truncated', off + len);
  const tl = totalLength(b, off);
  if (tl < hl || (tl > len && !opts?.partial)) return fail('bad-length', off + 2);
  const options: Ipv4Option[] = [];
  for (let o = off + 20; o < off + hl; ) {
    const t = b[o]!;
    if (t === 0) {
      options.push({ type: 0, length: 1, offset: o });
      break;
    }
    if (t === 1) {
      options.push({ type: 1, length: 1, offset: o });
      o++;
      continue;
    }
    if (o + 1 >= off + hl) return fail('bad-option', o);
    const ol = b[o + 1]!;
    if (ol < 2 || o + ol > off + hl) return fail('bad-option', o + 1);
    options.push({ type: t, length: ol, offset: o });
    o += ol;
  }
  const good = foldSum(sum16(b, off, hl)) === 0xffff;
  if (!good && opts?.strict) return fail('bad-checksum', off + 10);
  const fl = b[off + 6]!;
  return {
    ok: true,
    kind: 'ipv4',
    offset: off,
    headerLength: hl,
    version: 4,
    ihl: ihlv,
    tos: b[off + 1]!,
    dscp: b[off + 1]! >>> 2,
    ecn: b[off + 1]! & 3,
    totalLength: tl,
    id: id(b, off),
    flags: fl >>> 5,
    df: (fl & 0x40) !== 0,
    mf: (fl & 0x20) !== 0,
    fragOffset: fragOffset(b, off),
    ttl: b[off + 8]!,
    protocol: b[off + 9]!,
    checksum: checksum(b, off),
    checksumStatus: good ? 'good' : 'bad',
    src: src(b, off),
    dst: dst(b, off),
    options,
    payloadOffset: off + hl,
    payloadLength: Math.min(tl, len) - hl,
  };
}

// --- builder -------------------------------------------------------------------------------------

export interface Ipv4Init {
  tos?: number;
  id?: number;
  /** 3 flag bits; overrides df/mf when given. */
  flags?: number;
  df?: boolean;
  mf?: boolean;
  fragOffset?: number;
  /** Default 64. */
  ttl?: number;
  protocol: number;
  src: Ipv4Addr;
  dst: Ipv4Addr;
  /** Raw option bytes; padded with EOL (zeros) to a multiple of 4. At most 40 bytes. */
  options?: Uint8Array;
  /** Bytes after the header (the total length is header + this). */
  payloadLength: number;
  /** Stored as is instead of computed (to build a frame with a wrong checksum on purpose). */
  checksum?: number;
}

/** Header bytes {@link buildIpv4} writes. */
export function ipv4HeaderLength(init: Pick<Ipv4Init, 'options'>): number {
  return 20 + (((init.options?.length ?? 0) + 3) & ~3);
}

export class Ipv4BuildError extends Error {
  override readonly name = 'Ipv4BuildError';
}

/**
 * Writes an IPv4 header at `off` with total length and header checksum computed; returns the header length.
 *
 * @example
 * const hl = buildIpv4(b, 14, { protocol: IPPROTO.UDP, src: '10.0.0.1', dst: '10.0.0.2', payloadLength: 8 + data.length });
 */
export function buildIpv4(b: Uint8Array, off: number, init: Ipv4Init): number {
  const hl = ipv4HeaderLength(init);
  if (hl > 60) throw new Ipv4BuildError(`IPv4 options too long: ${init.options?.length ?? 0} bytes (max 40)`);
  const tl = hl + init.payloadLength;
  if (tl > 0xffff) throw new Ipv4BuildError(`IPv4 total length ${tl} exceeds 65535`);
  b[off] = 0x40 | (hl >>> 2);
  b[off + 1] = init.tos ?? 0;
  put16(b, off + 2, tl);
  put16(b, off + 4, init.id ?? 0);
  const fl = init.flags ?? ((init.df ? 2 : 0) | (init.mf ? 1 : 0));
  put16(b, off + 6, ((fl & 7) << 13) | ((init.fragOffset ?? 0) & 0x1fff));
  b[off + 8] = init.ttl ?? 64;
  b[off + 9] = init.protocol;
  put16(b, off + 10, 0);
  put32(b, off + 12, ipv4Addr(init.src));
  put32(b, off + 16, ipv4Addr(init.dst));
  if (init.options) {
    b.set(init.options, off + 20);
    b.fill(0, off + 20 + init.options.length, off + hl);
  }
  put16(b, off + 10, init.checksum ?? computeHeaderChecksum(b, off));
  return hl;
}
