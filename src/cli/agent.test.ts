import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../control/store/memory.js';
import { startControllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { listEvents } from '../control/events.js';
import { resourceKey } from '../control/manifest/types.js';
import type { Store } from '../control/store/contract.js';
import { ServerAgent, linkVni } from './agent.js';
import { trafficReceived, until } from './agent-testing.js';
import { infraManifest, placements } from './agent-bed.js';

/** Three servers and a network src → r1 → r2 → sink with r1 and r2 kept apart (anti-affinity). */
export const AGENT_MANIFEST = `${infraManifest(['s1', 's2', 's3'], { specpower: [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135] })}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: voip, namespace: default }
spec:
  functions:
    - name: src
      kind: traffic-source
      config:
        flows:
          - { kind: voip, srcMac: '02:01:00:00:00:10', dstMac: '02:01:00:00:01:01', src: 10.1.1.10, dst: 10.1.2.10, srcPort: 40001, dstPort: 5004, intervalMs: 2 }
    - name: r1
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '02:01:00:00:01:01', addresses: [10.1.1.1/24] }
          - { name: eth1, mac: '02:01:00:00:01:02', addresses: [10.1.0.1/30] }
    - name: r2
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '02:01:00:00:02:01', addresses: [10.1.0.2/30] }
          - { name: eth1, mac: '02:01:00:00:02:02', addresses: [10.1.2.1/24] }
        neighbors: [{ interface: eth1, address: 10.1.2.10, mac: '02:01:00:00:00:20' }]
    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', 'r1:eth0'] }
    - { endpoints: ['r1:eth1', 'r2:eth0'] }
    - { endpoints: ['r2:eth1', 'sink:in'] }
  placement:
    antiAffinity: [[r1, r2]]
`;

/** Frames the sink received, read from the Server status the agents write. */
const sinkReceived = (store: Store, servers: readonly string[]): Promise<number> => trafficReceived(store, servers, 'sink');

test('linkVni: 24 bits, never 0, both ends agree, links of a network differ', () => {
  const a = linkVni('default/voip', 1);
  assert.equal(a, linkVni('default/voip', 1));
  assert.notEqual(a, linkVni('default/voip', 2));
  assert.ok(a > 0 && a <= 0xffffff);
});

test('embedded: agents run a network across servers (VXLAN on loopback, SDN FIBs); a lost agent\'s functions move and traffic resumes', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  const agents = new Map<string, ServerAgent>();
  try {
    const { resources, issues } = parseManifestText(AGENT_MANIFEST, 'agent.yaml');
    assert.deepEqual(issues, []);
    // Servers first: an agent reads its power model from its Server at start.
    await apply(store, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    for (const s of ['s1', 's2', 's3']) agents.set(s, await ServerAgent.start({ store, server: s, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 1, statusMs: 200, resyncMs: 300 }));
    await apply(store, resources);
    const placed = await until('4 placements', async () => {
      const p = await placements(store);
      return p.size === 4 ? p : undefined;
    });
    assert.notEqual(placed.get('r1'), placed.get('r2'));
    const all = ['s1', 's2', 's3'];
    await until('traffic at the sink', async () => ((await sinkReceived(store, all)) > 100 ? true : undefined));

    // The agent of r2's server dies (no clean shutdown: its lease expires).
    const victim = placed.get('r2') as string;
    await (agents.get(victim) as ServerAgent).kill();
    agents.delete(victim);
    const moved = await until('r2 placed again', async () => {
      const p = await placements(store);
      const s = p.get('r2');
      return s !== undefined && s !== victim && p.get('r1') !== s && [...p.values()].every((x) => x !== victim) ? p : undefined;
    });
    const alive = all.filter((s) => s !== victim);
    // The sink's count restarts if it moved; it has to grow again either way.
    const base = moved.get('sink') === placed.get('sink') ? await sinkReceived(store, alive) : 0;
    await until('traffic resumes', async () => ((await sinkReceived(store, alive)) > base + 100 ? true : undefined), 20000);
    const evs = await listEvents(store, { involved: { kind: 'SoftwareNetwork', name: 'voip', namespace: 'default' } });
    const why = evs.find((e) => e.reason === 'Rescheduled');
    assert.ok(why, `a Rescheduled event (got ${evs.map((e) => e.reason).join(', ')})`);
    assert.match(why.message, new RegExp(`${victim}.*(AgentLost|not ready)`));
    // The status says what runs where.
    const st = (await store.get(resourceKey('Server', moved.get('r2') as string)))?.value as { status?: { domains?: { network: string; functions: string[] }[]; powerWatts?: number; utilization?: { cpu?: number } } };
    assert.ok(st.status?.domains?.some((d) => d.network === 'default/voip' && d.functions.includes('r2')));
    assert.ok((st.status?.powerWatts ?? 0) > 90);
    // 500 frames/s through r2's domain on an 8-CPU (800,000 frames/s) server.
    const u = st.status?.utilization?.cpu ?? -1;
    assert.ok(u > 0 && u < 0.05, `utilisation ${u}`);
    assert.ok(evs.some((e) => e.reason === 'DomainCreated' && e.message.startsWith(`${moved.get('r2') as string}: `)));
    // A clean stop clears what the server ran from its status.
    const last = moved.get('r2') as string;
    await (agents.get(last) as ServerAgent).stop();
    const after = (await store.get(resourceKey('Server', last)))?.value as { status?: { domains?: unknown[]; powerWatts?: number } };
    assert.deepEqual(after.status?.domains, []);
    assert.equal(after.status?.powerWatts, undefined);
  } finally {
    for (const a of agents.values()) await a.stop();
    await ctl.stop();
    await store.close();
  }
});

test('agent: a network it cannot run gets an AgentError event and an error in the Server status', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  const agent = await ServerAgent.start({ store, server: 's1', ttlSeconds: 2, statusMs: 200, resyncMs: 300 });
  try {
    // Two servers, r1 and r2 apart: s1 runs one router, whose link to the other needs VXLAN (s1 has none, s2 no agent).
    const { resources, issues } = parseManifestText(AGENT_MANIFEST, 'agent.yaml');
    assert.deepEqual(issues, []);
    await apply(store, resources.filter((r) => r.resource.metadata.name !== 's3'));
    const ev = await until('AgentError event', async () => (await listEvents(store, { namespace: 'default' })).find((e) => e.reason === 'AgentError'));
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message, /s1: /);
    await until('error in status', async () => {
      const st = (await store.get(resourceKey('Server', 's1')))?.value as { status?: { domains?: { error?: string }[] } };
      return st.status?.domains?.some((d) => typeof d.error === 'string') ? true : undefined;
    });
    const cond = await until('DomainsReady=False', async () => {
      const st = (await store.get(resourceKey('Server', 's1')))?.value as { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } };
      return st.status?.conditions?.find((c) => c.type === 'DomainsReady' && c.status === 'False');
    });
    assert.equal(cond.reason, 'AgentError');
    assert.match(cond.message ?? '', /default\/voip: /);
    // The network goes away: nothing left that fails, the condition turns True.
    await store.delete(resourceKey('SoftwareNetwork', 'voip', 'default'));
    await until('DomainsReady=True', async () => {
      const st = (await store.get(resourceKey('Server', 's1')))?.value as { status?: { conditions?: { type: string; status: string }[] } };
      return st.status?.conditions?.some((c) => c.type === 'DomainsReady' && c.status === 'True') ? true : undefined;
    });
  } finally {
    await agent.stop();
    await ctl.stop();
    await store.close();
  }
});
