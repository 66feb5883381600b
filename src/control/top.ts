/**
 * Utilisation per server and per software network (`swnet top`, `GET /api/v1/top`), from what
 * the store holds: server capacities (spec), the placements the network controller wrote
 * (requested resources), and — when server agents report them — measured figures in the
 * Server's status (`status.utilization.{cpu,memory,bandwidth}` as fractions, `status.powerWatts`).
 */
import type { Store } from './store/contract.js';
import { listResources } from './manifest/apply.js';
import { parseBytes, parseCpu, parseRate } from './manifest/quantity.js';
import { PLACEMENT_PREFIX, type Placement } from './placement.js';

export interface ServerUsage {
  readonly name: string;
  readonly datacenter: string;
  readonly functions: number;
  readonly capacity: { readonly cpu: number; readonly memory: number; readonly bandwidth: number };
  readonly requested: { cpu: number; memory: number; bandwidth: number };
  /** Measured by the server's agent (fractions 0..1), when reported. */
  readonly measured?: { readonly cpu?: number; readonly memory?: number; readonly bandwidth?: number };
  readonly powerWatts?: number;
}

export interface NetworkUsage {
  readonly namespace: string;
  readonly name: string;
  readonly functions: number;
  readonly placed: number;
  readonly servers: string[];
  readonly requested: { cpu: number; memory: number; bandwidth: number };
  /** The Scheduled condition's status, if any. */
  readonly scheduled: string;
}

export interface TopReport {
  readonly servers: ServerUsage[];
  readonly networks: NetworkUsage[];
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
function quantity(parse: (q: number | string) => number, v: unknown): number {
  if (typeof v !== 'number' && typeof v !== 'string') return 0;
  try {
    return parse(v);
  } catch {
    return 0;
  }
}

/**
 * @example
 * const { servers, networks } = await computeTop(store, { namespaces: ['tenant-a'] });
 */
export async function computeTop(store: Store, opts: { readonly namespaces?: readonly string[]; readonly servers?: boolean } = {}): Promise<TopReport> {
  const visible = (ns: string): boolean => opts.namespaces === undefined || opts.namespaces.includes(ns);
  const placements = (await store.list(PLACEMENT_PREFIX)).items.map((kv) => kv.value as unknown as Placement);
  const servers: ServerUsage[] = [];
  if (opts.servers !== false) {
    const byServer = new Map<string, Placement[]>();
    for (const p of placements) byServer.set(p.server, [...(byServer.get(p.server) ?? []), p]);
    for (const s of await listResources(store, 'Server')) {
      const spec = s.spec as Record<string, unknown>;
      const cap = (spec['capacity'] ?? {}) as Record<string, unknown>;
      const on = byServer.get(s.metadata.name) ?? [];
      const util = (s.status?.['utilization'] ?? undefined) as Record<string, unknown> | undefined;
      const measured = util && typeof util === 'object' ? { ...(num(util['cpu']) !== undefined ? { cpu: num(util['cpu'])! } : {}), ...(num(util['memory']) !== undefined ? { memory: num(util['memory'])! } : {}), ...(num(util['bandwidth']) !== undefined ? { bandwidth: num(util['bandwidth'])! } : {}) } : undefined;
      const power = num(s.status?.['powerWatts']);
      servers.push({
        name: s.metadata.name,
        datacenter: typeof spec['datacenter'] === 'string' ? spec['datacenter'] : '',
        functions: on.length,
        capacity: { cpu: quantity(parseCpu, cap['cpu']), memory: quantity(parseBytes, cap['memory']), bandwidth: quantity(parseRate, cap['bandwidth']) },
        requested: on.reduce((a, p) => ({ cpu: a.cpu + p.requests.cpu, memory: a.memory + p.requests.memory, bandwidth: a.bandwidth + p.requests.bandwidth }), { cpu: 0, memory: 0, bandwidth: 0 }),
        ...(measured ? { measured } : {}),
        ...(power !== undefined ? { powerWatts: power } : {}),
      });
    }
  }
  const networks: NetworkUsage[] = [];
  for (const n of await listResources(store, 'SoftwareNetwork')) {
    const ns = n.metadata.namespace ?? 'default';
    if (!visible(ns)) continue;
    const mine = placements.filter((p) => p.namespace === ns && p.network === n.metadata.name);
    const fns = ((n.spec as Record<string, unknown>)['functions'] as unknown[] | undefined) ?? [];
    networks.push({
      namespace: ns,
      name: n.metadata.name,
      functions: fns.length,
      placed: mine.length,
      servers: [...new Set(mine.map((p) => p.server))].sort(),
      requested: mine.reduce((a, p) => ({ cpu: a.cpu + p.requests.cpu, memory: a.memory + p.requests.memory, bandwidth: a.bandwidth + p.requests.bandwidth }), { cpu: 0, memory: 0, bandwidth: 0 }),
      scheduled: n.status?.conditions?.find((c) => c.type === 'Scheduled')?.status ?? 'Unknown',
    });
  }
  return { servers, networks };
}
