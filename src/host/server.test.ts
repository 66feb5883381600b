import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../packet/pool.js';
import { EmulatedServer, Histogram } from './server.js';

function frames(n: number, len = 64): Batch {
  const b = new Batch(n);
  for (let k = 0; k < n; k++) b.push(k, k, len);
  return b;
}

test('capacity is enforced: a saturating network gets capacity × time, no more', () => {
  let t = 0;
  const srv = new EmulatedServer({ capacity: 10_000, unit: 'packets', clock: () => t });
  let handled = 0;
  srv.addNetwork('a', { allocation: 64, handler: (b) => (handled += b.count) });
  const b = frames(256);
  for (let ms = 0; ms <= 1000; ms++) {
    t = ms / 1000;
    if (ms % 10 === 0) srv.submit('a', b, t);
    srv.serve(t);
  }
  assert.ok(Math.abs(handled - 10_000) <= 1, `${handled}`);
  const st = srv.stats();
  assert.ok(Math.abs(st.work - st.capacityWork) <= 1);
  assert.equal(st.networks[0]?.served, handled);
});

test('two emulated servers on one machine each keep their own capacity', () => {
  let t = 0;
  const big = new EmulatedServer({ capacity: 8000, unit: 'packets', clock: () => t });
  const small = new EmulatedServer({ capacity: 2000, unit: 'packets', clock: () => t });
  const got = { big: 0, small: 0 };
  big.addNetwork('n', { allocation: 64, handler: (b) => (got.big += b.count) });
  small.addNetwork('n', { allocation: 64, handler: (b) => (got.small += b.count) });
  for (let ms = 0; ms <= 500; ms++) {
    t = ms / 1000;
    big.submit('n', frames(20), t);
    small.submit('n', frames(20), t);
    big.serve(t);
    small.serve(t);
  }
  assert.ok(Math.abs(got.big - 4000) <= 1 && Math.abs(got.small - 1000) <= 1, JSON.stringify(got));
});

test('10/5/1 networks saturating share the server 62.5/31.25/6.25 %', () => {
  let t = 0;
  const srv = new EmulatedServer({ capacity: 100_000, unit: 'packets', clock: () => t });
  const served = [0, 0, 0];
  [10, 5, 1].forEach((a, i) => srv.addNetwork(`n${i}`, { allocation: a * 64, handler: (b) => (served[i] = (served[i] as number) + b.count) }));
  const b = frames(256);
  for (let ms = 0; ms < 2000; ms++) {
    t = ms / 1000;
    for (let i = 0; i < 3; i++) while ((srv.stats().networks[i]?.queued ?? 0) < 1000) srv.submit(`n${i}`, b, t);
    srv.serve(t);
  }
  const total = served.reduce((x, y) => x + y, 0);
  assert.ok(Math.abs((served[0] as number) / total - 0.625) < 0.002);
  assert.ok(Math.abs((served[1] as number) / total - 0.3125) < 0.002);
  assert.ok(Math.abs((served[2] as number) / total - 0.0625) < 0.002);
});

test('cpu unit: shares are of CPU time, measured per batch', () => {
  let t = 0;
  const srv = new EmulatedServer({ capacity: 0.5e9, unit: 'cpu', clock: () => t, cpuEstimate: 1000 });
  const served = [0, 0];
  // Network 0's frames take 4 µs of CPU each, network 1's 1 µs: equal allocations mean equal time.
  const cost = [4e-6, 1e-6];
  for (let i = 0; i < 2; i++)
    srv.addNetwork(`n${i}`, {
      allocation: 200_000,
      handler: (b) => {
        t += b.count * (cost[i] as number);
        served[i] = (served[i] as number) + b.count;
      },
    });
  const b = frames(64);
  for (let step = 0; step < 4000; step++) {
    for (let i = 0; i < 2; i++) while ((srv.stats().networks[i]?.queued ?? 0) < 500) srv.submit(`n${i}`, b, t);
    t += 0.0005;
    srv.serve(t);
  }
  const time0 = (served[0] as number) * 4e-6;
  const time1 = (served[1] as number) * 1e-6;
  assert.ok(Math.abs(time0 / (time0 + time1) - 0.5) < 0.02, `${time0} vs ${time1}`);
});

test('queue limit tail-drops and hands the dropped descriptors back; sojourn times recorded', () => {
  let t = 0;
  const srv = new EmulatedServer({ capacity: 1000, unit: 'packets', queueLimit: 100, clock: () => t });
  srv.addNetwork('a', { allocation: 10, handler: () => undefined });
  const dropped = new Batch(256);
  assert.equal(srv.submit('a', frames(150), 0, dropped), 100);
  assert.equal(dropped.count, 50);
  assert.equal(dropped.offs[0], 100);
  for (let ms = 1; ms <= 100; ms++) {
    t = ms / 1000;
    srv.serve(t);
  }
  const st = srv.stats().networks[0];
  assert.equal(st?.served, 100);
  assert.equal(st?.dropped, 50);
  // Served at 1 per ms from t = 1 ms: sojourn times spread uniformly over 1..100 ms.
  assert.ok(Math.abs((st?.p50 ?? 0) - 0.05) < 0.002, String(st?.p50));
  assert.ok(Math.abs((st?.p99 ?? 0) - 0.099) < 0.002, String(st?.p99));
  assert.throws(() => srv.submit('nope', frames(1), 0), (e: Error) => e.name === 'UnknownNetworkError');
});

test('histogram quantiles are within 1 %', () => {
  const h = new Histogram();
  for (let k = 1; k <= 10000; k++) h.record(k * 1e-6);
  assert.ok(Math.abs(h.quantile(0.5) / 5e-3 - 1) < 0.011);
  assert.ok(Math.abs(h.quantile(0.99) / 9.9e-3 - 1) < 0.011);
});

test('elastic sizing: an allocation changed at run time shifts the shares without dropping a frame', () => {
  let t = 0;
  const srv = new EmulatedServer({ capacity: 10_000, unit: 'packets', clock: () => t, queueLimit: 1 << 20 });
  const served = [0, 0];
  for (let i = 0; i < 2; i++) srv.addNetwork(`n${i}`, { allocation: 64, handler: (b) => (served[i] = (served[i] as number) + b.count) });
  const b = frames(50);
  let submitted = 0;
  const phase = (ms: number): number[] => {
    const before = [...served];
    for (let k = 0; k < ms; k++) {
      t += 0.001;
      for (let i = 0; i < 2; i++) {
        srv.submit(`n${i}`, b, t); // 2 × 50 frames/ms offered against 10 frames/ms of capacity
        submitted += 50;
      }
      srv.serve(t);
    }
    return served.map((s, i) => s - (before[i] as number));
  };
  const night = phase(500);
  srv.setAllocation('n0', 192); // the peak: network 0 gets 3:1
  const peak = phase(500);
  assert.ok(Math.abs((night[0] as number) / ((night[0] as number) + (night[1] as number)) - 0.5) < 0.01, String(night));
  assert.ok(Math.abs((peak[0] as number) / ((peak[0] as number) + (peak[1] as number)) - 0.75) < 0.01, String(peak));
  const st = srv.stats().networks;
  assert.equal(st.reduce((s, n) => s + n.dropped, 0), 0);
  assert.equal(st.reduce((s, n) => s + n.served + n.queued, 0), submitted, 'every frame is served or still queued');
});
