import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ApiClient, type WatchMessage } from '../client.js';
import { ManifestError } from '../manifest/load.js';
import { GOOD } from '../manifest/fixtures.js';
import type { Resource } from '../manifest/types.js';
import { MemoryStore } from '../store/memory.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/contract.js';
import { TokenAuth } from './auth.js';
import { ApiServer } from './server.js';
import { until as untilShared } from '../../testkit/until.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const ADMIN = 'admin-token-0123456789';
const TA = 'tenant-a-token-0123456789';
const TB = 'tenant-b-token-0123456789';
const TOKENS = [
  { name: 'ops', token: ADMIN, admin: true },
  { name: 'tenant-a', token: TA },
  { name: 'tenant-b', token: TB, namespaces: ['tenant-b'] },
];

const net = (name: string, ns: string, tokens = 5): string => `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  tokens: ${tokens}
  functions:
    - name: sw
      kind: switch
      config: { ports: [{ name: a }, { name: b }] }
`;

async function raw(url: string, path: string, init: { method?: string; token?: string; body?: string; type?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers['Authorization'] = `Bearer ${init.token}`;
  if (init.type !== undefined) headers['Content-Type'] = init.type;
  const res = await fetch(`${url}${path}`, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: init.body } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function withApi(store: Store, fn: (url: string) => Promise<void>): Promise<void> {
  const api = new ApiServer({ store, auth: new TokenAuth(TOKENS), version: 'test' });
  const { url } = await api.listen(0, '127.0.0.1');
  try {
    await fn(url);
  } finally {
    await api.close();
  }
}

/** Collects watch messages until `n` have arrived. */
function collect(api: ApiClient, opts: Parameters<ApiClient['watch']>[0]): { msgs: WatchMessage[]; until(n: number): Promise<void>; h: ReturnType<ApiClient['watch']> } {
  const msgs: WatchMessage[] = [];
  let wake: (() => void) | undefined;
  const h = api.watch(opts, (m) => {
    msgs.push(m);
    wake?.();
  });
  return {
    msgs,
    h,
    async until(n) {
      const deadline = Date.now() + 5000;
      while (msgs.length < n) {
        if (Date.now() > deadline) throw new Error(`watch: ${msgs.length}/${n} messages after 5 s: ${JSON.stringify(msgs.map((m) => [m.type, m.key]))}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
    },
  };
}

const until = <T>(what: string, f: () => Promise<T | undefined>): Promise<T> => untilShared(what, f, 10_000, 50);

function crudAndWatch(backend: string, open: () => Store): void {
  describe(`API over ${backend}`, () => {
    it('CRUD, manifest apply (atomic, positions on error), watch in order with resume, compaction error', async () => {
      const store = open();
      try {
        await withApi(store, async (url) => {
          const admin = new ApiClient({ server: url, token: ADMIN });
          const a = new ApiClient({ server: url, token: TA });
          assert.equal((await admin.health()).status, 'ok');
          const start = (await admin.health()).revision;
          const w = collect(admin, { resourceVersion: start, kind: 'SoftwareNetwork' });
          await w.h.opened;

          // Apply of a whole manifest (admin: infrastructure + networks).
          const res = await admin.apply([{ file: 'good.yaml', text: GOOD }]);
          assert.deepEqual(
            res.changes.map((c) => `${c.kind}/${c.name} ${c.action}`),
            ['Datacenter/edge-paris created', 'Server/s1 created', 'Server/s2 created', 'Link/s1-s2 created', 'SoftwareNetwork/web created', 'UserNetworkTemplate/home created'],
          );
          assert.ok((await admin.apply([{ file: 'good.yaml', text: GOOD }])).changes.every((c) => c.action === 'unchanged'));

          // Create, read, update, list, delete one object.
          const created = await a.apply([{ file: 'n1.yaml', text: net('n1', 'tenant-a') }]);
          assert.equal(created.changes[0]?.action, 'created');
          const n1 = await a.get('SoftwareNetwork', 'n1', 'tenant-a');
          assert.equal(n1.spec['tokens'], 5);
          assert.equal(n1.metadata.generation, 1);
          const upd: Resource = { ...n1, spec: { ...n1.spec, tokens: 7 } };
          const put = await a.put(upd);
          assert.equal(put.change.action, 'configured');
          assert.deepEqual(put.change.fields, ['spec.tokens']);
          assert.equal(put.object?.metadata.generation, 2);
          const put2 = await a.put({ apiVersion: 'swnet.io/v1', kind: 'SoftwareNetwork', metadata: { name: 'n2', namespace: 'tenant-a' }, spec: { functions: [{ name: 'x', kind: 'switch', config: { ports: [{ name: 'a' }, { name: 'b' }] } }] } });
          assert.equal(put2.change.action, 'created');
          assert.deepEqual((await a.list('SoftwareNetwork')).map((r) => r.metadata.name), ['n1', 'n2', 'web']);
          assert.equal((await a.delete('SoftwareNetwork', 'n2', 'tenant-a')).change.action, 'deleted');
          await assert.rejects(a.get('SoftwareNetwork', 'n2', 'tenant-a'), { name: 'NotFoundError' });
          await assert.rejects(a.delete('SoftwareNetwork', 'n2', 'tenant-a'), { name: 'NotFoundError' });
          const afterCrud = (await admin.health()).revision;

          // A manifest with one good and one bad object: 422, every position, nothing applied.
          const bad = `${net('n3', 'tenant-a')}---\napiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata:\n  name: n4\n  namespace: tenant-a\nspec:\n  tokens: -3\n  colour: red\n  functions: []\n`;
          const r422 = await raw(url, '/api/v1/apply?file=bad.yaml', { method: 'POST', token: TA, body: bad, type: 'application/yaml' });
          assert.equal(r422.status, 422);
          assert.equal(r422.body['reason'], 'ManifestError');
          const issues = r422.body['issues'] as { file: string; line: number; column: number; message: string }[];
          assert.ok(issues.length >= 2, JSON.stringify(issues));
          assert.ok(issues.every((i) => i.file === 'bad.yaml' && i.line >= 19), JSON.stringify(issues));
          assert.ok(issues.some((i) => i.line === 20 && /colour/.test(i.message)), JSON.stringify(issues));
          await assert.rejects(a.apply([{ file: 'bad.yaml', text: bad }]), (e: unknown) => e instanceof ManifestError && e.issues.length === issues.length);
          assert.equal((await admin.health()).revision, afterCrud, 'a rejected apply wrote nothing');
          await assert.rejects(a.get('SoftwareNetwork', 'n3', 'tenant-a'), { name: 'NotFoundError' });
          // Path and body must agree; a body that is not YAML is a 422 with its position.
          const mismatch = await raw(url, '/api/v1/namespaces/tenant-a/softwarenetworks/other', { method: 'PUT', token: TA, body: net('n1', 'tenant-a'), type: 'application/yaml' });
          assert.equal(mismatch.status, 400);
          assert.equal((await raw(url, '/api/v1/apply', { method: 'POST', token: TA, body: 'a: [1,', type: 'application/yaml' })).status, 422);

          // The watch saw every SoftwareNetwork change, in order.
          await w.until(5);
          w.h.close();
          assert.equal(await w.h.closed, undefined);
          const seen = w.msgs.map((m) => `${m.type} ${m.key}`);
          assert.deepEqual(seen, [
            'ADDED /swnet/softwarenetwork/tenant-a/web',
            'ADDED /swnet/softwarenetwork/tenant-a/n1',
            'MODIFIED /swnet/softwarenetwork/tenant-a/n1',
            'ADDED /swnet/softwarenetwork/tenant-a/n2',
            'DELETED /swnet/softwarenetwork/tenant-a/n2',
          ]);
          const revs = w.msgs.map((m) => m.revision ?? 0);
          assert.deepEqual(revs, [...revs].sort((x, y) => x - y));
          assert.equal((w.msgs[2]?.object as unknown as Resource).spec['tokens'], 7);

          // Resume from the revision of the second message: the later ones again, same order.
          const w2 = collect(admin, { resourceVersion: w.msgs[1]!.revision!, kind: 'sn' });
          await w2.until(3);
          assert.deepEqual(w2.msgs.slice(0, 3).map((m) => `${m.type} ${m.key}`), seen.slice(2, 5));
          // Live changes keep flowing after the replay; tenant B's watch does not see tenant A's.
          const b = new ApiClient({ server: url, token: TB });
          const wb = collect(b, {});
          await wb.h.opened;
          await a.apply([{ file: 'n5.yaml', text: net('n5', 'tenant-a') }]);
          await b.apply([{ file: 'b1.yaml', text: net('b1', 'tenant-b') }]);
          await w2.until(5);
          assert.ok(w2.msgs.some((m) => m.key === '/swnet/softwarenetwork/tenant-b/b1'));
          await wb.until(1);
          assert.ok(wb.msgs.every((m) => (m.key ?? '').includes('/tenant-b/')), JSON.stringify(wb.msgs.map((m) => m.key)));
          w2.h.close();
          wb.h.close();

          // A compacted revision ends the watch with a clear error (close code 4410).
          const now = (await admin.health()).revision;
          await store.compact(now);
          const wc = collect(admin, { resourceVersion: 1 });
          const err = await wc.h.closed;
          assert.equal(err?.name, 'CompactedError');
          assert.match(err?.message ?? '', /compacted/);
        });
      } finally {
        await store.close();
      }
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'swnet-api-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
crudAndWatch('SQLite', () => new SqliteStore({ dataDir: join(dir, `db${n++}`) }));
crudAndWatch('memory', () => new MemoryStore());

describe('API authentication and OpenAPI', () => {
  let store: Store;
  before(() => {
    store = new SqliteStore({ dataDir: join(dir, 'auth') });
  });
  after(() => store.close());

  it('401 without or with a bad token, 403 on another tenant or on infrastructure, 200 on its own', async () => {
    await withApi(store, async (url) => {
      const admin = new ApiClient({ server: url, token: ADMIN });
      await admin.apply([{ file: 'good.yaml', text: GOOD }, { file: 'a.yaml', text: net('na', 'tenant-a') }, { file: 'b.yaml', text: net('nb', 'tenant-b') }]);
      const A_NET = '/api/v1/namespaces/tenant-a/softwarenetworks/na';
      const B_NET = '/api/v1/namespaces/tenant-b/softwarenetworks/nb';
      const SERVER = '/api/v1/servers/s1';
      const cases: [string, string | undefined, string, number][] = [
        ['GET', undefined, A_NET, 401],
        ['GET', 'not-a-token-at-all', A_NET, 401],
        ['GET', TA, A_NET, 200],
        ['GET', TA, B_NET, 403],
        ['GET', TA, SERVER, 403],
        ['DELETE', TA, B_NET, 403],
        ['DELETE', TA, SERVER, 403],
        ['GET', TA, '/api/v1/servers', 403],
        ['GET', TB, B_NET, 200],
        ['GET', TB, A_NET, 403],
        ['GET', ADMIN, SERVER, 200],
        ['GET', ADMIN, A_NET, 200],
        ['GET', undefined, '/healthz', 200],
        ['GET', ADMIN, '/api/v1/nothing', 404],
        ['PATCH', ADMIN, SERVER, 405],
      ];
      for (const [method, token, path, want] of cases) {
        const r = await raw(url, path, { method, ...(token !== undefined ? { token } : {}) });
        assert.equal(r.status, want, `${method} ${path} with ${token ?? 'no token'}: ${JSON.stringify(r.body)}`);
        if (want >= 400) assert.equal(r.body['code'], want);
      }
      const put = await raw(url, SERVER, { method: 'PUT', token: TA, type: 'application/yaml', body: 'apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: s1 }\nspec: { datacenter: edge-paris, capacity: { cpu: 1, memory: 1Gi } }\n' });
      assert.equal(put.status, 403);
      assert.match(String(put.body['message']), /admin/);
      // A tenant's manifest that touches another tenant changes nothing, not even its own part.
      const rev = (await admin.health()).revision;
      const mixed = await raw(url, '/api/v1/apply', { method: 'POST', token: TA, type: 'application/yaml', body: `${net('na', 'tenant-a', 9)}---\n${net('nb', 'tenant-b', 9)}` });
      assert.equal(mixed.status, 403);
      assert.match(String(mixed.body['message']), /SoftwareNetwork tenant-b\/nb/);
      assert.equal((await admin.health()).revision, rev);
      // Lists and events are filtered to what the tenant may see.
      const a = new ApiClient({ server: url, token: TA });
      assert.deepEqual((await a.list('SoftwareNetwork')).map((r) => `${r.metadata.namespace}/${r.metadata.name}`), ['tenant-a/na', 'tenant-a/web']);
      await assert.rejects(a.list('SoftwareNetwork', { namespace: 'tenant-b' }), { name: 'ForbiddenError' });
      assert.deepEqual(await a.whoami(), { name: 'tenant-a', admin: false, namespaces: ['tenant-a'] });
      // The watch upgrade is authenticated too.
      const anon = new ApiClient({ server: url });
      await assert.rejects(anon.watch({}, () => undefined).opened, { name: 'UnauthorizedError' });
      await assert.rejects(a.watch({ kind: 'Server' }, () => undefined).opened, { name: 'ForbiddenError' });
      const top = await a.top();
      assert.deepEqual(top.servers, []);
      assert.deepEqual(top.networks.map((x) => x.name), ['na', 'web']);
    });
  });

  it('serves a valid OpenAPI 3 document that covers every route, and every documented route exists', async () => {
    await withApi(store, async (url) => {
      const r = await fetch(`${url}/openapi.json`);
      assert.equal(r.status, 200);
      const doc = JSON.parse(await r.text()) as { openapi: string; info: { title: string }; paths: Record<string, Record<string, { responses: Record<string, unknown>; operationId: string }>>; components: { schemas: Record<string, unknown> } };
      assert.match(doc.openapi, /^3\.0\.\d$/);
      const expected: [string, string][] = [
        ['get', '/healthz'],
        ['get', '/openapi.json'],
        ['post', '/api/v1/apply'],
        ['post', '/api/v1/delete'],
        ['get', '/api/v1/events'],
        ['get', '/api/v1/watch'],
        ['get', '/api/v1/top'],
        ['get', '/api/v1/placements'],
      ];
      for (const [plural, namespaced] of [['datacenters', false], ['servers', false], ['links', false], ['softwarenetworks', true], ['usernetworktemplates', true]] as const) {
        expected.push(['get', `/api/v1/${plural}`]);
        const one = namespaced ? `/api/v1/namespaces/{namespace}/${plural}/{name}` : `/api/v1/${plural}/{name}`;
        if (namespaced) expected.push(['get', `/api/v1/namespaces/{namespace}/${plural}`]);
        expected.push(['get', one], ['put', one], ['delete', one]);
      }
      for (const [m, p] of expected) assert.ok(doc.paths[p]?.[m], `${m.toUpperCase()} ${p} is documented`);
      // Every $ref resolves; operation ids are unique.
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]!);
      for (const ref of refs) assert.ok(doc.components.schemas[ref], `schema ${ref} exists`);
      const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
      assert.equal(new Set(ids).size, ids.length);
      // Every documented operation is served (no 404/405 "no route").
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const method of Object.keys(ops)) {
          if (path === '/api/v1/watch' || path === '/metrics') continue; // not JSON; metrics.test.ts scrapes it
          const concrete = path.replace('{namespace}', 'tenant-a').replace('{name}', 'zz');
          const res = await raw(url, concrete, { method: method.toUpperCase(), token: ADMIN, type: 'application/yaml', body: method === 'get' || method === 'delete' ? undefined as unknown as string : '' });
          assert.notEqual(res.body['reason'], 'RouteNotFoundError', `${method} ${path}`);
          assert.ok(res.status < 500, `${method} ${path}: ${JSON.stringify(res.body)}`);
        }
      }
    });
  });
});

describe('API robustness', () => {
  it('answers malformed requests with typed 4xx statuses and keeps serving', async () => {
    const store = new MemoryStore();
    const api = new ApiServer({ store, auth: new TokenAuth(TOKENS), maxBody: 1024 });
    const { url } = await api.listen(0);
    try {
      const cases: [string, string, string | undefined, string | undefined, number, string][] = [
        ['GET', '/api/v1/namespaces/%E0%A4%A/softwarenetworks', undefined, undefined, 404, 'RouteNotFoundError'],
        ['POST', '/api/v1/apply', 'x'.repeat(5000), 'application/yaml', 413, 'PayloadTooLargeError'],
        ['POST', '/api/v1/apply', '{"manifests": 3}', 'application/json', 400, 'BadRequestError'],
        ['POST', '/api/v1/apply', '{not json', 'application/json', 400, 'BadRequestError'],
        ['POST', '/api/v1/apply', 'a: &x [*x]\n', 'application/yaml', 422, 'ManifestError'],
        ['POST', '/api/v1/apply', '', 'application/yaml', 400, 'BadRequestError'],
        ['PUT', '/api/v1/servers/s1', '--- 1\n--- 2\n', 'application/yaml', 422, 'ManifestError'],
        ['GET', '/api/v1/events?kind=nothing&name=x', undefined, undefined, 400, 'BadRequestError'],
        ['GET', '/api/v1/watch', undefined, undefined, 400, 'BadRequestError'],
      ];
      for (const [method, path, body, type, code, reason] of cases) {
        const r = await raw(url, path, { method, token: ADMIN, ...(body !== undefined ? { body } : {}), ...(type !== undefined ? { type } : {}) });
        assert.equal(r.status, code, `${method} ${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body['reason'], reason, `${method} ${path}`);
      }
      const admin = new ApiClient({ server: url, token: ADMIN });
      await assert.rejects(admin.watch({ kind: 'nothing' }, () => undefined).opened, { name: 'BadRequestError' });
      const status = await new Promise<number | undefined>((resolve) => {
        const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/watch?resourceVersion=abc&token=${ADMIN}`);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
      assert.equal(status, 400);
      assert.equal((await admin.health()).status, 'ok');
      await assert.rejects(new ApiClient({ server: 'http://127.0.0.1:1', token: ADMIN }).health(), { name: 'ApiUnreachableError' });
    } finally {
      await api.close();
      await store.close();
    }
  });
});

describe('swnet CLI against the API server', () => {
  const run = (args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, SWNET_SERVER: '', SWNET_TOKEN: '', ...env }, encoding: 'utf8' }, (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }));
    });

  it('apply, get, describe, events, top and delete go through --server/--token (or SWNET_SERVER/SWNET_TOKEN)', async () => {
    const store = new MemoryStore();
    try {
      await withApi(store, async (url) => {
        const file = join(dir, 'cli.yaml');
        writeFileSync(file, GOOD);
        const a = await run(['apply', '-f', file, '--server', url, '--token', ADMIN]);
        assert.equal(a.code, 0, a.err);
        assert.match(a.out, /^softwarenetwork\/web -n tenant-a created$/m);
        assert.ok(await store.get('/swnet/server/s1'), 'written through the API into the server store');
        const env = { SWNET_SERVER: url, SWNET_TOKEN: TA };
        const badFile = join(dir, 'bad.yaml');
        writeFileSync(badFile, net('x', 'tenant-a').replace('tokens: 5', 'tokens: many'));
        // Independent commands run side by side (each CLI start costs about a second here).
        const [g, forbidden, d, missing, ev, t, bad, unauth] = await Promise.all([
          run(['get', 'sn', 'web', '-n', 'tenant-a', '-o', 'json'], env),
          run(['get', 'servers'], env),
          run(['describe', 'sn', 'web', '-n', 'tenant-a'], env),
          run(['get', 'sn', 'nope', '-n', 'tenant-a'], env),
          run(['events', '-n', 'tenant-a', '-o', 'json'], env),
          run(['top', '-o', 'json', '--server', url, '--token', ADMIN]),
          run(['apply', '-f', badFile], env),
          run(['get', 'sn', '-n', 'tenant-a', '--server', url, '--token', 'wrong-token-123']),
        ]);
        assert.equal(g.code, 0, g.err);
        assert.equal((JSON.parse(g.out) as Resource).spec['tokens'], 10);
        assert.equal(forbidden.code, 1);
        assert.match(forbidden.err, /error: tenant-a may not list Server objects/);
        assert.equal(d.code, 0, d.err);
        assert.match(d.out, /^Name:\s+web$/m);
        assert.match(missing.err, /softwarenetwork "nope" not found in namespace tenant-a/);
        assert.equal(ev.code, 0, ev.err);
        assert.deepEqual(JSON.parse(ev.out), { items: [] });
        assert.equal(t.code, 0, t.err);
        assert.deepEqual((JSON.parse(t.out) as { servers: { name: string }[] }).servers.map((s) => s.name), ['s1', 's2']);
        assert.equal(bad.code, 1);
        assert.match(bad.err, new RegExp(`${badFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:7:\\d+: `));
        assert.match(unauth.err, /unknown or revoked token/);
        // swnet watch replays from a revision through the WebSocket stream, then runs until SIGINT.
        const watcher = spawn(process.execPath, [MAIN, 'watch', 'sn', '--resource-version', '0', '-o', 'json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        let wout = '';
        watcher.stdout.on('data', (c: Buffer) => (wout += c.toString()));
        const wexit = new Promise<number | null>((r) => watcher.on('exit', (code) => r(code)));
        await until('swnet watch output', async () => (wout.includes('\n') ? true : undefined));
        watcher.kill('SIGINT');
        assert.equal(await wexit, 0);
        const first = JSON.parse(wout.split('\n')[0]!) as WatchMessage;
        assert.equal(first.type, 'ADDED');
        assert.equal(first.key, '/swnet/softwarenetwork/tenant-a/web');
        const del = await run(['delete', '-f', file, '--server', url, '--token', ADMIN]);
        assert.equal(del.code, 0, del.err);
        assert.match(del.out, /^server\/s1 deleted$/m);
        assert.equal(await store.get('/swnet/server/s1'), undefined);
      });
    } finally {
      await store.close();
    }
  });

  it('swnet controller serves the API over a SQLite store and stops cleanly on SIGTERM', async () => {
    const tokens = join(dir, 'tokens.yaml');
    writeFileSync(tokens, `tokens:\n  - { name: ops, token: ${ADMIN}, admin: true }\n`);
    const child = spawn(process.execPath, [MAIN, 'controller', '--store', `sqlite:${join(dir, 'ctl')}`, '--listen', '127.0.0.1:0', '--tokens', tokens], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const deadline = Date.now() + 10_000;
      while (!/API on (http:\/\/\S+)/.test(out)) {
        if (Date.now() > deadline) throw new Error(`controller did not start: ${out} ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /API on (http:\/\/\S+)/.exec(out)![1]!;
      const admin = new ApiClient({ server: url, token: ADMIN });
      assert.equal((await admin.health()).store, 'sqlite');
      await admin.apply([{ file: 'good.yaml', text: GOOD }]);
      // The controllers run in the same process: the network gets placed and says so.
      const web = await until('web Scheduled', async () => {
        const r = await admin.get('SoftwareNetwork', 'web', 'tenant-a');
        return r.status?.conditions?.find((x) => x.type === 'Scheduled' && x.status === 'True') ? r : undefined;
      });
      assert.match(web.status?.conditions?.find((x) => x.type === 'Scheduled')?.message ?? '', /6 function\(s\) on 2 server\(s\)/);
      assert.equal((await admin.placements('tenant-a')).length, 6);
      assert.ok((await admin.events({ involved: { kind: 'SoftwareNetwork', name: 'web', namespace: 'tenant-a' } })).some((e) => e.reason === 'Scheduled'));
      const w = collect(admin, {});
      await w.h.opened;
      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
      assert.match(out, /stopped/);
      assert.ok(await w.h.closed, 'the watch was closed by the server');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
