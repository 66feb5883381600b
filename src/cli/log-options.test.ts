import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const TOKEN = 'log-test-token-0123456789';

/** Runs `swnet controller` on a free port until `f` is done; returns its stderr. */
async function controller(args: string[], f: (url: string) => Promise<void>): Promise<string> {
  const child = spawn(process.execPath, [MAIN, 'controller', '--store', 'memory:', '--listen', '127.0.0.1:0', ...args], { env: { ...process.env, SWNET_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    const t0 = Date.now();
    let m: RegExpExecArray | null = null;
    while (!(m = /API on (http:\/\/\S+) /.exec(out))) {
      if (child.exitCode !== null || Date.now() - t0 > 15000) throw new Error(`controller did not start:\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await f(m[1] as string);
  } finally {
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await done;
  }
  return err;
}

test('swnet controller: JSON lines on stderr (start, each request, shutdown); --log-format pretty; a bad --log-level is refused', async () => {
  const err = await controller([], async (url) => {
    const r = await fetch(`${url}/api/v1/servers`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    await new Promise((res) => setTimeout(res, 100));
  });
  const recs = err.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  const reqs = recs.filter((r) => r['path'] === '/api/v1/servers');
  assert.equal(reqs.length, 1, err);
  assert.deepEqual([reqs[0]!['method'], reqs[0]!['status'], reqs[0]!['user'], reqs[0]!['daemon']], ['GET', 200, 'admin', 'controller']);
  assert.ok(recs.some((r) => r['component'] === 'controller' && r['msg'] === 'started'));
  assert.ok(recs.some((r) => r['msg'] === 'SIGTERM: shutting down'));

  const pretty = await controller(['--log-format', 'pretty', '--log-level', 'info'], async (url) => {
    await (await fetch(`${url}/healthz`)).arrayBuffer();
    await new Promise((res) => setTimeout(res, 100));
  });
  assert.match(pretty, /^\d\d:\d\d:\d\d\.\d{3} INFO  api GET \/healthz 200 .*user=null/m);

  const bad = spawnSync(process.execPath, [MAIN, 'controller', '--store', 'memory:', '--listen', '127.0.0.1:0', '--log-level', 'loud'], { encoding: 'utf8', timeout: 15000 });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--log-level takes trace, debug, info, warn, error, fatal, silent \(got 'loud'\)/);
});
