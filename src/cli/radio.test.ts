import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeRecording, generateRecording } from './radio.js';

test('swnet radio: generated 802.11 and LTE recordings (cf32 and ci16) analysed through classifier → receivers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'radio-cli-'));
  try {
    // Offsets that put the preamble at a frame start, mid-frame, and in the last samples of a frame
    // (recognised one frame late: the classifier's pre-roll still hands wifi-rx the whole STF).
    for (const offset of [800, 870, 990]) {
      generateRecording(join(dir, 'w'), { tech: 'wifi', rateMbps: 54, length: 321, snrDb: 15, cfoHz: -70e3, offset });
      const w = analyzeRecording(join(dir, 'w.sigmf-meta'));
      assert.deepEqual(w.bursts.map((b) => b.technology), ['wifi']);
      assert.deepEqual(w.signals.map((s) => [s.rateMbps, s.length, s.valid]), [[54, 321, true]], `offset ${offset}`);
      assert.ok(Math.abs(w.signals[0]!.sampleIndex - offset) <= 3);
      assert.equal(w.cells.length, 0);
    }
    generateRecording(join(dir, 'l'), { tech: 'lte', cellId: 419, frames: 2, snrDb: 8, cfoHz: 900, offset: 3000, datatype: 'ci16_le' });
    const l = analyzeRecording(join(dir, 'l'));
    assert.deepEqual([...new Set(l.bursts.map((b) => b.technology))], ['lte']);
    assert.ok(l.cells.length >= 2);
    for (const c of l.cells) assert.equal(c.cellId, 419);
    assert.equal(l.signals.length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
