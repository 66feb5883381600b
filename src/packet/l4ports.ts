/**
 * Port accessors shared by TCP and UDP: both headers open with a 16-bit source and a 16-bit
 * destination port (RFC 9293 §3.1, RFC 768). tcp.ts and udp.ts re-export these.
 *
 * @example
 * if (dstPort(b, l4) === 53) setDstPort(b, l4, 5353);
 */

export function srcPort(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}
export function dstPort(b: Uint8Array, off: number): number {
  return (b[off + 2]! << 8) | b[off + 3]!;
}
export function setSrcPort(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}
export function setDstPort(b: Uint8Array, off: number, v: number): void {
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

// DataView flavour (`pool.view`), see ipv4.ts.
export function srcPortView(v: DataView, off: number): number {
  return v.getUint16(off);
}
export function dstPortView(v: DataView, off: number): number {
  return v.getUint16(off + 2);
}
