import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ipv4 from './ipv4.js';
import { CHECK_REASON, buildIpv4, parseIpv4, ipv4ToString, parseIpv4Addr, Ipv4AddressError } from './ipv4.js';
import { checksumValid } from './checksum.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// RFC 791 header, IHL 7 with options: router alert (RFC 2113: 94 04 0000) and a 4-byte NOP/EOL pad;
// TOS 0xb8 (DSCP 46 EF), total length 32, id 0xabcd, MF set + fragment offset 185 (1480 bytes),
// TTL 1, protocol 17, 192.0.2.1 → 198.51.100.7. Checksum 0x684d by RFC 1071 over the 28 bytes.
const HDR = '47b80020abcd20b90111684dc0000201c6336407 94040000 01010100 aaaaaaaa';

test('golden header with options and fragmentation fields: accessors and parse', () => {
  const b = hex(HDR);
  assert.ok(checksumValid(b, 0, 28), 'golden checksum');
  assert.equal(ipv4.version(b, 0), 4);
  assert.equal(ipv4.ihl(b, 0), 7);
  assert.equal(ipv4.headerLength(b, 0), 28);
  assert.equal(ipv4.dscp(b, 0), 46);
  assert.equal(ipv4.ecn(b, 0), 0);
  assert.equal(ipv4.totalLength(b, 0), 32);
  assert.equal(ipv4.id(b, 0), 0xabcd);
  assert.equal(ipv4.flags(b, 0), 1);
  assert.ok(ipv4.moreFragments(b, 0) && !ipv4.dontFragment(b, 0) && ipv4.isFragment(b, 0));
  assert.equal(ipv4.fragOffset(b, 0), 185);
  assert.equal(ipv4.ttl(b, 0), 1);
  assert.equal(ipv4.protocol(b, 0), 17);
  assert.equal(ipv4.src(b, 0), 0xc0000201);
  assert.equal(ipv4.dst(b, 0), 0xc6336407);
  assert.ok(ipv4.headerChecksumOk(b, 0));
  assert.equal(ipv4.computeHeaderChecksum(b, 0), 0x684d);
  const p = parseIpv4(b, 0, b.length);
  assert.ok(p.ok);
  assert.equal(p.checksumStatus, 'good');
  assert.deepEqual(p.options, [
    { type: 0x94, length: 4, offset: 20 },
    { type: 1, length: 1, offset: 24 },
    { type: 1, length: 1, offset: 25 },
    { type: 1, length: 1, offset: 26 },
    { type: 0, length: 1, offset: 27 },
  ]);
  assert.deepEqual([p.payloadOffset, p.payloadLength, p.fragOffset, p.mf, p.df], [28, 4, 185, true, false]);
});

test('round trip: parse → build gives back the same bytes', () => {
  const b = hex(HDR);
  const p = parseIpv4(b, 0, b.length);
  assert.ok(p.ok);
  const out = new Uint8Array(b.length);
  out.set(b.subarray(28), 28);
  const hl = buildIpv4(out, 0, { ...p, options: b.subarray(20, p.headerLength), payloadLength: p.payloadLength });
  assert.equal(hl, 28);
  assert.deepEqual(out, b);
});

test('the header checksum verifies on the word path and the byte path (odd offsets)', () => {
  const b = hex(HDR);
  const odd = new Uint8Array(b.length + 1);
  odd.set(b, 1);
  assert.ok(ipv4.headerChecksumOk(odd, 1));
  assert.ok(ipv4.headerChecksumOk(b, 0));
  const sub = new Uint8Array(64).subarray(3, 3 + b.length); // odd byteOffset: no word view
  sub.set(b);
  assert.ok(ipv4.headerChecksumOk(sub, 0));
  for (let i = 0; i < 28; i++) {
    const c = b.slice();
    c[i] = c[i]! ^ 0x10;
    assert.ok(!ipv4.headerChecksumOk(c, 0), `flip in byte ${i} undetected`);
    const o = new Uint8Array(c.length + 1);
    o.set(c, 1);
    assert.ok(!ipv4.headerChecksumOk(o, 1), `flip in byte ${i} undetected at an odd offset`);
  }
});

test('each malformation gives its typed reason', () => {
  const b = hex(HDR);
  assert.deepEqual(parseIpv4(b, 0, 19), { ok: false, reason: 'truncated', offset: 19 });
  assert.deepEqual(parseIpv4(b, 0, 24), { ok: false, reason: 'truncated', offset: 24 }, 'IHL×4 beyond the bytes');
  assert.deepEqual(parseIpv4(b, 0, 0), { ok: false, reason: 'truncated', offset: 0 });
  const v6 = b.slice();
  v6[0] = 0x67;
  assert.deepEqual(parseIpv4(v6, 0, 32), { ok: false, reason: 'bad-version', offset: 0 });
  const small = b.slice();
  small[0] = 0x44;
  assert.deepEqual(parseIpv4(small, 0, 32), { ok: false, reason: 'ihl-too-small', offset: 0 });
  const long = b.slice();
  long[3] = 33; // total length larger than the frame
  assert.deepEqual(parseIpv4(long, 0, 32), { ok: false, reason: 'bad-length', offset: 2 });
  const short = b.slice();
  short[3] = 27; // total length smaller than the header
  assert.deepEqual(parseIpv4(short, 0, 32), { ok: false, reason: 'bad-length', offset: 2 });
  const badOpt = b.slice();
  badOpt[21] = 9; // router alert claims 9 bytes in an 8-byte options area
  assert.deepEqual(parseIpv4(badOpt, 0, 32), { ok: false, reason: 'bad-option', offset: 21 });
  badOpt[21] = 1; // length < 2
  assert.deepEqual(parseIpv4(badOpt, 0, 32), { ok: false, reason: 'bad-option', offset: 21 });
  const csum = b.slice();
  csum[8] = 2; // TTL changed, checksum not
  const r = parseIpv4(csum, 0, 32);
  assert.ok(r.ok && r.checksumStatus === 'bad');
  assert.deepEqual(parseIpv4(csum, 0, 32, { strict: true }), { ok: false, reason: 'bad-checksum', offset: 10 });
  // Bytes beyond the total length (Ethernet padding) are accepted.
  const padded = new Uint8Array(46);
  padded.set(b);
  assert.ok(parseIpv4(padded, 0, 46).ok);
});

test('check(): allocation-free validation codes match the parse reasons', () => {
  const b = hex(HDR);
  assert.equal(ipv4.check(b, 0, 32), 0);
  assert.equal(CHECK_REASON[ipv4.check(b, 0, 19)], 'truncated');
  const small = b.slice();
  small[0] = 0x44;
  assert.equal(CHECK_REASON[ipv4.check(small, 0, 32)], 'ihl-too-small');
  const long = b.slice();
  long[3] = 99;
  assert.equal(CHECK_REASON[ipv4.check(long, 0, 32)], 'bad-length');
  const csum = b.slice();
  csum[8] = 2;
  assert.equal(CHECK_REASON[ipv4.check(csum, 0, 32)], 'bad-checksum');
  const v = b.slice();
  v[0] = 0x57;
  assert.equal(CHECK_REASON[ipv4.check(v, 0, 32)], 'bad-version');
});

test('decTtl and NAT rewrites keep the checksum valid through the RFC 1624 update', () => {
  const b = hex(HDR);
  b[8] = 64;
  ipv4.updateHeaderChecksum(b, 0);
  for (let i = 0; i < 70; i++) {
    const before = ipv4.ttl(b, 0);
    const t = ipv4.decTtl(b, 0);
    assert.equal(t, (before - 1) & 0xff);
    assert.ok(ipv4.headerChecksumOk(b, 0), `after TTL ${t}`);
  }
  ipv4.rewriteSrc(b, 0, parseIpv4Addr('100.64.0.1'));
  ipv4.rewriteDst(b, 0, 0xffffffff);
  assert.ok(ipv4.headerChecksumOk(b, 0));
  assert.equal(ipv4.src(b, 0), 0x64400001);
  assert.equal(ipv4.dst(b, 0), 0xffffffff);
  ipv4.setTtl(b, 0, 9);
  assert.ok(!ipv4.headerChecksumOk(b, 0));
  ipv4.updateHeaderChecksum(b, 0);
  assert.ok(ipv4.headerChecksumOk(b, 0));
});

test('addresses: dotted quad both ways; configuration errors are typed', () => {
  assert.equal(ipv4ToString(0xc0a80001), '192.168.0.1');
  assert.equal(parseIpv4Addr('255.255.255.255'), 0xffffffff);
  assert.throws(() => parseIpv4Addr('256.1.1.1'), (e: Error) => e.name === 'Ipv4AddressError' && e instanceof Ipv4AddressError);
  assert.throws(() => parseIpv4Addr('1.2.3'), (e: Error) => e.name === 'Ipv4AddressError');
  assert.throws(() => buildIpv4(new Uint8Array(100), 0, { protocol: 6, src: 1, dst: 2, options: new Uint8Array(41), payloadLength: 0 }), (e: Error) => e.name === 'Ipv4BuildError');
});

test('DataView flavour agrees with the Uint8Array accessors on every mutation of a header', () => {
  const b = hex(HDR);
  const v = new DataView(b.buffer);
  assert.deepEqual(
    [ipv4.headerLengthView(v, 0), ipv4.totalLengthView(v, 0), ipv4.ttlView(v, 0), ipv4.protocolView(v, 0), ipv4.srcView(v, 0), ipv4.dstView(v, 0)],
    [28, 32, 1, 17, 0xc0000201, 0xc6336407],
  );
  for (let i = 0; i < 32; i++) {
    for (const x of [0x01, 0x10, 0xff]) {
      const c = b.slice();
      c[i] = c[i]! ^ x;
      const cv = new DataView(c.buffer);
      for (const len of [12, 20, 27, 28, 32]) assert.equal(ipv4.checkView(cv, 0, len), ipv4.check(c, 0, len), `byte ${i} ^ ${x}, len ${len}`);
      if (ipv4.headerLength(c, 0) >= 20) assert.equal(ipv4.headerChecksumOkView(cv, 0), ipv4.headerChecksumOk(c, 0));
    }
  }
});
