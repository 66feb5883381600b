import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as udp from './udp.js';
import { buildUdp, parseUdp } from './udp.js';
import { pseudoSum, pseudoSum4 } from './checksum.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// RFC 768 over IPv4 10.0.0.1 → 10.0.0.2: 5000 → 53, length 13, "hello", checksum 0x9442 (RFC 1071 over pseudo-header + datagram).
const DGRAM = '13880035000d9442 68656c6c6f';
const P4 = { v: 4 as const, src: 0x0a000001, dst: 0x0a000002 };

test('golden datagram: accessors, parse with the pseudo-header, round trip', () => {
  const b = hex(DGRAM);
  assert.deepEqual([udp.srcPort(b, 0), udp.dstPort(b, 0), udp.length(b, 0), udp.checksum(b, 0)], [5000, 53, 13, 0x9442]);
  const u = parseUdp(b, 0, b.length, { pseudo: pseudoSum4(P4.src, P4.dst, 17, 13) });
  assert.ok(u.ok);
  assert.deepEqual([u.checksumStatus, u.payloadOffset, u.payloadLength], ['good', 8, 5]);
  const out = new Uint8Array(13);
  assert.equal(buildUdp(out, 0, { srcPort: u.srcPort, dstPort: u.dstPort, payload: b.subarray(8), pseudo: P4 }), 13);
  assert.deepEqual(out, b);
  assert.equal(parseUdp(b, 0, 13).ok && (parseUdp(b, 0, 13) as { checksumStatus: string }).checksumStatus, 'unverified');
});

test('a computed checksum of 0 is sent as 0xffff; a 0 on the wire means none', () => {
  // Choose the payload so that the one's complement sum is 0xffff, i.e. checksum 0 (RFC 768).
  const b = new Uint8Array(10);
  buildUdp(b, 0, { srcPort: 0, dstPort: 0, payloadLength: 2 });
  const s = pseudoSum(P4, 17, 10) + 10; // + length field
  let f = s;
  while (f > 0xffff) f = (f & 0xffff) + (f >>> 16);
  const need = 0xffff - f;
  b[8] = need >>> 8;
  b[9] = need & 0xff;
  assert.equal(udp.fillChecksum(b, 0, 10, pseudoSum(P4, 17, 10)), 0xffff);
  const u = parseUdp(b, 0, 10, { pseudo: pseudoSum(P4, 17, 10) });
  assert.ok(u.ok && u.checksumStatus === 'good');
  udp.setChecksum(b, 0, 0);
  const z = parseUdp(b, 0, 10, { pseudo: pseudoSum(P4, 17, 10) });
  assert.ok(z.ok && z.checksumStatus === 'zero');
});

test('malformed: truncated, length < 8, length > bytes, bad checksum (field or strict failure)', () => {
  const b = hex(DGRAM);
  assert.deepEqual(parseUdp(b, 0, 7), { ok: false, reason: 'truncated', offset: 0 });
  const short = b.slice();
  short[5] = 7;
  assert.deepEqual(parseUdp(short, 0, 13), { ok: false, reason: 'bad-length', offset: 4 });
  assert.deepEqual(parseUdp(b, 0, 12), { ok: false, reason: 'bad-length', offset: 4 });
  const partial = parseUdp(b, 0, 12, { partial: true });
  assert.ok(partial.ok && partial.payloadLength === 4 && partial.checksumStatus === 'unverified');
  const bad = b.slice();
  bad[12] = 0x21;
  const p = pseudoSum4(P4.src, P4.dst, 17, 13);
  const r = parseUdp(bad, 0, 13, { pseudo: p });
  assert.ok(r.ok && r.checksumStatus === 'bad');
  assert.deepEqual(parseUdp(bad, 0, 13, { pseudo: p, strict: true }), { ok: false, reason: 'bad-checksum', offset: 6 });
});

test('setters', () => {
  const b = new Uint8Array(8);
  udp.setSrcPort(b, 0, 65535);
  udp.setDstPort(b, 0, 4789);
  udp.setLength(b, 0, 8);
  assert.deepEqual(b, hex('ffff12b500080000'));
});
