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
