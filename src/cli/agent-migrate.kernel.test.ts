/**
 * A planned migration across machines: three network namespaces (the servers) joined by veths
 * to a bridge, etcd on the bridge's address, one `swnet agent` process per namespace, the
 * migration controller beside the test on the same etcd. A numbered UDP flow src (s1) → r1 (s2)
 * → r2 → sink (s3) crosses the servers over VXLAN; r1 moves s2 → s3 under traffic: every phase
 * is done by the right process and every frame reaches the sink exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bridge, canUseNetns, have, joinBridge, sh, waitExit } from '../testkit/netns.js';
import { startEtcd, type EtcdProcess } from '../control/store/etcd-process.js';
import { openStore } from '../control/store/open.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { getMigration, keyOf, phaseDurations } from '../control/migrations.js';
import { requestMigration } from '../control/server-ops.js';
import { MigrationController } from '../control/controllers/migration.js';
import { HEARTBEAT_PREFIX } from '../control/heartbeat.js';
import type { Store } from '../control/store/contract.js';
import { trafficReceived, until as untilShared } from './agent-testing.js';
import { infraManifest, placeFixed } from './agent-bed.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const ok = canUseNetns() && have('etcd');
const N = 2000;
const mac = (b: number): string => `02:0c:00:00:00:${b.toString(16).padStart(2, '0')}`;

const MANIFEST = `${infraManifest(['s1', 's2', 's3'], { datacenter: 'lab', cpu: 4, memory: '8Gi' })}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: mig, namespace: default }
spec:
  functions:
    - name: src
      kind: traffic-source
      config:
        flows: [{ kind: udp, srcMac: '${mac(0x10)}', dstMac: '${mac(0x11)}', src: 10.1.1.10, dst: 10.1.2.10, srcPort: 1000, dstPort: 2000, intervalMs: 1, count: ${N}, startMs: 4000 }]
    - name: r1
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x11)}', addresses: [10.1.1.1/24] }
          - { name: eth1, mac: '${mac(0x12)}', addresses: [10.1.0.1/30] }
        neighbors: [{ interface: eth1, address: 10.1.0.2, mac: '${mac(0x21)}' }]
    - name: r2
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x21)}', addresses: [10.1.0.2/30] }
          - { name: eth1, mac: '${mac(0x22)}', addresses: [10.1.2.1/24] }
        neighbors: [{ interface: eth1, address: 10.1.2.10, mac: '${mac(0x20)}' }]
    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', 'r1:eth0'] }
    - { endpoints: ['r1:eth1', 'r2:eth0'] }
    - { endpoints: ['r2:eth1', 'sink:in'] }
`;

const until = <T>(what: string, f: () => Promise<T | undefined>, ms = 20000): Promise<T> => untilShared(what, f, ms, 100);

test('namespaces, etcd, one swnet agent process per namespace: r1 migrates s2 → s3 under a numbered flow, none of its frames lost or duplicated', { skip: ok ? false : 'needs root, ip netns and etcd' }, async () => {
  const id = `swm${process.pid % 100000}`;
  const br = `${id}b`;
  const net = `172.30.${process.pid % 250}`;
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
    const { resources, issues } = parseManifestText(MANIFEST, 'mig.yaml');
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
    // Fixed placements (no network controller): src s1, r1 s2, r2 and sink s3.
    await apply(s, resources);
    await placeFixed(s, 'default', 'mig', { src: 's1', r1: 's2', r2: 's3', sink: 's3' });
    await until('frames at the sink', async () => ((await trafficReceived(s, ['s3'], 'sink')) > 200 ? true : undefined), 30000).catch(fail);

    const m = await requestMigration(s, { namespace: 'default', network: 'mig', function: 'r1', to: 's3' });
    const done = await until('migration done', async () => {
      const cur = (await getMigration(s, keyOf(m)))?.m;
      if (cur?.phase === 'failed') fail(`migration failed: ${cur.error ?? ''}`);
      return cur?.phase === 'done' ? cur : undefined;
    }).catch(fail);
    assert.deepEqual(done.timeline.map((e) => `${e.phase} by ${e.by}`), ['pending by controller', 'prepared by agent/s3', 'state-copied by agent/s2', 'both-running by agent/s3', 'switched by controller', 'drained by agent/s2', 'done by agent/s3']);
    // Every frame, once: the sink's count (in s3's status) settles at N.
    await until(`${N} frames at the sink`, async () => ((await trafficReceived(s, ['s3'], 'sink')) >= N ? true : undefined), 20000).catch(fail);
    await new Promise((r) => setTimeout(r, 600));
    const got = await trafficReceived(s, ['s3'], 'sink');
    assert.equal(got, N, 'no frame lost, none duplicated');
    process.stdout.write(`# migration across processes (etcd, namespaces): r1 s2→s3 at 1000 frames/s, received ${got}/${N}; ${phaseDurations(done).map((d) => `${d.phase} +${d.ms}ms`).join(', ')}\n`);
  } finally {
    await ctl?.stop();
    for (const c of agents) if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await waitExit(c);
    }
    await store?.close();
    await etcd?.stop();
    for (const n of ns) sh(['ip', 'netns', 'del', n], { allowFail: true });
    sh(['ip', 'link', 'del', br], { allowFail: true });
  }
});
