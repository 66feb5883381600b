/**
 * SQLite store (better-sqlite3): the embedded, durable default. One file `store.db` in a data
 * directory holds an MVCC table of every version of every key (which doubles as the watch
 * log), the revision counter and the leases.
 *
 * Durability: WAL journal with `synchronous=FULL`, so a write is fsynced to the WAL before
 * its promise resolves; an acknowledged write survives kill -9 and power loss alike. (NORMAL
 * would survive kill -9 too, since the WAL is already in the OS cache, but could lose the
 * last transactions on power loss — the control plane must never forget an acknowledged
 * apply, and fsync costs well under a millisecond per transaction on SSDs.)
 *
 * Checkpoints (copying the WAL back into store.db) run on a worker thread with its own
 * connection, not in the committing call: with SQLite's automatic checkpoint every 1,000 WAL
 * pages, a busy store (100k per-user networks) checkpointed every few group commits, blocking
 * the event loop on reading the WAL, writing the database and two more fsyncs. (The committing
 * thread then copies only the frames committed during the thread's checkpoint, which lets the
 * next commit restart the WAL.) Durability is
 * unchanged: each commit still fsyncs the WAL before it is acknowledged, and a checkpoint is
 * crash-safe whichever connection runs it (frames leave the WAL only after store.db is synced).
 *
 * Several processes may open one data directory: writes take SQLite's write lock
 * (BEGIN IMMEDIATE) and read the revision inside it, and watchers poll for other
 * processes' commits.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { BaseStore } from './base.js';
import { checkOps, decodeValue, encodeValue } from './codec.js';
import {
  CompactedError,
  FutureRevisionError,
  LeaseNotFoundError,
  StoreError,
  prefixEnd,
  type Compare,
  type KeyValue,
  type LeaseGrant,
  type LeaseId,
  type Op,
  type RangeResult,
  type TxnResult,
  type Watch,
  type WatchEvent,
  type WatchOptions,
} from './contract.js';
import { WatcherSet } from './watchers.js';

interface Row {
  key: string;
  rev: number;
  create_rev: number;
  version: number;
  lease: string | null;
  value: Buffer | null;
}

export interface SqliteStoreInit {
  /** Directory holding store.db (created if missing). */
  readonly dataDir: string;
  /** How often watchers look for other processes' commits and leases are checked (ms). */
  readonly pollMs?: number;
  /**
   * Automatic compaction: keep this many past revisions (default 100,000; 0 never compacts),
   * checked every 1,000 revisions, as etcd's revision-mode auto-compaction. Without it every
   * write of a long-lived control plane (heartbeats, per-user networks) stays forever.
   */
  readonly retainRevisions?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT NOT NULL,
  rev INTEGER NOT NULL,
  sub INTEGER NOT NULL,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease TEXT,
  value BLOB,
  PRIMARY KEY (key, rev)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_by_rev ON kv (rev, sub);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease (id TEXT PRIMARY KEY, ttl INTEGER NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease_key (key TEXT PRIMARY KEY, lease TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lease_key_by_lease ON lease_key (lease);
INSERT OR IGNORE INTO meta (k, v) VALUES ('rev', 1), ('compacted', 1), ('lease', 0);
`;

/**
 * @example
 * const s = new SqliteStore({ dataDir: '/var/lib/swnet' });
 * await s.txn([{ key: '/swnet/softwarenetwork/default/web', modRevision: 0 }], [
 *   { type: 'put', key: '/swnet/softwarenetwork/default/web', value: { spec: {} } },
 * ]);
 * await s.close();
 */
export class SqliteStore extends BaseStore {
  readonly backend = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private readonly watchers = new WatcherSet();
  private published: number;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly retain: number;
  private lastCompactCheck = 0;
  /** Group-commit counters: SQLite commits and the logical transactions they carried; checkpoints run. */
  readonly stats = { commits: 0, txns: 0, checkpoints: 0 };
  /** The checkpointer thread (started at the first checkpoint), and whether it is busy. */
  private checkpointer: Worker | undefined;
  private checkpointing = false;
  private commitsSinceCheckpoint = 0;
  private pending: { compares: readonly Compare[]; ops: readonly Op[]; resolve: (r: TxnResult) => void; reject: (e: unknown) => void }[] = [];
  /** txnBody as a better-sqlite3 transaction: nested in the group commit, it is a savepoint. */
  private readonly applyOne: (compares: readonly Compare[], ops: readonly Op[], cur: number) => TxnResult;
  private readonly q: {
    meta: Database.Statement<[string], { v: number }>;
    setMeta: Database.Statement<[number, string]>;
    at: Database.Statement<[string, number], Row>;
    range: Database.Statement<[string, string, number, number], Row>;
    rangeAll: Database.Statement<[string, number, number], Row>;
    since: Database.Statement<[number, number], Row>;
    insert: Database.Statement<[string, number, number, number, number, string | null, Buffer | null]>;
    leaseGet: Database.Statement<[string], { id: string; ttl: number; expires: number }>;
    leaseKeys: Database.Statement<[string], { key: string }>;
    detach: Database.Statement<[string]>;
    attach: Database.Statement<[string, string]>;
    compactSuperseded: Database.Statement<[{ p: number; c: number }]>;
    compactTombstones: Database.Statement<[{ p: number; c: number }]>;
  };

  constructor(init: SqliteStoreInit) {
    super();
    mkdirSync(init.dataDir, { recursive: true });
    this.path = join(init.dataDir, 'store.db');
    this.db = new Database(this.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 10000');
    // Checkpoints are the checkpointer thread's (see above); SQLite's own resumes if it fails.
    this.db.pragma('wal_autocheckpoint = 0');
    this.db.exec(SCHEMA);
    const cols = 'key, rev, create_rev, version, lease, value';
    this.q = {
      meta: this.db.prepare('SELECT v FROM meta WHERE k = ?'),
      setMeta: this.db.prepare('UPDATE meta SET v = ? WHERE k = ?'),
      at: this.db.prepare(`SELECT ${cols} FROM kv WHERE key = ? AND rev <= ? ORDER BY rev DESC LIMIT 1`),
      // SQLite takes the bare columns of a max() aggregate from the row holding the maximum.
      range: this.db.prepare(
        `SELECT * FROM (SELECT key, max(rev) AS rev, create_rev, version, lease, value FROM kv WHERE key >= ? AND key < ? AND rev <= ? GROUP BY key) WHERE value IS NOT NULL ORDER BY key LIMIT ?`,
      ),
      rangeAll: this.db.prepare(
        `SELECT * FROM (SELECT key, max(rev) AS rev, create_rev, version, lease, value FROM kv WHERE key >= ? AND rev <= ? GROUP BY key) WHERE value IS NOT NULL ORDER BY key LIMIT ?`,
      ),
      since: this.db.prepare(`SELECT ${cols} FROM kv WHERE rev > ? AND rev <= ? ORDER BY rev, sub`),
      insert: this.db.prepare('INSERT INTO kv (key, rev, sub, create_rev, version, lease, value) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      leaseGet: this.db.prepare('SELECT id, ttl, expires FROM lease WHERE id = ?'),
      leaseKeys: this.db.prepare('SELECT key FROM lease_key WHERE lease = ? ORDER BY key'),
      detach: this.db.prepare('DELETE FROM lease_key WHERE key = ?'),
      attach: this.db.prepare('INSERT INTO lease_key (key, lease) VALUES (?, ?)'),
      compactSuperseded: this.db.prepare(
        'DELETE FROM kv WHERE (key, rev) IN (SELECT o.key, o.rev FROM kv AS n JOIN kv AS o ON o.key = n.key AND o.rev < n.rev WHERE n.rev > @p AND n.rev <= @c)',
      ),
      compactTombstones: this.db.prepare('DELETE FROM kv WHERE rev >= @p AND rev < @c AND value IS NULL'),
    };
    this.retain = init.retainRevisions ?? 100_000;
    this.applyOne = this.db.transaction((c: readonly Compare[], o: readonly Op[], cur: number) => this.txnBody(c, o, cur));
    this.published = this.meta('rev');
    this.timer = setInterval(() => this.poll(), init.pollMs ?? 200);
    this.timer.unref();
    this.sweepLeases();
  }

  private meta(k: string): number {
    return this.q.meta.get(k)!.v;
  }

  private kv(r: Row): KeyValue {
    const kv = { key: r.key, value: decodeValue(r.value!), createRevision: r.create_rev, modRevision: r.rev, version: r.version };
    return r.lease !== null ? { ...kv, lease: r.lease } : kv;
  }

  private checkRev(rev: number | undefined): number {
    const cur = this.meta('rev');
    if (rev === undefined || rev === 0) return cur;
    const compacted = this.meta('compacted');
    if (rev < compacted) throw new CompactedError(rev, compacted);
    if (rev > cur) throw new FutureRevisionError(rev, cur);
    return rev;
  }

  async revision(): Promise<number> {
    return this.meta('rev');
  }

  async compactRevision(): Promise<number> {
    return this.meta('compacted');
  }

  async get(key: string, opts: { readonly revision?: number } = {}): Promise<KeyValue | undefined> {
    // The latest version needs no revision check, and one statement is its own snapshot.
    const r = opts.revision === undefined || opts.revision === 0 ? this.q.at.get(key, Number.MAX_SAFE_INTEGER) : this.db.transaction(() => this.q.at.get(key, this.checkRev(opts.revision)))();
    return r && r.value !== null ? this.kv(r) : undefined;
  }

  async list(prefix: string, opts: { readonly revision?: number; readonly limit?: number } = {}): Promise<RangeResult> {
    return this.db.transaction(() => {
      const rev = this.checkRev(opts.revision);
      const limit = opts.limit ?? -1;
      const end = prefixEnd(prefix);
      const rows = end === '' ? this.q.rangeAll.all(prefix, rev, limit) : this.q.range.all(prefix, end, rev, limit);
      return { items: rows.map((r) => this.kv(r)), revision: this.meta('rev') };
    })();
  }

  /**
   * Group commit: transactions that arrive in the same turn of the event loop are committed
   * together in one SQLite transaction, so one fsync acknowledges them all. Each keeps its own
   * revision and its own all-or-nothing (a nested savepoint), and none is acknowledged before
   * the commit is durable.
   */
  async txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    checkOps(ops);
    if (this.closed) throw new StoreError('the store is closed');
    return new Promise<TxnResult>((resolve, reject) => {
      this.pending.push({ compares, ops, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const outcomes: ({ ok: true; r: TxnResult } | { ok: false; e: unknown })[] = [];
    try {
      this.db
        .transaction(() => {
          // The revision is read once and written once per group commit, not per transaction.
          const start = this.meta('rev');
          let rev = start;
          for (const t of batch) {
            try {
              const r = this.applyOne(t.compares, t.ops, rev);
              rev = r.revision;
              outcomes.push({ ok: true, r });
            } catch (e) {
              outcomes.push({ ok: false, e });
            }
          }
          if (rev !== start) this.q.setMeta.run(rev, 'rev');
        })
        .immediate();
    } catch (e) {
      for (const t of batch) t.reject(e);
      return;
    }
    this.stats.commits++;
    this.stats.txns += batch.length;
    if (++this.commitsSinceCheckpoint >= CHECKPOINT_EVERY && !this.checkpointing) this.checkpoint();
    this.publishNew();
    if (this.retain > 0 && this.published - this.lastCompactCheck >= 1000) {
      this.lastCompactCheck = this.published;
      const target = this.published - this.retain;
      if (target > this.meta('compacted')) void this.compact(target).catch(() => undefined);
    }
    batch.forEach((t, i) => {
      const o = outcomes[i]!;
      if (o.ok) t.resolve(o.r);
      else t.reject(o.e);
    });
  }

  /** Asks the checkpointer thread for a PASSIVE checkpoint (it never blocks our writes). */
  private checkpoint(): void {
    this.commitsSinceCheckpoint = 0;
    this.checkpointing = true;
    if (!this.checkpointer) {
      const w = new Worker(CHECKPOINTER, { eval: true, workerData: { module: require.resolve('better-sqlite3'), path: this.path }, resourceLimits: CHECKPOINTER_LIMITS });
      w.on('message', () => {
        this.checkpointing = false;
        this.stats.checkpoints++;
        // The frames committed while the thread copied the rest: only a checkpoint with no
        // commit after it lets the next commit restart the WAL from its start (else it grows).
        if (!this.closed) this.db.pragma('wal_checkpoint(PASSIVE)');
      });
      w.on('error', () => {
        // No checkpointer: SQLite checkpoints in the committing call again, as by default.
        this.checkpointing = true;
        if (!this.closed) this.db.pragma('wal_autocheckpoint = 1000');
      });
      // After the listeners (adding one refs the port again): the thread never keeps a process alive.
      w.unref();
      this.checkpointer = w;
    }
    this.checkpointer.postMessage('checkpoint');
  }

  /** One logical transaction (a savepoint inside the group commit). */
  private txnBody(compares: readonly Compare[], ops: readonly Op[], cur: number): TxnResult {
    for (const c of compares) {
      const row = this.q.at.get(c.key, cur);
      // A deleted key's latest row is its tombstone: it compares as "does not exist" (0).
      if ((row && row.value !== null ? row.rev : 0) !== c.modRevision) return { succeeded: false, revision: cur, deleted: 0 };
    }
    const rev = cur + 1;
    let sub = 0;
    let deleted = 0;
    for (const op of ops) {
      if (op.type === 'put') {
        if (op.lease !== undefined && !this.q.leaseGet.get(op.lease)) throw new LeaseNotFoundError(op.lease);
        const prev = this.q.at.get(op.key, rev);
        const live = prev && prev.value !== null ? prev : undefined;
        this.q.insert.run(op.key, rev, sub++, live ? live.create_rev : rev, live ? live.version + 1 : 1, op.lease ?? null, asBuffer(encodeValue(op.value)));
        // lease_key holds a row exactly when the key's live version has a lease.
        if (live && live.lease !== null) this.q.detach.run(op.key);
        if (op.lease !== undefined) this.q.attach.run(op.key, op.lease);
      } else {
        const keys = op.prefix ? this.rangeKeys(op.key, rev) : [op.key];
        for (const key of keys) {
          const prev = this.q.at.get(key, rev);
          if (!prev || prev.value === null) continue;
          this.q.insert.run(key, rev, sub++, 0, 0, null, null);
          if (prev.lease !== null) this.q.detach.run(key);
          deleted++;
        }
      }
    }
    return { succeeded: true, revision: sub === 0 ? cur : rev, deleted };
  }

  private rangeKeys(prefix: string, rev: number): string[] {
    const end = prefixEnd(prefix);
    const rows = end === '' ? this.q.rangeAll.all(prefix, rev, -1) : this.q.range.all(prefix, end, rev, -1);
    return rows.map((r) => r.key);
  }

  private toEvent(r: Row): WatchEvent {
    return r.value !== null ? { type: 'put', key: r.key, revision: r.rev, kv: this.kv(r) } : { type: 'delete', key: r.key, revision: r.rev };
  }

  /** Publishes every commit (ours or another process's) not yet delivered to watchers. */
  private publishNew(): void {
    const cur = this.meta('rev');
    if (cur <= this.published) return;
    const from = this.published;
    this.published = cur;
    if (this.watchers.size === 0) return;
    // Another process compacted past revisions our watchers have not seen yet: their events
    // are gone, so the watches end with CompactedError (a Reflector then lists again).
    const compacted = this.meta('compacted');
    if (compacted > from + 1) {
      this.watchers.failAll(new CompactedError(from + 1, compacted));
      return;
    }
    this.watchers.publish(this.q.since.all(from, cur).map((r) => this.toEvent(r)));
  }

  private poll(): void {
    if (this.closed) return;
    this.publishNew();
    this.sweepLeases();
  }

  async watch(prefix: string, opts: WatchOptions, onEvents: (events: readonly WatchEvent[]) => void): Promise<Watch> {
    this.publishNew();
    const from = opts.fromRevision;
    let backlog: WatchEvent[] = [];
    if (from !== undefined && from > 0) {
      const compacted = this.meta('compacted');
      if (from < compacted) throw new CompactedError(from, compacted);
      backlog = this.q.since
        .all(from - 1, this.published)
        .filter((r) => r.key.startsWith(prefix))
        .map((r) => this.toEvent(r));
    }
    return this.watchers.add(prefix, backlog, onEvents, opts.onError);
  }

  async compact(revision: number): Promise<void> {
    this.db
      .transaction(() => {
        const cur = this.meta('rev');
        if (revision > cur) throw new FutureRevisionError(revision, cur);
        const prev = this.meta('compacted');
        if (revision <= prev) return;
        // Rows at or after the compaction point are the watch log and stay. Before it, only the
        // newest live version of each key survives (a read at `revision` sees it). The previous
        // compaction left exactly that below `prev`, so only the rows written since can make
        // older ones obsolete: the work is proportional to the revisions compacted, not to the
        // size of the store (a full scan every 1,000 revisions made 100k user networks quadratic).
        this.q.compactSuperseded.run({ p: prev, c: revision });
        this.q.compactTombstones.run({ p: prev, c: revision });
        this.q.setMeta.run(revision, 'compacted');
      })
      .immediate();
  }

  async grantLease(ttlSeconds: number): Promise<LeaseGrant> {
    const ttl = Math.max(1, Math.ceil(ttlSeconds));
    const id = this.db
      .transaction(() => {
        const n = this.meta('lease') + 1;
        this.q.setMeta.run(n, 'lease');
        const id = String(n);
        this.db.prepare('INSERT INTO lease (id, ttl, expires) VALUES (?, ?, ?)').run(id, ttl, Date.now() + ttl * 1000);
        return id;
      })
      .immediate();
    return { id, ttl };
  }

  async keepAlive(id: LeaseId): Promise<number> {
    const l = this.q.leaseGet.get(id);
    if (!l) throw new LeaseNotFoundError(id);
    if (l.expires <= Date.now()) {
      // Expired but not swept yet: it is gone, as etcd would say.
      this.revoke(id);
      throw new LeaseNotFoundError(id);
    }
    this.db.prepare('UPDATE lease SET expires = ? WHERE id = ?').run(Date.now() + l.ttl * 1000, id);
    return l.ttl;
  }

  async revokeLease(id: LeaseId): Promise<void> {
    if (!this.revoke(id)) throw new LeaseNotFoundError(id);
  }

  /** Deletes a lease and its keys in one transaction; false if it did not exist. */
  private revoke(id: LeaseId): boolean {
    const ok = this.db
      .transaction(() => {
        if (this.db.prepare('DELETE FROM lease WHERE id = ?').run(id).changes === 0) return false;
        const keys = this.q.leaseKeys.all(id).map((r) => r.key);
        if (keys.length === 0) return true;
        const rev = this.meta('rev') + 1;
        keys.forEach((key, i) => this.q.insert.run(key, rev, i, 0, 0, null, null));
        this.db.prepare('DELETE FROM lease_key WHERE lease = ?').run(id);
        this.q.setMeta.run(rev, 'rev');
        return true;
      })
      .immediate();
    this.publishNew();
    return ok;
  }

  private sweepLeases(): void {
    const expired = this.db.prepare('SELECT id FROM lease WHERE expires <= ?').all(Date.now()) as { id: string }[];
    for (const { id } of expired) this.revoke(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    clearInterval(this.timer);
    this.watchers.closeAll();
    await this.checkpointer?.terminate();
    this.db.close();
  }
}

const require = createRequire(import.meta.url);

/** Group commits between two checkpoints (a group commit of 256 per-user connects is ~300 WAL pages). */
const CHECKPOINT_EVERY = 16;

/** A checkpoint copies pages without caching them: a small heap and page cache (RSS counts per idle user network). */
const CHECKPOINTER_LIMITS = { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 };

/** The checkpointer thread: its own connection, one PASSIVE checkpoint per request. */
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 10000');
db.pragma('cache_size = -64');
parentPort.on('message', () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  parentPort.postMessage('done');
});
`;

/** The bytes as a Buffer over the same memory (Buffer.from(Uint8Array) would copy them once more). */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
