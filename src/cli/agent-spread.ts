/**
 * The agent's part of replicas spread over servers (`functions[].spread: servers`): the network
 * controller places replica k ≥ 1 of function F as `F~replica-k`; F's own server runs the
 * partition's front (src/host/partition.ts: the flow-hash spreader) and its instance 0, and
 * reaches each remote replica over VXLAN (src/host/spread.ts); this server runs the replicas
 * placed on it for their front.
 *
 * - `spreadTargets`: on F's server, the plan's `spread` entry — per instance its server and that
 *   server's VXLAN endpoint (from the heartbeat), `null` for one placed here; as many instances
 *   as the spec's replicas whose placements exist (a replica not placed yet is added by the
 *   next reconcile: level-triggered), so the partition grows as placements arrive;
 * - `SpreadReplicas.reconcile`: on every server, the replicas placed here run (their domain and
 *   VNIs; the front's endpoint re-pointed when it moves); one no longer placed here keeps running
 *   `keepMs` (its front exports its flows out of it during that time), then stops;
 * - `storeSpreadState`: the flows' state between two servers travels through the store, under
 *   `/swnet/partition-state/<ref>`, taken (read and deleted) once;
 * - `spreadStatus`: what the Server status says of the partitions fronted here (each instance's
 *   server and buckets) and of the replicas run here for other fronts.
 *
 * @example
 * runtime.spread = new SpreadNode({ host: runtime.host, uplink, server: 's1', state: storeSpreadState(store) });
 * const replicas = new SpreadReplicas({ server: 's1', node: runtime.spread, ... });
 * await replicas.reconcile();
 */
import type { Plain } from '../functions/contract.js';
import type { AgentRuntime } from '../host/agent-runtime.js';
import { functionPorts } from '../host/agent-runtime.js';
import type { SpreadNode, SpreadStateStore, SpreadTarget } from '../host/spread.js';
import { readResource } from '../control/manifest/apply.js';
import { resourceKey, type SoftwareNetworkSpec } from '../control/manifest/types.js';
import { placementKey, type Placement } from '../control/placement.js';
import type { JsonObject, KeyValue, Store } from '../control/store/contract.js';

export const PARTITION_STATE_PREFIX = '/swnet/partition-state/';

/** The placement name of replica `k` (≥ 1) of `fn`. */
export const replicaName = (fn: string, k: number): string => `${fn}~replica-${k}`;
const REPLICA = /^(.+)~replica-(\d+)$/;

/** Characters of the flows' JSON per store value: escaped (≤ 2 bytes a character, 3 for non-ASCII) it stays under etcd's 1.5 MiB request limit. */
export const STATE_CHUNK = 256 * 1024;

/**
 * A SpreadStateStore over the control plane's store (memory, SQLite or etcd alike): the flows as
 * JSON text in chunks of at most STATE_CHUNK characters (`<ref>/<i>`), then a head (`<ref>`) with
 * their count, written last, so a reader that finds the head finds every chunk. Taken once: read,
 * then deleted.
 *
 * @example
 * const state = storeSpreadState(store);
 */
export function storeSpreadState(store: Store): SpreadStateStore {
  return {
    put: async (ref, flows) => {
      const key = `${PARTITION_STATE_PREFIX}${ref}`;
      const text = JSON.stringify(flows);
      const n = Math.max(1, Math.ceil(text.length / STATE_CHUNK));
      for (let i = 0; i < n; i++) await store.put(`${key}/${i}`, { text: text.slice(i * STATE_CHUNK, (i + 1) * STATE_CHUNK) });
      await store.put(key, { chunks: n });
    },
    take: async (ref) => {
      const key = `${PARTITION_STATE_PREFIX}${ref}`;
      const head = await store.get(key);
      const n = (head?.value as { chunks?: unknown } | undefined)?.chunks;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return undefined;
      let text = '';
      for (let i = 0; i < n; i++) {
        const t = ((await store.get(`${key}/${i}`))?.value as { text?: unknown } | undefined)?.text;
        if (typeof t !== 'string') return undefined;
        text += t;
      }
      await store.txn([], [{ type: 'delete', key }, { type: 'delete', key: `${key}/`, prefix: true }]).catch(() => undefined);
      try {
        const f = JSON.parse(text) as unknown;
        return Array.isArray(f) ? (f as Plain[][]) : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * The `spread` entry of function `fn` (spec `replicas`) for the plan of its own server `server`:
 * instance 0 here, instance k where `fn~replica-k` is placed (null if here too), stopping at the
 * first replica not placed yet or whose server has no VXLAN endpoint.
 *
 * @example
 * const t = await spreadTargets(placements, 'default', 'web', 'fw', 3, 's1', (s) => agent.peerEndpoint(s));
 */
export async function spreadTargets(
  placements: ReadonlyMap<string, KeyValue>,
  ns: string,
  net: string,
  fn: string,
  replicas: number,
  server: string,
  endpoint: (server: string) => Promise<{ address: string; port: number }>,
): Promise<(SpreadTarget | null)[]> {
  const out: (SpreadTarget | null)[] = [null];
  for (let k = 1; k < replicas; k++) {
    const p = placements.get(placementKey(ns, net, replicaName(fn, k)))?.value as unknown as Placement | undefined;
    if (!p) break;
    if (p.server === server) {
      out.push(null);
      continue;
    }
    try {
      out.push({ server: p.server, remote: await endpoint(p.server) });
    } catch {
      break;
    }
  }
  return out;
}

export interface SpreadReplicasInit {
  readonly server: string;
  readonly node: SpreadNode;
  readonly runtime: AgentRuntime;
  /** The agent's caches: placements, SoftwareNetworks. */
  readonly placements: ReadonlyMap<string, KeyValue>;
  readonly networks: ReadonlyMap<string, KeyValue>;
  readonly endpoint: (server: string) => Promise<{ address: string; port: number }>;
  /** How long a replica no longer placed here keeps running (ms, default 5000): its front moves its flows out meanwhile. */
  readonly keepMs?: number;
  readonly log?: (line: string) => void;
}

/** The replicas placed on this server for fronts on other servers. */
export class SpreadReplicas {
  /** Served replicas no longer wanted, since when (epoch ms). */
  private readonly leaving = new Map<string, number>();
  private readonly errors = new Map<string, string>();

  constructor(readonly init: SpreadReplicasInit) {}

  /** One pass: the replicas placed here run, the others stop once their keep time is over. */
  async reconcile(): Promise<void> {
    const { server, node, placements, networks } = this.init;
    const wanted = new Set<string>();
    for (const kv of placements.values()) {
      const p = kv.value as unknown as Placement;
      const m = REPLICA.exec(p.function);
      if (!m || p.server !== server) continue;
      const fn = m[1] as string;
      const k = Number(m[2]);
      const key = `${p.namespace}/${p.network}`;
      const id = `${key}\0${fn}\0${k}`;
      try {
        const nkv = networks.get(resourceKey('SoftwareNetwork', p.network, p.namespace));
        if (!nkv) continue;
        const spec = readResource(nkv).spec as unknown as SoftwareNetworkSpec;
        const f = spec.functions.find((x) => x.name === fn);
        if (!f || f.spread !== 'servers' || k >= (f.replicas ?? 1)) continue;
        const front = placements.get(placementKey(p.namespace, p.network, fn))?.value as unknown as Placement | undefined;
        // The front runs this instance itself when it is on this server too.
        if (!front || front.server === server) continue;
        const ep = await this.init.endpoint(front.server);
        const config = (f.config ?? {}) as Plain;
        await node.serve(key, { name: fn, kind: f.kind, config }, k, ep, functionPorts(f.kind, config), { allocation: spec.tokens ?? 1, ...(spec.priority !== undefined ? { priority: spec.priority } : {}) });
        wanted.add(id);
        if (this.errors.delete(id)) this.init.log?.(`agent ${server}: replica ${k} of ${key}/${fn} running`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (this.errors.get(id) !== msg) this.init.log?.(`agent ${server}: replica ${k} of ${key}/${fn}: ${msg}`);
        this.errors.set(id, msg);
        // A replica that ran keeps running (its front may still move flows out of it).
        if (node.servedList().some((r) => `${r.key}\0${r.fn}\0${r.k}` === id)) wanted.add(id);
      }
    }
    const now = Date.now();
    for (const r of node.servedList()) {
      const id = `${r.key}\0${r.fn}\0${r.k}`;
      if (wanted.has(id)) {
        this.leaving.delete(id);
        continue;
      }
      const since = this.leaving.get(id) ?? now;
      this.leaving.set(id, since);
      if (now - since < (this.init.keepMs ?? 5000)) continue;
      this.leaving.delete(id);
      await node.unserve(r.key, r.fn, r.k);
      this.init.log?.(`agent ${server}: replica ${r.k} of ${r.key}/${r.fn} stopped (no longer placed here)`);
    }
  }

  /** Replicas still to stop (a keep time running): the agent's resync must come back for them. */
  get pending(): number {
    return this.leaving.size;
  }
}

/**
 * The Server status entry `partitions`: per partition fronted here, each instance's server
 * (this one for local instances) and buckets; per replica run here, its front.
 *
 * @example
 * spreadStatus(runtime); // [{ network: 'default/web', function: 'fw', instances: [{ name: 'fw#0', server: 's1', buckets: 129 }, …] }]
 */
export function spreadStatus(runtime: AgentRuntime): JsonObject[] {
  const out: JsonObject[] = [];
  for (const key of runtime.keys())
    for (const fn of runtime.functions(key)) {
      const p = runtime.partitionOf(key, fn);
      if (!p) continue;
      const c = p.partition.counters();
      const last = p.resizes[p.resizes.length - 1];
      out.push({
        network: key,
        function: fn,
        // A local instance's site is this server's name, a remote one's `server@address:port`.
        instances: p.partition.placement().map((i) => ({ name: i.name, server: i.site.split('@')[0] as string, buckets: c.buckets[i.name] ?? 0, spread: c.spread[i.name] ?? 0 })),
        ...(last ? { lastResize: { from: last.from, to: last.to, moved: last.moved, flows: last.flows, held: last.held, holdMs: Math.round(last.holdMs * 10) / 10, ...(last.stateLost ? { stateLost: last.stateLost.length } : {}) } } : {}),
      });
    }
  for (const r of runtime.spread?.servedList() ?? []) out.push({ network: r.key, function: r.fn, replica: r.k, front: `${r.front.address}:${r.front.port}`, state: r.hd.domain.state, processed: r.hd.domain.counters().processed });
  return out;
}
