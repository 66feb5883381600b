import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as icmp4 from './icmp4.js';
import { ICMP4, UNREACH, buildIcmp4, parseIcmp4 } from './icmp4.js';
import { icmp4ErrorFrame } from './frames.js';
import { decodeFrame } from './decode.js';
import { checksumValid } from './checksum.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// The invoking datagram quoted below: IPv4 10.0.0.1 → 10.0.0.2, DF, UDP 5000 → 53, total length 1404.
const QUOTED = '4500057c00004000401100000a0000010a000002' + '1388003505680000';
// RFC 792 + RFC 1191: type 3 code 4, unused 0, next-hop MTU 1400 (0x0578), checksum 0xffcd.
const FRAG_NEEDED = '0304ffcd00000578' + QUOTED;
// Time exceeded in transit: type 11 code 0, checksum 0xfd49.
const TIME_EXCEEDED = '0b00fd4900000000' + QUOTED;

test('golden destination unreachable / fragmentation needed with next-hop MTU', () => {
  const b = hex(FRAG_NEEDED);
  const m = parseIcmp4(b, 0, b.length);
  assert.ok(m.ok);
  assert.deepEqual([m.type, m.code, m.checksum, m.checksumStatus, m.nextHopMtu, m.quotedOffset, m.identifier, m.payloadLength], [3, UNREACH.FRAG_NEEDED, 0xffcd, 'good', 1400, 8, -1, 28]);
  const out = new Uint8Array(b.length);
  buildIcmp4(out, 0, { type: m.type, code: m.code, nextHopMtu: m.nextHopMtu, payload: b.subarray(8) });
  assert.deepEqual(out, b);
});

test('golden time exceeded; the error frame builder quotes IP header + 8 bytes', () => {
  const b = hex(TIME_EXCEEDED);
  const m = parseIcmp4(b, 0, b.length);
  assert.ok(m.ok);
  assert.deepEqual([m.type, m.code, m.checksumStatus, m.rest], [ICMP4.TIME_EXCEEDED, 0, 'good', 0]);
  const invoking = new Uint8Array(1404);
  invoking.set(hex(QUOTED));
  const f = icmp4ErrorFrame({ srcMac: 1, dstMac: 2, src: '10.0.0.254', dst: '10.0.0.1', type: 11, code: 0, invoking });
  assert.deepEqual(f.subarray(34), b);
  const d = decodeFrame(f);
  assert.equal(d.error, null);
  assert.deepEqual(d.layers.map((l) => l.kind), ['eth', 'ipv4', 'icmp', 'ipv4', 'udp']);
  assert.equal(d.quotedFrom, 3);
  const outer = d.layers[1]!;
  assert.ok(outer.kind === 'ipv4' && outer.tos === 0xc0 && outer.ttl === 64);
});

test('echo: accessors, request → reply in place with the RFC 1624 update', () => {
  const b = new Uint8Array(8 + 56).map((_, i) => i);
  const n = buildIcmp4(b, 0, { type: ICMP4.ECHO_REQUEST, identifier: 0x4242, sequence: 9, payload: b.slice(8) });
  assert.equal(n, 64);
  assert.deepEqual([icmp4.type(b, 0), icmp4.code(b, 0), icmp4.identifier(b, 0), icmp4.sequence(b, 0)], [8, 0, 0x4242, 9]);
  assert.ok(checksumValid(b, 0, 64));
  icmp4.echoToReply(b, 0);
  assert.equal(icmp4.type(b, 0), 0);
  assert.ok(checksumValid(b, 0, 64));
  const full = b.slice();
  icmp4.fillChecksum(full, 0, 64);
  assert.equal(icmp4.checksum(b, 0), icmp4.checksum(full, 0));
});

test('malformed: truncated; a bad checksum is a field, or a failure when strict', () => {
  const b = hex(FRAG_NEEDED);
  assert.deepEqual(parseIcmp4(b, 0, 7), { ok: false, reason: 'truncated', offset: 0 });
  b[10] = b[10]! ^ 1;
  const m = parseIcmp4(b, 0, b.length);
  assert.ok(m.ok && m.checksumStatus === 'bad');
  assert.deepEqual(parseIcmp4(b, 0, b.length, { strict: true }), { ok: false, reason: 'bad-checksum', offset: 2 });
  const u = parseIcmp4(b, 0, b.length, { verify: false });
  assert.ok(u.ok && u.checksumStatus === 'unverified');
});
