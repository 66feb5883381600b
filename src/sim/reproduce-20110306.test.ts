import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultTraceDir, loadTrace } from './trace.js';
import { planetLabScenario } from './scenario.js';
import { simulate } from './engine.js';
import { decider } from './deciders.js';
import { compareToReference } from './reference-check.js';

const sc = planetLabScenario(loadTrace(join(defaultTraceDir(), '20110306.csv')));
for (const p of ['thr-mmt-0.8', 'iqr-mmt-1.5', 'mad-mmt-2.5', 'lr-mmt-1.2']) {
  test(`20110306 ${p}: within 5 % of CloudSim on energy and migrations, 15 % on SLAV`, () => {
    const c = compareToReference('20110306', simulate(sc, decider(p), { timeline: false }));
    assert.ok(c.ok, c.problems.join('; '));
  });
}
