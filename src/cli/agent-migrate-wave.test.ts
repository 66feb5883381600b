import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getMigration, keyOf, newMigration, type MigrationObject } from '../control/migrations.js';
import type { JsonObject } from '../control/store/contract.js';
import { migrationEnded, sinkFlow, until } from './agent-testing.js';
import { agentCluster, routerChain } from './agent-bed.js';

// The urbanizer's wave (maxPerNetwork ≥ 2): two LINKED functions of one network that share a
// domain on their source leave it in one wave, to the same target, at the same time — both
// sources isolate from one cell, both warm instances are adopted by one plan and wired to each
// other. This used to fail with IsolationError 'already wired' (fixed by a10c240).

const N = 1500;
const NET = routerChain({ name: 'wave', mac: '0a', net: 7, routers: 2, count: N, startMs: 1500, warmup: true });

test('one wave moves two linked functions of one network: r1 and r2 (one domain on s2, r1—r2 linked) both s2 → s3 at once, both done, wired to each other on s3, the flow goes on with no duplicate', { timeout: 60_000 }, async () => {
  const c = await agentCluster({ servers: ['s1', 's2', 's3'], networks: [NET], place: { wave: { src: 's1', r1: 's2', r2: 's2', sink: 's1' } } });
  const store = c.store;
  try {
    const [s1, s2, s3] = [c.agent('s1'), c.agent('s2'), c.agent('s3')];
    await until('r1 and r2 share a domain on s2', async () => (s2.runtime.domainsOf('default/wave').some((d) => d.functions.includes('r1') && d.functions.includes('r2')) ? true : undefined), 15000, 20);
    await until('frames of flow 2 at the sink', async () => ((await sinkFlow(s1, 'default/wave')).received > 50 ? true : undefined), 20000, 20);
    // The wave: both migrations written together, as the urbanizer does.
    const ms = ['r1', 'r2'].map((fn) => newMigration({ namespace: 'default', network: 'wave', function: fn, from: 's2', to: 's3', reason: 'idle', detail: 'consolidation (test)' }));
    await Promise.all(ms.map((m) => store.put(keyOf(m), m as unknown as JsonObject, { expect: 0 })));
    for (const m of ms) {
      const end = await migrationEnded(store, m).catch(async (e: unknown) => {
        const cur = (await getMigration(store, keyOf(m)))?.m;
        throw new Error(`${String(e)}: ${JSON.stringify(cur?.timeline)}; s2 ${JSON.stringify(s2.runtime.domainsOf('default/wave'))} s3 ${JSON.stringify(s3.runtime.domainsOf('default/wave'))} warm s3 ${JSON.stringify(s3.runtime.warmList())}`);
      });
      assert.equal(end.phase, 'done', `${m.function}: ${end.error ?? ''} ${JSON.stringify((end as MigrationObject).timeline.map((e) => e.phase))}`);
    }
    await until('r1, r2 run on s3 and no longer on s2', async () => (s3.runtime.functions('default/wave').sort().join() === 'r1,r2' && s2.runtime.functions('default/wave').length === 0 ? true : undefined), 10000, 20);
    // The rest of the flow crosses r1 → r2 on s3: every frame of it, once.
    const f = await until(`all ${N} frames sent`, async () => {
      const x = await sinkFlow(s1, 'default/wave');
      return x.maxSeq === N - 1 ? x : undefined;
    }, 20000, 50);
    assert.equal(f.duplicates, 0);
    const before = f.received;
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(before > N / 2, `frames received ${before} of ${N}`);
  } finally {
    await c.close();
  }
});
