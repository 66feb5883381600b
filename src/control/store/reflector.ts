/**
 * A reflector keeps an in-memory copy of every key under a prefix, the way Kubernetes
 * informers do: list at a revision, then watch from the next one. When the watch is lost (the
 * revision it needed was compacted, or the connection broke for good) it lists again and
 * reports the difference, so a level-triggered controller never misses a state even if it
 * misses events.
 *
 * Shared, as Kubernetes' shared informers: every reflector of one store and one prefix in a
 * process is a handle on ONE cache and ONE watch (the network, migration and overload
 * controllers and the embedded agents all follow networks and placements; with 100,000
 * per-user networks, one copy each instead of six is what keeps an idle network under 4 KiB).
 * Each handle has its own `onChange`; a handle that joins a running cache is told about every
 * key at once, exactly as if it had listed the store itself.
 *
 * Compact: values whose JSON is longer than {@link TEXT_THRESHOLD} bytes (software networks,
 * servers with status) are kept as their JSON text and parsed on each read of `value` — about
 * half the memory of the parsed object graph, for a parse per reconcile pass.
 */
import type { KeyValue, LeaseId, Store, Value, Watch, WatchEvent } from './contract.js';
import { CompactedError } from './contract.js';

export interface CacheChange {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The new value (put). */
  readonly kv?: KeyValue;
  /** The value before (update or delete), when the cache had one. */
  readonly prev?: KeyValue;
}

export interface ReflectorInit {
  readonly prefix: string;
  /** Called with every batch of changes after the cache has been updated. */
  readonly onChange?: (changes: readonly CacheChange[], cache: ReadonlyMap<string, KeyValue>) => void;
  /** Called on each relist (with its cause), for logs and metrics. */
  readonly onRelist?: (cause: Error) => void;
  /** Delay before relisting after a failure (ms, default 200). */
  readonly retryMs?: number;
}

/** JSON values longer than this are cached as text (bytes of JSON). */
export const TEXT_THRESHOLD = 512;

/** A cached key-value whose JSON object value is kept as text and parsed on each read. */
class TextKeyValue implements KeyValue {
  readonly lease?: LeaseId;
  constructor(
    readonly key: string,
    private readonly text: string,
    readonly createRevision: number,
    readonly modRevision: number,
    readonly version: number,
    lease: LeaseId | undefined,
  ) {
    if (lease !== undefined) this.lease = lease;
  }

  get value(): Value {
    return JSON.parse(this.text) as Value;
  }
}

function compact(kv: KeyValue): KeyValue {
  if (kv.value instanceof Uint8Array) return kv;
  let text = JSON.stringify(kv.value);
  if (text.length <= TEXT_THRESHOLD) return kv;
  // One non-Latin-1 character (a '→' in a status message) makes V8 store the whole string in
  // UTF-16, two bytes a character: escaped as JSON \uXXXX, the text stays one byte a character.
  // (V8 builds the replaced string in the subject's two-byte form: copied once through latin1.)
  if (/[^\x00-\xff]/.test(text)) text = Buffer.from(text.replace(/[^\x00-\xff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), 'latin1').toString('latin1');
  return new TextKeyValue(kv.key, text, kv.createRevision, kv.modRevision, kv.version, kv.lease);
}

/** The one cache and watch of a (store, prefix), with the handles that follow it. */
class SharedCache {
  readonly cache = new Map<string, KeyValue>();
  revision = 0;
  readonly handles = new Set<Reflector>();
  private watch: Watch | undefined;
  private stopped = false;
  private waiters: { rev: number; resolve: () => void }[] = [];
  private relisting: Promise<void> | undefined;
  /** Resolves once the first list is in the cache. */
  ready: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly prefix: string,
    private readonly retryMs: number,
    private readonly onStop: () => void,
  ) {}

  async waitFor(rev: number): Promise<void> {
    if (this.revision >= rev || this.stopped) return;
    await new Promise<void>((resolve) => this.waiters.push({ rev, resolve }));
  }

  private advance(rev: number): void {
    if (rev > this.revision) this.revision = rev;
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.rev <= this.revision);
    this.waiters = this.waiters.filter((w) => w.rev > this.revision);
    for (const w of ready) w.resolve();
  }

  private notify(changes: readonly CacheChange[]): void {
    let first: unknown;
    for (const h of [...this.handles]) {
      try {
        h.deliver(changes);
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }

  /** Lists, diffs against the cache, then watches from the revision after the list. */
  async sync(): Promise<void> {
    const { items, revision } = await this.store.list(this.prefix);
    if (this.stopped) return;
    const changes: CacheChange[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(item.key);
      const prev = this.cache.get(item.key);
      if (prev && prev.modRevision === item.modRevision) continue;
      const kv = compact(item);
      changes.push(prev ? { type: 'put', key: kv.key, kv, prev } : { type: 'put', key: kv.key, kv });
      this.cache.set(kv.key, kv);
    }
    for (const [key, prev] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      changes.push({ type: 'delete', key, prev });
    }
    this.advance(revision);
    if (changes.length > 0) this.notify(changes);
    this.watch = await this.store.watch(this.prefix, { fromRevision: revision + 1, onError: (e) => this.lost(e) }, (evs) => this.apply(evs));
    if (this.stopped) await this.watch.cancel();
  }

  private apply(events: readonly WatchEvent[]): void {
    if (this.stopped) return;
    const changes: CacheChange[] = [];
    for (const e of events) {
      if (e.revision <= this.revision && e.type === 'put' && this.cache.get(e.key)?.modRevision === e.revision) continue;
      const prev = this.cache.get(e.key);
      if (e.type === 'put' && e.kv) {
        const kv = compact(e.kv);
        this.cache.set(e.key, kv);
        changes.push(prev ? { type: 'put', key: e.key, kv, prev } : { type: 'put', key: e.key, kv });
      } else if (prev) {
        this.cache.delete(e.key);
        changes.push({ type: 'delete', key: e.key, prev });
      }
    }
    const last = events[events.length - 1];
    if (last) this.advance(last.revision);
    if (changes.length > 0) this.notify(changes);
  }

  private lost(cause: Error): void {
    if (this.stopped || this.relisting) return;
    for (const h of this.handles) h.relisted(cause);
    const again = async (): Promise<void> => {
      while (!this.stopped) {
        try {
          await this.watch?.cancel();
          await this.sync();
          return;
        } catch (e) {
          // A compaction racing the relist, or the store still away: wait and list again.
          if (!(e instanceof CompactedError)) for (const h of this.handles) h.relisted(e instanceof Error ? e : new Error(String(e)));
          await new Promise((r) => setTimeout(r, this.retryMs));
        }
      }
    };
    this.relisting = again().finally(() => {
      this.relisting = undefined;
    });
  }

  async release(h: Reflector): Promise<void> {
    this.handles.delete(h);
    if (this.handles.size > 0 || this.stopped) return;
    this.stopped = true;
    this.onStop();
    await this.relisting;
    await this.watch?.cancel();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }
}

const shared = new WeakMap<Store, Map<string, SharedCache>>();

/**
 * @example
 * const r = await Reflector.start(store, { prefix: '/swnet/server/', onChange: (ch) => reconcile(ch) });
 * r.cache.get('/swnet/server/s1');
 * await r.stop();
 */
export class Reflector {
  private stopped = false;
  private readonly waiting = new Set<() => void>();

  private constructor(
    private readonly shared: SharedCache,
    private readonly init: ReflectorInit,
  ) {}

  /** Every key under the prefix (shared by every reflector of this store and prefix: read only). */
  get cache(): ReadonlyMap<string, KeyValue> & Map<string, KeyValue> {
    return this.shared.cache;
  }

  /** Revision the cache reflects (every change up to it is in the cache). */
  get revision(): number {
    return this.shared.revision;
  }

  static async start(store: Store, init: ReflectorInit): Promise<Reflector> {
    let byPrefix = shared.get(store);
    if (!byPrefix) shared.set(store, (byPrefix = new Map()));
    let s = byPrefix.get(init.prefix);
    const map = byPrefix;
    if (!s) {
      const created: SharedCache = new SharedCache(store, init.prefix, init.retryMs ?? 200, () => {
        if (map.get(init.prefix) === created) map.delete(init.prefix);
      });
      s = created;
      map.set(init.prefix, s);
    }
    const r = new Reflector(s, init);
    if (!s.ready) {
      s.handles.add(r);
      s.ready = s.sync();
      try {
        await s.ready;
      } catch (e) {
        // The first list failed: nobody shares this cache; the next start tries again.
        s.ready = undefined;
        await s.release(r);
        throw e;
      }
      return r;
    }
    await s.ready;
    // Joining a running cache: every key is news to this handle, as after its own list.
    s.handles.add(r);
    const changes: CacheChange[] = [...s.cache.values()].map((kv) => ({ type: 'put', key: kv.key, kv }));
    if (changes.length > 0) r.deliver(changes);
    return r;
  }

  /** @internal the shared cache's delivery of a batch of changes. */
  deliver(changes: readonly CacheChange[]): void {
    if (!this.stopped) this.init.onChange?.(changes, this.shared.cache);
  }

  /** @internal the shared cache lost its watch and lists again. */
  relisted(cause: Error): void {
    if (!this.stopped) this.init.onRelist?.(cause);
  }

  /** Resolves once the cache reflects revision `rev` (e.g. the revision of one's own write), or this handle stops. */
  async waitFor(rev: number): Promise<void> {
    if (this.stopped || this.shared.revision >= rev) return;
    await new Promise<void>((resolve) => {
      this.waiting.add(resolve);
      void this.shared.waitFor(rev).then(() => {
        this.waiting.delete(resolve);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const w of this.waiting) w();
    this.waiting.clear();
    await this.shared.release(this);
  }
}
