/**
 * The 200-router line through the real path (src/cli/line-lab.ts): apply → controllers → two
 * in-process server agents → every pair of hosts reached over the routers' domains.
 */
import { LineTimeoutError, lineThroughAgents } from '../src/cli/line-lab.js';
import type { Reporter } from './report.js';

/** Records the figure beside `baseline` (seconds: the same line with the same aggregated routes pushed into router instances in one thread, no control plane). */
export async function run(r: Reporter, baseline?: number): Promise<void> {
  let m;
  try {
    m = await lineThroughAgents(200, 2, 90_000);
  } catch (e) {
    if (!(e instanceof LineTimeoutError)) throw e;
    r.note(`200-router line through apply → controllers → 2 agents: ${e.message}`);
    r.record({ name: '200-router line through apply, controllers and server agents: every pair of hosts reached', value: Infinity, unit: 's', target: 2, better: 'lower', ...(baseline !== undefined ? { baseline } : {}) });
    return;
  }
  r.note(
    `200-router line through apply → controllers → 2 agents: placed ${m.placedMs.toFixed(0)} ms, first datagram end to end both ways ${m.firstMs.toFixed(0)} ms, all ${m.delivered}/${m.pairs} pairs ${m.allMs.toFixed(0)} ms (routers per server: ${Object.entries(m.spread).map(([s, k]) => `${s} ${k}`).join(', ')})`,
  );
  r.record({ name: '200-router line through apply, controllers and server agents: every pair of hosts reached', value: m.allMs / 1000, unit: 's', target: 2, better: 'lower', ...(baseline !== undefined ? { baseline } : {}) });
  // Where the time went: consecutive phases from the apply call (they sum to the figure above).
  const what: Record<keyof typeof m.phases, string> = {
    parse: 'manifest parsed and validated',
    store: 'apply transaction',
    schedule: 'controllers placed every router',
    agents: 'agents: routes, plan, routers built in their domains',
    start: 'first datagram across the line both ways',
    traffic: 'every pair reached',
  };
  for (const [k, v] of Object.entries(m.phases) as [keyof typeof m.phases, number][]) r.record({ name: `200-router line phase: ${k} (${what[k]})`, value: v / 1000, unit: 's', target: null, better: 'lower' });
}

if (process.argv[2] === '--try') {
  const t = performance.now();
  const log = process.env['LOG'] ? (l: string): void => console.log(`${(performance.now() - t).toFixed(0)} ms ${l}`) : undefined;
  const cpu = process.env['CPU_PER_ROUTER'];
  const m = await lineThroughAgents(Number(process.argv[3] ?? 200), Number(process.argv[4] ?? 2), 600_000, { ...(log ? { log } : {}), ...(cpu ? { cpuPerRouter: cpu } : {}) });
  console.log(JSON.stringify(m));
  process.exit(0);
}
