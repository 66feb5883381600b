// Replicas spread over servers (`spread: servers`): one placement per replica, apart where the
// cluster allows, together where it does not, and the manifest's check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apply, getResource } from '../manifest/apply.js';
import { parseManifestText } from '../manifest/load.js';
import { PLACEMENT_PREFIX, type Placement } from '../placement.js';
import { MemoryStore } from '../store/memory.js';
import { GangScheduler } from './gang.js';
import { NetworkController } from './network.js';
import { until } from '../../testkit/until.js';
import { drainServer } from '../server-ops.js';

function infra(n: number): string {
  return [`apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n`, ...Array.from({ length: n }, (_, i) => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: s${i + 1} }\nspec: { datacenter: dc1, capacity: { cpu: 8, memory: 16Gi } }\n`)].join('---\n');
}

const net = (replicas: number, spread = 'spread: servers, '): string =>
  `apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: sp, namespace: default }\nspec:\n  functions:\n    - { name: fw, kind: firewall, replicas: ${replicas}, ${spread}resources: { cpu: 1 }, config: { interfaces: [{ name: lan }, { name: wan }], defaultPolicy: deny, rules: [] } }\n    - { name: sink, kind: traffic-sink }\n  links:\n    - { endpoints: ['fw:wan', 'sink:in'] }\n`;

async function placed(store: MemoryStore, want: number): Promise<Map<string, string>> {
  return until(`${want} placements`, async () => {
    const ps = (await store.list(`${PLACEMENT_PREFIX}default/sp/`)).items.map((kv) => kv.value as unknown as Placement);
    return ps.filter((p) => p.function.startsWith('fw')).length === want && ps.every((p) => p.generation === Math.max(...ps.map((x) => x.generation))) ? new Map(ps.map((p) => [p.function, p.server])) : undefined;
  });
}

test('spread: replicas 3 over 3 servers get a server each; scaled to 4 on 3 servers the last one shares (soft anti-affinity); scaled to 2 the extra placements go', async () => {
  const store = new MemoryStore();
  const c = await NetworkController.start(store, { scheduler: new GangScheduler(), minBackoffMs: 50 });
  try {
    const r = parseManifestText(`${infra(3)}---\n${net(3)}`, 'sp.yaml');
    assert.deepEqual(r.issues, []);
    await apply(store, r.resources);
    let at = await placed(store, 3);
    assert.deepEqual([...at.keys()].filter((f) => f.startsWith('fw')).sort(), ['fw', 'fw~replica-1', 'fw~replica-2']);
    assert.equal(new Set([at.get('fw'), at.get('fw~replica-1'), at.get('fw~replica-2')]).size, 3, JSON.stringify([...at]));
    await apply(store, parseManifestText(net(4), 'sp.yaml').resources);
    at = await placed(store, 4);
    assert.equal(new Set(['fw', 'fw~replica-1', 'fw~replica-2', 'fw~replica-3'].map((f) => at.get(f))).size, 3, JSON.stringify([...at]));
    await apply(store, parseManifestText(net(2), 'sp.yaml').resources);
    at = await placed(store, 2);
    assert.notEqual(at.get('fw'), at.get('fw~replica-1'));
    // A drained server's replica is placed again elsewhere by the network controller (not migrated).
    const from = at.get('fw~replica-1') as string;
    await drainServer(store, from);
    at = await until('replica re-placed', async () => {
      const m = await placed(store, 2);
      return m.get('fw~replica-1') !== from ? m : undefined;
    });
    assert.notEqual(at.get('fw'), at.get('fw~replica-1'));
    // Without spread, replicas stay one placement.
    await apply(store, parseManifestText(net(3, ''), 'sp.yaml').resources);
    at = await placed(store, 1);
    assert.ok(at.has('fw'));
  } finally {
    await c.stop();
    await store.close();
  }
});

test('spread: replicas that fit nowhere even together are refused with the reason that blocks them (capacity)', async () => {
  const store = new MemoryStore();
  const c = await NetworkController.start(store, { scheduler: new GangScheduler(), minBackoffMs: 50 });
  try {
    // 2 servers of 8 CPUs, fw asks 5 CPUs per instance: 2 fit (one per server), 3 do not.
    await apply(store, parseManifestText(`${infra(2)}---\n${net(3).replace('cpu: 1', 'cpu: 5')}`, 'sp.yaml').resources);
    const cond = await until('unschedulable', async () => (await getResource(store, 'SoftwareNetwork', 'sp', 'default')).status?.conditions?.find((x) => x.type === 'Scheduled' && x.status === 'False'));
    assert.match(cond.message ?? '', /fw~replica-2: capacity refused 2 \(cpu 5 > free 3/, cond.message);
    assert.doesNotMatch(cond.message ?? '', /with every replica apart/, 'the same reason is not said twice');
  } finally {
    await c.stop();
    await store.close();
  }
});

test('spread: the manifest refuses spread without replicas, and a spread value other than servers', () => {
  const a = parseManifestText(net(2).replace('replicas: 2, ', ''), 'a.yaml');
  assert.match(a.issues.map((i) => i.message).join('\n'), /spread needs replicas/);
  const b = parseManifestText(net(2, 'spread: racks, '), 'b.yaml');
  assert.ok(b.issues.length > 0 && /spread/.test(JSON.stringify(b.issues)), JSON.stringify(b.issues));
});
