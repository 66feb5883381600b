import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Realtime, RealtimeError, schedOf, threadId } from './realtime.js';
import { migrateDomain } from './migration.js';
import { routerBed } from './migration-bed.js';
import { AgentRuntime } from './agent-runtime.js';

const root = process.getuid?.() === 0;

test('without the right to change scheduling, opening the helper is a RealtimeError that says why', async () => {
  if (!root) return assert.rejects(Realtime.open(), (e: Error) => e.name === 'RealtimeError' && /SCHED_FIFO/.test(e.message));
  // As root: the same from a child process running as nobody, on a copy of the module (it imports
  // only node: builtins) where nobody may read it (a checkout may sit in a 0700 directory).
  const dir = mkdtempSync(join(tmpdir(), 'swrt-'));
  chmodSync(dir, 0o755);
  const mod = join(dir, 'realtime.mjs');
  copyFileSync(fileURLToPath(new URL('./realtime.js', import.meta.url)), mod);
  chmodSync(mod, 0o644);
  const code = `import('${pathToFileURL(mod).href}').then((m) => m.Realtime.open()).then(() => console.log('opened'), (e) => console.log(e.name + ': ' + e.message));`;
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', code], { uid: 65534, gid: 65534, cwd: '/' });
    let s = '';
    c.stdout.on('data', (d: Buffer) => (s += d.toString()));
    c.on('error', reject);
    c.on('exit', () => resolve(s));
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
  assert.match(out, /^RealtimeError: SCHED_FIFO: .*(not permitted|denied)/i);
});

test('the helper sets a thread to SCHED_FIFO and back, and refuses bad requests', { skip: root ? false : 'needs root (CI runs as root)' }, async () => {
  const rt = await Realtime.open();
  const tid = threadId();
  try {
    assert.deepEqual(schedOf(tid), { policy: 'other', priority: 0 });
    await rt.set(tid, 7);
    assert.deepEqual(schedOf(tid), { policy: 'fifo', priority: 7 });
    // SCHED_RESET_ON_FORK: a thread this one starts begins at normal priority.
    const child = await new Promise<unknown>((resolve, reject) => {
      const w = new Worker(`const { parentPort } = require('node:worker_threads'); const fs = require('node:fs');
        const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
        const f = fs.readFileSync('/proc/' + process.pid + '/task/' + tid + '/stat', 'latin1');
        const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
        parentPort.postMessage({ priority: Number(x[37]), policy: Number(x[38]) });`, { eval: true });
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.deepEqual(child, { priority: 0, policy: 0 });
    await rt.set(tid, 0);
    assert.deepEqual(schedOf(tid), { policy: 'other', priority: 0 });
    await assert.rejects(rt.set(tid, 99), (e: Error) => e instanceof RealtimeError && /priority/.test(e.message));
    await assert.rejects(rt.set(-3, 5), (e: Error) => e instanceof RealtimeError && /thread id/.test(e.message));
    // A thread that does not exist: chrt's refusal comes back as the error.
    await assert.rejects(rt.set(2 ** 22 + 12345, 5), (e: Error) => e.name === 'RealtimeError' && e.message.includes(`thread ${2 ** 22 + 12345}`));
  } finally {
    await rt.set(tid, 0).catch(() => undefined);
    rt.close();
  }
  await assert.rejects(rt.set(tid, 5), /closed/);
});

test('a real-time server runs domain 0 above its workers; a migration target warms up below them and is raised at the switch; close restores normal scheduling', { skip: root ? false : 'needs root (CI runs as root)' }, async () => {
  const bed = await routerBed({ kpps: 20, flows: 4, servers: 2, realtime: 10 });
  const dom0 = threadId();
  try {
    const [s1, s2] = bed.hosts;
    assert.ok(s1 && s2);
    assert.deepEqual(schedOf(dom0), { policy: 'fifo', priority: 11 });
    const src = s1.domainList()[0];
    assert.ok(src);
    assert.deepEqual(schedOf(src.domain.tid), { policy: 'fifo', priority: 10 });
    assert.deepEqual(s1.realtimeStatus(), { priority: 10, dom0Tid: dom0, failed: 0 });
    const seen: string[] = [];
    const rec = await migrateDomain({
      from: s1,
      domain: bed.domain,
      to: s2,
      ...(bed.link ? { link: bed.link } : {}),
      reason: 'operator',
      onPhase: (e) => {
        const t = s2.domainList()[0];
        if (t && (e.phase === 'state-copied' || e.phase === 'switched')) seen.push(`${e.phase}: ${schedOf(t.domain.tid).policy} ${schedOf(t.domain.tid).priority}`);
      },
    });
    assert.equal(rec.outcome, 'done');
    assert.deepEqual(seen, ['state-copied: fifo 9', 'switched: fifo 10']);
    const r = await bed.finish();
    assert.equal(r.lost, 0);
  } finally {
    await bed.close();
  }
  assert.deepEqual(schedOf(dom0), { policy: 'other', priority: 0 });
});

test('an agent runtime asked for real time runs its domain 0 at SCHED_FIFO, and gives it back on close', { skip: root ? false : 'needs root (CI runs as root)' }, async () => {
  const rt = await AgentRuntime.open({ name: 'rt-agent', idleWorkers: 0, realtime: 12 });
  try {
    assert.equal(rt.host.realtimePriority, 12);
    assert.deepEqual(schedOf(threadId()), { policy: 'fifo', priority: 13 });
  } finally {
    await rt.close();
  }
  assert.deepEqual(schedOf(threadId()), { policy: 'other', priority: 0 });
  await assert.rejects(AgentRuntime.open({ name: 'rt-agent', idleWorkers: 0, realtime: 98 }), (e: Error) => e.name === 'RealtimeError');
  assert.deepEqual(schedOf(threadId()), { policy: 'other', priority: 0 });
});
