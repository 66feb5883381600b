/**
 * Replicas spread over machines: three network namespaces (the servers) joined by veths to a
 * bridge, etcd on the bridge's address, one `swnet agent` process per namespace. A firewall with
 * `replicas: 2, spread: servers` fronted on s1 (its sources and sinks there too), its replicas
 * placed on s2 and s3; numbered reply flows pass only as established connections; the spec goes
 * 2 → 3 → 1 under them: each re-partition moves the flows' conntrack entries between processes
 * (in-band markers over VXLAN, the state through etcd), and no reply is lost.
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
import { resourceKey } from '../control/manifest/types.js';
import { HEARTBEAT_PREFIX } from '../control/heartbeat.js';
import type { Store } from '../control/store/contract.js';
import { until as untilShared } from './agent-testing.js';
import { infraManifest, placeFixed } from './agent-bed.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const ok = canUseNetns() && have('etcd');
const FLOWS = 8;

function manifest(replicas: number): string {
  const fwd = Array.from({ length: FLOWS }, (_, i) => `          - { id: ${i + 1}, kind: udp, srcMac: '02:0d:00:00:00:01', dstMac: '02:0d:00:00:00:02', src: 10.7.1.${10 + i}, dst: 10.7.2.10, srcPort: ${42000 + i}, dstPort: 7000, payloadBytes: 64, intervalMs: 10, count: 50, startMs: 3000 }`).join('\n');
  const rev = Array.from({ length: FLOWS }, (_, i) => `          - { id: ${101 + i}, kind: udp, srcMac: '02:0d:00:00:00:04', dstMac: '02:0d:00:00:00:03', src: 10.7.2.10, dst: 10.7.1.${10 + i}, srcPort: 7000, dstPort: ${42000 + i}, payloadBytes: 64, intervalMs: 10, startMs: 4500 }`).join('\n');
  return `${infraManifest(['s1', 's2', 's3'], { datacenter: 'lab', cpu: 4, memory: '8Gi' })}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: sp, namespace: default }
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
    - name: fw
      kind: firewall
      replicas: ${replicas}
      spread: servers
      config:
        interfaces: [{ name: a, to: b }, { name: b, to: a }, { name: c, to: d }, { name: d, to: c }]
        defaultPolicy: deny
        rules: [{ name: client-out, in: a, action: allow }]
    - { name: ssink, kind: traffic-sink }
    - { name: csink, kind: traffic-sink }
  links:
    - { endpoints: ['cli:out', 'fw:a'] }
    - { endpoints: ['fw:b', 'ssink:in'] }
    - { endpoints: ['fw:c', 'csink:in'] }
    - { endpoints: ['srv:out', 'fw:d'] }
`;
}

const until = <T>(what: string, f: () => Promise<T | undefined>, ms = 20000): Promise<T> => untilShared(what, f, ms, 100);

interface S1Status {
  domains?: { traffic?: Record<string, { received: number; lost?: number }> }[];
  partitions?: { function: string; instances?: { server: string; buckets: number }[]; lastResize?: { from: number; to: number; moved: number; flows: number; stateLost?: number } }[];
}

async function s1(s: Store): Promise<S1Status> {
  return (((await s.get(resourceKey('Server', 's1')))?.value as { status?: S1Status } | undefined)?.status ?? {}) as S1Status;
}

test('namespaces, etcd, one swnet agent process per namespace: a firewall spread over 3 servers goes 2 → 3 → 1 under numbered replies, none lost (conntrack entries moved between processes)', { skip: ok ? false : 'needs root, ip netns and etcd' }, async () => {
  const id = `swps${process.pid % 100000}`;
  const br = `${id}b`;
  const net = `172.29.${process.pid % 250}`;
  const ns = [1, 2, 3].map((i) => `${id}n${i}`);
  let etcd: EtcdProcess | undefined;
  let store: Store | undefined;
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
    const { resources, issues } = parseManifestText(manifest(2), 'sp.yaml');
    assert.deepEqual(issues, []);
    await apply(s, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    ns.forEach((n, i) => {
      const c = spawn('ip', ['netns', 'exec', n, process.execPath, MAIN, 'agent', '--server', `s${i + 1}`, '--store', storeUrl, '--vxlan-listen', `${net}.${i + 1}:4789`, '--ttl', '5', '--status-interval', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout?.on('data', (d: Buffer) => (logs[i] += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (logs[i] += d.toString()));
      agents.push(c);
    });
    await until('three agents', async () => ((await s.list(HEARTBEAT_PREFIX)).items.length === 3 ? true : undefined)).catch(fail);
    // Fixed placements (no network controller): everything on s1 but the replicas.
    await apply(s, resources);
    await placeFixed(s, 'default', 'sp', { cli: 's1', srv: 's1', fw: 's1', ssink: 's1', csink: 's1', 'fw~replica-1': 's2', 'fw~replica-2': 's3' });
    await until('fw on s1 and s2', async () => {
      const p = (await s1(s)).partitions?.find((x) => x.function === 'fw');
      return p?.instances?.map((i) => i.server).join(',') === 's1,s2' ? true : undefined;
    }, 30000).catch(fail);
    const csink = async (): Promise<{ received: number; lost: number }> => {
      const t = (await s1(s)).domains?.find((d) => d.traffic?.['csink'])?.traffic?.['csink'];
      return { received: t?.received ?? 0, lost: t?.lost ?? -1 };
    };
    await until('replies flowing', async () => ((await csink()).received > FLOWS * 40 ? true : undefined), 30000).catch(fail);
    const steps: string[] = [];
    for (const [n, servers] of [
      [3, 's1,s2,s3'],
      [1, 's1'],
    ] as const) {
      const { resources: next } = parseManifestText(manifest(n), 'sp.yaml');
      await apply(s, next);
      const p = await until(`fw on ${servers}`, async () => {
        const x = (await s1(s)).partitions?.find((y) => y.function === 'fw');
        return x?.instances?.map((i) => i.server).join(',') === servers && x.lastResize?.to === n ? x : undefined;
      }, 30000).catch(fail);
      assert.ok(p.lastResize && p.lastResize.flows > 0 && p.lastResize.stateLost === undefined, JSON.stringify(p));
      steps.push(`${p.lastResize.from}→${n}: ${p.lastResize.moved} buckets, ${p.lastResize.flows} connections`);
      await new Promise((r) => setTimeout(r, 600));
    }
    // Replies keep passing after the last re-partition at the rate of all 8 flows (a flow whose
    // connection did not move would be denied from then on: the rate would fall to its survivors'),
    // and none is missing (the sinks' lost).
    const c0 = await csink();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const end = await csink();
    const rate = ((end.received - c0.received) * 1000) / (Date.now() - t0);
    assert.ok(rate > FLOWS * 100 * 0.6, `replies at ${rate.toFixed(0)}/s after the re-partitions, want ≈ ${FLOWS * 100}/s`);
    assert.equal(end.lost, 0, `replies lost: ${JSON.stringify(end)}\n${logs.join('\n---\n')}`);
    process.stdout.write(`# spread across processes (etcd, namespaces): ${steps.join('; ')}; replies received ${end.received} (${rate.toFixed(0)}/s after), lost ${end.lost}\n`);
  } finally {
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
