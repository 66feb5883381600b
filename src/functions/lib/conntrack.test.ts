import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, udpFrame, icmp4EchoFrame } from '../../packet/frames.js';
import { rng } from '../testing.js';
import { CT, Conntrack, KW, PARSE, PacketView, TCP_STATE, invertTuple, parsePacket } from './conntrack.js';

const L2 = { srcMac: 1, dstMac: 2 };

function view(f: Uint8Array): PacketView {
  const v = new PacketView();
  assert.equal(parsePacket(f, 0, f.length, v), PARSE.OK);
  return v;
}

test('conntrack: 120,000 flows inserted, a random half removed, every surviving tuple is found in both directions, removed ones are gone', () => {
  const ct = new Conntrack({ maxFlows: 120_000, seed: 1 });
  const r = rng(5);
  const key = new Uint32Array(KW);
  const conns: number[] = [];
  const v = new PacketView();
  for (let i = 0; i < 120_000; i++) {
    key.fill(0);
    key[2] = 0xffff;
    key[3] = 0x0a000000 + i;
    key[6] = 0xffff;
    key[7] = 0xc0000200 + (i % 7);
    key[8] = ((1024 + (i % 50000)) << 16) | 53;
    key[9] = (4 << 8) | 17;
    v.proto = 17;
    const c = ct.create(key, null, v, 0);
    assert.ok(c >= 0, `insert ${i}`);
    conns.push(c);
  }
  assert.equal(ct.create(key, null, v, 0), -1, 'table full');
  const removed = new Set<number>();
  for (let i = 0; i < 60_000; i++) {
    const k = r() % 120_000;
    if (removed.has(k)) continue;
    removed.add(k);
    ct.remove(conns[k]!);
  }
  const inv = new Uint32Array(KW);
  for (let i = 0; i < 120_000; i++) {
    const c = conns[i]!;
    const o = ct.tuples.subarray(ct.at(c * 2), ct.at(c * 2) + KW);
    const expect = removed.has(i) ? -1 : c * 2;
    if (expect >= 0) {
      assert.equal(ct.lookup(o), expect);
      invertTuple(o, 0, inv, 0);
      assert.equal(ct.lookup(inv), c * 2 + 1);
    }
  }
  assert.equal(ct.count, 120_000 - removed.size);
  // removed tuples are gone (their slots reused by new flows only)
  for (const k of [...removed].slice(0, 1000)) {
    key.fill(0);
    key[2] = 0xffff;
    key[3] = 0x0a000000 + k;
    key[6] = 0xffff;
    key[7] = 0xc0000200 + (k % 7);
    key[8] = ((1024 + (k % 50000)) << 16) | 53;
    key[9] = (4 << 8) | 17;
    assert.equal(ct.lookup(key), -1);
  }
});

test('conntrack: TCP simultaneous open goes through SYN_SENT2; RST closes; a SYN in TIME_WAIT reopens', () => {
  const ct = new Conntrack({ maxFlows: 16 });
  const a = (flags: number): PacketView => view(tcpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1000, dstPort: 2000, flags }));
  const b = (flags: number): PacketView => view(tcpFrame({ ...L2, src: '10.0.0.2', dst: '10.0.0.1', srcPort: 2000, dstPort: 1000, flags }));
  const syn = a(0x02);
  assert.equal(ct.classify(syn, 0), CT.NEW);
  const c = ct.create(syn.key, null, syn, 0);
  assert.equal(ct.stateOf(c), TCP_STATE.SYN_SENT);
  assert.equal(ct.classify(b(0x02), 1), CT.ESTABLISHED);
  assert.equal(ct.stateOf(c), TCP_STATE.SYN_SENT2);
  assert.equal(ct.classify(b(0x12), 2), CT.ESTABLISHED);
  assert.equal(ct.stateOf(c), TCP_STATE.SYN_RECV);
  assert.equal(ct.classify(a(0x10), 3), CT.ESTABLISHED);
  assert.equal(ct.stateOf(c), TCP_STATE.ESTABLISHED);
  assert.equal(ct.classify(a(0x04), 4), CT.ESTABLISHED);
  assert.equal(ct.stateOf(c), TCP_STATE.CLOSE);
  // CLOSE lasts 10 s
  assert.equal(ct.classify(a(0x10), 10_003), CT.ESTABLISHED, 'ACK in CLOSE stays CLOSE');
  ct.setNow(20_004);
  assert.equal(ct.classify(a(0x10), 20_004), CT.INVALID, 'expired: a lone ACK is invalid');
  const d = ct.create(syn.key, null, syn, 20_005);
  ct.classify(b(0x12), 20_006);
  ct.classify(a(0x10), 20_007);
  ct.classify(a(0x11), 20_008);
  assert.equal(ct.stateOf(d), TCP_STATE.FIN_WAIT);
  ct.classify(b(0x11), 20_009);
  assert.equal(ct.stateOf(d), TCP_STATE.LAST_ACK);
  ct.classify(a(0x10), 20_010);
  assert.equal(ct.stateOf(d), TCP_STATE.TIME_WAIT);
  assert.equal(ct.classify(a(0x02), 20_011), CT.ESTABLISHED);
  assert.equal(ct.stateOf(d), TCP_STATE.SYN_SENT, 'reopened by a new SYN');
});

test('conntrack: ICMP echo tuple uses the identifier and the reply type', () => {
  const ct = new Conntrack({ maxFlows: 4 });
  const req = view(icmp4EchoFrame({ ...L2, src: '10.0.0.1', dst: '10.0.0.2', identifier: 9, sequence: 1 }));
  assert.equal(ct.classify(req, 0), CT.NEW);
  ct.create(req.key, null, req, 0);
  const rep = view(icmp4EchoFrame({ ...L2, src: '10.0.0.2', dst: '10.0.0.1', identifier: 9, sequence: 1, reply: true }));
  assert.equal(ct.classify(rep, 1), CT.ESTABLISHED);
  assert.equal(ct.lastRef & 1, 1, 'reply direction');
  const other = view(icmp4EchoFrame({ ...L2, src: '10.0.0.2', dst: '10.0.0.1', identifier: 10, sequence: 1, reply: true }));
  assert.equal(ct.classify(other, 1), CT.INVALID);
  const udp = view(udpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 }));
  assert.equal(ct.classify(udp, 2), CT.NEW);
});
