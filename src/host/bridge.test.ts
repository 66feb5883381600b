import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Batch } from '../packet/pool.js';
import { arpRequestFrame, icmp4EchoFrame, mplsFrame, nsFrame, udpFrame, vxlanEncap } from '../packet/frames.js';
import { HostServer } from './hostserver.js';
import { Bridge, IsolationError } from './bridge.js';
import { VxlanUplink } from './uplink.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the bridge refuses to wire two networks together', () => {
  const br = new Bridge();
  const a = br.attach('a', { kind: 'endpoint', endpoint: 0, port: 0 });
  const b = br.attach('b', { kind: 'endpoint', endpoint: 1, port: 0 });
  assert.throws(() => br.wire(a, b), (e: Error) => e.name === 'IsolationError' && e instanceof IsolationError);
});

/** Every kind of frame, marked with network `n` in the source MAC's last byte and the payload. */
function zoo(n: number, vnis: number[]): Uint8Array[] {
  const mac = (x: number): string => `02:00:00:00:0${n}:${x.toString(16).padStart(2, '0')}`;
  const l2 = { srcMac: mac(1), dstMac: 'ff:ff:ff:ff:ff:ff' };
  const out: Uint8Array[] = [
    udpFrame({ ...l2, src: `10.${n}.0.1`, dst: '10.255.255.255', srcPort: 1, dstPort: 2, payload: new Uint8Array(20).fill(n) }),
    udpFrame({ srcMac: mac(1), dstMac: '01:00:5e:00:00:fb', src: `10.${n}.0.1`, dst: '224.0.0.251', srcPort: 5353, dstPort: 5353, payload: new Uint8Array(20).fill(n) }),
    udpFrame({ srcMac: mac(1), dstMac: '02:99:99:99:99:99', src: `10.${n}.0.1`, dst: '10.9.9.9', srcPort: 1, dstPort: 2, payload: new Uint8Array(20).fill(n) }),
    arpRequestFrame({ srcMac: mac(1), spa: `10.${n}.0.1`, tpa: `10.${n}.0.2` }),
    nsFrame({ srcMac: mac(1), src: `fe80::${n}`, target: `fe80::${n + 10}` }),
    icmp4EchoFrame({ ...l2, src: `10.${n}.0.1`, dst: `10.${n}.0.2`, vlans: [{ vid: 100 + n }], identifier: n, sequence: 1, payload: new Uint8Array(8) }),
    mplsFrame({ ...l2, labels: [{ label: 1000 + n }], payload: new Uint8Array(40).fill(n) }),
    // VXLAN inside VXLAN, the inner VNI naming the other networks.
    ...vnis.map((v) => vxlanEncap({ outer: { srcMac: mac(1), dstMac: mac(2), src: `10.${n}.0.1`, dst: `10.${n}.0.2` }, vni: v, inner: udpFrame({ srcMac: mac(3), dstMac: 'ff:ff:ff:ff:ff:ff', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 4789, payload: new Uint8Array(20) }) })),
    new Uint8Array([0x02, 0, 0, 0, n, 1, 0x08]),
    new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, n, 1, 0x08, 0x00, 0x45, 0xff]),
  ];
  return out;
}

test('flooding every network with every kind of frame: nothing crosses from one network to another', async (t) => {
  const h = new HostServer({ name: 'iso', slots: 8192 });
  const nets = ['n1', 'n2', 'n3'];
  const vni = (i: number): number => 5000 + i;
  const up = await VxlanUplink.open({ address: '127.0.0.1', port: 0 }, h.pool);
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  const fromUplink = new Map<number, Buffer[]>();
  peer.on('message', (m) => {
    const v = (m[4] as number) << 16 | (m[5] as number) << 8 | (m[6] as number);
    fromUplink.set(v, [...(fromUplink.get(v) ?? []), m]);
  });
  h.start();
  t.after(async () => {
    await h.close();
    peer.close();
  });
  // Each network: a switch (floods broadcast, multicast, unknown unicast) in its own domain with
  // three ports: two taps in domain 0 and a VXLAN uplink VNI.
  const taps: Uint8Array[][][] = [];
  const tapAtt: number[][] = [];
  for (const [i, net] of nets.entries()) {
    const { attachments } = await h.addDomain({ name: net, contexts: [{ network: net, functions: [{ name: 'sw', kind: 'switch', config: { ports: [{ name: 'p0' }, { name: 'p1' }, { name: 'p2' }] } }], wires: [] }], vnics: [0, 1, 2].map((p) => ({ context: 0, port: `sw.p${p}` })) });
    const got: Uint8Array[][] = [[], []];
    const atts = [0, 1].map((p) => h.attachExternal(net, `${net}:tap${p}`, (b) => {
      for (let k = 0; k < b.count; k++) (got[p] as Uint8Array[]).push(h.pool.frame(b, k).slice());
      return false;
    }));
    atts.forEach((a, p) => h.bridge.wire(a, attachments[p] as number));
    const u = h.attachUplink(up, vni(i), net, [{ address: '127.0.0.1', port: peer.address().port }]);
    h.bridge.wire(u, attachments[2] as number);
    taps.push(got);
    tapAtt.push(atts);
  }
  const send = new Batch();
  for (const [i] of nets.entries()) {
    const frames = zoo(i + 1, nets.map((_, j) => vni(j)));
    for (const f of frames) h.pool.load(f, send);
    h.forward(tapAtt[i]?.[0] as number, send);
    send.clear();
    // The same frames from the real network side, VXLAN with this network's VNI.
    for (const f of frames) {
      const dg = Buffer.alloc(8 + f.length);
      dg[0] = 0x08;
      dg.writeUIntBE(vni(i), 4, 3);
      dg.set(f, 8);
      peer.send(dg, up.port, '127.0.0.1');
    }
  }
  await sleep(400);
  // Frames a switch floods reach the other tap of the same network; check every frame seen by
  // any attachment of network i came from network i (MAC byte 10 or payload marker).
  let delivered = 0;
  for (const [i] of nets.entries()) {
    for (const p of [0, 1]) for (const f of taps[i]?.[p] ?? []) {
      delivered++;
      assert.equal(f[10], i + 1, `network ${nets[i]} tap${p} received a frame of network ${f[10]}`);
    }
    for (const dg of fromUplink.get(vni(i)) ?? []) {
      delivered++;
      assert.equal(dg[8 + 10], i + 1, `VNI ${vni(i)} carried a frame of network ${dg[18]}`);
    }
  }
  assert.ok(delivered > 30, `only ${delivered} frames delivered: the flood did not flow`);
  // Broadcasts from tap0 of each network did reach its tap1 and its uplink (the path works).
  for (const [i] of nets.entries()) {
    assert.ok((taps[i]?.[1]?.length ?? 0) > 0);
    assert.ok((fromUplink.get(vni(i))?.length ?? 0) > 0);
  }
  assert.equal(up.counters().rxUnknownVni, 0);
});

test('a peering is the only path between networks, and it copies (grant copy)', async (t) => {
  const h = new HostServer({ name: 'peer', slots: 1024 });
  h.start();
  t.after(() => h.close());
  const got: { slot: number; bytes: Uint8Array }[] = [];
  const a = h.attachExternal('tenant', 'tenant:gw', () => false);
  const b = h.attachExternal('services', 'services:gw', (batch) => {
    for (let k = 0; k < batch.count; k++) got.push({ slot: batch.slots[k] as number, bytes: h.pool.frame(batch, k).slice() });
    return false;
  });
  assert.throws(() => h.bridge.wire(a, b), IsolationError);
  h.bridge.peerNetworks(a, b);
  const send = new Batch();
  const frames = zoo(1, [1]);
  const sent: number[] = [];
  for (const f of frames) sent.push(h.pool.load(f, send));
  const free0 = h.pool.available;
  h.forward(a, send);
  assert.equal(got.length, frames.length);
  got.forEach((g, i) => {
    assert.deepEqual(g.bytes, frames[i]);
    assert.notEqual(g.slot, sent[i], 'the receiving network got another slot than the one written by the sender');
  });
  assert.equal(h.pool.available, free0 + frames.length, 'originals released, copies released by the sink');
});
