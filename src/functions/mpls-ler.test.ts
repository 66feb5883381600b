import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mplsLerFactory } from './mpls-ler.js';
import { Harness, fuzz, hex, unhex, counter } from './testing.js';

const CE = '020000000301';
const CORE = '020000000302';
const P = '020000000401';
const HOST = '020000000501';
const SRC = '020000000999';
const config = (ttlModel = 'uniform'): unknown => ({
  interfaces: [{ name: 'ce', mac: '02:00:00:00:03:01' }, { name: 'core', mac: '02:00:00:00:03:02' }],
  ttlModel,
  fec: [
    { prefix: '198.51.100.0/24', labels: [1000], interface: 'core', nextHop: '02:00:00:00:04:01' },
    { prefix: '198.51.100.128/25', labels: [1001, 77], interface: 'core', nextHop: '02:00:00:00:04:01' },
    { prefix: '2001:db8:100::/48', labels: [1002], interface: 'core', nextHop: '02:00:00:00:04:01' },
  ],
  routes: [
    { prefix: '192.0.2.0/24', interface: 'ce', nextHop: '02:00:00:00:05:01' },
    { prefix: '2001:db8:2::/48', interface: 'ce', nextHop: '02:00:00:00:05:01' },
  ],
  localLabels: [2000],
});

function csum(h: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += ((h[i] as number) << 8) | (h[i + 1] as number);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
const h2 = (x: number): string => x.toString(16).padStart(2, '0');
function ipv4(ttl: number, dst: string, tos = 0): string {
  const h = unhex(`45${h2(tos)}002e12340000${h2(ttl)}110000c0000201${dst}`);
  const c = csum(h);
  h[10] = c >>> 8;
  h[11] = c & 0xff;
  return hex(h) + '0400003500' + '1a0000' + 'aa'.repeat(18);
}
function ipv6(hl: number, dst: string, tc = 0): string {
  return `6${h2(tc)}00000` + '0008' + '11' + h2(hl) + '20010db8000000000000000000000001' + dst + '0400003500080000';
}
const lbl = (label: number, ttl: number, s: number, tc = 0): string => ((label * 4096 + (tc << 9) + (s << 8) + ttl) >>> 0).toString(16).padStart(8, '0');
const DST_A = 'c6336401'; // 198.51.100.1
const DST_B = 'c6336481'; // 198.51.100.129
const DST_C = 'c0000207'; // 192.0.2.7

test('mpls-ler: ingress pushes the FEC labels, TTL decremented and copied, precedence → TC (golden bytes)', () => {
  const ler = mplsLerFactory.create(config());
  const h = new Harness(ler);
  const r = h.run(0, [unhex(CORE + SRC + '0800' + ipv4(64, DST_A, 0xa0)), unhex(CORE + SRC + '0800' + ipv4(64, DST_B))]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [
    [1, P + CORE + '8847' + lbl(1000, 63, 1, 5) + ipv4(63, DST_A, 0xa0)],
    [1, P + CORE + '8847' + lbl(1001, 63, 0) + lbl(77, 63, 1) + ipv4(63, DST_B)],
  ]);
  const pipe = new Harness(mplsLerFactory.create(config('pipe')));
  const r2 = pipe.run(0, [unhex(CORE + SRC + '0800' + ipv4(64, DST_A))]);
  assert.deepEqual(r2.sent.map((s) => hex(s.bytes)), [P + CORE + '8847' + lbl(1000, 255, 1) + ipv4(63, DST_A)]);
});

test('mpls-ler: IPv6 FEC push and IPv6 route', () => {
  const ler = mplsLerFactory.create(config());
  const h = new Harness(ler);
  const d1 = '20010db8010000000000000000000005';
  const d2 = '20010db8000200000000000000000005';
  const r = h.run(0, [unhex(CORE + SRC + '86dd' + ipv6(64, d1, 0xe0)), unhex(CORE + SRC + '86dd' + ipv6(9, d2))]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [
    [1, P + CORE + '8847' + lbl(1002, 63, 1, 7) + ipv6(63, d1, 0xe0)],
    [0, HOST + CE + '86dd' + ipv6(8, d2)],
  ]);
});

test('mpls-ler: egress pops explicit null and local labels, then routes by IP (uniform and pipe)', () => {
  const uni = new Harness(mplsLerFactory.create(config()));
  const r = uni.run(1, [
    unhex(CE + P + '8847' + lbl(0, 20, 1) + ipv4(60, DST_C)),
    unhex(CE + P + '8847' + lbl(2000, 100, 1) + ipv4(60, DST_C)),
    unhex(CE + P + '0800' + ipv4(60, DST_C)), // already popped by the penultimate hop
  ]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [
    [0, HOST + CE + '0800' + ipv4(19, DST_C)],
    [0, HOST + CE + '0800' + ipv4(60, DST_C)],
    [0, HOST + CE + '0800' + ipv4(59, DST_C)],
  ]);
  const pipe = new Harness(mplsLerFactory.create(config('pipe')));
  const r2 = pipe.run(1, [unhex(CE + P + '8847' + lbl(0, 20, 1) + ipv4(60, DST_C))]);
  assert.deepEqual(r2.sent.map((s) => hex(s.bytes)), [HOST + CE + '0800' + ipv4(59, DST_C)]);
});

test('mpls-ler: drops and counts expiry, unknown labels, no route, bad checksums, non-IP', () => {
  const ler = mplsLerFactory.create(config());
  const h = new Harness(ler);
  const bad = unhex(CORE + SRC + '0800' + ipv4(64, DST_A));
  bad[24] = (bad[24] as number) ^ 0xff;
  const r = h.run(0, [
    unhex(CORE + SRC + '0800' + ipv4(1, DST_A)),
    unhex(CE + P + '8847' + lbl(0, 1, 1) + ipv4(60, DST_C)),
    unhex(CE + P + '8847' + lbl(999, 9, 1) + ipv4(60, DST_C)),
    unhex(CE + P + '8847' + lbl(0, 9, 0) + lbl(0, 9, 1) + ipv4(60, DST_C)),
    unhex(CORE + SRC + '0800' + ipv4(64, '08080808')),
    bad,
    unhex(CORE + SRC + '0806' + '00'.repeat(28)),
  ]);
  assert.equal(r.sent.length, 0);
  const c = ler.counters();
  assert.deepEqual([counter(c, 'ttlExpired'), counter(c, 'unknownLabel'), counter(c, 'notBottom'), counter(c, 'noRoute'), counter(c, 'malformed'), counter(c, 'notIp')], [2, 1, 1, 1, 1, 1]);
  assert.throws(() => mplsLerFactory.create({ ...(config() as object), fec: [{ prefix: '10.0.0.1/8', labels: [20], interface: 'core', nextHop: '02:00:00:00:00:01' }] }), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === 'fec[0].prefix');
  assert.throws(() => mplsLerFactory.create({ ...(config() as object), routes: [{ prefix: '198.51.100.0/24', interface: 'ce', nextHop: '02:00:00:00:00:01' }] }), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === 'routes[0].prefix');
});

test('mpls-ler: fuzz 100k mutated frames', () => {
  const ler = mplsLerFactory.create(config());
  fuzz(ler, [
    unhex(CORE + SRC + '0800' + ipv4(64, DST_A)),
    unhex(CORE + SRC + '0800' + ipv4(64, DST_B)),
    unhex(CE + P + '8847' + lbl(0, 20, 1) + ipv4(60, DST_C)),
    unhex(CORE + SRC + '86dd' + ipv6(64, '20010db8010000000000000000000005')),
  ], 100_000, 9);
});
