import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GOOD } from '../control/manifest/fixtures.js';
import { TokenAuth } from '../control/api/auth.js';
import { ApiServer } from '../control/api/server.js';
import { apply, getResource } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { MemoryStore } from '../control/store/memory.js';

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

  it('remote mode (--server/--token): admin and the owning tenant connect and disconnect; other tenants get 403', async () => {
    const store = new MemoryStore();
    // The template in namespace isp (a tenant's), and in default (admin's).
    await apply(store, parseManifestText(GOOD.replace('  name: home\n', '  name: home\n  namespace: isp\n'), 'g.yaml').resources.filter((x) => x.resource.kind === 'UserNetworkTemplate'));
    await apply(store, parseManifestText(GOOD, 'g.yaml').resources.filter((x) => x.resource.kind === 'UserNetworkTemplate'));
    await apply(store, parseManifestText(GOOD.replace('  name: home\n', '  name: office\n  namespace: isp\n'), 'g.yaml').resources.filter((x) => x.resource.kind === 'UserNetworkTemplate'));
    const auth = new TokenAuth([
      { name: 'ops', token: 'admin-token-0123', admin: true },
      { name: 'isp', token: 'isp-token-01234567' },
      { name: 'other', token: 'other-token-0123456' },
    ]);
    const api = new ApiServer({ store, auth, webRoot: null });
    const { url } = await api.listen(0, '127.0.0.1');
    const run = (...args: string[]): Promise<{ code: number; out: string; err: string }> =>
      new Promise((resolve) => execFile(process.execPath, [MAIN, ...args, '--server', url], (e, out, err) => resolve({ code: e ? Number(e.code ?? 1) : 0, out, err })));
    try {
      // A tenant without -n: its own namespace.
      const c = await run('user', 'connect', 'Carol', '-t', 'home', '--token', 'isp-token-01234567');
      assert.equal(c.code, 0, c.err);
      assert.equal(c.out, 'softwarenetwork/user-carol -n isp created\n');
      const net = await getResource(store, 'SoftwareNetwork', 'user-carol', 'isp');
      assert.equal(net.metadata.labels?.['swnet.io/user'], 'Carol');
      assert.equal((await run('user', 'connect', 'Carol', '-t', 'home', '--token', 'isp-token-01234567')).out, 'softwarenetwork/user-carol -n isp unchanged\n');
      // Another tenant may not touch isp's users.
      const denied = await run('user', 'disconnect', 'Carol', '-n', 'isp', '--token', 'other-token-0123456');
      assert.equal(denied.code, 1);
      assert.match(denied.err, /other may not disconnect users in SoftwareNetwork objects in namespace 'isp'/);
      const noTpl = await run('user', 'connect', 'Dan', '-t', 'nope', '--token', 'isp-token-01234567');
      assert.equal(noTpl.code, 1);
      assert.match(noTpl.err, /not found: \/swnet\/usernetworktemplate\/isp\/nope/);
      // Connected with another template: 409 with the reason.
      const conflict = await fetch(`${url}/api/v1/users/Carol/connect`, { method: 'POST', headers: { Authorization: 'Bearer admin-token-0123', 'Content-Type': 'application/json' }, body: JSON.stringify({ template: 'office', namespace: 'isp' }) });
      assert.equal(conflict.status, 409);
      assert.equal(((await conflict.json()) as { reason: string }).reason, 'UserConflictError');
      const bad = await fetch(`${url}/api/v1/users/Carol/connect`, { method: 'POST', headers: { Authorization: 'Bearer admin-token-0123' }, body: '{"tmpl": "home"}' });
      assert.equal(bad.status, 400);
      assert.equal((await fetch(`${url}/api/v1/users/Carol/connect`, { method: 'POST', body: '{}' })).status, 401);
      // The admin: default namespace unless -n.
      assert.equal((await run('user', 'connect', 'eve', '-t', 'home', '--token', 'admin-token-0123')).out, 'softwarenetwork/user-eve created\n');
      assert.equal((await run('user', 'disconnect', 'Carol', '-n', 'isp', '--token', 'admin-token-0123')).out, 'user Carol disconnected\n');
      assert.equal((await run('user', 'disconnect', 'Carol', '--token', 'isp-token-01234567')).out, 'user Carol was not connected\n');
      assert.equal((await store.list('/swnet/softwarenetwork/isp/')).items.length, 0);
      // In the OpenAPI document, with their body schemas.
      const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
      assert.ok(doc.paths['/api/v1/users/{id}/connect']?.['post']?.requestBody);
      assert.ok(doc.paths['/api/v1/users/{id}/disconnect']?.['post']);
    } finally {
      await api.close();
      await store.close();
    }
  });
});
