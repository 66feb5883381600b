import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ApiClient } from '../client.js';
import { apply, getResource } from '../manifest/apply.js';
import { GOOD } from '../manifest/fixtures.js';
import { parseManifestText } from '../manifest/load.js';
import { keyOf, newMigration } from '../migrations.js';
import { placementKey, type Placement } from '../placement.js';
import type { JsonObject } from '../store/contract.js';
import { MemoryStore } from '../store/memory.js';
import { TokenAuth } from './auth.js';
import { openApiDocument } from './openapi.js';
import { ApiServer } from './server.js';

const ADMIN = 'admin-token-0123456789';
const TA = 'tenant-a-token-0123456789';
const TB = 'tenant-b-token-0123456789';

describe('API: migrations and server operations', () => {
  it('migrate, list (tenants see their own), drain, uncordon, fail; typed errors; in the OpenAPI document; watch routes migrations by tenant', async () => {
    const store = new MemoryStore();
    await apply(store, parseManifestText(GOOD, 'good.yaml').resources);
    for (const [f, server] of [['r1', 's1'], ['fw', 's2'], ['lb', 's1']] as const) {
      const p: Placement = { kind: 'Placement', namespace: 'tenant-a', network: 'web', function: f, server, generation: 1, requests: { cpu: 0.5, memory: 0, bandwidth: 0 } };
      await store.put(placementKey('tenant-a', 'web', f), p as unknown as JsonObject);
    }
    const other = newMigration({ namespace: 'tenant-b', network: 'x', function: 'y', from: 's1', to: 's2', reason: 'overload' });
    await store.put(keyOf(other), other as unknown as JsonObject);
    const server = new ApiServer({ store, auth: new TokenAuth([{ name: 'ops', token: ADMIN, admin: true }, { name: 'tenant-a', token: TA }, { name: 'tenant-b', token: TB }]), version: 'test' });
    const { url } = await server.listen(0, '127.0.0.1');
    const admin = new ApiClient({ server: url, token: ADMIN });
    const ta = new ApiClient({ server: url, token: TA });
    const wsMessages: Record<string, unknown>[] = [];
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/watch?kind=migrations`, { headers: { Authorization: `Bearer ${TA}` } });
    ws.on('message', (d: Buffer) => wsMessages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await new Promise((r) => ws.once('open', r));
    try {
      const m = await admin.migrate('tenant-a', 'web', 'lb', 's2');
      assert.deepEqual([m.kind, m.function, m.from, m.to, m.reason, m.phase], ['Migration', 'lb', 's1', 's2', 'operator', 'pending']);
      await assert.rejects(admin.migrate('tenant-a', 'web', 'lb', 's3'), (e: unknown) => e instanceof Error && e.name === 'NotFoundError');
      await assert.rejects(admin.migrate('tenant-a', 'web', 'lb', 's1'), (e: unknown) => e instanceof Error && e.name === 'MigrationRefusedError' && /already runs on s1/.test(e.message));
      await assert.rejects(admin.migrate('tenant-a', 'web', 'lb', 's2'), (e: unknown) => e instanceof Error && e.name === 'MigrationRefusedError' && /already migrating/.test(e.message));
      await assert.rejects(admin.migrate('tenant-a', 'web', 'nope', 's1'), (e: unknown) => e instanceof Error && e.name === 'NotFoundError');
      await assert.rejects(ta.migrate('tenant-a', 'web', 'fw', 's1'), (e: unknown) => e instanceof Error && e.name === 'ForbiddenError');
      const bad = await fetch(`${url}/api/v1/namespaces/tenant-a/softwarenetworks/web/functions/fw/migrate`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' }, body: '{"to":"s1","now":1}' });
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { message: string }).message, /unknown field\(s\) now/);
      // Lists: the admin sees both namespaces, tenant-a only its own.
      assert.deepEqual((await admin.migrations()).map((x) => x.namespace).sort(), ['tenant-a', 'tenant-b']);
      assert.deepEqual((await ta.migrations()).map((x) => x.id), [m.id]);
      await assert.rejects(ta.migrations('tenant-b'), (e: unknown) => e instanceof Error && e.name === 'ForbiddenError');
      // Server operations.
      assert.match((await admin.serverOp('s1', 'drain')).message, /server s1 cordoned/);
      assert.equal((await getResource(store, 'Server', 's1')).spec['unschedulable'], true);
      assert.match((await admin.serverOp('s1', 'uncordon')).message, /uncordoned/);
      assert.equal((await getResource(store, 'Server', 's1')).spec['unschedulable'], undefined);
      assert.match((await admin.serverOp('s2', 'fail')).message, /told to fail/);
      assert.equal(((await store.get('/swnet/command/s2'))?.value as JsonObject)['action'], 'fail');
      await assert.rejects(admin.serverOp('zz', 'drain'), (e: unknown) => e instanceof Error && e.name === 'NotFoundError');
      await assert.rejects(ta.serverOp('s1', 'drain'), (e: unknown) => e instanceof Error && e.name === 'ForbiddenError');
      // The watch gave tenant-a its migration, never tenant-b's.
      const later = newMigration({ namespace: 'tenant-b', network: 'x', function: 'z', from: 's1', to: 's2', reason: 'overload' });
      await store.put(keyOf(later), later as unknown as JsonObject);
      for (let i = 0; i < 100 && wsMessages.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(wsMessages.map((x) => [x['type'], (x['object'] as { id: string }).id]), [['ADDED', m.id]]);
      // OpenAPI: the routes are documented.
      const doc = openApiDocument('test') as { paths: Record<string, Record<string, unknown>> };
      for (const p of ['/api/v1/namespaces/{namespace}/softwarenetworks/{name}/functions/{function}/migrate', '/api/v1/servers/{name}/drain', '/api/v1/servers/{name}/uncordon', '/api/v1/servers/{name}/fail']) assert.ok(doc.paths[p]?.['post'], p);
      assert.ok(doc.paths['/api/v1/migrations']?.['get']);
    } finally {
      ws.close();
      await server.close();
    }
  });
});
