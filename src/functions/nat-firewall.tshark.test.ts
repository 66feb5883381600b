// Wireshark as the independent judge: frames produced by the firewall (RST and ICMP rejects) and
// the NAT (rewrites, translated ICMP errors) are written to a pcap and dissected by tshark with
// checksum validation on; none may be flagged bad or malformed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCaptureWriter } from '../packet/capfile.js';
import { icmp4ErrorFrame, tcpFrame, udpFrame } from '../packet/frames.js';
import { have, tsharkFields } from '../testkit/netns.js';
import { firewallFactory } from './firewall.js';
import { natFactory } from './nat.js';
import { Harness } from './testing.js';

const IN = { srcMac: '02:00:00:00:01:01', dstMac: '02:00:00:00:01:fe' };
const OUT = { srcMac: '02:00:00:00:02:01', dstMac: '02:00:00:00:02:fe' };

test('firewall rejects and NAT rewrites pass tshark checksum validation', { skip: have('tshark') ? false : 'needs tshark' }, () => {
  const frames: Uint8Array[] = [];
  const fw = new Harness(firewallFactory.create({ interfaces: [{ name: 'lan' }, { name: 'wan' }], rules: [{ in: 'wan', action: 'reject' }] }));
  for (const f of [
    tcpFrame({ ...OUT, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5555, dstPort: 22, flags: 0x02, seq: 123, options: { mss: 1460 } }),
    tcpFrame({ ...OUT, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5555, dstPort: 22, flags: 0x18, seq: 9, ack: 77, payload: new Uint8Array(33) }),
    udpFrame({ ...OUT, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5353, dstPort: 9999, payload: new Uint8Array(700) }),
    udpFrame({ ...OUT, src: '2001:db8::7', dst: '2001:db8:1::5', srcPort: 1, dstPort: 2, payload: new Uint8Array(1500 - 48 - 14) }),
  ]) frames.push(...fw.run(1, [f]).sent.map((s) => s.bytes));
  const nat = new Harness(natFactory.create({ snat: { addresses: ['203.0.113.1'], ports: '20000-20010' } }));
  const dg = udpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 33434, dstPort: 33435, payload: new Uint8Array(40), ttl: 1 });
  const syn = tcpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: 0x02, seq: 1 });
  const outDg = nat.run(0, [dg]).sent[0]!.bytes;
  const outSyn = nat.run(0, [syn]).sent[0]!.bytes;
  frames.push(outDg, outSyn);
  frames.push(...nat.run(1, [
    icmp4ErrorFrame({ ...OUT, src: '192.0.2.254', dst: '203.0.113.1', type: 11, code: 0, invoking: outDg.subarray(14), quote: outDg.length - 14 }),
    icmp4ErrorFrame({ ...OUT, src: '192.0.2.254', dst: '203.0.113.1', type: 3, code: 4, nextHopMtu: 1400, invoking: outSyn.subarray(14), quote: outSyn.length - 14 }),
    tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: (outSyn[34]! << 8) | outSyn[35]!, flags: 0x12, seq: 5, ack: 2 }),
  ]).sent.map((s) => s.bytes));
  assert.equal(frames.length, 4 + 2 + 3);
  const dir = mkdtempSync(join(tmpdir(), 'swfw-ts-'));
  try {
    const file = join(dir, 'out.pcap');
    const w = createCaptureWriter(file, { iface: { linkType: 1 } });
    frames.forEach((f, i) => w.write(0, BigInt(i + 1) * 1_000_000n, f));
    w.close();
    const prefs = ['ip.check_checksum:TRUE', 'udp.check_checksum:TRUE', 'tcp.check_checksum:TRUE'];
    const rows = tsharkFields(file, ['frame.number', 'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status', '_ws.malformed', '_ws.col.Info'], undefined, prefs);
    assert.equal(rows.length, frames.length);
    for (const r of rows) {
      const [, ip, tcp, udp, icmp, icmp6, malformed, info] = r;
      // checksum.status: 1 good, 0 bad, 2 unverified (the quoted headers' checksums: tshark
      // validates what it can); every present value must be good or unverified, and each frame's
      // outer headers good.
      for (const s of [ip, tcp, udp, icmp, icmp6]) for (const x of (s ?? '').split(',').filter(Boolean)) assert.notEqual(x, '0', `bad checksum: ${r.join(' | ')}`);
      assert.ok(ip?.startsWith('1') || r[7]?.includes('ICMPv6') || (ip ?? '') === '', `outer IPv4 checksum verified: ${r.join(' | ')}`);
      assert.ok(!malformed, `malformed: ${String(info)}`);
    }
    const info = rows.map((r) => r[7]).join('\n');
    assert.match(info, /\[RST, ACK\]/);
    assert.match(info, /Destination unreachable \(Port unreachable\)/);
    assert.match(info, /Time-to-live exceeded/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
