import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Batch } from '../packet/pool.js';
import { Ring, RingError } from './ring.js';
import type { PeerInit, PeerReport } from './ring-peer.js';

function run(init: PeerInit): Promise<PeerReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./ring-peer.js', import.meta.url), { workerData: init });
    w.once('message', (r: PeerReport) => resolve(r));
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`peer exited with ${code}`));
    });
  });
}

function seqBatch(from: number, n: number): Batch {
  const b = new Batch(256);
  for (let k = 0; k < n; k++) b.push(k, from + k, 64);
  return b;
}

test('same thread: order, wrap-around and a full ring push only what fits', () => {
  const r = new Ring({ capacity: 8 });
  const out = new Batch(256);
  let seq = 0;
  let want = 0;
  for (let round = 0; round < 20; round++) {
    seq += r.push(seqBatch(seq, 5));
    out.clear();
    r.pop(out);
    for (let k = 0; k < out.count; k++) assert.equal(out.offs[k], want++);
  }
  assert.equal(want, 100);
  assert.equal(r.push(seqBatch(0, 12)), 8, 'a full ring takes only its capacity');
  assert.equal(r.push(seqBatch(0, 1)), 0);
  out.clear();
  assert.equal(r.pop(out, 3), 3);
  assert.equal(r.size, 5);
});

test('indices wrap past 2^31 and 2^32 without losing order', () => {
  for (const start of [0x7ffffff0, -16]) {
    const r = new Ring({ capacity: 16 });
    const h = new Int32Array(r.buffer, 0, 96);
    h[0] = start;
    h[16] = start;
    h[32] = start; // consumer event index too
    const out = new Batch(256);
    let want = 0;
    let seq = 0;
    for (let k = 0; k < 10; k++) {
      seq += r.push(seqBatch(seq, 7));
      out.clear();
      r.pop(out);
      for (let i = 0; i < out.count; i++) assert.equal(out.offs[i], want++);
    }
    assert.equal(want, 70);
  }
});

test('event index: one notification for a sleeping consumer, none for a busy one', () => {
  const r = new Ring({ capacity: 64 });
  r.push(seqBatch(0, 10));
  r.push(seqBatch(10, 10));
  assert.equal(r.notifications.toConsumer, 0, 'nobody asked to be woken');
  const out = new Batch(256);
  r.pop(out);
  assert.equal(r.waitForData(0), false); // arms the event index, times out at once
  r.push(seqBatch(20, 10));
  r.push(seqBatch(30, 10));
  assert.equal(r.notifications.toConsumer, 1, 'one notification per sleep, not per batch or frame');
  assert.throws(() => new Ring({ capacity: 12 }), RangeError);
  assert.throws(() => new Ring({ buffer: new SharedArrayBuffer(100) }), (e: Error) => e.name === 'RingError' && e instanceof RingError);
});

test('two worker threads: no loss, no duplication, order kept, backpressure on a full ring', async () => {
  const ring = new Ring({ capacity: 64 });
  const frames = 200_000;
  const [p, c] = await Promise.all([
    run({ role: 'produce', ring: ring.buffer, frames, maxBatch: 100, seed: 7 }),
    run({ role: 'consume', ring: ring.buffer, frames, popMax: 7, spin: 4 }),
  ]);
  assert.equal(c.error, '');
  assert.equal(c.frames, frames);
  assert.equal(ring.size, 0);
  assert.ok(p.sleeps > 0, 'the slow consumer filled the ring: the producer had to wait');
  const n = ring.notifications;
  assert.ok(n.toConsumer <= p.batches, `${n.toConsumer} notifications for ${p.batches} batches`);
  assert.ok(n.toProducer <= c.batches);
});

test('two worker threads: a sleeping consumer is woken at most once per batch', async () => {
  const ring = new Ring({ capacity: 1024 });
  const frames = 20_000;
  const [p, c] = await Promise.all([
    run({ role: 'produce', ring: ring.buffer, frames, maxBatch: 8, seed: 3 }),
    run({ role: 'consume', ring: ring.buffer, frames, spin: 0 }),
  ]);
  assert.equal(c.error, '');
  assert.equal(c.frames, frames);
  const n = ring.notifications.toConsumer;
  assert.ok(c.sleeps > 0);
  assert.ok(n <= p.batches, `${n} notifications for ${p.batches} batches`);
  assert.ok(n <= c.sleeps, 'a notification only ever goes to a consumer that armed the event index');
});

test('domain 0 waits without blocking (Atomics.waitAsync) for a worker producer', async () => {
  const ring = new Ring({ capacity: 256 });
  const frames = 5000;
  const producer = run({ role: 'produce', ring: ring.buffer, frames, maxBatch: 50, seed: 11 });
  const out = new Batch(256);
  let got = 0;
  let want = 0;
  while (got < frames) {
    out.clear();
    const n = ring.pop(out);
    if (n === 0) {
      await ring.waitForDataAsync(1000);
      continue;
    }
    for (let k = 0; k < n; k++) assert.equal(out.offs[k], want++);
    got += n;
  }
  const p = await producer;
  assert.equal(p.frames, frames);
  assert.ok(ring.notifications.toConsumer <= p.batches);
});
