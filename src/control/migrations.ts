/**
 * Migration objects in the store (session contract §1): one per move of one function of one
 * software network from a server to another, at `/swnet/migration/<namespace>/<network>/<id>`,
 * with its exported state beside it at `/swnet/migration-state/<namespace>/<network>/<id>`.
 * Each actor (migration controller, source agent, target agent) moves the object one phase on
 * with a compare-and-swap write ({@link advance}), so two actors never both win a step.
 *
 * Planned migration: pending → prepared (target warm) → state-copied (source exported `pre`)
 * → both-running (target imported `pre`) → switched (controller: placement → target, one txn)
 * → drained (source exported `final`, removed F) → done (target imported `final`).
 */
import { randomBytes } from 'node:crypto';
import type { Compare, JsonObject, Op, Store } from './store/contract.js';
import type { MigrationReason } from '../host/contract-migration.js';

export const MIGRATION_PREFIX = '/swnet/migration/';
export const MIGRATION_STATE_PREFIX = '/swnet/migration-state/';

export type { MigrationReason };

/** The phases of a migration object, in order (`failed` can follow any phase before `done`). */
export const MIGRATION_OBJECT_PHASES = ['pending', 'prepared', 'state-copied', 'both-running', 'switched', 'drained', 'done', 'failed'] as const;
export type MigrationObjectPhase = (typeof MIGRATION_OBJECT_PHASES)[number];

/** Phases after which traffic may already flow through the target (no more silent failure). */
export const SWITCHED_OR_LATER: readonly MigrationObjectPhase[] = ['switched', 'drained', 'done'];

export interface MigrationTimelineEntry {
  phase: string;
  /** Epoch ms. */
  at: number;
  sinceStartMs: number;
  /** `controller` or `agent/<server>`. */
  by: string;
  detail?: string;
}

export interface MigrationObject {
  kind: 'Migration';
  id: string;
  namespace: string;
  network: string;
  function: string;
  /** Source server. */
  from: string;
  /** Target server. */
  to: string;
  reason: MigrationReason;
  /** e.g. `drain s3`, `utilisation 0.93 > 0.8 on s2`, `lease of s1 expired`. */
  detail?: string;
  phase: MigrationObjectPhase;
  timeline: MigrationTimelineEntry[];
  /** Epoch ms. */
  createdAt: number;
  /** Why it failed (phase `failed`). */
  error?: string;
  /** A failover promotion of a warm standby (created directly in phase `switched`). */
  standby?: boolean;
  /**
   * Migrations created together with one wave id (a drain's functions of one network on the
   * server being left) are switched together: by the controller in ONE transaction once every
   * one of them is `both-running` (one re-plan on each agent, not one per function); one of them
   * failing before the switch fails the others (nothing switched yet). A source whose domain
   * holds only functions of the wave leaves them in it (the whole domain retires after the
   * switch, its grace period and final states as for one function), instead of moving each into
   * a domain of its own first.
   */
  wave?: string;
}

/** What the state key holds: the function's exported state before and after the switch. */
export interface MigrationState {
  pre?: JsonObject[string];
  final?: JsonObject[string];
}

/** @example migrationKey('t1', 'web', 'fw-lq3x9k-1a2b') === '/swnet/migration/t1/web/fw-lq3x9k-1a2b' */
export function migrationKey(namespace: string, network: string, id = ''): string {
  return `${MIGRATION_PREFIX}${namespace}/${network}/${id}`;
}

/** @example migrationStateKey('t1', 'web', 'fw-lq3x9k-1a2b') === '/swnet/migration-state/t1/web/fw-lq3x9k-1a2b' */
export function migrationStateKey(namespace: string, network: string, id = ''): string {
  return `${MIGRATION_STATE_PREFIX}${namespace}/${network}/${id}`;
}

/** The key of a migration object (the state key is derived from it). */
export function keyOf(m: Pick<MigrationObject, 'namespace' | 'network' | 'id'>): string {
  return migrationKey(m.namespace, m.network, m.id);
}

/** Maps a migration object key to its state key. */
export function stateKeyOf(key: string): string {
  return MIGRATION_STATE_PREFIX + key.slice(MIGRATION_PREFIX.length);
}

export interface NewMigrationInit extends Pick<MigrationObject, 'namespace' | 'network' | 'function' | 'from' | 'to' | 'reason' | 'detail' | 'standby' | 'wave'> {
  /** Default `pending` (a standby promotion starts at `switched`). */
  phase?: MigrationObjectPhase;
  /** Who creates it (first timeline entry), default `controller`. */
  by?: string;
  /** Epoch ms, default now. */
  now?: number;
  /** Explicit id (default `<function>-<ms base36>-<4 random hex>`). */
  id?: string;
}

/**
 * A new migration object (not stored: put it at `keyOf(m)` with `expect: 0`).
 *
 * @example
 * const m = newMigration({ namespace: 't1', network: 'web', function: 'fw', from: 's1', to: 's2', reason: 'operator' });
 * await store.put(keyOf(m), m as unknown as JsonObject, { expect: 0 });
 */
export function newMigration(init: NewMigrationInit): MigrationObject {
  const now = init.now ?? Date.now();
  const phase = init.phase ?? 'pending';
  const by = init.by ?? 'controller';
  const id = init.id ?? `${init.function}-${now.toString(36)}-${randomBytes(2).toString('hex')}`;
  const entry: MigrationTimelineEntry = { phase, at: now, sinceStartMs: 0, by };
  if (init.detail !== undefined) entry.detail = init.detail;
  const m: MigrationObject = {
    kind: 'Migration',
    id,
    namespace: init.namespace,
    network: init.network,
    function: init.function,
    from: init.from,
    to: init.to,
    reason: init.reason,
    phase,
    timeline: [entry],
    createdAt: now,
  };
  if (init.detail !== undefined) m.detail = init.detail;
  if (init.standby) m.standby = true;
  if (init.wave !== undefined) m.wave = init.wave;
  return m;
}

/** Reads a migration object (undefined if absent or not a migration). */
export async function getMigration(store: Store, key: string): Promise<{ m: MigrationObject; modRevision: number } | undefined> {
  const kv = await store.get(key);
  if (!kv || kv.value instanceof Uint8Array || kv.value['kind'] !== 'Migration') return undefined;
  return { m: kv.value as unknown as MigrationObject, modRevision: kv.modRevision };
}

/**
 * Every migration object, optionally of one namespace (and network).
 * @example const ms = await listMigrations(store, 't1');
 */
export async function listMigrations(store: Store, namespace?: string, network?: string): Promise<MigrationObject[]> {
  const prefix = namespace === undefined ? MIGRATION_PREFIX : network === undefined ? `${MIGRATION_PREFIX}${namespace}/` : migrationKey(namespace, network);
  const { items } = await store.list(prefix);
  const out: MigrationObject[] = [];
  for (const kv of items) if (!(kv.value instanceof Uint8Array) && kv.value['kind'] === 'Migration') out.push(kv.value as unknown as MigrationObject);
  return out;
}

/**
 * Moves a migration one phase on, as one compare-and-swap on its modRevision (retried when
 * someone else wrote it meanwhile and it is still in an expected phase), appending a timeline
 * entry; `extraOps` are written in the same transaction (e.g. the placement switch) and
 * `extraCompares` guard it. Returns the new object, or undefined when it is gone or in
 * none of the `expectFrom` phases.
 *
 * @example
 * const m = await advance(store, key, ['pending'], 'prepared', 'agent/s2');
 */
export async function advance(
  store: Store,
  key: string,
  expectFrom: readonly MigrationObjectPhase[],
  to: MigrationObjectPhase,
  by: string,
  detail?: string,
  extraOps: readonly Op[] = [],
  extraCompares: readonly Compare[] = [],
): Promise<MigrationObject | undefined> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const cur = await getMigration(store, key);
    if (!cur || !expectFrom.includes(cur.m.phase)) return undefined;
    const now = Date.now();
    const entry: MigrationTimelineEntry = { phase: to, at: now, sinceStartMs: now - cur.m.createdAt, by };
    if (detail !== undefined) entry.detail = detail;
    const next: MigrationObject = { ...cur.m, phase: to, timeline: [...cur.m.timeline, entry] };
    if (to === 'failed' && detail !== undefined) next.error = detail;
    const res = await store.txn([{ key, modRevision: cur.modRevision }, ...extraCompares], [{ type: 'put', key, value: next as unknown as JsonObject }, ...extraOps]);
    if (res.succeeded) return next;
    // An extra compare failed while the object itself is unchanged: the caller's guard does
    // not hold, so give up rather than spin.
    const again = await store.get(key);
    if (again && again.modRevision === cur.modRevision) return undefined;
  }
  throw new Error(`could not advance migration ${key}: too much contention`);
}

/**
 * Fails a migration that is not yet `done`/`failed` (any actor that cannot do its step).
 * Returns the failed object, or undefined when it was already finished or gone.
 *
 * @example await failMigration(store, key, 'agent/s2', 'cannot start fw: out of memory');
 */
export async function failMigration(store: Store, key: string, by: string, error: string): Promise<MigrationObject | undefined> {
  return advance(store, key, ['pending', 'prepared', 'state-copied', 'both-running', 'switched', 'drained'], 'failed', by, error);
}

/** Milliseconds each phase took, from the timeline (phase → time since the previous entry). */
export function phaseDurations(m: MigrationObject): { phase: string; ms: number }[] {
  const out: { phase: string; ms: number }[] = [];
  for (let i = 1; i < m.timeline.length; i++) out.push({ phase: m.timeline[i]!.phase, ms: m.timeline[i]!.at - m.timeline[i - 1]!.at });
  return out;
}

/** One-line summary of a timeline: `prepared +12ms, state-copied +3ms, …, total 140ms`. */
export function formatTimeline(m: MigrationObject): string {
  const parts = phaseDurations(m).map((d) => `${d.phase} +${d.ms}ms`);
  const last = m.timeline.at(-1);
  return `${parts.join(', ')}${parts.length ? ', ' : ''}total ${last ? last.sinceStartMs : 0}ms`;
}
