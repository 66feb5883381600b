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
 *
 * Replicas spread over servers: bench/migration-spread.ts (run at the end).
 *
 * And vertical elasticity: a compressed day (4 s) of a network that peaks at 18 kpps beside a
 * constant 14 kpps one on a 30 kpps server, with the autoscaler (src/cli/agent-autoscale.ts,
 * limits 2…40 tokens) and without (both at 10 tokens, the baseline): the day network's p99 sojourn
 * at the scheduler and frames dropped (target 0 across the allocation changes).
 */
import type { Reporter } from './report.js';
import { fmt } from './report.js';
import { partitionBed } from '../src/host/partition-bed.js';
import type { ResizeRecord } from '../src/host/partition.js';
import type { Emit } from '../src/functions/contract.js';
import { HostServer } from '../src/host/hostserver.js';
import { routedNetwork } from '../src/host/migration-bed.js';
import { AgentAutoscaler } from '../src/cli/agent-autoscale.js';
import { natFactory } from '../src/functions/nat.js';
import { Batch, PacketPool } from '../src/packet/pool.js';
import { tcpFrame } from '../src/packet/frames.js';
import { runSpread, throughput } from './migration-spread.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A compressed day of the 'day' network beside a constant one; with or without the autoscaler. */
async function day(autoscaled: boolean): Promise<{ p99Ms: number; bgP99Ms: number; dropped: number; changes: number; min: number; max: number; lost: number }> {
  const h = new HostServer({ name: 'as-bench', slots: 65536, slotSize: 512, capacity: { capacity: 30_000, unit: 'packets' }, domain: { watchdogMs: 5000, ringCapacity: 32768 } });
  h.addNetwork('day', { allocation: 10 });
  h.addNetwork('bg', { allocation: 10 });
  const periodMs = 4000;
  const dayNet = await routedNetwork(h, 'day');
  const d = { sink: dayNet.sink, source: dayNet.source(18_000, { periodMs, min: 0.05, max: 1, originMs: performance.timeOrigin + performance.now() }) };
  (await routedNetwork(h, 'bg')).source(14_000);
  const scaler = new AgentAutoscaler({ host: h, limits: (n) => (n === 'day' ? { minTokens: 2, maxTokens: 40, targetUtilization: 0.7 } : undefined), options: { downWindows: 3 } });
  const allocs: number[] = [];
  try {
    h.start();
    const end = performance.now() + periodMs;
    while (performance.now() < end) {
      await sleep(100);
      if (autoscaled) await scaler.tick();
      allocs.push(h.stats()?.networks.find((n) => n.net === 'day')?.share.nextAllocation ?? NaN);
    }
    h.endpointsTicking = false;
    await sleep(1500);
  } finally {
    await h.close();
  }
  const st = h.stats()?.networks.find((n) => n.net === 'day');
  const bg = h.stats()?.networks.find((n) => n.net === 'bg');
  const sent = ((d.source.counters()['flows'] ?? []) as readonly { packets: number }[]).reduce((n, f) => n + f.packets, 0);
  const got = d.sink.report().reduce((n, f) => n + f.received, 0);
  return { p99Ms: (st?.p99 ?? NaN) * 1000, bgP99Ms: (bg?.p99 ?? NaN) * 1000, dropped: st?.dropped ?? NaN, changes: scaler.changes.length, min: Math.min(...allocs), max: Math.max(...allocs), lost: sent - got };
}

/**
 * New flows per second through a NAT (5000 SYNs to 1024 remotes, fresh NAT each pass, best of 3):
 * a partitioned NAT hashes ≈ 257 candidate ports per new flow to keep the flow's bucket.
 */
function natSetup(partitioned: boolean): number {
  const frames = Array.from({ length: 5000 }, (_, i) => tcpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: `10.0.${(i >> 8) & 255}.${i & 255}`, dst: `198.51.${(i >> 8) & 3}.${i & 255}`, srcPort: 1024 + i, dstPort: 443, flags: 2 }));
  const pool = new PacketPool({ slots: 512 });
  const out: Emit = { send: (_p, s) => pool.release(s), drop: (s) => pool.release(s) };
  const b = new Batch();
  let best = 0;
  for (let pass = 0; pass < 3; pass++) {
    const nat = natFactory.create({ snat: { addresses: ['203.0.113.1'] }, partitioned });
    const t0 = performance.now();
    for (let i = 0; i < frames.length; i += 256) {
      b.clear();
      for (const f of frames.slice(i, i + 256)) pool.load(f, b);
      nat.process(0, b, { pool, out, now: 0 });
    }
    best = Math.max(best, frames.length / ((performance.now() - t0) / 1000));
  }
  return best;
}

/** Runs the elasticity figures. */
export async function runElastic(r: Reporter): Promise<void> {
  // The autoscaled run first: the baseline runs on a warmer JIT (conservative for the ratio).
  const auto = await day(true);
  const fixed = await day(false);
  r.note(`autoscaled day: ${auto.changes} allocation changes, tokens ${auto.min}…${auto.max}; fixed: 10 tokens, day network p99 ${fmt(fixed.p99Ms)} ms, ${fixed.dropped} dropped; the constant network's p99 ${fmt(auto.bgP99Ms)} ms autoscaled, ${fmt(fixed.bgP99Ms)} ms fixed`);
  r.record({ name: 'autoscaled network over a compressed day: sojourn p99 at the scheduler', value: auto.p99Ms, unit: 'ms', target: null, better: 'lower', baseline: fixed.p99Ms });
  r.record({ name: 'autoscaled network over a compressed day: frames lost across allocation changes', value: auto.dropped + auto.lost, unit: 'frames', target: 0, better: 'lower' });
  r.record({ name: 'partitioned NAT: new flows per second (ports that keep the bucket)', value: natSetup(true), unit: 'flows/s', target: null, better: 'higher', baseline: natSetup(false) });

  const runs = new Map<number, { wall: number; cpu: number }>();
  for (const n of [1, 2, 4]) runs.set(n, await throughput({ replicas: n }, 2000));
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

  // The same partition with its instances on several servers (VXLAN between them).
  await runSpread(r);
}
