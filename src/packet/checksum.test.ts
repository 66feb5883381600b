import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksumUpdate16, checksumUpdate32, checksumValid, foldSum, internetChecksum, pseudoSum, pseudoSum4, sum16 } from './checksum.js';

const bytes = (hex: string): Uint8Array => Uint8Array.from(hex.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16)));

test('RFC 1071 §3 example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2, checksum 220d', () => {
  const b = bytes('0001f203f4f5f6f7');
  assert.equal(foldSum(sum16(b, 0, 8)), 0xddf2);
  assert.equal(internetChecksum(b, 0, 8), 0x220d);
});

test('odd length pads the last byte with zero', () => {
  assert.equal(foldSum(sum16(bytes('0102 03'), 0, 3)), 0x0402);
});

test('IPv4 header vector (45 00 00 73 ... c0 a8 00 c7) has checksum b861 and verifies', () => {
  const h = bytes('450000730000400040110000c0a80001c0a800c7');
  assert.equal(internetChecksum(h, 0, 20), 0xb861);
  h[10] = 0xb8;
  h[11] = 0x61;
  assert.ok(checksumValid(h, 0, 20));
  h[19] = h[19]! ^ 1;
  assert.ok(!checksumValid(h, 0, 20));
});

test('RFC 1624 §4 example: HC 0xdd2f, m 0x5555 → 0x3285 gives 0x0000 with eqn 3 (eqn 2 would give 0xffff)', () => {
  assert.equal(checksumUpdate16(0xdd2f, 0x5555, 0x3285), 0x0000);
});

test('incremental update equals a full recomputation for random word changes', () => {
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  for (let n = 0; n < 2000; n++) {
    const b = new Uint8Array(20);
    for (let i = 0; i < 20; i++) b[i] = rnd() & 0xff;
    b[10] = b[11] = 0;
    const hc = internetChecksum(b, 0, 20);
    const words = [0, 1, 2, 3, 4, 6, 7, 8, 9]; // not word 5, the checksum itself
    const w = 2 * words[rnd() % words.length]!;
    const m = (b[w]! << 8) | b[w + 1]!;
    const m2 = rnd() & 0xffff;
    b[w] = m2 >>> 8;
    b[w + 1] = m2 & 0xff;
    const full = internetChecksum(b, 0, 20);
    const inc = checksumUpdate16(hc, m, m2);
    // Both are valid one's complement representations; the header must verify with the incremental one.
    b[10] = inc >>> 8;
    b[11] = inc & 0xff;
    assert.ok(checksumValid(b, 0, 20), `word ${w}: ${m.toString(16)}→${m2.toString(16)} full ${full.toString(16)} inc ${inc.toString(16)}`);
  }
});

test('32-bit update (NAT address rewrite) verifies', () => {
  const h = bytes('450000730000400040110000c0a80001c0a800c7');
  const hc = internetChecksum(h, 0, 20);
  const nu = checksumUpdate32(hc, 0xc0a80001, 0x0a000001);
  h.set([10, 0, 0, 1], 12);
  h[10] = nu >>> 8;
  h[11] = nu & 0xff;
  assert.ok(checksumValid(h, 0, 20));
  assert.equal(nu, internetChecksum(new Uint8Array([...h.subarray(0, 10), 0, 0, ...h.subarray(12)]), 0, 20));
});

test('pseudo-header sums: IPv4 pair and IPv6 pair', () => {
  assert.equal(pseudoSum4(0xc0a80001, 0xc0a800c7, 17, 8), 0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 17 + 8);
  const a = new Uint8Array(16);
  a[15] = 1;
  const c = new Uint8Array(16);
  c[15] = 2;
  c[0] = 0xfe;
  assert.equal(pseudoSum({ v: 6, src: a, dst: c }, 58, 0x10020), 1 + 2 + 0xfe00 + 58 + 1 + 0x20);
});
