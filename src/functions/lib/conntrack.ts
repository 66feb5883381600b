/**
 * Connection tracking shared by the firewall and the NAT, after Linux nf_conntrack: a connection
 * has two tuples, ORIGINAL (as the first packet was seen) and REPLY (what the answer will look
 * like — after NAT, the translated addresses), both indexed in one hash table, so a packet finds
 * its connection and its direction with one lookup. TCP follows nf_conntrack_proto_tcp.c's state
 * table (without sequence-window tracking); UDP and other protocols are "unreplied" until a
 * reply is seen; ICMP echo is tracked by identifier, and ICMP errors are RELATED to the flow whose
 * header they quote.
 *
 * Storage is typed arrays only (tuples, states, expiry times, an open-addressing table with
 * linear probing and backward-shift deletion), so a lookup or an update allocates nothing and
 * the table holds 100,000+ flows. Expired entries are removed lazily at lookup and by an
 * incremental sweep from `sweep()`.
 *
 * A tuple is KW = 10 uint32 words: source address (4 words; IPv4 as ::ffff:a.b.c.d), destination
 * address (4), ports (sport << 16 | dport; ICMP echo: id << 16 | type), family << 8 | protocol.
 *
 * @example
 * const ct = new Conntrack({ maxFlows: 100_000 });
 * const v = new PacketView();
 * if (parsePacket(bytes, off, len, v) === PARSE.OK) {
 *   const r = ct.classify(v, now);            // CT.NEW / ESTABLISHED / RELATED / INVALID / UNTRACKED
 *   if (r === CT.NEW) ct.create(v.key, null, v, now);
 * }
 */
import { ConfigError, type Plain } from '../contract.js';
import { formatIpv6, int, parseIpv4, parseIpv6, strictObject } from '../config.js';
import { fmix32 } from './flowhash.js';
import { flowKeyOfTuple } from './flowkey.js';
import { headerChecksumOk } from '../../packet/ipv4.js';

/** Words per tuple. */
export const KW = 10;

/** Conntrack state of a packet (nftables `ct state`), as bits so that rules can match a set. */
export const CT = { NEW: 1, ESTABLISHED: 2, RELATED: 4, INVALID: 8, UNTRACKED: 16 } as const;
export const CT_NAMES: Readonly<Record<string, number>> = { new: 1, established: 2, related: 4, invalid: 8, untracked: 16 };

/** TCP states of nf_conntrack (SYN_SENT2: simultaneous open). */
export const TCP_STATE = { NONE: 0, SYN_SENT: 1, SYN_RECV: 2, ESTABLISHED: 3, FIN_WAIT: 4, CLOSE_WAIT: 5, LAST_ACK: 6, TIME_WAIT: 7, CLOSE: 8, SYN_SENT2: 9 } as const;
export const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'] as const;

/** Timeouts in milliseconds; defaults are Linux's nf_conntrack sysctls. */
export interface ConntrackTimeouts {
  readonly tcpSynSent: number;
  readonly tcpSynRecv: number;
  readonly tcpEstablished: number;
  readonly tcpFinWait: number;
  readonly tcpCloseWait: number;
  readonly tcpLastAck: number;
  readonly tcpTimeWait: number;
  readonly tcpClose: number;
  readonly udpUnreplied: number;
  readonly udpReplied: number;
  readonly icmp: number;
  readonly generic: number;
}

const S = 1000;
export const DEFAULT_TIMEOUTS: ConntrackTimeouts = {
  tcpSynSent: 120 * S,
  tcpSynRecv: 60 * S,
  tcpEstablished: 432_000 * S,
  tcpFinWait: 120 * S,
  tcpCloseWait: 60 * S,
  tcpLastAck: 30 * S,
  tcpTimeWait: 120 * S,
  tcpClose: 10 * S,
  udpUnreplied: 30 * S,
  udpReplied: 120 * S,
  icmp: 30 * S,
  generic: 600 * S,
};

/**
 * Parses a `timeouts` configuration object (milliseconds, any subset of the keys).
 *
 * @example
 * parseTimeouts({ udpUnreplied: 5000 }, 'timeouts').udpUnreplied; // 5000
 */
export function parseTimeouts(v: unknown, path: string): ConntrackTimeouts {
  const keys = Object.keys(DEFAULT_TIMEOUTS) as (keyof ConntrackTimeouts)[];
  const o = strictObject(v, path, keys);
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = o.opt(k, int(1, 2 ** 40), DEFAULT_TIMEOUTS[k]);
  return out as unknown as ConntrackTimeouts;
}

// --- nf_conntrack_proto_tcp.c state table ---------------------------------------------------------
// Index by [dir][flagIndex][state]; IV = invalid (packet invalid, state kept), IG = ignore (valid, kept).
const IV = 10;
const IG = 11;
const [sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
// Flag index: 0 SYN, 1 SYN+ACK, 2 FIN, 3 ACK, 4 RST, 5 none.
const TCP_TABLE: readonly (readonly (readonly number[])[])[] = [
  [
    /* ORIGINAL  sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
    /* syn    */ [sSS, sSS, IG, IG, IG, IG, IG, sSS, sSS, sS2],
    /* synack */ [IV, IV, sSR, IV, IV, IV, IV, IV, IV, sSR],
    /* fin    */ [IV, IV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, IV],
    /* ack    */ [sES, IV, sES, sES, sCW, sCW, sTW, sTW, sCL, IV],
    /* rst    */ [IV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
  ],
  [
    /* REPLY     sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
    /* syn    */ [IV, sS2, IV, IV, IV, IV, IV, sSS, IV, sS2],
    /* synack */ [IV, sSR, IG, IG, IG, IG, IG, IG, IG, sSR],
    /* fin    */ [IV, IV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, IV],
    /* ack    */ [IV, IG, sSR, sES, sCW, sCW, sTW, sTW, sCL, IG],
    /* rst    */ [IV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL],
    /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
  ],
];
// Flattened: TCP_NEXT[dir * 60 + flagIndex * 10 + state].
const TCP_NEXT = Uint8Array.from(TCP_TABLE.flat(2));

/** nf_conntrack's get_conntrack_index(): the row of the state table for TCP flags. */
export function tcpFlagIndex(flags: number): number {
  if (flags & 0x04) return 4;
  if (flags & 0x02) return flags & 0x10 ? 1 : 0;
  if (flags & 0x01) return 2;
  if (flags & 0x10) return 3;
  return 5;
}

// --- packet parsing ----------------------------------------------------------------------------------

export const PARSE = { OK: 0, NOT_IP: 1, MALFORMED: 2 } as const;

/** How the L4 part of a packet was understood. */
export const L4 = { PORTS: 0, ICMP_ECHO: 1, ICMP_ERROR: 2, ICMP_OTHER: 3, OTHER: 4, FRAGMENT: 5 } as const;

/**
 * The parse of one frame, reused for every packet (no allocation per packet). Offsets are
 * absolute in the pool's byte array.
 */
export class PacketView {
  /** This packet's tuple. */
  readonly key = new Uint32Array(KW);
  /** For an ICMP error: the inverse of the quoted packet's tuple (= the tuple of the flow in the error's direction). */
  readonly inner = new Uint32Array(KW);
  family = 0;
  l3 = 0;
  /** IP header length (IPv4 IHL × 4, IPv6 40 + extension headers). */
  l3len = 0;
  /** Bytes of the IP datagram from l3 (total length, clamped to the frame). */
  ipLen = 0;
  l4 = 0;
  proto = 0;
  kind = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  icmpType = -1;
  icmpCode = -1;
  /** ICMP error: offset of the quoted IP header, its header length, its L4 offset and bytes quoted from it. */
  innerL3 = 0;
  innerHl = 0;
  innerL4 = 0;
  innerProto = 0;
  innerEnd = 0;
}

function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** True for ICMPv4/ICMPv6 error types (they quote the invoking packet). */
function icmpIsError(family: number, t: number): boolean {
  return family === 4 ? t === 3 || t === 4 || t === 5 || t === 11 || t === 12 : t < 128;
}
/** Echo request type → reply type, or -1. */
export function echoReplyType(family: number, t: number): number {
  if (family === 4) return t === 8 ? 0 : t === 13 ? 14 : -1;
  return t === 128 ? 129 : -1;
}
function isEchoType(family: number, t: number): boolean {
  return family === 4 ? t === 8 || t === 0 || t === 13 || t === 14 : t === 128 || t === 129;
}

// Writes the addresses of the IPv4/IPv6 header at `l3` into `k` (possibly swapped).
function putAddrs4(k: Uint32Array, o: number, src: number, dst: number): void {
  k[o] = 0;
  k[o + 1] = 0;
  k[o + 2] = 0xffff;
  k[o + 3] = src;
  k[o + 4] = 0;
  k[o + 5] = 0;
  k[o + 6] = 0xffff;
  k[o + 7] = dst;
}
function putAddrs6(k: Uint32Array, o: number, b: Uint8Array, so: number, dO: number): void {
  k[o] = rd32(b, so);
  k[o + 1] = rd32(b, so + 4);
  k[o + 2] = rd32(b, so + 8);
  k[o + 3] = rd32(b, so + 12);
  k[o + 4] = rd32(b, dO);
  k[o + 5] = rd32(b, dO + 4);
  k[o + 6] = rd32(b, dO + 8);
  k[o + 7] = rd32(b, dO + 12);
}

// Walks IPv6 extension headers from the fixed header at `l3`; returns the upper-layer offset and
// sets v.proto, or -1 when malformed; -2 for a non-first fragment.
function ipv6Upper(b: Uint8Array, l3: number, end: number, v: PacketView): number {
  let nh = b[l3 + 6]!;
  let o = l3 + 40;
  for (let n = 0; n < 8; n++) {
    if (nh === 0 || nh === 43 || nh === 60) {
      if (o + 8 > end) return -1;
      const next = b[o]!;
      o += (b[o + 1]! + 1) << 3;
      nh = next;
    } else if (nh === 44) {
      if (o + 8 > end) return -1;
      const next = b[o]!;
      const fo = rd16(b, o + 2) & 0xfff8;
      o += 8;
      nh = next;
      if (fo !== 0) {
        v.proto = nh;
        return -2;
      }
    } else if (nh === 51) {
      if (o + 8 > end) return -1;
      const next = b[o]!;
      o += (b[o + 1]! + 2) << 2;
      nh = next;
    } else break;
  }
  if (o > end) return -1;
  v.proto = nh;
  return o;
}

// Fills v.inner from the packet quoted by an ICMP error at `q` (up to `end`): the quoted packet's
// tuple, inverted. Returns false when the quote is too short or not understood.
function parseQuoted(b: Uint8Array, q: number, end: number, family: number, v: PacketView): boolean {
  const k = v.inner;
  let ql4: number;
  let proto: number;
  if (family === 4) {
    if (q + 20 > end || b[q]! >>> 4 !== 4) return false;
    const hl = (b[q]! & 15) << 2;
    if (hl < 20 || q + hl > end) return false;
    proto = b[q + 9]!;
    ql4 = q + hl;
    putAddrs4(k, 0, rd32(b, q + 16), rd32(b, q + 12));
    v.innerHl = hl;
  } else {
    if (q + 40 > end || b[q]! >>> 4 !== 6) return false;
    const save = v.proto;
    const up = ipv6Upper(b, q, end, v);
    proto = v.proto;
    v.proto = save;
    if (up < 0) return false;
    ql4 = up;
    putAddrs6(k, 0, b, q + 24, q + 8);
    v.innerHl = up - q;
  }
  v.innerL3 = q;
  v.innerL4 = ql4;
  v.innerProto = proto;
  v.innerEnd = end;
  if (proto === 6 || proto === 17 || proto === 132) {
    if (ql4 + 4 > end) return false;
    k[8] = ((rd16(b, ql4 + 2) << 16) | rd16(b, ql4)) >>> 0;
  } else if (proto === (family === 4 ? 1 : 58)) {
    if (ql4 + 8 > end) return false;
    const rt = echoReplyType(family, b[ql4]!);
    if (rt < 0) return false; // only requests are quoted by errors about tracked echo flows
    k[8] = ((rd16(b, ql4 + 4) << 16) | rt) >>> 0;
  } else k[8] = 0;
  k[9] = (family << 8) | proto;
  return true;
}

/**
 * Parses an Ethernet frame (up to two VLAN tags) carrying IPv4 or IPv6 into `v`; returns a
 * PARSE code. Checks the IPv4 header checksum and every length; never throws.
 *
 * @example
 * if (parsePacket(pool.bytes, off, len, v) === PARSE.OK && v.kind === L4.PORTS) use(v.sport, v.dport);
 */
export function parsePacket(b: Uint8Array, off: number, len: number, v: PacketView): number {
  return parsePacketInto(b, off, len, v, v.key, 0);
}

/**
 * parsePacket() writing the packet's tuple into `k` at `ko` instead of `v.key` (which it leaves
 * alone): a batch parses straight into its array of tuples.
 *
 * @example
 * parsePacketInto(pool.bytes, off, len, v, batchKeys, i * KW);
 */
export function parsePacketInto(b: Uint8Array, off: number, len: number, v: PacketView, k: Uint32Array, ko: number): number {
  if (len < 14) return PARSE.MALFORMED;
  let et = rd16(b, off + 12);
  let l3 = off + 14;
  const end0 = off + len;
  for (let t = 0; t < 2 && (et === 0x8100 || et === 0x88a8); t++) {
    if (l3 + 4 > end0) return PARSE.MALFORMED;
    et = rd16(b, l3 + 2);
    l3 += 4;
  }
  let end: number;
  let l4: number;
  let family: number;
  let fragment = false;
  // A first fragment carries the transport header but not the whole datagram its lengths describe.
  let firstFragment = false;
  if (et === 0x0800) {
    family = 4;
    const avail = end0 - l3;
    if (avail < 20) return PARSE.MALFORMED;
    const vh = b[l3]!;
    const hl = (vh & 15) << 2;
    if (vh >>> 4 !== 4 || hl < 20 || hl > avail) return PARSE.MALFORMED;
    const tl = rd16(b, l3 + 2);
    if (tl < hl || tl > avail) return PARSE.MALFORMED;
    if (!headerChecksumOk(b, l3)) return PARSE.MALFORMED;
    end = l3 + tl;
    l4 = l3 + hl;
    v.proto = b[l3 + 9]!;
    v.l3len = hl;
    putAddrs4(k, ko, rd32(b, l3 + 12), rd32(b, l3 + 16));
    const fw = rd16(b, l3 + 6);
    fragment = (fw & 0x1fff) !== 0;
    firstFragment = (fw & 0x2000) !== 0 && !fragment;
  } else if (et === 0x86dd) {
    family = 6;
    if (end0 - l3 < 40 || b[l3]! >>> 4 !== 6) return PARSE.MALFORMED;
    const pl = rd16(b, l3 + 4);
    if (l3 + 40 + pl > end0) return PARSE.MALFORMED;
    end = l3 + 40 + pl;
    const up = ipv6Upper(b, l3, end, v);
    if (up === -1) return PARSE.MALFORMED;
    fragment = up === -2;
    l4 = fragment ? end : up;
    v.l3len = l4 - l3;
    putAddrs6(k, ko, b, l3 + 8, l3 + 24);
  } else return PARSE.NOT_IP;
  v.family = family;
  v.l3 = l3;
  v.ipLen = end - l3;
  v.l4 = l4;
  v.sport = 0;
  v.dport = 0;
  v.tcpFlags = 0;
  v.icmpType = -1;
  v.icmpCode = -1;
  const proto = v.proto;
  k[ko + 9] = (family << 8) | proto;
  if (fragment) {
    v.kind = L4.FRAGMENT;
    k[ko + 8] = 0;
    return PARSE.OK;
  }
  const l4len = end - l4;
  if (proto === 6) {
    if (l4len < 20) return PARSE.MALFORMED;
    const doff = (b[l4 + 12]! >>> 4) << 2;
    if (doff < 20 || doff > l4len) return PARSE.MALFORMED;
    v.kind = L4.PORTS;
    v.sport = rd16(b, l4);
    v.dport = rd16(b, l4 + 2);
    v.tcpFlags = ((b[l4 + 12]! & 1) << 8) | b[l4 + 13]!;
  } else if (proto === 17) {
    if (l4len < 8) return PARSE.MALFORMED;
    const ul = rd16(b, l4 + 4);
    if (ul < 8 || (ul > l4len && !firstFragment)) return PARSE.MALFORMED;
    v.kind = L4.PORTS;
    v.sport = rd16(b, l4);
    v.dport = rd16(b, l4 + 2);
  } else if (proto === 132) {
    if (l4len < 12) return PARSE.MALFORMED;
    v.kind = L4.PORTS;
    v.sport = rd16(b, l4);
    v.dport = rd16(b, l4 + 2);
  } else if (proto === (family === 4 ? 1 : 58)) {
    if (l4len < 8) return PARSE.MALFORMED;
    const t = b[l4]!;
    v.icmpType = t;
    v.icmpCode = b[l4 + 1]!;
    if (isEchoType(family, t)) {
      v.kind = L4.ICMP_ECHO;
      v.sport = rd16(b, l4 + 4);
      v.dport = t;
    } else if (icmpIsError(family, t)) {
      v.kind = parseQuoted(b, l4 + 8, end, family, v) ? L4.ICMP_ERROR : L4.ICMP_OTHER;
    } else v.kind = L4.ICMP_OTHER;
  } else v.kind = L4.OTHER;
  k[ko + 8] = ((v.sport << 16) | v.dport) >>> 0;
  return PARSE.OK;
}

/** Writes the inverse of tuple `k` (at `ko`) into `out` (at `oo`): addresses and ports swapped, echo type → reply type. */
export function invertTuple(k: Uint32Array, ko: number, out: Uint32Array, oo: number): void {
  for (let i = 0; i < 4; i++) {
    const s = k[ko + i]!;
    out[oo + i] = k[ko + 4 + i]!;
    out[oo + 4 + i] = s;
  }
  const fp = k[ko + 9]!;
  const family = fp >>> 8;
  const proto = fp & 0xff;
  const p = k[ko + 8]!;
  if (proto === (family === 4 ? 1 : 58)) out[oo + 8] = ((p & 0xffff0000) | (echoReplyType(family, p & 0xffff) & 0xffff)) >>> 0;
  else out[oo + 8] = ((p << 16) | (p >>> 16)) >>> 0;
  out[oo + 9] = fp;
}

// --- the table ---------------------------------------------------------------------------------------

export interface ConntrackInit {
  /** Connections held at most. */
  maxFlows: number;
  timeouts?: ConntrackTimeouts;
  /** Accept a TCP connection first seen mid-stream (an ACK), like nf_conntrack_tcp_loose=1. */
  tcpLoose?: boolean;
  /** Called when a connection is removed (expiry, flush, import) — e.g. to free a NAT port. */
  onRemove?: (conn: number) => void;
  /** Hash seed (random by default, so that remote peers cannot aim for collisions). */
  seed?: number;
}

// The global of every JS engine we run on (not in this project's TypeScript libs).
declare const WebAssembly: { Memory: new (d: { initial: number }) => { readonly buffer: ArrayBuffer } };

/** Words per connection block (see Conntrack.tuples); the REPLY tuple's offset in it; float64s per block. */
export const CONN_WORDS = 24;
export const REPLY_AT = 14;
const CONN_F64 = CONN_WORDS / 2;
const CONN_BYTES = CONN_WORDS * 4;
// Expiry (float64 index in a block) and state byte (byte offset; the status byte follows).
const EXP_AT = 5;
const STATE_AT = 48;

/** Why `create` failed. */
export const CREATE_FULL = -1;
export const CREATE_CLASH = -2;

/** UDP/ICMP/generic state values (TCP uses TCP_STATE). */
const ST_UNREPLIED = 0;
const ST_REPLIED = 1;
const STATUS_SEEN_REPLY = 1;
const STATUS_ASSURED = 2;

/**
 * The connection table.
 *
 * @example
 * const ct = new Conntrack({ maxFlows: 1000, timeouts: { ...DEFAULT_TIMEOUTS, udpUnreplied: 5000 } });
 */
export class Conntrack {
  readonly maxFlows: number;
  readonly timeouts: ConntrackTimeouts;
  readonly tcpLoose: boolean;
  /**
   * Connection blocks of CONN_WORDS words: ORIGINAL tuple (words 0-9), expiry time (float64 at
   * words 10-11), state and status (bytes 0 and 1 of word 12; 13 spare), REPLY tuple (14-23). A
   * packet's tuple and the hot fields share one or two cache lines. Tuple of ref (conn·2 + dir):
   * `at(ref)`.
   */
  readonly tuples: Uint32Array;
  // Float64 view of the connection blocks (expiry), byte view (state, status).
  private readonly meta: Float64Array;
  private readonly bytes: Uint8Array;
  /** A value the owner keeps per connection (the firewall's admitting rule; the NAT's port). */
  readonly mark: Int32Array;
  private readonly live: Uint8Array;
  private readonly freeList: Int32Array;
  private freeTop: number;
  private readonly cap: number;
  private readonly mask: number;
  // Open addressing: [i·2] tuple ref (-1 empty), [i·2+1] its hash (int32), in one cache line.
  private readonly slots: Int32Array;
  private readonly seed: number;
  private readonly onRemove: ((conn: number) => void) | undefined;
  private sweepAt = 0;
  private lastSweep = 0;
  /** Connections in use. */
  count = 0;
  /** The latest clock seen (for export). */
  now = 0;
  // Set by import: expires[] holds remaining times until the next setNow().
  private rebase = false;
  readonly stats = { created: 0, removed: 0, expired: 0, full: 0, clash: 0 };

  constructor(init: ConntrackInit) {
    const n = init.maxFlows;
    this.maxFlows = n;
    this.timeouts = init.timeouts ?? DEFAULT_TIMEOUTS;
    this.tcpLoose = init.tcpLoose ?? false;
    this.onRemove = init.onRemove;
    this.seed = (init.seed ?? Math.floor(Math.random() * 2 ** 32)) | 0;
    // WebAssembly memory is page-aligned, whereas a large ArrayBuffer typically starts 16 bytes
    // into a page: aligned, half of the lookups find their 56-byte span in a single cache line.
    const block = new WebAssembly.Memory({ initial: Math.ceil((n * CONN_BYTES) / 65536) }).buffer;
    this.tuples = new Uint32Array(block);
    this.meta = new Float64Array(block);
    this.bytes = new Uint8Array(block);
    this.mark = new Int32Array(n);
    this.live = new Uint8Array(n);
    this.freeList = new Int32Array(n);
    for (let i = 0; i < n; i++) this.freeList[i] = n - 1 - i;
    this.freeTop = n;
    let cap = 16;
    while (cap < n * 4) cap *= 2; // two tuples per flow, load ≤ 0.5
    this.cap = cap;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * 2);
    for (let i = 0; i < cap; i++) this.slots[i * 2] = -1;
  }

  /** Offset in `tuples` of the tuple of ref (conn·2 + direction). */
  at(ref: number): number {
    return (ref >>> 1) * CONN_WORDS + (ref & 1) * REPLY_AT;
  }

  /** Raw state value of connection `c` (TCP_STATE, or 0 unreplied / 1 replied). */
  stateOf(c: number): number {
    return this.bytes[c * CONN_BYTES + STATE_AT]!;
  }
  private statusOf(c: number): number {
    return this.bytes[c * CONN_BYTES + STATE_AT + 1]!;
  }
  private setExpiry(c: number, t: number): void {
    this.meta[c * CONN_F64 + EXP_AT] = t;
  }
  private setState(c: number, v: number): void {
    this.bytes[c * CONN_BYTES + STATE_AT] = v;
  }
  private setStatus(c: number, v: number): void {
    this.bytes[c * CONN_BYTES + STATE_AT + 1] = v;
  }

  /** Sets the clock for the next operations (once per batch); applies a pending import rebase. */
  setNow(now: number): void {
    this.now = now;
    if (this.rebase) {
      for (let c = 0; c < this.maxFlows; c++) if (this.live[c]) this.setExpiry(c, now + this.meta[c * CONN_F64 + EXP_AT]!);
      this.rebase = false;
    }
  }

  private hash(k: Uint32Array, o: number): number {
    let h = this.seed;
    // MurmurHash3-style rounds, unrolled over the 10 words.
    h = Math.imul(h ^ k[o]!, 0xcc9e2d51);
    h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ k[o + 1]!;
    h = Math.imul((h << 13) | (h >>> 19), 5) ^ k[o + 2]!;
    h = Math.imul((h << 15) | (h >>> 17), 0xcc9e2d51) ^ k[o + 3]!;
    h = Math.imul((h << 13) | (h >>> 19), 0x1b873593) ^ k[o + 4]!;
    h = Math.imul((h << 15) | (h >>> 17), 5) ^ k[o + 5]!;
    h = Math.imul((h << 13) | (h >>> 19), 0xcc9e2d51) ^ k[o + 6]!;
    h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ k[o + 7]!;
    h = Math.imul((h << 13) | (h >>> 19), 5) ^ k[o + 8]!;
    h = Math.imul((h << 15) | (h >>> 17), 0xcc9e2d51) ^ k[o + 9]!;
    return fmix32(h) | 0; // int32, as stored in `slots`
  }

  private eq(ref: number, k: Uint32Array, ko: number): boolean {
    const t = this.tuples;
    const o = this.at(ref);
    return t[o + 3] === k[ko + 3] && t[o + 7] === k[ko + 7] && t[o + 8] === k[ko + 8] && t[o + 9] === k[ko + 9] && t[o] === k[ko] && t[o + 1] === k[ko + 1] && t[o + 2] === k[ko + 2] && t[o + 4] === k[ko + 4] && t[o + 5] === k[ko + 5] && t[o + 6] === k[ko + 6];
  }

  /**
   * Hashes the `n` tuples of `keys` (tuple i at i·KW, those with `use[i]` set) into `hashes`, then
   * touches the memory their lookups will read — slot, candidate tuple, its hot fields — one
   * stage at a time over the whole batch, so that the cache misses of a batch overlap instead of
   * following one another (the CPU runs ahead across independent loads). Pair with lookupAt.
   */
  prefetch(keys: Uint32Array, n: number, use: Uint8Array, hashes: Int32Array): void {
    const m = this.mask;
    const sl = this.slots;
    let acc = 0;
    for (let i = 0; i < n; i++) if (use[i]) hashes[i] = this.hash(keys, i * KW);
    for (let i = 0; i < n; i++) if (use[i]) acc += sl[(hashes[i]! & m) * 2]!;
    // The tuple and the hot fields span 56 bytes (words 0-13 or 10-23 of the block), one or two
    // cache lines depending on the block's alignment: touch both ends.
    const t = this.tuples;
    for (let i = 0; i < n; i++) {
      if (!use[i]) continue;
      const ref = sl[(hashes[i]! & m) * 2]!;
      if (ref >= 0) {
        const o = (ref >>> 1) * CONN_WORDS;
        acc += (ref & 1) === 0 ? t[o]! + t[o + 13]! : t[o + 10]! + t[o + 23]!;
      }
    }
    this.sink = acc;
  }

  // Keeps the prefetch loads alive (an unused load could be optimised away).
  private sink = 0;

  /** lookup() of the tuple at `keys[ko..]` whose hash `h` prefetch() computed. */
  lookupAt(keys: Uint32Array, ko: number, h: number): number {
    const m = this.mask;
    let i = h & m;
    for (;;) {
      const ref = this.slots[i * 2]!;
      if (ref < 0) return -1;
      if (this.slots[i * 2 + 1] === h && this.eq(ref, keys, ko)) {
        const c = ref >>> 1;
        if (this.meta[c * CONN_F64 + EXP_AT]! <= this.now && !this.rebase) {
          this.remove(c);
          this.stats.expired++;
          return -1;
        }
        return ref;
      }
      i = (i + 1) & m;
    }
  }

  /**
   * The tuple reference (conn·2 + direction) whose tuple equals `k`, or -1. An expired connection
   * found here is removed and not returned.
   */
  lookup(k: Uint32Array): number {
    return this.lookupAt(k, 0, this.hash(k, 0));
  }

  private insertRef(ref: number): void {
    const h = this.hash(this.tuples, this.at(ref));
    const m = this.mask;
    let i = h & m;
    while (this.slots[i * 2]! >= 0) i = (i + 1) & m;
    this.slots[i * 2] = ref;
    this.slots[i * 2 + 1] = h;
  }

  // Backward-shift deletion (Knuth 6.4 algorithm R) of the slot holding `ref`.
  private deleteRef(ref: number): void {
    const m = this.mask;
    let i = this.hash(this.tuples, this.at(ref)) & m;
    while (this.slots[i * 2] !== ref) {
      if (this.slots[i * 2]! < 0) return;
      i = (i + 1) & m;
    }
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      const r = this.slots[j * 2]!;
      if (r < 0) break;
      const home = this.slots[j * 2 + 1]! & m;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (inRange) continue;
      this.slots[hole * 2] = r;
      this.slots[hole * 2 + 1] = this.slots[j * 2 + 1]!;
      hole = j;
    }
    this.slots[hole * 2] = -1;
  }

  /**
   * Creates a connection whose ORIGINAL tuple is `orig` and REPLY tuple `reply` (null: the
   * inverse of `orig`). `v` describes the first packet (TCP flags give the initial state).
   * Returns the connection index, CREATE_FULL or CREATE_CLASH (a tuple already tracked).
   */
  create(orig: Uint32Array, reply: Uint32Array | null, v: PacketView, now: number): number {
    if (this.freeTop === 0) {
      this.stats.full++;
      return CREATE_FULL;
    }
    // Popped before the clash check: that check may remove expired entries (pushing them here).
    const c = this.freeList[--this.freeTop]!;
    const t = this.tuples;
    const o = c * CONN_WORDS;
    for (let i = 0; i < KW; i++) t[o + i] = orig[i]!;
    if (reply) for (let i = 0; i < KW; i++) t[o + REPLY_AT + i] = reply[i]!;
    else invertTuple(t, o, t, o + REPLY_AT);
    if (this.lookupRaw(c * 2 + 1) >= 0 || this.lookupRaw(c * 2) >= 0) {
      this.freeList[this.freeTop++] = c;
      this.stats.clash++;
      return CREATE_CLASH;
    }
    this.live[c] = 1;
    this.count++;
    this.setStatus(c, 0);
    this.mark[c] = 0;
    const proto = orig[9]! & 0xff;
    if (proto === 6) {
      const next = TCP_NEXT[tcpFlagIndex(v.tcpFlags) * 10]!; // ORIGINAL, from sNO
      this.setState(c, next >= IV ? TCP_STATE.SYN_SENT : next);
    } else this.setState(c, ST_UNREPLIED);
    this.setExpiry(c, now + this.timeoutOf(c, proto));
    this.insertRef(c * 2);
    this.insertRef(c * 2 + 1);
    this.stats.created++;
    return c;
  }

  // Slot search for tuple `ref`'s key among other connections (clash check before insertion).
  private lookupRaw(ref: number): number {
    const t = this.tuples;
    const o = this.at(ref);
    const h = this.hash(t, o);
    const m = this.mask;
    let i = h & m;
    for (;;) {
      const r = this.slots[i * 2]!;
      if (r < 0) return -1;
      if (this.slots[i * 2 + 1] === h) {
        const p = this.at(r);
        let same = true;
        for (let w = 0; w < KW; w++) if (t[p + w] !== t[o + w]) { same = false; break; }
        if (same) {
          if (this.meta[(r >>> 1) * CONN_F64 + EXP_AT]! <= this.now && !this.rebase) {
            this.remove(r >>> 1);
            this.stats.expired++;
            return -1;
          }
          return r;
        }
      }
      i = (i + 1) & m;
    }
  }

  /** True when a TCP first packet may open a connection (a SYN; or anything but RST with tcpLoose). */
  tcpMayCreate(flags: number): boolean {
    const fi = tcpFlagIndex(flags);
    if (fi === 0) return true;
    return this.tcpLoose && fi === 3;
  }

  private timeoutOf(c: number, proto: number): number {
    return this.timeoutFor(this.stateOf(c), proto);
  }

  private timeoutFor(st: number, proto: number): number {
    const t = this.timeouts;
    if (proto === 6) {
      switch (st) {
        case 1: case 9: return t.tcpSynSent;
        case 2: return t.tcpSynRecv;
        case 3: return t.tcpEstablished;
        case 4: return t.tcpFinWait;
        case 5: return t.tcpCloseWait;
        case 6: return t.tcpLastAck;
        case 7: return t.tcpTimeWait;
        default: return t.tcpClose;
      }
    }
    const replied = st === ST_REPLIED;
    if (proto === 17) return replied ? t.udpReplied : t.udpUnreplied;
    if (proto === 1 || proto === 58) return t.icmp;
    return t.generic;
  }

  /**
   * Advances connection `ref >>> 1` for a packet in direction `ref & 1` and refreshes its timeout.
   * Returns CT.ESTABLISHED, or CT.INVALID when the TCP state table rejects the packet.
   */
  update(ref: number, v: PacketView, now: number): number {
    return this.updateRaw(ref, v.proto, v.tcpFlags, now);
  }

  /** update() from the protocol and TCP flags alone. */
  updateRaw(ref: number, proto: number, tcpFlags: number, now: number): number {
    const c = ref >>> 1;
    const dir = ref & 1;
    // State and status written only when they change (a clean line needs no write-back).
    const sb = c * CONN_BYTES + STATE_AT;
    const bytes = this.bytes;
    const old = bytes[sb]!;
    const status = bytes[sb + 1]!;
    let st = old;
    if (proto === 6) {
      const next = TCP_NEXT[dir * 60 + tcpFlagIndex(tcpFlags) * 10 + old]!;
      if (next === IV) return CT.INVALID;
      let ns = dir === 1 ? status | STATUS_SEEN_REPLY : status;
      if (next !== IG) {
        if (next === TCP_STATE.SYN_SENT && dir === 0 && (old === TCP_STATE.TIME_WAIT || old === TCP_STATE.CLOSE)) ns = 0; // reopened
        if (next === TCP_STATE.ESTABLISHED) ns |= STATUS_ASSURED;
        if (next !== old) this.setState(c, next);
        st = next;
      }
      if (ns !== status) this.setStatus(c, ns);
      if (next === IG) return CT.ESTABLISHED;
    } else if (dir === 1) {
      if (status !== (status | STATUS_SEEN_REPLY | STATUS_ASSURED)) this.setStatus(c, status | STATUS_SEEN_REPLY | STATUS_ASSURED);
      if (old !== ST_REPLIED) this.setState(c, ST_REPLIED);
      st = ST_REPLIED;
    }
    this.setExpiry(c, now + this.timeoutFor(st, proto));
    return CT.ESTABLISHED;
  }

  /**
   * The conntrack state of the packet in `v`, updating the connection it belongs to. Sets
   * `lastRef` to the tuple reference found (conn·2 + dir), or -1.
   */
  classify(v: PacketView, now: number): number {
    this.lastRef = -1;
    const kind = v.kind;
    if (kind === L4.FRAGMENT || kind === L4.ICMP_OTHER) return CT.UNTRACKED;
    if (kind === L4.ICMP_ERROR) {
      const r = this.lookup(v.inner);
      if (r < 0) return CT.INVALID;
      this.lastRef = r;
      return CT.RELATED;
    }
    const r = this.lookup(v.key);
    if (r >= 0) {
      this.lastRef = r;
      return this.update(r, v, now);
    }
    return this.classifyMiss(v);
  }

  /** The state of a packet of a tracked kind (ports, echo, other) whose tuple is not in the table. */
  classifyMiss(v: PacketView): number {
    const kind = v.kind;
    if (kind === L4.ICMP_ECHO) return echoReplyType(v.family, v.icmpType) >= 0 ? CT.NEW : CT.INVALID;
    if (v.proto === 6 && !this.tcpMayCreate(v.tcpFlags)) return CT.INVALID;
    return CT.NEW;
  }

  lastRef = -1;

  /** Removes connection `c` (both tuples). */
  remove(c: number): void {
    if (!this.live[c]) return;
    this.deleteRef(c * 2);
    this.deleteRef(c * 2 + 1);
    this.live[c] = 0;
    this.count--;
    this.freeList[this.freeTop++] = c;
    this.stats.removed++;
    this.onRemove?.(c);
  }

  isLive(c: number): boolean {
    return this.live[c] === 1;
  }

  /**
   * Removes expired connections, visiting entries from where the last sweep stopped: enough to
   * cover the whole table once per second of elapsed time, at least `minBudget`.
   */
  sweep(now: number, minBudget = 4096): void {
    this.setNow(now);
    const n = this.maxFlows;
    const budget = Math.max(minBudget, Math.ceil((n * (now - this.lastSweep)) / 1000));
    this.lastSweep = now;
    let c = this.sweepAt;
    for (let k = 0; k < budget && k < n; k++) {
      if (this.live[c] && this.meta[c * CONN_F64 + EXP_AT]! <= now) {
        this.remove(c);
        this.stats.expired++;
      }
      c = c + 1 === n ? 0 : c + 1;
    }
    this.sweepAt = c;
  }

  /** Removes every connection. */
  flush(): void {
    for (let c = 0; c < this.maxFlows; c++) if (this.live[c]) this.remove(c);
  }

  /** Connection indexes in use (for export and show commands). */
  connections(): number[] {
    const out: number[] = [];
    for (let c = 0; c < this.maxFlows; c++) if (this.live[c]) out.push(c);
    return out;
  }

  /** State name of connection `c` (TCP_STATE_NAMES, or UNREPLIED / REPLIED). */
  stateName(c: number): string {
    const proto = this.tuples[c * CONN_WORDS + 9]! & 0xff;
    if (proto === 6) return TCP_STATE_NAMES[this.stateOf(c)] ?? 'NONE';
    return this.stateOf(c) === ST_REPLIED ? 'REPLIED' : 'UNREPLIED';
  }

  /**
   * Connections as plain JSON rows: tuples as text, state, remaining lifetime `ttlMs`, and `mark`.
   *
   * @example
   * ct.exportRows(); // [{ orig: { src: '10.0.0.1', dst: ..., sport, dport, proto: 6 }, reply: {...}, state: 'ESTABLISHED', ttlMs: 431999000, assured: true, mark: 3 }]
   */
  exportRows(where?: (conn: number) => boolean): Plain[] {
    const rows: Plain[] = [];
    for (const c of this.connections()) {
      if (where && !where(c)) continue;
      rows.push({
        orig: tupleToPlain(this.tuples, c * CONN_WORDS),
        reply: tupleToPlain(this.tuples, c * CONN_WORDS + REPLY_AT),
        state: this.stateName(c),
        seenReply: (this.statusOf(c) & STATUS_SEEN_REPLY) !== 0,
        assured: (this.statusOf(c) & STATUS_ASSURED) !== 0,
        ttlMs: Math.ceil(Math.max(0, this.rebase ? this.meta[c * CONN_F64 + EXP_AT]! : this.meta[c * CONN_F64 + EXP_AT]! - this.now)),
        mark: this.mark[c]!,
      });
    }
    return rows;
  }

  /**
   * Partitioning (exportFlows): the rows (as exportRows) of the connections whose flow key (of
   * the original tuple) `owns` accepts, removed from the table.
   *
   * @example return { connections: this.ct.takeRows(owns) };
   */
  takeRows(owns: (key: number) => boolean): Plain[] {
    const moving = this.connections().filter((c) => owns(flowKeyOfTuple(this.tuples, c * CONN_WORDS)));
    const set = new Set(moving);
    const rows = this.exportRows((c) => set.has(c));
    for (const c of moving) this.remove(c);
    return rows;
  }

  /**
   * Replaces the table with `rows` (from exportRows); lifetimes restart from the next setNow().
   * With `merge` the rows are added to the table instead (a row whose tuple is already tracked
   * replaces that connection; lifetimes run from the table's clock): the flows another instance
   * handed over (partitioning). Returns the connection index of each row. Throws ConfigError
   * (with the row's path) on bad data, having parsed every row before it changes anything.
   */
  importRows(rows: unknown, path: string, merge = false): number[] {
    if (!Array.isArray(rows)) throw new ConfigError(path, 'expected an array');
    const parsed = rows.map((r: unknown, i) => {
      const p = `${path}[${i}]`;
      const o = strictObject(r, p, ['orig', 'reply', 'state', 'seenReply', 'assured', 'ttlMs', 'mark']);
      const orig = new Uint32Array(KW);
      const reply = new Uint32Array(KW);
      tupleFromPlain(o.req('orig', (x) => x), `${p}.orig`, orig, 0);
      tupleFromPlain(o.req('reply', (x) => x), `${p}.reply`, reply, 0);
      if (orig[9] !== reply[9]) throw new ConfigError(`${p}.reply`, 'protocol differs from orig');
      const stateText = o.req('state', (x, q) => {
        if (typeof x !== 'string') throw new ConfigError(q, 'expected a state name');
        return x;
      });
      const proto = orig[9]! & 0xff;
      const st = proto === 6 ? (TCP_STATE_NAMES as readonly string[]).indexOf(stateText) : ['UNREPLIED', 'REPLIED'].indexOf(stateText);
      if (st < 0) throw new ConfigError(`${p}.state`, `unknown state '${stateText}'`);
      const flag = (x: unknown, q: string): boolean => {
        if (typeof x !== 'boolean') throw new ConfigError(q, 'expected true or false');
        return x;
      };
      return {
        orig,
        reply,
        st,
        status: (o.opt('seenReply', flag, false) ? STATUS_SEEN_REPLY : 0) | (o.opt('assured', flag, false) ? STATUS_ASSURED : 0),
        ttl: o.req('ttlMs', int(0, 2 ** 52)),
        mark: o.opt('mark', int(-(2 ** 31), 2 ** 31 - 1), 0),
      };
    });
    if (parsed.length > this.maxFlows) throw new ConfigError(path, `${parsed.length} connections exceed maxFlows ${this.maxFlows}`);
    const dummy = new PacketView();
    const out: number[] = [];
    if (merge) {
      for (const r of parsed) {
        for (const k of [r.orig, r.reply]) {
          const ref = this.lookup(k);
          if (ref >= 0) this.remove(ref >>> 1);
        }
      }
      if (this.count + parsed.length > this.maxFlows) throw new ConfigError(path, `${this.count} + ${parsed.length} connections exceed maxFlows ${this.maxFlows}`);
      parsed.forEach((r, i) => {
        const c = this.create(r.orig, r.reply, dummy, 0);
        if (c < 0) throw new ConfigError(`${path}[${i}]`, 'duplicate tuple');
        this.setState(c, r.st);
        this.setStatus(c, r.status);
        // While a replaced table still holds remaining times (rebase pending), so does this row.
        this.setExpiry(c, this.rebase ? r.ttl : this.now + r.ttl);
        this.mark[c] = r.mark;
        out.push(c);
      });
      return out;
    }
    this.flush();
    this.rebase = false;
    parsed.forEach((r, i) => {
      const c = this.create(r.orig, r.reply, dummy, 0);
      if (c < 0) throw new ConfigError(`${path}[${i}]`, 'duplicate tuple');
      this.setState(c, r.st);
      this.setStatus(c, r.status);
      this.setExpiry(c, r.ttl);
      this.mark[c] = r.mark;
      out.push(c);
    });
    this.rebase = true;
    return out;
  }
}

// --- tuples as text ----------------------------------------------------------------------------------

function addrText(t: Uint32Array, o: number, family: number): string {
  if (family === 4) {
    const a = t[o + 3]!;
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  }
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const w = t[o + i]!;
    b[i * 4] = w >>> 24;
    b[i * 4 + 1] = w >>> 16;
    b[i * 4 + 2] = w >>> 8;
    b[i * 4 + 3] = w;
  }
  return formatIpv6(b);
}

/** A tuple as `{src, dst, proto, sport, dport}` (ICMP echo: `id` and `type`). */
export function tupleToPlain(t: Uint32Array, o: number): Plain {
  const family = t[o + 9]! >>> 8;
  const proto = t[o + 9]! & 0xff;
  const src = addrText(t, o, family);
  const dst = addrText(t, o + 4, family);
  const p = t[o + 8]!;
  if (proto === 1 || proto === 58) return { src, dst, proto, id: p >>> 16, type: p & 0xffff };
  return { src, dst, proto, sport: p >>> 16, dport: p & 0xffff };
}

/** Parses a tuple written by tupleToPlain into `t` at `o`; throws ConfigError. */
export function tupleFromPlain(v: unknown, path: string, t: Uint32Array, o: number): void {
  const r = strictObject(v, path, ['src', 'dst', 'proto', 'sport', 'dport', 'id', 'type']);
  const proto = r.req('proto', int(0, 255));
  const addr = (x: unknown, q: string): { family: number; w: number[] } => {
    if (typeof x !== 'string') throw new ConfigError(q, 'expected an address');
    const a4 = parseIpv4(x);
    if (a4 >= 0) return { family: 4, w: [0, 0, 0xffff, a4] };
    const a6 = parseIpv6(x);
    if (!a6) throw new ConfigError(q, `bad address '${x}'`);
    const w: number[] = [];
    for (let i = 0; i < 4; i++) w.push(((a6[i * 4]! << 24) | (a6[i * 4 + 1]! << 16) | (a6[i * 4 + 2]! << 8) | a6[i * 4 + 3]!) >>> 0);
    return { family: 6, w };
  };
  const s = r.req('src', addr);
  const d = r.req('dst', addr);
  if (s.family !== d.family) throw new ConfigError(`${path}.dst`, 'address family differs from src');
  for (let i = 0; i < 4; i++) {
    t[o + i] = s.w[i]!;
    t[o + 4 + i] = d.w[i]!;
  }
  const icmp = proto === 1 || proto === 58;
  const hi = r.opt(icmp ? 'id' : 'sport', int(0, 65535), 0);
  const lo = r.opt(icmp ? 'type' : 'dport', int(0, 65535), 0);
  t[o + 8] = ((hi << 16) | lo) >>> 0;
  t[o + 9] = (s.family << 8) | proto;
}
