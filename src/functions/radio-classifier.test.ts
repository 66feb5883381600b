import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, fuzz } from './testing.js';
import { CLASSIFIER_PORTS, RadioClassifier, radioClassifierFactory } from './radio-classifier.js';
import { classifierAccuracy, classifierWaveform, verdict } from './radio/trials.js';
import { Rng, encodeIqFrame, toIqFrames } from './radio/iq.js';

test('radio-classifier: accuracy against the generators over SNR (≥ 95 % at ≥ 10 dB)', (t) => {
  const curve: string[] = [];
  for (const snr of [-5, 0, 5, 10, 20, 30]) {
    const a = classifierAccuracy(snr, 24, 1000 + snr);
    curve.push(`${snr} dB: ${((100 * a.correct) / a.trials).toFixed(0)} %`);
    if (snr >= 10) assert.ok(a.correct / a.trials >= 0.95, `${snr} dB: ${a.correct}/${a.trials} ${JSON.stringify(a.confusion)}`);
    // Noise is never called a technology, at any SNR.
    assert.equal(a.confusion['noise→wifi'] ?? 0, 0);
    assert.equal(a.confusion['noise→lte'] ?? 0, 0);
  }
  t.diagnostic(curve.join(', '));
});

test('radio-classifier: one antenna, two technologies interleaved on two streams: frames reach the right ports, streams stay apart', () => {
  const c = radioClassifierFactory.create({ maxStreams: 4 }) as RadioClassifier;
  const h = new Harness(c);
  const r = new Rng(7);
  const wifi = toIqFrames(1, classifierWaveform('wifi', 15, r));
  const lte = toIqFrames(2, classifierWaveform('lte', 15, r));
  const frames: Uint8Array[] = [];
  for (let i = 0; i < Math.max(wifi.length, lte.length); i++) {
    if (wifi[i]) frames.push(wifi[i]!);
    if (lte[i]) frames.push(lte[i]!);
  }
  const out = h.run(CLASSIFIER_PORTS.in, frames);
  assert.equal(verdict(c, 1), 'wifi');
  assert.equal(verdict(c, 2), 'lte');
  const perPort = [0, 0, 0, 0];
  for (const s of out.sent) perPort[s.port]!++;
  assert.equal(perPort[0], 0);
  assert.ok(perPort[1]! >= 10 && perPort[2]! >= 80, `ports ${perPort}`);
  for (const s of out.sent) {
    const stream = (s.bytes[18]! << 24) | (s.bytes[19]! << 16) | (s.bytes[20]! << 8) | s.bytes[21]!;
    if (s.port === CLASSIFIER_PORTS.wifi) assert.equal(stream, 1);
    if (s.port === CLASSIFIER_PORTS.lte) assert.equal(stream, 2);
  }
  for (const b of c.results()) assert.equal(b.technology, b.stream === 1 ? 'wifi' : 'lte');
});

test('radio-classifier: exported state continues exactly in a new instance (migration)', () => {
  const r = new Rng(3);
  const frames = toIqFrames(5, classifierWaveform('lte', 10, r));
  const half = frames.length >> 1;
  const a = radioClassifierFactory.create({}) as RadioClassifier;
  new Harness(a).run(0, frames);
  const b = radioClassifierFactory.create({}) as RadioClassifier;
  new Harness(b).run(0, frames.slice(0, half));
  const moved = radioClassifierFactory.create({}) as RadioClassifier;
  moved.importState(JSON.parse(JSON.stringify(b.exportState())));
  new Harness(moved).run(0, frames.slice(half));
  assert.deepEqual(moved.results(), a.results());
  assert.throws(() => moved.importState({ streams: [{ id: 1 }], results: [] }), (e: Error) => e.name === 'ConfigError');
});

test('radio-classifier: strict config; malformed, foreign and mutated frames are counted and dropped', () => {
  assert.throws(() => radioClassifierFactory.create({ maxStreams: 0 }), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === 'maxStreams');
  assert.throws(() => radioClassifierFactory.create({ bogus: 1 }), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === 'bogus');
  assert.deepEqual(radioClassifierFactory.ports?.({})?.map((p) => p.name), ['in', 'wifi', 'lte', 'other']);
  const c = radioClassifierFactory.create({ maxStreams: 1 }) as RadioClassifier;
  const x = new Float32Array(400);
  const good = encodeIqFrame(1, 0, x, 0, 200);
  const bad = good.slice(0, 100);
  const foreign = good.slice();
  foreign[12] = 0x08;
  foreign[13] = 0x00;
  new Harness(c).run(0, [bad, foreign, encodeIqFrame(2, 0, x, 0, 1), encodeIqFrame(3, 0, x, 0, 1)]);
  const k = c.counters() as Record<string, number>;
  assert.equal(k['malformed'], 1);
  assert.equal(k['foreign'], 1);
  assert.equal(k['streamsFull'], 1);
  fuzz(c, [good, encodeIqFrame(7, 200, x, 0, 150)], 3000, 11);
});
