/**
 * In-memory store: the full etcd model (MVCC history, revisions, watch-from-revision,
 * compaction, leases) without persistence. For tests, simulations and `--store memory:`.
 */
import { BaseStore } from './base.js';
import { checkOps, decodeValue, encodeValue } from './codec.js';
import {
  CompactedError,
  FutureRevisionError,
  LeaseNotFoundError,
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

/** One version of a key; `bytes` null is a deletion (tombstone). */
interface Version {
  rev: number;
  bytes: Uint8Array | null;
  createRevision: number;
  version: number;
  lease: LeaseId | undefined;
}

interface LogEntry {
  rev: number;
  key: string;
  v: Version;
}

interface Lease {
  ttl: number;
  timer: NodeJS.Timeout;
  keys: Set<string>;
}

/**
 * @example
 * const s = new MemoryStore();
 * const rev = await s.put('/swnet/datacenter/dc1', { tier: 'edge' });
 * (await s.get('/swnet/datacenter/dc1'))?.modRevision === rev; // true
 */
export class MemoryStore extends BaseStore {
  readonly backend = 'memory';
  private rev = 1;
  private compacted = 1;
  private readonly history = new Map<string, Version[]>();
  private log: LogEntry[] = [];
  private readonly leases = new Map<LeaseId, Lease>();
  private nextLease = 1;
  private readonly watchers = new WatcherSet();
  private closed = false;

  async revision(): Promise<number> {
    return this.rev;
  }

  async compactRevision(): Promise<number> {
    return this.compacted;
  }

  private checkRev(rev: number | undefined): number {
    if (rev === undefined || rev === 0) return this.rev;
    if (rev < this.compacted) throw new CompactedError(rev, this.compacted);
    if (rev > this.rev) throw new FutureRevisionError(rev, this.rev);
    return rev;
  }

  private at(key: string, rev: number): Version | undefined {
    const vs = this.history.get(key);
    if (!vs) return undefined;
    for (let i = vs.length - 1; i >= 0; i--) {
      const v = vs[i]!;
      if (v.rev <= rev) return v.bytes ? v : undefined;
    }
    return undefined;
  }

  private toKv(key: string, v: Version): KeyValue {
    const kv = { key, value: decodeValue(v.bytes!), createRevision: v.createRevision, modRevision: v.rev, version: v.version };
    return v.lease !== undefined ? { ...kv, lease: v.lease } : kv;
  }

  async get(key: string, opts: { readonly revision?: number } = {}): Promise<KeyValue | undefined> {
    const rev = this.checkRev(opts.revision);
    const v = this.at(key, rev);
    return v ? this.toKv(key, v) : undefined;
  }

  async list(prefix: string, opts: { readonly revision?: number; readonly limit?: number } = {}): Promise<RangeResult> {
    const rev = this.checkRev(opts.revision);
    const keys = [...this.history.keys()].filter((k) => k.startsWith(prefix)).sort();
    const items: KeyValue[] = [];
    for (const k of keys) {
      if (opts.limit !== undefined && items.length >= opts.limit) break;
      const v = this.at(k, rev);
      if (v) items.push(this.toKv(k, v));
    }
    return { items, revision: this.rev };
  }

  async txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    checkOps(ops);
    for (const c of compares) {
      if ((this.at(c.key, this.rev)?.rev ?? 0) !== c.modRevision) return { succeeded: false, revision: this.rev, deleted: 0 };
    }
    for (const op of ops) if (op.type === 'put' && op.lease !== undefined && !this.leases.has(op.lease)) throw new LeaseNotFoundError(op.lease);
    return this.apply(ops);
  }

  private apply(ops: readonly Op[]): TxnResult {
    const rev = this.rev + 1;
    const entries: LogEntry[] = [];
    let deleted = 0;
    const write = (key: string, v: Version): void => {
      const vs = this.history.get(key);
      if (vs) vs.push(v);
      else this.history.set(key, [v]);
      entries.push({ rev, key, v });
    };
    const detach = (key: string, lease: LeaseId | undefined): void => {
      if (lease !== undefined) this.leases.get(lease)?.keys.delete(key);
    };
    for (const op of ops) {
      if (op.type === 'put') {
        const cur = this.at(op.key, rev);
        detach(op.key, cur?.lease);
        write(op.key, { rev, bytes: encodeValue(op.value), createRevision: cur ? cur.createRevision : rev, version: cur ? cur.version + 1 : 1, lease: op.lease });
        if (op.lease !== undefined) this.leases.get(op.lease)!.keys.add(op.key);
      } else {
        const keys = op.prefix ? [...this.history.keys()].filter((k) => k.startsWith(op.key)).sort() : [op.key];
        for (const k of keys) {
          const cur = this.at(k, rev);
          if (!cur) continue;
          detach(k, cur.lease);
          write(k, { rev, bytes: null, createRevision: 0, version: 0, lease: undefined });
          deleted++;
        }
      }
    }
    if (entries.length === 0) return { succeeded: true, revision: this.rev, deleted };
    this.rev = rev;
    this.log.push(...entries);
    if (this.watchers.size > 0) this.watchers.publish(entries.map((e) => this.event(e)));
    return { succeeded: true, revision: rev, deleted };
  }

  private event(e: LogEntry): WatchEvent {
    return e.v.bytes ? { type: 'put', key: e.key, revision: e.rev, kv: this.toKv(e.key, e.v) } : { type: 'delete', key: e.key, revision: e.rev };
  }

  async watch(prefix: string, opts: WatchOptions, onEvents: (events: readonly WatchEvent[]) => void): Promise<Watch> {
    const from = opts.fromRevision;
    if (from !== undefined && from > 0 && from < this.compacted) throw new CompactedError(from, this.compacted);
    const backlog = from !== undefined && from > 0 ? this.log.filter((e) => e.rev >= from && e.key.startsWith(prefix)).map((e) => this.event(e)) : [];
    return this.watchers.add(prefix, backlog, onEvents);
  }

  async compact(revision: number): Promise<void> {
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
    if (revision <= this.compacted) return;
    this.compacted = revision;
    for (const [k, vs] of this.history) {
      // Keep the newest version at or below the compaction point (it is what a read at that
      // revision sees) unless it is a tombstone, and everything after it.
      let keepFrom = 0;
      for (let i = vs.length - 1; i >= 0; i--) {
        if (vs[i]!.rev <= revision) {
          keepFrom = vs[i]!.bytes ? i : i + 1;
          break;
        }
      }
      const kept = vs.slice(keepFrom);
      if (kept.length === 0) this.history.delete(k);
      else this.history.set(k, kept);
    }
    this.log = this.log.filter((e) => e.rev >= revision);
  }

  async grantLease(ttlSeconds: number): Promise<LeaseGrant> {
    const id = String(this.nextLease++);
    const ttl = Math.max(1, Math.ceil(ttlSeconds));
    this.leases.set(id, { ttl, timer: this.arm(id, ttl), keys: new Set() });
    return { id, ttl };
  }

  private arm(id: LeaseId, ttl: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      if (this.leases.has(id)) this.expire(id);
    }, ttl * 1000);
    t.unref();
    return t;
  }

  private expire(id: LeaseId): void {
    const l = this.leases.get(id);
    if (!l) throw new LeaseNotFoundError(id);
    clearTimeout(l.timer);
    this.leases.delete(id);
    const ops: Op[] = [...l.keys].sort().map((key) => ({ type: 'delete', key }));
    if (ops.length > 0 && !this.closed) this.apply(ops);
  }

  async keepAlive(id: LeaseId): Promise<number> {
    const l = this.leases.get(id);
    if (!l) throw new LeaseNotFoundError(id);
    clearTimeout(l.timer);
    l.timer = this.arm(id, l.ttl);
    return l.ttl;
  }

  async revokeLease(id: LeaseId): Promise<void> {
    this.expire(id);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.leases.values()) clearTimeout(l.timer);
    this.watchers.closeAll();
  }
}
