import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plain } from '../functions/contract.js';
import type { JsonObject } from '../control/store/contract.js';
import { getMigration, keyOf, migrationStateKey, newMigration, phaseDurations } from '../control/migrations.js';
import { requestMigration } from '../control/server-ops.js';
import type { ServerAgent } from './agent.js';
import { lostSince, migrationDone as finished, sinkFlow as flow, starved, until, type SinkFlow as Flow } from './agent-testing.js';
import { agentCluster, nattedPings, routerChain } from './agent-bed.js';

const SERVERS = ['s1', 's2', 's3'];

type Obj = { readonly [k: string]: Plain };

const N = 2000;

const ROUTED = routerChain({ name: 'voip', mac: '01', net: 1, routers: 2, count: N, startMs: 1500, warmup: true });

/**
 * Every frame sent since `f0` (a reading once the path was up: on a loaded machine the first
 * frames may wait for ARP) arrived once, or was dropped and counted by a starved platform.
 */
function allOnce(f0: Flow, f: Flow, agents: Iterable<ServerAgent>, what: string): void {
  const lost = lostSince(f0, f);
  const st = starved(agents);
  assert.equal(f.duplicates, 0, `${what}: no duplicate`);
  assert.equal(f.maxSeq, N - 1);
  assert.ok(lost === 0 || lost <= st, `${what}: ${lost} lost, ${st} counted by a starved platform`);
  if (lost > 0) process.stdout.write(`# ${what}: ${lost} frames dropped by the loaded machine (rings full), none by the migration\n`);
}

const neighbours = (st: Plain | undefined): string[] => ((((st ?? {}) as Obj)['neighbors'] ?? []) as readonly Obj[]).map((n) => `${String(n['address'])}@${String(n['mac'])}`);

test('planned migration through the store: router r1 s2 → s3 under 1,000 frames/s, out of the domain it shares with r2 (phases by agents and controller, no frame lost or duplicated, its ARP cache travels)', async () => {
  const c = await agentCluster({ servers: SERVERS, networks: [ROUTED], place: { voip: { src: 's1', r1: 's2', r2: 's2', sink: 's3' } } });
  const key = 'default/voip';
  try {
    const s1 = c.agents.get('s1') as ServerAgent;
    const s2 = c.agents.get('s2') as ServerAgent;
    const s3 = c.agents.get('s3') as ServerAgent;
    await until('numbered flow at the sink', async () => ((await flow(s3, key)).received > 200 ? true : undefined), 20000, 50);
    const f0 = await flow(s3, key);
    const learned = '10.1.0.2@02:01:00:00:00:21';
    assert.ok(neighbours(await s2.runtime.exportState(key, 'r1')).includes(learned), 'r1 learned r2 by ARP');
    const srcDomains = s1.runtime.host.domainList().map((d) => d.domain.id);
    assert.deepEqual(s2.runtime.domainsOf(key).map((d) => d.functions), [['r1', 'r2']]);
    const moves0 = { ...s2.runtime.moves };

    const m = await requestMigration(c.store, { namespace: 'default', network: 'voip', function: 'r1', to: 's3' });
    const done = await finished(c.store, m);
    assert.deepEqual(done.timeline.map((e) => `${e.phase} by ${e.by}`), ['pending by controller', 'prepared by agent/s3', 'state-copied by agent/s2', 'both-running by agent/s3', 'switched by controller', 'drained by agent/s2', 'done by agent/s3']);
    // The pre-copy carried the learned neighbour (the warm r1 had it before its first frame).
    const st = (await c.store.get(migrationStateKey('default', 'voip', m.id)))?.value as { pre?: Plain; final?: Plain } | undefined;
    assert.ok(neighbours(st?.pre).includes(learned) && neighbours(st?.final).includes(learned));
    assert.deepEqual(s3.runtime.changes(key)?.adopted, ['r1']);
    // s2 isolated r1 before its pre-copy; r2 stays in a domain of its own, now linked to r1 over VXLAN.
    assert.deepEqual(s2.runtime.domainsOf(key).map((d) => d.functions), [['r2']]);
    // Both routers left their shared domain without a hold (make-before-break: their input went to
    // the new domains at once, the old one emptied its queue beside them; reorders counted below).
    assert.deepEqual({ held: s2.runtime.moves.held - moves0.held, unheld: s2.runtime.moves.unheld - moves0.unheld }, { held: 0, unheld: 2 });
    // s1 re-pointed its VXLAN link to s3: nothing restarted there.
    assert.deepEqual(s1.runtime.host.domainList().map((d) => d.domain.id), srcDomains);
    assert.deepEqual(s1.runtime.changes(key)?.repointed.length, 1);

    await until(`all ${N} frames`, async () => ((await flow(s3, key)).maxSeq === N - 1 ? true : undefined), 15000, 50);
    await new Promise((r) => setTimeout(r, 200));
    const f = await flow(s3, key);
    allOnce(f0, f, c.agents.values(), 'router');

    // A step an agent cannot do fails the migration with its typed error (here: no such function to warm).
    const bad = newMigration({ namespace: 'default', network: 'voip', function: 'ghost', from: 's1', to: 's2', reason: 'operator' });
    await c.store.put(keyOf(bad), bad as unknown as JsonObject, { expect: 0 });
    const failed = await until('the bad migration failed', async () => {
      const cur = (await getMigration(c.store, keyOf(bad)))?.m;
      return cur?.phase === 'failed' ? cur : undefined;
    });
    assert.match(failed.error ?? '', /^s2: MigrationAgentError: no plan for default\/voip\/ghost/);
    assert.equal(failed.timeline.at(-1)?.by, 'agent/s2');
    assert.equal(s2.runtime.hasWarm(key, 'ghost'), false);
    // A source that does not run the function fails it after the target warmed up; the target then drops its warm instance.
    const wrong = newMigration({ namespace: 'default', network: 'voip', function: 'r1', from: 's1', to: 's2', reason: 'operator' });
    await c.store.put(keyOf(wrong), wrong as unknown as JsonObject, { expect: 0 });
    const refused = await until('the wrong-source migration failed', async () => {
      const cur = (await getMigration(c.store, keyOf(wrong)))?.m;
      return cur?.phase === 'failed' ? cur : undefined;
    });
    assert.deepEqual(refused.timeline.map((e) => e.phase), ['pending', 'prepared', 'failed']);
    assert.match(refused.error ?? '', /^s1: MigrationAgentError: default\/voip\/r1 does not run on s1/);
    await until('warm instance dropped', async () => (s2.runtime.hasWarm(key, 'r1') ? undefined : true));
    // Two linked functions at once (r1 s3 → s1 and r2 s2 → s1): each agent does its steps for both.
    const both = await Promise.all([
      requestMigration(c.store, { namespace: 'default', network: 'voip', function: 'r1', to: 's1' }),
      requestMigration(c.store, { namespace: 'default', network: 'voip', function: 'r2', to: 's1' }),
    ]);
    for (const x of both) assert.equal((await finished(c.store, x)).phase, 'done');
    await until('r1 and r2 on s1', async () => (s1.runtime.functions(key).sort().join() === 'r1,r2,src' ? true : undefined));
    assert.ok(neighbours(await s1.runtime.exportState(key, 'r1')).includes(learned), 'r1 moved twice with its state');
    process.stdout.write(`# migration r1 s2→s3 at 1000 frames/s: lost ${f.maxSeq - f0.maxSeq - (f.received - f0.received)} (of ${f.received - f0.received} since the path was up), duplicated ${f.duplicates}, reordered ${f.reordered} (r1 and r2 isolated on s2 without a hold); ${phaseDurations(done).map((d) => `${d.phase} +${d.ms}ms`).join(', ')}; agent steps ${JSON.stringify([...(s3.migrations?.steps.values() ?? []), ...(s2.migrations?.steps.values() ?? [])].map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Math.round(v)]))))}\n`);
  } finally {
    await c.close();
  }
});

const NATTED = nattedPings({ name: 'natted', mac: '02', net: 2, count: N, startMs: 1500 });

/** The NAT binding of the measured ping flow (10.2.9.10 → 10.2.2.2): its reply tuple (external address and identifier). */
function binding(st: Plain): string | undefined {
  const rows = (((st ?? {}) as Obj)['connections'] ?? []) as readonly Obj[];
  const row = rows.find((r) => (r['orig'] as Obj)['src'] === '10.2.9.10' && (r['orig'] as Obj)['dst'] === '10.2.2.2');
  return row ? JSON.stringify(row['reply']) : undefined;
}

test('planned migration of a NAT (s2 → s3) while pings cross it both ways: its binding is kept (same external identifier) and every reply comes back', async () => {
  const c = await agentCluster({ servers: SERVERS, networks: [NATTED], place: { natted: { src: 's1', rin: 's1', sink: 's1', nat: 's2', rout: 's3' } } });
  const key = 'default/natted';
  try {
    const s1 = c.agents.get('s1') as ServerAgent;
    const s2 = c.agents.get('s2') as ServerAgent;
    const s3 = c.agents.get('s3') as ServerAgent;
    await until('echo replies at the sink', async () => ((await flow(s1, key)).received > 200 ? true : undefined), 20000, 50);
    const f0 = await flow(s1, key);
    const before = binding(await s2.runtime.exportState(key, 'nat'));
    assert.ok(before, 'the measured flow has a binding');
    // The warm-up flow (to 10.2.2.3) holds external identifier 8, so flow 2 (identifier 8 too) got
    // another one; a NAT without the migrated state would give flow 2 identifier 8.
    assert.doesNotMatch(before, /"id":8,/);

    const m = await requestMigration(c.store, { namespace: 'default', network: 'natted', function: 'nat', to: 's3' });
    const done = await finished(c.store, m);
    assert.equal(done.phase, 'done');
    // The NAT accepted its own state plus the source's final rows (merge, not replace).
    assert.equal(done.timeline.at(-1)?.detail, 'final state merged');
    assert.equal(binding(await s3.runtime.exportState(key, 'nat')), before, 'same binding on the target');

    await until(`all ${N} replies`, async () => ((await flow(s1, key)).maxSeq === N - 1 ? true : undefined), 15000, 50);
    await new Promise((r) => setTimeout(r, 200));
    const f = await flow(s1, key);
    allOnce(f0, f, c.agents.values(), 'NAT');
    process.stdout.write(`# migration nat s2→s3 under 1000 pings/s: lost ${f.maxSeq - f0.maxSeq - (f.received - f0.received)} (of ${f.received - f0.received} since the path was up), duplicated ${f.duplicates}; ${phaseDurations(done).map((d) => `${d.phase} +${d.ms}ms`).join(', ')}\n`);
  } finally {
    await c.close();
  }
});
