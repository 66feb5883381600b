import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../control/store/memory.js';
import { startControllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { resourceKey } from '../control/manifest/types.js';
import { ServerAgent } from './agent.js';
import { until } from './agent-testing.js';
import { infraManifest } from './agent-bed.js';

/** A per-user network of the template kind: src → sink, `isolation: context`, flow `id`. */
const userNet = (name: string, id: number): string => `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: ${name}, namespace: users }
spec:
  isolation: context
  tokens: ${id}
  functions:
    - name: src
      kind: traffic-source
      config:
        flows: [{ id: ${id}, kind: udp, srcMac: '02:01:00:00:00:10', dstMac: '02:01:00:00:00:20', src: 10.1.1.10, dst: 10.1.2.10, srcPort: 4000, dstPort: 5004, intervalMs: 5 }]
    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', 'sink:in'] }
`;

interface StatusDomain {
  network: string;
  isolation?: string;
  shared?: { domain: string; networks: number };
  traffic?: Record<string, { received: number }>;
  tokens?: { allocation: number };
}

test('agent: SoftwareNetworks with isolation: context share one domain on their server, each reported with the domain it shares', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  const { resources, issues } = parseManifestText(`${infraManifest(['s1'])}---\n${userNet('u1', 1)}---\n${userNet('u2', 2)}`, 'users.yaml');
  assert.deepEqual(issues, []);
  // The Server first: the agent reads its capacity (the token scheduler's) at start.
  await apply(store, resources);
  const agent = await ServerAgent.start({ store, server: 's1', ttlSeconds: 2, statusMs: 200, resyncMs: 300 });
  try {
    const doms = await until('both networks in status with traffic', async () => {
      const st = (await store.get(resourceKey('Server', 's1')))?.value as { status?: { domains?: StatusDomain[] } };
      const ds = st.status?.domains ?? [];
      return ds.length === 2 && ds.every((d) => (d.traffic?.['sink']?.received ?? 0) > 20) ? ds : undefined;
    });
    for (const d of doms) assert.equal(d.isolation, 'context', JSON.stringify(d));
    assert.equal(doms[0]?.shared?.domain, doms[1]?.shared?.domain);
    assert.deepEqual(doms.map((d) => d.shared?.networks), [2, 2]);
    assert.deepEqual(doms.map((d) => [d.network, d.tokens?.allocation]).sort(), [['users/u1', 1], ['users/u2', 2]]);
    assert.equal(agent.runtime.host.domainList().length, 1);
  } finally {
    await agent.stop();
    await ctl.stop();
    await store.close();
  }
});
