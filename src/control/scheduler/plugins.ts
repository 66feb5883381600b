/**
 * Filter and score plugins, in the manner of kube-scheduler's framework: a filter says whether a
 * function may go on a server (and, only when asked for a diagnosis, why not); a score rates a
 * feasible server 0..100 and is weighted. Filters may also narrow the candidate set up front
 * from an index (tier, datacenter) so that the servers they would refuse are never visited.
 */
import { allocationScore } from '../../policy/scheduling.js';
import { powerAt, type PowerModel } from '../../policy/power.js';
import type { Cluster, FunctionRequest } from './cluster.js';

export interface FilterPlugin {
  readonly name: string;
  /** Servers this filter could accept at all (from an index), or null for "any". */
  candidates?(req: FunctionRequest, c: Cluster): readonly number[] | null;
  filter(req: FunctionRequest, s: number, c: Cluster): boolean;
  /** Why `filter` refused server `s` (called only to explain an unschedulable function). */
  reason(req: FunctionRequest, s: number, c: Cluster): string;
}

export interface ScorePlugin {
  readonly name: string;
  /** 0 (worst) .. 100 (best) for a feasible server. */
  score(req: FunctionRequest, s: number, c: Cluster): number;
}

// Unions by index and key set: the requests of one network share their sets, so a gang builds each once.
const unions = new WeakMap<Map<string, number[]>, WeakMap<ReadonlySet<string>, number[]>>();

function union(index: Map<string, number[]>, keys: ReadonlySet<string>): number[] {
  if (keys.size === 1) for (const k of keys) return index.get(k) ?? [];
  let byKeys = unions.get(index);
  if (!byKeys) unions.set(index, (byKeys = new WeakMap()));
  const hit = byKeys.get(keys);
  if (hit) return hit;
  const out: number[] = [];
  for (const k of keys) for (const s of index.get(k) ?? []) out.push(s);
  out.sort((a, b) => a - b);
  byKeys.set(keys, out);
  return out;
}

const list = (xs: ReadonlySet<string>): string => `[${[...xs].join(', ')}]`;

/** A cordoned server (`spec.unschedulable`, swnet drain) takes nothing new (kubectl cordon). */
export const cordonFilter: FilterPlugin = {
  name: 'cordon',
  filter: (_req, s, c) => c.unschedulable[s] !== 1,
  reason: (_req, s, c) => `${c.names[s]} is cordoned (unschedulable)`,
};

/** The datacenter tier must be one of the network's `placement.tier`. */
export const tierFilter: FilterPlugin = {
  name: 'tier',
  candidates: (req, c) => (req.tiers ? union(c.byTier, req.tiers) : null),
  filter: (req, s, c) => !req.tiers || req.tiers.has(c.tier[s] as string),
  reason: (req, s, c) => `tier ${c.tier[s]} not in ${list(req.tiers ?? new Set())} on ${c.names[s]}`,
};

/** The datacenter must be one of the network's `placement.datacenter`. */
export const datacenterFilter: FilterPlugin = {
  name: 'datacenter',
  candidates: (req, c) => (req.datacenters ? union(c.byDatacenter, req.datacenters) : null),
  filter: (req, s, c) => !req.datacenters || req.datacenters.has(c.datacenter[s] as string),
  reason: (req, s, c) => `datacenter ${c.datacenter[s]} not in ${list(req.datacenters ?? new Set())} on ${c.names[s]}`,
};

export function formatQuantity(r: number, v: number): string {
  if (v === Infinity) return '∞';
  if (r === 0) return String(Number(v.toFixed(3)));
  const units = r === 1 ? ['', 'Ki', 'Mi', 'Gi', 'Ti'] : ['bps', 'Kbps', 'Mbps', 'Gbps', 'Tbps'];
  const base = r === 1 ? 1024 : 1000;
  let k = 0;
  let x = v;
  while (Math.abs(x) >= base && k < units.length - 1) {
    x /= base;
    k++;
  }
  return `${Number(x.toFixed(2))}${units[k]}`;
}

/** CPU, memory and bandwidth must fit in what is free. */
export const capacityFilter: FilterPlugin = {
  name: 'capacity',
  filter: (req, s, c) => {
    const k = s * 3;
    const cap = c.capacity;
    const used = c.used;
    if (req.cpu > (cap[k] as number) - (used[k] as number) + 1e-9) return false;
    if (req.memory > (cap[k + 1] as number) - (used[k + 1] as number) + 1e-9) return false;
    const bw = cap[k + 2] as number;
    return bw === 0 || req.bandwidth <= bw - (used[k + 2] as number) + 1e-9;
  },
  reason: (req, s, c) => {
    const want = [req.cpu, req.memory, req.bandwidth];
    const names = ['cpu', 'memory', 'bandwidth'];
    const parts: string[] = [];
    for (let r = 0; r < 3; r++) {
      const w = want[r] as number;
      const f = c.free(s, r);
      if (w > f + 1e-9) parts.push(`${names[r]} ${formatQuantity(r, w)} > free ${formatQuantity(r, Math.max(0, f))}`);
    }
    return `${parts.join(', ')} on ${c.names[s]}`;
  },
};

/** Two members of an anti-affinity group (a function and its standby, or a user's group) never share a server. */
export const antiAffinityFilter: FilterPlugin = {
  name: 'anti-affinity',
  filter: (req, s, c) => {
    const gs = req.antiAffinity;
    if (!gs) return true;
    for (let i = 0; i < gs.length; i++) if (c.groups.get(gs[i] as string)?.has(s)) return false;
    return true;
  },
  reason: (req, s, c) => {
    for (const g of req.antiAffinity ?? []) {
      const other = c.groups.get(g)?.get(s);
      if (other !== undefined) return `${other} already on ${c.names[s]} (group ${g})`;
    }
    return `on ${c.names[s]}`;
  },
};

/** Shortest-path latency to every already placed peer must be within its bound. */
export const latencyFilter: FilterPlugin = {
  name: 'latency',
  filter: (req, s, c) => {
    const ls = req.latency;
    if (!ls) return true;
    for (let i = 0; i < ls.length; i++) {
      const b = ls[i] as { peer: string; maxMs: number };
      const p = c.placed.get(b.peer);
      if (p && c.latency(s, p.server) > b.maxMs + 1e-9) return false;
    }
    return true;
  },
  reason: (req, s, c) => {
    for (const b of req.latency ?? []) {
      const p = c.placed.get(b.peer);
      if (!p) continue;
      const l = c.latency(s, p.server);
      if (l > b.maxMs + 1e-9) return `latency to ${b.peer} on ${c.names[p.server]} is ${l === Infinity ? 'unbounded (no path)' : `${Number(l.toFixed(3))}ms`} > ${b.maxMs}ms from ${c.names[s]}`;
    }
    return `on ${c.names[s]}`;
  },
};

/** Default filters, cheapest first (a server's first refusing filter is the one reported). */
export const DEFAULT_FILTERS: readonly FilterPlugin[] = [cordonFilter, tierFilter, datacenterFilter, capacityFilter, antiAffinityFilter, latencyFilter];

/**
 * Energy: the smallest power increase under the server's SPECpower model wins; a server with no
 * load counts as off, so placing there costs its idle power too ("prefer servers already on").
 */
export const energyScore: ScorePlugin = {
  name: 'energy',
  score: (req, s, c) => {
    const cap = c.capacity[s * 3] as number;
    // Same arithmetic as policy/scheduling.powerIncrease, with the draw before placement cached per server.
    const inc = cap > 0 ? powerAt(c.power[s] as PowerModel, ((c.used[s * 3] as number) + req.cpu) / cap) - (c.wattsNow[s] as number) : Infinity;
    return Math.max(0, 100 * (1 - inc / c.maxPeakWatts));
  },
};

/**
 * Balance by allocation after placement, over CPU, memory and bandwidth: 'least' spreads
 * (kube-scheduler's default LeastAllocated), 'most' packs.
 * @example const packing = balanceScore('most');
 */
export function balanceScore(mode: 'least' | 'most'): ScorePlugin {
  const want = new Float64Array(3);
  return {
    name: 'balance',
    score: (req, s, c) => {
      want[0] = req.cpu;
      want[1] = req.memory;
      want[2] = req.bandwidth;
      return allocationScore(mode, c.used, c.capacity, want, s * 3);
    },
  };
}
