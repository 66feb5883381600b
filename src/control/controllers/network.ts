/**
 * The network controller: level-triggered reconciliation of SoftwareNetworks into Placement
 * objects (function → server). It keeps reflectors on networks, infrastructure and placements;
 * any change to one of them queues the networks it may affect, and each reconcile compares
 * desired (the network's generation and functions) with actual (its placements) from scratch,
 * so a missed event or a restart never leaves a network behind.
 *
 * Every outcome is visible: condition `Scheduled` True/False/Unknown with the scheduler's
 * reason, events (Scheduled, Unschedulable, ReconcileError), and unschedulable or failed
 * networks are retried with exponential backoff (and at once when the infrastructure changes).
 * The scheduling decision itself is behind the {@link NetworkScheduler} seam.
 */
import { EventRecorder, setCondition, withCondition } from '../events.js';
import { readResource } from '../manifest/apply.js';
import { DEFAULT_NAMESPACE, type Condition, type Resource, type SoftwareNetworkSpec } from '../manifest/types.js';
import { PLACEMENT_PREFIX, placementKey, type Placement } from '../placement.js';
import { CasFailedError, LeaseNotFoundError, NotFoundError, type JsonObject, type KeyValue, type Op, type Store } from '../store/contract.js';
import { Reflector } from '../store/reflector.js';
import { serverSchedulable } from './servers.js';
import { DRAIN_ANNOTATION } from '../server-ops.js';

export interface Assignment {
  /** Function name in the network (standby copies as `fw~standby-1`). */
  readonly function: string;
  readonly server: string;
  readonly requests: Placement['requests'];
}

export type PlacementDecision = { readonly ok: true; readonly assignments: readonly Assignment[] } | { readonly ok: false; readonly reason: string };

export interface PlaceContext {
  /** Datacenter, Server and Link objects (the same array until the infrastructure changes). */
  readonly infrastructure: readonly Resource[];
  /** The network's current placements (to be replaced). */
  readonly mine: readonly Placement[];
  /** Every other network's placements (built on demand: O(placements)). */
  others(): readonly Placement[];
}

/**
 * The seam between the controller and the scheduling algorithm. A stateless scheduler needs
 * only `place`; an incremental one also follows `observe` and `reset`, so that one pass costs
 * what one network needs rather than a rebuild of the whole cluster.
 */
export interface NetworkScheduler {
  /** Places every function of `network` (all or none), or says why not. */
  place(network: Resource, ctx: PlaceContext): PlacementDecision;
  /** Places only `functions` (all or none), the network's other placements staying where they are. */
  placeSome?(network: Resource, ctx: PlaceContext, functions: ReadonlySet<string>): PlacementDecision;
  /** A placement was written or deleted (by anyone, this controller included). */
  observe?(type: 'put' | 'delete', placement: Placement): void;
  /** The infrastructure changed, or a decision was not written: rebuild state on the next place. */
  reset?(): void;
}

export interface NetworkControllerInit {
  readonly scheduler: NetworkScheduler;
  /** First retry delay of an unschedulable or failed network (ms, default 200). */
  readonly minBackoffMs?: number;
  /** Longest retry delay (ms, default 30 000). */
  readonly maxBackoffMs?: number;
  /**
   * Networks reconciled at once (default 64). Passes over different networks overlap their
   * store round trips, so the SQLite store's group commit acknowledges them with one fsync;
   * scheduling decisions stay sequential (place() is synchronous).
   */
  readonly concurrency?: number;
  readonly log?: (line: string) => void;
}

const NET_PREFIX = '/swnet/softwarenetwork/';
const INFRA_PREFIXES = ['/swnet/datacenter/', '/swnet/server/', '/swnet/link/'];

/**
 * @example
 * const c = await NetworkController.start(store, { scheduler: new GangScheduler() });
 * // ... networks get placements and a Scheduled condition ...
 * await c.stop();
 */
export class NetworkController {
  private nets!: Reflector;
  private placements!: Reflector;
  private infra: Reflector[] = [];
  /**
   * Placements per network key, kept from the placement reflector: a small array, not a Map
   * (a network has a handful of functions; 100,000 idle user networks made inner Maps ~500 B each).
   */
  private readonly byNetwork = new Map<string, Placement[]>();
  private infrastructure: Resource[] | undefined;
  private serverNames: Set<string> | undefined;
  private unavailable = new Map<string, string>();
  /** Servers being drained (cordoned + drain annotation): their standby copies move. */
  private draining = new Set<string>();
  private readonly events: EventRecorder;
  /** Networks due now, in arrival order (a Set: queuing twice is once). */
  private readonly ready = new Set<string>();
  /**
   * The same keys in a FIFO array (head index): taking from a Set's front after many deletes
   * walks the deleted slots V8 keeps until it rehashes, which made 100k queued networks slow.
   * Entries whose key left `ready` are skipped.
   */
  private queue: string[] = [];
  private head = 0;
  /** Networks due later (backoff), with the time they are due. */
  private readonly delayed = new Map<string, number>();
  /** Networks being reconciled: never two passes over one network at once. */
  private readonly active = new Set<string>();
  /** Decisions written but not yet seen by the placement reflector, for other passes' `others()`. */
  private readonly inflight = new Map<string, Placement[]>();
  private readonly attempts = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly workers = new Set<Promise<void>>();
  private stopped = false;
  /** Reconciles done (for tests and metrics). */
  reconciles = 0;

  private constructor(
    private readonly store: Store,
    private readonly init: NetworkControllerInit,
  ) {
    this.events = new EventRecorder(store, { component: 'network-controller' });
  }

  static async start(store: Store, init: NetworkControllerInit): Promise<NetworkController> {
    const c = new NetworkController(store, init);
    c.placements = await Reflector.start(store, {
      prefix: PLACEMENT_PREFIX,
      onChange: (ch) => {
        for (const x of ch) {
          const net = netKeyOfPlacement(x.key);
          if (net === undefined) continue;
          const m = c.byNetwork.get(net);
          const fn = x.key.slice(x.key.lastIndexOf('/') + 1);
          const at = m ? m.findIndex((p) => p.function === fn) : -1;
          if (x.type === 'put' && x.kv) {
            const p = x.kv.value as unknown as Placement;
            if (!m) c.byNetwork.set(net, [p]);
            else if (at >= 0) m[at] = p;
            else m.push(p);
            init.scheduler.observe?.('put', p);
          } else if (m) {
            if (at >= 0) m.splice(at, 1);
            if (m.length === 0) c.byNetwork.delete(net);
            if (x.prev) init.scheduler.observe?.('delete', x.prev.value as unknown as Placement);
          }
          c.enqueue(net);
        }
      },
    });
    for (const prefix of INFRA_PREFIXES)
      c.infra.push(
        await Reflector.start(store, {
          prefix,
          onChange: (ch) => {
            // Agents write Server status every few seconds: only a change of spec or of
            // schedulability changes what the scheduler may decide.
            if (!ch.some((x) => !x.prev || !x.kv || schedulingView(x.prev) !== schedulingView(x.kv))) return;
            c.infrastructure = undefined;
            init.scheduler.reset?.();
            c.enqueueAll(true);
          },
        }),
      );
    // Only creation, deletion and spec changes (a new generation) need a pass: status writes,
    // the controller's own included, do not (and must not reset a failing network's backoff).
    // The last generation seen per network, so that a change parses only the new value (large
    // values are cached as text and parsed on each read: see store/reflector.ts).
    const gens = new Map<string, number>();
    c.nets = await Reflector.start(store, {
      prefix: NET_PREFIX,
      onChange: (ch) => {
        for (const x of ch) {
          const g = x.kv ? ((x.kv.value as unknown as Resource).metadata?.generation ?? 0) : undefined;
          if (g === gens.get(x.key)) continue;
          if (g === undefined) gens.delete(x.key);
          else gens.set(x.key, g);
          c.enqueue(x.key, true);
        }
      },
    });
    c.enqueueAll(true);
    return c;
  }

  private enqueueAll(reset: boolean): void {
    for (const key of this.nets?.cache.keys() ?? []) this.enqueue(key, reset);
  }

  /** Queues a network now (`reset` forgets its backoff: something it depends on changed). */
  private enqueue(key: string | undefined, reset = false, delay = 0): void {
    if (key === undefined || this.stopped) return;
    if (reset) this.attempts.delete(key);
    if (delay <= 0) {
      this.delayed.delete(key);
      if (!this.ready.has(key)) {
        this.ready.add(key);
        this.queue.push(key);
      }
    } else if (!this.ready.has(key)) {
      const at = Date.now() + delay;
      const cur = this.delayed.get(key);
      if (cur === undefined || at < cur) this.delayed.set(key, at);
      if (at < this.timerAt) this.arm(at);
    }
    this.kick();
  }

  /** One timer for the earliest delayed network; on firing, every due one becomes ready. */
  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timerAt = Infinity;
      const now = Date.now();
      let next = Infinity;
      for (const [k, t] of this.delayed) {
        if (t <= now) {
          this.delayed.delete(k);
          if (!this.ready.has(k)) {
            this.ready.add(k);
            this.queue.push(k);
          }
        } else next = Math.min(next, t);
      }
      if (next !== Infinity) this.arm(next);
      this.kick();
    }, Math.max(0, at - Date.now()));
  }

  private kick(): void {
    if (this.stopped) return;
    const max = Math.max(1, this.init.concurrency ?? 64);
    while (this.workers.size < max && this.workers.size < this.ready.size) {
      const w: Promise<void> = this.work().finally(() => this.workers.delete(w));
      this.workers.add(w);
    }
  }

  /** A ready network nobody is reconciling, taken off the queue (one being reconciled waits at the back). */
  private take(): string | undefined {
    const busy: string[] = [];
    let found: string | undefined;
    while (this.head < this.queue.length) {
      const k = this.queue[this.head++]!;
      if (!this.ready.has(k)) continue;
      if (this.active.has(k)) {
        busy.push(k);
        continue;
      }
      this.ready.delete(k);
      found = k;
      break;
    }
    this.queue.push(...busy);
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return found;
  }

  private async work(): Promise<void> {
    // Start after the caller's turn, so that a burst of enqueues is one batch of work.
    await new Promise((r) => setImmediate(r));
    for (let key = this.take(); key !== undefined && !this.stopped; key = this.take()) {
      this.active.add(key);
      try {
        await this.reconcileSafely(key);
      } finally {
        this.active.delete(key);
      }
      // Let I/O and timers run between passes, even when the store answers in microtasks.
      await new Promise((r) => setImmediate(r));
    }
  }

  private backoff(key: string): number {
    const n = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, n);
    return Math.min(this.init.maxBackoffMs ?? 30_000, (this.init.minBackoffMs ?? 200) * 2 ** (n - 1));
  }

  private async reconcileSafely(key: string): Promise<void> {
    this.reconciles++;
    try {
      const retry = await this.reconcile(key);
      if (retry) this.enqueue(key, false, this.backoff(key));
      else this.attempts.delete(key);
    } catch (e) {
      if (this.stopped) return;
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      this.init.log?.(`network-controller: ${key}: ${msg}`);
      const ref = refOf(key);
      // Report the failure on the object itself; if even that fails, the retry will try again.
      try {
        if (ref && this.nets.cache.has(key)) {
          await this.events.record(ref, 'Warning', 'ReconcileError', msg);
          await setCondition(this.store, ref, { type: 'Scheduled', status: 'Unknown', reason: 'ReconcileError', message: msg });
        }
      } catch {
        /* the store is away; retried below */
      }
      this.enqueue(key, false, this.backoff(key));
    }
  }

  /** One level-triggered pass over one network; true = retry later with backoff. */
  private async reconcile(key: string): Promise<boolean> {
    const ref = refOf(key);
    if (!ref) return false;
    const prefix = placementKey(ref.namespace, ref.name);
    const mine = [...(this.byNetwork.get(key) ?? [])];
    const kv = this.nets.cache.get(key);
    if (!kv) {
      // Deleted network: its placements go too.
      if (mine.length > 0) await this.store.txn([], [{ type: 'delete', key: prefix, prefix: true }]);
      return false;
    }
    const net = readResource(kv);
    const gen = net.metadata.generation ?? 1;
    if (!this.infrastructure) {
      // Servers whose agent was lost (Ready=False) are not offered to the scheduler.
      const all = this.infra.flatMap((r) => [...r.cache.values()].map(readResource));
      this.unavailable = new Map();
      this.draining = new Set(all.filter((r) => r.kind === 'Server' && r.spec['unschedulable'] === true && r.metadata.annotations?.[DRAIN_ANNOTATION] !== undefined).map((r) => r.metadata.name));
      for (const r of all) {
        const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
        if (r.kind === 'Server' && !serverSchedulable(r.status)) this.unavailable.set(r.metadata.name, `server ${r.metadata.name} is not ready (${ready?.reason ?? 'NotReady'}${ready?.message ? `: ${ready.message}` : ''})`);
      }
      this.infrastructure = all.filter((r) => !(r.kind === 'Server' && this.unavailable.has(r.metadata.name)));
      this.serverNames = new Set(this.infrastructure.filter((r) => r.kind === 'Server').map((r) => r.metadata.name));
    }
    const servers = this.serverNames ?? new Set<string>();
    const spec = net.spec as unknown as SoftwareNetworkSpec;
    const standbys = spec.resilience?.standby ?? 0;
    // Every placement the network needs: its functions and their standby copies.
    // Replicas spread over servers are placements of their own (`fw~replica-k`, k ≥ 1).
    const fns = (spec.functions ?? []).flatMap((f) => [f.name, ...Array.from({ length: standbys }, (_, k) => `${f.name}~standby-${k + 1}`), ...Array.from({ length: f.spread === 'servers' ? (f.replicas ?? 1) - 1 : 0 }, (_, k) => `${f.name}~replica-${k + 1}`)]);
    const placed = new Set(mine.map((p) => p.function));
    // A migrated placement keeps its generation: it is up to date wherever it now runs. A standby
    // copy on a server being drained is not: it moves, since a drain leaves nothing behind (the
    // migration controller moves the primaries; a mere cordon moves nothing).
    // Replicas spread over servers likewise: placed again elsewhere, their front moves their flows.
    const misplaced = (p: Placement): boolean => !servers.has(p.server) || ((p.function.includes('~standby-') || p.function.includes('~replica-')) && this.draining.has(p.server));
    const upToDate = mine.length > 0 && mine.every((p) => p.generation === gen && !misplaced(p)) && fns.every((f) => placed.has(f));
    if (upToDate) {
      await this.ensureCondition(net, { type: 'Scheduled', status: 'True', reason: 'Scheduled', message: summary(mine) }, false);
      return false;
    }
    const others = (): Placement[] => {
      const out: Placement[] = [];
      for (const [k, m] of this.byNetwork) if (k !== key && !this.inflight.has(k)) out.push(...m);
      for (const [k, ps] of this.inflight) if (k !== key) out.push(...ps);
      return out;
    };
    const ctx: PlaceContext = { infrastructure: this.infrastructure, mine, others };
    // Same generation: only the missing and misplaced functions move, the rest stay (a move is a
    // cold start); if they fit nowhere that way, the whole network is placed again.
    const wanted = new Set(fns);
    const some = new Set([...fns.filter((f) => !placed.has(f)), ...mine.filter(misplaced).map((p) => p.function)]);
    const partial = this.init.scheduler.placeSome !== undefined && mine.length > 0 && some.size > 0 && mine.every((p) => p.generation === gen && wanted.has(p.function));
    let d = partial ? this.init.scheduler.placeSome!(net, ctx, some) : this.init.scheduler.place(net, ctx);
    if (partial && d.ok) d = { ok: true, assignments: [...mine.filter((p) => !some.has(p.function)).map((p) => ({ function: p.function, server: p.server, requests: p.requests })), ...d.assignments] };
    else if (partial) d = this.init.scheduler.place(net, ctx);
    if (!d.ok) {
      await this.events.record(ref, 'Warning', 'Unschedulable', d.reason);
      await this.ensureCondition(net, { type: 'Scheduled', status: 'False', reason: 'Unschedulable', message: d.reason }, false);
      return true;
    }
    const next: Placement[] = d.assignments.map((a) => ({ kind: 'Placement', namespace: ref.namespace, network: ref.name, function: a.function, server: a.server, generation: gen, requests: a.requests }));
    const keep = new Set(next.map((p) => p.function));
    const ops: Op[] = mine.filter((p) => !keep.has(p.function)).map((p) => ({ type: 'delete', key: placementKey(ref.namespace, ref.name, p.function) }));
    for (const p of next) ops.push({ type: 'put', key: placementKey(ref.namespace, ref.name, p.function), value: p as unknown as JsonObject });
    // The Scheduled condition goes in the same transaction (one commit per pass, not two).
    const { resourceVersion: _rv, ...meta } = net.metadata;
    ops.push({ type: 'put', key, value: withCondition({ ...net, metadata: meta }, { type: 'Scheduled', status: 'True', reason: 'Scheduled', message: summary(next) }, gen) as unknown as JsonObject });
    // Guarded by the network's revision: a network changed meanwhile is reconciled again instead.
    // The Scheduled event too, in the same commit (a third of the writes of a user network's connect).
    let res;
    this.inflight.set(key, next);
    try {
      const ev = await this.events.prepare(ref, 'Normal', 'Scheduled', summary(next));
      res = await this.store.txn([{ key, modRevision: kv.modRevision }, ev.compare], [...ops, ev.op]);
      if (res.succeeded) await Promise.all([this.placements.waitFor(res.revision), this.nets.waitFor(res.revision)]);
    } catch (e) {
      this.init.scheduler.reset?.();
      if (e instanceof LeaseNotFoundError) this.events.leaseLost();
      throw e;
    } finally {
      this.inflight.delete(key);
    }
    if (!res.succeeded) {
      this.init.scheduler.reset?.();
      // The network changed (its reflector queues it) or the event was counted meanwhile: again.
      this.enqueue(key);
      return false;
    }
    // Functions that had to leave their server say why (a lost agent, a deleted server).
    const to = new Map(next.map((p) => [p.function, p.server]));
    const moved = mine.filter((p) => !servers.has(p.server) && to.has(p.function)).map((p) => `${p.function} ${p.server}→${to.get(p.function)} (${this.unavailable.get(p.server) ?? `server ${p.server} no longer exists`})`);
    if (moved.length > 0) await this.events.record(ref, 'Warning', 'Rescheduled', moved.slice(0, 8).join('; ') + (moved.length > 8 ? `; and ${moved.length - 8} more` : ''));
    return false;
  }

  /** Sets the condition unless it already says exactly that; records an event when it changes. */
  private async ensureCondition(net: Resource, cond: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>, changedPlacement: boolean): Promise<void> {
    const gen = net.metadata.generation ?? 1;
    const cur = net.status?.conditions?.find((c) => c.type === cond.type);
    const ref = { kind: 'SoftwareNetwork' as const, name: net.metadata.name, namespace: net.metadata.namespace ?? DEFAULT_NAMESPACE };
    if (cur && cur.status === cond.status && cur.reason === cond.reason && cur.message === cond.message && cur.observedGeneration === gen && !changedPlacement) return;
    if (cond.status === 'True' && (changedPlacement || cur?.status !== 'True')) await this.events.record(ref, 'Normal', 'Scheduled', cond.message ?? '');
    try {
      const r = await setCondition(this.store, ref, cond, gen);
      await this.nets.waitFor(Number(r.metadata.resourceVersion));
    } catch (e) {
      if (e instanceof NotFoundError || e instanceof CasFailedError) return; // deleted or changed: the next pass sees it
      throw e;
    }
  }

  /** Stops reconciling; resolves after the pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.workers);
    await Promise.all([this.nets?.stop(), this.placements?.stop(), ...this.infra.map((r) => r.stop())]);
  }
}

/**
 * What the scheduler sees of an infrastructure object: its generation (every spec change,
 * `spec.unschedulable` included) and, for a Server, whether it is schedulable and why not.
 */
function schedulingView(kv: KeyValue): string {
  const r = kv.value as unknown as Resource;
  const gen = r.metadata?.generation ?? 0;
  if (r.kind !== 'Server') return String(gen);
  const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
  const spec = r.spec as { unschedulable?: unknown } | undefined;
  return serverSchedulable(r.status) ? `${gen}|ok|${String(spec?.unschedulable === true)}` : `${gen}|no|${ready?.reason ?? ''}|${ready?.message ?? ''}|${String(spec?.unschedulable === true)}`;
}

function refOf(key: string): { kind: 'SoftwareNetwork'; namespace: string; name: string } | undefined {
  const rest = key.slice(NET_PREFIX.length).split('/');
  return rest.length === 2 && rest[0] && rest[1] ? { kind: 'SoftwareNetwork', namespace: rest[0], name: rest[1] } : undefined;
}

function netKeyOfPlacement(key: string): string | undefined {
  const rest = key.slice(PLACEMENT_PREFIX.length).split('/');
  return rest.length === 3 ? `${NET_PREFIX}${rest[0]}/${rest[1]}` : undefined;
}

function summary(ps: readonly Placement[]): string {
  const servers = new Set(ps.map((p) => p.server));
  const list = [...ps].sort((a, b) => a.function.localeCompare(b.function)).map((p) => `${p.function}→${p.server}`);
  return `${ps.length} function(s) on ${servers.size} server(s): ${list.slice(0, 8).join(', ')}${list.length > 8 ? ', ...' : ''}`;
}
