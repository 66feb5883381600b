import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TokenScheduler, UnknownNetworkError, DuplicateNetworkError, type Grant } from './tokens.js';
import { Batch } from '../packet/pool.js';

/** The interface the simulation drives: the token scheduler, or the FIFO used as a sanity check. */
interface Sched {
  enqueueUniform(net: string, count: number, cost: number): void;
  next(budget: number, maxItems?: number): Grant | null;
  readonly backlog: number;
}

/** One shared FIFO: what a server does without isolation. The isolation tests must fail on it. */
class Fifo implements Sched {
  private q: { net: string; cost: number }[] = [];
  private head = 0;
  private readonly g: Grant = { net: '', count: 0, cost: 0, phase: 'base' };
  enqueueUniform(net: string, count: number, cost: number): void {
    for (let k = 0; k < count; k++) this.q.push({ net, cost });
  }
  get backlog(): number {
    return this.q.length - this.head;
  }
  next(budget: number, maxItems = 256): Grant | null {
    const first = this.q[this.head];
    if (!first || first.cost > budget) return null;
    let n = 0;
    let c = 0;
    while (n < maxItems && this.head + n < this.q.length) {
      const it = this.q[this.head + n];
      if (!it || it.net !== first.net || c + it.cost > budget) break;
      c += it.cost;
      n++;
    }
    this.head += n;
    Object.assign(this.g, { net: first.net, count: n, cost: c });
    return this.g;
  }
}

interface Flow {
  id: string;
  /** Items arriving at tick t. */
  arrivals: (t: number) => number;
  cost: number;
}

interface SimResult {
  served: Map<string, number>;
  arrived: Map<string, number>;
  latencies: Map<string, number[]>;
  idleWhileBacklogged: number;
}

/** A server of `capacity` tokens per tick serving flows through `s` for `ticks` ticks. */
function simulate(s: Sched, flows: Flow[], capacity: number, ticks: number, onGrant?: (g: Grant, t: number) => void): SimResult {
  const queues = new Map<string, number[]>(flows.map((f) => [f.id, []]));
  const heads = new Map<string, number>(flows.map((f) => [f.id, 0]));
  const served = new Map<string, number>(flows.map((f) => [f.id, 0]));
  const arrived = new Map<string, number>(flows.map((f) => [f.id, 0]));
  const latencies = new Map<string, number[]>(flows.map((f) => [f.id, []]));
  const maxCost = Math.max(...flows.map((f) => f.cost));
  let budget = 0;
  let idle = 0;
  for (let t = 0; t < ticks; t++) {
    for (const f of flows) {
      const a = f.arrivals(t);
      if (a > 0) {
        s.enqueueUniform(f.id, a, f.cost);
        const q = queues.get(f.id) as number[];
        for (let k = 0; k < a; k++) q.push(t);
        arrived.set(f.id, (arrived.get(f.id) ?? 0) + a * f.cost);
      }
    }
    budget += capacity;
    for (;;) {
      const g = s.next(budget);
      if (!g) break;
      budget -= g.cost;
      const q = queues.get(g.net) as number[];
      const h = heads.get(g.net) as number;
      const lat = latencies.get(g.net) as number[];
      for (let k = 0; k < g.count; k++) lat.push(t - (q[h + k] as number));
      heads.set(g.net, h + g.count);
      served.set(g.net, (served.get(g.net) ?? 0) + g.cost);
      onGrant?.(g, t);
    }
    // Work-conserving: the server only stops with work queued when the next item does not fit.
    if (s.backlog > 0 && budget >= maxCost) idle++;
    if (s.backlog === 0) budget = 0; // an idle server cannot bank capacity
  }
  return { served, arrived, latencies, idleWhileBacklogged: idle };
}

function p99(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.99 * s.length))] as number;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

const SCALE = 16; // bᵢ = share × SCALE × item cost: allocations well above one item

function tokens(allocs: number[], prios: number[] = []): TokenScheduler {
  const s = new TokenScheduler({ unit: 'packets' });
  allocs.forEach((a, i) => s.addNetwork(`n${i}`, { allocation: a * SCALE, priority: prios[i] ?? 0 }));
  return s;
}

const allocArb = fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 2, maxLength: 5 });

test('every backlogged network gets at least bᵢ/Σb of the capacity, whatever the others do', () => {
  fc.assert(
    fc.property(
      allocArb,
      fc.array(fc.constantFrom('saturate', 'idle', 'light', 'bursty'), { minLength: 5, maxLength: 5 }),
      fc.integer({ min: 3, max: 40 }),
      (allocs, kinds, capacity) => {
        const sumB = allocs.reduce((a, b) => a + b, 0) * SCALE;
        const flows: Flow[] = allocs.map((_, i) => {
          const kind = i === 0 ? 'saturate' : kinds[i];
          const arrivals =
            kind === 'saturate' ? () => capacity : kind === 'idle' ? () => 0 : kind === 'light' ? (t: number) => (t % 3 === 0 ? 1 : 0) : (t: number) => (t % 50 < 5 ? capacity * 3 : 0);
          return { id: `n${i}`, arrivals, cost: 1 };
        });
        const ticks = 3000;
        const r = simulate(tokens(allocs), flows, capacity, ticks);
        const total = capacity * ticks;
        for (let i = 0; i < allocs.length; i++) {
          if (i !== 0 && kinds[i] !== 'saturate') continue;
          const share = ((allocs[i] as number) * SCALE) / sumB;
          const got = r.served.get(`n${i}`) as number;
          // One round of slack: the last round may be cut by the end of the run.
          if (got < share * total - sumB) return false;
        }
        return r.idleWhileBacklogged === 0;
      },
    ),
    { numRuns: 60 },
  );
});

test('all saturating: shares match the allocations (10/5/1 → 62.5/31.25/6.25 %)', () => {
  const allocs = [10, 5, 1];
  const r = simulate(
    tokens(allocs),
    allocs.map((_, i) => ({ id: `n${i}`, arrivals: () => 20, cost: 1 })),
    16,
    5000,
  );
  const total = [...r.served.values()].reduce((a, b) => a + b, 0);
  assert.equal(total, 16 * 5000);
  const shares = allocs.map((_, i) => (r.served.get(`n${i}`) as number) / total);
  assert.ok(Math.abs((shares[0] as number) - 0.625) < 0.005, String(shares));
  assert.ok(Math.abs((shares[1] as number) - 0.3125) < 0.005, String(shares));
  assert.ok(Math.abs((shares[2] as number) - 0.0625) < 0.005, String(shares));
});

test('work-conserving: never idle while backlogged, with any item costs and budgets', () => {
  fc.assert(
    fc.property(
      allocArb,
      fc.array(fc.tuple(fc.nat(4), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 64, max: 1500 })), { minLength: 1, maxLength: 200 }),
      fc.array(fc.integer({ min: 1500, max: 20000 }), { minLength: 1, maxLength: 50 }),
      (allocs, adds, budgets) => {
        const s = new TokenScheduler({ unit: 'bytes' });
        allocs.forEach((a, i) => s.addNetwork(`n${i}`, { allocation: a * 1500 }));
        let bi = 0;
        for (const [net, count, bytes] of adds) {
          s.enqueueUniform(`n${net % allocs.length}`, count, bytes);
          const budget = budgets[bi++ % budgets.length] as number;
          // Any budget that fits one item must yield a grant while something is queued.
          const before = s.backlog;
          const g = s.next(budget);
          if (before > 0 && (!g || g.count === 0)) return false;
        }
        let guard = 0;
        while (s.backlog > 0 && guard++ < 100000) if (!s.next(1500)) return false;
        return s.backlog === 0;
      },
    ),
    { numRuns: 100 },
  );
});

/** Every network asks exactly its share except `flooder`, which asks 10× its share. */
function floodRun(make: (allocs: number[]) => Sched, allocs: number[], flooder: number): boolean {
  const sumA = allocs.reduce((a, b) => a + b, 0);
  const capacity = 32;
  // Fractional arrival rates accumulate so that long-run demand equals the share exactly.
  const flows: Flow[] = allocs.map((a, i) => {
    const perTick = (capacity * a * (i === flooder ? 10 : 1)) / sumA;
    return { id: `n${i}`, arrivals: (t: number) => Math.floor((t + 1) * perTick) - Math.floor(t * perTick), cost: 1 };
  });
  const r = simulate(make(allocs), flows, capacity, 1500);
  for (let i = 0; i < allocs.length; i++) {
    if (i === flooder) continue;
    const arrived = r.arrived.get(`n${i}`) as number;
    const served = r.served.get(`n${i}`) as number;
    // Kept up with its own demand, up to two rounds of queued work.
    if (served < arrived - 2 * (allocs[i] as number) * SCALE - capacity) return false;
  }
  return true;
}

test('a network flooding at 10× its share does not push the others below theirs', () => {
  fc.assert(
    fc.property(allocArb, fc.nat(4), (allocs, f) => {
      const flooder = f % allocs.length;
      return floodRun((a) => tokens(a), allocs, flooder);
    }),
    { numRuns: 30 },
  );
});

test('sanity: the flood property fails for a plain FIFO (the test can fail)', () => {
  assert.equal(floodRun(() => new Fifo(), [10, 5, 1], 2), false);
  assert.equal(floodRun((a) => tokens(a), [10, 5, 1], 2), true);
});

test('a priority network sees lower latency without starving the rest', () => {
  fc.assert(
    fc.property(allocArb, fc.integer({ min: 50, max: 95 }), (allocs, loadPct) => {
      const sumA = allocs.reduce((a, b) => a + b, 0);
      const capacity = 8;
      // Network 0 sends bursts totalling loadPct % of its share; the others saturate.
      const period = 40;
      const burst = Math.max(1, Math.round((((capacity * period * (allocs[0] as number)) / sumA) * loadPct) / 100));
      const mk = (prio: boolean): SimResult =>
        simulate(
          tokens(allocs, prio ? [1] : []),
          allocs.map((_, i) => ({ id: `n${i}`, arrivals: i === 0 ? (t: number) => (t % period === 0 ? burst : 0) : () => capacity, cost: 1 })),
          capacity,
          4000,
        );
      const withP = mk(true);
      const without = mk(false);
      const lp = withP.latencies.get('n0') as number[];
      const ln = without.latencies.get('n0') as number[];
      if (p99(lp) > p99(ln) || mean(lp) > mean(ln)) return false;
      // Not starved: every other network still gets its share of what network 0 leaves.
      const total = capacity * 4000;
      for (let i = 1; i < allocs.length; i++) {
        const got = withP.served.get(`n${i}`) as number;
        if (got < (((allocs[i] as number) * SCALE) / (sumA * SCALE)) * total - sumA * SCALE) return false;
      }
      return true;
    }),
    { numRuns: 40 },
  );
  // And strictly lower in a plain case: 10/5/1, network 0 bursting at 90 % of its share.
  const run = (prio: boolean): number[] => {
    const r = simulate(
      tokens([10, 5, 1], prio ? [1] : []),
      [
        { id: 'n0', arrivals: (t) => (t % 40 === 0 ? 180 : 0), cost: 1 },
        { id: 'n1', arrivals: () => 8, cost: 1 },
        { id: 'n2', arrivals: () => 8, cost: 1 },
      ],
      8,
      4000,
    );
    return r.latencies.get('n0') as number[];
  };
  assert.ok(p99(run(true)) < p99(run(false)), `${p99(run(true))} vs ${p99(run(false))}`);
});

test('a priority network that floods still leaves the others their base share', () => {
  const allocs = [10, 5, 1];
  const r = simulate(
    tokens(allocs, [5]),
    allocs.map((_, i) => ({ id: `n${i}`, arrivals: () => 64, cost: 1 })),
    16,
    3000,
  );
  const total = 16 * 3000;
  assert.ok((r.served.get('n1') as number) >= (5 / 16) * total - 16 * SCALE);
  assert.ok((r.served.get('n2') as number) >= (1 / 16) * total - 16 * SCALE);
});

test('an idle network that becomes active recovers its full allocation within one round', () => {
  fc.assert(
    fc.property(allocArb, fc.integer({ min: 1, max: 500 }), (allocs, wake) => {
      const sumB = allocs.reduce((a, b) => a + b, 0) * SCALE;
      const bA = (allocs[0] as number) * SCALE;
      const capacity = 7;
      let servedAfterWake = 0;
      let totalAfterWake = 0;
      let recoveredWithin = -1;
      simulate(
        tokens(allocs),
        allocs.map((_, i) => ({ id: `n${i}`, arrivals: i === 0 ? (t: number) => (t >= wake ? capacity : 0) : () => capacity, cost: 1 })),
        capacity,
        wake + 400,
        (g, t) => {
          if (t < wake) return;
          totalAfterWake += g.cost;
          if (g.net === 'n0') servedAfterWake += g.cost;
          if (recoveredWithin < 0 && servedAfterWake >= bA) recoveredWithin = totalAfterWake;
        },
      );
      // The rest of the current round (≤ Σb) plus one full round (Σb) of service at most.
      return recoveredWithin >= 0 && recoveredWithin <= 2 * sumB;
    }),
    { numRuns: 60 },
  );
});

test('when the sum of balances reaches zero a new round redistributes the base allocations', () => {
  fc.assert(
    fc.property(
      allocArb,
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('add' as const), net: fc.nat(4), count: fc.integer({ min: 1, max: 40 }), cost: fc.integer({ min: 1, max: 9 }) }),
          fc.record({ op: fc.constant('next' as const), budget: fc.integer({ min: 1, max: 200 }) }),
          fc.record({ op: fc.constant('settle' as const), net: fc.nat(4), delta: fc.integer({ min: -5, max: 30 }) }),
        ),
        { maxLength: 300 },
      ),
      (allocs, ops) => {
        const s = new TokenScheduler({ unit: 'cpu' });
        allocs.forEach((a, i) => s.addNetwork(`n${i}`, { allocation: a * 10 }));
        for (const o of ops) {
          const before = s.balances();
          let cost = 0;
          if (o.op === 'add') s.enqueueUniform(`n${o.net % allocs.length}`, o.count, o.cost);
          else if (o.op === 'next') cost = s.next(o.budget)?.cost ?? 0;
          else {
            s.settle(`n${o.net % allocs.length}`, { count: 0, cost: 0 }, o.delta);
            cost = o.delta;
          }
          const after = s.balances();
          if (!(after.sum > 0)) return false;
          if (before.sum - cost <= 0) {
            if (after.round !== before.round + 1) return false;
            if (!after.networks.every((n) => n.balance === n.allocation)) return false;
          } else {
            if (after.round !== before.round) return false;
            if (Math.abs(after.sum - (before.sum - cost)) > 1e-9) return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 150 },
  );
});

test('borrowing: backlogged networks go negative on tokens idle networks leave, priority first', () => {
  const s = new TokenScheduler({ unit: 'packets' });
  s.addNetwork('idle', { allocation: 10 });
  s.addNetwork('p', { allocation: 2, priority: 1 });
  s.addNetwork('q', { allocation: 2 });
  s.enqueueUniform('p', 100, 1);
  s.enqueueUniform('q', 100, 1);
  const seq: string[] = [];
  for (let k = 0; k < 14; k++) {
    const g = s.next(1);
    assert.ok(g);
    seq.push(`${g.net}:${g.phase}`);
  }
  // p spends its base first (priority), then q its base, then the 10 idle tokens go to p.
  assert.deepEqual(seq.slice(0, 4), ['p:base', 'p:base', 'q:base', 'q:base']);
  assert.deepEqual(new Set(seq.slice(4)), new Set(['p:borrow']));
  const b = s.balances();
  assert.equal(b.round, 1); // the 14th token emptied the round: a new one started
  assert.deepEqual(
    b.networks.map((n) => n.balance),
    [10, 2, 2],
  );
});

test('without priority the borrowed excess is split in proportion to the allocations', () => {
  const s = new TokenScheduler({ unit: 'packets' });
  s.addNetwork('idle', { allocation: 30 });
  s.addNetwork('a', { allocation: 4 });
  s.addNetwork('b', { allocation: 2 });
  s.enqueueUniform('a', 1000, 1);
  s.enqueueUniform('b', 1000, 1);
  const got = new Map<string, number>();
  for (let k = 0; k < 36; k++) {
    const g = s.next(1) as Grant;
    got.set(g.net, (got.get(g.net) ?? 0) + g.cost);
  }
  assert.equal(got.get('a'), 24);
  assert.equal(got.get('b'), 12);
});

test('within a round, base tokens are spent at the same relative pace (proportional, not one after another)', () => {
  fc.assert(
    fc.property(allocArb, (allocs) => {
      const s = new TokenScheduler({ unit: 'packets' });
      allocs.forEach((a, i) => {
        s.addNetwork(`n${i}`, { allocation: a * SCALE });
        s.enqueueUniform(`n${i}`, a * SCALE * 3, 1);
      });
      const minB = Math.min(...allocs) * SCALE;
      for (let k = 0; k < allocs.reduce((x, y) => x + y, 0) * SCALE - 1; k++) {
        const g = s.next(1);
        if (!g || g.phase !== 'base') return false;
        const used = s.balances().networks.map((n) => 1 - n.balance / n.allocation);
        if (Math.max(...used) - Math.min(...used) > 1 / minB + 1e-9) return false;
      }
      return true;
    }),
    { numRuns: 40 },
  );
});

test('rounds are clocked by time when the resource has a rate', () => {
  let now = 0;
  const s = new TokenScheduler({ unit: 'bytes', rate: 1000, now: () => now });
  s.addNetwork('a', { allocation: 500 });
  s.addNetwork('b', { allocation: 500 });
  s.enqueueUniform('a', 10, 100);
  assert.equal(s.next(300)?.cost, 300);
  now = 0.5; // a round is Σb/rate = 1 s: not yet over
  s.next(100);
  assert.equal(s.balances().round, 0);
  now = 1.0;
  s.next(100);
  const b = s.balances();
  assert.equal(b.round, 1);
  assert.equal(b.roundsByTime, 1);
  assert.equal(b.networks[0]?.balance, 400);
});

test('setAllocation applies at the next round and drops nothing (elastic sizing)', () => {
  const s = new TokenScheduler({ unit: 'packets' });
  s.addNetwork('a', { allocation: 4 });
  s.addNetwork('b', { allocation: 4 });
  s.enqueueUniform('a', 50, 1);
  s.enqueueUniform('b', 50, 1);
  let served = s.next(1)?.count ?? 0;
  s.setAllocation('a', 12);
  let b = s.balances();
  assert.equal(b.networks[0]?.allocation, 4);
  assert.equal(b.networks[0]?.nextAllocation, 12);
  assert.equal((b.networks[0]?.backlog ?? 0) + (b.networks[1]?.backlog ?? 0), 99);
  for (let guard = 0; s.balances().round === 0 && guard < 100; guard++) served += s.next(1)?.count ?? 0;
  b = s.balances();
  assert.equal(b.networks[0]?.balance, 12);
  assert.equal(b.networks[0]?.allocation, 12);
  for (let guard = 0; s.backlog > 0 && guard < 1000; guard++) served += s.next(8)?.count ?? 0;
  assert.equal(served, 100); // every queued item was served
});

test('bytes unit costs a batch by frame length plus overhead; errors are typed', () => {
  const s = new TokenScheduler({ unit: 'bytes', frameOverhead: 24 });
  s.addNetwork('a', { allocation: 10000 });
  const b = new Batch(4);
  b.push(0, 0, 64);
  b.push(1, 0, 1500);
  s.enqueueBatch('a', b);
  assert.equal(s.balances().networks[0]?.backlogCost, 64 + 24 + 1500 + 24);
  assert.throws(() => s.enqueue('zz', [1]), (e: Error) => e.name === 'UnknownNetworkError' && e instanceof UnknownNetworkError);
  assert.throws(() => s.addNetwork('a', { allocation: 1 }), (e: Error) => e.name === 'DuplicateNetworkError' && e instanceof DuplicateNetworkError);
  assert.throws(() => s.addNetwork('c', { allocation: 0 }), RangeError);
});

test('cpu unit: settle charges the measured cost and refines the estimate', () => {
  const s = new TokenScheduler({ unit: 'cpu', cpuEstimate: 100 });
  s.addNetwork('a', { allocation: 1e6 });
  const b = new Batch(4);
  b.push(0, 0, 64);
  b.push(1, 0, 64);
  s.enqueueBatch('a', b);
  const g = s.next(1e6) as Grant;
  assert.equal(g.cost, 200);
  s.settle('a', g, 1000);
  assert.equal(s.balances().networks[0]?.balance, 1e6 - 1000);
  s.enqueueBatch('a', b);
  assert.equal(s.balances().networks[0]?.backlogCost, 2 * (0.75 * 100 + 0.25 * 500));
});
