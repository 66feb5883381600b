/**
 * `swnet sim`: replays utilisation traces through the policies of src/policy/ and prints energy,
 * SLA and migration figures, side by side with CloudSim 3.0.3's where the day is known.
 *
 *   swnet sim --trace 20110303 --policy lr-mmt-1.2
 *   swnet sim --trace ../shared/data/planetlab/20110306.csv --compare thr-mmt-0.8,lr-mmt-1.2,urbanizer --report out.html
 *   swnet sim --trace 20110309 --policy urbanizer --json
 *   swnet sim --infra infra/ --trace 20110303 --replicate 100 --compare lr-mmt-1.2,urbanizer
 */
import type { Command } from 'commander';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { defaultTraceDir, loadTrace, type Trace } from '../sim/trace.js';
import { planetLabScenario, scaledScenario, type Scenario, type SimGroup, type SimHostSpec } from '../sim/scenario.js';
import { simulate, type GroupResult, type SimResult } from '../sim/engine.js';
import { decider } from '../sim/deciders.js';
import { compareToReference } from '../sim/reference-check.js';
import { REFERENCE } from '../sim/reference.js';
import { htmlReport } from '../sim/report.js';
import { DEFAULT_URBANIZER, type UrbanizerConfig } from '../policy/urbanizer.js';
import { HP_ML110_G5, powerModel } from '../policy/power.js';
import { checkReferences, loadManifests, ManifestError, type LoadedResource } from '../control/manifest/load.js';
import { parseBytes, parseCpu, parseRate } from '../control/manifest/quantity.js';

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
  infra?: string[];
  replicate?: string;
  coreMips?: string;
}

/** Label on a Server giving the MIPS of one of its cores (manifests count cores, not MIPS). */
export const CORE_MIPS_LABEL = 'sim.swnet.io/core-mips';

export interface InfraOptions {
  /** Each Server becomes this many identical hosts (default 1). */
  readonly replicate?: number;
  /** MIPS of a core where the Server has no CORE_MIPS_LABEL (default 2660, an HP ML110 G5 core). */
  readonly coreMips?: number;
}

/** The simulated hosts of a set of infrastructure manifests, grouped by datacenter. */
export interface Infrastructure {
  readonly hosts: readonly SimHostSpec[];
  readonly hostGroup: Int32Array;
  /** One group per datacenter, named `TIER/NAME`. */
  readonly groups: readonly (SimGroup & { readonly tier: string; readonly datacenter: string })[];
  /** Servers without a SPECpower model (simulated with the HP ML110 G5's). */
  readonly assumedPower: readonly string[];
}

/**
 * Converts loaded Datacenter and Server manifests (other kinds are ignored) into simulated hosts:
 * capacity.cpu cores × core MIPS, memory, bandwidth (1 Gbit/s when absent) and the SPECpower
 * curve; servers in file order, each replicated `replicate` times. Throws ManifestError (with
 * file:line:column) for a server whose datacenter is not among the manifests.
 * @example const infra = infrastructureFrom(await loadManifests(['infra/']), { replicate: 100 });
 */
export function infrastructureFrom(items: readonly LoadedResource[], o: InfraOptions = {}): Infrastructure {
  const replicate = o.replicate ?? 1;
  const dcs = new Map<string, { tier: string; pue?: number }>();
  for (const { resource: r } of items) if (r.kind === 'Datacenter') dcs.set(r.metadata.name, { tier: String(r.spec['tier']), ...(typeof r.spec['pue'] === 'number' ? { pue: r.spec['pue'] } : {}) });
  const relevant = items.filter((i) => i.resource.kind === 'Server' || i.resource.kind === 'Datacenter');
  const issues = checkReferences(relevant, (kind, name) => kind === 'Datacenter' && dcs.has(name));
  if (issues.length > 0) throw new ManifestError(issues);
  const groupIdx = new Map<string, number>();
  const groups: (SimGroup & { tier: string; datacenter: string })[] = [];
  const hosts: SimHostSpec[] = [];
  const owner: number[] = [];
  const assumedPower: string[] = [];
  for (const { resource: r } of items) {
    if (r.kind !== 'Server') continue;
    const spec = r.spec as { datacenter: string; capacity: { cpu: number | string; memory: number | string; bandwidth?: number | string }; power?: { specpower: number[] } };
    const dc = dcs.get(spec.datacenter)!;
    let g = groupIdx.get(spec.datacenter);
    if (g === undefined) {
      g = groups.length;
      groupIdx.set(spec.datacenter, g);
      groups.push({ name: `${dc.tier}/${spec.datacenter}`, tier: dc.tier, datacenter: spec.datacenter, ...(dc.pue !== undefined ? { pue: dc.pue } : {}) });
    }
    const cores = parseCpu(spec.capacity.cpu);
    const labelled = Number(r.metadata.labels?.[CORE_MIPS_LABEL]);
    const coreMips = Number.isFinite(labelled) && labelled > 0 ? labelled : (o.coreMips ?? 2660);
    // whole cores; a fractional count keeps its total MIPS on fewer, faster cores
    const pes = Math.max(1, Math.floor(cores));
    let power = HP_ML110_G5;
    if (spec.power) power = powerModel(r.metadata.name, spec.power.specpower);
    else assumedPower.push(r.metadata.name);
    const host: SimHostSpec = {
      peMips: (coreMips * cores) / pes, pes,
      ramMb: parseBytes(spec.capacity.memory) / 2 ** 20,
      bwMbps: spec.capacity.bandwidth !== undefined ? parseRate(spec.capacity.bandwidth) / 1e6 : 1000,
      power,
    };
    for (let i = 0; i < replicate; i++) { hosts.push(host); owner.push(g); }
  }
  return { hosts, hostGroup: Int32Array.from(owner), groups, assumedPower };
}

/** Per tier (datacenters of one tier summed), in order of first appearance. */
export function byTier(infra: Infrastructure, r: SimResult): GroupResult[] {
  const out = new Map<string, { name: string; hosts: number; energyKWh: number; facilityKWh: number; migrationsIn: number; meanActiveHosts: number; peakActiveHosts: number }>();
  (r.groups ?? []).forEach((g, i) => {
    const tier = infra.groups[i]?.tier ?? g.name;
    const t = out.get(tier) ?? { name: tier, hosts: 0, energyKWh: 0, facilityKWh: 0, migrationsIn: 0, meanActiveHosts: 0, peakActiveHosts: 0 };
    t.hosts += g.hosts; t.energyKWh += g.energyKWh; t.facilityKWh += g.facilityKWh; t.migrationsIn += g.migrationsIn;
    t.meanActiveHosts += g.meanActiveHosts; t.peakActiveHosts += g.peakActiveHosts; // peak: an upper bound (datacenter peaks summed)
    out.set(tier, t);
  });
  return [...out.values()];
}

function tierTable(infra: Infrastructure, results: readonly SimResult[]): string {
  const head = ['policy', 'tier', 'hosts', 'energy kWh', 'facility kWh (×PUE)', 'migrations in', 'mean active', 'peak active'];
  const rows: string[][] = [];
  for (const r of results) {
    for (const t of byTier(infra, r)) rows.push([r.policy, t.name, String(t.hosts), t.energyKWh.toFixed(2), t.facilityKWh.toFixed(2), String(t.migrationsIn), t.meanActiveHosts.toFixed(1), String(t.peakActiveHosts)]);
    const all = r.groups ?? [];
    rows.push([r.policy, 'total', String(r.hosts), r.energyKWh.toFixed(2), all.reduce((a, g) => a + g.facilityKWh, 0).toFixed(2), String(r.migrations), all.reduce((a, g) => a + g.meanActiveHosts, 0).toFixed(1), '']);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
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
export async function runSim(o: SimOpts): Promise<number> {
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
  let infra: Infrastructure | undefined;
  try {
    if (o.infra !== undefined) {
      if (o.scale !== undefined || o.hosts !== undefined) throw new Error('--infra sets the hosts: it does not combine with --scale or --hosts');
      const replicate = Number(o.replicate ?? 1);
      const coreMips = Number(o.coreMips ?? 2660);
      if (!Number.isInteger(replicate) || replicate < 1) throw new Error(`--replicate wants a whole number ≥ 1, not '${o.replicate}'`);
      if (!(coreMips > 0)) throw new Error(`--core-mips wants a positive number, not '${o.coreMips}'`);
      infra = infrastructureFrom(await loadManifests(o.infra), { replicate, coreMips });
      if (infra.hosts.length === 0) throw new Error(`${o.infra.join(', ')}: no Server manifests`);
      if (infra.assumedPower.length > 0) process.stderr.write(`warning: no spec.power.specpower on ${infra.assumedPower.join(', ')}: simulated with the HP ML110 G5's curve\n`);
      const base = planetLabScenario(trace, 0);
      sc = { ...base, name: `${base.name} on ${o.infra.join(', ')}${replicate > 1 ? ` ×${replicate}` : ''}`, hosts: infra.hosts, groups: infra.groups, hostGroup: infra.hostGroup };
      day = `${day} on ${o.infra.join(', ')}`; // not CloudSim's datacenter: no reference figures
    } else if (o.scale !== undefined) {
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
    const out = results.map((r) => ({ ...r, day, ...(infra ? { tiers: byTier(infra, r) } : {}), reference: REFERENCE[day]?.policies[r.policy] ?? null, withinTolerance: REFERENCE[day]?.policies[r.policy] ? compareToReference(day, r).ok : null, timeline: undefined }));
    process.stdout.write(`${JSON.stringify(out.length === 1 ? out[0] : out, null, 2)}\n`);
  } else {
    process.stdout.write(`${sc.name}: ${sc.hosts.length} hosts, ${sc.vms.length} VMs\n${table(day, results)}\n`);
    if (infra) process.stdout.write(`\nper datacenter tier:\n${tierTable(infra, results)}\n`);
    for (const r of results) if (r.unplacedVms > 0) process.stdout.write(`${r.policy}: ${r.unplacedVms} VMs found no host at creation\n`);
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
    .option('--infra <files...>', 'Datacenter/Server manifests (YAML files or directories) to simulate instead of CloudSim\'s 800 hosts')
    .option('--replicate <n>', 'with --infra: each server becomes n identical hosts', '1')
    .option('--core-mips <n>', `with --infra: MIPS of a core (a Server's ${CORE_MIPS_LABEL} label overrides)`, '2660')
    .option('--no-progress', 'no progress bar on stderr')
    .action(async (o: SimOpts) => {
      process.exitCode = await runSim(o);
    });
}
