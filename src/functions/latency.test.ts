import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketPool } from '../packet/pool.js';
import type { NetworkFunction, ProcessContext } from './contract.js';
import { LATENCY_LE_MS, LatencyMerge, addSummaries } from './latency.js';
import { trafficSourceFactory } from './traffic-source.js';
import { trafficSinkFactory, type TrafficSink } from './traffic-sink.js';
import { Harness } from './testing.js';

const L2 = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };

/** One second of a source's frames, as [flow id, send time, bytes]. */
function second(): { id: number; t: number; f: Uint8Array }[] {
  const src: NetworkFunction = trafficSourceFactory.create({
    flows: [
      { id: 1, kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.1.1' },
      { id: 2, kind: 'iptv', ...L2, src: '10.0.0.1', dst: '10.0.1.1', dstPort: 5000 },
    ],
  });
  const pool = new PacketPool({ slots: 256 });
  const out: { id: number; t: number; f: Uint8Array }[] = [];
  for (let t = 0; t <= 1000; t++) {
    const ctx: ProcessContext = {
      pool,
      now: t,
      out: {
        send(_p, slot, off, len) {
          const f = pool.bytes.slice(off, off + len);
          out.push({ id: f[42 + 7] === 2 ? 2 : 1, t, f });
          pool.release(slot);
        },
        drop: (slot) => pool.release(slot),
      },
    };
    src.tick?.(ctx);
  }
  return out;
}

test('LatencyMerge: quantiles of the merged sinks, not the average of their percentiles; exact cumulative buckets', () => {
  // Sink A sees the IPTV flow 1 ms after sending, sink B the VoIP flow 10 ms after.
  const a = trafficSinkFactory.create({}) as TrafficSink;
  const b = trafficSinkFactory.create({}) as TrafficSink;
  const ha = new Harness(a);
  const hb = new Harness(b);
  for (const { id, t, f } of second()) {
    const h = id === 2 ? ha : hb;
    h.now = t + (id === 2 ? 1 : 10);
    h.run(0, [f]);
  }
  const na = a.report()[0]!.received;
  const nb = b.report()[0]!.received;
  assert.ok(na > 700 && nb > 40, `${na} ${nb}`);
  const m = new LatencyMerge();
  assert.equal(m.addState(a.exportState()), true);
  assert.equal(m.addState(b.exportState()), true);
  assert.equal(m.addState({ routes: [] }), false, 'not a sink');
  assert.equal(m.addState({ flows: [{ hist: [999, 5, 'x', 1, 3] }, null, 7] }), true, 'malformed pairs skipped, never thrown');
  const s = m.summary();
  assert.equal(s.count, na + nb);
  // The upper edge of the 1 ms bucket (1.024 ms: 2^10 µs); averaging the sinks' p50s would give 5.5.
  assert.equal(s.p50Ms, 1.024);
  assert.equal(s.p99Ms, 10);
  assert.ok(Math.abs(s.sumMs - (na * 1 + nb * 10)) < 1e-6, `sum ${s.sumMs}`);
  // 1 ms ≤ 1.024 ms (bound 5), 10 ms in (4.096, 16.384] (bound 7).
  assert.equal(LATENCY_LE_MS[5], 1.024);
  assert.deepEqual(s.buckets.slice(0, 9), [0, 0, 0, 0, 0, na, na, na + nb, na + nb]);
  assert.equal(s.buckets.length, LATENCY_LE_MS.length);
  const two = addSummaries([s, s]);
  assert.deepEqual([two.count, two.buckets[5], two.sumMs], [2 * s.count, 2 * na, 2 * s.sumMs]);
  assert.deepEqual(new LatencyMerge().summary(), { p50Ms: 0, p99Ms: 0, count: 0, sumMs: 0, buckets: LATENCY_LE_MS.map(() => 0) });
});
