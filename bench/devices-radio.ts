/**
 * Software-defined radio benchmark (part of `npm run bench -- devices`):
 * - samples per second processed on one core by radio-classifier, wifi-rx and lte-cellsearch
 *   (IQ frames of 200 cf32 samples through `process`, from a real packet pool), each beside the
 *   rate the technology needs in real time (20 Msps for 802.11a/g, 1.92 Msps for 1.4 MHz LTE); the
 *   classifier against 20 Msps. When this process got less than ~90 % of a core over the
 *   measurement (a loaded machine), the figure is per CPU-second of this process, and the line says so;
 * - accuracy against SNR (classification, 802.11 SIGNAL decoding, LTE cell id) as a table, and as
 *   an SVG plot written to bench-report/devices.svg.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { cpuTimed, type Reporter } from './report.js';
import { RadioClassifier } from '../src/functions/radio-classifier.js';
import { WifiRx } from '../src/functions/wifi-rx.js';
import { LteCellSearch } from '../src/functions/lte-cellsearch.js';
import { IqDriver, classifierAccuracy, classifierWaveform, lteAccuracy, wifiAccuracy } from '../src/functions/radio/trials.js';
import { ETH_HEADER, Rng, concatSamples, impair, toIqFrames } from '../src/functions/radio/iq.js';
import { RATES, WIFI_RATE, wifiPpdu } from '../src/functions/radio/wifi.js';
import { LTE_RATE, lteFrame } from '../src/functions/radio/lte.js';
import type { NetworkFunction } from '../src/functions/contract.js';

/** Rewrites the sample index of an encoded IQ frame (bytes 8..15 of the IQ header). */
function setIndex(f: Uint8Array, idx: number): void {
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  dv.setUint32(ETH_HEADER + 8, Math.floor(idx / 0x100000000));
  dv.setUint32(ETH_HEADER + 12, idx >>> 0);
}

interface Speed {
  wall: number;
  cpu: number;
  share: number;
}

/** Feeds `frames` (one stream, `n` samples) again and again, indexes continuing, for about `ms`. */
function speed(fn: NetworkFunction, frames: Uint8Array[], n: number, ms: number): Speed {
  const d = new IqDriver(fn);
  const starts = frames.map((f) => new DataView(f.buffer, f.byteOffset).getUint32(ETH_HEADER + 12));
  let rep = 0;
  const once = (): void => {
    for (let i = 0; i < frames.length; i++) setIndex(frames[i]!, rep * n + starts[i]!);
    d.feed(frames);
    rep++;
  };
  once();
  const m = cpuTimed(() => {
    once();
    return n;
  }, ms);
  return { wall: m.ops / m.wall / 1e6, cpu: m.ops / m.cpu / 1e6, share: m.cpu / m.wall };
}

function report(r: Reporter, name: string, s: Speed, target: number): void {
  const loaded = s.share < 0.9;
  r.note(`${name}: ${s.wall.toFixed(2)} Msps wall-clock, ${s.cpu.toFixed(2)} Msps per CPU-second (this process had ${(100 * s.share).toFixed(0)} % of a core${loaded ? ': machine loaded, the figure below is per CPU-second' : ''})`);
  r.record({ name: `${name} samples/s${loaded ? ' (per CPU-second)' : ''}`, value: loaded ? s.cpu : s.wall, unit: 'Msps', target, better: 'higher', baseline: target });
}

const SNRS = [-5, 0, 5, 10, 15, 20, 25, 30];

function svg(rows: { snr: number; cls: number; wifi: number; lte: number }[]): string {
  const W = 640;
  const H = 400;
  const x0 = 60;
  const y0 = 340;
  const xs = (snr: number): number => x0 + ((snr + 5) / 35) * (W - 100);
  const ys = (p: number): number => y0 - (p / 100) * 300;
  const line = (key: 'cls' | 'wifi' | 'lte', color: string): string =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${rows.map((q) => `${xs(q.snr).toFixed(1)},${ys(q[key]).toFixed(1)}`).join(' ')}"/>` +
    rows.map((q) => `<circle cx="${xs(q.snr).toFixed(1)}" cy="${ys(q[key]).toFixed(1)}" r="3" fill="${color}"/>`).join('');
  const grid: string[] = [];
  for (let p = 0; p <= 100; p += 20) grid.push(`<line x1="${x0}" x2="${W - 40}" y1="${ys(p)}" y2="${ys(p)}" stroke="#ddd"/><text x="${x0 - 8}" y="${ys(p) + 4}" text-anchor="end" font-size="11">${p}</text>`);
  for (const s of SNRS) grid.push(`<text x="${xs(s)}" y="${y0 + 18}" text-anchor="middle" font-size="11">${s}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">swnet radio: accuracy against SNR (AWGN, CFO, timing offset)</text>
${grid.join('\n')}
<line x1="${x0}" x2="${x0}" y1="${ys(0)}" y2="${ys(100)}" stroke="#333"/><line x1="${x0}" x2="${W - 40}" y1="${y0}" y2="${y0}" stroke="#333"/>
<text x="${W / 2}" y="${y0 + 38}" text-anchor="middle" font-size="12">SNR (dB)</text>
<text x="16" y="${ys(50)}" transform="rotate(-90 16 ${ys(50)})" text-anchor="middle" font-size="12">correct (%)</text>
${line('cls', '#1f77b4')}${line('wifi', '#d62728')}${line('lte', '#2ca02c')}
<text x="${W - 200}" y="${ys(40)}" font-size="12" fill="#1f77b4">classifier (wifi/LTE/noise)</text>
<text x="${W - 200}" y="${ys(32)}" font-size="12" fill="#d62728">802.11 SIGNAL (rate+length)</text>
<text x="${W - 200}" y="${ys(24)}" font-size="12" fill="#2ca02c">LTE cell id + frame timing</text>
</svg>
`;
}

export async function run(r: Reporter): Promise<void> {
  const rng = new Rng(2026);
  // 802.11: packets of random rate/length with gaps, 20 dB, CFO — about 2 M samples.
  const wifiParts: Float32Array[] = [];
  let wn = 0;
  while (wn < 2_000_000) {
    const p = impair(wifiPpdu({ rateMbps: RATES[rng.int(8)]!.mbps, length: 50 + rng.int(1400), seed: rng.int(1e9) }), { snrDb: 20, cfoHz: 60e3, sampleRate: WIFI_RATE, leadSamples: 500 + rng.int(2000), seed: rng.int(1e9) });
    wifiParts.push(p);
    wn += p.length / 2;
  }
  const wifiX = concatSamples(wifiParts);
  const wifiFrames = toIqFrames(0, wifiX, 200);
  const lteX = impair(lteFrame({ cellId: 123, frames: 20, seed: 5 }), { snrDb: 10, cfoHz: 800, sampleRate: LTE_RATE, seed: 6 });
  const lteFrames = toIqFrames(0, lteX, 200);
  const mixX = concatSamples([classifierWaveform('wifi', 15, rng), classifierWaveform('lte', 15, rng), classifierWaveform('noise', 15, rng), wifiX.subarray(0, 2 * 400_000)]);
  const mixFrames = toIqFrames(0, mixX, 200);

  const cls = new RadioClassifier({ maxStreams: 8, tauSamples: 2048, stfThreshold: 0.6, wifiCpThreshold: 0.45, lteCpThreshold: 0.45, dropNoise: false, maxResults: 1024 });
  report(r, 'radio-classifier', speed(cls, mixFrames, mixX.length / 2, 2000), 20);
  const rx = new WifiRx({ maxStreams: 8, threshold: 0.45, plateau: 32, sampleRate: WIFI_RATE, maxResults: 1024, keepInvalid: true, resultsPort: false });
  report(r, 'wifi-rx', speed(rx, wifiFrames, wifiX.length / 2, 2000), 20);
  const okW = rx.results().filter((q) => q.valid).length;
  r.note(`wifi-rx decoded ${okW} valid SIGNAL fields of ${rx.results().length} during the run`);
  const cs = new LteCellSearch({ maxStreams: 8, threshold: 0.2, trackWindow: 64, sampleRate: LTE_RATE, maxResults: 1 << 16, resultsPort: false });
  report(r, 'lte-cellsearch (tracking)', speed(cs, lteFrames, lteX.length / 2, 2000), 1.92);
  const cells = new Set(cs.results().map((q) => q.cellId));
  r.note(`lte-cellsearch reported cell ids ${[...cells].join(', ')} (sent 123) over ${cs.results().length} half frames`);
  // Acquisition, the worst case: no cell on the air, so the three FFT correlations run over every sample.
  const acqX = impair(new Float32Array(2 * 192_000), { snrDb: 0, signalPower: 1, seed: 8 });
  const cs2 = new LteCellSearch({ maxStreams: 8, threshold: 0.2, trackWindow: 64, sampleRate: LTE_RATE, maxResults: 1 << 16, resultsPort: false });
  report(r, 'lte-cellsearch (acquisition, searching noise)', speed(cs2, toIqFrames(0, acqX, 200), acqX.length / 2, 2000), 1.92);
  r.note(`lte-cellsearch false detections on noise: ${cs2.results().length}`);

  const rows: { snr: number; cls: number; wifi: number; lte: number }[] = [];
  r.note('accuracy against SNR (% correct; classifier: 60 bursts of wifi/LTE/noise; 802.11: 100 PPDUs, CFO ±200 kHz; LTE: 40 cells, CFO ±3 kHz):');
  r.note('  SNR dB | classifier | 802.11 SIGNAL | LTE cell id');
  for (const snr of SNRS) {
    const a = classifierAccuracy(snr, 60, 7000 + snr);
    const w = wifiAccuracy(snr, 100, 8000 + snr);
    const l = lteAccuracy(snr, 40, 9000 + snr);
    const row = { snr, cls: (100 * a.correct) / a.trials, wifi: (100 * w.correct) / w.trials, lte: (100 * l.correct) / l.trials };
    rows.push(row);
    r.note(`  ${String(snr).padStart(6)} | ${row.cls.toFixed(1).padStart(10)} | ${row.wifi.toFixed(1).padStart(13)} | ${row.lte.toFixed(1).padStart(11)}`);
  }
  const at10 = rows.find((q) => q.snr === 10)!;
  r.record({ name: 'radio-classifier accuracy at 10 dB', value: at10.cls, unit: '%', target: 95, better: 'higher' });
  r.record({ name: 'wifi-rx SIGNAL accuracy at 10 dB', value: at10.wifi, unit: '%', target: 95, better: 'higher' });
  r.record({ name: 'lte-cellsearch cell id accuracy at 10 dB', value: at10.lte, unit: '%', target: 95, better: 'higher' });
  const all = lteAccuracy(5, 504, 4242, Array.from({ length: 504 }, (_, i) => i));
  r.note(`lte-cellsearch over all 504 physical cell ids at 5 dB: ${all.correct}/504 correct (${all.falseResults} wrong results)`);
  r.record({ name: 'lte-cellsearch all 504 cell ids at 5 dB', value: (100 * all.correct) / 504, unit: '%', target: 95, better: 'higher' });
  mkdirSync('bench-report', { recursive: true });
  const file = resolve('bench-report/devices.svg');
  writeFileSync(file, svg(rows));
  r.note(`accuracy plot written to ${file}`);
}
