/**
 * From manifests to the scheduler's inputs: Datacenter/Server/Link resources become a Cluster;
 * a SoftwareNetwork becomes one FunctionRequest per function and per standby copy, with its
 * placement constraints (tier, datacenter, latency bounds, anti-affinity groups); a function whose
 * replicas spread over servers gets one request per replica (`<id>~replica-k`).
 */
import { powerModel } from '../../policy/power.js';
import { parseBytes, parseCpu, parseDuration, parseRate } from '../manifest/quantity.js';
import { DEFAULT_NAMESPACE, type Resource, type SoftwareNetworkSpec } from '../manifest/types.js';
import { Cluster, type ClusterOptions, type FunctionRequest, type LinkInput, type ServerInput } from './cluster.js';

interface ServerSpecShape {
  datacenter: string;
  capacity: { cpu: number | string; memory: number | string; bandwidth?: number | string };
  power?: { specpower: number[] };
  unschedulable?: boolean;
}

/**
 * Builds the cluster from the infrastructure resources (other kinds are ignored). Servers of an
 * unknown datacenter get tier 'unknown' (a tier constraint then refuses them, by name). Every
 * Datacenter is a node of the latency graph even without a server in `resources` (all of them
 * lost), so links through it still count; links to servers not in `resources` are left out.
 * @example const cluster = clusterFromResources(await listAll(store));
 */
export function clusterFromResources(resources: readonly Resource[], o: ClusterOptions = {}): Cluster {
  const tierOf = new Map<string, string>();
  for (const r of resources) if (r.kind === 'Datacenter') tierOf.set(r.metadata.name, String(r.spec['tier']));
  const servers: ServerInput[] = [];
  const links: LinkInput[] = [];
  const present = new Set([...tierOf.keys(), ...resources.filter((r) => r.kind === 'Server').map((r) => r.metadata.name)]);
  for (const r of resources) {
    if (r.kind === 'Server') {
      const s = r.spec as unknown as ServerSpecShape;
      const bw = s.capacity.bandwidth;
      servers.push({
        name: r.metadata.name,
        datacenter: s.datacenter,
        tier: tierOf.get(s.datacenter) ?? 'unknown',
        cpu: parseCpu(s.capacity.cpu),
        memory: parseBytes(s.capacity.memory),
        ...(bw !== undefined ? { bandwidth: parseRate(bw) } : {}),
        ...(s.power ? { power: powerModel(r.metadata.name, s.power.specpower) } : {}),
        ...(s.unschedulable === true ? { unschedulable: true } : {}),
      });
    } else if (r.kind === 'Link') {
      const l = r.spec as unknown as { endpoints: [string, string]; latency?: number | string };
      // A link to a server left out of `resources` (its agent is lost: the network controller
      // offers only usable servers) leads nowhere usable; apply checked every reference already.
      if (!l.endpoints.every((e) => present.has(e))) continue;
      links.push({ endpoints: l.endpoints, latencyMs: l.latency === undefined ? 0 : parseDuration(l.latency) });
    }
  }
  return new Cluster(servers, links, { datacenters: [...tierOf.keys()], ...o });
}

/** Suffix of the anti-affinity group of a function and its replicas spread over servers (a soft one: see gang.ts). */
export const REPLICA_GROUP = '#replicas';

/** `namespace/network/function`, the id a function is scheduled and reported under. */
export function functionId(namespace: string, network: string, fn: string): string {
  return `${namespace}/${network}/${fn}`;
}

/**
 * The requests of one software network: each function, and `resilience.standby` copies of each
 * (`<id>~standby-k`) sharing an anti-affinity group with it, so that a function and its standby
 * never share a server. `placement.antiAffinity` groups apply to the primaries; a network link's
 * `latency` and `placement.maxLatency` entries are latency bounds between the functions.
 * @example const reqs = networkRequests(net); sched.scheduleGang(reqs);
 */
export function networkRequests(net: Resource): FunctionRequest[] {
  const spec = net.spec as unknown as SoftwareNetworkSpec;
  const ns = net.metadata.namespace ?? DEFAULT_NAMESPACE;
  const name = net.metadata.name;
  const id = (f: string): string => functionId(ns, name, f);
  const p = spec.placement ?? {};
  const tiers = p.tier ? new Set(p.tier) : undefined;
  const dcs = p.datacenter ? new Set(p.datacenter) : undefined;
  const groups = new Map<string, string[]>();
  const addGroup = (fn: string, g: string): void => {
    const l = groups.get(fn);
    if (l) l.push(g);
    else groups.set(fn, [g]);
  };
  (p.antiAffinity ?? []).forEach((members, k) => {
    for (const m of members) addGroup(m, `${ns}/${name}#aa${k}`);
  });
  const bounds = new Map<string, { peer: string; maxMs: number }[]>();
  const bound = (a: string, b: string, ms: number): void => {
    const fa = a.split(':')[0] as string;
    const fb = b.split(':')[0] as string;
    if (fa === fb) return;
    for (const [x, y] of [[fa, fb], [fb, fa]] as const) {
      const l = bounds.get(x) ?? [];
      l.push({ peer: id(y), maxMs: ms });
      bounds.set(x, l);
    }
  };
  for (const l of spec.links ?? []) if (l.latency !== undefined) bound(l.endpoints[0], l.endpoints[1], parseDuration(l.latency));
  for (const m of p.maxLatency ?? []) bound(m.between[0], m.between[1], parseDuration(m.latency));
  const standby = spec.resilience?.standby ?? 0;
  const out: FunctionRequest[] = [];
  for (const f of spec.functions) {
    const res = f.resources ?? {};
    const base = {
      cpu: res.cpu !== undefined ? parseCpu(res.cpu) : 0,
      memory: res.memory !== undefined ? parseBytes(res.memory) : 0,
      bandwidth: res.bandwidth !== undefined ? parseRate(res.bandwidth) : 0,
      ...(tiers ? { tiers } : {}),
      ...(dcs ? { datacenters: dcs } : {}),
    };
    const own = groups.get(f.name) ?? [];
    const resil = standby > 0 ? [`${id(f.name)}#standby`] : [];
    const lat = bounds.get(f.name);
    // Replicas spread over servers: one request each, apart from the function and each other
    // (group `#replicas`, which the gang scheduler relaxes when the cluster has too few servers).
    const spread = f.spread === 'servers' ? (f.replicas ?? 1) - 1 : 0;
    const reps = spread > 0 ? [`${id(f.name)}${REPLICA_GROUP}`] : [];
    out.push({ id: id(f.name), ...base, antiAffinity: [...own, ...resil, ...reps], ...(lat ? { latency: lat } : {}) });
    // Standbys keep the same latency bounds (to the primaries): they must be able to take over.
    for (let k = 1; k <= standby; k++) out.push({ id: `${id(f.name)}~standby-${k}`, ...base, antiAffinity: resil, ...(lat ? { latency: lat } : {}) });
    for (let k = 1; k <= spread; k++) out.push({ id: `${id(f.name)}~replica-${k}`, ...base, antiAffinity: reps, ...(lat ? { latency: lat } : {}) });
  }
  return out;
}
