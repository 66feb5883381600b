/**
 * SigMF recordings (sigmf.org, spec v1.x): a `.sigmf-meta` JSON (global `core:datatype`,
 * `core:sample_rate`, `captures`, `annotations`) beside a `.sigmf-data` file of raw samples.
 * We read and write `cf32_le` (8 bytes per sample) and `ci16_le` (4 bytes, full scale 32767)
 * complex data. Every problem is a SigmfError naming the file and what is wrong with it.
 *
 * @example
 * writeSigmf('/tmp/cap', samples, { sampleRate: 20e6, datatype: 'cf32_le' });
 * const rec = readSigmf('/tmp/cap');   // or '/tmp/cap.sigmf-meta'
 * rec.samples.length / 2;              // sample count
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

export class SigmfError extends Error {
  override readonly name = 'SigmfError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export type SigmfDatatype = 'cf32_le' | 'ci16_le';
const SIZES: Record<SigmfDatatype, number> = { cf32_le: 8, ci16_le: 4 };

export interface SigmfCapture {
  readonly sampleStart: number;
  readonly frequency?: number;
}
export interface SigmfAnnotation {
  readonly sampleStart: number;
  readonly sampleCount: number;
  readonly label?: string;
}

export interface SigmfRecording {
  readonly datatype: SigmfDatatype;
  readonly sampleRate: number;
  readonly samples: Float32Array;
  readonly captures: readonly SigmfCapture[];
  readonly annotations: readonly SigmfAnnotation[];
  readonly description?: string;
}

function base(path: string): string {
  return path.replace(/\.sigmf-(meta|data)$/, '');
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a recording by its base name or either file's name.
 *
 * @example
 * readSigmf('capture.sigmf-meta').sampleRate; // 20e6
 */
export function readSigmf(path: string): SigmfRecording {
  const b = base(path);
  const metaFile = `${b}.sigmf-meta`;
  const dataFile = `${b}.sigmf-data`;
  if (!existsSync(metaFile)) throw new SigmfError(metaFile, 'missing meta file');
  let meta: unknown;
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8'));
  } catch (e) {
    throw new SigmfError(metaFile, `malformed JSON (${(e as Error).message})`);
  }
  if (!isObj(meta) || !isObj(meta['global'])) throw new SigmfError(metaFile, 'malformed meta: no "global" object');
  const g = meta['global'];
  const dt = g['core:datatype'];
  if (typeof dt !== 'string') throw new SigmfError(metaFile, 'malformed meta: global "core:datatype" missing');
  if (dt !== 'cf32_le' && dt !== 'ci16_le') throw new SigmfError(metaFile, `unsupported datatype "${dt}" (expected cf32_le or ci16_le)`);
  const sr = g['core:sample_rate'];
  if (typeof sr !== 'number' || !(sr > 0)) throw new SigmfError(metaFile, 'malformed meta: global "core:sample_rate" must be a positive number');
  const captures: SigmfCapture[] = [];
  const capsRaw = meta['captures'] ?? [];
  if (!Array.isArray(capsRaw)) throw new SigmfError(metaFile, 'malformed meta: "captures" must be an array');
  for (const [i, c] of capsRaw.entries()) {
    if (!isObj(c) || typeof c['core:sample_start'] !== 'number' || !Number.isInteger(c['core:sample_start']) || (c['core:sample_start'] as number) < 0) throw new SigmfError(metaFile, `malformed meta: captures[${i}] needs a non-negative integer "core:sample_start"`);
    const f = c['core:frequency'];
    captures.push(typeof f === 'number' ? { sampleStart: c['core:sample_start'] as number, frequency: f } : { sampleStart: c['core:sample_start'] as number });
  }
  const annotations: SigmfAnnotation[] = [];
  const annRaw = meta['annotations'] ?? [];
  if (!Array.isArray(annRaw)) throw new SigmfError(metaFile, 'malformed meta: "annotations" must be an array');
  for (const [i, a] of annRaw.entries()) {
    const s = isObj(a) ? a['core:sample_start'] : undefined;
    const n = isObj(a) ? a['core:sample_count'] : undefined;
    if (!isObj(a) || typeof s !== 'number' || !Number.isInteger(s) || s < 0 || typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new SigmfError(metaFile, `malformed meta: annotations[${i}] needs integer "core:sample_start" and "core:sample_count"`);
    const label = a['core:label'];
    annotations.push(typeof label === 'string' ? { sampleStart: s, sampleCount: n, label } : { sampleStart: s, sampleCount: n });
  }
  if (!existsSync(dataFile)) throw new SigmfError(dataFile, 'missing data file');
  const raw = readFileSync(dataFile);
  const size = SIZES[dt];
  if (raw.length % size !== 0) throw new SigmfError(dataFile, `truncated data: ${raw.length} bytes is not a multiple of the ${size}-byte ${dt} sample`);
  const n = raw.length / size;
  for (const c of captures) if (c.sampleStart > n) throw new SigmfError(dataFile, `truncated data: ${n} samples but a capture starts at sample ${c.sampleStart}`);
  for (const a of annotations) if (a.sampleStart + a.sampleCount > n) throw new SigmfError(dataFile, `truncated data: ${n} samples but an annotation ends at sample ${a.sampleStart + a.sampleCount}`);
  const samples = new Float32Array(2 * n);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dt === 'cf32_le') for (let i = 0; i < 2 * n; i++) samples[i] = dv.getFloat32(4 * i, true);
  else for (let i = 0; i < 2 * n; i++) samples[i] = dv.getInt16(2 * i, true) / 32767;
  const desc = g['core:description'];
  const rec: SigmfRecording = { datatype: dt, sampleRate: sr, samples, captures, annotations };
  return typeof desc === 'string' ? { ...rec, description: desc } : rec;
}

export interface SigmfWriteOptions {
  readonly sampleRate: number;
  readonly datatype?: SigmfDatatype;
  readonly frequency?: number;
  readonly description?: string;
  readonly annotations?: readonly SigmfAnnotation[];
}

/**
 * Writes `<base>.sigmf-meta` and `<base>.sigmf-data`.
 *
 * @example
 * writeSigmf('out/lte', lteFrame({ cellId: 7 }), { sampleRate: 1.92e6, datatype: 'ci16_le' });
 */
export function writeSigmf(path: string, samples: Float32Array, o: SigmfWriteOptions): void {
  const b = base(path);
  const dt = o.datatype ?? 'cf32_le';
  const n = samples.length / 2;
  const raw = Buffer.alloc(n * SIZES[dt]);
  if (dt === 'cf32_le') for (let i = 0; i < 2 * n; i++) raw.writeFloatLE(samples[i]!, 4 * i);
  else for (let i = 0; i < 2 * n; i++) raw.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32767))), 2 * i);
  const meta = {
    global: { 'core:datatype': dt, 'core:sample_rate': o.sampleRate, 'core:version': '1.0.0', ...(o.description ? { 'core:description': o.description } : {}) },
    captures: [{ 'core:sample_start': 0, ...(o.frequency !== undefined ? { 'core:frequency': o.frequency } : {}) }],
    annotations: (o.annotations ?? []).map((a) => ({ 'core:sample_start': a.sampleStart, 'core:sample_count': a.sampleCount, ...(a.label ? { 'core:label': a.label } : {}) })),
  };
  writeFileSync(`${b}.sigmf-data`, raw);
  writeFileSync(`${b}.sigmf-meta`, JSON.stringify(meta, null, 2) + '\n');
}
