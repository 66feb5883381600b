import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../packet/pool.js';
import { HostServer } from './hostserver.js';
import { DomainPool } from './domain-pool.js';
import { FAULT_ETHERTYPE, FAULT_THROW } from './fault.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function frame(seq: number, etherType = 0x88b6, first?: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set([0x02, 0, 0, 0, 0, 0xff, 0x02, 0, 0, 0, 0, 7], 0);
  f[12] = etherType >> 8;
  f[13] = etherType & 0xff;
  new DataView(f.buffer).setUint32(15, seq);
  if (first !== undefined) f[14] = first;
  return f;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

test('pooled domains: started from an idle worker that gets its configuration by message, they forward in order, crash and restart (from the pool again), keep their state by export, and give every slot back', async () => {
  const pool = new DomainPool(2);
  const h = new HostServer({ name: 'pool', slots: 2048, domain: { pool, watchdogMs: 2000 } });
  h.start();
  try {
    await until(() => pool.available === 2);
    const free0 = h.pool.available;
    const got: number[] = [];
    const { domain, attachments } = await h.addDomain({ name: 'p', contexts: [{ network: 'p', functions: [{ name: 'w', kind: 'fault', config: { armed: true } }], wires: [] }], vnics: [{ context: 0, port: 'w.a' }, { context: 0, port: 'w.b' }] });
    assert.equal(pool.taken, 1, 'the domain took an idle worker');
    const inAtt = h.attachExternal('p', 'in', () => false);
    const outAtt = h.attachExternal('p', 'out', (b) => {
      for (let k = 0; k < b.count; k++) got.push(new DataView(h.pool.frame(b, k).slice().buffer).getUint32(15));
      return false;
    });
    h.bridge.wire(inAtt, attachments[0] as number);
    h.bridge.wire(attachments[1] as number, outAtt);
    const send = (frames: Uint8Array[]): void => {
      const b = new Batch();
      for (const f of frames) h.pool.load(f, b);
      h.forward(inAtt, b);
    };
    send(Array.from({ length: 200 }, (_, i) => frame(i)));
    await until(() => got.length === 200);
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i));
    assert.deepEqual(await domain.exportState(), [[{ passed: 200 }]]);
    // A crash: the restart takes the replacement the pool started meanwhile.
    await until(() => pool.available === 2);
    send([frame(200, FAULT_ETHERTYPE, FAULT_THROW)]);
    await until(() => domain.restarts === 1 && domain.state === 'running');
    assert.equal(pool.taken, 2, 'the restart took an idle worker too');
    send([frame(201)]);
    await until(() => got.length === 201);
    assert.equal(got.at(-1), 201);
    await h.removeDomain(domain.id);
    assert.equal(h.pool.available, free0);
  } finally {
    await h.close();
    await pool.close();
  }
  assert.equal(pool.available, 0);
});

test('a destroyed domain parks its worker (no thread exit): the next domain runs on the same thread with fresh functions; beyond the pool size parked workers are terminated later', async () => {
  const pool = new DomainPool(0);
  const h = new HostServer({ name: 'park', slots: 1024, domain: { pool, watchdogMs: 2000 } });
  h.start();
  const spec = { contexts: [{ network: 'p', functions: [{ name: 'w', kind: 'fault', config: {} }], wires: [] }], vnics: [{ context: 0, port: 'w.a' }, { context: 0, port: 'w.b' }] };
  try {
    const threads = new Set<number>();
    let exits = 0;
    for (let round = 0; round < 3; round++) {
      const { domain, attachments } = await h.addDomain({ name: `p${round}`, ...spec });
      // The worker's thread id, as the domain 0 side sees it (private field read only by this test).
      const w = (domain as unknown as { worker: import('node:worker_threads').Worker }).worker;
      threads.add(w.threadId);
      w.once('exit', () => exits++);
      const got: number[] = [];
      const inAtt = h.attachExternal('p', `in${round}`, () => false);
      const outAtt = h.attachExternal('p', `out${round}`, (b) => {
        got.push(b.count);
        return false;
      });
      h.bridge.wire(inAtt, attachments[0] as number);
      h.bridge.wire(attachments[1] as number, outAtt);
      const b = new Batch();
      for (let i = 0; i < 10; i++) h.pool.load(frame(i), b);
      h.forward(inAtt, b);
      await until(() => got.reduce((n, x) => n + x, 0) === 10);
      assert.deepEqual(await domain.exportState(), [[{ passed: 10 }]], 'a fresh function on a reused thread');
      await h.removeDomain(domain.id);
      assert.equal(pool.parked, round + 1, 'its worker was parked, not terminated');
      assert.equal(pool.available, 1);
    }
    assert.equal(threads.size, 1, 'every domain ran on the first one\'s thread');
    assert.equal(exits, 0);
    // Beyond the pool's size (0 here): terminated once no park or take came for a while.
    await until(() => pool.available === 0, 6000);
  } finally {
    await h.close();
    await pool.close();
  }
});
