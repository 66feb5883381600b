/**
 * Child process for bench/sim.ts: runs one simulation and prints its figures and this process's
 * peak memory as JSON, so that memory is measured for the simulation alone.
 *   node dist/bench/sim-worker.js day 20110303 lr-mmt-1.2 [repeats]
 *   node dist/bench/sim-worker.js scale 100000 80000 lr-mmt-1.2
 */
import { join } from 'node:path';
import { defaultTraceDir, loadTrace } from '../src/sim/trace.js';
import { planetLabScenario, scaledScenario, type Scenario } from '../src/sim/scenario.js';
import { simulate, type SimResult } from '../src/sim/engine.js';
import { decider } from '../src/sim/deciders.js';

const [mode, a, b, policy = 'lr-mmt-1.2', rep = '1'] = process.argv.slice(2);
let heapPeak = 0;
const sample = (): void => { heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed); };
const timer = setInterval(sample, 5);
timer.unref();

let sc: Scenario;
const t0 = performance.now();
if (mode === 'day') {
  sc = planetLabScenario(loadTrace(join(defaultTraceDir(), `${a}.csv`)));
} else {
  const traces = ['20110303', '20110306', '20110309'].map((d) => loadTrace(join(defaultTraceDir(), `${d}.csv`)));
  sc = scaledScenario(traces, Number(a), Number(b), 1);
}
const buildMs = performance.now() - t0;
let best: SimResult | undefined;
const walls: number[] = [];
const cpus: number[] = [];
for (let i = 0; i < Number(rep); i++) {
  const c0 = process.cpuUsage();
  const r = simulate(sc, decider(policy), { timeline: false, progress: sample });
  const c = process.cpuUsage(c0);
  walls.push(r.wallMs);
  cpus.push((c.user + c.system) / 1000);
  best = r;
}
sample();
walls.sort((x, y) => x - y);
cpus.sort((x, y) => x - y);
const r = best!;
process.stdout.write(JSON.stringify({
  policy, hosts: r.hosts, vms: r.vms, energyKWh: r.energyKWh, migrations: r.migrations, slav: r.slav, esv: r.esv,
  buildMs, wallMs: walls[Math.floor(walls.length / 2)], wallMinMs: walls[0], cpuMs: cpus[Math.floor(cpus.length / 2)],
  maxRssMB: process.resourceUsage().maxRSS / 1024, heapPeakMB: heapPeak / 2 ** 20,
}) + '\n');
