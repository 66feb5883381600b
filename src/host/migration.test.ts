import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrateDomain, MIGRATION_PHASES, MigrationError } from './migration.js';
import { routerBed } from './migration-bed.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const servers of [1, 2] as const) {
  test(`a router at 100 kpps migrates ${servers === 1 ? 'between domains' : 'between two servers'}: no loss, no duplicate`, async () => {
    const bed = await routerBed({ kpps: 100, flows: 10, servers });
    try {
      await sleep(150);
      const to = bed.hosts[servers - 1];
      assert.ok(to);
      const rec = await migrateDomain({ from: bed.hosts[0] as NonNullable<typeof to>, domain: bed.domain, to, ...(bed.link ? { link: bed.link } : {}), reason: 'operator' });
      await sleep(150);
      const r = await bed.finish();
      assert.equal(rec.outcome, 'done');
      assert.deepEqual(rec.timeline.map((e) => e.phase), [...MIGRATION_PHASES]);
      for (let i = 1; i < rec.timeline.length; i++) assert.ok((rec.timeline[i]?.at as number) >= (rec.timeline[i - 1]?.at as number));
      assert.ok(rec.stateBytes.final > 0 && rec.stateBytes.preCopy > 0);
      // The source is gone; the target forwarded (the traffic kept flowing after the switch).
      assert.equal(bed.hosts[0]?.domainList().some((d) => d.domain.id === bed.domain), false);
      const target = to.domainList().find((d) => d.domain.id === rec.to.domain);
      assert.ok(target && target.domain.counters().processed > 1000, 'the target carried traffic');
      assert.ok(r.sent > 30_000, `sent ${r.sent}`);
      assert.equal(r.duplicates, 0);
      assert.equal(r.received, r.sent, `lost ${r.sent - r.received} of ${r.sent}; ${JSON.stringify({ drops: bed.hosts.map((h) => h.drops), linkLost: bed.link?.lost, src: { ...bed.source.counters(), flows: 0 }, domains: bed.hosts.map((h) => h.domainList().map((d) => d.domain.counters())), rec })}`);
      assert.equal(r.reordered, 0);
    } finally {
      await bed.close();
    }
  });
}

test('on servers with an emulated capacity (token scheduler), frames queued for the source are not lost', async () => {
  const bed = await routerBed({ kpps: 40, flows: 4, servers: 2, capacityPps: 60_000 });
  try {
    await sleep(100);
    const rec = await migrateDomain({ from: bed.hosts[0] as never, domain: bed.domain, to: bed.hosts[1] as never, ...(bed.link ? { link: bed.link } : {}), reason: 'overload' });
    await sleep(100);
    const r = await bed.finish();
    assert.equal(rec.outcome, 'done');
    assert.equal(r.duplicates, 0);
    assert.equal(r.received, r.sent, `lost ${r.sent - r.received} of ${r.sent}; ${JSON.stringify({ drops: bed.hosts.map((h) => h.drops), stats: bed.hosts.map((h) => h.stats()) })}`);
  } finally {
    await bed.close();
  }
});

test('a migration that cannot start leaves the source running and says why', async () => {
  const bed = await routerBed({ kpps: 5, flows: 1, servers: 2 });
  try {
    const err = await migrateDomain({ from: bed.hosts[0] as never, domain: bed.domain, to: bed.hosts[1] as never, reason: 'overload' }).catch((e: unknown) => e);
    assert.ok(err instanceof MigrationError);
    assert.equal(err.name, 'MigrationError');
    assert.match(err.message, /no link between mig-s1 and mig-s2/);
    assert.equal(err.record.timeline.at(-1)?.phase, 'failed');
    const missing = await migrateDomain({ from: bed.hosts[0] as never, domain: 99, to: bed.hosts[0] as never, reason: 'idle' }).catch((e: unknown) => e);
    assert.ok(missing instanceof MigrationError && /no domain 99/.test(missing.message));
    assert.equal(bed.hosts[0]?.domainList().length, 1);
    const r = await bed.finish();
    assert.equal(r.received, r.sent);
  } finally {
    await bed.close();
  }
});
