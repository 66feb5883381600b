/**
 * The scheduling cycle, as kube-scheduler runs it: narrow the candidates from indexes, run the
 * filters over them starting where the previous cycle stopped until enough feasible servers are
 * found (percentageOfNodesToScore), score those with weighted plugins, reserve the best
 * (incremental accounting in the Cluster). A function that fits nowhere gets a typed
 * Unschedulable saying which filter refused it on which servers. A software network is
 * scheduled as a gang: all of its functions or none.
 */
import type { Cluster, FunctionRequest } from './cluster.js';
import { balanceScore, DEFAULT_FILTERS, energyScore, type FilterPlugin, type ScorePlugin } from './plugins.js';

export interface SchedulerOptions {
  readonly filters?: readonly FilterPlugin[];
  /** Score plugins with their weights (default energy 1, balance 'least' 1). */
  readonly scores?: readonly { readonly plugin: ScorePlugin; readonly weight: number }[];
  /**
   * Percentage of the candidate servers to find feasible before scoring stops searching
   * (kube-scheduler's percentageOfNodesToScore); 0 = adaptive (50 % − 1 % per 125 servers,
   * at least 5 %), 100 = score every feasible server.
   */
  readonly percentageOfNodesToScore?: number;
  /** Never score fewer than this many feasible servers when that many exist (kube: 100). */
  readonly minFeasibleNodesToFind?: number;
  /** Different anchor servers a gang tries before it gives up (default 3). */
  readonly gangAttempts?: number;
}

/** A filter's refusals for one unschedulable function. */
export interface Refusal {
  readonly plugin: string;
  readonly count: number;
  /** Up to three reasons, each naming its server. */
  readonly examples: readonly string[];
}

/** Why a function could not be placed: which plugin refused it on which servers. */
export interface Unschedulable {
  readonly function: string;
  readonly servers: number;
  readonly refusals: readonly Refusal[];
  /** e.g. "0/8 servers fit t/web/r1: capacity refused 5 (cpu 3 > free 1.5 on s1, ...), tier refused 3 (...)" */
  readonly message: string;
}

export type ScheduleResult = { readonly ok: true; readonly server: string; readonly index: number; readonly score: number } | { readonly ok: false; readonly unschedulable: Unschedulable };

export type GangResult =
  | { readonly ok: true; readonly placements: ReadonlyMap<string, string> }
  | { readonly ok: false; readonly unschedulable: Unschedulable; /** functions the gang had placed before the failure (all rolled back) */ readonly rolledBack: number };

/** Thrown by callers that prefer exceptions; carries the typed diagnosis. */
export class UnschedulableError extends Error {
  override readonly name = 'UnschedulableError';
  constructor(readonly detail: Unschedulable) {
    super(detail.message);
  }
}

/**
 * A scheduler over one Cluster.
 * @example
 * const sched = new Scheduler(cluster);
 * const r = sched.schedule({ id: 'default/web/r1', cpu: 2, memory: 2 ** 30, bandwidth: 0 });
 * if (!r.ok) console.error(r.unschedulable.message);
 */
export class Scheduler {
  readonly filters: readonly FilterPlugin[];
  readonly scores: readonly { readonly plugin: ScorePlugin; readonly weight: number }[];
  private readonly pct: number;
  private readonly minFeasible: number;
  private readonly gangAttempts: number;
  private next = 0;
  private all: number[] = [];
  private feasible = new Int32Array(0);

  constructor(
    readonly cluster: Cluster,
    o: SchedulerOptions = {},
  ) {
    this.filters = o.filters ?? DEFAULT_FILTERS;
    this.scores = o.scores ?? [
      { plugin: energyScore, weight: 1 },
      { plugin: balanceScore('least'), weight: 1 },
    ];
    this.pct = o.percentageOfNodesToScore ?? 0;
    this.minFeasible = o.minFeasibleNodesToFind ?? 100;
    this.gangAttempts = Math.max(1, o.gangAttempts ?? 3);
    this.all = Array.from({ length: cluster.size }, (_, i) => i);
  }

  /** How many feasible servers to find among `n` candidates before scoring. */
  numFeasibleToFind(n: number): number {
    if (n <= this.minFeasible || this.pct >= 100) return n;
    let p = this.pct;
    if (p <= 0) p = Math.max(5, 50 - Math.floor(n / 125));
    return Math.max(this.minFeasible, Math.floor((n * p) / 100));
  }

  /** Candidates from the filters' indexes: the smallest list any filter offers. */
  private candidates(req: FunctionRequest): readonly number[] {
    let best: readonly number[] = this.all;
    for (const f of this.filters) {
      const c = f.candidates?.(req, this.cluster);
      if (c && c.length < best.length) best = c;
    }
    return best;
  }

  /**
   * Picks a server for one function and reserves it; or explains why none fits.
   * `exclude` servers are skipped (a gang retrying with another anchor).
   */
  schedule(req: FunctionRequest, exclude?: ReadonlySet<number>): ScheduleResult {
    const c = this.cluster;
    const cand = this.candidates(req);
    const n = cand.length;
    const want = this.numFeasibleToFind(n);
    if (this.feasible.length < want) this.feasible = new Int32Array(Math.max(want, 64));
    const feas = this.feasible;
    const filters = this.filters;
    const nf = filters.length;
    let found = 0;
    const start = n === 0 ? 0 : this.next % n;
    let visited = 0;
    for (; visited < n && found < want; visited++) {
      let k = start + visited;
      if (k >= n) k -= n;
      const s = cand[k] as number;
      if (exclude?.has(s)) continue;
      let ok = true;
      for (let f = 0; f < nf; f++) {
        if (!(filters[f] as FilterPlugin).filter(req, s, c)) {
          ok = false;
          break;
        }
      }
      if (ok) feas[found++] = s;
    }
    this.next = n === 0 ? 0 : (start + visited) % n;
    if (found === 0) return { ok: false, unschedulable: this.explain(req, exclude) };
    let bestS = -1;
    let bestScore = -Infinity;
    const scores = this.scores;
    for (let i = 0; i < found; i++) {
      const s = feas[i] as number;
      let total = 0;
      for (let k = 0; k < scores.length; k++) {
        const sc = scores[k] as { plugin: ScorePlugin; weight: number };
        total += sc.weight * sc.plugin.score(req, s, c);
      }
      if (total > bestScore) {
        bestScore = total;
        bestS = s;
      }
    }
    c.assume(req, bestS);
    return { ok: true, server: c.names[bestS] as string, index: bestS, score: bestScore };
  }

  /** Every server, its first refusing filter (the slow path, only for unschedulable functions). */
  explain(req: FunctionRequest, exclude?: ReadonlySet<number>): Unschedulable {
    const c = this.cluster;
    const by = new Map<string, { count: number; examples: string[] }>();
    const note = (plugin: string, why: () => string): void => {
      let e = by.get(plugin);
      if (!e) by.set(plugin, (e = { count: 0, examples: [] }));
      e.count++;
      if (e.examples.length < 3) e.examples.push(why());
    };
    let fit = 0;
    for (let s = 0; s < c.size; s++) {
      if (exclude?.has(s)) {
        note('gang', () => `tried as anchor on ${c.names[s]}`);
        continue;
      }
      const f = this.filters.find((p) => !p.filter(req, s, c));
      if (f) note(f.name, () => f.reason(req, s, c));
      else fit++;
    }
    const refusals: Refusal[] = [...by].map(([plugin, e]) => ({ plugin, count: e.count, examples: e.examples })).sort((a, b) => b.count - a.count || a.plugin.localeCompare(b.plugin));
    const parts = refusals.map((r) => `${r.plugin} refused ${r.count} (${r.examples.join(', ')}${r.count > r.examples.length ? ', ...' : ''})`);
    const message = c.size === 0 ? `0/0 servers fit ${req.id}: no servers` : `${fit}/${c.size} servers fit ${req.id}: ${parts.join(', ')}`;
    return { function: req.id, servers: c.size, refusals, message };
  }

  /**
   * Schedules a gang (a software network's functions, standbys included): all placed, or none
   * (every reservation rolled back). Functions are placed in breadth-first order over their
   * latency bounds, so each one's peers are placed before it; when a later function cannot be
   * placed, the gang retries with its first function on a different server.
   * @example
   * const g = sched.scheduleGang(networkRequests(net));
   * if (g.ok) for (const [fn, server] of g.placements) console.log(fn, server);
   */
  scheduleGang(reqs: readonly FunctionRequest[]): GangResult {
    const order = gangOrder(symmetricBounds(reqs));
    const tried = new Set<number>();
    let last: GangResult | null = null;
    for (let attempt = 0; attempt < this.gangAttempts; attempt++) {
      const placed: string[] = [];
      let failure: Unschedulable | null = null;
      for (let i = 0; i < order.length; i++) {
        const r = order[i] as FunctionRequest;
        const res = this.schedule(r, i === 0 ? tried : undefined);
        if (!res.ok) {
          failure = res.unschedulable;
          break;
        }
        if (i === 0) tried.add(res.index);
        placed.push(r.id);
      }
      if (!failure) {
        const out = new Map<string, string>();
        for (const id of placed) out.set(id, this.cluster.names[this.cluster.placed.get(id)?.server ?? -1] as string);
        return { ok: true, placements: out };
      }
      for (const id of placed) this.cluster.forget(id);
      // Out of anchors: the previous attempt's failure is the informative one.
      if (placed.length === 0 && last) break;
      last = { ok: false, unschedulable: failure, rolledBack: placed.length };
      // Only a choice of server can be undone by retrying: a first function that fits nowhere stays unschedulable.
      if (placed.length === 0) break;
    }
    return last as GangResult;
  }
}

/** Breadth-first over latency bounds (both directions), largest CPU first among the roots. */
export function gangOrder(reqs: readonly FunctionRequest[]): FunctionRequest[] {
  const byId = new Map(reqs.map((r) => [r.id, r]));
  const nb = new Map<string, string[]>();
  const add = (a: string, b: string): void => {
    const l = nb.get(a);
    if (l) l.push(b);
    else nb.set(a, [b]);
  };
  for (const r of reqs) for (const b of r.latency ?? []) if (byId.has(b.peer)) { add(r.id, b.peer); add(b.peer, r.id); }
  const roots = [...reqs].sort((a, b) => (nb.get(b.id)?.length ?? 0) - (nb.get(a.id)?.length ?? 0) || b.cpu - a.cpu);
  const seen = new Set<string>();
  const out: FunctionRequest[] = [];
  for (const root of roots) {
    if (seen.has(root.id)) continue;
    seen.add(root.id);
    const q = [root.id];
    while (q.length > 0) {
      const id = q.shift() as string;
      out.push(byId.get(id) as FunctionRequest);
      for (const p of nb.get(id) ?? []) if (!seen.has(p)) { seen.add(p); q.push(p); }
    }
  }
  return out;
}

/** Latency bounds hold both ways: a bound given on one function is copied onto its peer (whichever is placed later checks it). */
export function symmetricBounds(reqs: readonly FunctionRequest[]): readonly FunctionRequest[] {
  const ids = new Set(reqs.map((r) => r.id));
  const extra = new Map<string, { peer: string; maxMs: number }[]>();
  for (const r of reqs) {
    for (const b of r.latency ?? []) {
      if (!ids.has(b.peer)) continue;
      const peer = reqs.find((x) => x.id === b.peer);
      if (peer?.latency?.some((x) => x.peer === r.id && x.maxMs <= b.maxMs)) continue;
      const l = extra.get(b.peer) ?? [];
      l.push({ peer: r.id, maxMs: b.maxMs });
      extra.set(b.peer, l);
    }
  }
  if (extra.size === 0) return reqs;
  return reqs.map((r) => {
    const add = extra.get(r.id);
    return add ? { ...r, latency: [...(r.latency ?? []), ...add] } : r;
  });
}
