/**
 * The network controller's default {@link NetworkScheduler}: the filter/score scheduler of
 * src/control/scheduler/ placing a network's functions as a gang. It keeps one Cluster with every
 * placement assumed and follows the placements the controller observes, so a pass costs what one
 * network needs; the cluster is rebuilt only when the infrastructure changes or a decision was
 * not written.
 */
import type { Cluster, FunctionRequest } from '../scheduler/cluster.js';
import { clusterFromResources, functionId, networkRequests, REPLICA_GROUP } from '../scheduler/resources.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { DEFAULT_NAMESPACE, type Resource } from '../manifest/types.js';
import type { Placement } from '../placement.js';
import type { NetworkScheduler, PlaceContext, PlacementDecision } from './network.js';

const idOf = (p: Placement): string => functionId(p.namespace, p.network, p.function);

/**
 * @example
 * const c = await NetworkController.start(store, { scheduler: new GangScheduler() });
 */
export class GangScheduler implements NetworkScheduler {
  private state: { cluster: Cluster; scheduler: Scheduler; infra: readonly Resource[] } | undefined;

  private assume(c: Cluster, p: Placement): void {
    const s = c.index.get(p.server);
    const id = idOf(p);
    c.forget(id);
    if (s !== undefined) c.assume({ id, cpu: p.requests.cpu, memory: p.requests.memory, bandwidth: p.requests.bandwidth }, s);
  }

  place(network: Resource, ctx: PlaceContext): PlacementDecision {
    if (!this.state || this.state.infra !== ctx.infrastructure) {
      const cluster = clusterFromResources(ctx.infrastructure);
      for (const p of ctx.others()) this.assume(cluster, p);
      for (const p of ctx.mine) this.assume(cluster, p);
      this.state = { cluster, scheduler: new Scheduler(cluster), infra: ctx.infrastructure };
    }
    const { cluster, scheduler } = this.state;
    // The network's own placements are replaced: release them, restore them if nothing fits.
    const saved: { req: FunctionRequest; server: number }[] = [];
    for (const p of ctx.mine) {
      const cur = cluster.placed.get(idOf(p));
      if (!cur) continue;
      saved.push({ req: cur.req, server: cur.server });
      cluster.forget(idOf(p));
    }
    const reqs = networkRequests(network);
    const g = scheduleSoft(scheduler, reqs);
    if (!g.ok) {
      for (const s of saved) cluster.assume(s.req, s.server);
      return { ok: false, reason: g.unschedulable.message };
    }
    const prefix = functionId(network.metadata.namespace ?? DEFAULT_NAMESPACE, network.metadata.name, '');
    return {
      ok: true,
      assignments: reqs.map((r) => ({ function: r.id.slice(prefix.length), server: g.placements.get(r.id) ?? '', requests: { cpu: r.cpu, memory: r.memory, bandwidth: r.bandwidth } })),
    };
  }

  /**
   * Places only `functions` of the network (missing ones, or ones that must leave their
   * server), keeping the others where they are: a lost server or a failover moves what it must,
   * never the whole network (every move of a running function is a cold start).
   */
  placeSome(network: Resource, ctx: PlaceContext, functions: ReadonlySet<string>): PlacementDecision {
    const prefix = functionId(network.metadata.namespace ?? DEFAULT_NAMESPACE, network.metadata.name, '');
    if (!this.state || this.state.infra !== ctx.infrastructure) {
      const cluster = clusterFromResources(ctx.infrastructure);
      for (const p of ctx.others()) this.assume(cluster, p);
      this.state = { cluster, scheduler: new Scheduler(cluster), infra: ctx.infrastructure };
    }
    const { cluster, scheduler } = this.state;
    // The staying functions with their full requests: anti-affinity and latency are checked against them.
    const full = new Map(networkRequests(network).map((r) => [r.id, r]));
    for (const p of ctx.mine) {
      if (functions.has(p.function)) continue;
      const s = cluster.index.get(p.server);
      const req = full.get(idOf(p));
      cluster.forget(idOf(p));
      if (s !== undefined) cluster.assume(req ?? { id: idOf(p), ...p.requests }, s);
    }
    const saved: { req: FunctionRequest; server: number }[] = [];
    for (const p of ctx.mine) {
      const cur = functions.has(p.function) ? cluster.placed.get(idOf(p)) : undefined;
      if (!cur) continue;
      saved.push({ req: cur.req, server: cur.server });
      cluster.forget(idOf(p));
    }
    const reqs = [...full.values()].filter((r) => functions.has(r.id.slice(prefix.length)));
    const g = scheduleSoft(scheduler, reqs);
    if (!g.ok) {
      for (const s of saved) cluster.assume(s.req, s.server);
      return { ok: false, reason: g.unschedulable.message };
    }
    return { ok: true, assignments: reqs.map((r) => ({ function: r.id.slice(prefix.length), server: g.placements.get(r.id) ?? '', requests: { cpu: r.cpu, memory: r.memory, bandwidth: r.bandwidth } })) };
  }

  observe(type: 'put' | 'delete', p: Placement): void {
    const c = this.state?.cluster;
    if (!c) return;
    if (type === 'put') this.assume(c, p);
    else if (c.placed.get(idOf(p))?.server === c.index.get(p.server)) c.forget(idOf(p));
  }

  reset(): void {
    this.state = undefined;
  }
}

/**
 * Schedules a gang; replicas spread over servers (`~replica-k`, group `#replicas`) keep apart
 * where the cluster allows: refused, the gang is tried again with the last replica free of the
 * group, then the last two, … (the most servers first). When even all of them together are
 * refused, the reason is that last attempt's (what really blocks), the first one's beside it.
 */
function scheduleSoft(scheduler: Scheduler, reqs: readonly FunctionRequest[]): ReturnType<Scheduler['scheduleGang']> {
  const first = scheduler.scheduleGang([...reqs]);
  if (first.ok) return first;
  const reps = reqs.filter((r) => /~replica-\d+$/.test(r.id) && r.antiAffinity?.some((g) => g.endsWith(REPLICA_GROUP)));
  let last: ReturnType<Scheduler['scheduleGang']> = first;
  for (let free = 1; free <= reps.length; free++) {
    const loose = new Set(reps.slice(reps.length - free).map((r) => r.id));
    last = scheduler.scheduleGang(reqs.map((r) => (loose.has(r.id) ? { ...r, antiAffinity: (r.antiAffinity ?? []).filter((x) => !x.endsWith(REPLICA_GROUP)) } : r)));
    if (last.ok) return last;
  }
  if (last === first || last.ok || last.unschedulable.message === first.unschedulable.message) return first;
  const u = last.unschedulable;
  return { ...last, unschedulable: { ...u, message: `${u.message} (with every replica apart: ${first.unschedulable.message})` } };
}
