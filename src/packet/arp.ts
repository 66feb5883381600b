/**
 * ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses: the 28-byte form.
 *
 * @example
 * if (arpOp(b, off) === ARP_OP.REQUEST && arpTpa(b, off) === myIp) reply();
 */
import { fail, usable, type ParseResult } from './result.js';
import { macToString, writeMac, type Mac } from './ethernet.js';
import { ipv4Addr, type Ipv4Addr } from './ipv4.js';

export const ARP_LEN = 28;
export const ARP_OP = { REQUEST: 1, REPLY: 2 } as const;

export function arpOp(b: Uint8Array, off: number): number {
  return (b[off + 6]! << 8) | b[off + 7]!;
}
export function setArpOp(b: Uint8Array, off: number, op: number): void {
  b[off + 6] = op >>> 8;
  b[off + 7] = op;
}
/** Sender protocol (IPv4) address as uint32. */
export function arpSpa(b: Uint8Array, off: number): number {
  return ((b[off + 14]! << 24) | (b[off + 15]! << 16) | (b[off + 16]! << 8) | b[off + 17]!) >>> 0;
}
/** Target protocol (IPv4) address as uint32. */
export function arpTpa(b: Uint8Array, off: number): number {
  return ((b[off + 24]! << 24) | (b[off + 25]! << 16) | (b[off + 26]! << 8) | b[off + 27]!) >>> 0;
}
/** Offset of the sender hardware address (6 bytes). */
export function arpShaOffset(off: number): number {
  return off + 8;
}
/** Offset of the target hardware address (6 bytes). */
export function arpThaOffset(off: number): number {
  return off + 18;
}

export interface ArpPacket {
  readonly kind: 'arp';
  readonly offset: number;
  readonly headerLength: 28;
  /** arp.hw.type */
  readonly htype: number;
  /** arp.proto.type */
  readonly ptype: number;
  /** arp.hw.size */
  readonly hlen: number;
  /** arp.proto.size */
  readonly plen: number;
  /** arp.opcode */
  readonly op: number;
  /** arp.src.hw_mac */
  readonly sha: string;
  /** arp.src.proto_ipv4 (uint32) */
  readonly spa: number;
  /** arp.dst.hw_mac */
  readonly tha: string;
  /** arp.dst.proto_ipv4 (uint32) */
  readonly tpa: number;
}

/**
 * Parses an Ethernet/IPv4 ARP packet; other hardware or protocol types are 'unsupported'.
 *
 * @example
 * const a = parseArp(frame, 14, frame.length - 14); // a.ok && a.tpa === myIp
 */
export function parseArp(b: Uint8Array, off: number, len: number): ParseResult<ArpPacket> {
  len = usable(b, off, len);
  if (len < 8) return fail('truncated', Math.max(0, off));
  const htype = (b[off]! << 8) | b[off + 1]!;
  const ptype = (b[off + 2]! << 8) | b[off + 3]!;
  const hlen = b[off + 4]!;
  const plen = b[off + 5]!;
  if (htype !== 1 || ptype !== 0x0800 || hlen !== 6 || plen !== 4) return fail('unsupported', off);
  if (len < ARP_LEN) return fail('truncated', off + len);
  return {
    ok: true,
    kind: 'arp',
    offset: off,
    headerLength: 28,
    htype,
    ptype,
    hlen,
    plen,
    op: arpOp(b, off),
    sha: macToString(b, off + 8),
    spa: arpSpa(b, off),
    tha: macToString(b, off + 18),
    tpa: arpTpa(b, off),
  };
}

export interface ArpInit {
  op: number;
  sha: Mac;
  spa: Ipv4Addr;
  /** Default 00:00:00:00:00:00 (unknown, as in a request). */
  tha?: Mac;
  tpa: Ipv4Addr;
}

/**
 * Writes a 28-byte Ethernet/IPv4 ARP packet at `off`; returns 28.
 *
 * @example
 * buildArp(b, 14, { op: ARP_OP.REQUEST, sha: myMac, spa: '10.0.0.1', tpa: '10.0.0.2' });
 */
export function buildArp(b: Uint8Array, off: number, init: ArpInit): number {
  b[off] = 0;
  b[off + 1] = 1;
  b[off + 2] = 0x08;
  b[off + 3] = 0;
  b[off + 4] = 6;
  b[off + 5] = 4;
  setArpOp(b, off, init.op);
  writeMac(b, off + 8, init.sha);
  writeU32(b, off + 14, ipv4Addr(init.spa));
  writeMac(b, off + 18, init.tha ?? 0);
  writeU32(b, off + 24, ipv4Addr(init.tpa));
  return ARP_LEN;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
