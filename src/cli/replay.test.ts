import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFunction, runReplay, splitPath, ReplayConfigError, ReplayUsageError } from './replay.js';
import { PcapWriter } from '../packet/pcap.js';
import { openCapture } from '../packet/capfile.js';
import { LINKTYPE_ETHERNET } from '../packet/capture.js';
import { arpRequestFrame, icmp4EchoFrame } from '../packet/frames.js';

const YAML = `# a router
interfaces:
  - name: eth0
    mac: 02:00:00:00:00:01
    addresses: [10.0.1.1/24]
  - name: eth1
    mac: 02:00:00:00:00:02
    mtu: 1500
    addresses:
      - 10.0.2.1/24
neighbors:
  - { interface: eth1, address: 10.0.2.2, mac: "02:00:00:00:00:22" }
`;

function where(text: string): string {
  try {
    loadFunction('router', 'r.yaml', text);
  } catch (e) {
    assert.ok(e instanceof ReplayConfigError, String(e));
    return `${e.line}:${e.column} ${e.reason}`;
  }
  return 'no error';
}

test('replay: configuration errors come back as file:line:column', () => {
  assert.deepEqual(splitPath('interfaces[1].mtu'), ['interfaces', 1, 'mtu']);
  assert.equal(where(YAML), 'no error');
  assert.match(where(YAML.replace('mtu: 1500', 'mtu: 15')), /^8:10 interfaces\[1\]\.mtu: must be between 68 and 9216/);
  assert.match(where(YAML.replace('    mtu: 1500', '    mtuu: 1500')), /^8:5 interfaces\[1\]\.mtuu: unknown key/);
  assert.match(where(YAML.replace('      - 10.0.2.1/24', '      - 10.0.2.1')), /^10:9 interfaces\[1\]\.addresses\[0\]: expected ADDRESS\/LENGTH/);
  assert.match(where(YAML.replace('    mac: 02:00:00:00:00:02\n', '')), /^6:5 interfaces\[1\]\.mac: is required/);
  assert.match(where(YAML.replace('interface: eth1,', 'interface: eth9,')), /^12:18 neighbors\[0\]\.interface: no interface named 'eth9'/);
  assert.match(where('interfaces: [\n'), /^2:1 /);
  // JSON is YAML: positions work the same.
  assert.match(where('{\n  "interfaces": [],\n  "x": 1\n}'), /^3:3 x: unknown key/);
  assert.match(where('{\n  "interfaces": []\n}'), /^2:17 interfaces: needs at least 1/);
  assert.throws(() => loadFunction('nope', 'r.yaml', YAML), (e: Error) => e instanceof ReplayUsageError);
});

test('replay: runs the router over captures, in timestamp order, and writes each port', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swr-replay-'));
  try {
    writeFileSync(join(dir, 'r.yaml'), YAML);
    const w0 = PcapWriter.create(join(dir, 'in0.pcap'), { linkType: LINKTYPE_ETHERNET, nanosecond: true });
    w0.write(0, 1_000_000_000n, arpRequestFrame({ srcMac: 0x0200000000aa, spa: '10.0.1.2', tpa: '10.0.1.1' }));
    w0.write(0, 3_000_000_000n, icmp4EchoFrame({ srcMac: 0x0200000000aa, dstMac: 0x020000000001, src: '10.0.1.2', dst: '10.0.2.2', identifier: 1, sequence: 2 }));
    w0.close();
    const w1 = PcapWriter.create(join(dir, 'in1.pcap'), { linkType: LINKTYPE_ETHERNET, nanosecond: true });
    w1.write(0, 2_000_000_000n, icmp4EchoFrame({ srcMac: 0x020000000022, dstMac: 0x020000000002, src: '10.0.2.2', dst: '10.0.2.1', identifier: 1, sequence: 1 }));
    w1.close();
    const r = runReplay({ kind: 'router', config: join(dir, 'r.yaml'), inputs: [['eth0', join(dir, 'in0.pcap')], ['eth1', join(dir, 'in1.pcap')]], outputs: [['eth0', join(dir, 'o0.pcapng')], ['eth1', join(dir, 'o1.pcap')]] });
    assert.deepEqual(r.framesIn, { eth0: 2, eth1: 1 });
    assert.deepEqual(r.framesOut, { eth0: 1, eth1: 2 });
    const read = (f: string): [bigint, number][] => {
      const rd = openCapture(f);
      const out: [bigint, number][] = [];
      for (const rec of rd) out.push([rec.tsNs, rec.data.length]);
      rd.close();
      return out;
    };
    assert.deepEqual(read(join(dir, 'o0.pcapng')), [[1_000_000_000n, 42]]);
    // The echo reply to 10.0.2.2 (t = 2 s), then the forwarded ping (t = 3 s).
    assert.deepEqual(read(join(dir, 'o1.pcap')), [[2_000_000_000n, 98], [3_000_000_000n, 98]]);
    assert.throws(() => runReplay({ kind: 'router', config: join(dir, 'r.yaml'), inputs: [['eth7', join(dir, 'in0.pcap')]], outputs: [] }), (e: Error) => e.name === 'ReplayUsageError');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
