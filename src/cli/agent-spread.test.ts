// Replicas spread over servers through the real control plane: the network controller places
// `fw~replica-k` apart, the agent of fw's server runs the partition's front and reaches the other
// agents' replicas over VXLAN (127.0.0.1), a changed `replicas` or replica server re-partitions
// live across servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../control/store/memory.js';
import { startControllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { resourceKey } from '../control/manifest/types.js';
import { placementKey, type Placement } from '../control/placement.js';
import type { JsonObject } from '../control/store/contract.js';
import type { Plain } from '../functions/contract.js';
import { ServerAgent } from './agent.js';
import type { HostDomain } from '../host/hostserver.js';
import { flowBucket, flowKeyOfFrame } from '../functions/lib/flowkey.js';
import { udpFrame } from '../packet/frames.js';
import { infraManifest, placements, replyFirewall } from './agent-bed.js';
import { until } from './agent-testing.js';
import { PARTITION_STATE_PREFIX, STATE_CHUNK, storeSpreadState } from './agent-spread.js';
import { renderDescribe } from './apply.js';
import { readResource } from '../control/manifest/apply.js';

const FLOWS = 12;
const FWD_COUNT = 60;
const SERVERS = ['s1', 's2', 's3'];
const KEY = 'default/sp';

/**
 * As agent-replicas.test.ts: the client's flows (ids 1…12) open conntrack entries and end; the
 * server's replies (101…112, the same 5-tuples reversed, 100/s each) pass only where their
 * flow's entry is — once re-partitioned across servers, only if the entries moved with their buckets.
 */
function manifest(replicas: number): string {
  const fw = replyFirewall({ name: 'sp', flows: FLOWS, net: 9, mac: '0a', port: 41000, forward: { intervalMs: 5, count: FWD_COUNT }, replies: { intervalMs: 10, startMs: 1200 }, replicas, spread: true });
  return `${infraManifest(SERVERS)}---\n${fw}`;
}

interface Row {
  orig: { src: string; sport: number; dst: string; dport: number };
}

interface SinkFlow {
  id: number;
  received: number;
  maxSeq: number;
  duplicates: number;
}

async function applyReplicas(store: MemoryStore, n: number): Promise<void> {
  const { resources, issues } = parseManifestText(manifest(n), 'spread.yaml');
  assert.deepEqual(issues, []);
  await apply(store, resources);
}

test('agents: a firewall with replicas spread over 3 servers (VXLAN between agents), 2 → 3 → (replica 2 moved to another server) → 1 live under numbered replies: each flow on one instance, every reply passes once (conntrack entries moved across servers), status names each replica’s server', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store, { overload: false });
  const agents = new Map<string, ServerAgent>();
  try {
    const { resources } = parseManifestText(manifest(2), 'spread.yaml');
    await apply(store, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    for (const s of SERVERS) agents.set(s, await ServerAgent.start({ store, server: s, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 5, statusMs: 400, resyncMs: 300 }));
    await applyReplicas(store, 2);
    const where = await until('placed', async () => {
      const p = await placements(store);
      return p.has('fw~replica-1') && p.has('csink') ? p : undefined;
    });
    const front = agents.get(where.get('fw') as string) as ServerAgent;
    assert.notEqual(where.get('fw'), where.get('fw~replica-1'), 'replicas apart');
    const sinkAgent = (fn: string): ServerAgent => agents.get(where.get(fn) as string) as ServerAgent;
    const sinkFlows = async (fn: string, ids: (id: number) => boolean): Promise<SinkFlow[]> => {
      const st = (await sinkAgent(fn).runtime.exportState(KEY, fn).catch(() => null)) as { flows?: Plain[] } | null;
      return ((st?.flows ?? []) as unknown as SinkFlow[]).filter((f) => ids(f.id)).sort((a, b) => a.id - b.id);
    };
    const instances = (): string[] => front.runtime.partitionOf(KEY, 'fw')?.partition.placement().map((i) => i.site.split('@')[0] as string) ?? [];
    await until('fw spread on 2 servers', async () => (instances().length === 2 ? true : undefined));
    assert.deepEqual(instances(), [where.get('fw'), where.get('fw~replica-1')]);
    const part = front.runtime.partitionOf(KEY, 'fw');
    assert.ok(part);
    // The replica's server runs it in a domain of its own for the front.
    const rep1 = agents.get(where.get('fw~replica-1') as string) as ServerAgent;
    assert.deepEqual(rep1.runtime.spread?.servedList().map((r) => [r.fn, r.k]), [['fw', 1]]);

    const fwd = await until('forward flows delivered', async () => {
      const f = await sinkFlows('ssink', (id) => id <= FLOWS);
      return f.length === FLOWS && f.every((x) => x.received === FWD_COUNT) ? f : undefined;
    }, 20000);
    assert.ok(fwd.every((x) => x.duplicates === 0 && x.maxSeq === FWD_COUNT - 1), JSON.stringify(fwd));
    const spread = Object.values(part.partition.counters().spread);
    assert.ok(spread.every((n) => n > 0), `both instances got flows: ${spread.join(' + ')}`);

    await until('replies flowing', async () => {
      const f = await sinkFlows('csink', (id) => id > 100);
      return f.length === FLOWS && f.every((x) => x.received > 30) ? true : undefined;
    }, 20000);
    await applyReplicas(store, 3);
    await until('3 instances on 3 servers', async () => (new Set(instances()).size === 3 ? true : undefined), 20000);
    // Each flow's connection is in exactly one instance, on its server: the one owning its bucket.
    const hds = [front.runtime.partitionOf(KEY, 'fw')?.partition.domains()[0], ...[1, 2].map((k) => [...agents.values()].flatMap((a) => a.runtime.spread?.servedList() ?? []).find((r) => r.k === k)?.hd)];
    const whereConn = new Map<number, number[]>();
    for (let k = 0; k < 3; k++) {
      const st0 = await (hds[k] as HostDomain).domain.exportState();
      for (const c of ((st0[0]?.[0] as { connections?: Row[] } | null)?.connections ?? [])) {
        const f = udpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: c.orig.src, dst: c.orig.dst, srcPort: c.orig.sport, dstPort: c.orig.dport, payload: new Uint8Array(1) });
        const b = flowBucket(flowKeyOfFrame(f, 0, f.length));
        whereConn.set(b, [...(whereConn.get(b) ?? []), k]);
      }
    }
    assert.equal([...whereConn.values()].flat().length, FLOWS, 'one connection per flow');
    for (const [b, ks] of whereConn) assert.deepEqual(ks, [part.partition.ownerOf(b)], `bucket ${b}`);
    // Status: which server runs each instance.
    const st = await until('status partitions', async () => {
      const v = (await store.get(resourceKey('Server', where.get('fw') as string)))?.value as { status?: { partitions?: { function: string; instances?: { server: string; buckets: number }[] }[] } } | undefined;
      const p = v?.status?.partitions?.find((x) => x.function === 'fw');
      return p?.instances?.length === 3 ? p : undefined;
    });
    assert.equal(new Set(st.instances?.map((i) => i.server)).size, 3);
    assert.equal(st.instances?.reduce((n, i) => n + i.buckets, 0), 257);
    // `swnet describe server` lists them.
    const text = renderDescribe(readResource((await store.get(resourceKey('Server', where.get('fw') as string)))!), []);
    for (const s of SERVERS) assert.match(text, new RegExp(`default/sp +fw +fw#\\d +${s} +\\d+`), text);
    await new Promise((r) => setTimeout(r, 500));
    // Replica 2 moves to replica 1's server (as a scheduler would write it): its instance is
    // replaced there, all its buckets moving with their connections; the old one stops later.
    const now = await placements(store);
    const r2key = placementKey('default', 'sp', 'fw~replica-2');
    const r2 = (await store.get(r2key))?.value as unknown as Placement;
    const to = now.get('fw~replica-1') as string;
    await store.put(r2key, { ...r2, server: to } as unknown as JsonObject);
    await until('instance 2 replaced', async () => (instances()[2] === to ? true : undefined), 20000);
    assert.deepEqual(agents.get(to)?.runtime.spread?.servedList().map((r) => r.k).sort(), [1, 2]);
    await new Promise((r) => setTimeout(r, 500));
    await applyReplicas(store, 1);
    await until('1 instance', async () => (instances().length === 1 ? true : undefined), 20000);
    assert.equal(front.runtime.partitionOf(KEY, 'fw')?.partition, part.partition, 'the same partition throughout: re-partitioned, never rebuilt');

    // Replies still pass after the last re-partition (50 frames = 0.5 s per flow), none missing.
    const from = new Map((await sinkFlows('csink', (id) => id > 100)).map((f) => [f.id, f.maxSeq]));
    const final = await until('every reply flow 50 frames further', async () => {
      const f = await sinkFlows('csink', (id) => id > 100);
      return f.length === FLOWS && f.every((x) => x.maxSeq >= (from.get(x.id) ?? 0) + 50) ? f : undefined;
    }, 20000);
    const recs = part.resizes;
    const why = JSON.stringify({ recs, final });
    for (const x of final) {
      assert.equal(x.received, x.maxSeq + 1, `flow ${x.id}: ${x.received} of ${x.maxSeq + 1} replies ${why}`);
      assert.equal(x.duplicates, 0, `flow ${x.id} duplicated`);
    }
    assert.deepEqual(
      recs.map((r) => [r.from, r.to]),
      [
        [2, 3],
        [3, 3],
        [3, 1],
      ],
    );
    const moved = recs[1] as (typeof recs)[0];
    assert.ok(Math.abs(moved.moved - 257 / 3) <= 1 && moved.flows > 0, `instance 2 replaced: ${moved.moved} buckets, ${moved.flows} connections`);
    assert.ok(recs[0] && recs[0].moved > 60 && recs[0].moved < 110, `2→3 moved ${recs[0]?.moved}`);
    const last = recs[2] as (typeof recs)[0];
    assert.ok(last.moved > 140 && last.moved < 200, `3→1 moved ${last.moved}`);
    assert.ok(last.flows > 0 && !last.stateLost && !moved.stateLost, `3→1 moved ${last.flows} connections`);
    // The replicas no longer placed stop on their servers after their keep time.
    console.log(`spread agents: ${where.get('fw')} front; 2→3 moved ${recs[0].moved} buckets, ${recs[0].flows} connections, held ${recs[0].held} frames ${recs[0].holdMs.toFixed(1)} ms; instance 2 replaced: ${moved.moved}, ${moved.flows} connections, held ${moved.held} ${moved.holdMs.toFixed(1)} ms; 3→1 moved ${last.moved}, ${last.flows} connections, held ${last.held} frames ${last.holdMs.toFixed(1)} ms`);
  } finally {
    for (const a of agents.values()) await a.stop();
    await ctl.stop();
  }
});

test('storeSpreadState: flows of several MiB go in chunks under the etcd request limit, are taken once, and leave nothing behind', async () => {
  const store = new MemoryStore();
  const state = storeSpreadState(store);
  const rows = Array.from({ length: 20000 }, (_, i) => ({ orig: { src: `10.0.${i >> 8}.${i & 255}`, sport: 1024 + i, dst: '198.51.100.7', dport: 443 }, state: 'ESTABLISHED', expires: 123456789 + i }));
  const flows = [[{ connections: rows }]] as unknown as Plain[][];
  await state.put('default/sp/fw#1/x1', flows);
  const keys = (await store.list(PARTITION_STATE_PREFIX)).items;
  assert.ok(keys.length >= 4, `${keys.length} keys`);
  for (const kv of keys) assert.ok(Buffer.byteLength(JSON.stringify(kv.value)) <= 2 * STATE_CHUNK + 64, kv.key);
  assert.deepEqual(await state.take('default/sp/fw#1/x1'), flows);
  assert.equal(await state.take('default/sp/fw#1/x1'), undefined);
  assert.equal((await store.list(PARTITION_STATE_PREFIX)).items.length, 0);
});
