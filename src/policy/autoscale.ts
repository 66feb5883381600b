/**
 * Vertical elasticity: how many tokens a software network should hold on a server, from the
 * load it offered over the last interval. Pure: the agent (src/cli/agent-autoscale.ts) feeds it
 * the token scheduler's counters, the simulator can feed it trace samples.
 *
 * The model is the token scheduler's (DESIGN.md): an allocation b among others holding O tokens
 * guarantees the share b / (b + O) of the capacity C. The network's demand is what it offered
 * plus what it left queued (to be drained within the next interval), in items per second; its
 * utilisation is demand / (C · b / (b + O)). The wanted share is f = demand / (C · target), hence
 * b' = f · O / (1 − f) (f ≥ 1: the most the limits allow). Alone on the server (O = 0) every b is
 * the whole capacity, and b' = b · utilisation / target keeps the allocation proportional to the
 * load for when others arrive. Frames dropped at the queue mean the share was too small whatever
 * the arithmetic says: the allocation grows by the largest step.
 *
 * As Kubernetes' HorizontalPodAutoscaler: a tolerance band around the target (no change for a
 * ±10 % deviation), growth at once but by at most `maxUpFactor` per decision, shrinking only to
 * the highest recommendation of the last `downWindows` decisions (the stabilisation window, so a
 * dip does not give tokens away that the next burst needs) and by at most `maxDownFactor`; the
 * result is clamped to [minTokens, maxTokens]. Changing an allocation never drops a frame: the
 * scheduler applies it at its next round and keeps every queue (src/host/tokens.ts).
 *
 * @example
 * let state = initialAutoscaleState();
 * const d = autoscale(10, { intervalS: 1, offered: 18_000, dropped: 0, queued: 0, capacity: 30_000, others: 10 }, { minTokens: 2, maxTokens: 50, targetUtilization: 0.7 }, state);
 * state = d.state; // d.allocation === 20 (×2 step limit), d.reason: 'utilisation 1.20 of its share above the target 0.70 ...'
 */

/** Bounds of a network's allocation, from its spec (`spec.autoscale`). */
export interface AutoscaleLimits {
  readonly minTokens: number;
  readonly maxTokens: number;
  /** Utilisation of the guaranteed share to aim at, in (0, 1]. */
  readonly targetUtilization: number;
}

/** What the resource saw of one network over one interval (counts in the scheduler's unit: frames, bytes). */
export interface AutoscaleSample {
  /** Seconds covered (> 0). */
  readonly intervalS: number;
  /** Items that arrived (served, queued or dropped). */
  readonly offered: number;
  /** Items tail-dropped because the queue was full. */
  readonly dropped: number;
  /** Items still queued at the end of the interval. */
  readonly queued: number;
  /** Capacity of the shared resource, items per second. */
  readonly capacity: number;
  /** Σ allocations of the other networks sharing the resource. */
  readonly others: number;
}

export interface AutoscaleOptions {
  /** Relative deviation from the target tolerated without a change; default 0.1. */
  readonly tolerance?: number;
  /** Largest growth per decision (new ≤ old × factor, and at least old + 1); default 2. */
  readonly maxUpFactor?: number;
  /** Largest shrink per decision (new ≥ old × factor); default 0.5. */
  readonly maxDownFactor?: number;
  /** Decisions whose highest recommendation bounds a shrink (stabilisation window); default 5. */
  readonly downWindows?: number;
}

/** History the decision needs (plain data: recent recommendations, newest last). */
export interface AutoscaleState {
  readonly recent: readonly number[];
}

export interface AutoscaleDecision {
  /** The allocation to hold from now on (integer, within the limits). */
  readonly allocation: number;
  readonly changed: boolean;
  /** Why, for the event ("utilisation 0.93 of its share above the target 0.70 ..."). */
  readonly reason: string;
  /** Demand over the guaranteed share at the current allocation (NaN without capacity). */
  readonly utilization: number;
  /** The unclamped, unlimited allocation the load asks for. */
  readonly recommended: number;
  readonly state: AutoscaleState;
}

export class AutoscaleError extends Error {
  override readonly name = 'AutoscaleError';
}

/** The empty history of a network the autoscaler has not seen yet. */
export function initialAutoscaleState(): AutoscaleState {
  return { recent: [] };
}

/**
 * Checks limits (from a manifest or a trace scenario); throws AutoscaleError naming the field.
 *
 * @example
 * checkAutoscaleLimits({ minTokens: 1, maxTokens: 100, targetUtilization: 0.7 });
 */
export function checkAutoscaleLimits(l: AutoscaleLimits): void {
  if (!Number.isInteger(l.minTokens) || l.minTokens < 1) throw new AutoscaleError(`minTokens must be an integer ≥ 1, got ${l.minTokens}`);
  if (!Number.isInteger(l.maxTokens) || l.maxTokens < l.minTokens) throw new AutoscaleError(`maxTokens must be an integer ≥ minTokens (${l.minTokens}), got ${l.maxTokens}`);
  if (!(l.targetUtilization > 0 && l.targetUtilization <= 1)) throw new AutoscaleError(`targetUtilization must be in (0, 1], got ${l.targetUtilization}`);
}

const fmt = (x: number): string => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? Math.round(x).toString() : x.toFixed(2)) : String(x));

/**
 * One decision for one network: the allocation it should hold given the last interval.
 *
 * @example
 * const d = autoscale(40, { intervalS: 1, offered: 1000, dropped: 0, queued: 0, capacity: 30_000, others: 10 }, { minTokens: 2, maxTokens: 50, targetUtilization: 0.7 }, { recent: [] });
 * d.allocation; // 20: the load asks for 1, a decision halves at most
 */
export function autoscale(current: number, s: AutoscaleSample, limits: AutoscaleLimits, state: AutoscaleState, options: AutoscaleOptions = {}): AutoscaleDecision {
  checkAutoscaleLimits(limits);
  const tol = options.tolerance ?? 0.1;
  const up = options.maxUpFactor ?? 2;
  const down = options.maxDownFactor ?? 0.5;
  const windows = Math.max(1, Math.floor(options.downWindows ?? 5));
  const { minTokens: lo, maxTokens: hi, targetUtilization: target } = limits;
  const cur = current > 0 && Number.isFinite(current) ? current : lo;
  const T = s.intervalS > 0 ? s.intervalS : 1;
  const demand = (Math.max(0, s.offered) + Math.max(0, s.queued)) / T;
  const others = Math.max(0, s.others);
  const guaranteed = s.capacity > 0 ? (s.capacity * cur) / (cur + others) : NaN;
  const util = guaranteed > 0 ? demand / guaranteed : NaN;

  let recommended: number;
  if (!(s.capacity > 0)) recommended = cur;
  else if (others === 0) recommended = (cur * demand) / (s.capacity * target);
  else {
    const f = demand / (s.capacity * target);
    recommended = f >= 1 ? Infinity : (f * others) / (1 - f);
  }
  const dropped = s.dropped > 0;
  if (dropped) recommended = Math.max(recommended, cur * up);
  const rec = Math.min(Math.max(Math.ceil(recommended - 1e-9), 1), 2 ** 31);
  const recent = [...state.recent, rec].slice(-windows);
  const next = { recent };

  const why = dropped
    ? `${s.dropped} frames dropped at its queue (offered ${fmt(demand)}/s, share ${fmt(guaranteed)}/s)`
    : `utilisation ${fmt(util)} of its share ${util > target ? 'above' : 'below'} the target ${fmt(target)} (offered ${fmt(demand)}/s, share ${fmt(guaranteed)}/s)`;

  let want = cur;
  if (dropped || (Number.isFinite(util) && util > target * (1 + tol))) want = Math.min(rec, Math.max(Math.floor(cur * up), cur + 1));
  else if (Number.isFinite(util) && util < target * (1 - tol)) {
    const stable = Math.max(...recent);
    want = Math.max(stable, Math.ceil(cur * down));
    if (want > cur) want = cur;
  }
  const clamped = Math.min(hi, Math.max(lo, Math.round(want)));
  if (clamped === cur) return { allocation: cur, changed: false, reason: `steady: ${why}`, utilization: util, recommended, state: next };
  const reason = cur < lo || cur > hi ? (want === cur ? `outside the limits [${lo}, ${hi}]` : `${why}; limits [${lo}, ${hi}]`) : clamped === hi || clamped === lo ? `${why}; limit ${clamped === hi ? 'maxTokens' : 'minTokens'} ${clamped}` : why;
  return { allocation: clamped, changed: true, reason, utilization: util, recommended, state: next };
}
