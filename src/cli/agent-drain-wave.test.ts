import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getMigration, keyOf, migrationStateKey, newMigration } from '../control/migrations.js';
import type { JsonObject } from '../control/store/contract.js';
import { migrationEnded, sinkFlow, until } from './agent-testing.js';
import { agentCluster, routerChain } from './agent-bed.js';

// A drain's wave (MigrationObject.wave): two LINKED functions sharing a domain on their source
// move together — the source leaves their domain as it is (no isolation), the target warms both
// in ONE domain with their link inside it, the controller switches both in one transaction, the
// target adopts that domain whole; the flow through them goes on, every frame once.

const N = 1500;
const NET = routerChain({ name: 'wave', mac: '0a', net: 7, routers: 2, count: N, startMs: 1500, warmup: true });

test('a drain wave moves two linked functions in one domain: the source does not isolate them, the target warms and adopts them as one domain, no frame lost or duplicated', { timeout: 60_000 }, async () => {
  const c = await agentCluster({ servers: ['s1', 's2', 's3'], networks: [NET], place: { wave: { src: 's1', r1: 's2', r2: 's2', sink: 's1' } } });
  const store = c.store;
  let watch: NodeJS.Timeout | undefined;
  try {
    const [s1, s2, s3] = [c.agent('s1'), c.agent('s2'), c.agent('s3')];
    const shared = await until('r1 and r2 share a domain on s2', async () => s2.runtime.domainsOf('default/wave').find((d) => d.functions.includes('r1') && d.functions.includes('r2')), 15000, 20);
    await until('frames of flow 2 at the sink', async () => ((await sinkFlow(s1, 'default/wave')).received > 50 ? true : undefined), 20000, 20);
    // Every domain s2 and s3 run for the network while the wave moves.
    const seen = { s2: new Set<string>(), s3: new Set<string>() };
    watch = setInterval(() => {
      for (const d of s2.runtime.domainsOf('default/wave')) seen.s2.add(`${d.id}:${d.functions.join('+')}`);
      for (const d of s3.runtime.domainsOf('default/wave')) seen.s3.add(`${d.id}:${d.functions.join('+')}`);
    }, 5);
    const ms = ['r1', 'r2'].map((fn) => newMigration({ namespace: 'default', network: 'wave', function: fn, from: 's2', to: 's3', reason: 'operator', detail: 'drain s2', wave: 's2:default/wave:test' }));
    await store.txn(ms.map((m) => ({ key: keyOf(m), modRevision: 0 })), ms.map((m) => ({ type: 'put' as const, key: keyOf(m), value: m as unknown as JsonObject })));
    for (const m of ms) {
      const end = await migrationEnded(store, m);
      assert.equal(end.phase, 'done', `${m.function}: ${end.error ?? ''} ${JSON.stringify(end.timeline)}`);
      const at = (p: string): string => end.timeline.find((e) => e.phase === p)?.detail ?? '';
      assert.match(at('prepared'), /in one domain with the 2 function\(s\) of its wave here/);
      assert.match(at('switched'), /a wave of 2/);
      assert.match(at('done'), /final state (imported|merged)/);
      // The pre-copy (one export of the shared domain) carried each router's learnt neighbour.
      const st = (await store.get(migrationStateKey('default', 'wave', m.id)))?.value as { pre?: { neighbors?: { address: string }[] } } | undefined;
      assert.ok(st?.pre?.neighbors?.some((n) => n.address === (m.function === 'r1' ? '10.7.0.2' : '10.7.0.1')), JSON.stringify(st));
    }
    // Both switched at one instant.
    const sw = await Promise.all(ms.map(async (m) => (await getMigration(store, keyOf(m)))?.m.timeline.find((e) => e.phase === 'switched')?.at));
    assert.equal(sw[0], sw[1]);
    await until('r1, r2 run on s3 in one domain and no longer on s2', async () => {
      const d = s3.runtime.domainsOf('default/wave');
      return d.length === 1 && d[0]!.functions.sort().join() === 'r1,r2' && s2.runtime.functions('default/wave').length === 0 ? true : undefined;
    }, 10000, 20);
    clearInterval(watch);
    // s2 never rebuilt their domain (no isolation); s3 never ran them in two domains.
    assert.deepEqual([...seen.s2], [`${shared.id}:${shared.functions.join('+')}`]);
    assert.equal(seen.s3.size, 1, [...seen.s3].join(' '));
    // The rest of the flow crosses r1 → r2 (linked inside the one domain) on s3: every frame, once.
    const f = await until(`all ${N} frames sent`, async () => {
      const x = await sinkFlow(s1, 'default/wave');
      return x.maxSeq === N - 1 ? x : undefined;
    }, 20000, 50);
    assert.equal(f.duplicates, 0);
    assert.ok(f.received > N / 2, `frames received ${f.received} of ${N}`);
  } finally {
    clearInterval(watch);
    await c.close();
  }
});
