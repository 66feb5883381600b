/**
 * `SWNET_BENCH_PARTS=anatomy npm run bench -- migration`: where the gaps of the migration bench
 * come from without any migration. The router bed at 100 kpps (10 flows) runs for a few seconds;
 * every gap of a flow longer than 1 ms at the sink is attributed, from the source's timestamp in
 * the frame and from the kernel's per-thread scheduler statistics (/proc/.../schedstat: time
 * runnable but waiting for a CPU), to: the source sending late while domain 0 was preempted or
 * ran (GC, long turns), or the path (domain 0 → router worker → domain 0) stalling while the
 * worker or domain 0 was preempted. Also: event-loop delay (perf_hooks), GC pauses (PerformanceObserver 'gc'), each thread's
 * CPU and run-queue wait, the load average.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type { Reporter } from './report.js';
import { fmt } from './report.js';
import { routerBed } from '../src/host/migration-bed.js';
import { TEST_MAGIC } from '../src/functions/traffic-source.js';
import type { Batch } from '../src/packet/pool.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Cumulative run time and run-queue wait (ms) of one thread, read with one pread. */
class SchedStat {
  private readonly fd: number;
  private readonly buf = Buffer.alloc(96);
  constructor(path: string) {
    this.fd = openSync(path, 'r');
  }
  read(): [number, number] {
    const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
    const [run, wait] = this.buf.toString('latin1', 0, n).split(' ');
    return [Number(run) / 1e6, Number(wait) / 1e6];
  }
  close(): void {
    closeSync(this.fd);
  }
}


/** The anatomy at normal scheduling, then (when this process may) with the data plane at SCHED_FIFO `realtime`. */
export async function runAnatomy(r: Reporter, realtime?: number): Promise<void> {
  if (process.platform !== 'linux') return r.note('anatomy: needs Linux /proc schedstat');
  await anatomy(r, undefined);
  if (realtime !== undefined) await anatomy(r, realtime);
}

async function anatomy(r: Reporter, realtime: number | undefined): Promise<void> {
  const sched = realtime === undefined ? 'normal scheduling' : `SCHED_FIFO ${realtime}`;
  const bed = await routerBed({ kpps: 100, flows: 10, servers: 1, ...(realtime !== undefined ? { realtime } : {}) });
  try {
    await sleep(300);
    const tid = bed.hosts[0]?.domainList()[0]?.domain.tid ?? 0;
    const workerTid = tid > 0 ? String(tid) : undefined;
    const main = new SchedStat('/proc/thread-self/schedstat');
    const worker = workerTid ? new SchedStat(`/proc/self/task/${workerTid}/schedstat`) : undefined;
    // Samples at each arrival batch: time, main run, main wait, worker run, worker wait.
    const samples: number[] = [];
    const sample = (now: number): void => {
      const [a, b] = main.read();
      const [c, d] = worker ? worker.read() : [0, 0];
      samples.push(now, a, b, c, d);
    };
    const last = new Map<number, { at: number; emit: number }>();
    const gaps: { at: number; ms: number; emitMs: number; flow: number }[] = [];
    const meter = bed.gaps;
    const observe = meter.observe.bind(meter);
    let dv: DataView | undefined;
    meter.observe = (bytes: Uint8Array, b: Batch, now: number): void => {
      sample(now);
      if (dv?.buffer !== bytes.buffer) dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let k = 0; k < b.count; k++) {
        const o = (b.offs[k] as number) + 42;
        if ((b.lens[k] as number) < 62 || dv.getUint32(o) !== TEST_MAGIC) continue;
        const id = dv.getUint32(o + 4);
        const emit = dv.getFloat64(o + 12);
        const p = last.get(id);
        if (p && now - p.at > 1) gaps.push({ at: now, ms: now - p.at, emitMs: emit - p.emit, flow: id });
        if (p) {
          p.at = now;
          p.emit = emit;
        } else last.set(id, { at: now, emit });
      }
      observe(bytes, b, now);
    };
    const gcs: { start: number; ms: number; kind: number }[] = [];
    const obs = new PerformanceObserver((l) => {
      for (const e of l.getEntries()) gcs.push({ start: e.startTime, ms: e.duration, kind: (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0 });
    });
    obs.observe({ entryTypes: ['gc'] });
    const eld = monitorEventLoopDelay({ resolution: 1 });
    eld.enable();
    const t0 = performance.now();
    const s0 = [...main.read(), ...(worker ? worker.read() : [0, 0])];
    const windowMs = 3000;
    await sleep(windowMs);
    const s1 = [...main.read(), ...(worker ? worker.read() : [0, 0])];
    const t1 = performance.now();
    eld.disable();
    obs.disconnect();
    meter.observe = observe;
    main.close();
    worker?.close();
    // The sample at or before t (binary search over arrival batches).
    const idx = (t: number): number => {
      let lo = 0;
      let hi = samples.length / 5 - 1;
      while (lo < hi) {
        const m = (lo + hi + 1) >> 1;
        if ((samples[m * 5] as number) <= t) lo = m;
        else hi = m - 1;
      }
      return lo * 5;
    };
    const causes = new Map<string, { n: number; ms: number; worst: number }>();
    const inWindow = gaps.filter((g) => g.at >= t0 && g.at <= t1);
    const described: { at: number; ms: number; text: string }[] = [];
    for (const g of inWindow) {
      const i = idx(g.at - g.ms);
      const j = idx(g.at);
      const d = (k: number): number => (samples[j + k] as number) - (samples[i + k] as number);
      const mainWait = d(2);
      const workerWait = d(4);
      const gc = gcs.filter((x) => x.start < g.at && x.start + x.ms > g.at - g.ms).reduce((n, x) => n + x.ms, 0);
      const late = g.emitMs > g.ms / 2;
      let cause: string;
      if (gc > g.ms / 3) cause = 'GC pause in domain 0';
      else if (mainWait > g.ms / 3) cause = late ? 'source late: domain 0 preempted (run queue)' : 'path: domain 0 preempted (run queue)';
      else if (workerWait > g.ms / 3) cause = 'path: router worker preempted (run queue)';
      else if (late) cause = 'source late: domain 0 busy or asleep';
      else cause = 'path: other (wake-up, worker asleep)';
      const c = causes.get(cause) ?? { n: 0, ms: 0, worst: 0 };
      c.n++;
      c.ms += g.ms;
      c.worst = Math.max(c.worst, g.ms);
      causes.set(cause, c);
      if (g.ms > 2) described.push({ at: g.at, ms: g.ms, text: `${fmt(g.ms)} ms at +${fmt(g.at - t0)} ms (flow ${g.flow}, emission gap ${fmt(g.emitMs)} ms, run-queue wait dom0 ${fmt(mainWait)} / worker ${fmt(workerWait)} ms, GC ${fmt(gc)} ms) → ${cause}` });
    }
    const span = t1 - t0;
    const pct = (x: number): string => `${fmt((100 * x) / span)} %`;
    r.note(`anatomy (no migration, 100 kpps, ${sched}, ${fmt(span)} ms, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}): ${inWindow.length} flow gaps > 1 ms, longest ${fmt(Math.max(0, ...inWindow.map((g) => g.ms)))} ms`);
    r.note(`  domain 0 thread: CPU ${pct((s1[0] as number) - (s0[0] as number))}, runnable but waiting for a CPU ${pct((s1[1] as number) - (s0[1] as number))}; router worker: CPU ${pct((s1[2] as number) - (s0[2] as number))}, waiting ${pct((s1[3] as number) - (s0[3] as number))}`);
    r.note(`  event-loop delay p50 ${fmt(eld.percentile(50) / 1e6)} ms, p99 ${fmt(eld.percentile(99) / 1e6)} ms, max ${fmt(eld.max / 1e6)} ms; GC ${gcs.length} pauses (${gcs.filter((g) => g.kind !== 1).length} not scavenges), longest ${fmt(Math.max(0, ...gcs.map((g) => g.ms)))} ms`);
    for (const [k, v] of [...causes].sort((a, b) => b[1].ms - a[1].ms)) r.note(`  ${k}: ${v.n} gaps, ${fmt(v.ms)} ms in all, longest ${fmt(v.worst)} ms`);
    // The longest gaps, one per stall (a stall delays every flow at once).
    const shown: number[] = [];
    for (const d of described.sort((x, y) => y.ms - x.ms)) {
      if (shown.length >= 6 || shown.some((at) => Math.abs(at - d.at) < 5)) continue;
      shown.push(d.at);
      r.note(`  gap ${d.text}`);
    }
    const worst = inWindow.reduce((m, g) => (g.ms > m.ms ? g : m), { ms: 0, at: 0, emitMs: 0, flow: -1 });
    r.record({ name: `migration bed without migration (100 kpps, ${sched}): longest flow gap over 3 s`, value: worst.ms, unit: 'ms', target: null, better: 'lower' });
    r.record({ name: `migration bed without migration (${sched}): flow gaps > 1 ms in 3 s`, value: inWindow.length, unit: 'gaps', target: null, better: 'lower' });
    r.record({ name: `migration bed without migration (${sched}): share of flow-gap time > 1 ms with a thread waiting for a CPU or in GC`, value: inWindow.length ? (100 * [...causes].filter(([k]) => k.includes('run queue') || k.includes('GC')).reduce((n, [, v]) => n + v.ms, 0)) / inWindow.reduce((n, g) => n + g.ms, 0) : 0, unit: '%', target: null, better: 'higher' });
  } finally {
    await bed.finish();
    await bed.close();
  }
}
