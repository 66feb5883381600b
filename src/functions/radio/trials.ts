/**
 * Accuracy trials against the generators' ground truth, shared by the tests and the benchmark:
 * each trial draws a waveform (random rate/length, cell id, CFO, timing offset, SNR noise from a
 * seeded RNG), feeds it as IQ frames through a function and compares the result with the truth.
 *
 * @example
 * const acc = wifiAccuracy(10, 50, 1);   // { trials: 50, correct: 50, falseResults: 0 }
 */
import { Batch, PacketPool } from '../../packet/pool.js';
import type { Emit, NetworkFunction, ProcessContext } from '../contract.js';
import { RadioClassifier, type Technology } from '../radio-classifier.js';
import { WifiRx } from '../wifi-rx.js';
import { LteCellSearch } from '../lte-cellsearch.js';
import { Rng, impair, meanPower, toIqFrames } from './iq.js';
import { RATES, WIFI_RATE, wifiPpdu } from './wifi.js';
import { LTE_FRAME, LTE_RATE, lteFrame } from './lte.js';

/**
 * Feeds frames through a function from a real pool, in batches of 256, releasing whatever it
 * sends or drops (what a domain does, without the rings).
 *
 * @example
 * const d = new IqDriver(fn); d.feed(frames); d.sentPerPort; // [0, 12, 3, 0]
 */
export class IqDriver implements Emit {
  readonly pool = new PacketPool({ slots: 512 });
  readonly sentPerPort: number[];
  private readonly batch = new Batch();
  private readonly ctx: ProcessContext;
  constructor(readonly fn: NetworkFunction) {
    this.sentPerPort = fn.ports.map(() => 0);
    this.ctx = { pool: this.pool, out: this, now: 0 };
  }
  send(port: number, slot: number): void {
    this.sentPerPort[port] = (this.sentPerPort[port] ?? 0) + 1;
    this.pool.release(slot);
  }
  drop(slot: number): void {
    this.pool.release(slot);
  }
  feed(frames: readonly Uint8Array[], port = 0): void {
    for (let i = 0; i < frames.length; i += 256) {
      this.batch.clear();
      for (let k = i; k < Math.min(frames.length, i + 256); k++) this.pool.load(frames[k]!, this.batch);
      this.fn.process(port, this.batch, this.ctx);
    }
  }
}

export interface Accuracy {
  trials: number;
  correct: number;
  /** Results that matched no transmitted signal. */
  falseResults: number;
}

/** An 802.11 burst (3 PPDUs with gaps) or 10 ms of LTE or noise, after 2,500 samples of noise. */
export function classifierWaveform(truth: Technology, snrDb: number, r: Rng): Float32Array {
  if (truth === 'wifi') {
    const parts: Float32Array[] = [];
    let n = 0;
    for (let k = 0; k < 3; k++) {
      const p = wifiPpdu({ rateMbps: RATES[r.int(8)]!.mbps, length: 20 + r.int(200), seed: r.int(1e9) });
      parts.push(p);
      n += p.length + 2 * 300;
    }
    const x = new Float32Array(n);
    let at = 0;
    for (const p of parts) {
      x.set(p, at);
      at += p.length + 2 * 300;
    }
    return impair(x, { snrDb, signalPower: meanPower(parts[0]!), cfoHz: (r.uniform() * 2 - 1) * 200e3, sampleRate: WIFI_RATE, leadSamples: 2500 + r.int(200), seed: r.int(1e9), phase: r.uniform() * 6.3 });
  }
  if (truth === 'lte') {
    const x = lteFrame({ cellId: r.int(504), seed: r.int(1e9) });
    return impair(x, { snrDb, cfoHz: (r.uniform() * 2 - 1) * 3e3, sampleRate: LTE_RATE, leadSamples: 2500 + r.int(200), seed: r.int(1e9), phase: r.uniform() * 6.3 });
  }
  return impair(new Float32Array(2 * 20000), { snrDb, signalPower: 1, seed: r.int(1e9) });
}

/** The classifier's verdict for one stream: the technology of most dispatched frames, or noise. */
export function verdict(c: RadioClassifier, stream: number): Technology {
  let wifi = 0;
  let lte = 0;
  for (const b of c.results()) {
    if (b.stream !== stream) continue;
    if (b.technology === 'wifi') wifi += b.frames;
    else if (b.technology === 'lte') lte += b.frames;
  }
  return wifi === 0 && lte === 0 ? 'noise' : wifi >= lte ? 'wifi' : 'lte';
}

/**
 * Classification accuracy at one SNR over `trials` (wifi, lte, noise in turn), one stream each.
 *
 * @example
 * classifierAccuracy(10, 30, 1).correct; // 30
 */
export function classifierAccuracy(snrDb: number, trials: number, seed: number): Accuracy & { confusion: Record<string, number> } {
  const r = new Rng(seed);
  const c = new RadioClassifier({ maxStreams: trials, tauSamples: 2048, stfThreshold: 0.6, wifiCpThreshold: 0.45, lteCpThreshold: 0.45, dropNoise: false, maxResults: 1 << 16 });
  const d = new IqDriver(c);
  const truths: Technology[] = ['wifi', 'lte', 'noise'];
  let correct = 0;
  const confusion: Record<string, number> = {};
  for (let t = 0; t < trials; t++) {
    const truth = truths[t % 3]!;
    d.feed(toIqFrames(t, classifierWaveform(truth, snrDb, r)));
    const v = verdict(c, t);
    if (v === truth) correct++;
    const key = `${truth}→${v}`;
    confusion[key] = (confusion[key] ?? 0) + 1;
  }
  return { trials, correct, falseResults: 0, confusion };
}

/**
 * SIGNAL decoding accuracy at one SNR: random rate and LENGTH (1..400), CFO within ±200 kHz,
 * 100..900 samples of timing offset; correct when a valid result has the rate and LENGTH sent and
 * its STF start within ±3 samples.
 *
 * @example
 * wifiAccuracy(10, 40, 1).correct; // 40
 */
export function wifiAccuracy(snrDb: number, trials: number, seed: number): Accuracy {
  const r = new Rng(seed);
  const rx = new WifiRx({ maxStreams: trials, threshold: 0.45, plateau: 32, sampleRate: WIFI_RATE, maxResults: 1 << 16, keepInvalid: true, resultsPort: false });
  const d = new IqDriver(rx);
  let correct = 0;
  let falseResults = 0;
  for (let t = 0; t < trials; t++) {
    const rate = RATES[r.int(8)]!.mbps;
    const length = 1 + r.int(400);
    const lead = 100 + r.int(800);
    const x = impair(wifiPpdu({ rateMbps: rate, length, seed: r.int(1e9) }), { snrDb, cfoHz: (r.uniform() * 2 - 1) * 200e3, sampleRate: WIFI_RATE, leadSamples: lead, tailSamples: 400, seed: r.int(1e9), phase: r.uniform() * 6.3 });
    d.feed(toIqFrames(t, x, 200));
    let hit = false;
    for (const q of rx.results()) {
      if (q.stream !== t) continue;
      if (!hit && q.valid && q.rateMbps === rate && q.length === length && Math.abs(q.sampleIndex - lead) <= 3) hit = true;
      else falseResults++;
    }
    if (hit) correct++;
  }
  return { trials, correct, falseResults };
}

/**
 * Cell search accuracy at one SNR: `cells` (random when omitted), 2 frames each, CFO within ±3 kHz,
 * a random timing offset within a frame; correct when there are results and every one has the cell
 * id and the frame timing sent.
 *
 * @example
 * lteAccuracy(0, 20, 1).correct; // 20
 */
export function lteAccuracy(snrDb: number, trials: number, seed: number, cells?: readonly number[]): Accuracy {
  const r = new Rng(seed);
  const cs = new LteCellSearch({ maxStreams: trials, threshold: 0.2, trackWindow: 64, sampleRate: LTE_RATE, maxResults: 1 << 16, resultsPort: false });
  const d = new IqDriver(cs);
  let correct = 0;
  let falseResults = 0;
  for (let t = 0; t < trials; t++) {
    const cell = cells ? cells[t % cells.length]! : r.int(504);
    const lead = r.int(LTE_FRAME);
    const x = impair(lteFrame({ cellId: cell, frames: 2, seed: r.int(1e9) }), { snrDb, cfoHz: (r.uniform() * 2 - 1) * 3e3, sampleRate: LTE_RATE, leadSamples: lead, tailSamples: 300, seed: r.int(1e9), phase: r.uniform() * 6.3 });
    d.feed(toIqFrames(t, x, 200));
    let any = false;
    let bad = 0;
    for (const q of cs.results()) {
      if (q.stream !== t) continue;
      any = true;
      if (q.cellId !== cell || (((q.frameStart - lead) % LTE_FRAME) + LTE_FRAME) % LTE_FRAME !== 0) bad++;
    }
    falseResults += bad;
    if (any && bad === 0) correct++;
  }
  return { trials, correct, falseResults };
}
