import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../control/store/memory.js';
import { apply, getResource } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import type { SoftwareNetworkSpec } from '../control/manifest/types.js';
import { scaleInStore } from './scale.js';

const NET = `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: web, namespace: default, labels: { app: web } }
spec:
  functions:
    - { name: fw, kind: firewall, config: { interfaces: [{ name: lan }, { name: wan }] } }
    - { name: r1, kind: router, config: { interfaces: [{ name: eth0, mac: '02:00:00:00:00:01', addresses: [10.0.0.1/24] }] } }
  links:
    - { endpoints: ['fw:wan', 'r1:eth0'] }
`;

test('scale: sets replicas of one function, the generation grows, the rest of the spec and the labels stay; a kind that cannot be partitioned and 17 are refused, nothing changed', async () => {
  const store = new MemoryStore();
  await apply(store, parseManifestText(NET, 'web.yaml').resources);
  const res = await scaleInStore(store, 'default', 'web', 'fw', 3);
  assert.deepEqual(res.changes.map((c) => [c.action, c.generation]), [['configured', 2]]);
  const net = await getResource(store, 'SoftwareNetwork', 'web', 'default');
  const spec = net.spec as unknown as SoftwareNetworkSpec;
  assert.equal(spec.functions[0]?.replicas, 3);
  assert.equal(spec.functions[1]?.replicas, undefined);
  assert.equal(spec.links?.length, 1);
  assert.deepEqual(net.metadata.labels, { app: 'web' });
  assert.equal((await scaleInStore(store, 'default', 'web', 'fw', 3)).changes[0]?.action, 'unchanged');
  await assert.rejects(scaleInStore(store, 'default', 'web', 'r1', 2), (e: Error) => e.name === 'ManifestError' && /router "r1" cannot run several replicas/.test(e.message));
  await assert.rejects(scaleInStore(store, 'default', 'web', 'fw', 17), { name: 'ManifestError' });
  await assert.rejects(scaleInStore(store, 'default', 'web', 'nope', 2), { name: 'ScaleError' });
  assert.equal((await getResource(store, 'SoftwareNetwork', 'web', 'default')).metadata.generation, 2);
});

test('scale: --spread servers sets spread with the count, a later scale keeps it, none removes it', async () => {
  const store = new MemoryStore();
  await apply(store, parseManifestText(NET, 'web.yaml').resources);
  const fw = async (): Promise<{ replicas?: number; spread?: string }> => ((await getResource(store, 'SoftwareNetwork', 'web', 'default')).spec as unknown as SoftwareNetworkSpec).functions[0] ?? {};
  await scaleInStore(store, 'default', 'web', 'fw', 3, 'servers');
  assert.deepEqual([(await fw()).replicas, (await fw()).spread], [3, 'servers']);
  await scaleInStore(store, 'default', 'web', 'fw', 2);
  assert.deepEqual([(await fw()).replicas, (await fw()).spread], [2, 'servers']);
  await scaleInStore(store, 'default', 'web', 'fw', 2, 'none');
  assert.deepEqual([(await fw()).replicas, (await fw()).spread], [2, undefined]);
});
