import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Batch, PacketPool } from '../packet/pool.js';
import { VxlanUplink } from './uplink.js';

/** A plain UDP socket standing for a remote VTEP: the datagrams it got, with their source ports. */
async function vtep(): Promise<{ port: number; got: { vni: number; tag: number; from: number }[]; close: () => void }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const got: { vni: number; tag: number; from: number }[] = [];
  s.on('message', (m, r) => got.push({ vni: m.readUIntBE(4, 3), tag: m[8 + 14] as number, from: r.port }));
  return { port: s.address().port, got, close: () => s.close() };
}

function frames(pool: PacketPool, tags: number[]): Batch {
  const b = new Batch();
  for (const t of tags) {
    const slot = pool.alloc();
    const off = pool.frameOffset(slot);
    pool.bytes.fill(0, off, off + 60);
    pool.bytes[off + 14] = t;
    b.push(slot, off, 60);
  }
  return b;
}

const until = async (ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
};

test('uplink: every frame reaches each remote, by the main socket until the remote’s connected socket is up, then by it; setRemotes re-points', async () => {
  const pool = new PacketPool({ slots: 64 });
  const up = await VxlanUplink.open({ address: '127.0.0.1', port: 0 }, pool);
  const a = await vtep();
  const b = await vtep();
  try {
    up.bindVni(7, 0, [{ address: '127.0.0.1', port: a.port }]);
    // At once (the connected socket is not up yet), then after a moment.
    const first = frames(pool, [1, 2]);
    up.send(7, first);
    await new Promise((r) => setTimeout(r, 50));
    const second = frames(pool, [3, 4]);
    up.send(7, second);
    await until(() => a.got.length === 4);
    assert.deepEqual(a.got.map((g) => [g.vni, g.tag]), [[7, 1], [7, 2], [7, 3], [7, 4]]);
    assert.equal(a.got[0]?.from, up.port, 'before the connect: the main socket');
    assert.notEqual(a.got[3]?.from, up.port, 'then the connected one (any outer source port, RFC 7348 §5)');
    up.setRemotes(7, [{ address: '127.0.0.1', port: b.port }]);
    await new Promise((r) => setTimeout(r, 50));
    up.send(7, frames(pool, [5]));
    await until(() => b.got.length === 1);
    assert.deepEqual(b.got.map((g) => [g.vni, g.tag]), [[7, 5]]);
    assert.equal(a.got.length, 4, 'nothing more to the old remote');
    assert.equal(up.counters().txPackets, 5);
    assert.equal(up.counters().txErrors, 0);
  } finally {
    await up.close();
    a.close();
    b.close();
  }
});
