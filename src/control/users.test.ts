import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from './store/memory.js';
import { SqliteStore } from './store/sqlite.js';
import type { Store } from './store/contract.js';
import { apply, getResource } from './manifest/apply.js';
import { parseManifestText } from './manifest/load.js';
import { GOOD } from './manifest/fixtures.js';
import { connectUser, disconnectUser, userNetworkName } from './users.js';

async function withTemplate(s: Store): Promise<void> {
  const items = parseManifestText(GOOD.replace('  name: home\n', '  name: home\n  namespace: isp\n'), 'good.yaml').resources;
  await apply(s, items);
}

describe('per-user networks', () => {
  it('connect creates the network from the template, idempotently; disconnect removes it', async () => {
    const s = new MemoryStore();
    await withTemplate(s);
    const c = await connectUser(s, { user: 'Alice@example.org', namespace: 'isp' }, 'home');
    assert.deepEqual([c.name, c.namespace, c.action], ['user-alice-example-org', 'isp', 'created']);
    const net = await getResource(s, 'SoftwareNetwork', c.name, 'isp');
    assert.equal(net.metadata.labels?.['swnet.io/user'], 'Alice@example.org');
    assert.equal(net.metadata.labels?.['swnet.io/template'], 'home');
    assert.equal(net.spec['isolation'], 'context');
    assert.equal((net.spec['functions'] as unknown[]).length, 2);
    assert.equal((await connectUser(s, { user: 'Alice@example.org', namespace: 'isp' }, 'home')).action, 'unchanged');
    await assert.rejects(connectUser(s, { user: 'alice@example.org', namespace: 'isp' }, 'home'), (e: unknown) => e instanceof Error && e.name === 'UserConflictError');
    await assert.rejects(connectUser(s, { user: 'bob', namespace: 'isp' }, 'office'), (e: unknown) => e instanceof Error && e.name === 'NotFoundError');
    assert.equal(await disconnectUser(s, { user: 'Alice@example.org', namespace: 'isp' }), true);
    assert.equal(await disconnectUser(s, { user: 'Alice@example.org', namespace: 'isp' }), false);
    await assert.rejects(getResource(s, 'SoftwareNetwork', c.name, 'isp'));
    assert.equal(userNetworkName('x'.repeat(100)).length, 63);
    // An edited template is seen by the next connect; a deleted one is NotFoundError.
    await connectUser(s, { user: 'u1', namespace: 'isp' }, 'home');
    const edited = parseManifestText(GOOD.replace('  name: home\n', '  name: home\n  namespace: isp\n').replace('isolation: context', 'isolation: domain'), 'g.yaml').resources;
    await apply(s, edited.filter((x) => x.resource.kind === 'UserNetworkTemplate'));
    await connectUser(s, { user: 'u2', namespace: 'isp' }, 'home');
    assert.equal((await getResource(s, 'SoftwareNetwork', 'user-u1', 'isp')).spec['isolation'], 'context');
    assert.equal((await getResource(s, 'SoftwareNetwork', 'user-u2', 'isp')).spec['isolation'], 'domain');
    assert.equal((await getResource(s, 'SoftwareNetwork', 'user-u2', 'isp')).metadata.annotations?.['swnet.io/template-generation'], '2');
    await s.delete('/swnet/usernetworktemplate/isp/home');
    await assert.rejects(connectUser(s, { user: 'u3', namespace: 'isp' }, 'home'), (e: unknown) => e instanceof Error && e.name === 'NotFoundError');
  });

  it('a burst of 2,000 connects on SQLite is group-committed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-users-'));
    const s = new SqliteStore({ dataDir: dir });
    try {
      await withTemplate(s);
      const before = s.stats.commits;
      const ids = Array.from({ length: 2000 }, (_, i) => `u${i}`);
      const res = await Promise.all(ids.map((user) => connectUser(s, { user, namespace: 'isp' }, 'home')));
      assert.ok(res.every((r) => r.action === 'created'));
      assert.equal((await s.list('/swnet/softwarenetwork/isp/user-')).items.length, 2000);
      assert.ok(s.stats.commits - before < 200, `${s.stats.commits - before} commits for 2,000 connects`);
      assert.ok((await Promise.all(ids.map((user) => disconnectUser(s, { user, namespace: 'isp' })))).every(Boolean));
      assert.equal((await s.list('/swnet/softwarenetwork/isp/')).items.length, 0);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
