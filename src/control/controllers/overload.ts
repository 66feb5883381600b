/**
 * The overload controller: servers above their policy's threshold shed functions, decided by the
 * SAME code as the simulator — the overload detectors of src/policy/overload.ts (THR, IQR, MAD,
 * LR, LRR) and the node selectors of src/policy/selection.ts (MMT, MC, RS), named as the
 * simulator names its policies (`thr-mmt-0.8`, `lr-mmt-1.2`, …; policy/names.ts).
 *
 * Measurements. Agents write `status.utilization.cpu` (0..1) and per-network `processed`
 * counters in `status.domains[]` with every status report. Each new report is one sample: the
 * server's utilisation is split between its networks by the frames each processed since the
 * previous report (by CPU request when nothing moved), and within a network between its
 * functions on that server by CPU request; each function keeps its own utilisation history,
 * as a VM does in the simulator. A server's HostLoad is then built from the functions on it
 * exactly as the simulator's planner does (requested = Σ requested MIPS, history = Σ history ×
 * MIPS ÷ capacity), so removing a selected function lowers both.
 *
 * Shedding (per round, every `intervalMs`): a server must be found overloaded in `consecutive`
 * successive samples (hysteresis: one spike moves nothing), must not be shedding already (no
 * migration from it in flight) nor have shed in the last `cooldownMs`; then the selector picks
 * functions one by one until the detector clears (as CloudSim's consolidation), each one's target
 * comes from the scheduler's filters and scores ({@link MovePlanner}) and must not be overloaded
 * by the detector once the function is added; at most `maxPerRound` migrations per round in all.
 * Each move is a Migration with reason `overload` and the detector's figure in its detail.
 */
import { overloadDetector, type HostLoad, type OverloadDetector } from '../../policy/overload.js';
import { parsePolicy } from '../../policy/names.js';
import { seededRandom } from '../../policy/rng.js';
import { vmSelector, type VmSelector } from '../../policy/selection.js';
import type { VmSnapshot } from '../../policy/types.js';
import { EventRecorder } from '../events.js';
import { readResource } from '../manifest/apply.js';
import { parseCpu, parseRate } from '../manifest/quantity.js';
import type { Resource } from '../manifest/types.js';
import { keyOf, MIGRATION_PREFIX, newMigration, type MigrationObject } from '../migrations.js';
import { PLACEMENT_PREFIX, placementKey, type Placement } from '../placement.js';
import { MovePlanner, type PlacedFunction } from '../scheduler/move.js';
import { inFlight } from '../server-ops.js';
import type { JsonObject, Store } from '../store/contract.js';
import { Reflector } from '../store/reflector.js';
import { serverSchedulable } from './servers.js';

export interface OverloadControllerInit {
  /** Simulator policy name: DETECTOR-SELECTION-PARAM (default `thr-mmt-0.8`). */
  readonly policy?: string;
  /** Period of a round (ms, default 5000: the agents' status period). */
  readonly intervalMs?: number;
  /** Successive overloaded samples before shedding (default 3: 15 s at the agents' 5 s reports). */
  readonly consecutive?: number;
  /** A server that shed is left alone this long (ms, default 30 000). */
  readonly cooldownMs?: number;
  /** Most migrations created per round (default 2). */
  readonly maxPerRound?: number;
  /** MIPS of one CPU of a server or of a function's request (the detectors are scale-free; default 1000). */
  readonly mipsPerCpu?: number;
  /** Seed of RS selection. */
  readonly seed?: number;
  readonly log?: (line: string) => void;
}

const HISTORY = 30;
const NET_PREFIX = '/swnet/softwarenetwork/';
const INFRA_PREFIXES = ['/swnet/datacenter/', '/swnet/server/', '/swnet/link/'];

interface ServerSample {
  /** Identity of the last report used (the agent's reportedAt). */
  stamp: string;
  /** processed counter per network at that report. */
  processed: Map<string, number>;
  /** Overloaded samples in a row. */
  streak: number;
  lastShedAt: number;
  utilisation: number;
}

interface FunctionLoad {
  /** Utilisation of its nominal MIPS, most recent first. */
  history: number[];
  requestedMips: number;
}

/** A function on a server, as the policy sees it. */
interface Candidate {
  readonly p: Placement;
  readonly vm: VmSnapshot;
}

/**
 * @example
 * const c = await OverloadController.start(store, { policy: 'lr-mmt-1.2', intervalMs: 5000 });
 * // ... c.stats.migrations ...
 * await c.stop();
 */
export class OverloadController {
  private servers!: Reflector;
  private placements!: Reflector;
  private migrations!: Reflector;
  private nets!: Reflector;
  private infra: Reflector[] = [];
  private readonly detector: OverloadDetector;
  private readonly select: VmSelector;
  private readonly policyName: string;
  private readonly samples = new Map<string, ServerSample>();
  private readonly loads = new Map<string, FunctionLoad>();
  private readonly events: EventRecorder;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  readonly stats = { rounds: 0, samples: 0, overloaded: 0, migrations: 0 };

  private constructor(
    private readonly store: Store,
    private readonly init: OverloadControllerInit,
  ) {
    const spec = parsePolicy(init.policy ?? 'thr-mmt-0.8');
    if (spec.kind !== 'consolidation') throw new Error(`overload policy must be DETECTOR-SELECTION-PARAM (e.g. thr-mmt-0.8), got '${spec.name}'`);
    this.policyName = spec.name;
    this.detector = overloadDetector(spec.overload);
    this.select = vmSelector(spec.selection, seededRandom(init.seed ?? 1));
    this.events = new EventRecorder(store, { component: 'overload-controller' });
  }

  static async start(store: Store, init: OverloadControllerInit = {}): Promise<OverloadController> {
    const c = new OverloadController(store, init);
    c.placements = await Reflector.start(store, { prefix: PLACEMENT_PREFIX });
    c.migrations = await Reflector.start(store, { prefix: MIGRATION_PREFIX });
    c.nets = await Reflector.start(store, { prefix: NET_PREFIX });
    for (const prefix of INFRA_PREFIXES) c.infra.push(await Reflector.start(store, { prefix }));
    c.servers = c.infra[1]!;
    c.timer = setInterval(() => c.kick(), init.intervalMs ?? 5000);
    c.timer.unref();
    return c;
  }

  /** Runs one round now (after the one in progress); resolves when it is done. */
  async round(): Promise<void> {
    this.kick();
    await this.chain;
  }

  private kick(): void {
    if (this.stopped) return;
    this.chain = this.chain.then(() => this.pass()).catch((e: unknown) => this.init.log?.(`overload-controller: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`));
  }

  private mips(cpu: number): number {
    return Math.max(1, cpu * (this.init.mipsPerCpu ?? 1000));
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    this.stats.rounds++;
    const now = Date.now();
    const servers = [...this.servers.cache.values()].map(readResource);
    const placements = [...this.placements.cache.values()].map((kv) => kv.value as unknown as Placement);
    const migrations = [...this.migrations.cache.values()].map((kv) => kv.value as unknown as MigrationObject).filter((m) => m.kind === 'Migration');
    const flying = migrations.filter(inFlight);
    const moving = new Set(flying.map((m) => `${m.namespace}/${m.network}/${m.function}`));
    const byServer = new Map<string, Placement[]>();
    for (const p of placements) {
      const l = byServer.get(p.server);
      if (l) l.push(p);
      else byServer.set(p.server, [p]);
    }
    const fresh = new Set<string>();
    for (const s of servers) if (this.sample(s, byServer.get(s.metadata.name) ?? [])) fresh.add(s.metadata.name);
    const capacity = new Map(servers.map((s) => [s.metadata.name, this.mips(parseCpu((s.spec['capacity'] as { cpu: number | string }).cpu))]));
    const bandwidth = new Map(servers.map((s) => [s.metadata.name, serverMbps(s)]));
    const candidatesOf = (server: string): Candidate[] => (byServer.get(server) ?? []).map((p) => ({ p, vm: this.vmOf(p) }));
    const overloadedNow = (server: string, extra?: Candidate, without?: ReadonlySet<Placement>): boolean => {
      const fns = candidatesOf(server).filter((c) => !without?.has(c.p));
      if (extra) fns.push(extra);
      return this.detector(hostLoad(fns.map((c) => c.vm), capacity.get(server) ?? 1, bandwidth.get(server) ?? 1000, (this.init.intervalMs ?? 5000) / 1000));
    };
    // Which servers are overloaded by the policy, with the streak for hysteresis.
    const hot: string[] = [];
    for (const s of servers) {
      const name = s.metadata.name;
      const st = this.samples.get(name);
      if (!st || !fresh.has(name)) continue;
      const over = (byServer.get(name)?.length ?? 0) > 0 && overloadedNow(name);
      st.streak = over ? st.streak + 1 : 0;
      if (over) this.stats.overloaded++;
      if (st.streak >= (this.init.consecutive ?? 3) && now - st.lastShedAt >= (this.init.cooldownMs ?? 30_000) && !flying.some((m) => m.from === name)) hot.push(name);
    }
    if (hot.length === 0) return;
    let budget = this.init.maxPerRound ?? 2;
    const infra = this.infra.flatMap((r) => [...r.cache.values()].map(readResource)).filter((r) => r.kind !== 'Server' || serverSchedulable(r.status));
    const reserved: PlacedFunction[] = flying.flatMap((m) => {
      const p = this.placements.cache.get(placementKey(m.namespace, m.network, m.function))?.value as unknown as Placement | undefined;
      return p && p.server !== m.to ? [{ ...p, server: m.to }] : [];
    });
    const planner = new MovePlanner(infra, placements, reserved);
    const hotSet = new Set(servers.filter((s) => this.samples.get(s.metadata.name)?.streak).map((s) => s.metadata.name));
    // Most loaded first.
    hot.sort((a, b) => (this.samples.get(b)?.utilisation ?? 0) - (this.samples.get(a)?.utilisation ?? 0));
    for (const name of hot) {
      if (budget <= 0 || this.stopped) break;
      const st = this.samples.get(name)!;
      const all = candidatesOf(name);
      // Standby copies carry no load of their own and functions already moving stay put.
      // Standby copies and spread replicas (re-placed by the network controller) are not migrated.
      const list = all.filter((c) => !c.p.function.includes('~standby-') && !c.p.function.includes('~replica-') && !moving.has(`${c.p.namespace}/${c.p.network}/${c.p.function}`));
      const vms = list.map((c) => c.vm);
      const idx = vms.map((_, i) => i);
      const removed = new Set<Placement>();
      const detail = this.detail(name, st.utilisation);
      let shed = 0;
      while (budget > 0 && idx.length > 0) {
        const k = this.select(idx, vms);
        if (k < 0) break;
        const i = idx[k]!;
        idx.splice(k, 1);
        const c = list[i]!;
        const target = this.target(planner, c, name, hotSet, (srv) => overloadedNow(srv, c));
        if (target === undefined) continue;
        const m = newMigration({ namespace: c.p.namespace, network: c.p.network, function: c.p.function, from: name, to: target, reason: 'overload', detail });
        const pk = placementKey(c.p.namespace, c.p.network, c.p.function);
        const res = await this.store.txn([{ key: keyOf(m), modRevision: 0 }, { key: pk, modRevision: this.placements.cache.get(pk)?.modRevision ?? 0 }], [{ type: 'put', key: keyOf(m), value: m as unknown as JsonObject }]);
        if (!res.succeeded) continue;
        budget--;
        shed++;
        this.stats.migrations++;
        removed.add(c.p);
        if (!overloadedNow(name, undefined, removed)) break;
      }
      if (shed > 0) {
        st.lastShedAt = now;
        st.streak = 0;
        await this.events.record({ kind: 'Server', name }, 'Normal', 'Overloaded', `${detail}: shedding ${shed} function(s) (${[...removed].map((p) => `${p.namespace}/${p.network}/${p.function}`).join(', ')})`);
      } else await this.events.record({ kind: 'Server', name }, 'Warning', 'OverloadStuck', `${detail}: no function can go elsewhere`);
    }
  }

  /** `utilisation 0.93 > 0.8 on s2 (thr-mmt-0.8)` */
  private detail(server: string, u: number): string {
    const thr = /^thr-\w+-([0-9.]+)$/.exec(this.policyName);
    return thr ? `utilisation ${u.toFixed(2)} > ${Number(thr[1])} on ${server} (${this.policyName})` : `utilisation ${u.toFixed(2)} on ${server}: overloaded by ${this.policyName}`;
  }

  /** The scheduler's choice, skipping servers the detector finds overloaded (with the function added). */
  private target(planner: MovePlanner, c: Candidate, from: string, hot: ReadonlySet<string>, overloadedWith: (server: string) => boolean): string | undefined {
    const net = this.nets.cache.get(`${NET_PREFIX}${c.p.namespace}/${c.p.network}`);
    if (!net) return undefined;
    const exclude = new Set([from, ...hot]);
    for (let attempt = 0; attempt < 4; attempt++) {
      const plan = planner.plan(readResource(net), [c.p.function], exclude);
      if (!plan.ok) return undefined;
      const to = plan.targets.get(c.p.function) ?? '';
      if (!overloadedWith(to)) return to;
      exclude.add(to);
    }
    return undefined;
  }

  /** The function as a VM of the simulator's snapshot. */
  private vmOf(p: Placement): VmSnapshot {
    const id = `${p.namespace}/${p.network}/${p.function}`;
    const l = this.loads.get(id);
    const mips = this.mips(p.requests.cpu);
    return { mips, ramMb: p.requests.memory / 2 ** 20, bwMbps: p.requests.bandwidth / 1e6, host: -1, requestedMips: l?.requestedMips ?? 0, history: l?.history ?? [] };
  }

  /** Takes a new status report of a server as one sample; false when there is none. */
  private sample(s: Resource, on: readonly Placement[]): boolean {
    const name = s.metadata.name;
    const u = (s.status?.['utilization'] as { cpu?: unknown } | undefined)?.cpu;
    const stamp = (s.status?.['agent'] as { reportedAt?: unknown } | undefined)?.reportedAt;
    if (typeof u !== 'number' || !Number.isFinite(u) || typeof stamp !== 'string') return false;
    let st = this.samples.get(name);
    if (st?.stamp === stamp) return false;
    const domains = (s.status?.['domains'] as { network?: unknown; processed?: unknown }[] | undefined) ?? [];
    const processed = new Map<string, number>();
    for (const d of domains) if (typeof d.network === 'string' && typeof d.processed === 'number') processed.set(d.network, d.processed);
    if (!st) this.samples.set(name, (st = { stamp, processed, streak: 0, lastShedAt: 0, utilisation: u }));
    const prev = st.processed;
    st.stamp = stamp;
    st.processed = processed;
    st.utilisation = u;
    this.stats.samples++;
    const cap = this.mips(parseCpu((s.spec['capacity'] as { cpu: number | string }).cpu));
    // Frames each network processed since the previous report; by CPU request when nothing moved.
    const delta = new Map<string, number>();
    let total = 0;
    for (const [net, n] of processed) {
      const d = Math.max(0, n - (prev.get(net) ?? n));
      delta.set(net, d);
      total += d;
    }
    const cpuOfNet = new Map<string, number>();
    let cpuAll = 0;
    for (const p of on) {
      const key = `${p.namespace}/${p.network}`;
      const c = Math.max(1e-3, p.requests.cpu);
      cpuOfNet.set(key, (cpuOfNet.get(key) ?? 0) + c);
      cpuAll += c;
    }
    for (const p of on) {
      const key = `${p.namespace}/${p.network}`;
      const c = Math.max(1e-3, p.requests.cpu);
      const netShare = total > 0 ? (delta.get(key) ?? 0) / total : (cpuOfNet.get(key) ?? 0) / (cpuAll || 1);
      const share = netShare * (c / (cpuOfNet.get(key) ?? c));
      const requestedMips = u * cap * share;
      const id = `${p.namespace}/${p.network}/${p.function}`;
      let l = this.loads.get(id);
      if (!l) this.loads.set(id, (l = { history: [], requestedMips }));
      l.requestedMips = requestedMips;
      l.history.unshift(requestedMips / this.mips(p.requests.cpu));
      if (l.history.length > HISTORY) l.history.length = HISTORY;
    }
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.chain;
    await Promise.all([this.placements?.stop(), this.migrations?.stop(), this.nets?.stop(), ...this.infra.map((r) => r.stop())]);
  }
}

function serverMbps(s: Resource): number {
  const bw = (s.spec['capacity'] as { bandwidth?: number | string }).bandwidth;
  return bw === undefined ? 1000 : parseRate(bw) / 1e6;
}

/**
 * A host's load from the functions on it, as the simulator's planner builds it: requested MIPS
 * summed, history = Σ function history × MIPS ÷ capacity, largest RAM for LR's look-ahead.
 */
export function hostLoad(vms: readonly VmSnapshot[], capacityMips: number, bwMbps: number, schedulingInterval: number): HostLoad {
  let requested = 0;
  let len = 0;
  let maxRam = 0;
  for (const v of vms) {
    requested += v.requestedMips;
    len = Math.max(len, v.history.length);
    maxRam = Math.max(maxRam, v.ramMb);
  }
  const history = new Float64Array(len);
  for (const v of vms) for (let i = 0; i < v.history.length; i++) history[i] = (history[i] ?? 0) + ((v.history[i] ?? 0) * v.mips) / capacityMips;
  return { capacityMips, requestedMips: requested, history, historyLength: len, maxVmRamMb: maxRam, bwMbps, schedulingInterval };
}

