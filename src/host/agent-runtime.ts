/**
 * The host side of a server agent: one HostServer and one VXLAN uplink, and per software
 * network placed on this server its local functions in user domains ("cells"): by default one
 * domain for all of them, links among them as wires inside it (direct calls), every port linked
 * elsewhere a virtual NIC in domain 0's bridge — to another cell's vNIC, or to its own VNI on
 * the uplink for a link to another server (one VNI per cross-server link: the bridge joins
 * exactly two attachments, so a VNI is one cable).
 *
 * Functions move without their neighbours noticing:
 * - warm instances (`warm`): a function started idle in a domain of its own, a vNIC per port,
 *   unwired, ready to receive state (`importState`) and to be adopted as it runs by the next
 *   plan that places it here (the target of a planned migration, a warm standby);
 * - state-preserving plan changes (`apply`, make-before-break): a cell whose functions,
 *   configurations and inner wires are unchanged keeps running, only its vNICs are rewired, in
 *   one synchronous step of domain 0 between two pump passes; otherwise its functions go to a
 *   new domain that imports their state (pre-copy while the old runs, then the upstream frames
 *   are held in domain 0 while the old one drains and its final state is copied, as Xen's
 *   stop-and-copy; a configuration that changed — a new FIB — keeps its own keys: agent-state.ts),
 *   then the old is destroyed;
 * - a cell whose functions all left the plan keeps running `graceMs`, then until quiet (frames
 *   still in flight to it are processed and forwarded), then its final state is taken
 *   (`retired`) and its domain destroyed; `isolate` first gives a function about to leave a
 *   domain of its own (a migration's source does so before its pre-copy); a VXLAN remote that
 *   moved is re-pointed in place (`UplinkRemote` of the VNI), nothing restarts;
 * - partitioned functions (`replicas` of the plan, horizontal elasticity): such a function runs
 *   as a Partition (partition.ts) of N instances, each in a domain of its own, frames spread by
 *   flow in domain 0; the partition's fronts stand for the function's ports (wired like a vNIC,
 *   to local cells or a VNI); a changed replica count re-partitions live (`resize`: no frame lost,
 *   the moving flows' state goes with them), nothing else is rebuilt. A function entering or
 *   leaving `replicas` carries its state by a pre-copy only (updates made between that copy and
 *   the switch are lost); a changed configuration rebuilds the partition without its state.
 *
 * The agent (src/cli/agent.ts) turns placements and the SoftwareNetwork spec into a
 * `NetworkPlan`; this file knows nothing of the control plane.
 *
 * @example
 * const rt = await AgentRuntime.open({ name: 's1', vxlan: { address: '127.0.0.1', port: 0 } });
 * await rt.apply({ key: 'default/web', functions: [...], wires: [['r1.eth1', 'r2.eth0']], remote: [] });
 * await rt.warm('default/web', { name: 'fw', kind: 'firewall', config }, ['in', 'out']);
 * const report = await rt.report();
 * await rt.close();
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import type { Plain } from '../functions/contract.js';
import { LatencyMerge } from '../functions/latency.js';
import { createFunction, getFactory } from '../functions/registry.js';
import type { PowerModel } from '../policy/power.js';
import type { FunctionSpec } from './domain.js';
import { faultFactory } from './fault.js';
import { HostServer, type HostDomain } from './hostserver.js';
import type { CostUnit } from './tokens.js';
import { VxlanUplink, type UplinkRemote } from './uplink.js';
import { carryState, mergeState } from './agent-state.js';
import { DomainPool } from './domain-pool.js';
import { Partition, type InstanceSite, type ResizeRecord } from './partition.js';
import type { SpreadNode, SpreadTarget } from './spread.js';
import { ContextNetworks, emptyChanges, holdQueue, type ApplyChanges, type ContextAdoption, type DomainReport } from './context-domain.js';

export type { ApplyChanges, DomainReport } from './context-domain.js';

export class AgentRuntimeError extends Error {
  override readonly name = 'AgentRuntimeError';
}

/** A port of a local function joined to a port on another server through VXLAN. */
export interface RemotePort {
  /** Local end, `fn.port`. */
  readonly port: string;
  readonly vni: number;
  /** The peer agent's VXLAN endpoint. */
  readonly remote: UplinkRemote;
}

/** What one software network needs on this server. */
export interface NetworkPlan {
  /** `namespace/network`. */
  readonly key: string;
  readonly functions: readonly FunctionSpec[];
  /** Local links, `fn.port` pairs. */
  readonly wires: readonly (readonly [string, string])[];
  readonly remote: readonly RemotePort[];
  /** Token share at the emulated server. */
  readonly allocation?: number;
  readonly priority?: number;
  /**
   * Functions partitioned across instances on this server, by name → instance count (1 … 64):
   * present (even 1) = a Partition that resizes live, absent = a member of a cell.
   */
  readonly replicas?: Readonly<Record<string, number>>;
  /**
   * Partitioned functions whose instances run on several servers (spread.ts): per function, the
   * server of each instance (`null`: here), as many as its `replicas`. Needs `spread` set.
   */
  readonly spread?: Readonly<Record<string, readonly (SpreadTarget | null)[]>>;
  /**
   * `context`: the network runs as one context of a domain shared with other such networks
   * (context-domain.ts; not with `replicas`, which need domains of their own); `domain` (the
   * default): in domains of its own. A switch restarts its functions from their configuration.
   */
  readonly isolation?: 'domain' | 'context';
}

export interface ApplyOptions {
  /**
   * How long a function no longer in the plan keeps running before its final state is taken
   * and its domain destroyed (ms, default 100): frames in flight to it still get through.
   * The same for a VNI no longer in the plan (it stays bound, one way, to where it led).
   */
  readonly graceMs?: number;
  /**
   * A function moving between domains here (its state carried to a new domain) has its input held
   * in domain 0 until the old domain's final state is in the new one (true), or not (false: the
   * input goes to the new domain at once, the old one empties its queue beside it, its output
   * still delivered, then its final state is merged into the running new one; frames may be
   * reordered, never lost or duplicated). Default per new domain: no hold when every function in
   * it declares `stateCarriedByPreCopy` (router, switch), a hold otherwise (NAT, firewall, …).
   */
  readonly hold?: boolean;
}


export interface WarmOptions {
  /** Token share of the network at the emulated server, if the network is new here. */
  readonly allocation?: number;
  readonly priority?: number;
  /**
   * The cross-server links the function will have once adopted (`port` is `fn.port`): their
   * VNIs not bound here yet are bound now to the warm instance, one way (frames arriving on
   * them are processed by it; what it sends waits in domain 0 until the adoption). A peer that
   * re-plans before this server then loses nothing.
   */
  readonly remote?: readonly RemotePort[];
}

export interface RuntimeReport {
  /** Fraction of the emulated capacity used since the last report (NaN without a capacity). */
  readonly utilisation: number;
  readonly powerWatts: number | undefined;
  readonly energyJoules: number | undefined;
  readonly domains: readonly DomainReport[];
  readonly drops: Readonly<Record<string, number>>;
}

export interface AgentRuntimeInit {
  readonly name: string;
  /** Where the uplink listens; absent = no cross-server links possible. */
  readonly vxlan?: { readonly address: string; readonly port: number };
  readonly capacity?: { readonly capacity: number; readonly unit: CostUnit };
  readonly power?: PowerModel;
  readonly slots?: number;
  /**
   * Idle domain workers kept started (domain-pool.ts; default 2, 0 = none): a warm instance or a
   * rebuilt cell takes one instead of starting a thread.
   */
  readonly idleWorkers?: number;
  /** Networks per context domain (`isolation: context`); default 64 (context-domain.ts). */
  readonly contextsPerDomain?: number;
  /**
   * Interval of the functions' timers in user domains (ms; default 10): a traffic generator sends
   * what is due at each. Below 1 ms the workers sleep less than 1 ms between rounds. That applies to
   * every domain of the agent: with `realtime`, their wake-ups at 0.2 ms took the CPU that new
   * workers need to start (measured: a move's new domain took 0.2–0.9 s to start, and flows
   * stalled for 50 ms).
   */
  readonly domainTickMs?: number;
  /** Domain 0 and the domain workers at SCHED_FIFO, the workers at this priority (HostServer.realtime); absent = normal scheduling. */
  readonly realtime?: number;
}

/** A function of a cell. */
interface Member {
  readonly spec: FunctionSpec;
  /** Kind and configuration, canonical: equal means the running function can stay. */
  readonly canon: string;
  /** Its ports (bare names). */
  readonly ports: readonly string[];
}

/**
 * One user domain and the functions in it (one context): the links among them are wires
 * inside the domain, every other linked port is a vNIC (`vnics[i]` = `fn.port` of vNIC i).
 */
interface Cell {
  readonly fns: readonly Member[];
  /** Wires inside the domain, canonical (each pair sorted, the list sorted). */
  readonly wires: readonly (readonly [string, string])[];
  readonly vnics: readonly string[];
  readonly hd: HostDomain;
  /**
   * A new domain's vNICs, until the switch, lead to hold queues in domain 0: what it sends
   * before it is wired (a source's first frames) is delivered once it is, not dropped.
   */
  early?: { hold: number; held: Batch[] }[] | undefined;
  /** VNIs bound to a warm instance ahead of its adoption. */
  readonly pre?: Vx[];
}

/** A VNI bound on the uplink for one local port. */
interface Vx {
  readonly vni: number;
  readonly port: string;
  remote: UplinkRemote;
  readonly att: number;
}

/** A partitioned function: its Partition, its fronts standing for its ports. */
interface Part {
  readonly spec: FunctionSpec;
  readonly canon: string;
  /** Its ports (bare names), in the order of `partition.fronts`. */
  readonly ports: readonly string[];
  readonly partition: Partition;
  /** Re-partitions done by plan changes, oldest first (the last 16). */
  readonly resizes: ResizeRecord[];
  /** The plan's `spread` entry it runs (JSON): a change re-partitions. */
  spreadKey: string;
}

interface Running {
  plan: NetworkPlan;
  canon: string;
  readonly cells: Map<string, Cell>;
  readonly parts: Map<string, Part>;
  readonly vx: Map<number, Vx>;
  changes: ApplyChanges;
}

/** A function or VNI running out its grace period. */
/** Functions and VNIs that left a plan together, running out their grace period. */
interface Retiring {
  readonly key: string;
  readonly cells: Cell[];
  readonly vx: Vx[];
  timer: NodeJS.Timeout | undefined;
  /** Ends it (`now`: close, remove with no grace; else after the grace, once quiet); resolves once everything is gone. */
  finish: (now?: boolean) => Promise<void>;
}

/**
 * Kinds that send on their own timers (traffic generators): moved between domains with the
 * others they would send some frames twice or not at all (what the old domain sent after its
 * final state is dropped, the new one's stale frames before it too, racing its timers), so they
 * get a domain of their own, which a plan change of their neighbours never rebuilds.
 */
const SOLO_KINDS: ReadonlySet<string> = new Set(['traffic-source']);
/** Held frames handed to a domain per pump pass on release, and passes at most before the rest go at once. */
const RELEASE_CHUNK = 768;
const RELEASE_PASSES = 200;
/** A retiring function is quiet when nothing reached it for this long (ms) … */
const QUIET_MS = 25;
/** … or this long after its grace period ended, whatever comes (ms). */
const QUIET_MAX_MS = 2000;
/** A VNI that left the plan stays bound this long at least (ms): frames of late peers still get in. */
const VNI_KEEP_MS = 1000;
/** How long a retired function's final state stays available (`retired`), ms. */
const FINAL_KEEP_MS = 60_000;
const canonOf = (f: FunctionSpec): string => JSON.stringify([f.kind, f.config]);
const fnOf = (ref: string): string => ref.slice(0, ref.lastIndexOf('.'));

/**
 * The ports a function of `kind` with `config` declares (ConfigError for a bad configuration).
 *
 * @example
 * functionPorts('router', { interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addresses: ['10.0.0.1/24'] }] }); // ['eth0']
 */
export function functionPorts(kind: string, config: Plain): string[] {
  const f = kind === faultFactory.kind ? faultFactory : getFactory(kind);
  const decl = f?.ports ? f.ports(config) : createFunction(kind, config).ports;
  return decl.map((p) => p.name);
}

export class AgentRuntime {
  /** Functions moved between domains here (state carried to a new domain) with their input held, and without (ApplyOptions.hold), since open. */
  readonly moves = { held: 0, unheld: 0 };
  /** Default of ApplyOptions.hold for every apply and isolation (undefined: per kind). */
  hold: boolean | undefined;
  private readonly nets = new Map<string, Running>();
  private readonly warms = new Map<string, Map<string, Cell>>();
  private readonly retiring = new Set<Retiring>();
  /** Final states of functions that retired (or are retiring), by `key\0fn`. */
  private readonly finals = new Map<string, Promise<Plain | undefined>>();
  /** Idle domain workers (warm starts take one). */
  pool: DomainPool | undefined;
  /** Instances of partitions on other servers, and the ones run here for fronts elsewhere (set by the agent). */
  spread: SpreadNode | undefined;
  /** Networks with `isolation: context`, in shared context domains (context-domain.ts). */
  contexts!: ContextNetworks;
  private lastWork = 0;
  private lastCap = 0;
  private closed = false;

  private constructor(
    readonly host: HostServer,
    readonly uplink: VxlanUplink | undefined,
  ) {}

  /** Opens the host (pool, loop started) and its uplink; rejects with UplinkError if the address is unusable. */
  static async open(init: AgentRuntimeInit): Promise<AgentRuntime> {
    const pool = new DomainPool(init.idleWorkers ?? 2);
    const host = new HostServer({ name: init.name, slots: init.slots ?? 8192, domain: { pool, ...(init.domainTickMs !== undefined ? { tickMs: init.domainTickMs } : {}) }, ...(init.capacity ? { capacity: { ...init.capacity } } : {}), ...(init.power ? { power: init.power } : {}) });
    const uplink = init.vxlan
      ? await VxlanUplink.open({ address: init.vxlan.address, port: init.vxlan.port }, host.pool).catch(async (e: unknown) => {
          await pool.close();
          throw e;
        })
      : undefined;
    if (init.realtime !== undefined) {
      try {
        await host.realtime(init.realtime);
      } catch (e) {
        await uplink?.close();
        await host.close();
        await pool.close();
        throw e;
      }
    }
    host.start();
    const rt = new AgentRuntime(host, uplink);
    rt.pool = pool;
    rt.contexts = new ContextNetworks({ host, uplink, ...(init.contextsPerDomain !== undefined ? { perDomain: init.contextsPerDomain } : {}), takeOverVni: (v) => rt.takeOverVni(v) });
    return rt;
  }

  /** The uplink's bound endpoint (the port is the real one when 0 was asked). */
  get endpoint(): UplinkRemote | undefined {
    return this.uplink ? { address: this.uplink.address, port: this.uplink.port } : undefined;
  }

  keys(): string[] {
    return [...this.nets.keys(), ...this.contexts.keys()];
  }

  /** Functions of network `key` running here (warm instances and retiring ones excluded). */
  functions(key: string): string[] {
    const r = this.nets.get(key);
    return [...(r?.cells.keys() ?? []), ...(r?.parts.keys() ?? []), ...this.contexts.functions(key)];
  }

  /** Domains running network `key` here, with their functions (warm instances excluded; a partition's instances one each). */
  domainsOf(key: string): { id: number; functions: string[] }[] {
    const sh = this.contexts.sharedOf(key);
    if (sh) return [{ id: sh.id, functions: this.contexts.functions(key) }];
    const r = this.nets.get(key);
    const out = [...new Set(r?.cells.values() ?? [])].map((c) => ({ id: c.hd.domain.id, functions: c.fns.map((m) => m.spec.name) }));
    for (const [n, p] of r?.parts ?? []) for (const hd of p.partition.domains()) out.push({ id: hd.domain.id, functions: [n] });
    return out;
  }

  /** The kind of function `fn` of `key` here (warm instance first, else running); undefined if neither. */
  kindOf(key: string, fn: string): string | undefined {
    const c = this.warms.get(key)?.get(fn) ?? this.nets.get(key)?.cells.get(fn);
    return c?.fns.find((m) => m.spec.name === fn)?.spec.kind ?? this.nets.get(key)?.parts.get(fn)?.spec.kind ?? this.contexts.kindOf(key, fn);
  }

  /**
   * The Partition running function `fn` of `key` (plan `replicas`) and the re-partitions plan
   * changes made, oldest first; undefined if `fn` is not partitioned here.
   *
   * @example
   * rt.partitionOf('default/web', 'fw')?.partition.counters().buckets; // { 'fw#0': 129, 'fw#1': 128 }
   */
  partitionOf(key: string, fn: string): { readonly partition: Partition; readonly resizes: readonly ResizeRecord[] } | undefined {
    const p = this.nets.get(key)?.parts.get(fn);
    return p ? { partition: p.partition, resizes: p.resizes } : undefined;
  }

  /** What the last apply of `key` did (undefined if the network is not here). */
  changes(key: string): ApplyChanges | undefined {
    return this.nets.get(key)?.changes ?? this.contexts.changes(key);
  }

  /**
   * Starts function `fn` of network `key` in its own idle domain with a vNIC per port in
   * `ports` (bare names; default: the ports its kind declares), unwired: it gets frames only
   * once a plan that places it here adopts it (`apply`). Replaces a warm instance of the same
   * function with another configuration; no-op if one with this configuration exists.
   * Rejects (ConfigError, DomainError) if the function cannot be built; nothing stays then.
   *
   * @example
   * await rt.warm('default/web', { name: 'r1', kind: 'router', config }, ['eth0', 'eth1']);
   * await rt.importState('default/web', 'r1', state);
   */
  async warm(key: string, fn: FunctionSpec, ports?: readonly string[], opts: WarmOptions = {}): Promise<void> {
    return this.locked(key, () => this.warmNow(key, fn, ports, opts));
  }

  private async warmNow(key: string, fn: FunctionSpec, ports: readonly string[] | undefined, opts: WarmOptions): Promise<void> {
    this.assertOpen();
    const ws = this.warms.get(key);
    const cur = ws?.get(fn.name);
    const canon = canonOf(fn);
    const m0 = cur?.fns[0];
    if (m0 && m0.canon === canon && (!ports || JSON.stringify(ports) === JSON.stringify(m0.ports))) return;
    if (cur) await this.dropWarmNow(key, fn.name);
    if (!this.nets.has(key)) this.host.addNetwork(key, { allocation: opts.allocation ?? 1, ...(opts.priority !== undefined ? { priority: opts.priority } : {}) });
    const all = ports ? [...ports] : functionPorts(fn.kind, fn.config);
    const started = await this.startCell(key, [{ spec: fn, canon, ports: all }], [], all.map((p) => `${fn.name}.${p}`));
    this.bindAhead(key, { ...started, pre: [] }, opts.remote);
  }

  /**
   * Warm instances of several functions of network `key` in ONE idle domain (a drain's wave moving
   * a network: one domain start, not one per function), `wires` among them inside it (the links
   * of `wires` between two of `fns`), a vNIC for every other port; otherwise as {@link warm}. A
   * later plan adopts the domain whole when it places all of them here as they were warmed;
   * otherwise their state is carried out of it. Replaces warm instances of these functions.
   *
   * @example
   * await rt.warmGroup('default/web', [r1, r2], [['r1.eth1', 'r2.eth0']]);
   */
  async warmGroup(key: string, fns: readonly FunctionSpec[], wires: readonly (readonly [string, string])[] = [], opts: WarmOptions = {}): Promise<void> {
    const f0 = fns[0];
    if (fns.length === 1 && f0) return this.warm(key, f0, undefined, opts);
    return this.locked(key, async () => {
      this.assertOpen();
      const names = new Set(fns.map((f) => f.name));
      const members: Member[] = fns.map((f) => ({ spec: { ...f }, canon: canonOf(f), ports: functionPorts(f.kind, f.config) }));
      const inner = wires.filter(([a, b]) => names.has(fnOf(a)) && names.has(fnOf(b))).map(([a, b]): [string, string] => (a < b ? [a, b] : [b, a]));
      inner.sort((x, y) => (x[0] + x[1] < y[0] + y[1] ? -1 : 1));
      const cur = f0 ? this.warms.get(key)?.get(f0.name) : undefined;
      if (cur && cur.fns.length === members.length && cur.fns.every((m, i) => m.canon === members[i]?.canon && m.spec.name === members[i]?.spec.name) && JSON.stringify(cur.wires) === JSON.stringify(inner)) return;
      for (const f of fns) await this.dropWarmNow(key, f.name);
      if (!this.nets.has(key)) this.host.addNetwork(key, { allocation: opts.allocation ?? 1, ...(opts.priority !== undefined ? { priority: opts.priority } : {}) });
      const wired = new Set(inner.flat());
      const vnics = members.flatMap((m) => m.ports.map((p) => `${m.spec.name}.${p}`)).filter((r) => !wired.has(r));
      const started = await this.startCell(key, members, inner, vnics);
      this.bindAhead(key, { ...started, pre: [] }, opts.remote);
    });
  }

  /** Binds the VNIs of `remote` not bound yet to `cell`'s vNICs ahead (one way), and keeps it warm. */
  private bindAhead(key: string, cell: Cell & { pre: Vx[] }, remote: readonly RemotePort[] | undefined): void {
    const pre = cell.pre;
    const br = this.host.bridge;
    for (const r of remote ?? []) {
      if (!cell.vnics.includes(r.port) || !this.uplink || this.uplink.remotesOf(r.vni) !== undefined) continue;
      const i = cell.vnics.indexOf(r.port);
      const vnic = cell.hd.attachments[i];
      const e = cell.early?.[i];
      if (vnic === undefined || !e) continue;
      const att = this.host.attachUplink(this.uplink, r.vni, key, [{ ...r.remote }]);
      // VNI → vNIC one way; the vNIC still sends to its hold queue.
      br.detach(e.hold);
      this.dropHeld(e.held);
      br.wire(att, vnic);
      const h = this.holdFor(key, vnic, true);
      cell.early?.splice(i, 1, h);
      pre.push({ vni: r.vni, port: r.port, remote: { ...r.remote }, att });
    }
    this.putWarm(key, cell);
  }

  /**
   * The functions in the domain of running function `fn` of `key`, itself included ([] if it does
   * not run here in a cell): a migration's source leaves a domain whose functions all leave
   * together (a drain's wave) as it is, instead of isolating each.
   *
   * @example
   * rt.domainOf('default/web', 'r1'); // ['r1', 'r2']
   */
  domainOf(key: string, fn: string): string[] {
    return this.nets.get(key)?.cells.get(fn)?.fns.map((m) => m.spec.name) ?? [];
  }

  /** True if a warm instance of `fn` of `key` is ready. */
  hasWarm(key: string, fn: string): boolean {
    return this.warms.get(key)?.has(fn) ?? false;
  }

  /** Warm instances, as `key` → function names. */
  warmList(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [k, m] of this.warms) if (m.size > 0) out[k] = [...m.keys()];
    return out;
  }

  /** Destroys the warm instance of `fn` of `key`; false if there was none. */
  async dropWarm(key: string, fn: string): Promise<boolean> {
    return this.locked(key, () => this.dropWarmNow(key, fn));
  }

  private async dropWarmNow(key: string, fn: string): Promise<boolean> {
    const m = this.warms.get(key);
    const c = m?.get(fn);
    if (!m || !c) return false;
    for (const f of c.fns) if (m.get(f.spec.name) === c) m.delete(f.spec.name);
    if (m.size === 0) this.warms.delete(key);
    for (const v of c.pre ?? []) {
      this.uplink?.unbindVni(v.vni);
      this.host.bridge.detach(v.att);
    }
    await this.destroyCell(c);
    return true;
  }

  /** The function's cell: its warm instance if there is one, else the running one. */
  private cellOf(key: string, fn: string): Cell {
    const c = this.warms.get(key)?.get(fn) ?? this.nets.get(key)?.cells.get(fn);
    if (!c && this.nets.get(key)?.parts.has(fn)) throw new AgentRuntimeError(`network ${key}: function ${fn} is partitioned (replicas): its state is per instance, not one function's`);
    if (!c) throw new AgentRuntimeError(`network ${key} has no function ${fn} on this server (neither warm nor running)`);
    return c;
  }

  /**
   * Imports state into function `fn` of `key` (its warm instance if there is one, else the
   * running one): applied before any frame handed to it afterwards. Rejects with
   * AgentRuntimeError (no such function) or DomainError (the function refused the state).
   *
   * @example
   * await rt.importState('default/web', 'nat', await other.exportState('default/web', 'nat'));
   */
  async importState(key: string, fn: string, state: Plain, timeoutMs = 2000): Promise<void> {
    if (!this.hasWarm(key, fn) && this.contexts.has(key)) return this.contexts.importState(key, fn, state, timeoutMs);
    const c = this.cellOf(key, fn);
    await c.hd.domain.importState([only(memberIndex(c, fn), state)], timeoutMs);
  }

  /**
   * Imports the state of several functions of `key` (function → state), as {@link importState},
   * with one import per domain (a drain's wave warmed in one domain: one round trip). Rejects if
   * a function refused its state.
   *
   * @example
   * await rt.importStates('default/web', new Map([['r1', s1], ['r2', s2]]));
   */
  async importStates(key: string, states: ReadonlyMap<string, Plain>, timeoutMs = 2000): Promise<void> {
    const byCell = new Map<Cell, Plain[]>();
    const alone: Promise<void>[] = [];
    for (const [fn, st] of states) {
      if (!this.hasWarm(key, fn) && this.contexts.has(key)) {
        alone.push(this.contexts.importState(key, fn, st, timeoutMs));
        continue;
      }
      const c = this.cellOf(key, fn);
      let arr = byCell.get(c);
      if (!arr) byCell.set(c, (arr = []));
      arr[memberIndex(c, fn)] = st;
    }
    await Promise.all([...alone, ...[...byCell].map(([c, arr]) => c.hd.domain.importState([arr], timeoutMs))]);
  }

  /**
   * The state of function `fn` of `key` (warm instance first, else the running one), exported
   * live once the frames already handed to it are processed.
   *
   * @example
   * const st = await rt.exportState('default/web', 'r1'); // { routes, neighbors, ipId }
   */
  async exportState(key: string, fn: string, timeoutMs = 2000): Promise<Plain> {
    if (!this.hasWarm(key, fn) && this.contexts.has(key)) return this.contexts.exportState(key, fn, timeoutMs);
    const c = this.cellOf(key, fn);
    const st = await c.hd.domain.exportState(timeoutMs);
    return st[0]?.[memberIndex(c, fn)] ?? null;
  }

  /**
   * The states of several functions of `key`, as {@link exportState}, with one live export per
   * domain (a drain's wave leaving one domain: one round trip, not one per function).
   *
   * @example
   * const st = await rt.exportStates('default/web', ['r1', 'r2']); // Map { 'r1' => …, 'r2' => … }
   */
  async exportStates(key: string, fns: readonly string[], timeoutMs = 2000): Promise<Map<string, Plain>> {
    const out = new Map<string, Plain>();
    const byCell = new Map<Cell, string[]>();
    for (const fn of fns) {
      if (!this.hasWarm(key, fn) && this.contexts.has(key)) {
        out.set(fn, await this.contexts.exportState(key, fn, timeoutMs));
        continue;
      }
      const c = this.cellOf(key, fn);
      byCell.set(c, [...(byCell.get(c) ?? []), fn]);
    }
    await Promise.all(
      [...byCell].map(async ([c, names]) => {
        const st = await c.hd.domain.exportState(timeoutMs);
        for (const fn of names) out.set(fn, st[0]?.[memberIndex(c, fn)] ?? null);
      }),
    );
    return out;
  }

  /**
   * The final state of a function that left network `key` here (removed by a plan, after its
   * grace period): undefined if no such retirement is known; resolves to undefined if the
   * domain could not give it.
   *
   * @example
   * await rt.apply(planWithoutR1);
   * const final = await rt.retired('default/web', 'r1');
   */
  retired(key: string, fn: string): Promise<Plain | undefined> | undefined {
    return this.finals.get(`${key}\0${fn}`) ?? this.contexts.retired(key, fn);
  }

  /** Forgets the final state of a retired function (once handed on). */
  forgetRetired(key: string, fn: string): void {
    this.contexts.forgetRetired(key, fn);
    this.finals.delete(`${key}\0${fn}`);
  }

  /**
   * Makes network `key` run as `plan` says: creates it, or changes it make-before-break and
   * state-preserving (see the file's comment); no-op if unchanged. Warm instances of the plan's
   * functions are adopted (no cold start). Rejects (AgentRuntimeError, ConfigError,
   * DomainError) before anything changed for traffic if a new function cannot be built.
   *
   * @example
   * await rt.warm(plan.key, r1, ['eth0', 'eth1']);
   * await rt.apply(plan);   // r1 adopted: its vNICs wired, its state kept
   */
  async apply(plan: NetworkPlan, opts: ApplyOptions = {}): Promise<'created' | 'replaced' | 'unchanged'> {
    if (plan.isolation === 'context' || this.contexts.has(plan.key)) return this.locked(plan.key, () => this.applyContext(plan, opts));
    return this.locked(plan.key, () => this.applyPlan(plan, opts, undefined));
  }

  /** A plan of (or leaving) context isolation: a switch removes the network from the other side first (state not carried). */
  private async applyContext(plan: NetworkPlan, opts: ApplyOptions): Promise<'created' | 'replaced' | 'unchanged'> {
    if (plan.isolation === 'context' && plan.replicas === undefined) {
      this.assertOpen();
      if (this.nets.has(plan.key)) await this.removeNow(plan.key, { graceMs: 0 });
      // Warm instances of functions new here (a migration's target) are adopted by their state:
      // pre-copied into the new context, their VNIs handed over bound (frames meanwhile wait on
      // hold queues, not dropped as of an unknown VNI), their final state imported before the
      // held frames follow (ContextAdoption).
      const initial = new Map<string, Plain>();
      const cells: Cell[] = [];
      for (const f of plan.functions) {
        if (!this.hasWarm(plan.key, f.name) || this.contexts.functions(plan.key).includes(f.name)) continue;
        const c = this.warms.get(plan.key)?.get(f.name);
        if (c && !cells.includes(c)) cells.push(c);
      }
      for (const c of cells) {
        const st = await c.hd.domain.exportState().catch(() => undefined);
        c.fns.forEach((m, i) => {
          const s = st?.[0]?.[i];
          if (s !== undefined) initial.set(m.spec.name, s);
        });
      }
      const vx = cells.flatMap((c) => c.pre ?? []);
      let owned = false;
      let handed = false;
      const adopt: ContextAdoption | undefined =
        cells.length === 0
          ? undefined
          : {
              vx: [...vx],
              local: cells.flatMap((c) => c.vnics.filter((port) => !vx.some((v) => v.port === port))),
              // No longer warm instances (a state export or import now goes to the context).
              taken: () => {
                owned = true;
                const ws = this.warms.get(plan.key);
                for (const c of cells) {
                  c.pre?.splice(0);
                  for (const m of c.fns) if (ws?.get(m.spec.name) === c) ws.delete(m.spec.name);
                }
                if (ws?.size === 0) this.warms.delete(plan.key);
              },
              final: () => {
                handed = true;
                return this.handOverWarm(cells, vx);
              },
            };
      try {
        return await this.contexts.apply(plan, initial, adopt);
      } finally {
        // Not adopted (the apply failed before or during the handover): dropped as before.
        for (const c of cells) {
          if (!owned) for (const m of c.fns) await this.dropWarmNow(plan.key, m.spec.name);
          else if (!handed) await this.destroyCell(c).catch(() => undefined);
        }
      }
    }
    await this.contexts.remove(plan.key, 0);
    return this.applyPlan(plan, opts, undefined);
  }

  /**
   * Ends warm instances a context network adopted (its holds on their VNIs `vx` in place): what
   * they sent before (early holds) leaves by their port's VNI — the inbound side of which stays
   * held —, what they hold is processed and its output forwarded, then their domains go; their
   * final states by function name, and what they sent on ports with no VNI (a neighbour running
   * here), by port, for the context to deliver.
   */
  private async handOverWarm(cells: readonly Cell[], vx: readonly Vx[]): Promise<{ states: Map<string, Plain>; held: Map<string, Batch[]> }> {
    const br = this.host.bridge;
    const out = new Map<string, Plain>();
    const held = new Map<string, Batch[]>();
    for (const c of cells) {
      const early = c.early;
      c.early = undefined;
      const later: number[] = [];
      early?.forEach((h, i) => {
        const a = c.hd.attachments[i] as number;
        const v = vx.find((x) => x.port === c.vnics[i]);
        if (!v || !br.find(v.att)) {
          // A port linked to a function running here: what it sends until its domain goes is
          // the context's to place (its hold stays until then).
          later.push(i);
          return;
        }
        br.detach(h.hold);
        // vNIC → VNI one way; the VNI's own frames keep going where they went (a hold queue).
        const back = br.peerOf(v.att);
        br.unlink(v.att);
        br.redirect(a, v.att);
        if (back >= 0 && back !== a) br.redirect(v.att, back);
        else br.unlink(v.att);
        for (const b of h.held) this.host.forward(a, b);
        h.held.length = 0;
      });
      await c.hd.domain.exportState().catch(() => undefined);
      this.forwardTx(c.hd);
      for (const i of later) {
        const h = early?.[i];
        if (!h) continue;
        br.detach(h.hold);
        if (h.held.length > 0) held.set(c.vnics[i] as string, h.held.splice(0));
      }
      const st = await this.destroyCell(c).catch(() => [] as Plain[][]);
      c.fns.forEach((m, i) => {
        const s = st[0]?.[i];
        if (s !== undefined) out.set(m.spec.name, s);
      });
    }
    return { states: out, held };
  }

  /**
   * Moves function `fn` of network `key` into a domain of its own (make-before-break, state
   * kept, like a plan change), so that it can later leave this server alone — running out a
   * grace period while the functions that stay go on. No-op if it is alone already. Functions
   * isolated with the same `group` share one domain of their own (a drain's wave that leaves
   * together: one domain start, and it retires whole).
   *
   * @example
   * await rt.isolate('default/web', 'r1'); // before a migration's pre-copy
   */
  async isolate(key: string, fn: string, group?: string): Promise<void> {
    // Isolations asked while another change of the network runs are done together, in one
    // rebuild (a drain isolates many functions of one cell: one rebuild each would start the
    // cell's domain again per function).
    let asked = this.isolating.get(key);
    if (!asked) this.isolating.set(key, (asked = new Map()));
    asked.set(fn, group ?? `\0${fn}`);
    await this.locked(key, async () => {
      const fns = this.isolating.get(key);
      // Taken by an earlier isolation of the network, done before this one's turn.
      if (!fns) return;
      this.isolating.delete(key);
      const cur = this.nets.get(key);
      // Due unless the function's domain already holds exactly its group.
      const members = new Map<string, Set<string>>();
      for (const [f, g] of fns) members.set(g, (members.get(g) ?? new Set()).add(f));
      const due = new Map(
        [...fns].filter(([f, g]) => {
          const c = cur?.cells.get(f);
          const want = members.get(g) as Set<string>;
          return c !== undefined && c.fns.length > 1 && !(c.fns.length === want.size && c.fns.every((m) => want.has(m.spec.name)));
        }),
      );
      if (!cur || due.size === 0) return;
      await this.applyPlan(cur.plan, {}, due);
    });
  }
  private readonly isolating = new Map<string, Map<string, string>>();

  /**
   * Runs changes of network `key` one at a time (a reconcile's apply, a migration's warm-up or
   * isolation): each rewires in steps across awaits, two at once would wire over each other.
   */
  private locked<T>(key: string, f: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(f, f);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }
  private readonly locks = new Map<string, Promise<void>>();

  private async applyPlan(plan: NetworkPlan, opts: ApplyOptions, isolate: ReadonlyMap<string, string> | undefined): Promise<'created' | 'replaced' | 'unchanged'> {
    this.assertOpen();
    const canon = JSON.stringify(plan);
    const cur = this.nets.get(plan.key);
    if (cur && cur.canon === canon && isolate === undefined) return 'unchanged';
    if (plan.remote.length > 0 && !this.uplink) throw new AgentRuntimeError(`network ${plan.key}: links to other servers need a VXLAN endpoint (--vxlan-listen)`);
    const byName = new Map<string, FunctionSpec>();
    for (const f of plan.functions) {
      if (byName.has(f.name)) throw new AgentRuntimeError(`network ${plan.key}: function ${f.name} twice in the plan`);
      byName.set(f.name, f);
    }
    // Every linked port exists (ConfigError for a bad configuration, before anything changes).
    const portsOf = new Map<string, string[]>();
    for (const f of plan.functions) portsOf.set(f.name, functionPorts(f.kind, f.config));
    const link = new Map<string, string | number>();
    const check = (ref: string): void => {
      const fn = fnOf(ref);
      if (!portsOf.get(fn)?.includes(ref.slice(fn.length + 1))) throw new AgentRuntimeError(`network ${plan.key}: no port ${ref} among the functions placed here`);
    };
    for (const [a, b] of plan.wires) {
      check(a);
      check(b);
      link.set(a, b);
      link.set(b, a);
    }
    for (const r of plan.remote) {
      check(r.port);
      link.set(r.port, r.vni);
    }
    const reps = plan.replicas ?? {};
    for (const [n, k] of Object.entries(reps)) {
      if (!byName.has(n)) throw new AgentRuntimeError(`network ${plan.key}: replicas for ${n}, which is not in the plan`);
      if (!Number.isInteger(k) || k < 1 || k > 64) throw new AgentRuntimeError(`network ${plan.key}: replicas of ${n} must be an integer in 1…64, got ${k}`);
    }
    const partNames = new Set(Object.keys(reps));
    /** The plan's functions that run in cells (the rest are partitions). */
    const cellByName = new Map([...byName].filter(([n]) => !partNames.has(n)));
    const share = { allocation: plan.allocation ?? 1, ...(plan.priority !== undefined ? { priority: plan.priority } : {}) };
    this.host.addNetwork(plan.key, share);
    if (cur && (cur.plan.allocation !== plan.allocation || cur.plan.priority !== plan.priority)) this.host.setAllocation(plan.key, share.allocation, share.priority);
    const grace = opts.graceMs ?? 100;

    // 0. Partitions: kept (resized at the end, live), or new — one coming from a cell starts as
    //    one instance with the cell's state (pre-copy) and grows at the end; one going back to a
    //    cell shrinks to one instance (live) whose state the cell starts with.
    const oldParts = new Map<string, Part>(cur?.parts ?? []);
    const parts = new Map<string, Part>();
    const newParts: Part[] = [];
    const resizeTo = new Map<Part, number>();
    const partLost: string[] = [];
    const fromParts = new Map<string, Plain>();
    try {
      for (const n of partNames) {
        const f = byName.get(n) as FunctionSpec;
        const want = reps[n] as number;
        const o = oldParts.get(n);
        if (o && o.canon === canonOf(f)) {
          parts.set(n, o);
          oldParts.delete(n);
          if (o.partition.replicas !== want || o.spreadKey !== spreadKeyOf(plan, n)) resizeTo.set(o, want);
          continue;
        }
        const from = cur?.cells.get(n);
        const sites = from ? undefined : this.sitesOf(plan, n);
        const p = await Partition.create({ host: this.host, network: plan.key, fn: { name: n, kind: f.kind, config: f.config }, replicas: from ? 1 : want, ...(sites ? { sites } : {}) });
        const part: Part = { spec: { ...f }, canon: canonOf(f), ports: [...p.ports], partition: p, resizes: [], spreadKey: from ? '' : spreadKeyOf(plan, n) };
        newParts.push(part);
        parts.set(n, part);
        if (!from) continue;
        if (want !== 1) resizeTo.set(part, want);
        try {
          const st = (await from.hd.domain.exportState())[0]?.[memberIndex(from, n)] ?? null;
          await (p.domains()[0] as HostDomain).domain.importState([[st]]);
        } catch {
          partLost.push(n);
        }
      }
      for (const [n, o] of oldParts) {
        if (!cellByName.has(n)) continue;
        try {
          if (o.partition.replicas > 1) pushRecord(o, await o.partition.resize(1));
          fromParts.set(n, (await (o.partition.domains()[0] as HostDomain).domain.exportState())[0]?.[0] ?? null);
        } catch {
          partLost.push(n);
        }
      }
    } catch (e) {
      for (const p of newParts) await p.partition.close();
      throw e;
    }
    const member = (f: FunctionSpec): Member => ({ spec: { ...f }, canon: canonOf(f), ports: portsOf.get(f.name) ?? [] });
    /** Wires among `names`, canonical; and the ports of `names` linked outside them (the vNICs). */
    const layout = (names: ReadonlySet<string>): { wires: [string, string][]; vnics: string[] } => {
      const wires = plan.wires.filter(([a, b]) => names.has(fnOf(a)) && names.has(fnOf(b))).map(([a, b]): [string, string] => (a < b ? [a, b] : [b, a]));
      wires.sort((x, y) => (x[0] + x[1] < y[0] + y[1] ? -1 : 1));
      const vnics: string[] = [];
      for (const f of plan.functions) {
        if (!names.has(f.name)) continue;
        for (const p of portsOf.get(f.name) ?? []) {
          const ref = `${f.name}.${p}`;
          const to = link.get(ref);
          if (to !== undefined && (typeof to === 'number' || !names.has(fnOf(to)))) vnics.push(ref);
        }
      }
      return { wires, vnics };
    };

    // 1. Cells that stay as they are: same functions and configurations, same inner wires,
    //    a vNIC for every port now linked outside. The rest of the plan goes into new domains
    //    (one for them all, one per isolated function), carrying the state of those that ran.
    const curCells = [...new Set(cur?.cells.values() ?? [])];
    const cells = new Map<string, Cell>();
    const keptCells = new Set<Cell>();
    for (const c of curCells) {
      const names = new Set(c.fns.map((m) => m.spec.name));
      if (isolate !== undefined && names.size > 1 && [...names].some((n) => isolate.has(n))) continue;
      if (!c.fns.every((m) => cellByName.has(m.spec.name) && canonOf(cellByName.get(m.spec.name) as FunctionSpec) === m.canon)) continue;
      const l = layout(names);
      if (JSON.stringify(l.wires) !== JSON.stringify(c.wires) || !l.vnics.every((v) => c.vnics.includes(v))) continue;
      keptCells.add(c);
      for (const m of c.fns) cells.set(m.spec.name, c);
    }
    const warm = this.warms.get(plan.key);
    const adopted: Cell[] = [];
    const groups: { f: FunctionSpec; from: Cell | undefined }[][] = [[]];
    const isoGroups = new Map<string, number>();
    // A warm domain of several functions (warmGroup) is adopted whole: all of them in the plan,
    // new here, as they were warmed, with the same links among them; else they carry their state
    // out of it like any old domain.
    const whole = (w: Cell): boolean => {
      if (w.fns.length === 1) return true;
      if (!w.fns.every((m) => !cur?.cells.has(m.spec.name) && cellByName.has(m.spec.name) && canonOf(cellByName.get(m.spec.name) as FunctionSpec) === m.canon)) return false;
      const l = layout(new Set(w.fns.map((m) => m.spec.name)));
      return JSON.stringify(l.wires) === JSON.stringify(w.wires) && l.vnics.every((v) => w.vnics.includes(v));
    };
    const warmOf = new Map<string, Cell>();
    for (const f of plan.functions) {
      const w = warm?.get(f.name);
      if (w && !cur?.cells.has(f.name)) warmOf.set(f.name, w);
    }
    for (const f of plan.functions) {
      if (cells.has(f.name) || partNames.has(f.name)) continue;
      const c = cur?.cells.get(f.name);
      const w = c ? undefined : warmOf.get(f.name);
      if (w) {
        if (!adopted.includes(w)) {
          adopted.push(w);
          for (const m of w.fns) if (warm?.get(m.spec.name) === w) warm.delete(m.spec.name);
        }
        if (whole(w) && w.fns.find((m) => m.spec.name === f.name)?.canon === canonOf(f)) {
          for (const m of w.fns) cells.set(m.spec.name, w);
          continue;
        }
      }
      const g = { f, from: c ?? w };
      const label = isolate?.get(f.name);
      if (label !== undefined) {
        // One domain per isolation group.
        let k = isoGroups.get(label);
        if (k === undefined) {
          isoGroups.set(label, (k = groups.length));
          groups.push([]);
        }
        (groups[k] as { f: FunctionSpec; from: Cell | undefined }[]).push(g);
      } else if (SOLO_KINDS.has(f.kind)) groups.push([g]);
      else (groups[0] as { f: FunctionSpec; from: Cell | undefined }[]).push(g);
    }
    const wanted = groups.filter((g) => g.length > 0);
    const built: Cell[] = [];
    try {
      // The new domains start together (a source's first frames wait in domain 0 for the slowest).
      const res = await Promise.allSettled(
        wanted.map((g) => {
          const names = new Set(g.map((x) => x.f.name));
          const l = layout(names);
          return this.startCell(plan.key, g.map((x) => member(fromParts.has(x.f.name) ? { ...x.f, state: fromParts.get(x.f.name) ?? null } : x.f)), l.wires, l.vnics);
        }),
      );
      for (const r of res) if (r.status === 'fulfilled') built.push(r.value);
      const bad = res.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (bad) throw bad.reason;
    } catch (e) {
      for (const c of built) await this.destroyCell(c);
      for (const w of adopted) this.putWarm(plan.key, w);
      for (const p of newParts) await p.partition.close();
      throw e;
    }
    wanted.forEach((g, k) => {
      for (const x of g) cells.set(x.f.name, built[k] as Cell);
    });

    // 2. Pre-copy, while the old domains keep forwarding.
    interface Carry { fn: string; from: Cell; to: Cell; changed: boolean }
    const carries: Carry[] = [];
    for (const g of wanted) for (const x of g) if (x.from) carries.push({ fn: x.f.name, from: x.from, to: cells.get(x.f.name) as Cell, changed: x.from.fns.find((m) => m.spec.name === x.f.name)?.canon !== canonOf(x.f) });
    const fresh = new Map<Cell, readonly Plain[]>();
    const stateLost: string[] = [];
    const carriedCells = new Set<Cell>();
    const sources = new Set(carries.map((c) => c.from));
    const exported = async (cs: Iterable<Cell>): Promise<Map<Cell, readonly Plain[]>> => {
      const out = new Map<Cell, readonly Plain[]>();
      await Promise.all([...cs].map(async (c) => out.set(c, (await c.hd.domain.exportState())[0] ?? [])));
      return out;
    };
    const carryInto = (to: Cell, from: Map<Cell, readonly Plain[]>): Plain[] => {
      const arr: Plain[] = [];
      for (const c of carries) {
        if (c.to !== to || !from.has(c.from)) continue;
        const i = memberIndex(to, c.fn);
        const st = (from.get(c.from) as readonly Plain[])[memberIndex(c.from, c.fn)] ?? null;
        arr[i] = carryState(memberKind(c.from, c.fn), st, fresh.get(to)?.[i] ?? null, memberKind(to, c.fn));
      }
      return arr;
    };
    const preJson = new Map<Cell, string>();
    if (carries.length > 0) {
      const targets = new Set(carries.map((c) => c.to));
      try {
        for (const [c, st] of await exported(targets)) fresh.set(c, st);
        const pre = await exported(sources);
        for (const t of targets) {
          try {
            const st = carryInto(t, pre);
            await t.hd.domain.importState([st]);
            preJson.set(t, JSON.stringify(st));
            carriedCells.add(t);
          } catch {
            for (const c of carries) if (c.to === t) stateLost.push(c.fn);
          }
        }
      } catch {
        for (const c of carries) if (!stateLost.includes(c.fn)) stateLost.push(c.fn);
      }
    }

    // 3. The switch, in one synchronous step (no await: the pump cannot run in between).
    const holds = new Map<number, { hold: number; held: Batch[] }>();
    const deferred: [number, number][] = [];
    // Make-before-break without a hold (ApplyOptions.hold) for new domains whose functions' state
    // the pre-copy carries whole: they are wired at once, like a domain that carries nothing.
    const noHold = new Set([...carriedCells].filter((t) => !(opts.hold ?? this.hold ?? !t.fns.every((m) => getFactory(m.spec.kind)?.stateCarriedByPreCopy === true && carries.every((x) => x.to !== t || x.fn !== m.spec.name || memberKind(x.from, x.fn) === m.spec.kind)))));
    const carriedAtts = new Set<number>();
    for (const c of carriedCells) if (!noHold.has(c)) for (const a of c.hd.attachments) carriedAtts.add(a);
    for (const c of carries) if (carriedCells.has(c.to)) this.moves[noHold.has(c.to) ? 'unheld' : 'held']++;
    const vx = new Map<number, Vx>();
    const repointed: number[] = [];
    const oldVx = new Map<number, Vx>(cur?.vx ?? []);
    for (const w of adopted) for (const v of w.pre ?? []) oldVx.set(v.vni, v);
    const retireVx: Vx[] = [];
    // VNIs first: re-pointed in place, kept, or bound anew (taking a retiring binding over).
    for (const r of plan.remote) {
      const o = oldVx.get(r.vni);
      if (o && o.port === r.port) {
        if (o.remote.address !== r.remote.address || o.remote.port !== r.remote.port) {
          this.uplink?.setRemotes(r.vni, [{ ...r.remote }]);
          o.remote = { ...r.remote };
          repointed.push(r.vni);
        }
        vx.set(r.vni, o);
        continue;
      }
      if (o) {
        // The VNI now serves another local port: the old binding goes at once.
        this.uplink?.unbindVni(o.vni);
        this.host.bridge.detach(o.att);
        oldVx.delete(r.vni);
      }
      this.takeOverVni(r.vni);
      const a = this.host.attachUplink(this.uplink as VxlanUplink, r.vni, plan.key, [{ ...r.remote }]);
      vx.set(r.vni, { vni: r.vni, port: r.port, remote: { ...r.remote }, att: a });
    }
    for (const [vni, o] of oldVx) if (!vx.has(vni)) retireVx.push(o);
    // Desired pairs between cells; a carried cell's vNIC is reached through a hold queue until its final copy.
    const pairs: [number, number][] = [];
    for (const [a, b] of plan.wires) if (partNames.has(fnOf(a)) || partNames.has(fnOf(b)) || cells.get(fnOf(a)) !== cells.get(fnOf(b))) pairs.push([this.attOf(cells, a, plan.key, parts), this.attOf(cells, b, plan.key, parts)]);
    for (const r of plan.remote) pairs.push([this.attOf(cells, r.port, plan.key, parts), (vx.get(r.vni) as Vx).att]);
    const br = this.host.bridge;
    const desired = new Map<number, number>();
    for (const [a, b] of pairs) {
      desired.set(a, b);
      desired.set(b, a);
    }
    // The upstream of a carried cell's vNIC waits on a hold queue until the final copy.
    const hold = (vnic: number): number => {
      const held: Batch[] = [];
      const h = this.host.attachExternal(plan.key, `hold:${br.get(vnic).label}`, (b) => {
        const c = new Batch(MAX_BATCH);
        for (let k = 0; k < b.count; k++) c.push(b.slots[k] as number, b.offs[k] as number, b.lens[k] as number);
        held.push(c);
        return true;
      });
      holds.set(vnic, { hold: h, held });
      return h;
    };
    // Every attachment of the new layout that changes peer is unlinked first (one way: an old
    // domain still sending to it keeps doing so while it drains), then the pairs are wired.
    const desiredCells = new Set(cells.values());
    const touched: number[] = [];
    for (const c of desiredCells) for (const a of c.hd.attachments) touched.push(a);
    for (const v of vx.values()) touched.push(v.att);
    for (const p of parts.values()) touched.push(...p.partition.fronts);
    for (const a of touched) {
      const want = desired.get(a);
      if (want === undefined) {
        if (br.peerOf(a) >= 0) br.unlink(a);
      } else if (br.peerOf(a) !== want || br.peerOf(want) !== a || carriedAtts.has(a) || carriedAtts.has(want)) br.unlink(a);
    }
    for (const [a, b] of pairs) {
      if (br.peerOf(a) === b && br.peerOf(b) === a) continue;
      const ha = carriedAtts.has(a);
      const hb = carriedAtts.has(b);
      // Two carried cells side by side: joined once both have their final state (until then the
      // old domains still talk to each other).
      if (ha && hb) deferred.push([a, b]);
      else if (ha) br.wire(b, hold(a));
      else if (hb) br.wire(a, hold(b));
      else br.wire(a, b);
    }
    for (const c of desiredCells) {
      if (carriedCells.has(c) && !noHold.has(c)) continue;
      // What a no-hold domain sent before its input came is stale (dropped, as a held one's).
      if (noHold.has(c)) for (const h of c.early ?? []) this.dropHeld(h.held);
      this.flushEarly(c);
    }
    // Old cells: kept, a source of carried state (final copy below), or retiring whole (grace).
    const leaving = cur ? [...cur.cells.keys(), ...cur.parts.keys()].filter((n) => !byName.has(n)) : [];
    const retiredCells = curCells.filter((c) => !keptCells.has(c) && !sources.has(c));
    const finalFrom = new Map<Cell, string[]>();
    for (const c of sources) finalFrom.set(c, c.fns.map((m) => m.spec.name).filter((n) => !cellByName.has(n)));
    const resolvers = new Map<string, (s: Plain | undefined) => void>();
    for (const names of finalFrom.values()) for (const n of names) this.finals.set(`${plan.key}\0${n}`, new Promise((r) => resolvers.set(n, r)));
    const run: Running = cur ?? { plan, canon, cells: new Map(), parts: new Map(), vx: new Map(), changes: emptyChanges() };
    run.plan = plan;
    run.canon = canon;
    run.cells.clear();
    for (const [k, v] of cells) run.cells.set(k, v);
    run.parts.clear();
    for (const [k, v] of parts) run.parts.set(k, v);
    const keptPart = (n: string): boolean => parts.has(n) && !newParts.includes(parts.get(n) as Part);
    run.vx.clear();
    for (const [k, v] of vx) run.vx.set(k, v);
    const carriedFns = new Set(carries.map((c) => c.fn));
    run.changes = {
      started: plan.functions.filter((f) => !carriedFns.has(f.name) && !keptPart(f.name) && !keptCells.has(cells.get(f.name) as Cell) && !adopted.includes(cells.get(f.name) as Cell)).map((f) => f.name),
      kept: plan.functions.filter((f) => keptPart(f.name) || keptCells.has(cells.get(f.name) as Cell) || carries.some((c) => c.fn === f.name && !c.changed && !stateLost.includes(f.name))).map((f) => f.name),
      adopted: plan.functions.filter((f) => adopted.includes(cells.get(f.name) as Cell)).map((f) => f.name),
      replaced: carries.filter((c) => c.changed && !stateLost.includes(c.fn)).map((c) => c.fn),
      stateLost: [...stateLost, ...partLost],
      retiring: leaving,
      repointed,
    };
    this.nets.set(plan.key, run);
    this.retire(plan.key, retiredCells, retireVx, grace);
    for (const o of oldParts.values()) void this.retirePart(o, grace);
    // Sources whose state could not be carried go at once (no final copy).
    const finalSources = [...sources].filter((c) => carries.some((x) => x.from === c && carriedCells.has(x.to)));
    for (const c of sources) {
      if (finalSources.includes(c)) continue;
      void this.destroyCell(c).then((st) => {
        for (const n of finalFrom.get(c) ?? []) resolvers.get(n)?.(st[0]?.[memberIndex(c, n)]);
      });
    }

    // 4. Final copies: each old domain processed what it was given, its output has left, its
    //    state goes to the new one, then the held frames follow, in order.
    await this.settleQueued(plan.key);
    let fin = new Map<Cell, readonly Plain[]>();
    try {
      fin = await exported(finalSources);
    } catch {
      // A stuck old domain: the new ones keep the pre-copy's state.
    }
    // What an old domain sent up to its final state leaves; what it sends after (a source's next
    // frames, its timers) is the new domain's to send, from that state: dropped here, not twice.
    for (const c of finalSources) {
      this.forwardTx(c.hd);
      for (const a of c.hd.attachments) br.unlink(a);
    }
    // What a carried domain sent before its final state came from a stale state (a source's
    // frames the old domain sent too): dropped, not delivered twice; what it sends from the final
    // state on is delivered after the held frames.
    // A domain applies an import before any frame handed to it after the call: the held frames
    // can follow at once.
    const held = [...carriedCells].filter((t) => !noHold.has(t));
    const imports = held.map((t) => {
      for (const h of t.early ?? []) this.dropHeld(h.held);
      return t.hd.domain.importState([carryInto(t, fin)]).catch(() => undefined);
    });
    for (const c of held) this.flushEarly(c);
    await this.release(holds, deferred);
    await Promise.all(imports);
    // Without a hold the new domain forwards already: the final state is merged into its own
    // (mergeState), and not imported at all when it equals the pre-copy's (a router whose
    // neighbours stayed put; a re-import stalls a live domain's forwarding, docs/host.md).
    await Promise.all(
      [...noHold].map(async (t) => {
        const st = carryInto(t, fin);
        if (st.length === 0 || JSON.stringify(st) === preJson.get(t)) return;
        const own = (await t.hd.domain.exportState())[0] ?? [];
        await t.hd.domain.importState([st.map((x, i) => mergeState(t.fns[i]?.spec.kind ?? '', own[i] ?? null, x))]);
      }).map((p) => p.catch(() => undefined)),
    );
    for (const c of finalSources) {
      const st = fin.get(c);
      for (const n of finalFrom.get(c) ?? []) resolvers.get(n)?.(st?.[memberIndex(c, n)]);
      await this.destroyCell(c);
    }
    // 5. Re-partitions, live: the fronts stay wired, the moving flows' frames wait in domain 0.
    try {
      for (const [p, n] of resizeTo) {
        pushRecord(p, await p.partition.resize(n, this.sitesOf(plan, p.spec.name) ?? []));
        p.spreadKey = spreadKeyOf(plan, p.spec.name);
      }
    } catch (e) {
      // Not the plan yet: the next apply of the same plan tries again.
      run.canon = '';
      throw e;
    }
    return cur ? 'replaced' : 'created';
  }

  /** The sites of a spread partition's instances (undefined: all here). */
  private sitesOf(plan: NetworkPlan, fn: string): (InstanceSite | undefined)[] | undefined {
    const ts = plan.spread?.[fn];
    if (!ts || ts.every((t) => t === null)) return undefined;
    const node = this.spread;
    if (!node) throw new AgentRuntimeError(`network ${plan.key}: ${fn} has instances on other servers, which need a VXLAN endpoint (--vxlan-listen)`);
    return ts.map((t, k) => (t ? node.site(plan.key, fn, k, t) : undefined));
  }

  /** A partition that left the plan runs `graceMs` more (frames in flight get through), then closes. */
  private retirePart(p: Part, graceMs: number): Promise<void> {
    const done = new Promise<void>((r) => setTimeout(r, Math.max(0, graceMs)))
      .then(() => p.partition.close())
      .catch(() => undefined);
    this.partsRetiring.add(done);
    void done.then(() => this.partsRetiring.delete(done));
    return done;
  }
  private readonly partsRetiring = new Set<Promise<void>>();

  /** Wires every held vNIC to the attachment that was held for it and delivers what was held, in order. */
  private async release(holds: Map<number, { hold: number; held: Batch[] }>, deferred: readonly [number, number][]): Promise<void> {
    const br = this.host.bridge;
    for (const [a, b] of deferred) br.wire(a, b);
    // A long hold is handed over a ring's worth per pump pass (the domain empties its rx ring
    // meanwhile); frames still arriving join the queue behind, so the order holds.
    for (let pass = 0; pass < RELEASE_PASSES; pass++) {
      let left = 0;
      for (const [vnic, h] of holds) {
        const from = br.peerOf(vnic) >= 0 ? -1 : br.peerOf(h.hold);
        let n = 0;
        while (from >= 0 && h.held.length > 0 && n < RELEASE_CHUNK) {
          const b = h.held.shift() as Batch;
          n += b.count;
          this.forwardTo(vnic, from, b);
        }
        left += h.held.reduce((k, b) => k + b.count, 0);
      }
      if (left <= RELEASE_CHUNK) break;
      await new Promise<void>((r) => setImmediate(r));
    }
    for (const [vnic, h] of holds) {
      const up = br.peerOf(h.hold);
      // Detaching the hold also clears `up`'s path to it.
      br.detach(h.hold);
      if (up < 0 || !br.find(up)) {
        this.dropHeld(h.held);
        continue;
      }
      br.wire(up, vnic);
      this.flushHeld(vnic, h.held);
    }
  }

  /** Frames `from` sent, delivered to `vnic` as if `from` were wired to it (the bridge decides nothing else). */
  private forwardTo(vnic: number, from: number, b: Batch): void {
    const br = this.host.bridge;
    const was = br.peerOf(from);
    // `from` leads to the hold now; for this batch it leads to the vNIC (one way, synchronously).
    br.unlink(from);
    br.redirect(from, vnic);
    this.host.forward(from, b);
    br.unlink(vnic);
    br.unlink(from);
    if (was >= 0) br.redirect(from, was);
  }

  /** Held frames (sent by the peer of `vnic`) go to `vnic`. */
  private flushHeld(vnic: number, held: Batch[]): void {
    const from = this.host.bridge.peerOf(vnic);
    for (const b of held) {
      if (from >= 0) this.host.forward(from, b);
      else this.dropHeld([b]);
    }
    held.length = 0;
  }

  private dropHeld(held: Batch[]): void {
    for (const b of held) for (let k = 0; k < b.count; k++) this.host.pool.release(b.slots[k] as number);
    held.length = 0;
  }

  /** Frames of `key` queued at the emulated server reach their domains first (bounded wait). */
  private async settleQueued(key: string): Promise<void> {
    const gate = this.host.server;
    const end = performance.now() + 50;
    do await new Promise<void>((r) => setImmediate(r));
    while (gate && gate.queued(key) > 0 && performance.now() < end);
  }

  /** Forwards what a domain left on its tx rings (domain 0 would on its next pass). */
  private forwardTx(hd: HostDomain): void {
    const b = new Batch(MAX_BATCH);
    hd.domain.service();
    for (let i = 0; i < hd.attachments.length; i++) {
      for (;;) {
        b.clear();
        if (hd.domain.receive(i, b) === 0) break;
        this.host.forward(hd.attachments[i] as number, b);
      }
    }
  }

  /** The vNIC attachment of port `fn.port` among `cells` (or the front of a partition's port). */
  private attOf(cells: ReadonlyMap<string, Cell>, ref: string, key: string, parts?: ReadonlyMap<string, Part>): number {
    const p = parts?.get(fnOf(ref));
    const f = p ? p.partition.fronts[p.ports.indexOf(ref.slice(fnOf(ref).length + 1))] : undefined;
    if (f !== undefined) return f;
    const c = cells.get(fnOf(ref));
    const i = c ? c.vnics.indexOf(ref) : -1;
    if (!c || i < 0) throw new AgentRuntimeError(`network ${key}: no port ${ref} among the functions placed here`);
    return c.hd.attachments[i] as number;
  }

  /** A new domain with `fns` (one context), `wires` inside it and a vNIC per port in `vnics`, its vNICs on early holds. */
  private async startCell(key: string, fns: readonly Member[], wires: readonly (readonly [string, string])[], vnics: readonly string[]): Promise<Cell> {
    const hd = await this.host.addDomain({
      name: fns.length === 1 ? `${key}/${fns[0]?.spec.name ?? ''}` : key,
      contexts: [{ network: key, functions: fns.map((m) => ({ ...m.spec })), wires: wires.map(([a, b]) => [a, b]) }],
      vnics: vnics.map((v) => ({ context: 0, port: v })),
    });
    const cell: Cell = { fns: [...fns], wires: wires.map(([a, b]): [string, string] => [a, b]), vnics: [...vnics], hd };
    cell.early = hd.attachments.map((a) => this.holdFor(key, a));
    return cell;
  }

  /** A hold queue in domain 0 wired to attachment `a`: frames from `a` wait there. */
  private holdFor(key: string, a: number, oneWay = false): { hold: number; held: Batch[] } {
    const br = this.host.bridge;
    const { at: hold, held } = holdQueue(this.host, key, a);
    if (oneWay) br.redirect(a, hold);
    else br.wire(a, hold);
    return { hold, held };
  }

  /** Ends a new domain's early holds: what it sent goes where its vNICs now lead. */
  private flushEarly(c: Cell): void {
    const e = c.early;
    if (!e) return;
    c.early = undefined;
    e.forEach((h, i) => {
      this.host.bridge.detach(h.hold);
      const a = c.hd.attachments[i] as number;
      for (const b of h.held) this.host.forward(a, b);
      h.held.length = 0;
    });
  }

  /** Destroys a domain (and its early holds, with what they held). */
  private async destroyCell(c: Cell, onState?: (state: Plain[][]) => void): Promise<Plain[][]> {
    if (c.early) {
      for (const h of c.early) {
        this.host.bridge.detach(h.hold);
        this.dropHeld(h.held);
      }
      c.early = undefined;
    }
    return this.host.removeDomain(c.hd.domain.id, onState);
  }

  private putWarm(key: string, c: Cell): void {
    let m = this.warms.get(key);
    if (!m) this.warms.set(key, (m = new Map()));
    for (const f of c.fns) m.set(f.spec.name, c);
  }

  /**
   * Keeps functions and VNIs that left the plan running `graceMs` (frames in flight to them are
   * processed and forwarded), then per function: what it holds is processed (a live export
   * answers once its rx rings are empty), what it sent is forwarded, its domain is destroyed
   * (its final state, in `retired`); the VNIs are unbound last, so the drained output still left.
   */
  private retire(key: string, cells: Cell[], vx: Vx[], graceMs: number): Retiring | undefined {
    if (cells.length === 0 && vx.length === 0) return undefined;
    const resolvers = new Map<string, (s: Plain | undefined) => void>();
    for (const c of cells) for (const m of c.fns) this.finals.set(`${key}\0${m.spec.name}`, new Promise((r) => resolvers.set(m.spec.name, r)));
    let done: Promise<void> | undefined;
    const r: Retiring = {
      key,
      cells,
      vx,
      timer: undefined,
      finish: (now = true) => {
        if (r.timer) clearTimeout(r.timer);
        r.timer = undefined;
        done ??= (async () => {
          // After the grace period, until the functions go quiet: a peer that re-planned late
          // still sends here for a while (bounded by QUIET_MAX_MS).
          const t0 = performance.now();
          let seen = -1;
          while (!now && !this.closed && performance.now() - t0 < QUIET_MAX_MS) {
            const n = cells.reduce((k, c) => k + c.hd.domain.counters().sent, 0);
            if (n === seen) break;
            seen = n;
            await new Promise((res) => setTimeout(res, QUIET_MS));
          }
          await this.settleQueued(key);
          await Promise.all(
            cells.map(async (c) => {
              await c.hd.domain.exportState().catch(() => undefined);
              this.forwardTx(c.hd);
              // The final states go out as soon as the domain posted them, not after its thread ended.
              const hand = (st: Plain[][]): void => c.fns.forEach((m, i) => resolvers.get(m.spec.name)?.(st[0]?.[i]));
              const st = await this.destroyCell(c, hand).catch(() => [] as Plain[][]);
              c.fns.forEach((m, i) => {
                resolvers.get(m.spec.name)?.(st[0]?.[i]);
                // Kept for whoever hands it on (a migration's `drained` step), not forever.
                const fk = `${key}\0${m.spec.name}`;
                const p = this.finals.get(fk);
                setTimeout(() => {
                  if (this.finals.get(fk) === p) this.finals.delete(fk);
                }, FINAL_KEEP_MS).unref();
              });
            }),
          );
          // VNIs leading to functions that stay (one way) outlive the late peers' frames too.
          const left = VNI_KEEP_MS - (performance.now() - started);
          if (!now && left > 0 && r.vx.length > 0) await new Promise((res) => setTimeout(res, left));
          for (const v of r.vx) {
            this.uplink?.unbindVni(v.vni);
            this.host.bridge.detach(v.att);
          }
          r.vx.length = 0;
          this.retiring.delete(r);
        })();
        return done;
      },
    };
    this.retiring.add(r);
    const started = performance.now();
    // Nothing else leads to them any more (no VNI retires with them, no attachment outside them
    // is wired to theirs): no frame can still be on its way to them, the grace would only wait;
    // they go once quiet (what they pass among themselves). A drain's whole domain, typically.
    const br = this.host.bridge;
    const mine = new Set(cells.flatMap((c) => c.hd.attachments));
    const fed = vx.length > 0 || br.attachments().some((a) => !mine.has(a.id) && mine.has(br.peerOf(a.id)));
    r.timer = setTimeout(() => void r.finish(false), fed ? graceMs : 0);
    return r;
  }

  /** A retiring binding of `vni` (any network) ends now, so the VNI can be bound anew. */
  private takeOverVni(vni: number): void {
    for (const r of this.retiring) {
      const i = r.vx.findIndex((v) => v.vni === vni);
      if (i < 0) continue;
      const v = r.vx[i] as Vx;
      r.vx.splice(i, 1);
      this.uplink?.unbindVni(vni);
      this.host.bridge.detach(v.att);
    }
    // A warm instance not adopted yet bound it ahead: the link between two functions both coming
    // here (one wave moves linked functions), whose other end is adopted first. Once both are
    // here the link is a local wire; meanwhile the adopted end owns the VNI.
    for (const ws of this.warms.values())
      for (const c of ws.values()) {
        const i = c.pre?.findIndex((v) => v.vni === vni) ?? -1;
        if (i < 0 || !c.pre) continue;
        const v = c.pre[i] as Vx;
        c.pre.splice(i, 1);
        this.uplink?.unbindVni(vni);
        this.host.bridge.detach(v.att);
      }
  }

  /**
   * Removes network `key` from this server: every function retires (runs `graceMs` more, default
   * 100, its final state then in `retired`), its VNIs likewise. Warm instances of it stay.
   * With `graceMs: 0` it resolves once everything is gone.
   *
   * @example
   * await rt.remove('default/web', { graceMs: 0 });
   */
  async remove(key: string, opts: ApplyOptions = {}): Promise<boolean> {
    if (this.contexts.has(key)) return this.locked(key, async () => (await this.contexts.remove(key, opts.graceMs ?? 100)) !== false);
    return this.locked(key, () => this.removeNow(key, opts));
  }

  private async removeNow(key: string, opts: ApplyOptions): Promise<boolean> {
    const cur = this.nets.get(key);
    if (!cur) return false;
    this.nets.delete(key);
    const grace = opts.graceMs ?? 100;
    const r = this.retire(key, [...new Set(cur.cells.values())], [...cur.vx.values()], grace);
    const ps = [...cur.parts.values()].map((p) => this.retirePart(p, grace));
    if (grace <= 0) await Promise.all([r?.finish(), ...ps]);
    return true;
  }

  /** Utilisation, power, energy and each network's counters and functions' state. */
  async report(): Promise<RuntimeReport> {
    const st = this.host.stats();
    let utilisation = NaN;
    if (st) {
      const dw = st.work - this.lastWork;
      const dc = st.capacityWork - this.lastCap;
      this.lastWork = st.work;
      this.lastCap = st.capacityWork;
      utilisation = dc > 0 ? dw / dc : 0;
    }
    const e = this.host.energy();
    const domains: DomainReport[] = [];
    const shares = new Map((this.host.server?.scheduler.balances().networks ?? []).map((n) => [n.net, n]));
    for (const [key, r] of this.nets) {
      const traffic: Record<string, { received: number; bytes: number }> = {};
      const latency = new LatencyMerge();
      let state = 'running';
      let restarts = 0;
      let processed = 0;
      let domDrops = 0;
      const cells = [...new Set(r.cells.values())];
      // Only traffic generators and sinks carry report figures: a cell of 200 routers is not asked
      // for its route tables every status period (a copy of 40,000 routes on the traffic's thread).
      const reports = (c: Cell): boolean => c.hd.domain.state === 'running' && c.fns.some((m) => TRAFFIC_KINDS.has(m.spec.kind));
      const states = await Promise.all(cells.map((c) => (reports(c) ? c.hd.domain.exportState(1000).catch(() => [] as Plain[][]) : Promise.resolve([] as Plain[][]))));
      // A partition's instances count like domains; their state (conntrack tables) is not a sink's.
      for (const p of r.parts.values())
        for (const hd of p.partition.domains()) {
          const cc = hd.domain.counters();
          if (cc.state !== 'running' && state === 'running') state = cc.state;
          restarts += cc.restarts;
          processed += cc.processed;
          domDrops += cc.txFull + cc.lostInCrash;
        }
      const ports: Record<string, number> = {};
      cells.forEach((c, i) => {
        Object.assign(ports, c.hd.domain.portCounters());
        const cc = c.hd.domain.counters();
        if (cc.state !== 'running' && state === 'running') state = cc.state;
        restarts += cc.restarts;
        processed += cc.processed;
        domDrops += cc.txFull + cc.lostInCrash;
        c.fns.forEach((m, k) => {
          const fst = states[i]?.[0]?.[k];
          const t = sinkTotals(fst);
          if (t) traffic[m.spec.name] = t;
          latency.addState(fst);
        });
      });
      const hd = this.host.dropsOf(key);
      let upDrops = 0;
      for (const v of r.vx.values()) upDrops += this.uplink?.droppedOf(v.vni) ?? 0;
      const drops = hd.unwired + hd.ringFull + hd.queueFull + hd.noBuffer + domDrops + upDrops;
      const sh = shares.get(key);
      const tokens = sh ? { tokens: { allocation: sh.allocation, balance: sh.balance, priority: sh.priority, backlog: sh.backlog } } : {};
      domains.push({ network: key, functions: r.plan.functions.map((f) => f.name), state, restarts, processed, traffic, drops, latency: latency.summary(), ...tokens, ports });
    }
    domains.push(...(await this.contexts.report(sinkTotals)));
    return { utilisation, powerWatts: e?.watts, energyJoules: e?.joules, domains, drops: { ...this.host.drops } };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const k of [...this.nets.keys()]) await this.remove(k, { graceMs: 0 }).catch(() => undefined);
    for (const k of [...this.warms.keys()]) for (const fn of [...(this.warms.get(k)?.keys() ?? [])]) await this.dropWarm(k, fn).catch(() => false);
    await Promise.all([...this.retiring].map((r) => r.finish().catch(() => undefined)));
    await Promise.all([...this.partsRetiring]);
    await this.contexts.close();
    this.closed = true;
    await this.pool?.close();
    await this.host.close();
    await this.uplink?.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new AgentRuntimeError('the runtime is closed');
  }
}

/** Index of function `fn` in its cell's context. */
function memberIndex(c: Cell, fn: string): number {
  const i = c.fns.findIndex((m) => m.spec.name === fn);
  if (i < 0) throw new AgentRuntimeError(`no function ${fn} in domain ${c.hd.domain.init.name}`);
  return i;
}

function memberKind(c: Cell, fn: string): string {
  return c.fns[memberIndex(c, fn)]?.spec.kind ?? '';
}

/** A context's state array with only function `i`'s state (the domain imports present entries only). */
function only(i: number, state: Plain): Plain[] {
  const arr: Plain[] = [];
  arr[i] = state;
  return arr;
}

/** A partition's `spread` entry in `plan`, canonical. */
function spreadKeyOf(plan: NetworkPlan, fn: string): string {
  return JSON.stringify(plan.spread?.[fn] ?? null);
}

/** Keeps the last 16 re-partitions of a partition. */
function pushRecord(p: Part, r: ResizeRecord): void {
  p.resizes.push(r);
  if (p.resizes.length > 16) p.resizes.shift();
}

/** Kinds whose exported state has the `flows[]` figures a report reads (traffic-source.ts, traffic-sink.ts). */
const TRAFFIC_KINDS: ReadonlySet<string> = new Set(['traffic-source', 'traffic-sink']);

/** Sums `flows[].received/bytes` of a function's exported state (traffic sinks); undefined for others. */
function sinkTotals(st: Plain | undefined): { received: number; bytes: number; lost?: number } | undefined {
  if (st === null || typeof st !== 'object' || Array.isArray(st)) return undefined;
  const flows = (st as { readonly [k: string]: Plain })['flows'];
  if (!Array.isArray(flows)) return undefined;
  let received = 0;
  let bytes = 0;
  let lost = 0;
  let sink = false;
  for (const f of flows) {
    if (f === null || typeof f !== 'object' || Array.isArray(f)) continue;
    const o = f as { readonly [k: string]: Plain };
    if (typeof o['received'] === 'number') received += o['received'];
    if (typeof o['bytes'] === 'number') bytes += o['bytes'];
    // A sink's flow (traffic-sink.ts): expected = highest sequence + 1, as its report() counts loss.
    if (typeof o['maxSeq'] === 'number' && typeof o['received'] === 'number') {
      sink = true;
      lost += Math.max(0, o['maxSeq'] + 1 - o['received']);
    }
  }
  return sink ? { received, bytes, lost } : { received, bytes };
}
