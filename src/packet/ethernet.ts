/**
 * Ethernet II (IEEE 802.3 framing with a type field) and 802.1Q / 802.1ad (QinQ) tags.
 *
 * A VLAN tag is modelled as Wireshark does: the TPID (0x8100, 0x88a8, 0x9100) is the type field of
 * the layer before, and the tag "layer" starts at the TCI (2 bytes) followed by the next type (2
 * bytes). So `vlan.vid(b, 14)` reads the outer VID of a tagged frame.
 *
 * MAC addresses on hot paths are 48-bit integers (exact in a JS number): `src48(b, off)`.
 *
 * @example
 * if (etherType(b, off) === ETHERTYPE.VLAN) { const vid = vlanVid(b, off + 14); }
 * setSrc48(b, off, 0x020000000001);
 */
import { fail, usable, type ParseResult } from './result.js';

export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;
/** Tags followed before giving up with 'too-many-headers'. */
export const MAX_VLAN_TAGS = 8;

export const ETHERTYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPV6: 0x86dd,
  QINQ: 0x88a8,
  QINQ_OLD: 0x9100,
  MPLS: 0x8847,
  MPLS_MC: 0x8848,
} as const;

/** True for the TPIDs that introduce a VLAN tag. */
export function isVlanTpid(t: number): boolean {
  return t === 0x8100 || t === 0x88a8 || t === 0x9100;
}

// --- hot-path accessors over the Ethernet header at `off` ---------------------------------------

function read48(b: Uint8Array, o: number): number {
  return (b[o]! * 0x10000 + ((b[o + 1]! << 8) | b[o + 2]!)) * 0x1000000 + ((b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!);
}
function write48(b: Uint8Array, o: number, v: number): void {
  const hi = Math.floor(v / 0x1000000);
  const lo = v - hi * 0x1000000;
  b[o] = hi >>> 16;
  b[o + 1] = hi >>> 8;
  b[o + 2] = hi;
  b[o + 3] = lo >>> 16;
  b[o + 4] = lo >>> 8;
  b[o + 5] = lo;
}

/** Destination MAC as a 48-bit integer. */
export function dst48(b: Uint8Array, off: number): number {
  return read48(b, off);
}
/** Source MAC as a 48-bit integer. */
export function src48(b: Uint8Array, off: number): number {
  return read48(b, off + 6);
}
export function setDst48(b: Uint8Array, off: number, mac: number): void {
  write48(b, off, mac);
}
export function setSrc48(b: Uint8Array, off: number, mac: number): void {
  write48(b, off + 6, mac);
}
/** The type field right after the MACs (a TPID when the frame is tagged). */
export function etherType(b: Uint8Array, off: number): number {
  return (b[off + 12]! << 8) | b[off + 13]!;
}
export function setEtherType(b: Uint8Array, off: number, t: number): void {
  b[off + 12] = t >>> 8;
  b[off + 13] = t;
}
/** {@link etherType} through a DataView (`pool.view`); see ipv4.ts "DataView flavour". */
export function etherTypeView(v: DataView, off: number): number {
  return v.getUint16(off + 12);
}
/** {@link vlanVid} through a DataView; `off` is the TCI offset. */
export function vlanVidView(v: DataView, off: number): number {
  return v.getUint16(off) & 0x0fff;
}
/** Group bit (I/G) of the destination: multicast or broadcast. */
export function isMulticastDst(b: Uint8Array, off: number): boolean {
  return (b[off]! & 1) === 1;
}

// --- VLAN tag accessors; `off` is the TCI offset (the byte after the TPID) -----------------------

export function vlanTci(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}
export function vlanVid(b: Uint8Array, off: number): number {
  return ((b[off]! & 0x0f) << 8) | b[off + 1]!;
}
export function vlanPcp(b: Uint8Array, off: number): number {
  return b[off]! >>> 5;
}
export function vlanDei(b: Uint8Array, off: number): number {
  return (b[off]! >>> 4) & 1;
}
/** Type field following the tag (another TPID for QinQ). */
export function vlanEtherType(b: Uint8Array, off: number): number {
  return (b[off + 2]! << 8) | b[off + 3]!;
}
export function setVlanVid(b: Uint8Array, off: number, vid: number): void {
  b[off] = (b[off]! & 0xf0) | ((vid >>> 8) & 0x0f);
  b[off + 1] = vid;
}
export function setVlanPcp(b: Uint8Array, off: number, pcp: number): void {
  b[off] = (b[off]! & 0x1f) | ((pcp & 7) << 5);
}

// --- MAC text forms ----------------------------------------------------------------------------

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `aa:bb:cc:dd:ee:ff` of the 6 bytes at `off`. */
export function macToString(b: Uint8Array, off: number): string {
  return `${HEX[b[off]!]}:${HEX[b[off + 1]!]}:${HEX[b[off + 2]!]}:${HEX[b[off + 3]!]}:${HEX[b[off + 4]!]}:${HEX[b[off + 5]!]}`;
}
/** `aa:bb:cc:dd:ee:ff` of a 48-bit integer. */
export function mac48ToString(mac: number): string {
  const t = new Uint8Array(6);
  write48(t, 0, mac);
  return macToString(t, 0);
}

export class MacAddressError extends Error {
  override readonly name = 'MacAddressError';
}

/** Parses `aa:bb:cc:dd:ee:ff` (or `-` separated) into a 48-bit integer; throws MacAddressError (config input, not wire bytes). */
export function parseMac(text: string): number {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) throw new MacAddressError(`not a MAC address: '${text}'`);
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

/** A MAC given as text, a 48-bit integer or 6 bytes. */
export type Mac = string | number | Uint8Array;

/** Writes a {@link Mac} at `o`. */
export function writeMac(b: Uint8Array, o: number, mac: Mac): void {
  if (typeof mac === 'number') write48(b, o, mac);
  else if (typeof mac === 'string') write48(b, o, parseMac(mac));
  else b.set(mac.subarray(0, 6), o);
}

export const BROADCAST_MAC = 0xffffffffffff;

// --- safe parsing ------------------------------------------------------------------------------

export interface EthernetHeader {
  readonly kind: 'eth';
  readonly offset: number;
  readonly headerLength: 14;
  /** eth.dst */
  readonly dst: string;
  /** eth.src */
  readonly src: string;
  readonly dst48: number;
  readonly src48: number;
  /** eth.type: the type field after the MACs (a TPID when tagged). */
  readonly etherType: number;
}

/**
 * Parses the 14-byte Ethernet II header. A type field under 0x0600 is an 802.3 length (LLC
 * frame): reported as `etherType` like any other value; decodeFrame stops there.
 *
 * @example
 * const e = parseEthernet(frame, 0, frame.length);
 * if (e.ok) console.log(e.src, e.etherType.toString(16));
 */
export function parseEthernet(b: Uint8Array, off: number, len: number): ParseResult<EthernetHeader> {
  len = usable(b, off, len);
  if (len < ETH_HLEN) return fail('truncated', Math.max(0, off));
  return {
    ok: true,
    kind: 'eth',
    offset: off,
    headerLength: 14,
    dst: macToString(b, off),
    src: macToString(b, off + 6),
    dst48: read48(b, off),
    src48: read48(b, off + 6),
    etherType: etherType(b, off),
  };
}

export interface VlanTag {
  readonly kind: 'vlan';
  /** Offset of the TCI (the TPID is the previous layer's type field). */
  readonly offset: number;
  readonly headerLength: 4;
  /** The TPID that introduced this tag (0x8100, 0x88a8, 0x9100). */
  readonly tpid: number;
  /** vlan.priority */
  readonly pcp: number;
  /** vlan.dei */
  readonly dei: number;
  /** vlan.id */
  readonly vid: number;
  /** vlan.etype: the type after the tag. */
  readonly etherType: number;
}

/**
 * Parses a VLAN tag whose TCI is at `off`.
 *
 * @example
 * const t = parseVlan(b, 14, b.length - 14, 0x8100); // t.ok && t.vid
 */
export function parseVlan(b: Uint8Array, off: number, len: number, tpid = ETHERTYPE.VLAN as number): ParseResult<VlanTag> {
  len = usable(b, off, len);
  if (len < VLAN_HLEN) return fail('truncated', Math.max(0, off));
  return {
    ok: true,
    kind: 'vlan',
    offset: off,
    headerLength: 4,
    tpid,
    pcp: vlanPcp(b, off),
    dei: vlanDei(b, off),
    vid: vlanVid(b, off),
    etherType: vlanEtherType(b, off),
  };
}

// --- builders ----------------------------------------------------------------------------------

export interface VlanInit {
  /** Default 0x8100; use 0x88a8 for the outer (service) tag of QinQ. */
  tpid?: number;
  pcp?: number;
  dei?: number;
  vid: number;
}

export interface EthernetInit {
  dst: Mac;
  src: Mac;
  /** Type of the payload (after the last tag). */
  etherType: number;
  /** Tags, outermost first. */
  vlans?: readonly VlanInit[];
}

/** Bytes {@link buildEthernet} writes for `init`. */
export function ethernetLength(init: EthernetInit): number {
  return ETH_HLEN + VLAN_HLEN * (init.vlans?.length ?? 0);
}

/**
 * Writes an Ethernet header (and its VLAN tags, outermost first) at `off`; returns the bytes written.
 *
 * @example
 * const n = buildEthernet(buf, 0, { dst: 'ff:ff:ff:ff:ff:ff', src: 0x020000000001, etherType: ETHERTYPE.ARP });
 */
export function buildEthernet(b: Uint8Array, off: number, init: EthernetInit): number {
  writeMac(b, off, init.dst);
  writeMac(b, off + 6, init.src);
  let o = off + 12;
  for (const v of init.vlans ?? []) {
    const tpid = v.tpid ?? ETHERTYPE.VLAN;
    b[o] = tpid >>> 8;
    b[o + 1] = tpid;
    const tci = ((v.pcp ?? 0) << 13) | ((v.dei ?? 0) << 12) | (v.vid & 0x0fff);
    b[o + 2] = tci >>> 8;
    b[o + 3] = tci;
    o += 4;
  }
  b[o] = init.etherType >>> 8;
  b[o + 1] = init.etherType;
  return o + 2 - off;
}
