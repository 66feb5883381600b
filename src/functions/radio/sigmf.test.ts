import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SigmfError, readSigmf, writeSigmf } from './sigmf.js';
import { Rng } from './iq.js';

function samples(n: number): Float32Array {
  const r = new Rng(4);
  const x = new Float32Array(2 * n);
  for (let i = 0; i < x.length; i++) x[i] = Math.max(-0.99, Math.min(0.99, r.gauss() * 0.2));
  return x;
}

function expectError(path: string, file: string, problem: RegExp): void {
  assert.throws(() => readSigmf(path), (e: unknown) => {
    assert.ok(e instanceof SigmfError);
    assert.equal(e.name, 'SigmfError');
    assert.equal(e.file, file);
    assert.match(e.problem, problem);
    assert.ok(e.message.startsWith(file));
    return true;
  });
}

test('sigmf: cf32_le and ci16_le round trips through our writer and reader (with captures and annotations)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'radio-sigmf-'));
  try {
    const x = samples(1000);
    writeSigmf(join(dir, 'a'), x, { sampleRate: 20e6, frequency: 2.412e9, description: 'test', annotations: [{ sampleStart: 100, sampleCount: 400, label: 'wifi' }] });
    const a = readSigmf(join(dir, 'a.sigmf-meta'));
    assert.equal(a.datatype, 'cf32_le');
    assert.equal(a.sampleRate, 20e6);
    assert.deepEqual(a.captures, [{ sampleStart: 0, frequency: 2.412e9 }]);
    assert.deepEqual(a.annotations, [{ sampleStart: 100, sampleCount: 400, label: 'wifi' }]);
    assert.equal(a.description, 'test');
    assert.deepEqual(a.samples, x);
    writeSigmf(join(dir, 'b.sigmf-data'), x, { sampleRate: 1.92e6, datatype: 'ci16_le' });
    const b = readSigmf(join(dir, 'b'));
    assert.equal(b.datatype, 'ci16_le');
    assert.equal(readFileSync(join(dir, 'b.sigmf-data')).length, 4000);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(b.samples[i]! - x[i]!) < 1 / 32767 + 1e-7);
    const meta = JSON.parse(readFileSync(join(dir, 'b.sigmf-meta'), 'utf8')) as { global: Record<string, unknown> };
    assert.equal(meta.global['core:datatype'], 'ci16_le');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sigmf: every bad file is a SigmfError naming the file and the problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'radio-sigmf-'));
  try {
    const base = join(dir, 'c');
    const meta = `${base}.sigmf-meta`;
    const data = `${base}.sigmf-data`;
    expectError(base, meta, /missing meta file/);
    writeSigmf(base, samples(100), { sampleRate: 1e6 });
    // Wrong datatype.
    const good = JSON.parse(readFileSync(meta, 'utf8')) as { global: Record<string, unknown>; annotations: unknown[] };
    writeFileSync(meta, JSON.stringify({ ...good, global: { ...good.global, 'core:datatype': 'ri8' } }));
    expectError(base, meta, /unsupported datatype "ri8"/);
    writeFileSync(meta, JSON.stringify({ ...good, global: { ...good.global, 'core:datatype': 'cu8' } }));
    expectError(base, meta, /unsupported datatype "cu8"/);
    // Malformed meta.
    writeFileSync(meta, '{ "global": ');
    expectError(base, meta, /malformed JSON/);
    writeFileSync(meta, JSON.stringify({ captures: [] }));
    expectError(base, meta, /no "global" object/);
    writeFileSync(meta, JSON.stringify({ global: { 'core:datatype': 'cf32_le' } }));
    expectError(base, meta, /core:sample_rate/);
    writeFileSync(meta, JSON.stringify({ ...good, annotations: [{ 'core:sample_start': 'x' }] }));
    expectError(base, meta, /annotations\[0\]/);
    // Truncated data: not a whole number of samples, or fewer than the annotations cover.
    writeFileSync(meta, JSON.stringify(good));
    writeFileSync(data, readFileSync(data).subarray(0, 8 * 100 - 3));
    expectError(base, data, /truncated data: 797 bytes is not a multiple of the 8-byte cf32_le sample/);
    writeFileSync(data, Buffer.alloc(8 * 50));
    writeFileSync(meta, JSON.stringify({ ...good, annotations: [{ 'core:sample_start': 40, 'core:sample_count': 20 }] }));
    expectError(base, data, /truncated data: 50 samples but an annotation ends at sample 60/);
    // Missing data file.
    unlinkSync(data);
    expectError(base, data, /missing data file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
