/**
 * Latency of a software network from its traffic sinks: the sinks' exported histograms
 * (traffic-sink.ts, 8 buckets per octave from 1 µs) merged bucket by bucket, so that p50/p99
 * are quantiles of every measured frame, never an average of per-sink percentiles.
 *
 * The summary also carries cumulative counts at fixed bounds `LATENCY_LE_MS` (2^(2m) µs). They
 * fall exactly on sink bucket edges (bucket k ends at 2^(k/8) µs, so bound 2^(2m) µs is the end
 * of bucket 16m), hence a Prometheus histogram rebuilt from them has exact counts; summaries of
 * several servers merge by adding them.
 *
 * @example
 * const m = new LatencyMerge();
 * for (const st of sinkStates) m.addState(st);
 * m.summary(); // { p50Ms: 0.09, p99Ms: 0.35, count: 5000, sumMs: 512.3, buckets: [0, 0, 12, ...] }
 */
import type { Plain } from './contract.js';
import { BUCKETS, bucketUpperMs } from './traffic-sink.js';

/** Upper bounds (ms, inclusive as Prometheus `le`) of the summary's cumulative buckets: 1 µs × 4^m. */
export const LATENCY_LE_MS: readonly number[] = Array.from({ length: 12 }, (_, m) => 4 ** m / 1000);

/** A network's latency, cumulative since its sinks started. */
export interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Frames measured. */
  readonly count: number;
  readonly sumMs: number;
  /** `buckets[i]`: frames with latency ≤ LATENCY_LE_MS[i] (cumulative; `count` is the +Inf bucket). */
  readonly buckets: readonly number[];
}

const obj = (v: Plain | undefined): { readonly [k: string]: Plain } | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as { readonly [k: string]: Plain }) : undefined);
const fin = (v: Plain | undefined): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** Merges sink histograms; a state that is not a sink's is ignored. */
export class LatencyMerge {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sum = 0;
  private max = 0;

  /** Adds a function's exported state if it is a traffic sink's (`flows[].hist`); returns whether it was. */
  addState(state: Plain | undefined): boolean {
    const flows = obj(state)?.['flows'];
    if (!Array.isArray(flows)) return false;
    for (const f of flows) {
      const o = obj(f);
      const hist = o?.['hist'];
      if (!o || !Array.isArray(hist)) continue;
      // [bucket, count] pairs; anything malformed is skipped, never thrown.
      for (let i = 0; i + 1 < hist.length; i += 2) {
        const k = hist[i];
        const n = fin(hist[i + 1]);
        if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= BUCKETS || n === 0) continue;
        this.counts[k] = (this.counts[k] as number) + n;
        this.total += n;
      }
      this.sum += fin(o['latSum']);
      this.max = Math.max(this.max, fin(o['latMax']));
    }
    return true;
  }

  /** Quantile as the sink computes it: the upper edge of the bucket holding it, capped by the largest latency seen. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const want = Math.ceil(q * this.total);
    let cum = 0;
    for (let k = 0; k < BUCKETS; k++) {
      cum += this.counts[k] as number;
      if (cum >= want) return Math.min(bucketUpperMs(k), this.max);
    }
    return this.max;
  }

  summary(): LatencySummary {
    const buckets: number[] = [];
    let cum = 0;
    let k = 0;
    for (let m = 0; m < LATENCY_LE_MS.length; m++) {
      // Bound 4^m µs = 2^(2m) µs is the upper edge of sink bucket 16m.
      for (; k <= 16 * m && k < BUCKETS; k++) cum += this.counts[k] as number;
      buckets.push(cum);
    }
    return { p50Ms: this.quantile(0.5), p99Ms: this.quantile(0.99), count: this.total, sumMs: this.sum, buckets };
  }
}

/**
 * Adds summaries of one network from several servers: counts, sums and buckets add up; the
 * quantiles of the whole are not recoverable exactly from them, so the result carries the
 * largest p50/p99 of the parts (a bound; use `buckets` for real quantiles).
 *
 * @example
 * addSummaries([a, b]).buckets; // element-wise a.buckets[i] + b.buckets[i]
 */
export function addSummaries(parts: readonly LatencySummary[]): LatencySummary {
  const buckets = LATENCY_LE_MS.map(() => 0);
  let count = 0;
  let sumMs = 0;
  let p50Ms = 0;
  let p99Ms = 0;
  for (const p of parts) {
    count += p.count;
    sumMs += p.sumMs;
    if (p.count > 0) {
      p50Ms = Math.max(p50Ms, p.p50Ms);
      p99Ms = Math.max(p99Ms, p.p99Ms);
    }
    for (let i = 0; i < buckets.length; i++) buckets[i] = (buckets[i] as number) + (p.buckets[i] ?? 0);
  }
  return { p50Ms, p99Ms, count, sumMs, buckets };
}
