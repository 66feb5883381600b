import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

function swnet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('swnet sim --json prints the figures and the reference comparison', () => {
  const r = swnet('sim', '--trace', '20110306', '--policy', 'thr-mmt-0.8', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { policy: string; energyKWh: number; migrations: number; withinTolerance: boolean; reference: { energyKWh: number } };
  assert.equal(out.policy, 'thr-mmt-0.8');
  assert.equal(out.energyKWh.toFixed(2), '144.74');
  assert.equal(out.migrations, 20908);
  assert.equal(out.withinTolerance, true);
  assert.equal(out.reference.energyKWh, 144.74);
  assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
});

test('swnet sim --compare writes a self-contained report with four SVG plots', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swsim-'));
  try {
    const rep = join(dir, 'r.html');
    const r = swnet('sim', '--trace', '20110306', '--compare', 'dvfs,urbanizer', '--report', rep, '--hosts', '800');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /dvfs\s+625\.53/);
    assert.match(r.stdout, /urbanizer\s+\d+\.\d\d\s+\d+/);
    const html = readFileSync(rep, 'utf8');
    assert.equal((html.match(/<svg /g) ?? []).length, 4);
    assert.ok(!/src=|href="http/.test(html), 'nothing external');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('swnet sim rejects a bad policy, a missing trace and a malformed file with exit code 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swsim-'));
  try {
    let r = swnet('sim', '--trace', '20110303', '--policy', 'xyz');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown policy 'xyz'/);
    r = swnet('sim', '--trace', 'no-such-day');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no trace 'no-such-day'/);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, '# c\nvm1,10,20\nvm2,10,zz\n');
    r = swnet('sim', '--trace', bad);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.csv:3: column 3/);
    const cfg = join(dir, 'u.json');
    writeFileSync(cfg, JSON.stringify({ packk: 0.9 }));
    r = swnet('sim', '--trace', '20110303', '--policy', 'urbanizer', '--urbanizer', cfg);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown urbanizer key 'packk'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
