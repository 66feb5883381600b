import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Maglev } from './maglev.js';
import { flowHash4, fmix32 } from './flowhash.js';

test('maglev: rejects a non-prime size', () => {
  assert.throws(() => new Maglev(65536), (e: Error) => e.name === 'MaglevError');
});

test('maglev: balanced, and removing a backend moves little more than its own share', () => {
  const names = Array.from({ length: 10 }, (_, i) => `backend-${i}`);
  const up = names.map(() => true);
  const m = new Maglev(65537);
  m.build(names, up);
  const before = m.table.slice();
  const counts = new Array<number>(10).fill(0);
  for (const b of before) counts[b] = (counts[b] as number) + 1;
  for (const c of counts) assert.ok(Math.abs(c - 6553.7) <= 1, `balanced: ${counts.join(',')}`);
  up[3] = false;
  m.build(names, up);
  let moved = 0;
  let movedOthers = 0;
  for (let i = 0; i < before.length; i++) {
    assert.notEqual(m.table[i], 3);
    if (m.table[i] !== before[i]) {
      moved++;
      if (before[i] !== 3) movedOthers++;
    }
  }
  // The paper's bound: the dead backend's 1/N plus a small extra (a few % of the table).
  assert.ok(moved / before.length < 0.1 + 0.03, `moved ${moved}`);
  assert.ok(movedOthers / before.length < 0.03, `moved among survivors ${movedOthers}`);
  // Coming back restores the original table exactly (the permutations depend only on names).
  up[3] = true;
  m.build(names, up);
  assert.deepEqual(m.table, before);
});

test('maglev: adding a backend takes about 1/(N+1) and moves little else', () => {
  const names = Array.from({ length: 20 }, (_, i) => `b${i}`);
  const m = new Maglev(65537);
  m.build(names.slice(0, 19), names.slice(0, 19).map(() => true));
  const before = m.table.slice();
  m.build(names, names.map(() => true));
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (m.table[i] !== before[i]) moved++;
  assert.ok(moved / before.length < 1 / 20 + 0.03, `moved ${moved}`);
});

test('maglev: weights and empty sets; flow hashes spread over backends', () => {
  const m = new Maglev(1009);
  m.build(['a', 'b'], [false, false]);
  assert.equal(m.lookup(123), -1);
  m.build(['a', 'b'], [true, true], [3, 1]);
  let a = 0;
  for (const x of m.table) if (x === 0) a++;
  assert.ok(Math.abs(a / 1009 - 0.75) < 0.01);
  const big = new Maglev(65537);
  big.build(['x', 'y', 'z', 'w'], [true, true, true, true]);
  const c = [0, 0, 0, 0];
  for (let i = 0; i < 40000; i++) { const b = big.lookup(flowHash4(0x0a000000 + i, 0xc0000201, 1024 + (i & 1023), 80, 6)); c[b] = (c[b] as number) + 1; }
  for (const x of c) assert.ok(Math.abs(x - 10000) < 600, c.join(','));
  assert.notEqual(fmix32(1), fmix32(2));
});
