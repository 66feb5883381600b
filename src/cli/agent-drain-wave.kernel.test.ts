/**
 * A drain wave across machines over a REAL etcd: three network namespaces (the servers) joined
 * by veths to a bridge, etcd (Debian's etcd-server) on the bridge's address, one `swnet agent`
 * process per namespace, the migration controller beside the test. A network's three routers run
 * on s2 while a numbered UDP flow src (s1) → r1 → r2 → r3 (s2) → sink (s1) crosses them over
 * VXLAN; `swnet drain s2` moves the three as ONE wave: their placements switch in one etcd
 * transaction (one revision), every frame reaches the sink exactly once, and s2 ends empty and in
 * standby.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bridge, canUseNetns, have, joinBridge, sh, waitExit } from '../testkit/netns.js';
import { agentLab } from './agent-lab.js';
import { getResource } from '../control/manifest/apply.js';
import { resourceKey } from '../control/manifest/types.js';
import { listMigrations } from '../control/migrations.js';
import { placementKey } from '../control/placement.js';
import { drainServer } from '../control/server-ops.js';
import { trafficReceived } from './agent-testing.js';
import { infraManifest, placements, routerChain } from './agent-bed.js';

const ok = canUseNetns() && have('etcd');
const N = 3000;
const ROUTERS = ['r1', 'r2', 'r3'];

const MANIFEST = `${infraManifest(['s1', 's2', 's3'], { datacenter: 'lab', cpu: 4, memory: '8Gi' })}---\n${routerChain({ name: 'wave', mac: '0e', net: 8, routers: 3, count: N, startMs: 4000, nextHops: true })}`;

test('namespaces, a real etcd, one swnet agent process per namespace: a drain of s2 moves its three routers as one wave — one etcd transaction switches them, every frame arrives once, s2 ends empty and in standby', { skip: ok ? false : 'needs root, ip netns and etcd', timeout: 60_000 }, async () => {
  const lab = await agentLab({ id: `swe2e${process.pid % 100000}`, subnet: 28, servers: 3, netns: { bridge, joinBridge, sh, waitExit } });
  const { store: s, fail, until } = lab;
  try {
    // Fixed placements (no network controller): src and sink on s1, the three routers on s2.
    await lab.run(MANIFEST, { place: { wave: { src: 's1', r1: 's2', r2: 's2', r3: 's2', sink: 's1' } }, migrations: true });
    await until('frames at the sink', async () => ((await trafficReceived(s, ['s1'], 'sink')) > 200 ? true : undefined), 30000);
    const revs0 = await Promise.all(ROUTERS.map(async (fn) => (await s.get(placementKey('default', 'wave', fn)))?.modRevision ?? 0));

    await drainServer(s, 's2');
    const ms = await until('the wave done', async () => {
      const all = (await listMigrations(s, 'default', 'wave')).filter((m) => m.detail === 'drain s2');
      const bad = all.find((m) => m.phase === 'failed');
      if (bad) fail(`${bad.function} failed: ${bad.error ?? ''}\n${all.map((m) => `${m.id} ${m.wave ?? ''}: ${m.timeline.map((e) => `${e.phase}@${e.sinceStartMs} by ${e.by}${e.detail !== undefined ? ` (${e.detail})` : ''}`).join(' → ')}`).join('\n')}`);
      return all.length === 3 && all.every((m) => m.phase === 'done') ? all : undefined;
    });
    // One wave, one target, the phases done by the right processes.
    assert.deepEqual(ms.map((m) => m.function).sort(), ROUTERS);
    assert.equal(new Set(ms.map((m) => m.wave)).size, 1, 'one wave');
    assert.notEqual(ms[0]?.wave, undefined);
    const to = ms[0]?.to as string;
    assert.ok(ms.every((m) => m.to === to && m.from === 's2'), 'one target');
    for (const m of ms) {
      assert.deepEqual(m.timeline.map((e) => `${e.phase} by ${e.by}`), ['pending by controller', `prepared by agent/${to}`, 'state-copied by agent/s2', `both-running by agent/${to}`, 'switched by controller', 'drained by agent/s2', `done by agent/${to}`]);
      assert.match(m.timeline.find((e) => e.phase === 'switched')?.detail ?? '', /a wave of 3/);
    }
    // The switch: the three placements written in ONE etcd transaction — one revision for all.
    const kvs = await Promise.all(ROUTERS.map((fn) => s.get(placementKey('default', 'wave', fn))));
    const revs = kvs.map((kv) => kv?.modRevision ?? 0);
    assert.ok(revs.every((r, i) => r > (revs0[i] ?? 0)), `placements rewritten: ${revs0.join(',')} → ${revs.join(',')}`);
    assert.equal(new Set(revs).size, 1, `one revision: ${revs.join(',')}`);
    assert.equal(new Set(ms.map((m) => m.timeline.find((e) => e.phase === 'switched')?.at)).size, 1, 'switched at one instant');
    // s2 empty (no placement, nothing in its status) and in standby.
    await until('s2 empty and in standby', async () => {
      const p = await placements(s);
      const st = (await s.get(resourceKey('Server', 's2')))?.value as { status?: { standby?: boolean; domains?: unknown[] } } | undefined;
      return ROUTERS.every((fn) => p.get(fn) === to) && st?.status?.standby === true && (st.status.domains ?? []).length === 0 ? true : undefined;
    });
    assert.equal((await getResource(s, 'Server', 's2')).spec['unschedulable'], true);
    // Every frame, once: the sink's count (in s1's status) settles at N.
    await until(`${N} frames at the sink`, async () => ((await trafficReceived(s, ['s1'], 'sink')) >= N ? true : undefined), 20000);
    await new Promise((r) => setTimeout(r, 600));
    const got = await trafficReceived(s, ['s1'], 'sink');
    const sw = ms[0]?.timeline.find((e) => e.phase === 'switched')?.sinceStartMs ?? -1;
    process.stdout.write(`# drain wave over etcd (3 routers s2→${to}, agents in namespaces): received ${got}/${N}; switched ${sw} ms after the wave started, placements at revision ${revs[0] ?? 0}\n`);
    assert.equal(got, N, 'no frame lost, none duplicated');
  } finally {
    await lab.close();
  }
});
