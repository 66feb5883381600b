import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../packet/pool.js';
import { Link, LinkConfigError, RealtimeLink } from './link.js';

function frames(n: number, len: number, from = 0): Batch {
  const b = new Batch(Math.max(n, 1));
  for (let k = 0; k < n; k++) b.push(from + k, from + k, len);
  return b;
}

test('rate: frames leave at the configured bandwidth', () => {
  const link = new Link({ bandwidth: 10e6, queue: 10000, overhead: 24 });
  link.send(frames(1000, 1226), 0); // 1250 bytes on the wire = 1 ms each at 10 Mb/s
  const out = new Batch(2000);
  assert.equal(link.poll(0.5 + 1e-9, out), 500);
  assert.equal(link.poll(0.9995, out), 499);
  assert.equal(link.poll(1.0 + 1e-9, out), 1);
  assert.equal(link.counters().bytesDelivered, 1000 * 1226);
});

test('delay and jitter: uniform within ±j around the delay, normal with σ = j', () => {
  for (const dist of ['uniform', 'normal'] as const) {
    const out = new Batch(1);
    const link2 = new Link({ delay: 0.05, jitter: 0.01, jitterDistribution: dist, seed: 42 });
    const ds: number[] = [];
    for (let k = 0; k < 4000; k++) {
      const t = k * 0.1;
      link2.send(frames(1, 100, k), t);
      ds.push(link2.nextDue() - t);
      out.clear();
      link2.poll(Infinity, out);
    }
    const mean = ds.reduce((a, b) => a + b, 0) / ds.length;
    const sd = Math.sqrt(ds.reduce((a, b) => a + (b - mean) ** 2, 0) / ds.length);
    assert.ok(Math.abs(mean - 0.05) < 0.0005, `${dist} mean ${mean}`);
    if (dist === 'uniform') {
      assert.ok(Math.min(...ds) >= 0.04 - 1e-12 && Math.max(...ds) <= 0.06 + 1e-12);
      assert.ok(Math.abs(sd - 0.01 / Math.sqrt(3)) < 0.0003, `uniform sd ${sd}`);
      // Flat: each fifth of [−j, j] holds about a fifth of the draws.
      for (let q = 0; q < 5; q++) {
        const lo = 0.04 + q * 0.004;
        const frac = ds.filter((x) => x >= lo && x < lo + 0.004).length / ds.length;
        assert.ok(Math.abs(frac - 0.2) < 0.03, `fifth ${q}: ${frac}`);
      }
    } else {
      assert.ok(Math.abs(sd - 0.01) < 0.0005, `normal sd ${sd}`);
      const within1 = ds.filter((x) => Math.abs(x - 0.05) <= 0.01).length / ds.length;
      assert.ok(Math.abs(within1 - 0.6827) < 0.03, `normal ±1σ ${within1}`);
    }
  }
});

test('jitter on back-to-back frames never reorders them', () => {
  const link = new Link({ delay: 0.01, jitter: 0.005, seed: 3 });
  for (let k = 0; k < 100; k++) link.send(frames(10, 64, k * 10), k * 0.0001);
  const out = new Batch(2000);
  link.poll(Infinity, out);
  assert.equal(out.count, 1000);
  for (let k = 1; k < out.count; k++) assert.ok((out.offs[k] as number) > (out.offs[k - 1] as number));
});

test('loss: the observed rate matches the probability, and a seed replays exactly', () => {
  const run = (seed: number): number => {
    const link = new Link({ loss: 0.1, seed, queue: 1 << 20 });
    const dropped = new Batch(256);
    for (let k = 0; k < 400; k++) {
      dropped.clear();
      const lostBefore = link.counters().lost;
      const accepted = link.send(frames(250, 64), k, dropped);
      assert.equal(dropped.count, link.counters().lost - lostBefore);
      assert.equal(accepted + dropped.count, 250);
    }
    return link.counters().lost;
  };
  const lost = run(7);
  // 100 000 Bernoulli(0.1) draws: σ ≈ 95, so ±500 is over 5σ.
  assert.ok(Math.abs(lost - 10000) < 500, `lost ${lost}`);
  assert.equal(run(7), lost);
  assert.notEqual(run(8), lost);
});

test('queue: tail drop beyond the limit, dropped descriptors handed back', () => {
  const link = new Link({ bandwidth: 8e6, queue: 10 }); // 1000-byte frames take 1 ms each
  const dropped = new Batch(256);
  assert.equal(link.send(frames(100, 1000), 0, dropped), 10);
  assert.equal(dropped.count, 90);
  assert.equal(dropped.offs[0], 10, 'the tail is dropped, not the head');
  assert.equal(link.counters().queueDrops, 90);
  // 3.5 ms later 3 frames have left the queue: room for 3 more.
  dropped.clear();
  assert.equal(link.send(frames(5, 1000, 100), 0.0035, dropped), 3);
  assert.equal(link.counters(0.0035).queued, 10);
  assert.throws(() => new Link({ loss: 2 }), (e: Error) => e.name === 'LinkConfigError' && e instanceof LinkConfigError);
  assert.throws(() => new Link({ queue: 0 }), LinkConfigError);
});

test('realtime driver delivers after the delay on the wall clock', async () => {
  const got: number[] = [];
  const t0 = performance.now();
  let at = 0;
  await new Promise<void>((resolve) => {
    const rt = new RealtimeLink(new Link({ delay: 0.03 }), (b) => {
      for (let k = 0; k < b.count; k++) got.push(b.offs[k] as number);
      at = performance.now() - t0;
      if (got.length === 20) {
        rt.stop();
        resolve();
      }
    });
    rt.send(frames(20, 64));
  });
  assert.deepEqual(got, [...Array(20).keys()]);
  assert.ok(at >= 29, `delivered after ${at} ms`);
});
