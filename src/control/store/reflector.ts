/**
 * A reflector keeps an in-memory copy of every key under a prefix, the way Kubernetes
 * informers do: list at a revision, then watch from the next one. When the watch is lost (the
 * revision it needed was compacted, or the connection broke for good) it lists again and
 * reports the difference, so a level-triggered controller never misses a state even if it
 * misses events.
 */
import type { KeyValue, Store, Watch, WatchEvent } from './contract.js';
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

/**
 * @example
 * const r = await Reflector.start(store, { prefix: '/swnet/server/', onChange: (ch) => reconcile(ch) });
 * r.cache.get('/swnet/server/s1');
 * await r.stop();
 */
export class Reflector {
  readonly cache = new Map<string, KeyValue>();
  /** Revision the cache reflects (every change up to it is in the cache). */
  revision = 0;
  private watch: Watch | undefined;
  private stopped = false;
  private waiters: { rev: number; resolve: () => void }[] = [];
  private relisting: Promise<void> | undefined;

  private constructor(
    private readonly store: Store,
    private readonly init: ReflectorInit,
  ) {}

  static async start(store: Store, init: ReflectorInit): Promise<Reflector> {
    const r = new Reflector(store, init);
    await r.sync();
    return r;
  }

  /** Resolves once the cache reflects revision `rev` (e.g. the revision of one's own write). */
  async waitFor(rev: number): Promise<void> {
    if (this.revision >= rev) return;
    await new Promise<void>((resolve) => this.waiters.push({ rev, resolve }));
  }

  private advance(rev: number): void {
    if (rev > this.revision) this.revision = rev;
    const ready = this.waiters.filter((w) => w.rev <= this.revision);
    this.waiters = this.waiters.filter((w) => w.rev > this.revision);
    for (const w of ready) w.resolve();
  }

  /** Lists, diffs against the cache, then watches from the revision after the list. */
  private async sync(): Promise<void> {
    const { items, revision } = await this.store.list(this.init.prefix);
    if (this.stopped) return;
    const changes: CacheChange[] = [];
    const seen = new Set<string>();
    for (const kv of items) {
      seen.add(kv.key);
      const prev = this.cache.get(kv.key);
      if (!prev || prev.modRevision !== kv.modRevision) changes.push(prev ? { type: 'put', key: kv.key, kv, prev } : { type: 'put', key: kv.key, kv });
      this.cache.set(kv.key, kv);
    }
    for (const [key, prev] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      changes.push({ type: 'delete', key, prev });
    }
    this.advance(revision);
    if (changes.length > 0) this.init.onChange?.(changes, this.cache);
    this.watch = await this.store.watch(this.init.prefix, { fromRevision: revision + 1, onError: (e) => this.lost(e) }, (evs) => this.apply(evs));
    if (this.stopped) await this.watch.cancel();
  }

  private apply(events: readonly WatchEvent[]): void {
    if (this.stopped) return;
    const changes: CacheChange[] = [];
    for (const e of events) {
      if (e.revision <= this.revision && e.type === 'put' && this.cache.get(e.key)?.modRevision === e.revision) continue;
      const prev = this.cache.get(e.key);
      if (e.type === 'put' && e.kv) {
        this.cache.set(e.key, e.kv);
        changes.push(prev ? { type: 'put', key: e.key, kv: e.kv, prev } : { type: 'put', key: e.key, kv: e.kv });
      } else if (prev) {
        this.cache.delete(e.key);
        changes.push({ type: 'delete', key: e.key, prev });
      }
    }
    const last = events[events.length - 1];
    if (last) this.advance(last.revision);
    if (changes.length > 0) this.init.onChange?.(changes, this.cache);
  }

  private lost(cause: Error): void {
    if (this.stopped || this.relisting) return;
    this.init.onRelist?.(cause);
    const again = async (): Promise<void> => {
      while (!this.stopped) {
        try {
          await this.watch?.cancel();
          await this.sync();
          return;
        } catch (e) {
          // A compaction racing the relist, or the store still away: wait and list again.
          if (!(e instanceof CompactedError)) this.init.onRelist?.(e instanceof Error ? e : new Error(String(e)));
          await new Promise((r) => setTimeout(r, this.init.retryMs ?? 200));
        }
      }
    };
    this.relisting = again().finally(() => {
      this.relisting = undefined;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.relisting;
    await this.watch?.cancel();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }
}
