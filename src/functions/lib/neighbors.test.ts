import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NeighborTable, NeighborTableFullError, NUD, HDR_STRIDE } from './neighbors.js';
import { rng } from '../testing.js';

test('neighbors: find/ensure/remove agree with a Map model under random churn (IPv4 and IPv6 keys)', () => {
  const t = new NeighborTable({ capacity: 512, holdBuffers: 4, holdBufferSize: 64 });
  const model = new Map<string, number>();
  const r = rng(3);
  for (let step = 0; step < 20_000; step++) {
    const iface = r() % 3;
    const v6 = r() % 2 === 1;
    const a = [r() % 300, v6 ? r() % 4 : 0, 0, v6 ? 7 : 0];
    const key = `${iface}/${v6 ? 6 : 4}/${a.join('.')}`;
    const found = t.find(iface, v6 ? 1 : 0, a[0] as number, a[1] as number, a[2] as number, a[3] as number);
    assert.equal(found, model.get(key) ?? -1, `step ${step} ${key}`);
    if (found >= 0 && r() % 3 === 0) {
      t.remove(found);
      model.delete(key);
    } else if (found < 0 && model.size < 500) {
      const id = t.ensure(iface, v6 ? 6 : 4, a);
      assert.equal(t.iface(id), iface);
      assert.equal(t.family(id), v6 ? 6 : 4);
      model.set(key, id);
    }
    assert.equal(t.size, model.size);
  }
  if (!v4Hit(t)) assert.fail('find4 disagrees with find');
});

function v4Hit(t: NeighborTable): boolean {
  const id = t.ensure(1, 4, [0x0a000001]);
  return t.find4(1, 0x0a000001) === id && t.find4(2, 0x0a000001) === -1;
}

test('neighbors: prebuilt header, hold queue bounds and table full', () => {
  const t = new NeighborTable({ capacity: 2, holdBuffers: 3, holdBufferSize: 16 });
  const id = t.ensure(0, 4, [1]);
  t.setMac(id, 0x0200000000aa, 0x0200000000bb, 0x0800);
  assert.deepEqual([...t.hdr.subarray(id * HDR_STRIDE, id * HDR_STRIDE + 14)], [2, 0, 0, 0, 0, 0xaa, 2, 0, 0, 0, 0, 0xbb, 8, 0]);
  t.state[id] = NUD.INCOMPLETE;
  const f = new Uint8Array(20).fill(7);
  assert.ok(t.hold(id, f, 0, 16, 0, 2));
  assert.ok(t.hold(id, f, 0, 10, 1, 2));
  assert.equal(t.hold(id, f, 0, 10, 1, 2), false, 'per-entry bound');
  assert.equal(t.hold(id, f, 0, 17, 1, 5), false, 'too large');
  const id2 = t.ensure(0, 4, [2]);
  assert.ok(t.hold(id2, f, 0, 4, 0, 5));
  assert.equal(t.hold(id2, f, 0, 4, 0, 5), false, 'arena full');
  assert.equal(t.heldNow, 3);
  const b = t.popHold(id);
  assert.equal(t.holdLen[b], 16);
  t.freeHold(b);
  assert.equal(t.holdLen[t.popHold(id)], 10);
  assert.equal(t.popHold(id), -1);
  assert.throws(() => t.ensure(0, 4, [3]), (e: Error) => e instanceof NeighborTableFullError && e.name === 'NeighborTableFullError');
});

test('neighbors: entries and hold buffers start small and double on demand, keeping every entry, header and held frame', () => {
  const t = new NeighborTable({ capacity: 1000, holdBuffers: 100, holdBufferSize: 32 });
  assert.equal(t.allocatedEntries, 16);
  assert.equal(t.allocatedHoldBuffers, 4);
  const first = t.ensure(1, 4, [0x0a000001]);
  t.setMac(first, 0x020000000001, 0x02000000000a, 0x0800);
  t.state[first] = NUD.PERMANENT;
  const frame = new Uint8Array(32).map((_, i) => i + 1);
  for (let k = 0; k < 7; k++) assert.ok(t.hold(first, frame, k, 20, k, 100));
  assert.equal(t.allocatedHoldBuffers, 8);
  const gen = t.generation;
  const ids = [first];
  for (let i = 2; i <= 1000; i++) ids.push(i % 2 === 0 ? t.ensure(i % 5, 4, [0x0a000000 + i]) : t.ensure(i % 5, 6, [0x0a000000 + i, i, 0, 9]));
  assert.equal(t.allocatedEntries, 1000);
  assert.ok(t.generation > gen);
  assert.throws(() => t.ensure(9, 4, [1]), (e: Error) => e.name === 'NeighborTableFullError');
  assert.deepEqual(ids, Array.from({ length: 1000 }, (_, i) => i));
  for (let i = 2; i <= 1000; i++) assert.equal(t.find(i % 5, i % 2 === 0 ? 0 : 1, 0x0a000000 + i, i % 2 === 0 ? 0 : i, 0, i % 2 === 0 ? 0 : 9), i - 1);
  assert.equal(t.find4(1, 0x0a000001), first);
  assert.equal(t.state[first], NUD.PERMANENT);
  assert.deepEqual([...t.hdr.subarray(first * HDR_STRIDE, first * HDR_STRIDE + 14)], [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 10, 8, 0]);
  assert.equal(t.hdr32[first * 4], new Int32Array(t.hdr.buffer)[first * 4]);
  for (let k = 0; k < 7; k++) {
    const buf = t.popHold(first);
    assert.equal(t.holdLen[buf], 20);
    assert.equal(t.holdPort[buf], k);
    assert.deepEqual([...t.holdBytes.subarray(buf * 32, buf * 32 + 20)], [...frame.subarray(k, k + 20)]);
    t.freeHold(buf);
  }
  assert.equal(t.popHold(first), -1);
  // The arena stops at its limit: 100 frames held, the 101st refused.
  const other = ids[1] as number;
  for (let k = 0; k < 100; k++) assert.ok(t.hold(other, frame, 0, 10, 0, 1000));
  assert.equal(t.allocatedHoldBuffers, 100);
  assert.equal(t.hold(other, frame, 0, 10, 0, 1000), false);
  // Removed ids are reused before the table would grow again.
  t.remove(500);
  assert.equal(t.ensure(3, 4, [77]), 500);
});
