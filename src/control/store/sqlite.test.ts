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
});
