// Reproduction of CloudSim 3.0.3's PlanetLab figures (issue 6): NPA and DVFS on every day here;
// the adaptive policies one day per file (reproduce-*.test.ts) to keep each file short.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultTraceDir, loadTrace } from './trace.js';
import { planetLabScenario } from './scenario.js';
import { simulate } from './engine.js';
import { decider } from './deciders.js';
import { REFERENCE, REFERENCE_NPA_KWH } from './reference.js';

test('NPA is 2410.80 kWh and DVFS matches to the hundredth of a kWh on every day', () => {
  for (const day of Object.keys(REFERENCE)) {
    const sc = planetLabScenario(loadTrace(join(defaultTraceDir(), `${day}.csv`)));
    const npa = simulate(sc, decider('npa'), { timeline: false });
    assert.equal(npa.energyKWh.toFixed(2), REFERENCE_NPA_KWH.toFixed(2));
    assert.equal(npa.migrations, 0);
    const dvfs = simulate(sc, decider('dvfs'), { timeline: false });
    assert.equal(dvfs.energyKWh.toFixed(2), REFERENCE[day]!.dvfs.toFixed(2), day);
  }
});
