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
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bridge, canUseNetns, have, joinBridge, sh, waitExit } from '../testkit/netns.js';
import { startEtcd, type EtcdProcess } from '../control/store/etcd-process.js';
import { openStore } from '../control/store/open.js';
import { apply, getResource } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { resourceKey } from '../control/manifest/types.js';
import { listMigrations } from '../control/migrations.js';
import { placementKey } from '../control/placement.js';
import { drainServer } from '../control/server-ops.js';
import { MigrationController } from '../control/controllers/migration.js';
import { HEARTBEAT_PREFIX } from '../control/heartbeat.js';
import type { Store } from '../control/store/contract.js';
import { trafficReceived, until as untilShared } from './agent-testing.js';
import { infraManifest, placeFixed, placements } from './agent-bed.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const ok = canUseNetns() && have('etcd');
const N = 3000;
const ROUTERS = ['r1', 'r2', 'r3'];
const mac = (b: number): string => `02:0e:00:00:00:${b.toString(16).padStart(2, '0')}`;

const MANIFEST = `${infraManifest(['s1', 's2', 's3'], { datacenter: 'lab', cpu: 4, memory: '8Gi' })}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: wave, namespace: default }
spec:
  functions:
    - name: src
      kind: traffic-source
      config:
        flows: [{ kind: udp, srcMac: '${mac(0x10)}', dstMac: '${mac(0x11)}', src: 10.8.1.10, dst: 10.8.2.10, srcPort: 1000, dstPort: 2000, intervalMs: 1, count: ${N}, startMs: 4000 }]
    - name: r1
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x11)}', addresses: [10.8.1.1/24] }
          - { name: eth1, mac: '${mac(0x12)}', addresses: [10.8.0.1/30] }
        neighbors: [{ interface: eth1, address: 10.8.0.2, mac: '${mac(0x21)}' }]
    - name: r2
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x21)}', addresses: [10.8.0.2/30] }
          - { name: eth1, mac: '${mac(0x22)}', addresses: [10.8.0.5/30] }
        neighbors: [{ interface: eth1, address: 10.8.0.6, mac: '${mac(0x31)}' }]
    - name: r3
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x31)}', addresses: [10.8.0.6/30] }
          - { name: eth1, mac: '${mac(0x32)}', addresses: [10.8.2.1/24] }
        neighbors: [{ interface: eth1, address: 10.8.2.10, mac: '${mac(0x20)}' }]
    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', 'r1:eth0'] }
    - { endpoints: ['r1:eth1', 'r2:eth0'] }
    - { endpoints: ['r2:eth1', 'r3:eth0'] }
    - { endpoints: ['r3:eth1', 'sink:in'] }
`;

const until = <T>(what: string, f: () => Promise<T | undefined>, ms = 20000): Promise<T> => untilShared(what, f, ms, 100);

test('namespaces, a real etcd, one swnet agent process per namespace: a drain of s2 moves its three routers as one wave — one etcd transaction switches them, every frame arrives once, s2 ends empty and in standby', { skip: ok ? false : 'needs root, ip netns and etcd', timeout: 60_000 }, async () => {
  const id = `swe2e${process.pid % 100000}`;
  const br = `${id}b`;
  const net = `172.28.${process.pid % 250}`;
  const ns = [1, 2, 3].map((i) => `${id}n${i}`);
  let etcd: EtcdProcess | undefined;
  let store: Store | undefined;
  let ctl: MigrationController | undefined;
  const agents: ChildProcess[] = [];
  const logs: string[] = ['', '', ''];
  const fail = (e: unknown): never => {
    throw new Error(`${String(e)}\n${logs.join('\n---\n')}`);
  };
  try {
    bridge(br, `${net}.254/24`);
    ns.forEach((n, i) => joinBridge(br, n, `${id}r${i + 1}`, `${net}.${i + 1}/24`));
    etcd = await startEtcd({ host: `${net}.254` });
    const storeUrl = etcd.url.replace(/^http:\/\//, 'etcd://');
    store = await openStore({ store: storeUrl });
    const s = store;
    const { resources, issues } = parseManifestText(MANIFEST, 'wave.yaml');
    assert.deepEqual(issues, []);
    await apply(s, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    ns.forEach((n, i) => {
      const c = spawn('ip', ['netns', 'exec', n, process.execPath, MAIN, 'agent', '--server', `s${i + 1}`, '--store', storeUrl, '--vxlan-listen', `${net}.${i + 1}:4789`, '--ttl', '5', '--status-interval', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout?.on('data', (d: Buffer) => (logs[i] += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (logs[i] += d.toString()));
      agents.push(c);
    });
    await until('three agents', async () => ((await s.list(HEARTBEAT_PREFIX)).items.length === 3 ? true : undefined)).catch(fail);
    ctl = await MigrationController.start(s, { resyncMs: 100 });
    // Fixed placements (no network controller): src and sink on s1, the three routers on s2.
    await apply(s, resources);
    await placeFixed(s, 'default', 'wave', { src: 's1', r1: 's2', r2: 's2', r3: 's2', sink: 's1' });
    await until('frames at the sink', async () => ((await trafficReceived(s, ['s1'], 'sink')) > 200 ? true : undefined), 30000).catch(fail);
    const revs0 = await Promise.all(ROUTERS.map(async (fn) => (await s.get(placementKey('default', 'wave', fn)))?.modRevision ?? 0));

    await drainServer(s, 's2');
    const ms = await until('the wave done', async () => {
      const all = (await listMigrations(s, 'default', 'wave')).filter((m) => m.detail === 'drain s2');
      const bad = all.find((m) => m.phase === 'failed');
      if (bad) fail(`${bad.function} failed: ${bad.error ?? ''}\n${all.map((m) => `${m.id} ${m.wave ?? ''}: ${m.timeline.map((e) => `${e.phase}@${e.sinceStartMs} by ${e.by}${e.detail !== undefined ? ` (${e.detail})` : ''}`).join(' → ')}`).join('\n')}`);
      return all.length === 3 && all.every((m) => m.phase === 'done') ? all : undefined;
    }).catch(fail);
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
    }).catch(fail);
    assert.equal((await getResource(s, 'Server', 's2')).spec['unschedulable'], true);
    // Every frame, once: the sink's count (in s1's status) settles at N.
    await until(`${N} frames at the sink`, async () => ((await trafficReceived(s, ['s1'], 'sink')) >= N ? true : undefined), 20000).catch(fail);
    await new Promise((r) => setTimeout(r, 600));
    const got = await trafficReceived(s, ['s1'], 'sink');
    const sw = ms[0]?.timeline.find((e) => e.phase === 'switched')?.sinceStartMs ?? -1;
    process.stdout.write(`# drain wave over etcd (3 routers s2→${to}, agents in namespaces): received ${got}/${N}; switched ${sw} ms after the wave started, placements at revision ${revs[0] ?? 0}\n`);
    assert.equal(got, N, 'no frame lost, none duplicated');
  } finally {
    await ctl?.stop();
    for (const c of agents)
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await waitExit(c);
      }
    await store?.close();
    await etcd?.stop();
    for (const n of ns) sh(['ip', 'netns', 'del', n], { allowFail: true });
    sh(['ip', 'link', 'del', br], { allowFail: true });
  }
});
