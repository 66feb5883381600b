import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GOOD } from '../control/manifest/fixtures.js';
import { getResource } from '../control/manifest/apply.js';
import { MigrationController } from '../control/controllers/migration.js';
import { advance, keyOf, listMigrations } from '../control/migrations.js';
import { placementKey, type Placement } from '../control/placement.js';
import type { JsonObject } from '../control/store/contract.js';
import { SqliteStore } from '../control/store/sqlite.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const swnet = (...args: string[]): { code: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('swnet migrate / drain / uncordon / fail', () => {
  it('starts a migration, follows its phases with --wait, lists and describes it; drain, uncordon and fail act on the server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-migrate-cli-'));
    const data = join(dir, 'data');
    try {
      writeFileSync(join(dir, 'm.yaml'), GOOD);
      assert.equal(swnet('apply', '-f', join(dir, 'm.yaml'), '--data-dir', data).code, 0);
      const store = new SqliteStore({ dataDir: data });
      for (const [f, server] of [['r1', 's1'], ['fw', 's2'], ['lb', 's1']] as const) {
        const p: Placement = { kind: 'Placement', namespace: 'tenant-a', network: 'web', function: f, server, generation: 1, requests: { cpu: 0.5, memory: 0, bandwidth: 0 } };
        await store.put(placementKey('tenant-a', 'web', f), p as unknown as JsonObject);
      }
      const bad = swnet('migrate', 'web/lb', '--to', 's1', '-n', 'tenant-a', '--data-dir', data);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /error: tenant-a\/web\/lb already runs on s1/);
      assert.match(swnet('migrate', 'web', '--to', 's1', '--data-dir', data).err, /expected NETWORK\/FUNCTION/);
      // --wait in a child while the controller and hand-driven agent steps run here.
      const ctl = await MigrationController.start(store, { resyncMs: 20 });
      const child = spawn(process.execPath, [MAIN, 'migrate', 'web/lb', '--to', 's2', '-n', 'tenant-a', '--wait', '--timeout', '20', '--data-dir', data], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      try {
        let m;
        for (let i = 0; i < 500 && !m; i++) {
          m = (await listMigrations(store, 'tenant-a')).find((x) => x.function === 'lb');
          if (!m) await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(m, 'migration created by the CLI');
        const k = keyOf(m);
        await advance(store, k, ['pending'], 'prepared', 'agent/s2');
        await advance(store, k, ['prepared'], 'state-copied', 'agent/s1');
        await advance(store, k, ['state-copied'], 'both-running', 'agent/s2');
        for (let i = 0; i < 500 && ((await store.get(placementKey('tenant-a', 'web', 'lb')))?.value as JsonObject | undefined)?.['server'] !== 's2'; i++) await new Promise((r) => setTimeout(r, 20));
        await advance(store, k, ['switched'], 'drained', 'agent/s1', 'final state exported');
        await advance(store, k, ['drained'], 'done', 'agent/s2');
        assert.equal(await exited, 0, out);
      } finally {
        child.kill();
        await ctl.stop();
      }
      assert.match(out, /^migration lb-[0-9a-z]+-[0-9a-f]{4}: tenant-a\/web\/lb s1→s2 \(operator\)$/m);
      for (const phase of ['pending', 'prepared', 'state-copied', 'both-running', 'switched', 'drained', 'done']) assert.match(out, new RegExp(`^  ${phase}\\s`, 'm'), out);
      assert.match(out, /^  drained\s+\+\d+ms\s+at \d+ms\s+agent\/s1\s+final state exported$/m);
      assert.match(out, /^migration lb-\S+ done in \d+ms$/m);
      const g = swnet('get', 'migrations', '-n', 'tenant-a', '--data-dir', data);
      assert.equal(g.code, 0, g.err);
      assert.match(g.out, /^NAMESPACE\s+NETWORK\s+FUNCTION\s+FROM\s+TO\s+REASON\s+PHASE\s+ELAPSED\s+AGE\s+DETAIL$/m);
      assert.match(g.out, /^tenant-a\s+web\s+lb\s+s1\s+s2\s+operator\s+done\s+\d+ms\s+\d+s$/m);
      const d = swnet('describe', 'sn', 'web', '-n', 'tenant-a', '--data-dir', data);
      assert.match(d.out, /^Migrations:\n {2}lb-\S+: lb s1→s2, reason operator, done\n {4}pending/m);
      assert.match(d.out, /MigrationStarted|MigrationDone/, 'the controller recorded events on the network');

      const dr = swnet('drain', 's1', '--data-dir', data);
      assert.equal(dr.code, 0, dr.err);
      assert.match(dr.out, /server s1 cordoned/);
      assert.equal((await getResource(store, 'Server', 's1')).spec['unschedulable'], true);
      assert.match(swnet('uncordon', 's1', '--data-dir', data).out, /server s1 uncordoned/);
      assert.equal((await getResource(store, 'Server', 's1')).spec['unschedulable'], undefined);
      assert.match(swnet('fail', 's2', '--data-dir', data).out, /told to fail/);
      assert.equal(((await store.get('/swnet/command/s2'))?.value as JsonObject | undefined)?.['action'], 'fail');
      assert.match(swnet('fail', 'nope', '--data-dir', data).err, /not found/);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
