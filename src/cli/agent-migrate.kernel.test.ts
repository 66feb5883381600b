/**
 * A planned migration across machines: three network namespaces (the servers) joined by veths
 * to a bridge, etcd on the bridge's address, one `swnet agent` process per namespace, the
 * migration controller beside the test on the same etcd. A numbered UDP flow src (s1) → r1 (s2)
 * → r2 → sink (s3) crosses the servers over VXLAN; r1 moves s2 → s3 under traffic: every phase
 * is done by the right process and every frame reaches the sink exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bridge, canUseNetns, have, joinBridge, sh, waitExit } from '../testkit/netns.js';
import { agentLab } from './agent-lab.js';
import { getMigration, keyOf, phaseDurations } from '../control/migrations.js';
import { requestMigration } from '../control/server-ops.js';
import { trafficReceived } from './agent-testing.js';
import { infraManifest, routerChain } from './agent-bed.js';

const ok = canUseNetns() && have('etcd');
const N = 2000;

const MANIFEST = `${infraManifest(['s1', 's2', 's3'], { datacenter: 'lab', cpu: 4, memory: '8Gi' })}---\n${routerChain({ name: 'mig', mac: '0c', net: 1, routers: 2, count: N, startMs: 4000, nextHops: true })}`;

test('namespaces, etcd, one swnet agent process per namespace: r1 migrates s2 → s3 under a numbered flow, none of its frames lost or duplicated', { skip: ok ? false : 'needs root, ip netns and etcd' }, async () => {
  const lab = await agentLab({ id: `swm${process.pid % 100000}`, subnet: 30, servers: 3, netns: { bridge, joinBridge, sh, waitExit } });
  const { store: s, fail, until } = lab;
  try {
    // Fixed placements (no network controller): src s1, r1 s2, r2 and sink s3.
    await lab.run(MANIFEST, { place: { mig: { src: 's1', r1: 's2', r2: 's3', sink: 's3' } }, migrations: true });
    await until('frames at the sink', async () => ((await trafficReceived(s, ['s3'], 'sink')) > 200 ? true : undefined), 30000);

    const m = await requestMigration(s, { namespace: 'default', network: 'mig', function: 'r1', to: 's3' });
    const done = await until('migration done', async () => {
      const cur = (await getMigration(s, keyOf(m)))?.m;
      if (cur?.phase === 'failed') fail(`migration failed: ${cur.error ?? ''}`);
      return cur?.phase === 'done' ? cur : undefined;
    });
    assert.deepEqual(done.timeline.map((e) => `${e.phase} by ${e.by}`), ['pending by controller', 'prepared by agent/s3', 'state-copied by agent/s2', 'both-running by agent/s3', 'switched by controller', 'drained by agent/s2', 'done by agent/s3']);
    // Every frame, once: the sink's count (in s3's status) settles at N.
    await until(`${N} frames at the sink`, async () => ((await trafficReceived(s, ['s3'], 'sink')) >= N ? true : undefined), 20000);
    await new Promise((r) => setTimeout(r, 600));
    const got = await trafficReceived(s, ['s3'], 'sink');
    assert.equal(got, N, 'no frame lost, none duplicated');
    process.stdout.write(`# migration across processes (etcd, namespaces): r1 s2→s3 at 1000 frames/s, received ${got}/${N}; ${phaseDurations(done).map((d) => `${d.phase} +${d.ms}ms`).join(', ')}\n`);
  } finally {
    await lab.close();
  }
});
