import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, fuzz } from './testing.js';
import { WifiRx, wifiRxFactory } from './wifi-rx.js';
import { wifiAccuracy } from './radio/trials.js';
import { IqFormat, Rng, concatSamples, encodeIqFrame, impair, toIqFrames } from './radio/iq.js';
import { wifiPpdu } from './radio/wifi.js';

test('wifi-rx: SIGNAL rate and LENGTH exact, parity checked, with CFO (±200 kHz) and timing offsets, over SNR', (t) => {
  const curve: string[] = [];
  for (const snr of [0, 3, 6, 10, 20, 30]) {
    const a = wifiAccuracy(snr, 30, 500 + snr);
    curve.push(`${snr} dB: ${a.correct}/${a.trials}`);
    if (snr >= 6) assert.ok(a.correct / a.trials >= 0.95, `${snr} dB: ${a.correct}/${a.trials}`);
    if (snr >= 10) assert.equal(a.falseResults, 0);
  }
  t.diagnostic(curve.join(', '));
});

test('wifi-rx: several packets per stream, three streams interleaved frame by frame, ci16 frames: each stream gets its own packets', () => {
  const rx = wifiRxFactory.create({ maxStreams: 3 }) as WifiRx;
  const r = new Rng(21);
  const truth = new Map<number, { rate: number; length: number; at: number }[]>();
  const perStream: Uint8Array[][] = [];
  for (let s = 0; s < 3; s++) {
    const parts: Float32Array[] = [];
    const list: { rate: number; length: number; at: number }[] = [];
    let at = 0;
    for (let k = 0; k < 4; k++) {
      const rate = [6, 12, 24, 54][(s + k) % 4]!;
      const length = 10 + r.int(1500);
      const gap = 200 + r.int(600);
      const p = impair(wifiPpdu({ rateMbps: rate, length, seed: k }), { snrDb: 20, cfoHz: (s - 1) * 80e3, sampleRate: 20e6, leadSamples: gap, seed: 10 * s + k });
      list.push({ rate, length, at: at + gap });
      at += p.length / 2;
      parts.push(p);
    }
    truth.set(100 + s, list);
    perStream.push(toIqFrames(100 + s, concatSamples(parts), 230, 0, s === 2 ? IqFormat.CI16 : IqFormat.CF32));
  }
  const frames: Uint8Array[] = [];
  for (let i = 0; i < Math.max(...perStream.map((f) => f.length)); i++) for (const f of perStream) if (f[i]) frames.push(f[i]!);
  new Harness(rx).run(0, frames);
  for (const [stream, list] of truth) {
    const got = rx.results().filter((q) => q.stream === stream);
    assert.deepEqual(got.map((q) => [q.rateMbps, q.length, q.valid]), list.map((t) => [t.rate, t.length, true]), `stream ${stream}`);
    for (let i = 0; i < list.length; i++) assert.ok(Math.abs(got[i]!.sampleIndex - list[i]!.at) <= 3);
    const cfo = (stream - 101) * 80e3;
    for (const q of got) assert.ok(Math.abs(q.cfoHz - cfo) < 5e3, `cfo ${q.cfoHz} vs ${cfo}`);
  }
});

test('wifi-rx: a gap in sample indices restarts the stream; state export keeps results; strict config; fuzz', () => {
  const rx = wifiRxFactory.create({}) as WifiRx;
  const x = impair(wifiPpdu({ rateMbps: 9, length: 33 }), { snrDb: 25, leadSamples: 300, tailSamples: 100, seed: 1 });
  const frames = toIqFrames(1, x, 200);
  frames.splice(1, 1); // lose the STF
  const h = new Harness(rx);
  h.run(0, frames);
  assert.equal((rx.counters() as Record<string, number>)['gaps'], 1);
  h.run(0, toIqFrames(1, x, 200, 100000));
  assert.deepEqual(rx.results().map((q) => [q.rateMbps, q.length, q.sampleIndex]), [[9, 33, 100300]]);
  const moved = wifiRxFactory.create({}) as WifiRx;
  moved.importState(JSON.parse(JSON.stringify(rx.exportState())));
  assert.deepEqual(moved.results(), rx.results());
  assert.throws(() => wifiRxFactory.create({ threshold: 2 }), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === 'threshold');
  const seed = encodeIqFrame(3, 0, x, 0, 200);
  fuzz(rx, [seed, encodeIqFrame(3, 200, x, 200, 200)], 3000, 5, { in: 'in', out: 'consumed', dropped: 'dropped' });
});

test('wifi-rx: with resultsPort, each decoded SIGNAL also leaves as a JSON frame on port 1', () => {
  const rx = wifiRxFactory.create({ resultsPort: true }) as WifiRx;
  const x = impair(wifiPpdu({ rateMbps: 48, length: 1234 }), { snrDb: 20, leadSamples: 250, tailSamples: 100, seed: 9 });
  const out = new Harness(rx).run(0, toIqFrames(6, x));
  assert.equal(out.sent.length, 1);
  assert.equal(out.sent[0]!.port, 1);
  const rec = JSON.parse(new TextDecoder().decode(out.sent[0]!.bytes.subarray(14))) as { stream: number; rateMbps: number; length: number; valid: boolean };
  assert.deepEqual([rec.stream, rec.rateMbps, rec.length, rec.valid], [6, 48, 1234, true]);
});
