/**
 * Frame helpers of the digital twin: content hashes with the explicitly tolerated fields left
 * out, and a small allocation-free header reader used only when frames diverge.
 *
 * @example
 * const h = new FrameHasher(['ipv4-id-local'], new Set([0x0a000101]));
 * h.hash(bytes, off, len); // h.full, h.noDst
 */

/** Fields a device may legitimately set differently from the model, by name. */
export const TOLERANCES = {
  /**
   * IPv4 identification and header checksum of packets the device originates (its own
   * addresses as source): Linux draws the ID of DF-less packets from a per-destination generator
   * keyed at boot (net/ipv4/route.c ip_idents), which no model can predict.
   */
  'ipv4-id-local': true,
  /** IPv6 traffic class and flow label bytes of packets the device originates (auto flow labels hash with a boot-time key). */
  'ipv6-flowlabel-local': true,
  /** IPv4 TTL and header checksum of every frame (a device that decrements differently). */
  'ipv4-ttl': true,
} as const;
export type Tolerance = keyof typeof TOLERANCES;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * FNV-1a over a frame, skipping up to four tolerated byte ranges; computes two hashes in one
 * pass: `noDst` (every byte after the destination MAC) and `full` (noDst folded with the
 * destination MAC), so a frame that differs only by its next hop MAC is found by `noDst`.
 */
export class FrameHasher {
  full = 0;
  noDst = 0;
  private readonly skipS = new Int32Array(4);
  private readonly skipE = new Int32Array(4);
  private nskip = 0;
  private readonly idLocal: boolean;
  private readonly flowLocal: boolean;
  private readonly ttl: boolean;

  constructor(tolerate: readonly Tolerance[], private readonly local4: ReadonlySet<number>, private readonly local6: ReadonlySet<string> = new Set()) {
    this.idLocal = tolerate.includes('ipv4-id-local');
    this.flowLocal = tolerate.includes('ipv6-flowlabel-local');
    this.ttl = tolerate.includes('ipv4-ttl');
  }

  private skip(s: number, e: number): void {
    if (this.nskip < 4) { this.skipS[this.nskip] = s; this.skipE[this.nskip] = e; this.nskip++; }
  }

  hash(b: Uint8Array, off: number, len: number): void {
    this.nskip = 0;
    const end = off + len;
    let l3 = off + 14;
    let et = len >= 14 ? ((b[off + 12] as number) << 8) | (b[off + 13] as number) : 0;
    if ((et === 0x8100 || et === 0x88a8) && len >= 18) { et = ((b[off + 16] as number) << 8) | (b[off + 17] as number); l3 += 4; }
    if (et === 0x0800 && l3 + 20 <= end) {
      const src = (((b[l3 + 12] as number) << 24) | ((b[l3 + 13] as number) << 16) | ((b[l3 + 14] as number) << 8) | (b[l3 + 15] as number)) >>> 0;
      if (this.idLocal && this.local4.has(src)) { this.skip(l3 + 4, l3 + 6); this.skip(l3 + 10, l3 + 12); }
      if (this.ttl) { this.skip(l3 + 8, l3 + 9); this.skip(l3 + 10, l3 + 12); }
    } else if (et === 0x86dd && l3 + 40 <= end && this.flowLocal && this.local6.size > 0) {
      if (this.local6.has(hexOf(b, l3 + 8, 16))) this.skip(l3, l3 + 4);
    }
    let h = FNV_OFFSET;
    if (this.nskip === 0) {
      // Four bytes a step (a multiply and a shift mix per word, as murmur3's body).
      let i = off + 6;
      for (; i + 4 <= end; i += 4) {
        const w = (b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24);
        h = Math.imul(h ^ w, 0xcc9e2d51);
        h ^= h >>> 15;
      }
      for (; i < end; i++) h = Math.imul(h ^ (b[i] as number), FNV_PRIME);
    } else {
      for (let i = off + 6; i < end; i++) {
        let v = b[i] as number;
        for (let k = 0; k < this.nskip; k++) if (i >= (this.skipS[k] as number) && i < (this.skipE[k] as number)) { v = 0; break; }
        h = Math.imul(h ^ v, FNV_PRIME);
      }
    }
    h = Math.imul(h ^ len, FNV_PRIME);
    this.noDst = h >>> 0;
    for (let i = off; i < off + 6 && i < end; i++) h = Math.imul(h ^ (b[i] as number), FNV_PRIME);
    this.full = h >>> 0;
  }
}

function hexOf(b: Uint8Array, off: number, n: number): string {
  let s = '';
  for (let i = off; i < off + n; i++) s += (b[i] as number).toString(16).padStart(2, '0');
  return s;
}

/** The headers of a frame that a diagnosis talks about (parsed from a stored prefix of it). */
export interface FrameInfo {
  dstMac: string;
  srcMac: string;
  /** 4, 6, or 0 for a non-IP frame. */
  ip: 0 | 4 | 6;
  src: string;
  dst: string;
  /** IPv4 protocol / IPv6 next header. */
  proto: number;
  sport: number;
  dport: number;
  /** Length of the IP packet (header included). */
  ipLen: number;
  /** IPv4 identification, and whether the packet is a fragment (MF or offset). */
  ipId: number;
  fragment: boolean;
  /** ICMP / ICMPv6 type and code (-1 when not ICMP) and, for errors, the quoted packet. */
  icmpType: number;
  icmpCode: number;
  /** ICMP fragmentation-needed next-hop MTU / ICMPv6 packet-too-big MTU. */
  icmpMtu: number;
  quoted: { src: string; dst: string; proto: number; sport: number; dport: number; id: number } | null;
}

const mac = (b: Uint8Array, o: number): string => {
  const p: string[] = [];
  for (let i = 0; i < 6; i++) p.push(((b[o + i] ?? 0)).toString(16).padStart(2, '0'));
  return p.join(':');
};
const v4 = (b: Uint8Array, o: number): string => `${b[o] ?? 0}.${b[o + 1] ?? 0}.${b[o + 2] ?? 0}.${b[o + 3] ?? 0}`;
function v6(b: Uint8Array, o: number): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push((((b[o + i] ?? 0) << 8) | (b[o + i + 1] ?? 0)).toString(16));
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}
const u16 = (b: Uint8Array, o: number): number => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);

interface L3 { src: string; dst: string; proto: number; sport: number; dport: number; len: number; id: number; frag: boolean; l4: number }

function parseL3(b: Uint8Array, o: number, end: number, version: 4 | 6): L3 | null {
  if (version === 4) {
    if (o + 20 > end) return null;
    const hl = ((b[o] ?? 0) & 15) * 4;
    const fo = u16(b, o + 6);
    const frag = (fo & 0x3fff) !== 0;
    const l4 = o + hl;
    const ports = !frag || (fo & 0x1fff) === 0;
    const proto = b[o + 9] ?? 0;
    const hasPorts = ports && (proto === 6 || proto === 17) && l4 + 4 <= end;
    return { src: v4(b, o + 12), dst: v4(b, o + 16), proto, sport: hasPorts ? u16(b, l4) : 0, dport: hasPorts ? u16(b, l4 + 2) : 0, len: u16(b, o + 2), id: u16(b, o + 4), frag, l4 };
  }
  if (o + 40 > end) return null;
  const proto = b[o + 6] ?? 0;
  const l4 = o + 40;
  const hasPorts = (proto === 6 || proto === 17) && l4 + 4 <= end;
  return { src: v6(b, o + 8), dst: v6(b, o + 24), proto, sport: hasPorts ? u16(b, l4) : 0, dport: hasPorts ? u16(b, l4 + 2) : 0, len: 40 + u16(b, o + 4), id: 0, frag: proto === 44, l4 };
}

/**
 * Reads the headers of a frame (`len` bytes stored from `off`; `wireLen` its full length).
 * Never throws: fields it cannot read are empty.
 */
export function frameInfo(b: Uint8Array, off: number, len: number): FrameInfo {
  const end = off + len;
  const info: FrameInfo = { dstMac: mac(b, off), srcMac: mac(b, off + 6), ip: 0, src: '', dst: '', proto: -1, sport: 0, dport: 0, ipLen: 0, ipId: 0, fragment: false, icmpType: -1, icmpCode: -1, icmpMtu: 0, quoted: null };
  if (len < 14) return info;
  let l3 = off + 14;
  let et = u16(b, off + 12);
  if ((et === 0x8100 || et === 0x88a8) && len >= 18) { et = u16(b, off + 16); l3 += 4; }
  const version = et === 0x0800 ? 4 : et === 0x86dd ? 6 : 0;
  if (version === 0) return info;
  const h = parseL3(b, l3, end, version);
  if (h === null) return info;
  Object.assign(info, { ip: version, src: h.src, dst: h.dst, proto: h.proto, sport: h.sport, dport: h.dport, ipLen: h.len, ipId: h.id, fragment: h.frag });
  const icmp = (version === 4 && h.proto === 1) || (version === 6 && h.proto === 58);
  if (!icmp || h.l4 + 8 > end) return info;
  info.icmpType = b[h.l4] ?? 0;
  info.icmpCode = b[h.l4 + 1] ?? 0;
  const isError = version === 4 ? [3, 11, 12].includes(info.icmpType) : info.icmpType >= 1 && info.icmpType <= 4;
  if (!isError) return info;
  if (version === 4 && info.icmpType === 3 && info.icmpCode === 4) info.icmpMtu = u16(b, h.l4 + 6);
  if (version === 6 && info.icmpType === 2) info.icmpMtu = (u16(b, h.l4 + 4) << 16 | u16(b, h.l4 + 6)) >>> 0;
  const q = parseL3(b, h.l4 + 8, end, version);
  if (q !== null) info.quoted = { src: q.src, dst: q.dst, proto: q.proto, sport: q.sport, dport: q.dport, id: q.id };
  return info;
}

const PROTO: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };

/** "UDP 10.0.0.1:5000 → 10.0.1.1:6000", "ICMP 10.0.0.1 → 10.0.1.1", or "frames to 02:..". */
export function flowText(f: FrameInfo): string {
  if (f.ip === 0) return `non-IP frames to ${f.dstMac}`;
  const p = PROTO[f.proto] ?? `protocol ${f.proto}`;
  const ep = (a: string, port: number): string => (port > 0 ? (f.ip === 6 ? `[${a}]:${port}` : `${a}:${port}`) : a);
  return `${p} ${ep(f.src, f.sport)} → ${ep(f.dst, f.dport)}`;
}

/** Whether the ICMP error `e` quotes the packet described by `f`. */
export function quotes(e: FrameInfo, f: FrameInfo): boolean {
  const q = e.quoted;
  return q !== null && q.src === f.src && q.dst === f.dst && q.proto === f.proto && q.id === f.ipId && (q.sport === 0 || f.sport === 0 || (q.sport === f.sport && q.dport === f.dport));
}

/** What an ICMP error says about why a packet was not forwarded. */
export function icmpReason(e: FrameInfo): 'route' | 'mtu' | 'filter' | 'other' {
  if (e.ip === 4 && e.icmpType === 3) {
    if (e.icmpCode === 4) return 'mtu';
    if (e.icmpCode === 9 || e.icmpCode === 10 || e.icmpCode === 13) return 'filter';
    if (e.icmpCode === 0 || e.icmpCode === 1 || e.icmpCode === 6 || e.icmpCode === 7) return 'route';
  }
  if (e.ip === 6 && e.icmpType === 2) return 'mtu';
  if (e.ip === 6 && e.icmpType === 1) {
    if (e.icmpCode === 1 || e.icmpCode === 5 || e.icmpCode === 6) return 'filter';
    if (e.icmpCode === 0 || e.icmpCode === 3) return 'route';
  }
  return 'other';
}

/** Hex of a frame (for divergence samples). */
export function frameHex(b: Uint8Array, off: number, len: number): string {
  return hexOf(b, off, len);
}
