import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AutoscaleError, autoscale, checkAutoscaleLimits, initialAutoscaleState, type AutoscaleLimits, type AutoscaleSample, type AutoscaleState } from './autoscale.js';

const limits: AutoscaleLimits = { minTokens: 2, maxTokens: 50, targetUtilization: 0.7 };
const sample = (offered: number, extra: Partial<AutoscaleSample> = {}): AutoscaleSample => ({ intervalS: 1, offered, dropped: 0, queued: 0, capacity: 30_000, others: 10, ...extra });

test('autoscale: a day of load: grows by at most ×2 to the peak, holds, shrinks after the stabilisation window, within limits', () => {
  let alloc = 10;
  let st: AutoscaleState = initialAutoscaleState();
  const trail: number[] = [];
  const load = [3000, 18_000, 18_000, 18_000, 18_000, 18_000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000];
  for (const l of load) {
    const d = autoscale(alloc, sample(l), limits, st);
    st = d.state;
    assert.ok(d.allocation >= limits.minTokens && d.allocation <= limits.maxTokens);
    if (d.allocation > alloc) assert.ok(d.allocation <= alloc * 2, `step ${alloc} → ${d.allocation}`);
    if (d.allocation < alloc) assert.ok(d.allocation >= Math.ceil(alloc / 2), `step ${alloc} → ${d.allocation}`);
    assert.equal(d.changed, d.allocation !== alloc);
    alloc = d.allocation;
    trail.push(alloc);
  }
  // 3000/s at 10 of 20 tokens is utilisation 0.2: halved at once (no history holds it).
  assert.equal(trail[0], 5);
  // 18000/s asks for 60 tokens: ×2 a step, then at 40 (share 24000/s, utilisation 0.75) within ±10 % of 0.7.
  assert.deepEqual(trail.slice(1, 6), [10, 20, 40, 40, 40], `peak: ${trail.join(' ')}`);
  // 1000/s after the peak: the window of 5 recommendations still holds the peak's 60 for 4 decisions.
  assert.deepEqual(trail.slice(6, 10), [40, 40, 40, 40], `night: ${trail.join(' ')}`);
  assert.equal(trail.at(-1), 2, `night floor: ${trail.join(' ')}`);
});

test('autoscale: the exact share model: 50 % of a server among 10 other tokens at target 1 is 10 tokens', () => {
  const d = autoscale(5, sample(15_000), { minTokens: 1, maxTokens: 100, targetUtilization: 1 }, initialAutoscaleState(), { maxUpFactor: 10 });
  assert.equal(d.recommended, 10);
  assert.equal(d.allocation, 10);
  assert.ok(Math.abs(d.utilization - 15_000 / ((30_000 * 5) / 15)) < 1e-9);
});

test('autoscale: within the tolerance band nothing changes; drops force growth even when utilisation looks low', () => {
  // Share at 10 among 10: 15000/s; 0.7 × 15000 = 10500/s offered is on target.
  const steady = autoscale(10, sample(10_500), limits, initialAutoscaleState());
  assert.equal(steady.changed, false);
  assert.match(steady.reason, /^steady/);
  const drops = autoscale(10, sample(100, { dropped: 50 }), limits, initialAutoscaleState());
  assert.equal(drops.allocation, 20);
  assert.match(drops.reason, /50 frames dropped/);
  // A backlog counts as demand to drain within the next interval.
  const backlog = autoscale(10, sample(5000, { queued: 20_000 }), limits, initialAutoscaleState());
  assert.ok(backlog.allocation > 10);
});

test('autoscale: alone on the server the allocation follows the load proportionally; an allocation outside new limits is brought back', () => {
  const alone = autoscale(10, sample(42_000, { others: 0, capacity: 60_000 }), { minTokens: 1, maxTokens: 100, targetUtilization: 0.7 }, initialAutoscaleState());
  assert.equal(alone.allocation, 10);
  const high = autoscale(80, sample(10_500, { others: 80 }), limits, initialAutoscaleState());
  assert.equal(high.allocation, 50);
  assert.match(high.reason, /limits \[2, 50\]|maxTokens/);
});

test('autoscale: limits are checked (AutoscaleError)', () => {
  assert.throws(() => checkAutoscaleLimits({ minTokens: 0, maxTokens: 5, targetUtilization: 0.5 }), { name: 'AutoscaleError' });
  assert.throws(() => checkAutoscaleLimits({ minTokens: 5, maxTokens: 4, targetUtilization: 0.5 }), AutoscaleError);
  assert.throws(() => autoscale(1, sample(1), { minTokens: 1, maxTokens: 4, targetUtilization: 1.5 }, initialAutoscaleState()), { name: 'AutoscaleError' });
});

test('autoscale (property): always an integer within the limits, steps bounded, deterministic', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }),
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 0, max: 100 }),
      fc.double({ min: 0.05, max: 1, noNaN: true }),
      fc.array(fc.record({ offered: fc.integer({ min: 0, max: 100_000 }), dropped: fc.integer({ min: 0, max: 10 }), queued: fc.integer({ min: 0, max: 5000 }), others: fc.integer({ min: 0, max: 100 }) }), { minLength: 1, maxLength: 20 }),
      (start, lo, span, target, samples) => {
        const l = { minTokens: lo, maxTokens: lo + span, targetUtilization: target };
        let a = start;
        let st = initialAutoscaleState();
        for (const s of samples) {
          const d = autoscale(a, { intervalS: 0.5, capacity: 50_000, ...s }, l, st);
          const again = autoscale(a, { intervalS: 0.5, capacity: 50_000, ...s }, l, st);
          assert.deepEqual(again, d);
          assert.ok(Number.isInteger(d.allocation) && d.allocation >= l.minTokens && d.allocation <= l.maxTokens);
          const inLimits = a >= l.minTokens && a <= l.maxTokens;
          if (inLimits && d.allocation > a) assert.ok(d.allocation <= Math.max(a * 2, a + 1));
          if (inLimits && d.allocation < a) assert.ok(d.allocation >= Math.ceil(a / 2));
          a = d.allocation;
          st = d.state;
        }
      },
    ),
    { numRuns: 300 },
  );
});
