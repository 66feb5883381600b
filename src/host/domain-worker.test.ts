import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrantedPool } from './domain-worker.js';
import { Batch, PacketPool } from '../packet/pool.js';
import { Ring } from './ring.js';

test('granted pool: with the posted slots gone, slots the domain released (not yet returned) are reused, never twice', () => {
  // Domain 0's side: the shared pool, 8 slots posted on the free ring.
  const shared = new PacketPool({ slots: 64 });
  const free = new Ring({ capacity: 16 });
  const ret = new Ring({ capacity: 64 });
  const posted = new Batch();
  for (let k = 0; k < 8; k++) {
    const s = shared.alloc();
    posted.push(s, shared.frameOffset(s), 0);
  }
  assert.equal(free.push(posted), 8);
  const w = new GrantedPool({ buffer: shared.buffer, slots: shared.slots, slotSize: shared.slotSize, headroom: shared.headroom }, new Ring({ buffer: free.buffer }), new Ring({ buffer: ret.buffer }));
  const got = new Set<number>();
  for (let k = 0; k < 8; k++) got.add(w.alloc());
  assert.equal(got.size, 8);
  assert.equal(w.alloc(), -1, 'nothing posted, nothing released');
  // A hop consumed two frames (released, still the domain's): the next two allocations get them.
  const [a, b] = [...got] as [number, number];
  w.release(a);
  w.release(b);
  assert.equal(w.available, 2);
  const again = [w.alloc(), w.alloc()].sort();
  assert.deepEqual(again, [a, b].sort());
  assert.equal(w.alloc(), -1, 'a released slot is handed out once');
  // What is released and not reused goes back to domain 0 on flush, as before.
  w.release(a);
  w.flush();
  const back = new Batch();
  assert.equal(ret.pop(back), 1);
  assert.equal(back.slots[0], a);
  assert.equal(w.alloc(), -1);
});
