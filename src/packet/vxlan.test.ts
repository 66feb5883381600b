import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as vxlan from './vxlan.js';
import { buildVxlan, parseVxlan, VXLAN_FLAG_I } from './vxlan.js';
import { vxlanEncap, udpFrame } from './frames.js';
import { decodeFrame } from './decode.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// RFC 7348 §5: flags 0x08 (I), 24 reserved bits, VNI 0x123456, 8 reserved bits.
const HDR = '08000000 12345600';

test('golden header: accessors, parse, build', () => {
  const b = hex(HDR);
  assert.equal(vxlan.flags(b, 0), VXLAN_FLAG_I);
  assert.equal(vxlan.vni(b, 0), 0x123456);
  const v = parseVxlan(b, 0, 8);
  assert.ok(v.ok);
  assert.deepEqual([v.flags, v.vniValid, v.vni, v.reserved1, v.reserved2], [8, true, 0x123456, 0, 0]);
  const out = new Uint8Array(8).fill(0xff);
  assert.equal(buildVxlan(out, 0, 0x123456), 8);
  assert.deepEqual(out, b);
  vxlan.setVni(out, 0, 1);
  assert.equal(vxlan.vni(out, 0), 1);
});

test('reserved bits and a clear I flag are reported, not errors (RFC 7348 §5); truncation is', () => {
  const v = parseVxlan(hex('00ff0000 00000aff'), 0, 8);
  assert.ok(v.ok && !v.vniValid && v.reserved1 === 0xff0000 && v.reserved2 === 0xff && v.vni === 10);
  assert.deepEqual(parseVxlan(hex(HDR), 0, 7), { ok: false, reason: 'truncated', offset: 0 });
});

test('encapsulation over IPv4 (UDP checksum 0) and IPv6 (checksum computed), entropy source port', () => {
  const inner = udpFrame({ srcMac: 0x0a0000000001, dstMac: 0x0a0000000002, src: '172.16.0.1', dst: '172.16.0.2', srcPort: 1, dstPort: 2, payload: new Uint8Array(3) });
  const o4 = vxlanEncap({ outer: { srcMac: 1, dstMac: 2, src: '192.0.2.1', dst: '192.0.2.2' }, vni: 7, inner });
  assert.equal(o4.length, 14 + 20 + 8 + 8 + inner.length);
  const f4 = decodeFrame(o4);
  assert.equal(f4.error, null);
  assert.ok(f4.checksumsOk);
  const u = f4.layers[2]!;
  assert.ok(u.kind === 'udp' && u.checksumStatus === 'zero' && u.dstPort === 4789 && u.srcPort >= 49152);
  assert.deepEqual(o4.subarray(50), inner);
  const o6 = vxlanEncap({ outer: { srcMac: 1, dstMac: 2, src: '2001:db8::1', dst: '2001:db8::2', srcPort: 5555, dstPort: 8472 }, vni: 9, inner });
  const f6 = decodeFrame(o6, 0, o6.length, { vxlanPort: 8472 });
  assert.equal(f6.error, null);
  assert.deepEqual(f6.layers.map((l) => l.kind), ['eth', 'ipv6', 'udp', 'vxlan', 'eth', 'ipv4', 'udp', 'payload']);
  const u6 = f6.layers[2]!;
  assert.ok(u6.kind === 'udp' && u6.checksumStatus === 'good' && u6.srcPort === 5555);
});

test('nesting deeper than maxVxlanDepth is too-many-headers', () => {
  let f = udpFrame({ srcMac: 1, dstMac: 2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2 });
  for (let i = 0; i < 5; i++) f = vxlanEncap({ outer: { srcMac: 1, dstMac: 2, src: '10.0.0.1', dst: '10.0.0.2' }, vni: i, inner: f });
  const d = decodeFrame(f, 0, f.length, { maxVxlanDepth: 3 });
  assert.equal(d.error?.reason, 'too-many-headers');
  assert.equal(d.error?.layer, 'vxlan');
  assert.equal(decodeFrame(f, 0, f.length, { maxVxlanDepth: 8 }).error, null);
});
