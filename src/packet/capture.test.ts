import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CaptureError, LINKTYPE_ETHERNET, LINKTYPE_RAW, type CaptureReader, type CaptureRecord } from './capture.js';
import { PcapReader, PcapWriter } from './pcap.js';
import { PcapngReader, PcapngWriter } from './pcapng.js';
import { openCapture, readCaptureBytes, createCaptureWriter, formatFromPath, readBatch, writeBatch } from './capfile.js';
import { Batch, PacketPool } from './pool.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function all(r: CaptureReader): CaptureRecord[] {
  const out: CaptureRecord[] = [];
  for (const rec of r) out.push({ ...rec, data: rec.data.slice() });
  return out;
}

function expectCaptureError(fn: () => unknown, offset: number, re: RegExp, file = '<memory>'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CaptureError, `expected CaptureError, got ${String(e)}`);
    assert.equal(e.name, 'CaptureError');
    assert.equal(e.offset, offset, `offset in: ${e.message}`);
    assert.equal(e.file, file);
    assert.match(e.message, re);
    assert.ok(e.message.includes(file) && e.message.includes(`byte offset ${offset}`));
    return true;
  });
}

// A little pcapng block encoder written independently of PcapngWriter, for either byte order.
function block(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const len = 12 + body.length;
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, len, le);
  out.set(body, 8);
  v.setUint32(len - 4, len, le);
  return out;
}
function u16(le: boolean, ...xs: number[]): number[] { return xs.flatMap((x) => le ? [x & 255, x >> 8] : [x >> 8, x & 255]); }
function u32(le: boolean, ...xs: number[]): number[] { return xs.flatMap((x) => { const b = [(x >>> 24) & 255, (x >>> 16) & 255, (x >>> 8) & 255, x & 255]; return le ? b.reverse() : b; }); }
function opt(le: boolean, code: number, value: number[]): number[] {
  const pad = (4 - (value.length % 4)) % 4;
  return [...u16(le, code, value.length), ...value, ...new Array<number>(pad).fill(0)];
}
const shb = (le: boolean, opts: number[] = []): Uint8Array => block(le, 0x0a0d0d0a, Uint8Array.from([...u32(le, 0x1a2b3c4d), ...u16(le, 1, 0), ...u32(le, 0xffffffff, 0xffffffff), ...opts]));
const idb = (le: boolean, link: number, snap: number, opts: number[] = []): Uint8Array => block(le, 1, Uint8Array.from([...u16(le, link, 0), ...u32(le, snap), ...opts]));
function epb(le: boolean, iface: number, units: bigint, data: number[], orig = data.length): Uint8Array {
  const pad = (4 - (data.length % 4)) % 4;
  return block(le, 6, Uint8Array.from([...u32(le, iface, Number(units >> 32n), Number(units & 0xffffffffn), data.length, orig), ...data, ...new Array<number>(pad).fill(0)]));
}
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

test('pcap writer: golden bytes, little-endian microseconds', () => {
  const { writer, sink } = PcapWriter.inMemory({ linkType: LINKTYPE_ETHERNET, snapLen: 65535 });
  writer.write(0, 1_700_000_000_000_001_500n, unhex('deadbeef'), 60);
  writer.close();
  assert.equal(hex(sink.bytes()),
    'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '01000000'
    + '00f15365' + '01000000' + '04000000' + '3c000000' + 'deadbeef');
});

test('pcap reader: both byte orders, microsecond and nanosecond magic', () => {
  // Big-endian, nanosecond magic a1b23c4d, link type 101 (raw IP), one 3-byte record of 70 on the wire.
  const be = unhex('a1b23c4d 0002 0004 00000000 00000000 0000ffff 00000065 6553f100 000005dc 00000003 00000046 450000');
  const r = PcapReader.fromBytes(be);
  assert.equal(r.littleEndian, false);
  assert.equal(r.nanosecond, true);
  assert.deepEqual(r.interfaces[0], { linkType: LINKTYPE_RAW, snapLen: 65535, tsUnitsPerSec: 1_000_000_000n, tsOffsetSec: 0n });
  const [rec, ...rest] = all(r);
  assert.equal(rest.length, 0);
  assert.equal(rec?.tsNs, 1_700_000_000_000_001_500n);
  assert.equal(rec?.origLen, 70);
  assert.equal(rec?.offset, 24);
  assert.equal(hex(rec?.data ?? new Uint8Array()), '450000');
  // Little-endian microseconds: 1500 µs → 1.5 ms.
  const le = unhex('d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000 00f15365 dc050000 01000000 01000000 aa');
  const [r2] = all(PcapReader.fromBytes(le));
  assert.equal(r2?.tsNs, 1_700_000_000_001_500_000n);
  // FCS bits in the link-type field: bit 28 set, 2 × 16-bit words = 4 bytes.
  const fcs = unhex('d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000050');
  assert.equal(PcapReader.fromBytes(fcs).interfaces[0]?.fcsLen, 4);
});

test('pcap writer → reader round trip in all four variants keeps every record', () => {
  fc.assert(fc.property(
    fc.boolean(), fc.boolean(),
    fc.array(fc.record({ ts: fc.bigInt({ min: 0n, max: 4_000_000_000n * 1_000_000_000n }), data: fc.uint8Array({ maxLength: 200 }), extra: fc.nat(100) }), { maxLength: 20 }),
    (ns, bigEndian, recs) => {
      const { writer, sink } = PcapWriter.inMemory({ linkType: 1, nanosecond: ns, bigEndian });
      for (const x of recs) writer.write(0, x.ts, x.data, x.data.length + x.extra);
      const got = all(readCaptureBytes(sink.bytes()));
      assert.equal(got.length, recs.length);
      got.forEach((g, i) => {
        const x = recs[i]!;
        const want = ns ? x.ts : (x.ts / 1000n) * 1000n;
        assert.equal(g.tsNs, want);
        assert.equal(g.origLen, x.data.length + x.extra);
        assert.deepEqual(g.data, x.data);
      });
    }), { numRuns: 200 });
});

test('pcapng writer: golden bytes (SHB, IDB with if_name and if_tsresol=9, EPB with padding)', () => {
  const { writer, sink } = PcapngWriter.inMemory({ interfaces: [{ linkType: 1, name: 'eth0' }] });
  writer.write(0, 1_700_000_000_000_001_500n, unhex('deadbeef01'), 60);
  writer.close();
  // Made by an independent encoder (Python struct) from the pcapng draft.
  assert.equal(hex(sink.bytes()),
    '0a0d0d0a2c0000004d3c2b1a01000000ffffffffffffffff0400050073776e6574000000000000002c000000'
    + '0100000028000000010000000000040002000400657468300900010009000000000000002800000'
    + '0060000002800000000000000fe9c9717dc052a36050000003c000000deadbeef0100000028000000');
});

test('pcapng reader: both byte orders, several interfaces with link types, if_tsresol, if_tsoffset, SPB, unknown blocks and options', () => {
  for (const le of [true, false]) {
    const bytes = cat(
      shb(le, [...opt(le, 4, [...Buffer.from('test')]), ...opt(le, 0x1234, [1, 2, 3]), 0, 0, 0, 0]),
      // if0: Ethernet, snaplen 4 (cuts SPBs), microseconds (default), named; unknown option 0x5555 before the name.
      idb(le, 1, 4, [...opt(le, 0x5555, [9, 9, 9, 9, 9]), ...opt(le, 2, [...Buffer.from('veth0')]), 0, 0, 0, 0]),
      // if1: raw IP, nanoseconds, offset +10 s.
      idb(le, 101, 0, [...opt(le, 9, [9]), ...opt(le, 14, le ? [10, 0, 0, 0, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 0, 0, 10]), ...opt(le, 3, [...Buffer.from('tun')])]),
      // if2: 2^-20 s units.
      idb(le, 1, 0, [...opt(le, 9, [0x80 | 20]), ...opt(le, 13, [4])]),
      epb(le, 1, 5_000_000_123n, [0x45, 0, 0]),
      block(le, 0x00000bad, Uint8Array.from([1, 2, 3, 4])), // custom/unknown: skipped
      block(le, 5, Uint8Array.from(u32(le, 1, 0, 0))), // ISB: skipped
      epb(le, 0, 1_500_000n, [1, 2]),
      epb(le, 2, 3n << 20n, [7], 64),
      block(le, 3, Uint8Array.from([...u32(le, 6), 1, 2, 3, 4, 5, 6, 0, 0])), // SPB of 6 bytes, cut to snaplen 4
    );
    const r = PcapngReader.fromBytes(bytes, 'x.pcapng');
    const recs = all(r);
    assert.equal(r.userAppl, 'test');
    assert.equal(r.interfaces.length, 3);
    assert.deepEqual(r.interfaces[0], { linkType: 1, snapLen: 4, tsUnitsPerSec: 1_000_000n, tsOffsetSec: 0n, name: 'veth0' });
    assert.deepEqual(r.interfaces[1], { linkType: 101, snapLen: 0, tsUnitsPerSec: 1_000_000_000n, tsOffsetSec: 10n, description: 'tun' });
    assert.deepEqual(r.interfaces[2], { linkType: 1, snapLen: 0, tsUnitsPerSec: 1n << 20n, tsOffsetSec: 0n, fcsLen: 4 });
    assert.deepEqual(recs.map((x) => [x.iface, x.tsNs, x.origLen, hex(x.data)]), [
      [1, 15_000_000_123n, 3, '450000'],
      [0, 1_500_000_000n, 2, '0102'],
      [2, 3_000_000_000n, 64, '07'],
      [0, 0n, 6, '01020304'],
    ]);
  }
});

test('pcapng: a second section resets the interfaces and may switch byte order', () => {
  const bytes = cat(shb(true), idb(true, 1, 0), epb(true, 0, 1n, [1]), shb(false), idb(false, 101, 0), epb(false, 0, 2n, [2]));
  const r = readCaptureBytes(bytes) as PcapngReader;
  const recs = all(r);
  assert.equal(r.sections, 2);
  assert.deepEqual(recs.map((x) => [x.iface, x.tsNs, r.interfaces[x.iface]?.linkType]), [[0, 1000n, 1], [1, 2000n, 101]]);
  expectCaptureError(() => all(readCaptureBytes(cat(shb(true), idb(true, 1, 0), shb(true), epb(true, 0, 1n, [1])))), 28 + 20 + 28 + 8, /interface 0.*declares 0/);
});

test('pcapng writer: big-endian, several interfaces, SPB, read back by the reader', () => {
  const { writer, sink } = PcapngWriter.inMemory({ bigEndian: true, interfaces: [{ linkType: 1, name: 'a', snapLen: 100 }] });
  const i1 = writer.addInterface({ linkType: 101, nanosecond: false, description: 'raw' });
  writer.write(0, 123_456_789_012n, unhex('aabbcc'));
  writer.write(i1, 123_456_789_012n, unhex('45'), 20);
  writer.writeSimple(unhex('0102030405'));
  writer.close();
  const b = sink.bytes();
  assert.equal(hex(b.subarray(8, 12)), '1a2b3c4d');
  const r = readCaptureBytes(b);
  assert.deepEqual(all(r).map((x) => [x.iface, x.tsNs, x.origLen, hex(x.data)]), [
    [0, 123_456_789_012n, 3, 'aabbcc'],
    [1, 123_456_789_000n, 20, '45'],
    [0, 0n, 5, '0102030405'],
  ]);
  assert.equal(r.interfaces[0]?.name, 'a');
  assert.equal(r.interfaces[1]?.description, 'raw');
  assert.throws(() => writer.write(5, 0n, new Uint8Array(1)), RangeError);
});

test('not a capture: wrong magic, truncated header, record or block, inconsistent lengths, each with its byte offset', () => {
  expectCaptureError(() => readCaptureBytes(unhex('00112233445566778899')), 0, /not a pcap or pcapng file: magic 0x00112233/);
  expectCaptureError(() => readCaptureBytes(unhex('d4c3')), 0, /not a capture/);
  expectCaptureError(() => readCaptureBytes(unhex('d4c3b2a1 0200 0400 0000')), 10, /truncated pcap global header/);
  expectCaptureError(() => PcapReader.fromBytes(unhex('0a0d0d0a')), 0, /not a pcap file/);
  const { writer, sink } = PcapWriter.inMemory({ linkType: 1 });
  writer.write(0, 0n, new Uint8Array(10));
  writer.write(0, 0n, new Uint8Array(10));
  const good = sink.bytes(); // 24 + 26 + 26 bytes
  expectCaptureError(() => all(readCaptureBytes(good.subarray(0, 24 + 26 + 7))), 50, /truncated record header: 7 of 16/);
  expectCaptureError(() => all(readCaptureBytes(good.subarray(0, 24 + 26 + 16 + 3))), 50, /truncated record: header says 10 captured bytes, 3 present/);
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(24 + 8, 0x7fffffff, true);
  expectCaptureError(() => all(readCaptureBytes(huge)), 24, /exceeds the maximum/);

  const ng = cat(shb(true), idb(true, 1, 0), epb(true, 0, 1n, [1, 2, 3, 4, 5]));
  const epbAt = 28 + 20;
  expectCaptureError(() => all(readCaptureBytes(ng.subarray(0, ng.length - 2))), epbAt, /truncated block: length 40, 38 bytes present/);
  expectCaptureError(() => all(readCaptureBytes(ng.subarray(0, epbAt + 5))), epbAt, /truncated block header/);
  const badTrailer = ng.slice();
  new DataView(badTrailer.buffer).setUint32(badTrailer.length - 4, 44, true);
  expectCaptureError(() => all(readCaptureBytes(badTrailer)), badTrailer.length - 4, /disagrees/);
  const odd = ng.slice();
  new DataView(odd.buffer).setUint32(epbAt + 4, 41, true);
  expectCaptureError(() => all(readCaptureBytes(odd)), epbAt + 4, /multiple of 4/);
  const capTooBig = ng.slice();
  new DataView(capTooBig.buffer).setUint32(epbAt + 20, 9, true);
  expectCaptureError(() => all(readCaptureBytes(capTooBig)), epbAt + 20, /captured length 9 exceeds/);
  const noIface = cat(shb(true), epb(true, 0, 1n, [1]));
  expectCaptureError(() => all(readCaptureBytes(noIface)), 28 + 8, /interface 0/);
  const badBom = shb(true);
  badBom[8] = 0;
  expectCaptureError(() => all(readCaptureBytes(badBom)), 8, /byte-order magic/);
  const badOpt = cat(shb(true), idb(true, 1, 0, [...u16(true, 2, 200), 0, 0, 0, 0]));
  expectCaptureError(() => all(readCaptureBytes(badOpt)), 28 + 16, /option 2 of length 200 runs past/);
});

test('random corruption of a capture raises only CaptureError (never another exception)', () => {
  const { writer, sink } = PcapngWriter.inMemory({ interfaces: [{ linkType: 1, name: 'x' }, { linkType: 101 }] });
  for (let i = 0; i < 8; i++) writer.write(i % 2, BigInt(i) * 1000n, new Uint8Array(20 + i).fill(i));
  writer.writeSimple(new Uint8Array(30));
  const ng = sink.bytes();
  const p = PcapWriter.inMemory({ linkType: 1 });
  for (let i = 0; i < 8; i++) p.writer.write(0, BigInt(i), new Uint8Array(20 + i));
  const pc = p.sink.bytes();
  fc.assert(fc.property(fc.boolean(), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.nat(), (useNg, flips, cut) => {
    const b = (useNg ? ng : pc).slice(0, 1 + (cut % (useNg ? ng : pc).length));
    for (const [at, v] of flips) b[at % b.length] = v;
    try { all(readCaptureBytes(b)); } catch (e) { assert.ok(e instanceof CaptureError, String(e)); }
  }), { numRuns: 3000 });
});

test('streaming: a file many times the chunk size, with a record larger than the chunk, reads the same as in memory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swcap-'));
  try {
    for (const fmt of ['pcap', 'pcapng'] as const) {
      const path = join(dir, `big.${fmt}`);
      const w = createCaptureWriter(path, { iface: { linkType: 1, nanosecond: true } });
      assert.equal(w.format, fmt);
      let total = 0;
      for (let i = 0; i < 3000; i++) {
        const len = i === 1234 ? 10_000 : 60 + (i % 1400);
        const data = new Uint8Array(len).fill(i & 255);
        data[0] = i >> 8;
        w.write(0, BigInt(i) * 1_000_000n + 7n, data);
        total += len;
      }
      w.close();
      assert.ok(total > 2_000_000);
      const r = openCapture(path, { chunkSize: 4096 });
      let n = 0;
      for (const rec of r) {
        assert.equal(rec.tsNs, BigInt(n) * 1_000_000n + 7n);
        assert.equal(rec.data.length, n === 1234 ? 10_000 : 60 + (n % 1400));
        assert.equal(rec.data[0], n >> 8);
        assert.equal(rec.data[rec.data.length - 1], n & 255);
        n++;
      }
      r.close();
      assert.equal(n, 3000);
      const inMem = all(readCaptureBytes(readFileSync(path)));
      assert.equal(inMem.length, 3000);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('append: pcap keeps the existing header, pcapng adds a section; missing file is created', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swcap-'));
  try {
    const p = join(dir, 'a.pcap');
    const w1 = PcapWriter.append(p, { linkType: 1, nanosecond: true, bigEndian: true });
    w1.write(0, 5n, unhex('01'));
    w1.close();
    const w2 = PcapWriter.append(p, { linkType: 1 }); // adopts ns + big-endian of the file
    w2.write(0, 6n, unhex('02'));
    w2.close();
    assert.deepEqual(all(openCapture(p)).map((r) => [r.tsNs, hex(r.data)]), [[5n, '01'], [6n, '02']]);
    assert.throws(() => PcapWriter.append(p, { linkType: 101 }), CaptureError);
    const q = join(dir, 'a.pcapng');
    for (let i = 0; i < 2; i++) {
      const w = PcapngWriter.append(q, { interfaces: [{ linkType: 1 }] });
      w.write(0, BigInt(i), unhex('aa'));
      w.close();
    }
    const r = openCapture(q);
    assert.deepEqual(all(r).map((x) => [x.iface, x.tsNs]), [[0, 0n], [1, 1n]]);
    writeFileSync(join(dir, 'junk.pcap'), 'hello world, not a capture');
    expectCaptureError(() => openCapture(join(dir, 'junk.pcap')), 0, /magic 0x68656c6c/, join(dir, 'junk.pcap'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('formatFromPath', () => {
  assert.equal(formatFromPath('x.PCAPNG'), 'pcapng');
  assert.equal(formatFromPath('x.pcap'), 'pcap');
  assert.equal(formatFromPath('x.txt'), null);
});

test('readBatch fills pool slots up to the batch or the pool, losing no record; writeBatch writes them back', () => {
  const { writer, sink } = PcapngWriter.inMemory({ interfaces: [{ linkType: 1 }, { linkType: 1 }] });
  for (let i = 0; i < 10; i++) writer.write(i % 2, BigInt(i) * 10n, new Uint8Array(60 + i).fill(i));
  const r = readCaptureBytes(sink.bytes());
  const pool = new PacketPool({ slots: 3 });
  const batch = new Batch(4);
  const ts = new BigInt64Array(4);
  const ifaces = new Int32Array(4);
  const out = PcapngWriter.inMemory({ interfaces: [{ linkType: 1 }] });
  const seen: number[] = [];
  for (;;) {
    const n = readBatch(r, pool, batch, ts, ifaces);
    if (n === 0) break;
    assert.ok(n <= 3);
    for (let i = 0; i < batch.count; i++) {
      const f = pool.frame(batch, i);
      seen.push(f[0]!);
      assert.equal(f.length, 60 + f[0]!);
      assert.equal(ts[i], BigInt(f[0]!) * 10n);
      assert.equal(ifaces[i], f[0]! % 2);
    }
    writeBatch(out.writer, pool, batch, 0, 0n, ts);
    for (let i = 0; i < batch.count; i++) pool.release(batch.slots[i]!);
    batch.clear();
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(all(readCaptureBytes(out.sink.bytes())).map((x) => [x.tsNs, x.data.length]), seen.map((i) => [BigInt(i) * 10n, 60 + i]));
});
