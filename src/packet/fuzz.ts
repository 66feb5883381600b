/**
 * The packet fuzzer shared by the CI test (fuzz.test.ts, 100k frames) and `npm run fuzz`
 * (bench/fuzz.ts, millions). Seed frames of every kind are mutated (bit flips, byte sets,
 * truncations, extensions, lies in length fields found by decoding the seed) and fed to
 * decodeFrame and every parseX. A failure is an exception, or an out-of-bounds read, detected two
 * ways because typed arrays return `undefined` past their end instead of trapping:
 *  - the frame sits in a Uint8Array whose buffer is exactly the frame: a read past the end yields
 *    undefined, which turns into NaN / non-integers / "undefined" text in the result (checked);
 *  - the frame sits in a larger buffer between poison bytes: decoding twice with different poison
 *    must give identical results (a read before `off` or after `off + len` would differ).
 *
 * @example
 * const r = runFuzz({ frames: 100_000, seed: 1 });
 * if (r.failures.length) throw new Error(r.failures[0]!.message);
 */
import { decodeFrame, type Layer } from './decode.js';
import { parseEthernet, parseVlan } from './ethernet.js';
import { parseArp } from './arp.js';
import { parseIpv4, check as ipv4Check, checkView as ipv4CheckView } from './ipv4.js';
import { parseIpv6 } from './ipv6.js';
import { parseIcmp4 } from './icmp4.js';
import { parseIcmp6 } from './icmp6.js';
import { parseUdp } from './udp.js';
import { parseTcp, TCP_FLAG } from './tcp.js';
import { parseMpls } from './mpls.js';
import { parseVxlan } from './vxlan.js';
import {
  arpReplyFrame,
  arpRequestFrame,
  icmp4EchoFrame,
  icmp4ErrorFrame,
  icmp6EchoFrame,
  icmp6ErrorFrame,
  mplsFrame,
  naFrame,
  nsFrame,
  raFrame,
  rsFrame,
  tcpFrame,
  udpFrame,
  vxlanEncap,
} from './frames.js';
import { buildEthernet, ETHERTYPE } from './ethernet.js';
import { buildIpv4, IPPROTO } from './ipv4.js';
import { buildIpv6, buildIpv6Fragment, buildIpv6OptionsHeader, buildIpv6Routing, parseIpv6Addr } from './ipv6.js';
import { buildUdp } from './udp.js';

/** xorshift32: small, seedable, good enough to pick mutations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const A = 0x020000000001;
const B = 0x020000000002;

/** IPv6 packet with hop-by-hop, routing (type 2-like, one address), destination options, AH and fragment headers, then UDP. */
function ipv6ExtFrame(): Uint8Array {
  const b = new Uint8Array(14 + 40 + 8 + 24 + 8 + 16 + 8 + 8 + 4);
  buildEthernet(b, 0, { dst: B, src: A, etherType: ETHERTYPE.IPV6 });
  let o = 54;
  o += buildIpv6OptionsHeader(b, o, IPPROTO.ROUTING, new Uint8Array([5, 2, 0, 0]));
  o += buildIpv6Routing(b, o, IPPROTO.DSTOPTS, 2, 1, ['fd00::9']);
  o += buildIpv6OptionsHeader(b, o, IPPROTO.AH);
  // AH (RFC 4302): next header, payload length 2 (→ 16 bytes), reserved, SPI, sequence, 4 bytes ICV
  b.set([IPPROTO.FRAGMENT, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd], o);
  o += 16;
  o += buildIpv6Fragment(b, o, IPPROTO.UDP, 0, false, 0x12345678);
  // The checksum covers the final destination, the routing header's address (RFC 8200 §8.1).
  buildUdp(b, o, { srcPort: 40000, dstPort: 40002, payload: new Uint8Array([1, 2, 3, 4]), pseudo: { v: 6, src: parseIpv6Addr('fd00::1'), dst: parseIpv6Addr('fd00::9') } });
  buildIpv6(b, 14, { nextHeader: IPPROTO.HOPOPT, src: 'fd00::1', dst: 'fd00::2', payloadLength: b.length - 54 });
  return b;
}

/** An IPv6 first fragment (M set) of a UDP datagram. */
function ipv6FragmentFrame(): Uint8Array {
  const b = new Uint8Array(14 + 40 + 8 + 8 + 16);
  buildEthernet(b, 0, { dst: B, src: A, etherType: ETHERTYPE.IPV6 });
  buildIpv6(b, 14, { nextHeader: IPPROTO.FRAGMENT, src: 'fd00::1', dst: 'fd00::2', payloadLength: 32 });
  buildIpv6Fragment(b, 54, IPPROTO.UDP, 0, true, 0xcafe);
  buildUdp(b, 62, { srcPort: 1, dstPort: 2, payloadLength: 16 });
  b[66] = 0x05; // UDP length 1300: the datagram continues in later fragments
  b[67] = 0x14;
  return b;
}

/** IPv4 with options (router alert + record route) carrying UDP. */
function ipv4OptionsFrame(): Uint8Array {
  const opts = new Uint8Array([0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0, 1]);
  const b = new Uint8Array(14 + 32 + 12);
  buildEthernet(b, 0, { dst: B, src: A, etherType: ETHERTYPE.IPV4, vlans: [] });
  buildIpv4(b, 14, { protocol: IPPROTO.UDP, src: '10.0.0.1', dst: '224.0.0.22', options: opts, payloadLength: 12, ttl: 1 });
  buildUdp(b, 46, { srcPort: 1, dstPort: 2, payload: new Uint8Array(4), pseudo: { v: 4, src: 0x0a000001, dst: 0xe0000016 } });
  return b;
}

/** IPv4 fragments: a first fragment (MF) and a later one. */
function ipv4Fragments(): Uint8Array[] {
  const first = new Uint8Array(14 + 20 + 24);
  buildEthernet(first, 0, { dst: B, src: A, etherType: ETHERTYPE.IPV4 });
  buildIpv4(first, 14, { protocol: IPPROTO.UDP, src: '10.0.0.1', dst: '10.0.0.2', mf: true, id: 77, payloadLength: 24 });
  buildUdp(first, 34, { srcPort: 5, dstPort: 6, payloadLength: 16 });
  first[38] = 0;
  first[39] = 40; // UDP length of the whole datagram (with the later fragment), longer than this fragment
  const later = new Uint8Array(14 + 20 + 16);
  buildEthernet(later, 0, { dst: B, src: A, etherType: ETHERTYPE.IPV4 });
  buildIpv4(later, 14, { protocol: IPPROTO.UDP, src: '10.0.0.1', dst: '10.0.0.2', fragOffset: 3, id: 77, payloadLength: 16 });
  return [first, later];
}

/** One valid frame of every kind the decoder knows. */
export function seedFrames(): Uint8Array[] {
  const data = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6]);
  const l4 = { srcMac: A, dstMac: B, src: '10.0.0.1', dst: '10.0.0.2' };
  const l6 = { srcMac: A, dstMac: B, src: 'fd00::1', dst: 'fd00::2' };
  const ping = icmp4EchoFrame({ ...l4, identifier: 1, sequence: 2 });
  const udp4 = udpFrame({ ...l4, srcPort: 40000, dstPort: 40001, payload: data });
  const udp6 = udpFrame({ ...l6, srcPort: 40000, dstPort: 40001, payload: data });
  const opts = { mss: 1460, sackPermitted: true, timestamp: [123, 0] as const, windowScale: 7 };
  const frames: Uint8Array[] = [
    ping,
    icmp6EchoFrame({ ...l6, identifier: 1, sequence: 2 }),
    icmp4ErrorFrame({ ...l4, type: 3, code: 4, nextHopMtu: 1400, invoking: udp4.subarray(14) }),
    icmp4ErrorFrame({ ...l4, type: 11, code: 0, invoking: ping.subarray(14) }),
    icmp6ErrorFrame({ ...l6, type: 2, code: 0, value: 1280, invoking: udp6.subarray(14) }),
    icmp6ErrorFrame({ ...l6, type: 4, code: 1, value: 40, invoking: udp6.subarray(14) }),
    udp4,
    udp6,
    udpFrame({ ...l4, vlans: [{ vid: 100, pcp: 3 }], srcPort: 1, dstPort: 2, payload: data }),
    udpFrame({ ...l6, vlans: [{ tpid: 0x88a8, vid: 200 }, { vid: 300 }], srcPort: 1, dstPort: 2, payload: data }),
    tcpFrame({ ...l4, srcPort: 40000, dstPort: 80, seq: 1, flags: TCP_FLAG.SYN, options: opts }),
    tcpFrame({ ...l6, srcPort: 40000, dstPort: 80, seq: 1, ack: 2, flags: TCP_FLAG.ACK, options: { timestamp: [5, 6], sack: [100, 200, 300, 400] }, payload: data }),
    arpRequestFrame({ srcMac: A, spa: '10.0.0.1', tpa: '10.0.0.2' }),
    arpReplyFrame({ srcMac: B, spa: '10.0.0.2', tpa: '10.0.0.1', tha: A, vlans: [{ vid: 5 }] }),
    nsFrame({ srcMac: A, src: 'fe80::1', target: 'fe80::2' }),
    naFrame({ srcMac: B, dstMac: A, src: 'fe80::2', dst: 'fe80::1', target: 'fe80::2' }),
    rsFrame({ srcMac: A, src: 'fe80::1' }),
    raFrame({ srcMac: B, src: 'fe80::2', mtu: 1500, prefixes: [{ prefix: '2001:db8::', prefixLength: 64 }] }),
    mplsFrame({ srcMac: A, dstMac: B, labels: [{ label: 100 }, { label: 200, tc: 3 }], payload: udp4.subarray(14) }),
    mplsFrame({ srcMac: A, dstMac: B, labels: [{ label: 16 }], payload: udp6.subarray(14) }),
    vxlanEncap({ outer: { ...l4, src: '192.0.2.1', dst: '192.0.2.2' }, vni: 42, inner: ping }),
    vxlanEncap({ outer: { ...l6, src: '2001:db8::1', dst: '2001:db8::2' }, vni: 43, inner: udp6 }),
    ipv6ExtFrame(),
    ipv6FragmentFrame(),
    ipv4OptionsFrame(),
    ...ipv4Fragments(),
  ];
  // IP in IP (protocol 4)
  const ipip = new Uint8Array(14 + 20 + ping.length - 14);
  buildEthernet(ipip, 0, { dst: B, src: A, etherType: ETHERTYPE.IPV4 });
  buildIpv4(ipip, 14, { protocol: IPPROTO.IPIP, src: '192.0.2.1', dst: '192.0.2.2', payloadLength: ping.length - 14 });
  ipip.set(ping.subarray(14), 34);
  frames.push(ipip);
  return frames;
}

/** Offsets of length-like fields in a frame, found by decoding it (the places where lies hurt most). */
function lengthFields(layers: readonly Layer[]): number[] {
  const at: number[] = [];
  for (const l of layers) {
    switch (l.kind) {
      case 'ipv4':
        at.push(l.offset, l.offset + 2, l.offset + 3);
        for (const o of l.options) at.push(o.offset + 1);
        break;
      case 'ipv6':
        at.push(l.offset + 4, l.offset + 5, l.offset + 6);
        break;
      case 'ipv6-ext':
        at.push(l.offset + 1, l.offset);
        break;
      case 'udp':
        at.push(l.offset + 4, l.offset + 5);
        break;
      case 'tcp':
        at.push(l.offset + 12);
        for (const o of l.options) at.push(o.offset + 1);
        break;
      case 'icmpv6':
        at.push(l.offset);
        for (const o of l.ndpOptions) at.push(o.offset + 1);
        break;
      case 'arp':
        at.push(l.offset + 4, l.offset + 5);
        break;
      case 'mpls':
        at.push(l.offset + 2);
        break;
      case 'eth':
        at.push(l.offset + 12, l.offset + 13);
        break;
      default:
        break;
    }
  }
  return at;
}

/** Lengths fields of every seed, computed once. */
export function seedTargets(seeds: readonly Uint8Array[]): number[][] {
  return seeds.map((s) => lengthFields(decodeFrame(s).layers));
}

const LIES = [0, 1, 2, 3, 4, 5, 7, 8, 0x0f, 0x10, 0x40, 0x45, 0x46, 0x4f, 0x7f, 0x80, 0xf0, 0xfe, 0xff];

/** A mutated copy of `seed`: 1 to 4 mutations of the kinds the module comment lists. */
export function mutate(rng: Rng, seed: Uint8Array, targets: readonly number[]): Uint8Array {
  let f = seed.slice();
  const n = 1 + rng.int(4);
  for (let m = 0; m < n; m++) {
    const kind = rng.int(10);
    if (f.length === 0) break;
    if (kind <= 2) {
      const bits = 1 + rng.int(4);
      for (let i = 0; i < bits; i++) {
        const p = rng.int(f.length);
        f[p] = f[p]! ^ (1 << rng.int(8));
      }
    } else if (kind === 3) {
      f[rng.int(f.length)] = rng.int(256);
    } else if (kind <= 5) {
      const p = targets.length > 0 ? targets[rng.int(targets.length)]! : rng.int(f.length);
      if (p < f.length) f[p] = rng.int(3) === 0 ? rng.int(256) : LIES[rng.int(LIES.length)]!;
    } else if (kind <= 7) {
      f = f.slice(0, rng.int(f.length + 1));
    } else if (kind === 8) {
      const extra = new Uint8Array(1 + rng.int(64));
      for (let i = 0; i < extra.length; i++) extra[i] = rng.int(256);
      const g = new Uint8Array(f.length + extra.length);
      g.set(f);
      g.set(extra, f.length);
      f = g;
    } else {
      const p = rng.int(f.length);
      f.fill(rng.int(2) ? 0 : 0xff, p, p + 1 + rng.int(8));
    }
  }
  return f;
}

export interface FuzzFailure {
  readonly iteration: number;
  readonly frameHex: string;
  readonly message: string;
}

/** Structural equality of two parse results (plain objects, arrays, primitives). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (!same(x[k], y[k])) return false;
    n++;
  }
  for (const _ in y) n--;
  return n === 0;
}

/** Recursively checks that a result holds only finite integers, booleans and clean strings. */
function cleanValue(v: unknown, path: string): string | null {
  if (typeof v === 'number') return Number.isInteger(v) ? null : `${path} = ${v}`;
  if (typeof v === 'string') return v.includes('undefined') || v.includes('NaN') ? `${path} = '${v}'` : null;
  if (typeof v === 'boolean' || v === null) return null;
  if (v === undefined) return `${path} is undefined`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const e = cleanValue(v[i], `${path}[${i}]`);
      if (e) return e;
    }
    return null;
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const e = cleanValue(o[k], `${path}.${k}`);
      if (e) return e;
    }
    return null;
  }
  return `${path} has type ${typeof v}`;
}

/** A parser under test (a `(b, off, len)` function) whose result must be clean and bounded. */
export type Parser = (b: Uint8Array, off: number, len: number) => unknown;

export const PARSERS: ReadonlyArray<readonly [string, Parser]> = [
  ['parseEthernet', parseEthernet],
  ['parseVlan', (b, o, l) => parseVlan(b, o, l, 0x88a8)],
  ['parseArp', parseArp],
  ['parseIpv4', parseIpv4],
  ['parseIpv4 strict', (b, o, l) => parseIpv4(b, o, l, { strict: true })],
  ['ipv4.check', (b, o, l) => ipv4Check(b, o, Math.min(l, b.length - o))],
  ['ipv4.checkView', (b, o, l) => ipv4CheckView(new DataView(b.buffer, b.byteOffset, b.byteLength), o, Math.min(l, b.length - o))],
  ['parseIpv6', parseIpv6],
  ['parseIcmp4', parseIcmp4],
  ['parseIcmp6', (b, o, l) => parseIcmp6(b, o, l, { pseudo: 0x1234 })],
  ['parseUdp', (b, o, l) => parseUdp(b, o, l, { pseudo: 0x1234, strict: true })],
  ['parseTcp', (b, o, l) => parseTcp(b, o, l, { pseudo: 0x1234 })],
  ['parseMpls', parseMpls],
  ['parseVxlan', parseVxlan],
  ['decodeFrame', (b, o, l) => decodeFrame(b, o, l)],
];

/** Offsets where headers start in the seed frames (Ethernet, tags, IP, L4, VXLAN inner...). */
const OFFSETS = [0, 12, 14, 16, 18, 22, 34, 38, 42, 46, 50, 54, 58, 62, 66, 74, 94];
const POISON_PAD = 64;

function poisoned(exact: Uint8Array, fill: number, pattern: boolean): Uint8Array {
  const n = exact.length;
  const p = new Uint8Array(n + 2 * POISON_PAD).fill(fill);
  if (pattern) for (let i = 0; i < POISON_PAD; i++) p[i] = p[n + POISON_PAD + i] = (i * 37 + 0x45) & 0xff;
  p.set(exact, POISON_PAD);
  return p;
}

/**
 * Checks one parser on the bytes of `frame` from `off` on: copied into an exact-size buffer, the
 * result must hold only finite integers and clean strings (also when given a lying, too large
 * `len`); placed between two different poisons, the results must be equal (any read before the
 * first byte or after the last would see the poison). Returns a failure message or null.
 */
export function checkParser(name: string, parse: Parser, frame: Uint8Array, off: number, lie = 0): string | null {
  try {
    const part = frame.slice(off); // its own buffer, exactly [off, end)
    const n = part.length;
    const r = parse(part, 0, n + lie);
    let err = cleanValue(r, `${name}@${off}`);
    if (err) return err;
    if (off > 0) {
      err = cleanValue(parse(frame, off, n + lie), `${name}@${off}`);
      if (err) return err;
    }
    const a = parse(poisoned(part, 0x45, true), POISON_PAD, n);
    const c = parse(poisoned(part, 0xff, false), POISON_PAD, n);
    if (!same(a, c)) return `${name}@${off}: result depends on bytes outside [off, off + len)`;
    return null;
  } catch (e) {
    return `${name}@${off} threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  }
}

/** Runs every check on one frame; returns a failure message or null. */
export function fuzzOne(frame: Uint8Array, rng: Rng, vxlanPort: number, reasons?: Record<string, number>): string | null {
  const exact = new Uint8Array(frame); // its own buffer, exactly the frame
  const n = exact.length;
  const p1 = poisoned(exact, 0x45, true);
  const p2 = poisoned(exact, 0xff, false);
  try {
    const d = decodeFrame(exact, 0, n, { vxlanPort });
    const e = cleanValue(d, 'decodeFrame');
    if (e) return e;
    if (reasons) {
      const key = d.error ? `${d.error.layer}:${d.error.reason}` : d.checksumsOk ? 'ok' : 'ok:bad-checksum';
      reasons[key] = (reasons[key] ?? 0) + 1;
    }
    if (!same(decodeFrame(p1, POISON_PAD, n, { vxlanPort }), decodeFrame(p2, POISON_PAD, n, { vxlanPort })))
      return 'decodeFrame: result depends on bytes outside [off, off + len)';
  } catch (err) {
    return `decodeFrame threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  }
  // Every parser at a header offset and at any offset (headers shift after truncations and tags).
  for (const [name, parse] of PARSERS) {
    const lie = rng.int(8) === 0 ? 1000 : 0; // a len past the end: must be clamped
    // One offset per parser and frame, alternating a header offset and any offset: the frame
    // count (not parser calls) is what the CI budget of ~15 s is spent on.
    const o1 = OFFSETS[rng.int(OFFSETS.length)]!;
    const o = rng.int(2) === 0 && o1 <= n ? o1 : rng.int(n + 1);
    const msg = checkParser(name, parse, exact, o, lie);
    if (msg) return msg;
  }
  return null;
}

export interface FuzzInit {
  frames: number;
  seed: number;
  /** Stop after this many failures. Default 5. */
  maxFailures?: number;
  onProgress?: (done: number) => void;
}

export interface FuzzReport {
  readonly frames: number;
  readonly failures: FuzzFailure[];
  /** Frames per `layer:reason` decodeFrame reported ('ok' when none): shows the mutations reach every check. */
  readonly reasons: Record<string, number>;
}

/**
 * Mutates `frames` frames from the seeds and checks each; deterministic for a given seed.
 *
 * @example
 * const { failures } = runFuzz({ frames: 1000, seed: 42 });
 */
export function runFuzz(init: FuzzInit): FuzzReport {
  const rng = new Rng(init.seed);
  const seeds = seedFrames();
  const targets = seedTargets(seeds);
  const failures: FuzzFailure[] = [];
  const reasons: Record<string, number> = {};
  const max = init.maxFailures ?? 5;
  for (let i = 0; i < init.frames && failures.length < max; i++) {
    const k = rng.int(seeds.length);
    const f = mutate(rng, seeds[k]!, targets[k]!);
    // Now and then decode VXLAN on another port, or not at all, to vary the paths taken.
    const port = rng.int(16) === 0 ? -1 : 4789;
    const msg = fuzzOne(f, rng, port, reasons);
    if (msg) failures.push({ iteration: i, frameHex: Array.from(f, (x) => x.toString(16).padStart(2, '0')).join(''), message: msg });
    if (init.onProgress && (i + 1) % 100000 === 0) init.onProgress(i + 1);
  }
  return { frames: init.frames, failures, reasons };
}
