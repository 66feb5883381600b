import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const TOKEN = 'up-test-token-0123456789';

interface Run {
  out: string;
  err: string;
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  stop(): Promise<number | null>;
}

function up(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...(args[0] === 'start' ? args : ['up', ...args])], { env: { ...process.env, SWNET_ADMIN_TOKEN: TOKEN, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Run = {
    out: '',
    err: '',
    waitFor: (re, ms = 20000) =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const poll = (): void => {
          const m = re.exec(r.out);
          if (m) return resolve(m);
          if (child.exitCode !== null || Date.now() - t0 > ms) return reject(new Error(`no ${re} in stdout:\n${r.out}\nstderr:\n${r.err}`));
          setTimeout(poll, 50);
        };
        poll();
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
  child.stdout.on('data', (b: Buffer) => (r.out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (r.err += b.toString()));
  return r;
}

test('swnet up: store + API + controllers + servers in one process; traffic flows; SIGTERM stops cleanly; a restart resumes from the store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-up-'));
  try {
    const a = up(['--data-dir', dir, '--port', '0', '--servers', '2', '--status-interval', '300']);
    try {
      const [, url] = await a.waitFor(/API on (http:\/\/127\.0\.0\.1:\d+)/);
      await a.waitFor(/servers 2\/2 active, 1 networks, 4 functions placed, [\d.]+ W, sinks received [1-9]/);
      const res = await fetch(`${url}/api/v1/servers`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { items: { metadata: { name: string }; status?: { agent?: { vxlan?: string } } }[] };
      assert.deepEqual(body.items.map((s) => s.metadata.name).sort(), ['s1', 's2']);
      assert.ok(body.items.every((s) => typeof s.status?.agent?.vxlan === 'string'), 'agents wrote their status');
    } finally {
      assert.equal(await a.stop(), 0);
    }
    assert.match(a.out, /swnet up: stopped/);
    assert.doesNotMatch(a.err, /AgentError|Cannot read/);

    const b = up(['--empty', '--data-dir', dir, '--port', '0', '--servers', '2', '--status-interval', '300']);
    try {
      await b.waitFor(/servers 2\/2 active, 1 networks, 4 functions placed, [\d.]+ W, sinks received [1-9]/);
      assert.doesNotMatch(b.err, /Server s\d created/, 'the servers came from the store');
    } finally {
      assert.equal(await b.stop(), 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('swnet start (npm start) runs the embedded mode with the example network: traffic crosses servers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-start-'));
  try {
    const r = up(['start'], { SWNET_DATA_DIR: dir, SWNET_PORT: '0', SWNET_STATUS_INTERVAL: '300' });
    try {
      await r.waitFor(/swnet up: API on http:\/\/127\.0\.0\.1:\d+/);
      await r.waitFor(/servers 3\/3 active, 1 networks, 4 functions placed, [\d.]+ W, sinks received [1-9]/);
    } finally {
      assert.equal(await r.stop(), 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
