import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lpm6 } from './lpm6.js';
import { rng } from '../testing.js';

function hex(s: string): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2) || '0', 16);
  return b;
}
function covers(p: Uint8Array, len: number, a: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) {
    const bits = len - 8 * i;
    if (bits <= 0) return true;
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((p[i] as number) & m) !== ((a[i] as number) & m)) return false;
  }
  return true;
}
interface Rule { p: Uint8Array; l: number; nh: number }
function naive(rules: Map<string, Rule>, a: Uint8Array): number {
  let best = -1;
  let bestLen = -1;
  for (const r of rules.values()) if (r.l > bestLen && covers(r.p, r.l, a)) { best = r.nh; bestLen = r.l; }
  return best;
}

test('lpm6: example and overlap handling', () => {
  const t = new Lpm6();
  t.insert(hex('20010db8'), 32, 1);
  t.insert(hex('20010db80001'), 48, 2);
  t.insert(hex('20010db80001000000000000000000ff'), 128, 3);
  t.insert(hex(''), 0, 7);
  assert.equal(t.lookup(hex('20010db8000100000000000000000005')), 2);
  assert.equal(t.lookup(hex('20010db80001000000000000000000ff')), 3);
  assert.equal(t.lookup(hex('20010db8000200000000000000000005')), 1);
  assert.equal(t.lookup(hex('fe80')), 7);
  t.insert(hex('2001'), 16, 4); // shorter, later: must not hide longer ones
  assert.equal(t.lookup(hex('20010db80001000000000000000000ff')), 3);
  assert.equal(t.lookup(hex('20010db9')), 4);
  const before = t.nodesInUse;
  assert.ok(before > 0);
  assert.ok(t.delete(hex('20010db80001000000000000000000ff'), 128));
  assert.equal(t.lookup(hex('20010db80001000000000000000000ff')), 2);
  assert.ok(t.delete(hex('20010db80001'), 48));
  assert.ok(t.delete(hex('20010db8'), 32));
  assert.equal(t.lookup(hex('20010db80001000000000000000000ff')), 4);
  assert.equal(t.nodesInUse, 0, 'nodes folded back after deletes');
  assert.equal(t.sparseNodes, 0);
  assert.equal(t.size, 2);
  t.insert(hex('20010db80001'), 48, 9);
  assert.ok(t.nodesInUse > 0 && t.sparseNodes === t.nodesInUse, 'a lone /48 lives in sparse records');
  for (let i = 0; i < 20; i++) t.insert(hex('20010db8000100' + (i * 12).toString(16).padStart(2, '0')), 64, 10 + i);
  assert.ok(t.sparseNodes < t.nodesInUse, 'a node with 20 /64s is dense');
  assert.equal(t.lookup(hex('20010db80001000c0000000000000001')), 11);
  assert.equal(t.lookup(hex('20010db80001000d0000000000000001')), 9);
});

test('lpm6: matches a linear scan over 10k random overlapping prefixes, through inserts and deletes', () => {
  const r = rng(7);
  const t = new Lpm6();
  const rules = new Map<string, Rule>();
  const bases: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const b = new Uint8Array(16);
    for (let j = 0; j < 16; j++) b[j] = r() & 0xff;
    b[0] = 0x20;
    b[1] = r() % 4;
    bases.push(b);
  }
  const pick = (): Uint8Array => {
    const b = (bases[r() % bases.length] as Uint8Array).slice();
    const k = 2 + (r() % 14);
    for (let j = k; j < 16; j++) if (r() % 3 === 0) b[j] = r() & 0xff;
    return b;
  };
  const lenOf = (): number => { const x = r() % 10; return x < 6 ? 32 + (r() % 17) : x < 8 ? (r() % 100 === 0 ? r() % 16 : 16 + (r() % 113)) : 49 + (r() % 80); };
  for (let i = 0; i < 10000; i++) {
    const l = lenOf();
    const p = pick();
    const nh = r() % 5000;
    t.insert(p, l, nh);
    const m = new Uint8Array(16);
    for (let j = 0; j < 16; j++) { const bits = l - 8 * j; m[j] = bits >= 8 ? (p[j] as number) : bits <= 0 ? 0 : (p[j] as number) & ((0xff << (8 - bits)) & 0xff); }
    rules.set(`${Buffer.from(m).toString('hex')}/${l}`, { p: m, l, nh });
  }
  assert.equal(t.size, rules.size);
  const check = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const a = pick();
      assert.equal(t.lookup(a), naive(rules, a));
    }
  };
  check(600);
  const keys = [...rules.keys()];
  for (let i = 0; i < keys.length; i += 2) {
    const rule = rules.get(keys[i] as string) as Rule;
    assert.ok(t.delete(rule.p, rule.l));
    rules.delete(keys[i] as string);
  }
  check(600);
  for (const rule of [...rules.values()]) assert.ok(t.delete(rule.p, rule.l));
  assert.equal(t.size, 0);
  assert.equal(t.nodesInUse, 0);
});

test('lpm6: lookupBatch equals lookupBytes', () => {
  const r = rng(11);
  const t = new Lpm6();
  const buf = new Uint8Array(16 * 1003);
  for (let i = 0; i < 3000; i++) {
    const p = new Uint8Array(16);
    for (let j = 0; j < 16; j++) p[j] = j < 2 ? 0x20 + (j === 1 ? r() % 3 : 0) : r() & 0xff;
    t.insert(p, 16 + (r() % 113), i);
    if (i < 1003) buf.set(i % 3 === 0 ? p : p.map((x) => x ^ (r() & 0x0f)), 16 * i);
  }
  const offs = Int32Array.from({ length: 1003 }, (_, i) => 16 * i);
  const out = new Int32Array(1003);
  t.lookupBatch(buf, offs, out, 1003);
  for (let i = 0; i < 1003; i++) assert.equal(out[i], t.lookupBytes(buf, 16 * i));
  assert.ok(out.filter((x) => x >= 0).length > 300, 'most addresses are covered');
});

test('lpm6: an empty table shares one zero root and gets its own at the first insert', () => {
  const a = new Lpm6();
  const b = new Lpm6();
  assert.equal(a.nodes, b.nodes);
  const addr = new Uint8Array(16).fill(0x20, 0, 2);
  assert.equal(a.lookup(addr), -1);
  const out = new Int32Array(1);
  a.lookupBatch(addr, new Int32Array([0]), out, 1);
  assert.equal(out[0], -1);
  assert.equal(a.delete(addr, 16), false);
  assert.equal(a.nodes, b.nodes);
  a.insert(addr, 16, 5);
  assert.notEqual(a.nodes, b.nodes);
  assert.equal(a.lookup(addr), 5);
  assert.equal(b.lookup(addr), -1);
  assert.ok(b.nodes.every((w) => w === 0));
  a.clear();
  assert.equal(a.nodes, b.nodes);
  assert.equal(a.lookup(addr), -1);
  a.insert(addr, 16, 6);
  assert.equal(a.lookup(addr), 6);
  assert.equal(b.lookup(addr), -1);
});

test('lpm6: inserts and deletes inside update() leave the same lookups as one by one', () => {
  const r = rng(77);
  const a = new Lpm6();
  const b = new Lpm6();
  const ops: [Uint8Array, number, number, boolean][] = [];
  for (let k = 0; k < 3000; k++) {
    const p = new Uint8Array(16);
    p[0] = 0x20;
    p[1] = 0x01;
    for (let i = 2; i < 16; i++) p[i] = r() % 3 === 0 ? r() & 0xff : 0;
    ops.push([p, 16 + (r() % 113), r() % 1000, k > 1000 && r() % 3 === 0]);
  }
  const apply = (t: Lpm6, from: number, to: number): void => {
    for (let k = from; k < to; k++) {
      const [p, len, nh, del] = ops[k] as [Uint8Array, number, number, boolean];
      const old = ops[k - 1000];
      if (del && old) t.delete(old[0], old[1]);
      else t.insert(p, len, nh);
    }
  };
  for (let from = 0; from < ops.length; from += 500) {
    apply(a, from, from + 500);
    b.update(() => apply(b, from, from + 500));
    assert.equal(a.size, b.size);
    assert.equal(a.sparseNodes, b.sparseNodes);
    for (let q = 0; q < 2000; q++) {
      const base = ops[r() % ops.length] as [Uint8Array, number, number, boolean];
      const x = base[0].slice();
      x[r() % 16] = r() & 0xff;
      assert.equal(b.lookup(x), a.lookup(x));
      assert.equal(b.lookup(base[0]), a.lookup(base[0]));
    }
  }
});
