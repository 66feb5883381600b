import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mplsFactory, MplsLsr } from './mpls.js';
import { Harness, fuzz, hex, unhex, counter } from './testing.js';

const WEST = '020000000101';
const EAST = '020000000102';
const NH = '020000000201';
const PEER = '020000000901';
const cfg = (ilm: unknown[], ttlModel = 'uniform'): unknown => ({
  interfaces: [{ name: 'west', mac: '02:00:00:00:01:01' }, { name: 'east', mac: '02:00:00:00:01:02' }],
  ttlModel,
  ilm,
});

function csum(h: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += ((h[i] as number) << 8) | (h[i + 1] as number);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
function ipv4(ttl: number): string {
  const h = unhex(`4500002e12340000${ttl.toString(16).padStart(2, '0')}110000c0000201c6336401`);
  // header: ver/ihl 45, tos 00, len 002e (46), id 1234, frag 0000, ttl, proto 11, csum 0000, src 192.0.2.1, dst 198.51.100.1
  const c = csum(h);
  h[10] = c >>> 8;
  h[11] = c & 0xff;
  return hex(h) + '0400003500' + '1a0000' + 'aa'.repeat(18);
}
function lbl(label: number, ttl: number, s: number, tc = 0): string {
  const v = (label * 4096 + (tc << 9) + (s << 8) + ttl) >>> 0;
  return v.toString(16).padStart(8, '0');
}
const frame = (stack: string, payload: string, type = '8847'): Uint8Array => unhex(WEST + PEER + type + stack + payload);

test('mpls: swap rewrites label, TTL and MACs in place (golden bytes)', () => {
  const lsr = mplsFactory.create(cfg([{ label: 100, action: 'swap', labels: [200], interface: 'east', nextHop: '02:00:00:00:02:01' }]));
  const h = new Harness(lsr);
  const r = h.run(0, [frame(lbl(100, 64, 1, 5), ipv4(64))]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, NH + EAST + '8847' + lbl(200, 63, 1, 5) + ipv4(64)]]);
  assert.equal(counter(lsr.counters(), 'swapped'), 1);
});

test('mpls: penultimate-hop pop to IPv4, uniform and pipe TTL models (RFC 3443)', () => {
  const ilm = [{ label: 100, action: 'swap', labels: [3], interface: 'east', nextHop: '02:00:00:00:02:01' }];
  const uni = new Harness(mplsFactory.create(cfg(ilm)));
  let r = uni.run(0, [frame(lbl(100, 10, 1), ipv4(64))]);
  // uniform: IP TTL = label TTL − 1 = 9, header checksum updated (ipv4(9) recomputes it from scratch)
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, NH + EAST + '0800' + ipv4(9)]]);
  const pipe = new Harness(mplsFactory.create(cfg(ilm, 'pipe')));
  r = pipe.run(0, [frame(lbl(100, 10, 1), ipv4(64))]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [NH + EAST + '0800' + ipv4(64)]);
  // uniform never raises the inner TTL
  r = uni.run(0, [frame(lbl(100, 200, 1), ipv4(30))]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [NH + EAST + '0800' + ipv4(30)]);
});

test('mpls: pop of a non-bottom label carries the TTL into the next label (uniform) or not (pipe)', () => {
  const ilm = [{ label: 100, action: 'pop', interface: 'west', nextHop: '02:00:00:00:02:01' }];
  let r = new Harness(mplsFactory.create(cfg(ilm))).run(1, [frame(lbl(100, 10, 0) + lbl(500, 64, 1), ipv4(64))]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, NH + WEST + '8847' + lbl(500, 9, 1) + ipv4(64)]]);
  r = new Harness(mplsFactory.create(cfg(ilm, 'pipe'))).run(1, [frame(lbl(100, 10, 0) + lbl(500, 64, 1), ipv4(64))]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [NH + WEST + '8847' + lbl(500, 64, 1) + ipv4(64)]);
});

test('mpls: swap-and-push into a tunnel and plain push; TTLs per model, TC copied', () => {
  const ilm = [
    { label: 100, action: 'swap', labels: [300, 200], interface: 'east', nextHop: '02:00:00:00:02:01' },
    { label: 101, action: 'push', labels: [400], interface: 'east', nextHop: '02:00:00:00:02:01' },
  ];
  const uni = new Harness(mplsFactory.create(cfg(ilm)));
  let r = uni.run(0, [frame(lbl(100, 64, 1, 3), ipv4(64)), frame(lbl(101, 50, 1, 1), ipv4(64))]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [
    NH + EAST + '8847' + lbl(300, 63, 0, 3) + lbl(200, 63, 1, 3) + ipv4(64),
    NH + EAST + '8847' + lbl(400, 49, 0, 1) + lbl(101, 49, 1, 1) + ipv4(64),
  ]);
  const pipe = new Harness(mplsFactory.create(cfg(ilm, 'pipe')));
  r = pipe.run(0, [frame(lbl(100, 64, 1), ipv4(64))]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [NH + EAST + '8847' + lbl(300, 255, 0) + lbl(200, 63, 1) + ipv4(64)]);
});

test('mpls: TTL expiry, unknown labels, non-MPLS and runts are dropped and counted', () => {
  const lsr = mplsFactory.create(cfg([{ label: 100, action: 'swap', labels: [200], interface: 'east', nextHop: '02:00:00:00:02:01' }]));
  const h = new Harness(lsr);
  const r = h.run(0, [frame(lbl(100, 1, 1), ipv4(64)), frame(lbl(100, 0, 1), ipv4(64)), frame(lbl(999, 64, 1), ipv4(64)), frame('', ipv4(64), '0800'), unhex(WEST + PEER + '8847')]);
  assert.equal(r.sent.length, 0);
  assert.equal(r.dropped, 5);
  const c = lsr.counters();
  assert.equal(counter(c, 'ttlExpired'), 2);
  assert.equal(counter(c, 'noLabel'), 1);
  assert.equal(counter(c, 'notMpls'), 1);
  assert.equal(counter(c, 'malformed'), 1);
  assert.equal(counter(c, 'in'), counter(c, 'out') + counter(c, 'dropped'));
});

test('mpls: ILM changes at run time; config errors name the key', () => {
  const lsr = mplsFactory.create(cfg([])) as MplsLsr;
  const h = new Harness(lsr);
  assert.equal(h.run(0, [frame(lbl(100, 64, 1), ipv4(64))]).dropped, 1);
  lsr.setIlm({ label: 100, action: 'swap', labels: [201], interface: 'east', nextHop: 0x020000000201 });
  assert.equal(hex((h.run(0, [frame(lbl(100, 64, 1), ipv4(64))]).sent[0]?.bytes) ?? new Uint8Array()), NH + EAST + '8847' + lbl(201, 63, 1) + ipv4(64));
  assert.ok(lsr.removeIlm(100));
  assert.equal(h.run(0, [frame(lbl(100, 64, 1), ipv4(64))]).dropped, 1);
  const bad: [unknown, string][] = [
    [cfg([{ label: 5, action: 'pop', interface: 'east', nextHop: '02:00:00:00:02:01' }]), 'ilm[0].label'],
    [cfg([{ label: 100, action: 'swap', labels: [3, 20], interface: 'east', nextHop: '02:00:00:00:02:01' }]), 'ilm[0].labels[0]'],
    [cfg([{ label: 100, action: 'swap', labels: [20], interface: 'north', nextHop: '02:00:00:00:02:01' }]), 'ilm[0].interface'],
    [cfg([{ label: 100, action: 'swap', labels: [20], interface: 'east', nextHop: 'nope' }]), 'ilm[0].nextHop'],
    [cfg([{ label: 100, action: 'pop', labels: [1], interface: 'east', nextHop: '02:00:00:00:02:01' }]), 'ilm[0].labels'],
    [{ interfaces: [{ name: 'a', mac: '02:00:00:00:00:01', mtu: 3 }] }, 'interfaces[0].mtu'],
  ];
  for (const [c, path] of bad) assert.throws(() => mplsFactory.create(c), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === path, path);
  assert.deepEqual(lsr.exportState(), {});
});

test('mpls: fuzz 100k mutated frames', () => {
  const lsr = mplsFactory.create(cfg([
    { label: 100, action: 'swap', labels: [200], interface: 'east', nextHop: '02:00:00:00:02:01' },
    { label: 101, action: 'swap', labels: [3], interface: 'east', nextHop: '02:00:00:00:02:01' },
    { label: 102, action: 'pop', interface: 'west', nextHop: '02:00:00:00:02:01' },
    { label: 103, action: 'push', labels: [1, 2, 16, 17].map((x) => x + 20), interface: 'east', nextHop: '02:00:00:00:02:01' },
  ]));
  const v6 = '6000000000081140' + '20010db8000000000000000000000001' + '20010db8000000000000000000000002' + '0400003500080000';
  fuzz(lsr, [frame(lbl(100, 64, 1), ipv4(64)), frame(lbl(101, 9, 1), ipv4(64)), frame(lbl(101, 9, 1), v6), frame(lbl(102, 9, 0) + lbl(100, 3, 1), ipv4(64)), frame(lbl(103, 9, 1), ipv4(64))], 100_000, 5);
});

test('mpls: penultimate-hop pop to IPv6 sets the hop limit (uniform) and the IPv6 EtherType', () => {
  const v6 = (hl: number): string => '6000000000081140'.slice(0, 14) + hl.toString(16).padStart(2, '0') + '20010db8000000000000000000000001' + '20010db8000000000000000000000002' + '0400003500080000';
  const ilm = [{ label: 100, action: 'swap', labels: [3], interface: 'east', nextHop: '02:00:00:00:02:01' }];
  let r = new Harness(mplsFactory.create(cfg(ilm))).run(0, [frame(lbl(100, 7, 1), v6(64))]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [NH + EAST + '86dd' + v6(6)]);
  r = new Harness(mplsFactory.create(cfg(ilm, 'pipe'))).run(0, [frame(lbl(100, 7, 1), v6(64))]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [NH + EAST + '86dd' + v6(64)]);
  // a payload that is neither IPv4 nor IPv6 under the bottom label cannot be popped to IP
  r = new Harness(mplsFactory.create(cfg(ilm))).run(0, [frame(lbl(100, 7, 1), '00'.repeat(40))]);
  assert.equal(r.dropped, 1);
});
