import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../store/memory.js';
import type { Compare, Op, TxnResult } from '../store/contract.js';
import { apply, getResource, listResources, remove, ApplyConflictError } from './apply.js';
import { parseManifestText, ManifestError, type LoadedResource } from './load.js';
import { GOOD } from './fixtures.js';
import { resourceKey } from './types.js';

const load = (text: string): LoadedResource[] => {
  const { resources, issues } = parseManifestText(text, 't.yaml');
  assert.deepEqual(issues, []);
  return resources;
};

describe('apply and delete', () => {
  it('creates, then is idempotent: no write, no generation bump', async () => {
    const s = new MemoryStore();
    const items = load(GOOD);
    const r1 = await apply(s, items);
    assert.deepEqual(r1.changes.map((c) => `${c.kind}/${c.name}:${c.action}:${c.generation}`), [
      'Datacenter/edge-paris:created:1',
      'Server/s1:created:1',
      'Server/s2:created:1',
      'Link/s1-s2:created:1',
      'SoftwareNetwork/web:created:1',
      'UserNetworkTemplate/home:created:1',
    ]);
    assert.equal(r1.revision, await s.revision());
    const all = (await s.list('/swnet/')).items;
    assert.equal(all.length, 6);
    assert.ok(all.every((kv) => kv.modRevision === r1.revision), 'one transaction');
    const web = (await listResources(s, 'SoftwareNetwork', { namespace: 'tenant-a', name: 'web' }))[0]!;
    assert.equal(web.metadata.namespace, 'tenant-a');
    assert.match(web.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(web.metadata.resourceVersion, String(r1.revision));
    const dry = await apply(s, load(GOOD.replace('tokens: 10', 'tokens: 11')), { dryRun: true });
    assert.deepEqual(dry.changes.filter((c) => c.action !== 'unchanged').map((c) => [c.name, c.action, c.fields]), [['web', 'configured', ['spec.tokens']]]);
    assert.equal(await s.revision(), r1.revision, 'a dry run writes nothing');
    const r2 = await apply(s, load(GOOD));
    assert.ok(r2.changes.every((c) => c.action === 'unchanged' && c.generation === 1));
    assert.equal(r2.revision, r1.revision);
    assert.equal(await s.revision(), r1.revision);
  });

  it('configures a changed spec (generation+1, fields named) and keeps status and uid', async () => {
    const s = new MemoryStore();
    await apply(s, load(GOOD));
    const key = resourceKey('SoftwareNetwork', 'web', 'tenant-a');
    const cur = (await s.get(key))!;
    const withStatus = { ...(cur.value as object), status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }] } };
    await s.put(key, withStatus);
    const uid = (await listResources(s, 'SoftwareNetwork', { namespace: 'tenant-a', name: 'web' }))[0]!.metadata.uid;
    const r = await apply(s, load(GOOD.replace('tokens: 10', 'tokens: 20').replace('labels: { region: eu-west }', 'labels: { region: eu-south }')));
    const byName = new Map(r.changes.map((c) => [c.name, c]));
    assert.equal(byName.get('web')?.action, 'configured');
    assert.equal(byName.get('web')?.generation, 2);
    assert.deepEqual(byName.get('web')?.fields, ['spec.tokens']);
    assert.equal(byName.get('edge-paris')?.action, 'configured');
    assert.equal(byName.get('edge-paris')?.generation, 1, 'a label change does not bump the generation');
    assert.deepEqual(byName.get('edge-paris')?.fields, ['metadata.labels.region']);
    assert.equal(byName.get('s1')?.action, 'unchanged');
    const web = (await listResources(s, 'SoftwareNetwork', { namespace: 'tenant-a', name: 'web' }))[0]!;
    assert.equal(web.metadata.uid, uid);
    assert.equal(web.status?.observedGeneration, 1);
    assert.equal(web.spec['tokens'], 20);
  });

  it('rejects a set with an unknown reference and writes nothing', async () => {
    const s = new MemoryStore();
    const bad = load(GOOD.replace('datacenter: [edge-paris]', 'datacenter: [edge-london]'));
    const before = await s.revision();
    await assert.rejects(apply(s, bad), (e: unknown) => {
      assert.ok(e instanceof ManifestError);
      assert.equal(e.issues.length, 1);
      assert.match(e.message, /^t\.yaml:\d+:\d+: spec\.placement\.datacenter\[0\]: unknown datacenter "edge-london"$/);
      return true;
    });
    assert.equal(await s.revision(), before);
    assert.equal((await s.list('/swnet/')).items.length, 0);
    // The datacenter already in the store satisfies the reference.
    await apply(s, load(GOOD).slice(0, 1));
    const servers = load(GOOD).slice(1, 3);
    assert.equal((await apply(s, servers)).changes.filter((c) => c.action === 'created').length, 2);
  });

  it('retries when a concurrent writer wins, and gives up atomically', async () => {
    const s = new MemoryStore();
    const items = load(GOOD);
    let raced = 0;
    const racing = Object.create(s) as MemoryStore;
    racing.txn = async (c: readonly Compare[], o: readonly Op[]): Promise<TxnResult> => {
      if (raced++ < 1) await s.put(resourceKey('Server', 's2'), { intruder: true });
      return s.txn(c, o);
    };
    const r = await apply(racing, items);
    assert.equal(raced, 2);
    assert.equal(r.changes.find((c) => c.name === 's2')?.action, 'configured');
    const s2 = new MemoryStore();
    const always = Object.create(s2) as MemoryStore;
    always.txn = async (c: readonly Compare[], o: readonly Op[]): Promise<TxnResult> => {
      await s2.put('/swnet/server/s1', { n: Math.random() });
      return s2.txn(c, o);
    };
    await assert.rejects(apply(always, items, { attempts: 3 }), (e: unknown) => e instanceof ApplyConflictError && e.name === 'ApplyConflictError');
    assert.deepEqual((await s2.list('/swnet/')).items.map((i) => i.key), ['/swnet/server/s1']);
  });

  it('delete removes everything the manifest created, atomically', async () => {
    const s = new MemoryStore();
    await s.put('/swnet/datacenter/other', { keep: true });
    await apply(s, load(GOOD));
    const d = await remove(s, load(GOOD));
    assert.ok(d.changes.every((c) => c.action === 'deleted'));
    assert.equal(d.changes.length, 6);
    assert.deepEqual((await s.list('/swnet/')).items.map((i) => i.key), ['/swnet/datacenter/other']);
    await assert.rejects(getResource(s, 'Server', 's1'), (e: unknown) => e instanceof Error && e.name === 'NotFoundError' && /\/swnet\/server\/s1/.test(e.message));
    const again = await remove(s, load(GOOD));
    assert.ok(again.changes.every((c) => c.action === 'not found'));
    assert.equal(again.revision, d.revision);
  });
});
