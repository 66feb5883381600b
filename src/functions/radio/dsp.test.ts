import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fft } from './fft.js';
import { IQ_FOREIGN, IQ_MALFORMED, IQ_OK, IqFormat, IqHeader, Rng, encodeIqFrame, impair, meanPower, parseIqHeader, readIqSamples } from './iq.js';
import { LTF_TIME, STF_TIME, Viterbi, convEncode, interleaverTable, signalBits, wifiPpdu, dataSymbols, PILOT_POLARITY } from './wifi.js';
import { LTE_FRAME, lteFrame, pssSequence, sssIndices, sssSequence } from './lte.js';

test('fft: forward matches a direct DFT, inverse restores the input', () => {
  const r = new Rng(3);
  for (const n of [2, 8, 64, 128, 1024]) {
    const x = new Float32Array(2 * n);
    for (let i = 0; i < 2 * n; i++) x[i] = r.gauss();
    const y = x.slice();
    const f = new Fft(n);
    f.forward(y);
    for (const k of [0, 1, n >> 1, n - 1]) {
      let re = 0;
      let im = 0;
      for (let t = 0; t < n; t++) {
        const ph = (-2 * Math.PI * k * t) / n;
        re += x[2 * t]! * Math.cos(ph) - x[2 * t + 1]! * Math.sin(ph);
        im += x[2 * t]! * Math.sin(ph) + x[2 * t + 1]! * Math.cos(ph);
      }
      assert.ok(Math.abs(re - y[2 * k]!) < 1e-3 * n && Math.abs(im - y[2 * k + 1]!) < 1e-3 * n, `n=${n} k=${k}`);
    }
    f.inverse(y);
    for (let i = 0; i < 2 * n; i++) assert.ok(Math.abs(y[i]! - x[i]!) < 1e-4, `roundtrip n=${n}`);
  }
  assert.throws(() => new Fft(100), RangeError);
});

test('wifi: STF repeats every 16 samples, LTF power, interleaver is a permutation, SIGNAL bits and the convolutional code', () => {
  for (let i = 0; i < 48; i++) assert.ok(Math.abs(STF_TIME[2 * i]! - STF_TIME[2 * (i + 16)]!) < 1e-6);
  // Both training symbols have the power of 52 unit subcarriers over 64 samples (STF: 12 × 2 × 13/6 = 52).
  assert.ok(Math.abs(meanPower(STF_TIME) - 52 / 4096) < 1e-5 && Math.abs(meanPower(LTF_TIME) - 52 / 4096) < 1e-5);
  const il = interleaverTable(48, 1);
  assert.equal(new Set(il).size, 48);
  assert.equal(il[1], 3); // k = 1 → (48/16)·1 = 3
  assert.equal(new Set(interleaverTable(288, 6)).size, 288);
  // 6 Mb/s, LENGTH 100 = 0b000001100100: R1..R4 = 1101, reserved 0, length LSB first, even parity.
  const b = signalBits(6, 100);
  assert.deepEqual(Array.from(b.subarray(0, 17)), [1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  assert.equal(b[17], 0);
  assert.deepEqual(Array.from(b.subarray(18)), [0, 0, 0, 0, 0, 0]);
  // An impulse shows the generators: 133₈ = 1011011, 171₈ = 1111001 (newest bit first).
  const imp = convEncode(Uint8Array.of(1, 0, 0, 0, 0, 0, 0));
  assert.deepEqual(Array.from(imp), [1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1]);
  // Soft Viterbi corrects scattered errors.
  const r = new Rng(9);
  const v = new Viterbi(24);
  const out = new Uint8Array(24);
  for (let trial = 0; trial < 50; trial++) {
    const bits = signalBits([6, 9, 12, 18, 24, 36, 48, 54][r.int(8)]!, 1 + r.int(4095));
    const c = convEncode(bits);
    const soft = new Float32Array(48);
    for (let i = 0; i < 48; i++) soft[i] = c[i] ? 1 : -1;
    soft[r.int(48)] = -soft[r.int(48)]!;
    const at = 10 + r.int(20);
    soft[at] = -soft[at]!;
    v.decode(soft, 24, true, out);
    assert.deepEqual(Array.from(out), Array.from(bits));
  }
  assert.deepEqual(Array.from(PILOT_POLARITY.subarray(0, 8)), [1, 1, 1, 1, -1, -1, -1, 1]);
  assert.equal(dataSymbols(6, 100), Math.ceil((16 + 800 + 6) / 24));
  assert.equal(wifiPpdu({ rateMbps: 54, length: 1500 }).length / 2, 400 + 80 * dataSymbols(54, 1500));
});

test('lte: PSS is constant-amplitude Zadoff–Chu; SSS sequences differ for all 168 × 2 (N_ID1, subframe) per N_ID2', () => {
  for (let u = 0; u < 3; u++) {
    const d = pssSequence(u);
    for (let n = 0; n < 62; n++) assert.ok(Math.abs(Math.hypot(d[2 * n]!, d[2 * n + 1]!) - 1) < 1e-6);
  }
  // Rows of 36.211 Table 6.11.2.1-1 (m0, m1): 0 → (0, 1), 29 → (29, 30), 30 → (0, 2), 167 → (2, 9).
  assert.deepEqual(sssIndices(0), [0, 1]);
  assert.deepEqual(sssIndices(29), [29, 30]);
  assert.deepEqual(sssIndices(30), [0, 2]);
  assert.deepEqual(sssIndices(167), [2, 9]);
  for (let n2 = 0; n2 < 3; n2++) {
    const rows: Int8Array[] = [];
    for (let n1 = 0; n1 < 168; n1++) rows.push(sssSequence(n1, n2, 0), sssSequence(n1, n2, 5));
    let worst = 0;
    for (let i = 0; i < rows.length; i++) {
      for (let j = i + 1; j < rows.length; j++) {
        let acc = 0;
        for (let k = 0; k < 62; k++) acc += rows[i]![k]! * rows[j]![k]!;
        worst = Math.max(worst, acc);
      }
    }
    assert.ok(worst < 40, `N_ID2 ${n2}: worst SSS cross-correlation ${worst} of 62`);
  }
  assert.equal(lteFrame({ cellId: 0, frames: 2 }).length, 4 * LTE_FRAME);
  assert.throws(() => lteFrame({ cellId: 504 }), RangeError);
});

test('iq frames: round trip in cf32 and ci16, malformed and foreign frames are classified, never thrown', () => {
  const x = new Float32Array(400);
  const r = new Rng(1);
  for (let i = 0; i < x.length; i++) x[i] = r.gauss() * 0.2;
  const h = new IqHeader();
  for (const fmt of [IqFormat.CF32, IqFormat.CI16]) {
    const f = encodeIqFrame(0xdeadbeef, 2 ** 40 + 5, x, 10, 150, fmt);
    assert.equal(parseIqHeader(f, 0, f.length, h), IQ_OK);
    assert.equal(h.streamId, 0xdeadbeef);
    assert.equal(h.sampleIndex, 2 ** 40 + 5);
    assert.equal(h.count, 150);
    const y = new Float32Array(300);
    readIqSamples(new DataView(f.buffer), h, y, 0);
    const z = new Float32Array(300);
    readIqSamples(new DataView(f.buffer), h, z, 0, f, new Uint8Array(z.buffer));
    assert.deepEqual(z, y);
    for (let i = 0; i < 300; i++) assert.ok(Math.abs(y[i]! - x[20 + i]!) < (fmt === IqFormat.CF32 ? 1e-7 : 1e-4));
    assert.equal(parseIqHeader(f, 0, f.length - 1, h), IQ_MALFORMED);
    assert.equal(parseIqHeader(f, 0, 20, h), IQ_MALFORMED);
  }
  const f = encodeIqFrame(1, 0, x, 0, 10);
  const g = f.slice();
  g[13] = 0x00;
  assert.equal(parseIqHeader(g, 0, g.length, h), IQ_FOREIGN);
  const v = f.slice();
  v[14] = 9;
  assert.equal(parseIqHeader(v, 0, v.length, h), IQ_MALFORMED);
  for (let i = 0; i < 2000; i++) {
    const m = f.slice(0, r.int(f.length + 1));
    for (let k = 0; k < 3 && m.length; k++) m[r.int(m.length)] = r.int(256);
    parseIqHeader(m, 0, m.length, h);
  }
});

test('impairments: measured SNR and CFO match what was asked, and the same seed gives the same samples', () => {
  const n = 20000;
  const x = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) x[2 * i] = 1;
  const y = impair(x, { snrDb: 10, cfoHz: 1e3, sampleRate: 1e6, seed: 5 });
  // Noise power = mean |y − rotated x|².
  let np = 0;
  let cr = 0;
  let ci = 0;
  for (let i = 0; i < n; i++) {
    const ph = (2 * Math.PI * 1e3 * i) / 1e6;
    const dr = y[2 * i]! - Math.cos(ph);
    const di = y[2 * i + 1]! - Math.sin(ph);
    np += dr * dr + di * di;
    if (i >= 1) {
      cr += y[2 * i]! * y[2 * i - 2]! + y[2 * i + 1]! * y[2 * i - 1]!;
      ci += y[2 * i + 1]! * y[2 * i - 2]! - y[2 * i]! * y[2 * i - 1]!;
    }
  }
  assert.ok(Math.abs(10 * Math.log10(n / np) - 10) < 0.2);
  assert.ok(Math.abs((Math.atan2(ci, cr) / (2 * Math.PI)) * 1e6 - 1e3) < 30);
  assert.deepEqual(impair(x, { snrDb: 3, seed: 2 }), impair(x, { snrDb: 3, seed: 2 }));
  assert.equal(impair(x, { leadSamples: 7, tailSamples: 3 }).length, x.length + 20);
});
