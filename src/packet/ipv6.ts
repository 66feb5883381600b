/**
 * IPv6 (RFC 8200): the fixed header and a walk over extension headers (hop-by-hop, routing,
 * fragment, destination options, AH of RFC 4302). ESP and "no next header" end the walk.
 *
 * Addresses are read in place (16 bytes at `srcOffset(off)`); `ipv6ToString` formats them per
 * RFC 5952, `parseIpv6Addr` reads text into 16 bytes.
 *
 * @example
 * if (ipv6.hopLimit(b, off) > 1) ipv6.setHopLimit(b, off, ipv6.hopLimit(b, off) - 1); // no checksum in IPv6
 */
import { fail, usable, type ParseResult } from './result.js';

export const IPV6_HLEN = 40;
/** Extension headers followed before 'too-many-headers'. */
export const MAX_EXT_HEADERS = 16;

export const EXT = { HOPOPT: 0, ROUTING: 43, FRAGMENT: 44, ESP: 50, AH: 51, NONE: 59, DSTOPTS: 60, MOBILITY: 135 } as const;

// --- hot-path accessors over the fixed header at `off` -------------------------------------------

export function version(b: Uint8Array, off: number): number {
  return b[off]! >>> 4;
}
export function trafficClass(b: Uint8Array, off: number): number {
  return ((b[off]! & 0x0f) << 4) | (b[off + 1]! >>> 4);
}
export function flowLabel(b: Uint8Array, off: number): number {
  return ((b[off + 1]! & 0x0f) << 16) | (b[off + 2]! << 8) | b[off + 3]!;
}
export function payloadLength(b: Uint8Array, off: number): number {
  return (b[off + 4]! << 8) | b[off + 5]!;
}
export function nextHeader(b: Uint8Array, off: number): number {
  return b[off + 6]!;
}
export function hopLimit(b: Uint8Array, off: number): number {
  return b[off + 7]!;
}
export function setHopLimit(b: Uint8Array, off: number, v: number): void {
  b[off + 7] = v;
}
export function setPayloadLength(b: Uint8Array, off: number, v: number): void {
  b[off + 4] = v >>> 8;
  b[off + 5] = v;
}
export function setNextHeader(b: Uint8Array, off: number, v: number): void {
  b[off + 6] = v;
}
export function setTrafficClass(b: Uint8Array, off: number, tc: number): void {
  b[off] = 0x60 | ((tc >>> 4) & 0x0f);
  b[off + 1] = ((tc & 0x0f) << 4) | (b[off + 1]! & 0x0f);
}
/** Offset of the 16-byte source address. */
export function srcOffset(off: number): number {
  return off + 8;
}
/** Offset of the 16-byte destination address. */
export function dstOffset(off: number): number {
  return off + 24;
}
/** Compares the 16 bytes at `o1` in `a` with those at `o2` in `c`, without allocating. */
export function addrEquals(a: Uint8Array, o1: number, c: Uint8Array, o2: number): boolean {
  for (let i = 0; i < 16; i++) if (a[o1 + i] !== c[o2 + i]) return false;
  return true;
}

// --- addresses -------------------------------------------------------------------------------------

/** RFC 5952 text of the 16 bytes at `o`: lower case, longest run (≥ 2) of zero groups as `::`, first one on ties. */
export function ipv6ToString(b: Uint8Array, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number, z: number): string => g.slice(a, z).map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

export class Ipv6AddressError extends Error {
  override readonly name = 'Ipv6AddressError';
}

/** Parses IPv6 text (with `::`, and an embedded dotted quad at the end) into 16 bytes; throws Ipv6AddressError (configuration input). */
export function parseIpv6Addr(text: string): Uint8Array {
  const bad = (): Ipv6AddressError => new Ipv6AddressError(`not an IPv6 address: '${text}'`);
  let s = text;
  const tail: number[] = [];
  const q = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (q) {
    for (let i = 2; i <= 5; i++) {
      const v = Number(q[i]);
      if (v > 255) throw bad();
      tail.push(v);
    }
    s = q[1]! + '0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) throw bad();
  const groups = (h: string): number[] =>
    h === '' ? [] : h.split(':').map((x) => {
      if (!/^[0-9a-f]{1,4}$/i.test(x)) throw bad();
      return parseInt(x, 16);
    });
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) throw bad();
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...rest];
  const out = new Uint8Array(16);
  all.forEach((v, i) => {
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  });
  if (tail.length) out.set(tail, 12);
  return out;
}

/** An IPv6 address as text or 16 bytes. */
export type Ipv6Addr = string | Uint8Array;

export function ipv6Addr(a: Ipv6Addr): Uint8Array {
  return typeof a === 'string' ? parseIpv6Addr(a) : a.subarray(0, 16);
}

// --- safe parsing ----------------------------------------------------------------------------------

export interface Ipv6ExtHeader {
  readonly kind: 'ipv6-ext';
  readonly offset: number;
  /** Which header this is (the next-header value that announced it: 0, 43, 44, 51, 60). */
  readonly type: number;
  readonly headerLength: number;
  /** The next header field inside this extension header. */
  readonly nextHeader: number;
  /** Routing header: ipv6.routing.type (else -1). */
  readonly routingType: number;
  /** Routing header: ipv6.routing.segleft (else -1). */
  readonly segmentsLeft: number;
  /** Fragment header: offset in 8-byte units, ipv6.fragment.offset (else -1). */
  readonly fragOffset: number;
  /** Fragment header: ipv6.fragment.more (else false). */
  readonly more: boolean;
  /** Fragment header: ipv6.fragment.id (else -1). */
  readonly fragId: number;
  /** AH: Security Parameters Index (else -1). */
  readonly spi: number;
}

export interface Ipv6Header {
  readonly kind: 'ipv6';
  readonly offset: number;
  readonly headerLength: 40;
  /** ipv6.version */
  readonly version: number;
  /** ipv6.tclass */
  readonly trafficClass: number;
  /** ipv6.flow */
  readonly flowLabel: number;
  /** ipv6.plen */
  readonly payloadLength: number;
  /** ipv6.nxt */
  readonly nextHeader: number;
  /** ipv6.hlim */
  readonly hopLimit: number;
  /** ipv6.src */
  readonly src: string;
  /** ipv6.dst */
  readonly dst: string;
  /** Extension headers in wire order. */
  readonly extensions: readonly Ipv6ExtHeader[];
  /** The protocol after the last extension header (ESP 50 and NONE 59 included). */
  readonly upperProtocol: number;
  /** Where that protocol's header starts. */
  readonly upperOffset: number;
  /** Offset + 40 + payload length (bytes after are link-layer padding); cut at the bytes present when `partial`. */
  readonly end: number;
  /** True when a fragment header with a non-zero offset was seen (the upper header is not in this packet). */
  readonly laterFragment: boolean;
  /** True when a fragment header says this is part of a larger packet (not an atomic fragment): the upper-layer checksum cannot be verified. */
  readonly fragmented: boolean;
}

const NO_EXT = { routingType: -1, segmentsLeft: -1, fragOffset: -1, more: false, fragId: -1, spi: -1 };

function tlvOptionsOk(b: Uint8Array, from: number, to: number): number {
  // Returns -1 when the options area is well formed, else the offending offset.
  for (let o = from; o < to; ) {
    if (b[o] === 0) {
      o++;
      continue;
    }
    if (o + 1 >= to) return o;
    const l = b[o + 1]!;
    if (o + 2 + l > to) return o + 1;
    o += 2 + l;
  }
  return -1;
}

export interface ParseIpv6Options {
  /** A packet cut short on purpose (quoted in an ICMPv6 error): a payload length beyond `len` is accepted, `end` is cut at `len`. */
  partial?: boolean;
}

/**
 * Parses the fixed header and walks the extension headers. Errors: 'truncated', 'bad-version',
 * 'bad-length' (payload length beyond the bytes available), 'bad-option', 'bad-header-order'
 * (hop-by-hop not first), 'too-many-headers'.
 *
 * @example
 * const ip6 = parseIpv6(frame, 14, frame.length - 14);
 * if (ip6.ok && ip6.upperProtocol === 58) parseIcmp6(frame, ip6.upperOffset, ip6.end - ip6.upperOffset);
 */
export function parseIpv6(b: Uint8Array, off: number, len: number, opts?: ParseIpv6Options): ParseResult<Ipv6Header> {
  len = usable(b, off, len);
  if (len < 1) return fail('truncated', Math.max(0, off));
  if (b[off]! >>> 4 !== 6) return fail('bad-version', off);
  if (len < IPV6_HLEN) return fail('truncated', off + len);
  const plen = payloadLength(b, off);
  if (IPV6_HLEN + plen > len && !opts?.partial) return fail('bad-length', off + 4);
  const end = off + Math.min(IPV6_HLEN + plen, len);
  const extensions: Ipv6ExtHeader[] = [];
  let nh = b[off + 6]!;
  let o = off + IPV6_HLEN;
  let laterFragment = false;
  let fragmented = false;
  for (;;) {
    if (nh !== EXT.HOPOPT && nh !== EXT.ROUTING && nh !== EXT.FRAGMENT && nh !== EXT.DSTOPTS && nh !== EXT.AH) break;
    if (laterFragment) break; // headers after a later fragment's fragment header are not ours to read
    if (nh === EXT.HOPOPT && extensions.length > 0) return fail('bad-header-order', o);
    if (extensions.length >= MAX_EXT_HEADERS) return fail('too-many-headers', o);
    if (o + 8 > end) return fail('truncated', o);
    const next = b[o]!;
    let hl: number;
    if (nh === EXT.FRAGMENT) hl = 8;
    else if (nh === EXT.AH) hl = (b[o + 1]! + 2) << 2; // RFC 4302 §2.2: length in 4-octet units minus 2
    else hl = (b[o + 1]! + 1) << 3; // RFC 8200 §4.3: 8-octet units, not counting the first 8
    if (o + hl > end) return fail('bad-length', o + 1);
    let ext: Ipv6ExtHeader;
    if (nh === EXT.HOPOPT || nh === EXT.DSTOPTS) {
      const badAt = tlvOptionsOk(b, o + 2, o + hl);
      if (badAt >= 0) return fail('bad-option', badAt);
      ext = { kind: 'ipv6-ext', offset: o, type: nh, headerLength: hl, nextHeader: next, ...NO_EXT };
    } else if (nh === EXT.ROUTING) {
      ext = { kind: 'ipv6-ext', offset: o, type: nh, headerLength: hl, nextHeader: next, ...NO_EXT, routingType: b[o + 2]!, segmentsLeft: b[o + 3]! };
    } else if (nh === EXT.FRAGMENT) {
      const fo = ((b[o + 2]! << 8) | b[o + 3]!) >>> 3;
      const more = (b[o + 3]! & 1) === 1;
      // An atomic fragment (offset 0, M clear; RFC 6946) is a whole packet: not "fragmented".
      if (fo !== 0 || more) fragmented = true;
      if (fo !== 0) laterFragment = true;
      const fid = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
      ext = { kind: 'ipv6-ext', offset: o, type: nh, headerLength: hl, nextHeader: next, ...NO_EXT, fragOffset: fo, more, fragId: fid };
    } else {
      const spi = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
      ext = { kind: 'ipv6-ext', offset: o, type: nh, headerLength: hl, nextHeader: next, ...NO_EXT, spi };
    }
    extensions.push(ext);
    nh = next;
    o += hl;
  }
  return {
    ok: true,
    kind: 'ipv6',
    offset: off,
    headerLength: 40,
    version: 6,
    trafficClass: trafficClass(b, off),
    flowLabel: flowLabel(b, off),
    payloadLength: plen,
    nextHeader: b[off + 6]!,
    hopLimit: b[off + 7]!,
    src: ipv6ToString(b, off + 8),
    dst: ipv6ToString(b, off + 24),
    extensions,
    upperProtocol: nh,
    upperOffset: o,
    end,
    laterFragment,
    fragmented,
  };
}

/**
 * Offset of the final destination for the pseudo-header (RFC 8200 §8.1): the last address of a
 * type 0/2 routing header with segments left, else the destination field. Only for parsed headers.
 */
export function pseudoDstOffset(b: Uint8Array, h: Ipv6Header): number {
  for (const e of h.extensions) {
    if (e.type === EXT.ROUTING && e.segmentsLeft > 0 && (e.routingType === 0 || e.routingType === 2) && e.headerLength >= 24) {
      return e.offset + e.headerLength - 16;
    }
  }
  return h.offset + 24;
}

// --- builders --------------------------------------------------------------------------------------

export interface Ipv6Init {
  trafficClass?: number;
  flowLabel?: number;
  /** Next header after the fixed header (the first extension header, or the upper protocol). */
  nextHeader: number;
  /** Default 64. */
  hopLimit?: number;
  src: Ipv6Addr;
  dst: Ipv6Addr;
  /** Bytes after the fixed header, extension headers included. */
  payloadLength: number;
}

export class Ipv6BuildError extends Error {
  override readonly name = 'Ipv6BuildError';
}

/**
 * Writes the 40-byte fixed header at `off`; returns 40.
 *
 * @example
 * buildIpv6(b, 14, { nextHeader: 17, src: 'fe80::1', dst: 'fe80::2', payloadLength: 8 });
 */
export function buildIpv6(b: Uint8Array, off: number, init: Ipv6Init): number {
  if (init.payloadLength > 0xffff) throw new Ipv6BuildError(`IPv6 payload length ${init.payloadLength} exceeds 65535 (jumbograms unsupported)`);
  const tc = init.trafficClass ?? 0;
  const fl = init.flowLabel ?? 0;
  b[off] = 0x60 | ((tc >>> 4) & 0x0f);
  b[off + 1] = ((tc & 0x0f) << 4) | ((fl >>> 16) & 0x0f);
  b[off + 2] = fl >>> 8;
  b[off + 3] = fl;
  setPayloadLength(b, off, init.payloadLength);
  b[off + 6] = init.nextHeader;
  b[off + 7] = init.hopLimit ?? 64;
  b.set(ipv6Addr(init.src), off + 8);
  b.set(ipv6Addr(init.dst), off + 24);
  return IPV6_HLEN;
}

/**
 * Writes an options extension header (hop-by-hop or destination options) whose options are `opts`
 * (TLV bytes), padded with Pad1/PadN to a multiple of 8; returns its length.
 *
 * @example
 * buildIpv6OptionsHeader(b, 54, 58, new Uint8Array([5, 2, 0, 0])); // router alert (MLD)
 */
export function buildIpv6OptionsHeader(b: Uint8Array, off: number, nextHdr: number, opts: Uint8Array = new Uint8Array(0)): number {
  const hl = (2 + opts.length + 7) & ~7;
  b[off] = nextHdr;
  b[off + 1] = (hl >>> 3) - 1;
  b.set(opts, off + 2);
  const pad = hl - 2 - opts.length;
  const p = off + 2 + opts.length;
  if (pad === 1) b[p] = 0;
  else if (pad > 1) {
    b[p] = 1;
    b[p + 1] = pad - 2;
    b.fill(0, p + 2, p + pad);
  }
  return hl;
}

/**
 * Writes an 8-byte fragment header (RFC 8200 §4.5); `fragOffset` in 8-byte units; returns 8.
 *
 * @example
 * buildIpv6Fragment(b, 54, IPPROTO.UDP, 0, true, 0x1234); // first fragment
 */
export function buildIpv6Fragment(b: Uint8Array, off: number, nextHdr: number, fragOffset: number, more: boolean, fragId: number): number {
  b[off] = nextHdr;
  b[off + 1] = 0;
  const w = ((fragOffset & 0x1fff) << 3) | (more ? 1 : 0);
  b[off + 2] = w >>> 8;
  b[off + 3] = w;
  b[off + 4] = fragId >>> 24;
  b[off + 5] = fragId >>> 16;
  b[off + 6] = fragId >>> 8;
  b[off + 7] = fragId;
  return 8;
}

/**
 * Writes a routing header of `routingType` carrying `addresses` (type 0/2/4-like layout, 4 reserved bytes); returns its length.
 *
 * @example
 * buildIpv6Routing(b, 54, IPPROTO.TCP, 2, 1, ['2001:db8::99']); // type 2 (mobile IPv6 home address)
 */
export function buildIpv6Routing(b: Uint8Array, off: number, nextHdr: number, routingType: number, segmentsLeft: number, addresses: readonly Ipv6Addr[]): number {
  const hl = 8 + 16 * addresses.length;
  b[off] = nextHdr;
  b[off + 1] = (hl >>> 3) - 1;
  b[off + 2] = routingType;
  b[off + 3] = segmentsLeft;
  b.fill(0, off + 4, off + 8);
  addresses.forEach((a, i) => b.set(ipv6Addr(a), off + 8 + 16 * i));
  return hl;
}
