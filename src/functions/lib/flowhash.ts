/**
 * Fast flow hashes for ECMP and load balancing. The mixing is MurmurHash3's 32-bit finaliser
 * (fmix32) applied to a running combination of the tuple words: every input bit affects every
 * output bit, so that a modulo over a few next hops or a Maglev table stays balanced even when
 * addresses differ only in their low bits. Pure integer code (Math.imul), no allocation.
 */

/** MurmurHash3 fmix32: full avalanche of a 32-bit word. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// One MurmurHash3 body round: mixes word k into state h.
function round(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * Hash of an IPv4 5-tuple (addresses as unsigned 32-bit numbers, ports 0..65535, protocol 0..255).
 *
 * @example
 * const h = flowHash4(0x0a000001, 0x0a000002, 1234, 80, 6, 0);
 * const nextHop = h % 4;
 */
export function flowHash4(src: number, dst: number, sport: number, dport: number, proto: number, seed = 0): number {
  let h = seed | 0;
  h = round(h, src);
  h = round(h, dst);
  h = round(h, ((sport & 0xffff) << 16) | (dport & 0xffff));
  h = round(h, proto & 0xff);
  return fmix32(h ^ 13);
}

/**
 * Hash of a 5-tuple read straight from frame bytes: `srcOff`/`dstOff` point at the source and
 * destination addresses (4 bytes for IPv4, 16 for IPv6, `alen`), `l4Off` at the transport header
 * (ports are read only for TCP, UDP and SCTP, i.e. protocols 6, 17 and 132, when `l4Len` ≥ 4).
 *
 * @example
 * // IPv4 frame: addresses at 14+12 and 14+16, ports after a 20-byte header
 * const h = flowHashBytes(bytes, off + 26, off + 30, 4, 6, off + 34, 20);
 */
export function flowHashBytes(
  b: Uint8Array,
  srcOff: number,
  dstOff: number,
  alen: number,
  proto: number,
  l4Off: number,
  l4Len: number,
  seed = 0,
): number {
  let h = seed | 0;
  for (let i = 0; i < alen; i += 4) {
    const o = srcOff + i;
    h = round(h, ((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number));
  }
  for (let i = 0; i < alen; i += 4) {
    const o = dstOff + i;
    h = round(h, ((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number));
  }
  let ports = 0;
  if ((proto === 6 || proto === 17 || proto === 132) && l4Len >= 4) {
    ports = ((b[l4Off] as number) << 24) | ((b[l4Off + 1] as number) << 16) | ((b[l4Off + 2] as number) << 8) | (b[l4Off + 3] as number);
  }
  h = round(h, ports);
  h = round(h, proto & 0xff);
  return fmix32(h ^ (alen === 4 ? 13 : 37));
}

/**
 * Hash of a byte string (e.g. a backend name), FNV-1a followed by fmix32; `seed` gives
 * independent hash functions (Maglev needs two).
 *
 * @example
 * const offset = hashString('backend-1', 1) % 65537;
 */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h ^ seed);
}
