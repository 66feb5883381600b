/**
 * Time series for the dashboard's charts, built only from what the watch stream carries: each
 * Server status write (an agent's report) adds one point to every network with a domain on that
 * server. Nothing polls: a network gets points exactly when the agents hosting it report.
 *
 * Rates are taken per server between that server's own consecutive reports (its counters are
 * cumulative since its domain started), then summed over the servers hosting the network; taking
 * the rate of the summed counters instead would divide one server's two-second increase by the
 * one second since another server's report.
 */

/** Points kept per series (at one report every 2 s: 20 minutes). */
export const HIST = 600;
/** A server whose last report for a network is older than this no longer counts in its sums. */
const STALE_MS = 15_000;

export interface NetSeries {
  /** Seconds (uPlot's x unit). */
  t: number[];
  /** Bits per second received by the network's traffic sinks. */
  bits: (number | null)[];
  /** Frames per second processed by its domains. */
  fps: (number | null)[];
  /** Frames per second dropped by its domains and queues (null: before a second report). */
  drops: (number | null)[];
  /**
   * Latency of its sinks (ms) over each report interval (from the difference of the cumulative
   * histograms the agents report; their since-start percentiles where no histogram comes), null
   * where no agent reports latency.
   */
  p50: (number | null)[];
  p99: (number | null)[];
  /** Mean latency over the interval (exact: Δsum / Δcount). */
  mean: (number | null)[];
  /** Token scheduler allocation and current bucket balance, summed over its servers. */
  alloc: (number | null)[];
  bal: (number | null)[];
}

interface Last {
  at: number;
  bytes: number;
  frames: number;
  drops: number;
  bits: number;
  fps: number;
  dps: number;
  rated: boolean;
  p50?: number;
  p99?: number;
  count?: number;
  sum?: number;
  buckets?: number[];
  /** This server's histogram of its last interval: per-bucket counts (not cumulative), frames, summed ms. */
  win?: { counts: number[]; n: number; sumMs: number };
  alloc?: number;
  bal?: number;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** `ns/name` for a domain's network as agents write it (`default/voip`; a bare name is in `default`). */
export function domainNetKey(network: string): string {
  return network.includes('/') ? network : `default/${network}`;
}

/**
 * Upper bounds (ms) of the agents' latency buckets: LATENCY_LE_MS of src/functions/latency.ts
 * (4^m µs, m = 0…11); the dashboard reads the API only, so the bounds are restated here.
 */
const LE_MS = Array.from({ length: 12 }, (_, m) => 4 ** m / 1000);

/** The q-quantile of per-bucket counts (last slot: above every bound), linear inside its bucket. */
export function quantile(counts: readonly number[], n: number, q: number): number {
  const target = q * n;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && below + c >= target) {
      const lo = i === 0 ? 0 : (LE_MS[i - 1] ?? 0);
      const hi = LE_MS[i] ?? lo * 4;
      return lo + ((hi - lo) * (target - below)) / c;
    }
    below += c;
  }
  return LE_MS.at(-1) ?? 0;
}

function push<T>(a: T[], v: T): void {
  a.push(v);
  if (a.length > HIST) a.shift();
}

/**
 * @example
 * const s = new SeriesStore();
 * const changed = s.ingest('s1', server.status, Date.now(), () => undefined);
 * for (const k of changed) chartOf(k)?.setData(s.nets.get(k));
 */
export class SeriesStore {
  readonly nets = new Map<string, NetSeries>();
  private readonly last = new Map<string, Map<string, Last>>();
  private readonly onServer = new Map<string, Set<string>>();

  /**
   * One Server status write. `sinks(net)` names the network's traffic sinks (their received bytes
   * are its throughput; sources count the same bytes again), undefined when the spec is unknown.
   * Returns the networks that got a point.
   */
  ingest(server: string, status: Record<string, unknown> | undefined, receivedAt: number, sinks: (net: string) => ReadonlySet<string> | undefined): Set<string> {
    const changed = new Set<string>();
    const doms = status?.['domains'];
    const reported = Date.parse(String(obj(status?.['agent'])?.['reportedAt'] ?? ''));
    const at = Number.isFinite(reported) ? reported : receivedAt;
    const now = new Set<string>();
    for (const d of Array.isArray(doms) ? doms : []) {
      const dom = obj(d);
      if (!dom || typeof dom['network'] !== 'string') continue;
      const k = domainNetKey(dom['network']);
      now.add(k);
      let per = this.last.get(k);
      if (!per) this.last.set(k, (per = new Map()));
      const prev = per.get(server);
      // A write without a new report (a condition, a cordon) repeats the counters: no point.
      if (prev && at <= prev.at) continue;
      const only = sinks(k);
      let bytes = 0;
      for (const [fn, v] of Object.entries(obj(dom['traffic']) ?? {})) if (!only || only.size === 0 || only.has(fn)) bytes += num(obj(v)?.['bytes']) ?? 0;
      const frames = num(dom['processed']) ?? 0;
      const drops = num(dom['drops']) ?? 0;
      const lat = obj(dom['latency']);
      const tok = obj(dom['tokens']);
      const next: Last = { at, bytes, frames, drops, bits: 0, fps: 0, dps: 0, rated: false };
      if (prev) {
        const dt = (at - prev.at) / 1000;
        // Counters that went down belong to a restarted or newly adopted domain: no rate across that.
        if (bytes >= prev.bytes && frames >= prev.frames && drops >= prev.drops) Object.assign(next, { bits: ((bytes - prev.bytes) * 8) / dt, fps: (frames - prev.frames) / dt, dps: (drops - prev.drops) / dt, rated: true });
      }
      const p50 = num(lat?.['p50Ms']);
      const p99 = num(lat?.['p99Ms']);
      const count = num(lat?.['count']);
      const sum = num(lat?.['sumMs']);
      const buckets = Array.isArray(lat?.['buckets']) && (lat['buckets'] as unknown[]).every((b) => num(b) !== undefined) ? (lat['buckets'] as number[]) : undefined;
      if (sum !== undefined) next.sum = sum;
      if (buckets) next.buckets = buckets;
      if (prev?.buckets && buckets && prev.buckets.length === buckets.length && count !== undefined && prev.count !== undefined && count >= prev.count) {
        // Cumulative "≤ LE" counts → this interval's count per bucket; the last slot is +Inf.
        const cum = [...buckets, count].map((b, i) => b - ([...(prev.buckets ?? []), prev.count ?? 0][i] ?? 0));
        const counts = cum.map((c, i) => Math.max(0, c - (i > 0 ? (cum[i - 1] ?? 0) : 0)));
        next.win = { counts, n: count - prev.count, sumMs: Math.max(0, (sum ?? 0) - (prev.sum ?? 0)) };
      }
      const alloc = num(tok?.['allocation']);
      const bal = num(tok?.['balance']);
      if (p50 !== undefined) next.p50 = p50;
      if (p99 !== undefined) next.p99 = p99;
      if (count !== undefined) next.count = count;
      if (alloc !== undefined) next.alloc = alloc;
      if (bal !== undefined) next.bal = bal;
      per.set(server, next);
      this.point(k, at);
      changed.add(k);
    }
    // Networks this server no longer runs (moved away, removed): their sums lose its share now.
    for (const k of this.onServer.get(server) ?? []) {
      if (now.has(k)) continue;
      this.last.get(k)?.delete(server);
      this.point(k, at);
      changed.add(k);
    }
    this.onServer.set(server, now);
    return changed;
  }

  /** A deleted network: its history goes (user networks come and go by the thousand). */
  dropNet(k: string): void {
    this.nets.delete(k);
    this.last.delete(k);
  }

  /** A deleted server. */
  forget(server: string, at: number): Set<string> {
    return this.ingest(server, { domains: [] }, at, () => undefined);
  }

  private point(k: string, at: number): void {
    const per = this.last.get(k);
    let bits = 0;
    let fps = 0;
    let dps = 0;
    let rated = false;
    let p50: number | null = null;
    let p99: number | null = null;
    let best = -1;
    let win: number[] | undefined;
    let winN = 0;
    let winSum = 0;
    let alloc: number | null = null;
    let bal: number | null = null;
    for (const l of per?.values() ?? []) {
      if (at - l.at > STALE_MS) continue;
      if (l.rated) {
        rated = true;
        bits += l.bits;
        fps += l.fps;
        dps += l.dps;
      }
      // p50 of the sink with the most samples; p99 the worst of all (the tail a user sees).
      if (l.p50 !== undefined && (l.count ?? 0) > best) {
        best = l.count ?? 0;
        p50 = l.p50;
      }
      if (l.p99 !== undefined && (l.count ?? 1) > 0) p99 = Math.max(p99 ?? 0, l.p99);
      if (l.win) {
        win = win ? win.map((c, i) => c + (l.win?.counts[i] ?? 0)) : [...l.win.counts];
        winN += l.win.n;
        winSum += l.win.sumMs;
      }
      if (l.alloc !== undefined) alloc = (alloc ?? 0) + l.alloc;
      if (l.bal !== undefined) bal = (bal ?? 0) + l.bal;
    }
    let mean: number | null = null;
    if (win) {
      // The interval's own figures replace the since-start ones; an interval without frames has none.
      p50 = winN > 0 ? quantile(win, winN, 0.5) : null;
      p99 = winN > 0 ? quantile(win, winN, 0.99) : null;
      mean = winN > 0 ? winSum / winN : null;
    }
    if (!rated && p50 === null && p99 === null && alloc === null && bal === null && !win) return;
    let s = this.nets.get(k);
    if (!s) this.nets.set(k, (s = { t: [], bits: [], fps: [], drops: [], p50: [], p99: [], mean: [], alloc: [], bal: [] }));
    // x must grow: a report stamped at or before the last point (same millisecond, or a server's
    // clock behind) replaces that point with the new sums.
    const lastT = s.t.at(-1);
    const t = lastT !== undefined && lastT >= at / 1000 ? lastT : at / 1000;
    if (t === lastT) for (const a of [s.t, s.bits, s.fps, s.drops, s.p50, s.p99, s.mean, s.alloc, s.bal]) a.pop();
    push(s.t, t);
    push(s.bits, rated ? bits : null);
    push(s.fps, rated ? fps : null);
    push(s.drops, rated ? dps : null);
    push(s.p50, p50);
    push(s.p99, p99);
    push(s.mean, mean);
    push(s.alloc, alloc);
    push(s.bal, bal);
  }
}
