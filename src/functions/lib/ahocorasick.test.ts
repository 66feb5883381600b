import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AhoCorasick } from './ahocorasick.js';
import { rng } from '../testing.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

// Every (pattern id, end index) occurrence, naively.
function naive(pats: Uint8Array[], text: Uint8Array): string[] {
  const out: string[] = [];
  const buf = Buffer.from(text);
  pats.forEach((p, id) => {
    let i = buf.indexOf(Buffer.from(p));
    while (i >= 0) {
      out.push(`${id}@${i + p.length - 1}`);
      i = buf.indexOf(Buffer.from(p), i + 1);
    }
  });
  return out.sort();
}

test('ahocorasick: classic he/she/his/hers', () => {
  const ac = new AhoCorasick(['he', 'she', 'his', 'hers'].map(enc));
  const text = enc('ushers');
  ac.scan(text, 0, text.length, 0);
  const got: string[] = [];
  for (let i = 0; i < ac.matchCount; i++) got.push(`${ac.matches[i]}@${ac.matchEnds[i]}`);
  assert.deepEqual(got.sort(), ['0@3', '1@3', '3@5']);
});

test('ahocorasick: rejects empty patterns', () => {
  assert.throws(() => new AhoCorasick([new Uint8Array(0)]), (e: Error) => e.name === 'AhoCorasickError');
});

test('ahocorasick: equals naive indexOf on random data, whole and split into chunks at random points', () => {
  const r = rng(3);
  for (let round = 0; round < 60; round++) {
    const alpha = 2 + (r() % 6); // small alphabets force many overlaps
    const pats: Uint8Array[] = [];
    const n = 1 + (r() % 40);
    const maxLen = round % 3 === 0 ? 40 : 6; // long patterns: long lane warm-ups
    for (let i = 0; i < n; i++) {
      const p = new Uint8Array(1 + (r() % maxLen));
      for (let j = 0; j < p.length; j++) p[j] = 97 + (r() % alpha);
      pats.push(p);
    }
    const text = new Uint8Array(2000 + (r() % 3000));
    for (let j = 0; j < text.length; j++) text[j] = 97 + (r() % alpha);
    // plant long patterns so that some matches straddle lane boundaries
    for (let k = 0; k < 30; k++) {
      const p = pats[r() % pats.length] as Uint8Array;
      const at = r() % (text.length - p.length);
      text.set(p, at);
    }
    const ac = new AhoCorasick(pats, 100000);
    ac.scan(text, 0, text.length, 0);
    const whole: string[] = [];
    for (let i = 0; i < ac.matchCount; i++) whole.push(`${ac.matches[i]}@${ac.matchEnds[i]}`);
    const want = naive(pats, text);
    assert.deepEqual(whole.sort(), want);
    // chunked: state carried across chunk boundaries
    const chunked: string[] = [];
    let s = 0;
    let pos = 0;
    while (pos < text.length) {
      const end = Math.min(text.length, pos + 1 + (r() % (round % 2 ? 50 : 1500)));
      s = ac.scan(text, pos, end, s);
      for (let i = 0; i < ac.matchCount; i++) chunked.push(`${ac.matches[i]}@${ac.matchEnds[i]}`);
      pos = end;
    }
    assert.deepEqual(chunked.sort(), want);
    assert.ok(ac.isState(s));
  }
});

test('ahocorasick: binary patterns and cap on recorded matches', () => {
  const ac = new AhoCorasick([new Uint8Array([0, 0xff]), new Uint8Array([0])], 4);
  const text = new Uint8Array([0, 0xff, 0, 0, 0, 0, 0xff]);
  ac.scan(text, 0, text.length, 0);
  assert.equal(ac.matchCount, 4);
  assert.equal(ac.matchTotal, 7);
});

test('ahocorasick: case-insensitive automaton equals naive search over lowercased text', () => {
  const r = rng(8);
  const pats: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) pats.push(Uint8Array.from({ length: 1 + (r() % 5) }, () => (r() % 2 ? 0x41 : 0x61) + (r() % 3)));
  pats.push(enc('X-1'));
  const text = Uint8Array.from({ length: 3000 }, () => (r() % 2 ? 0x41 : 0x61) + (r() % 3));
  text.set(enc('..x-1..'), 100);
  const ac = new AhoCorasick(pats, 100000, true);
  ac.scan(text, 0, text.length, 0);
  const got: string[] = [];
  for (let i = 0; i < ac.matchCount; i++) got.push(`${ac.matches[i]}@${ac.matchEnds[i]}`);
  const lower = (a: Uint8Array): Uint8Array => a.map((c) => (c >= 0x41 && c <= 0x5a ? c + 32 : c));
  assert.deepEqual(got.sort(), naive(pats.map(lower), lower(text)));
  assert.ok(got.includes('50@104'));
});
