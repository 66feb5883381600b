/**
 * The flow key of horizontal partitioning (src/host/partition.ts): a hash of a frame's 5-tuple
 * that is SYMMETRIC — both directions of a flow give the same key, because the two endpoints
 * (address, port) are put in a canonical order before hashing — so that a flow and its replies
 * land on one instance of a partitioned function and its conntrack entry, NAT binding or DPI
 * stream lives in one place. A function computes the same key from its own flow table (a
 * conntrack tuple) with `flowKeyOfTuple`, which is how `exportFlows(owns)` (contract.ts) knows
 * which flows move when buckets change owner.
 *
 * Key rules (frame and tuple agree on each): TCP, UDP, SCTP: addresses and ports; ICMP/ICMPv6
 * echo: addresses and the identifier (request and reply carry the same); ICMP errors: the key of
 * the quoted packet (the error follows the flow it is about); IP fragments and other protocols:
 * addresses and protocol only (a fragmented flow's fragments and unfragmented packets may then
 * land on different instances: there is no reassembly in front of the spreader); non-IP frames:
 * key 0. IPv6 addresses are folded to 32 bits; hop-by-hop, routing and destination options
 * headers are skipped.
 *
 * @example
 * const k = flowKeyOfFrame(pool.bytes, off, len);
 * const bucket = flowBucket(k); // 0 … FLOW_BUCKETS − 1
 */
import { flowHash4, fmix32 } from './flowhash.js';

/**
 * Buckets of a partition: a flow's bucket is its key mod FLOW_BUCKETS. Prime, so that it is a
 * valid Maglev table size (functions/lib/maglev.ts) and the buckets → instances table is one.
 */
export const FLOW_BUCKETS = 257;

/** The bucket of a flow key. */
export function flowBucket(key: number): number {
  return (key >>> 0) % FLOW_BUCKETS;
}

/**
 * Symmetric key of two endpoints (32-bit addresses, IPv6 folded by `fold6`) and a protocol.
 *
 * @example
 * symmetricKey(0x0a000001, 1234, 0x08080808, 53, 17) === symmetricKey(0x08080808, 53, 0x0a000001, 1234, 17); // true
 */
export function symmetricKey(a: number, pa: number, b: number, pb: number, proto: number): number {
  a >>>= 0;
  b >>>= 0;
  if (a > b || (a === b && pa > pb)) return flowHash4(b, a, pb, pa, proto, 0x5f17);
  return flowHash4(a, b, pa, pb, proto, 0x5f17);
}

/** An IPv6 address (4 big-endian words) folded to 32 bits. */
export function fold6(w0: number, w1: number, w2: number, w3: number): number {
  return fmix32(w0 ^ fmix32(w1 ^ fmix32(w2 ^ fmix32(w3 ^ 0x36))));
}

const u32 = (b: Uint8Array, o: number): number => (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0;
const u16 = (b: Uint8Array, o: number): number => ((b[o] as number) << 8) | (b[o + 1] as number);

/**
 * The flow key of an IP packet at `l3` (IPv4 or IPv6 header) ending at `end`; `depth` > 0 inside
 * an ICMP error (its quote is not followed further). Truncated headers give key 0.
 */
function keyOfIp(b: Uint8Array, l3: number, end: number, depth: number): number {
  if (l3 + 1 > end) return 0;
  const ver = (b[l3] as number) >>> 4;
  let proto: number;
  let l4: number;
  let src: number;
  let dst: number;
  let frag = false;
  if (ver === 4) {
    if (l3 + 20 > end) return 0;
    proto = b[l3 + 9] as number;
    l4 = l3 + ((b[l3] as number) & 15) * 4;
    src = u32(b, l3 + 12);
    dst = u32(b, l3 + 16);
    frag = (u16(b, l3 + 6) & 0x3fff) !== 0;
  } else if (ver === 6) {
    if (l3 + 40 > end) return 0;
    proto = b[l3 + 6] as number;
    l4 = l3 + 40;
    src = fold6(u32(b, l3 + 8), u32(b, l3 + 12), u32(b, l3 + 16), u32(b, l3 + 20));
    dst = fold6(u32(b, l3 + 24), u32(b, l3 + 28), u32(b, l3 + 32), u32(b, l3 + 36));
    // Hop-by-hop (0), routing (43), destination options (60): skipped; fragment (44): addresses only.
    for (let n = 0; n < 8 && (proto === 0 || proto === 43 || proto === 60 || proto === 44); n++) {
      if (l4 + 8 > end) return symmetricKey(src, 0, dst, 0, proto);
      if (proto === 44) {
        frag = true;
        proto = b[l4] as number;
        l4 += 8;
        break;
      }
      proto = b[l4] as number;
      l4 += ((b[l4 + 1] as number) + 1) * 8;
    }
  } else return 0;
  if (frag) return symmetricKey(src, 0, dst, 0, proto);
  if (proto === 6 || proto === 17 || proto === 132) {
    if (l4 + 4 > end) return symmetricKey(src, 0, dst, 0, proto);
    return symmetricKey(src, u16(b, l4), dst, u16(b, l4 + 2), proto);
  }
  const icmp = ver === 4 ? proto === 1 : proto === 58;
  if (icmp && l4 + 8 <= end) {
    const t = b[l4] as number;
    const echo = ver === 4 ? t === 8 || t === 0 : t === 128 || t === 129;
    if (echo) {
      const id = u16(b, l4 + 4);
      return symmetricKey(src, id, dst, id, proto);
    }
    const error = ver === 4 ? t === 3 || t === 4 || t === 5 || t === 11 || t === 12 : t >= 1 && t <= 4;
    if (error && depth === 0) return keyOfIp(b, l4 + 8, end, 1);
  }
  return symmetricKey(src, 0, dst, 0, proto);
}

/**
 * The flow key of an Ethernet frame (up to two VLAN tags) at `off`, `len` bytes.
 *
 * @example
 * flowKeyOfFrame(bytes, batch.offs[k], batch.lens[k]);
 */
export function flowKeyOfFrame(b: Uint8Array, off: number, len: number): number {
  const end = off + len;
  let p = off + 12;
  if (p + 2 > end) return 0;
  let et = u16(b, p);
  for (let t = 0; t < 2 && (et === 0x8100 || et === 0x88a8); t++) {
    p += 4;
    if (p + 2 > end) return 0;
    et = u16(b, p);
  }
  if (et !== 0x0800 && et !== 0x86dd) return 0;
  return keyOfIp(b, p + 2, end, 0);
}

/**
 * The flow key of a conntrack tuple (lib/conntrack.ts layout: 4 words source, 4 destination,
 * sport << 16 | dport — ICMP echo: id << 16 | type —, family << 8 | protocol) at `o`: equal to
 * `flowKeyOfFrame` of any packet of that connection, in either direction.
 *
 * @example
 * const moving = ct.connections().filter((c) => owns(flowKeyOfTuple(ct.tuples, c * CONN_WORDS)));
 */
export function flowKeyOfTuple(t: Uint32Array, o: number): number {
  const fp = t[o + 9] as number;
  const family = fp >>> 8;
  const proto = fp & 0xff;
  const src = family === 4 ? (t[o + 3] as number) : fold6(t[o] as number, t[o + 1] as number, t[o + 2] as number, t[o + 3] as number);
  const dst = family === 4 ? (t[o + 7] as number) : fold6(t[o + 4] as number, t[o + 5] as number, t[o + 6] as number, t[o + 7] as number);
  const p = t[o + 8] as number;
  if (proto === 6 || proto === 17 || proto === 132) return symmetricKey(src, p >>> 16, dst, p & 0xffff, proto);
  if (proto === (family === 4 ? 1 : 58)) return symmetricKey(src, p >>> 16, dst, p >>> 16, proto);
  return symmetricKey(src, 0, dst, 0, proto);
}

/**
 * The flow key of a flow-table key (lib/flowtable.ts layout: 4 words source, 4 destination —
 * IPv4 as ::ffff:a.b.c.d —, sport << 16 | dport, protocol) at `o`, as the DPI and the load
 * balancer keep their streams and connections.
 *
 * @example
 * const moving = owns(flowKeyOfFlowTableKey(table.keys, i * FLOW_KEY_WORDS));
 */
export function flowKeyOfFlowTableKey(k: Uint32Array, o: number): number {
  const v4 = k[o] === 0 && k[o + 1] === 0 && k[o + 2] === 0xffff && k[o + 4] === 0 && k[o + 5] === 0 && k[o + 6] === 0xffff;
  const proto = (k[o + 9] as number) & 0xff;
  const src = v4 ? (k[o + 3] as number) : fold6(k[o] as number, k[o + 1] as number, k[o + 2] as number, k[o + 3] as number);
  const dst = v4 ? (k[o + 7] as number) : fold6(k[o + 4] as number, k[o + 5] as number, k[o + 6] as number, k[o + 7] as number);
  const p = k[o + 8] as number;
  if (proto === 6 || proto === 17 || proto === 132) return symmetricKey(src, p >>> 16, dst, p & 0xffff, proto);
  return symmetricKey(src, 0, dst, 0, proto);
}
