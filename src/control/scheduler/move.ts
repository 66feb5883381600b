/**
 * Targets for functions that must leave their server (drain, overload): the same filters and
 * scores as the network scheduler, over a Cluster holding every current placement, with the
 * moving functions released and their source servers excluded. The other functions of the
 * network stay where they are, so latency bounds and anti-affinity are checked against them.
 * Successive plans accumulate their reservations (a drain of 50 functions spreads them).
 */
import type { Resource } from '../manifest/types.js';
import { DEFAULT_NAMESPACE } from '../manifest/types.js';
import type { Cluster, FunctionRequest } from './cluster.js';
import { clusterFromResources, functionId, networkRequests } from './resources.js';
import { DEFAULT_FILTERS, energyScore, balanceScore, type FilterPlugin, type ScorePlugin } from './plugins.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

/** Where a function runs (a Placement, or the target of a migration in flight). */
export interface PlacedFunction {
  readonly namespace: string;
  readonly network: string;
  readonly function: string;
  readonly server: string;
  readonly requests: { readonly cpu: number; readonly memory: number; readonly bandwidth: number };
}

export interface MovePlannerOptions {
  /**
   * Score plugins (default the scheduler's: energy and balance). A drain passes balance alone
   * ('least', kube-scheduler's LeastAllocated): evicted functions spread over the servers left,
   * as Kubernetes reschedules evicted pods, instead of all packing onto the one server the
   * energy score likes best (whose agent would then start every one of them); consolidation is
   * the urbanizer's job afterwards.
   */
  readonly scores?: SchedulerOptions['scores'];
  /**
   * Functions planned together go to one server while it has room (a score of 200 for the servers
   * already chosen for the plan): a network moved as one keeps its links local and its target
   * agent starts one domain for it, not one per function; different plans still spread.
   */
  readonly together?: boolean;
}

export type MovePlan = { readonly ok: true; readonly targets: ReadonlyMap<string, string> } | { readonly ok: false; readonly reason: string };

/**
 * @example
 * const planner = new MovePlanner(infrastructure, placements);
 * const p = planner.plan(network, ['fw'], new Set(['s1']));
 * if (p.ok) console.log(p.targets.get('fw'));
 */
export class MovePlanner {
  readonly cluster: Cluster;
  private readonly excluded = new Set<number>();
  /** Ids of the functions of the plan in progress (the `together` score). */
  private readonly gang = new Set<string>();
  private readonly scheduler: Scheduler;

  /** `reserved`: capacity held elsewhere (a migration's target while both copies run), under unique ids. */
  constructor(infrastructure: readonly Resource[], placements: readonly PlacedFunction[], reserved: readonly PlacedFunction[] = [], opts: MovePlannerOptions = {}) {
    this.cluster = clusterFromResources(infrastructure);
    for (const p of placements) this.assume(functionId(p.namespace, p.network, p.function), p);
    reserved.forEach((p, i) => this.assume(`${functionId(p.namespace, p.network, p.function)}#reserved-${i}`, p));
    const excluded = this.excluded;
    const exclude: FilterPlugin = { name: 'exclude', filter: (_r, s) => !excluded.has(s), reason: (_r, s, c) => `${c.names[s]} is the server being left` };
    const gang = this.gang;
    const cluster = this.cluster;
    const together: ScorePlugin = {
      name: 'together',
      score: (_r, s) => {
        for (const id of gang) if (cluster.placed.get(id)?.server === s) return 100;
        return 0;
      },
    };
    const scores = opts.scores ?? [
      { plugin: energyScore, weight: 1 },
      { plugin: balanceScore('least'), weight: 1 },
    ];
    this.scheduler = new Scheduler(this.cluster, { filters: [exclude, ...DEFAULT_FILTERS], scores: opts.together ? [...scores, { plugin: together, weight: 2 }] : scores });
  }

  private assume(id: string, p: PlacedFunction): void {
    const s = this.cluster.index.get(p.server);
    if (s === undefined || this.cluster.placed.has(id)) return;
    this.cluster.assume({ id, ...p.requests }, s);
  }

  /**
   * Targets for `functions` of `network` (all or none), never on `exclude`d servers; the
   * chosen servers are reserved for later plans.
   */
  plan(network: Resource, functions: readonly string[], exclude: ReadonlySet<string>): MovePlan {
    const ns = network.metadata.namespace ?? DEFAULT_NAMESPACE;
    const prefix = functionId(ns, network.metadata.name, '');
    const want = new Set(functions.map((f) => prefix + f));
    const all = networkRequests(network);
    const reqs = all.filter((r) => want.has(r.id));
    // The staying functions are re-assumed with their full requests, so that anti-affinity
    // (a function and its standby) and latency bounds are checked against them.
    for (const r of all) {
      const cur = want.has(r.id) ? undefined : this.cluster.placed.get(r.id);
      if (!cur) continue;
      this.cluster.forget(r.id);
      this.cluster.assume(r, cur.server);
    }
    if (reqs.length !== want.size) {
      const known = new Set(reqs.map((r) => r.id));
      return { ok: false, reason: `${[...want].filter((id) => !known.has(id)).join(', ')} not in the network's spec` };
    }
    const saved: { req: FunctionRequest; server: number }[] = [];
    for (const r of reqs) {
      const cur = this.cluster.placed.get(r.id);
      if (!cur) continue;
      saved.push(cur);
      this.cluster.forget(r.id);
    }
    this.excluded.clear();
    for (const name of exclude) {
      const s = this.cluster.index.get(name);
      if (s !== undefined) this.excluded.add(s);
    }
    for (const r of reqs) this.gang.add(r.id);
    const g = this.scheduler.scheduleGang(reqs);
    this.excluded.clear();
    this.gang.clear();
    if (!g.ok) {
      for (const s of saved) this.cluster.assume(s.req, s.server);
      return { ok: false, reason: g.unschedulable.message };
    }
    return { ok: true, targets: new Map(reqs.map((r) => [r.id.slice(prefix.length), g.placements.get(r.id) ?? ''])) };
  }
}
