/**
 * VXLAN (RFC 7348): an 8-byte header after UDP (destination port 4789) carrying the VNI (24
 * bits) and then a whole inner Ethernet frame.
 *
 * @example
 * const vni = vxlan.vni(b, udpOff + 8);
 */
import { fail, usable, type ParseResult } from './result.js';

export const VXLAN_HLEN = 8;
export const VXLAN_PORT = 4789;
/** The I flag: the VNI is valid (RFC 7348 §5: must be set). */
export const VXLAN_FLAG_I = 0x08;

export function flags(b: Uint8Array, off: number): number {
  return b[off]!;
}
export function vni(b: Uint8Array, off: number): number {
  return (b[off + 4]! << 16) | (b[off + 5]! << 8) | b[off + 6]!;
}
export function setVni(b: Uint8Array, off: number, v: number): void {
  b[off + 4] = v >>> 16;
  b[off + 5] = v >>> 8;
  b[off + 6] = v;
}

export interface VxlanHeader {
  readonly kind: 'vxlan';
  readonly offset: number;
  readonly headerLength: 8;
  /** vxlan.flags (the first byte) */
  readonly flags: number;
  /** I flag set (vxlan.flags & 0x08): the VNI is meaningful. */
  readonly vniValid: boolean;
  /** vxlan.vni */
  readonly vni: number;
  /** The 24 reserved bits after the flags and the 8 after the VNI, raw (0 on a conforming sender). */
  readonly reserved1: number;
  readonly reserved2: number;
}

/**
 * Parses a VXLAN header. Reserved bits and a clear I flag are reported, not errors (RFC 7348 §5:
 * receivers ignore reserved bits).
 *
 * @example
 * const v = parseVxlan(b, u.payloadOffset, u.payloadLength); // v.ok && v.vni
 */
export function parseVxlan(b: Uint8Array, off: number, len: number): ParseResult<VxlanHeader> {
  len = usable(b, off, len);
  if (len < VXLAN_HLEN) return fail('truncated', Math.max(0, off));
  return {
    ok: true,
    kind: 'vxlan',
    offset: off,
    headerLength: 8,
    flags: b[off]!,
    vniValid: (b[off]! & VXLAN_FLAG_I) !== 0,
    vni: vni(b, off),
    reserved1: (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!,
    reserved2: b[off + 7]!,
  };
}

/**
 * Writes a VXLAN header (I flag set, reserved bits zero) at `off`; returns 8.
 *
 * @example
 * buildVxlan(b, 42, 5001);
 */
export function buildVxlan(b: Uint8Array, off: number, vniValue: number, flagsValue = VXLAN_FLAG_I): number {
  b[off] = flagsValue;
  b[off + 1] = 0;
  b[off + 2] = 0;
  b[off + 3] = 0;
  setVni(b, off, vniValue);
  b[off + 7] = 0;
  return VXLAN_HLEN;
}
