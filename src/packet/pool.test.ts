import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch, PacketPool } from './pool.js';

test('pool hands out every slot once and takes them back', () => {
  const pool = new PacketPool({ slots: 4, slotSize: 256, headroom: 32 });
  const got = new Set<number>();
  for (let i = 0; i < 4; i++) got.add(pool.alloc());
  assert.equal(got.size, 4);
  assert.equal(pool.alloc(), -1);
  pool.release(2);
  assert.equal(pool.alloc(), 2);
});

test('load copies a frame after the headroom and records it in the batch', () => {
  const pool = new PacketPool({ slots: 2, slotSize: 256, headroom: 32 });
  const b = new Batch(4);
  const slot = pool.load(new Uint8Array([1, 2, 3]), b);
  assert.equal(b.count, 1);
  assert.equal(b.offs[0], slot * 256 + 32);
  assert.deepEqual([...pool.frame(b, 0)], [1, 2, 3]);
});
