/**
 * What the agent tests and the migration benches build alike (plain code, no test imports, so
 * bench/ may use it too): the infrastructure manifest of a datacenter and its servers, placements
 * fixed by hand when no network controller runs, and the placements read back.
 *
 * @example
 * const text = `${infraManifest(['s1', 's2'])}---\n${networkYaml}`;
 * await placeFixed(store, 'default', 'voip', { src: 's1', sink: 's2' });
 * (await placements(store)).get('src') === 's1';
 */
import type { JsonObject, Store } from '../control/store/contract.js';
import { PLACEMENT_PREFIX, placementKey, type Placement } from '../control/placement.js';
import { MemoryStore } from '../control/store/memory.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { MigrationController } from '../control/controllers/migration.js';
import { ServerAgent, type ServerAgentInit } from './agent.js';

/** A Server's spec beyond its datacenter; the defaults are the agent tests' 8 CPUs and 16 GiB. */
export interface InfraOptions {
  readonly datacenter?: string;
  readonly cpu?: number;
  readonly memory?: string;
  /** SPECpower curve (11 points, 0 % to 100 % load) for servers that report watts. */
  readonly specpower?: readonly number[];
}

/**
 * One edge Datacenter and a Server per name, as YAML documents joined by `---` (no trailing
 * separator: append `---\n` and the network).
 *
 * @example infraManifest(['s1', 's2'], { cpu: 4, memory: '8Gi' })
 */
export function infraManifest(servers: readonly string[], o: InfraOptions = {}): string {
  const dc = o.datacenter ?? 'dc1';
  const power = o.specpower ? `, power: { specpower: [${o.specpower.join(', ')}] }` : '';
  return [
    `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: ${dc} }\nspec: { tier: edge }\n`,
    ...servers.map((s) => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${s} }\nspec: { datacenter: ${dc}, capacity: { cpu: ${o.cpu ?? 8}, memory: ${o.memory ?? '16Gi'} }${power} }\n`),
  ].join('---\n');
}

/**
 * Writes a generation-1 Placement with no requests for each function → server of `where`: the
 * placements a network controller would have written, for beds that run without one.
 *
 * @example await placeFixed(store, 'default', 'mig', { src: 's1', r1: 's2' })
 */
export async function placeFixed(store: Store, namespace: string, network: string, where: Readonly<Record<string, string>>): Promise<void> {
  for (const [fn, server] of Object.entries(where)) {
    const p: Placement = { kind: 'Placement', namespace, network, function: fn, server, generation: 1, requests: { cpu: 0, memory: 0, bandwidth: 0 } };
    await store.put(placementKey(namespace, network, fn), p as unknown as JsonObject);
  }
}

/**
 * Function → server of every Placement in the store (all networks: the beds run one).
 *
 * @example (await placements(store)).get('r1')
 */
export async function placements(store: Store): Promise<Map<string, string>> {
  const { items } = await store.list(PLACEMENT_PREFIX);
  return new Map(items.map((kv) => [(kv.value as unknown as Placement).function, (kv.value as unknown as Placement).server]));
}

/** The start of a SoftwareNetwork document in namespace default, up to its spec's fields. */
function networkHeader(name: string, isolation?: string): string {
  return `apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: ${name}, namespace: default }\nspec:\n${isolation !== undefined ? `  isolation: ${isolation}\n` : ''}`;
}

/** A traffic-source function entry of a spec's `functions` with its flow lines. */
function source(name: string, flows: string): string {
  return `    - name: ${name}\n      kind: traffic-source\n      config:\n        flows:\n${flows}`;
}

/** A chain of routers between a traffic source and a sink; see routerChain. */
export interface RouterChainOptions {
  readonly name: string;
  /** The second byte of every MAC (`02:<mac>:00:00:00:xx`), so that networks of one bed differ. */
  readonly mac: string;
  /** The second octet of every address (10.<net>.x.y). */
  readonly net: number;
  /** How many routers (r1…rN); at least 1. */
  readonly routers: number;
  /** Frames of the measured flow (1 ms apart). */
  readonly count: number;
  readonly startMs: number;
  /** A first flow of 100 frames (or as many as given; 5 ms apart) that resolves the path (ARP) before the measured one, which then has id 2. */
  readonly warmup?: boolean | number;
  /** Each router knows its next hop's MAC (no ARP between routers). */
  readonly nextHops?: boolean;
  /** The routers' names; default r1…rN. */
  readonly names?: readonly string[];
  readonly isolation?: string;
}

/**
 * A SoftwareNetwork (namespace default): a numbered UDP flow src → r1 → … → rN → sink, the
 * routers joined by /30 links (10.<net>.0.x), the source on 10.<net>.1.0/24, the sink's
 * address 10.<net>.2.10 a neighbour of the last router (one router: 10.<net>.1.1 and .2.1).
 *
 * @example routerChain({ name: 'wave', mac: '0a', net: 7, routers: 2, count: 1500, startMs: 1500, warmup: true })
 */
export function routerChain(o: RouterChainOptions): string {
  const mac = (b: number): string => `02:${o.mac}:00:00:00:${b.toString(16).padStart(2, '0')}`;
  const p = `10.${o.net}`;
  const flow = (port: number, interval: number, count: number, start: string): string => `          - { kind: udp, srcMac: '${mac(0x10)}', dstMac: '${mac(0x11)}', src: ${p}.1.10, dst: ${p}.2.10, srcPort: ${port}, dstPort: 2000, intervalMs: ${interval}, count: ${count}${start} }\n`;
  const flows = o.warmup !== undefined && o.warmup !== false ? flow(1000, 5, o.warmup === true ? 100 : o.warmup, '') + flow(1001, 1, o.count, `, startMs: ${o.startMs}`) : flow(1000, 1, o.count, `, startMs: ${o.startMs}`);
  const r = (i: number): string => o.names?.[i - 1] ?? `r${i}`;
  let routers = '';
  for (let i = 1; i <= o.routers; i++) {
    const last = i === o.routers;
    const eth0 = i === 1 ? `${p}.1.1/24` : `${p}.0.${4 * (i - 2) + 2}/30`;
    const eth1 = last ? `${p}.2.1/24` : `${p}.0.${4 * (i - 1) + 1}/30`;
    const neighbor = last ? `\n        neighbors: [{ interface: eth1, address: ${p}.2.10, mac: '${mac(0x20)}' }]` : o.nextHops ? `\n        neighbors: [{ interface: eth1, address: ${p}.0.${4 * (i - 1) + 2}, mac: '${mac((i + 1) * 16 + 1)}' }]` : '';
    routers += `    - name: ${r(i)}
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(i * 16 + 1)}', addresses: [${eth0}] }
          - { name: eth1, mac: '${mac(i * 16 + 2)}', addresses: [${eth1}] }${neighbor}
`;
  }
  const links = Array.from({ length: o.routers - 1 }, (_, i) => `    - { endpoints: ['${r(i + 1)}:eth1', '${r(i + 2)}:eth0'] }\n`).join('');
  return `${networkHeader(o.name, o.isolation)}  functions:
${source('src', flows)}${routers}    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', '${r(1)}:eth0'] }
${links}    - { endpoints: ['${r(o.routers)}:eth1', 'sink:in'] }
`;
}

/**
 * A SoftwareNetwork (namespace default) of pings through a NAT, whose binding is the state that
 * must travel: src → rin → nat → rout (answers for 10.<net>.2.2 and .3), replies back through
 * rin to the sink. Flow 1 (100 pings to .3, 5 ms apart) holds ICMP identifier 8 first; flow 2,
 * the measured one, `count` pings to .2, 1 ms apart, from `startMs`.
 *
 * @example nattedPings({ name: 'natted', mac: '02', net: 2, count: 2000, startMs: 1500 })
 */
export function nattedPings(o: { readonly name: string; readonly mac: string; readonly net: number; readonly count: number; readonly startMs: number; readonly isolation?: string }): string {
  const mac = (b: number): string => `02:${o.mac}:00:00:00:${b.toString(16).padStart(2, '0')}`;
  const p = `10.${o.net}`;
  const flows = `          - { kind: ping, srcMac: '${mac(0x10)}', dstMac: '${mac(0x11)}', src: ${p}.9.10, dst: ${p}.2.3, identifier: 8, intervalMs: 5, count: 100 }
          - { kind: ping, srcMac: '${mac(0x10)}', dstMac: '${mac(0x11)}', src: ${p}.9.10, dst: ${p}.2.2, identifier: 8, intervalMs: 1, count: ${o.count}, startMs: ${o.startMs} }
`;
  return `${networkHeader(o.name, o.isolation)}  functions:
${source('src', flows)}    - name: rin
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x11)}', addresses: [${p}.1.1/24] }
          - { name: eth1, mac: '${mac(0x12)}', addresses: [${p}.2.1/24] }
          - { name: eth2, mac: '${mac(0x13)}', addresses: [${p}.9.1/24] }
        neighbors: [{ interface: eth2, address: ${p}.9.10, mac: '${mac(0x20)}' }]
    - name: nat
      kind: nat
      config: { snat: { addresses: [${p}.2.100], icmpIds: '1-999' } }
    - name: rout
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x31)}', addresses: [${p}.2.2/24, ${p}.2.3/24] }
        neighbors: [{ interface: eth0, address: ${p}.2.100, mac: '${mac(0x12)}' }]
    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', 'rin:eth0'] }
    - { endpoints: ['rin:eth1', 'nat:inside'] }
    - { endpoints: ['nat:outside', 'rout:eth0'] }
    - { endpoints: ['rin:eth2', 'sink:in'] }
`;
}

/** Client flows and their replies through a firewall; see replyFirewall. */
export interface ReplyFirewallOptions {
  readonly name: string;
  readonly flows: number;
  /** The second octet of the addresses (10.<net>.1.x clients, 10.<net>.2.10 the server). */
  readonly net: number;
  /** The second byte of the MACs. */
  readonly mac: string;
  /** First client source port (one a flow). */
  readonly port: number;
  readonly forward: { readonly intervalMs: number; readonly count: number; readonly startMs?: number };
  readonly replies: { readonly intervalMs: number; readonly startMs: number };
  /** Omitted: the firewall has no `replicas` field. */
  readonly replicas?: number;
  /** `spread: servers`. */
  readonly spread?: boolean;
}

/**
 * A SoftwareNetwork (namespace default): cli → fw (a → b) → ssink and srv → fw (d → c) → csink,
 * no switch. The firewall lets new flows in by `a` only; the client's flows (ids 1…) open
 * conntrack entries, the server's replies (ids 101…, the same 5-tuples reversed) pass only as
 * established — once re-partitioned, only where their flow's entry moved.
 *
 * @example replyFirewall({ name: 'sp', flows: 8, net: 9, mac: '0a', port: 41000, forward: { intervalMs: 5, count: 60 }, replies: { intervalMs: 10, startMs: 1200 }, replicas: 2, spread: true })
 */
export function replyFirewall(o: ReplyFirewallOptions): string {
  const m = (b: number): string => `02:${o.mac}:00:00:00:0${b}`;
  const fwdStart = o.forward.startMs !== undefined ? `, startMs: ${o.forward.startMs}` : '';
  const fwd = Array.from({ length: o.flows }, (_, i) => `          - { id: ${i + 1}, kind: udp, srcMac: '${m(1)}', dstMac: '${m(2)}', src: 10.${o.net}.1.${10 + i}, dst: 10.${o.net}.2.10, srcPort: ${o.port + i}, dstPort: 7000, payloadBytes: 64, intervalMs: ${o.forward.intervalMs}, count: ${o.forward.count}${fwdStart} }`).join('\n');
  const rev = Array.from({ length: o.flows }, (_, i) => `          - { id: ${101 + i}, kind: udp, srcMac: '${m(4)}', dstMac: '${m(3)}', src: 10.${o.net}.2.10, dst: 10.${o.net}.1.${10 + i}, srcPort: 7000, dstPort: ${o.port + i}, payloadBytes: 64, intervalMs: ${o.replies.intervalMs}, startMs: ${o.replies.startMs} }`).join('\n');
  return `${networkHeader(o.name)}  functions:
${source('cli', `${fwd}\n`)}${source('srv', `${rev}\n`)}    - name: fw
      kind: firewall
${o.replicas !== undefined ? `      replicas: ${o.replicas}\n` : ''}${o.spread ? '      spread: servers\n' : ''}      config:
        interfaces: [{ name: a, to: b }, { name: b, to: a }, { name: c, to: d }, { name: d, to: c }]
        defaultPolicy: deny
        rules: [{ name: client-out, in: a, action: allow }]
    - { name: ssink, kind: traffic-sink }
    - { name: csink, kind: traffic-sink }
  links:
    - { endpoints: ['cli:out', 'fw:a'] }
    - { endpoints: ['fw:b', 'ssink:in'] }
    - { endpoints: ['fw:c', 'csink:in'] }
    - { endpoints: ['srv:out', 'fw:d'] }
`;
}

/** What agentCluster builds; `close` stops the agents, the migration controller and the store. */
export interface AgentCluster {
  readonly store: Store;
  readonly agents: Map<string, ServerAgent>;
  readonly ctl: MigrationController;
  /** The agent of `server` (throws if none). */
  agent(server: string): ServerAgent;
  close(): Promise<void>;
}

/**
 * A memory store with the servers and `networks` applied, the placements fixed by hand (network
 * → function → server; no network controller), the migration controller, and one agent a server
 * (VXLAN on loopback) started in order. Throws on a manifest issue.
 *
 * @example
 * const c = await agentCluster({ servers: ['s1', 's2'], networks: [yaml], place: { voip: { src: 's1', sink: 's2' } } });
 * try { c.agent('s1').runtime.functions('default/voip'); } finally { await c.close(); }
 */
export async function agentCluster(o: {
  readonly servers: readonly string[];
  readonly networks: readonly string[];
  readonly place: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Agent periods; default ttl 5 s, status 1 s, resync 300 ms. */
  readonly agent?: Partial<Pick<ServerAgentInit, 'ttlSeconds' | 'statusMs' | 'resyncMs'>>;
}): Promise<AgentCluster> {
  const store = new MemoryStore();
  const { resources, issues } = parseManifestText([infraManifest(o.servers), ...o.networks].join('---\n'), 'cluster.yaml');
  if (issues.length > 0) throw new Error(`manifest issues: ${JSON.stringify(issues)}`);
  await apply(store, resources);
  for (const [net, where] of Object.entries(o.place)) await placeFixed(store, 'default', net, where);
  const agents = new Map<string, ServerAgent>();
  const ctl = await MigrationController.start(store, { resyncMs: 100 });
  const close = async (): Promise<void> => {
    for (const a of agents.values()) await a.stop();
    await ctl.stop();
    await store.close();
  };
  try {
    for (const s of o.servers) agents.set(s, await ServerAgent.start({ store, server: s, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 5, statusMs: 1000, resyncMs: 300, ...o.agent }));
  } catch (e) {
    await close();
    throw e;
  }
  return {
    store,
    agents,
    ctl,
    agent: (server) => {
      const a = agents.get(server);
      if (!a) throw new RangeError(`no agent for ${server}`);
      return a;
    },
    close,
  };
}
