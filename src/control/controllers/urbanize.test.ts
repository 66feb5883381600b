import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listEvents } from '../events.js';
import { heartbeatKey } from '../heartbeat.js';
import { apply, getResource, readResource } from '../manifest/apply.js';
import { parseManifestText } from '../manifest/load.js';
import { resourceKey } from '../manifest/types.js';
import { keyOf, listMigrations } from '../migrations.js';
import { placementKey, type Placement } from '../placement.js';
import type { JsonObject, Store } from '../store/contract.js';
import { MemoryStore } from '../store/memory.js';
import { capacityFps, UrbanizeController } from './urbanize.js';

const server = (n: string, fps: number): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${n}, annotations: { swnet.io/capacity-fps: "${fps}" } }\nspec: { datacenter: dc1, capacity: { cpu: 4, memory: 8Gi }, power: { specpower: [86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117] } }\n---\n`;
const net = (name: string): string => `apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: ${name}, namespace: t1 }\nspec:\n  functions:\n    - { name: src, kind: traffic-source, config: { flows: [{ kind: voip, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: 10.0.0.1, dst: 10.0.0.2 }] }, resources: { cpu: 100m, memory: 64Mi } }\n    - { name: sink, kind: traffic-sink, resources: { cpu: 100m, memory: 64Mi } }\n  links: [{ endpoints: ['src:out', 'sink:in'] }]\n---\n`;

async function place(store: Store, network: string, fn: string, srv: string): Promise<void> {
  const p: Placement = { kind: 'Placement', namespace: 't1', network, function: fn, server: srv, generation: 1, requests: { cpu: 0.1, memory: 64 * 2 ** 20, bandwidth: 0 } };
  await store.put(placementKey('t1', network, fn), p as unknown as JsonObject);
}

/** What an agent writes: its report time and, per network domain, its sinks' received counters. */
async function report(store: Store, srv: string, at: number, traffic: Record<string, number>): Promise<void> {
  const key = resourceKey('Server', srv);
  const r = readResource((await store.get(key))!);
  const { resourceVersion: _rv, ...metadata } = r.metadata;
  const domains = Object.entries(traffic).map(([network, received]) => ({ network: `t1/${network}`, functions: ['sink'], state: 'running', restarts: 0, processed: 0, traffic: { sink: { received, bytes: received * 200 } } }));
  await store.put(key, { ...r, metadata, status: { ...(r.status ?? {}), agent: { reportedAt: new Date(at).toISOString() }, domains } } as unknown as JsonObject);
}

describe('urbanization controller', () => {
  it('consolidates lightly loaded servers (reason idle), puts the emptied one to standby, then spreads at the peak by waking it (reason overload)', async () => {
    const store = new MemoryStore();
    await apply(store, parseManifestText(`apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n${server('s1', 1000)}${server('s2', 1000)}${net('a')}${net('b')}`, 'x.yaml').resources);
    for (const s of ['s1', 's2']) await store.put(heartbeatKey(s), { server: s });
    await place(store, 'a', 'src', 's1');
    await place(store, 'a', 'sink', 's1');
    await place(store, 'b', 'src', 's2');
    await place(store, 'b', 'sink', 's2');
    const u = await UrbanizeController.start(store, { intervalMs: 3_600_000, holdMs: 0, maxPerNetwork: 2 });
    try {
      // Night: 20 frames/s per network on servers of 1000: both far below `low`.
      let t = Date.now();
      let a = 0;
      let b = 0;
      const tick = async (rateA: number, rateB: number, where: Record<string, string[]>): Promise<void> => {
        t += 1000;
        a += rateA;
        b += rateB;
        for (const [srv, nets] of Object.entries(where)) await report(store, srv, t, Object.fromEntries(nets.map((n) => [n, n === 'a' ? a : b])));
        await u.round(t);
      };
      await tick(20, 20, { s1: ['a'], s2: ['b'] });
      assert.equal((await listMigrations(store)).length, 0, 'first round: measuring');
      await tick(20, 20, { s1: ['a'], s2: ['b'] });
      const ms = await listMigrations(store);
      assert.ok(ms.length >= 1 && ms.length <= 2, `one server evacuated: ${JSON.stringify(ms.map((m) => `${m.network}/${m.function} ${m.from}->${m.to}`))}`);
      for (const m of ms) {
        assert.equal(m.reason, 'idle');
        assert.equal(m.phase, 'pending');
        assert.match(m.detail ?? '', /consolidation: s\d forecast \d+% < 60%/);
      }
      const from = ms[0]!.from;
      const to = ms[0]!.to;
      assert.ok(ms.every((m) => m.from === from && m.to === to), 'all from one server to the other');
      assert.equal(u.stats.servers.find((s) => s.name === from)?.utilisation, 0.04, 'two functions × 20 frames/s of 1000');

      // While the wave is in flight nothing else is decided.
      await tick(20, 20, { s1: ['a'], s2: ['b'] });
      assert.equal(u.stats.skipped, `${ms.length} migration(s) in flight`);
      assert.equal((await listMigrations(store)).length, ms.length);

      // The migrations complete (what the migration controller and the agents do): placements switch.
      for (const m of ms) {
        await place(store, m.network, m.function, m.to);
        await store.put(keyOf(m), { ...m, phase: 'done' } as unknown as JsonObject);
      }
      await tick(20, 20, { [to]: ['a', 'b'] });
      assert.equal((await getResource(store, 'Server', from)).status?.['standby'], true, `${from} in standby`);
      assert.equal((await getResource(store, 'Server', to)).status?.['standby'], undefined);
      const sev = await listEvents(store, { involved: { kind: 'Server', name: from } });
      assert.ok(sev.some((e) => e.reason === 'Standby' && /no function left/.test(e.message)));
      const nev = await listEvents(store, { namespace: 't1' });
      assert.ok(nev.some((e) => e.reason === 'Consolidate' && e.source === 'urbanizer'));
      assert.equal(u.stats.idle, ms.length);
      assert.equal(u.stats.standby, 1);

      // Stable: the night goes on, nothing more moves (one server left, its load well under `high`).
      await tick(20, 20, { [to]: ['a', 'b'] });
      assert.equal((await listMigrations(store)).filter((m) => m.phase === 'pending').length, 0);

      // Peak: 300 frames/s per network: 4 functions × 300 = 1200 > 95% of 1000 → relief onto the woken server.
      await tick(300, 300, { [to]: ['a', 'b'] });
      await tick(300, 300, { [to]: ['a', 'b'] });
      const spread = (await listMigrations(store)).filter((m) => m.phase === 'pending');
      assert.ok(spread.length >= 1, 'relief');
      for (const m of spread) {
        assert.equal(m.reason, 'overload');
        assert.equal(m.from, to);
        assert.equal(m.to, from);
        assert.match(m.detail ?? '', /spread: s\d forecast \d+% > 95%/);
      }
      assert.equal((await getResource(store, 'Server', from)).status?.['standby'], false, 'woken before the migration');
      assert.ok((await listEvents(store, { involved: { kind: 'Server', name: from } })).some((e) => e.reason === 'Wake'));
      assert.equal(u.stats.overload, spread.length);
    } finally {
      await u.stop();
    }
  });

  it('leaves cordoned servers and servers without an agent alone, and refuses moves the scheduler would refuse', async () => {
    const store = new MemoryStore();
    const small = `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: tiny }\nspec: { datacenter: dc1, capacity: { cpu: 100m, memory: 1Gi } }\n---\n`;
    await apply(store, parseManifestText(`apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n${server('s1', 100_000)}${server('s2', 1000)}${server('s3', 1000)}${small}${net('a')}`, 'x.yaml').resources);
    // s2 is cordoned (no target, never evacuated); tiny has too little CPU for two functions.
    const s2 = await getResource(store, 'Server', 's2');
    const { resourceVersion: _rv, ...md } = s2.metadata;
    await store.put(resourceKey('Server', 's2'), { ...s2, metadata: md, spec: { ...s2.spec, unschedulable: true } } as unknown as JsonObject);
    // s3 exists but has no agent (no heartbeat).
    for (const s of ['s1', 's2', 'tiny']) await store.put(heartbeatKey(s), { server: s });
    await place(store, 'a', 'src', 's1');
    await place(store, 'a', 'sink', 'tiny');
    assert.equal(capacityFps(await getResource(store, 'Server', 'tiny')), 10_000, '100m × 100 000 frames/s per CPU');
    const u = await UrbanizeController.start(store, { intervalMs: 3_600_000, holdMs: 0 });
    try {
      let t = Date.now();
      for (let i = 1; i <= 3; i++) {
        t += 1000;
        await report(store, 'tiny', t, { a: i * 10 });
        await u.round(t);
      }
      // The policy empties the least loaded server first: s1 (10 of 100 000 frames/s) onto tiny, the
      // only other host it sees (s2 is cordoned, s3 has no agent) — but tiny's 100m of CPU cannot
      // take a second function: the scheduler's filters refuse it. Asked again with s1 held, the
      // policy's next choice is to empty tiny (10 of 10 000) onto s1.
      const ms = await listMigrations(store);
      assert.deepEqual(ms.map((m) => `${m.function} ${m.from}->${m.to} ${m.reason}`), ['sink tiny->s1 idle']);
      assert.ok(u.stats.refused >= 1, 'src s1->tiny refused');
      assert.equal((await getResource(store, 'Server', 's2')).status?.['standby'], undefined, "a cordoned server is the drain's business");
      assert.deepEqual(u.stats.servers.map((s) => s.name).sort(), ['s1', 'tiny'], 'neither the cordoned s2 nor s3 without an agent');
      assert.equal((await getResource(store, 'Server', 's3')).status?.['standby'], undefined);
    } finally {
      await u.stop();
    }
  });

  it('moves functions joined by a latency-bounded link together, and never moves (nor puts to standby) a warm standby copy', async () => {
    const store = new MemoryStore();
    const dc = (n: string): string => `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: ${n} }\nspec: { tier: edge }\n---\n`;
    const srv = (n: string, d: string): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${n}, annotations: { swnet.io/capacity-fps: "1000" } }\nspec: { datacenter: ${d}, capacity: { cpu: 4, memory: 8Gi } }\n---\n`;
    // Network a: src and sink joined by a link of at most 1 ms; the datacenters are 5 ms apart.
    const a = net('a').replace("links: [{ endpoints: ['src:out', 'sink:in'] }]", "links: [{ endpoints: ['src:out', 'sink:in'], latency: 1ms }]");
    const link = `apiVersion: swnet.io/v1\nkind: Link\nmetadata: { name: dc1-dc2 }\nspec: { endpoints: [dc1, dc2], latency: 5ms }\n---\n`;
    await apply(store, parseManifestText(`${dc('dc1')}${dc('dc2')}${srv('s1', 'dc1')}${srv('s2', 'dc2')}${srv('s3', 'dc2')}${link}${a}${net('b')}`, 'x.yaml').resources);
    for (const x of ['s1', 's2', 's3']) await store.put(heartbeatKey(x), { server: x });
    await place(store, 'a', 'src', 's1');
    await place(store, 'a', 'sink', 's1');
    await place(store, 'b', 'src', 's2');
    await place(store, 'b', 'sink', 's2');
    await place(store, 'b', 'src~standby-1', 's3');
    const u = await UrbanizeController.start(store, { intervalMs: 3_600_000, holdMs: 0 });
    try {
      let t = Date.now();
      for (let i = 1; i <= 2; i++) {
        t += 1000;
        await report(store, 's1', t, { a: i * 10 });
        await report(store, 's2', t, { b: i * 300 });
        await u.round(t);
      }
      // s1 (2 × 10 frames/s) is emptied onto s2, checked in one piece: one function alone would be
      // 5 ms from the other. Both linked functions move in one wave (maxPerNetwork default 2).
      const ms = await listMigrations(store);
      assert.deepEqual(ms.map((m) => `${m.network}/${m.function} ${m.from}->${m.to} ${m.reason}`).sort(), ['a/sink s1->s2 idle', 'a/src s1->s2 idle']);
      // s3 holds only b's warm standby copy: pinned, never moved, and the server stays awake.
      assert.equal((await getResource(store, 'Server', 's3')).status?.['standby'], undefined);
      assert.equal(u.stats.servers.find((x) => x.name === 's3')?.fps, 0, 'a standby copy carries no load');
    } finally {
      await u.stop();
    }
  });
});
