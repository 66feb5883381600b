/**
 * Warm standbys and automatic failover for a server agent (session contract s11 §1, "Failover
 * of a warm standby"), as VRRP does it for a router pair but per function:
 *
 * - a placement `F~standby-k` on this server: the agent keeps a WARM instance of F here (F's
 *   configuration with its computed FIB, a virtual NIC per port, wired to nothing), refreshes
 *   its state from `/swnet/standby-state/<ns>/<net>/<F>` every `standbySyncMs`, and watches the
 *   hellos of F's primary server;
 * - F placed here with a standby elsewhere: the agent advertises F to the standby's agent every
 *   `helloMs` (src/host/hello.ts, the endpoint published as `hello` in the heartbeat) and writes
 *   F's exported state to the standby-state key every `standbySyncMs`;
 * - the primary silent for `missed` hellos is *suspect*; it is *down* when its heartbeat lease is
 *   gone or after `confirmMs` more of silence. Then, in ONE transaction guarded by both
 *   placements' revisions: placement F → this server, `F~standby-k` deleted, a Migration object
 *   {reason 'failure', standby: true, phase 'switched'} created; the agent re-plans at once and
 *   adopts the warm instance (no cold start), the object goes to `done` and a Warning event
 *   `Failover` on the network says why. The network controller later places a new standby.
 *
 * It also obeys `/swnet/command/<server>` `{action: 'fail'}` (contract §3): the agent behaves as
 * after kill -9 (hellos and lease renewals stop, nothing revoked, domains torn down).
 *
 * @example
 * const sb = await StandbyManager.open({ server: 's2', helloMs: 20 });
 * // heartbeat info: { hello: sb.endpoint }; once the agent's caches run:
 * await sb.start({ store, server: 's2', runtime, placements, heartbeats, planWith, waitPlacements, reconcileNow, fail });
 * // at the end of each agent reconcile:
 * await sb.reconcile();
 */
import type { Plain } from '../functions/contract.js';
import type { FunctionSpec } from '../host/domain.js';
import type { NetworkPlan } from '../host/agent-runtime.js';
import { HelloEndpoint, type DownInfo } from '../host/hello.js';
import { EventRecorder } from '../control/events.js';
import { heartbeatKey } from '../control/heartbeat.js';
import { placementKey, type Placement } from '../control/placement.js';
import { advance, keyOf, newMigration, type MigrationObject } from '../control/migrations.js';
import type { JsonObject, KeyValue, Store, Watch } from '../control/store/contract.js';

export const STANDBY_STATE_PREFIX = '/swnet/standby-state/';
export const COMMAND_PREFIX = '/swnet/command/';

/** @example standbyStateKey('default', 'web', 'r1') === '/swnet/standby-state/default/web/r1' */
export function standbyStateKey(namespace: string, network: string, fn: string): string {
  return `${STANDBY_STATE_PREFIX}${namespace}/${network}/${fn}`;
}

/** @example commandKey('s1') === '/swnet/command/s1' */
export function commandKey(server: string): string {
  return `${COMMAND_PREFIX}${server}`;
}

export class StandbyError extends Error {
  override readonly name = 'StandbyError';
}

export interface StandbyOptions {
  /** Where the hello socket listens (default: the VXLAN address or 127.0.0.1, port chosen). */
  readonly hello?: { readonly address: string; readonly port: number };
  /** Hello interval (ms, default 20; `swnet agent` uses 50). */
  readonly helloMs?: number;
  /** Missed hellos before the primary is suspect (default 3). */
  readonly missed?: number;
  /** Further silence that confirms a suspect primary down when its lease is still held (default 3 × helloMs). */
  readonly confirmMs?: number;
  /** Period of the primary → standby state copy (ms, default 1000). */
  readonly standbySyncMs?: number;
}

/** What the manager needs of the agent's runtime (src/host/agent-runtime.ts). */
export interface WarmRuntime {
  /** A warm instance of `fn` (a vNIC per declared port when `ports` is absent). */
  warm(key: string, fn: FunctionSpec, ports?: readonly string[], opts?: { readonly allocation?: number; readonly priority?: number }): Promise<unknown>;
  dropWarm(key: string, fn: string): Promise<unknown>;
  exportState(key: string, fn: string): Promise<Plain>;
  importState(key: string, fn: string, state: Plain): Promise<unknown>;
  /** Functions of network `key` running here (warm ones excluded). */
  functions(key: string): string[];
}

/** The agent's side of the manager (a narrow dependency object, filled by ServerAgent). */
export interface StandbyComponents {
  readonly store: Store;
  readonly server: string;
  readonly runtime: WarmRuntime;
  /** The agent's placement and heartbeat caches (reflectors). */
  readonly placements: ReadonlyMap<string, KeyValue>;
  readonly heartbeats: ReadonlyMap<string, KeyValue>;
  /** The plan this server would run for network `key` (`ns/net`) were `fn` placed here; undefined if the network is gone. */
  planWith(key: string, fn: string): Promise<NetworkPlan | undefined>;
  /** Resolves once the placement cache reflects revision `rev`. */
  waitPlacements(rev: number): Promise<void>;
  /** Runs the agent's reconcile now and resolves when it is done. */
  reconcileNow(): Promise<void>;
  /** Behave as after kill -9 (the `fail` command). */
  fail(): Promise<void>;
  readonly log?: (line: string) => void;
}

/** One failover this agent did, for tests and benches. */
export interface FailoverRecord {
  readonly network: string;
  readonly function: string;
  readonly from: string;
  readonly migration: string;
  readonly detail: string;
  /** performance.now() when the primary was declared down, the txn committed, the warm instance adopted. */
  readonly downAt: number;
  readonly switchedAt: number;
  readonly adoptedAt: number;
}

interface Held {
  readonly id: string;
  readonly ns: string;
  readonly net: string;
  readonly key: string;
  readonly fn: string;
  standbyFn: string;
  primary: string;
  canon: string;
  stateRev: number;
  promoting: boolean;
  /** What confirmed the loss, when not silence alone. */
  confirmedBy?: string;
}

interface Primary {
  readonly ns: string;
  readonly net: string;
  readonly key: string;
  readonly fn: string;
}

/** The hello endpoint a peer agent published in its heartbeat. */
function helloOf(hb: ReadonlyMap<string, KeyValue>, server: string): string | undefined {
  const v = hb.get(heartbeatKey(server))?.value as { hello?: unknown } | undefined;
  return typeof v?.hello === 'string' ? v.hello : undefined;
}

/**
 * Warm standbys, hellos and promotion for one server agent.
 * @example
 * const sb = await StandbyManager.open({ server: 's1', helloMs: 50, hello: { address: '10.0.0.1', port: 0 } });
 */
export class StandbyManager {
  private c: StandbyComponents | undefined;
  private readonly held = new Map<string, Held>();
  private primaries = new Map<string, Primary>();
  private readonly written = new Set<string>();
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private cmdWatch: Watch | undefined;
  private events: EventRecorder | undefined;
  private closed = false;
  private failing: Promise<void> | undefined;
  private onFailed: () => void = () => undefined;
  /** Resolves once a `fail` command was obeyed (the CLI exits then, as a killed process would). */
  readonly failed = new Promise<void>((r) => (this.onFailed = r));
  /** Failovers this agent did (newest last). */
  readonly failovers: FailoverRecord[] = [];

  private constructor(
    readonly hello: HelloEndpoint,
    private readonly opts: StandbyOptions & { readonly server: string },
  ) {}

  /** Binds the hello socket (its endpoint goes into the heartbeat before the agent starts watching). */
  static async open(o: StandbyOptions & { readonly server: string; readonly defaultAddress?: string }): Promise<StandbyManager> {
    const helloMs = o.helloMs ?? 20;
    let self: StandbyManager | undefined;
    const ep = await HelloEndpoint.open({
      server: o.server,
      address: o.hello?.address ?? o.defaultAddress ?? '127.0.0.1',
      port: o.hello?.port ?? 0,
      intervalMs: helloMs,
      missed: o.missed ?? 3,
      confirmMs: o.confirmMs ?? 3 * helloMs,
      onSuspect: (id) => void self?.suspect(id),
      onDown: (id, info) => void self?.promote(id, info),
    });
    self = new StandbyManager(ep, o);
    return self;
  }

  /** `addr:port` of the hello socket, for the heartbeat's `hello` field. */
  get endpoint(): string {
    const a = this.hello.address;
    return `${a.includes(':') ? `[${a}]` : a}:${this.hello.port}`;
  }

  /** Starts the state copies and the `fail` command watch; call `reconcile()` after each agent reconcile. */
  async start(c: StandbyComponents): Promise<void> {
    this.c = c;
    this.events = new EventRecorder(c.store, { component: `agent/${c.server}` });
    const key = commandKey(c.server);
    const from = (await c.store.revision()) + 1;
    // Only commands written from now on: an old `fail` must not kill a restarted agent.
    this.cmdWatch = await c.store.watch(key, { fromRevision: from }, (evs) => {
      for (const e of evs) {
        const v = e.kv?.value as { action?: unknown } | undefined;
        if (e.key === key && e.type === 'put' && v?.action === 'fail') void this.fail();
      }
    });
    this.syncTimer = setInterval(() => {
      if (!this.syncing) this.syncing = this.sync().finally(() => (this.syncing = undefined));
    }, this.opts.standbySyncMs ?? 1000);
    this.syncTimer.unref();
  }

  /** The `fail` command: as after kill -9 (the agent stops hellos, renewals and domains; nothing is revoked). */
  private fail(): Promise<void> {
    this.c?.log?.(`agent ${this.opts.server}: fail command: stopping as if killed`);
    this.failing ??= (this.c?.fail() ?? Promise.resolve()).catch(() => undefined).then(() => this.onFailed());
    return this.failing;
  }

  /** Warm standbys to hold, hellos to send and watch, from the placement cache. */
  async reconcile(): Promise<void> {
    const c = this.c;
    if (!c || this.closed) return;
    const me = c.server;
    const byNet = new Map<string, Map<string, Placement>>();
    for (const kv of c.placements.values()) {
      const p = kv.value as unknown as Placement;
      const k = `${p.namespace}/${p.network}`;
      let m = byNet.get(k);
      if (!m) byNet.set(k, (m = new Map()));
      m.set(p.function, p);
    }
    const want = new Map<string, { sb: Placement; prim: Placement }>();
    const adverts = new Map<string, string[]>();
    const primaries = new Map<string, Primary>();
    for (const [key, m] of byNet) {
      for (const p of m.values()) {
        const i = p.function.indexOf('~standby-');
        if (i < 0) continue;
        const fn = p.function.slice(0, i);
        const prim = m.get(fn);
        if (!prim || prim.server === p.server) continue;
        const id = `${key}/${fn}`;
        if (p.server === me) want.set(id, { sb: p, prim });
        if (prim.server === me && c.runtime.functions(key).includes(fn)) {
          let l = adverts.get(p.server);
          if (!l) adverts.set(p.server, (l = []));
          l.push(id);
          primaries.set(id, { ns: p.namespace, net: p.network, key, fn });
        }
      }
    }
    // Primaries: hellos to each standby's agent, one datagram per peer.
    const eps = new Set<string>();
    for (const [server, ids] of adverts) {
      const ep = helloOf(c.heartbeats, server);
      if (ep === undefined) continue;
      eps.add(ep);
      this.hello.advertise(ep, ids.sort());
    }
    for (const ep of this.hello.advertised().keys()) if (!eps.has(ep)) this.hello.advertise(ep, []);
    for (const id of this.written) {
      if (primaries.has(id)) continue;
      this.written.delete(id);
      const [ns, net, fn] = id.split('/') as [string, string, string];
      // Still placed here without a standby: the state key has no reader any more.
      if (byNet.get(`${ns}/${net}`)?.get(fn)?.server === me) await c.store.delete(standbyStateKey(ns, net, fn)).catch(() => undefined);
    }
    const first = [...primaries.keys()].filter((id) => !this.primaries.has(id));
    this.primaries = primaries;
    // Standbys held here.
    for (const [id, h] of this.held) {
      if (want.has(id) || h.promoting) continue;
      this.held.delete(id);
      this.hello.unwatch(id);
      // Promoted (F now placed here): the runtime adopted the warm instance; otherwise drop it.
      if (byNet.get(h.key)?.get(h.fn)?.server !== me) await c.runtime.dropWarm(h.key, h.fn).catch((e: unknown) => c.log?.(`agent ${me}: drop warm ${id}: ${String(e)}`));
    }
    let fresh = false;
    for (const [id, { sb, prim }] of want) {
      if (this.closed) return;
      const key = `${sb.namespace}/${sb.network}`;
      let h = this.held.get(id);
      if (h?.promoting) continue;
      try {
        const plan = await c.planWith(key, prim.function);
        const spec = plan?.functions.find((f) => f.name === prim.function);
        if (!plan || !spec) continue;
        // The configuration the plan will have once F is placed here (FIB included): adopted as is.
        const canon = JSON.stringify(spec);
        if (!h || h.canon !== canon) {
          // A new or changed configuration (e.g. a new FIB): a fresh warm instance, state re-imported.
          if (h) await c.runtime.dropWarm(key, prim.function);
          await c.runtime.warm(key, spec, undefined, { ...(plan.allocation !== undefined ? { allocation: plan.allocation } : {}), ...(plan.priority !== undefined ? { priority: plan.priority } : {}) });
          if (!h) this.held.set(id, (h = { id, ns: sb.namespace, net: sb.network, key, fn: prim.function, standbyFn: sb.function, primary: prim.server, canon, stateRev: 0, promoting: false }));
          h.canon = canon;
          h.stateRev = 0;
          fresh = true;
          c.log?.(`agent ${me}: warm standby of ${id} (primary on ${prim.server})`);
        }
        h.standbyFn = sb.function;
        if (h.primary !== prim.server) this.hello.unwatch(id);
        h.primary = prim.server;
        this.hello.watch(id, prim.server);
      } catch (e) {
        c.log?.(`agent ${me}: standby ${id}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    // A new pair copies state at once rather than a sync period later.
    if ((fresh || first.length > 0) && !this.syncing) this.syncing = this.sync().finally(() => (this.syncing = undefined));
  }

  /** Primary → state key; state key → warm standby (only what changed). */
  private async sync(): Promise<void> {
    const c = this.c;
    if (!c) return;
    for (const [id, p] of this.primaries) {
      if (this.closed) return;
      try {
        const state = await c.runtime.exportState(p.key, p.fn);
        await c.store.put(standbyStateKey(p.ns, p.net, p.fn), { server: c.server, at: Date.now(), state: state as unknown as JsonObject });
        this.written.add(id);
      } catch (e) {
        c.log?.(`agent ${c.server}: state of ${id}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (const h of this.held.values()) {
      if (this.closed || h.promoting) return;
      try {
        const kv = await c.store.get(standbyStateKey(h.ns, h.net, h.fn));
        const v = kv?.value as { server?: unknown; state?: Plain } | undefined;
        if (!kv || kv.modRevision <= h.stateRev || v?.server !== h.primary || v.state === undefined) continue;
        await c.runtime.importState(h.key, h.fn, v.state);
        h.stateRev = kv.modRevision;
      } catch (e) {
        c.log?.(`agent ${c.server}: standby state of ${h.id}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  /**
   * Missed hellos: the loss is confirmed at once when the primary's lease is gone, or when its
   * hello port answers a probe with port unreachable (the agent's process is gone: its lease is
   * only waiting for its TTL). A slow but live primary confirms neither: more silence must.
   */
  private async suspect(id: string): Promise<void> {
    const h = this.held.get(id);
    const c = this.c;
    if (!h || !c) return;
    const ep = helloOf(c.heartbeats, h.primary);
    const [lease, probe] = await Promise.all([c.store.get(heartbeatKey(h.primary)).catch(() => null), ep !== undefined ? this.hello.probe(ep).catch(() => 'unknown' as const) : 'unknown']);
    const why = lease === undefined ? 'its lease is gone' : probe === 'gone' ? 'its hello port is closed (agent process gone)' : undefined;
    if (why !== undefined) {
      h.confirmedBy = why;
      this.hello.confirm(id);
    }
  }

  /** The primary is down: one txn moves F here and drops the standby placement, then the agent adopts. */
  private async promote(id: string, info: DownInfo): Promise<void> {
    const h = this.held.get(id);
    const c = this.c;
    if (!h || !c || h.promoting || this.closed) return;
    h.promoting = true;
    const downAt = performance.now();
    const me = c.server;
    try {
      const pk = placementKey(h.ns, h.net, h.fn);
      const sk = placementKey(h.ns, h.net, h.standbyFn);
      const [pkv, skv, lease] = await Promise.all([c.store.get(pk), c.store.get(sk), c.store.get(heartbeatKey(h.primary))]);
      const prim = pkv?.value as unknown as Placement | undefined;
      const sb = skv?.value as unknown as Placement | undefined;
      if (!pkv || !skv || prim?.server !== h.primary || sb?.server !== me) {
        c.log?.(`agent ${me}: ${id}: primary ${h.primary} silent but the placements changed meanwhile; no failover`);
        return;
      }
      const why = !lease ? 'its lease is gone' : info.by === 'confirmed' ? `lease still held; ${h.confirmedBy ?? 'confirmed'}` : `lease still held, confirmed by ${Math.round(info.silentMs - (this.opts.missed ?? 3) * (this.opts.helloMs ?? 20))} ms more silence`;
      const detail = `hellos from ${h.primary} missing for ${Math.round(info.silentMs)} ms (${why})`;
      const m: MigrationObject = newMigration({ namespace: h.ns, network: h.net, function: h.fn, from: h.primary, to: me, reason: 'failure', detail, phase: 'switched', standby: true, by: `agent/${me}` });
      const mk = keyOf(m);
      const res = await c.store.txn(
        [
          { key: pk, modRevision: pkv.modRevision },
          { key: sk, modRevision: skv.modRevision },
          { key: mk, modRevision: 0 },
        ],
        [
          { type: 'put', key: pk, value: { ...prim, server: me } as unknown as JsonObject },
          { type: 'delete', key: sk },
          { type: 'put', key: mk, value: m as unknown as JsonObject },
        ],
      );
      if (!res.succeeded) {
        c.log?.(`agent ${me}: ${id}: lost the failover race (placements changed); no failover`);
        return;
      }
      const switchedAt = performance.now();
      c.log?.(`agent ${me}: failover of ${id} from ${h.primary}: ${detail}`);
      await c.waitPlacements(res.revision);
      h.promoting = false;
      await c.reconcileNow();
      const adoptedAt = performance.now();
      this.failovers.push({ network: h.key, function: h.fn, from: h.primary, migration: mk, detail, downAt, switchedAt, adoptedAt });
      const adopted = c.runtime.functions(h.key).includes(h.fn);
      await this.events?.record({ kind: 'SoftwareNetwork', name: h.net, namespace: h.ns }, 'Warning', 'Failover', `${h.fn}: ${h.primary} → ${me}: ${detail}; warm standby ${adopted ? 'promoted' : 'not running'} (${(adoptedAt - downAt).toFixed(1)} ms from down to adopted)`).catch(() => undefined);
      if (adopted) await advance(c.store, mk, ['switched'], 'done', `agent/${me}`, `warm standby adopted in ${(adoptedAt - switchedAt).toFixed(1)} ms; nothing to drain (${h.primary} lost)`).catch(() => undefined);
    } catch (e) {
      c.log?.(`agent ${me}: failover of ${id}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      h.promoting = false;
      delete h.confirmedBy;
    }
  }

  /** Stops hellos, state copies and the command watch (kill or stop alike: nothing is announced). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.syncTimer);
    await this.hello.close();
    await this.cmdWatch?.cancel().catch(() => undefined);
    await this.syncing;
  }
}
