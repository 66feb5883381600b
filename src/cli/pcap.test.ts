import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED_CAPTURE, convertCapture, inspectCapture } from './pcap.js';
import { FrameSummarizer } from './pcap-summary.js';
import { openCapture } from '../packet/capfile.js';
import { decodeFrame } from '../packet/decode.js';
import fc from 'fast-check';
import { PcapngWriter } from '../packet/pcapng.js';
import { CaptureError } from '../packet/capture.js';
import * as F from '../packet/frames.js';
import { PcapWriter } from '../packet/pcap.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const BUNDLED_NG = BUNDLED_CAPTURE.replace(/\.pcap$/, '.pcapng');

function swnet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function capture(path: string): string[] {
  let out = '';
  inspectCapture(path, { write: (s) => { out += s; } });
  return out.split('\n');
}

test('bundled captures are small real captures', () => {
  for (const f of [BUNDLED_CAPTURE, BUNDLED_NG]) {
    assert.ok(statSync(f).size < 50_000);
    assert.ok(statSync(f).size > 2_000);
  }
});

test('inspect prints exactly what `tcpdump -n` prints for the bundled kernel captures (pcap and pcapng)', { skip: have('tcpdump') ? false : 'tcpdump missing' }, () => {
  for (const f of [BUNDLED_CAPTURE, BUNDLED_NG]) {
    const r = spawnSync('tcpdump', ['-n', '-r', f], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    assert.equal(r.status, 0, r.stderr);
    const want = r.stdout.trimEnd().split('\n');
    const got = capture(f);
    assert.ok(want.length >= 40);
    assert.deepEqual(got.slice(0, want.length), want);
    // Then the totals.
    const tail = got.slice(want.length).join('\n');
    const frames = want.filter((l) => /^\d\d:\d\d:\d\d\.\d{6} /.test(l)).length;
    assert.match(tail, new RegExp(`^${frames} frames, \\d+ bytes captured`, 'm'));
    for (const p of ['arp', 'icmp', 'icmpv6', 'udp', 'tcp', 'vxlan']) assert.match(tail, new RegExp(`^${p} +\\d+ +\\d+$`, 'm'));
  }
});

test('inspect matches `tcpdump -n` on built frames: 802.1Q, QinQ, MPLS, ICMP/ICMPv6 errors, RS/RA, SACK, URG/ECN flags, VXLAN', { skip: have('tcpdump') ? false : 'tcpdump missing' }, () => {
  const A = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };
  const v4 = { ...A, src: '10.0.0.1', dst: '10.0.0.2' };
  const v6 = { ...A, src: 'fd00::1', dst: 'fd00::2' };
  const udp = F.udpFrame({ ...v4, srcPort: 1234, dstPort: 5678, payload: new Uint8Array(20) });
  const udp6 = F.udpFrame({ ...v6, srcPort: 1234, dstPort: 5678, payload: new Uint8Array(20) });
  const err4 = { ...A, src: '10.0.0.254', dst: '10.0.0.1', invoking: udp.subarray(14) };
  const err6 = { ...A, src: 'fd00::fe', dst: 'fd00::1', invoking: udp6.subarray(14) };
  const frames = [
    F.icmp4EchoFrame({ ...v4, vlans: [{ vid: 10, pcp: 3 }], identifier: 7, sequence: 9 }),
    F.udpFrame({ ...v4, vlans: [{ tpid: 0x88a8, vid: 100 }, { vid: 10 }], srcPort: 1000, dstPort: 2000, payload: new Uint8Array(10) }),
    F.mplsFrame({ ...A, labels: [{ label: 100 }, { label: 200, ttl: 63 }], payload: F.icmp4EchoFrame({ ...v4, identifier: 1, sequence: 2 }).subarray(14) }),
    F.mplsFrame({ ...A, labels: [{ label: 16 }], payload: udp6.subarray(14) }),
    F.icmp4ErrorFrame({ ...err4, type: 3, code: 1 }),
    F.icmp4ErrorFrame({ ...err4, type: 3, code: 4, nextHopMtu: 1400 }),
    F.icmp4ErrorFrame({ ...err4, type: 11, code: 0 }),
    F.icmp4ErrorFrame({ ...err4, type: 3, code: 3 }),
    F.icmp6ErrorFrame({ ...err6, type: 2, code: 0, value: 1280 }),
    F.icmp6ErrorFrame({ ...err6, type: 3, code: 0 }),
    F.icmp6ErrorFrame({ ...err6, type: 1, code: 4 }),
    F.icmp6ErrorFrame({ ...err6, type: 1, code: 3 }),
    F.rsFrame({ srcMac: A.srcMac, src: 'fe80::1' }),
    F.raFrame({ srcMac: A.srcMac, src: 'fe80::1', routerLifetime: 1800, mtu: 1500, prefixes: [{ prefix: '2001:db8::', prefixLength: 64 }] }),
    F.tcpFrame({ ...v4, srcPort: 7000, dstPort: 40000, seq: 1000, ack: 2000, flags: 0x10, options: { timestamp: [1, 2], sack: [3000, 4000, 5000, 6000] } }),
    F.tcpFrame({ ...v4, srcPort: 7000, dstPort: 40000, seq: 1000, ack: 2000, flags: 0x18 | 0x20 | 0x40 | 0x80, payload: new Uint8Array(5) }),
    F.tcpFrame({ ...v4, dst: '10.0.0.1', src: '10.0.0.2', srcPort: 40000, dstPort: 7000, seq: 2000, ack: 1005, flags: 0x10, options: { sack: [1500, 1600] } }),
    F.arpReplyFrame({ srcMac: A.srcMac, spa: '10.0.0.1', tpa: '10.0.0.2', tha: A.dstMac }),
    F.vxlanEncap({ outer: { ...v4 }, vni: 5000, inner: F.icmp4EchoFrame({ ...v4, identifier: 3, sequence: 4 }) }),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'swcli-'));
  try {
    const path = join(dir, 'built.pcap');
    const w = PcapWriter.create(path, { linkType: 1, nanosecond: true });
    frames.forEach((f, i) => w.write(0, 1_700_000_000_000_000_000n + BigInt(i) * 1000n, f));
    w.close();
    const r = spawnSync('tcpdump', ['-n', '-r', path], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    assert.equal(r.status, 0, r.stderr);
    const want = r.stdout.trimEnd().split('\n');
    assert.deepEqual(capture(path).slice(0, want.length), want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inspect - reads a capture streamed on standard input', () => {
  const r = spawnSync('sh', ['-c', `cat "${BUNDLED_NG}" | "${process.execPath}" "${MAIN}" pcap inspect -`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n'), capture(BUNDLED_NG));
});

test('inspect --json is one JSON document with frames, interfaces and totals', () => {
  const r = swnet('pcap', 'inspect', BUNDLED_NG, '--json');
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    format: string; frames: { number: number; tsNs: string; protocol: string; summary: string; layers: string[]; checksumsOk: boolean }[];
    interfaces: { linkType: number }[]; totals: { frames: number; protocols: Record<string, { frames: number }> }; error: null;
  };
  assert.equal(doc.format, 'pcapng');
  assert.equal(doc.error, null);
  assert.equal(doc.interfaces[0]?.linkType, 1);
  assert.equal(doc.frames.length, doc.totals.frames);
  assert.equal(Object.values(doc.totals.protocols).reduce((n, p) => n + p.frames, 0), doc.totals.frames);
  assert.ok(doc.frames.every((f) => f.checksumsOk));
  const syn = doc.frames.find((f) => f.summary.includes('Flags [S]'));
  assert.ok(syn);
  assert.deepEqual(syn.layers.slice(0, 3), ['eth', 'ipv4', 'tcp']);
  assert.equal(syn.protocol, 'tcp');
  assert.match(syn.tsNs, /^\d{19}$/);
});

test('convert pcap → pcapng → pcap gives back the same bytes; tshark reads the pcapng', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swcli-'));
  try {
    const ng = join(dir, 'x.pcapng');
    const back = join(dir, 'x.pcap');
    const r1 = swnet('pcap', 'convert', BUNDLED_CAPTURE, ng);
    assert.equal(r1.status, 0, r1.stderr);
    assert.match(r1.stdout, /frames written to .*x\.pcapng \(pcapng\)/);
    const r2 = swnet('pcap', 'convert', ng, back);
    assert.equal(r2.status, 0, r2.stderr);
    assert.deepEqual(readFileSync(back), readFileSync(BUNDLED_CAPTURE));
    const r3 = swnet('pcap', 'convert', BUNDLED_CAPTURE, join(dir, 'y.bin'), '--format', 'pcapng');
    assert.equal(r3.status, 0, r3.stderr);
    assert.deepEqual(readFileSync(join(dir, 'y.bin')), readFileSync(ng));
    if (have('tshark')) {
      const t = spawnSync('tshark', ['-n', '-r', ng, '-Y', '_ws.malformed || _ws.expert.severity >= error'], { encoding: 'utf8' });
      assert.equal(t.status, 0, t.stderr);
      assert.equal(t.stdout.trim(), '');
      const c = spawnSync('tshark', ['-n', '-r', ng, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
      assert.equal(c.stdout.trim().split('\n').length, capture(BUNDLED_CAPTURE).filter((l) => /^\d\d:\d\d:\d\d\.\d{6} /.test(l)).length);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('convert pcapng with two link types to pcap fails with the offset, leaves no output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swcli-'));
  try {
    const src = join(dir, 'two.pcapng');
    const w = PcapngWriter.create(src, { interfaces: [{ linkType: 1 }, { linkType: 101 }] });
    const frame = F.icmp4EchoFrame({ srcMac: 0x020000000001, dstMac: 0x020000000002, src: '10.0.0.1', dst: '10.0.0.2', identifier: 1, sequence: 1 });
    w.write(0, 1n, frame);
    w.write(1, 2n, frame.subarray(14));
    w.close();
    const out = join(dir, 'two.pcap');
    assert.throws(() => convertCapture(src, out), (e: unknown) => e instanceof CaptureError && /link type 101/.test(e.message) && e.offset > 0);
    assert.equal(existsSync(out), false);
    // Raw-IP interfaces are summarised too.
    const lines = capture(src);
    assert.match(lines[0] ?? '', /IP 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request, id 1, seq 1, length \d+$/);
    assert.match(lines[1] ?? '', /IP 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request, id 1, seq 1, length \d+$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that is not a capture: message names file and byte offset, exit code 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swcli-'));
  try {
    const junk = join(dir, 'junk.pcap');
    writeFileSync(junk, 'definitely not a capture file');
    let r = swnet('pcap', 'inspect', junk);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${junk.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: byte offset 0: not a pcap or pcapng file`));
    const cut = join(dir, 'cut.pcap');
    writeFileSync(cut, readFileSync(BUNDLED_CAPTURE).subarray(0, 1000));
    r = swnet('pcap', 'inspect', cut);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cut\.pcap: byte offset \d+: truncated record/);
    assert.ok(r.stdout.split('\n').length > 5, 'frames before the fault are printed');
    r = swnet('pcap', 'inspect', cut, '--json');
    assert.equal(r.status, 1);
    const doc = JSON.parse(r.stdout) as { error: { offset: number; file: string } };
    assert.equal(doc.error.file, cut);
    assert.ok(doc.error.offset > 24 && doc.error.offset < 1000);
    r = swnet('pcap', 'convert', cut, join(dir, 'o.pcapng'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cut\.pcap: byte offset \d+/);
    assert.equal(existsSync(join(dir, 'o.pcapng')), false);
    r = swnet('pcap', 'inspect', join(dir, 'missing.pcap'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bundled capture (the fallback of swnet start) is inspected and exits 0', () => {
  const r = swnet('pcap', 'inspect', BUNDLED_CAPTURE);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ARP, Request who-has/);
  assert.match(r.stdout, /Flags \[S\.\]/);
  assert.match(r.stdout, /\d+ frames, \d+ bytes captured/);
});

test('the summariser never throws on mutated or truncated real frames', () => {
  const r = openCapture(BUNDLED_CAPTURE);
  const frames: Uint8Array[] = [];
  for (const rec of r) frames.push(rec.data.slice());
  r.close();
  const s = new FrameSummarizer();
  fc.assert(fc.property(fc.nat(frames.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 8 }), fc.nat(), (k, flips, cut) => {
    const f = frames[k]!.slice(0, 1 + (cut % frames[k]!.length));
    for (const [at, v] of flips) f[at % f.length] = v;
    const line = s.summarize(0n, f, decodeFrame(f).layers, f.length);
    assert.equal(typeof line.text, 'string');
    assert.ok(line.text.startsWith('00:00:00.000000 '));
  }), { numRuns: 5000 });
});
