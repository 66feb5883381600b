// Whole-frame round trip: decode every seed frame (one of each kind the decoder knows), then
// rebuild it layer by layer with the builders, from the decoded fields only (raw bytes only where
// a format has no field model: IPv4/TCP option bytes, IPv6 extension headers, payloads, the
// packet quoted in an ICMP error), letting the builders compute every length and checksum.
// The rebuilt frame must equal the original byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, type Layer } from './decode.js';
import { seedFrames } from './fuzz.js';
import { buildEthernet, type VlanInit } from './ethernet.js';
import { buildArp } from './arp.js';
import { buildIpv4 } from './ipv4.js';
import { buildIpv6, parseIpv6Addr, pseudoDstOffset } from './ipv6.js';
import { buildIcmp4 } from './icmp4.js';
import { buildIcmp6 } from './icmp6.js';
import { buildUdp } from './udp.js';
import { buildTcp } from './tcp.js';
import { buildMplsStack, type MplsInit } from './mpls.js';
import { buildVxlan } from './vxlan.js';
import type { PseudoHeader } from './checksum.js';

function rebuild(b: Uint8Array): Uint8Array {
  const f = decodeFrame(b);
  assert.equal(f.error, null);
  const out = new Uint8Array(b.length);
  const ls = f.layers;
  const end = f.quotedFrom >= 0 ? f.quotedFrom : ls.length;
  if (f.quotedFrom >= 0) out.set(b.subarray(ls[f.quotedFrom]!.offset), ls[f.quotedFrom]!.offset);
  // Bytes after the last layer (Ethernet padding) are not part of any header.
  const last = ls[end - 1]!;
  out.set(b.subarray(last.offset + last.headerLength), last.offset + last.headerLength);
  const pseudoFor = (i: number): PseudoHeader => {
    for (let j = i - 1; j >= 0; j--) {
      const l = ls[j]!;
      if (l.kind === 'ipv4') return { v: 4, src: l.src, dst: l.dst };
      if (l.kind === 'ipv6') {
        const d = pseudoDstOffset(b, l); // the final destination when a routing header has segments left
        return { v: 6, src: parseIpv6Addr(l.src), dst: b.slice(d, d + 16) };
      }
    }
    throw new Error('no IP layer');
  };
  for (let i = end - 1; i >= 0; i--) {
    const l: Layer = ls[i]!;
    const o = l.offset;
    switch (l.kind) {
      case 'payload':
      case 'ipv6-ext':
        out.set(b.subarray(o, o + l.headerLength), o);
        break;
      case 'tcp':
        buildTcp(out, o, { ...l, options: b.subarray(o + 20, o + l.headerLength), payloadLength: l.payloadLength, pseudo: pseudoFor(i) });
        break;
      case 'udp':
        // A fragment's checksum and length cover the whole datagram: those two are kept as decoded.
        buildUdp(out, o, {
          srcPort: l.srcPort,
          dstPort: l.dstPort,
          payloadLength: l.payloadLength,
          ...(l.length !== 8 + l.payloadLength ? { length: l.length } : {}),
          ...(l.checksumStatus === 'good' ? { pseudo: pseudoFor(i) } : { checksum: l.checksum }),
        });
        break;
      case 'icmp':
        buildIcmp4(out, o, { type: l.type, code: l.code, rest: l.rest, payloadLength: l.payloadLength });
        break;
      case 'icmpv6': {
        const ip = ls.slice(0, i).reverse().find((x) => x.kind === 'ipv6');
        assert.ok(ip && ip.kind === 'ipv6');
        out.set(b.subarray(o + 8, o + l.headerLength), o + 8); // NDP fixed body: targets, timers
        buildIcmp6(out, o, { type: l.type, code: l.code, rest: l.rest, payloadLength: ip.end - o - 8, pseudo: pseudoFor(i) });
        break;
      }
      case 'vxlan':
        buildVxlan(out, o, l.vni, l.flags);
        break;
      case 'ipv6':
        buildIpv6(out, o, l);
        break;
      case 'ipv4':
        buildIpv4(out, o, { ...l, options: b.subarray(o + 20, o + l.headerLength), payloadLength: l.totalLength - l.headerLength });
        break;
      case 'mpls': {
        if (i > 0 && ls[i - 1]!.kind === 'mpls') break; // the whole stack is written at its first entry
        const stack: MplsInit[] = [];
        for (let j = i; j < end; j++) {
          const m = ls[j]!;
          if (m.kind !== 'mpls') break;
          stack.push({ label: m.label, tc: m.tc, ttl: m.ttl });
        }
        buildMplsStack(out, o, stack);
        break;
      }
      case 'arp':
        buildArp(out, o, l);
        break;
      case 'vlan':
        break; // written with its Ethernet header
      case 'eth': {
        const vlans: VlanInit[] = [];
        let type = l.etherType;
        for (let j = i + 1; j < end; j++) {
          const v = ls[j]!;
          if (v.kind !== 'vlan') break;
          vlans.push({ tpid: v.tpid, pcp: v.pcp, dei: v.dei, vid: v.vid });
          type = v.etherType;
        }
        buildEthernet(out, o, { dst: l.dst48, src: l.src48, etherType: type, vlans });
        break;
      }
    }
  }
  return out;
}

test('every kind of frame: decode → build gives back the same bytes', () => {
  const seeds = seedFrames();
  for (const [i, s] of seeds.entries()) assert.deepEqual(rebuild(s), s, `seed ${i}: ${decodeFrame(s).layers.map((l) => l.kind).join('/')}`);
});
