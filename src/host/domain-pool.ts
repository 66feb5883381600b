/**
 * Idle domain workers started ahead: a thread that has loaded the domain's code (every network
 * function's module) and waits for its configuration by message. Starting a domain from the pool
 * skips the thread start and the module loading — the most part of a warm instance's start (a
 * migration's `prepared` step) and of a rebuilt cell — and the pool starts a replacement a little
 * later, off the caller's path. A destroyed domain's worker comes back to the pool (`park`). Idle workers are unref'd: they never keep a process alive.
 *
 * @example
 * const pool = new DomainPool(2);
 * const d = new Domain(slots, { id: 1, name: 'n', contexts, vnics, pool });
 * await d.start();      // takes a started worker if one is idle
 * await pool.close();
 */
import { Worker } from 'node:worker_threads';

/** The message that turns an idle pooled worker into a domain (domain-worker.ts). */
export const POOL_INIT = 'init';

/** Delay before the pool starts replacements for taken workers (ms). */
const REFILL_MS = 500;

export class DomainPool {
  private readonly idle: Worker[] = [];
  private closed = false;
  /** Workers taken from the pool (for tests and benchmarks). */
  taken = 0;

  /** Starts `size` idle workers (0: a pool that never holds one). */
  constructor(readonly size: number) {
    this.fill();
  }

  get available(): number {
    return this.idle.length + this.retiring.size;
  }

  private fill(): void {
    while (!this.closed && this.idle.length < this.size) {
      const w = new Worker(new URL('./domain-worker.js', import.meta.url), { workerData: { pooled: true } });
      w.unref();
      const drop = (): void => {
        const i = this.idle.indexOf(w);
        if (i >= 0) this.idle.splice(i, 1);
      };
      w.once('error', drop);
      w.once('exit', drop);
      this.idle.push(w);
    }
  }

  /** An idle worker (its listeners removed, ref'd again), or undefined; a replacement starts REFILL_MS later unless a worker was parked meanwhile. */
  take(): Worker | undefined {
    const r = this.retiring.values().next();
    if (!r.done) this.retiring.delete(r.value);
    const w = r.done ? this.idle.shift() : r.value;
    if (!w) return undefined;
    w.removeAllListeners('error');
    w.removeAllListeners('exit');
    w.ref();
    this.taken++;
    // Refilled later, not on the taker's turn: a thread start costs ~100 ms of CPU that would
    // compete with the domain being started (a migration's target), and a destroyed domain's
    // worker parked meanwhile makes the start needless.
    setTimeout(() => this.fill(), REFILL_MS).unref();
    return w;
  }

  /** Workers parked back (for tests and benchmarks). */
  parked = 0;
  private readonly retiring = new Set<Worker>();
  private retireTimer: NodeJS.Timeout | undefined;

  /**
   * Takes back the worker of a stopped domain (its runtime ended: domain-worker.ts waits for the
   * next `init`), instead of terminating it: a worker's exit blocks domain 0's thread while Node
   * joins it (0.3–9 ms measured during a migration). Beyond the pool's size the worker is kept
   * idle too and terminated later, all at once after `retireMs` without a park or take (a take
   * prefers those, so a migration's target reuses its source's thread).
   */
  park(w: Worker, retireMs = 2000): void {
    w.removeAllListeners('message');
    w.removeAllListeners('error');
    w.removeAllListeners('exit');
    w.unref();
    if (this.closed) {
      void w.terminate();
      return;
    }
    this.parked++;
    const drop = (): void => {
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      this.retiring.delete(w);
    };
    w.once('error', drop);
    w.once('exit', drop);
    if (this.idle.length < this.size) {
      this.idle.push(w);
      return;
    }
    this.retiring.add(w);
    if (this.retireTimer) clearTimeout(this.retireTimer);
    this.retireTimer = setTimeout(() => {
      this.retireTimer = undefined;
      const ws = [...this.retiring];
      this.retiring.clear();
      for (const x of ws) void x.terminate();
    }, retireMs);
    this.retireTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retireTimer) clearTimeout(this.retireTimer);
    const ws = [...this.idle.splice(0), ...this.retiring];
    this.retiring.clear();
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
