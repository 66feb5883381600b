import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, wiresharkFields, type Layer } from './decode.js';
import { icmp4EchoFrame, tcpFrame, udpFrame, vxlanEncap, mplsFrame, arpRequestFrame, nsFrame } from './frames.js';
import { TCP_FLAG } from './tcp.js';

// Golden frames derived by hand from RFC 791/792/768/793/8200 (checksums by an independent
// implementation of RFC 1071; see the comment above each).
const hex = (h: string): Uint8Array => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
const M1 = 0x020000000001;
const M2 = 0x020000000002;
// eth 02:..:01 → 02:..:02, IPv4 10.0.0.1 → 10.0.0.2 DF ttl 64, ICMP echo id 0x1234 seq 1, data "abcdefgh"
const ICMP4 = '02000000000202000000000108004500002400004000400126d70a0000010a00000208005435123400016162636465666768';
// UDP 5000 → 53 "hello"
const UDP4 = '02000000000202000000000108004500002100004000401126ca0a0000010a00000213880035000d944268656c6c6f';
// IPv6 fd00::1 → fd00::2, UDP 5000 → 5001 "ping"
const UDP6 = '02000000000202000000000186dd60000000000c1140fd000000000000000000000000000001fd00000000000000000000000000000213881389000cffef70696e67';
// TCP SYN 40000 → 80 seq 1000 win 64240, MSS 1460, SACK-perm, TS 1/0, NOP, WS 7
const TCP4 = '02000000000202000000000108004500003c00004000400626ba0a0000010a0000029c400050000003e800000000a002faf098930000020405b40402080a000000010000000001030307';

const kinds = (ls: readonly Layer[]): string[] => ls.map((l) => l.kind);
function layer<K extends Layer['kind']>(ls: readonly Layer[], k: K): Extract<Layer, { kind: K }> {
  const l = ls.find((x) => x.kind === k);
  assert.ok(l, `no ${k} layer`);
  return l as Extract<Layer, { kind: K }>;
}

test('golden ICMPv4 echo request: every field, checksums good, builder gives the same bytes', () => {
  const b = hex(ICMP4);
  const f = decodeFrame(b);
  assert.equal(f.error, null);
  assert.ok(f.checksumsOk);
  assert.deepEqual(kinds(f.layers), ['eth', 'ipv4', 'icmp', 'payload']);
  const ip = layer(f.layers, 'ipv4');
  assert.equal(ip.totalLength, 36);
  assert.equal(ip.checksum, 0x26d7);
  assert.equal(ip.checksumStatus, 'good');
  assert.equal(ip.df, true);
  assert.equal(ip.src, 0x0a000001);
  const ic = layer(f.layers, 'icmp');
  assert.deepEqual([ic.type, ic.code, ic.checksum, ic.identifier, ic.sequence, ic.checksumStatus], [8, 0, 0x5435, 0x1234, 1, 'good']);
  const built = icmp4EchoFrame({ srcMac: M1, dstMac: M2, src: '10.0.0.1', dst: '10.0.0.2', identifier: 0x1234, sequence: 1, payload: new TextEncoder().encode('abcdefgh') });
  assert.deepEqual(built, b);
  const w = wiresharkFields(f);
  assert.deepEqual(w.get('ip.src'), ['10.0.0.1']);
  assert.deepEqual(w.get('ip.flags'), ['0x02']);
  assert.deepEqual(w.get('icmp.checksum'), ['0x5435']);
});

test('golden UDP over IPv4 and IPv6: checksums verified against the pseudo-header', () => {
  const f4 = decodeFrame(hex(UDP4));
  assert.equal(f4.error, null);
  const u4 = layer(f4.layers, 'udp');
  assert.deepEqual([u4.srcPort, u4.dstPort, u4.length, u4.checksum, u4.checksumStatus], [5000, 53, 13, 0x9442, 'good']);
  assert.deepEqual(udpFrame({ srcMac: M1, dstMac: M2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 5000, dstPort: 53, payload: new TextEncoder().encode('hello') }), hex(UDP4));
  const f6 = decodeFrame(hex(UDP6));
  assert.equal(f6.error, null);
  assert.deepEqual(kinds(f6.layers), ['eth', 'ipv6', 'udp', 'payload']);
  const ip6 = layer(f6.layers, 'ipv6');
  assert.equal(ip6.src, 'fd00::1');
  assert.equal(ip6.hopLimit, 64);
  assert.equal(layer(f6.layers, 'udp').checksumStatus, 'good');
  assert.deepEqual(udpFrame({ srcMac: M1, dstMac: M2, src: 'fd00::1', dst: 'fd00::2', srcPort: 5000, dstPort: 5001, payload: new TextEncoder().encode('ping') }), hex(UDP6));
});

test('golden TCP SYN with options: flags, MSS, SACK-permitted, timestamps, window scale', () => {
  const f = decodeFrame(hex(TCP4));
  assert.equal(f.error, null);
  const t = layer(f.layers, 'tcp');
  assert.deepEqual(
    [t.srcPort, t.dstPort, t.seq, t.flags, t.window, t.headerLength, t.mss, t.sackPermitted, t.tsVal, t.tsEcr, t.windowScale, t.checksum, t.checksumStatus],
    [40000, 80, 1000, TCP_FLAG.SYN, 64240, 40, 1460, true, 1, 0, 7, 0x9893, 'good'],
  );
  const built = tcpFrame({ srcMac: M1, dstMac: M2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 80, seq: 1000, flags: TCP_FLAG.SYN, options: { mss: 1460, sackPermitted: true, timestamp: [1, 0], windowScale: 7 } });
  assert.deepEqual(built, hex(TCP4));
});

test('a corrupted byte shows as a bad checksum field, not an error', () => {
  const b = hex(UDP4);
  b[b.length - 1] = b[b.length - 1]! ^ 0xff;
  const f = decodeFrame(b);
  assert.equal(f.error, null);
  assert.equal(f.checksumsOk, false);
  assert.equal(layer(f.layers, 'udp').checksumStatus, 'bad');
  assert.equal(layer(f.layers, 'ipv4').checksumStatus, 'good');
});

test('truncation keeps the layers before the error, with a typed reason', () => {
  const b = hex(TCP4).subarray(0, 14 + 20 + 10);
  const f = decodeFrame(b);
  assert.deepEqual(kinds(f.layers), ['eth']);
  assert.deepEqual(f.error, { reason: 'bad-length', offset: 16, layer: 'ipv4' });
  const g = decodeFrame(hex(TCP4), 0, 10);
  assert.deepEqual(g.error, { reason: 'truncated', offset: 0, layer: 'eth' });
});

test('VXLAN: inner frame decoded after the outer UDP (port 4789, or a chosen port)', () => {
  const inner = hex(ICMP4);
  const outer = vxlanEncap({ outer: { srcMac: M1, dstMac: M2, src: '192.0.2.1', dst: '192.0.2.2' }, vni: 5001, inner });
  const f = decodeFrame(outer);
  assert.equal(f.error, null);
  assert.deepEqual(kinds(f.layers), ['eth', 'ipv4', 'udp', 'vxlan', 'eth', 'ipv4', 'icmp', 'payload']);
  assert.equal(layer(f.layers, 'vxlan').vni, 5001);
  assert.equal(layer(f.layers, 'udp').checksumStatus, 'zero');
  const g = decodeFrame(outer, 0, outer.length, { vxlanPort: 8472 });
  assert.deepEqual(kinds(g.layers), ['eth', 'ipv4', 'udp', 'payload']);
});

test('MPLS stack, ARP, NDP NS decode', () => {
  const ip = hex(UDP4).subarray(14);
  const m = decodeFrame(mplsFrame({ srcMac: M1, dstMac: M2, labels: [{ label: 100, tc: 5 }, { label: 200, ttl: 255 }], payload: ip }));
  assert.equal(m.error, null);
  assert.deepEqual(kinds(m.layers), ['eth', 'mpls', 'mpls', 'ipv4', 'udp', 'payload']);
  const ms = m.layers.filter((l) => l.kind === 'mpls');
  assert.deepEqual(ms.map((l) => (l.kind === 'mpls' ? [l.label, l.tc, l.bottom, l.ttl] : [])), [[100, 5, false, 64], [200, 0, true, 255]]);
  const a = decodeFrame(arpRequestFrame({ srcMac: M1, spa: '10.0.0.1', tpa: '10.0.0.2' }));
  assert.equal(a.error, null);
  const arp = layer(a.layers, 'arp');
  assert.deepEqual([arp.op, arp.sha, arp.spa, arp.tpa, arp.tha], [1, '02:00:00:00:00:01', 0x0a000001, 0x0a000002, '00:00:00:00:00:00']);
  const n = decodeFrame(nsFrame({ srcMac: M1, src: 'fe80::1', target: 'fe80::2' }));
  assert.equal(n.error, null);
  const ns = layer(n.layers, 'icmpv6');
  assert.deepEqual([ns.type, ns.target, ns.sourceLinkAddr, ns.checksumStatus], [135, 'fe80::2', '02:00:00:00:00:01', 'good']);
  assert.equal(layer(n.layers, 'ipv6').dst, 'ff02::1:ff00:2');
  assert.equal(layer(n.layers, 'eth').dst, '33:33:ff:00:00:02');
});
