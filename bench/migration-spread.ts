/**
 * Horizontal elasticity across servers (src/host/spread.ts): a stateful firewall partitioned over
 * two instances on ONE server (both user domains behind the spreader) beside the same two
 * instances spread over TWO servers (instance 1 reached over real VXLAN/UDP on 127.0.0.1, each
 * server its own domain 0 and pump, all in this process).
 *
 * - Throughput: the closed loop of partition-bed (4096 frames over 1024 flows, each frame crossing
 *   the firewall out and back), frames per second of wall time and per CPU-second of the process
 *   (every server's domain 0 and every domain thread), spread beside one server as baseline: what
 *   encapsulation, the UDP socket and a second domain 0 cost per frame.
 * - Re-partition across servers 2 → 3 → 1 → 2 (instance k on server k mod 3) under numbered flows
 *   at 10 kpps: frames lost and reordered (target 0), buckets moved, frames held; and under the
 *   closed loop: frames lost of the circulating population (target 0).
 *
 * @example
 * await runSpread(new Reporter('migration'));
 */
import type { Reporter } from './report.js';
import { fmt } from './report.js';
import { partitionBed, type PartitionBedInit } from '../src/host/partition-bed.js';
import type { ResizeRecord } from '../src/host/partition.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Closed-loop throughput of a partition bed (4096 frames of 1 KiB circulating, each crossing the
 * function twice), per wall second and per CPU second of this process, over `ms` after a 300 ms warm-up.
 */
export async function throughput(init: PartitionBedInit, ms: number): Promise<{ wall: number; cpu: number }> {
  const bed = await partitionBed(init);
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

/** Runs the figures of replicas spread over servers. */
export async function runSpread(r: Reporter): Promise<void> {
  const one = await throughput({ replicas: 2 }, 2000);
  const two = await throughput({ replicas: 2, spread: 1 }, 2000);
  r.record({ name: 'partitioned firewall, 2 instances on 2 servers (VXLAN): throughput', value: two.wall, unit: 'frames/s', target: null, better: 'higher', baseline: one.wall });
  r.record({ name: 'partitioned firewall, 2 instances on 2 servers (VXLAN): throughput per CPU-second', value: two.cpu, unit: 'frames/cpu-s', target: null, better: 'higher', baseline: one.cpu });

  const recs: ResizeRecord[] = [];
  const bed = await partitionBed({ replicas: 2, spread: 2 });
  let res: Awaited<ReturnType<typeof bed.finish>>;
  try {
    bed.startSource({ kpps: 10, flows: 256 });
    await sleep(500);
    for (const n of [3, 1, 2]) {
      recs.push(await bed.spreadResize(n));
      await sleep(300);
    }
    res = await bed.finish();
  } finally {
    await bed.close();
  }
  for (const x of recs) r.note(`re-partition across servers ${x.from} → ${x.to} at 10 kpps: ${x.moved} of 257 buckets moved, ${x.flows} connections handed over (through the state store), ${x.held} frames held for ${fmt(x.holdMs)} ms, total ${fmt(x.totalMs)} ms`);
  r.note(`numbered flows across the re-partitions between servers: sent ${res.sent}, received ${res.received}, duplicates ${res.duplicates}, reordered ${res.reordered}`);
  r.record({ name: 're-partition across 3 servers 2→3→1→2 at 10 kpps: frames lost', value: res.lost, unit: 'frames', target: 0, better: 'lower' });
  r.record({ name: 're-partition across 3 servers 2→3→1→2 at 10 kpps: frames reordered', value: res.reordered, unit: 'frames', target: 0, better: 'lower' });
  const holds = recs.map((x) => x.holdMs).sort((a, b) => a - b);
  r.record({ name: 're-partition across servers: moving buckets held (median of 3)', value: holds[1] ?? NaN, unit: 'ms', target: null, better: 'lower' });

  const loop = await partitionBed({ replicas: 2, spread: 2 });
  let population = 0;
  const loopRecs: ResizeRecord[] = [];
  try {
    loop.circulate(4096, 1024);
    await sleep(300);
    for (const n of [3, 1, 2]) {
      loopRecs.push(await loop.spreadResize(n));
      await sleep(200);
    }
    population = await loop.stopCirculating();
  } finally {
    await loop.close();
  }
  for (const x of loopRecs) r.note(`re-partition across servers ${x.from} → ${x.to} flat out: ${x.moved} buckets, ${x.flows} connections, ${x.held} frames held for ${fmt(x.holdMs)} ms`);
  r.record({ name: 're-partition across 3 servers 2→3→1→2 flat out: frames lost of 4096 circulating', value: 4096 - population, unit: 'frames', target: 0, better: 'lower' });
}
