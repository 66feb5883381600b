import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { icmp4EchoFrame, icmp4ErrorFrame, icmp6EchoFrame, tcpFrame, udpFrame } from '../../packet/frames.js';
import { Conntrack, PARSE, PacketView, parsePacket, CONN_WORDS } from './conntrack.js';
import { FLOW_BUCKETS, flowBucket, flowKeyOfFrame, flowKeyOfTuple, symmetricKey } from './flowkey.js';

const M = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };
const key = (f: Uint8Array): number => flowKeyOfFrame(f, 0, f.length);

/** The key conntrack's ORIGINAL tuple of `f` gives (what exportFlows sees). */
function tupleKey(f: Uint8Array): number {
  const ct = new Conntrack({ maxFlows: 4 });
  const v = new PacketView();
  assert.equal(parsePacket(f, 0, f.length, v), PARSE.OK);
  const c = ct.create(v.key, null, v, 0);
  assert.ok(c >= 0);
  return flowKeyOfTuple(ct.tuples, c * CONN_WORDS);
}

test('flowkey: both directions of TCP, UDP (v4, v6, VLAN) and ICMP echo flows give one key, equal to the conntrack tuple\'s', () => {
  const cases: [Uint8Array, Uint8Array][] = [
    [tcpFrame({ ...M, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: 2 }), tcpFrame({ ...M, src: '198.51.100.7', dst: '10.0.0.1', srcPort: 443, dstPort: 40000, flags: 0x12 })],
    [udpFrame({ ...M, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 53, dstPort: 53 }), udpFrame({ ...M, src: '10.0.0.2', dst: '10.0.0.1', srcPort: 53, dstPort: 53 })],
    [udpFrame({ ...M, vlans: [{ vid: 10 }], src: 'fd00::1', dst: 'fd00::2:3', srcPort: 5000, dstPort: 5001 }), udpFrame({ ...M, src: 'fd00::2:3', dst: 'fd00::1', srcPort: 5001, dstPort: 5000 })],
    [icmp4EchoFrame({ ...M, src: '10.0.0.1', dst: '8.8.8.8', identifier: 77, sequence: 1 }), icmp4EchoFrame({ ...M, src: '8.8.8.8', dst: '10.0.0.1', identifier: 77, sequence: 1, reply: true })],
    [icmp6EchoFrame({ ...M, src: 'fd00::1', dst: 'fd00::9', identifier: 5, sequence: 2 }), icmp6EchoFrame({ ...M, src: 'fd00::9', dst: 'fd00::1', identifier: 5, sequence: 2, reply: true })],
  ];
  for (const [a, b] of cases) {
    assert.equal(key(a), key(b));
    assert.equal(key(a), tupleKey(a));
    assert.equal(key(b), tupleKey(b));
    assert.notEqual(key(a), 0);
  }
  // Distinct flows differ (different ports / identifiers).
  assert.notEqual(key(cases[0]![0]), key(tcpFrame({ ...M, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40001, dstPort: 443, flags: 2 })));
});

test('flowkey: an ICMP error follows the flow it quotes; non-IP and truncated frames give 0, never throw', () => {
  const out = udpFrame({ ...M, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 5000, dstPort: 33434 });
  const err = icmp4ErrorFrame({ ...M, src: '192.0.2.1', dst: '10.0.0.1', type: 11, code: 0, invoking: out.subarray(14) });
  assert.equal(key(err), key(out));
  assert.equal(key(new Uint8Array(10)), 0);
  const arp = new Uint8Array(42);
  arp[12] = 0x08;
  arp[13] = 0x06;
  assert.equal(key(arp), 0);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 54 }), (junk, cut) => {
      const f = tcpFrame({ ...M, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, flags: 2 });
      const g = new Uint8Array(f.length + junk.length);
      g.set(f.subarray(0, cut));
      g.set(junk, cut);
      const k = flowKeyOfFrame(g, 0, Math.min(g.length, cut + junk.length));
      assert.ok(Number.isInteger(k) && k >= 0 && k < 2 ** 32);
    }),
    { numRuns: 500 },
  );
});

test('flowkey: buckets of random flows are balanced (chi-square over FLOW_BUCKETS)', () => {
  const counts = new Array<number>(FLOW_BUCKETS).fill(0);
  const n = 257 * 200;
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const b = flowBucket(symmetricKey(0x0a000000 + (i & 0xff), 1024 + (i >>> 8), 0xc6336400 + (x & 0xf), 443, 6));
    counts[b] = (counts[b] as number) + 1;
  }
  const e = n / FLOW_BUCKETS;
  const chi = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  // 256 degrees of freedom: mean 256, sd ≈ 22.6; 400 is > 6 sd.
  assert.ok(chi < 400, `chi-square ${chi.toFixed(1)}`);
});
