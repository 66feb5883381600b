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
