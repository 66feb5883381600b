import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, storeConformance } from './conformance.js';
import { EtcdStore } from './etcd.js';
import { startEtcd, type EtcdProcess } from './etcd-process.js';

// One etcd for the whole file; each conformance test works under its own key prefix.
let etcd: EtcdProcess | undefined;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

storeConformance('etcd', async () => new EtcdStore({ hosts: etcd!.url }));

describe('etcd specifics', () => {
  it('a watch resumes across an etcd crash and restart without losing or repeating events', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-etcd-restart-'));
    let e = await startEtcd({ dataDir: dir });
    const s = new EtcdStore({ hosts: e.url });
    try {
      const c = await collect(s, '/restart/');
      await s.put('/restart/a', { v: 1 });
      await c.waitFor(1);
      e.child.kill('SIGKILL');
      await new Promise((r) => e.child.once('exit', r));
      e = await startEtcd({ dataDir: dir, clientPort: e.clientPort, peerPort: e.peerPort });
      let wrote = false;
      for (let i = 0; i < 50 && !wrote; i++) {
        wrote = await s.put('/restart/b', { v: 2 }).then(
          () => true,
          () => new Promise<boolean>((r) => setTimeout(() => r(false), 200)),
        );
      }
      assert.ok(wrote, 'etcd back');
      await s.put('/restart/c', { v: 3 });
      const ev = await c.waitFor(3, 20_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(c.events.map((x) => x.key), ['/restart/a', '/restart/b', '/restart/c']);
      assert.ok(ev[1]!.revision < ev[2]!.revision);
      await c.cancel();
    } finally {
      await s.close();
      await e.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
