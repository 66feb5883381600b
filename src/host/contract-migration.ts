/**
 * The migration record as the control plane sees it (types only, no implementation): what
 * host/migration.ts returns for every planned migration, plain data to store as an object and
 * show in `swnet events` / `swnet describe`.
 *
 * @example
 * const last: MigrationEvent | undefined = rec.timeline.at(-1); // { phase: 'done', at, sinceStartMs }
 */

/** Why a function moves: an operator asked, its server is overloaded, failing, or idle (consolidation). */
export type MigrationReason = 'operator' | 'overload' | 'failure' | 'idle';

/** The phases of a make-before-break migration, in order. */
export const MIGRATION_PHASES = ['prepared', 'state-copied', 'both-running', 'switched', 'drained', 'done'] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

export interface MigrationEvent {
  phase: MigrationPhase | 'failed';
  /** Wall-clock time (ms since the epoch, sub-millisecond precision). */
  at: number;
  /** Since the migration started (ms). */
  sinceStartMs: number;
  detail?: string;
}

/** A migration: plain data. */
export interface MigrationRecord {
  id: string;
  reason: MigrationReason;
  networks: string[];
  from: { server: string; domain: number; name: string };
  to: { server: string; domain: number; name: string };
  outcome: 'done' | 'failed';
  error?: string;
  timeline: MigrationEvent[];
  /**
   * Phase durations (ms); `interruptionMs` is switched → drained: while upstream frames are held,
   * or, without a hold, while the source drains beside the target (no frame waits then).
   */
  durations: { prepareMs: number; preCopyMs: number; interruptionMs: number; destroyMs: number; totalMs: number };
  /** Frames held in domain 0 during the final copy, then delivered to the target. */
  held: number;
  /** Whether the switch held the input (false: re-pointed to the target at once, the source drained beside it); absent before the switch. */
  hold?: boolean;
  /** Bytes of state copied (JSON), pre-copy and final. */
  stateBytes: { preCopy: number; final: number };
}
