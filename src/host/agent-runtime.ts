/**
 * The host side of a server agent: one HostServer and one VXLAN uplink, and per software
 * network placed on this server its local functions, each in its own user domain with a
 * virtual NIC per port. Every link is made in domain 0's bridge: a link between two local
 * functions joins their vNICs, a link whose other end runs on another server joins the vNIC to
 * its own VNI on the uplink (one VNI per cross-server link: the bridge joins exactly two
 * attachments, so a VNI is one cable).
 *
 * One domain per function is what lets a function move without touching its neighbours:
 * - warm instances (`warm`): a function started idle in its own domain, its vNICs unwired,
 *   ready to receive state (`importState`) and to be adopted by the next plan that places it
 *   here (the target of a planned migration, a warm standby);
 * - state-preserving plan changes (`apply`, make-before-break): functions whose configuration
 *   is unchanged keep running, only their wires change, in one synchronous step of domain 0
 *   between two pump passes; a function whose configuration changed (a new FIB) gets a new
 *   domain that imports the old one's state (pre-copy while the old runs, then the upstream
 *   frames are held in domain 0 while the old one drains and its final state is copied, as
 *   Xen's stop-and-copy), then the old is destroyed; a function no longer placed here keeps
 *   running for `graceMs` (frames still in flight to it are processed and forwarded), then its
 *   final state is taken (`retired`) and its domain destroyed; a VXLAN remote that moved is
 *   re-pointed in place (`UplinkRemote` of the VNI), nothing restarts.
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
import { LatencyMerge, type LatencySummary } from '../functions/latency.js';
import { createFunction, getFactory } from '../functions/registry.js';
import type { PowerModel } from '../policy/power.js';
import type { FunctionSpec } from './domain.js';
import { faultFactory } from './fault.js';
import { HostServer, type HostDomain } from './hostserver.js';
import type { CostUnit } from './tokens.js';
import { VxlanUplink, type UplinkRemote } from './uplink.js';
import { carryState } from './agent-state.js';

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
}

export interface ApplyOptions {
  /**
   * How long a function no longer in the plan keeps running before its final state is taken
   * and its domain destroyed (ms, default 100): frames in flight to it still get through.
   * The same for a VNI no longer in the plan (it stays bound, one way, to where it led).
   */
  readonly graceMs?: number;
}

/** What the last `apply` of a network did, per function (names). */
export interface ApplyChanges {
  /** Cold-started (configuration only, or with the spec's `state`). */
  readonly started: readonly string[];
  /** Kept running (rewired at most). */
  readonly kept: readonly string[];
  /** Warm instances adopted. */
  readonly adopted: readonly string[];
  /** Configuration changed: a new domain that imported the old one's state. */
  readonly replaced: readonly string[];
  /** Replaced, but the new configuration refused the old state (started from its configuration). */
  readonly stateLost: readonly string[];
  /** No longer here: running out their grace period, then destroyed (see `retired`). */
  readonly retiring: readonly string[];
  /** VNIs whose remote endpoint changed (re-pointed, nothing restarted). */
  readonly repointed: readonly number[];
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

export interface DomainReport {
  readonly network: string;
  readonly functions: readonly string[];
  /** `running` when every function's domain runs, else the first other state met. */
  readonly state: string;
  readonly restarts: number;
  /** Frames the network's functions processed. */
  readonly processed: number;
  /**
   * Per traffic function (a state with `flows[]`): frames and bytes received; for a sink also
   * `lost` (Σ over flows of the sequence numbers below the highest seen that never arrived).
   */
  readonly traffic: Readonly<Record<string, { readonly received: number; readonly bytes: number; readonly lost?: number }>>;
  /**
   * Frames of this network dropped by the host since the agent started (domain 0: no peer, rx ring
   * full, queue full at the emulated server, no slot for a copy) plus by its current domains (tx ring
   * full, in flight during a crash). Functions' own drops (a firewall's deny) are not counted.
   */
  readonly drops: number;
  /** Latency of every frame the network's traffic sinks measured (their histograms merged). */
  readonly latency: LatencySummary;
  /** The network's token share at the emulated server and its balance now; absent without a capacity. */
  readonly tokens?: { readonly allocation: number; readonly balance: number; readonly priority: number; readonly backlog: number };
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
}

/** One function in its own domain; vNIC i is port `ports[i]`. */
interface Cell {
  readonly spec: FunctionSpec;
  /** Kind and configuration, canonical: equal means the running function can stay. */
  readonly canon: string;
  readonly ports: readonly string[];
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

interface Running {
  plan: NetworkPlan;
  canon: string;
  readonly cells: Map<string, Cell>;
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

/** Frames one early hold keeps at most (beyond it domain 0 releases them: dropped). */
const HOLD_LIMIT = 4096;
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
  private readonly nets = new Map<string, Running>();
  private readonly warms = new Map<string, Map<string, Cell>>();
  private readonly retiring = new Set<Retiring>();
  /** Final states of functions that retired (or are retiring), by `key\0fn`. */
  private readonly finals = new Map<string, Promise<Plain | undefined>>();
  private lastWork = 0;
  private lastCap = 0;
  private closed = false;

  private constructor(
    readonly host: HostServer,
    readonly uplink: VxlanUplink | undefined,
  ) {}

  /** Opens the host (pool, loop started) and its uplink; rejects with UplinkError if the address is unusable. */
  static async open(init: AgentRuntimeInit): Promise<AgentRuntime> {
    const host = new HostServer({ name: init.name, slots: init.slots ?? 8192, ...(init.capacity ? { capacity: { ...init.capacity } } : {}), ...(init.power ? { power: init.power } : {}) });
    const uplink = init.vxlan ? await VxlanUplink.open({ address: init.vxlan.address, port: init.vxlan.port }, host.pool) : undefined;
    host.start();
    return new AgentRuntime(host, uplink);
  }

  /** The uplink's bound endpoint (the port is the real one when 0 was asked). */
  get endpoint(): UplinkRemote | undefined {
    return this.uplink ? { address: this.uplink.address, port: this.uplink.port } : undefined;
  }

  keys(): string[] {
    return [...this.nets.keys()];
  }

  /** Functions of network `key` running here (warm instances and retiring ones excluded). */
  functions(key: string): string[] {
    return [...(this.nets.get(key)?.cells.keys() ?? [])];
  }

  /** The kind of function `fn` of `key` here (warm instance first, else running); undefined if neither. */
  kindOf(key: string, fn: string): string | undefined {
    return (this.warms.get(key)?.get(fn) ?? this.nets.get(key)?.cells.get(fn))?.spec.kind;
  }

  /** What the last apply of `key` did (undefined if the network is not here). */
  changes(key: string): ApplyChanges | undefined {
    return this.nets.get(key)?.changes;
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
    this.assertOpen();
    const ws = this.warms.get(key);
    const cur = ws?.get(fn.name);
    const canon = canonOf(fn);
    if (cur && cur.canon === canon && (!ports || JSON.stringify(ports) === JSON.stringify(cur.ports))) return;
    if (cur) await this.dropWarm(key, fn.name);
    if (!this.nets.has(key)) this.host.addNetwork(key, { allocation: opts.allocation ?? 1, ...(opts.priority !== undefined ? { priority: opts.priority } : {}) });
    const started = await this.startCell(key, fn, ports ? [...ports] : functionPorts(fn.kind, fn.config));
    const pre: Vx[] = [];
    const cell: Cell = { ...started, pre };
    const br = this.host.bridge;
    for (const r of opts.remote ?? []) {
      if (fnOf(r.port) !== fn.name || !this.uplink || this.uplink.remotesOf(r.vni) !== undefined) continue;
      const i = cell.ports.indexOf(r.port.slice(fn.name.length + 1));
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
    const m = this.warms.get(key);
    const c = m?.get(fn);
    if (!m || !c) return false;
    m.delete(fn);
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
    await this.cellOf(key, fn).hd.domain.importState([[state]], timeoutMs);
  }

  /**
   * The state of function `fn` of `key` (warm instance first, else the running one), exported
   * live once the frames already handed to it are processed.
   *
   * @example
   * const st = await rt.exportState('default/web', 'r1'); // { routes, neighbors, ipId }
   */
  async exportState(key: string, fn: string, timeoutMs = 2000): Promise<Plain> {
    const st = await this.cellOf(key, fn).hd.domain.exportState(timeoutMs);
    return st[0]?.[0] ?? null;
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
    return this.finals.get(`${key}\0${fn}`);
  }

  /** Forgets the final state of a retired function (once handed on). */
  forgetRetired(key: string, fn: string): void {
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
    this.assertOpen();
    const canon = JSON.stringify(plan);
    const cur = this.nets.get(plan.key);
    if (cur && cur.canon === canon) return 'unchanged';
    if (plan.remote.length > 0 && !this.uplink) throw new AgentRuntimeError(`network ${plan.key}: links to other servers need a VXLAN endpoint (--vxlan-listen)`);
    const names = new Set<string>();
    for (const f of plan.functions) {
      if (names.has(f.name)) throw new AgentRuntimeError(`network ${plan.key}: function ${f.name} twice in the plan`);
      names.add(f.name);
    }
    const share = { allocation: plan.allocation ?? 1, ...(plan.priority !== undefined ? { priority: plan.priority } : {}) };
    this.host.addNetwork(plan.key, share);
    if (cur && (cur.plan.allocation !== plan.allocation || cur.plan.priority !== plan.priority)) this.host.setAllocation(plan.key, share.allocation, share.priority);
    const grace = opts.graceMs ?? 100;

    // 1. Desired cells: kept, adopted (warm), replaced (new domain + carried state) or started.
    const cells = new Map<string, Cell>();
    const started: string[] = [];
    const kept: string[] = [];
    const adopted: Cell[] = [];
    const replaced: { fn: string; old: Cell; cell: Cell }[] = [];
    const built: Cell[] = [];
    const warm = this.warms.get(plan.key);
    try {
      // Which function needs a new domain is decided first; the new domains then start together
      // (a source's first frames wait in domain 0 for the slowest of them, not for the sum).
      const want: { f: FunctionSpec; old: Cell | undefined; ports: string[] }[] = [];
      for (const f of plan.functions) {
        const c = cur?.cells.get(f.name);
        const w = warm?.get(f.name);
        const canonF = canonOf(f);
        if (c && c.canon === canonF) {
          cells.set(f.name, c);
          kept.push(f.name);
        } else if (w && !c) {
          warm?.delete(f.name);
          adopted.push(w);
          // Warmed with another configuration (its FIB changed meanwhile): a new domain carries its state.
          if (w.canon === canonF) cells.set(f.name, w);
          else want.push({ f, old: w, ports: functionPorts(f.kind, f.config) });
        } else want.push({ f, old: c, ports: functionPorts(f.kind, f.config) });
      }
      const res = await Promise.allSettled(want.map((x) => this.startCell(plan.key, x.f, x.ports)));
      res.forEach((r) => {
        if (r.status === 'fulfilled') built.push(r.value);
      });
      const bad = res.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (bad) throw bad.reason;
      want.forEach((x, k) => {
        const n = built[k] as Cell;
        cells.set(x.f.name, n);
        if (x.old) replaced.push({ fn: x.f.name, old: x.old, cell: n });
        else started.push(x.f.name);
      });
      for (const [a, b] of plan.wires) for (const ref of [a, b]) this.attOf(cells, ref, plan.key);
      for (const r of plan.remote) this.attOf(cells, r.port, plan.key);
    } catch (e) {
      for (const c of built) await this.destroyCell(c);
      for (const w of adopted) this.putWarm(plan.key, w);
      throw e;
    }

    // 2. Pre-copy of the replaced functions, while the old ones keep forwarding.
    const stateLost: string[] = [];
    const carried: { fn: string; old: Cell; cell: Cell; fresh: Plain }[] = [];
    for (const r of replaced) {
      try {
        const fresh = (await r.cell.hd.domain.exportState())[0]?.[0] ?? null;
        const pre = (await r.old.hd.domain.exportState())[0]?.[0] ?? null;
        await r.cell.hd.domain.importState([[carryState(r.old.spec.kind, pre, fresh, r.cell.spec.kind)]]);
        carried.push({ ...r, fresh });
      } catch {
        stateLost.push(r.fn);
      }
    }

    // 3. The switch, in one synchronous step (no await: the pump cannot run in between).
    const holds = new Map<number, { hold: number; held: Batch[] }>();
    const deferred: [number, number][] = [];
    const carriedAtts = new Set<number>();
    for (const r of carried) for (const a of r.cell.hd.attachments) carriedAtts.add(a);
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
    // Desired pairs; a carried function's vNIC is reached through a hold queue until its final copy.
    const pairs: [number, number][] = [];
    const peerAtt = (ref: string): number => this.attOf(cells, ref, plan.key);
    for (const [a, b] of plan.wires) pairs.push([peerAtt(a), peerAtt(b)]);
    for (const r of plan.remote) pairs.push([peerAtt(r.port), (vx.get(r.vni) as Vx).att]);
    const br = this.host.bridge;
    const desired = new Map<number, number>();
    for (const [a, b] of pairs) {
      desired.set(a, b);
      desired.set(b, a);
    }
    // The upstream of a carried function's vNIC waits on a hold queue until the final copy.
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
    const touched: number[] = [];
    for (const c of cells.values()) for (const a of c.hd.attachments) touched.push(a);
    for (const v of vx.values()) touched.push(v.att);
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
      // Two carried functions side by side: joined once both have their final state (until
      // then the old ones still talk to each other).
      if (ha && hb) deferred.push([a, b]);
      else if (ha) br.wire(b, hold(a));
      else if (hb) br.wire(a, hold(b));
      else br.wire(a, b);
    }
    for (const c of cells.values()) if (!carried.some((r) => r.cell === c)) this.flushEarly(c);
    const retiringFns: string[] = [];
    if (cur) for (const [name, c] of cur.cells) if (cells.get(name) !== c && !replaced.some((r) => r.old === c)) retiringFns.push(name);
    const retiredCells = cur ? retiringFns.map((n) => cur.cells.get(n) as Cell) : [];
    const run: Running = cur ?? { plan, canon, cells: new Map(), vx: new Map(), changes: emptyChanges() };
    run.plan = plan;
    run.canon = canon;
    run.cells.clear();
    for (const [k, v] of cells) run.cells.set(k, v);
    run.vx.clear();
    for (const [k, v] of vx) run.vx.set(k, v);
    run.changes = { started, kept, adopted: adopted.filter((w) => cells.get(w.spec.name) === w).map((w) => w.spec.name), replaced: carried.map((r) => r.fn), stateLost, retiring: retiringFns, repointed };
    this.nets.set(plan.key, run);
    this.retire(plan.key, retiredCells, retireVx, grace);
    // Replaced functions whose state could not be carried: the old one goes at once (no final copy).
    for (const r of replaced) if (stateLost.includes(r.fn)) void this.destroyCell(r.old);

    // 4. Final copies: each old domain processed what it was given, its output has left, its
    //    state goes to the new one, then the held frames follow, in order.
    await this.settleQueued(plan.key);
    await Promise.all(
      carried.map(async (r) => {
        try {
          const fin = (await r.old.hd.domain.exportState())[0]?.[0] ?? null;
          this.forwardTx(r.old.hd);
          await r.cell.hd.domain.importState([[carryState(r.old.spec.kind, fin, r.fresh, r.cell.spec.kind)]]).catch(() => undefined);
        } catch {
          // The old domain is stuck: the new one keeps the pre-copy's state.
        }
      }),
    );
    this.release(holds, deferred);
    for (const r of carried) this.flushEarly(r.cell);
    for (const r of carried) await this.destroyCell(r.old);
    return cur ? 'replaced' : 'created';
  }

  /** Wires every held vNIC to the attachment that was held for it and delivers what was held, in order. */
  private release(holds: Map<number, { hold: number; held: Batch[] }>, deferred: readonly [number, number][]): void {
    const br = this.host.bridge;
    for (const [a, b] of deferred) br.wire(a, b);
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

  /** The vNIC attachment of port `fn.port` among `cells`. */
  private attOf(cells: ReadonlyMap<string, Cell>, ref: string, key: string): number {
    const fn = fnOf(ref);
    const c = cells.get(fn);
    const i = c ? c.ports.indexOf(ref.slice(fn.length + 1)) : -1;
    if (!c || i < 0) throw new AgentRuntimeError(`network ${key}: no port ${ref} among the functions placed here`);
    return c.hd.attachments[i] as number;
  }

  private async startCell(key: string, f: FunctionSpec, ports: readonly string[]): Promise<Cell> {
    const hd = await this.host.addDomain({
      name: `${key}/${f.name}`,
      contexts: [{ network: key, functions: [{ ...f }], wires: [] }],
      vnics: ports.map((p) => ({ context: 0, port: `${f.name}.${p}` })),
    });
    const cell: Cell = { spec: { ...f }, canon: canonOf(f), ports: [...ports], hd };
    cell.early = hd.attachments.map((a) => this.holdFor(key, a));
    return cell;
  }

  /** A hold queue in domain 0 wired to attachment `a`: frames from `a` wait there. */
  private holdFor(key: string, a: number, oneWay = false): { hold: number; held: Batch[] } {
    const held: Batch[] = [];
    let n = 0;
    const br = this.host.bridge;
    const hold = this.host.attachExternal(key, `hold:${br.get(a).label}`, (b) => {
      // Bounded: a warm instance that waits long (a standby) must not pin the pool.
      if (n + b.count > HOLD_LIMIT) return false;
      n += b.count;
      const c = new Batch(MAX_BATCH);
      for (let k = 0; k < b.count; k++) c.push(b.slots[k] as number, b.offs[k] as number, b.lens[k] as number);
      held.push(c);
      return true;
    });
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
  private async destroyCell(c: Cell): Promise<Plain[][]> {
    if (c.early) {
      for (const h of c.early) {
        this.host.bridge.detach(h.hold);
        this.dropHeld(h.held);
      }
      c.early = undefined;
    }
    return this.host.removeDomain(c.hd.domain.id);
  }

  private putWarm(key: string, c: Cell): void {
    let m = this.warms.get(key);
    if (!m) this.warms.set(key, (m = new Map()));
    m.set(c.spec.name, c);
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
    for (const c of cells) this.finals.set(`${key}\0${c.spec.name}`, new Promise((r) => resolvers.set(c.spec.name, r)));
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
              const st = await this.destroyCell(c).catch(() => [] as Plain[][]);
              resolvers.get(c.spec.name)?.(st[0]?.[0]);
              // Kept for whoever hands it on (a migration's `drained` step), not forever.
              const fk = `${key}\0${c.spec.name}`;
              const p = this.finals.get(fk);
              setTimeout(() => {
                if (this.finals.get(fk) === p) this.finals.delete(fk);
              }, FINAL_KEEP_MS).unref();
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
    r.timer = setTimeout(() => void r.finish(false), graceMs);
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
    const cur = this.nets.get(key);
    if (!cur) return false;
    this.nets.delete(key);
    const grace = opts.graceMs ?? 100;
    const r = this.retire(key, [...cur.cells.values()], [...cur.vx.values()], grace);
    if (grace <= 0) await r?.finish();
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
      const cells = [...r.cells.values()];
      const states = await Promise.all(cells.map((c) => (c.hd.domain.state === 'running' ? c.hd.domain.exportState(1000).catch(() => [] as Plain[][]) : Promise.resolve([] as Plain[][]))));
      cells.forEach((c, i) => {
        const cc = c.hd.domain.counters();
        if (cc.state !== 'running' && state === 'running') state = cc.state;
        restarts += cc.restarts;
        processed += cc.processed;
        domDrops += cc.txFull + cc.lostInCrash;
        const fst = states[i]?.[0]?.[0];
        const t = sinkTotals(fst);
        if (t) traffic[c.spec.name] = t;
        latency.addState(fst);
      });
      const hd = this.host.dropsOf(key);
      let upDrops = 0;
      for (const v of r.vx.values()) upDrops += this.uplink?.droppedOf(v.vni) ?? 0;
      const drops = hd.unwired + hd.ringFull + hd.queueFull + hd.noBuffer + domDrops + upDrops;
      const sh = shares.get(key);
      const tokens = sh ? { tokens: { allocation: sh.allocation, balance: sh.balance, priority: sh.priority, backlog: sh.backlog } } : {};
      domains.push({ network: key, functions: r.plan.functions.map((f) => f.name), state, restarts, processed, traffic, drops, latency: latency.summary(), ...tokens });
    }
    return { utilisation, powerWatts: e?.watts, energyJoules: e?.joules, domains, drops: { ...this.host.drops } };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const k of [...this.nets.keys()]) await this.remove(k, { graceMs: 0 }).catch(() => undefined);
    for (const k of [...this.warms.keys()]) for (const fn of [...(this.warms.get(k)?.keys() ?? [])]) await this.dropWarm(k, fn).catch(() => false);
    await Promise.all([...this.retiring].map((r) => r.finish().catch(() => undefined)));
    this.closed = true;
    await this.host.close();
    await this.uplink?.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new AgentRuntimeError('the runtime is closed');
  }
}

function emptyChanges(): ApplyChanges {
  return { started: [], kept: [], adopted: [], replaced: [], stateLost: [], retiring: [], repointed: [] };
}

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
