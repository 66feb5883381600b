import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { loadTopology } from './topology.js';
import { Experiment } from './experiment.js';
import { udpFrame } from '../packet/frames.js';

test('a topology with a VXLAN uplink: VNI 7 in, through a function in a domain, VNI 8 out', async () => {
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const port = probe.address().port;
  probe.close(); // a port that was free a moment ago, for the uplink
  const got: Buffer[] = [];
  peer.on('message', (m) => got.push(m));
  const yaml = `
servers:
  - { name: s1 }
networks:
  - name: n
    functions:
      - { name: f, kind: fault, server: s1, config: { armed: false } }
uplinks:
  - server: s1
    address: 127.0.0.1
    port: ${port}
    vnis:
      - { vni: 7, network: n, attach: f.a, remote: '127.0.0.1:${peer.address().port}' }
      - { vni: 8, network: n, attach: f.b, remote: '127.0.0.1:${peer.address().port}' }
`;
  const x = await Experiment.build(loadTopology(yaml, 'up.yaml'));
  try {
    const running = x.run(0.4);
    const inner = udpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, payload: new Uint8Array(30).fill(7) });
    for (let i = 0; i < 10; i++) {
      const dg = Buffer.alloc(8 + inner.length);
      dg[0] = 0x08;
      dg.writeUIntBE(7, 4, 3);
      dg.set(inner, 8);
      peer.send(dg, port, '127.0.0.1');
    }
    await running;
    assert.equal(got.length, 10);
    for (const m of got) {
      assert.equal(m[0], 0x08, 'I flag');
      assert.equal(m.readUIntBE(4, 3), 8, 'sent out on VNI 8');
      assert.deepEqual(new Uint8Array(m.subarray(8)), inner);
    }
  } finally {
    await x.close();
    peer.close();
  }
});

test('uplink definitions are checked (file:line:column)', () => {
  const base = 'servers:\n  - { name: s1 }\nnetworks:\n  - name: n\n    functions:\n      - { name: f, kind: fault, server: s1 }\n    wires: []\nuplinks:\n  - server: s1\n    address: 127.0.0.1\n    vnis:\n';
  assert.throws(() => loadTopology(base + "      - { vni: 7, network: n, attach: f.c, remote: '127.0.0.1' }\n", 'u.yaml'), /u\.yaml:12:39: f has no port 'c'/);
  assert.throws(() => loadTopology(base + "      - { vni: 7, network: m, attach: f.a, remote: '127.0.0.1' }\n", 'u.yaml'), /u\.yaml:12:28: no network 'm'/);
  assert.throws(() => loadTopology(base + "      - { vni: 7, network: n, attach: f.a, remote: 'fd00::1:99999x' }\n", 'u.yaml'), /u\.yaml:12:52: expected 'address'/);
  const t = loadTopology(base + "      - { vni: 7, network: n, attach: f.a, remote: ['[fd00::1]:5000', 'fd00::2', '10.0.0.1'] }\n", 'u.yaml');
  assert.deepEqual(t.uplinks[0]?.vnis[0]?.remotes, [{ address: 'fd00::1', port: 5000 }, { address: 'fd00::2', port: 4789 }, { address: '10.0.0.1', port: 4789 }]);
});
