// exportFlows / importFlows (contract.ts) of the firewall and the NAT: the per-flow state split of
// horizontal partitioning, with the spreader (host/partition.ts) simulated by bucket ownership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, icmp4EchoFrame } from '../packet/frames.js';
import type { NetworkFunction, Plain } from './contract.js';
import { firewallFactory } from './firewall.js';
import { natFactory } from './nat.js';
import { loadBalancerFactory } from './loadbalancer.js';
import { dpiFactory } from './dpi.js';
import { flowBucket, flowKeyOfFrame } from './lib/flowkey.js';
import { Harness, counter } from './testing.js';

const M = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };
const SYN = 0x02;
const ACK = 0x10;
const bucket = (f: Uint8Array): number => flowBucket(flowKeyOfFrame(f, 0, f.length));
const syn = (i: number): Uint8Array => tcpFrame({ ...M, src: `10.0.${i >> 8}.${i & 255}`, dst: '198.51.100.7', srcPort: 40000 + (i % 1000), dstPort: 443, flags: SYN, seq: 1 });

test('firewall: exportFlows hands the connections of moving buckets to another instance, which passes their replies; the rest stay', () => {
  const cfg = { interfaces: [{ name: 'lan' }, { name: 'wan' }], defaultPolicy: 'deny', rules: [{ name: 'lan-out', in: 'lan', action: 'allow' }] };
  const a = firewallFactory.create(cfg);
  const b = firewallFactory.create(cfg);
  const ha = new Harness(a);
  const hb = new Harness(b);
  const flows = Array.from({ length: 400 }, (_, i) => syn(i));
  assert.equal(ha.run(0, flows).sent.length, 400);
  const moving = (k: number): boolean => flowBucket(k) < 100;
  const reply = (f: Uint8Array): Uint8Array => {
    const src = `${f[26]}.${f[27]}.${f[28]}.${f[29]}`;
    return tcpFrame({ ...M, src: '198.51.100.7', dst: src, srcPort: 443, dstPort: (f[34]! << 8) | f[35]!, flags: SYN | ACK, seq: 9, ack: 2 });
  };
  const moved = flows.filter((f) => bucket(f) < 100);
  assert.ok(moved.length > 100 && moved.length < 200, `${moved.length} of 400 in 100 of 257 buckets`);
  const state = JSON.parse(JSON.stringify(a.exportFlows?.(moving))) as { connections: Plain[] };
  assert.equal(state.connections.length, moved.length);
  b.importFlows?.(state);
  // Replies of moved flows pass at b (established), not at a any more; the others still at a.
  assert.equal(hb.run(1, moved.map(reply)).sent.length, moved.length);
  assert.equal(ha.run(1, moved.map(reply)).sent.length, 0);
  const stayed = flows.filter((f) => bucket(f) >= 100);
  assert.equal(ha.run(1, stayed.map(reply)).sent.length, stayed.length);
  // A merge never replaces what b had: its own flows survive an import.
  const own = syn(5000);
  hb.run(0, [own]);
  b.importFlows?.({ connections: [] });
  assert.equal(hb.run(1, [reply(own)]).sent.length, 1);
  assert.throws(() => b.importFlows?.({ connections: [{ orig: 'x' }] }), { name: 'ConfigError' });
});

test('nat (partitioned): translated flows keep their bucket, so replies reach the instance holding the binding; bindings move with their buckets', () => {
  const cfg = { snat: { addresses: ['203.0.113.1'] }, partitioned: true };
  const a = natFactory.create(cfg);
  const b = natFactory.create(cfg);
  const ha = new Harness(a);
  const hb = new Harness(b);
  const owner = (bk: number): NetworkFunction => (bk < 128 ? a : b);
  const flows = Array.from({ length: 300 }, (_, i) => syn(i));
  const outside = new Map<number, Uint8Array>();
  for (const [i, f] of flows.entries()) {
    const fn = owner(bucket(f));
    const r = (fn === a ? ha : hb).run(0, [f]);
    assert.equal(r.sent.length, 1);
    const t = r.sent[0]!.bytes;
    assert.equal(bucket(t), bucket(f), 'the translated flow keeps its bucket');
    outside.set(i, t);
  }
  assert.equal(counter(a.counters(), 'bucketMiss') + counter(b.counters(), 'bucketMiss'), 0);
  const reply = (t: Uint8Array): Uint8Array => tcpFrame({ ...M, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: (t[34]! << 8) | t[35]!, flags: SYN | ACK, seq: 9, ack: 2 });
  // Re-partition: buckets 64..127 move from a to b.
  const moves = (k: number): boolean => flowBucket(k) >= 64 && flowBucket(k) < 128;
  const portsBefore = counter(a.counters(), 'addresses.0.tcpPorts');
  const st = JSON.parse(JSON.stringify(a.exportFlows?.(moves))) as { connections: Plain[] };
  const nMoved = flows.filter((f) => moves(flowKeyOfFrame(f, 0, f.length))).length;
  assert.equal(st.connections.length, nMoved);
  assert.equal(counter(a.counters(), 'addresses.0.tcpPorts'), portsBefore - nMoved, 'the moved bindings\' ports are free at a');
  b.importFlows?.(st);
  const owner2 = (bk: number): Harness => (bk < 64 ? ha : hb);
  for (const [i, f] of flows.entries()) {
    const t = outside.get(i) as Uint8Array;
    const r = owner2(bucket(t)).run(1, [reply(t)]);
    assert.equal(r.sent.length, 1, `reply of flow ${i} (bucket ${bucket(f)})`);
    const back = r.sent[0]!.bytes;
    assert.deepEqual([...back.subarray(30, 34)], [...f.subarray(26, 30)], 'translated back to the inside host');
    assert.equal((back[36]! << 8) | back[37]!, (f[34]! << 8) | f[35]!);
  }
  // ICMP echo: the identifier is chosen to keep the bucket too.
  const ping = icmp4EchoFrame({ ...M, src: '10.9.9.9', dst: '8.8.8.8', identifier: 4242, sequence: 1 });
  const p = (bucket(ping) < 64 ? ha : hb).run(0, [ping]).sent[0]!.bytes;
  assert.equal(bucket(p), bucket(ping));
});

test('nat: an imported binding whose port this instance also owns (another remote) is shared, and freed only by its last owner', () => {
  const cfg = { snat: { addresses: ['203.0.113.1'], ports: '40000-40003' } };
  const a = natFactory.create(cfg);
  const b = natFactory.create(cfg);
  new Harness(a).run(0, [tcpFrame({ ...M, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: SYN })]);
  const hb = new Harness(b);
  hb.run(0, [tcpFrame({ ...M, src: '10.0.0.2', dst: '198.51.100.8', srcPort: 40000, dstPort: 443, flags: SYN })]);
  b.importFlows?.(JSON.parse(JSON.stringify(a.exportFlows?.(() => true))));
  assert.equal(counter(b.counters(), 'addresses.0.tcpPorts'), 1, 'one port, two owners');
  // Both translate back by their own reply tuple.
  const r1 = hb.run(1, [tcpFrame({ ...M, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: 40000, flags: SYN | ACK })]);
  const r2 = hb.run(1, [tcpFrame({ ...M, src: '198.51.100.8', dst: '203.0.113.1', srcPort: 443, dstPort: 40000, flags: SYN | ACK })]);
  assert.deepEqual([r1.sent[0]?.bytes[33], r2.sent[0]?.bytes[33]], [1, 2]);
  b.exportFlows?.((k) => k === flowKeyOfFrame(r1.sent[0]!.bytes, 0, r1.sent[0]!.bytes.length));
  assert.equal(counter(b.counters(), 'addresses.0.tcpPorts'), 1, 'still owned by the other binding');
  b.exportFlows?.(() => true);
  assert.equal(counter(b.counters(), 'addresses.0.tcpPorts'), 0);
});

test('loadbalancer: exportFlows moves connections with their backend (affinity survives the move); importFlows merges', () => {
  const backends = [1, 2, 3, 4].map((i) => ({ name: `web${i}`, mac: `02:00:00:00:0b:0${i}`, ip: `10.1.0.${i}` }));
  const cfg = { mac: '02:00:00:00:aa:01', vip: '192.0.2.10', vipPorts: [80], mode: 'dsr', backends };
  const a = loadBalancerFactory.create(cfg);
  // The importer has one more backend: its Maglev table sends some flows elsewhere, affinity must not.
  const cfg5 = { ...cfg, backends: [...backends, { name: 'web5', mac: '02:00:00:00:0b:05', ip: '10.1.0.5' }] };
  const b = loadBalancerFactory.create(cfg5);
  const fresh = new Harness(loadBalancerFactory.create(cfg5));
  let differ = 0;
  const frames = Array.from({ length: 200 }, (_, i) => tcpFrame({ srcMac: '02:00:00:00:00:09', dstMac: '02:00:00:00:aa:01', src: `198.51.${i >> 8}.${(i & 255) + 1}`, dst: '192.0.2.10', srcPort: 30000 + i, dstPort: 80, flags: SYN }));
  const sent = new Harness(a).run(0, frames).sent;
  const backendOf = new Map(frames.map((f, i) => [i, sent[i]!.bytes[5]!]));
  const moves = (k: number): boolean => flowBucket(k) % 2 === 0;
  const moved = frames.map((f, i) => [f, i] as const).filter(([f]) => moves(flowKeyOfFrame(f, 0, f.length)));
  b.importFlows?.(JSON.parse(JSON.stringify(a.exportFlows?.(moves))) as Plain);
  assert.equal((a.exportState() as { connections: unknown[] }).connections.length, 200 - moved.length);
  assert.equal((b.exportState() as { connections: unknown[] }).connections.length, moved.length);
  // Continuation segments at b go to the backend a had chosen.
  const hb = new Harness(b);
  for (const [f, i] of moved) {
    const ack = tcpFrame({ srcMac: '02:00:00:00:00:09', dstMac: '02:00:00:00:aa:01', src: `${f[26]}.${f[27]}.${f[28]}.${f[29]}`, dst: '192.0.2.10', srcPort: 30000 + i, dstPort: 80, flags: ACK });
    assert.equal(hb.run(0, [ack]).sent[0]?.bytes[5], backendOf.get(i));
    if (fresh.run(0, [tcpFrame({ srcMac: '02:00:00:00:00:09', dstMac: '02:00:00:00:aa:01', src: `${f[26]}.${f[27]}.${f[28]}.${f[29]}`, dst: '192.0.2.10', srcPort: 30000 + i, dstPort: 80, flags: SYN })]).sent[0]?.bytes[5] !== backendOf.get(i)) differ++;
  }
  assert.ok(differ > 0, 'without the moved state some flows would change backend');
});

test('dpi: exportFlows moves a stream mid-pattern; the importer completes the match', () => {
  const cfg = { signatures: [{ name: 'evil', pattern: 'EVILPATTERN', action: 'drop' }] };
  const seg = (seq: number, data: string, flags: number, sport: number): Uint8Array => tcpFrame({ ...M, src: '10.0.0.1', dst: '10.0.0.2', srcPort: sport, dstPort: 80, seq, flags, payload: new TextEncoder().encode(data) });
  const a = dpiFactory.create(cfg);
  const b = dpiFactory.create(cfg);
  const ha = new Harness(a);
  ha.now = 1000;
  const ports = Array.from({ length: 40 }, (_, i) => 41000 + i);
  for (const p of ports) ha.run(0, [seg(1, '', SYN, p), seg(2, '...EVILPAT', ACK, p)]);
  const moves = (k: number): boolean => flowBucket(k) < 128;
  const moving = ports.filter((p) => moves(flowKeyOfFrame(seg(12, 'TERN', ACK, p), 0, 60)));
  assert.ok(moving.length > 5 && moving.length < 35);
  b.importFlows?.(JSON.parse(JSON.stringify(a.exportFlows?.(moves))) as Plain);
  const hb = new Harness(b);
  hb.now = 50;
  for (const p of moving) assert.equal(hb.run(0, [seg(12, 'TERN', ACK, p)]).dropped, 1, `stream ${p}: the match completes at the importer`);
  // The streams that stayed at a still complete their match there.
  const stayed = ports.filter((p) => !moving.includes(p));
  for (const p of stayed) assert.equal(ha.run(0, [seg(12, 'TERN', ACK, p)]).dropped, 1);
});
