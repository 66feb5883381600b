import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lpm4, LpmError } from './lpm4.js';
import { rng } from '../testing.js';

const mask = (l: number): number => (l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0);

interface Rule { p: number; l: number; nh: number }
function naive(rules: Map<string, Rule>, a: number): number {
  let best = -1;
  let bestLen = -1;
  for (const r of rules.values()) if (((a & mask(r.l)) >>> 0) === r.p && r.l > bestLen) { best = r.nh; bestLen = r.l; }
  return best;
}

test('lpm4: documented example', () => {
  const t = new Lpm4();
  t.insert(0x0a000000, 8, 1);
  t.insert(0x0a010200, 24, 2);
  assert.equal(t.lookup(0x0a010203), 2);
  assert.equal(t.lookup(0x0a7f0001), 1);
  assert.equal(t.lookup(0x0b000001), -1);
  assert.equal(t.lookupBytes(new Uint8Array([10, 1, 2, 3]), 0), 2);
});

test('lpm4: overlapping prefixes, deletes restore the covering prefix, chunks fold back', () => {
  const t = new Lpm4({ compactMax: 0 }); // DIR-24-8 from the start
  t.insert(0xc0a80100, 24, 1);
  t.insert(0xc0a80180, 25, 2);
  t.insert(0xc0a801c0, 26, 3);
  t.insert(0xc0a801c1, 32, 4);
  t.insert(0, 0, 9);
  assert.equal(t.lookup(0xc0a80101), 1);
  assert.equal(t.lookup(0xc0a80181), 2);
  assert.equal(t.lookup(0xc0a801c2), 3);
  assert.equal(t.lookup(0xc0a801c1), 4);
  assert.equal(t.lookup(0x01020304), 9);
  // inserting a shorter prefix afterwards must not hide the longer ones
  t.insert(0xc0a80000, 16, 5);
  assert.equal(t.lookup(0xc0a801c1), 4);
  assert.equal(t.lookup(0xc0a80201), 5);
  assert.equal(t.chunksInUse, 1);
  assert.ok(t.delete(0xc0a801c0, 26));
  assert.equal(t.lookup(0xc0a801c2), 2);
  assert.equal(t.lookup(0xc0a801c1), 4);
  assert.ok(t.delete(0xc0a801c1, 32));
  assert.ok(t.delete(0xc0a80180, 25));
  assert.equal(t.lookup(0xc0a801c1), 1);
  assert.equal(t.chunksInUse, 0, 'uniform chunk folded back into the first level');
  assert.ok(t.delete(0xc0a80100, 24));
  assert.equal(t.lookup(0xc0a80101), 5);
  assert.ok(!t.delete(0xc0a80100, 24));
  assert.equal(t.size, 2);
  // replace
  t.insert(0xc0a80000, 16, 6);
  assert.equal(t.lookup(0xc0a80101), 6);
  assert.equal(t.get(0xc0a8ffff, 16), 6);
});

test('lpm4: rejects bad lengths and next hops with LpmError', () => {
  const t = new Lpm4();
  assert.throws(() => t.insert(0, 33, 1), (e: Error) => e.name === 'LpmError' && e instanceof LpmError);
  assert.throws(() => t.insert(0, 8, -1), (e: Error) => e.name === 'LpmError');
});

test('lpm4: matches a linear scan over 10k random overlapping prefixes, through inserts and deletes', () => {
  const r = rng(42);
  const t = new Lpm4();
  const rules = new Map<string, Rule>();
  // Prefixes drawn around a few hundred bases so that they overlap a lot at every length.
  const bases: number[] = [];
  for (let i = 0; i < 300; i++) bases.push(r());
  const pick = (): number => ((bases[r() % bases.length] as number) ^ (r() & (r() % 2 ? 0xffff : 0xff))) >>> 0;
  for (let i = 0; i < 10000; i++) {
    const l = r() % 10 < 6 ? 16 + (r() % 17) : r() % 200 === 0 ? r() % 8 : 8 + (r() % 25);
    const p = (pick() & mask(l)) >>> 0;
    const nh = r() % 1000;
    t.insert(p, l, nh);
    rules.set(`${p}/${l}`, { p, l, nh });
  }
  assert.equal(t.size, rules.size);
  const check = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const a = i % 2 ? pick() : r();
      assert.equal(t.lookup(a), naive(rules, a), `address ${a.toString(16)}`);
    }
  };
  check(3000);
  const keys = [...rules.keys()];
  for (let i = 0; i < keys.length; i += 2) {
    const rule = rules.get(keys[i] as string) as Rule;
    assert.ok(t.delete(rule.p, rule.l));
    rules.delete(keys[i] as string);
  }
  assert.equal(t.size, rules.size);
  check(3000);
  for (const rule of [...rules.values()]) t.delete(rule.p, rule.l);
  assert.equal(t.chunksInUse, 0);
  assert.equal(t.lookup(pick()), -1);
});

// Prefixes around a few bases (overlapping at every length, /0 to /32) for the compact-mode tests.
function overlapping(r: () => number, count: number): Rule[] {
  const bases: number[] = [];
  for (let i = 0; i < 40; i++) bases.push(r());
  const out: Rule[] = [];
  for (let i = 0; i < count; i++) {
    const l = r() % 40 === 0 ? r() % 8 : r() % 33;
    const a = ((bases[r() % bases.length] as number) ^ (r() & (r() % 2 ? 0xffff : 0xff))) >>> 0;
    out.push({ p: (a & mask(l)) >>> 0, l, nh: r() % 5000 });
  }
  return out;
}

test('lpm4: compact trie matches a linear scan through inserts and deletes, and folds its nodes back', () => {
  const r = rng(7);
  const t = new Lpm4({ compactMax: 1e9 });
  const rules = new Map<string, Rule>();
  const probe = (): number => (r() % 3 === 0 ? r() : ([...rules.values()][r() % Math.max(1, rules.size)]?.p ?? 0) ^ (r() & 0x3ff)) >>> 0;
  const check = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const a = probe();
      assert.equal(t.lookup(a), naive(rules, a), `address ${a.toString(16)}`);
      const b = new Uint8Array([a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255]);
      assert.equal(t.lookupBytes(b, 0), naive(rules, a));
    }
  };
  for (const x of overlapping(r, 3000)) {
    t.insert(x.p, x.l, x.nh);
    rules.set(`${x.p}/${x.l}`, x);
  }
  assert.ok(t.compact);
  assert.equal(t.tbl24.length, 0);
  assert.equal(t.size, rules.size);
  check(3000);
  const keys = [...rules.keys()];
  for (let i = 0; i < keys.length; i += 2) {
    const x = rules.get(keys[i] as string) as Rule;
    assert.ok(t.delete(x.p, x.l));
    rules.delete(keys[i] as string);
  }
  check(3000);
  const addrs = Uint32Array.from({ length: 500 }, probe);
  const out = new Int32Array(500);
  t.lookupMany(addrs, out, 500);
  addrs.forEach((a, i) => assert.equal(out[i], naive(rules, a)));
  for (const x of [...rules.values()]) assert.ok(t.delete(x.p, x.l));
  assert.equal(t.chunksInUse, 1, 'every node folded back into the root');
  assert.equal(t.lookup(probe()), -1);
});

test('lpm4: switches from the compact trie to DIR-24-8 past compactMax, answers unchanged', () => {
  const r = rng(11);
  const t = new Lpm4({ compactMax: 300 });
  const rules = new Map<string, Rule>();
  const all = overlapping(r, 900);
  const check = (): void => {
    for (let i = 0; i < 700; i++) {
      const a = i % 2 ? r() : ((all[r() % all.length] as Rule).p ^ (r() & 0xfff)) >>> 0;
      assert.equal(t.lookup(a), naive(rules, a), `address ${a.toString(16)} (compact ${t.compact})`);
    }
  };
  for (const x of all) {
    t.insert(x.p, x.l, x.nh);
    rules.set(`${x.p}/${x.l}`, x);
    if (rules.size === 300) {
      assert.ok(t.compact, 'still compact at compactMax prefixes');
      check();
    }
  }
  assert.ok(!t.compact, 'DIR-24-8 past compactMax');
  assert.equal(t.tbl24.length, 1 << 24);
  check();
  for (const x of all.slice(0, 700)) {
    t.delete(x.p, x.l);
    rules.delete(`${x.p}/${x.l}`);
  }
  assert.ok(!t.compact, 'no switching back on deletes');
  check();
  t.clear();
  assert.ok(t.compact, 'clear() returns to the compact trie');
  assert.equal(t.lookup(0x0a000001), -1);
});

test('lpm4: a router-sized table (a handful of prefixes) takes a few KiB', () => {
  const t = new Lpm4();
  t.insert(0x0a000100, 24, 0);
  t.insert(0x0a000101, 32, 1);
  t.insert(0x0a0001ff, 32, 2);
  t.insert(0xac100000, 12, 3);
  t.insert(0, 0, 4);
  assert.ok(t.compact);
  assert.ok((t.tbl24.length + t.tbl8.length) * 4 <= 8192, `${(t.tbl24.length + t.tbl8.length) * 4} bytes`);
  assert.equal(t.lookup(0x0a000101), 1);
  assert.equal(t.lookup(0x0a000105), 0);
  assert.equal(t.lookup(0xac1f0001), 3);
  assert.equal(t.lookup(0x08080808), 4);
  assert.equal(t.entry(0x0a000105) >>> 23, 24, 'entry() carries the matched length');
});
