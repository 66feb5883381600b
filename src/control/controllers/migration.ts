/**
 * The migration controller: the control-plane actor of the migration protocol (session
 * contract §1) and of server drains (§3). Level-triggered: every pass looks at every migration
 * object and every draining server, on each change and on a periodic resync.
 *
 * - `both-running → switched`: ONE transaction moves the function's placement to the target
 *   (same generation, so the network controller sees it up to date) and advances the phase,
 *   guarded by the placement's revision (a placement changed meanwhile fails the migration).
 * - A migration stuck more than `stuckMs` in a phase before `switched` fails (nothing changed
 *   for traffic yet); finished ones are deleted with their state `cleanupMs` after.
 * - Every phase change is an event on the SoftwareNetwork (MigrationStarted … MigrationDone
 *   with the timeline's durations; Warning MigrationFailed).
 * - Drain: a cordoned server with the `swnet.io/drain` annotation gets one migration per
 *   function on it, a network's functions as one wave (MigrationObject.wave: one target while it
 *   fits — {@link MovePlanner} `together`, the servers spread by the balance score as Kubernetes
 *   reschedules evicted pods —, written in one transaction, switched in one transaction once all
 *   are both-running, failed whole before the switch), at most `drainConcurrency` functions in
 *   flight; once nothing is placed on it, `status.standby = true`.
 */
import { EventRecorder } from '../events.js';
import { readResource } from '../manifest/apply.js';
import type { Resource } from '../manifest/types.js';
import { advance, failMigration, formatTimeline, keyOf, MIGRATION_PREFIX, newMigration, stateKeyOf, type MigrationObject, type MigrationTimelineEntry } from '../migrations.js';
import { PLACEMENT_PREFIX, placementKey, type Placement } from '../placement.js';
import { MovePlanner, type PlacedFunction } from '../scheduler/move.js';
import { balanceScore } from '../scheduler/plugins.js';
import { DRAIN_ANNOTATION, inFlight, setServerStandby } from '../server-ops.js';
import type { Compare, JsonObject, KeyValue, Op, Store } from '../store/contract.js';
import { parsedValue } from '../store/parsed.js';
import { Reflector } from '../store/reflector.js';
import { serverSchedulable } from './servers.js';

export interface MigrationControllerInit {
  /** A migration in one phase before `switched` longer than this fails (ms, default 10 000). */
  readonly stuckMs?: number;
  /** A migration in `switched` or `drained` longer than this is closed as failed (ms, default 60 000). */
  readonly finishMs?: number;
  /** Finished migrations are deleted this long after their last phase (ms, default 60 000). */
  readonly cleanupMs?: number;
  /** Periodic pass even without changes (ms, default 500). */
  readonly resyncMs?: number;
  /**
   * Drain migrations in flight per server (default 64). A drain moves the functions of one
   * network together, as one wave (MigrationObject.wave): a wave is admitted whole while it fits,
   * or alone when nothing else is in flight.
   */
  readonly drainConcurrency?: number;
  /**
   * Functions of one network in one drain wave at most (default 60; the rest in later waves): a
   * wave's switch compares and writes two keys per function in one transaction, and etcd refuses
   * more than 128 operations of a kind in one (`--max-txn-ops`).
   */
  readonly drainWave?: number;
  /** A function whose drain migration failed is retried after this (ms, default 2000). */
  readonly drainRetryMs?: number;
  readonly log?: (line: string) => void;
}

const NET_PREFIX = '/swnet/softwarenetwork/';
const INFRA_PREFIXES = ['/swnet/datacenter/', '/swnet/server/', '/swnet/link/'];
const SERVER_PREFIX = '/swnet/server/';
/** How long a drain's migration written but not yet in the cache counts as in flight (ms). */
const WRITTEN_KEEP_MS = 30_000;
/** Phases before the switch (nothing changed for traffic yet). */
const PRE_SWITCH: readonly MigrationObject['phase'][] = ['pending', 'prepared', 'state-copied', 'both-running'];

/** A migration object read from the cache, with its revision. */
interface Entry {
  readonly key: string;
  readonly m: MigrationObject;
  readonly rev: number;
}

/** A drain's targets: spread (LeastAllocated, as evicted pods are rescheduled), see MovePlannerOptions. */
const DRAIN_SCORES = [{ plugin: balanceScore('least'), weight: 1 }];

const EVENT_REASON: Record<string, string> = {
  pending: 'MigrationStarted',
  prepared: 'MigrationPrepared',
  'state-copied': 'MigrationStateCopied',
  'both-running': 'MigrationBothRunning',
  switched: 'MigrationSwitched',
  drained: 'MigrationDrained',
  done: 'MigrationDone',
  failed: 'MigrationFailed',
};

/** `fw s1→s2 [fw-lq3x-1a2b] (operator: drain s1)` */
function describe(m: MigrationObject): string {
  return `${m.function} ${m.from}→${m.to} [${m.id}] (${m.reason}${m.detail !== undefined ? `: ${m.detail}` : ''})`;
}

/** The event of one timeline entry: reason, type and message. */
export function migrationEvent(m: MigrationObject, i: number): { reason: string; type: 'Normal' | 'Warning'; message: string } {
  const e = m.timeline[i] as MigrationTimelineEntry;
  const prev = i > 0 ? m.timeline[i - 1] : undefined;
  const step = prev ? ` +${Math.round(e.at - prev.at)}ms` : '';
  const by = ` by ${e.by}`;
  if (e.phase === 'failed') return { reason: 'MigrationFailed', type: 'Warning', message: `${describe(m)} failed after ${Math.round(e.sinceStartMs)}ms${prev ? ` in phase ${prev.phase}` : ''}${by}: ${e.detail ?? m.error ?? 'unknown error'}` };
  if (e.phase === 'done') return { reason: 'MigrationDone', type: 'Normal', message: `${describe(m)} done: ${formatTimeline({ ...m, timeline: m.timeline.slice(0, i + 1) })}` };
  if (i === 0 && m.standby) return { reason: 'MigrationSwitched', type: 'Normal', message: `${describe(m)} warm standby promoted${by}` };
  return { reason: EVENT_REASON[e.phase] ?? 'Migration', type: 'Normal', message: `${describe(m)} ${e.phase}${step}${by}${e.detail !== undefined && e.phase !== 'pending' ? `: ${e.detail}` : ''}` };
}

/**
 * @example
 * const c = await MigrationController.start(store);
 * // ... migrations switch, drains proceed ...
 * await c.stop();
 */
export class MigrationController {
  private migrations!: Reflector;
  private placements!: Reflector;
  private nets!: Reflector;
  private infra: Reflector[] = [];
  private readonly events: EventRecorder;
  /** Timeline entries already turned into events, per migration key. */
  private readonly recorded = new Map<string, number>();
  /** Drain migrations written, by key, until the cache shows them (see `drains`). */
  private readonly written = new Map<string, MigrationObject>();
  /** Event writes in progress, per migration key (kept in order). */
  private readonly eventChains = new Map<string, Promise<void>>();
  private chain: Promise<void> = Promise.resolve();
  private queued = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Passes done (for tests). */
  passes = 0;

  private constructor(
    private readonly store: Store,
    private readonly init: MigrationControllerInit,
  ) {
    this.events = new EventRecorder(store, { component: 'migration-controller' });
  }

  static async start(store: Store, init: MigrationControllerInit = {}): Promise<MigrationController> {
    const c = new MigrationController(store, init);
    const kick = (): void => c.queue();
    c.placements = await Reflector.start(store, { prefix: PLACEMENT_PREFIX, onChange: kick });
    c.nets = await Reflector.start(store, { prefix: NET_PREFIX });
    for (const prefix of INFRA_PREFIXES) c.infra.push(await Reflector.start(store, { prefix, ...(prefix === SERVER_PREFIX ? { onChange: kick } : {}) }));
    c.migrations = await Reflector.start(store, { prefix: MIGRATION_PREFIX, onChange: kick });
    c.timer = setInterval(kick, init.resyncMs ?? 500);
    c.timer.unref();
    c.queue();
    return c;
  }

  /** Serialised passes; a burst of changes during a pass is one more pass. */
  private queue(): void {
    if (this.stopped || this.queued) return;
    this.queued = true;
    this.chain = this.chain
      .then(() => {
        this.queued = false;
        return this.pass();
      })
      .catch((e: unknown) => {
        this.init.log?.(`migration-controller: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      });
  }

  /** Resolves after the passes queued so far (for tests). */
  async settle(): Promise<void> {
    this.queue();
    await this.chain;
  }

  private async pass(): Promise<void> {
    if (this.stopped || !this.migrations) return;
    this.passes++;
    const now = Date.now();
    // Each version parsed once (parsed.ts): the cache keeps large values as text, a read parses
    // it (a drain's 50 migrations read by every pass were most of the control plane's CPU).
    const all: Entry[] = [];
    const waves = new Map<string, Entry[]>();
    for (const kv of this.migrations.cache.values()) {
      const v = parsedValue(kv);
      if (v instanceof Uint8Array || v['kind'] !== 'Migration') continue;
      const x: Entry = { key: kv.key, m: v as unknown as MigrationObject, rev: kv.modRevision };
      all.push(x);
      if (x.m.wave === undefined) continue;
      let w = waves.get(x.m.wave);
      if (!w) waves.set(x.m.wave, (w = []));
      w.push(x);
    }
    const log = (key: string, e: unknown): void => this.init.log?.(`migration-controller: ${key}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    // Migrations are independent (waves apart): their writes overlap (one group commit on SQLite).
    await Promise.all([
      ...all.map(async ({ key, m }) => {
        try {
          await this.step(key, m, now, m.wave !== undefined ? waves.get(m.wave) : undefined);
        } catch (e) {
          log(key, e);
        }
      }),
      ...[...waves].map(async ([w, xs]) => {
        try {
          await this.waveStep(xs);
        } catch (e) {
          log(w, e);
        }
      }),
    ]);
    for (const key of this.recorded.keys()) if (!this.migrations.cache.has(key)) this.recorded.delete(key);
    await this.drains(all.map((x) => x.m), now);
  }

  private async step(key: string, m: MigrationObject, now: number, wave: readonly Entry[] | undefined): Promise<void> {
    if (this.stopped) return;
    this.recordEvents(key, m);
    const last = m.timeline.at(-1);
    // A wave before its switch is stuck only when none of its migrations moved on for that long
    // (its first ones wait in both-running for the target to warm the last).
    const lastAt = wave && PRE_SWITCH.includes(m.phase) ? Math.max(...wave.map((x) => x.m.timeline.at(-1)?.at ?? x.m.createdAt)) : (last?.at ?? m.createdAt);
    const since = now - lastAt;
    if (m.phase === 'both-running' && !wave) {
      const r = await this.switchOver(key, m);
      if (r) return this.recordEvents(key, r);
    }
    if (PRE_SWITCH.includes(m.phase) && since > (this.init.stuckMs ?? 10_000)) {
      const f = await failMigration(this.store, key, 'controller', `stuck in phase ${m.phase} for ${(since / 1000).toFixed(1)} s (nothing was switched: traffic still flows through ${m.from})`);
      if (f) return this.recordEvents(key, f);
    }
    // After the switch traffic already flows through the target: a migration whose agents never
    // finish (a source that died before draining) is closed as failed rather than left in flight,
    // where it would hold a drain and further migrations of the function.
    if ((m.phase === 'switched' || m.phase === 'drained') && !m.standby && since > (this.init.finishMs ?? 60_000)) {
      const f = await advance(this.store, key, [m.phase], 'failed', 'controller', `stuck in phase ${m.phase} for ${(since / 1000).toFixed(1)} s: the placement already points to ${m.to}; ${m.phase === 'switched' ? `${m.from} did not drain` : `${m.to} did not import the final state`}`);
      if (f) return this.recordEvents(key, f);
    }
    if (!inFlight(m) && since > (this.init.cleanupMs ?? 60_000)) {
      await this.store.txn([], [{ type: 'delete', key }, { type: 'delete', key: stateKeyOf(key) }]);
    }
  }

  /**
   * A wave: switched whole, in ONE transaction (every placement → its target, every migration →
   * `switched`), once all of it is `both-running`; failed whole while nothing of it switched, as
   * soon as one of it failed.
   */
  private async waveStep(xs: readonly Entry[]): Promise<void> {
    if (this.stopped) return;
    const bad = xs.find((x) => x.m.phase === 'failed' && !x.m.timeline.some((e) => e.phase === 'switched'));
    if (bad) {
      const why = `${bad.m.function} of its wave failed before the switch (${bad.m.error ?? 'unknown error'}): nothing of the wave switched`;
      await Promise.all(xs.filter((x) => PRE_SWITCH.includes(x.m.phase)).map(async (x) => {
        const f = await advance(this.store, x.key, PRE_SWITCH, 'failed', 'controller', why);
        if (f) this.recordEvents(x.key, f);
      }));
      return;
    }
    if (!xs.every((x) => x.m.phase === 'both-running')) return;
    const pkvs = await Promise.all(xs.map((x) => this.store.get(placementKey(x.m.namespace, x.m.network, x.m.function))));
    const compares: Compare[] = [];
    const ops: Op[] = [];
    const next: Entry[] = [];
    const now = Date.now();
    for (let i = 0; i < xs.length; i++) {
      const { key, m, rev } = xs[i] as Entry;
      const pkv = pkvs[i];
      const p = pkv?.value as unknown as Placement | undefined;
      // One that cannot switch fails; the others follow on the next pass (the rule above).
      if (!pkv || !p) return void (await failMigration(this.store, key, 'controller', `the placement of ${m.function} was deleted meanwhile (network changed or deleted)`));
      if (p.server !== m.from && p.server !== m.to) return void (await failMigration(this.store, key, 'controller', `the placement of ${m.function} moved to ${p.server} meanwhile`));
      compares.push({ key, modRevision: rev }, { key: pkv.key, modRevision: pkv.modRevision });
      if (p.server !== m.to) ops.push({ type: 'put', key: pkv.key, value: { ...p, server: m.to } as unknown as JsonObject });
      const n: MigrationObject = { ...m, phase: 'switched', timeline: [...m.timeline, { phase: 'switched', at: now, sinceStartMs: now - m.createdAt, by: 'controller', detail: `placement → ${m.to} (a wave of ${xs.length})` }] };
      ops.push({ type: 'put', key, value: n as unknown as JsonObject });
      next.push({ key, m: n, rev });
    }
    // A compare that fails (the cache behind the store, a placement rewritten): the next pass.
    const r = await this.store.txn(compares, ops);
    if (r.succeeded) for (const x of next) this.recordEvents(x.key, x.m);
  }

  /** The switch: placement → target and phase `switched`, in one transaction. */
  private async switchOver(key: string, m: MigrationObject): Promise<MigrationObject | undefined> {
    const pk = placementKey(m.namespace, m.network, m.function);
    const pkv = await this.store.get(pk);
    const p = pkv?.value as unknown as Placement | undefined;
    if (!pkv || !p) return failMigration(this.store, key, 'controller', `the placement of ${m.function} was deleted meanwhile (network changed or deleted)`);
    if (p.server !== m.from && p.server !== m.to) return failMigration(this.store, key, 'controller', `the placement of ${m.function} moved to ${p.server} meanwhile`);
    const next: Placement = { ...p, server: m.to };
    return advance(this.store, key, ['both-running'], 'switched', 'controller', `placement → ${m.to}`, p.server === m.to ? [] : [{ type: 'put', key: pk, value: next as unknown as JsonObject }], [{ key: pk, modRevision: pkv.modRevision }]);
  }

  /**
   * Queues the events of the timeline entries not recorded yet. Off the protocol's path (a
   * switch never waits for an event write), in order per migration.
   */
  private recordEvents(key: string, m: MigrationObject): void {
    const done = this.recorded.get(key) ?? 0;
    if (done >= m.timeline.length) return;
    this.recorded.set(key, m.timeline.length);
    const ref = { kind: 'SoftwareNetwork' as const, name: m.network, namespace: m.namespace };
    const evs = m.timeline.slice(done).map((_, j) => migrationEvent(m, done + j));
    const prev = this.eventChains.get(key) ?? Promise.resolve();
    const next = prev
      .then(async () => {
        for (const ev of evs) await this.events.record(ref, ev.type, ev.reason, ev.message);
      })
      .catch((e: unknown) => {
        this.init.log?.(`migration-controller: event of ${key}: ${e instanceof Error ? e.message : String(e)}`);
        // Not recorded: let a later pass try again.
        if ((this.recorded.get(key) ?? 0) === m.timeline.length) this.recorded.set(key, done);
      })
      .finally(() => {
        if (this.eventChains.get(key) === next) this.eventChains.delete(key);
      });
    this.eventChains.set(key, next);
  }

  /** Resolves when the queued events are written (for tests). */
  async flushEvents(): Promise<void> {
    await Promise.all([...this.eventChains.values()]);
  }

  /** Infrastructure resources, each version read once (servers' status is large, kept as text). */
  private infrastructure(): Resource[] {
    return this.infra.flatMap((r) =>
      [...r.cache.values()].map((kv) => {
        let res = this.infraRead.get(kv);
        if (!res) this.infraRead.set(kv, (res = readResource(kv)));
        return res;
      }),
    );
  }
  private readonly infraRead = new WeakMap<KeyValue, Resource>();

  /** Drains: bounded batches of migrations off each draining server; standby once empty. */
  private async drains(migrations: readonly MigrationObject[], now: number): Promise<void> {
    const infra = this.infrastructure();
    const draining = infra.filter((r) => r.kind === 'Server' && r.spec['unschedulable'] === true && r.metadata.annotations?.[DRAIN_ANNOTATION] !== undefined);
    if (draining.length === 0) return;
    const placements = [...this.placements.cache.values()].map((kv: KeyValue) => kv.value as unknown as Placement);
    // The drain's own writes the cache has not shown yet count as in flight: a store's watch lags
    // its writes (etcd: milliseconds), and a pass meanwhile would plan the same functions again
    // (their placements unchanged, the guard below holds) — two waves of one function, whose
    // target warmed it twice and lost the first (found over a real etcd).
    for (const [k, m] of this.written) if (this.migrations?.cache.has(k) || now - m.createdAt > WRITTEN_KEEP_MS) this.written.delete(k);
    const flying = [...migrations, ...this.written.values()].filter(inFlight);
    let planner: MovePlanner | undefined;
    const plannerOf = (): MovePlanner => {
      if (planner) return planner;
      // Servers whose agent is lost are no targets; a migration's target holds the function's
      // resources until the migration ends (both copies run).
      const usable = infra.filter((r) => r.kind !== 'Server' || serverSchedulable(r.status));
      const reserved: PlacedFunction[] = flying.filter((m) => !['switched', 'drained'].includes(m.phase)).flatMap((m) => {
        const p = this.placements.cache.get(placementKey(m.namespace, m.network, m.function))?.value as unknown as Placement | undefined;
        return p ? [{ ...p, server: m.to }] : [];
      });
      planner = new MovePlanner(usable, placements, reserved, { scores: DRAIN_SCORES, together: true });
      return planner;
    };
    for (const srv of draining) {
      if (this.stopped) return;
      const name = srv.metadata.name;
      const on = placements.filter((p) => p.server === name);
      const leaving = flying.filter((m) => m.from === name);
      if (on.length === 0 && leaving.length === 0) {
        if (srv.status?.['standby'] !== true) {
          const since = Number(srv.metadata.annotations?.[DRAIN_ANNOTATION]);
          await setServerStandby(this.store, name, true);
          await this.events.record({ kind: 'Server', name }, 'Normal', 'Drained', `server ${name} drained${Number.isFinite(since) ? ` in ${((now - since) / 1000).toFixed(1)} s` : ''}: nothing placed on it, now in standby`);
        }
        continue;
      }
      let room = (this.init.drainConcurrency ?? 64) - leaving.length;
      // (A wave is at most drainConcurrency functions: the bound holds.)
      if (room <= 0) continue;
      const busy = new Set(flying.map((m) => `${m.namespace}/${m.network}/${m.function}`));
      const retryMs = this.init.drainRetryMs ?? 2000;
      const recentFail = new Set(migrations.filter((m) => m.phase === 'failed' && m.from === name && now - (m.timeline.at(-1)?.at ?? 0) < retryMs).map((m) => `${m.namespace}/${m.network}/${m.function}`));
      // Standby copies are the network controller's (it re-places those on cordoned servers).
      const todo = on.filter((p) => !p.function.includes('~standby-') && !p.function.includes('~replica-') && !busy.has(`${p.namespace}/${p.network}/${p.function}`) && !recentFail.has(`${p.namespace}/${p.network}/${p.function}`));
      // Per network, its functions here as one wave (targets planned together, each plan
      // reserving its targets); a network whose functions do not fit together goes one by one.
      const byNet = new Map<string, Placement[]>();
      for (const p of todo) {
        const k = `${p.namespace}/${p.network}`;
        const l = byNet.get(k);
        if (l) l.push(p);
        else byNet.set(k, [p]);
      }
      const batch: MigrationObject[] = [];
      const blocked: string[] = [];
      const conc = this.init.drainConcurrency ?? 64;
      const maxWave = Math.max(1, Math.min(this.init.drainWave ?? 60, conc));
      const exclude = new Set([name]);
      for (const [nk, all] of byNet) {
        if (room <= 0) break;
        const kv = this.nets.cache.get(`${NET_PREFIX}${nk}`);
        if (!kv) continue;
        const ps = all.slice(0, maxWave);
        // A wave is never split: it waits for room, unless nothing else is in flight.
        if (ps.length > room && (leaving.length > 0 || batch.length > 0)) continue;
        const net = readResource(kv);
        const mk = (p: Placement, to: string, wave?: string): MigrationObject =>
          newMigration({ namespace: p.namespace, network: p.network, function: p.function, from: name, to, reason: 'operator', detail: `drain ${name}`, ...(wave !== undefined ? { wave } : {}) });
        const plan = ps.length > 1 ? plannerOf().plan(net, ps.map((p) => p.function), exclude) : undefined;
        if (plan?.ok) {
          const wave = `${name}:${nk}:${now.toString(36)}`;
          for (const p of ps) batch.push(mk(p, plan.targets.get(p.function) ?? '', wave));
          room -= ps.length;
          continue;
        }
        for (const p of ps) {
          if (room <= 0) break;
          const one = plannerOf().plan(net, [p.function], exclude);
          if (!one.ok) blocked.push(`${nk}/${p.function} has nowhere to go: ${one.reason}`);
          else {
            batch.push(mk(p, one.targets.get(p.function) ?? ''));
            room--;
          }
        }
      }
      // One transaction per wave (its agents see it whole: the target warms it in one domain),
      // guarded by the placements: one that moved meanwhile is looked at again next pass.
      const txns = new Map<string, MigrationObject[]>();
      for (const m of batch) {
        const k = m.wave ?? keyOf(m);
        txns.set(k, [...(txns.get(k) ?? []), m]);
      }
      await Promise.all(
        [...txns.values()].map((ms) => {
          const cmp: Compare[] = ms.flatMap((m) => {
            const pk = placementKey(m.namespace, m.network, m.function);
            return [{ key: keyOf(m), modRevision: 0 }, { key: pk, modRevision: this.placements.cache.get(pk)?.modRevision ?? 0 }];
          });
          return this.store.txn(cmp, ms.map((m) => ({ type: 'put', key: keyOf(m), value: m as unknown as JsonObject }))).then((r) => {
            if (r.succeeded) for (const m of ms) this.written.set(keyOf(m), m);
          });
        }),
      );
      for (const b of blocked.slice(0, 3)) await this.events.record({ kind: 'Server', name }, 'Warning', 'DrainBlocked', b);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.chain;
    await this.flushEvents();
    await Promise.all([this.migrations?.stop(), this.placements?.stop(), this.nets?.stop(), ...this.infra.map((r) => r.stop())]);
  }
}
