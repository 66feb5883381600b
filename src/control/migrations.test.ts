import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from './store/memory.js';
import type { JsonObject } from './store/contract.js';
import { advance, failMigration, formatTimeline, getMigration, keyOf, listMigrations, migrationKey, migrationStateKey, newMigration, stateKeyOf, MIGRATION_PREFIX } from './migrations.js';
import { parseKey, placementKey } from './placement.js';
import { allowed } from './api/auth.js';

describe('migration objects', () => {
  it('keys, ids and parseKey routing', () => {
    assert.equal(migrationKey('t1', 'web', 'fw-1'), '/swnet/migration/t1/web/fw-1');
    assert.equal(migrationStateKey('t1', 'web', 'fw-1'), '/swnet/migration-state/t1/web/fw-1');
    assert.equal(stateKeyOf(migrationKey('t1', 'web', 'fw-1')), migrationStateKey('t1', 'web', 'fw-1'));
    const m = newMigration({ namespace: 't1', network: 'web', function: 'fw', from: 's1', to: 's2', reason: 'operator', detail: 'drain s1', now: 1_700_000_000_000 });
    assert.match(m.id, /^fw-[0-9a-z]+-[0-9a-f]{4}$/);
    assert.equal(m.id.split('-')[1], (1_700_000_000_000).toString(36));
    assert.equal(m.phase, 'pending');
    assert.deepEqual(m.timeline, [{ phase: 'pending', at: 1_700_000_000_000, sinceStartMs: 0, by: 'controller', detail: 'drain s1' }]);
    assert.deepEqual(parseKey(keyOf(m)), { type: 'migration', namespace: 't1', network: 'web', name: m.id });
    // State keys are agents' business: not routed to API watchers.
    assert.equal(parseKey(migrationStateKey('t1', 'web', m.id)), undefined);
    const tenant = { name: 't1', admin: false, namespaces: ['t1'] };
    assert.equal(allowed(tenant, 'Migration', 't1'), true);
    assert.equal(allowed(tenant, 'Migration', 't2'), false);
  });

  it('advance is a compare-and-swap from expected phases; failMigration stops before done', async () => {
    const s = new MemoryStore();
    const m = newMigration({ namespace: 't1', network: 'web', function: 'fw', from: 's1', to: 's2', reason: 'overload' });
    const key = keyOf(m);
    await s.put(key, m as unknown as JsonObject, { expect: 0 });
    assert.equal(await advance(s, key, ['prepared'], 'state-copied', 'agent/s1'), undefined, 'wrong phase: no write');
    const p = await advance(s, key, ['pending'], 'prepared', 'agent/s2', 'warm');
    assert.equal(p?.phase, 'prepared');
    assert.deepEqual(p?.timeline.map((t) => [t.phase, t.by]), [['pending', 'controller'], ['prepared', 'agent/s2']]);
    // Two racing actors wanting the same step: exactly one wins.
    const race = await Promise.all([advance(s, key, ['prepared'], 'state-copied', 'agent/s1'), advance(s, key, ['prepared'], 'state-copied', 'agent/s1')]);
    assert.equal(race.filter((x) => x !== undefined).length, 1);
    // Extra ops land in the same transaction; a failing extra compare writes nothing.
    const pk = placementKey('t1', 'web', 'fw');
    await s.put(pk, { server: 's1' });
    const pkRev = (await s.get(pk))!.modRevision;
    assert.equal(await advance(s, key, ['state-copied'], 'both-running', 'agent/s2', undefined, [{ type: 'put', key: pk, value: { server: 'x' } }], [{ key: pk, modRevision: pkRev + 100 }]), undefined);
    assert.equal((await getMigration(s, key))?.m.phase, 'state-copied');
    await advance(s, key, ['state-copied'], 'both-running', 'agent/s2');
    const sw = await advance(s, key, ['both-running'], 'switched', 'controller', undefined, [{ type: 'put', key: pk, value: { server: 's2' } }], [{ key: pk, modRevision: pkRev }]);
    assert.equal(sw?.phase, 'switched');
    const after = await s.get(pk);
    assert.equal((after?.value as JsonObject)['server'], 's2');
    assert.equal(after?.modRevision, (await s.get(key))?.modRevision, 'one transaction');
    await advance(s, key, ['switched'], 'drained', 'agent/s1');
    await advance(s, key, ['drained'], 'done', 'agent/s2');
    assert.equal(await failMigration(s, key, 'controller', 'late'), undefined, 'done is final');
    assert.match(formatTimeline((await getMigration(s, key))!.m), /prepared \+\d+ms, state-copied .* done \+\d+ms, total \d+ms/);

    const m2 = newMigration({ namespace: 't1', network: 'web', function: 'nat', from: 's1', to: 's3', reason: 'operator' });
    await s.put(keyOf(m2), m2 as unknown as JsonObject, { expect: 0 });
    const f = await failMigration(s, keyOf(m2), 'agent/s3', 'out of memory');
    assert.deepEqual([f?.phase, f?.error], ['failed', 'out of memory']);
    assert.equal(await failMigration(s, keyOf(m2), 'controller', 'again'), undefined);
    assert.deepEqual((await listMigrations(s, 't1')).map((x) => x.function).sort(), ['fw', 'nat']);
    assert.equal((await listMigrations(s, 't2')).length, 0);
    assert.equal((await s.list(MIGRATION_PREFIX)).items.length, 2);
    await s.close();
  });
});
