/**
 * `swnet scale NETWORK/FUNCTION --replicas N [--spread servers|none]`: horizontal elasticity by
 * hand (like kubectl scale); `--spread servers` runs the replicas on servers of their own
 * (`functions[].spread`, docs/elasticity.md), `none` back on the function's server.
 * It sets the function's `replicas` in the SoftwareNetwork's spec (validated as an applied
 * manifest: 1…16, a kind whose flows can move), so the generation grows; the agent of the
 * function's server then re-partitions it live (src/host/partition.ts: no frame lost, the moving
 * flows' state goes with them). On the store directly or through the API server
 * (`--server URL --token T`).
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { apply, getResource, type ApplyResult } from '../control/manifest/apply.js';
import { ManifestError, parseManifestText } from '../control/manifest/load.js';
import { DEFAULT_NAMESPACE, type NetworkFunctionSpec, type Resource, type SoftwareNetworkSpec } from '../control/manifest/types.js';
import type { Store } from '../control/store/contract.js';
import { openStore } from '../control/store/open.js';
import { remoteClient, remoteOptions, type RemoteOpts } from './remote.js';

export class ScaleError extends Error {
  override readonly name = 'ScaleError';
}

/** How a scale sets `spread`: to servers, off (`none`), or as it is (undefined). */
export type SpreadOption = 'servers' | 'none' | undefined;

/** The manifest text of `net` with function `fn`'s replicas set to `replicas` (and its `spread` as `spread` says). */
export function scaledManifest(net: Resource, fn: string, replicas: number, spread?: SpreadOption): string {
  const spec = net.spec as unknown as SoftwareNetworkSpec;
  if (!spec.functions.some((f) => f.name === fn)) throw new ScaleError(`softwarenetwork ${net.metadata.name} has no function ${fn} (functions: ${spec.functions.map((f) => f.name).join(', ')})`);
  const functions = spec.functions.map((f): NetworkFunctionSpec => {
    if (f.name !== fn) return f;
    const { spread: cur, ...rest } = f;
    const s = spread === undefined ? cur : spread === 'servers' ? 'servers' : undefined;
    return { ...rest, replicas, ...(s !== undefined ? { spread: s } : {}) };
  });
  const m = net.metadata;
  const metadata = { name: m.name, ...(m.namespace !== undefined ? { namespace: m.namespace } : {}), ...(m.labels ? { labels: m.labels } : {}), ...(m.annotations ? { annotations: m.annotations } : {}) };
  return stringify({ apiVersion: net.apiVersion, kind: 'SoftwareNetwork', metadata, spec: { ...spec, functions } });
}

/**
 * Sets `replicas` of function `fn` of SoftwareNetwork `network` in the store, validated as an
 * apply (ManifestError for a kind that cannot be partitioned or a count out of 1…16).
 *
 * @example
 * const { changes } = await scaleInStore(store, 'default', 'web', 'fw', 3); // changes[0].generation grew
 */
export async function scaleInStore(store: Store, namespace: string, network: string, fn: string, replicas: number, spread?: SpreadOption): Promise<ApplyResult> {
  const net = await getResource(store, 'SoftwareNetwork', network, namespace);
  const { resources, issues } = parseManifestText(scaledManifest(net, fn, replicas, spread), `scale ${network}/${fn}`);
  if (issues.length > 0) throw new ManifestError(issues);
  return apply(store, resources);
}

function parseReplicas(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 16) throw new ScaleError(`--replicas must be an integer in 1…16, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  remoteOptions(
    program
      .command('scale')
      .description("set how many instances run a function (horizontal elasticity: traffic spread by flow; a change re-partitions live, the flows' state moves)")
      .argument('<network/function>', 'e.g. web/fw')
      .requiredOption('--replicas <n>', 'instances, 1…16')
      .option('--spread <where>', "servers: replicas on servers of their own (VXLAN from the function's server); none: all on its server")
      .option('-n, --namespace <ns>', 'namespace of the network', DEFAULT_NAMESPACE)
      .option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)')
      .option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT[,HOST:PORT], memory:'),
  ).action(async (target: string, o: RemoteOpts & { replicas: string; namespace: string; spread?: string }) => {
    try {
      const [network, fn, extra] = target.split('/');
      if (!network || !fn || extra !== undefined) throw new ScaleError(`expected NETWORK/FUNCTION, e.g. web/fw (got '${target}')`);
      const replicas = parseReplicas(o.replicas);
      if (o.spread !== undefined && o.spread !== 'servers' && o.spread !== 'none') throw new ScaleError(`--spread must be servers or none, got '${o.spread}'`);
      const spread = o.spread as SpreadOption;
      const api = remoteClient(o);
      let res: ApplyResult;
      if (api) {
        const net = await api.get('SoftwareNetwork', network, o.namespace);
        res = await api.apply([{ file: `scale ${network}/${fn}`, text: scaledManifest(net, fn, replicas, spread) }]);
      } else {
        const s = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
        try {
          res = await scaleInStore(s, o.namespace, network, fn, replicas, spread);
        } finally {
          await s.close();
        }
      }
      const c = res.changes[0];
      process.stdout.write(`softwarenetwork.swnet.io/${network} ${fn} scaled to ${replicas} replica(s)${spread === 'servers' ? ' spread over servers' : ''}${c ? ` (${c.action}, generation ${c.generation})` : ''}\n`);
    } catch (e) {
      process.stderr.write(`error: ${e instanceof ManifestError ? e.message : e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  });
}
