/**
 * The store contract: a revisioned key-value store with compare-and-swap, multi-operation
 * transactions, watch-from-revision, compaction and leases — the etcd v3 model. This module
 * imports no implementation; backends (memory, SQLite, etcd) implement {@link Store} and are
 * all checked by the one conformance suite (conformance.ts).
 *
 * Revisions: one global counter that starts at 1 on an empty store and grows by exactly one
 * per transaction that changes something (a put always changes; deleting a missing key does
 * not). Every key written by one transaction carries that transaction's revision as its
 * `modRevision`, and watchers see its events together, in operation order.
 */

/** JSON value as stored (a JSON object at the top level of a stored value). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface JsonObject {
  [key: string]: Json;
}

/** A stored value: a JSON object or raw bytes (kept apart, both round-trip exactly). */
export type Value = JsonObject | Uint8Array;

/** Lease identifiers are strings because etcd's are 64-bit integers. */
export type LeaseId = string;

export interface KeyValue {
  readonly key: string;
  readonly value: Value;
  /** Revision of the transaction that created this key (since its last deletion). */
  readonly createRevision: number;
  /** Revision of the transaction that last wrote this key. */
  readonly modRevision: number;
  /** Number of writes since creation (1 after creation). */
  readonly version: number;
  /** Lease the key is attached to, if any. */
  readonly lease?: LeaseId;
}

/**
 * A transaction guard on one key: the key's current modRevision must equal `modRevision`;
 * 0 means "the key must not exist" (as etcd's `mod_revision == 0`).
 */
export interface Compare {
  readonly key: string;
  readonly modRevision: number;
}

export type Op =
  | { readonly type: 'put'; readonly key: string; readonly value: Value; readonly lease?: LeaseId }
  | { readonly type: 'delete'; readonly key: string; readonly prefix?: boolean };

export interface TxnResult {
  /** False when a compare did not hold; then nothing was written. */
  readonly succeeded: boolean;
  /** Store revision after the transaction (unchanged when it wrote nothing). */
  readonly revision: number;
  /** Number of keys the transaction's delete operations removed. */
  readonly deleted: number;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** Revision of the transaction that made this change. */
  readonly revision: number;
  /** The written key-value (put only). */
  readonly kv?: KeyValue;
}

export interface Watch {
  /** Cancels the watch; no handler call happens after the returned promise resolves. */
  cancel(): Promise<void>;
}

export interface WatchOptions {
  /**
   * Deliver every change with revision ≥ fromRevision, then live changes. Omitted: only
   * changes after the watch is created. A compacted fromRevision rejects `watch()` with
   * {@link CompactedError}.
   */
  readonly fromRevision?: number;
  /** Called when the watch ends abnormally (for example it fell behind a compaction). */
  readonly onError?: (err: Error) => void;
}

export interface RangeResult {
  readonly items: KeyValue[];
  /** The revision the range was read at. */
  readonly revision: number;
}

export interface LeaseGrant {
  readonly id: LeaseId;
  /** Granted TTL in seconds (etcd may raise a small TTL to its minimum). */
  readonly ttl: number;
}

export interface Store {
  /** Backend name, e.g. `memory`, `sqlite`, `etcd`. */
  readonly backend: string;
  /** Current revision. */
  revision(): Promise<number>;
  /** One key, at the current revision or at `revision` (CompactedError / FutureRevisionError). */
  get(key: string, opts?: { readonly revision?: number }): Promise<KeyValue | undefined>;
  /** Every key starting with `prefix`, in key order (byte order of the UTF-8 keys). */
  list(prefix: string, opts?: { readonly revision?: number; readonly limit?: number }): Promise<RangeResult>;
  /**
   * Writes one key. `expect` is a compare-and-swap guard: the current modRevision, or 0 for
   * "must not exist"; a mismatch throws {@link CasFailedError}. Returns the new revision.
   */
  put(key: string, value: Value, opts?: { readonly expect?: number; readonly lease?: LeaseId }): Promise<number>;
  /** Deletes one key (CasFailedError when `expect` does not hold). `deleted` false if absent. */
  delete(key: string, opts?: { readonly expect?: number }): Promise<{ deleted: boolean; revision: number }>;
  /** All compares hold → every op is applied at one new revision; otherwise nothing is. */
  txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult>;
  /** Streams changes under `prefix` in revision order; events of one revision arrive together. */
  watch(prefix: string, opts: WatchOptions, onEvents: (events: readonly WatchEvent[]) => void): Promise<Watch>;
  /** Drops history before `revision`; reads/watches below it then fail with CompactedError. */
  compact(revision: number): Promise<void>;
  /** Oldest revision still readable (the last compaction revision, or 1). */
  compactRevision(): Promise<number>;
  grantLease(ttlSeconds: number): Promise<LeaseGrant>;
  /** Renews a lease to its full TTL; returns that TTL. LeaseNotFoundError if gone. */
  keepAlive(id: LeaseId): Promise<number>;
  /** Revokes a lease, deleting its keys in one revision. LeaseNotFoundError if gone. */
  revokeLease(id: LeaseId): Promise<void>;
  close(): Promise<void>;
}

/** Base of every store error. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
}

/** A compare-and-swap guard did not hold. */
export class CasFailedError extends StoreError {
  override readonly name = 'CasFailedError';
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`compare-and-swap failed on ${key}: expected modRevision ${expected}, found ${actual}`);
  }
}

/** The object asked for does not exist. */
export class NotFoundError extends StoreError {
  override readonly name = 'NotFoundError';
  constructor(readonly key: string) {
    super(`not found: ${key}`);
  }
}

/** A revision older than the compaction point was asked for. */
export class CompactedError extends StoreError {
  override readonly name = 'CompactedError';
  constructor(
    readonly requested: number,
    /** The oldest revision still available. */
    readonly oldest: number,
  ) {
    super(`revision ${requested} has been compacted; the oldest available revision is ${oldest}`);
  }
}

/** A revision newer than the store's current one was asked for. */
export class FutureRevisionError extends StoreError {
  override readonly name = 'FutureRevisionError';
  constructor(
    readonly requested: number,
    readonly current: number,
  ) {
    super(`revision ${requested} is in the future; the current revision is ${current}`);
  }
}

export class LeaseNotFoundError extends StoreError {
  override readonly name = 'LeaseNotFoundError';
  constructor(readonly lease: LeaseId) {
    super(`lease ${lease} not found (expired or revoked)`);
  }
}

/** A transaction that is malformed (e.g. writes one key twice, as etcd also refuses). */
export class InvalidTxnError extends StoreError {
  override readonly name = 'InvalidTxnError';
}

/** Exclusive upper bound of the keys that start with `prefix` ('' → no bound). */
export function prefixEnd(prefix: string): string {
  // Keys are compared as UTF-16 strings in JS, which matches UTF-8 byte order except for
  // astral characters; keys are ASCII paths here, so incrementing the last code unit works.
  if (prefix === '') return '';
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
