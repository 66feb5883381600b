import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GOOD } from '../control/manifest/fixtures.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const swnet = (...args: string[]): { code: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('swnet user', () => {
  it('connects a user from a template and disconnects it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-user-'));
    try {
      const data = join(dir, 'data');
      writeFileSync(join(dir, 'good.yaml'), GOOD);
      assert.equal(swnet('apply', '-f', join(dir, 'good.yaml'), '--data-dir', data).code, 0);
      const c = swnet('user', 'connect', 'alice', '--template', 'home', '--data-dir', data);
      assert.equal(c.code, 0, c.err);
      assert.equal(c.out, 'softwarenetwork/user-alice created\n');
      assert.match(swnet('get', 'sn', '--data-dir', data).out, /^user-alice\s+2\s+1\s/m);
      const bad = swnet('user', 'connect', 'bob', '--template', 'nope', '--data-dir', data);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /not found: \/swnet\/usernetworktemplate\/default\/nope/);
      assert.equal(swnet('user', 'disconnect', 'alice', '--data-dir', data).out, 'user alice disconnected\n');
      assert.equal(swnet('user', 'disconnect', 'alice', '--data-dir', data).out, 'user alice was not connected\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
