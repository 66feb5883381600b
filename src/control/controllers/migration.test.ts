import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listEvents } from '../events.js';
import { apply, getResource } from '../manifest/apply.js';
import { parseManifestText } from '../manifest/load.js';
import { advance, getMigration, keyOf, listMigrations, migrationStateKey, type MigrationObject } from '../migrations.js';
import { PLACEMENT_PREFIX, placementKey, type Placement } from '../placement.js';
import { drainServer, inFlight, MigrationRefusedError, requestMigration, uncordonServer } from '../server-ops.js';
import { MemoryStore } from '../store/memory.js';
import type { JsonObject, Store } from '../store/contract.js';
import { MigrationController } from './migration.js';
import { GangScheduler } from './gang.js';
import { NetworkController } from './network.js';
import { until as untilShared } from '../../testkit/until.js';

const server = (name: string): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${name} }\nspec: { datacenter: dc1, capacity: { cpu: 8, memory: 8Gi } }\n---\n`;
const INFRA = `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n${server('s1')}${server('s2')}${server('s3')}`;
const net = (name: string, fns: string[], cpu = 1): string => `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: ${name}, namespace: t1 }
spec:
  functions:
${fns.map((f) => `    - { name: ${f}, kind: switch, config: { ports: [{ name: a }, { name: b }] }, resources: { cpu: ${cpu} } }`).join('\n')}
---
`;

async function setup(fns: string[], on: (f: string, i: number) => string, cpu = 1): Promise<Store> {
  const s = new MemoryStore();
  const { resources, issues } = parseManifestText(INFRA + net('web', fns, cpu), 't.yaml');
  assert.deepEqual(issues, []);
  await apply(s, resources);
  for (const [i, f] of fns.entries()) {
    const p: Placement = { kind: 'Placement', namespace: 't1', network: 'web', function: f, server: on(f, i), generation: 1, requests: { cpu, memory: 0, bandwidth: 0 } };
    await s.put(placementKey('t1', 'web', f), p as unknown as JsonObject);
  }
  return s;
}

const until = <T>(what: string, f: () => Promise<T | undefined>, ms = 5000): Promise<T> => untilShared(what, f, ms, 10);

const placement = async (s: Store, f: string): Promise<Placement> => (await s.get(placementKey('t1', 'web', f)))!.value as unknown as Placement;

/** The agents' side, by hand: target warm, source state, target import; after the switch, drain and done. */
async function agentSteps(s: Store, m: MigrationObject): Promise<void> {
  const k = keyOf(m);
  await advance(s, k, ['pending'], 'prepared', `agent/${m.to}`);
  await s.put(migrationStateKey(m.namespace, m.network, m.id), { pre: { macs: 3 } });
  await advance(s, k, ['prepared'], 'state-copied', `agent/${m.from}`);
  await advance(s, k, ['state-copied'], 'both-running', `agent/${m.to}`);
}
async function afterSwitch(s: Store, m: MigrationObject): Promise<void> {
  await advance(s, keyOf(m), ['switched'], 'drained', `agent/${m.from}`);
  await advance(s, keyOf(m), ['drained'], 'done', `agent/${m.to}`);
}

describe('migration controller', () => {
  it('switches in one transaction, records every phase as an event, cleans up finished migrations', async () => {
    const s = await setup(['fw', 'nat'], () => 's1');
    const c = await MigrationController.start(s, { cleanupMs: 300, resyncMs: 20 });
    try {
      await assert.rejects(requestMigration(s, { namespace: 't1', network: 'web', function: 'fw', to: 's1' }), (e: unknown) => e instanceof MigrationRefusedError);
      await assert.rejects(requestMigration(s, { namespace: 't1', network: 'web', function: 'zz', to: 's2' }), (e: unknown) => e instanceof Error && e.name === 'NotFoundError');
      await assert.rejects(requestMigration(s, { namespace: 't1', network: 'web', function: 'fw', to: 'nope' }), (e: unknown) => e instanceof Error && e.name === 'NotFoundError');
      const m = await requestMigration(s, { namespace: 't1', network: 'web', function: 'fw', to: 's2' });
      assert.deepEqual([m.from, m.to, m.reason, m.phase], ['s1', 's2', 'operator', 'pending']);
      await assert.rejects(requestMigration(s, { namespace: 't1', network: 'web', function: 'fw', to: 's3' }), /already migrating/);
      assert.equal((await placement(s, 'fw')).server, 's1', 'nothing moves before both run');
      await agentSteps(s, m);
      const sw = await until('switched', async () => ((await getMigration(s, keyOf(m)))?.m.phase === 'switched' ? (await getMigration(s, keyOf(m)))! : undefined));
      const p = await placement(s, 'fw');
      assert.deepEqual([p.server, p.generation], ['s2', 1]);
      assert.equal((await s.get(placementKey('t1', 'web', 'fw')))!.modRevision, sw.modRevision, 'placement and phase in one transaction');
      assert.equal((await placement(s, 'nat')).server, 's1');
      await afterSwitch(s, m);
      const evs = await until('done event', async () => {
        const e = await listEvents(s, { involved: { kind: 'SoftwareNetwork', name: 'web', namespace: 't1' } });
        return e.some((x) => x.reason === 'MigrationDone') ? e : undefined;
      });
      // Timestamps have millisecond resolution: compare as a set.
      assert.deepEqual(evs.map((e) => e.reason).sort(), ['MigrationStarted', 'MigrationPrepared', 'MigrationStateCopied', 'MigrationBothRunning', 'MigrationSwitched', 'MigrationDrained', 'MigrationDone'].sort());
      const done = evs.find((e) => e.reason === 'MigrationDone')!;
      assert.match(done.message, /^fw s1→s2 \[fw-[0-9a-z]+-[0-9a-f]{4}\] \(operator\) done: prepared \+\d+ms, state-copied \+\d+ms, both-running \+\d+ms, switched \+\d+ms, drained \+\d+ms, done \+\d+ms, total \d+ms$/);
      // Finished + cleanupMs: object and state gone.
      await until('cleanup', async () => ((await s.get(keyOf(m))) === undefined ? true : undefined));
      assert.equal(await s.get(migrationStateKey('t1', 'web', m.id)), undefined);
    } finally {
      await c.stop();
    }
  });

  it('fails a migration stuck before the switch, or whose placement moved meanwhile (Warning event)', async () => {
    const s = await setup(['fw', 'nat'], () => 's1');
    const c = await MigrationController.start(s, { stuckMs: 150, resyncMs: 20 });
    try {
      const m = await requestMigration(s, { namespace: 't1', network: 'web', function: 'fw', to: 's2' });
      await advance(s, keyOf(m), ['pending'], 'prepared', 'agent/s2');
      const f = await until('stuck → failed', async () => ((await getMigration(s, keyOf(m)))?.m.phase === 'failed' ? (await getMigration(s, keyOf(m)))!.m : undefined));
      assert.match(f.error ?? '', /stuck in phase prepared for 0\.\d s \(nothing was switched: traffic still flows through s1\)/);
      assert.equal((await placement(s, 'fw')).server, 's1');
      // The network controller (or anyone) moved nat while its migration ran: no switch over it.
      const n = await requestMigration(s, { namespace: 't1', network: 'web', function: 'nat', to: 's2' });
      await s.put(placementKey('t1', 'web', 'nat'), { ...(await placement(s, 'nat')), server: 's3' } as unknown as JsonObject);
      await agentSteps(s, n);
      const g = await until('moved → failed', async () => ((await getMigration(s, keyOf(n)))?.m.phase === 'failed' ? (await getMigration(s, keyOf(n)))!.m : undefined));
      assert.match(g.error ?? '', /moved to s3 meanwhile/);
      assert.equal((await placement(s, 'nat')).server, 's3');
      const warn = await until('warning', async () => {
        const e = (await listEvents(s, { involved: { kind: 'SoftwareNetwork', name: 'web', namespace: 't1' } })).filter((x) => x.type === 'Warning');
        return e.length === 2 ? e : undefined;
      });
      assert.ok(warn.every((e) => e.reason === 'MigrationFailed'));
      // Switched but the source never drains: closed as failed after finishMs, the placement stays on the target.
      await c.stop();
      const c2 = await MigrationController.start(s, { stuckMs: 150, finishMs: 150, resyncMs: 20 });
      try {
        const q = await requestMigration(s, { namespace: 't1', network: 'web', function: 'fw', to: 's3' });
        await agentSteps(s, q);
        const h = await until('switched → failed', async () => ((await getMigration(s, keyOf(q)))?.m.phase === 'failed' ? (await getMigration(s, keyOf(q)))!.m : undefined));
        assert.match(h.error ?? '', /stuck in phase switched for 0\.\d s: the placement already points to s3; s1 did not drain/);
        assert.equal((await placement(s, 'fw')).server, 's3');
      } finally {
        await c2.stop();
      }
      assert.match(warn.map((e) => e.message).join('\n'), /fw s1→s2 .* failed after \d+ms in phase prepared by controller: stuck/);
    } finally {
      await c.stop();
    }
  });

  it('drains a server a bounded number at a time onto scheduler-chosen servers, then marks it standby; uncordon clears', async () => {
    const fns = Array.from({ length: 7 }, (_, i) => `f${i}`);
    // 2 CPUs each, on servers of 8 CPUs: s2 has f6.
    const s = await setup(fns, (_f, i) => (i < 6 ? 's1' : 's2'), 2);
    const c = await MigrationController.start(s, { resyncMs: 20, drainConcurrency: 2 });
    let maxFlying = 0;
    const agents = setInterval(() => {
      void (async () => {
        const ms = await listMigrations(s, 't1', 'web');
        maxFlying = Math.max(maxFlying, ms.filter((m) => inFlight(m) && m.from === 's1').length);
        for (const m of ms) {
          if (m.phase === 'pending') await agentSteps(s, m);
          else if (m.phase === 'switched') await afterSwitch(s, m);
        }
      })();
    }, 15);
    try {
      await drainServer(s, 's1');
      const srv = await getResource(s, 'Server', 's1');
      assert.equal(srv.spec['unschedulable'], true);
      const standby = await until('standby', async () => ((await getResource(s, 'Server', 's1')).status?.['standby'] === true ? true : undefined), 8000);
      assert.equal(standby, true);
      const ps = (await s.list(PLACEMENT_PREFIX)).items.map((kv) => kv.value as unknown as Placement);
      assert.equal(ps.filter((p) => p.server === 's1').length, 0);
      assert.ok(ps.every((p) => p.generation === 1));
      assert.ok(maxFlying <= 2 && maxFlying >= 1, `at most 2 at a time (saw ${maxFlying})`);
      const ms = await listMigrations(s, 't1', 'web');
      assert.equal(ms.length, 6);
      assert.ok(ms.every((m) => m.reason === 'operator' && m.detail === 'drain s1' && m.phase === 'done'));
      // Waves of at most 2 (the bound), each onto one server; the scheduler's balance score
      // spread the waves: s3 (empty) first, then s2 (f6 on it), then either.
      const waves = new Map<string, MigrationObject[]>();
      for (const m of ms) waves.set(m.wave ?? '', [...(waves.get(m.wave ?? '') ?? []), m]);
      assert.deepEqual([...waves.values()].map((w) => w.length), [2, 2, 2], [...waves.keys()].join());
      assert.ok([...waves.values()].every((w) => new Set(w.map((m) => m.to)).size === 1));
      const first = [...waves.values()].map((w) => w[0]!).sort((a, b) => a.createdAt - b.createdAt);
      assert.deepEqual(first.slice(0, 2).map((m) => m.to), ['s3', 's2'], first.map((m) => m.to).join());
      const evs = await listEvents(s, { involved: { kind: 'Server', name: 's1' } });
      assert.match(evs.find((e) => e.reason === 'Drained')?.message ?? '', /server s1 drained in \d+\.\d s: nothing placed on it, now in standby/);
      await uncordonServer(s, 's1');
      const after = await getResource(s, 'Server', 's1');
      assert.deepEqual([after.spec['unschedulable'], after.metadata.annotations, after.status?.['standby']], [undefined, undefined, false]);
      // Requesting a migration to a cordoned server is refused.
      await drainServer(s, 's3');
      await assert.rejects(requestMigration(s, { namespace: 't1', network: 'web', function: 'f6', to: 's3' }), /cordoned/);
    } finally {
      clearInterval(agents);
      await c.stop();
    }
  });

  it('a drain moves a network as one wave: one target while it fits, one switch transaction once all are both-running; one failure fails the wave', async () => {
    const fns = ['f0', 'f1', 'f2', 'f3'];
    const s = await setup([...fns, 'g'], (f) => (f === 'g' ? 's2' : 's1'), 1);
    const c = await MigrationController.start(s, { resyncMs: 20 });
    try {
      await drainServer(s, 's1');
      const wave = await until('a wave of 4', async () => {
        const ms = await listMigrations(s, 't1', 'web');
        return ms.length === 4 ? ms : undefined;
      });
      // Together, on the least allocated server (s3: empty; s2 runs g).
      assert.equal(new Set(wave.map((m) => m.wave)).size, 1);
      assert.ok(wave[0]!.wave?.startsWith('s1:t1/web:'), wave[0]!.wave);
      assert.deepEqual(wave.map((m) => m.to), ['s3', 's3', 's3', 's3']);
      // Three of four both-running: nothing switches.
      for (const m of wave.slice(0, 3)) await agentSteps(s, m);
      await c.settle();
      await c.settle();
      assert.ok((await listMigrations(s, 't1', 'web')).every((m) => m.phase !== 'switched'));
      assert.ok((await Promise.all(fns.map((f) => placement(s, f)))).every((p) => p.server === 's1'));
      // The last one: all four switch in one transaction (one revision moves every placement).
      await agentSteps(s, wave[3]!);
      const moved = await until('switched', async () => {
        const kvs = await Promise.all(fns.map((f) => s.get(placementKey('t1', 'web', f))));
        return kvs.every((kv) => (kv!.value as unknown as Placement).server === 's3') ? kvs : undefined;
      });
      assert.equal(new Set(moved.map((kv) => kv!.modRevision)).size, 1);
      const sw = await listMigrations(s, 't1', 'web');
      assert.ok(sw.every((m) => m.phase === 'switched' && /a wave of 4/.test(m.timeline.at(-1)?.detail ?? '')));
      for (const m of sw) await afterSwitch(s, m);
      await until('standby', async () => ((await getResource(s, 'Server', 's1')).status?.['standby'] === true ? true : undefined));

      // A wave of which one fails before the switch: the others fail with it, nothing moves.
      await uncordonServer(s, 's1');
      for (const f of fns) await s.put(placementKey('t1', 'web', f), { ...(await placement(s, f)), server: 's1' } as unknown as JsonObject);
      await c.settle();
      for (const kv of (await s.list('/swnet/migration/')).items) await s.delete(kv.key);
      await drainServer(s, 's1');
      const w2 = await until('a second wave', async () => {
        const ms = (await listMigrations(s, 't1', 'web')).filter((m) => m.phase !== 'done');
        return ms.length === 4 ? ms : undefined;
      });
      for (const m of w2.slice(0, 3)) await agentSteps(s, m);
      await advance(s, keyOf(w2[3]!), ['pending'], 'failed', `agent/${w2[3]!.to}`, 'cannot start f: out of memory');
      const failed = await until('wave failed', async () => {
        const ms = (await listMigrations(s, 't1', 'web')).filter((m) => m.wave === w2[0]!.wave);
        return ms.every((m) => m.phase === 'failed') ? ms : undefined;
      });
      assert.ok(failed.filter((m) => m.function !== w2[3]!.function).every((m) => /of its wave failed before the switch \(cannot start f: out of memory\): nothing of the wave switched/.test(m.error ?? '')), failed.map((m) => m.error).join('; '));
      assert.ok((await Promise.all(fns.map((f) => placement(s, f)))).every((p) => p.server === 's1'));
    } finally {
      await c.stop();
    }
  });

  it('the network controller keeps migrated placements, moves standby copies off a drained server, and re-places a missing standby alone', async () => {
    const s = new MemoryStore();
    const text = INFRA + server('s4') + net('web', ['a', 'b']).replace('spec:\n', 'spec:\n  resilience: { standby: 1 }\n');
    const { resources, issues } = parseManifestText(text, 't.yaml');
    assert.deepEqual(issues, []);
    await apply(s, resources);
    const nc = await NetworkController.start(s, { scheduler: new GangScheduler() });
    const mc = await MigrationController.start(s, { resyncMs: 20 });
    const all = async (): Promise<Map<string, Placement>> => new Map((await s.list(PLACEMENT_PREFIX)).items.map((kv) => [(kv.value as unknown as Placement).function, kv.value as unknown as Placement]));
    try {
      const first = await until('placed', async () => ((await all()).size === 4 ? all() : undefined));
      const a = first.get('a')!;
      const free = ['s1', 's2', 's3', 's4'].find((x) => ![...first.values()].some((p) => p.server === x))!;
      // An operator migration: the network controller leaves the migrated placement alone.
      const m = await requestMigration(s, { namespace: 't1', network: 'web', function: 'a', to: free });
      await agentSteps(s, m);
      await until('switched', async () => ((await placement(s, 'a')).server === free ? true : undefined));
      await afterSwitch(s, m);
      const reconciles = nc.reconciles;
      await new Promise((r) => setTimeout(r, 200));
      const after = await all();
      assert.equal(after.get('a')!.server, free);
      assert.deepEqual([...after].filter(([f]) => f !== 'a').map(([f, p]) => [f, p.server]), [...first].filter(([f]) => f !== 'a').map(([f, p]) => [f, p.server]));
      assert.ok(nc.reconciles - reconciles <= 2, 'no fight: at most a no-op pass');
      // Drain the server of a~standby-1: the standby moves (network controller), alone.
      const sb = after.get('a~standby-1')!;
      await drainServer(s, sb.server);
      const moved = await until('standby moved', async () => {
        const x = await all();
        return x.get('a~standby-1')!.server !== sb.server && ![...x.values()].some((p) => p.server === sb.server) ? x : undefined;
      });
      assert.notEqual(moved.get('a~standby-1')!.server, moved.get('a')!.server, 'anti-affinity with its primary');
      for (const f of ['a', 'b', 'b~standby-1']) if (after.get(f)!.server !== sb.server) assert.equal(moved.get(f)!.server, after.get(f)!.server, `${f} stayed`);
      await until('drained server in standby', async () => ((await getResource(s, 'Server', sb.server)).status?.['standby'] === true ? true : undefined));
      // A failover deletes the standby placement: only it is placed again.
      await s.delete(placementKey('t1', 'web', 'b~standby-1'));
      const again = await until('standby re-placed', async () => ((await all()).size === 4 ? all() : undefined));
      for (const f of ['a', 'b', 'a~standby-1']) assert.equal(again.get(f)!.server, moved.get(f)!.server, `${f} stayed`);
      assert.notEqual(again.get('b~standby-1')!.server, again.get('b')!.server);
      assert.notEqual(again.get('b~standby-1')!.server, sb.server, 'not on the cordoned server');
    } finally {
      await mc.stop();
      await nc.stop();
    }
  });
});
