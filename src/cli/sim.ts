/**
 * `swnet sim`: replays utilisation traces through the policies of src/policy/ and prints energy,
 * SLA and migration figures, side by side with CloudSim 3.0.3's where the day is known.
 *
 *   swnet sim --trace 20110303 --policy lr-mmt-1.2
 *   swnet sim --trace ../shared/data/planetlab/20110306.csv --compare thr-mmt-0.8,lr-mmt-1.2,urbanizer --report out.html
 *   swnet sim --trace 20110309 --policy urbanizer --json
 */
import type { Command } from 'commander';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { defaultTraceDir, loadTrace, type Trace } from '../sim/trace.js';
import { planetLabScenario, scaledScenario, type Scenario } from '../sim/scenario.js';
import { simulate, type SimResult } from '../sim/engine.js';
import { decider } from '../sim/deciders.js';
import { compareToReference } from '../sim/reference-check.js';
import { REFERENCE } from '../sim/reference.js';
import { htmlReport } from '../sim/report.js';
import { DEFAULT_URBANIZER, type UrbanizerConfig } from '../policy/urbanizer.js';

interface SimOpts {
  trace?: string;
  policy: string;
  compare?: string;
  json?: boolean;
  report?: string;
  hosts?: string;
  seed?: string;
  urbanizer?: string;
  scale?: string;
  progress?: boolean;
}

/** Accepts a path or a day name (20110303) found in <repo>/../shared/data/planetlab. */
export function resolveTrace(arg: string): string {
  if (existsSync(arg)) return arg;
  const inDefault = join(defaultTraceDir(), arg.endsWith('.csv') ? arg : `${arg}.csv`);
  if (existsSync(inDefault)) return inDefault;
  const days = existsSync(defaultTraceDir()) ? readdirSync(defaultTraceDir()).filter((f) => f.endsWith('.csv')).map((f) => f.replace(/\.csv$/, '')) : [];
  throw new Error(`no trace '${arg}' (not a file, nor a day in ${defaultTraceDir()}${days.length ? `: ${days.join(', ')}` : ''})`);
}

function loadUrbanizerConfig(path: string): UrbanizerConfig {
  const text = readFileSync(path, 'utf8');
  const raw = (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Partial<UrbanizerConfig> | null;
  const known = new Set(Object.keys(DEFAULT_URBANIZER));
  for (const k of Object.keys(raw ?? {})) if (!known.has(k)) throw new Error(`${path}: unknown urbanizer key '${k}' (known: ${[...known].join(', ')})`);
  return { ...DEFAULT_URBANIZER, ...(raw ?? {}), weights: { ...DEFAULT_URBANIZER.weights, ...(raw?.weights ?? {}) } };
}

function progressBar(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = -1;
  return (done, total) => {
    const pct = Math.floor((done / total) * 100);
    if (pct === last) return;
    last = pct;
    const w = 30;
    const fill = Math.round((done / total) * w);
    process.stderr.write(`\r${label.padEnd(14)} [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${String(pct).padStart(3)}%`);
    if (done === total) process.stderr.write('\r\x1b[K');
  };
}

function table(day: string, results: readonly SimResult[]): string {
  const head = ['policy', 'energy kWh', 'migrations', 'SLATAH %', 'PDM', 'SLAV', 'ESV', 'wall s', 'CloudSim 3.0.3 (kWh / migr. / SLAV)'];
  const rows = results.map((r) => {
    const ref = REFERENCE[day];
    const f = ref?.policies[r.policy];
    const refText = f ? `${f.energyKWh} / ${f.migrations} / ${f.slav.toExponential(2)}${compareToReference(day, r).ok ? '  (within tolerance)' : '  (OUTSIDE tolerance)'}` : r.policy === 'dvfs' && ref ? `${ref.dvfs}` : r.policy === 'npa' && ref ? '2410.80' : '';
    return [r.policy, r.energyKWh.toFixed(2), String(r.migrations), (r.slatah * 100).toFixed(2), r.pdm.toExponential(2), r.slav.toExponential(2), r.esv.toExponential(2), (r.wallMs / 1000).toFixed(2), refText];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** Runs the command; returns the process exit code. */
export function runSim(o: SimOpts): number {
  let trace: Trace;
  let day: string;
  try {
    if (o.trace === undefined) throw new Error('--trace FILE.csv (or a day name such as 20110303) is required');
    const file = resolveTrace(o.trace);
    trace = loadTrace(file);
    day = basename(file).replace(/\.csv$/, '');
  } catch (e) {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const policies = (o.compare ?? o.policy).split(',').map((p) => p.trim()).filter((p) => p !== '');
  let sc: Scenario;
  let urbanizer: UrbanizerConfig | undefined;
  try {
    if (o.scale !== undefined) {
      const m = /^(\d+):(\d+)$/.exec(o.scale);
      if (!m) throw new Error('--scale wants VMS:HOSTS, e.g. 100000:80000');
      sc = scaledScenario([trace], Number(m[1]), Number(m[2]), Number(o.seed ?? 1));
      day = `${day} scaled`;
    } else {
      sc = planetLabScenario(trace, o.hosts !== undefined ? Number(o.hosts) : 800);
    }
    if (o.urbanizer !== undefined) urbanizer = loadUrbanizerConfig(o.urbanizer);
    for (const p of policies) decider(p); // reject bad names before running anything
  } catch (e) {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const results: SimResult[] = [];
  for (const p of policies) {
    const d = decider(p, { seed: Number(o.seed ?? 1), ...(urbanizer ? { urbanizer } : {}) });
    const progress = o.progress === false ? undefined : progressBar(p);
    results.push(simulate(sc, d, progress ? { progress } : {}));
  }
  if (o.json) {
    const out = results.map((r) => ({ ...r, day, reference: REFERENCE[day]?.policies[r.policy] ?? null, withinTolerance: REFERENCE[day]?.policies[r.policy] ? compareToReference(day, r).ok : null, timeline: undefined }));
    process.stdout.write(`${JSON.stringify(out.length === 1 ? out[0] : out, null, 2)}\n`);
  } else {
    process.stdout.write(`${sc.name}: ${sc.hosts.length} hosts, ${sc.vms.length} VMs\n${table(day, results)}\n`);
  }
  if (o.report !== undefined) {
    writeFileSync(o.report, htmlReport(day, results));
    if (!o.json) process.stdout.write(`report written to ${o.report}\n`);
  }
  return 0;
}

/** Registers `swnet sim`. */
export function register(program: Command): void {
  program
    .command('sim')
    .description('simulate a datacenter over utilisation traces (PlanetLab) under consolidation policies')
    .option('--trace <file|day>', 'trace CSV, or a day name found in <repo>/../shared/data/planetlab')
    .option('--policy <name>', 'npa, dvfs, urbanizer, or DETECTOR-SELECTION-PARAM: thr|iqr|mad|lr|lrr - mmt|mc|rs - number', 'lr-mmt-1.2')
    .option('--compare <names>', 'several policies, comma-separated, on the same trace')
    .option('--json', 'print the figures as JSON')
    .option('--report <out.html>', 'write a self-contained HTML report with SVG plots')
    .option('--hosts <n>', 'number of hosts (default 800, as in CloudSim)')
    .option('--scale <vms:hosts>', 'resample the trace into a larger datacenter, e.g. 100000:80000')
    .option('--seed <n>', 'seed for RS and resampling', '1')
    .option('--urbanizer <file>', 'urbanizer configuration (JSON or YAML: weights, thresholds)')
    .option('--no-progress', 'no progress bar on stderr')
    .action((o: SimOpts) => {
      process.exitCode = runSim(o);
    });
}
