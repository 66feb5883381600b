import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ipv6 from './ipv6.js';
import { buildIpv6, buildIpv6Fragment, buildIpv6OptionsHeader, buildIpv6Routing, ipv6ToString, parseIpv6, parseIpv6Addr, pseudoDstOffset, MAX_EXT_HEADERS } from './ipv6.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// RFC 8200: version 6, traffic class 0xb8, flow label 0x12345, payload length 48, next header 0
// (hop-by-hop), hop limit 255, 2001:db8::1 → ff02::1:ff00:2. Then:
//   hop-by-hop: nh 60, len 0, router alert (05 02 0000), PadN(0) (01 00)      8 bytes
//   dest opts:  nh 43, len 0, PadN(4) (01 04 00000000)                          8 bytes
//   routing:    nh 44, len 2, type 2, segleft 1, reserved, home address 2001:db8::99   24 bytes
//   fragment:   nh 17, res, offset 0 M 1 (0001), id 0xdeadbeef                  8 bytes
// upper-layer bytes: none (the fragment is cut right there: payload length ends at the fragment header).
const PKT =
  '6b812345 0030 00 ff 20010db8000000000000000000000001 ff0200000000000000000001ff000002' +
  '3c00 0502 0000 0100' +
  '2b00 0104 00000000' +
  '2c02 0201 00000000 20010db8000000000000000000000099' +
  '1100 0001 deadbeef';

test('golden packet: fixed header accessors and the extension header walk', () => {
  const b = hex(PKT);
  assert.equal(b.length, 88);
  assert.equal(ipv6.version(b, 0), 6);
  assert.equal(ipv6.trafficClass(b, 0), 0xb8);
  assert.equal(ipv6.flowLabel(b, 0), 0x12345);
  assert.equal(ipv6.payloadLength(b, 0), 48);
  assert.equal(ipv6.nextHeader(b, 0), 0);
  assert.equal(ipv6.hopLimit(b, 0), 255);
  assert.equal(ipv6ToString(b, ipv6.srcOffset(0)), '2001:db8::1');
  assert.equal(ipv6ToString(b, ipv6.dstOffset(0)), 'ff02::1:ff00:2');
  const p = parseIpv6(b, 0, b.length);
  assert.ok(p.ok);
  assert.deepEqual(
    p.extensions.map((e) => [e.type, e.offset, e.headerLength, e.nextHeader]),
    [[0, 40, 8, 60], [60, 48, 8, 43], [43, 56, 24, 44], [44, 80, 8, 17]],
  );
  const rt = p.extensions[2]!;
  assert.deepEqual([rt.routingType, rt.segmentsLeft], [2, 1]);
  const fr = p.extensions[3]!;
  assert.deepEqual([fr.fragOffset, fr.more, fr.fragId], [0, true, 0xdeadbeef]);
  assert.deepEqual([p.upperProtocol, p.upperOffset, p.end, p.fragmented, p.laterFragment], [17, 88, 88, true, false]);
  // The pseudo-header uses the final destination: the routing header's address (RFC 8200 §8.1).
  assert.equal(pseudoDstOffset(b, p), 56 + 8);
});

test('round trip: the builders give back the same bytes', () => {
  const b = hex(PKT);
  const p = parseIpv6(b, 0, b.length);
  assert.ok(p.ok);
  const out = new Uint8Array(b.length);
  let o = buildIpv6(out, 0, { trafficClass: p.trafficClass, flowLabel: p.flowLabel, nextHeader: p.nextHeader, hopLimit: p.hopLimit, src: p.src, dst: p.dst, payloadLength: p.payloadLength });
  o += buildIpv6OptionsHeader(out, o, 60, new Uint8Array([5, 2, 0, 0]));
  o += buildIpv6OptionsHeader(out, o, 43);
  o += buildIpv6Routing(out, o, 44, 2, 1, ['2001:db8::99']);
  o += buildIpv6Fragment(out, o, 17, 0, true, 0xdeadbeef);
  assert.equal(o, b.length);
  assert.deepEqual(out, b);
});

test('setters', () => {
  const b = hex(PKT);
  ipv6.setHopLimit(b, 0, 7);
  ipv6.setTrafficClass(b, 0, 0x0a);
  ipv6.setPayloadLength(b, 0, 0x1234);
  ipv6.setNextHeader(b, 0, 59);
  assert.deepEqual([ipv6.hopLimit(b, 0), ipv6.trafficClass(b, 0), ipv6.flowLabel(b, 0), ipv6.payloadLength(b, 0), ipv6.nextHeader(b, 0)], [7, 0x0a, 0x12345, 0x1234, 59]);
  assert.ok(ipv6.addrEquals(b, 8, parseIpv6Addr('2001:db8::1'), 0));
});

test('each malformation gives its typed reason', () => {
  const b = hex(PKT);
  assert.deepEqual(parseIpv6(b, 0, 39), { ok: false, reason: 'truncated', offset: 39 });
  const v4 = b.slice();
  v4[0] = 0x45;
  assert.deepEqual(parseIpv6(v4, 0, 88), { ok: false, reason: 'bad-version', offset: 0 });
  assert.deepEqual(parseIpv6(b, 0, 87), { ok: false, reason: 'bad-length', offset: 4 }, 'payload length beyond the bytes');
  const extLong = b.slice();
  extLong[57] = 5; // routing header claims 48 bytes
  assert.deepEqual(parseIpv6(extLong, 0, 88), { ok: false, reason: 'bad-length', offset: 57 });
  const opt = b.slice();
  opt[47] = 9; // PadN running past its header
  assert.deepEqual(parseIpv6(opt, 0, 88), { ok: false, reason: 'bad-option', offset: 47 });
  const order = b.slice();
  order[48] = 0; // dest opts announces a hop-by-hop header
  assert.deepEqual(parseIpv6(order, 0, 88), { ok: false, reason: 'bad-header-order', offset: 56 });
  const cut = b.slice();
  cut[5] = 44; // payload ends inside the fragment header
  assert.deepEqual(parseIpv6(cut, 0, 88), { ok: false, reason: 'truncated', offset: 80 });
  // A chain of destination options headers longer than MAX_EXT_HEADERS.
  const n = MAX_EXT_HEADERS + 2;
  const chain = new Uint8Array(40 + 8 * n);
  buildIpv6(chain, 0, { nextHeader: 60, src: '::1', dst: '::1', payloadLength: 8 * n });
  for (let i = 0; i < n; i++) buildIpv6OptionsHeader(chain, 40 + 8 * i, i === n - 1 ? 59 : 60);
  assert.deepEqual(parseIpv6(chain, 0, chain.length), { ok: false, reason: 'too-many-headers', offset: 40 + 8 * MAX_EXT_HEADERS });
});

test('a later fragment stops the walk; an atomic fragment is a whole packet', () => {
  const later = new Uint8Array(40 + 8 + 8);
  buildIpv6(later, 0, { nextHeader: 44, src: '::1', dst: '::2', payloadLength: 16 });
  buildIpv6Fragment(later, 40, 6, 100, false, 1);
  const p = parseIpv6(later, 0, later.length);
  assert.ok(p.ok && p.laterFragment && p.fragmented && p.upperOffset === 48);
  const atomic = new Uint8Array(40 + 8);
  buildIpv6(atomic, 0, { nextHeader: 44, src: '::1', dst: '::2', payloadLength: 8 });
  buildIpv6Fragment(atomic, 40, 59, 0, false, 1);
  const q = parseIpv6(atomic, 0, atomic.length);
  assert.ok(q.ok && !q.fragmented && !q.laterFragment);
});

test('RFC 5952 text form and parsing', () => {
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not ::
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of equal runs
    ['0:0:0:0:0:0:0:0', '::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['FE80::1', 'fe80::1'],
  ];
  for (const [input, want] of cases) assert.equal(ipv6ToString(parseIpv6Addr(input), 0), want, input);
  for (const badText of ['1::2::3', '12345::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', 'g::1', '::1.2.3.256'])
    assert.throws(() => parseIpv6Addr(badText), (e: Error) => e.name === 'Ipv6AddressError', badText);
});
