/**
 * Context domains: software networks with `isolation: context` (per-user networks from a
 * template, many small networks) share user domains, one *context* each, instead of a domain
 * (worker thread) per network. The agent runtime (agent-runtime.ts) hands such plans here.
 *
 * What stays per network, as with domain isolation:
 * - in domain 0, every vNIC of a context is a bridge attachment of its own network, and a
 *   cross-server link its own VNI: the bridge never wires two networks (IsolationError), so a
 *   frame of network A never reaches a port of B — in the domain, a context's functions are
 *   wired among themselves only (no route leads from one context to another);
 * - each network has its own token account at the emulated server (allocation, priority): a
 *   frame is charged to its network when it enters the network's context, exactly as for a
 *   network in its own domain;
 * - status per network (`DomainReport`), with `shared` naming the domain it shares.
 *
 * Design choices:
 * - at most `perDomain` networks per context domain (default {@link CONTEXTS_PER_DOMAIN} = 64):
 *   a new network goes into the first domain with room (first fit, so domains fill up and few
 *   threads run), else a new domain starts (from the idle worker pool when there is one). A
 *   domain whose last context left is destroyed.
 * - networks come and go live: a context is added to or removed from the running worker between
 *   two of its batches (Domain.addContext/removeContext: the rings of the new vNICs are
 *   SharedArrayBuffers posted to the worker, the change announced by CTL.CONTEXT) — the other
 *   contexts of the domain neither stop nor lose a frame or their state.
 * - a changed plan whose functions, inner wires and linked ports are the same only re-points or
 *   rebinds its VNIs and changes its token share (nothing restarts); any other change builds a
 *   new context beside the old one in the same domain (make-before-break; the domain may hold
 *   `perDomain + 1` contexts meanwhile) that pre-copies the state of the functions that keep their
 *   name and kind (agent-state.ts: a new FIB keeps its own routes); then, in one synchronous step,
 *   the VNIs that led to the old context lead to hold queues in domain 0, the old context
 *   processes what it holds (its output still leaves), its final state goes to the new one, and
 *   the held frames follow, in order: no frame lost, its neighbours in the domain notice nothing.
 * - removal keeps the context running `graceMs` (frames in flight get through) and until no frame
 *   came in for LINGER_QUIET_MS (at most LINGER_MAX_MS more: peers that re-plan late), then its
 *   final state is taken and its VNIs unbound; applying the network again meanwhile ends that at
 *   once. Likewise a plan change whose VXLAN links became wires inside the context (a drain
 *   brought both ends here) keeps the old context for those VNIs' late frames (lingerOld).
 * - a migration's target adopts its warm instance(s) without a gap (ContextAdoption): their VNIs,
 *   bound ahead, pass to the new context still bound (frames meanwhile wait on hold queues), what
 *   they sent leaves by them, their final state is imported before the held frames follow; their
 *   links to functions already here go through domain 0 (a vNIC at each end), so that what they
 *   sent on them before the adoption follows in order.
 * - a crash (or a watchdog kill) of a context domain restarts it, and with it every context it
 *   holds, rebuilt from configuration (state lost), bridge attachments and VNIs kept: that is the
 *   documented trade-off of contexts — one thread for many networks, one fault domain too.
 *   Every network of the domain reports the restart.
 * - partitioned functions (`replicas`) need domains of their own: a plan with `replicas` runs
 *   with domain isolation whatever it asks (agent-runtime.ts decides).
 *
 * @example
 * const ctx = new ContextNetworks({ host, uplink, perDomain: 64 });
 * await ctx.apply({ key: 'users/u1', functions, wires, remote: [] });
 * ctx.sharedOf('users/u1'); // { domain: 'contexts-1', id: 3, context: 0, networks: 1 }
 * await ctx.remove('users/u1', 0);
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import type { Plain } from '../functions/contract.js';
import { LatencyMerge, type LatencySummary } from '../functions/latency.js';
import type { FunctionSpec } from './domain.js';
import type { HostDomain, HostServer } from './hostserver.js';
import type { UplinkRemote, VxlanUplink } from './uplink.js';
import { carryState, mergeState, STATE_ROWS } from './agent-state.js';

/**
 * Warm instances a context network adopts (a migration's target): their VNIs, bound ahead and
 * already fed by the peers that switched, pass to the new context without being unbound (a frame
 * arriving meanwhile waits on a hold queue instead of meeting an unknown VNI); `final` ends the
 * warm instances once those holds are in place (what they hold is processed, what they sent
 * leaves) and gives their final states, imported into the context before the held frames follow.
 */
export interface ContextAdoption {
  readonly vx: readonly { readonly vni: number; readonly port: string; readonly remote: UplinkRemote; readonly att: number }[];
  /** Ports of the warm instances linked to a function here (no VNI): the context's links there go through domain 0 (see `final`). */
  readonly local: readonly string[];
  /** Called synchronously when the context owns `vx` (the warm instances must no longer unbind them). */
  readonly taken: () => void;
  /**
   * Ends the warm instances: their final states by function name, and the frames they sent on
   * ports without a VNI (`local`), by port — sent on from that port's vNIC in the context.
   */
  readonly final: () => Promise<{ readonly states: ReadonlyMap<string, Plain>; readonly held: ReadonlyMap<string, readonly Batch[]> }>;
}

/** Networks per context domain unless told otherwise. */
export const CONTEXTS_PER_DOMAIN = 64;

export class ContextDomainError extends Error {
  override readonly name = 'ContextDomainError';
}

/** What a context network needs on this server (the agent runtime's NetworkPlan fits). */
export interface ContextPlan {
  readonly key: string;
  readonly functions: readonly FunctionSpec[];
  readonly wires: readonly (readonly [string, string])[];
  readonly remote: readonly { readonly port: string; readonly vni: number; readonly remote: UplinkRemote }[];
  readonly allocation?: number;
  readonly priority?: number;
}

/** The domain a context network shares. */
export interface SharedDomain {
  /** Its name (`contexts-N`) and id on this server. */
  readonly domain: string;
  readonly id: number;
  /** The network's context index in it. */
  readonly context: number;
  /** Networks the domain hosts now. */
  readonly networks: number;
}

/** A network's report in the agent runtime's status (AgentRuntime.report). */
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
  /**
   * Frames each function port sent (`fn.port` → count) since its domain started: a link's load is
   * the sum over its two ends. A partitioned function's ports are its fronts in domain 0: absent.
   */
  readonly ports: Readonly<Record<string, number>>;
  /** An `isolation: context` network: the domain it shares (its drops then exclude the domain's own, shared ones). */
  readonly shared?: SharedDomain;
}

/** A context network's report: a DomainReport naming the domain it shares. */
export interface ContextNetworkReport extends DomainReport {
  readonly shared: SharedDomain;
}

/** What the last `apply` of a network did, per function (names): by the agent runtime or, for a context network, by ContextNetworks. */
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

export interface ContextNetworksInit {
  readonly host: HostServer;
  readonly uplink: VxlanUplink | undefined;
  /** Networks per context domain (1 … 4096); default CONTEXTS_PER_DOMAIN. */
  readonly perDomain?: number;
  /** Ends another binding of `vni` on this server (a retiring one) before it is bound here. */
  readonly takeOverVni?: (vni: number) => void;
}

interface CtxDomain {
  readonly hd: HostDomain;
  readonly name: string;
  /** Networks (keys) with a context here, including one being replaced. */
  readonly members: Set<string>;
}

interface Vx {
  readonly vni: number;
  readonly port: string;
  remote: UplinkRemote;
  readonly att: number;
}

/** A VNI's frames waiting in domain 0 while its network's context is replaced. */
interface Hold {
  readonly v: Vx;
  /** The new vNIC it leads to once released, and the old one it led to. */
  readonly vnic: number;
  readonly old: number;
  /** The hold's attachment. */
  readonly at: number;
  readonly held: Batch[];
}

/**
 * An old context kept after a plan change for the VNIs that left the plan (a link to another
 * server that became a wire inside the context: a drain brought its other end here): its peer
 * there, retiring, still sends on it for a while. At least LINGER_MIN_MS, then until it went
 * quiet for LINGER_QUIET_MS, at most LINGER_MAX_MS (as agent-runtime.ts keeps a retiring VNI).
 */
const LINGER_MIN_MS = 100;
// Not 25: on a loaded 2-core machine a peer's sender stalls for tens of milliseconds, and 25 ms of
// quiet was taken for the end of its traffic — the VNIs went, and the 24 replies it sent next met
// an unbound VNI (agent-migrate-context's drain, about 1 CI run in 30).
const LINGER_QUIET_MS = 100;
const LINGER_MAX_MS = 1000;

/** Frames one hold keeps at most (beyond it domain 0 releases them: dropped): a warm instance that waits long (a standby) must not pin the pool. */
const HOLD_LIMIT = 4096;

/**
 * A hold queue in domain 0 of network `key`, labelled after attachment `of` and not wired yet:
 * the frames that reach it wait in `held` (in order, at most HOLD_LIMIT) until delivered.
 *
 * @example const { at, held } = holdQueue(host, 'default/web', vnic); host.bridge.wire(vnic, at);
 */
export function holdQueue(host: HostServer, key: string, of: number): { at: number; held: Batch[] } {
  const held: Batch[] = [];
  let n = 0;
  const at = host.attachExternal(key, `hold:${host.bridge.get(of).label}`, (b) => {
    if (n + b.count > HOLD_LIMIT) return false;
    n += b.count;
    const c = new Batch(MAX_BATCH);
    for (let k = 0; k < b.count; k++) c.push(b.slots[k] as number, b.offs[k] as number, b.lens[k] as number);
    held.push(c);
    return true;
  });
  return { at, held };
}

interface CtxNet {
  plan: ContextPlan;
  canon: string;
  /** Functions, inner wires and linked ports: equal means the context can stay. */
  body: string;
  readonly dom: CtxDomain;
  readonly index: number;
  /** Linked ports (`fn.port`) and their vNIC attachments, by index. */
  readonly ports: readonly string[];
  readonly atts: readonly number[];
  readonly vx: Map<number, Vx>;
  changes: ApplyChanges;
}

/** Kinds whose exported state has the `flows[]` figures a report reads (traffic-source.ts, traffic-sink.ts). */
const TRAFFIC_KINDS: ReadonlySet<string> = new Set(['traffic-source', 'traffic-sink']);
/** How long a function's final state stays available (`retired`), ms. */
const FINAL_KEEP_MS = 60_000;
const fnOf = (ref: string): string => ref.slice(0, ref.lastIndexOf('.'));
const bodyOf = (p: ContextPlan): string => JSON.stringify([p.functions, p.wires, p.remote.map((r) => r.port)]);

/**
 * The context networks of one server and the context domains they share (see the file's comment).
 *
 * @example
 * const ctx = new ContextNetworks({ host, uplink: undefined });
 * await ctx.apply(plan);          // 'created': a context in a shared domain
 * ctx.domainCount;                // 1
 */
export class ContextNetworks {
  private readonly nets = new Map<string, CtxNet>();
  private readonly domains: CtxDomain[] = [];
  /** Removals running out their grace period, by key: `finish()` ends one now (`inChain`: called from a serialised change). */
  private readonly retiring = new Map<string, { finish: (inChain?: boolean) => Promise<unknown> }>();
  private chain: Promise<unknown> = Promise.resolve();
  /** Old contexts kept for late frames on VNIs that left their plan, by key: `finish()` ends one now. */
  private readonly lingering = new Map<string, { finish: (inChain?: boolean) => Promise<unknown> }>();
  /** Final states of functions that left (a changed plan, a removal), by `key\0fn`, kept FINAL_KEEP_MS. */
  private readonly finals = new Map<string, Promise<Plain | undefined>>();
  private seq = 0;
  readonly perDomain: number;

  constructor(private readonly o: ContextNetworksInit) {
    const n = o.perDomain ?? CONTEXTS_PER_DOMAIN;
    if (!Number.isInteger(n) || n < 1 || n > 4096) throw new ContextDomainError(`contexts per domain must be an integer in 1…4096, got ${n}`);
    this.perDomain = n;
  }

  /**
   * One change at a time: changes of different networks share domains (a context index, a
   * domain's room), so they are serialised here; each is a message round trip to a worker.
   */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.chain.then(f, f);
    this.chain = run.catch(() => undefined);
    return run;
  }

  has(key: string): boolean {
    return this.nets.has(key);
  }

  keys(): string[] {
    return [...this.nets.keys()];
  }

  /** Context domains running now. */
  get domainCount(): number {
    return this.domains.length;
  }

  functions(key: string): string[] {
    return this.nets.get(key)?.plan.functions.map((f) => f.name) ?? [];
  }

  /** The domain network `key` shares, or undefined if it is not a context network here. */
  sharedOf(key: string): SharedDomain | undefined {
    const n = this.nets.get(key);
    return n ? { domain: n.dom.name, id: n.dom.hd.domain.id, context: n.index, networks: n.dom.members.size } : undefined;
  }

  changes(key: string): ApplyChanges | undefined {
    return this.nets.get(key)?.changes;
  }

  /** The kind of function `fn` of context network `key`, or undefined. */
  kindOf(key: string, fn: string): string | undefined {
    return this.nets.get(key)?.plan.functions.find((f) => f.name === fn)?.kind;
  }

  /**
   * The final state of function `fn` that left context network `key` here (a changed plan, a
   * removal): undefined if no such departure is known; resolves once its context is gone.
   */
  retired(key: string, fn: string): Promise<Plain | undefined> | undefined {
    return this.finals.get(`${key}\0${fn}`);
  }

  forgetRetired(key: string, fn: string): void {
    this.finals.delete(`${key}\0${fn}`);
  }

  /** Announces the final states of `fns` of `key`; the returned function settles them. */
  private departing(key: string, fns: readonly string[]): (st: (fn: string) => Plain | undefined) => void {
    const rs = new Map<string, (s: Plain | undefined) => void>();
    for (const fn of fns) {
      const k = `${key}\0${fn}`;
      const p = new Promise<Plain | undefined>((r) => rs.set(fn, r));
      this.finals.set(k, p);
      setTimeout(() => {
        if (this.finals.get(k) === p) this.finals.delete(k);
      }, FINAL_KEEP_MS).unref();
    }
    return (st) => {
      for (const [fn, r] of rs) r(st(fn));
    };
  }

  /**
   * Makes context network `plan.key` run as the plan says (see the file's comment); rejects
   * (ContextDomainError, DomainError for a function that cannot be built) with nothing changed.
   * `initial`: state for functions new to the network here (a warm instance's, a migration's);
   * `adopt`: the warm instances of those functions, handed over without a gap (ContextAdoption).
   */
  apply(plan: ContextPlan, initial?: ReadonlyMap<string, Plain>, adopt?: ContextAdoption): Promise<'created' | 'replaced' | 'unchanged'> {
    return this.serial(() => this.applyNow(plan, initial, adopt));
  }

  private async applyNow(plan: ContextPlan, initial: ReadonlyMap<string, Plain> | undefined, adopt: ContextAdoption | undefined): Promise<'created' | 'replaced' | 'unchanged'> {
    const canon = JSON.stringify(plan);
    const cur = this.nets.get(plan.key);
    if (cur && cur.canon === canon) return 'unchanged';
    if (plan.remote.length > 0 && !this.o.uplink) throw new ContextDomainError(`network ${plan.key}: links to other servers need a VXLAN endpoint (--vxlan-listen)`);
    const names = new Set<string>();
    for (const f of plan.functions) {
      if (names.has(f.name)) throw new ContextDomainError(`network ${plan.key}: function ${f.name} twice in the plan`);
      names.add(f.name);
    }
    for (const ref of [...plan.wires.flat(), ...plan.remote.map((r) => r.port)]) if (!names.has(fnOf(ref))) throw new ContextDomainError(`network ${plan.key}: no port ${ref} among the functions placed here`);
    // Ended now: its context and VNIs must not be in the way of the new ones.
    await this.retiring.get(plan.key)?.finish(true);
    await this.lingering.get(plan.key)?.finish(true);
    const host = this.o.host;
    const share = { allocation: plan.allocation ?? 1, ...(plan.priority !== undefined ? { priority: plan.priority } : {}) };
    host.addNetwork(plan.key, share);
    if (cur && (cur.plan.allocation !== plan.allocation || cur.plan.priority !== plan.priority)) host.setAllocation(plan.key, share.allocation, share.priority);
    const body = bodyOf(plan);
    if (cur && cur.body === body) {
      const repointed = this.rebind(cur, plan, cur.atts);
      cur.plan = plan;
      cur.canon = canon;
      cur.changes = { started: [], kept: plan.functions.map((f) => f.name), adopted: [], replaced: [], stateLost: [], retiring: [], repointed };
      return 'replaced';
    }
    const dom = cur?.dom ?? (await this.roomy());
    // Links of an adopted warm instance to a function here go through domain 0 (a vNIC at each
    // end, wired in the bridge), not inside the context: what it sent on them before the adoption
    // then follows from its end's vNIC, in order (the functions see no difference).
    const local = new Set(adopt?.local ?? []);
    const bridged = plan.wires.filter(([a, b]) => local.has(a) || local.has(b));
    const ports = [...plan.remote.map((r) => r.port), ...bridged.flat()];
    let added: { context: number; attachments: number[] };
    try {
      const had = new Set(cur?.plan.functions.map((f) => f.name) ?? []);
      const fns = plan.functions.map((f) => (!had.has(f.name) && initial?.has(f.name) ? { ...f, state: initial.get(f.name) ?? null } : { ...f }));
      const inner = plan.wires.filter((w) => !bridged.includes(w));
      added = await host.addContext(dom.hd.domain.id, { network: plan.key, functions: fns, wires: inner.map(([a, b]) => [a, b]) }, ports);
    } catch (e) {
      if (dom.members.size === 0) await this.dropDomain(dom);
      throw e;
    }
    dom.members.add(plan.key);
    const stateLost: string[] = [];
    const carried: string[] = [];
    let fresh: readonly Plain[] = [];
    /** The new context's import (`importState` shape) of the state the old one exported. */
    const carry = (old: readonly Plain[], record: boolean): Plain[][] => {
      const arr: Plain[] = [];
      plan.functions.forEach((f, i) => {
        const j = cur?.plan.functions.findIndex((g) => g.name === f.name) ?? -1;
        const g = cur?.plan.functions[j];
        if (!g || old[j] === undefined || (!record && !carried.includes(f.name))) return;
        try {
          arr[i] = carryState(g.kind, old[j] as Plain, fresh[i] ?? null, f.kind);
          if (record) carried.push(f.name);
        } catch {
          if (record) stateLost.push(f.name);
        }
      });
      const all: Plain[][] = [];
      all[added.context] = arr;
      return all;
    };
    if (cur) {
      // Make-before-break: a pre-copy while the old context runs on (the final copy follows the switch).
      const st = await dom.hd.domain.exportState().catch(() => [] as Plain[][]);
      fresh = st[added.context] ?? [];
      const all = carry(st[cur.index] ?? [], true);
      if (carried.length > 0) await dom.hd.domain.importState(all).catch(() => stateLost.push(...carried.splice(0)));
    }
    const net: CtxNet = { plan, canon, body, dom, index: added.context, ports, atts: added.attachments, vx: cur?.vx ?? new Map(), changes: emptyChanges() };
    const attOf = (port: string): number => added.attachments[ports.indexOf(port)] as number;
    for (const [a, b] of bridged) host.bridge.wire(attOf(a), attOf(b));
    // Adopted VNIs stay bound: they lead to the warm instances until the holds below.
    for (const v of adopt?.vx ?? []) net.vx.set(v.vni, { ...v, remote: { ...v.remote } });
    adopt?.taken();
    // The switch, one synchronous step: the VNIs lead to the new context's vNICs — those that led
    // to the old one (or to an adopted warm instance) through hold queues until its final state
    // is in the new one.
    let repointed: number[];
    const holds: Hold[] = [];
    const linger: Vx[] = [];
    try {
      repointed = this.rebind(net, plan, added.attachments, cur || adopt ? holds : undefined, cur ? linger : undefined);
    } catch (e) {
      this.unhold(holds, false);
      for (const v of linger) net.vx.set(v.vni, v);
      // A VNI bound by something else here: the new context goes, the old one (if any) stays.
      await host.removeContext(dom.hd.domain.id, added.context).catch(() => [] as Plain[]);
      if (!cur) {
        for (const v of net.vx.values()) {
          this.o.uplink?.unbindVni(v.vni);
          host.bridge.detach(v.att);
        }
        dom.members.delete(plan.key);
        if (dom.members.size === 0) await this.dropDomain(dom);
      }
      throw e;
    }
    this.nets.set(plan.key, net);
    const unchanged = (f: FunctionSpec): boolean => JSON.stringify(cur?.plan.functions.find((g) => g.name === f.name) ?? null) === JSON.stringify(f);
    const adopted = adopt ? plan.functions.filter((f) => initial?.has(f.name) && !cur?.plan.functions.some((g) => g.name === f.name)).map((f) => f.name) : [];
    net.changes = {
      started: plan.functions.filter((f) => !carried.includes(f.name) && !adopted.includes(f.name)).map((f) => f.name),
      kept: plan.functions.filter((f) => carried.includes(f.name) && unchanged(f)).map((f) => f.name),
      adopted,
      replaced: plan.functions.filter((f) => carried.includes(f.name) && !unchanged(f)).map((f) => f.name),
      stateLost,
      retiring: cur ? cur.plan.functions.filter((g) => !names.has(g.name)).map((g) => g.name) : [],
      repointed,
    };
    const imps: (Promise<unknown> | undefined)[] = [];
    if (cur) {
      const settle = this.departing(plan.key, net.changes.retiring);
      // The final copy: what was queued for the old context reaches it, it processes what it
      // holds, its output still leaves by its vNICs (`drain`), its final state goes to the new
      // one, then the held frames follow, in order (an import applies before any later frame).
      await this.settleQueued(plan.key);
      if (linger.length > 0) {
        // VNIs that left still lead to the old context: it runs on for their late frames, its
        // state now copied live; what it does meanwhile is merged in when it goes (lingerOld).
        const st = await dom.hd.domain.exportState().catch(() => [] as Plain[][]);
        const now = st[cur.index] ?? [];
        imps.push(carried.length > 0 && now.length > 0 ? dom.hd.domain.importState(carry(now, false)).catch(() => undefined) : undefined);
        this.lingerOld(plan.key, cur, linger, settle, [...carried]);
      } else {
        const fin = await host.removeContext(dom.hd.domain.id, cur.index, true).catch(() => [] as Plain[]);
        settle((fn) => fin[cur.plan.functions.findIndex((g) => g.name === fn)]);
        imps.push(carried.length > 0 && fin.length > 0 ? dom.hd.domain.importState(carry(fin, false)).catch(() => undefined) : undefined);
      }
    }
    if (adopt) {
      // The warm instances' final states (what they did since their pre-copy, `initial`).
      const { states: fa, held } = await adopt.final().catch(() => ({ states: new Map<string, Plain>(), held: new Map<string, readonly Batch[]>() }));
      // What they sent towards a function here (a drain bringing a link's two ends together)
      // follows from their port's vNIC in the context, before anything it sends itself.
      for (const [port, bs] of held) {
        const i = ports.indexOf(port);
        for (const b of bs) {
          if (i >= 0) host.forward(added.attachments[i] as number, b);
          else for (let k = 0; k < b.count; k++) host.pool.release(b.slots[k] as number);
        }
      }
      const arr: Plain[] = [];
      plan.functions.forEach((f, i) => {
        if (fa.has(f.name) && !cur?.plan.functions.some((g) => g.name === f.name)) arr[i] = fa.get(f.name) ?? null;
      });
      const all: Plain[][] = [];
      all[added.context] = arr;
      if (arr.length > 0) imps.push(dom.hd.domain.importState(all).catch(() => undefined));
    }
    // An import applies before any later frame: the held ones follow it.
    this.unhold(holds, true);
    await Promise.all(imps);
    return cur ? 'replaced' : 'created';
  }

  /**
   * Binds the plan's VNIs to `atts` (the vNICs of `plan.remote`'s ports, in order): a VNI kept
   * is re-pointed in place and moved to its new vNIC, a new one bound, one that left unbound.
   * Synchronous: the pump cannot run in between. Returns the VNIs re-pointed.
   */
  private rebind(net: CtxNet, plan: ContextPlan, atts: readonly number[], holds?: Hold[], linger?: Vx[]): number[] {
    const br = this.o.host.bridge;
    const up = this.o.uplink;
    const repointed: number[] = [];
    const keep = new Set(plan.remote.map((r) => r.vni));
    for (const [vni, v] of [...net.vx]) {
      const r = plan.remote.find((x) => x.vni === vni);
      if (keep.has(vni) && r && r.port === v.port) continue;
      net.vx.delete(vni);
      // Left the plan but still leading to the old context, which lingers for its late frames.
      if (linger && !keep.has(vni) && br.peerOf(v.att) >= 0) {
        linger.push(v);
        continue;
      }
      up?.unbindVni(vni);
      br.detach(v.att);
      net.vx.delete(vni);
    }
    plan.remote.forEach((r, i) => {
      const vnic = atts[i] as number;
      let v = net.vx.get(r.vni);
      if (v && (v.remote.address !== r.remote.address || v.remote.port !== r.remote.port)) {
        up?.setRemotes(r.vni, [{ ...r.remote }]);
        v.remote = { ...r.remote };
        repointed.push(r.vni);
      }
      if (!v) {
        this.o.takeOverVni?.(r.vni);
        const att = this.o.host.attachUplink(up as VxlanUplink, r.vni, plan.key, [{ ...r.remote }]);
        v = { vni: r.vni, port: r.port, remote: { ...r.remote }, att };
        net.vx.set(r.vni, v);
      }
      if (br.peerOf(v.att) === vnic && br.peerOf(vnic) === v.att) return;
      const old = br.peerOf(v.att);
      if (holds && old >= 0) {
        // The old vNIC keeps its path out (one way) while it drains; what comes in waits.
        holds.push(this.hold(plan.key, v, vnic, old));
        return;
      }
      if (old >= 0) br.unlink(old);
      br.unlink(v.att);
      if (br.peerOf(vnic) >= 0) br.unlink(vnic);
      br.wire(v.att, vnic);
    });
    return repointed;
  }

  /**
   * Keeps the old context `old` of `key` running with the VNIs `vx` that left the plan (see
   * LINGER_MIN_MS), then removes it: the retiring functions' final states are settled, the
   * carried ones' rows it learnt meanwhile merged into the new context (kinds with STATE_ROWS;
   * for the others the new context's state stands), the VNIs unbound.
   */
  private lingerOld(key: string, old: CtxNet, vx: readonly Vx[], settle: (st: (fn: string) => Plain | undefined) => void, carried: readonly string[]): void {
    const host = this.o.host;
    const dom = old.dom;
    let done: Promise<void> | undefined;
    let timer: NodeJS.Timeout | undefined;
    const t0 = performance.now();
    let seen = -1;
    const body = async (): Promise<void> => {
      const fin = await host.removeContext(dom.hd.domain.id, old.index, true).catch(() => [] as Plain[]);
      settle((fn) => fin[old.plan.functions.findIndex((g) => g.name === fn)]);
      for (const v of vx) {
        this.o.uplink?.unbindVni(v.vni);
        host.bridge.detach(v.att);
      }
      if (this.lingering.get(key) === entry) this.lingering.delete(key);
      const now = this.nets.get(key);
      if (!now || fin.length === 0) return;
      const st = (await now.dom.hd.domain.exportState().catch(() => [] as Plain[][]))[now.index];
      if (!st) return;
      const arr: Plain[] = [];
      now.plan.functions.forEach((f, i) => {
        const j = old.plan.functions.findIndex((g) => g.name === f.name);
        if (!carried.includes(f.name) || STATE_ROWS[f.kind] === undefined || j < 0 || fin[j] === undefined) return;
        arr[i] = mergeState(f.kind, st[i] ?? null, fin[j] as Plain);
      });
      const all: Plain[][] = [];
      all[now.index] = arr;
      if (arr.length > 0) await now.dom.hd.domain.importState(all).catch(() => undefined);
    };
    const finish = (inChain = false): Promise<void> => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      done ??= inChain ? body() : this.serial(body);
      return done;
    };
    const entry = { finish };
    this.lingering.set(key, entry);
    const tick = (): void => {
      const n = dom.hd.domain.state === 'running' ? dom.hd.domain.contextFrames(old.index) : seen;
      const t = performance.now() - t0;
      if ((n === seen && t >= LINGER_MIN_MS) || t >= LINGER_MAX_MS) {
        void finish().catch(() => undefined);
        return;
      }
      seen = n;
      timer = setTimeout(tick, t < LINGER_MIN_MS ? LINGER_MIN_MS - t : LINGER_QUIET_MS);
    };
    timer = setTimeout(tick, LINGER_MIN_MS);
  }

  /** Frames from VNI `v` wait in domain 0 (bounded) until `unhold` wires it to `vnic`. */
  private hold(key: string, v: Vx, vnic: number, old: number): Hold {
    const br = this.o.host.bridge;
    const { at, held } = holdQueue(this.o.host, key, v.att);
    br.unlink(v.att);
    br.redirect(v.att, at);
    return { v, vnic, old, at, held };
  }

  /**
   * Ends hold queues: each VNI wired to its new vNIC (`forward`) or back to its old one (the
   * switch failed), its held frames delivered there, in order.
   */
  private unhold(holds: readonly Hold[], forward: boolean): void {
    const host = this.o.host;
    const br = host.bridge;
    for (const h of holds) {
      br.detach(h.at);
      const to = forward ? h.vnic : h.old;
      if (br.find(to) && br.peerOf(h.v.att) < 0) {
        if (br.peerOf(to) >= 0) br.unlink(to);
        br.wire(h.v.att, to);
        for (const b of h.held) host.forward(h.v.att, b);
      } else for (const b of h.held) for (let k = 0; k < b.count; k++) host.pool.release(b.slots[k] as number);
      h.held.length = 0;
    }
  }

  /** Frames of `key` queued at the emulated server reach their context first (bounded wait). */
  private async settleQueued(key: string): Promise<void> {
    const gate = this.o.host.server;
    const end = performance.now() + 50;
    do await new Promise<void>((r) => setImmediate(r));
    while (gate && gate.queued(key) > 0 && performance.now() < end);
  }

  /** The first context domain with room, or a new one. */
  private async roomy(): Promise<CtxDomain> {
    const d = this.domains.find((x) => x.members.size < this.perDomain);
    if (d) return d;
    const name = `contexts-${++this.seq}`;
    const hd = await this.o.host.addDomain({ name, contexts: [], vnics: [] });
    const dom: CtxDomain = { hd, name, members: new Set() };
    this.domains.push(dom);
    return dom;
  }

  private async dropDomain(dom: CtxDomain): Promise<void> {
    const i = this.domains.indexOf(dom);
    if (i >= 0) this.domains.splice(i, 1);
    await this.o.host.removeDomain(dom.hd.domain.id);
  }

  /**
   * Removes context network `key`: it keeps running `graceMs` (frames in flight get through),
   * then its context leaves its domain (destroyed if it was the last) and its VNIs are unbound.
   * With `graceMs <= 0` it resolves once everything is gone, with the functions' final state
   * (by name). False if `key` is not a context network here.
   */
  async remove(key: string, graceMs = 100): Promise<Record<string, Plain> | false> {
    const net = this.nets.get(key);
    if (!net) return false;
    this.nets.delete(key);
    let done: Promise<Record<string, Plain>> | undefined;
    let timer: NodeJS.Timeout | undefined;
    const settle = this.departing(key, net.plan.functions.map((f) => f.name));
    const body = async (): Promise<Record<string, Plain>> => {
      await this.lingering.get(key)?.finish(true);
      const st = await this.o.host.removeContext(net.dom.hd.domain.id, net.index).catch(() => [] as Plain[]);
      settle((fn) => st[net.plan.functions.findIndex((f) => f.name === fn)]);
      for (const v of net.vx.values()) {
        this.o.uplink?.unbindVni(v.vni);
        this.o.host.bridge.detach(v.att);
      }
      net.vx.clear();
      net.dom.members.delete(key);
      if (net.dom.members.size === 0) await this.dropDomain(net.dom);
      if (this.retiring.get(key) === entry) this.retiring.delete(key);
      const out: Record<string, Plain> = {};
      net.plan.functions.forEach((f, i) => (out[f.name] = st[i] ?? null));
      return out;
    };
    const finish = (inChain = false): Promise<Record<string, Plain>> => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      done ??= inChain ? body() : this.serial(body);
      return done;
    };
    const entry = { finish };
    this.retiring.set(key, entry);
    if (graceMs > 0) {
      // After the grace period, until no frame came in from outside for LINGER_QUIET_MS (at most
      // LINGER_MAX_MS more): a peer that re-plans late (a loaded server) still sends here, and
      // what arrives once the VNIs are unbound is lost.
      const t0 = performance.now();
      let seen = -1;
      const tick = (): void => {
        if (done) return;
        const d = net.dom.hd.domain;
        const n = d.state === 'running' ? d.contextFrames(net.index) : seen;
        const t = performance.now() - t0;
        if ((n === seen && t >= graceMs) || t >= graceMs + LINGER_MAX_MS) {
          void finish().catch(() => undefined);
          return;
        }
        seen = n;
        timer = setTimeout(tick, t < graceMs ? graceMs - t : LINGER_QUIET_MS);
      };
      timer = setTimeout(tick, graceMs);
      return {};
    }
    return finish();
  }

  /** The state of function `fn` of context network `key`, exported live. */
  async exportState(key: string, fn: string, timeoutMs = 2000): Promise<Plain> {
    const { net, i } = this.member(key, fn);
    const st = await net.dom.hd.domain.exportState(timeoutMs);
    return st[net.index]?.[i] ?? null;
  }

  /** Imports state into function `fn` of context network `key` (applied before any later frame). */
  async importState(key: string, fn: string, state: Plain, timeoutMs = 2000): Promise<void> {
    const { net, i } = this.member(key, fn);
    const ctx: Plain[] = [];
    ctx[i] = state;
    const all: Plain[][] = [];
    all[net.index] = ctx;
    await net.dom.hd.domain.importState(all, timeoutMs);
  }

  private member(key: string, fn: string): { net: CtxNet; i: number } {
    const net = this.nets.get(key);
    const i = net ? net.plan.functions.findIndex((f) => f.name === fn) : -1;
    if (!net || i < 0) throw new ContextDomainError(`context network ${key} has no function ${fn} on this server`);
    return { net, i };
  }

  /**
   * Each context network's figures, as the agent runtime reports a network: `totals` reads a
   * traffic function's exported state (sinks' flows); one live export per domain that holds a
   * traffic function (a domain of routers only is not asked for its tables).
   */
  async report(totals: (st: Plain | undefined) => { received: number; bytes: number; lost?: number } | undefined): Promise<ContextNetworkReport[]> {
    const host = this.o.host;
    const shares = new Map((host.server?.scheduler.balances().networks ?? []).map((n) => [n.net, n]));
    const wanted = new Set<CtxDomain>();
    for (const n of this.nets.values()) if (n.plan.functions.some((f) => TRAFFIC_KINDS.has(f.kind))) wanted.add(n.dom);
    const states = new Map<CtxDomain, Plain[][]>();
    await Promise.all([...wanted].map(async (d) => states.set(d, d.hd.domain.state === 'running' ? await d.hd.domain.exportState(1000).catch(() => []) : [])));
    const out: ContextNetworkReport[] = [];
    for (const [key, n] of this.nets) {
      const d = n.dom.hd.domain;
      const cc = d.counters();
      const traffic: Record<string, { received: number; bytes: number; lost?: number }> = {};
      const latency = new LatencyMerge();
      const st = states.get(n.dom)?.[n.index] ?? [];
      n.plan.functions.forEach((f, i) => {
        const t = totals(st[i]);
        if (t) traffic[f.name] = t;
        latency.addState(st[i]);
      });
      const hd = host.dropsOf(key);
      let upDrops = 0;
      for (const v of n.vx.values()) upDrops += this.o.uplink?.droppedOf(v.vni) ?? 0;
      const sh = shares.get(key);
      out.push({
        network: key,
        functions: n.plan.functions.map((f) => f.name),
        state: cc.state,
        restarts: cc.restarts,
        processed: d.contextFrames(n.index),
        traffic,
        // The domain's own drops (tx ring full, in flight in a crash) are not the network's alone: not counted.
        drops: hd.unwired + hd.ringFull + hd.queueFull + hd.noBuffer + upDrops,
        latency: latency.summary(),
        ...(sh ? { tokens: { allocation: sh.allocation, balance: sh.balance, priority: sh.priority, backlog: sh.backlog } } : {}),
        ports: d.portCounters(n.index),
        shared: { domain: n.dom.name, id: d.id, context: n.index, networks: n.dom.members.size },
      });
    }
    return out;
  }

  /** Removes every context network at once and destroys the context domains. */
  async close(): Promise<void> {
    for (const k of [...this.nets.keys()]) await this.remove(k, 0).catch(() => false);
    await Promise.all([...this.retiring.values(), ...this.lingering.values()].map((r) => r.finish().catch(() => undefined)));
    await this.serial(async () => {
      for (const d of [...this.domains]) await this.dropDomain(d);
    });
  }
}

/** An ApplyChanges that did nothing. */
export function emptyChanges(): ApplyChanges {
  return { started: [], kept: [], adopted: [], replaced: [], stateLost: [], retiring: [], repointed: [] };
}
