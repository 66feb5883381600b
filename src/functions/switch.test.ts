import { test } from 'node:test';
import assert from 'node:assert/strict';
import { switchFactory, Switch } from './switch.js';
import { Harness, fuzz, hex, unhex, counter } from './testing.js';
import type { Counters } from './contract.js';

const A = '020000000001';
const B = '020000000002';
const C = '020000000003';
const payload = '45000014000000004011' + '0'.repeat(52); // padding to 46 bytes of payload
function eth(dst: string, src: string, type = '0800'): Uint8Array {
  return unhex(dst + src + type + payload);
}
function tagged(dst: string, src: string, vid: number, pcp = 0): Uint8Array {
  const tci = ((pcp << 13) | vid).toString(16).padStart(4, '0');
  return unhex(dst + src + '8100' + tci + '0800' + payload);
}

test('switch: floods unknown unicast, learns, then forwards to one port (golden bytes)', () => {
  const sw = switchFactory.create({ ports: [{ name: 'p0' }, { name: 'p1' }, { name: 'p2' }] });
  const h = new Harness(sw);
  const f1 = eth(B, A);
  let r = h.run(0, [f1]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]).sort(), [[1, hex(f1)], [2, hex(f1)]]);
  const f2 = eth(A, B);
  r = h.run(1, [f2]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(f2)]]);
  // broadcast always floods
  const bc = eth('ffffffffffff', C);
  r = h.run(2, [bc]);
  assert.deepEqual(r.sent.map((s) => s.port).sort(), [0, 1]);
  // destination on the ingress port: filtered
  r = h.run(0, [eth(A, C)]);
  assert.equal(r.sent.length, 0);
  assert.equal(r.dropped, 1);
  const c = sw.counters();
  assert.equal(counter(c, 'in'), 4);
  assert.equal(counter(c, 'unicast'), 1);
  assert.equal(counter(c, 'flooded'), 2);
  assert.equal(counter(c, 'floodCopies'), 2);
  assert.equal(counter(c, 'filtered'), 1);
  assert.equal(counter(c, 'macs'), 3);
  assert.equal(((c['ports'] as readonly Counters[])[0] as Counters)['txPackets'], 2);
});

test('switch: access and trunk ports tag, untag and keep VLANs apart (golden bytes)', () => {
  const sw = switchFactory.create({
    ports: [
      { name: 'a10', vlan: 10 },
      { name: 'a20', vlan: 20 },
      { name: 'up', mode: 'trunk', allowed: [10, '20-21'], native: 1 },
      { name: 'a1' },
    ],
  });
  const h = new Harness(sw);
  // untagged on access VLAN 10 → only the trunk, tagged 10
  let r = h.run(0, [eth('ffffffffffff', A)]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[2, hex(tagged('ffffffffffff', A, 10))]]);
  // tagged 20 from the trunk (PCP 5) → access port 20 untagged
  r = h.run(2, [tagged('ffffffffffff', B, 20, 5)]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(eth('ffffffffffff', B))]]);
  // untagged on the trunk = native VLAN 1 → access port in VLAN 1
  r = h.run(2, [eth('ffffffffffff', C)]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[3, hex(eth('ffffffffffff', C))]]);
  // VLAN 1 → trunk: native, so untagged
  r = h.run(3, [eth(C, '020000000009')]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[2, hex(eth(C, '020000000009'))]]);
  // VLAN 30 not allowed on the trunk; VLAN 10 tag on an access port of VLAN 20: dropped
  r = h.run(2, [tagged(A, B, 30)]);
  assert.equal(r.dropped, 1);
  r = h.run(1, [tagged(A, B, 10)]);
  assert.equal(r.dropped, 1);
  assert.equal(counter(sw.counters(), 'vlanDropped'), 2);
  // same MAC learned independently per VLAN: A in VLAN 10 on a10, unicast from trunk VLAN 10 goes there
  r = h.run(2, [tagged(A, B, 10, 3)]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(eth(A, B))]]);
  // a priority-tagged frame on an access port is accepted and leaves tagged on the trunk with the PCP kept
  r = h.run(0, [tagged(B, A, 0, 6)]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[2, hex(tagged(B, A, 10, 6))]]);
});

test('switch: ageing forgets stations; export/import in the middle keeps the table', () => {
  const sw = switchFactory.create({ ports: [{ name: 'p0' }, { name: 'p1' }, { name: 'p2' }], ageingMs: 1000 });
  const h = new Harness(sw);
  h.now = 10_000;
  h.run(0, [eth(B, A)]);
  h.run(1, [eth(A, B)]);
  const state = sw.exportState();
  assert.deepEqual(state, { macs: [{ vlan: 1, mac: '02:00:00:00:00:01', port: 'p0', ageMs: 0 }, { vlan: 1, mac: '02:00:00:00:00:02', port: 'p1', ageMs: 0 }] });
  const sw2 = switchFactory.create({ ports: [{ name: 'p0' }, { name: 'p1' }, { name: 'p2' }], ageingMs: 1000 });
  sw2.importState(JSON.parse(JSON.stringify(state)));
  const h2 = new Harness(sw2);
  h2.now = 500; // another host's clock
  let r = h2.run(2, [eth(A, C)]);
  assert.deepEqual(r.sent.map((s) => s.port), [0], 'imported entry used');
  h2.now = 1200;
  h2.run(2, [eth('ffffffffffff', C)]);
  h2.now = 1600;
  h2.tick();
  assert.deepEqual((sw2 as Switch).macTable().map((x) => x.mac), ['02:00:00:00:00:03']);
  r = h2.run(2, [eth(A, C)]);
  assert.deepEqual(r.sent.map((s) => s.port).sort(), [0, 1], 'aged out: flooded again');
  assert.equal(counter(sw2.counters(), 'aged'), 2);
  assert.throws(() => sw2.importState({ macs: [{ vlan: 1, mac: 'zz', port: 'p0', ageMs: 0 }] }), (e: Error) => e.name === 'ConfigError');
});

test('switch: configuration errors name the key', () => {
  const bad: [unknown, string][] = [
    [{ ports: [{ name: 'a', vlna: 3 }] }, 'ports[0].vlna'],
    [{ ports: [] }, 'ports'],
    [{ ports: [{ name: 'a' }, { name: 'a' }] }, 'ports[1].name'],
    [{ ports: [{ name: 'a', mode: 'trunk', allowed: ['9-3'] }] }, 'ports[0].allowed[0]'],
    [{ ports: [{ name: 'a', vlan: 5000 }] }, 'ports[0].vlan'],
    [{ ports: [{ name: 'a' }], extra: 1 }, 'extra'],
  ];
  for (const [cfg, path] of bad) {
    assert.throws(() => switchFactory.create(cfg), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === path, path);
  }
});

test('switch: the table stays correct through many learns and ageing (backward-shift deletes)', () => {
  const sw = switchFactory.create({ ports: [{ name: 'p0' }, { name: 'p1' }], ageingMs: 100, maxMacs: 600 }) as Switch;
  const h = new Harness(sw);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 500; i++) frames.push(eth('ffffffffffff', '0200' + i.toString(16).padStart(8, '0')));
  h.now = 0;
  h.run(0, frames.slice(0, 250));
  h.now = 60;
  h.run(1, frames.slice(250));
  h.now = 130;
  h.tick(); // first half aged
  assert.equal(sw.macTable().length, 250);
  for (let i = 250; i < 500; i++) {
    const r = h.run(0, [eth('0200' + i.toString(16).padStart(8, '0'), '020000ffffff')]);
    assert.deepEqual(r.sent.map((s) => s.port), [1]);
  }
});

test('switch: fuzz 100k mutated frames on access and trunk ports', () => {
  const sw = switchFactory.create({ ports: [{ name: 'a', vlan: 10 }, { name: 't', mode: 'trunk', allowed: ['1-100'], native: 1 }, { name: 'b' }], ageingMs: 500, maxMacs: 1000 });
  fuzz(sw, [eth(A, B), eth('ffffffffffff', C), tagged(A, C, 10), tagged('ffffffffffff', B, 1), tagged(B, A, 0)], 100_000, 11);
});
