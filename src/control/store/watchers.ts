/**
 * Watch fan-out for the in-process backends: events are queued per watcher and delivered in a
 * microtask, one handler call per batch (never re-entrantly from inside a write).
 */
import type { Watch, WatchEvent } from './contract.js';

interface Watcher {
  prefix: string;
  queue: WatchEvent[];
  scheduled: boolean;
  live: boolean;
  onEvents: (events: readonly WatchEvent[]) => void;
  onError: ((err: Error) => void) | undefined;
}

export class WatcherSet {
  private readonly set = new Set<Watcher>();

  get size(): number {
    return this.set.size;
  }

  add(prefix: string, backlog: WatchEvent[], onEvents: (events: readonly WatchEvent[]) => void, onError?: (err: Error) => void): Watch {
    const w: Watcher = { prefix, queue: [], scheduled: false, live: true, onEvents, onError };
    this.set.add(w);
    if (backlog.length > 0) this.push(w, backlog);
    return {
      cancel: async () => {
        w.live = false;
        this.set.delete(w);
      },
    };
  }

  /** Events of committed transactions, in revision order. */
  publish(events: readonly WatchEvent[]): void {
    for (const w of this.set) {
      const mine = events.filter((e) => e.key.startsWith(w.prefix));
      if (mine.length > 0) this.push(w, mine);
    }
  }

  private push(w: Watcher, events: WatchEvent[]): void {
    for (const e of events) w.queue.push(e);
    if (w.scheduled) return;
    w.scheduled = true;
    queueMicrotask(() => {
      w.scheduled = false;
      if (!w.live) return;
      const batch = w.queue;
      w.queue = [];
      w.onEvents(batch);
    });
  }

  /** Ends every watch with `err` (after the events already queued are delivered). */
  failAll(err: Error): void {
    const all = [...this.set];
    this.set.clear();
    queueMicrotask(() => {
      for (const w of all) {
        if (!w.live) continue;
        w.live = false;
        w.onError?.(err);
      }
    });
  }

  closeAll(): void {
    for (const w of this.set) w.live = false;
    this.set.clear();
  }
}
