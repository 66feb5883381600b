import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { storeConformance, collect } from './conformance.js';
import { SqliteStore } from './sqlite.js';

const dirs: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'swnet-sqlite-'));
  dirs.push(d);
  return d;
};

storeConformance('sqlite', async () => new SqliteStore({ dataDir: fresh() }), async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('sqlite store specifics', () => {
  it('keeps data, revisions and compaction across reopen', async () => {
    const dir = fresh();
    const a = new SqliteStore({ dataDir: dir });
    await a.put('/k/1', { v: 1 });
    const r = await a.put('/k/2', new Uint8Array([9]));
    await a.compact(r);
    await a.close();
    const b = new SqliteStore({ dataDir: dir });
    assert.equal(await b.revision(), r);
    assert.equal(await b.compactRevision(), r);
    assert.deepEqual((await b.list('/k/')).items.map((i) => i.key), ['/k/1', '/k/2']);
    assert.equal((await b.put('/k/3', { v: 3 })), r + 1);
    await b.close();
  });

  it('a second process-like handle on the same directory sees writes through watch', async () => {
    const dir = fresh();
    const writer = new SqliteStore({ dataDir: dir });
    const reader = new SqliteStore({ dataDir: dir, pollMs: 20 });
    const c = await collect(reader, '/w/');
    await writer.txn([], [
      { type: 'put', key: '/w/a', value: { a: 1 } },
      { type: 'put', key: '/w/b', value: { b: 1 } },
    ]);
    const ev = await c.waitFor(2, 3000);
    assert.deepEqual(ev.map((e) => e.key), ['/w/a', '/w/b']);
    assert.equal(ev[0]!.revision, await writer.revision());
    await c.cancel();
    await writer.close();
    await reader.close();
  });

  it('group-commits concurrent transactions, each with its own revision and its own outcome', async () => {
    const s = new SqliteStore({ dataDir: fresh() });
    await s.put('/g/taken', { v: 0 });
    const r0 = await s.revision();
    const before = { ...s.stats };
    const results = await Promise.allSettled([
      ...Array.from({ length: 40 }, (_, i) => s.txn([{ key: `/g/${i}`, modRevision: 0 }], [{ type: 'put', key: `/g/${i}`, value: { i } }])),
      s.txn([{ key: '/g/taken', modRevision: 0 }], [{ type: 'put', key: '/g/taken', value: { v: 1 } }]),
      s.txn([], [{ type: 'put', key: '/g/leased', value: { v: 1 }, lease: '999999' }]),
      s.txn([], [{ type: 'put', key: '/g/after', value: { v: 1 } }]),
    ]);
    assert.equal(s.stats.commits - before.commits, 1, 'one SQLite commit for the whole burst');
    assert.equal(s.stats.txns - before.txns, 43);
    const ok = results.slice(0, 40).map((r) => (r.status === 'fulfilled' ? r.value.revision : -1));
    assert.deepEqual(ok, Array.from({ length: 40 }, (_, i) => r0 + 1 + i));
    assert.equal(results[40]!.status === 'fulfilled' && results[40]!.value.succeeded, false);
    assert.equal(results[41]!.status === 'rejected' && (results[41]!.reason as Error).name, 'LeaseNotFoundError');
    assert.equal(results[42]!.status === 'fulfilled' && results[42]!.value.revision, r0 + 41);
    assert.equal(await s.get('/g/leased'), undefined);
    assert.equal((await s.list('/g/')).items.length, 42);
    await s.close();
  });

  it('ends watches with CompactedError when another process compacts past unseen events; a Reflector recovers', async () => {
    const dir = fresh();
    const a = new SqliteStore({ dataDir: dir });
    const b = new SqliteStore({ dataDir: dir, pollMs: 1_000_000 });
    await a.put('/x/0', { v: 0 });
    const errors: Error[] = [];
    await b.watch('/x/', { onError: (e) => errors.push(e) }, () => undefined);
    const { Reflector } = await import('./reflector.js');
    const r = await Reflector.start(b, { prefix: '/x/' });
    await a.put('/x/1', { v: 1 });
    await a.delete('/x/0');
    await a.compact(await a.revision());
    const mine = await b.put('/y/trigger', { v: 1 }); // b notices the other process's commits now
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(errors[0]?.name, 'CompactedError');
    await r.waitFor(mine - 1);
    assert.deepEqual([...r.cache.keys()], ['/x/1']);
    await r.stop();
    await a.close();
    await b.close();
  });

  it('compacts automatically, keeping the configured number of revisions', async () => {
    const s = new SqliteStore({ dataDir: fresh(), retainRevisions: 500 });
    for (let round = 0; round < 3; round++) {
      // 1,000 transactions in one group commit, then a few single ones.
      await Promise.all(Array.from({ length: 1000 }, (_, i) => s.txn([], [{ type: 'put', key: `/ac/${i % 10}`, value: { round, i } }])));
      for (let i = 0; i < 5; i++) await s.put('/ac/seq', { i });
    }
    const rev = await s.revision();
    const compacted = await s.compactRevision();
    assert.ok(compacted > 1 && compacted >= rev - 500 - 1005, `compacted to ${compacted} at revision ${rev}`);
    await assert.rejects(s.get('/ac/seq', { revision: compacted - 1 }), (e: unknown) => e instanceof Error && e.name === 'CompactedError');
    assert.equal((await s.list('/ac/')).items.length, 11);
    await s.close();
  });

  it('compaction in steps keeps exactly what a read at or after the compaction point needs (as the memory store)', async () => {
    const { MemoryStore } = await import('./memory.js');
    const s = new SqliteStore({ dataDir: fresh(), retainRevisions: 0 });
    const m = new MemoryStore();
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n);
    for (let step = 0; step < 6; step++) {
      for (let i = 0; i < 120; i++) {
        const key = `/cs/${rnd(40)}`;
        const op = rnd(4) === 0 ? ({ type: 'delete', key } as const) : ({ type: 'put', key, value: { step, i } } as const);
        await s.txn([], [op]);
        await m.txn([], [op]);
      }
      const c = Math.max(await s.compactRevision(), (await s.revision()) - rnd(60));
      await s.compact(c);
      await m.compact(c);
      for (let r = c; r <= (await s.revision()); r++) assert.deepEqual((await s.list('/cs/', { revision: r })).items, (await m.list('/cs/', { revision: r })).items, `step ${step}, revision ${r}`);
    }
    // Nothing obsolete left below the compaction point: at most one row per key there.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(s.path, { readonly: true });
    const c = await s.compactRevision();
    const below = db.prepare('SELECT count(*) AS n, count(DISTINCT key) AS k, coalesce(sum(value IS NULL), 0) AS t FROM kv WHERE rev < ?').get(c) as { n: number; k: number; t: number };
    db.close();
    assert.ok(below.k > 0, JSON.stringify({ below, c, rev: await s.revision() }));
    assert.deepEqual([below.n, below.t], [below.k, 0]);
    await s.close();
  });

  it('uses WAL with synchronous=FULL', async () => {
    const dir = fresh();
    const s = new SqliteStore({ dataDir: dir });
    // The pragmas are per connection; check through a second connection that the file is WAL.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(s.path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    await s.close();
  });

  it('checkpoints on its thread while commits go on, keeps the WAL bounded and loses nothing', async () => {
    const dir = fresh();
    const s = new SqliteStore({ dataDir: dir, retainRevisions: 0 });
    const pad = 'x'.repeat(700);
    // 400 group commits of 64 puts each, one turn apart: ~25 checkpoint requests.
    for (let c = 0; c < 400; c++) await Promise.all(Array.from({ length: 64 }, (_, i) => s.put(`/k/${(c * 64 + i) % 5000}`, { c, pad })));
    for (let i = 0; i < 50 && s.stats.checkpoints === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(s.stats.checkpoints > 0, 'the checkpointer ran');
    await s.put('/k/last', { c: -1 });
    const { statSync } = await import('node:fs');
    // Unchecked, the WAL would hold all 25,600 writes (128 MB); checkpointed, ~10 MB.
    assert.ok(statSync(`${s.path}-wal`).size < 48e6, `WAL ${statSync(`${s.path}-wal`).size} B`);
    const rev = await s.revision();
    await s.close();
    const b = new SqliteStore({ dataDir: dir });
    assert.equal(await b.revision(), rev);
    assert.deepEqual((await b.get('/k/4999')) /* last put at c = 390: 390 * 64 + 39 = 24,999 */?.value, { c: 390, pad });
    assert.equal((await b.list('/k/')).items.length, 5001);
    await b.close();
  });
});
