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
import { bridge, canUseNetns, have, joinBridge, sh, waitExit } from '../testkit/netns.js';
import { agentLab } from './agent-lab.js';
import type { Store } from '../control/store/contract.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { resourceKey } from '../control/manifest/types.js';
import { infraManifest, replyFirewall } from './agent-bed.js';

const ok = canUseNetns() && have('etcd');
const FLOWS = 8;

function manifest(replicas: number): string {
  const fw = replyFirewall({ name: 'sp', flows: FLOWS, net: 7, mac: '0d', port: 42000, forward: { intervalMs: 10, count: 50, startMs: 3000 }, replies: { intervalMs: 10, startMs: 4500 }, replicas, spread: true });
  return `${infraManifest(['s1', 's2', 's3'], { datacenter: 'lab', cpu: 4, memory: '8Gi' })}---\n${fw}`;
}

interface S1Status {
  domains?: { traffic?: Record<string, { received: number; lost?: number }> }[];
  partitions?: { function: string; instances?: { server: string; buckets: number }[]; lastResize?: { from: number; to: number; moved: number; flows: number; stateLost?: number } }[];
}

async function s1(s: Store): Promise<S1Status> {
  return (((await s.get(resourceKey('Server', 's1')))?.value as { status?: S1Status } | undefined)?.status ?? {}) as S1Status;
}

test('namespaces, etcd, one swnet agent process per namespace: a firewall spread over 3 servers goes 2 → 3 → 1 under numbered replies, none lost (conntrack entries moved between processes)', { skip: ok ? false : 'needs root, ip netns and etcd' }, async () => {
  const lab = await agentLab({ id: `swps${process.pid % 100000}`, subnet: 29, servers: 3, netns: { bridge, joinBridge, sh, waitExit } });
  const { store: s, fail, until } = lab;
  try {
    // Fixed placements (no network controller): everything on s1 but the replicas.
    await lab.run(manifest(2), { place: { sp: { cli: 's1', srv: 's1', fw: 's1', ssink: 's1', csink: 's1', 'fw~replica-1': 's2', 'fw~replica-2': 's3' } } });
    await until('fw on s1 and s2', async () => {
      const p = (await s1(s)).partitions?.find((x) => x.function === 'fw');
      return p?.instances?.map((i) => i.server).join(',') === 's1,s2' ? true : undefined;
    }, 30000);
    const csink = async (): Promise<{ received: number; lost: number }> => {
      const t = (await s1(s)).domains?.find((d) => d.traffic?.['csink'])?.traffic?.['csink'];
      return { received: t?.received ?? 0, lost: t?.lost ?? -1 };
    };
    await until('replies flowing', async () => ((await csink()).received > FLOWS * 40 ? true : undefined), 30000);
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
      }, 30000);
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
    assert.equal(end.lost, 0, `replies lost: ${JSON.stringify(end)}\n${lab.logs.join('\n---\n')}`);
    process.stdout.write(`# spread across processes (etcd, namespaces): ${steps.join('; ')}; replies received ${end.received} (${rate.toFixed(0)}/s after), lost ${end.lost}\n`);
  } finally {
    await lab.close();
  }
});
