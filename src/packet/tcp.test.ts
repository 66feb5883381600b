import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tcp from './tcp.js';
import { TCP_FLAG, buildTcp, encodeTcpOptions, parseTcp } from './tcp.js';
import { pseudoSum4 } from './checksum.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s+/g, '').match(/../g)!.map((x) => parseInt(x, 16)));

// RFC 9293 SYN 40000 → 80, seq 1000, data offset 10, window 64240, checksum 0x9893 over the IPv4
// pseudo-header 10.0.0.1 → 10.0.0.2; options as Linux orders them: MSS 1460 (RFC 9293), SACK-permitted
// + timestamps 1/0 (RFC 2018, RFC 7323), NOP + window scale 7.
const SYN = '9c40 0050 000003e8 00000000 a002 faf0 9893 0000 020405b4 0402080a 00000001 00000000 01030307';
const PSEUDO = pseudoSum4(0x0a000001, 0x0a000002, 6, 40);

test('golden SYN: accessors, options, checksum, round trip', () => {
  const b = hex(SYN);
  assert.deepEqual(
    [tcp.srcPort(b, 0), tcp.dstPort(b, 0), tcp.seq(b, 0), tcp.ack(b, 0), tcp.headerLength(b, 0), tcp.flags(b, 0), tcp.window(b, 0), tcp.checksum(b, 0), tcp.urgentPointer(b, 0)],
    [40000, 80, 1000, 0, 40, TCP_FLAG.SYN, 64240, 0x9893, 0],
  );
  const t = parseTcp(b, 0, b.length, { pseudo: PSEUDO });
  assert.ok(t.ok);
  assert.deepEqual([t.mss, t.sackPermitted, t.tsVal, t.tsEcr, t.windowScale, t.sack, t.checksumStatus, t.payloadLength], [1460, true, 1, 0, 7, [], 'good', 0]);
  assert.deepEqual(t.options.map((o) => [o.kind, o.length, o.offset]), [[2, 4, 20], [4, 2, 24], [8, 10, 26], [1, 1, 36], [3, 3, 37]]);
  const out = new Uint8Array(40);
  buildTcp(out, 0, { srcPort: t.srcPort, dstPort: t.dstPort, seq: t.seq, ack: t.ack, flags: t.flags, window: t.window, options: b.subarray(20, 40), pseudo: { v: 4, src: 0x0a000001, dst: 0x0a000002 } });
  assert.deepEqual(out, b);
  assert.deepEqual(encodeTcpOptions({ mss: 1460, sackPermitted: true, timestamp: [1, 0], windowScale: 7 }), b.subarray(20, 40));
});

test('SACK blocks, all 12 flag bits, data', () => {
  const b = new Uint8Array(20 + 20 + 5);
  const n = buildTcp(b, 0, {
    srcPort: 1,
    dstPort: 2,
    seq: 0xffffffff,
    ack: 0x80000000,
    flags: 0xfff,
    options: { sack: [100, 200, 0xfffffff0, 0xffffffff] },
    payload: new TextEncoder().encode('hello'),
    urgentPointer: 3,
    pseudo: { v: 4, src: 1, dst: 2 },
  });
  assert.equal(n, 45);
  const t = parseTcp(b, 0, n, { pseudo: pseudoSum4(1, 2, 6, n) });
  assert.ok(t.ok);
  assert.deepEqual([t.seq, t.ack, t.flags, t.sack, t.urgentPointer, t.payloadOffset, t.payloadLength, t.checksumStatus], [0xffffffff, 0x80000000, 0xfff, [100, 200, 0xfffffff0, 0xffffffff], 3, 40, 5, 'good']);
  tcp.setFlags(b, 0, TCP_FLAG.RST | TCP_FLAG.ACK);
  assert.equal(tcp.flags(b, 0), 0x014);
  assert.equal(b[12]! >>> 4, 10, 'data offset kept');
});

test('each malformation gives its typed reason', () => {
  const b = hex(SYN);
  assert.deepEqual(parseTcp(b, 0, 19), { ok: false, reason: 'truncated', offset: 0 });
  const small = b.slice();
  small[12] = 0x40;
  assert.deepEqual(parseTcp(small, 0, 40), { ok: false, reason: 'data-offset-too-small', offset: 12 });
  assert.deepEqual(parseTcp(b, 0, 39), { ok: false, reason: 'bad-length', offset: 12 }, 'header longer than the segment');
  const mss = b.slice();
  mss[21] = 5;
  assert.deepEqual(parseTcp(mss, 0, 40), { ok: false, reason: 'bad-option', offset: 21 });
  const zero = b.slice();
  zero[21] = 0;
  assert.deepEqual(parseTcp(zero, 0, 40), { ok: false, reason: 'bad-option', offset: 21 });
  const past = b.slice();
  past[38] = 4; // window scale (at 37) claims 4 bytes: runs past the 40-byte header
  assert.deepEqual(parseTcp(past, 0, 40), { ok: false, reason: 'bad-option', offset: 38 });
  const ts = b.slice();
  ts[27] = 8;
  assert.deepEqual(parseTcp(ts, 0, 40), { ok: false, reason: 'bad-option', offset: 27 });
  const bad = b.slice();
  bad[4] = 1;
  const r = parseTcp(bad, 0, 40, { pseudo: PSEUDO });
  assert.ok(r.ok && r.checksumStatus === 'bad');
  assert.deepEqual(parseTcp(bad, 0, 40, { pseudo: PSEUDO, strict: true }), { ok: false, reason: 'bad-checksum', offset: 16 });
  assert.throws(() => buildTcp(new Uint8Array(80), 0, { srcPort: 1, dstPort: 2, flags: 2, options: new Uint8Array(41) }), (e: Error) => e.name === 'TcpBuildError');
});

test('MSS clamping keeps the checksum valid, at even and odd option positions', () => {
  const P = { v: 4 as const, src: 0x0a000001, dst: 0x0a000002 };
  for (const lead of [0, 1, 3]) {
    const opts = new Uint8Array([...new Array<number>(lead).fill(1), 2, 4, 0x05, 0xb4]);
    const b = new Uint8Array(60);
    const n = buildTcp(b, 0, { srcPort: 1, dstPort: 2, flags: TCP_FLAG.SYN, options: opts, pseudo: P });
    assert.equal(tcp.clampMss(b, 0, 1400), 1400, `lead ${lead}`);
    const t = parseTcp(b, 0, n, { pseudo: pseudoSum4(P.src, P.dst, 6, n) });
    assert.ok(t.ok && t.mss === 1400 && t.checksumStatus === 'good', `lead ${lead}`);
    assert.equal(tcp.clampMss(b, 0, 1460), 1400, 'never raised');
  }
  const none = new Uint8Array(20);
  buildTcp(none, 0, { srcPort: 1, dstPort: 2, flags: TCP_FLAG.SYN });
  assert.equal(tcp.clampMss(none, 0, 1400), -1);
});
