import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveStatic } from './static.js';

/** Raw GET (fetch would normalise `..` away before sending). */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('static: content types, SPA fallback, no traversal, HEAD', async () => {
  const base = mkdtempSync(join(tmpdir(), 'swnet-static-'));
  const root = join(base, 'web');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(root, 'assets', 'app-1.js'), 'export {}');
  writeFileSync(join(root, 'assets', 'app-1.css'), 'body{}');
  writeFileSync(join(base, 'secret.txt'), 'secret');
  const srv = createServer((req, res) => {
    void serveStatic(req, res, new URL(req.url ?? '/', 'http://x').pathname, root).then((ok) => {
      if (!ok) res.writeHead(404).end('nope');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  try {
    assert.deepEqual(await get(port, '/'), { status: 200, type: 'text/html; charset=utf-8', body: '<!doctype html><title>x</title>' });
    assert.equal((await get(port, '/assets/app-1.js')).type, 'text/javascript; charset=utf-8');
    assert.equal((await get(port, '/assets/app-1.css')).type, 'text/css; charset=utf-8');
    // A page route falls back to index.html; a missing file with an extension does not.
    assert.equal((await get(port, '/networks/tenant-a/web')).body, '<!doctype html><title>x</title>');
    assert.equal((await get(port, '/assets/missing.js')).status, 404);
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/%00', '/%E0%A4%A']) {
      const r = await get(port, p);
      assert.ok(!r.body.includes('secret'), p);
      assert.equal(r.status, 404, p);
    }
    const head = await get(port, '/assets/app-1.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await get(port, '/', 'POST')).status, 404);
  } finally {
    srv.close();
    rmSync(base, { recursive: true, force: true });
  }
});
