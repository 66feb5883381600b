import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GOOD } from '../control/manifest/fixtures.js';
import { EventRecorder, setCondition } from '../control/events.js';
import { SqliteStore } from '../control/store/sqlite.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const swnet = (...args: string[]): { code: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('swnet apply / get / delete', () => {
  it('applies, reports changes, lists, describes, rejects a bad manifest with file:line:column, deletes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-cli-'));
    try {
      const file = join(dir, 'infra.yaml');
      const data = join(dir, 'data');
      writeFileSync(file, GOOD);
      const a = swnet('apply', '-f', file, '--data-dir', data);
      assert.equal(a.code, 0, a.err);
      assert.match(a.out, /^datacenter\/edge-paris created$/m);
      assert.match(a.out, /^softwarenetwork\/web -n tenant-a created$/m);
      assert.match(swnet('apply', '-f', dir, '--data-dir', data).out, /^server\/s1 unchanged$/m);
      const g = swnet('get', 'servers', '--data-dir', data);
      assert.equal(g.code, 0, g.err);
      assert.match(g.out, /^NAME\s+DATACENTER\s+CPU\s+MEMORY\s+BANDWIDTH\s+GENERATION\s+AGE$/m);
      assert.match(g.out, /^s1\s+edge-paris\s+16\s+64GiB\s+10Gbps\s+1\s+\d+s$/m);
      const j = JSON.parse(swnet('get', 'sn', 'web', '-n', 'tenant-a', '-o', 'json', '--data-dir', data).out) as { spec: { tokens: number } };
      assert.equal(j.spec.tokens, 10);
      // Controllers' events and conditions show in describe and events.
      const store = new SqliteStore({ dataDir: data });
      await new EventRecorder(store, { component: 'scheduler' }).record({ kind: 'SoftwareNetwork', name: 'web', namespace: 'tenant-a' }, 'Warning', 'Unschedulable', 'fw: no server has 2 free CPUs');
      await setCondition(store, { kind: 'SoftwareNetwork', name: 'web', namespace: 'tenant-a' }, { type: 'Ready', status: 'False', reason: 'Unschedulable' });
      await store.close();
      const desc = swnet('describe', 'sn', 'web', '-n', 'tenant-a', '--data-dir', data);
      assert.equal(desc.code, 0, desc.err);
      assert.match(desc.out, /^Namespace:\s+tenant-a$/m);
      assert.match(desc.out, /^ {4}Ready\s+False\s+Unschedulable\s+\d+s\s*$/m);
      assert.match(desc.out, /^ {2}\d+s\s+Warning\s+Unschedulable\s+1\s+scheduler\s+fw: no server has 2 free CPUs$/m);
      const evs = swnet('events', '--for', 'sn/web', '-n', 'tenant-a', '--data-dir', data);
      assert.match(evs.out, /Unschedulable\s+softwarenetwork\/web\s+1\s+scheduler/);
      assert.equal(swnet('describe', 'server', 'nope', '--data-dir', data).code, 1);
      // A bad second document: nothing of the file is applied, not even the good first one.
      writeFileSync(file, GOOD.replace('name: s2', 'name: s3').replace('tokens: 10', 'tokens: 0'));
      const bad = swnet('apply', '-f', file, '--data-dir', data);
      assert.equal(bad.code, 1);
      assert.match(bad.err, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: spec\\.tokens: must be >= 1$`, 'm'));
      assert.match(bad.err, /nothing was applied/);
      assert.equal(swnet('get', 'server', 's3', '--data-dir', data).code, 1);
      writeFileSync(file, GOOD);
      const d = swnet('delete', '-f', file, '--data-dir', data);
      assert.equal(d.code, 0, d.err);
      assert.equal(d.out.trim().split('\n').filter((l) => l.endsWith(' deleted')).length, 6);
      assert.match(swnet('get', 'dc', '--data-dir', data).err, /no datacenters found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
