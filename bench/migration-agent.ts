/**
 * Planned migration through the server agents' runtime (src/host/agent-runtime.ts), the path
 * `swnet migrate` takes: a router moves from server A to server B (two AgentRuntimes joined
 * by VXLAN on loopback) while a numbered UDP flow src (A) → r1 → r2 → sink (B) crosses it:
 * warm instance on B with its VNI bound ahead, r1 isolated in a domain of its own on A, live pre-copy, A re-plans (the source's frames
 * now reach B), B adopts the warm r1, A's r1 retires after its grace period and its final state
 * is merged into B's. Frames are counted at the sink (lost, duplicated) and timed in B's
 * domain 0 where the flow enters the domain of r2 and the sink (longest gap between consecutive frames), beside the longest
 * gap of the same flow in as long a window without migration.
 *
 * @example
 * await runAgentMigration(reporter);
 */
import type { Plain } from '../src/functions/contract.js';
import type { FunctionSpec } from '../src/host/domain.js';
import { AgentRuntime, type NetworkPlan } from '../src/host/agent-runtime.js';
import { mergeState } from '../src/host/agent-state.js';
import type { CaptureWriter } from '../src/packet/capture.js';
import { TEST_MAGIC } from '../src/functions/traffic-source.js';
import type { Reporter } from './report.js';
import { fmt } from './report.js';

const KEY = 'bench/mig';
const mac = (b: number): string => `02:00:00:00:00:${b.toString(16).padStart(2, '0')}`;
type Obj = { readonly [k: string]: Plain };

/** Longest gap between consecutive frames of flow 2, measured where frames enter the sink's domain. */
class GapTap implements CaptureWriter {
  readonly format = 'pcap' as const;
  private last = -1;
  longest = 0;
  /** When the longest gap ended (performance.now() clock, ms). */
  longestAt = 0;
  addInterface(): number {
    return 0;
  }
  write(_iface: number, tsNs: bigint, d: Uint8Array): void {
    // Untagged IPv4/UDP: the test header at byte 42 (magic, flow id, sequence, send time).
    if (d.length < 62 || (((d[42]! << 24) | (d[43]! << 16) | (d[44]! << 8) | d[45]!) >>> 0) !== TEST_MAGIC || d[49] !== 2) return;
    const t = Number(tsNs) / 1e6;
    if (this.last >= 0 && t - this.last > this.longest) {
      this.longest = t - this.last;
      this.longestAt = performance.now();
    }
    this.last = t;
  }
  close(): void {}
}

interface Trial {
  lost: number;
  duplicates: number;
  reordered: number;
  gap: number;
  baselineGap: number;
  phases: Record<string, number>;
}

/** src → r1 → r2 → sink: a 100-frame warm-up flow, then `n` numbered frames at `kpps`. */
function lineSpecs(kpps: number, n: number): { src: FunctionSpec; r1: FunctionSpec; r2: FunctionSpec; sink: FunctionSpec } {
  const udp = { kind: 'udp', srcMac: mac(10), dstMac: mac(1), src: '10.0.1.10', dst: '10.0.2.10', dstPort: 2000, payloadBytes: 32 };
  return {
    src: { name: 'src', kind: 'traffic-source', config: { flows: [{ ...udp, srcPort: 1000, intervalMs: 5, count: 100 }, { ...udp, srcPort: 1001, intervalMs: 1 / kpps, count: n, startMs: 1000 }] } },
    r1: { name: 'r1', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(1), addresses: ['10.0.1.1/24'] }, { name: 'eth1', mac: mac(2), addresses: ['10.0.0.1/30'] }], routes: [{ prefix: '10.0.2.0/24', via: '10.0.0.2' }] } },
    r2: { name: 'r2', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(3), addresses: ['10.0.0.2/30'] }, { name: 'eth1', mac: mac(4), addresses: ['10.0.2.1/24'] }], neighbors: [{ interface: 'eth1', address: '10.0.2.10', mac: mac(20) }] } },
    sink: { name: 'sink', kind: 'traffic-sink', config: {} },
  };
}

async function trial(kpps: number, seconds: number, migrate: boolean): Promise<Trial> {
  const n = Math.round(kpps * 1000 * seconds);
  const { src, r1, r2, sink } = lineSpecs(kpps, n);
  // The source sends what is due every 1 ms (domain timers' default 10 ms: 200-frame bursts, a 10 ms gap in every baseline). Not 0.2 ms: every domain of
  // the agent would tick so, and at SCHED_FIFO their wake-ups took the CPU that new workers need to start (an isolate took 0.2–0.9 s, flows stalled 50 ms).
  const a = await AgentRuntime.open({ name: 'a', vxlan: { address: '127.0.0.1', port: 0 }, domainTickMs: 1, ...rt });
  const b = await AgentRuntime.open({ name: 'b', vxlan: { address: '127.0.0.1', port: 0 }, domainTickMs: 1, ...rt });
  try {
    const ea = a.endpoint as { address: string; port: number };
    const eb = b.endpoint as { address: string; port: number };
    await b.apply({ key: KEY, functions: [r2, sink], wires: [['r2.eth1', 'sink.in']], remote: [{ port: 'r2.eth0', vni: 101, remote: ea }] });
    await a.apply({ key: KEY, functions: [src, r1], wires: [['src.out', 'r1.eth0']], remote: [{ port: 'r1.eth1', vni: 101, remote: eb }] });
    // r2 and the sink share B's domain; r2.eth0 is where the flow enters it (from VXLAN, then from B's r1).
    const tapAtt = b.host.bridge.attachments().find((x) => x.label === `${KEY}:r2.eth0`)?.id ?? -1;
    const tap = new GapTap();
    b.host.capture(tapAtt, tap);
    const flow = async (): Promise<Obj | undefined> => (((await b.exportState(KEY, 'sink')) as Obj)['flows'] as readonly Obj[]).find((f) => f['id'] === 2);
    const received = async (): Promise<number> => ((await flow())?.['received'] as number | undefined) ?? 0;
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    while ((await received()) < n / 10) await sleep(10);
    // Baseline: the longest gap in a steady window as long as the migration takes.
    tap.longest = 0;
    await sleep(600);
    const baselineGap = tap.longest;
    tap.longest = 0;
    const phases: Record<string, number> = {};
    let t = performance.now();
    const lap = (name: string): void => {
      const now = performance.now();
      phases[name] = now - t;
      t = now;
    };
    // The window's longest gap, then the sink's count once the last frame is in (or 15 s passed).
    const settle = async (): Promise<Trial> => {
      await sleep(300);
      const gap = tap.longest;
      const end = performance.now() + 15000;
      while (((await flow())?.['maxSeq'] as number | undefined) !== n - 1 && performance.now() < end) await sleep(20);
      await sleep(300);
      const f = (await flow()) ?? {};
      return { lost: n - ((f['received'] as number | undefined) ?? 0), duplicates: (f['duplicates'] as number | undefined) ?? 0, reordered: (f['reordered'] as number | undefined) ?? 0, gap, baselineGap, phases };
    };
    if (!migrate) {
      // The control run: as long a window, nothing moves.
      return await settle();
    }
    await b.warm(KEY, r1, ['eth0', 'eth1'], { remote: [{ port: 'r1.eth0', vni: 100, remote: ea }] });
    lap('prepare (warm)');
    // The source gives r1 a domain of its own (as the agent does before its pre-copy).
    await a.isolate(KEY, 'r1');
    lap('isolate on the source');
    await b.importState(KEY, 'r1', await a.exportState(KEY, 'r1'));
    lap('pre-copy');
    const pa: NetworkPlan = { key: KEY, functions: [src], wires: [], remote: [{ port: 'src.out', vni: 100, remote: eb }] };
    const pb: NetworkPlan = { key: KEY, functions: [r1, r2, sink], wires: [['r1.eth1', 'r2.eth0'], ['r2.eth1', 'sink.in']], remote: [{ port: 'r1.eth0', vni: 100, remote: ea }] };
    await a.apply(pa);
    await b.apply(pb);
    lap('switch (both re-plans)');
    const fin = await a.retired(KEY, 'r1');
    lap('drain (grace, final state)');
    if (fin !== undefined) await b.importState(KEY, 'r1', mergeState('router', await b.exportState(KEY, 'r1'), fin));
    lap('final merge');
    return await settle();
  } finally {
    await a.close();
    await b.close();
  }
}

/**
 * The agent runtime's own switch between domains of one server (`isolate`, a migration's source
 * step before its pre-copy): r1 and r2 share a domain on A (src → r1 → r2 → VXLAN → sink on B);
 * r1 is isolated (both routers move to new domains) under the flow, with the input held until the
 * old domain's final state is in the new ones (`hold`) or re-pointed at once (no hold, the
 * routers' default). Gap timed where the flow enters the sink's domain on B.
 */
async function isolateTrial(kpps: number, seconds: number, hold: boolean | undefined): Promise<Trial & { moves: { held: number; unheld: number } }> {
  const n = Math.round(kpps * 1000 * seconds);
  const { src, r1, r2, sink } = lineSpecs(kpps, n);
  const a = await AgentRuntime.open({ name: 'a', vxlan: { address: '127.0.0.1', port: 0 }, domainTickMs: 1, ...rt });
  const b = await AgentRuntime.open({ name: 'b', vxlan: { address: '127.0.0.1', port: 0 }, domainTickMs: 1, ...rt });
  a.hold = hold;
  try {
    const ea = a.endpoint as { address: string; port: number };
    const eb = b.endpoint as { address: string; port: number };
    await b.apply({ key: KEY, functions: [sink], wires: [], remote: [{ port: 'sink.in', vni: 101, remote: ea }] });
    await a.apply({ key: KEY, functions: [src, r1, r2], wires: [['src.out', 'r1.eth0'], ['r1.eth1', 'r2.eth0']], remote: [{ port: 'r2.eth1', vni: 101, remote: eb }] });
    const tapAtt = b.host.bridge.attachments().find((x) => x.label === `${KEY}:sink.in`)?.id ?? -1;
    const tap = new GapTap();
    b.host.capture(tapAtt, tap);
    const flow = async (): Promise<Obj | undefined> => (((await b.exportState(KEY, 'sink')) as Obj)['flows'] as readonly Obj[]).find((f) => f['id'] === 2);
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    while ((((await flow())?.['received'] as number | undefined) ?? 0) < n / 10) await sleep(10);
    tap.longest = 0;
    await sleep(300);
    const baselineGap = tap.longest;
    tap.longest = 0;
    const moves0 = { ...a.moves };
    const t0 = performance.now();
    await a.isolate(KEY, 'r1');
    const phases: Record<string, number> = { isolate: performance.now() - t0 };
    // The switch and the final copy happen within the call: the longest gap ending by its end + 5 ms.
    await sleep(5);
    phases['gapDuringIsolate'] = tap.longest;
    await sleep(295);
    const gap = tap.longest;
    phases['gapEndsAfterStart'] = tap.longestAt - t0;
    const end = performance.now() + 15000;
    while (((await flow())?.['maxSeq'] as number | undefined) !== n - 1 && performance.now() < end) await sleep(20);
    await sleep(300);
    const f = (await flow()) ?? {};
    return { lost: n - ((f['received'] as number | undefined) ?? 0), duplicates: (f['duplicates'] as number | undefined) ?? 0, reordered: (f['reordered'] as number | undefined) ?? 0, gap, baselineGap, phases, moves: { held: a.moves.held - moves0.held, unheld: a.moves.unheld - moves0.unheld } };
  } finally {
    await a.close();
    await b.close();
  }
}

/** The agents' data plane at SCHED_FIFO when the bench may (see bench/migration.ts), else normal scheduling. */
let rt: { realtime?: number } = {};

export async function runAgentMigration(r: Reporter, realtime?: number): Promise<void> {
  rt = realtime !== undefined ? { realtime } : {};
  r.note(`agent runtime: ${realtime !== undefined ? `data plane at SCHED_FIFO ${realtime}` : 'normal scheduling'}`);
  {
    const kpps = 20;
    const byMode = new Map<string, (Trial & { moves: { held: number; unheld: number } })[]>([['hold', []], ['no hold', []]]);
    for (let k = 0; k < 3; k++) for (const [mode, ts] of byMode) ts.push(await isolateTrial(kpps, 2, mode === 'hold' ? true : undefined));
    const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
    for (const [mode, ts] of byMode) {
      for (const t of ts) r.note(`agent runtime isolate (${mode}): ${fmt(t.phases['isolate'] ?? 0)} ms (longest gap within it + 5 ms: ${fmt(t.phases['gapDuringIsolate'] ?? 0)} ms; overall longest ending ${fmt(t.phases['gapEndsAfterStart'] ?? 0)} ms after its start), moved ${t.moves.held} held / ${t.moves.unheld} unheld; gap ${fmt(t.gap)} ms (baseline ${fmt(t.baselineGap)} ms); lost ${t.lost}, duplicates ${t.duplicates}, reordered ${t.reordered}`);
      const name = `agent runtime: two routers out of their shared domain (isolate) at ${kpps} kpps (${mode})`;
      r.record({ name: `${name}: packets lost`, value: ts.reduce((s, t) => s + t.lost, 0), unit: 'packets', target: 0, better: 'lower' });
      r.record({ name: `${name}: duplicates`, value: ts.reduce((s, t) => s + t.duplicates, 0), unit: 'packets', target: 0, better: 'lower' });
      r.record({ name: `${name}: reordered`, value: ts.reduce((s, t) => s + t.reordered, 0), unit: 'packets', target: null, better: 'lower' });
      r.record({ name: `${name}: longest gap`, value: med(ts.map((t) => t.gap)), unit: 'ms', target: 1, better: 'lower', baseline: med(ts.map((t) => t.baselineGap)) });
      r.record({ name: `${name}: longest gap within the isolate call + 5 ms`, value: med(ts.map((t) => t.phases['gapDuringIsolate'] ?? 0)), unit: 'ms', target: 1, better: 'lower', baseline: med(ts.map((t) => t.baselineGap)) });
    }
  }
  if (process.env['SWNET_BENCH_AGENT'] === 'isolate') return;
  const kpps = 20;
  const trials: Trial[] = [];
  const control: Trial[] = [];
  for (let k = 0; k < 3; k++) {
    trials.push(await trial(kpps, 3, true));
    control.push(await trial(kpps, 3, false));
  }
  for (const t of trials) r.note(`agent runtime: ${Object.entries(t.phases).map(([p, ms]) => `${p} ${fmt(ms)} ms`).join(', ')}; gap ${fmt(t.gap)} ms (baseline ${fmt(t.baselineGap)} ms); lost ${t.lost}, duplicates ${t.duplicates}, reordered ${t.reordered}`);
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  const name = `planned migration through the agent runtime at ${kpps} kpps (router across servers, VXLAN)`;
  // Baseline: the same runs without a migration (what the machine loses on its own).
  r.record({ name: `${name}: packets lost`, value: trials.reduce((s, t) => s + t.lost, 0), unit: 'packets', target: 0, better: 'lower', baseline: control.reduce((s, t) => s + t.lost, 0) });
  r.record({ name: `${name}: duplicates`, value: trials.reduce((s, t) => s + t.duplicates, 0), unit: 'packets', target: 0, better: 'lower' });
  r.record({ name: `${name}: longest gap`, value: med(trials.map((t) => t.gap)), unit: 'ms', target: 1, better: 'lower', baseline: med(trials.map((t) => t.baselineGap)) });
}
