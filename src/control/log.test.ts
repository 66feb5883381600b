import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from './store/memory.js';
import { TokenAuth } from './api/auth.js';
import { ApiServer } from './api/server.js';
import { createLogger, lineLog, parseLogOptions, prettyLine } from './log.js';

/** Collects written lines. */
function sink(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(...s.split('\n').filter((l) => l !== '')) };
}

test('API server: one JSON line per request with method, path (no query), status, ms, user', async () => {
  const store = new MemoryStore();
  const out = sink();
  const logger = createLogger({ sink: out, base: { daemon: 'test' } });
  const api = new ApiServer({ store, auth: new TokenAuth([{ name: 'ops', token: 'admin-token-0123456789', admin: true }]), webRoot: null, logger });
  const { url } = await api.listen(0, '127.0.0.1');
  try {
    const ok = await fetch(`${url}/api/v1/servers?labelSelector=x`, { headers: { authorization: 'Bearer admin-token-0123456789' } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    // The record is written when the response finishes: wait for it.
    for (let i = 0; i < 50 && out.lines.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(out.lines.length, 1, out.lines.join('\n'));
    const rec = JSON.parse(out.lines[0]!) as Record<string, unknown>;
    assert.deepEqual([rec['method'], rec['path'], rec['status'], rec['user'], rec['component'], rec['level'], rec['daemon']], ['GET', '/api/v1/servers', 200, 'ops', 'api', 30, 'test']);
    assert.ok(typeof rec['ms'] === 'number' && rec['ms'] >= 0 && rec['ms'] < 5000);
    assert.equal(typeof rec['time'], 'number');
    assert.equal(rec['msg'], 'GET /api/v1/servers 200');

    const denied = await fetch(`${url}/api/v1/servers`, { headers: { authorization: 'Bearer wrong' } });
    await denied.arrayBuffer();
    for (let i = 0; i < 50 && out.lines.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(out.lines.length, 2);
    const rec2 = JSON.parse(out.lines[1]!) as Record<string, unknown>;
    assert.deepEqual([rec2['status'], rec2['user']], [401, null]);
  } finally {
    await api.close();
  }
  // Without a logger the server logs nothing (tests stay quiet): nothing to capture, nothing thrown.
  const quiet = new ApiServer({ store, auth: new TokenAuth([]), webRoot: null });
  const q = await quiet.listen(0, '127.0.0.1');
  await (await fetch(`${q.url}/healthz`)).arrayBuffer();
  await quiet.close();
  await store.close();
});

test('lineLog: the callbacks seam — component and subject from the prefix, warn for failures; levels filter', () => {
  const out = sink();
  const log = lineLog(createLogger({ sink: out, level: 'info' }), 'up');
  log('agent s1: default/voip created (r1, r2)');
  log('network-controller: default/web: cannot place fw');
  log('port 7700 is in use: taking a free one');
  const recs = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(recs.map((r) => [r['component'], r['subject'], r['level'], r['msg']]), [
    ['agent', 's1', 30, 'default/voip created (r1, r2)'],
    ['network-controller', undefined, 40, 'default/web: cannot place fw'],
    ['up', undefined, 30, 'port 7700 is in use: taking a free one'],
  ]);
  const w = sink();
  lineLog(createLogger({ sink: w, level: 'warn' }))('urbanizer: s2 to standby (night)');
  assert.deepEqual(w.lines, []);
});

test('pretty: one concise line per record, key=value for the rest; parseLogOptions rejects bad values', () => {
  const out = sink();
  createLogger({ sink: out, format: 'pretty' }).info({ component: 'api', method: 'GET', path: '/healthz', status: 200, ms: 1.5, user: 'a b' }, 'GET /healthz 200');
  assert.equal(out.lines.length, 1);
  assert.match(out.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO  api GET \/healthz 200 method=GET path=\/healthz status=200 ms=1\.5 user="a b"$/);
  assert.equal(prettyLine('{"level":50,"time":0,"component":"agent","subject":"s1","msg":"lease lost"}'), '00:00:00.000 ERROR agent/s1 lease lost\n');
  assert.equal(prettyLine('not json'), 'not json\n');
  assert.deepEqual(parseLogOptions({}), { level: 'info', format: 'json' });
  assert.deepEqual(parseLogOptions({ logLevel: 'debug', logFormat: 'pretty' }), { level: 'debug', format: 'pretty' });
  assert.throws(() => parseLogOptions({ logLevel: 'loud' }), (e: Error) => e.name === 'LogOptionError' && /--log-level/.test(e.message));
  assert.throws(() => parseLogOptions({ logFormat: 'xml' }), (e: Error) => e.name === 'LogOptionError' && /--log-format/.test(e.message));
});
