/**
 * Idle domain workers started ahead: a thread that has loaded the domain's code (every network
 * function's module) and waits for its configuration by message. Starting a domain from the pool
 * skips the thread start and the module loading — the most part of a warm instance's start (a
 * migration's `prepared` step) and of a rebuilt cell — and the pool starts a replacement at once,
 * off the caller's path. Idle workers are unref'd: they never keep a process alive.
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
    return this.idle.length;
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

  /** An idle worker (its listeners removed, ref'd again), or undefined; a replacement starts on the next turn. */
  take(): Worker | undefined {
    const w = this.idle.shift();
    if (!w) return undefined;
    w.removeAllListeners('error');
    w.removeAllListeners('exit');
    w.ref();
    this.taken++;
    setImmediate(() => this.fill());
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    const ws = this.idle.splice(0);
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
