/**
 * The urbanization controller: consolidates software networks onto few servers when the load is
 * low (the emptied servers go to standby) and spreads them out again when it rises, by asking the
 * SAME policy the simulator runs (src/policy/urbanizer.ts) over a snapshot of the live platform.
 * It only decides: every move is a MigrationObject (contract s11 §1, src/control/migrations.ts,
 * reason `idle` or `overload`) that the migration controller and the agents carry out.
 *
 * Load. A function's demand is its network's frame rate as the network's traffic sinks measure it
 * (the `traffic` counters agents report in `status.domains`, differentiated between reports), so
 * a network costs the same wherever it runs. (The agents' `utilization.cpu` counts only frames that
 * cross servers — a network packed onto one server would look free, and consolidation would feed
 * on itself.) A server's capacity is its annotation `swnet.io/capacity-fps` (frames per second its
 * functions may process), else `capacity.cpu` × 100 000 (the agents' emulated rate per CPU).
 *
 * Each round (every `intervalMs`): measure; skip deciding while any migration is in flight (one
 * wave at a time) or fewer than `minSamples` measurements exist; build the DatacenterSnapshot
 * (servers whose agent is up and that are not cordoned; a standby server is a blank host the
 * policy may switch on); `decide`; then keep at most `maxPerRound` moves (`maxPerNetwork` of one network), each checked against the
 * scheduler's own filters (MovePlanner: CPU/memory, tiers, latency bounds, anti-affinity), drop an
 * evacuation whose server cannot be emptied entirely (a pinned function: standby copy, failed
 * migration in the last `failureHoldMs`) or that was woken less than `holdMs` ago; wake the
 * standby targets; create the migrations. A server left with no function and no migration goes to
 * standby (`status.standby = true`); a standby server that receives a function is awake again.
 * Hysteresis comes from the policy's thresholds (evacuate below `low`, relieve above `high`, fill
 * to `pack`), its forecast (a high quantile of recent samples) and the hold time. Every decision
 * is an event with its reason.
 *
 * @example
 * const u = await UrbanizeController.start(store, { intervalMs: 5000 });
 * // ... u.stats.idle, u.stats.overload, u.stats.standby ...
 * await u.stop();
 */
import { createUrbanizer, DEFAULT_URBANIZER, forecastMips, type Urbanizer, type UrbanizerConfig } from '../../policy/urbanizer.js';
import type { DatacenterSnapshot, HostSnapshot, VmSnapshot } from '../../policy/types.js';
import { powerModel, HP_ML110_G5, type PowerModel } from '../../policy/power.js';
import { EventRecorder } from '../events.js';
import { HEARTBEAT_PREFIX } from '../heartbeat.js';
import { readResource } from '../manifest/apply.js';
import { parseBytes, parseCpu, parseRate } from '../manifest/quantity.js';
import { DEFAULT_NAMESPACE, kindPrefix, resourceKey, type Resource, type SoftwareNetworkSpec } from '../manifest/types.js';
import { keyOf, listMigrations, newMigration, type MigrationObject } from '../migrations.js';
import { PLACEMENT_PREFIX, type Placement } from '../placement.js';
import { MovePlanner } from '../scheduler/move.js';
import type { JsonObject, Store } from '../store/contract.js';

/** Frames per second per CPU of a Server without `swnet.io/capacity-fps` (= the agents' PACKETS_PER_CPU). */
export const FRAMES_PER_CPU = 100_000;
export const CAPACITY_ANNOTATION = 'swnet.io/capacity-fps';

export interface UrbanizeInit {
  /** Period of a round (ms); default 5000. */
  readonly intervalMs?: number;
  /** Policy thresholds and weights (default DEFAULT_URBANIZER, with capacity enforced). */
  readonly policy?: Partial<UrbanizerConfig>;
  /** Most migrations one round creates; default 8. */
  readonly maxPerRound?: number;
  /**
   * Most migrations of one network in one round; default 2 (two linked functions of one network
   * migrating at once: src/cli/agent-migrate-wave.test.ts).
   */
  readonly maxPerNetwork?: number;
  /** A server woken (or put to standby) is not evacuated (woken) for consolidation this long (ms); default 6 rounds. */
  readonly holdMs?: number;
  /** Measurements before the first decision; default 2. */
  readonly minSamples?: number;
  /** A function whose migration failed is left in place this long (ms); default 30 000. */
  readonly failureHoldMs?: number;
  readonly log?: (line: string) => void;
}

export interface UrbanizeServerView {
  readonly name: string;
  /** Frames per second its functions process (the load model above) and that ÷ capacity. */
  readonly fps: number;
  readonly utilisation: number;
  readonly standby: boolean;
  readonly functions: number;
}

export interface UrbanizeStats {
  rounds: number;
  /** Migrations created, by reason. */
  idle: number;
  overload: number;
  /** Servers put to standby / woken. */
  standby: number;
  woken: number;
  /** Moves the policy proposed that the scheduler's filters or the hold rules refused. */
  refused: number;
  /** The last round's view of each server. */
  servers: readonly UrbanizeServerView[];
  /** Why the last round did not decide, if it did not. */
  skipped?: string;
}

const SERVER_PREFIX = kindPrefix('Server');
const NET_PREFIX = kindPrefix('SoftwareNetwork');
const IN_FLIGHT = new Set(['pending', 'prepared', 'state-copied', 'both-running', 'switched', 'drained']);
const HISTORY = 30;

interface Sample {
  received: number;
  at: number;
  rate: number;
  /** The rate comes from two reports (not a first sight). */
  rated: boolean;
}

interface Host {
  readonly name: string;
  readonly resource: Resource;
  readonly capacity: number;
  readonly power: PowerModel;
  readonly ramMb: number;
  readonly bwMbps: number;
  readonly standby: boolean;
}

export class UrbanizeController {
  readonly stats: UrbanizeStats = { rounds: 0, idle: 0, overload: 0, standby: 0, woken: 0, refused: 0, servers: [] };
  private readonly policy: Urbanizer;
  private readonly cfg: UrbanizerConfig;
  private readonly events: EventRecorder;
  /** Per sink `ns/net/fn`: its last counter and rate. */
  private readonly sinks = new Map<string, Sample>();
  /** Per function `ns/net/fn`: demand samples as fractions of the VM's nominal MIPS, newest first. */
  private readonly history = new Map<string, number[]>();
  /** Per server: when it last changed between standby and awake (epoch ms). */
  private readonly changedAt = new Map<string, number>();
  private samples = 0;
  /** Refusals being logged: message and when last logged. */
  private readonly lastWhyNot = new Map<string, { msg: string; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  private constructor(
    private readonly store: Store,
    private readonly init: UrbanizeInit,
  ) {
    this.cfg = { ...DEFAULT_URBANIZER, enforceCapacity: true, ...(init.policy ?? {}) };
    this.policy = createUrbanizer(this.cfg);
    this.events = new EventRecorder(store, { component: 'urbanizer' });
  }

  /** Starts the periodic rounds (the first one after `intervalMs`). */
  static async start(store: Store, init: UrbanizeInit = {}): Promise<UrbanizeController> {
    const c = new UrbanizeController(store, init);
    const every = init.intervalMs ?? 5000;
    c.timer = setInterval(() => {
      if (c.running || c.stopped) return;
      c.running = c.round()
        .then(() => undefined, (e: unknown) => init.log?.(`urbanizer: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => (c.running = undefined));
    }, every);
    c.timer.unref();
    return Promise.resolve(c);
  }

  private get holdMs(): number {
    return this.init.holdMs ?? 6 * (this.init.intervalMs ?? 5000);
  }

  /** One round: measure, decide, act. Public so that tests can drive it. */
  async round(now = Date.now()): Promise<void> {
    this.stats.rounds++;
    const [srvs, pls, nets, beats, migrations] = await Promise.all([this.store.list(SERVER_PREFIX), this.store.list(PLACEMENT_PREFIX), this.store.list(NET_PREFIX), this.store.list(HEARTBEAT_PREFIX), listMigrations(this.store)]);
    const servers = srvs.items.map(readResource);
    const networks = new Map(nets.items.map((kv) => [kv.key, readResource(kv)]));
    const placements = pls.items.map((kv) => kv.value as unknown as Placement);
    const { rates, unmeasured } = this.measure(servers, networks);
    const beating = new Set(beats.items.map((kv) => kv.key.slice(HEARTBEAT_PREFIX.length)));
    const inFlight = migrations.filter((m) => IN_FLIGHT.has(m.phase));
    const busy = new Set(inFlight.flatMap((m) => [m.from, m.to]));

    // Eligible hosts: agent up, not cordoned, Ready not False.
    const hosts: Host[] = [];
    for (const r of servers) {
      const spec = r.spec as { unschedulable?: boolean; capacity?: { cpu?: number | string; memory?: number | string; bandwidth?: number | string }; power?: { specpower?: number[] } };
      const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
      if (!beating.has(r.metadata.name) || spec.unschedulable === true || ready?.status === 'False') continue;
      hosts.push({ name: r.metadata.name, resource: r, capacity: capacityFps(r), power: powerOf(r), ramMb: safe(() => parseBytes(spec.capacity?.memory ?? 0) / 2 ** 20, 0), bwMbps: safe(() => parseRate(spec.capacity?.bandwidth ?? 0) / 1e6, 0) || 1e9, standby: r.status?.['standby'] === true });
    }
    const hostIndex = new Map(hosts.map((h, i) => [h.name, i]));
    const nominal = Math.max(1, ...hosts.map((h) => h.capacity));

    // VMs: every placement on an eligible host (standby copies too: they pin their server).
    const vms: VmSnapshot[] = [];
    const vmInfo: { p: Placement; id: string; pinned: boolean }[] = [];
    const perHost: number[][] = hosts.map(() => []);
    const failedRecently = new Set(migrations.filter((m) => m.phase === 'failed' && now - m.createdAt < (this.init.failureHoldMs ?? 30_000)).map((m) => `${m.namespace}/${m.network}/${m.function}`));
    const moving = new Set(inFlight.map((m) => `${m.namespace}/${m.network}/${m.function}`));
    const seen = new Set<string>();
    for (const p of placements) {
      const h = hostIndex.get(p.server);
      const base = p.function.split('~')[0] as string;
      const id = `${p.namespace}/${p.network}/${p.function}`;
      seen.add(id);
      // A warm standby copy (`fw~standby-1`) processes no traffic; a spread replica (`fw~replica-1`) does.
      const demand = p.function.includes('~standby-') ? 0 : (rates.get(`${p.namespace}/${p.network}`) ?? 0);
      const hist = this.history.get(id) ?? [];
      hist.unshift(Math.min(1, demand / nominal));
      if (hist.length > HISTORY) hist.length = HISTORY;
      this.history.set(id, hist);
      if (h === undefined) continue;
      perHost[h]?.push(vms.length);
      vms.push({ mips: nominal, ramMb: p.requests.memory / 2 ** 20, bwMbps: p.requests.bandwidth / 1e6, host: h, requestedMips: Math.min(demand, nominal), history: hist, antiAffinity: `${p.namespace}/${p.network}/${base}` });
      vmInfo.push({ p, id, pinned: p.function.includes('~') || failedRecently.has(id) || moving.has(id) });
    }
    for (const k of [...this.history.keys()]) if (!seen.has(k)) this.history.delete(k);
    this.samples++;

    const views: UrbanizeServerView[] = hosts.map((h, i) => {
      let fps = 0;
      for (const v of perHost[i] ?? []) fps += vms[v]?.requestedMips ?? 0;
      return { name: h.name, fps, utilisation: fps / h.capacity, standby: h.standby, functions: (perHost[i] ?? []).length };
    });
    this.stats.servers = views;

    delete this.stats.skipped;
    if (inFlight.length > 0) this.stats.skipped = `${inFlight.length} migration(s) in flight`;
    // Never decide on a network not measured yet (a restart at the peak must not look idle), unless
    // it stays unmeasured for long (a network whose sinks never report must not block the others).
    else if (this.samples < (this.init.minSamples ?? 2) || (unmeasured > 0 && this.samples < 20)) this.stats.skipped = `measuring (${unmeasured} network(s) without two reports of their sinks)`;
    else await this.decide(now, hosts, vms, vmInfo, perHost, networks, servers, placements, inFlight);
    // Not while starting or while a network waits for placements: an empty server may be about to receive them.
    const placedNets = new Set(placements.map((p) => `${NET_PREFIX}${p.namespace}/${p.network}`));
    if (this.samples >= (this.init.minSamples ?? 2) && [...networks.keys()].every((k) => placedNets.has(k))) await this.standbyPass(now, hosts, placements, busy);
  }

  /**
   * Network frame rates (mean over the network's sinks) from the traffic the agents report;
   * `unmeasured`: networks with a sink not yet seen in two reports.
   */
  private measure(servers: readonly Resource[], networks: ReadonlyMap<string, Resource>): { rates: Map<string, number>; unmeasured: number } {
    // The freshest report of each sink (during a migration it may be reported by two servers).
    const latest = new Map<string, { received: number; at: number }>();
    for (const r of servers) {
      const st = r.status as { agent?: { reportedAt?: string }; domains?: { network?: string; traffic?: Record<string, { received?: number }> }[] } | undefined;
      const at = Date.parse(st?.agent?.reportedAt ?? '');
      if (!Number.isFinite(at)) continue;
      for (const d of st?.domains ?? []) {
        for (const [fn, t] of Object.entries(d.traffic ?? {})) {
          if (typeof t.received !== 'number' || d.network === undefined) continue;
          const k = `${d.network}/${fn}`;
          const cur = latest.get(k);
          if (!cur || at > cur.at) latest.set(k, { received: t.received, at });
        }
      }
    }
    for (const [k, v] of latest) {
      const prev = this.sinks.get(k);
      if (!prev) this.sinks.set(k, { ...v, rate: 0, rated: false });
      else if (v.at > prev.at) {
        // A counter that went back is a restarted sink: no rate from that pair.
        const rate = v.received >= prev.received ? ((v.received - prev.received) * 1000) / (v.at - prev.at) : prev.rate;
        this.sinks.set(k, { ...v, rate, rated: true });
      }
    }
    const out = new Map<string, number>();
    let unmeasured = 0;
    for (const [key, net] of networks) {
      const ns = key.slice(NET_PREFIX.length).split('/')[0] ?? DEFAULT_NAMESPACE;
      const name = net.metadata.name;
      const sinks = ((net.spec as unknown as SoftwareNetworkSpec).functions ?? []).filter((f) => f.kind === 'traffic-sink');
      if (sinks.length === 0) continue;
      let sum = 0;
      let rated = true;
      for (const s of sinks) {
        const x = this.sinks.get(`${ns}/${name}/${s.name}`);
        sum += x?.rate ?? 0;
        rated &&= x?.rated === true;
      }
      if (!rated) unmeasured++;
      out.set(`${ns}/${name}`, sum / sinks.length);
    }
    return { rates: out, unmeasured };
  }

  private async decide(now: number, hosts: readonly Host[], vms: readonly VmSnapshot[], info: readonly { p: Placement; id: string; pinned: boolean }[], perHost: readonly number[][], networks: ReadonlyMap<string, Resource>, servers: readonly Resource[], placements: readonly Placement[], inFlight: readonly MigrationObject[]): Promise<void> {
    // A host's forecast load, as the policy computes it, tells relief (above `high`) from evacuation.
    const load = hosts.map((_, i) => (perHost[i] ?? []).reduce((s, v) => s + forecastMips(vms[v] as VmSnapshot, this.cfg), 0));
    const overloaded = (h: number): boolean => (load[h] ?? 0) > this.cfg.high * (hosts[h]?.capacity ?? 1);
    const infra = servers.concat(await this.infrastructure());
    const planner = new MovePlanner(infra, placements, inFlight.map((m) => ({ namespace: m.namespace, network: m.network, function: m.function, server: m.to, requests: placements.find((p) => p.namespace === m.namespace && p.network === m.network && p.function === m.function)?.requests ?? { cpu: 0, memory: 0, bandwidth: 0 } })));
    const names = hosts.map((h) => h.name);
    const allServers = servers.map((s) => s.metadata.name);
    const refused = new Set<number>(); // source hosts of an evacuation that cannot complete
    const chosen: { vm: number; from: number; to: number; reason: 'idle' | 'overload' }[] = [];
    const where = Int32Array.from(vms, (v) => v.host);
    const whyNot = new Map<string, string>();
    // The policy knows loads, memory and bandwidth, not the scheduler's other constraints. When the
    // evacuation it prefers is refused, it is asked again with that server held at `low` by a
    // phantom load (no longer a candidate, still a destination) and the accepted moves applied, so
    // that it proposes its next choice in the same round.
    for (let iter = 0; iter < 4; iter++) {
      const list: number[][] = hosts.map(() => []);
      for (let v = 0; v < vms.length; v++) if ((where[v] ?? -1) >= 0) list[where[v] as number]?.push(v);
      const all: VmSnapshot[] = vms.map((v, i) => (where[i] === v.host ? v : { ...v, host: where[i] as number }));
      for (const h of refused) {
        const cap = hosts[h]?.capacity ?? 0;
        let cur = 0;
        for (const v of list[h] ?? []) cur += forecastMips(all[v] as VmSnapshot, this.cfg);
        const need = this.cfg.low * cap - cur;
        if (need <= 0) continue;
        list[h]?.push(all.length);
        all.push({ mips: cap, ramMb: 0, bwMbps: 0, host: h, requestedMips: need, history: [need / cap] });
      }
      const snapshot: DatacenterSnapshot = {
        time: now / 1000,
        schedulingInterval: (this.init.intervalMs ?? 5000) / 1000,
        hosts: hosts.map((h, i): HostSnapshot => ({ peMips: h.capacity, pes: 1, ramMb: h.ramMb, bwMbps: h.bwMbps, power: h.power, allocatedMips: 0, vms: list[i] ?? [] })),
        vms: all,
      };
      const taken = new Set(chosen.map((c) => c.vm));
      const moves = this.policy.decide(snapshot).filter((m) => m.vm < vms.length && !taken.has(m.vm));
      if (moves.length === 0) break;
      const before = refused.size;
      // Relief first: it is never blocked by evacuations.
      const ordered = [...moves].sort((a, b) => Number(overloaded(b.from)) - Number(overloaded(a.from)));
      // Moves of one network between the same two servers are checked together: functions joined
      // by a latency-bounded link may move only as a group.
      const groups = new Map<string, { net: string; vms: number[]; from: number; to: number; reason: 'idle' | 'overload' }>();
      for (const m of ordered) {
        const vi = info[m.vm];
        if (!vi) continue;
        const net = `${vi.p.namespace}/${vi.p.network}`;
        const k = `${net}|${m.from}|${m.to}`;
        const g = groups.get(k);
        if (g) g.vms.push(m.vm);
        else groups.set(k, { net, vms: [m.vm], from: m.from, to: m.to, reason: overloaded(m.from) ? 'overload' : 'idle' });
      }
      for (const g of groups.values()) {
        const from = names[g.from] as string;
        const to = names[g.to] as string;
        const members = g.vms.map((v) => info[v] as { p: Placement; id: string; pinned: boolean });
        let why: string | undefined;
        const pinned = members.find((x) => x.pinned);
        if (pinned) why = `${pinned.p.function} is pinned (standby copy, migrating, or its last migration failed)`;
        else if (g.reason === 'idle' && now - (this.changedAt.get(from) ?? 0) < this.holdMs) why = `${from} changed state less than ${this.holdMs} ms ago`;
        else if (g.reason === 'idle' && refused.has(g.from)) why = `the evacuation of ${from} is incomplete`;
        else {
          const net = networks.get(`${NET_PREFIX}${g.net}`);
          const plan = net ? planner.plan(net, members.map((x) => x.p.function), new Set(allServers.filter((x) => x !== to))) : { ok: false as const, reason: 'network gone' };
          if (!plan.ok) why = plan.reason;
        }
        if (why !== undefined) {
          this.stats.refused += g.vms.length;
          if (g.reason === 'idle' && !refused.has(g.from)) {
            refused.add(g.from);
            // All or nothing: the moves already accepted off that server are undone.
            for (let i = chosen.length - 1; i >= 0; i--) {
              const c = chosen[i] as (typeof chosen)[number];
              if (c.reason !== 'idle' || c.from !== g.from) continue;
              where[c.vm] = c.from;
              chosen.splice(i, 1);
            }
          }
          // The moves refused only because their server's evacuation failed are not worth a line.
          if (!why.startsWith('the evacuation of')) whyNot.set(`${g.net}|${from}|${g.reason}`, `urbanizer: not moving ${g.net} ${members.map((x) => x.p.function).join(', ')} ${from} → ${to} (${g.reason}): ${why}`);
          continue;
        }
        for (const v of g.vms) {
          chosen.push({ vm: v, from: g.from, to: g.to, reason: g.reason });
          where[v] = g.to;
        }
      }
      if (refused.size === before) break;
    }
    // Each refusal is logged once a minute while it lasts.
    for (const [k, msg] of whyNot) {
      const last = this.lastWhyNot.get(k);
      if (last && last.msg === msg && now - last.at < 60_000) continue;
      this.lastWhyNot.set(k, { msg, at: now });
      this.init.log?.(msg);
    }
    for (const k of [...this.lastWhyNot.keys()]) if (!whyNot.has(k)) this.lastWhyNot.delete(k);
    // The round budget may cut an evacuation short: the next round (after this wave) proposes the
    // rest. At most `maxPerNetwork` functions of one network move in one wave (the agents carry
    // linked functions switching at once: their runtime orders a network's changes).
    const perNet = new Map<string, number>();
    const final = chosen
      .filter((c) => {
        const vi = info[c.vm] as { p: Placement };
        const k = `${vi.p.namespace}/${vi.p.network}`;
        const n = (perNet.get(k) ?? 0) + 1;
        perNet.set(k, n);
        return n <= (this.init.maxPerNetwork ?? 2);
      })
      .slice(0, this.init.maxPerRound ?? 8);
    for (const c of final) {
      const vi = info[c.vm] as { p: Placement };
      const from = hosts[c.from] as Host;
      const to = hosts[c.to] as Host;
      const util = (load[c.from] ?? 0) / from.capacity;
      const detail = c.reason === 'idle' ? `consolidation: ${from.name} forecast ${pct(util)} < ${pct(this.cfg.low)}, emptied for standby` : `spread: ${from.name} forecast ${pct(util)} > ${pct(this.cfg.high)}`;
      if (to.standby) await this.setStandby(to.name, false, now, `woken for ${vi.p.network}/${vi.p.function} (${detail})`);
      const mig = newMigration({ namespace: vi.p.namespace, network: vi.p.network, function: vi.p.function, from: from.name, to: to.name, reason: c.reason, detail, by: 'controller', now });
      await this.store.put(keyOf(mig), mig as unknown as JsonObject, { expect: 0 });
      if (c.reason === 'idle') this.stats.idle++;
      else this.stats.overload++;
      this.init.log?.(`urbanizer: ${vi.p.namespace}/${vi.p.network}/${vi.p.function} ${from.name} → ${to.name} (${c.reason}: ${detail})`);
      await this.events.record({ kind: 'SoftwareNetwork', name: vi.p.network, namespace: vi.p.namespace }, 'Normal', c.reason === 'idle' ? 'Consolidate' : 'Spread', `${vi.p.function} ${from.name} → ${to.name}: ${detail}`).catch(() => undefined);
    }
  }

  private async infrastructure(): Promise<Resource[]> {
    const [dc, ln] = await Promise.all([this.store.list(kindPrefix('Datacenter')), this.store.list(kindPrefix('Link'))]);
    return [...dc.items, ...ln.items].map(readResource);
  }

  /** Empty servers go to standby; standby servers that host something again are awake. */
  private async standbyPass(now: number, hosts: readonly Host[], placements: readonly Placement[], busy: ReadonlySet<string>): Promise<void> {
    const used = new Set(placements.map((p) => p.server));
    for (const h of hosts) {
      const occupied = used.has(h.name) || busy.has(h.name);
      if (!h.standby && !occupied) await this.setStandby(h.name, true, now, 'no function left after consolidation');
      else if (h.standby && occupied) await this.setStandby(h.name, false, now, busy.has(h.name) ? 'target of a migration' : 'functions placed on it');
    }
  }

  /** Writes `status.standby` (compare-and-swap, other status fields untouched) and records the event. */
  private async setStandby(server: string, standby: boolean, now: number, why: string): Promise<void> {
    const key = resourceKey('Server', server);
    for (let attempt = 0; attempt < 10; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) return;
      const r = readResource(kv);
      if ((r.status?.['standby'] === true) === standby) return;
      const { resourceVersion: _rv, ...metadata } = r.metadata;
      const next = { ...r, metadata, status: { ...(r.status ?? {}), standby } };
      const res = await this.store.txn([{ key, modRevision: kv.modRevision }], [{ type: 'put', key, value: next as unknown as JsonObject }]);
      if (!res.succeeded) continue;
      this.changedAt.set(server, now);
      if (standby) this.stats.standby++;
      else this.stats.woken++;
      this.init.log?.(`urbanizer: ${server} ${standby ? 'to standby' : 'woken'} (${why})`);
      await this.events.record({ kind: 'Server', name: server }, 'Normal', standby ? 'Standby' : 'Wake', `${server}: ${why}`).catch(() => undefined);
      return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function safe<T>(f: () => T, dflt: T): T {
  try {
    return f();
  } catch {
    return dflt;
  }
}

/** Frames per second a Server's functions may process (annotation, else CPUs × FRAMES_PER_CPU). */
export function capacityFps(r: Resource): number {
  const a = Number(r.metadata.annotations?.[CAPACITY_ANNOTATION]);
  if (Number.isFinite(a) && a > 0) return a;
  const cpu = safe(() => parseCpu((r.spec as { capacity?: { cpu?: number | string } }).capacity?.cpu ?? 1), 1);
  return Math.max(1, cpu * FRAMES_PER_CPU);
}

function powerOf(r: Resource): PowerModel {
  const sp = (r.spec as { power?: { specpower?: number[] } }).power?.specpower;
  return sp ? safe(() => powerModel(r.metadata.name, sp), HP_ML110_G5) : HP_ML110_G5;
}
