/**
 * MPLS label stack entries (RFC 3032): label (20 bits), traffic class (3, RFC 5462), bottom of
 * stack S (1), TTL (8); 4 bytes each, outermost first.
 *
 * @example
 * const e = mpls.entry(b, off);              // the raw 32-bit entry
 * mpls.setLabel(b, off, 100); mpls.setTtl(b, off, mpls.ttl(b, off) - 1); // swap
 */
import { fail, usable, type ParseResult } from './result.js';

export const MPLS_HLEN = 4;
/** Labels followed before 'too-many-headers'. */
export const MAX_MPLS_LABELS = 16;
/** Reserved labels (RFC 3032 §2.1, RFC 7274). */
export const MPLS_LABEL = { IPV4_EXPLICIT_NULL: 0, ROUTER_ALERT: 1, IPV6_EXPLICIT_NULL: 2, IMPLICIT_NULL: 3, ENTROPY_INDICATOR: 7, GAL: 13, OAM_ALERT: 14 } as const;

export function entry(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}
export function label(b: Uint8Array, off: number): number {
  return (b[off]! << 12) | (b[off + 1]! << 4) | (b[off + 2]! >>> 4);
}
export function tc(b: Uint8Array, off: number): number {
  return (b[off + 2]! >>> 1) & 7;
}
export function bottom(b: Uint8Array, off: number): boolean {
  return (b[off + 2]! & 1) === 1;
}
export function ttl(b: Uint8Array, off: number): number {
  return b[off + 3]!;
}
export function setLabel(b: Uint8Array, off: number, l: number): void {
  b[off] = l >>> 12;
  b[off + 1] = l >>> 4;
  b[off + 2] = ((l & 0x0f) << 4) | (b[off + 2]! & 0x0f);
}
export function setTc(b: Uint8Array, off: number, v: number): void {
  b[off + 2] = (b[off + 2]! & 0xf1) | ((v & 7) << 1);
}
export function setBottom(b: Uint8Array, off: number, s: boolean): void {
  b[off + 2] = (b[off + 2]! & 0xfe) | (s ? 1 : 0);
}
export function setTtl(b: Uint8Array, off: number, v: number): void {
  b[off + 3] = v;
}

export interface MplsEntry {
  readonly kind: 'mpls';
  readonly offset: number;
  readonly headerLength: 4;
  /** mpls.label */
  readonly label: number;
  /** mpls.exp (traffic class) */
  readonly tc: number;
  /** mpls.bottom */
  readonly bottom: boolean;
  /** mpls.ttl */
  readonly ttl: number;
}

/**
 * Parses one label stack entry (decodeFrame walks the stack until S = 1).
 *
 * @example
 * const e = parseMpls(b, 14, b.length - 14); // e.ok && e.label
 */
export function parseMpls(b: Uint8Array, off: number, len: number): ParseResult<MplsEntry> {
  len = usable(b, off, len);
  if (len < MPLS_HLEN) return fail('truncated', Math.max(0, off));
  return { ok: true, kind: 'mpls', offset: off, headerLength: 4, label: label(b, off), tc: tc(b, off), bottom: bottom(b, off), ttl: ttl(b, off) };
}

export interface MplsInit {
  label: number;
  tc?: number;
  /** Default 64. */
  ttl?: number;
}

/**
 * Writes a label stack (outermost first; S set on the last) at `off`; returns 4 × labels.
 *
 * @example
 * buildMplsStack(b, 14, [{ label: 100 }, { label: 200, ttl: 255 }]);
 */
export function buildMplsStack(b: Uint8Array, off: number, stack: readonly MplsInit[]): number {
  stack.forEach((e, i) => {
    const o = off + 4 * i;
    const s = i === stack.length - 1 ? 1 : 0;
    b[o] = e.label >>> 12;
    b[o + 1] = e.label >>> 4;
    b[o + 2] = ((e.label & 0x0f) << 4) | (((e.tc ?? 0) & 7) << 1) | s;
    b[o + 3] = e.ttl ?? 64;
  });
  return 4 * stack.length;
}
