import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startControllers } from '../control/controllers/start.js';
import { listEvents } from '../control/events.js';
import { apply, getResource } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { listMigrations } from '../control/migrations.js';
import { PLACEMENT_PREFIX, type Placement } from '../control/placement.js';
import { serverOperation, uncordonServer } from '../control/server-ops.js';
import { MemoryStore } from '../control/store/memory.js';
import { ServerAgent } from './agent.js';
import { until } from './agent-testing.js';

const server = (name: string, cordon: boolean): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${name} }\nspec: { datacenter: dc1, capacity: { cpu: 8, memory: 16Gi }${cordon ? ', unschedulable: true' : ''} }\n---\n`;
const MANIFEST = `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n${server('s1', false)}${server('s2', true)}${server('s3', true)}apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: web, namespace: t1 }
spec:
  functions:
${['a', 'b', 'c'].map((f) => `    - { name: ${f}, kind: switch, config: { ports: [{ name: p }, { name: q }] }, resources: { cpu: 1 } }`).join('\n')}
`;

/** Functions each agent runs, from its runtime. */
function running(agents: ReadonlyMap<string, ServerAgent>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, a] of agents) out[name] = (a.report?.domains ?? []).reduce((n, d) => n + (d.state === 'running' ? d.functions.length : 0), 0);
  return out;
}

test('swnet drain with agents: every function migrates off (make-before-break), the server ends empty and in standby', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store, { overload: false });
  const agents = new Map<string, ServerAgent>();
  try {
    const { resources, issues } = parseManifestText(MANIFEST, 'drain.yaml');
    assert.deepEqual(issues, []);
    await apply(store, resources.filter((r) => r.resource.kind === 'Datacenter' || r.resource.kind === 'Server'));
    for (const s of ['s1', 's2', 's3']) agents.set(s, await ServerAgent.start({ store, server: s, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 5, statusMs: 100, resyncMs: 300 }));
    // s2 and s3 cordoned while the network is placed: everything lands on s1.
    await apply(store, resources);
    await until('a, b, c running on s1', async () => (running(agents)['s1'] === 3 ? true : undefined), 20_000);
    await uncordonServer(store, 's2');
    await uncordonServer(store, 's3');
    assert.match((await serverOperation(store, 's1', 'drain')).message, /cordoned/);
    await until('s1 empty and in standby, all running elsewhere', async () => {
      const r = running(agents);
      return r['s1'] === 0 && (r['s2'] ?? 0) + (r['s3'] ?? 0) === 3 && (await getResource(store, 'Server', 's1')).status?.['standby'] === true ? true : undefined;
    }, 30_000);
    const ps = (await store.list(PLACEMENT_PREFIX)).items.map((kv) => kv.value as unknown as Placement);
    assert.ok(ps.every((p) => p.server !== 's1' && p.generation === 1));
    const ms = await listMigrations(store, 't1');
    assert.deepEqual(ms.map((m) => m.function).sort(), ['a', 'b', 'c']);
    for (const m of ms) {
      assert.equal(m.phase, 'done', `${m.function}: ${m.error ?? ''}`);
      assert.deepEqual(m.timeline.map((e) => e.phase), ['pending', 'prepared', 'state-copied', 'both-running', 'switched', 'drained', 'done']);
      assert.deepEqual([m.reason, m.detail, m.from], ['operator', 'drain s1', 's1']);
    }
    const evs = await until('done events', async () => {
      const e = await listEvents(store, { involved: { kind: 'SoftwareNetwork', name: 'web', namespace: 't1' } });
      return e.filter((x) => x.reason === 'MigrationDone').length === 3 ? e : undefined;
    }, 5000);
    assert.ok(evs.every((e) => e.type === 'Normal'));
    assert.ok((await listEvents(store, { involved: { kind: 'Server', name: 's1' } })).some((e) => e.reason === 'Drained'));
    // The drained server's agent meters standby (nothing hosted).
    assert.deepEqual(agents.get('s1')!.report?.domains.length, 0);
  } finally {
    for (const a of agents.values()) await a.stop();
    await ctl.stop();
    await store.close();
  }
});
