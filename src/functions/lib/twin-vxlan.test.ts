// The twin fed by a VXLAN mirror on 127.0.0.1: a router's input (VNI 101) and outputs (VNIs
// 200, 201) arrive as RFC 7348 datagrams on one socket. A "device" that lost its route to
// 10.2.0.0/16 is reported as a route divergence; a correct one gives none; malformed datagrams
// and unknown VNIs are counted and dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { icmp4EchoFrame, udpFrame } from '../../packet/frames.js';
import { VXLAN_HLEN, buildVxlan } from '../../packet/vxlan.js';
import { createFunction } from '../registry.js';
import { Harness } from '../testing.js';
import { createTwin, type Twin, type TwinDivergence } from '../twin.js';
import { TwinSourceError } from './twin-follow.js';
import { VxlanMirror, parseVxlanSpec } from './twin-vxlan.js';

const MAC = { h1: '02:00:00:00:01:02', r0: '02:00:00:00:01:01', r1: '02:00:00:00:02:01', h2: '02:00:00:00:02:02' };

function routerConfig(noRoute = false): unknown {
  return {
    interfaces: [
      { name: 'r0', mac: MAC.r0, addresses: ['10.0.1.1/24'] },
      { name: 'r1', mac: MAC.r1, addresses: ['10.0.2.1/24'] },
    ],
    routes: noRoute ? [] : [{ prefix: '10.2.0.0/16', via: '10.0.2.2' }],
    neighbors: [
      { interface: 'r0', address: '10.0.1.2', mac: MAC.h1 },
      { interface: 'r1', address: '10.0.2.2', mac: MAC.h2 },
    ],
  };
}

function traffic(rounds: number): Uint8Array[] {
  const f: Uint8Array[] = [];
  const l2 = { srcMac: MAC.h1, dstMac: MAC.r0 };
  for (let i = 0; i < rounds; i++) {
    f.push(udpFrame({ ...l2, src: '10.0.1.2', dst: '10.2.0.5', srcPort: 5000, dstPort: 6000, id: 100 + i, payload: new Uint8Array(18).fill(i) }));
    f.push(icmp4EchoFrame({ ...l2, src: '10.0.1.2', dst: '10.0.2.2', identifier: 9, sequence: i, id: 500 + i }));
  }
  return f;
}

function encap(vni: number, frame: Uint8Array): Buffer {
  const dg = Buffer.alloc(VXLAN_HLEN + frame.length);
  buildVxlan(dg, 0, vni);
  dg.set(frame, VXLAN_HLEN);
  return dg;
}

const VNI = { in0: 101, out0: 200, out1: 201 };

/**
 * Mirrors a router "device" with configuration `deviceCfg` to a twin of the correct router:
 * each input frame, then what the device sent for it, as VXLAN datagrams to one socket.
 */
async function mirror(deviceCfg: unknown, extra: readonly Buffer[] = []): Promise<{ divergences: readonly TwinDivergence[]; counters: ReturnType<Twin['counters']>; m: VxlanMirror; sent: number }> {
  const twin = createTwin({ function: 'router', config: routerConfig(), windowMs: 100, aggregateMs: 300 });
  const m = await VxlanMirror.open(twin, [
    { port: 'r0.in', address: '127.0.0.1', udpPort: 0, vni: VNI.in0 },
    { port: 'r0.out', address: '127.0.0.1', udpPort: 0, vni: VNI.out0 },
    { port: 'r1.out', address: '127.0.0.1', udpPort: 0, vni: VNI.out1 },
  ]);
  const ep = m.endpoints();
  assert.equal(ep.length, 1, 'one socket carries every VNI');
  const dev = new Harness(createFunction('router', deviceCfg));
  const tx = dgram.createSocket('udp4');
  let sent = 0;
  const send = (dg: Buffer): Promise<void> => new Promise((r) => tx.send(dg, ep[0]!.port, '127.0.0.1', () => r()));
  try {
    for (const dg of extra) await send(dg);
    for (const f of traffic(20)) {
      await send(encap(VNI.in0, f));
      sent++;
      for (const s of dev.run(0, [f]).sent) { await send(encap(s.port === 0 ? VNI.out0 : VNI.out1, s.bytes)); sent++; }
    }
    await sleep(150);
  } finally {
    tx.close();
    await m.close();
  }
  return { divergences: twin.divergences(), counters: twin.counters(), m, sent };
}

test('twin-vxlan: a device without the route to 10.2.0.0/16 is reported as a route divergence', async () => {
  const { divergences, counters, m, sent } = await mirror(routerConfig(true));
  // The device rate-limits its ICMP errors: fewer than 80 frames, every one delivered.
  assert.equal(m.counters().frames, sent);
  assert.ok(sent > 60);
  const route = divergences.filter((d) => d.kind === 'route');
  assert.equal(route.length, 1, JSON.stringify(divergences.map((d) => d.diagnosis)));
  assert.equal(route[0]!.traffic, '10.2.0.0/16');
  assert.equal(route[0]!.port, 'r1');
  assert.equal(route[0]!.frames, 20);
  assert.equal(counters['matched'], 20, 'the pings matched');
});

test('twin-vxlan: a correct device gives no divergence; malformed datagrams are counted and dropped', async () => {
  const short = Buffer.from([0x08, 0, 0, 0, 0, 0, 101]);
  const noFlag = encap(VNI.in0, traffic(1)[0]!);
  noFlag[0] = 0;
  const unknown = encap(999, traffic(1)[0]!);
  const { divergences, counters, m, sent } = await mirror(routerConfig(), [short, noFlag, unknown]);
  assert.equal(sent, 80);
  assert.deepEqual(divergences.map((d) => d.diagnosis), []);
  assert.equal(counters['matched'], 40);
  assert.equal(counters['missing'], 0);
  assert.equal(counters['unexpected'], 0);
  const c = m.counters();
  assert.equal(c.malformed, 2);
  assert.equal(c.unknownVni, 1);
  assert.equal(c.frames, 80);
});

test('twin-vxlan: source syntax and errors', async () => {
  assert.deepEqual(parseVxlanSpec('vxlan:4789/101'), { address: '0.0.0.0', udpPort: 4789, vni: 101 });
  assert.deepEqual(parseVxlanSpec('vxlan:7'), { address: '0.0.0.0', udpPort: 4789, vni: 7 });
  assert.deepEqual(parseVxlanSpec('vxlan:10.0.0.1:8472/5'), { address: '10.0.0.1', udpPort: 8472, vni: 5 });
  assert.deepEqual(parseVxlanSpec('vxlan:[::1]:4789/5'), { address: '::1', udpPort: 4789, vni: 5 });
  assert.equal(parseVxlanSpec('eth0'), null);
  assert.throws(() => parseVxlanSpec('vxlan:4789/16777216'), { name: 'TwinSourceError' });
  assert.throws(() => parseVxlanSpec('vxlan:70000/1'), { name: 'TwinSourceError' });
  const twin = createTwin({ function: 'router', config: routerConfig() });
  await assert.rejects(VxlanMirror.open(twin, [{ port: 'r9.in', address: '127.0.0.1', udpPort: 0, vni: 1 }]), TwinSourceError);
  await assert.rejects(VxlanMirror.open(twin, [{ port: 'r0.in', address: '127.0.0.1', udpPort: 0, vni: 1 }, { port: 'r1.in', address: '127.0.0.1', udpPort: 0, vni: 1 }]), { name: 'TwinSourceError' });
  const a = await VxlanMirror.open(twin, [{ port: 'r0.in', address: '127.0.0.1', udpPort: 0, vni: 1 }]);
  try {
    await assert.rejects(VxlanMirror.open(twin, [{ port: 'r0.in', address: '127.0.0.1', udpPort: a.endpoints()[0]!.port, vni: 1 }]), { name: 'VxlanMirrorError' });
  } finally {
    await a.close();
  }
});
