import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, fuzz } from './testing.js';
import { LteCellSearch, lteCellSearchFactory } from './lte-cellsearch.js';
import { lteAccuracy } from './radio/trials.js';
import { Rng, encodeIqFrame, impair, toIqFrames } from './radio/iq.js';
import { lteFrame } from './radio/lte.js';

test('lte-cellsearch: cell id and frame timing over SNR (random cells, CFO ±3 kHz, random timing)', (t) => {
  const curve: string[] = [];
  for (const snr of [-5, 0, 5, 10, 20]) {
    const a = lteAccuracy(snr, 12, 900 + snr);
    curve.push(`${snr} dB: ${a.correct}/${a.trials}`);
    if (snr >= 0) {
      assert.ok(a.correct / a.trials >= 0.95, `${snr} dB: ${a.correct}/${a.trials}`);
      assert.equal(a.falseResults, 0);
    }
  }
  t.diagnostic(curve.join(', '));
});

test('lte-cellsearch: a spread of cell ids covering every N_ID2 and N_ID1 from 0 to 167 at 5 dB', () => {
  // 56 cells: N_ID1 = 0, 3, 6, … 165 and 167, with N_ID2 cycling 0, 1, 2.
  const cells: number[] = [];
  for (let n1 = 0; n1 < 168; n1 += 3) cells.push(3 * n1 + (n1 % 3 === 0 ? (n1 / 3) % 3 : 0));
  cells.push(3 * 167 + 2);
  const a = lteAccuracy(5, cells.length, 77, cells);
  assert.equal(a.correct, a.trials);
});

test('lte-cellsearch: two antennas with different cells multiplexed on one instance stay apart', () => {
  const cs = lteCellSearchFactory.create({ maxStreams: 2 }) as LteCellSearch;
  const a = toIqFrames(1, impair(lteFrame({ cellId: 17, frames: 2 }), { snrDb: 10, leadSamples: 1234, seed: 1 }));
  const b = toIqFrames(2, impair(lteFrame({ cellId: 480, frames: 2, seed: 2 }), { snrDb: 10, leadSamples: 9000, cfoHz: -1500, sampleRate: 1.92e6, seed: 2 }));
  const frames: Uint8Array[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) frames.push(a[i]!);
    if (b[i]) frames.push(b[i]!);
  }
  new Harness(cs).run(0, frames);
  const s1 = cs.results().filter((r) => r.stream === 1);
  const s2 = cs.results().filter((r) => r.stream === 2);
  assert.ok(s1.length >= 3 && s2.length >= 2);
  for (const r of s1) assert.deepEqual([r.cellId, ((r.frameStart - 1234) % 19200 + 19200) % 19200], [17, 0]);
  for (const r of s2) {
    assert.deepEqual([r.cellId, ((r.frameStart - 9000) % 19200 + 19200) % 19200], [480, 0]);
    assert.ok(Math.abs(r.cfoHz + 1500) < 300, `cfo ${r.cfoHz}`);
  }
  // Subframes alternate 0, 5, 0, … along a stream.
  for (let i = 1; i < s1.length; i++) assert.notEqual(s1[i]!.subframe, s1[i - 1]!.subframe);
  assert.deepEqual(cs.cells().map((r) => [r.stream, r.cellId]), [[1, 17], [2, 480]]);
});

test('lte-cellsearch: noise alone reports nothing; state export; strict config; fuzz', () => {
  const cs = lteCellSearchFactory.create({}) as LteCellSearch;
  new Harness(cs).run(0, toIqFrames(9, impair(new Float32Array(2 * 60000), { snrDb: 0, signalPower: 1, seed: 4 })));
  assert.equal(cs.results().length, 0);
  new Harness(cs).run(0, toIqFrames(3, lteFrame({ cellId: 250, frames: 2 })));
  const moved = lteCellSearchFactory.create({}) as LteCellSearch;
  moved.importState(JSON.parse(JSON.stringify(cs.exportState())));
  assert.deepEqual(moved.results(), cs.results());
  assert.ok(moved.results().every((r) => r.cellId === 250));
  assert.throws(() => lteCellSearchFactory.create({ trackWindow: 1 }), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === 'trackWindow');
  const x = new Rng(1);
  const s = new Float32Array(400).map(() => x.gauss());
  fuzz(cs, [encodeIqFrame(1, 0, s, 0, 200), encodeIqFrame(1, 200, s, 0, 200)], 3000, 9, { in: 'in', out: 'consumed', dropped: 'dropped' });
});

test('lte-cellsearch: with resultsPort, each result also leaves as a JSON frame (EtherType 0x88B6) on port 1', () => {
  const cs = lteCellSearchFactory.create({ resultsPort: true }) as LteCellSearch;
  assert.deepEqual(cs.ports.map((p) => p.name), ['in', 'results']);
  assert.deepEqual(lteCellSearchFactory.ports?.({ resultsPort: true })?.map((p) => p.name), ['in', 'results']);
  const out = new Harness(cs).run(0, toIqFrames(4, impair(lteFrame({ cellId: 77, frames: 2 }), { snrDb: 15, leadSamples: 500, seed: 3 })));
  assert.ok(out.sent.length >= 3);
  assert.equal(out.sent.length, cs.results().length);
  for (const f of out.sent) {
    assert.equal(f.port, 1);
    assert.equal((f.bytes[12]! << 8) | f.bytes[13]!, 0x88b6);
    const rec = JSON.parse(new TextDecoder().decode(f.bytes.subarray(14))) as { stream: number; cellId: number };
    assert.deepEqual([rec.stream, rec.cellId], [4, 77]);
  }
});
