/**
 * Single-key writes derived from `txn`, shared by every backend so that compare-and-swap
 * means exactly the same thing everywhere.
 */
import { CasFailedError, type Compare, type KeyValue, type LeaseGrant, type LeaseId, type Op, type RangeResult, type Store, type TxnResult, type Value, type Watch, type WatchEvent, type WatchOptions } from './contract.js';

export abstract class BaseStore implements Store {
  abstract readonly backend: string;
  abstract revision(): Promise<number>;
  abstract get(key: string, opts?: { readonly revision?: number }): Promise<KeyValue | undefined>;
  abstract list(prefix: string, opts?: { readonly revision?: number; readonly limit?: number }): Promise<RangeResult>;
  abstract txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult>;
  abstract watch(prefix: string, opts: WatchOptions, onEvents: (events: readonly WatchEvent[]) => void): Promise<Watch>;
  abstract compact(revision: number): Promise<void>;
  abstract compactRevision(): Promise<number>;
  abstract grantLease(ttlSeconds: number): Promise<LeaseGrant>;
  abstract keepAlive(id: LeaseId): Promise<number>;
  abstract revokeLease(id: LeaseId): Promise<void>;
  abstract close(): Promise<void>;

  async put(key: string, value: Value, opts: { readonly expect?: number; readonly lease?: LeaseId } = {}): Promise<number> {
    const op: Op = opts.lease !== undefined ? { type: 'put', key, value, lease: opts.lease } : { type: 'put', key, value };
    const cmp = opts.expect !== undefined ? [{ key, modRevision: opts.expect }] : [];
    const r = await this.txn(cmp, [op]);
    if (!r.succeeded) throw new CasFailedError(key, opts.expect ?? 0, (await this.get(key))?.modRevision ?? 0);
    return r.revision;
  }

  async delete(key: string, opts: { readonly expect?: number } = {}): Promise<{ deleted: boolean; revision: number }> {
    const cmp = opts.expect !== undefined ? [{ key, modRevision: opts.expect }] : [];
    const r = await this.txn(cmp, [{ type: 'delete', key }]);
    if (!r.succeeded) throw new CasFailedError(key, opts.expect ?? 0, (await this.get(key))?.modRevision ?? 0);
    return { deleted: r.deleted > 0, revision: r.revision };
  }
}
