// Cross-checks decodeFrame + wiresharkFields against tshark on the same bytes: every field swnet
// renders must equal what `tshark -T fields` prints for it, frame by frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFrame, wiresharkFields } from './decode.js';
import { seedFrames } from './fuzz.js';
import { icmp4EchoFrame, tcpFrame } from './frames.js';
import { TCP_FLAG } from './tcp.js';

const hasTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;

/** A minimal classic pcap (LINKTYPE_ETHERNET, microseconds): enough to hand frames to tshark. */
function pcap(frames: readonly Uint8Array[]): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 65535, true);
  v.setUint32(20, 1, true);
  let o = 24;
  frames.forEach((f, i) => {
    v.setUint32(o, 1_700_000_000 + i, true);
    v.setUint32(o + 8, f.length, true);
    v.setUint32(o + 12, f.length, true);
    out.set(f, o + 16);
    o += 16 + f.length;
  });
  return out;
}

test('wiresharkFields equals tshark -T fields on every seed frame', { skip: !hasTshark && 'tshark not installed' }, () => {
  const M1 = 0x020000000001;
  const M2 = 0x020000000002;
  const frames = [
    ...seedFrames(),
    icmp4EchoFrame({ srcMac: M1, dstMac: M2, src: '10.1.2.3', dst: '10.3.2.1', identifier: 0xbeef, sequence: 65535, ttl: 1, tos: 0xb8, id: 4321 }),
    tcpFrame({ srcMac: M1, dstMac: M2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 80, dstPort: 40000, seq: 0xfffffff0, ack: 1001, flags: TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.ECE, window: 65160, options: { mss: 1460, sackPermitted: true, timestamp: [0xdeadbeef, 123], windowScale: 14 } }),
    tcpFrame({ srcMac: M1, dstMac: M2, src: 'fd00::1', dst: 'fd00::2', srcPort: 22, dstPort: 50000, seq: 5, ack: 6, flags: TCP_FLAG.PSH | TCP_FLAG.ACK | TCP_FLAG.CWR, payload: new Uint8Array(100).fill(7) }),
  ];
  // Corrupt checksums on purpose in a few copies: tshark must call them bad where swnet does.
  const corrupt = (f: Uint8Array, at: number): Uint8Array => {
    const c = f.slice();
    c[at] = c[at]! ^ 0x5a;
    return c;
  };
  frames.push(corrupt(frames[0]!, 14 + 8), corrupt(frames[0]!, frames[0]!.length - 1), corrupt(frames[7]!, frames[7]!.length - 1), corrupt(frames[11]!, frames[11]!.length - 1));
  const ours = frames.map((f) => wiresharkFields(decodeFrame(f), { checksumStatus: true }));
  const names = [...new Set(ours.flatMap((m) => [...m.keys()]))].sort();
  const dir = mkdtempSync(join(tmpdir(), 'swnet-packet-'));
  try {
    const file = join(dir, 'frames.pcap');
    writeFileSync(file, pcap(frames));
    const checks = ['-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE'];
    const extra = ['_ws.malformed', '_ws.expert.severity'];
    const r = spawnSync('tshark', ['-r', file, '-n', ...checks, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...[...names, ...extra].flatMap((n) => ['-e', n])], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.length > 0);
    assert.equal(lines.length, frames.length);
    let compared = 0;
    lines.forEach((line, i) => {
      const cols = line.split('\t');
      const m = ours[i]!;
      names.forEach((name, j) => {
        const mine = m.get(name);
        if (!mine) return;
        assert.equal(mine.join(','), cols[j] ?? '', `frame ${i + 1} field ${name}`);
        compared++;
      });
      // No frame built by swnet is malformed for tshark; only the corrupted copies carry errors.
      assert.equal(cols[names.length] ?? '', '', `frame ${i + 1} is malformed for tshark`);
      const errors = (cols[names.length + 1] ?? '').split(',').filter((x) => Number(x) >= 0x00800000);
      if (i < frames.length - 4) assert.deepEqual(errors, [], `frame ${i + 1} has expert errors`);
    });
    assert.ok(compared > 400, `only ${compared} field values compared`);
    process.stderr.write(`# ${compared} field values of ${frames.length} frames equal to tshark's\n`);
    for (const must of ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status', 'eth.type', 'vlan.id', 'mpls.label', 'arp.opcode', 'ip.checksum', 'ipv6.flow', 'icmp.mtu', 'icmpv6.opt.prefix', 'udp.checksum', 'tcp.flags', 'tcp.options.mss_val', 'vxlan.vni', 'ipv6.fraghdr.ident', 'ipv6.routing.segleft'])
      assert.ok(names.includes(must), `${must} not compared`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
