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
import { DEFAULT_FILTERS, type FilterPlugin } from './plugins.js';
import { Scheduler } from './scheduler.js';

/** Where a function runs (a Placement, or the target of a migration in flight). */
export interface PlacedFunction {
  readonly namespace: string;
  readonly network: string;
  readonly function: string;
  readonly server: string;
  readonly requests: { readonly cpu: number; readonly memory: number; readonly bandwidth: number };
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
  private readonly scheduler: Scheduler;

  /** `reserved`: capacity held elsewhere (a migration's target while both copies run), under unique ids. */
  constructor(infrastructure: readonly Resource[], placements: readonly PlacedFunction[], reserved: readonly PlacedFunction[] = []) {
    this.cluster = clusterFromResources(infrastructure);
    for (const p of placements) this.assume(functionId(p.namespace, p.network, p.function), p);
    reserved.forEach((p, i) => this.assume(`${functionId(p.namespace, p.network, p.function)}#reserved-${i}`, p));
    const excluded = this.excluded;
    const exclude: FilterPlugin = { name: 'exclude', filter: (_r, s) => !excluded.has(s), reason: (_r, s, c) => `${c.names[s]} is the server being left` };
    this.scheduler = new Scheduler(this.cluster, { filters: [exclude, ...DEFAULT_FILTERS] });
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
    const g = this.scheduler.scheduleGang(reqs);
    this.excluded.clear();
    if (!g.ok) {
      for (const s of saved) this.cluster.assume(s.req, s.server);
      return { ok: false, reason: g.unschedulable.message };
    }
    return { ok: true, targets: new Map(reqs.map((r) => [r.id.slice(prefix.length), g.placements.get(r.id) ?? ''])) };
  }
}
