/**
 * `swnet radio`: standard-conformant test recordings and a receive chain over them.
 *
 *   swnet radio generate cap --tech wifi --rate 24 --length 100 --snr 10 --cfo 50000 --offset 300
 *   swnet radio generate lte --tech lte --cell 301 --frames 2 --snr 5 --datatype ci16_le
 *   swnet radio analyze cap.sigmf-meta [--json]
 *
 * `analyze` runs the recording as IQ frames through radio-classifier, then what it dispatched to
 * `wifi` through wifi-rx and what it dispatched to `lte` through lte-cellsearch — the chain a
 * software network would run with one function per domain — and prints bursts, decoded SIGNAL
 * fields and cells.
 */
import type { Command } from 'commander';
import { Batch, PacketPool } from '../packet/pool.js';
import type { Emit, NetworkFunction } from '../functions/contract.js';
import { ConfigError } from '../functions/contract.js';
import { RadioClassifier, radioClassifierFactory, type BurstResult, CLASSIFIER_PORTS } from '../functions/radio-classifier.js';
import { WifiRx, wifiRxFactory, type WifiSignalResult } from '../functions/wifi-rx.js';
import { LteCellSearch, lteCellSearchFactory, type CellResult } from '../functions/lte-cellsearch.js';
import { impair, toIqFrames } from '../functions/radio/iq.js';
import { WIFI_RATE, wifiPpdu } from '../functions/radio/wifi.js';
import { LTE_RATE, lteFrame } from '../functions/radio/lte.js';
import { SigmfError, readSigmf, writeSigmf, type SigmfDatatype } from '../functions/radio/sigmf.js';

export interface GenerateOptions {
  readonly tech: 'wifi' | 'lte';
  readonly rateMbps?: number;
  readonly length?: number;
  readonly cellId?: number;
  readonly frames?: number;
  readonly snrDb?: number;
  readonly cfoHz?: number;
  readonly offset?: number;
  readonly datatype?: SigmfDatatype;
  readonly seed?: number;
}

/**
 * Writes a SigMF recording of one 802.11 PPDU or `frames` LTE frames, annotated with the truth.
 *
 * @example
 * generateRecording('/tmp/cap', { tech: 'lte', cellId: 7, snrDb: 10 });
 */
export function generateRecording(base: string, o: GenerateOptions): { samples: number; label: string } {
  const lead = o.offset ?? 500;
  const wifi = o.tech === 'wifi';
  const clean = wifi ? wifiPpdu({ rateMbps: o.rateMbps ?? 6, length: o.length ?? 100, seed: o.seed ?? 1 }) : lteFrame({ cellId: o.cellId ?? 0, frames: o.frames ?? 2, seed: o.seed ?? 1 });
  const rate = wifi ? WIFI_RATE : LTE_RATE;
  const x = impair(clean, { ...(o.snrDb !== undefined ? { snrDb: o.snrDb } : {}), cfoHz: o.cfoHz ?? 0, sampleRate: rate, leadSamples: lead, tailSamples: 500, seed: o.seed ?? 1 });
  const label = wifi ? `802.11 ${o.rateMbps ?? 6} Mb/s LENGTH ${o.length ?? 100}` : `LTE cell ${o.cellId ?? 0}`;
  writeSigmf(base, x, {
    sampleRate: rate,
    datatype: o.datatype ?? 'cf32_le',
    description: `swnet radio generate: ${label}, SNR ${o.snrDb ?? '∞'} dB, CFO ${o.cfoHz ?? 0} Hz, offset ${lead}`,
    annotations: [{ sampleStart: lead, sampleCount: clean.length / 2, label }],
  });
  return { samples: x.length / 2, label };
}

/** Collects what a function sends, per port, as frame copies (the next stage's input). */
class Collect implements Emit {
  readonly sent: Uint8Array[][];
  constructor(
    readonly pool: PacketPool,
    ports: number,
  ) {
    this.sent = Array.from({ length: ports }, () => []);
  }
  send(port: number, slot: number, off: number, len: number): void {
    this.sent[port]!.push(this.pool.bytes.slice(off, off + len));
    this.pool.release(slot);
  }
  drop(slot: number): void {
    this.pool.release(slot);
  }
}

function run(fn: NetworkFunction, frames: readonly Uint8Array[]): Uint8Array[][] {
  const pool = new PacketPool({ slots: 600 });
  const out = new Collect(pool, fn.ports.length);
  const batch = new Batch();
  for (let i = 0; i < frames.length; i += 256) {
    batch.clear();
    for (const f of frames.slice(i, i + 256)) pool.load(f, batch);
    fn.process(0, batch, { pool, out, now: 0 });
  }
  return out.sent;
}

export interface Analysis {
  readonly sampleRate: number;
  readonly samples: number;
  readonly bursts: BurstResult[];
  readonly signals: WifiSignalResult[];
  readonly cells: CellResult[];
}

/**
 * Reads a SigMF recording and runs it through classifier → wifi-rx / lte-cellsearch.
 *
 * @example
 * analyzeRecording('/tmp/cap.sigmf-meta').signals; // [{ rateMbps: 24, length: 100, valid: true, ... }]
 */
export function analyzeRecording(path: string): Analysis {
  const rec = readSigmf(path);
  const frames = toIqFrames(0, rec.samples, 200);
  const cls = radioClassifierFactory.create({}) as RadioClassifier;
  const sent = run(cls, frames);
  const rx = wifiRxFactory.create({ sampleRate: rec.sampleRate }) as WifiRx;
  run(rx, sent[CLASSIFIER_PORTS.wifi]!);
  const cs = lteCellSearchFactory.create({ sampleRate: rec.sampleRate }) as LteCellSearch;
  run(cs, sent[CLASSIFIER_PORTS.lte]!);
  return { sampleRate: rec.sampleRate, samples: rec.samples.length / 2, bursts: cls.results(), signals: rx.results(), cells: cs.results() };
}

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ConfigError(name, `expected a number, got "${v}"`);
  return n;
}

export function register(program: Command): void {
  const radio = program.command('radio').description('software-defined radio: generate test recordings (SigMF) and run the receive chain over them');
  radio
    .command('generate <base>')
    .description('write <base>.sigmf-meta/.sigmf-data with an 802.11a/g PPDU or LTE frames, with AWGN, CFO and a timing offset')
    .requiredOption('--tech <wifi|lte>', 'technology')
    .option('--rate <Mbps>', '802.11 rate (6, 9, 12, 18, 24, 36, 48, 54)')
    .option('--length <bytes>', '802.11 LENGTH (1..4095)')
    .option('--cell <id>', 'LTE physical cell id (0..503)')
    .option('--frames <n>', 'LTE 10 ms frames')
    .option('--snr <dB>', 'signal-to-noise ratio (no noise when absent)')
    .option('--cfo <Hz>', 'carrier frequency offset')
    .option('--offset <samples>', 'noise samples before the signal', '500')
    .option('--datatype <cf32_le|ci16_le>', 'sample format', 'cf32_le')
    .option('--seed <n>', 'random seed', '1')
    .action((base: string, o: Record<string, string | undefined>) => {
      try {
        if (o['tech'] !== 'wifi' && o['tech'] !== 'lte') throw new ConfigError('--tech', 'expected wifi or lte');
        if (o['datatype'] !== 'cf32_le' && o['datatype'] !== 'ci16_le') throw new ConfigError('--datatype', 'expected cf32_le or ci16_le');
        const opts: Record<string, unknown> = { tech: o['tech'], datatype: o['datatype'] };
        for (const [k, key] of [['rate', 'rateMbps'], ['length', 'length'], ['cell', 'cellId'], ['frames', 'frames'], ['snr', 'snrDb'], ['cfo', 'cfoHz'], ['offset', 'offset'], ['seed', 'seed']] as const) {
          const v = num(`--${k}`, o[k]);
          if (v !== undefined) opts[key] = v;
        }
        const r = generateRecording(base, opts as unknown as GenerateOptions);
        console.log(`wrote ${base}.sigmf-meta and ${base}.sigmf-data: ${r.samples} samples, ${r.label}`);
      } catch (e) {
        if (e instanceof ConfigError || e instanceof RangeError) {
          process.stderr.write(`swnet radio generate: ${e.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
    });
  radio
    .command('analyze <file>')
    .description('run a SigMF recording through radio-classifier → wifi-rx / lte-cellsearch and print what they found')
    .option('--json', 'print the results as JSON')
    .action((file: string, o: { json?: boolean }) => {
      try {
        const a = analyzeRecording(file);
        if (o.json) {
          console.log(JSON.stringify(a, null, 2));
          return;
        }
        console.log(`${a.samples} samples at ${a.sampleRate / 1e6} Msps`);
        for (const b of a.bursts) console.log(`burst: ${b.technology} samples ${b.firstSample}..${b.endSample} (${b.frames} frames, score ${b.score.toFixed(2)})`);
        for (const s of a.signals) console.log(`802.11 SIGNAL at ${s.sampleIndex}: ${s.rateMbps} Mb/s, LENGTH ${s.length}, parity ${s.parityOk ? 'ok' : 'BAD'}${s.valid ? '' : ' (invalid)'}, CFO ${(s.cfoHz / 1e3).toFixed(1)} kHz, SNR ${s.snrDb} dB`);
        for (const c of a.cells) console.log(`LTE cell ${c.cellId} (N_ID1 ${c.nId1}, N_ID2 ${c.nId2}) subframe ${c.subframe} PSS at ${c.pssIndex}, frame start ${c.frameStart}, CFO ${c.cfoHz.toFixed(0)} Hz`);
        if (a.bursts.length === 0) console.log('nothing but noise');
      } catch (e) {
        if (e instanceof SigmfError) {
          process.stderr.write(`swnet radio analyze: ${e.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
    });
}
