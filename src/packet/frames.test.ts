import { test } from 'node:test';
import assert from 'node:assert/strict';
import { icmp6ErrorFrame, multicastMac, naFrame, rsFrame, solicitedNode, udpFrame, tcpFrame, icmp4EchoFrame } from './frames.js';
import { decodeFrame, type Layer } from './decode.js';
import { ipv6ToString } from './ipv6.js';
import { TCP_FLAG } from './tcp.js';

const kinds = (ls: readonly Layer[]): string[] => ls.map((l) => l.kind);

test('solicited-node group and its multicast MAC (RFC 4291 §2.7.1, RFC 2464 §7)', () => {
  assert.equal(ipv6ToString(solicitedNode('2001:db8::abcd:1234:5678'), 0), 'ff02::1:ff34:5678');
  assert.equal(multicastMac('ff02::1:ff34:5678'), 0x3333ff345678);
  assert.equal(multicastMac('ff02::1'), 0x333300000001);
});

test('every convenience builder yields a frame that decodes cleanly with good checksums', () => {
  const M = { srcMac: 0x020000000001, dstMac: 0x020000000002 };
  const udp6 = udpFrame({ ...M, src: 'fd00::1', dst: 'fd00::2', srcPort: 1, dstPort: 2, payload: new Uint8Array(1500) });
  const cases: Array<[Uint8Array, string[]]> = [
    [icmp6ErrorFrame({ ...M, src: 'fd00::fe', dst: 'fd00::1', type: 2, code: 0, value: 1280, invoking: udp6.subarray(14) }), ['eth', 'ipv6', 'icmpv6', 'ipv6', 'udp', 'payload']],
    [naFrame({ ...M, src: 'fe80::2', dst: 'fe80::1', target: 'fe80::2' }), ['eth', 'ipv6', 'icmpv6']],
    [rsFrame({ srcMac: 0x020000000001, src: 'fe80::1' }), ['eth', 'ipv6', 'icmpv6']],
    [udpFrame({ ...M, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, noChecksum: true }), ['eth', 'ipv4', 'udp']],
    [tcpFrame({ ...M, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, flags: TCP_FLAG.ACK, payload: new Uint8Array(3) }), ['eth', 'ipv4', 'tcp', 'payload']],
    [icmp4EchoFrame({ ...M, src: 'fd00::1', dst: 'fd00::2', identifier: 1, sequence: 1 }), ['eth', 'ipv6', 'icmpv6', 'payload']],
  ];
  for (const [f, want] of cases) {
    const d = decodeFrame(f);
    assert.equal(d.error, null);
    assert.ok(d.checksumsOk);
    assert.deepEqual(kinds(d.layers), want);
  }
  // RFC 4443 §2.4 (c): the error fits in the minimum MTU.
  assert.equal(cases[0]![0].length - 14, 1280);
});
