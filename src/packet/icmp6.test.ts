import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as icmp6 from './icmp6.js';
import { ICMP6, NA_FLAG, RA_FLAG, buildIcmp6, buildNeighborAdvert, buildNeighborSolicit, buildRouterAdvert, buildRouterSolicit, parseIcmp6 } from './icmp6.js';
import { pseudoSum } from './checksum.js';
import { parseIpv6Addr } from './ipv6.js';
import { nsFrame, raFrame } from './frames.js';
import { decodeFrame } from './decode.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));
const ps = (src: string, dst: string) => ({ v: 6 as const, src: parseIpv6Addr(src), dst: parseIpv6Addr(dst) });
const sum = (src: string, dst: string, len: number): number => pseudoSum(ps(src, dst), 58, len);

// RFC 4861 messages with checksums over the RFC 8200 pseudo-header (independent RFC 1071 code):
// NS fe80::1 → ff02::1:ff00:2, target fe80::2, SLLA 02:00:00:00:00:01
const NS = '87007a9700000000 fe800000000000000000000000000002 0101020000000001';
// NA fe80::2 → fe80::1, flags S|O, target fe80::2, TLLA 02:00:00:00:00:02
const NA = '8800181a60000000 fe800000000000000000000000000002 0201020000000002';
// RA fe80::2 → ff02::1: hop limit 64, M, lifetime 1800, reachable 30000, retrans 1000; SLLA, MTU 1500,
// prefix 2001:db8:1::/64 L+A valid 86400 preferred 14400
const RA =
  '8600b23d40800708 00007530 000003e8 0101020000000002 05010000000005dc' +
  '030440c0 00015180 00003840 00000000 20010db8000100000000000000000000';
// RS fe80::1 → ff02::2 with SLLA
const RS = '85007a2c00000000 0101020000000001';
// Packet too big 2001:db8::1 → 2001:db8::2, MTU 1280, 8 quoted bytes
const PTB = '02000bab00000500 6162636465666768';
// Echo request id 0x1234 seq 7 "hi"
const ECHO = '8000a9a112340007 6869';

test('golden NS / NA / RS / RA: fields, options, checksums', () => {
  const ns = parseIcmp6(hex(NS), 0, 32, { pseudo: sum('fe80::1', 'ff02::1:ff00:2', 32) });
  assert.ok(ns.ok);
  assert.deepEqual([ns.type, ns.headerLength, ns.target, ns.sourceLinkAddr, ns.targetLinkAddr, ns.checksumStatus], [135, 24, 'fe80::2', '02:00:00:00:00:01', '', 'good']);
  assert.deepEqual(ns.ndpOptions, [{ type: 1, length: 8, offset: 24 }]);
  const na = parseIcmp6(hex(NA), 0, 32, { pseudo: sum('fe80::2', 'fe80::1', 32) });
  assert.ok(na.ok);
  assert.deepEqual([na.type, na.ndFlags, na.target, na.targetLinkAddr, na.checksumStatus], [136, NA_FLAG.SOLICITED | NA_FLAG.OVERRIDE, 'fe80::2', '02:00:00:00:00:02', 'good']);
  const raB = hex(RA);
  const ra = parseIcmp6(raB, 0, raB.length, { pseudo: sum('fe80::2', 'ff02::1', raB.length) });
  assert.ok(ra.ok);
  assert.deepEqual(
    [ra.curHopLimit, ra.ndFlags, ra.routerLifetime, ra.reachableTime, ra.retransTimer, ra.sourceLinkAddr, ra.mtuOption, ra.checksumStatus],
    [64, RA_FLAG.MANAGED, 1800, 30000, 1000, '02:00:00:00:00:02', 1500, 'good'],
  );
  assert.deepEqual(ra.prefixes, [{ prefixLength: 64, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400, prefix: '2001:db8:1::' }]);
  const rs = parseIcmp6(hex(RS), 0, 16, { pseudo: sum('fe80::1', 'ff02::2', 16) });
  assert.ok(rs.ok && rs.type === 133 && rs.sourceLinkAddr === '02:00:00:00:00:01' && rs.checksumStatus === 'good');
});

test('golden errors and echo', () => {
  const ptb = parseIcmp6(hex(PTB), 0, 16, { pseudo: sum('2001:db8::1', '2001:db8::2', 16) });
  assert.ok(ptb.ok);
  assert.deepEqual([ptb.type, ptb.mtu, ptb.quotedOffset, ptb.checksumStatus], [ICMP6.PACKET_TOO_BIG, 1280, 8, 'good']);
  const e = parseIcmp6(hex(ECHO), 0, 10, { pseudo: sum('2001:db8::1', '2001:db8::2', 10) });
  assert.ok(e.ok);
  assert.deepEqual([e.type, e.identifier, e.sequence, e.checksumStatus], [128, 0x1234, 7, 'good']);
  const pp = new Uint8Array(16);
  buildIcmp6(pp, 0, { type: ICMP6.PARAM_PROBLEM, code: 1, rest: 40, payloadLength: 8, pseudo: ps('::1', '::2') });
  const p = parseIcmp6(pp, 0, 16, { pseudo: sum('::1', '::2', 16) });
  assert.ok(p.ok && p.pointer === 40 && p.checksumStatus === 'good');
  const te = new Uint8Array(8);
  buildIcmp6(te, 0, { type: ICMP6.TIME_EXCEEDED, pseudo: ps('::1', '::2') });
  const t = parseIcmp6(te, 0, 8);
  assert.ok(t.ok && t.type === 3 && t.quotedOffset === -1 && t.checksumStatus === 'unverified');
});

test('builders give the golden bytes (round trip)', () => {
  const out = new Uint8Array(80);
  let n = buildNeighborSolicit(out, 0, { target: 'fe80::2', sourceLinkAddr: '02:00:00:00:00:01', pseudo: ps('fe80::1', 'ff02::1:ff00:2') });
  assert.deepEqual(out.subarray(0, n), hex(NS));
  n = buildNeighborAdvert(out, 0, { target: 'fe80::2', flags: NA_FLAG.SOLICITED | NA_FLAG.OVERRIDE, targetLinkAddr: 0x020000000002, pseudo: ps('fe80::2', 'fe80::1') });
  assert.deepEqual(out.subarray(0, n), hex(NA));
  n = buildRouterSolicit(out, 0, { sourceLinkAddr: 0x020000000001, pseudo: ps('fe80::1', 'ff02::2') });
  assert.deepEqual(out.subarray(0, n), hex(RS));
  n = buildRouterAdvert(out, 0, {
    curHopLimit: 64,
    flags: RA_FLAG.MANAGED,
    routerLifetime: 1800,
    reachableTime: 30000,
    retransTimer: 1000,
    sourceLinkAddr: 0x020000000002,
    mtu: 1500,
    prefixes: [{ prefix: '2001:db8:1::', prefixLength: 64, validLifetime: 86400, preferredLifetime: 14400 }],
    pseudo: ps('fe80::2', 'ff02::1'),
  });
  assert.deepEqual(out.subarray(0, n), hex(RA));
  n = buildIcmp6(out, 0, { type: ICMP6.PACKET_TOO_BIG, rest: 1280, payload: new TextEncoder().encode('abcdefgh'), pseudo: ps('2001:db8::1', '2001:db8::2') });
  assert.deepEqual(out.subarray(0, n), hex(PTB));
  assert.equal(icmp6.type(out, 0), 2);
  assert.equal(icmp6.checksum(out, 0), 0x0bab);
});

test('whole NDP frames: hop limit 255, solicited-node group, DAD without SLLA', () => {
  const f = decodeFrame(nsFrame({ srcMac: 0x020000000001, src: 'fe80::1', target: 'fe80::2' }));
  assert.equal(f.error, null);
  const ip = f.layers.find((l) => l.kind === 'ipv6');
  assert.ok(ip && ip.kind === 'ipv6' && ip.hopLimit === 255);
  const ns = f.layers.find((l) => l.kind === 'icmpv6');
  assert.ok(ns && ns.kind === 'icmpv6');
  assert.deepEqual(nsFrame({ srcMac: 0x020000000001, src: 'fe80::1', target: 'fe80::2' }).subarray(54), hex(NS));
  const dad = decodeFrame(nsFrame({ srcMac: 0x020000000001, src: '::', target: 'fe80::2' }));
  const d = dad.layers.find((l) => l.kind === 'icmpv6');
  assert.ok(d && d.kind === 'icmpv6' && d.ndpOptions.length === 0 && d.checksumStatus === 'good');
  const ra = decodeFrame(raFrame({ srcMac: 2, src: 'fe80::2', mtu: 9000, prefixes: [{ prefix: '2001:db8::', prefixLength: 64 }] }));
  assert.ok(ra.checksumsOk && ra.error === null);
});

test('malformed: truncated NDP body, zero-length option, option past the end, wrong-size prefix, bad checksum', () => {
  assert.deepEqual(parseIcmp6(hex(NS), 0, 7), { ok: false, reason: 'truncated', offset: 0 });
  assert.deepEqual(parseIcmp6(hex(NS), 0, 23), { ok: false, reason: 'truncated', offset: 23 });
  const zero = hex(NS);
  zero[25] = 0;
  assert.deepEqual(parseIcmp6(zero, 0, 32), { ok: false, reason: 'bad-option', offset: 25 });
  const past = hex(NS);
  past[25] = 2;
  assert.deepEqual(parseIcmp6(past, 0, 32), { ok: false, reason: 'bad-option', offset: 25 });
  assert.deepEqual(parseIcmp6(hex(NS), 0, 25), { ok: false, reason: 'bad-option', offset: 24 });
  const pfx = hex(RA);
  pfx[33] = 3; // prefix information must be 4 × 8 bytes
  assert.deepEqual(parseIcmp6(pfx, 0, pfx.length), { ok: false, reason: 'bad-option', offset: 33 });
  const bad = hex(NA);
  bad[31] = 3;
  const r = parseIcmp6(bad, 0, 32, { pseudo: sum('fe80::2', 'fe80::1', 32) });
  assert.ok(r.ok && r.checksumStatus === 'bad');
  assert.deepEqual(parseIcmp6(bad, 0, 32, { pseudo: sum('fe80::2', 'fe80::1', 32), strict: true }), { ok: false, reason: 'bad-checksum', offset: 2 });
});

test('echo request → reply in place keeps the checksum valid (RFC 1624)', () => {
  const b = hex(ECHO);
  icmp6.echoToReply(b, 0);
  const r = parseIcmp6(b, 0, b.length, { pseudo: sum('2001:db8::2', '2001:db8::1', b.length) });
  assert.ok(r.ok && r.type === ICMP6.ECHO_REPLY && r.checksumStatus === 'good');
});
