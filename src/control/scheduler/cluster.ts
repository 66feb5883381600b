/**
 * The scheduler's view of the infrastructure: servers with their capacities and incremental
 * resource accounting, indexes by tier and datacenter (so that feasibility is pre-filtered
 * before any plugin runs), anti-affinity occupancy, and shortest-latency distances between
 * servers over the Link graph (computed lazily, one Dijkstra row per server asked about).
 */
import { HP_ML110_G5, maxPower, powerAt, type PowerModel } from '../../policy/power.js';
import { shortestDistances } from '../../policy/scheduling.js';

/** Resource dimensions, in this order in every per-server array: cores, bytes, bits per second. */
export const RESOURCES = ['cpu', 'memory', 'bandwidth'] as const;
export type ResourceName = (typeof RESOURCES)[number];
const R = RESOURCES.length;

export interface ServerInput {
  readonly name: string;
  readonly datacenter: string;
  readonly tier: string;
  readonly cpu: number;
  readonly memory: number;
  /** Bits per second; 0 or absent = not accounted. */
  readonly bandwidth?: number;
  /** SPECpower model; servers without one are scored with HP ProLiant ML110 G5. */
  readonly power?: PowerModel;
  /** Cordoned (Server `spec.unschedulable`): refused by the cordon filter, its placements stay. */
  readonly unschedulable?: boolean;
}

/** A physical link between two servers or datacenters (by name), with its one-way latency. */
export interface LinkInput {
  readonly endpoints: readonly [string, string];
  readonly latencyMs: number;
}

/** What one network function asks for. */
export interface FunctionRequest {
  /** Unique over the cluster, e.g. `tenant-a/web/r1` or `tenant-a/web/r1~standby-1`. */
  readonly id: string;
  readonly cpu: number;
  readonly memory: number;
  readonly bandwidth: number;
  readonly tiers?: ReadonlySet<string>;
  readonly datacenters?: ReadonlySet<string>;
  /** Anti-affinity group keys: two members of a group never share a server. */
  readonly antiAffinity?: readonly string[];
  /** Latency bounds to other functions (by id), checked against the placed ones. */
  readonly latency?: readonly { readonly peer: string; readonly maxMs: number }[];
}

export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

export interface ClusterOptions {
  /** Latency between a server and its datacenter's fabric (ms, default 0): two servers of one datacenter are 2× this apart. */
  readonly intraDatacenterMs?: number;
  /** Datacenters that may have no server here (all lost, none yet): their fabric still carries links. */
  readonly datacenters?: readonly string[];
}

/**
 * Servers, accounting and indexes.
 * @example
 * const c = new Cluster([{ name: 's1', datacenter: 'dc1', tier: 'edge', cpu: 16, memory: 64e9 }], []);
 * c.assume({ id: 'n/r1', cpu: 2, memory: 1e9, bandwidth: 0 }, 0);
 */
export class Cluster {
  readonly names: string[];
  readonly index = new Map<string, number>();
  readonly datacenter: string[];
  readonly tier: string[];
  readonly power: PowerModel[];
  /** capacity[s * 3 + r], used[s * 3 + r] (r in RESOURCES order). */
  readonly capacity: Float64Array;
  readonly used: Float64Array;
  /** 1 for a cordoned server (nothing new is placed there). */
  readonly unschedulable: Uint8Array;
  /** Functions per server (for "already on": a server with none counts as off). */
  readonly count: Int32Array;
  /** Draw now (W): at the current load if any function runs there, 0 for a server counted as off. */
  readonly wattsNow: Float64Array;
  readonly byTier = new Map<string, number[]>();
  readonly byDatacenter = new Map<string, number[]>();
  /** Largest peak power of any server: the energy score's scale. */
  readonly maxPeakWatts: number;
  /** Where each placed function is. */
  readonly placed = new Map<string, { server: number; req: FunctionRequest }>();
  /** Anti-affinity group → server → function id. */
  readonly groups = new Map<string, Map<number, string>>();
  private readonly adj: number[][];
  private readonly rows = new Map<number, Float64Array>();

  constructor(servers: readonly ServerInput[], links: readonly LinkInput[], o: ClusterOptions = {}) {
    const n = servers.length;
    this.names = servers.map((s) => s.name);
    this.datacenter = servers.map((s) => s.datacenter);
    this.tier = servers.map((s) => s.tier);
    this.power = servers.map((s) => s.power ?? HP_ML110_G5);
    this.capacity = new Float64Array(n * R);
    this.used = new Float64Array(n * R);
    this.count = new Int32Array(n);
    this.unschedulable = Uint8Array.from(servers, (s) => (s.unschedulable ? 1 : 0));
    this.wattsNow = new Float64Array(n);
    let peak = 0;
    servers.forEach((s, i) => {
      if (this.index.has(s.name)) throw new ClusterError(`server ${s.name} given twice`);
      this.index.set(s.name, i);
      this.capacity[i * R] = s.cpu;
      this.capacity[i * R + 1] = s.memory;
      this.capacity[i * R + 2] = s.bandwidth ?? 0;
      push(this.byTier, s.tier, i);
      push(this.byDatacenter, s.datacenter, i);
      peak = Math.max(peak, maxPower(this.power[i] as PowerModel));
    });
    this.maxPeakWatts = peak || 1;
    // Latency graph: servers 0..n-1, then one node per datacenter (its fabric).
    const dcs = [...new Set([...this.byDatacenter.keys(), ...(o.datacenters ?? [])])];
    const dcNode = new Map(dcs.map((d, k) => [d, n + k]));
    this.adj = Array.from({ length: n + dcs.length }, () => []);
    const intra = o.intraDatacenterMs ?? 0;
    const edge = (a: number, b: number, w: number): void => {
      (this.adj[a] as number[]).push(b, w);
      (this.adj[b] as number[]).push(a, w);
    };
    servers.forEach((s, i) => edge(i, dcNode.get(s.datacenter) as number, intra));
    for (const l of links) {
      const [a, b] = l.endpoints.map((e) => this.index.get(e) ?? dcNode.get(e));
      if (a === undefined || b === undefined) throw new ClusterError(`link ${l.endpoints.join('-')}: endpoint is neither a server nor a datacenter`);
      if (!(l.latencyMs >= 0)) throw new ClusterError(`link ${l.endpoints.join('-')}: latency must be ≥ 0`);
      edge(a, b, l.latencyMs);
    }
  }

  get size(): number {
    return this.names.length;
  }

  /** Free amount of resource `r` (0 cpu, 1 memory, 2 bandwidth) on server `s`; Infinity if not accounted. */
  free(s: number, r: number): number {
    const cap = this.capacity[s * R + r] as number;
    return r === 2 && cap === 0 ? Infinity : cap - (this.used[s * R + r] as number);
  }

  /** Shortest-path latency (ms) between two servers over the links; Infinity if disconnected. */
  latency(a: number, b: number): number {
    if (a === b) return 0;
    let row = this.rows.get(a) ?? this.rows.get(b);
    if (!row) {
      row = shortestDistances(this.adj, [a]);
      this.rows.set(a, row);
      return row[b] as number;
    }
    return (this.rows.has(a) ? row[b] : row[a]) as number;
  }

  /** Reserves `req` on server `s` (incremental accounting). Throws if `req.id` is already placed. */
  assume(req: FunctionRequest, s: number): void {
    if (this.placed.has(req.id)) throw new ClusterError(`function ${req.id} is already placed`);
    if (s < 0 || s >= this.size) throw new ClusterError(`no server ${s}`);
    this.used[s * R] = (this.used[s * R] as number) + req.cpu;
    this.used[s * R + 1] = (this.used[s * R + 1] as number) + req.memory;
    this.used[s * R + 2] = (this.used[s * R + 2] as number) + req.bandwidth;
    this.count[s] = (this.count[s] as number) + 1;
    this.updateWatts(s);
    this.placed.set(req.id, { server: s, req });
    for (const g of req.antiAffinity ?? []) {
      let m = this.groups.get(g);
      if (!m) this.groups.set(g, (m = new Map()));
      m.set(s, req.id);
    }
  }

  private updateWatts(s: number): void {
    const cap = this.capacity[s * R] as number;
    this.wattsNow[s] = (this.count[s] as number) > 0 && cap > 0 ? powerAt(this.power[s] as PowerModel, (this.used[s * R] as number) / cap) : 0;
  }

  /** Releases a placed function (a rollback, a deletion, or before a move). */
  forget(id: string): void {
    const p = this.placed.get(id);
    if (!p) return;
    const s = p.server;
    const req = p.req;
    this.used[s * R] = (this.used[s * R] as number) - req.cpu;
    this.used[s * R + 1] = (this.used[s * R + 1] as number) - req.memory;
    this.used[s * R + 2] = (this.used[s * R + 2] as number) - req.bandwidth;
    this.count[s] = (this.count[s] as number) - 1;
    this.updateWatts(s);
    this.placed.delete(id);
    for (const g of req.antiAffinity ?? []) {
      const m = this.groups.get(g);
      if (m?.get(s) === id) m.delete(s);
      if (m?.size === 0) this.groups.delete(g);
    }
  }
}

function push(m: Map<string, number[]>, k: string, v: number): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}
