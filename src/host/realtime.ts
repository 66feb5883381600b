/**
 * Real-time scheduling of the data-plane threads (domain 0 and the domain workers): SCHED_FIFO,
 * as VPP and DPDK deployments run their workers. On a 2-core machine a normal (CFS/EEVDF) thread
 * woken by its futex waits behind whatever else runs — other threads, V8's compiler and GC helpers —
 * for up to a time slice: most flow gaps over 1 ms at 100 kpps were such run-queue waits (the
 * `anatomy` part of the migration bench). A FIFO thread preempts every normal one at once; the
 * kernel's RT throttling (sched_rt_runtime_us, 95 % by default) still leaves normal threads a share
 * should a function spin.
 *
 * With SCHED_RESET_ON_FORK (`chrt -R`): a thread that a real-time one creates (a new domain
 * worker, libuv's or V8's helpers started late) starts at normal priority; inherited, a worker's
 * 100 ms cold start ran at domain 0's priority and held it off its core for up to 15 ms.
 *
 * Node has no sched_setscheduler, and spawning `chrt` forks the calling process, which blocks its
 * event loop for a millisecond or more (the very stall this avoids). So one helper shell is spawned
 * once, up front, and runs `chrt` for each request it reads on stdin, off domain 0's thread.
 *
 * @example
 * const rt = await Realtime.open();
 * await rt.set(threadId(), 10);   // SCHED_FIFO priority 10
 * schedOf(threadId());            // { policy: 'fifo', priority: 10 }
 * await rt.set(threadId(), 0);    // back to SCHED_OTHER
 * rt.close();
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';

export class RealtimeError extends Error {
  override readonly name = 'RealtimeError';
}

/** Highest SCHED_FIFO priority accepted (Linux's range is 1–99; the top is left to the kernel's own threads). */
export const MAX_PRIORITY = 98;

/** The kernel's id of the calling thread (its tid; the process id on the main thread). */
export function threadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return process.pid;
  }
}

/** Scheduling policy and real-time priority of a thread of this process, from /proc (fields 40 and 41 of stat). */
export function schedOf(tid: number): { policy: 'other' | 'fifo' | 'rr' | 'batch' | 'idle' | 'deadline'; priority: number } {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'latin1');
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const priority = Number(f[37]);
  const policy = (['other', 'fifo', 'rr', 'batch', 'other', 'idle', 'deadline'] as const)[Number(f[38])] ?? 'other';
  return { policy, priority };
}

/**
 * Sets threads of this process to SCHED_FIFO or back to SCHED_OTHER through one long-lived helper
 * process (see the module comment). Requests are answered in order.
 */
export class Realtime {
  private readonly waiting: { resolve: () => void; reject: (e: Error) => void; what: string }[] = [];
  private buffered = '';
  private closed = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      this.buffered += s;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        const w = this.waiting.shift();
        if (!w) continue;
        if (line.startsWith('ok')) w.resolve();
        else w.reject(new RealtimeError(`${w.what}: ${line.slice(line.indexOf(' ') + 1) || 'refused'}`));
      }
    });
    child.on('exit', () => this.fail('the scheduling helper exited'));
    child.on('error', (e) => this.fail(`the scheduling helper: ${e.message}`));
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  /**
   * Starts the helper and checks that it can change this process's scheduling (root or
   * CAP_SYS_NICE, `chrt` from util-linux): rejects with a RealtimeError saying why not.
   */
  static async open(): Promise<Realtime> {
    if (process.platform !== 'linux') throw new RealtimeError('real-time scheduling needs Linux');
    // Each line: "PRIORITY TID"; 0 = SCHED_OTHER. The answer: "ok" or "err MESSAGE", one line.
    const script = 'while read p t; do if [ "$p" = 0 ]; then o=$(chrt -o -p 0 "$t" 2>&1); else o=$(chrt -f -R -p "$p" "$t" 2>&1); fi; if [ $? = 0 ]; then echo ok; else echo "err $(echo "$o" | tr "\\n" " ")"; fi; done';
    const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const rt = new Realtime(child);
    try {
      // A probe on the helper's own pid: the permission check, without touching any of our threads.
      await rt.request(1, child.pid ?? 0, 'SCHED_FIFO');
      await rt.request(0, child.pid ?? 0, 'SCHED_OTHER');
    } catch (e) {
      rt.close();
      throw e;
    }
    return rt;
  }

  /** SCHED_FIFO at `priority` (1…MAX_PRIORITY) for thread `tid` of this process, or SCHED_OTHER for 0. */
  set(tid: number, priority: number): Promise<void> {
    if (!Number.isInteger(priority) || priority < 0 || priority > MAX_PRIORITY) return Promise.reject(new RealtimeError(`priority must be an integer in 0…${MAX_PRIORITY}, got ${priority}`));
    if (!Number.isInteger(tid) || tid <= 0) return Promise.reject(new RealtimeError(`not a thread id: ${tid}`));
    return this.request(priority, tid, `thread ${tid} → ${priority === 0 ? 'SCHED_OTHER' : `SCHED_FIFO ${priority}`}`);
  }

  private request(priority: number, tid: number, what: string): Promise<void> {
    if (this.closed) return Promise.reject(new RealtimeError(`${what}: the scheduling helper is closed`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject, what });
      this.child.stdin.write(`${priority} ${tid}\n`);
    });
  }

  private fail(why: string): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new RealtimeError(`${w.what}: ${why}`));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.child.stdin.end();
    this.fail('closed');
  }
}
