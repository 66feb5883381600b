import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HP_ML110_G5, powerAt } from '../policy/power.js';
import { EnergyMeter } from './energy.js';
import { HostServer } from './hostserver.js';

test('energy: watts from the SPECpower model at the measured utilisation, trapezoid joules, standby when hosting nothing', () => {
  const m = new EnergyMeter({ model: HP_ML110_G5, standbyWatts: 4 });
  m.sample(0, 0, true);
  m.sample(1, 0.5, true);
  assert.ok(Math.abs(m.joules - (93.7 + 116) / 2) < 1e-9);
  m.sample(3, 0.25, true);
  assert.ok(Math.abs(m.joules - ((93.7 + 116) / 2 + ((116 + powerAt(HP_ML110_G5, 0.25)) / 2) * 2)) < 1e-9);
  const before = m.joules;
  m.sample(13, 0, false);
  assert.equal(m.watts, 4);
  assert.ok(Math.abs(m.joules - before - 40) < 1e-9, 'standby draw over the interval it ended');
  assert.equal(m.reading().standby, true);
  assert.equal(m.reading().seconds, 13);
  m.sample(14, 2, true);
  assert.equal(m.watts, 135, 'utilisation clamped to 100 %');
});

test('energy: a server with no domain meters standby; with one it meters its idle draw', async () => {
  const h = new HostServer({ name: 'e', slots: 256, capacity: { capacity: 1000, unit: 'packets' }, power: HP_ML110_G5, standbyWatts: 3 });
  assert.equal(h.energy()?.standby, true);
  assert.equal(h.energy()?.watts, 3);
  const d = await h.addDomain({ name: 'n', contexts: [{ network: 'n', functions: [{ name: 'w', kind: 'fault', config: { armed: false } }], wires: [] }], vnics: [] });
  assert.equal(h.energy()?.standby, false);
  assert.equal(h.energy()?.watts, 93.7);
  await h.removeDomain(d.domain.id);
  assert.equal(h.energy()?.standby, true);
  await h.close();
});
