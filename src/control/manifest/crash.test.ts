/**
 * Issue 5 "Reliability tests": kill -9 a process in the middle of 1,000 applies; after
 * reopening the store every acknowledged apply is there and none is half there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd, type EtcdProcess } from '../store/etcd-process.js';
import { openStore } from '../store/open.js';
import { CRASH_OBJECTS_PER_APPLY, crashManifest } from './crash-child.js';
import { apply } from './apply.js';
import { parseManifestText } from './load.js';
import { resourceKey } from './types.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));

/** Runs the child, SIGKILLs it after `killAfter` acknowledgements, returns the acked ids. */
async function runAndKill(storeUrl: string, killAfter: number, count = 1000): Promise<{ acked: number[]; signal: string | null }> {
  const child = spawn(process.execPath, [CHILD, '--store', storeUrl, '--count', String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: number[] = [];
  let buf = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) {
      const m = /^ack (\d+)$/.exec(l);
      if (m) acked.push(Number(m[1]));
    }
    if (acked.length >= killAfter && child.exitCode === null && !child.killed) child.kill('SIGKILL');
  });
  const signal = await new Promise<string | null>((res) => child.on('close', (_code, sig) => res(sig)));
  assert.equal(err, '', 'child wrote to stderr');
  return { acked, signal };
}

async function verify(storeUrl: string, acked: number[]): Promise<{ complete: number }> {
  const store = await openStore({ store: storeUrl });
  try {
    const present = new Map<number, number>();
    const count = (i: number): void => void present.set(i, (present.get(i) ?? 0) + 1);
    for (const prefix of ['/swnet/datacenter/', '/swnet/server/', '/swnet/softwarenetwork/crash/']) {
      for (const kv of (await store.list(prefix)).items) {
        const m = /crash-(\d+)/.exec(kv.key);
        if (m) count(Number(m[1]));
      }
    }
    for (const [i, n] of present) assert.equal(n, CRASH_OBJECTS_PER_APPLY, `apply ${i} is half there (${n} of ${CRASH_OBJECTS_PER_APPLY} objects)`);
    for (const i of acked) assert.equal(present.get(i), CRASH_OBJECTS_PER_APPLY, `acknowledged apply ${i} is missing`);
    assert.ok(await store.get(resourceKey('SoftwareNetwork', `crash-${acked.at(-1)}`, 'crash')));
    // At most the one apply in flight at the kill may be there unacknowledged.
    assert.ok(present.size - acked.length <= 1, `${present.size} present, ${acked.length} acked`);
    // The store works after the crash: re-applying the last acknowledged set changes nothing,
    // and the next one is created whole.
    const last = acked.at(-1)!;
    const again = await apply(store, parseManifestText(crashManifest(last), 'again.yaml').resources);
    assert.ok(again.changes.every((c) => c.action === 'unchanged'));
    const next = await apply(store, parseManifestText(crashManifest(5000), 'next.yaml').resources);
    assert.equal(next.changes.filter((c) => c.action === 'created').length, CRASH_OBJECTS_PER_APPLY);
    return { complete: present.size };
  } finally {
    await store.close();
  }
}

const killAt = (): number => 150 + Math.floor(Math.random() * 250);

describe('kill -9 in the middle of 1,000 applies', () => {
  it('sqlite: every acknowledged apply survives, none is half-applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-crash-'));
    try {
      const url = `sqlite:${dir}`;
      const { acked, signal } = await runAndKill(url, killAt());
      assert.equal(signal, 'SIGKILL', 'killed before finishing');
      assert.ok(acked.length >= 150 && acked.length < 1000);
      await verify(url, acked);
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(join(dir, 'store.db'), { readonly: true });
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sqlite: two processes applying the same manifests at once both succeed, nothing duplicated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-crash-'));
    try {
      const url = `sqlite:${dir}`;
      const [a, b] = await Promise.all([runAndKill(url, Infinity, 100), runAndKill(url, Infinity, 100)]);
      assert.equal(a.acked.length, 100);
      assert.equal(b.acked.length, 100);
      const { complete } = await verify(url, a.acked);
      assert.equal(complete, 100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('etcd', () => {
    let etcd: EtcdProcess | undefined;
    before(async () => {
      etcd = await startEtcd();
    });
    after(async () => {
      await etcd?.stop();
    });
    it('etcd: every acknowledged apply survives, none is half-applied', async () => {
      const url = etcd!.url.replace('http://', 'etcd://');
      const { acked, signal } = await runAndKill(url, killAt());
      assert.equal(signal, 'SIGKILL', 'killed before finishing');
      await verify(url, acked);
    });
  });
});
