import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../packet/pool.js';
import { SharedLink } from './shared-link.js';

const WIRE = 1500 + 24;

function frames(n: number, len = 1500): Batch {
  const b = new Batch(Math.max(1, n));
  for (let k = 0; k < n; k++) b.push(k, k, len);
  return b;
}

/** Drives the link for `seconds` in 100 µs steps; `offer(i, t)` = frames network i sends at t. */
function drive(l: SharedLink, seconds: number, offer: (i: number, t: number) => number): number[] {
  const out = new Batch(256);
  const nets = new Int32Array(256);
  const bytes = l.networks.map(() => 0);
  const dropped = new Batch(256);
  for (let step = 0; step * 1e-4 < seconds; step++) {
    const t = step * 1e-4;
    l.networks.forEach((net, i) => {
      const n = offer(i, t);
      if (n > 0) {
        dropped.clear();
        l.send(net, frames(n), t, dropped);
      }
    });
    for (;;) {
      out.clear();
      const n = l.poll(t, out, nets);
      if (n === 0) break;
      for (let k = 0; k < n; k++) bytes[nets[k] as number] = (bytes[nets[k] as number] as number) + WIRE;
    }
  }
  return bytes;
}

function link(): SharedLink {
  const l = new SharedLink({ bandwidth: 10e6, delay: 0.001, overhead: 24, queueLimit: 200 });
  [10, 5, 1].forEach((a, i) => l.addNetwork(`n${i}`, { allocation: a * 8 * WIRE }));
  return l;
}

test('three networks 10/5/1 saturating a 10 Mb/s link share it 62.5/31.25/6.25 %', () => {
  const l = link();
  const bytes = drive(l, 3, () => 2); // each offers ~ 24 Mb/s
  const total = bytes.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs((total * 8) / 3 / 10e6 - 1) < 0.01, `link used ${(total * 8) / 3} b/s`);
  [0.625, 0.3125, 0.0625].forEach((s, i) => assert.ok(Math.abs((bytes[i] as number) / total - s) < 0.005, String(bytes)));
  assert.ok(l.stats().every((s) => s.queueDrops > 0), 'saturating networks overflow their own queues');
});

test('an idle network leaves the link to the others; a flood does not touch the others', () => {
  let l = link();
  let bytes = drive(l, 2, (i) => (i === 0 ? 0 : 2));
  const used = ((bytes[1] as number) + (bytes[2] as number)) * 8 / 2 / 10e6;
  assert.ok(used > 0.99, `used ${used}`);
  // Networks 0 and 1 offer 80 % of their share, network 2 ten times its share.
  l = link();
  const pps = [0.8 * 0.625, 0.8 * 0.3125, 10 * 0.0625].map((s) => (s * 10e6) / 8 / WIRE);
  bytes = drive(l, 3, (i, t) => Math.floor((t + 1e-4) * (pps[i] as number)) - Math.floor(t * (pps[i] as number)));
  const st = l.stats();
  for (let i = 0; i < 2; i++) {
    assert.equal(st[i]?.queueDrops, 0);
    assert.ok((st[i]?.delivered ?? 0) >= (st[i]?.sent ?? 0) - 5, JSON.stringify(st[i]));
  }
  assert.ok((st[2]?.queueDrops ?? 0) > 0);
});

test('rounds are clocked by the link rate when the load is light', () => {
  const l = link();
  drive(l, 1, (i, t) => (i === 0 && Math.round(t * 1e4) % 50 === 0 ? 1 : 0));
  const b = l.balances();
  // A round is Σb / rate = 128 × 1524 B × 8 / 10 Mb/s = 156 ms: about 6 in a second, none by budget.
  assert.ok(b.roundsByTime >= 5 && b.roundsByBudget === 0, JSON.stringify({ byTime: b.roundsByTime, byBudget: b.roundsByBudget }));
  assert.equal(l.stats()[0]?.delivered, l.stats()[0]?.sent);
});
