/**
 * UDP (RFC 768) with its checksum over the IPv4 or IPv6 pseudo-header.
 *
 * @example
 * if (udp.dstPort(b, l4) === 4789) decapsulate(b, l4 + 8);
 */
import { foldSum, pseudoSum, sum16, type PseudoHeader } from './checksum.js';
import { fail, usable, type ChecksumStatus, type ParseResult } from './result.js';
import { dstPort, dstPortView, setDstPort, setSrcPort, srcPort, srcPortView } from './l4ports.js';

export { dstPort, dstPortView, setDstPort, setSrcPort, srcPort, srcPortView };

export const UDP_HLEN = 8;

export function length(b: Uint8Array, off: number): number {
  return (b[off + 4]! << 8) | b[off + 5]!;
}
export function checksum(b: Uint8Array, off: number): number {
  return (b[off + 6]! << 8) | b[off + 7]!;
}
export function setLength(b: Uint8Array, off: number, v: number): void {
  b[off + 4] = v >>> 8;
  b[off + 5] = v;
}
export function setChecksum(b: Uint8Array, off: number, v: number): void {
  b[off + 6] = v >>> 8;
  b[off + 7] = v;
}

// DataView flavour (`pool.view`), see ipv4.ts.
export function lengthView(v: DataView, off: number): number {
  return v.getUint16(off + 4);
}

/**
 * Computes and stores the checksum of the `len`-byte datagram at `off` given the unfolded
 * pseudo-header sum (checksum.ts `pseudoSum4At`/`pseudoSum6At`). A computed 0 is sent as 0xffff
 * (RFC 768: 0 means "no checksum").
 *
 * @example
 * udp.fillChecksum(b, l4, len, pseudoSum4At(b, ipOff, 17, len));
 */
export function fillChecksum(b: Uint8Array, off: number, len: number, pseudo: number): number {
  setChecksum(b, off, 0);
  const c = ~foldSum(sum16(b, off, len, pseudo)) & 0xffff;
  const v = c === 0 ? 0xffff : c;
  setChecksum(b, off, v);
  return v;
}

export interface UdpHeader {
  readonly kind: 'udp';
  readonly offset: number;
  readonly headerLength: 8;
  /** udp.srcport */
  readonly srcPort: number;
  /** udp.dstport */
  readonly dstPort: number;
  /** udp.length */
  readonly length: number;
  /** udp.checksum */
  readonly checksum: number;
  /** udp.checksum.status */
  readonly checksumStatus: ChecksumStatus;
  readonly payloadOffset: number;
  /** length − 8 (cut at the bytes present for a `partial` first fragment) */
  readonly payloadLength: number;
}

export interface ParseUdpOptions {
  /** Unfolded pseudo-header sum; without it the checksum is 'unverified'. */
  pseudo?: number;
  /** Fail with 'bad-checksum' instead of reporting it. */
  strict?: boolean;
  /**
   * The bytes are a first IP fragment: the length field may exceed `len` (the rest is in later
   * fragments); the payload is cut at `len` and the checksum is 'unverified'.
   */
  partial?: boolean;
}

/**
 * Parses a UDP header; `len` is the bytes the IP layer gives it (its payload). Errors: 'truncated',
 * 'bad-length' (length < 8 or > len), 'bad-checksum' (strict).
 *
 * @example
 * const u = parseUdp(b, ip.payloadOffset, ip.payloadLength, { pseudo: pseudoSum4At(b, ip.offset, 17, ip.payloadLength) });
 */
export function parseUdp(b: Uint8Array, off: number, len: number, opts?: ParseUdpOptions): ParseResult<UdpHeader> {
  len = usable(b, off, len);
  if (len < UDP_HLEN) return fail('truncated', Math.max(0, off));
  const ul = length(b, off);
  if (ul < UDP_HLEN || (ul > len && !opts?.partial)) return fail('bad-length', off + 4);
  const c = checksum(b, off);
  let status: ChecksumStatus = 'unverified';
  if (c === 0) status = 'zero';
  else if (opts?.pseudo !== undefined && ul <= len) status = foldSum(sum16(b, off, ul, opts.pseudo)) === 0xffff ? 'good' : 'bad';
  if (status === 'bad' && opts?.strict) return fail('bad-checksum', off + 6);
  return {
    ok: true,
    kind: 'udp',
    offset: off,
    headerLength: 8,
    srcPort: srcPort(b, off),
    dstPort: dstPort(b, off),
    length: ul,
    checksum: c,
    checksumStatus: status,
    payloadOffset: off + 8,
    payloadLength: Math.min(ul, len) - 8,
  };
}

export interface UdpInit {
  srcPort: number;
  dstPort: number;
  /** Copied after the header; else `payloadLength` bytes already there are covered. */
  payload?: Uint8Array;
  payloadLength?: number;
  /** Addresses for the checksum; without them the checksum is left 0 (allowed over IPv4 only). */
  pseudo?: PseudoHeader;
  /** Stored as is instead of computed. */
  checksum?: number;
  /** Length field stored as is instead of 8 + payload (the first fragment of a larger datagram). */
  length?: number;
}

/**
 * Writes a UDP header (and payload) at `off`, length and checksum computed; returns 8 + payload length.
 *
 * @example
 * buildUdp(b, 34, { srcPort: 5000, dstPort: 53, payload: q, pseudo: { v: 4, src: 0x0a000001, dst: 0x0a000002 } });
 */
export function buildUdp(b: Uint8Array, off: number, init: UdpInit): number {
  const pl = init.payload?.length ?? init.payloadLength ?? 0;
  if (init.payload) b.set(init.payload, off + 8);
  const ul = UDP_HLEN + pl;
  setSrcPort(b, off, init.srcPort);
  setDstPort(b, off, init.dstPort);
  setLength(b, off, init.length ?? ul);
  setChecksum(b, off, 0);
  if (init.checksum !== undefined) setChecksum(b, off, init.checksum);
  else if (init.pseudo) fillChecksum(b, off, ul, pseudoSum(init.pseudo, 17, ul));
  return ul;
}
