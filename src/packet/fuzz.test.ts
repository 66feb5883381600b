import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, checkParser, mutate, runFuzz, seedFrames, seedTargets } from './fuzz.js';
import { decodeFrame } from './decode.js';

const SEED = Number(process.env.SWNET_FUZZ_SEED ?? 0x5eed);
const FRAMES = Number(process.env.SWNET_FUZZ_FRAMES ?? 100_000);

test('every seed frame decodes cleanly with good checksums', () => {
  const seeds = seedFrames();
  assert.ok(seeds.length >= 25);
  for (const [i, s] of seeds.entries()) {
    const f = decodeFrame(s);
    assert.equal(f.error, null, `seed ${i}: ${JSON.stringify(f.error)}`);
    assert.ok(f.checksumsOk, `seed ${i} has a bad checksum`);
  }
  const kinds = new Set(seeds.flatMap((s) => decodeFrame(s).layers.map((l) => l.kind)));
  for (const k of ['eth', 'vlan', 'mpls', 'arp', 'ipv4', 'ipv6', 'ipv6-ext', 'icmp', 'icmpv6', 'udp', 'tcp', 'vxlan'] as const) assert.ok(kinds.has(k), `no seed has a ${k} layer`);
});

test('the detector catches an out-of-bounds read past len, a read before off, and a throw', () => {
  const frame = seedFrames()[0]!;
  const exact = new Uint8Array(frame);
  const pastEnd = (b: Uint8Array, off: number, len: number): unknown => ({ last: b[off + len]! });
  const before = (b: Uint8Array, off: number): unknown => ({ x: off > 0 ? b[off - 1]! : 0 });
  const thrower = (): unknown => {
    throw new RangeError('boom');
  };
  assert.match(checkParser('pastEnd', pastEnd, exact, 0) ?? '', /pastEnd@0\.last is undefined/);
  assert.match(checkParser('before', before, exact, 14) ?? '', /outside \[off, off \+ len\)/);
  assert.match(checkParser('thrower', thrower, exact, 0) ?? '', /threw: RangeError: boom/);
  assert.equal(checkParser('decodeFrame', (b, o, l) => decodeFrame(b, o, l), exact, 0), null);
});

test('mutations are deterministic for a seed and reach the typed reasons', () => {
  const seeds = seedFrames();
  const t = seedTargets(seeds);
  const a = mutate(new Rng(7), seeds[3]!, t[3]!);
  const b = mutate(new Rng(7), seeds[3]!, t[3]!);
  assert.deepEqual(a, b);
  const r = runFuzz({ frames: 5000, seed: SEED + 1 });
  assert.deepEqual(r.failures, []);
  const reasons = new Set(Object.keys(r.reasons).map((k) => k.split(':')[1] ?? k));
  for (const want of ['truncated', 'bad-length', 'bad-version', 'ihl-too-small', 'bad-option', 'bad-checksum']) assert.ok(reasons.has(want), `no mutated frame gave '${want}': ${[...reasons].join(', ')}`);
});

test(`fuzz: ${FRAMES} mutated and truncated frames through decodeFrame and every parser (seed ${SEED})`, () => {
  const t0 = performance.now();
  const r = runFuzz({ frames: FRAMES, seed: SEED });
  const ms = performance.now() - t0;
  assert.deepEqual(r.failures, [], `seed ${SEED}: ${r.failures[0]?.message} (frame ${r.failures[0]?.frameHex})`);
  const ok = r.reasons['ok'] ?? 0;
  assert.ok(ok > FRAMES / 20 && ok < FRAMES, `mix of valid and broken frames: ${ok} ok of ${FRAMES}`);
  process.stderr.write(`# fuzz: ${FRAMES} frames in ${(ms / 1000).toFixed(1)} s, ${Object.keys(r.reasons).length} distinct outcomes\n`);
});
