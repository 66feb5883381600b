import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as arp from './arp.js';
import { ARP_OP, buildArp, parseArp } from './arp.js';
import { arpReplyFrame, arpRequestFrame } from './frames.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// RFC 826 request "who has 10.0.0.2, tell 10.0.0.1": htype 1, ptype 0x0800, hlen 6, plen 4, op 1,
// sha 02:00:00:00:00:01 spa 10.0.0.1, tha 0, tpa 10.0.0.2; padded to 60 bytes on the wire.
const REQ = 'ffffffffffff 020000000001 0806  0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002' + '00'.repeat(18);

test('golden ARP request: accessors, parse, and the frame builder give the same bytes', () => {
  const b = hex(REQ);
  assert.equal(b.length, 60);
  assert.equal(arp.arpOp(b, 14), ARP_OP.REQUEST);
  assert.equal(arp.arpSpa(b, 14), 0x0a000001);
  assert.equal(arp.arpTpa(b, 14), 0x0a000002);
  const a = parseArp(b, 14, b.length - 14);
  assert.ok(a.ok);
  assert.deepEqual([a.htype, a.ptype, a.hlen, a.plen, a.op, a.sha, a.spa, a.tha, a.tpa], [1, 0x0800, 6, 4, 1, '02:00:00:00:00:01', 0x0a000001, '00:00:00:00:00:00', 0x0a000002]);
  assert.deepEqual(arpRequestFrame({ srcMac: 0x020000000001, spa: '10.0.0.1', tpa: '10.0.0.2' }), b);
  const out = new Uint8Array(28);
  buildArp(out, 0, { op: a.op, sha: a.sha, spa: a.spa, tha: a.tha, tpa: a.tpa });
  assert.deepEqual(out, b.subarray(14, 42));
});

test('reply: unicast to the requester, op 2, in-place turn-around with the setters', () => {
  const r = arpReplyFrame({ srcMac: 0x020000000002, spa: '10.0.0.2', tpa: '10.0.0.1', tha: 0x020000000001 });
  const a = parseArp(r, 14, r.length - 14);
  assert.ok(a.ok);
  assert.deepEqual([a.op, a.sha, a.tha], [2, '02:00:00:00:00:02', '02:00:00:00:00:01']);
  assert.equal(r[0], 0x02);
  const b = hex(REQ);
  arp.setArpOp(b, 14, ARP_OP.REPLY);
  assert.equal(arp.arpOp(b, 14), 2);
  assert.equal(arp.arpShaOffset(14), 22);
  assert.equal(arp.arpThaOffset(14), 32);
});

test('malformed: truncated, non-Ethernet/IPv4 hardware', () => {
  const b = hex(REQ);
  assert.deepEqual(parseArp(b, 14, 7), { ok: false, reason: 'truncated', offset: 14 });
  assert.deepEqual(parseArp(b, 14, 27), { ok: false, reason: 'truncated', offset: 41 });
  b[15] = 6; // htype IEEE 802
  assert.deepEqual(parseArp(b, 14, 46), { ok: false, reason: 'unsupported', offset: 14 });
});
