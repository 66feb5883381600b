/**
 * etcd v3 store over the `etcd3` client's raw gRPC calls, mapping the contract one to one:
 * revisions are etcd's (header revision, mod_revision), compare-and-swap is a Txn compare on
 * MOD, leases are etcd leases, watch-from-revision is a watch with start_revision, and
 * etcd's "required revision has been compacted" becomes {@link CompactedError}.
 */
import { Etcd3, type IKeyValue, type IRequestOp, type IWatchResponse } from 'etcd3';
import { BaseStore } from './base.js';
import { checkOps, decodeValue, encodeValue } from './codec.js';
import {
  CompactedError,
  FutureRevisionError,
  InvalidTxnError,
  LeaseNotFoundError,
  StoreError,
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

export interface EtcdStoreInit {
  /** Client URLs, e.g. `http://127.0.0.1:2379` (several for a cluster). */
  readonly hosts: string | string[];
  readonly dialTimeoutMs?: number;
}

/** Exclusive end of the byte range of keys starting with `prefix` (etcd's "prefix + 1"). */
function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all keys ≥ prefix
}

const num = (s: string | number | undefined): number => Number(s ?? 0);

/**
 * @example
 * const s = new EtcdStore({ hosts: 'http://127.0.0.1:2379' });
 * const rev = await s.put('/swnet/server/s1', { datacenter: 'dc1' }, { expect: 0 });
 * await s.close();
 */
export class EtcdStore extends BaseStore {
  readonly backend = 'etcd';
  readonly client: Etcd3;
  private readonly watches = new Set<Watch>();

  constructor(init: EtcdStoreInit) {
    super();
    this.client = new Etcd3({ hosts: init.hosts, dialTimeout: init.dialTimeoutMs ?? 5000 });
  }

  private kv(k: IKeyValue): KeyValue {
    const kv = {
      key: k.key.toString('utf8'),
      value: decodeValue(k.value),
      createRevision: num(k.create_revision),
      modRevision: num(k.mod_revision),
      version: num(k.version),
    };
    return k.lease && k.lease !== '0' ? { ...kv, lease: k.lease } : kv;
  }

  /** Maps etcd's error messages onto the contract's typed errors. */
  private async mapError(e: unknown, revision?: number): Promise<Error> {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg.includes('required revision has been compacted') && revision !== undefined) return new CompactedError(revision, await this.oldestAfterCompaction(revision));
    if (msg.includes('required revision is a future revision') && revision !== undefined) return new FutureRevisionError(revision, await this.revision());
    if (msg.includes('requested lease not found')) return new LeaseNotFoundError(/lease ([0-9]+)/.exec(msg)?.[1] ?? '?');
    if (msg.includes('duplicate key given in txn request')) return new InvalidTxnError(msg);
    return e instanceof Error ? e : new StoreError(msg);
  }

  /**
   * The compaction revision, learnt from etcd itself: a watch from a compacted revision is
   * cancelled with `compact_revision` set (etcd has no other call that reports it).
   */
  private async oldestAfterCompaction(compactedRev: number): Promise<number> {
    const stream = await this.client.watchClient.watch();
    try {
      return await new Promise<number>((resolve, reject) => {
        stream.on('data', (r: IWatchResponse) => {
          if (num(r.compact_revision) > 0) resolve(num(r.compact_revision));
          else if (r.canceled) reject(new StoreError('probe watch cancelled'));
        });
        stream.on('error', reject);
        stream.write({ create_request: { key: Buffer.from('\0swnet/compact-probe'), start_revision: compactedRev } });
      });
    } finally {
      stream.cancel();
    }
  }

  async revision(): Promise<number> {
    const r = await this.client.kv.range({ key: Buffer.from('\0swnet/revision-probe'), limit: 1 });
    return num(r.header.revision);
  }

  async compactRevision(): Promise<number> {
    try {
      await this.client.kv.range({ key: Buffer.from('\0swnet/revision-probe'), revision: 1, limit: 1 });
      return 1;
    } catch (e) {
      const err = await this.mapError(e, 1);
      if (err instanceof CompactedError) return err.oldest;
      throw err;
    }
  }

  async get(key: string, opts: { readonly revision?: number } = {}): Promise<KeyValue | undefined> {
    try {
      const r = await this.client.kv.range({ key: Buffer.from(key), ...(opts.revision ? { revision: opts.revision } : {}) });
      const k = r.kvs[0];
      return k ? this.kv(k) : undefined;
    } catch (e) {
      throw await this.mapError(e, opts.revision);
    }
  }

  async list(prefix: string, opts: { readonly revision?: number; readonly limit?: number } = {}): Promise<RangeResult> {
    const key = Buffer.from(prefix === '' ? '\0' : prefix);
    try {
      const r = await this.client.kv.range({
        key,
        range_end: prefix === '' ? Buffer.from([0]) : rangeEnd(key),
        ...(opts.revision ? { revision: opts.revision } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      });
      return { items: r.kvs.map((k) => this.kv(k)), revision: num(r.header.revision) };
    } catch (e) {
      throw await this.mapError(e, opts.revision);
    }
  }

  async txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    checkOps(ops);
    const success: IRequestOp[] = ops.map((op) => {
      if (op.type === 'put') {
        return { request_put: { key: Buffer.from(op.key), value: Buffer.from(encodeValue(op.value)), ...(op.lease !== undefined ? { lease: op.lease } : {}) } };
      }
      const key = Buffer.from(op.key);
      return { request_delete_range: op.prefix ? { key, range_end: rangeEnd(key) } : { key } };
    });
    try {
      const r = await this.client.kv.txn({
        compare: compares.map((c) => ({ key: Buffer.from(c.key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: c.modRevision })),
        success,
        failure: [],
      });
      let deleted = 0;
      for (const resp of r.responses ?? []) deleted += num(resp.response_delete_range?.deleted);
      return { succeeded: r.succeeded, revision: num(r.header.revision), deleted };
    } catch (e) {
      const err = await this.mapError(e);
      if (err instanceof LeaseNotFoundError) {
        const op = ops.find((o) => o.type === 'put' && o.lease !== undefined);
        throw new LeaseNotFoundError(op?.type === 'put' ? (op.lease ?? '?') : '?');
      }
      throw err;
    }
  }

  async watch(prefix: string, opts: WatchOptions, onEvents: (events: readonly WatchEvent[]) => void): Promise<Watch> {
    const from = opts.fromRevision;
    if (from !== undefined && from > 0) {
      // etcd reports a compacted start revision only after "created"; check first so that the
      // caller gets the error from watch() itself. A later compaction still reaches onError.
      try {
        await this.client.kv.range({ key: Buffer.from('\0swnet/revision-probe'), revision: from, limit: 1 });
      } catch (e) {
        const err = await this.mapError(e, from);
        if (!(err instanceof FutureRevisionError)) throw err;
      }
    }
    const key = Buffer.from(prefix === '' ? '\0' : prefix);
    const rangeEndKey = prefix === '' ? Buffer.from([0]) : rangeEnd(key);
    let cancelled = false;
    let stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>> | undefined;
    let watchId: string | undefined;
    /** Next revision to ask for when the stream must be reopened (after a lost connection). */
    let next = from !== undefined && from > 0 ? from : 0;
    let failures = 0;
    const stop = (err: Error): void => {
      if (cancelled) return;
      cancelled = true;
      this.watches.delete(w);
      stream?.cancel();
      opts.onError?.(err);
    };
    const open = async (): Promise<void> => {
      const st = await this.client.watchClient.watch();
      stream = st;
      await new Promise<void>((resolve, reject) => {
        let created = false;
        let dead = false;
        const lost = (why: Error): void => {
          if (dead || cancelled) return;
          dead = true;
          st.cancel();
          if (!created) return reject(why);
          // The connection was lost: reopen from the next undelivered revision, so that no
          // event is lost or repeated (at most 10 consecutive failed attempts).
          void reopen(why);
        };
        st.on('data', (r: IWatchResponse) => {
          if (dead || cancelled) return;
          if (r.created && !created) {
            created = true;
            failures = 0;
            watchId = r.watch_id;
            if (next === 0) next = num(r.header.revision) + 1;
            resolve();
          }
          if (num(r.compact_revision) > 0) {
            dead = true;
            st.cancel();
            const err = new CompactedError(next, num(r.compact_revision));
            if (!created) reject(err);
            else stop(err);
            return;
          }
          if (r.canceled) return lost(new StoreError(`watch cancelled by etcd: ${r.cancel_reason ?? ''}`));
          if (r.events.length === 0) return;
          const events = r.events.map((ev): WatchEvent => {
            const k = ev.kv.key.toString('utf8');
            const rev = num(ev.kv.mod_revision);
            return ev.type === 'Put' ? { type: 'put', key: k, revision: rev, kv: this.kv(ev.kv) } : { type: 'delete', key: k, revision: rev };
          });
          next = events[events.length - 1]!.revision + 1;
          onEvents(events);
        });
        st.on('error', (e: Error) => lost(e));
        st.on('end', () => lost(new StoreError('etcd watch stream ended')));
        st.write({ create_request: { key, range_end: rangeEndKey, ...(next > 0 ? { start_revision: next } : {}) } });
      });
    };
    const reopen = async (why: Error): Promise<void> => {
      while (!cancelled) {
        if (++failures > 10) return stop(new StoreError(`etcd watch on ${prefix} lost: ${why.message}`));
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** failures)));
        if (cancelled) return;
        try {
          await open();
          return;
        } catch (e) {
          if (e instanceof CompactedError) return stop(e);
          why = e instanceof Error ? e : new StoreError(String(e));
        }
      }
    };
    const w: Watch = {
      cancel: async () => {
        if (cancelled) return;
        cancelled = true;
        this.watches.delete(w);
        if (watchId !== undefined) stream?.write({ cancel_request: { watch_id: watchId } });
        stream?.cancel();
      },
    };
    await open();
    this.watches.add(w);
    return w;
  }

  async compact(revision: number): Promise<void> {
    try {
      await this.client.kv.compact({ revision, physical: true });
    } catch (e) {
      const err = await this.mapError(e, revision);
      if (err instanceof CompactedError) return; // already compacted at or past it
      throw err;
    }
  }

  async grantLease(ttlSeconds: number): Promise<LeaseGrant> {
    const r = await this.client.leaseClient.leaseGrant({ TTL: Math.max(1, Math.ceil(ttlSeconds)), ID: 0 });
    return { id: r.ID, ttl: num(r.TTL) };
  }

  async keepAlive(id: LeaseId): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive();
    try {
      const ttl = await new Promise<number>((resolve, reject) => {
        stream.on('data', (r) => resolve(num(r.TTL)));
        stream.on('error', reject);
        stream.write({ ID: id });
      });
      // etcd answers TTL 0 for a lease it does not know.
      if (ttl <= 0) throw new LeaseNotFoundError(id);
      return ttl;
    } finally {
      stream.cancel();
    }
  }

  async revokeLease(id: LeaseId): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: id });
    } catch (e) {
      const err = await this.mapError(e);
      throw err instanceof LeaseNotFoundError ? new LeaseNotFoundError(id) : err;
    }
  }

  async close(): Promise<void> {
    for (const w of [...this.watches]) await w.cancel();
    this.client.close();
  }
}
