import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../control/store/memory.js';
import { startControllers, type Controllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { listEvents } from '../control/events.js';
import { heartbeatKey } from '../control/heartbeat.js';
import { listMigrations } from '../control/migrations.js';
import { ServerAgent } from './agent.js';
import { commandKey, standbyStateKey } from './agent-standby.js';
import { trafficReceived, until } from './agent-testing.js';
import { infraManifest, placements } from './agent-bed.js';

const SERVERS = ['s1', 's2', 's3', 's4'];

/** Four servers; src → r → sink with r's standby (every function has one), r apart from src and sink. */
const MANIFEST = `${infraManifest(SERVERS)}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: ha, namespace: default }
spec:
  resilience: { standby: 1 }
  functions:
    - name: src
      kind: traffic-source
      config:
        flows:
          - { kind: voip, srcMac: '02:01:00:00:00:10', dstMac: '02:01:00:00:01:01', src: 10.1.1.10, dst: 10.1.2.10, srcPort: 40001, dstPort: 5004, intervalMs: 2 }
    - name: r
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '02:01:00:00:01:01', addresses: [10.1.1.1/24] }
          - { name: eth1, mac: '02:01:00:00:01:02', addresses: [10.1.2.1/24] }
        neighbors: [{ interface: eth1, address: 10.1.2.10, mac: '02:01:00:00:00:20' }]
    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', 'r:eth0'] }
    - { endpoints: ['r:eth1', 'sink:in'] }
  placement:
    antiAffinity: [[src, r], [r, sink]]
`;

interface Bed {
  store: MemoryStore;
  ctl: Controllers;
  agents: Map<string, ServerAgent>;
  placed: Map<string, string>;
  close(): Promise<void>;
}

/** Controllers and four agents over a memory store, the network running with r's warm standby ready. */
async function bed(ttlSeconds: number): Promise<Bed> {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  const agents = new Map<string, ServerAgent>();
  const close = async (): Promise<void> => {
    for (const a of agents.values()) await a.stop();
    await ctl.stop();
    await store.close();
  };
  try {
    const { resources, issues } = parseManifestText(MANIFEST, 'ha.yaml');
    assert.deepEqual(issues, []);
    await apply(store, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    for (const s of SERVERS) agents.set(s, await ServerAgent.start({ store, server: s, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds, statusMs: 200, resyncMs: 300, standby: { helloMs: 20, standbySyncMs: 200 } }));
    await apply(store, resources);
    const placed = await until('6 placements', async () => {
      const p = await placements(store);
      return p.size === 6 ? p : undefined;
    });
    assert.notEqual(placed.get('r'), placed.get('r~standby-1'));
    await until('traffic at the sink', async () => ((await trafficReceived(store, SERVERS, 'sink')) > 100 ? true : undefined));
    const sb = agents.get(placed.get('r~standby-1') as string) as ServerAgent;
    // The standby is warm, has the primary's state, and hears its hellos.
    await until('warm standby of r hearing hellos', async () => (sb.runtime.hasWarm('default/ha', 'r') && sb.standby?.hello.watched().get('default/ha/r') === 'up' ? true : undefined));
    await until('r state copied', async () => ((await store.get(standbyStateKey('default', 'ha', 'r'))) ? true : undefined));
    return { store, ctl, agents, placed, close };
  } catch (e) {
    await close();
    throw e;
  }
}

test('failover: the primary router\'s agent dies; its warm standby takes over from hellos, before the lease expires; traffic resumes; a new standby is placed', async () => {
  const b = await bed(3);
  const { store, agents, placed } = b;
  try {
    const primary = placed.get('r') as string;
    const standby = placed.get('r~standby-1') as string;
    const sbAgent = agents.get(standby) as ServerAgent;
    const others = SERVERS.filter((s) => s !== primary);
    // State travels to warm standbys: the sink's warm copy never saw a frame, yet counts them (imported).
    const sinkSb = agents.get(placed.get('sink~standby-1') as string) as ServerAgent;
    await until('the sink standby holds the primary\'s counts', async () => {
      if (!sinkSb.runtime.hasWarm('default/ha', 'sink')) return undefined;
      const st = (await sinkSb.runtime.exportState('default/ha', 'sink')) as { flows?: { received?: number }[] } | null;
      return (st?.flows?.[0]?.received ?? 0) > 50 ? true : undefined;
    });
    const t0 = performance.now();
    await (agents.get(primary) as ServerAgent).kill();
    agents.delete(primary);
    const fo = await until('failover', async () => sbAgent.standby?.failovers[0], 5000, 5);
    const tookMs = fo.adoptedAt - t0;
    // Lease of 3 s still held: the hellos decided (6 × 20 ms of silence), not the lease.
    assert.ok(tookMs < 1500, `kill → adopted ${tookMs.toFixed(0)} ms`);
    assert.ok(await store.get(heartbeatKey(primary)), 'lease still held at the failover');
    assert.equal(fo.from, primary);
    const p = await placements(store);
    assert.equal(p.get('r'), standby, 'r placed on its standby server');
    assert.ok(sbAgent.runtime.functions('default/ha').includes('r'), 'the warm instance runs r');
    assert.equal(sbAgent.runtime.hasWarm('default/ha', 'r'), false);
    assert.ok(sbAgent.runtime.changes('default/ha')?.adopted.includes('r'), 'adopted, not cold-started');
    // The Migration object and a Warning event say why.
    const ms = await until('migration done', async () => {
      const l = await listMigrations(store, 'default', 'ha');
      return l.length === 1 && l[0]?.phase === 'done' ? l : undefined;
    });
    const m = ms[0];
    assert.ok(m);
    assert.equal(m.function, 'r');
    assert.equal(m.from, primary);
    assert.equal(m.to, standby);
    assert.equal(m.reason, 'failure');
    assert.equal(m.standby, true);
    assert.deepEqual(m.timeline.map((e) => [e.phase, e.by]), [['switched', `agent/${standby}`], ['done', `agent/${standby}`]]);
    // Confirmed before the 3 s lease expired: the dead agent's hello port answers port unreachable.
    assert.match(m.detail ?? '', new RegExp(`hellos from ${primary} missing for \\d+ ms \\(lease still held; its hello port is closed`));
    const ev = (await listEvents(store, { involved: { kind: 'SoftwareNetwork', name: 'ha', namespace: 'default' } })).find((e) => e.reason === 'Failover');
    assert.ok(ev);
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message, new RegExp(`^r: ${primary} → ${standby}: hellos from ${primary} missing`));
    // Traffic flows through the promoted router.
    const base = await trafficReceived(store, others, 'sink');
    await until('traffic resumes', async () => ((await trafficReceived(store, others, 'sink')) > base + 100 ? true : undefined), 10000);
    // The network controller places a new standby of r on a live server other than r's.
    const again = await until('new standby of r', async () => {
      const q = await placements(store);
      const s = q.get('r~standby-1');
      return s !== undefined && s !== standby && s !== primary && [...q.values()].every((x) => x !== primary) ? q : undefined;
    }, 15000).catch(async (e: unknown) => assert.fail(`${String(e)}: ${JSON.stringify([...(await placements(store))])}`));
    assert.equal(again.get('r'), standby, 'the promoted router stays where it is');
    const next = agents.get(again.get('r~standby-1') as string) as ServerAgent;
    await until('the new standby is warm and hears hellos', async () => (next.runtime.hasWarm('default/ha', 'r') && next.standby?.hello.watched().get('default/ha/r') === 'up' ? true : undefined), 10000);
  } finally {
    await b.close();
  }
});

test('failover: a slow-but-alive primary (stalled process, hellos late by 4 intervals) is not failed over; the fail command is obeyed as a kill -9', async () => {
  const b = await bed(3);
  const { store, agents, placed } = b;
  try {
    const primary = placed.get('r') as string;
    const standby = placed.get('r~standby-1') as string;
    const pa = agents.get(primary) as ServerAgent;
    const sa = agents.get(standby) as ServerAgent;
    const suspects0 = sa.standby?.hello.counters.lateTicks ?? 0;
    // The whole machine stalls (every agent's event loop: 200 ms = 10 hello intervals) ...
    const block = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 3; i++) {
      Atomics.wait(block, 0, 0, 200);
      await new Promise((r) => setTimeout(r, 100));
    }
    // ... and the primary's agent alone is slow: hellos 80 ms apart (4 intervals) for a second.
    for (let i = 0; i < 10; i++) {
      pa.standby?.hello.pause();
      await new Promise((r) => setTimeout(r, 80));
      pa.standby?.hello.pause(false);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((sa.standby?.hello.counters.lateTicks ?? 0) > suspects0, 'the stalls were seen');
    assert.deepEqual(sa.standby?.failovers, []);
    assert.deepEqual(await listMigrations(store), []);
    assert.equal((await placements(store)).get('r'), primary);
    assert.equal(sa.standby?.hello.watched().get('default/ha/r'), 'up');

    // `fail`: the agent stops as if killed: no lease revoke, hellos stop, domains gone; the standby takes over.
    await store.put(commandKey(primary), { action: 'fail', at: Date.now() });
    let failed = false;
    void pa.standby?.failed.then(() => (failed = true));
    await until('primary agent failed', async () => (failed ? true : undefined), 5000, 10);
    assert.ok(await store.get(heartbeatKey(primary)), 'lease not revoked');
    assert.deepEqual(pa.runtime.keys(), []);
    const fo = await until('failover', async () => sa.standby?.failovers[0], 5000, 10);
    assert.equal(fo.from, primary);
    assert.equal((await placements(store)).get('r'), standby);
    agents.delete(primary);
  } finally {
    await b.close();
  }
});
