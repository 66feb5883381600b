import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultTraceDir, loadTrace, parseTrace } from './trace.js';
import { planetLabScenario, type Scenario } from './scenario.js';
import { simulate } from './engine.js';
import { decider } from './deciders.js';
import { REFERENCE, urbanizerTargets } from './reference.js';

test('trace parsing: names and percentages; malformed lines are typed errors with a line number', () => {
  const t = parseTrace('# comment\nvm-a,10,20,30\nvm-b,0,100,50\n', 'day.csv');
  assert.deepEqual(t.vms, ['vm-a', 'vm-b']);
  assert.deepEqual([...t.samples[1]!], [0, 1, 0.5]);
  assert.throws(() => parseTrace('# c\nvm,10,x\n', 'bad.csv'), (e: Error & { line?: number }) => e.name === 'TraceFormatError' && e.line === 2);
  assert.throws(() => parseTrace('vm,10,20\nvm2,10\n', 'bad.csv'), (e: Error) => e.name === 'TraceFormatError');
  assert.throws(() => parseTrace('vm,101\n', 'bad.csv'), (e: Error) => e.name === 'TraceFormatError');
  assert.throws(() => parseTrace('# only a comment\n', 'bad.csv'), (e: Error) => e.name === 'TraceFormatError');
});

test('urbanizer beats the reference on every day: ESV ≤ 0.8 × best, energy ≤ LR-MMT-1.2, fewer migrations', () => {
  for (const day of Object.keys(REFERENCE)) {
    const sc = planetLabScenario(loadTrace(join(defaultTraceDir(), `${day}.csv`)));
    const r = simulate(sc, decider('urbanizer'), { timeline: false });
    const t = urbanizerTargets(day)!;
    assert.ok(r.esv <= t.maxEsv, `${day}: ESV ${r.esv} > ${t.maxEsv}`);
    assert.ok(r.energyKWh <= t.maxEnergyKWh, `${day}: energy ${r.energyKWh} > ${t.maxEnergyKWh}`);
    assert.ok(r.migrations <= t.maxMigrations, `${day}: ${r.migrations} migrations`);
  }
});

test('urbanizer is online: changing samples after t does not change decisions up to t', () => {
  const base = planetLabScenario(loadTrace(join(defaultTraceDir(), '20110306.csv')));
  const cut = 100; // samples 0..100 are kept; later ones are replaced
  const altered: Scenario = {
    ...base,
    vms: base.vms.map((v, i) => {
      const s = Float64Array.from(v.samples);
      for (let k = cut + 1; k < s.length; k++) s[k] = ((i * 31 + k * 17) % 100) / 100;
      return { ...v, samples: s };
    }),
  };
  const a = simulate(base, decider('urbanizer'), { timeline: true });
  const b = simulate(altered, decider('urbanizer'), { timeline: true });
  // decision k (k = 1..) happens at 300k + 0.1 and may use sample k (and sample k+1 only through
  // the 0.1 s of interpolation, which the reference also does); compare decisions up to cut - 1.
  for (let k = 0; k < cut - 2; k++) assert.equal(a.timeline[k]!.migrations, b.timeline[k]!.migrations, `interval ${k}`);
  assert.notDeepEqual(a.timeline.map((x) => x.migrations), b.timeline.map((x) => x.migrations));
});

test('timeline: active servers, power and migrations add up to the totals', () => {
  const sc = planetLabScenario(loadTrace(join(defaultTraceDir(), '20110303.csv')));
  const r = simulate(sc, decider('thr-mmt-0.8'));
  assert.equal(r.timeline.length, 286);
  const mig = r.timeline.reduce((a, x) => a + x.migrations, 0);
  assert.ok(r.migrations - mig >= 0 && r.migrations - mig < 2000, 'all but the first round are in the timeline');
  const kwh = r.timeline.reduce((a, x) => a + x.powerW * 300, 0) / 3.6e6;
  assert.ok(Math.abs(kwh - r.energyKWh) / r.energyKWh < 0.01, `${kwh} vs ${r.energyKWh}`);
  assert.ok(r.timeline.every((x) => x.activeHosts > 0 && x.activeHosts <= 800));
});
