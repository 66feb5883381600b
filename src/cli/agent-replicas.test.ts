// Horizontal elasticity through the agent: a SoftwareNetwork function with `replicas` runs as a
// partition (src/host/partition.ts) on its server, and a changed `replicas` re-partitions it live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../control/store/memory.js';
import { startControllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import type { Plain } from '../functions/contract.js';
import { ServerAgent } from './agent.js';
import { until } from './agent-testing.js';

const FLOWS = 8;
const FWD_COUNT = 100;
const REPLY_COUNT = 1500;

/**
 * cli → lsw → fw (lan | wan) → wsw → ssink, and srv → wsw → fw → lsw → csink. The firewall lets
 * new flows in from the lan only; the wan side's replies pass as established. The client's
 * flows (ids 1…8) end after 0.4 s; the server's replies (ids 101…108, the same 5-tuples
 * reversed) start 1.5 s after it and run 3 s: they pass only where the conntrack entry of their
 * flow is, so once re-partitioned, only if the entries moved with their buckets. The replies go
 * to a MAC no switch learned (flooded: the client's side has its sink on the same switch).
 */
function manifest(replicas: number): string {
  const fwd = Array.from({ length: FLOWS }, (_, i) => `          - { id: ${i + 1}, kind: udp, srcMac: '02:0a:00:00:00:01', dstMac: '02:0a:00:00:00:02', src: 10.9.1.${10 + i}, dst: 10.9.2.10, srcPort: ${41000 + i}, dstPort: 7000, payloadBytes: 64, intervalMs: 4, count: ${FWD_COUNT} }`).join('\n');
  const rev = Array.from({ length: FLOWS }, (_, i) => `          - { id: ${101 + i}, kind: udp, srcMac: '02:0a:00:00:00:04', dstMac: '02:0a:00:00:00:03', src: 10.9.2.10, dst: 10.9.1.${10 + i}, srcPort: 7000, dstPort: ${41000 + i}, payloadBytes: 64, intervalMs: 2, startMs: 1500, count: ${REPLY_COUNT} }`).join('\n');
  return `apiVersion: swnet.io/v1
kind: Datacenter
metadata: { name: dc1 }
spec: { tier: edge }
---
apiVersion: swnet.io/v1
kind: Server
metadata: { name: s1 }
spec:
  datacenter: dc1
  capacity: { cpu: 8, memory: 16Gi }
---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: part, namespace: default }
spec:
  functions:
    - name: cli
      kind: traffic-source
      config:
        flows:
${fwd}
    - name: srv
      kind: traffic-source
      config:
        flows:
${rev}
    - { name: lsw, kind: switch, config: { ports: [{ name: p0 }, { name: p1 }, { name: p2 }] } }
    - { name: wsw, kind: switch, config: { ports: [{ name: p0 }, { name: p1 }, { name: p2 }] } }
    - name: fw
      kind: firewall
      replicas: ${replicas}
      config:
        interfaces: [{ name: lan }, { name: wan }]
        defaultPolicy: deny
        rules: [{ name: lan-out, in: lan, action: allow }]
    - { name: ssink, kind: traffic-sink }
    - { name: csink, kind: traffic-sink }
  links:
    - { endpoints: ['cli:out', 'lsw:p1'] }
    - { endpoints: ['csink:in', 'lsw:p2'] }
    - { endpoints: ['lsw:p0', 'fw:lan'] }
    - { endpoints: ['fw:wan', 'wsw:p0'] }
    - { endpoints: ['wsw:p1', 'ssink:in'] }
    - { endpoints: ['srv:out', 'wsw:p2'] }
`;
}

interface SinkFlow {
  id: number;
  received: number;
  maxSeq: number;
  duplicates: number;
}

const KEY = 'default/part';

async function sinkFlows(agent: ServerAgent, sink: string, ids: (id: number) => boolean): Promise<SinkFlow[]> {
  const st = (await agent.runtime.exportState(KEY, sink)) as { flows?: Plain[] } | null;
  return ((st?.flows ?? []) as unknown as SinkFlow[]).filter((f) => ids(f.id)).sort((a, b) => a.id - b.id);
}

async function applyReplicas(store: MemoryStore, n: number): Promise<void> {
  const { resources, issues } = parseManifestText(manifest(n), 'replicas.yaml');
  assert.deepEqual(issues, []);
  await apply(store, resources);
}

test('agent: a firewall with replicas 2 runs as a partition; replicas 3 then 1 re-partition it live: every numbered reply passes once (conntrack entries moved with their buckets)', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  let agent: ServerAgent | undefined;
  try {
    const { resources } = parseManifestText(manifest(2), 'replicas.yaml');
    await apply(store, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    agent = await ServerAgent.start({ store, server: 's1', ttlSeconds: 2, statusMs: 500, resyncMs: 300 });
    const a = agent;
    await applyReplicas(store, 2);
    const part = await until('fw partitioned', async () => a.runtime.partitionOf(KEY, 'fw'));
    assert.equal(part.partition.replicas, 2);
    assert.ok(a.runtime.functions(KEY).includes('fw'));
    // Each instance is a domain of its own, beside the network's cells.
    assert.equal(a.runtime.domainsOf(KEY).filter((d) => d.functions.includes('fw')).length, 2);

    // The client's numbered flows all cross the two instances, each flow on one of them.
    const fwd = await until('forward flows delivered', async () => {
      const f = await sinkFlows(a, 'ssink', (id) => id <= FLOWS);
      return f.length === FLOWS && f.every((x) => x.received === FWD_COUNT) ? f : undefined;
    });
    assert.ok(fwd.every((x) => x.duplicates === 0 && x.maxSeq === FWD_COUNT - 1), JSON.stringify(fwd));
    const spread = Object.values(part.partition.counters().spread);
    assert.equal(spread.length, 2);
    assert.equal(
      spread.reduce((s, n) => s + n, 0),
      FLOWS * FWD_COUNT,
      'every forward frame spread once (the replies have not started)',
    );

    // Replies flow (established connections only); the spec changes to 3, then to 1, meanwhile.
    await until('replies flowing', async () => {
      const f = await sinkFlows(a, 'csink', (id) => id > 100);
      return f.length === FLOWS && f.every((x) => x.received > 100) ? true : undefined;
    });
    await applyReplicas(store, 3);
    await until('3 instances', async () => (a.runtime.partitionOf(KEY, 'fw')?.partition.replicas === 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    await applyReplicas(store, 1);
    await until('1 instance', async () => (a.runtime.partitionOf(KEY, 'fw')?.partition.replicas === 1 ? true : undefined));
    // The same partition throughout: re-partitioned, never rebuilt.
    assert.equal(a.runtime.partitionOf(KEY, 'fw')?.partition, part.partition);
    assert.deepEqual(a.runtime.changes(KEY)?.started, []);

    const rev = await until(
      'replies delivered',
      async () => {
        const f = await sinkFlows(a, 'csink', (id) => id > 100);
        return f.length === FLOWS && f.every((x) => x.maxSeq === REPLY_COUNT - 1) ? f : undefined;
      },
      15000,
    );
    await new Promise((r) => setTimeout(r, 100));
    const final = await sinkFlows(a, 'csink', (id) => id > 100);
    for (const x of final) {
      assert.equal(x.received, REPLY_COUNT, `flow ${x.id}: ${x.received} of ${REPLY_COUNT} replies (lost ones were dropped without their conntrack entry)`);
      assert.equal(x.duplicates, 0, `flow ${x.id} duplicated`);
    }
    assert.equal(rev.length, FLOWS);
    const recs = part.resizes;
    assert.deepEqual(
      recs.map((r) => [r.from, r.to]),
      [
        [2, 3],
        [3, 1],
      ],
    );
    // 2→3 moves about a third of the buckets, 3→1 the two removed instances' two thirds; the
    // entries of the flows there went with them.
    assert.ok(recs[0] && recs[0].moved > 60 && recs[0].moved < 110, `2→3 moved ${recs[0]?.moved}`);
    assert.ok(recs[1] && recs[1].moved > 140 && recs[1].moved < 200, `3→1 moved ${recs[1]?.moved}`);
    assert.ok(recs[1].flows > 0, `3→1 moved ${recs[1].flows} connections`);
    assert.deepEqual(part.partition.counters().buckets, { 'fw#0': 257 });
    const drops = a.runtime.host.dropsOf(KEY);
    assert.deepEqual([drops.unwired, drops.ringFull, drops.queueFull, drops.noBuffer], [0, 0, 0, 0], JSON.stringify(drops));
    console.log(`replicas: 2→3 moved ${recs[0].moved} buckets, ${recs[0].flows} connections, held ${recs[0].held} frames ${recs[0].holdMs.toFixed(1)} ms; 3→1 moved ${recs[1].moved}, ${recs[1].flows} connections, held ${recs[1].held} frames ${recs[1].holdMs.toFixed(1)} ms`);
  } finally {
    await agent?.stop();
    await ctl.stop();
  }
});
