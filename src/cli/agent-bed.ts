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
