/**
 * Drain bench (issue 7): `swnet drain` of a server hosting 50 functions (5 software networks ×
 * 10 functions), time until it is empty.
 *
 * 1. Control plane alone, SQLite store: network + migration controllers; each agent step of the
 *    protocol (prepared, state-copied, both-running; drained, done) is written by this bench the
 *    moment the previous one lands, so the figure is what the control plane adds (target choice by
 *    the scheduler for 50 functions, one wave per network, one switch transaction per wave, the
 *    standby mark). Baseline: make-after-break — cordon, delete the 50 placements, time until the
 *    network controller has placed them all elsewhere.
 * 2. With in-process ServerAgents over a memory store (VXLAN on loopback): time until the drained
 *    server's agent runs nothing and it is in standby, every function running on its new server.
 *    Baseline: the same 50 functions deleted and re-placed make-after-break, time until the new
 *    agents run them all. Skipped (with a note) when the agents do not carry migrations through.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reporter } from './report.js';
import { fmt } from './report.js';
import { ServerAgent } from '../src/cli/agent.js';
import { GangScheduler } from '../src/control/controllers/gang.js';
import { MigrationController } from '../src/control/controllers/migration.js';
import { NetworkController } from '../src/control/controllers/network.js';
import { startControllers, type Controllers } from '../src/control/controllers/start.js';
import { apply, getResource } from '../src/control/manifest/apply.js';
import { parseManifestText } from '../src/control/manifest/load.js';
import { advance, keyOf, MIGRATION_PREFIX, type MigrationObject } from '../src/control/migrations.js';
import { PLACEMENT_PREFIX, placementKey, type Placement } from '../src/control/placement.js';
import { cordonServer, drainServer, uncordonServer } from '../src/control/server-ops.js';
import type { Op, Store } from '../src/control/store/contract.js';
import { MemoryStore } from '../src/control/store/memory.js';
import { SqliteStore } from '../src/control/store/sqlite.js';

const NETS = 5;
const FNS = 10;
const TARGETS = ['s1', 's2', 's3', 's4'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function manifest(cordonTargets: boolean): string {
  const server = (name: string, cpu: number, cordon: boolean): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${name} }\nspec: { datacenter: dc1, capacity: { cpu: ${cpu}, memory: 64Gi }${cordon ? ', unschedulable: true' : ''} }\n---\n`;
  let text = `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n${server('s0', 16, false)}${TARGETS.map((s) => server(s, 8, cordonTargets)).join('')}`;
  for (let n = 0; n < NETS; n++) {
    text += `apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: n${n}, namespace: bench }\nspec:\n  functions:\n`;
    for (let f = 0; f < FNS; f++) text += `    - { name: f${f}, kind: switch, config: { ports: [{ name: a }, { name: b }] }, resources: { cpu: 100m, memory: 64Mi } }\n`;
    text += '---\n';
  }
  return text;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number, poll = 5): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(poll);
  }
}

async function placements(s: Store): Promise<Placement[]> {
  return (await s.list(PLACEMENT_PREFIX)).items.map((kv) => kv.value as unknown as Placement);
}

/** Applies the manifest with the targets cordoned (everything lands on s0), then uncordons them. */
async function fillS0(s: Store): Promise<void> {
  const { resources, issues } = parseManifestText(manifest(true), 'drain.yaml');
  if (issues.length > 0) throw new Error(issues.map((i) => i.message).join('; '));
  await apply(s, resources);
  await until('50 placements on s0', async () => ((await placements(s)).filter((p) => p.server === 's0').length === NETS * FNS ? true : undefined), 30_000);
  for (const t of TARGETS) await uncordonServer(s, t);
}

/** Puts every function back on s0 (targets cordoned, placements deleted, re-placed), then uncordons. */
async function refill(s: Store): Promise<void> {
  await uncordonServer(s, 's0');
  for (const t of TARGETS) await cordonServer(s, t);
  const ops: Op[] = (await placements(s)).filter((p) => p.server !== 's0').map((p) => ({ type: 'delete', key: placementKey(p.namespace, p.network, p.function) }));
  await s.txn([], ops);
  await until('all back on s0', async () => ((await placements(s)).filter((p) => p.server === 's0').length === NETS * FNS ? true : undefined), 30_000);
  for (const t of TARGETS) await uncordonServer(s, t);
}

/** The agents' part, written the instant the previous phase lands (control-plane figure only). */
function instantAgents(s: Store): Promise<{ cancel(): Promise<void> }> {
  return s.watch(MIGRATION_PREFIX, {}, (evs) => {
    for (const e of evs) {
      const m = e.kv?.value as unknown as MigrationObject | undefined;
      if (!m || m.kind !== 'Migration') continue;
      const k = keyOf(m);
      if (m.phase === 'pending') void advance(s, k, ['pending'], 'prepared', `agent/${m.to}`);
      else if (m.phase === 'prepared') void advance(s, k, ['prepared'], 'state-copied', `agent/${m.from}`);
      else if (m.phase === 'state-copied') void advance(s, k, ['state-copied'], 'both-running', `agent/${m.to}`);
      else if (m.phase === 'switched') void advance(s, k, ['switched'], 'drained', `agent/${m.from}`);
      else if (m.phase === 'drained') void advance(s, k, ['drained'], 'done', `agent/${m.to}`);
    }
  });
}

async function standby(s: Store, server: string): Promise<boolean | undefined> {
  return (await getResource(s, 'Server', server)).status?.['standby'] === true ? true : undefined;
}

async function controlPlaneOnly(r: Reporter): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-bench-drain-'));
  const s = new SqliteStore({ dataDir: dir });
  const nc = await NetworkController.start(s, { scheduler: new GangScheduler() });
  const mc = await MigrationController.start(s, {});
  const agents = await instantAgents(s);
  try {
    await fillS0(s);
    const drains: number[] = [];
    const bases: number[] = [];
    for (let trial = 0; trial < 3; trial++) {
      if (trial > 0) await refill(s);
      let t0 = performance.now();
      await drainServer(s, 's0');
      await until('s0 drained', () => standby(s, 's0'), 60_000);
      drains.push(performance.now() - t0);
      await refill(s);
      // Baseline, make-after-break: cordon, delete the 50 placements, wait until all are placed elsewhere.
      t0 = performance.now();
      await cordonServer(s, 's0');
      const ps = (await placements(s)).filter((p) => p.server === 's0');
      await s.txn([], ps.map((p) => ({ type: 'delete', key: placementKey(p.namespace, p.network, p.function) })));
      await until('re-placed', async () => {
        const now = await placements(s);
        return now.length === NETS * FNS && now.every((p) => p.server !== 's0') ? true : undefined;
      }, 60_000);
      bases.push(performance.now() - t0);
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    r.record({ name: 'drain of a server with 50 functions, control plane only (SQLite; agent steps written instantly; one wave per network, 64 functions at a time)', value: med(drains), unit: 'ms', target: null, better: 'lower', baseline: med(bases) });
    r.note(`  trials ${drains.map(fmt).join(', ')} ms; baseline = delete + re-place make-after-break (${bases.map(fmt).join(', ')} ms)`);
  } finally {
    await agents.cancel();
    await mc.stop();
    await nc.stop();
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Functions each agent reports running (from its last status report). */
function running(agents: ReadonlyMap<string, ServerAgent>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, a] of agents) out.set(name, (a.report?.domains ?? []).reduce((n, d) => n + (d.state === 'running' ? d.functions.length : 0), 0));
  return out;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * Where a drain's time went, as records (target null): per phase of the protocol, the median
 * and the sum over the migrations of the time from the previous phase to it (who waited), and
 * the agents' own step times inside those (what they did); the rest of a phase is waiting — for
 * a watch event, a pass, a per-network lock, the CPU. Also the targets chosen and the domain
 * workers taken from the agents' pools.
 */
function breakdown(r: Reporter, ms: readonly MigrationObject[], agents: ReadonlyMap<string, ServerAgent>, wall: number, startedAt: number): void {
  const phases = new Map<string, number[]>();
  for (const m of ms) for (let i = 1; i < m.timeline.length; i++) phases.set(m.timeline[i]!.phase, [...(phases.get(m.timeline[i]!.phase) ?? []), m.timeline[i]!.at - m.timeline[i - 1]!.at]);
  // The agent step done before each phase (agent-migrate.ts step names).
  const stepOf: Record<string, string> = { prepared: 'prepare', 'state-copied': 'export', 'both-running': 'import', drained: 'drain', done: 'final-import' };
  const steps = new Map<string, number[]>();
  for (const a of agents.values()) for (const st of a.migrations?.steps.values() ?? []) for (const [k, v] of Object.entries(st)) steps.set(k, [...(steps.get(k) ?? []), v]);
  for (const [phase, xs] of phases) {
    const st = steps.get(stepOf[phase] ?? '') ?? [];
    r.record({ name: `drain breakdown: → ${phase}, median per migration${st.length > 0 ? ` (agent step ${stepOf[phase] ?? ''} median ${fmt(median(st))} ms, sum ${fmt(sum(st))} ms)` : ''}`, value: median(xs), unit: 'ms', target: null, better: 'lower' });
    r.note(`  → ${phase}: p90 ${fmt([...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] ?? 0)} ms, max ${fmt(Math.max(...xs))} ms, sum over ${xs.length} ${fmt(sum(xs))} ms`);
  }
  const starts = ms.map((m) => m.createdAt);
  const ends = ms.map((m) => m.timeline.at(-1)?.at ?? m.createdAt);
  let peak = 0;
  for (const t of starts) peak = Math.max(peak, ms.filter((m, i) => starts[i]! <= t && ends[i]! > t).length);
  const first = Math.min(...starts);
  r.record({ name: 'drain breakdown: first migration created → last done', value: Math.max(...ends) - first, unit: 'ms', target: null, better: 'lower' });
  const targets = new Map<string, number>();
  for (const m of ms) targets.set(m.to, (targets.get(m.to) ?? 0) + 1);
  const taken = [...agents].map(([n, a]) => `${n} ${a.runtime.pool?.taken ?? 0}`).join(', ');
  const failed = ms.filter((m) => m.phase === 'failed');
  r.note(`  ${ms.length} migrations (${failed.length} failed${failed[0] ? `, e.g. ${failed[0].error ?? ''}` : ''}), at most ${peak} in flight; wall ${fmt(wall)} ms, first created ${fmt(first - startedAt)} ms after the drain call; targets ${[...targets].map(([t, n]) => `${t} ×${n}`).join(', ')}; pooled workers taken: ${taken}`);
}

async function withAgents(r: Reporter, drainConcurrency?: number): Promise<void> {
  const s = new MemoryStore();
  let ctl: Controllers | undefined;
  const agents = new Map<string, ServerAgent>();
  try {
    ctl = await startControllers(s, { overload: false, migration: drainConcurrency !== undefined ? { drainConcurrency } : {} });
    const { resources } = parseManifestText(manifest(true), 'drain.yaml');
    await apply(s, resources.filter((x) => x.resource.kind !== 'SoftwareNetwork'));
    for (const name of ['s0', ...TARGETS]) agents.set(name, await ServerAgent.start({ store: s, server: name, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 5, statusMs: 50, resyncMs: 500 }));
    await fillS0(s);
    const all = NETS * FNS;
    await until('s0 runs 50 functions', async () => (running(agents).get('s0') === all ? true : undefined), 60_000, 20);
    let t0 = performance.now();
    const startedAt = Date.now();
    const cpu0 = process.cpuUsage();
    await drainServer(s, 's0');
    const moving = await until('a migration prepared', async () => {
      const ms = (await s.list(MIGRATION_PREFIX)).items.map((kv) => kv.value as unknown as MigrationObject);
      return ms.some((m) => m.phase !== 'pending' && m.phase !== 'failed') ? true : undefined;
    }, 15_000, 20).catch(() => false);
    if (!moving) {
      r.note('drain with agents: skipped — no migration left phase pending within 15 s (the agents do not carry planned migrations through yet)');
      return;
    }
    await until('s0 empty and in standby', async () => {
      const run = running(agents);
      return run.get('s0') === 0 && TARGETS.reduce((n, t) => n + (run.get(t) ?? 0), 0) === all && (await standby(s, 's0')) ? true : undefined;
    }, 120_000, 10);
    const drain = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    // CPU time is what a loaded machine cannot hide (the wall figure moves with the other sessions' load).
    r.record({ name: 'drain breakdown: CPU of the process (all threads) during the drain', value: (cpu.user + cpu.system) / 1000, unit: 'ms', target: null, better: 'lower' });
    r.note(`  (${fmt((cpu.user + cpu.system) / 1000 / drain)} cores on average); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} cores`);
    const done = (await s.list(MIGRATION_PREFIX)).items.map((kv) => kv.value as unknown as MigrationObject).filter((m) => m.detail === 'drain s0');
    breakdown(r, done, agents, drain, startedAt);
    await refill(s);
    await until('s0 runs 50 functions again', async () => (running(agents).get('s0') === all ? true : undefined), 60_000, 20);
    t0 = performance.now();
    await cordonServer(s, 's0');
    const ps = (await placements(s)).filter((p) => p.server === 's0');
    await s.txn([], ps.map((p) => ({ type: 'delete', key: placementKey(p.namespace, p.network, p.function) })));
    await until('re-placed and running', async () => {
      const run = running(agents);
      return run.get('s0') === 0 && TARGETS.reduce((n, t) => n + (run.get(t) ?? 0), 0) === all ? true : undefined;
    }, 120_000, 10);
    const base = performance.now() - t0;
    r.record({ name: 'drain of a server with 50 functions, in-process agents (memory store): until empty, in standby, all running elsewhere', value: drain, unit: 'ms', target: null, better: 'lower', baseline: base });
    r.note('  baseline = the same 50 functions deleted and re-placed make-after-break (cold starts, state lost), until all run elsewhere');
  } finally {
    for (const a of agents.values()) await a.stop().catch(() => undefined);
    await ctl?.stop();
    await s.close();
  }
}

/**
 * @example await runDrain(new Reporter('migration'));
 */
export async function runDrain(r: Reporter): Promise<void> {
  await controlPlaneOnly(r);
  const c = process.env['SWNET_BENCH_DRAIN_CONCURRENCY'];
  await withAgents(r, c !== undefined ? Number(c) : undefined);
}
