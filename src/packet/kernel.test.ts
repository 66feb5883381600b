// Golden tests against the real Linux kernel: two network namespaces joined by veth, ARP, ping,
// ping -6 (NDP), fragmented pings, UDP and TCP over IPv4 and IPv6, UDP and TCP to closed ports
// (ICMP/ICMPv6 port unreachable, RST), ping and UDP through a kernel VXLAN tunnel, captured by tcpdump (pcap, ns) on one end and
// dumpcap (pcapng) on the other. Veth tx checksum offload is off, so the kernel writes full
// checksums. Then every field decodeFrame decodes is checked against tshark on the same file,
// parse → build must give the same bytes (checksums computed by swnet), and tshark must read what
// swnet's writers produce without a malformed or error-level expert packet. Needs root.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capture, VethPair, canUseNetns, generateTraffic, tsharkFields } from '../testkit/netns.js';
import { openCapture } from './capfile.js';
import type { CaptureRecord } from './capture.js';
import { PcapWriter } from './pcap.js';
import { PcapngWriter } from './pcapng.js';
import { decodeFrame, wiresharkFields, type DecodedFrame, type Layer } from './decode.js';
import { buildEthernet, type VlanInit } from './ethernet.js';
import { buildVxlan } from './vxlan.js';
import { buildArp } from './arp.js';
import { buildIpv4 } from './ipv4.js';
import { buildIpv6, buildIpv6Fragment, buildIpv6OptionsHeader, ipv6Addr } from './ipv6.js';
import { buildUdp } from './udp.js';
import { buildTcp } from './tcp.js';
import { buildIcmp4 } from './icmp4.js';
import { buildIcmp6, buildNeighborAdvert, buildNeighborSolicit } from './icmp6.js';
import type { PseudoHeader } from './checksum.js';

interface Frame { rec: CaptureRecord; layers: Layer[]; decoded: DecodedFrame }

function readAll(file: string): Frame[] {
  const r = openCapture(file);
  const out: Frame[] = [];
  for (const rec of r) {
    const copy = { ...rec, data: rec.data.slice() };
    const f = decodeFrame(copy.data);
    assert.equal(f.error, null, `${file} frame ${out.length + 1}: ${JSON.stringify(f.error)}`);
    out.push({ rec: copy, layers: f.layers, decoded: f });
  }
  r.close();
  return out;
}

const tsText = (ns: bigint): string => `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;

/**
 * Rebuilds a frame from its decoded fields with swnet's builders (checksums computed, never
 * copied); only bytes no decoder interprets (payloads, the NDP/MLD bodies it does not model,
 * IPv6 option TLVs) are copied from the original.
 */
function rebuild(orig: Uint8Array, layers: readonly Layer[]): Uint8Array {
  const b = new Uint8Array(orig.length);
  let pseudo: PseudoHeader | null = null;
  type Ip6 = Extract<Layer, { kind: 'ipv6' }>;
  let ip6: Ip6 | null = null as Ip6 | null;
  const transports: { l: Layer; pseudo: PseudoHeader | null; ip6: Ip6 | null }[] = [];
  layers.forEach((l, i) => {
    switch (l.kind) {
      case 'eth': {
        const vlans: VlanInit[] = [];
        let etherType = l.etherType;
        for (let j = i + 1; layers[j]?.kind === 'vlan'; j++) {
          const v = layers[j] as Extract<Layer, { kind: 'vlan' }>;
          vlans.push({ tpid: v.tpid, pcp: v.pcp, dei: v.dei, vid: v.vid });
          etherType = v.etherType;
        }
        buildEthernet(b, l.offset, { dst: l.dst, src: l.src, etherType, vlans });
        break;
      }
      case 'vxlan': buildVxlan(b, l.offset, l.vni, l.flags); break;
      case 'arp': buildArp(b, l.offset, { op: l.op, sha: l.sha, spa: l.spa, tha: l.tha, tpa: l.tpa }); break;
      case 'ipv4':
        buildIpv4(b, l.offset, {
          tos: l.tos, id: l.id, flags: l.flags, fragOffset: l.fragOffset, ttl: l.ttl, protocol: l.protocol, src: l.src, dst: l.dst,
          payloadLength: l.payloadLength, ...(l.headerLength > 20 ? { options: orig.slice(l.offset + 20, l.offset + l.headerLength) } : {}),
        });
        pseudo = { v: 4, src: l.src, dst: l.dst };
        break;
      case 'ipv6':
        buildIpv6(b, l.offset, { trafficClass: l.trafficClass, flowLabel: l.flowLabel, nextHeader: l.nextHeader, hopLimit: l.hopLimit, src: l.src, dst: l.dst, payloadLength: l.payloadLength });
        pseudo = { v: 6, src: ipv6Addr(l.src), dst: ipv6Addr(l.dst) };
        ip6 = l;
        break;
      case 'ipv6-ext':
        if (l.type === 44) buildIpv6Fragment(b, l.offset, l.nextHeader, l.fragOffset, l.more, l.fragId);
        else {
          assert.ok(l.type === 0 || l.type === 60, `extension header ${l.type} not expected in this traffic`);
          buildIpv6OptionsHeader(b, l.offset, l.nextHeader, orig.slice(l.offset + 2, l.offset + l.headerLength));
        }
        break;
      case 'payload': b.set(orig.subarray(l.offset, l.offset + l.headerLength), l.offset); break;
      case 'udp': case 'tcp': case 'icmp': case 'icmpv6': transports.push({ l, pseudo, ip6 }); break;
      default: break;
    }
  });
  // Transport headers last and innermost first: a checksum covers everything after its header
  // (for VXLAN's outer UDP, the whole inner frame).
  for (const { l, pseudo: p, ip6: v6 } of transports.reverse()) {
    // The checksum of a message cut by fragmentation covers bytes this frame lacks: kept as is.
    const kept = 'checksumStatus' in l && l.checksumStatus === 'unverified' ? { checksum: l.checksum } : {};
    if (l.kind === 'icmp') {
      const echo = l.type === 0 || l.type === 8;
      const fields = echo ? { identifier: l.identifier, sequence: l.sequence } : l.nextHopMtu >= 0 ? { nextHopMtu: l.nextHopMtu } : { rest: l.rest };
      buildIcmp4(b, l.offset, { type: l.type, code: l.code, ...fields, payloadLength: l.payloadLength, ...kept });
      continue;
    }
    assert.ok(p !== null);
    switch (l.kind) {
      case 'udp': buildUdp(b, l.offset, { srcPort: l.srcPort, dstPort: l.dstPort, payloadLength: l.payloadLength, pseudo: p }); break;
      case 'tcp':
        buildTcp(b, l.offset, {
          srcPort: l.srcPort, dstPort: l.dstPort, seq: l.seq, ack: l.ack, flags: l.flags, window: l.window, urgentPointer: l.urgentPointer,
          options: {
            ...(l.mss >= 0 ? { mss: l.mss } : {}), ...(l.sackPermitted ? { sackPermitted: true } : {}),
            ...(l.tsVal >= 0 ? { timestamp: [l.tsVal, l.tsEcr] as const } : {}), ...(l.windowScale >= 0 ? { windowScale: l.windowScale } : {}),
            ...(l.sack.length > 0 ? { sack: l.sack } : {}),
          },
          payloadLength: l.payloadLength, pseudo: p,
        });
        break;
      case 'icmpv6': {
        assert.ok(v6 !== null);
        const n = v6.end - l.offset;
        if (l.type === 135) buildNeighborSolicit(b, l.offset, { target: l.target, ...(l.sourceLinkAddr !== '' ? { sourceLinkAddr: l.sourceLinkAddr } : {}), pseudo: p });
        else if (l.type === 136) buildNeighborAdvert(b, l.offset, { target: l.target, flags: l.ndFlags, ...(l.targetLinkAddr !== '' ? { targetLinkAddr: l.targetLinkAddr } : {}), pseudo: p });
        else if (l.type === 128 || l.type === 129) buildIcmp6(b, l.offset, { type: l.type, code: l.code, identifier: l.identifier, sequence: l.sequence, payload: orig.slice(l.offset + 8, l.offset + n), pseudo: p, ...kept });
        else {
          // Types whose body decodeFrame does not model (MLDv2 reports): header fields built, body copied.
          const rest = ((orig[l.offset + 4]! << 24) | (orig[l.offset + 5]! << 16) | (orig[l.offset + 6]! << 8) | orig[l.offset + 7]!) >>> 0;
          buildIcmp6(b, l.offset, { type: l.type, code: l.code, rest, payload: orig.slice(l.offset + 8, l.offset + n), pseudo: p });
        }
        break;
      }
      default: break;
    }
  }
  return b;
}

function isFragment(layers: readonly Layer[]): boolean {
  return layers.some((l) => (l.kind === 'ipv4' && (l.mf || l.fragOffset !== 0)) || (l.kind === 'ipv6' && l.fragmented));
}

// Fields outside wiresharkFields that the layers also carry, checked the same way.
function extraFields(rec: CaptureRecord, layers: readonly Layer[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const put = (k: string, v: string): void => { m.set(k, [...(m.get(k) ?? []), v]); };
  put('frame.len', String(rec.origLen));
  put('frame.cap_len', String(rec.data.length));
  put('frame.time_epoch', tsText(rec.tsNs));
  for (const l of layers) {
    if (l.kind === 'ipv4') { put('ip.version', String(l.version)); put('ip.flags.df', l.df ? '1' : '0'); }
    // Wireshark's IPv6 dissector fills ip.version too (for filter compatibility).
    if (l.kind === 'ipv6') { put('ipv6.version', String(l.version)); put('ip.version', String(l.version)); }
    if (l.kind === 'tcp') for (const o of l.options) put('tcp.option_kind', String(o.kind));
    if (l.kind === 'icmpv6') {
      if (l.sourceLinkAddr !== '') put('icmpv6.opt.linkaddr', l.sourceLinkAddr);
      if (l.targetLinkAddr !== '') put('icmpv6.opt.linkaddr', l.targetLinkAddr);
      if (l.type === 136) put('icmpv6.nd.na.flag.s', (l.ndFlags & 0x40) !== 0 ? '1' : '0');
    }
  }
  return m;
}

const ROOT = canUseNetns();

describe('real kernel traffic (netns + veth + tcpdump/dumpcap + tshark)', { skip: ROOT ? false : 'needs root and iproute2 (network namespaces)' }, () => {
  let dir = '';
  let pcapFile = '';
  let pcapngFile = '';
  const frames = new Map<string, Frame[]>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swp-kernel-'));
    pcapFile = join(dir, 'a.pcap');
    pcapngFile = join(dir, 'b.pcapng');
    const pair = VethPair.create('swp', { vxlan: true });
    const caps: Capture[] = [];
    try {
      caps.push(await Capture.start(pair.a, pair.ifA, pcapFile, 'pcap'));
      caps.push(await Capture.start(pair.b, pair.ifB, pcapngFile, 'pcapng'));
      const port = 20000 + (process.pid % 20000);
      await generateTraffic(pair, { udpPort: port, tcpPort: port + 1 });
      for (const c of caps) await c.stop();
    } finally {
      for (const c of caps) c.kill();
      pair.destroy();
    }
    frames.set(pcapFile, readAll(pcapFile));
    frames.set(pcapngFile, readAll(pcapngFile));
  });

  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  // One tshark run per capture (tshark starts slowly) for what needs other preferences: reassembly
  // off (ICMP headers of first fragments) and UDP/TCP checksum validation on (off by default).
  const raw = new Map<string, string[][]>();
  const rawFields = (file: string): string[][] => {
    let rows = raw.get(file);
    if (rows === undefined) {
      rows = tsharkFields(file, [
        'icmp.type', 'icmp.code', 'icmp.checksum', 'icmp.ident', 'icmp.seq', 'icmpv6.type', 'icmpv6.code', 'icmpv6.checksum', 'icmpv6.echo.sequence_number',
        'udp.checksum.status', 'tcp.checksum.status',
      ], undefined, ['ip.defragment:FALSE', 'ipv6.defragment:FALSE', 'udp.check_checksum:TRUE', 'tcp.check_checksum:TRUE']);
      raw.set(file, rows);
    }
    return rows;
  };

  test('both captures hold the traffic that was sent', () => {
    for (const [file, fs] of frames) {
      const has = (pred: (ls: Layer[]) => boolean, what: string, min = 1): void => {
        const n = fs.filter((f) => pred(f.layers)).length;
        assert.ok(n >= min, `${file}: ${n} ${what}, expected at least ${min}`);
      };
      const k = (ls: Layer[], kind: Layer['kind']): boolean => ls.some((l) => l.kind === kind);
      has((ls) => ls.some((l) => l.kind === 'arp' && l.op === 1), 'ARP requests');
      has((ls) => ls.some((l) => l.kind === 'arp' && l.op === 2), 'ARP replies');
      has((ls) => ls.some((l) => l.kind === 'icmp' && l.type === 8), 'ICMP echo requests', 2);
      has((ls) => ls.some((l) => l.kind === 'icmp' && l.type === 0), 'ICMP echo replies', 2);
      has((ls) => ls.some((l) => l.kind === 'icmpv6' && l.type === 128), 'ICMPv6 echo requests', 2);
      has((ls) => ls.some((l) => l.kind === 'icmpv6' && l.type === 135), 'neighbour solicitations');
      has((ls) => ls.some((l) => l.kind === 'icmpv6' && l.type === 136), 'neighbour advertisements');
      has((ls) => k(ls, 'ipv4') && k(ls, 'udp'), 'UDP/IPv4 datagrams', 4);
      has((ls) => k(ls, 'ipv6') && k(ls, 'udp'), 'UDP/IPv6 datagrams', 4);
      has((ls) => ls.some((l) => l.kind === 'tcp' && l.flags === 0x02), 'TCP SYNs', 2);
      has((ls) => ls.some((l) => l.kind === 'tcp' && l.flags === 0x12), 'TCP SYN-ACKs', 2);
      has((ls) => ls.some((l) => l.kind === 'tcp' && (l.flags & 0x01) !== 0), 'TCP FINs', 4);
      has((ls) => ls.some((l) => l.kind === 'tcp' && l.payloadLength > 0), 'TCP data segments', 4);
      has((ls) => ls.some((l) => l.kind === 'vxlan' && l.vni === 42) && ls.filter((l) => l.kind === 'icmp').length === 1, 'ICMP in VXLAN', 4);
      has((ls) => ls.some((l) => l.kind === 'icmp' && l.type === 3 && l.code === 3) && ls.filter((l) => l.kind === 'udp').length === 1, 'ICMP port unreachable quoting UDP');
      has((ls) => ls.some((l) => l.kind === 'icmpv6' && l.type === 1 && l.code === 4) && ls.filter((l) => l.kind === 'udp').length === 1, 'ICMPv6 port unreachable quoting UDP');
      has((ls) => ls.some((l) => l.kind === 'tcp' && (l.flags & 0x04) !== 0), 'TCP RSTs', 2);
      has((ls) => ls.some((l) => l.kind === 'ipv4' && l.mf && l.fragOffset === 0) && k(ls, 'icmp'), 'first IPv4 fragments', 2);
      has((ls) => ls.some((l) => l.kind === 'ipv4' && l.fragOffset > 0), 'later IPv4 fragments', 2);
      has((ls) => ls.some((l) => l.kind === 'ipv6-ext' && l.type === 44 && l.fragOffset === 0 && l.more) && k(ls, 'icmpv6'), 'first IPv6 fragments', 2);
      has((ls) => ls.some((l) => l.kind === 'ipv6-ext' && l.type === 44 && l.fragOffset > 0), 'later IPv6 fragments', 2);
      has((ls) => ls.some((l) => l.kind === 'vxlan') && ls.filter((l) => l.kind === 'udp').length === 2, 'UDP in VXLAN', 2);
    }
  });

  test('every field swnet decodes equals tshark -T fields on the same capture (and frame length/time)', () => {
    for (const [file, fs] of frames) {
      const ours = fs.map((f) => {
        const m = wiresharkFields(f.decoded);
        for (const [k, v] of extraFields(f.rec, f.layers)) m.set(k, v);
        return m;
      });
      const names = [...new Set(ours.flatMap((m) => [...m.keys()]))].sort();
      assert.ok(names.length > 60, `only ${names.length} distinct fields decoded`);
      const rows = tsharkFields(file, names);
      assert.equal(rows.length, fs.length, `${file}: tshark sees ${rows.length} frames, swnet ${fs.length}`);
      let compared = 0;
      const mismatches: string[] = [];
      rows.forEach((row, i) => {
        const m = ours[i]!;
        // tshark reassembles: one fragment alone shows no transport layer, the last one the whole
        // message. Fragments are compared up to the IP layer here, their transport header below.
        const frag = isFragment(fs[i]!.layers);
        names.forEach((name, j) => {
          if (frag && !/^(frame|eth|ip|ipv6)\./.test(name)) return;
          const theirs = (row[j] ?? '').split(',').filter((s) => s !== '');
          const mine = m.get(name) ?? [];
          if (mine.join(',') !== theirs.join(',')) mismatches.push(`frame ${i + 1} ${name}: swnet ${mine.join(',') || '(none)'}, tshark ${theirs.join(',') || '(none)'}`);
          compared += mine.length;
        });
      });
      assert.deepEqual(mismatches.slice(0, 30), [], `${file}: ${mismatches.length} mismatches`);
      assert.ok(compared > 1000, `${file}: only ${compared} values compared`);

      // The ICMP/ICMPv6 header of first fragments, against tshark with reassembly off.
      const raw = rawFields(file).map((r) => r.slice(0, 9));
      let firsts = 0;
      fs.forEach((f, i) => {
        if (!isFragment(f.layers)) return;
        const c = f.layers.find((l) => l.kind === 'icmp' || l.kind === 'icmpv6');
        if (c === undefined) return;
        assert.ok(c.kind === 'icmp' || c.kind === 'icmpv6');
        const hx = `0x${c.checksum.toString(16).padStart(4, '0')}`;
        const want = c.kind === 'icmp'
          ? [String(c.type), String(c.code), hx, String(c.identifier), String(c.sequence), '', '', '', '']
          : ['', '', '', '', '', String(c.type), String(c.code), hx, String(c.sequence)];
        assert.deepEqual(raw[i], want, `${file} frame ${i + 1} first-fragment ${c.kind}`);
        firsts++;
      });
      assert.ok(firsts >= 4, `${file}: ${firsts} first fragments compared`);
    }
  });

  test('checksums: swnet verifies and recomputes exactly what the kernel put on the wire', () => {
    for (const [file, fs] of frames) {
      let checked = 0;
      for (const [i, f] of fs.entries()) {
        for (const [li, l] of f.layers.entries()) {
          // The datagram an ICMP error quotes may be cut: its transport checksum is not checked.
          const quoted = f.decoded.quotedFrom >= 0 && li >= f.decoded.quotedFrom;
          if (quoted && l.kind !== 'ipv4' && l.kind !== 'ipv6') continue;
          if (l.kind === 'ipv4' || l.kind === 'udp' || l.kind === 'tcp' || l.kind === 'icmp' || l.kind === 'icmpv6') {
            // A first fragment's transport checksum covers bytes in later frames: not checkable alone.
            if (l.kind !== 'ipv4' && isFragment(f.layers)) { assert.equal(l.checksumStatus, 'unverified'); continue; }
            assert.equal(l.checksumStatus, 'good', `${file} frame ${i + 1} ${l.kind} checksum 0x${l.checksum.toString(16)}`);
            checked++;
          }
        }
        // Recompute every checksum from scratch (the rebuilt frame has none copied) and compare.
        const rebuilt = rebuild(f.rec.data, f.layers);
        for (const [li, l] of f.layers.entries()) {
          if (f.decoded.quotedFrom >= 0 && li >= f.decoded.quotedFrom && l.kind !== 'ipv4') continue;
          const at = l.kind === 'ipv4' ? l.offset + 10 : l.kind === 'udp' ? l.offset + 6 : l.kind === 'tcp' ? l.offset + 16 : l.kind === 'icmp' || l.kind === 'icmpv6' ? l.offset + 2 : -1;
          if (at < 0 || (l.kind !== 'ipv4' && isFragment(f.layers))) continue;
          const wire = (f.rec.data[at]! << 8) | f.rec.data[at + 1]!;
          const ours = (rebuilt[at]! << 8) | rebuilt[at + 1]!;
          assert.equal(ours.toString(16), wire.toString(16), `${file} frame ${i + 1} ${l.kind} checksum`);
        }
      }
      assert.ok(checked > 50, `${file}: ${checked} checksums`);
      // tshark, with validation on, agrees that UDP and TCP checksums are good (status 1).
      const rows = rawFields(file).map((r) => r.slice(9)).filter((r) => r.some((v) => v !== ''));
      assert.ok(rows.length >= 28);
      for (const r of rows) {
        const st = r.flatMap((v) => v.split(',')).filter((v) => v !== '');
        assert.ok(st.every((v) => v === '1'), `tshark checksum status ${r.join('|')}`);
      }
    }
  });

  test('parse → build gives back the same bytes for every frame', () => {
    for (const [file, fs] of frames) {
      for (const [i, f] of fs.entries()) {
        const rebuilt = rebuild(f.rec.data, f.layers);
        assert.equal(Buffer.from(rebuilt).toString('hex'), Buffer.from(f.rec.data).toString('hex'), `${file} frame ${i + 1} (${f.layers.map((l) => l.kind).join('/')})`);
      }
    }
  });

  test('tshark reads every capture swnet writes (pcap µs/ns, both byte orders, pcapng with two interfaces and SPB) with no malformed or error packets', () => {
    const a = frames.get(pcapFile)!;
    const b = frames.get(pcapngFile)!;
    const outputs: { path: string; n: number }[] = [];
    for (const [ns, be] of [[false, false], [true, true]] as const) {
      const path = join(dir, `out-${ns ? 'ns' : 'us'}-${be ? 'be' : 'le'}.pcap`);
      const w = PcapWriter.create(path, { linkType: 1, nanosecond: ns, bigEndian: be });
      for (const f of a) w.write(0, f.rec.tsNs, f.rec.data, f.rec.origLen);
      w.close();
      outputs.push({ path, n: a.length });
    }
    for (const be of [false, true]) {
      const path = join(dir, `out-${be ? 'be' : 'le'}.pcapng`);
      const w = PcapngWriter.create(path, { bigEndian: be, interfaces: [{ linkType: 1, name: 'veth-a', nanosecond: false }, { linkType: 1, name: 'veth-b', description: 'peer' }] });
      for (const f of a) w.write(0, f.rec.tsNs, f.rec.data, f.rec.origLen);
      for (const f of b) w.write(1, f.rec.tsNs, f.rec.data, f.rec.origLen);
      w.close();
      outputs.push({ path, n: a.length + b.length });
    }
    // A file of Simple Packet Blocks (one interface, no timestamps).
    const spb = join(dir, 'out-spb.pcapng');
    const ws = PcapngWriter.create(spb, { interfaces: [{ linkType: 1, snapLen: 0 }] });
    for (const f of b) ws.writeSimple(f.rec.data, f.rec.origLen);
    ws.close();
    outputs.push({ path: spb, n: b.length });

    // The check itself can fail: a frame cut inside its IPv4 header is reported malformed.
    const cut = join(dir, 'cut.pcap');
    const wc = PcapWriter.create(cut, { linkType: 1 });
    const ipFrame = a.find((f) => f.layers.some((l) => l.kind === 'ipv4'))!;
    wc.write(0, ipFrame.rec.tsNs, ipFrame.rec.data.subarray(0, 30));
    wc.close();
    const fields = ['frame.interface_id', 'frame.len', 'frame.time_epoch', 'frame.protocols', '_ws.malformed', '_ws.expert.severity'];
    // Severity 0x800000 is PI_ERROR (epan/proto.h); a malformed packet carries one too.
    const problems = (rows: string[][]): string[] => rows.filter((r) => r[4] !== '' || (r[5] ?? '').split(',').some((v) => Number(v) >= 0x800000)).map((r) => r.join(' '));
    assert.equal(problems(tsharkFields(cut, fields)).length, 1);

    for (const { path, n } of outputs) {
      const rows = tsharkFields(path, fields);
      assert.deepEqual(problems(rows), [], `${path}: malformed or expert-error packets`);
      assert.equal(rows.length, n, `${path}: tshark read ${rows.length} frames of ${n}`);
      const src = path.endsWith('.pcap') ? a : path === spb ? b : [...a, ...b];
      const usOnly = path.includes('-us-') || (path.endsWith('.pcapng') && path !== spb);
      rows.forEach((r, i) => {
        const f = src[i]!;
        assert.equal(r[1], String(f.rec.origLen));
        if (path === spb) return;
        const iface = path.endsWith('.pcapng') && i >= a.length ? 1 : 0;
        // pcap has no interface ids: tshark leaves the field empty.
        assert.equal(r[0], path.endsWith('.pcap') ? '' : String(iface), `${path} frame ${i + 1} interface`);
        const ts = usOnly && iface === 0 ? (f.rec.tsNs / 1000n) * 1000n : f.rec.tsNs;
        assert.equal(r[2], tsText(ts), `${path} frame ${i + 1} time`);
        assert.match(r[3] ?? '', /^eth:ethertype:(arp|ip|ipv6)/);
      });
      // And swnet reads its own output back to the same records.
      const back = readAll(path);
      assert.equal(back.length, n);
      back.forEach((f, i) => assert.deepEqual(f.rec.data, src[i]!.rec.data));
    }
  });
});
