/**
 * TCP (RFC 9293): header, flags, options (MSS, window scale RFC 7323, SACK-permitted and SACK
 * RFC 2018, timestamps RFC 7323) and the checksum over the IPv4/IPv6 pseudo-header.
 *
 * @example
 * if ((tcp.flags(b, l4) & TCP_FLAG.SYN) !== 0) clampMss(b, l4);
 */
import { checksumUpdate16, foldSum, pseudoSum, storeChecksum, sum16, type PseudoHeader } from './checksum.js';
import { fail, usable, type ChecksumStatus, type ParseResult } from './result.js';
import { dstPort, dstPortView, setDstPort, setSrcPort, srcPort, srcPortView } from './l4ports.js';

export { dstPort, dstPortView, setDstPort, setSrcPort, srcPort, srcPortView };

export const TCP_MIN_HLEN = 20;
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80, AE: 0x100 } as const;
export const TCP_OPT = { EOL: 0, NOP: 1, MSS: 2, WSCALE: 3, SACK_PERM: 4, SACK: 5, TIMESTAMP: 8 } as const;

export function seq(b: Uint8Array, off: number): number {
  return ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
}
export function ack(b: Uint8Array, off: number): number {
  return ((b[off + 8]! << 24) | (b[off + 9]! << 16) | (b[off + 10]! << 8) | b[off + 11]!) >>> 0;
}
/** Data offset × 4: header length in bytes. */
export function headerLength(b: Uint8Array, off: number): number {
  return (b[off + 12]! >>> 4) << 2;
}
/** The 12 flag bits as Wireshark's tcp.flags: reserved(3) AE CWR ECE URG ACK PSH RST SYN FIN. */
export function flags(b: Uint8Array, off: number): number {
  return ((b[off + 12]! & 0x0f) << 8) | b[off + 13]!;
}
export function window(b: Uint8Array, off: number): number {
  return (b[off + 14]! << 8) | b[off + 15]!;
}
export function checksum(b: Uint8Array, off: number): number {
  return (b[off + 16]! << 8) | b[off + 17]!;
}
export function urgentPointer(b: Uint8Array, off: number): number {
  return (b[off + 18]! << 8) | b[off + 19]!;
}
export function setChecksum(b: Uint8Array, off: number, v: number): void {
  b[off + 16] = v >>> 8;
  b[off + 17] = v;
}
export function setWindow(b: Uint8Array, off: number, v: number): void {
  b[off + 14] = v >>> 8;
  b[off + 15] = v;
}
export function setFlags(b: Uint8Array, off: number, f: number): void {
  b[off + 12] = (b[off + 12]! & 0xf0) | ((f >>> 8) & 0x0f);
  b[off + 13] = f;
}

// DataView flavour (`pool.view`), see ipv4.ts.
export function flagsView(v: DataView, off: number): number {
  return v.getUint16(off + 12) & 0x0fff;
}

/**
 * Computes and stores the checksum of the `len`-byte segment at `off` given the unfolded pseudo-header sum.
 *
 * @example
 * tcp.fillChecksum(b, l4, len, pseudoSum4At(b, ipOff, 6, len));
 */
export function fillChecksum(b: Uint8Array, off: number, len: number, pseudo: number): number {
  return storeChecksum(b, off, len, pseudo, off + 16);
}

/**
 * MSS clamping (what a router or tunnel endpoint does to SYNs, RFC 4459 §3.2): lowers the MSS
 * option of the segment at `off` to `mss` if it is larger, updating the checksum by RFC 1624.
 * Walks the options within the header; returns the MSS now in the segment, or -1 when it has none
 * (or the options are malformed: nothing is written then).
 *
 * @example
 * if (tcp.flags(b, l4) & TCP_FLAG.SYN) tcp.clampMss(b, l4, 1400);
 */
export function clampMss(b: Uint8Array, off: number, mss: number): number {
  const end = off + ((b[off + 12]! >>> 4) << 2);
  for (let o = off + 20; o < end; ) {
    const k = b[o]!;
    if (k === TCP_OPT.EOL) return -1;
    if (k === TCP_OPT.NOP) {
      o++;
      continue;
    }
    if (o + 1 >= end) return -1;
    const ol = b[o + 1]!;
    if (ol < 2 || o + ol > end) return -1;
    if (k === TCP_OPT.MSS && ol === 4) {
      const cur = (b[o + 2]! << 8) | b[o + 3]!;
      if (cur <= mss) return cur;
      b[o + 2] = mss >>> 8;
      b[o + 3] = mss;
      // The option sits at an even or odd distance from the header start; the checksum covers
      // 16-bit words from `off`, so update the word(s) holding the two MSS bytes.
      if (((o + 2 - off) & 1) === 0) setChecksum(b, off, checksumUpdate16(checksum(b, off), cur, mss & 0xffff));
      else {
        let c = checksumUpdate16(checksum(b, off), (b[o + 1]! << 8) | (cur >>> 8), (b[o + 1]! << 8) | (mss >>> 8));
        c = checksumUpdate16(c, ((cur & 0xff) << 8) | b[o + 4]!, ((mss & 0xff) << 8) | b[o + 4]!);
        setChecksum(b, off, c);
      }
      return mss;
    }
    o += ol;
  }
  return -1;
}

export interface TcpOption {
  /** tcp.option_kind */
  readonly kind: number;
  /** tcp.option_len (1 for EOL/NOP) */
  readonly length: number;
  readonly offset: number;
}

export interface TcpHeader {
  readonly kind: 'tcp';
  readonly offset: number;
  /** tcp.hdr_len */
  readonly headerLength: number;
  /** tcp.srcport */
  readonly srcPort: number;
  /** tcp.dstport */
  readonly dstPort: number;
  /** tcp.seq_raw */
  readonly seq: number;
  /** tcp.ack_raw */
  readonly ack: number;
  /** tcp.flags (12 bits) */
  readonly flags: number;
  /** tcp.window_size_value */
  readonly window: number;
  /** tcp.checksum */
  readonly checksum: number;
  /** tcp.checksum.status */
  readonly checksumStatus: ChecksumStatus;
  /** tcp.urgent_pointer */
  readonly urgentPointer: number;
  readonly options: readonly TcpOption[];
  /** tcp.options.mss_val, or -1. */
  readonly mss: number;
  /** tcp.options.wscale.shift, or -1. */
  readonly windowScale: number;
  /** tcp.options.sack_perm present */
  readonly sackPermitted: boolean;
  /** SACK blocks as [left, right) pairs flattened: [l0, r0, l1, r1, ...] (tcp.options.sack_le / sack_re). */
  readonly sack: readonly number[];
  /** tcp.options.timestamp.tsval, or -1. */
  readonly tsVal: number;
  /** tcp.options.timestamp.tsecr, or -1. */
  readonly tsEcr: number;
  readonly payloadOffset: number;
  /** tcp.len */
  readonly payloadLength: number;
}

export interface ParseTcpOptions {
  /** Unfolded pseudo-header sum (over `len` bytes); without it the checksum is 'unverified'. */
  pseudo?: number;
  strict?: boolean;
}

/**
 * Parses a TCP header; `len` is the segment length (the IP payload). Errors: 'truncated',
 * 'data-offset-too-small', 'bad-length' (header longer than the segment), 'bad-option'
 * (an option running past the header, or a known option with the wrong length), 'bad-checksum' (strict).
 *
 * @example
 * const t = parseTcp(b, ip.payloadOffset, ip.payloadLength);
 * if (t.ok && t.flags & TCP_FLAG.SYN) mss = t.mss;
 */
export function parseTcp(b: Uint8Array, off: number, len: number, opts?: ParseTcpOptions): ParseResult<TcpHeader> {
  len = usable(b, off, len);
  if (len < TCP_MIN_HLEN) return fail('truncated', Math.max(0, off));
  const doff = b[off + 12]! >>> 4;
  if (doff < 5) return fail('data-offset-too-small', off + 12);
  const hl = doff << 2;
  if (hl > len) return fail('bad-length', off + 12);
  const options: TcpOption[] = [];
  let mss = -1;
  let ws = -1;
  let sackPermitted = false;
  const sack: number[] = [];
  let tsVal = -1;
  let tsEcr = -1;
  const end = off + hl;
  for (let o = off + 20; o < end; ) {
    const k = b[o]!;
    if (k === TCP_OPT.EOL) {
      options.push({ kind: 0, length: 1, offset: o });
      break;
    }
    if (k === TCP_OPT.NOP) {
      options.push({ kind: 1, length: 1, offset: o });
      o++;
      continue;
    }
    if (o + 1 >= end) return fail('bad-option', o);
    const ol = b[o + 1]!;
    if (ol < 2 || o + ol > end) return fail('bad-option', o + 1);
    if (k === TCP_OPT.MSS) {
      if (ol !== 4) return fail('bad-option', o + 1);
      mss = (b[o + 2]! << 8) | b[o + 3]!;
    } else if (k === TCP_OPT.WSCALE) {
      if (ol !== 3) return fail('bad-option', o + 1);
      ws = b[o + 2]!;
    } else if (k === TCP_OPT.SACK_PERM) {
      if (ol !== 2) return fail('bad-option', o + 1);
      sackPermitted = true;
    } else if (k === TCP_OPT.SACK) {
      if ((ol - 2) % 8 !== 0) return fail('bad-option', o + 1);
      for (let s = o + 2; s < o + ol; s += 4) sack.push(((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0);
    } else if (k === TCP_OPT.TIMESTAMP) {
      if (ol !== 10) return fail('bad-option', o + 1);
      tsVal = ((b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!) >>> 0;
      tsEcr = ((b[o + 6]! << 24) | (b[o + 7]! << 16) | (b[o + 8]! << 8) | b[o + 9]!) >>> 0;
    }
    options.push({ kind: k, length: ol, offset: o });
    o += ol;
  }
  let status: ChecksumStatus = 'unverified';
  if (opts?.pseudo !== undefined) status = foldSum(sum16(b, off, len, opts.pseudo)) === 0xffff ? 'good' : 'bad';
  if (status === 'bad' && opts?.strict) return fail('bad-checksum', off + 16);
  return {
    ok: true,
    kind: 'tcp',
    offset: off,
    headerLength: hl,
    srcPort: srcPort(b, off),
    dstPort: dstPort(b, off),
    seq: seq(b, off),
    ack: ack(b, off),
    flags: flags(b, off),
    window: window(b, off),
    checksum: checksum(b, off),
    checksumStatus: status,
    urgentPointer: urgentPointer(b, off),
    options,
    mss,
    windowScale: ws,
    sackPermitted,
    sack,
    tsVal,
    tsEcr,
    payloadOffset: end,
    payloadLength: len - hl,
  };
}

export interface TcpOptionsInit {
  mss?: number;
  sackPermitted?: boolean;
  /** [tsVal, tsEcr] */
  timestamp?: readonly [number, number];
  windowScale?: number;
  /** Flattened [left, right] pairs. */
  sack?: readonly number[];
}

/**
 * Encodes options in the order Linux puts them on a SYN: MSS, SACK-permitted + timestamps,
 * NOP + window scale (then NOP NOP + SACK blocks), zero-padded to a multiple of 4.
 *
 * @example
 * encodeTcpOptions({ mss: 1460, sackPermitted: true, timestamp: [1, 0], windowScale: 7 }); // 20 bytes
 */
export function encodeTcpOptions(o: TcpOptionsInit): Uint8Array {
  const out: number[] = [];
  const u32 = (v: number): void => void out.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  if (o.mss !== undefined) out.push(2, 4, o.mss >>> 8, o.mss & 255);
  if (o.sackPermitted && o.timestamp) {
    out.push(4, 2, 8, 10);
    u32(o.timestamp[0]);
    u32(o.timestamp[1]);
  } else {
    if (o.sackPermitted) out.push(1, 1, 4, 2);
    if (o.timestamp) {
      out.push(1, 1, 8, 10);
      u32(o.timestamp[0]);
      u32(o.timestamp[1]);
    }
  }
  if (o.windowScale !== undefined) out.push(1, 3, 3, o.windowScale);
  if (o.sack && o.sack.length) {
    out.push(1, 1, 5, 2 + 4 * o.sack.length);
    for (const v of o.sack) u32(v);
  }
  while (out.length % 4) out.push(0);
  return Uint8Array.from(out);
}

export interface TcpInit {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  /** TCP_FLAG bits (12 bits). */
  flags: number;
  /** Default 65535. */
  window?: number;
  urgentPointer?: number;
  /** Encoded options (see {@link encodeTcpOptions}); raw bytes, padded with zeros to 4. */
  options?: Uint8Array | TcpOptionsInit;
  payload?: Uint8Array;
  /** Bytes already after the header, when no `payload` is given. */
  payloadLength?: number;
  /** Addresses for the checksum; without them the checksum is left 0. */
  pseudo?: PseudoHeader;
  checksum?: number;
}

export class TcpBuildError extends Error {
  override readonly name = 'TcpBuildError';
}

/**
 * Writes a TCP header (and payload) at `off`, checksum computed when `pseudo` is given; returns the segment length.
 *
 * @example
 * buildTcp(b, 34, { srcPort: 40000, dstPort: 80, seq: 1, flags: TCP_FLAG.SYN, options: { mss: 1460, windowScale: 7 }, pseudo });
 */
export function buildTcp(b: Uint8Array, off: number, init: TcpInit): number {
  const ob = init.options instanceof Uint8Array ? init.options : init.options ? encodeTcpOptions(init.options) : new Uint8Array(0);
  const hl = 20 + ((ob.length + 3) & ~3);
  if (hl > 60) throw new TcpBuildError(`TCP options too long: ${ob.length} bytes (max 40)`);
  const pl = init.payload?.length ?? init.payloadLength ?? 0;
  if (init.payload) b.set(init.payload, off + hl);
  setSrcPort(b, off, init.srcPort);
  setDstPort(b, off, init.dstPort);
  const s = init.seq ?? 0;
  const a = init.ack ?? 0;
  b[off + 4] = s >>> 24;
  b[off + 5] = s >>> 16;
  b[off + 6] = s >>> 8;
  b[off + 7] = s;
  b[off + 8] = a >>> 24;
  b[off + 9] = a >>> 16;
  b[off + 10] = a >>> 8;
  b[off + 11] = a;
  b[off + 12] = (hl >>> 2) << 4;
  setFlags(b, off, init.flags);
  setWindow(b, off, init.window ?? 65535);
  setChecksum(b, off, 0);
  b[off + 18] = (init.urgentPointer ?? 0) >>> 8;
  b[off + 19] = init.urgentPointer ?? 0;
  b.set(ob, off + 20);
  b.fill(0, off + 20 + ob.length, off + hl);
  const total = hl + pl;
  if (init.checksum !== undefined) setChecksum(b, off, init.checksum);
  else if (init.pseudo) fillChecksum(b, off, total, pseudoSum(init.pseudo, 6, total));
  return total;
}
