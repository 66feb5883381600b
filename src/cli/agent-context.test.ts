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
import { connectUser, disconnectUser } from '../control/users.js';

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

const TEMPLATE = `apiVersion: swnet.io/v1
kind: UserNetworkTemplate
metadata: { name: home, namespace: default }
spec:
  template:
    spec:
      isolation: context
      functions:
        - name: src
          kind: traffic-source
          config:
            flows: [{ kind: udp, srcMac: '02:01:00:00:00:10', dstMac: '02:01:00:00:00:20', src: 10.1.1.10, dst: 10.1.2.10, srcPort: 4000, dstPort: 5004, intervalMs: 5 }]
        - { name: sink, kind: traffic-sink }
      links:
        - { endpoints: ['src:out', 'sink:in'] }
`;

test('agent: per-user networks (swnet user connect, a template with isolation: context) come and go in one shared domain', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  const { resources, issues } = parseManifestText(`${infraManifest(['s1'])}---\n${TEMPLATE}`, 'home.yaml');
  assert.deepEqual(issues, []);
  await apply(store, resources);
  const agent = await ServerAgent.start({ store, server: 's1', ttlSeconds: 2, statusMs: 200, resyncMs: 300 });
  const status = async (): Promise<StatusDomain[]> => ((await store.get(resourceKey('Server', 's1')))?.value as { status?: { domains?: StatusDomain[] } }).status?.domains ?? [];
  const received = async (net: string): Promise<number> => (await status()).find((d) => d.network === net)?.traffic?.['sink']?.received ?? 0;
  try {
    for (const u of ['alice', 'bob', 'carol']) await connectUser(store, { user: u }, 'home');
    await until('three user networks with traffic', async () => {
      const ds = await status();
      return ds.length === 3 && ds.every((d) => d.isolation === 'context' && (d.traffic?.['sink']?.received ?? 0) > 10) ? true : undefined;
    });
    assert.equal(agent.runtime.host.domainList().length, 1);
    assert.deepEqual(agent.runtime.keys().sort(), ['default/user-alice', 'default/user-bob', 'default/user-carol']);
    const alice = await received('default/user-alice');
    assert.equal(await disconnectUser(store, { user: 'bob' }), true);
    await until('bob gone', async () => (agent.runtime.keys().length === 2 ? true : undefined));
    // The others run on in the same domain, their sinks' counts going on from where they were.
    await until('alice goes on', async () => ((await received('default/user-alice')) > alice + 20 ? true : undefined));
    assert.equal(agent.runtime.host.domainList().length, 1);
    const sinkState = (await agent.runtime.exportState('default/user-alice', 'sink')) as { flows: { received: number; maxSeq: number }[] };
    assert.equal(sinkState.flows.length, 1);
    assert.equal((sinkState.flows[0]?.maxSeq ?? 0) + 1 - (sinkState.flows[0]?.received ?? 0), 0, 'alice lost no frame');
  } finally {
    await agent.stop();
    await ctl.stop();
    await store.close();
  }
});
