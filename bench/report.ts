/** One measured figure and the target an issue names for it. */
export interface BenchRecord {
  group: string;
  name: string;
  value: number;
  unit: string;
  target: number | null;
  better: 'higher' | 'lower';
  baseline?: number;
}

export class Reporter {
  readonly records: BenchRecord[] = [];
  constructor(readonly group: string) {}

  /**
   * Prints a figure beside its in-run baseline (as a ratio) and its target, and records it.
   * `target` null means "printed for information, no target named".
   */
  record(r: Omit<BenchRecord, 'group'>): void {
    const rec: BenchRecord = { group: this.group, ...r };
    this.records.push(rec);
    const met = r.target === null ? '' : (r.better === 'higher' ? r.value >= r.target : r.value <= r.target) ? '  ok' : '  MISSED';
    const base = r.baseline !== undefined ? `  baseline ${fmt(r.baseline)} ${r.unit} (ratio ${fmt(r.value / r.baseline)})` : '';
    const tgt = r.target === null ? '' : `  target ${r.better === 'higher' ? '≥' : '≤'} ${fmt(r.target)}`;
    console.log(`[${this.group}] ${r.name}: ${fmt(r.value)} ${r.unit}${base}${tgt}${met}`);
  }

  note(text: string): void {
    console.log(`[${this.group}] ${text}`);
  }
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(3);
  return Number(x.toPrecision(4)).toString();
}

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up; returns ops/second. */
export function rate(fn: () => number, ms = 1000): number {
  const warm = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warm) fn();
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    ops += fn();
    t = performance.now();
  }
  return (ops * 1000) / (t - t0);
}

/** What {@link cpuTimed} measured: summed ops, CPU seconds of this process, wall seconds. */
export interface CpuTimed {
  ops: number;
  cpu: number;
  wall: number;
}

/**
 * Runs `fn` (which returns how many ops it did) for about `ms` milliseconds, no warm-up, and
 * returns the ops with the CPU time of this process (user + system, all its threads, so GC and
 * compiler threads count) and the wall time: on a shared machine a wall-clock rate mostly
 * measures how often this process was scheduled, CPU time measures the code. `inner` calls run
 * between clock reads (for very short `fn`).
 *
 * @example
 * const m = cpuTimed(() => { work(); return 256; }, 1000);
 * const perCpuSecond = m.ops / m.cpu;
 */
export function cpuTimed(fn: () => number, ms: number, inner = 1): CpuTimed {
  let ops = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) for (let i = 0; i < inner; i++) ops += fn();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { ops, cpu: (c.user + c.system) / 1e6, wall };
}
