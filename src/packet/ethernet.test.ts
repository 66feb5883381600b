import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ethernet from './ethernet.js';
import { buildEthernet, parseEthernet, parseVlan, parseMac, mac48ToString, ETHERTYPE, MacAddressError } from './ethernet.js';
import { decodeFrame } from './decode.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// IEEE 802.1Q: dst, src, TPID 0x8100, TCI = PCP 5 | DEI 0 | VID 100 = 0xa064, then type 0x0800.
const TAGGED = 'ffffffffffff 020000000001 8100 a064 0800';
// 802.1ad QinQ: S-tag 0x88a8 VID 10 PCP 0, C-tag 0x8100 VID 20 PCP 3 DEI 1 (0x7014), then IPv6.
const QINQ = '0000000000aa 0000000000bb 88a8 000a 8100 7014 86dd';

test('accessors read and write the Ethernet header in place', () => {
  const b = hex(TAGGED);
  assert.equal(ethernet.dst48(b, 0), 0xffffffffffff);
  assert.equal(ethernet.src48(b, 0), 0x020000000001);
  assert.equal(ethernet.etherType(b, 0), ETHERTYPE.VLAN);
  assert.ok(ethernet.isMulticastDst(b, 0));
  assert.equal(ethernet.vlanVid(b, 14), 100);
  assert.equal(ethernet.vlanPcp(b, 14), 5);
  assert.equal(ethernet.vlanDei(b, 14), 0);
  assert.equal(ethernet.vlanEtherType(b, 14), 0x0800);
  ethernet.setSrc48(b, 0, 0xaabbccddeeff);
  ethernet.setDst48(b, 0, 0x010203040506);
  ethernet.setVlanVid(b, 14, 4094);
  ethernet.setVlanPcp(b, 14, 7);
  assert.deepEqual(b, hex('010203040506 aabbccddeeff 8100 effe 0800'));
});

test('802.1Q and QinQ golden frames parse; the builder writes the same bytes', () => {
  const b = hex(QINQ);
  const e = parseEthernet(b, 0, b.length);
  assert.ok(e.ok);
  assert.deepEqual([e.dst, e.src, e.etherType], ['00:00:00:00:00:aa', '00:00:00:00:00:bb', 0x88a8]);
  const s = parseVlan(b, 14, b.length - 14, e.etherType);
  assert.ok(s.ok);
  assert.deepEqual([s.tpid, s.vid, s.pcp, s.dei, s.etherType], [0x88a8, 10, 0, 0, 0x8100]);
  const c = parseVlan(b, 18, b.length - 18, s.etherType);
  assert.ok(c.ok);
  assert.deepEqual([c.vid, c.pcp, c.dei, c.etherType], [20, 3, 1, 0x86dd]);
  const out = new Uint8Array(b.length);
  const n = buildEthernet(out, 0, { dst: e.dst, src: e.src48, etherType: c.etherType, vlans: [{ tpid: s.tpid, vid: s.vid, pcp: s.pcp, dei: s.dei }, { vid: c.vid, pcp: c.pcp, dei: c.dei }] });
  assert.equal(n, 22);
  assert.deepEqual(out, b);
  const f = decodeFrame(hex(TAGGED + '45'));
  assert.deepEqual(f.layers.map((l) => l.kind), ['eth', 'vlan']);
  assert.equal(f.error?.layer, 'ipv4');
});

test('malformed: truncated header and tag, too many tags', () => {
  const b = hex(TAGGED);
  assert.deepEqual(parseEthernet(b, 0, 13), { ok: false, reason: 'truncated', offset: 0 });
  assert.deepEqual(parseVlan(b, 14, 3), { ok: false, reason: 'truncated', offset: 14 });
  assert.deepEqual(decodeFrame(b.subarray(0, 16)).error, { reason: 'truncated', offset: 14, layer: 'vlan' });
  const many = new Uint8Array(14 + 4 * 10);
  many.set(hex('ffffffffffff 020000000001'));
  for (let i = 0; i < 10; i++) many.set([0x81, 0x00, 0, i + 1], 12 + 4 * i);
  many.set([0x81, 0x00], 12 + 4 * 10 - 0);
  const f = decodeFrame(many);
  assert.equal(f.error?.reason, 'too-many-headers');
  assert.equal(f.layers.filter((l) => l.kind === 'vlan').length, ethernet.MAX_VLAN_TAGS);
});

test('802.3 length field (< 0x0600) ends decoding with an llc payload, not an error', () => {
  const f = decodeFrame(hex('0180c2000000 020000000001 0026 424203000000'));
  assert.equal(f.error, null);
  assert.deepEqual(f.layers.map((l) => l.kind), ['eth', 'payload']);
  const p = f.layers[1]!;
  assert.ok(p.kind === 'payload' && p.what === 'llc' && p.type === 0x26);
});

test('MAC text forms', () => {
  assert.equal(parseMac('02:00:00:00:00:01'), 0x020000000001);
  assert.equal(parseMac('AA-BB-CC-DD-EE-FF'), 0xaabbccddeeff);
  assert.equal(mac48ToString(0xaabbccddeeff), 'aa:bb:cc:dd:ee:ff');
  assert.throws(() => parseMac('02:00:00:00:00'), (e: Error) => e.name === 'MacAddressError' && e instanceof MacAddressError);
});
