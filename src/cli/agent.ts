/**
 * `swnet agent --server NAME --store URL [--vxlan-listen ADDR:PORT]`: the server agent. It
 * keeps the server's heartbeat on a store lease (its VXLAN endpoint in the heartbeat value),
 * watches placements, SoftwareNetworks and heartbeats, and makes this server run what is
 * placed on it: per software network a user domain (src/host/agent-runtime.ts) with the
 * functions placed here, local links as wires inside it, links to functions on other servers as
 * VXLAN (one VNI per cross-server link, derived from the network and the link's index so both
 * ends agree without talking), routers' FIBs computed by SDN routing (src/control/routing.ts)
 * and given to the routers with their configuration. A network with `isolation: context` (per-user
 * networks) runs instead as one context of a domain it shares with other such networks
 * (src/host/context-domain.ts); its status entry says `isolation: context` and which domain
 * (`shared`). A changed plan keeps the functions' state
 * (make-before-break: unchanged domains are only rewired, a new FIB gets a new domain with the
 * old one's state, a function placed elsewhere keeps running a grace period). Its steps of
 * planned migrations run in agent-migrate.ts. Every few seconds it writes the Server's status
 * (`agent`, `utilization`, `powerWatts`, `energyJoules`, `domains`). A network it cannot run
 * gets a Warning event (AgentError), an `error` in the Server's status `domains` and the
 * Server's condition `DomainsReady=False` (AgentError, naming the networks); it is retried at
 * each resync. SIGTERM/SIGINT: domains destroyed, lease revoked (the server goes
 * NotReady at once and its functions are placed elsewhere).
 *
 * A port can also be joined to a VXLAN endpoint outside swnet (a kernel vxlan device, a switch)
 * with the SoftwareNetwork annotation `swnet.io/vxlan.<fn>.<port>: "VNI@ADDR:PORT"`.
 *
 * Standby copies (`fw~standby-1`) run warm and take over when their primary's hellos stop (agent-standby.ts).
 */
import type { Command } from 'commander';
import { createFunction } from '../functions/registry.js';
import type { FunctionSpec } from '../host/domain.js';
import { AgentRuntime, type NetworkPlan, type RemotePort, type RuntimeReport } from '../host/agent-runtime.js';
import { powerModel, type PowerModel } from '../policy/power.js';
import { EventRecorder, setCondition } from '../control/events.js';
import { HEARTBEAT_PREFIX, heartbeatKey, startHeartbeat, type Heartbeat } from '../control/heartbeat.js';
import { readResource } from '../control/manifest/apply.js';
import { kindPrefix, resourceKey, type Resource, type SoftwareNetworkSpec } from '../control/manifest/types.js';
import { PLACEMENT_PREFIX, type Placement } from '../control/placement.js';
import { computeRoutes } from '../control/routing.js';
import { parseCpu } from '../control/manifest/quantity.js';
import { openStore } from '../control/store/open.js';
import type { JsonObject, Store } from '../control/store/contract.js';
import { Reflector } from '../control/store/reflector.js';
import { parseListen } from './controller.js';
import { stopOnSignals } from './shutdown.js';
import { lineLog } from '../control/log.js';
import { daemonLogger, logOptions } from './log-options.js';
import { StandbyManager, type StandbyOptions } from './agent-standby.js';
import { startAgentAutoscaler } from './agent-autoscale.js';
import { MigrationAgent } from './agent-migrate.js';
import { SpreadNode, type SpreadTarget } from '../host/spread.js';
import { SpreadReplicas, spreadStatus, spreadTargets, storeSpreadState } from './agent-spread.js';

export class AgentError extends Error {
  override readonly name = 'AgentError';
}

export interface ServerAgentInit {
  readonly store: Store;
  readonly server: string;
  /** Where the VXLAN uplink listens (port 0: chosen by the system). */
  readonly vxlan?: { readonly address: string; readonly port: number };
  readonly ttlSeconds?: number;
  /** Period of Server status writes (ms); default 5000. */
  readonly statusMs?: number;
  /** Period of the full resync (ms); default 2000. */
  readonly resyncMs?: number;
  /** Warm standbys and failover: hello socket and interval, state copy period (agent-standby.ts). */
  readonly standby?: StandbyOptions;
  readonly log?: (line: string) => void;
  /** Domain 0 and the domain workers at SCHED_FIFO, workers at this priority (AgentRuntimeInit.realtime). */
  readonly realtime?: number;
}

/** The VNI of link `index` of a network: 16 bits of FNV-1a of `ns/net`, 8 bits of the index (never 0). */
export function linkVni(key: string, index: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  const v = (((h ^ (h >>> 16)) & 0xffff) << 8) | (index & 0xff);
  return v === 0 ? 1 : v;
}

const NET_PREFIX = kindPrefix('SoftwareNetwork');

/**
 * Emulated forwarding capacity of one CPU of a Server's spec (packets per second): the token
 * scheduler shares it among the networks (by their `tokens`), and the utilisation it measures
 * drives the power model and `status.utilization.cpu`.
 */
export const PACKETS_PER_CPU = 100_000;

/**
 * One server's agent over a store.
 * @example
 * const agent = await ServerAgent.start({ store, server: 's1', vxlan: { address: '127.0.0.1', port: 0 } });
 * // ... on SIGTERM:
 * await agent.stop();
 */
export class ServerAgent {
  /** Placements, SoftwareNetworks and heartbeats, cached: a reconcile reads memory, not the store. */
  private readonly reflectors: Reflector[] = [];
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | undefined;
  private statusWrite: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  private readonly errors = new Map<string, string>();
  /** Computed routes per network, by uid and generation: a resync (every 2 s) must not recompute a 200-router line's FIBs. */
  private readonly routeCache = new Map<string, { id: string; routes: ReadonlyMap<string, readonly unknown[]> }>();
  /**
   * The functions of the last plans per network, by routes id and the functions placed here: the
   * same inputs give the same array, so a resync that changes nothing neither rebuilds 200
   * routers' configurations (40,000 routes) nor has the runtime serialise them to compare.
   */
  private readonly fnCache = new Map<string, Map<string, { functions: FunctionSpec[]; replicas: Record<string, number> }>>();
  /** What the last apply per network was given: its functions array and the rest of the plan, serialised. */
  private readonly applied = new Map<string, { functions: readonly FunctionSpec[]; rest: string }>();
  private condition: string | undefined;
  private readonly events: EventRecorder;
  /** Last reconcile's outcome per network key, for the status. */
  private lastReport: RuntimeReport | undefined;
  /** Warm standbys, hellos and failover (agent-standby.ts). */
  standby: StandbyManager | undefined;
  /** This server's steps of planned migrations (agent-migrate.ts). */
  migrations: MigrationAgent | undefined;
  /** Replicas spread over servers placed here for fronts elsewhere (agent-spread.ts). */
  spreadReplicas: SpreadReplicas | undefined;

  private constructor(
    readonly init: ServerAgentInit,
    readonly runtime: AgentRuntime,
    private heartbeat: Heartbeat | undefined,
  ) {
    this.events = new EventRecorder(init.store, { component: `agent/${init.server}` });
  }

  /** Opens the runtime, starts the heartbeat, watches and the first reconcile. */
  static async start(init: ServerAgentInit): Promise<ServerAgent> {
    let power: PowerModel | undefined;
    let capacity: { capacity: number; unit: 'packets' } | undefined;
    const srv = await init.store.get(resourceKey('Server', init.server));
    if (!srv) init.log?.(`agent ${init.server}: no Server '${init.server}' in the store yet (its power model and capacity are read at start)`);
    else {
      const spec = readResource(srv).spec;
      const sp = (spec['power'] ?? undefined) as { specpower?: number[] } | undefined;
      if (sp && Array.isArray(sp.specpower) && sp.specpower.length === 11) power = powerModel(`${init.server} specpower`, sp.specpower);
      const cpu = (spec['capacity'] as { cpu?: number | string } | undefined)?.cpu;
      try {
        if (cpu !== undefined) capacity = { capacity: parseCpu(cpu) * PACKETS_PER_CPU, unit: 'packets' };
      } catch {
        // The manifest schema checked it; a bad value only loses the utilisation figure.
      }
    }
    const runtime = await AgentRuntime.open({ name: init.server, ...(init.vxlan ? { vxlan: init.vxlan } : {}), ...(power ? { power } : {}), ...(capacity ? { capacity } : {}), ...(init.realtime !== undefined ? { realtime: init.realtime } : {}) });
    const ep = runtime.endpoint;
    let hb: Heartbeat;
    const standby = await StandbyManager.open({ ...init.standby, server: init.server, ...(init.vxlan ? { defaultAddress: init.vxlan.address } : {}) }).catch(async (e: unknown) => { await runtime.close(); throw e; });
    try {
      hb = await startHeartbeat(init.store, init.server, { ttlSeconds: init.ttlSeconds ?? 10, info: { ...(ep ? { vxlan: `${ep.address}:${ep.port}` } : {}), hello: standby.endpoint }, onError: (e) => init.log?.(`agent ${init.server}: heartbeat: ${e.message}`) });
    } catch (e) {
      await Promise.all([runtime.close(), standby.close()]);
      throw e;
    }
    const a = new ServerAgent(init, runtime, hb);
    a.standby = standby;
    const kick = (): void => a.kick();
    try {
      for (const prefix of [PLACEMENT_PREFIX, NET_PREFIX, HEARTBEAT_PREFIX]) a.reflectors.push(await Reflector.start(init.store, { prefix, onChange: kick, onRelist: (e) => init.log?.(`agent ${init.server}: relist ${prefix}: ${e.message}`) }));
      const [pl, , beats] = a.reflectors as [Reflector, Reflector, Reflector];
      await standby.start({ store: init.store, server: init.server, runtime, placements: pl.cache, heartbeats: beats.cache, planWith: (k, f) => a.planWith(k, f), waitPlacements: (r) => pl.waitFor(r), reconcileNow: () => (a.kick(), a.settled()), fail: () => a.kill(), ...(init.log ? { log: init.log } : {}) });
      if (runtime.uplink) {
        // A replica whose agent's heartbeat is gone is not asked for its flows (its buckets move without them at once).
        runtime.spread = new SpreadNode({ host: runtime.host, uplink: runtime.uplink, server: init.server, state: storeSpreadState(init.store), alive: (s) => beats.cache.has(heartbeatKey(s)) });
        a.spreadReplicas = new SpreadReplicas({ server: init.server, node: runtime.spread, runtime, placements: pl.cache, networks: (a.reflectors[1] as Reflector).cache, endpoint: (s) => a.peerEndpoint(s), ...(init.log ? { log: init.log } : {}) });
      }
      a.migrations = await MigrationAgent.start({ store: init.store, server: init.server, runtime, planWith: (k, f) => a.planWith(k, f), ...(init.log ? { log: init.log } : {}) });
    } catch (e) {
      await a.stop();
      throw e;
    }
    a.timers.push(
      setInterval(kick, init.resyncMs ?? 2000),
      setInterval(() => {
        if (!a.statusWrite) a.statusWrite = a.writeStatus().finally(() => (a.statusWrite = undefined));
      }, init.statusMs ?? 5000),
    );
    // Vertical elasticity: token allocations follow each network's load within its spec.autoscale limits.
    a.timers.push(startAgentAutoscaler({ store: init.store, server: init.server, host: runtime.host, ...(init.log ? { log: init.log } : {}) }));
    for (const t of a.timers) t.unref();
    a.kick();
    return a;
  }

  get server(): string {
    return this.init.server;
  }

  /** Schedules a reconcile (coalesced: one runs at a time, one more after it if asked meanwhile). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = (async () => {
      do {
        this.dirty = false;
        await this.reconcile().catch((e: unknown) => this.init.log?.(`agent ${this.server}: reconcile: ${e instanceof Error ? e.message : String(e)}`));
      } while (this.dirty && !this.stopped);
      this.running = undefined;
    })();
  }

  /** Waits until no reconcile is running (tests). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** One pass: desired plans from the store, applied to the runtime; the rest removed. */
  async reconcile(): Promise<void> {
    const [placements, nets, beats] = this.reflectors;
    // Still starting: start() kicks once all three caches are filled.
    if (!placements || !nets || !beats) return;
    const byNet = new Map<string, Placement[]>();
    for (const kv of placements.cache.values()) {
      const p = kv.value as unknown as Placement;
      if (p.function.includes('~')) continue;
      const key = `${p.namespace}/${p.network}`;
      let l = byNet.get(key);
      if (!l) byNet.set(key, (l = []));
      l.push(p);
    }
    const wanted = new Set<string>();
    for (const [key, ps] of byNet) {
      if (this.stopped) return;
      if (!ps.some((p) => p.server === this.server)) continue;
      wanted.add(key);
      const [ns, name] = key.split('/') as [string, string];
      try {
        const kv = nets.cache.get(resourceKey('SoftwareNetwork', name, ns));
        if (!kv) continue;
        const net = readResource(kv);
        const plan = await this.plan(key, net, ps);
        // Only this reconcile applies plans (isolations re-apply the runtime's own): the same
        // functions array and the same rest is the plan the runtime runs, 'unchanged' without
        // serialising 200 routers' FIBs on the thread that carries the traffic.
        const rest = JSON.stringify({ ...plan, functions: null });
        const last = this.applied.get(key);
        let r: Awaited<ReturnType<AgentRuntime['apply']>>;
        if (last && last.functions === plan.functions && last.rest === rest && this.runtime.keys().includes(key)) r = 'unchanged';
        else {
          this.applied.delete(key);
          r = await this.runtime.apply(plan);
          this.applied.set(key, { functions: plan.functions, rest });
        }
        if (r !== 'unchanged') {
          this.init.log?.(`agent ${this.server}: ${key} ${r} (${plan.functions.map((f) => f.name).join(', ')})`);
          await this.events.record({ kind: 'SoftwareNetwork', name, namespace: ns }, 'Normal', r === 'created' ? 'DomainCreated' : 'DomainReplaced', `${this.server}: ${plan.functions.map((f) => f.name).join(', ')} (${plan.wires.length} local links, ${plan.remote.length} over VXLAN)`).catch(() => undefined);
        }
        if (this.errors.delete(key)) await this.events.record({ kind: 'SoftwareNetwork', name, namespace: ns }, 'Normal', 'AgentRunning', `${this.server}: running ${plan.functions.map((f) => f.name).join(', ')}`).catch(() => undefined);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (this.errors.get(key) !== msg) {
          this.errors.set(key, msg);
          this.init.log?.(`agent ${this.server}: ${key}: ${msg}`);
          await this.events.record({ kind: 'SoftwareNetwork', name, namespace: ns }, 'Warning', 'AgentError', `${this.server}: ${msg}`).catch(() => undefined);
        }
      }
    }
    for (const key of this.runtime.keys()) {
      if (wanted.has(key) || this.stopped) continue;
      await this.runtime.remove(key);
      this.routeCache.delete(key);
      this.fnCache.delete(key);
      this.applied.delete(key);
      this.init.log?.(`agent ${this.server}: ${key} removed (no placement here)`);
    }
    for (const key of [...this.errors.keys()]) if (!wanted.has(key)) this.errors.delete(key);
    await this.syncCondition();
    await this.standby?.reconcile();
    await this.spreadReplicas?.reconcile().catch((e: unknown) => this.init.log?.(`agent ${this.server}: spread replicas: ${e instanceof Error ? e.message : String(e)}`));
    this.migrations?.kick();
  }

  /** The plan of network `key` were `fn` (or each of several) placed on this server (what a warm standby or a migration's target must run). */
  async planWith(key: string, fn: string | readonly string[]): Promise<NetworkPlan | undefined> {
    const [ns, name] = key.split('/') as [string, string];
    const kv = this.reflectors[1]?.cache.get(resourceKey('SoftwareNetwork', name, ns));
    const here = new Set(typeof fn === 'string' ? [fn] : fn);
    const ps = [...(this.reflectors[0]?.cache.values() ?? [])].map((x) => x.value as unknown as Placement).filter((p) => p.namespace === ns && p.network === name && !p.function.includes('~'));
    return kv ? this.plan(key, readResource(kv), ps.map((p) => (here.has(p.function) ? { ...p, server: this.server } : p))) : undefined;
  }

  /** The Server's `DomainsReady` condition: False (AgentError) naming every network it cannot run. */
  private async syncCondition(): Promise<void> {
    const msg = this.errors.size === 0 ? `running ${this.runtime.keys().length} network(s)` : [...this.errors].map(([k, m]) => `${k}: ${m}`).join('; ');
    const want = `${this.errors.size === 0}\0${this.errors.size === 0 ? '' : msg}`;
    if (want === this.condition || this.stopped) return;
    try {
      await setCondition(this.init.store, { kind: 'Server', name: this.server }, this.errors.size === 0 ? { type: 'DomainsReady', status: 'True', reason: 'Running', message: msg } : { type: 'DomainsReady', status: 'False', reason: 'AgentError', message: msg });
      this.condition = want;
    } catch (e) {
      this.init.log?.(`agent ${this.server}: condition: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The runtime plan of one network from its spec and placements. */
  private async plan(key: string, net: Resource, ps: readonly Placement[]): Promise<NetworkPlan> {
    const spec = net.spec as unknown as SoftwareNetworkSpec;
    const where = new Map(ps.map((p) => [p.function, p.server]));
    let routes: ReadonlyMap<string, readonly unknown[]> = new Map();
    // Routes depend on the spec only: same uid and generation, same routes.
    const id = net.metadata.uid !== undefined ? `${net.metadata.uid}/${net.metadata.generation ?? 0}` : JSON.stringify(spec);
    try {
      const hit = this.routeCache.get(key);
      if (hit && hit.id === id) routes = hit.routes;
      else {
        // Aggregated exactly (sibling prefixes with one next hop merged): the same forwarding, a
        // 200-router line's FIBs in ~7,600 routes instead of ~158,000 to build, copy and parse.
        routes = computeRoutes(spec, { aggregate: true }).routes;
        this.routeCache.set(key, { id, routes });
      }
    } catch (e) {
      throw new AgentError(`routing: ${e instanceof Error ? e.message : String(e)}`);
    }
    const fnKey = `${id}\0${spec.functions.filter((f) => where.get(f.name) === this.server).map((f) => f.name).join(',')}`;
    let byFns = this.fnCache.get(key);
    if (!byFns) this.fnCache.set(key, (byFns = new Map()));
    const hitFns = byFns.get(fnKey);
    const functions: FunctionSpec[] = hitFns?.functions ?? [];
    // Horizontal elasticity: a function with `replicas` runs as a partition of that many instances here.
    const replicas: Record<string, number> = hitFns?.replicas ?? {};
    for (const f of hitFns ? [] : spec.functions) {
      if (where.get(f.name) !== this.server) continue;
      if (f.replicas !== undefined) replicas[f.name] = f.replicas;
      let config = (f.config ?? {}) as JsonObject;
      const fib = routes.get(f.name);
      if (f.kind === 'router' && fib && fib.length > 0) {
        // Static routes of the spec win over computed ones for the same prefix.
        const own = Array.isArray(config['routes']) ? (config['routes'] as JsonObject[]) : [];
        const mine = new Set(own.map((r) => String(r['prefix'])));
        config = { ...config, routes: [...own, ...(fib as JsonObject[]).filter((r) => !mine.has(String(r['prefix'])))] };
      }
      functions.push({ name: f.name, kind: f.kind, config });
    }
    if (!hitFns) {
      // A few entries: this server's plan and the ones a warm standby or a migration asks for.
      if (byFns.size >= 4) byFns.clear();
      byFns.set(fnKey, { functions, replicas });
    }
    // Replicas spread over servers: the front (here) reaches each placed replica on its server.
    const spread: Record<string, (SpreadTarget | null)[]> = {};
    let reps = replicas;
    for (const f of spec.functions) {
      if (f.spread !== 'servers' || f.replicas === undefined || where.get(f.name) !== this.server) continue;
      const [ns, name] = key.split('/') as [string, string];
      const t = await spreadTargets(this.reflectors[0]?.cache ?? new Map(), ns, name, f.name, f.replicas, this.server, (s) => this.peerEndpoint(s));
      spread[f.name] = t;
      reps = { ...reps, [f.name]: t.length };
    }
    const portOf = (end: string): { fn: string; port: string } => {
      const i = end.indexOf(':');
      if (i >= 0) return { fn: end.slice(0, i), port: `${end.slice(0, i)}.${end.slice(i + 1)}` };
      const f = spec.functions.find((x) => x.name === end);
      if (!f) throw new AgentError(`link end '${end}': no such function`);
      const first = f.ports?.[0] ?? createFunction(f.kind, (f.config ?? {}) as JsonObject).ports[0]?.name;
      if (first === undefined) throw new AgentError(`link end '${end}': function has no port`);
      return { fn: end, port: `${end}.${first}` };
    };
    const wires: [string, string][] = [];
    const remote: RemotePort[] = [];
    const links = spec.links ?? [];
    for (let i = 0; i < links.length; i++) {
      const [ea, eb] = (links[i] as { endpoints: [string, string] }).endpoints;
      const a = portOf(ea);
      const b = portOf(eb);
      const sa = where.get(a.fn);
      const sb = where.get(b.fn);
      if (sa === this.server && sb === this.server) wires.push([a.port, b.port]);
      else if (sa === this.server || sb === this.server) {
        const [local, peer] = sa === this.server ? [a, sb] : [b, sa];
        if (peer === undefined) throw new AgentError(`link ${ea} - ${eb}: the other end is not placed yet`);
        remote.push({ port: local.port, vni: linkVni(key, i), remote: await this.peerEndpoint(peer) });
      }
    }
    // External attachments: annotation `swnet.io/vxlan.<fn>.<port>: "VNI@ADDR:PORT"` joins that
    // port to a VXLAN endpoint outside swnet (e.g. a kernel vxlan device), from whichever server runs <fn>.
    const linked = new Set([...wires.flat(), ...remote.map((r) => r.port)]);
    for (const [k, v] of Object.entries(net.metadata.annotations ?? {})) {
      const m = /^swnet\.io\/vxlan\.([^.]+)\.(.+)$/.exec(k);
      if (!m || where.get(m[1] as string) !== this.server) continue;
      const port = `${m[1] as string}.${m[2] as string}`;
      const e = /^(\d+)@(.+)$/.exec(v);
      const vni = e ? Number(e[1]) : NaN;
      if (!e || !(vni > 0 && vni <= 0xffffff)) throw new AgentError(`annotation ${k}: want VNI@ADDR:PORT with a 24-bit VNI, got '${v}'`);
      if (linked.has(port)) throw new AgentError(`annotation ${k}: port ${port} is already linked in spec.links`);
      let ep: { host: string; port: number };
      try {
        ep = parseListen(e[2] as string);
      } catch {
        throw new AgentError(`annotation ${k}: want VNI@ADDR:PORT, got '${v}'`);
      }
      remote.push({ port, vni, remote: { address: ep.host, port: ep.port } });
    }
    const tokens = spec.tokens;
    return { key, functions, wires, remote, ...(tokens !== undefined ? { allocation: tokens } : {}), ...(spec.priority !== undefined ? { priority: spec.priority } : {}), ...(Object.keys(reps).length > 0 ? { replicas: reps } : {}), ...(Object.keys(spread).length > 0 ? { spread } : {}), ...(spec.isolation === 'context' ? { isolation: 'context' as const } : {}) };
  }

  /** The VXLAN endpoint a peer agent published in its heartbeat. */
  private async peerEndpoint(server: string): Promise<{ address: string; port: number }> {
    const kv = this.reflectors[2]?.cache.get(heartbeatKey(server));
    const v = kv ? (kv.value as { vxlan?: unknown }).vxlan : undefined;
    if (typeof v !== 'string') throw new AgentError(`server ${server} has no agent with a VXLAN endpoint (no heartbeat${kv ? ' vxlan field' : ''})`);
    const { host, port } = parseListen(v);
    return { address: host, port };
  }

  /** Writes utilisation, power, energy and domains into the Server's status (compare-and-swap). */
  async writeStatus(): Promise<void> {
    if (this.stopped) return;
    try {
      const rep = await this.runtime.report();
      this.lastReport = rep;
      const ep = this.runtime.endpoint;
      const domains = rep.domains.map((d) => ({
        network: d.network, functions: [...d.functions], state: d.state, restarts: d.restarts, processed: d.processed, traffic: d.traffic as unknown as JsonObject,
        drops: d.drops, latency: { ...d.latency, buckets: [...d.latency.buckets] }, ...(d.tokens ? { tokens: { ...d.tokens } } : {}), ports: { ...d.ports },
        // An `isolation: context` network: the domain it shares with other networks.
        ...(d.shared ? { isolation: 'context', shared: { ...d.shared } } : {}),
      }));
      // status.cordoned mirrors spec.unschedulable (contract s11 §2), so status readers need not read the spec.
      const srv = await this.init.store.get(resourceKey('Server', this.server));
      const cordoned = srv ? readResource(srv).spec['unschedulable'] === true : false;
      const failed = [...this.errors].map(([network, error]) => ({ network, error }));
      const patch: JsonObject = {
        agent: { ...(ep ? { vxlan: `${ep.address}:${ep.port}` } : {}), reportedAt: new Date().toISOString(), pid: process.pid },
        ...(Number.isFinite(rep.utilisation) ? { utilization: { cpu: rep.utilisation } } : {}),
        ...(rep.powerWatts !== undefined ? { powerWatts: rep.powerWatts } : {}),
        ...(rep.energyJoules !== undefined ? { energyJoules: rep.energyJoules } : {}),
        domains: [...domains, ...failed] as unknown as JsonObject[],
        cordoned,
        // Replicas spread over servers: which server runs each instance (agent-spread.ts).
        partitions: spreadStatus(this.runtime),
      };
      if (!this.stopped) await this.patchStatus(patch);
    } catch (e) {
      this.init.log?.(`agent ${this.server}: status: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Merges `patch` into the Server's status (compare-and-swap; conditions untouched). */
  private async patchStatus(patch: JsonObject, drop: readonly string[] = []): Promise<void> {
    const key = resourceKey('Server', this.server);
    for (let attempt = 0; attempt < 10; attempt++) {
      const kv = await this.init.store.get(key);
      if (!kv) return;
      const r = readResource(kv);
      const { resourceVersion: _rv, ...metadata } = r.metadata;
      const status: Record<string, unknown> = { ...(r.status ?? {}), ...patch };
      for (const k of drop) delete status[k];
      const next = { ...r, metadata, status };
      const res = await this.init.store.txn([{ key, modRevision: kv.modRevision }], [{ type: 'put', key, value: next as unknown as JsonObject }]);
      if (res.succeeded) return;
    }
  }

  /** The last report written (undefined before the first). */
  get report(): RuntimeReport | undefined {
    return this.lastReport;
  }

  /** Clean shutdown: stops watching, destroys the domains, revokes the lease. */
  async stop(): Promise<void> {
    const wasRunning = !this.stopped;
    await this.halt();
    // What this server ran is gone: say so, rather than leave the last report standing.
    if (wasRunning) await this.patchStatus({ domains: [], agent: { stoppedAt: new Date().toISOString(), pid: process.pid } }, ['utilization', 'powerWatts']).catch(() => undefined);
    await this.heartbeat?.stop();
    this.heartbeat = undefined;
  }

  /** As if the process died: the lease is left to expire (tests of agent loss). */
  async kill(): Promise<void> {
    this.heartbeat?.abandon();
    this.heartbeat = undefined;
    await this.halt();
  }

  private async halt(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.standby?.close();
    await this.migrations?.stop();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.all(this.reflectors.map((r) => r.stop().catch(() => undefined)));
    await this.settled();
    await this.statusWrite;
    await this.runtime.spread?.close();
    await this.runtime.close();
  }
}

/** `--realtime [priority]` as a priority (true: 10), or undefined; a bad one throws. */
export function realtimeOption(v: string | boolean | undefined): number | undefined {
  if (v === undefined || v === false) return undefined;
  const p = v === true ? 10 : Number(v);
  if (!Number.isInteger(p) || p < 1 || p > 97) throw new Error(`--realtime: a priority in 1…97, got ${String(v)}`);
  return p;
}

export function register(program: Command): void {
  logOptions(program
    .command('agent'))
    .description('run a server agent: heartbeat on a lease, run the functions placed on this server, report its status')
    .requiredOption('--server <name>', 'name of this server (a Server resource)')
    .option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT[,HOST:PORT], memory:')
    .option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)')
    .option('--vxlan-listen <addr:port>', 'VXLAN endpoint for links to other servers (an address the peers reach)')
    .option('--ttl <seconds>', 'heartbeat lease TTL', '10')
    .option('--status-interval <ms>', 'period of Server status writes', '5000')
    .option('--hello-listen <addr:port>', 'UDP endpoint of the failover hellos (default: the VXLAN address, a free port)')
    .option('--hello-interval <ms>', 'hello interval towards warm standbys (down after 3 missed, confirmed)', '50')
    .option('--realtime [priority]', 'run domain 0 and the domain workers at SCHED_FIFO, workers at PRIORITY (default 10), domain 0 one above; needs root or CAP_SYS_NICE')
    .action(async (o: { server: string; store?: string; dataDir?: string; vxlanListen?: string; ttl: string; statusInterval: string; helloListen?: string; helloInterval: string; realtime?: string | boolean }) => {
      try {
        const realtime = realtimeOption(o.realtime);
        const vxlan = o.vxlanListen !== undefined ? parseListen(o.vxlanListen) : undefined;
        const store = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
        const logger = daemonLogger(o as { logLevel?: string; logFormat?: string }, { daemon: 'agent', server: o.server });
        const log = lineLog(logger, 'agent');
        let agent: ServerAgent;
        try {
          agent = await ServerAgent.start({ store, server: o.server, ...(vxlan ? { vxlan: { address: vxlan.host, port: vxlan.port } } : {}), ttlSeconds: Number(o.ttl), statusMs: Number(o.statusInterval), log, ...(realtime !== undefined ? { realtime } : {}), standby: { helloMs: Number(o.helloInterval), ...(o.helloListen !== undefined ? { hello: ((h) => ({ address: h.host, port: h.port }))(parseListen(o.helloListen)) } : {}) } });
        } catch (e) {
          await store.close();
          throw e;
        }
        const ep = agent.runtime.endpoint;
        process.stdout.write(`swnet agent: server ${o.server} (store ${store.backend})${ep ? `, VXLAN on ${ep.address}:${ep.port}` : ''}${realtime !== undefined ? `, data plane at SCHED_FIFO ${realtime}` : ''}\n`);
        // V8's 4 background threads, compiling a new domain's code, kept both cores of a small
        // machine busy under the data plane (docs/host.md, "Real-time data plane").
        if (realtime !== undefined && ![...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].some((a) => a.includes('--v8-pool-size'))) log('hint: with --realtime on a machine of few cores, start node with --v8-pool-size=1 (NODE_OPTIONS) so that compiles do not compete with the data plane');
        stopOnSignals('agent', async () => {
          await agent.stop().catch((e: unknown) => log(`stop: ${String(e)}`));
          await store.close();
        }, log);
        void agent.standby?.failed.then(async () => (log(`swnet agent: ${o.server} failed on command (as after kill -9)`), await store.close().catch(() => undefined), process.exit(137)));
      } catch (e) {
        process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      }
    });
}
