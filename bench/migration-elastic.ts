/**
 * Horizontal elasticity figures (issue 7, "Elasticity"): a stateful firewall partitioned across
 * 1, 2 and 4 instances (user domains) behind domain 0's flow-key spreader (src/host/partition.ts).
 *
 * - Throughput: a closed loop of 4096 frames over 1024 UDP flows (each frame crosses the firewall
 *   out by LAN, is turned around by a reflector and crosses it back as a reply, then goes out
 *   again), so the instances run flat out; frames through the firewall per second of wall time and
 *   per CPU-second of the whole process (domain 0 and every domain thread), each beside the single
 *   instance as baseline. On a machine with fewer free cores than instances the wall rate cannot
 *   scale; the per-CPU-second rate shows what partitioning costs (spreading, more threads).
 * - Re-partition 2 → 3 → 4 → 2 under load: frames lost (target 0) counted two ways — numbered
 *   flows at 20 kpps checked per flow by the sink (lost, duplicated, reordered), and the closed
 *   loop's population after the resizes — plus the buckets moved and how long the moving
 *   buckets' frames were held.
 */
import type { Reporter } from './report.js';
import { fmt } from './report.js';
import { partitionBed } from '../src/host/partition-bed.js';
import type { ResizeRecord } from '../src/host/partition.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function throughput(replicas: number, ms: number): Promise<{ wall: number; cpu: number }> {
  const bed = await partitionBed({ replicas });
  try {
    bed.circulate(4096, 1024);
    await sleep(300);
    const r0 = bed.returned;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(ms);
    const frames = 2 * (bed.returned - r0);
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    await bed.stopCirculating();
    return { wall: frames / wall, cpu: frames / ((c.user + c.system) / 1e6) };
  } finally {
    await bed.close();
  }
}

/** Runs the horizontal-elasticity figures. */
export async function runElastic(r: Reporter): Promise<void> {
  const runs = new Map<number, { wall: number; cpu: number }>();
  for (const n of [1, 2, 4]) runs.set(n, await throughput(n, 2000));
  const base = runs.get(1) as { wall: number; cpu: number };
  for (const [n, t] of runs) {
    r.record({ name: `partitioned firewall, ${n} instance${n > 1 ? 's' : ''}: throughput`, value: t.wall, unit: 'frames/s', target: null, better: 'higher', ...(n > 1 ? { baseline: base.wall } : {}) });
    r.record({ name: `partitioned firewall, ${n} instance${n > 1 ? 's' : ''}: throughput per CPU-second`, value: t.cpu, unit: 'frames/cpu-s', target: null, better: 'higher', ...(n > 1 ? { baseline: base.cpu } : {}) });
  }

  // Re-partitions under numbered flows at a real-time rate.
  const recs: ResizeRecord[] = [];
  const bed = await partitionBed({ replicas: 2 });
  let res: Awaited<ReturnType<typeof bed.finish>>;
  try {
    bed.startSource({ kpps: 20, flows: 256 });
    await sleep(500);
    for (const n of [3, 4, 2]) {
      recs.push(await bed.partition.resize(n));
      await sleep(300);
    }
    res = await bed.finish();
  } finally {
    await bed.close();
  }
  for (const x of recs) r.note(`re-partition ${x.from} → ${x.to} at 20 kpps: ${x.moved} of 257 buckets moved (≈ ${fmt((257 * Math.abs(x.to - x.from)) / Math.max(x.from, x.to))} expected), ${x.flows} connections handed over, ${x.held} frames held for ${fmt(x.holdMs)} ms, total ${fmt(x.totalMs)} ms`);
  r.note(`numbered flows across the re-partitions: sent ${res.sent}, received ${res.received}, duplicates ${res.duplicates}, reordered ${res.reordered}`);
  r.record({ name: 're-partition 2→3→4→2 at 20 kpps: frames lost', value: res.lost, unit: 'frames', target: 0, better: 'lower' });
  r.record({ name: 're-partition 2→3→4→2 at 20 kpps: frames reordered', value: res.reordered, unit: 'frames', target: 0, better: 'lower' });
  const holds = recs.map((x) => x.holdMs).sort((a, b) => a - b);
  r.record({ name: 're-partition: moving buckets held (median of 3)', value: holds[1] ?? NaN, unit: 'ms', target: null, better: 'lower' });

  // Re-partitions under the closed loop (flat out): the population must survive.
  const loop = await partitionBed({ replicas: 2 });
  let population = 0;
  const loopRecs: ResizeRecord[] = [];
  try {
    loop.circulate(4096, 1024);
    await sleep(300);
    for (const n of [3, 4, 2]) {
      loopRecs.push(await loop.partition.resize(n));
      await sleep(200);
    }
    population = await loop.stopCirculating();
  } finally {
    await loop.close();
  }
  for (const x of loopRecs) r.note(`re-partition ${x.from} → ${x.to} flat out: ${x.moved} buckets, ${x.flows} connections, ${x.held} frames held for ${fmt(x.holdMs)} ms`);
  r.record({ name: 're-partition 2→3→4→2 flat out: frames lost of 4096 circulating', value: 4096 - population, unit: 'frames', target: 0, better: 'lower' });
}
