/**
 * PlanetLab traces: a `#` comment line, then one VM a line — a name, then CPU utilisation
 * samples in percent at 5-minute intervals.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Trace {
  readonly name: string;
  /** VM names, in file order. */
  readonly vms: readonly string[];
  /** Utilisation samples as fractions (0..1), one array per VM. */
  readonly samples: readonly Float64Array[];
  /** Seconds between samples. */
  readonly interval: number;
}

/** A trace file that cannot be read as PlanetLab data; `line` is 1-based. */
export class TraceFormatError extends Error {
  override readonly name = 'TraceFormatError';
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}:${line}: ${message}`);
  }
}

/**
 * Parses PlanetLab CSV text. Samples are integers 0..100 (percent); anything else is an error
 * naming the line and column.
 * @example parseTrace('# c\nvm1,10,20\n', 'x.csv').samples[0] // Float64Array [0.1, 0.2]
 */
export function parseTrace(text: string, file = 'trace', interval = 300): Trace {
  const vms: string[] = [];
  const samples: Float64Array[] = [];
  const lines = text.split(/\r?\n/);
  let width = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const cells = line.split(',');
    const name = (cells[0] ?? '').trim();
    const n = cells.length - 1;
    if (n < 1) throw new TraceFormatError(file, i + 1, 'a VM line needs a name and at least one sample');
    if (width >= 0 && n !== width) throw new TraceFormatError(file, i + 1, `expected ${width} samples, got ${n}`);
    width = n;
    const s = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const cell = (cells[j + 1] ?? '').trim();
      const v = Number(cell);
      if (cell === '' || !Number.isFinite(v) || v < 0 || v > 100) {
        throw new TraceFormatError(file, i + 1, `column ${j + 2}: '${cell.slice(0, 20)}' is not a percentage 0..100`);
      }
      s[j] = v / 100;
    }
    vms.push(name);
    samples.push(s);
  }
  if (samples.length === 0) throw new TraceFormatError(file, 1, 'no VM lines');
  return { name: file.replace(/^.*[\\/]/, '').replace(/\.csv$/, ''), vms, samples, interval };
}

/** Reads and parses a trace file. @example loadTrace(join(defaultTraceDir(), '20110303.csv')) */
export function loadTrace(path: string): Trace {
  return parseTrace(readFileSync(path, 'utf8'), path);
}

/**
 * `<repo>/../shared/data/planetlab`, where the PlanetLab days live beside the repository
 * (found from this module's location, so it works from any clone).
 * @example loadTrace(join(defaultTraceDir(), '20110306.csv'))
 */
export function defaultTraceDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return resolve(dir, '..', 'shared', 'data', 'planetlab');
    dir = dirname(dir);
  }
  return resolve('..', 'shared', 'data', 'planetlab');
}
