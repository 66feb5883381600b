/**
 * `npm run bench -- migration`: planned live migration of a router carrying 100 kpps of
 * numbered UDP flows (10 flows × 10 kpps, real frames, real-time pacing): packets lost, and the
 * longest gap between consecutive packets of a flow at the receiver beside the same flow's
 * longest gap over the same time without migration (in-run baseline), for a migration between
 * domains of one server and between two servers; the duration of each phase. Each placement runs
 * with the switch holding the input until the old instance drained (`hold`, no reorder) and
 * without a hold (the router's default: the input goes to the new instance at once, the old
 * drains beside it; reorders counted). The interruption attributable to the migration: per flow
 * the longest gap among frames arriving within [switched − 5 ms, drained + 5 ms], max over flows,
 * beside the same flow's longest gap in a window as long at the end of the baseline.
 */
import { loadavg } from 'node:os';
import type { Reporter } from './report.js';
import { fmt } from './report.js';
import { ROUTER_CONFIG, routerBed, type Gap } from '../src/host/migration-bed.js';
import { migrateDomain, warmStandby, type MigrationRecord } from '../src/host/migration.js';
import { Realtime } from '../src/host/realtime.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

interface Trial {
  lost: number;
  /** Drops the platform counted (full rings, pools) over the whole run, and from switched to done. */
  platform: number;
  inSwitch: number;
  duplicates: number;
  reordered: number;
  gap: number;
  /** The longest gap's anatomy (source emission gap, latency before and after). */
  worst: Gap;
  baseline: number;
  /** Per flow, the gap from the last frame through the old instance to the first through the new (max over flows; by sequence number, negative if the new overtook the old). */
  switchGap: Gap;
  /** Per flow the longest gap within [switched − 5 ms, drained + 5 ms], max over flows; that flow's in a window as long without migration. */
  /** Longest gap (max over flows) within [the source's destruction starts, done + 5 ms]; the same over as long a window at the baseline's end. */
  teardown: { ms: number; baseline: number; startAfterSwitchMs: number };
  /** Longest gap (max over flows) from the migration's start to done + 5 ms; the median and max over the baseline's disjoint windows as long. */
  whole: { ms: number; lengthMs: number; baseline: number; baselineMax: number; windows: number };
  windowed: { ms: number; flow: number; endsAfterSwitchMs: number; doneAfterSwitchMs: number; baseline: number; lengthMs: number; baselineMaxOverFlows: number; baselineWindows: { n: number; median: number; max: number; asLong: number } };
  /** Longest gap ending in each phase window (ms): the window before 'prepared' is "prepare", etc. */
  byPhase: Record<string, number>;
  rec: MigrationRecord;
}

const WINDOW_MARGIN_MS = 5;

async function trial(servers: 1 | 2, standby: boolean, hold: boolean, realtime: number | undefined): Promise<Trial> {
  const bed = await routerBed({ kpps: 100, flows: 10, servers, ...(realtime !== undefined ? { realtime } : {}) });
  try {
    const to0 = bed.hosts[servers - 1];
    let target: number | undefined;
    if (standby && to0) {
      // The recipe's warm standby: the router already running idle on the target, unwired.
      const sb = await to0.addDomain({ name: 'standby', contexts: [{ network: 'mig', functions: [{ name: 'r', kind: 'router', config: ROUTER_CONFIG }], wires: [] }], vnics: [{ context: 0, port: 'r.eth0' }, { context: 0, port: 'r.eth1' }] });
      target = sb.domain.id;
      // Warm as a standby is: run hot on copies of the live traffic, before the baseline.
      if (bed.hosts[0]) await warmStandby({ from: bed.hosts[0], domain: bed.domain, to: to0, target, ...(bed.link ? { link: bed.link } : {}) });
    }
    await sleep(200);
    // Baseline: the same window length without migration.
    bed.gaps.reset();
    bed.gaps.record(true);
    const b0 = performance.now();
    const window = 600;
    await sleep(window);
    const b1 = performance.now();
    const base = new Map<number, number>();
    for (let f = 1; f <= 10; f++) base.set(f, bed.gaps.of(f));
    bed.gaps.reset();
    let tSwitch = NaN;
    let tDrained = NaN;
    let tDone = NaN;
    const seqs = (): Map<number, number> => new Map(((bed.source.counters()['flows'] ?? []) as readonly { id: number; packets: number }[]).map((f) => [f.id, f.packets]));
    const t0 = performance.now();
    const to = bed.hosts[servers - 1];
    if (!to || !bed.hosts[0]) throw new Error('bed');
    // A second meter view per phase: the longest gap that ends within each phase's window.
    const byPhase: Record<string, number> = {};
    const txFull = new Map<string, number>();
    const counted = (): number => {
      for (const h of bed.hosts) for (const d of h.domainList()) txFull.set(`${h.name}/${d.domain.id}`, d.domain.counters().txFull);
      let n = bed.link?.lost ?? 0; // the source's noBuffer is no loss: it sends that sequence later
      for (const v of txFull.values()) n += v;
      return bed.hosts.reduce((k, h) => k + h.drops.unwired + h.drops.ringFull + h.drops.queueFull + h.drops.noBuffer, n);
    };
    let atSwitch = 0;
    let atDone = 0;
    let worst: Gap = bed.gaps.longest();
    const cut = (label: string): void => {
      const l = bed.gaps.longest();
      byPhase[label] = l.ms;
      if (l.ms > worst.ms) worst = l;
      bed.gaps.resetMax();
    };
    const rec = await migrateDomain({ from: bed.hosts[0], domain: bed.domain, to, ...(bed.link ? { link: bed.link } : {}), reason: 'operator', hold, ...(target !== undefined ? { target } : {}), onPhase: (e) => {
        cut(`→${e.phase}`);
        if (e.phase === 'switched') {
          atSwitch = counted();
          tSwitch = performance.now();
          // Synchronous with the redirect: every frame emitted so far went to the old instance, the next ones to the new.
          bed.gaps.boundary(seqs());
        }
        if (e.phase === 'drained') tDrained = performance.now();
        if (e.phase === 'done') {
          atDone = counted();
          tDone = performance.now();
        }
      } });
    await sleep(Math.max(50, window - (performance.now() - t0)));
    cut('after');
    bed.gaps.record(false);
    const switchGap = bed.gaps.switchover();
    // The interruption attributable to the migration, and the same flow's in a window as long without it.
    const w0 = tSwitch - WINDOW_MARGIN_MS;
    const w1 = tDrained + WINDOW_MARGIN_MS;
    const len = w1 - w0;
    let wf = -1;
    let wms = 0;
    let wat = NaN;
    let baseMax = 0;
    for (const f of bed.gaps.recordedFlows()) {
      const g = bed.gaps.longestInAt(f, w0, w1);
      if (g.ms > wms) [wms, wf, wat] = [g.ms, f, g.at];
      baseMax = Math.max(baseMax, bed.gaps.longestIn(f, b1 - len, b1));
    }
    // Every disjoint window as long in the baseline (max over flows in each): how often such a gap happens anyway.
    const perWindow: number[] = [];
    for (let a = b0; a + len <= b1; a += len) perWindow.push(Math.max(0, ...bed.gaps.recordedFlows().map((f) => bed.gaps.longestIn(f, a, a + len))));
    const windowed = { ms: wms, flow: wf, endsAfterSwitchMs: wat - tSwitch, doneAfterSwitchMs: tDone - tSwitch, baseline: wf < 0 ? 0 : bed.gaps.longestIn(wf, b1 - len, b1), lengthMs: len, baselineMaxOverFlows: baseMax, baselineWindows: { n: perWindow.length, median: perWindow.length ? median(perWindow) : 0, max: Math.max(0, ...perWindow), asLong: perWindow.filter((x) => x >= wms).length } };
    // The source's teardown (after keepSourceMs), apart: its worker's exit blocks domain 0.
    const d0 = tDone - rec.durations.destroyMs;
    const d1 = tDone + WINDOW_MARGIN_MS;
    let tms = 0;
    let tbase = 0;
    for (const f of bed.gaps.recordedFlows()) {
      tms = Math.max(tms, bed.gaps.longestIn(f, d0, d1));
      tbase = Math.max(tbase, bed.gaps.longestIn(f, b1 - (d1 - d0), b1));
    }
    const teardown = { ms: tms, baseline: tbase, startAfterSwitchMs: d0 - tSwitch };
    // The whole migration, prepare to done + 5 ms (max over flows), beside every baseline window as long.
    const m1 = tDone + WINDOW_MARGIN_MS;
    const mlen = m1 - t0;
    let mms = 0;
    for (const f of bed.gaps.recordedFlows()) mms = Math.max(mms, bed.gaps.longestIn(f, t0, m1));
    const mwins: number[] = [];
    for (let a = b0; a + mlen <= b1; a += mlen) mwins.push(Math.max(0, ...bed.gaps.recordedFlows().map((f) => bed.gaps.longestIn(f, a, a + mlen))));
    const whole = { ms: mms, lengthMs: mlen, baseline: mwins.length ? median(mwins) : 0, baselineMax: Math.max(0, ...mwins), windows: mwins.length };
    const r = await bed.finish();
    return { lost: r.sent - r.received, platform: counted(), inSwitch: atDone - atSwitch, duplicates: r.duplicates, reordered: r.reordered, gap: worst.ms, worst, baseline: base.get(worst.flow) ?? 0, switchGap, windowed, teardown, whole, byPhase, rec };
  } finally {
    await bed.close();
  }
}

let RT: number | undefined;
/** Trials per case (the figures are medians). */
const TRIALS = 5;

/** The workers' SCHED_FIFO priority when this process may use real time (root or CAP_SYS_NICE), else undefined (noted). */
async function realtimeAllowed(r: Reporter): Promise<number | undefined> {
  try {
    (await Realtime.open()).close();
    return 10;
  } catch (e) {
    r.note(`real-time scheduling unavailable (${(e as Error).message}): domain 0 and the workers at normal priority`);
    return undefined;
  }
}

/**
 * Node flags of this group (bench/main.ts starts it with them): V8's background threads at 1
 * instead of 4. On 2 cores, 4 platform threads compiling and collecting for a migration target's
 * cold start kept both CPUs busy, and the flows through the source saw 2–9 ms gaps during its
 * warm-up; with one, the whole migration to a fresh target stayed within about 1 ms. Parallel
 * scavenges off as well: V8's parallel scavenger waits for helper threads that a loaded 2-core
 * machine starves (domain 0 paused 15–112 ms in 3 of 3 runs of the 'anatomy' part, 2–14 ms without).
 */
export const nodeFlags = ['--v8-pool-size=1', '--no-parallel-scavenge'];

/** `SWNET_BENCH_PARTS=drain,failover npm run bench -- migration` runs only those parts (planned, anatomy, failover, drain, elastic, agent). */
const parts = (process.env['SWNET_BENCH_PARTS'] ?? '').split(',').filter((x) => x !== '');
const part = (name: string): boolean => parts.length === 0 || parts.includes(name);

export async function run(r: Reporter): Promise<void> {
  RT = await realtimeAllowed(r);
  r.note(`node ${process.execArgv.join(' ')}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  // Every placement with the data plane at real-time priority when this process may (the setting for
  // latency, as VPP's workers), and the router's default (no hold) also at normal priority, beside.
  const cases: { standby: boolean; servers: 1 | 2; hold: boolean; rt: number | undefined }[] = [];
  for (const standby of part('planned') ? [false, true] : []) for (const servers of [1, 2] as const) for (const hold of [true, false]) cases.push({ standby, servers, hold, rt: RT });
  if (RT !== undefined && part('planned')) for (const servers of [1, 2] as const) cases.push({ standby: false, servers, hold: false, rt: undefined });
  for (const { standby, servers, hold, rt } of cases) {
    const sched = RT === undefined ? '' : rt === undefined ? ' (normal scheduling)' : '';
    const where = `${servers === 1 ? 'between domains' : 'between servers'}${standby ? ', warm standby target' : ''}, ${hold ? 'hold' : 'no hold'}${rt === undefined ? ', normal scheduling' : `, SCHED_FIFO ${rt}`}`;
    const trials: Trial[] = [];
    for (let k = 0; k < TRIALS; k++) trials.push(await trial(servers, standby, hold, rt));
    r.note(`${where}: load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    for (const t of trials) {
      const d = t.rec.durations;
      const w = t.windowed;
      r.note(`${where}: phases prepare ${fmt(d.prepareMs)} ms, pre-copy ${fmt(d.preCopyMs)} ms, switch→drained ${fmt(d.interruptionMs)} ms (${t.rec.held} frames held), destroy ${fmt(d.destroyMs)} ms, total ${fmt(d.totalMs)} ms; gap ${fmt(t.gap)} ms (baseline ${fmt(t.baseline)} ms); lost ${t.lost} (${t.platform} counted by the platform as full rings/pools, ${t.inSwitch} from switched to done), duplicates ${t.duplicates}, reordered ${t.reordered}`);
      r.note(`  longest gap ending in each window: ${Object.entries(t.byPhase).map(([k, v]) => `${k} ${fmt(v)} ms`).join(', ')}`);
      r.note(`  longest gap ${fmt(t.worst.ms)} ms (flow ${t.worst.flow}) = source emission gap ${fmt(t.worst.emitMs)} ms + latency ${fmt(t.worst.latencyBeforeMs)} → ${fmt(t.worst.latencyAfterMs)} ms; switch gap (old instance's last frame → new one's first) ${fmt(t.switchGap.ms)} ms (flow ${t.switchGap.flow}: emission gap ${fmt(t.switchGap.emitMs)} ms, latency ${fmt(t.switchGap.latencyBeforeMs)} → ${fmt(t.switchGap.latencyAfterMs)} ms)`);
      r.note(`  the source's teardown from switched + ${fmt(t.teardown.startAfterSwitchMs)} ms to done + 5 ms: longest gap ${fmt(t.teardown.ms)} ms (as long a window at the baseline's end ${fmt(t.teardown.baseline)} ms)`);
      r.note(`  the whole migration, start to done + 5 ms (${fmt(t.whole.lengthMs)} ms): longest gap ${fmt(t.whole.ms)} ms; ${t.whole.windows} baseline windows as long: median ${fmt(t.whole.baseline)} ms, max ${fmt(t.whole.baselineMax)} ms`);
      r.note(`  within [switched − 5, drained + 5] (${fmt(w.lengthMs)} ms; drained at switched + ${fmt(d.interruptionMs)} ms, the source destroyed by + ${fmt(w.doneAfterSwitchMs)} ms): ${fmt(w.ms)} ms (flow ${w.flow}, ending at switched ${w.endsAfterSwitchMs >= 0 ? '+' : '−'} ${fmt(Math.abs(w.endsAfterSwitchMs))} ms; same flow at the baseline's end ${fmt(w.baseline)} ms, max over flows ${fmt(w.baselineMaxOverFlows)} ms; ${w.baselineWindows.n} baseline windows as long (max over flows): median ${fmt(w.baselineWindows.median)} ms, max ${fmt(w.baselineWindows.max)} ms, ${w.baselineWindows.asLong} with a gap as long)`);
    }
    const lost = trials.reduce((n, t) => n + t.lost, 0);
    const name = (servers === 1 ? '' : ' (across servers)') + (standby ? ' (warm standby)' : '') + (hold ? '' : ' (no hold)') + sched;
    const baseline = median(trials.map((t) => t.baseline));
    r.record({ name: `planned migration at 100 kpps${name}: packets lost`, value: lost, unit: 'packets', target: 0, better: 'lower' });
    r.record({ name: `planned migration${name}: duplicates (${TRIALS} trials)`, value: trials.reduce((n, t) => n + t.duplicates, 0), unit: 'packets', target: 0, better: 'lower' });
    r.record({ name: `planned migration${name}: reordered (${TRIALS} trials)`, value: trials.reduce((n, t) => n + t.reordered, 0), unit: 'packets', target: null, better: 'lower' });
    r.record({ name: `planned migration${name}: longest gap`, value: median(trials.map((t) => t.gap)), unit: 'ms', target: 1, better: 'lower', baseline });
    r.record({ name: `planned migration${name}: switch to drained (${hold ? 'interruption' : 'overlap'})`, value: median(trials.map((t) => t.rec.durations.interruptionMs)), unit: 'ms', target: null, better: 'lower' });
    // By sequence number: negative when the new instance's first frame arrived before the old one's last.
    r.record({ name: `planned migration${name}: switch interruption (per flow, last frame through the old instance to the first through the new; max over flows)`, value: median(trials.map((t) => t.switchGap.ms)), unit: 'ms', target: 1, better: 'lower', baseline });
    r.record({ name: `planned migration${name}: longest gap across the switch`, value: median(trials.map((t) => Math.max(t.byPhase['→drained'] ?? 0, t.byPhase['→done'] ?? 0))), unit: 'ms', target: 1, better: 'lower', baseline });
    r.record({ name: `planned migration${name}: longest gap during the source's teardown (destroy start to done + 5 ms, max over flows) vs as long a window without migration`, value: median(trials.map((t) => t.teardown.ms)), unit: 'ms', target: 1, better: 'lower', baseline: median(trials.map((t) => t.teardown.baseline)) });
    r.record({ name: `planned migration${name}: longest gap during the whole migration (start to done + 5 ms, max over flows) vs the median of the baseline's windows as long`, value: median(trials.map((t) => t.whole.ms)), unit: 'ms', target: 1, better: 'lower', baseline: median(trials.map((t) => t.whole.baseline)) });
    r.record({ name: `planned migration${name}: interruption attributable to the migration (per flow, longest gap within [switched − 5 ms, drained + 5 ms]; max over flows) vs the flow's longest gap in as long a window without migration`, value: median(trials.map((t) => t.windowed.ms)), unit: 'ms', target: 1, better: 'lower', baseline: median(trials.map((t) => t.windowed.baseline)) });
  }
  if (part('anatomy')) await (await import('./migration-anatomy.js')).runAnatomy(r, RT);
  if (part('failover')) await (await import('./migration-failover.js')).runFailover(r);
  if (part('drain')) await (await import('./migration-drain.js')).runDrain(r);
  if (part('elastic')) await (await import('./migration-elastic.js')).runElastic(r);
  if (part('agent')) await (await import('./migration-agent.js')).runAgentMigration(r, RT);
}
