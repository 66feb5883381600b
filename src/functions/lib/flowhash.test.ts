import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flowHash4, flowHashBytes, fmix32, hashString } from './flowhash.js';

test('flowhash: sequential addresses and ports spread evenly over a few next hops', () => {
  for (const buckets of [2, 3, 4, 8, 16]) {
    const n = new Array<number>(buckets).fill(0);
    for (let i = 0; i < 64000; i++) {
      const h = flowHash4(0x0a000000 + (i >>> 6), 0xc0000201, 1024 + (i & 63), 443, 6);
      n[h % buckets] = (n[h % buckets] as number) + 1;
    }
    const mean = 64000 / buckets;
    for (const x of n) assert.ok(Math.abs(x - mean) < mean * 0.05, `${buckets} buckets: ${n.join(',')}`);
  }
});

test('flowhash: avalanche — flipping one input bit flips about half the output bits', () => {
  let flipped = 0;
  let trials = 0;
  for (let i = 0; i < 2000; i++) {
    const src = Math.imul(i, 0x9e3779b1) >>> 0;
    const base = flowHash4(src, 0x0a000001, 1000, 80, 17);
    const bit = i % 32;
    const h = flowHash4((src ^ (1 << bit)) >>> 0, 0x0a000001, 1000, 80, 17);
    let x = (base ^ h) >>> 0;
    while (x) { flipped += x & 1; x >>>= 1; }
    trials += 32;
  }
  assert.ok(Math.abs(flipped / trials - 0.5) < 0.02, String(flipped / trials));
});

test('flowhash: bytes version reads ports only for TCP/UDP/SCTP, covers IPv6, seeds differ', () => {
  const b = new Uint8Array(64);
  b.set([10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0x00, 0x00, 0x50], 0);
  const tcp = flowHashBytes(b, 0, 4, 4, 6, 8, 4);
  b[9] = 1; // another source port
  assert.notEqual(flowHashBytes(b, 0, 4, 4, 6, 8, 4), tcp);
  const icmp1 = flowHashBytes(b, 0, 4, 4, 1, 8, 4);
  b[9] = 2;
  assert.equal(flowHashBytes(b, 0, 4, 4, 1, 8, 4), icmp1, 'ICMP: bytes after the header are not ports');
  const v6a = flowHashBytes(b, 0, 16, 16, 17, 32, 8);
  b[15] = (b[15] as number) ^ 1;
  assert.notEqual(flowHashBytes(b, 0, 16, 16, 17, 32, 8), v6a);
  assert.notEqual(flowHash4(1, 2, 3, 4, 6, 0), flowHash4(1, 2, 3, 4, 6, 1));
  assert.notEqual(hashString('a', 1), hashString('a', 2));
  assert.equal(fmix32(0), 0);
});
