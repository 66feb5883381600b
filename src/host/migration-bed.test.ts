import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../packet/pool.js';
import { TEST_MAGIC } from '../functions/traffic-source.js';
import { GapMeter } from './migration-bed.js';

/** One test frame per flow, 64 bytes each, test header at byte 42: magic, flow id, sequence, emission time. */
function frames(flows: readonly { id: number; emit: number }[]): { bytes: Uint8Array; batch: Batch } {
  const bytes = new Uint8Array(64 * flows.length);
  const dv = new DataView(bytes.buffer);
  const batch = new Batch(flows.length);
  flows.forEach((f, i) => {
    const off = 64 * i;
    dv.setUint32(off + 42, TEST_MAGIC);
    dv.setUint32(off + 46, f.id);
    dv.setUint32(off + 50, i);
    dv.setFloat64(off + 54, f.emit);
    batch.push(i, off, 64);
  });
  return { bytes, batch };
}

test('gap meter: the longest gap per flow, split into the source emission gap and the path latency', () => {
  const g = new GapMeter();
  g.reset();
  const t = performance.now() + 1000;
  // Flow 1 is emitted every 1 ms; the frame emitted at t+3 arrives 4 ms late (the path stalled).
  for (const [emit, at] of [[0, 0.1], [1, 1.1], [2, 2.1], [3, 7.1], [4, 7.2]] as const) {
    const f = frames([{ id: 1, emit: t + emit }]);
    g.observe(f.bytes, f.batch, t + at);
  }
  // Flow 2: the source sent nothing for 6 ms (emission gap), the path was fast.
  for (const [emit, at] of [[0, 0.2], [6, 6.2]] as const) {
    const f = frames([{ id: 2, emit: t + emit }]);
    g.observe(f.bytes, f.batch, t + at);
  }
  const l = g.longest();
  assert.equal(l.flow, 2);
  assert.ok(Math.abs(l.ms - 6) < 1e-9 && Math.abs(l.emitMs - 6) < 1e-9 && Math.abs(l.latencyAfterMs - 0.2) < 1e-9);
  assert.ok(Math.abs(g.of(1) - 5) < 1e-9);
  g.resetMax();
  const f = frames([{ id: 1, emit: t + 5 }]);
  g.observe(f.bytes, f.batch, t + 12.1);
  const m = g.longest();
  assert.equal(m.flow, 1);
  assert.ok(Math.abs(m.ms - 4.9) < 1e-9 && Math.abs(m.emitMs - 1) < 1e-9 && Math.abs(m.latencyBeforeMs - 3.2) < 1e-9 && Math.abs(m.latencyAfterMs - 7.1) < 1e-9, JSON.stringify(m));
});

test('gap meter: mark() measures per flow the gap spanning one instant, max over flows; reset() opens no gap across it', () => {
  const g = new GapMeter();
  const t = performance.now() - 100;
  const at = (id: number, time: number): void => {
    const f = frames([{ id, emit: time }]);
    g.observe(f.bytes, f.batch, time);
  };
  at(1, t);
  at(2, t + 1);
  // A reset: the first arrivals after it open no gap of longest(), but a mark still spans them.
  g.reset();
  g.mark();
  const t2 = performance.now() + 1000;
  at(1, t2);
  at(2, t2 + 0.5);
  at(1, t2 + 3);
  assert.equal(g.longest().flow, 1);
  assert.ok(Math.abs(g.longest().ms - 3) < 1e-9);
  const s = g.spanning();
  assert.equal(s.flow, 1);
  assert.ok(Math.abs(s.ms - (t2 - t)) < 1e-9);
  // A second mark forgets the first; only the first arrival of each flow after it counts.
  g.mark();
  at(2, t2 + 4.5);
  at(1, t2 + 4);
  at(2, t2 + 20);
  const s2 = g.spanning();
  assert.equal(s2.flow, 2);
  assert.ok(Math.abs(s2.ms - 4) < 1e-9, JSON.stringify(s2));
});

test('gap meter: boundary() splits each flow by sequence number (old instance below, new from it on); switchover() goes negative when the new overtook the old; longestIn() reads recorded arrivals within a window', () => {
  const g = new GapMeter();
  const t = performance.now();
  const at = (id: number, seq: number, time: number): void => {
    const bytes = new Uint8Array(64);
    const dv = new DataView(bytes.buffer);
    dv.setUint32(42, TEST_MAGIC);
    dv.setUint32(46, id);
    dv.setUint32(50, seq);
    dv.setFloat64(54, time - 0.1);
    const b = new Batch(1);
    b.push(0, 0, 64);
    g.observe(bytes, b, time);
  };
  g.record(true);
  at(1, 0, t);
  at(2, 0, t);
  at(1, 1, t + 1);
  g.boundary(new Map([[1, 3], [2, 1]]));
  // Flow 1: seq 2 (old) arrives after seq 3 and 4 (new): overlap of 0.5 ms.
  at(1, 3, t + 1.5);
  at(1, 4, t + 1.8);
  at(1, 2, t + 2);
  // Flow 2: the new instance's first frame 4 ms after the old one's last.
  at(2, 1, t + 4);
  const s = g.switchover();
  assert.equal(s.flow, 2);
  assert.ok(Math.abs(s.ms - 4) < 1e-9 && Math.abs(s.latencyAfterMs - 0.1) < 1e-9, JSON.stringify(s));
  g.boundary(new Map([[1, 3]]));
  at(1, 5, t + 2.1);
  assert.ok(Math.abs(g.switchover().ms - 0.1) < 1e-9, 'no old frame since the boundary: from the last arrival before it');
  g.boundary(new Map([[1, 7]]));
  at(1, 7, t + 2.2);
  at(1, 6, t + 2.5);
  assert.ok(Math.abs(g.switchover().ms + 0.3) < 1e-9, 'negative: the new instance overtook the old');
  g.record(false);
  at(1, 8, t + 10);
  assert.deepEqual(g.recordedFlows().sort(), [1, 2]);
  // Flow 1 arrivals: 0, 1, 1.5, 1.8, 2, 2.1, 2.2, 2.5 (10 not recorded).
  assert.ok(Math.abs(g.longestIn(1, t, t + 20) - 1) < 1e-9);
  assert.ok(Math.abs(g.longestIn(1, t + 0.5, t + 20) - 0.5) < 1e-9, 'a gap opened before the window does not count');
  assert.equal(g.longestIn(2, t + 1, t + 3), 0);
  g.record(true);
  assert.equal(g.longestIn(1, t, t + 20), 0, 'a new record forgets the last');
});
