import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listEvents } from '../events.js';
import { apply, getResource, remove } from '../manifest/apply.js';
import { parseManifestText } from '../manifest/load.js';
import type { Resource } from '../manifest/types.js';
import { PLACEMENT_PREFIX, type Placement } from '../placement.js';
import { MemoryStore } from '../store/memory.js';
import type { Store } from '../store/contract.js';
import { setCondition } from '../events.js';
import { GangScheduler } from './gang.js';
import { NetworkController, type NetworkScheduler, type PlaceContext, type PlacementDecision } from './network.js';
import { until } from '../../testkit/until.js';

const server = (name: string): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${name} }\nspec: { datacenter: dc1, capacity: { cpu: 4, memory: 8Gi } }\n---\n`;
const INFRA = `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n${server('s1')}${server('s2')}`;
const net = (name: string, fns: string[], tokens = 5): string => `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: ${name}, namespace: t1 }
spec:
  tokens: ${tokens}
  functions:
${fns.map((f) => `    - { name: ${f}, kind: switch, config: { ports: [{ name: a }, { name: b }] }, resources: { cpu: 1 } }`).join('\n')}
`;

async function applyText(store: Store, text: string): Promise<void> {
  const { resources, issues } = parseManifestText(text, 'test.yaml');
  assert.deepEqual(issues, []);
  await apply(store, resources);
}

const placements = async (store: Store, network: string): Promise<Placement[]> => (await store.list(`${PLACEMENT_PREFIX}t1/${network}/`)).items.map((kv) => kv.value as unknown as Placement);
const scheduled = async (store: Store, name: string): Promise<Resource['status']> => (await getResource(store, 'SoftwareNetwork', name, 't1')).status;

/** Spreads functions over the servers in name order; refuses when `refuse` says so. */
function roundRobin(refuse: (servers: string[]) => string | undefined = () => undefined): NetworkScheduler & { calls: number } {
  const s = {
    calls: 0,
    place(network: Resource, ctx: PlaceContext): PlacementDecision {
      s.calls++;
      const names = ctx.infrastructure.filter((r) => r.kind === 'Server').map((r) => r.metadata.name).sort();
      const why = names.length === 0 ? '0/0 servers' : refuse(names);
      if (why !== undefined) return { ok: false, reason: why };
      const fns = (network.spec['functions'] as { name: string }[]).map((f) => f.name);
      return { ok: true, assignments: fns.map((f, i) => ({ function: f, server: names[i % names.length]!, requests: { cpu: 1, memory: 0, bandwidth: 0 } })) };
    },
  };
  return s;
}

describe('network controller', () => {
  it('places every function, sets Scheduled, records an event; follows spec changes and deletion', async () => {
    const store = new MemoryStore();
    await applyText(store, INFRA + net('web', ['r1', 'fw', 'lb']));
    const c = await NetworkController.start(store, { scheduler: roundRobin() });
    try {
      const ps = await until('placements', async () => ((await placements(store, 'web')).length === 3 ? placements(store, 'web') : undefined));
      assert.deepEqual(ps.map((p) => `${p.function}@${p.server}/g${p.generation}`).sort(), ['fw@s2/g1', 'lb@s1/g1', 'r1@s1/g1']);
      const st = await until('Scheduled=True', async () => ((await scheduled(store, 'web'))?.conditions?.find((x) => x.type === 'Scheduled' && x.status === 'True') ? scheduled(store, 'web') : undefined));
      assert.equal(st?.observedGeneration, 1);
      assert.match(st?.conditions?.[0]?.message ?? '', /3 function\(s\) on 2 server\(s\): fw→s2, lb→s1, r1→s1/);
      const evs = await listEvents(store, { involved: { kind: 'SoftwareNetwork', name: 'web', namespace: 't1' } });
      assert.deepEqual(evs.map((e) => `${e.type} ${e.reason}`), ['Normal Scheduled']);
      // Quiet when nothing changes: no write loop on its own status updates.
      const rev = await store.revision();
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(await store.revision(), rev);

      // A spec change (new generation, one function fewer) replaces the placements.
      await applyText(store, net('web', ['r1', 'fw'], 9));
      await until('generation 2 placements', async () => {
        const p = await placements(store, 'web');
        return p.length === 2 && p.every((x) => x.generation === 2) ? p : undefined;
      });
      await until('observedGeneration 2', async () => ((await scheduled(store, 'web'))?.observedGeneration === 2 ? true : undefined));
      // Deleting the network removes its placements.
      await remove(store, parseManifestText(net('web', ['r1']), 'x.yaml').resources);
      await until('no placements', async () => ((await placements(store, 'web')).length === 0 ? true : undefined));
    } finally {
      await c.stop();
      await store.close();
    }
  });

  it('reports Unschedulable with the reason, retries with backoff, and places as soon as a server appears', async () => {
    const store = new MemoryStore();
    await applyText(store, INFRA + net('big', ['a', 'b']));
    const sched = roundRobin((servers) => (servers.includes('s3') ? undefined : `0/${servers.length} servers fit t1/big/a: capacity refused ${servers.length} (cpu 8 > free 4 on s1, ...)`));
    const c = await NetworkController.start(store, { scheduler: sched, minBackoffMs: 20, maxBackoffMs: 100 });
    try {
      const cond = await until('Unschedulable', async () => (await scheduled(store, 'big'))?.conditions?.find((x) => x.type === 'Scheduled' && x.status === 'False'));
      assert.equal(cond.reason, 'Unschedulable');
      assert.match(cond.message ?? '', /0\/2 servers fit t1\/big\/a: capacity refused 2/);
      const ev = await until('retried Unschedulable events', async () => {
        const e = (await listEvents(store, { involved: { kind: 'SoftwareNetwork', name: 'big', namespace: 't1' } })).find((x) => x.reason === 'Unschedulable');
        return e && e.count >= 3 ? e : undefined;
      });
      assert.equal(ev.type, 'Warning');
      assert.equal((await placements(store, 'big')).length, 0);
      await applyText(store, server('s3').replace('---\n', ''));
      await until('Scheduled=True after s3', async () => ((await scheduled(store, 'big'))?.conditions?.find((x) => x.type === 'Scheduled')?.status === 'True' ? true : undefined));
      assert.equal((await placements(store, 'big')).length, 2);
    } finally {
      await c.stop();
      await store.close();
    }
  });

  it('a failing scheduler is never silent: ReconcileError event, condition Unknown, then recovery; lost servers re-place', async () => {
    const store = new MemoryStore();
    await applyText(store, INFRA + net('n', ['x']));
    const ok = roundRobin();
    let fail = 2;
    const flaky: NetworkScheduler = {
      place(network, ctx) {
        if (fail-- > 0) throw new Error('scheduler exploded');
        return ok.place(network, ctx);
      },
    };
    const c = await NetworkController.start(store, { scheduler: flaky, minBackoffMs: 20 });
    try {
      await until('ReconcileError event', async () => (await listEvents(store, { namespace: 't1' })).find((e) => e.reason === 'ReconcileError' && /scheduler exploded/.test(e.message)));
      await until('recovered', async () => ((await scheduled(store, 'n'))?.conditions?.find((x) => x.type === 'Scheduled')?.status === 'True' ? true : undefined));
      const [p] = await placements(store, 'n');
      assert.equal(p?.server, 's1');
      // The server it runs on disappears: the function is placed again elsewhere.
      await remove(store, parseManifestText(server('s1').replace('---\n', ''), 's.yaml').resources);
      await until('moved to s2', async () => ((await placements(store, 'n'))[0]?.server === 's2' ? true : undefined));
    } finally {
      await c.stop();
      await store.close();
    }
  });

  it('status-only writes to a Server (agents every few seconds) cause no reconcile pass and no scheduler reset; Ready=False does', async () => {
    const store = new MemoryStore();
    await applyText(store, INFRA + net('web', ['r1', 'fw']));
    const inner = roundRobin();
    let resets = 0;
    const sched: NetworkScheduler = { place: (n, ctx) => inner.place(n, ctx), reset: () => void resets++ };
    const c = await NetworkController.start(store, { scheduler: sched });
    try {
      await until('Scheduled=True', async () => ((await scheduled(store, 'web'))?.conditions?.find((x) => x.type === 'Scheduled')?.status === 'True' ? true : undefined));
      await new Promise((r) => setTimeout(r, 50));
      const [passes, r0, calls] = [c.reconciles, resets, inner.calls];
      // What an agent writes: Ready=True (s1 had no Ready condition: schedulable before and after) and status reports.
      await setCondition(store, { kind: 'Server', name: 's1' }, { type: 'Ready', status: 'True', reason: 'AgentHeartbeat', message: 'the server agent renews its lease' });
      for (let i = 0; i < 5; i++) {
        const kv = (await store.get('/swnet/server/s1'))!;
        const r = kv.value as unknown as Resource;
        await store.put(kv.key, { ...r, status: { ...r.status, domains: [{ network: 'web', processed: i }] } } as unknown as Parameters<Store['put']>[1], { expect: kv.modRevision });
      }
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(c.reconciles, passes, 'no reconcile pass after status-only writes');
      assert.equal(resets, r0, 'no scheduler reset after status-only writes');
      assert.equal(inner.calls, calls);
      // Schedulability changes: s2 loses its agent → every network is looked at again, fw leaves s2.
      await setCondition(store, { kind: 'Server', name: 's2' }, { type: 'Ready', status: 'False', reason: 'AgentLost', message: 'gone' });
      await until('fw moved off s2', async () => ((await placements(store, 'web')).every((p) => p.server === 's1') ? true : undefined));
      assert.ok(c.reconciles > passes);
      assert.ok(resets > r0);
    } finally {
      await c.stop();
      await store.close();
    }
  });

  it('reconciles many networks concurrently without over-committing a server', async () => {
    const store = new MemoryStore();
    // 2 servers x 4 CPUs, 30 networks of one 1-CPU function: exactly 8 fit.
    await applyText(store, INFRA + Array.from({ length: 30 }, (_, i) => net(`n${i}`, ['f'])).join('---\n'));
    const c = await NetworkController.start(store, { scheduler: new GangScheduler(), concurrency: 8, minBackoffMs: 5000 });
    try {
      const all = async (): Promise<Placement[]> => (await store.list(`${PLACEMENT_PREFIX}t1/`)).items.map((kv) => kv.value as unknown as Placement);
      await until('30 networks decided', async () => {
        let decided = 0;
        for (let i = 0; i < 30; i++) if ((await scheduled(store, `n${i}`))?.conditions?.some((x) => x.type === 'Scheduled' && x.status !== 'Unknown')) decided++;
        return decided === 30 ? true : undefined;
      });
      const ps = await all();
      assert.equal(ps.length, 8);
      for (const s of ['s1', 's2']) assert.equal(ps.filter((p) => p.server === s).length, 4, `${s} holds exactly its 4 CPUs`);
    } finally {
      await c.stop();
      await store.close();
    }
  });
});
