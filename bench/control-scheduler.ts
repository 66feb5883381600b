/**
 * Scheduler and SDN routing benchmarks (called from bench/control.ts):
 * - 10,000 functions onto 1,000 servers, beside a naive loop that filters and scores every
 *   server for every function (what a scheduler without indexes or sampling does);
 * - the 200-router line: routes computed, pushed into 200 router instances, and datagrams from
 *   every router's host to every other router's host forwarded end to end (IPv4, one direction
 *   per pair; 39,800 datagrams).
 */
import { Cluster, type FunctionRequest, type ServerInput } from '../src/control/scheduler/cluster.js';
import { DEFAULT_FILTERS, balanceScore, energyScore } from '../src/control/scheduler/plugins.js';
import { Scheduler } from '../src/control/scheduler/scheduler.js';
import { computeRoutes } from '../src/control/routing.js';
import { lanOf, lineNetwork, Wire } from '../src/control/routing-lab.js';
import { Router, routerFactory } from '../src/functions/router.js';
import { udpFrame } from '../src/packet/frames.js';
import { HP_ML110_G4, HP_ML110_G5 } from '../src/policy/power.js';
import { seededRandom } from '../src/policy/rng.js';
import type { Reporter } from './report.js';

const GI = 2 ** 30;
const TIERS = ['central', 'regional', 'local', 'edge'];

function makeCluster(): Cluster {
  const servers: ServerInput[] = [];
  for (let i = 0; i < 1000; i++) {
    const dc = i % 40;
    servers.push({ name: `s${i}`, datacenter: `dc${dc}`, tier: TIERS[dc % 4] as string, cpu: 32, memory: 128 * GI, bandwidth: 10e9, power: i % 2 ? HP_ML110_G4 : HP_ML110_G5 });
  }
  const links = Array.from({ length: 39 }, (_, d) => ({ endpoints: [`dc${d}`, `dc${d + 1}`] as const, latencyMs: 1 + (d % 5) }));
  return new Cluster(servers, links);
}

/** 2,000 networks of 5 functions: a quarter tier-constrained, every one with an anti-affinity pair. */
function makeGangs(): FunctionRequest[][] {
  const rnd = seededRandom(7);
  const out: FunctionRequest[][] = [];
  for (let n = 0; n < 2000; n++) {
    const tiers = n % 4 === 0 ? { tiers: new Set([TIERS[n % 3] as string, 'edge']) } : {};
    const gang: FunctionRequest[] = [];
    for (let f = 0; f < 5; f++) {
      gang.push({
        id: `ns/n${n}/f${f}`,
        cpu: 0.5 + Math.floor(rnd() * 4) * 0.5,
        memory: (1 + Math.floor(rnd() * 4)) * GI,
        bandwidth: 1e8,
        ...tiers,
        ...(f < 2 ? { antiAffinity: [`ns/n${n}#aa`] } : {}),
      });
    }
    out.push(gang);
  }
  return out;
}

/** Every server through every filter and every score, no index, no sampling. */
function naive(c: Cluster, gangs: readonly FunctionRequest[][], limit: number): number {
  const scores = [energyScore, balanceScore('least')];
  let n = 0;
  const t0 = performance.now();
  for (const g of gangs) {
    for (const req of g) {
      let best = -1;
      let bestScore = -Infinity;
      for (let s = 0; s < c.size; s++) {
        if (!DEFAULT_FILTERS.every((f) => f.filter(req, s, c))) continue;
        const sc = scores.reduce((a, p) => a + p.score(req, s, c), 0);
        if (sc > bestScore) {
          bestScore = sc;
          best = s;
        }
      }
      if (best >= 0) c.assume(req, best);
      n++;
    }
    if (n >= limit) break;
  }
  return (n * 1000) / (performance.now() - t0);
}

function scheduling(r: Reporter): void {
  const gangs = makeGangs();
  const base = naive(makeCluster(), gangs, 2000);
  // Warm the JIT on a throwaway cluster, then time the real run.
  const warm = new Scheduler(makeCluster());
  for (const g of gangs.slice(0, 200)) warm.scheduleGang(g);
  const c = makeCluster();
  const sched = new Scheduler(c);
  let placed = 0;
  let failed = 0;
  const t0 = performance.now();
  for (const g of gangs) {
    const res = sched.scheduleGang(g);
    if (res.ok) placed += g.length;
    else failed += g.length;
  }
  const ms = performance.now() - t0;
  r.note(`scheduled ${placed} functions (${failed} unschedulable) in ${ms.toFixed(0)} ms as 2,000 gangs of 5`);
  r.record({ name: 'schedule 10k functions on 1k servers', value: ((placed + failed) * 1000) / ms, unit: 'functions/s', target: 10000, better: 'higher', baseline: base });
}

function line(r: Reporter, aggregate = false): void {
  const n = 200;
  const spec = lineNetwork(n, { latency: '100us' });
  const tc = performance.now();
  const routers = spec.functions.map((f) => routerFactory.create(f.config) as Router);
  r.note(`200 router instances created in ${(performance.now() - tc).toFixed(0)} ms (not in the figure: each allocates a 64 MiB DIR-24-8 table)`);
  const got = new Uint32Array(n);
  const wire = new Wire(routers, (fn) => {
    got[fn] = (got[fn] as number) + 1;
  }, 8192);
  const port = (i: number, name: string): number => (routers[i] as Router).ports.findIndex((p) => p.name === name);
  for (let i = 0; i + 1 < n; i++) wire.connect(i, port(i, 'right'), i + 1, port(i + 1, 'left'));
  const frame = (from: number, to: number): Uint8Array => {
    const s = lanOf(from);
    return udpFrame({ srcMac: s.hostMac, dstMac: s.routerMac, src: s.host4, dst: lanOf(to).host4, srcPort: 1000, dstPort: 2000, ttl: 255, payload: new Uint8Array(18) });
  };
  // Frames prebuilt: the hosts' own work is not the control plane's.
  const frames = Array.from({ length: n }, (_, i) => Array.from({ length: n - 1 }, (_, k) => frame(i, k < i ? k : k + 1)));
  const t0 = performance.now();
  const res = computeRoutes(spec, { aggregate });
  const t1 = performance.now();
  for (let i = 0; i < n; i++) routers[i]?.setRoutes(res.routes.get(`r${i}`) ?? []);
  const t2 = performance.now();
  // First datagrams both ways resolve every router's next hops by ARP (what a first ping does).
  wire.inject(0, 0, [frame(0, n - 1)]);
  wire.run();
  wire.inject(n - 1, 0, [frame(n - 1, 0)]);
  wire.run();
  got.fill(0);
  for (let i = 0; i < n; i++) {
    wire.inject(i, 0, frames[i] as Uint8Array[]);
    wire.run();
  }
  const t3 = performance.now();
  const delivered = got.reduce((a, b) => a + b, 0);
  const all = got.every((x) => x === n - 1);
  r.note(`200-router line${aggregate ? ' (FIBs aggregated, as the agents push them)' : ''}: compute ${(t1 - t0).toFixed(0)} ms, push ${(t2 - t1).toFixed(0)} ms, ${delivered}/${n * (n - 1)} datagrams delivered (${wire.hops} router-to-router hops) in ${(t3 - t2).toFixed(0)} ms${all ? '' : ' — NOT ALL PAIRS REACHED'}`);
  if (aggregate) {
    r.record({ name: '200-router line, FIBs aggregated: routes computed and pushed, ends reach each other', value: all ? (t3 - t0) / 1000 : Infinity, unit: 's', target: null, better: 'lower' });
    return;
  }
  r.record({ name: '200-router line: routes computed and pushed, ends reach each other', value: all ? (t3 - t0) / 1000 : Infinity, unit: 's', target: 2, better: 'lower' });
  r.note('for comparison (from the issue, not measured here): Mininet needs about 60 s to bring up a 200-switch line');
}

export async function run(r: Reporter): Promise<void> {
  scheduling(r);
  line(r);
  line(r, true);
  await Promise.resolve();
}
