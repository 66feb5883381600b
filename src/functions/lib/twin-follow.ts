/**
 * Feeding a twin: from captures on disk (merged by capture time, the clock driven by the
 * captures), or live from captures still being written (FIFOs that tcpdump/dumpcap write),
 * each read by our streaming reader in a worker thread, the clock then the wall clock.
 *
 * @example
 * const twin = createTwin(cfg);
 * followCaptures(twin, [{ port: 'r0.in', path: 'in0.pcap' }, { port: 'r1.out', path: 'out1.pcap' }]);
 * const live = new LiveFollower(twin, [{ port: 'r0.in', path: '/tmp/r0.fifo' }]);
 * live.start(); … await live.stop();
 */
import { Worker } from 'node:worker_threads';
import { openCapture } from '../../packet/capfile.js';
import type { CaptureReader } from '../../packet/capture.js';
import { Batch, MAX_BATCH, PacketPool } from '../../packet/pool.js';
import type { Emit, ProcessContext } from '../contract.js';
import type { Twin } from '../twin.js';
import type { FeedMessage } from './twin-feed-worker.js';

/** One stream the twin follows: a twin port (`eth0.in`, `eth0.out`) and a capture path. */
export interface TwinSource {
  readonly port: string;
  readonly path: string;
}

/** A twin port name that does not exist. */
export class TwinSourceError extends Error {
  override readonly name = 'TwinSourceError';
}

/** How far behind the wall clock an idle feed is assumed to be (a batch posted, not yet taken). */
const IDLE_SLACK_MS = 25;

const NO_EMIT: Emit = { send: () => undefined, drop: () => undefined };

function portOf(twin: Twin, name: string): number {
  const i = twin.portIndex(name);
  if (i < 0) throw new TwinSourceError(`no twin port '${name}' (ports: ${twin.ports.map((p) => p.name).join(', ')})`);
  return i;
}

/**
 * Replays captures through `twin` in capture-time order, ticking its clock every millisecond of
 * capture time, and a last time 10 s after the end so that every pending frame is judged.
 * Returns the frames read and the last capture time (ms).
 */
export function followCaptures(twin: Twin, sources: readonly TwinSource[], tickMs = 1): { frames: number; lastTs: number } {
  const pool = new PacketPool({ slots: MAX_BATCH * 2 });
  const ports = sources.map((s) => portOf(twin, s.port));
  const readers: CaptureReader[] = sources.map((s) => openCapture(s.path));
  const batch = new Batch();
  const ts = new Float64Array(MAX_BATCH);
  let frames = 0;
  let lastTs = 0;
  let lastTick = -Infinity;
  let cur = -1;
  const head: ({ t: number; data: Uint8Array } | null)[] = readers.map((r) => {
    const rec = r.next();
    return rec === null ? null : { t: Number(rec.tsNs / 1000n) / 1000, data: rec.data };
  });
  const flush = (now: number): void => {
    if (batch.count > 0) twin.observe(ports[cur] as number, batch, { pool, out: NO_EMIT, now }, ts);
    batch.clear();
  };
  try {
    for (;;) {
      let k = -1;
      for (let i = 0; i < head.length; i++) { const h = head[i]; if (h && (k < 0 || h.t < (head[k] as { t: number }).t)) k = i; }
      if (k < 0) break;
      const h = head[k] as { t: number; data: Uint8Array };
      if (k !== cur || batch.full) { flush(h.t); cur = k; }
      ts[batch.count] = h.t;
      pool.load(h.data, batch);
      frames++;
      lastTs = Math.max(lastTs, h.t);
      const rec = (readers[k] as CaptureReader).next();
      head[k] = rec === null ? null : { t: Number(rec.tsNs / 1000n) / 1000, data: rec.data };
      if (h.t - lastTick >= tickMs) {
        flush(h.t);
        // Captures are merged in time order: every stream has delivered what precedes h.t.
        for (const p of ports) twin.feedCaughtUp(p, h.t);
        twin.tick({ pool, out: NO_EMIT, now: h.t });
        lastTick = h.t;
      }
    }
    flush(lastTs);
    for (const p of ports) twin.feedCaughtUp(p, lastTs + 10_000);
    twin.tick({ pool, out: NO_EMIT, now: lastTs + 10_000 });
  } finally {
    for (const r of readers) r.close();
  }
  return { frames, lastTs };
}

/**
 * Follows live captures: one worker thread per source reads it as it is written; batches go
 * to the twin as they arrive; the twin ticks every `tickMs` of wall-clock time.
 */
export class LiveFollower {
  private readonly pool = new PacketPool({ slots: MAX_BATCH * 4 });
  private readonly batch = new Batch();
  private readonly workers: Worker[] = [];
  private readonly ended: Promise<void>[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Errors the feeds reported (a malformed stream, a missing file). */
  readonly errors: string[] = [];
  frames = 0;
  /**
   * Largest delay seen between a frame's capture and its delivery to the twin (ms); reset it
   * freely. A twin cannot judge within its window frames that reach it later than that.
   */
  maxLagMs = 0;
  /**
   * Frames captured before this time (ms) are ignored: set it once every capturer listens, so
   * that a stream that started earlier than the others does not look like a device that dropped.
   */
  since = -Infinity;
  /** Per source: its worker's last batch drained the stream (it then waits for the capturer). */
  private idle: boolean[] = [];
  private portIdx: number[] = [];

  constructor(private readonly twin: Twin, private readonly sources: readonly TwinSource[], private readonly tickMs = 2, private readonly clock: () => number = Date.now) {
    for (const s of sources) portOf(twin, s.port);
  }

  private ctx(): ProcessContext {
    return { pool: this.pool, out: NO_EMIT, now: this.clock() };
  }

  /** Starts the workers (each opens its FIFO: the writer may come later) and the clock. */
  start(): void {
    this.idle = this.sources.map(() => true);
    this.portIdx = this.sources.map((s) => portOf(this.twin, s.port));
    for (const [k, s] of this.sources.entries()) {
      const port = portOf(this.twin, s.port);
      const w = new Worker(new URL('./twin-feed-worker.js', import.meta.url), { workerData: { path: s.path } });
      this.workers.push(w);
      this.ended.push(new Promise((resolve) => {
        w.on('message', (m: FeedMessage) => {
          if (m.error !== undefined) this.errors.push(`${s.port}: ${m.error}`);
          if (m.drained !== undefined) this.idle[k] = m.drained;
          if (m.bytes && m.lens && m.ts && m.count !== undefined) this.take(port, m.bytes, m.lens, m.ts, m.count);
        });
        w.on('error', (e) => { this.errors.push(`${s.port}: ${e.message}`); resolve(); });
        w.on('exit', () => resolve());
      }));
    }
    // The tick runs in the check phase, after the poll phase has delivered every batch the
    // workers posted meanwhile: after a stall of this thread (a GC, a synchronous call) the
    // timer fires first, and an "idle" feed may have frames waiting in its message queue.
    this.timer = setInterval(() => setImmediate(() => this.tick()), this.tickMs);
  }

  /**
   * A feed whose worker drained its stream is caught up to now, less IDLE_SLACK_MS for a batch
   * in flight: the twin then need not wait for frames of it that cannot be late.
   */
  private tick(): void {
    const ctx = this.ctx();
    for (let k = 0; k < this.portIdx.length; k++) if (this.idle[k] === true) this.twin.feedCaughtUp(this.portIdx[k] as number, ctx.now - IDLE_SLACK_MS);
    this.twin.tick(ctx);
  }

  private take(port: number, bytes: Uint8Array, lens: Int32Array, ts: Float64Array, count: number): void {
    const b = this.batch;
    b.clear();
    let o = 0;
    for (let i = 0; i < count; i++) {
      const n = lens[i] as number;
      const slot = (ts[i] as number) >= this.since ? this.pool.alloc() : -1;
      if (slot >= 0) {
        const off = this.pool.frameOffset(slot);
        const len = Math.min(n, this.pool.mtu);
        this.pool.bytes.set(bytes.subarray(o, o + len), off);
        ts[b.count] = ts[i] as number;
        b.push(slot, off, len);
      }
      o += n;
    }
    this.frames += b.count;
    if (b.count > 0) {
      const lag = this.clock() - (ts[0] as number);
      if (lag > this.maxLagMs) this.maxLagMs = lag;
    }
    this.twin.observe(port, b, this.ctx(), ts);
    this.tick();
  }

  /**
   * Waits until every feed ended (its writer closed the stream) or `timeoutMs` passed (then the
   * workers are terminated), stops the clock and judges what is still pending.
   */
  async stop(timeoutMs = 2000): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.ended), new Promise((r) => { t = setTimeout(r, timeoutMs); })]);
    clearTimeout(t);
    await Promise.all(this.workers.map((w) => w.terminate()));
    if (this.timer) clearInterval(this.timer);
    this.twin.tick({ ...this.ctx(), now: this.clock() + 10_000 });
  }
}
