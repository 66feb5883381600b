import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, udpFrame } from '../packet/frames.js';
import { loadBalancerFactory, LoadBalancer } from './loadbalancer.js';
import { Harness, fuzz, hex, counter } from './testing.js';

const LB = 0x02000000aa01;
const ROUTER = 0x020000000001;
const backends = [
  { name: 'web1', mac: '02:00:00:00:0b:01', ip: '10.1.0.1' },
  { name: 'web2', mac: '02:00:00:00:0b:02', ip: '10.1.0.2' },
  { name: 'web3', mac: '02:00:00:00:0b:03', ip: '10.1.0.3' },
  { name: 'web4', mac: '02:00:00:00:0b:04', ip: '10.1.0.4' },
];
const bmac = (i: number): number => 0x020000000b01 + i;
const cfg = (mode: 'dsr' | 'nat', extra: object = {}): unknown => ({ mac: '02:00:00:00:aa:01', vip: '192.0.2.10', vipPorts: [80, 443], mode, backends, ...extra });
const syn = (sport: number, src = '198.51.100.7', flags = 0x02): Uint8Array =>
  tcpFrame({ srcMac: ROUTER, dstMac: LB, src, dst: '192.0.2.10', srcPort: sport, dstPort: 80, seq: 1, flags });
const backendOf = (lb: LoadBalancer, bytes: Uint8Array): number => {
  void lb;
  return (bytes[5] as number) - 1; // last byte of the backend MAC
};

test('loadbalancer dsr: only the MACs change (golden bytes), affinity per connection', () => {
  const lb = loadBalancerFactory.create(cfg('dsr')) as LoadBalancer;
  const h = new Harness(lb);
  const f = syn(40000);
  const r = h.run(0, [f]);
  assert.equal(r.sent.length, 1);
  const be = backendOf(lb, r.sent[0]?.bytes as Uint8Array);
  assert.ok(be >= 0 && be < 4);
  const want = tcpFrame({ srcMac: LB, dstMac: bmac(be), src: '198.51.100.7', dst: '192.0.2.10', srcPort: 40000, dstPort: 80, seq: 1, flags: 0x02 });
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(want)]]);
  // not for the VIP, wrong port, wrong protocol: dropped
  const other = tcpFrame({ srcMac: ROUTER, dstMac: LB, src: '198.51.100.7', dst: '192.0.2.11', srcPort: 1, dstPort: 80, flags: 2 });
  const p22 = tcpFrame({ srcMac: ROUTER, dstMac: LB, src: '198.51.100.7', dst: '192.0.2.10', srcPort: 1, dstPort: 22, flags: 2 });
  assert.equal(h.run(0, [other, p22]).dropped, 2);
  assert.equal(counter(lb.counters(), 'notVip'), 2);
});

test('loadbalancer: marking a backend down moves only its connections; back up moves none', () => {
  const lb = loadBalancerFactory.create(cfg('dsr')) as LoadBalancer;
  const h = new Harness(lb);
  const frames = Array.from({ length: 2000 }, (_, i) => syn(10000 + i, `198.51.${100 + (i % 7)}.${i % 250}`, 0x10));
  const first = h.run(0, frames).sent.map((s) => backendOf(lb, s.bytes));
  const per = [0, 0, 0, 0];
  for (const b of first) per[b] = (per[b] as number) + 1;
  for (const x of per) assert.ok(x > 400 && x < 600, `balanced: ${per.join(',')}`);
  assert.ok(lb.setBackendUp('web2', false));
  const second = h.run(0, frames).sent.map((s) => backendOf(lb, s.bytes));
  for (let i = 0; i < frames.length; i++) {
    if (first[i] !== 1) assert.equal(second[i], first[i], 'connections of live backends stay');
    else assert.notEqual(second[i], 1, 'connections of the dead backend move');
  }
  assert.equal(counter(lb.counters(), 'reassigned'), per[1]);
  lb.setBackendUp('web2', true);
  const third = h.run(0, frames).sent.map((s) => backendOf(lb, s.bytes));
  assert.deepEqual(third, second, 'affinity: established connections do not go back');
  // new connections do reach web2 again
  const fresh = h.run(0, Array.from({ length: 400 }, (_, i) => syn(30000 + i))).sent.map((s) => backendOf(lb, s.bytes));
  assert.ok(fresh.filter((b) => b === 1).length > 50);
  lb.setBackendUp('web1', false);
  lb.setBackendUp('web2', false);
  lb.setBackendUp('web3', false);
  lb.setBackendUp('web4', false);
  assert.equal(h.run(0, [syn(1)]).dropped, 1);
  assert.equal(counter(lb.counters(), 'noBackend'), 1);
});

test('loadbalancer nat: destination rewritten with checksums fixed, replies get the VIP back (golden bytes)', () => {
  const lb = loadBalancerFactory.create(cfg('nat')) as LoadBalancer;
  const h = new Harness(lb);
  const f = tcpFrame({ srcMac: ROUTER, dstMac: LB, src: '198.51.100.7', dst: '192.0.2.10', srcPort: 40000, dstPort: 443, seq: 77, flags: 0x18, payload: new Uint8Array([1, 2, 3]) });
  const r = h.run(0, [f]);
  const be = backendOf(lb, r.sent[0]?.bytes as Uint8Array);
  const want = tcpFrame({ srcMac: LB, dstMac: bmac(be), src: '198.51.100.7', dst: `10.1.0.${be + 1}`, srcPort: 40000, dstPort: 443, seq: 77, flags: 0x18, payload: new Uint8Array([1, 2, 3]) });
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(want)]]);
  const reply = tcpFrame({ srcMac: bmac(be), dstMac: LB, src: `10.1.0.${be + 1}`, dst: '198.51.100.7', srcPort: 443, dstPort: 40000, seq: 5, flags: 0x18, payload: new Uint8Array([9]) });
  const back = h.run(1, [reply]);
  const wantBack = tcpFrame({ srcMac: LB, dstMac: ROUTER, src: '192.0.2.10', dst: '198.51.100.7', srcPort: 443, dstPort: 40000, seq: 5, flags: 0x18, payload: new Uint8Array([9]) });
  assert.deepEqual(back.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(wantBack)]]);
  // a reply from the wrong backend or for an unknown connection is dropped
  const wrong = tcpFrame({ srcMac: bmac(be), dstMac: LB, src: `10.1.0.${((be + 1) % 4) + 1}`, dst: '198.51.100.7', srcPort: 443, dstPort: 40000, flags: 0x10 });
  assert.equal(h.run(1, [wrong]).dropped, 1);
  // UDP: with and without checksum (0 stays 0)
  for (const noChecksum of [false, true]) {
    const u = udpFrame({ srcMac: ROUTER, dstMac: LB, src: '198.51.100.8', dst: '192.0.2.10', srcPort: 5353, dstPort: 80, noChecksum, payload: new Uint8Array([4, 5]) });
    const ur = h.run(0, [u]);
    const ube = backendOf(lb, ur.sent[0]?.bytes as Uint8Array);
    const uw = udpFrame({ srcMac: LB, dstMac: bmac(ube), src: '198.51.100.8', dst: `10.1.0.${ube + 1}`, srcPort: 5353, dstPort: 80, noChecksum, payload: new Uint8Array([4, 5]) });
    assert.equal(hex(ur.sent[0]?.bytes as Uint8Array), hex(uw));
  }
});

test('loadbalancer: IPv6 VIP in dsr mode', () => {
  const lb = loadBalancerFactory.create({ mac: '02:00:00:00:aa:01', vip: '2001:db8::10', backends }) as LoadBalancer;
  const h = new Harness(lb);
  const f = tcpFrame({ srcMac: ROUTER, dstMac: LB, src: '2001:db8:1::7', dst: '2001:db8::10', srcPort: 1234, dstPort: 80, flags: 2 });
  const r = h.run(0, [f, f]);
  assert.equal(r.sent.length, 2);
  const be = backendOf(lb, r.sent[0]?.bytes as Uint8Array);
  assert.equal(hex(r.sent[1]?.bytes as Uint8Array), hex(tcpFrame({ srcMac: LB, dstMac: bmac(be), src: '2001:db8:1::7', dst: '2001:db8::10', srcPort: 1234, dstPort: 80, flags: 2 })));
  assert.equal(counter(lb.counters(), 'newConnections'), 1);
});

test('loadbalancer: export/import mid-connection keeps every connection on its backend', () => {
  const a = loadBalancerFactory.create(cfg('nat')) as LoadBalancer;
  const ha = new Harness(a);
  const frames = Array.from({ length: 300 }, (_, i) => syn(20000 + i, '198.51.100.9', 0x10));
  const before = ha.run(0, frames).sent.map((s) => backendOf(a, s.bytes));
  a.setBackendUp('web3', false);
  const state = JSON.parse(JSON.stringify(a.exportState())) as Parameters<LoadBalancer['importState']>[0];
  // The importer has one more backend, so its Maglev table differs: affinity must come from the table.
  const b = loadBalancerFactory.create(cfg('nat', { backends: [...backends, { name: 'web5', mac: '02:00:00:00:0b:05', ip: '10.1.0.5' }] })) as LoadBalancer;
  b.importState(state);
  assert.deepEqual(b.backends().find((x) => x.name === 'web3'), { name: 'web3', up: false });
  const hb = new Harness(b);
  hb.now = 5;
  const after = hb.run(0, frames).sent.map((s) => backendOf(b, s.bytes));
  for (let i = 0; i < frames.length; i++) if (before[i] !== 2) assert.equal(after[i], before[i]);
  // replies are translated on the importing side too
  const be = after[0] as number;
  const reply = tcpFrame({ srcMac: bmac(be), dstMac: LB, src: `10.1.0.${be + 1}`, dst: '198.51.100.9', srcPort: 80, dstPort: 20000, flags: 0x10 });
  assert.equal(hb.run(1, [reply]).sent.length, 1);
  // idle connections expire
  hb.now = 400_000;
  hb.tick();
  assert.equal(counter(b.counters(), 'connections'), 0);
});

test('loadbalancer: configuration errors name the key', () => {
  const bad: [unknown, string][] = [
    [cfg('nat', { backends: [{ name: 'x', mac: '02:00:00:00:00:01' }] }), 'backends[0].ip'],
    [cfg('dsr', { tableSize: 65536 }), 'tableSize'],
    [cfg('dsr', { vip: 'nope' }), 'vip'],
    [cfg('dsr', { vipPorts: [0] }), 'vipPorts[0]'],
    [cfg('dsr', { colour: 'red' }), 'colour'],
    [{ mac: '02:00:00:00:aa:01', vip: '2001:db8::1', mode: 'nat', backends }, 'mode'],
  ];
  for (const [c, path] of bad) assert.throws(() => loadBalancerFactory.create(c), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === path, path);
});

test('loadbalancer: fuzz 100k mutated frames (nat, both ports)', () => {
  const lb = loadBalancerFactory.create(cfg('nat', { maxConnections: 300, tcpTimeoutMs: 100, udpTimeoutMs: 50 }));
  fuzz(lb, [
    syn(1000), syn(1001, '198.51.100.8', 0x11), syn(1002, '198.51.100.9', 0x04),
    udpFrame({ srcMac: ROUTER, dstMac: LB, src: '198.51.100.8', dst: '192.0.2.10', srcPort: 5353, dstPort: 80, payload: new Uint8Array([4, 5]) }),
    tcpFrame({ srcMac: bmac(0), dstMac: LB, src: '10.1.0.1', dst: '198.51.100.7', srcPort: 80, dstPort: 1000, flags: 0x10 }),
  ], 100_000, 33);
});
