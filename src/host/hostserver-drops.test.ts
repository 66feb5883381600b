import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../packet/pool.js';
import { HostServer } from './hostserver.js';

/** A 64-byte Ethernet frame. */
const frame = (): Uint8Array => Uint8Array.from({ length: 64 }, (_, i) => (i < 12 ? 2 : i === 12 ? 0x88 : i === 13 ? 0xb6 : 0));

function inject(h: HostServer, from: number, n: number): void {
  const b = new Batch();
  for (let k = 0; k < n; k++) assert.ok(h.pool.load(frame(), b) >= 0);
  h.forward(from, b);
}

test('HostServer.dropsOf: drops are charged per network, per batch; the host-wide counters are their sum', async () => {
  // Rings of 64 descriptors and no pump: a 256-frame batch to a virtual NIC overflows its rx ring.
  const h = new HostServer({ name: 't', slots: 2048, domain: { ringCapacity: 64, watchdogMs: 5000 } });
  try {
    const { attachments } = await h.addDomain({ name: 'a', contexts: [{ network: 'A', functions: [{ name: 'w', kind: 'fault', config: { armed: false } }], wires: [] }], vnics: [{ context: 0, port: 'w.a' }] });
    const tapA = h.attachExternal('A', 'A:in', () => false);
    h.bridge.wire(tapA, attachments[0] as number);
    const tapB = h.attachExternal('B', 'B:in', () => false); // not wired: its frames have no peer
    inject(h, tapA, 256);
    inject(h, tapB, 10);
    inject(h, tapB, 7);
    const a = h.dropsOf('A');
    const b = h.dropsOf('B');
    assert.ok(a.ringFull >= 256 - 64, `ringFull ${a.ringFull}`);
    assert.deepEqual({ ...a, ringFull: 0 }, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 });
    assert.deepEqual(b, { unwired: 17, ringFull: 0, queueFull: 0, noBuffer: 0 });
    assert.deepEqual(h.dropsOf('C'), { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 });
    assert.deepEqual(h.drops, { unwired: 17, ringFull: a.ringFull, queueFull: 0, noBuffer: 0 });
    // A copy, not a live view.
    h.dropsOf('B').unwired = 99;
    assert.equal(h.dropsOf('B').unwired, 17);
  } finally {
    await h.close();
  }
});
