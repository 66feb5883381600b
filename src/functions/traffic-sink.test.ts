import { test } from 'node:test';
import assert from 'node:assert/strict';
import { udpFrame } from '../packet/frames.js';
import { PacketPool } from '../packet/pool.js';
import type { NetworkFunction, ProcessContext } from './contract.js';
import { trafficSourceFactory } from './traffic-source.js';
import { TrafficSink, bucketUpperMs, latencyBucket, trafficSinkFactory, type FlowReport } from './traffic-sink.js';
import { Harness, counter, fuzz, rng } from './testing.js';

const L2 = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };

function tickFrames(fn: NetworkFunction, pool: PacketPool, now: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const ctx: ProcessContext = {
    pool,
    now,
    out: {
      send(_port, slot, off, len) {
        frames.push(pool.bytes.slice(off, off + len));
        pool.release(slot);
      },
      drop(slot) {
        pool.release(slot);
      },
    },
  };
  fn.tick?.(ctx);
  return frames;
}

const flows = [
  { id: 1, kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.1.1' },
  { id: 2, kind: 'iptv', ...L2, src: '10.0.0.1', dst: '10.0.1.1', dstPort: 5000 },
  { id: 3, kind: 'ping', ...L2, src: 'fd00::1', dst: 'fd00::2', intervalMs: 50 },
];

/** Runs the source for `ms` with 1 ms ticks; returns [sendTime, frame] in order. */
function generate(ms: number, cfg: unknown = { flows }): [number, Uint8Array][] {
  const src = trafficSourceFactory.create(cfg);
  const pool = new PacketPool({ slots: 256 });
  const out: [number, Uint8Array][] = [];
  for (let t = 0; t <= ms; t++) for (const f of tickFrames(src, pool, t)) out.push([t, f]);
  return out;
}

const byId = (s: TrafficSink, id: number): FlowReport => s.report().find((r) => r.id === id)!;

test('traffic endpoints: a source → sink loop with a constant delay measures zero loss and the delay', () => {
  const sent = generate(1000);
  const sink = trafficSinkFactory.create({}) as TrafficSink;
  const h = new Harness(sink);
  for (const [t, f] of sent) {
    h.now = t + 5;
    h.run(0, [f]);
  }
  const v = byId(sink, 1);
  assert.deepEqual([v.received, v.lost, v.duplicates, v.reordered], [51, 0, 0, 0]);
  assert.deepEqual([v.latencyMinMs, v.latencyP50Ms, v.latencyP99Ms, v.latencyMaxMs, v.jitterMs], [5, 5, 5, 5, 0]);
  const tv = byId(sink, 2);
  assert.deepEqual([tv.received, tv.lost], [760, 0]);
  assert.equal(tv.bytes, 760 * (14 + 20 + 8 + 1316));
  assert.deepEqual([byId(sink, 3).received, byId(sink, 3).lost], [21, 0]);
  assert.equal(counter(sink.counters(), 'measured'), 51 + 760 + 21);
});

test('traffic endpoints: injected loss, duplicates and reordering are detected exactly; jitter follows RFC 3550', () => {
  const sent = generate(2000, { flows: [flows[0]] }).map(([t, f]) => ({ t, f }));
  assert.equal(sent.length, 101);
  const r = rng(3);
  // delays 2..12 ms
  const delay = sent.map(() => 2 + (r() % 11));
  const arrivals: { at: number; f: Uint8Array; seq: number }[] = [];
  sent.forEach((s, seq) => {
    if (seq === 3 || seq === 40 || seq === 41) return; // 3 lost
    arrivals.push({ at: s.t + delay[seq]!, f: s.f, seq });
    if (seq === 10 || seq === 60) arrivals.push({ at: s.t + delay[seq]! + 1, f: s.f, seq }); // 2 duplicates
  });
  // seq 20 arrives after 21 and 22 (one reordered packet); seq 90 after 95
  const move = (seq: number, after: number): void => {
    const i = arrivals.findIndex((a) => a.seq === seq);
    const [a] = arrivals.splice(i, 1);
    const j = arrivals.findIndex((x) => x.seq === after);
    arrivals.splice(j + 1, 0, a!);
  };
  move(20, 22);
  move(90, 95);
  const sink = trafficSinkFactory.create({}) as TrafficSink;
  const h = new Harness(sink);
  let t = 0;
  for (const a of arrivals) {
    t = Math.max(t, a.at);
    h.now = t;
    h.run(0, [a.f]);
  }
  const v = byId(sink, 1);
  assert.deepEqual([v.expected, v.received, v.lost, v.duplicates, v.reordered], [101, 98, 3, 2, 2]);
  // Independent RFC 3550 jitter over the same arrivals (duplicates excluded, as the sink does).
  let J = 0;
  let last = NaN;
  const seen = new Set<number>();
  t = 0;
  for (const a of arrivals) {
    t = Math.max(t, a.at);
    if (seen.has(a.seq)) continue;
    seen.add(a.seq);
    const transit = t - sent[a.seq]!.t;
    if (!Number.isNaN(last)) J += (Math.abs(transit - last) - J) / 16;
    last = transit;
  }
  assert.ok(Math.abs(v.jitterMs - J) < 1e-9, `${v.jitterMs} vs ${J}`);
  assert.ok(v.jitterMs > 1);
});

test('traffic-sink: latency percentiles from the fixed histogram are within one bucket (≤ 9%)', () => {
  const sent = generate(999, { flows: [{ id: 9, kind: 'udp', ...L2, src: '10.0.0.1', dst: '10.0.0.2', intervalMs: 1, payloadBytes: 20 }] });
  const sink = trafficSinkFactory.create({}) as TrafficSink;
  const h = new Harness(sink);
  // delay of packet k: 1 + (k · 37 mod 100) ms, a permutation of 1..100 per block of 100
  sent.forEach(([t, f], k) => {
    h.now = t + 1 + ((k * 37) % 100);
    h.run(0, [f]);
  });
  const v = byId(sink, 9);
  assert.equal(v.received, 1000);
  assert.ok(v.latencyP50Ms >= 50 && v.latencyP50Ms <= 50 * 1.0905, String(v.latencyP50Ms));
  assert.ok(v.latencyP99Ms >= 99 && v.latencyP99Ms <= 100, String(v.latencyP99Ms));
  assert.equal(v.latencyMinMs, 1);
  assert.equal(v.latencyMaxMs, 100);
  for (const ms of [0.0005, 0.001, 0.5, 3, 77, 1e5]) assert.ok(bucketUpperMs(latencyBucket(ms)) >= ms || latencyBucket(ms) === 255);
});

test('traffic-sink: corrupt payloads and foreign frames are counted, not measured; state survives export/import', () => {
  const sent = generate(100, { flows: [flows[0]] });
  const sink = trafficSinkFactory.create({}) as TrafficSink;
  const h = new Harness(sink);
  const bad = sent[0]![1].slice();
  bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
  h.run(0, [bad, udpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, payload: new Uint8Array(30) })]);
  assert.equal(counter(sink.counters(), 'corrupt'), 1);
  assert.equal(counter(sink.counters(), 'foreign'), 1);
  h.run(0, sent.slice(0, 3).map((x) => x[1]));
  const state = JSON.parse(JSON.stringify(sink.exportState())) as Parameters<TrafficSink['importState']>[0];
  const sink2 = trafficSinkFactory.create({}) as TrafficSink;
  sink2.importState(state);
  const h2 = new Harness(sink2);
  h2.run(0, [sent[2]![1], sent[5]![1]]); // a duplicate of 2, then 5 (3 and 4 missing)
  const v = byId(sink2, 1);
  assert.deepEqual([v.received, v.duplicates, v.lost], [4, 1, 2]);
});

test('traffic-sink: fuzz 100,000 mutated frames: no exception, everything consumed', () => {
  const sink = trafficSinkFactory.create({ maxFlows: 16 });
  const seeds = generate(60).map((x) => x[1]);
  fuzz(sink, seeds, 100_000, 11);
  assert.ok(counter(sink.counters(), 'measured') > 1000);
});

test('traffic endpoints, firewall, nat: factory ports() parse as create() does', async () => {
  const { firewallFactory } = await import('./firewall.js');
  const { natFactory } = await import('./nat.js');
  const fwCfg = { interfaces: [{ name: 'lan' }, { name: 'wan' }] };
  const natCfg = { interfaces: { inside: 'lan', outside: 'wan' }, snat: { addresses: ['203.0.113.1'] } };
  const srcCfg = { port: 'gen', flows: [{ kind: 'ping', ...L2, src: '10.0.0.1', dst: '10.0.0.2' }] };
  for (const [f, cfg] of [[firewallFactory, fwCfg], [natFactory, natCfg], [trafficSourceFactory, srcCfg], [trafficSinkFactory, { port: 'meter' }]] as const) {
    assert.deepEqual(f.ports?.(cfg), f.create(cfg).ports);
    assert.throws(() => f.ports?.({ bogus: 1 }), (e: Error) => e.name === 'ConfigError');
  }
});
