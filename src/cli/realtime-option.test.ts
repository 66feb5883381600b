import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { realtimeOption } from './agent.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

test('--realtime takes an optional priority in 1…97 (bare: 10)', () => {
  assert.equal(realtimeOption(undefined), undefined);
  assert.equal(realtimeOption(true), 10);
  assert.equal(realtimeOption('42'), 42);
  for (const bad of ['0', '98', '2.5', 'high']) assert.throws(() => realtimeOption(bad), /--realtime: a priority in 1…97/);
});

test('swnet agent and swnet up refuse a bad --realtime before starting anything', async () => {
  for (const args of [['agent', '--server', 's1', '--store', 'memory:', '--realtime', '120'], ['up', '--empty', '--port', '0', '--realtime', 'x']]) {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = execFile(process.execPath, [MAIN, ...args], { timeout: 20_000 }, (_e, _out, err) => resolve({ code: c.exitCode, err }));
    });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /--realtime: a priority in 1…97/);
  }
});
