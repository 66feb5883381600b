/**
 * Token-based isolation: the scheduler that shares one resource (a server's CPU, a link's
 * bandwidth) among software networks, with the exact semantics of DESIGN.md.
 *
 * Each network i has a base allocation bᵢ tokens per round and a priority level (higher is
 * served first; 0 = none). Serving work for i spends tokens from its balance; what a token
 * is (a byte, a packet, a nanosecond of CPU) is the `unit` chosen at construction.
 *  1. A round starts with every balance set to bᵢ (allocations changed by `setAllocation`
 *     take effect here, so nothing queued is ever dropped by resizing).
 *  2. Backlogged networks with a positive balance are served first: highest priority first,
 *     otherwise in proportion to bᵢ — the pick is the largest balanceᵢ/bᵢ (the smallest
 *     virtual time spentᵢ/bᵢ, as in start-time fair queuing), so in every round each spends
 *     bᵢ at the same relative pace.
 *  3. When every backlogged network has a balance ≤ 0 but the round still holds tokens
 *     (S = Σ balances > 0, i.e. idle networks left theirs unused), backlogged networks go
 *     negative, borrowing up to S: highest priority first, otherwise the one with the least
 *     debt relative to bᵢ (so the excess is split in proportion to bᵢ).
 *  4. When S (positive minus negative balances) reaches zero the round's budget of Σb is used
 *     up and a new round starts at once. With a `rate` (tokens/s) rounds are also clocked by
 *     time: a round lasts Σb/rate seconds, after which a new round starts even if S > 0.
 *  5. An idle network keeps its balance (never below what it had when it went idle), so when
 *     it becomes active it is served first with what it holds, and at the latest the next
 *     round — at most Σb tokens or Σb/rate seconds away — gives it its full bᵢ again.
 *
 * Granularity: a grant may overshoot its allowance by less than one item (as deficit round
 * robin overshoots its quantum by at most one packet), so choose bᵢ ≫ the largest item cost.
 *
 * Relatives: Linux HTB gives each class an assured rate and lets it borrow up to a ceil
 * from its parent's unused rate, tracking tokens per class in time; Xen's credit scheduler
 * hands out credits each accounting period and runs UNDER (credit > 0) vCPUs before OVER
 * ones. Here, as in Xen, base tokens come first (UNDER); unlike Xen, OVER work is bounded by
 * the tokens idle networks leave unused in the same round — the debt idle networks fund —
 * and the round ends exactly when that pool is empty, rather than after a fixed period.
 *
 * The scheduler tracks costs only: the caller keeps the frames of each network in its own
 * queue and takes `grant.count` of them from the head when a grant names that network.
 *
 * @example
 * const s = new TokenScheduler({ unit: 'packets' });
 * s.addNetwork('voip', { allocation: 10, priority: 1 });
 * s.addNetwork('iptv', { allocation: 5 });
 * s.enqueueUniform('iptv', 100, 1);
 * const g = s.next(64); // { net: 'iptv', count: 5, cost: 5, phase: 'base' }
 */
import type { Batch } from '../packet/pool.js';

/** What one token stands for. */
export type CostUnit = 'bytes' | 'packets' | 'cpu';

export interface TokenSchedulerInit {
  unit: CostUnit;
  /** Tokens per second of the resource (link: bits/s ÷ 8 for bytes). Enables time-clocked rounds. */
  rate?: number;
  /** Seconds, monotonic; required with `rate`. Injected so that tests are deterministic. */
  now?: () => number;
  /** 'bytes' only: per-frame overhead added to the length (24 = preamble + SFD + IFG + FCS on Ethernet). */
  frameOverhead?: number;
  /** 'cpu' only: initial estimate of the cost of one item, in ns, until `settle` measures it. */
  cpuEstimate?: number;
}

export interface NetworkShare {
  /** Base allocation bᵢ in tokens per round; > 0. */
  allocation: number;
  /** Higher is served first; default 0. */
  priority?: number;
}

/** A decision: serve `count` items from the head of `net`'s queue, costing `cost` tokens. */
export interface Grant {
  net: string;
  count: number;
  cost: number;
  /** 'base' = spent from a positive balance (rule 2); 'borrow' = funded by idle networks (rule 3). */
  phase: 'base' | 'borrow';
}

export interface NetworkBalance {
  net: string;
  allocation: number;
  /** Allocation the next round will use (differs after setAllocation until then). */
  nextAllocation: number;
  priority: number;
  balance: number;
  backlog: number;
  backlogCost: number;
  served: number;
  servedCost: number;
}

export interface SchedulerSnapshot {
  round: number;
  roundsByBudget: number;
  roundsByTime: number;
  /** Σ balances: the tokens the current round still holds. */
  sum: number;
  networks: NetworkBalance[];
}

export class UnknownNetworkError extends Error {
  override readonly name = 'UnknownNetworkError';
}

export class DuplicateNetworkError extends Error {
  override readonly name = 'DuplicateNetworkError';
}

class Net {
  balance: number;
  allocation: number;
  nextAllocation: number;
  priority: number;
  costs = new Float64Array(64);
  head = 0;
  count = 0;
  backlogCost = 0;
  served = 0;
  servedCost = 0;
  cpuPerItem: number;

  constructor(
    readonly id: string,
    share: NetworkShare,
    cpuEstimate: number,
  ) {
    this.allocation = share.allocation;
    this.nextAllocation = share.allocation;
    this.priority = share.priority ?? 0;
    this.balance = share.allocation;
    this.cpuPerItem = cpuEstimate;
  }

  push(cost: number): void {
    if (this.count === this.costs.length) {
      const bigger = new Float64Array(this.costs.length * 2);
      for (let k = 0; k < this.count; k++) bigger[k] = this.costs[(this.head + k) % this.costs.length] as number;
      this.costs = bigger;
      this.head = 0;
    }
    this.costs[(this.head + this.count) % this.costs.length] = cost;
    this.count++;
    this.backlogCost += cost;
  }

  push1s(count: number, cost: number): void {
    for (let k = 0; k < count; k++) this.push(cost);
  }
}

function checkShare(s: NetworkShare): void {
  if (!(s.allocation > 0) || !Number.isFinite(s.allocation)) throw new RangeError(`allocation must be a positive finite number, got ${s.allocation}`);
  if (s.priority !== undefined && !Number.isFinite(s.priority)) throw new RangeError('priority must be finite');
}

export class TokenScheduler {
  readonly unit: CostUnit;
  private readonly nets: Net[] = [];
  private readonly byId = new Map<string, Net>();
  private sum = 0;
  private roundNo = 0;
  private byBudget = 0;
  private byTime = 0;
  private roundStart = 0;
  private readonly rate: number;
  private readonly now: (() => number) | undefined;
  private readonly overhead: number;
  private readonly cpuEstimate: number;
  /** Rotates tie-breaks so that equal networks alternate instead of the first always winning. */
  private rr = 0;
  private readonly grant: Grant = { net: '', count: 0, cost: 0, phase: 'base' };

  constructor(init: TokenSchedulerInit) {
    this.unit = init.unit;
    this.rate = init.rate ?? 0;
    this.now = init.now;
    if (this.rate < 0 || !Number.isFinite(this.rate)) throw new RangeError('rate must be a finite number ≥ 0');
    if (this.rate > 0 && !this.now) throw new RangeError('a rate needs a clock (now)');
    this.overhead = init.frameOverhead ?? 0;
    this.cpuEstimate = init.cpuEstimate ?? 1000;
    if (this.now) this.roundStart = this.now();
  }

  /** Adds a network with its full allocation as balance (its tokens join the current round). */
  addNetwork(net: string, share: NetworkShare): void {
    checkShare(share);
    if (this.byId.has(net)) throw new DuplicateNetworkError(`network '${net}' already scheduled`);
    const n = new Net(net, share, this.cpuEstimate);
    this.nets.push(n);
    this.byId.set(net, n);
    this.sum += n.balance;
  }

  /** Removes a network; returns how many queued items it still had (the caller frees them). */
  removeNetwork(net: string): number {
    const n = this.get(net);
    this.nets.splice(this.nets.indexOf(n), 1);
    this.byId.delete(net);
    this.sum -= n.balance;
    if (this.sum <= 0 && this.nets.length > 0) this.newRound(false);
    return n.count;
  }

  /**
   * Elastic sizing: the new allocation (and priority, if given) applies from the next round;
   * the current round and every queued item are left as they are.
   */
  setAllocation(net: string, allocation: number, priority?: number): void {
    checkShare(priority === undefined ? { allocation } : { allocation, priority });
    const n = this.get(net);
    n.nextAllocation = allocation;
    if (priority !== undefined) n.priority = priority;
  }

  /** Queues items of the given costs (in the scheduler's unit) for `net`. */
  enqueue(net: string, costs: ArrayLike<number>, count: number = costs.length): void {
    const n = this.get(net);
    for (let k = 0; k < count; k++) n.push(costs[k] as number);
  }

  /** Queues `count` items of equal cost. */
  enqueueUniform(net: string, count: number, cost: number): void {
    this.get(net).push1s(count, cost);
  }

  /** Queues a batch of frames, costed by the unit: length (+ overhead), 1, or the CPU estimate. */
  enqueueBatch(net: string, batch: Batch): void {
    const n = this.get(net);
    if (this.unit === 'bytes') for (let k = 0; k < batch.count; k++) n.push((batch.lens[k] as number) + this.overhead);
    else n.push1s(batch.count, this.unit === 'packets' ? 1 : n.cpuPerItem);
  }

  /**
   * Picks the network to serve and how much: at most `maxItems` items whose total cost fits in
   * `budget` (what the resource can do now). Returns null when nothing is backlogged, or when
   * the chosen network's next item costs more than `budget` (call again with more budget).
   * The returned object is reused by the next call.
   */
  next(budget: number, maxItems = 256): Grant | null {
    if (this.rate > 0 && this.now) {
      const t = this.now();
      if (t - this.roundStart >= this.roundTokens() / this.rate) this.newRound(true);
    }
    let n = this.pickBase();
    let phase: Grant['phase'] = 'base';
    if (!n) {
      n = this.pickBorrow();
      if (!n) return null; // nothing backlogged: idle is allowed
      if (this.sum > 0) phase = 'borrow';
      else {
        // Unreachable in steady state (a round restarts the moment S ≤ 0); kept for safety.
        this.newRound(false);
        n = this.pickBase();
        if (!n) return null;
      }
    }
    const allowance = phase === 'base' ? n.balance : this.sum;
    let spent = 0;
    let taken = 0;
    const cap = n.costs.length;
    while (taken < n.count && taken < maxItems && spent < allowance) {
      const c = n.costs[(n.head + taken) % cap] as number;
      if (spent + c > budget) break;
      spent += c;
      taken++;
    }
    if (taken === 0) return null;
    n.head = (n.head + taken) % cap;
    n.count -= taken;
    n.backlogCost -= spent;
    if (n.count === 0) n.backlogCost = 0; // no float drift on an empty queue
    n.served += taken;
    this.spend(n, spent);
    const g = this.grant;
    g.net = n.id;
    g.count = taken;
    g.cost = spent;
    g.phase = phase;
    return g;
  }

  /**
   * Corrects a grant's cost once the real cost is known (CPU time measured after the work):
   * charges `measured − granted` and, in 'cpu' mode, refines the per-item estimate.
   */
  settle(net: string, grant: { count: number; cost: number }, measured: number): void {
    const n = this.get(net);
    if (this.unit === 'cpu' && grant.count > 0) n.cpuPerItem = 0.75 * n.cpuPerItem + 0.25 * (measured / grant.count);
    this.spend(n, measured - grant.cost);
  }

  /** Σ bᵢ of the current round. */
  roundTokens(): number {
    let s = 0;
    for (const n of this.nets) s += n.allocation;
    return s;
  }

  /** Items queued over all networks. */
  get backlog(): number {
    let s = 0;
    for (const n of this.nets) s += n.count;
    return s;
  }

  /** A copy of every network's balance and counters. */
  balances(): SchedulerSnapshot {
    return {
      round: this.roundNo,
      roundsByBudget: this.byBudget,
      roundsByTime: this.byTime,
      sum: this.sum,
      networks: this.nets.map((n) => ({
        net: n.id,
        allocation: n.allocation,
        nextAllocation: n.nextAllocation,
        priority: n.priority,
        balance: n.balance,
        backlog: n.count,
        backlogCost: n.backlogCost,
        served: n.served,
        servedCost: n.servedCost,
      })),
    };
  }

  private spend(n: Net, cost: number): void {
    n.balance -= cost;
    n.servedCost += cost;
    this.sum -= cost;
    // Rule 4. A tiny epsilon absorbs float drift from fractional (CPU-time) costs.
    if (this.sum <= 1e-9 * this.roundTokens()) this.newRound(false);
  }

  private newRound(byTime: boolean): void {
    let s = 0;
    for (const n of this.nets) {
      n.allocation = n.nextAllocation;
      n.balance = n.allocation;
      s += n.balance;
    }
    this.sum = s;
    this.roundNo++;
    if (byTime) this.byTime++;
    else this.byBudget++;
    if (this.now) this.roundStart = this.now();
  }

  /** Rule 2: backlogged with balance > 0; priority, then largest balance/allocation. */
  private pickBase(): Net | null {
    return this.pick(true);
  }

  /** Rule 3: every backlogged network may borrow; priority, then least relative debt. */
  private pickBorrow(): Net | null {
    return this.pick(false);
  }

  private pick(positiveOnly: boolean): Net | null {
    const len = this.nets.length;
    let best: Net | null = null;
    let bestKey = 0;
    const start = this.rr++ % (len || 1);
    for (let k = 0; k < len; k++) {
      const n = this.nets[(start + k) % len] as Net;
      if (n.count === 0) continue;
      if (positiveOnly && n.balance <= 0) continue;
      const key = n.balance / n.allocation;
      if (best === null || n.priority > best.priority || (n.priority === best.priority && key > bestKey)) {
        best = n;
        bestKey = key;
      }
    }
    return best;
  }

  private get(net: string): Net {
    const n = this.byId.get(net);
    if (!n) throw new UnknownNetworkError(`no network '${net}' in this scheduler`);
    return n;
  }
}
