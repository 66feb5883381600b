/**
 * The network controller's default {@link NetworkScheduler}: the filter/score scheduler of
 * src/control/scheduler/ placing a network's functions as a gang, over a Cluster that already
 * holds every other network's placements.
 */
import { clusterFromResources, functionId, networkRequests } from '../scheduler/resources.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { DEFAULT_NAMESPACE } from '../manifest/types.js';
import type { NetworkScheduler } from './network.js';

/**
 * @example
 * const c = await NetworkController.start(store, { scheduler: gangScheduler });
 */
export const gangScheduler: NetworkScheduler = {
  place(network, infrastructure, others) {
    const cluster = clusterFromResources(infrastructure);
    for (const p of others) {
      const s = cluster.index.get(p.server);
      const id = functionId(p.namespace, p.network, p.function);
      if (s !== undefined && !cluster.placed.has(id)) cluster.assume({ id, cpu: p.requests.cpu, memory: p.requests.memory, bandwidth: p.requests.bandwidth }, s);
    }
    const reqs = networkRequests(network);
    const g = new Scheduler(cluster).scheduleGang(reqs);
    if (!g.ok) return { ok: false, reason: g.unschedulable.message };
    const prefix = functionId(network.metadata.namespace ?? DEFAULT_NAMESPACE, network.metadata.name, '');
    return {
      ok: true,
      assignments: reqs.map((r) => ({ function: r.id.slice(prefix.length), server: g.placements.get(r.id) ?? '', requests: { cpu: r.cpu, memory: r.memory, bandwidth: r.bandwidth } })),
    };
  },
};
