import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, routerFactory, parseRouterConfig, parseRoutes } from './router.js';
import { ConfigError, type Counters } from './contract.js';
import { Harness, hex, mutate, rng, counter } from './testing.js';
import { checksumUpdate16 } from '../packet/checksum.js';
import { arpReplyFrame, arpRequestFrame, icmp4EchoFrame, icmp4ErrorFrame, naFrame, nsFrame, udpFrame, tcpFrame, solicitedNode, multicastMac } from '../packet/frames.js';
import { buildIpv4, IPPROTO } from '../packet/ipv4.js';
import { buildIpv6 } from '../packet/ipv6.js';
import { buildIcmp6 } from '../packet/icmp6.js';
import { buildEthernet } from '../packet/ethernet.js';
import { pseudoSum } from '../packet/checksum.js';
import { formatIpv6, parseIpv6 } from './config.js';

const R0 = 0x02000000aa00;
const R1 = 0x02000000aa01;
const H1 = 0x0200000000b1;
const H2 = 0x0200000000b2;
const GW = 0x0200000000c1;

const BASE = {
  interfaces: [
    { name: 'eth0', mac: '02:00:00:00:aa:00', addresses: ['10.0.1.1/24', '2001:db8:1::1/64'] },
    { name: 'eth1', mac: '02:00:00:00:aa:01', mtu: 1400, addresses: ['10.0.2.1/24', '2001:db8:2::1/64'] },
  ],
  routes: [
    { prefix: '198.51.100.0/24', via: '10.0.2.254' },
    { prefix: '2001:db8:99::/48', via: '2001:db8:2::fe' },
  ],
  neighbors: [
    { interface: 'eth0', address: '10.0.1.2', mac: '02:00:00:00:00:b1' },
    { interface: 'eth1', address: '10.0.2.2', mac: '02:00:00:00:00:b2' },
    { interface: 'eth1', address: '10.0.2.254', mac: '02:00:00:00:00:c1' },
    { interface: 'eth0', address: '2001:db8:1::2', mac: '02:00:00:00:00:b1' },
    { interface: 'eth1', address: '2001:db8:2::2', mac: '02:00:00:00:00:b2' },
    { interface: 'eth1', address: '2001:db8:2::fe', mac: '02:00:00:00:00:c1' },
  ],
};

function router(extra: Record<string, unknown> = {}): Router {
  return routerFactory.create({ ...BASE, ...extra }) as Router;
}

function sent(r: { sent: { port: number; bytes: Uint8Array }[] }): [number, string][] {
  return r.sent.map((s) => [s.port, hex(s.bytes)]);
}

function consistent(c: Counters): void {
  assert.equal(counter(c, 'in'), counter(c, 'forwarded') + counter(c, 'local') + counter(c, 'dropped') + counter(c, 'queued'), 'in = forwarded + local + dropped + queued');
}

// A datagram of `size` bytes (IP header included) with DF as given.
function big4(size: number, df: boolean, ttl = 64, src = '10.0.1.2', dst = '10.0.2.2', srcMac = H1, dstMac = R0): Uint8Array {
  return udpFrame({ srcMac, dstMac, src, dst, srcPort: 1000, dstPort: 2000, ttl, df, id: 0x1234, payload: Uint8Array.from({ length: size - 28 }, (_, i) => i & 0xff) });
}

test('router: the TTL update equals RFC 1624 eqn 3 for every checksum and TTL', () => {
  for (let hc = 0; hc <= 0xffff; hc++) {
    for (const ttl of [2, 64, 255]) {
      let s = hc + 0x0100;
      s = (s & 0xffff) + (s >>> 16);
      if (s === 0xffff) s = 0;
      const proto = 17;
      assert.equal(s, checksumUpdate16(hc, (ttl << 8) | proto, ((ttl - 1) << 8) | proto));
    }
  }
});

test('router: forwards IPv4 and IPv6 (golden bytes: TTL−1, checksum, MACs, padding trimmed)', () => {
  const r = router();
  const h = new Harness(r);
  const inp = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.2', identifier: 7, sequence: 1, id: 0x4242 });
  const padded = new Uint8Array(inp.length + 6);
  padded.set(inp);
  const want = icmp4EchoFrame({ srcMac: R1, dstMac: H2, src: '10.0.1.2', dst: '10.0.2.2', identifier: 7, sequence: 1, id: 0x4242, ttl: 63 });
  assert.deepEqual(sent(h.run(0, [padded])), [[1, hex(want)]]);
  // via a gateway
  const g = udpFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '198.51.100.7', srcPort: 5, dstPort: 6, payload: new Uint8Array(10) });
  const gw = udpFrame({ srcMac: R1, dstMac: GW, src: '10.0.1.2', dst: '198.51.100.7', srcPort: 5, dstPort: 6, payload: new Uint8Array(10), ttl: 63 });
  assert.deepEqual(sent(h.run(0, [g])), [[1, hex(gw)]]);
  const six = icmp4EchoFrame({ srcMac: H2, dstMac: R1, src: '2001:db8:2::2', dst: '2001:db8:1::2', identifier: 1, sequence: 2, flowLabel: 0x12345 });
  const six2 = icmp4EchoFrame({ srcMac: R0, dstMac: H1, src: '2001:db8:2::2', dst: '2001:db8:1::2', identifier: 1, sequence: 2, flowLabel: 0x12345, ttl: 63 });
  assert.deepEqual(sent(h.run(1, [six])), [[0, hex(six2)]]);
  const six3 = tcpFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:99:1::5', srcPort: 1, dstPort: 2, flags: 2 });
  const six4 = tcpFrame({ srcMac: R1, dstMac: GW, src: '2001:db8:1::2', dst: '2001:db8:99:1::5', srcPort: 1, dstPort: 2, flags: 2, ttl: 63 });
  assert.deepEqual(sent(h.run(0, [six3])), [[1, hex(six4)]]);
  const c = r.counters();
  assert.equal(counter(c, 'forwarded'), 4);
  consistent(c);
  // Frames for another MAC, bad checksums and martians are dropped and counted.
  const other = inp.slice();
  other[5] = 0x99;
  const bad = inp.slice();
  bad[24] = (bad[24] as number) ^ 1;
  const mart = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '127.0.0.1', dst: '10.0.2.2', identifier: 7, sequence: 1 });
  const res = h.run(0, [other, bad, mart]);
  assert.equal(res.sent.length, 0);
  assert.equal(counter(r.counters(), 'drops.notForUs'), 1);
  assert.equal(counter(r.counters(), 'drops.badChecksum'), 1);
  assert.equal(counter(r.counters(), 'drops.martian'), 1);
});

test('router: answers ARP requests and neighbor solicitations for its own addresses (golden bytes)', () => {
  const r = router();
  const h = new Harness(r);
  const req = arpRequestFrame({ srcMac: 0x0200000000d1, spa: '10.0.1.77', tpa: '10.0.1.1' });
  const rep = arpReplyFrame({ srcMac: R0, spa: '10.0.1.1', tpa: '10.0.1.77', tha: 0x0200000000d1 }).subarray(0, 42);
  assert.deepEqual(sent(h.run(0, [req])), [[0, hex(rep)]]);
  // The requester is now a STALE neighbour (arp_process → neigh_event_ns).
  assert.deepEqual(r.neighborRows(0).find((x) => x.address === '10.0.1.77'), { interface: 'eth0', address: '10.0.1.77', mac: '02:00:00:00:00:d1', state: 'stale', ageMs: 0 });
  // Not for us: no answer.
  assert.equal(h.run(0, [arpRequestFrame({ srcMac: 0x0200000000d1, spa: '10.0.1.77', tpa: '10.0.1.99' })]).sent.length, 0);
  const ns = nsFrame({ srcMac: 0x0200000000d1, src: '2001:db8:1::77', target: '2001:db8:1::1' });
  const na = naFrame({ srcMac: R0, dstMac: 0x0200000000d1, src: '2001:db8:1::1', dst: '2001:db8:1::77', target: '2001:db8:1::1', flags: 0xe0 });
  assert.deepEqual(sent(h.run(0, [ns])), [[0, hex(na)]]);
  // Link-local target (derived by EUI-64 from the MAC).
  const ll = 'fe80::ff:fe00:aa00';
  const ns2 = nsFrame({ srcMac: 0x0200000000d1, src: 'fe80::77', target: ll });
  const na2 = naFrame({ srcMac: R0, dstMac: 0x0200000000d1, src: ll, dst: 'fe80::77', target: ll, flags: 0xe0 });
  assert.deepEqual(sent(h.run(0, [ns2])), [[0, hex(na2)]]);
  consistent(r.counters());
});

test('router: echo replies for own addresses (IPv4 and IPv6, golden bytes)', () => {
  const r = router();
  const h = new Harness(r);
  const req = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.1', identifier: 9, sequence: 3, id: 77 });
  const rep = icmp4EchoFrame({ srcMac: R0, dstMac: H1, src: '10.0.2.1', dst: '10.0.1.2', identifier: 9, sequence: 3, reply: true, id: 0, df: false });
  assert.deepEqual(sent(h.run(0, [req])), [[0, hex(rep)]]);
  const req6 = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:1::1', identifier: 9, sequence: 4 });
  const rep6 = icmp4EchoFrame({ srcMac: R0, dstMac: H1, src: '2001:db8:1::1', dst: '2001:db8:1::2', identifier: 9, sequence: 4, reply: true });
  assert.deepEqual(sent(h.run(0, [req6])), [[0, hex(rep6)]]);
});

function icmp6Error(srcMac: number, dstMac: number, src: string, dst: string, type: number, code: number, info: number, invoking: Uint8Array): Uint8Array {
  const q = invoking.subarray(0, Math.min(invoking.length, 1232));
  const b = new Uint8Array(14 + 40 + 8 + q.length);
  buildEthernet(b, 0, { dst: dstMac, src: srcMac, etherType: 0x86dd });
  const s = parseIpv6(src) as Uint8Array;
  const d = parseIpv6(dst) as Uint8Array;
  buildIpv6(b, 14, { nextHeader: 58, hopLimit: 64, src: s, dst: d, payloadLength: 8 + q.length });
  const payload = new Uint8Array(4 + q.length);
  payload.set(q, 4);
  new DataView(payload.buffer).setUint32(0, info);
  buildIcmp6(b, 54, { type, code, rest: info, payload: q, pseudo: { v: 6, src: s, dst: d } });
  return b;
}

test('router: ICMP errors as Linux sends them (golden bytes)', () => {
  const r = router();
  const h = new Harness(r);
  const mk = (o: Partial<Parameters<typeof icmp4ErrorFrame>[0]> & { type: number; code: number; invoking: Uint8Array }, id: number): Uint8Array =>
    icmp4ErrorFrame({ srcMac: R0, dstMac: H1, src: '10.0.1.1', dst: '10.0.1.2', id, quote: 548, ...o });
  // TTL 1 → time exceeded, quoting the datagram as received (TTL not yet decremented).
  const ttl1 = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.2', identifier: 1, sequence: 1, ttl: 1 });
  assert.deepEqual(sent(h.run(0, [ttl1])), [[0, hex(mk({ type: 11, code: 0, invoking: ttl1.subarray(14) }, 0))]]);
  // No route → network unreachable.
  const nr = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '192.0.2.1', identifier: 1, sequence: 1 });
  assert.deepEqual(sent(h.run(0, [nr])), [[0, hex(mk({ type: 3, code: 0, invoking: nr.subarray(14) }, 1))]]);
  // UDP to a closed port of ours → port unreachable from the address it was sent to.
  const udp = udpFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.1', srcPort: 40000, dstPort: 9, payload: new Uint8Array(3) });
  assert.deepEqual(sent(h.run(0, [udp])), [[0, hex(mk({ src: '10.0.2.1', type: 3, code: 3, invoking: udp.subarray(14) }, 2))]]);
  // Unknown protocol to us → protocol unreachable.
  const gre = udp.slice();
  gre[14 + 9] = 47;
  gre[14 + 10] = 0;
  gre[14 + 11] = 0;
  const ck = (() => { let s = 0; for (let i = 14; i < 34; i += 2) s += ((gre[i] as number) << 8) | (gre[i + 1] as number); while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return ~s & 0xffff; })();
  gre[24] = ck >>> 8;
  gre[25] = ck & 0xff;
  assert.deepEqual(sent(h.run(0, [gre])), [[0, hex(mk({ src: '10.0.2.1', type: 3, code: 2, invoking: gre.subarray(14) }, 3))]]);
  // DF and bigger than eth1's MTU (1400) → fragmentation needed with the MTU.
  const df = big4(1500, true);
  assert.deepEqual(sent(h.run(0, [df])), [[0, hex(mk({ type: 3, code: 4, nextHopMtu: 1400, invoking: df.subarray(14) }, 4))]]);
  // IPv6: hop limit 1, no route, too big, closed UDP port.
  const e6 = (type: number, code: number, info: number, inv: Uint8Array, src = '2001:db8:1::1'): string => hex(icmp6Error(R0, H1, src, '2001:db8:1::2', type, code, info, inv.subarray(14)));
  const hl1 = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:2::2', identifier: 1, sequence: 1, ttl: 1 });
  assert.deepEqual(sent(h.run(0, [hl1])), [[0, e6(3, 0, 0, hl1)]]);
  const nr6 = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:77::1', identifier: 1, sequence: 1 });
  h.now = 10_000; // past the per-destination rate limit (1 s >> (128−64)/32 = 250 ms for a /64)
  assert.deepEqual(sent(h.run(0, [nr6])), [[0, e6(1, 0, 0, nr6)]]);
  const tb = udpFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:2::2', srcPort: 1, dstPort: 2, payload: new Uint8Array(1400) });
  assert.deepEqual(sent(h.run(0, [tb])), [[0, e6(2, 0, 1400, tb)]]);
  h.now = 20_000;
  const cl6 = udpFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:2::1', srcPort: 1, dstPort: 2, payload: new Uint8Array(4) });
  assert.deepEqual(sent(h.run(0, [cl6])), [[0, e6(1, 4, 0, cl6, '2001:db8:2::1')]]);
  // Never an error about an ICMP error.
  const err = mk({ type: 3, code: 0, invoking: nr.subarray(14) }, 9);
  const fwdErr = err.slice();
  fwdErr.set([0x02, 0, 0, 0, 0xaa, 0x00], 0);
  fwdErr[14 + 8] = 1;
  const c2 = (() => { fwdErr[24] = 0; fwdErr[25] = 0; let s = 0; for (let i = 14; i < 34; i += 2) s += ((fwdErr[i] as number) << 8) | (fwdErr[i + 1] as number); while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return ~s & 0xffff; })();
  fwdErr[24] = c2 >>> 8;
  fwdErr[25] = c2 & 0xff;
  const copy = fwdErr.slice();
  copy.set([0x0a, 0, 1, 2], 26);
  assert.equal(h.run(0, [fwdErr]).sent.length, 0);
  const c = r.counters();
  assert.equal(counter(c, 'drops.ttlExceeded'), 3);
  assert.equal(counter(c, 'drops.tooBig'), 2);
  consistent(c);
});

test('router: ICMP errors are rate limited per destination (burst 6, then 1 per interval) and globally', () => {
  const r = router({ icmp: { ratelimitMs: 1000, msgsPerSec: 1000, msgsBurst: 50 } });
  const h = new Harness(r);
  const frames = Array.from({ length: 10 }, (_, i) => icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '192.0.2.1', identifier: 1, sequence: i }));
  assert.equal(h.run(0, frames).sent.length, 6);
  h.now = 999;
  assert.equal(h.run(0, frames.slice(0, 1)).sent.length, 0);
  h.now = 1000;
  assert.equal(h.run(0, frames.slice(0, 2)).sent.length, 1);
  assert.equal(counter(r.counters(), 'icmpRateLimited'), 6);
  // Frag needed is never limited (PMTU discovery must work).
  const df = big4(1500, true);
  assert.equal(h.run(0, [df, df, df, df, df, df, df, df]).sent.length, 8);
  // Global bucket (icmp_global_allow): 50 of credit, and since the stamp is old a refill of
  // min(50, 1000 × 1 s) when it runs out; then 1000/s in steps of at least 20 ms.
  const g = router({ icmp: { ratelimitMs: 0, msgsBurst: 50, msgsPerSec: 1000 } });
  const gh = new Harness(g);
  const many = Array.from({ length: 150 }, (_, i) => icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '192.0.2.1', identifier: 1, sequence: i }));
  assert.equal(gh.run(0, many).sent.length, 100);
  gh.now = 19;
  assert.equal(gh.run(0, many.slice(0, 50)).sent.length, 0);
  gh.now = 20;
  assert.equal(gh.run(0, many.slice(0, 50)).sent.length, 20);
});

test('router: fragments IPv4 without DF as Linux does (golden bytes)', () => {
  const r = router();
  const h = new Harness(r);
  const inp = big4(1800, false);
  const out = h.run(0, [inp]).sent;
  // MTU 1400: 1376 bytes of data per fragment (multiple of 8 ≤ 1380), the last one 1800−20−1376 = 404.
  const ip = inp.subarray(14);
  const frag = (pos: number, n: number, mf: boolean): string => {
    const b = new Uint8Array(14 + 20 + n);
    buildEthernet(b, 0, { dst: H2, src: R1, etherType: 0x0800 });
    buildIpv4(b, 14, { protocol: IPPROTO.UDP, src: '10.0.1.2', dst: '10.0.2.2', ttl: 63, id: 0x1234, df: false, mf, fragOffset: pos / 8, payloadLength: n });
    b.set(ip.subarray(20 + pos, 20 + pos + n), 34);
    return hex(b);
  };
  assert.deepEqual(sent({ sent: out }), [[1, frag(0, 1376, true)], [1, frag(1376, 404, false)]]);
  assert.equal(counter(r.counters(), 'generated.fragments'), 1);
  consistent(r.counters());
});

test('router: resolves a next hop by ARP, holds frames, releases them on the reply, fails after probes', () => {
  const r = router({ neighbor: { holdQueue: 2, retransMs: 1000, multicastProbes: 3 } });
  const h = new Harness(r);
  const f = (seq: number): Uint8Array => icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.9', identifier: 1, sequence: seq });
  const res = h.run(0, [f(1), f(2), f(3)]);
  const req = arpRequestFrame({ srcMac: R1, spa: '10.0.2.1', tpa: '10.0.2.9' }).subarray(0, 42);
  assert.deepEqual(sent(res), [[1, hex(req)]]);
  let c = r.counters();
  assert.equal(counter(c, 'queued'), 2);
  assert.equal(counter(c, 'drops.holdOverflow'), 1);
  consistent(c);
  h.now = 5;
  const reply = arpReplyFrame({ srcMac: 0x0200000000e9, spa: '10.0.2.9', tpa: '10.0.2.1', tha: R1 });
  const out = h.run(1, [reply]);
  const fw = (seq: number): string => hex(icmp4EchoFrame({ srcMac: R1, dstMac: 0x0200000000e9, src: '10.0.1.2', dst: '10.0.2.9', identifier: 1, sequence: seq, ttl: 63 }));
  assert.deepEqual(sent(out), [[1, fw(1)], [1, fw(2)]]);
  c = r.counters();
  assert.equal(counter(c, 'queued'), 0);
  assert.equal(counter(c, 'forwarded'), 2);
  consistent(c);
  assert.equal(r.neighborRows(5).find((x) => x.address === '10.0.2.9')?.state, 'reachable');
  // Now the fast path: no more holding.
  assert.deepEqual(sent(h.run(0, [f(4)])), [[1, fw(4)]]);
  // A neighbour that never answers: 3 broadcast probes 1 s apart, then host unreachable for what was held.
  h.now = 100;
  const g = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.10', identifier: 1, sequence: 1 });
  const req2 = hex(arpRequestFrame({ srcMac: R1, spa: '10.0.2.1', tpa: '10.0.2.10' }).subarray(0, 42));
  assert.deepEqual(sent(h.run(0, [g])), [[1, req2]]);
  for (const t of [600, 1100, 2100, 3100]) {
    h.now = t;
    h.tick();
  }
  // What tick sends (two more probes, then the error) is checked through the counters.
  c = r.counters();
  assert.equal(counter(c, 'generated.arpRequest'), 4);
  assert.equal(counter(c, 'drops.neighborFailed'), 1);
  assert.equal(counter(c, 'generated.icmpError4'), 1);
  assert.equal(counter(c, 'neighborsFailed'), 1);
  consistent(c);
});

test('router: an ARP request with no free buffer is not a transmission: the next tick sends it, not the 1 s retransmission', () => {
  // One slot: the frame being forwarded holds it while the router would build the request (a
  // domain worker whose posted slots ran out mid-cascade). The 200-router line lost ~1 s so.
  const r = router({ neighbor: { retransMs: 1000, multicastProbes: 3 } });
  const h = new Harness(r, 1);
  const f = (seq: number): Uint8Array => icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.9', identifier: 1, sequence: seq });
  assert.deepEqual(sent(h.run(0, [f(1)])), []);
  let c = r.counters();
  assert.equal(counter(c, 'generated.arpRequest'), 0);
  assert.equal(counter(c, 'queued'), 1);
  consistent(c);
  // The next timer round (10 ms later, the domain's tick), not retransMs later.
  h.now = 10;
  h.tick();
  c = r.counters();
  assert.equal(counter(c, 'generated.arpRequest'), 1);
  // Sent once now: the 1 s spacing of RFC 1122 §2.3.2.1 holds from here.
  h.now = 500;
  h.tick();
  assert.equal(counter(r.counters(), 'generated.arpRequest'), 1);
  h.now = 1010;
  h.tick();
  assert.equal(counter(r.counters(), 'generated.arpRequest'), 2);
  // Three requests sent in all before the entry fails (an unsent one did not count).
  for (const t of [2010, 3010]) {
    h.now = t;
    h.tick();
  }
  c = r.counters();
  assert.equal(counter(c, 'generated.arpRequest'), 3);
  assert.equal(counter(c, 'neighborsFailed'), 1);
});

test('router: a unicast probe with no free buffer is sent at the next tick and not counted', () => {
  const r = router({ neighbor: { reachableMs: 1000, delayMs: 500, retransMs: 100, unicastProbes: 2 } });
  const h = new Harness(r, 2);
  const f = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.9', identifier: 1, sequence: 1 });
  h.run(0, [f]);
  h.run(1, [arpReplyFrame({ srcMac: 0x0200000000e9, spa: '10.0.2.9', tpa: '10.0.2.1', tha: R1 })]);
  const st = (): string | undefined => r.neighborRows(h.now).find((x) => x.address === '10.0.2.9')?.state;
  h.now = 1000;
  h.tick();
  assert.equal(h.run(0, [f]).sent.length, 1);
  assert.equal(st(), 'delay');
  assert.equal(counter(r.counters(), 'generated.arpRequest'), 1);
  // The delay ends unconfirmed while every slot is taken: PROBE, nothing sent, nothing counted.
  const taken = [h.pool.alloc(), h.pool.alloc()];
  assert.ok(taken.every((x) => x >= 0));
  h.now = 1500;
  h.tick();
  assert.equal(st(), 'probe');
  assert.equal(counter(r.counters(), 'generated.arpRequest'), 1);
  for (const x of taken) h.pool.release(x);
  h.now = 1510;
  h.tick();
  assert.equal(counter(r.counters(), 'generated.arpRequest'), 2);
  // Two probes sent, 100 ms apart, then failed.
  h.now = 1610;
  h.tick();
  assert.equal(counter(r.counters(), 'generated.arpRequest'), 3);
  assert.equal(st(), 'probe');
  h.now = 1710;
  h.tick();
  assert.equal(counter(r.counters(), 'neighborsFailed'), 1);
});

test('router: neighbour ageing: reachable → stale → delay (on use) → probe (unicast) → failed', () => {
  const r = router({ neighbor: { reachableMs: 1000, delayMs: 500, retransMs: 100, unicastProbes: 2 } });
  const h = new Harness(r);
  const f = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.9', identifier: 1, sequence: 1 });
  h.run(0, [f]);
  h.run(1, [arpReplyFrame({ srcMac: 0x0200000000e9, spa: '10.0.2.9', tpa: '10.0.2.1', tha: R1 })]);
  const st = (): string | undefined => r.neighborRows(h.now).find((x) => x.address === '10.0.2.9')?.state;
  assert.equal(st(), 'reachable');
  h.now = 999;
  h.tick();
  assert.equal(st(), 'reachable');
  h.now = 1000;
  h.tick();
  assert.equal(st(), 'stale');
  // A stale entry still forwards (with its MAC) and starts DELAY.
  assert.equal(h.run(0, [f]).sent.length, 1);
  assert.equal(st(), 'delay');
  // DELAY and PROBE forward a whole batch with the MAC held (the batch's fast path), TTL − 1,
  // and change nothing: DELAY still turns into PROBE at its time.
  h.now = 1200;
  const inDelay = h.run(0, [f, f, f]).sent;
  assert.equal(inDelay.length, 3);
  for (const s of inDelay) {
    assert.equal(s.port, 1);
    assert.equal(hex(s.bytes.subarray(0, 6)), '0200000000e9');
    assert.equal(s.bytes[22], (f[22] as number) - 1);
  }
  assert.equal(st(), 'delay');
  h.now = 1500;
  h.tick();
  assert.equal(st(), 'probe');
  h.now = 1550;
  assert.equal(h.run(0, [f, f]).sent.length, 2);
  assert.equal(st(), 'probe');
  assert.equal(counter(r.counters(), 'generated.arpRequest'), 2);
  h.now = 1600;
  h.tick();
  h.now = 1700;
  h.tick();
  assert.equal(counter(r.counters(), 'generated.arpRequest'), 3);
  assert.equal(st(), undefined, 'failed and unreferenced: removed');
  // Static entries never age.
  h.now = 1e9;
  h.tick();
  assert.equal(r.neighborRows(h.now).find((x) => x.address === '10.0.1.2')?.state, 'permanent');
});

test('router: resolves IPv6 next hops with NS to the solicited-node group and releases on NA', () => {
  const r = router();
  const h = new Harness(r);
  const f = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:2::9', identifier: 1, sequence: 1 });
  const ns = nsFrame({ srcMac: R1, src: 'fe80::ff:fe00:aa01', target: '2001:db8:2::9' });
  const out = h.run(0, [f]);
  assert.deepEqual(sent(out), [[1, hex(ns)]]);
  assert.equal(hex(ns.subarray(0, 6)), hex(new Uint8Array([0x33, 0x33, 0xff, 0, 0, 9])));
  void solicitedNode;
  void multicastMac;
  const na = naFrame({ srcMac: 0x0200000000e9, dstMac: R1, src: '2001:db8:2::9', dst: 'fe80::ff:fe00:aa01', target: '2001:db8:2::9', flags: 0x60 });
  const rel = h.run(1, [na]);
  const fw = icmp4EchoFrame({ srcMac: R1, dstMac: 0x0200000000e9, src: '2001:db8:1::2', dst: '2001:db8:2::9', identifier: 1, sequence: 1, ttl: 63 });
  assert.deepEqual(sent(rel), [[1, hex(fw)]]);
  consistent(r.counters());
});

test('router: ECMP spreads flows over next hops by flow hash and keeps each flow on one', () => {
  const r = routerFactory.create({
    interfaces: BASE.interfaces,
    routes: [{ prefix: '203.0.113.0/24', via: ['10.0.2.11', '10.0.2.12', '10.0.2.13', '10.0.2.14'] }],
    neighbors: [11, 12, 13, 14].map((k) => ({ interface: 'eth1', address: `10.0.2.${k}`, mac: `02:00:00:00:01:${k}` })),
  }) as Router;
  const h = new Harness(r);
  const rand = rng(5);
  const frames = Array.from({ length: 4000 }, () => udpFrame({ srcMac: H1, dstMac: R0, src: `10.0.1.${2 + (rand() % 200)}`, dst: `203.0.113.${rand() % 256}`, srcPort: rand() & 0xffff, dstPort: 53, payload: new Uint8Array(4) }));
  const out = h.run(0, frames);
  const per = new Map<number, number>();
  for (const s of out.sent) per.set(s.bytes[5] as number, (per.get(s.bytes[5] as number) ?? 0) + 1);
  assert.equal(per.size, 4);
  for (const [, n] of per) assert.ok(n > 800 && n < 1200, `share ${n}/4000`);
  const again = h.run(0, frames.slice(0, 200));
  assert.deepEqual(again.sent.map((s) => s.bytes[5]), out.sent.slice(0, 200).map((s) => s.bytes[5]));
});

test('router: setRoutes replaces the FIB at run time; exportState/importState carry routes and neighbours', () => {
  const r = router();
  const h = new Harness(r);
  const f = udpFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '192.0.2.5', srcPort: 1, dstPort: 2, payload: new Uint8Array(4) });
  h.now = 0;
  assert.equal(h.run(0, [f]).sent[0]?.bytes[34], 3, 'net unreachable before');
  r.setRoutes([{ prefix: '192.0.2.0/24', via: '10.0.2.254' }, { prefix: '0.0.0.0/0', type: 'blackhole' }]);
  assert.deepEqual(sent(h.run(0, [f])).map((x) => x[0]), [1]);
  assert.throws(() => r.setRoutes([{ prefix: '192.0.2.0/24', via: '10.9.9.9' }]), (e: Error) => e.name === 'ConfigError' && (e as ConfigError).path === 'routes[0].via');
  assert.deepEqual(sent(h.run(0, [f])).map((x) => x[0]), [1], 'a rejected push changes nothing');
  // learn a neighbour, export, import into a fresh router
  h.run(0, [arpRequestFrame({ srcMac: 0x0200000000d1, spa: '10.0.1.77', tpa: '10.0.1.1' })]);
  const st = r.exportState();
  const r2 = router();
  r2.importState(JSON.parse(JSON.stringify(st)));
  assert.deepEqual(r2.exportState(), st);
  const h2 = new Harness(r2);
  h2.now = 50;
  assert.deepEqual(sent(h2.run(0, [f])).map((x) => x[0]), [1]);
  assert.ok(r2.neighborRows(50).some((x) => x.address === '10.0.1.77' && x.state === 'stale'));
  // IPv6: the per-/32 walk cache of the data path follows FIB changes.
  const six = icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:77::1', identifier: 1, sequence: 1 });
  h.now = 100_000;
  assert.equal(h.run(0, [six]).sent[0]?.bytes[54], 1, 'ICMPv6 no route before');
  r.setRoutes([{ prefix: '2001:db8:77::/48', via: '2001:db8:2::fe' }]);
  assert.deepEqual(sent(h.run(0, [six])).map((x) => x[0]), [1]);
  r.setRoutes([]);
  assert.equal(r.routeSpecs().length, 0);
  h.now = 200_000;
  assert.equal(h.run(0, [six]).sent[0]?.bytes[54], 1, 'ICMPv6 no route after');
  assert.equal(h.run(0, [f]).sent[0]?.bytes[34], 3, 'unreachable again once removed');
});

test('router: configuration errors name the offending key', () => {
  const bad = (cfg: unknown, path: string): void => {
    assert.throws(() => parseRouterConfig(cfg), (e: Error) => e.name === 'ConfigError' && (e as ConfigError).path === path, path);
  };
  bad({ interfaces: [{ name: 'a', mac: '02:00:00:00:00:01' }], extra: 1 }, 'extra');
  bad({ interfaces: [{ name: 'a', mac: '02:00:00:00:00:01', mtu: 20 }] }, 'interfaces[0].mtu');
  bad({ interfaces: [{ name: 'a', mac: '02:00:00:00:00:01' }, { name: 'a', mac: '02:00:00:00:00:02' }] }, 'interfaces[1].name');
  bad({ interfaces: [{ name: 'a', mac: '02:00:00:00:00:01', addresses: ['10.0.0.1'] }] }, 'interfaces[0].addresses[0]');
  bad({ ...BASE, routes: [{ prefix: '10.0.0.0/33', via: '10.0.1.9' }] }, 'routes[0].prefix');
  bad({ ...BASE, routes: [{ prefix: '10.9.0.0/16', via: '10.0.1.9', weight: 2 }] }, 'routes[0].weight');
  bad({ ...BASE, neighbors: [{ interface: 'nope', address: '10.0.1.9', mac: '02:00:00:00:00:09' }] }, 'neighbors[0].interface');
  assert.ok(new Router(parseRouterConfig(BASE)));
  assert.deepEqual(routerFactory.ports?.(BASE), router().ports);
  assert.throws(() => routerFactory.ports?.({ ...BASE, bogus: 1 }), (e: Error) => e.name === 'ConfigError' && (e as ConfigError).path === 'bogus');
});

test('router: 100,000 mutated and truncated frames: no exception, counters consistent', () => {
  const r = router({ neighbor: { retransMs: 20, holdQueue: 4 } });
  const seeds = [
    icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.2', identifier: 1, sequence: 1 }),
    icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.1', identifier: 1, sequence: 1 }),
    icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.2.77', identifier: 1, sequence: 1, ttl: 2 }),
    icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:2::2', identifier: 1, sequence: 1 }),
    icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:1::1', identifier: 1, sequence: 1 }),
    icmp4EchoFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:2::77', identifier: 1, sequence: 1 }),
    udpFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.1.1', srcPort: 1, dstPort: 2, payload: new Uint8Array(8) }),
    tcpFrame({ srcMac: H1, dstMac: R0, src: '10.0.1.2', dst: '10.0.1.1', srcPort: 1, dstPort: 2, flags: 2 }),
    tcpFrame({ srcMac: H1, dstMac: R0, src: '2001:db8:1::2', dst: '2001:db8:1::1', srcPort: 1, dstPort: 2, flags: 0x10 }),
    big4(1500, false),
    big4(1500, true),
    arpRequestFrame({ srcMac: H1, spa: '10.0.1.2', tpa: '10.0.1.1' }),
    arpReplyFrame({ srcMac: 0x0200000000e9, spa: '10.0.2.77', tpa: '10.0.2.1', tha: R1 }),
    nsFrame({ srcMac: H1, src: '2001:db8:1::2', target: '2001:db8:1::1' }),
    naFrame({ srcMac: 0x0200000000e9, dstMac: R1, src: '2001:db8:2::77', dst: '2001:db8:2::1', target: '2001:db8:2::77' }),
  ];
  void pseudoSum;
  const h = new Harness(r, 2048);
  const rand = rng(42);
  let fed = 0;
  while (fed < 100_000) {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 256; i++, fed++) {
      const s = seeds[rand() % seeds.length] as Uint8Array;
      frames.push(rand() % 8 === 0 ? s : mutate(s, rand));
    }
    h.now += 1 + (rand() % 40);
    h.run(rand() % 2, frames);
    if (rand() % 4 === 0) h.tick();
    consistent(r.counters());
  }
  const c = r.counters();
  assert.equal(counter(c, 'in'), fed);
  assert.ok(fed >= 100_000);
  assert.ok(counter(c, 'forwarded') > 1000 && counter(c, 'dropped') > 1000 && counter(c, 'local') > 1000);
});

test('router: the pushed-FIB fast path parses IPv4 and IPv6 routes exactly as the full parser does', () => {
  const ifs = parseRouterConfig({ interfaces: [
    { name: 'a', mac: '02:00:00:00:00:01', addresses: ['10.0.0.1/24', '2001:db8:a::1/64'] },
    { name: 'b', mac: '02:00:00:00:00:02', addresses: ['10.0.1.1/24', '2001:db8:b::1/48'] },
  ] }).interfaces;
  const r = rng(11);
  const specs: { prefix: string; via: string }[] = [];
  const seen = new Set<string>();
  for (let k = 0; k < 3000; k++) {
    const v6 = r() % 2 === 0;
    let prefix: string;
    let via: string;
    let id: string;
    if (v6) {
      const a = new Uint8Array(16).map(() => (r() % 4 === 0 ? 0 : r() & 0xff));
      const len = r() % 129;
      for (let bit = len; bit < 128; bit++) a[bit >>> 3] = (a[bit >>> 3] as number) & ~(1 << (7 - (bit & 7)));
      // Canonical text, upper case, or every group written out: all three forms.
      const canon = formatIpv6(a);
      const full = Array.from({ length: 8 }, (_, g) => ((a[2 * g] as number) * 256 + (a[2 * g + 1] as number)).toString(16)).join(':');
      prefix = `${[canon, canon.toUpperCase(), full][r() % 3]}/${len}`;
      id = `${canon}/${len}`;
      via = r() % 2 === 0 ? `2001:db8:a::${(r() % 0xffff).toString(16)}` : `2001:db8:b:0:${(r() % 0xffff).toString(16)}::2`;
    } else {
      const len = r() % 33;
      const a = len === 0 ? 0 : ((r() >>> 0) & ((0xffffffff << (32 - len)) >>> 0)) >>> 0;
      prefix = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`;
      via = `10.0.${r() % 2}.${1 + (r() % 250)}`;
      id = prefix;
    }
    if (seen.has(id)) continue;
    seen.add(id);
    specs.push({ prefix, via });
  }
  const fast = parseRoutes(specs, ifs);
  // An explicit type keeps a route off the fast path.
  const slow = parseRoutes(specs.map((x) => ({ ...x, type: 'unicast' })), ifs);
  assert.equal(fast.length, slow.length);
  fast.forEach((f, i) => {
    const s = slow[i];
    assert.ok(s);
    assert.deepEqual([f.key, f.family, f.addr4, [...f.addr6], f.len, f.type, f.sig, f.hops.map((h) => [h.iface, h.via4, h.via6 ? [...h.via6] : null])],
      [s.key, s.family, s.addr4, [...s.addr6], s.len, s.type, s.sig, s.hops.map((h) => [h.iface, h.via4, h.via6 ? [...h.via6] : null])], JSON.stringify(specs[i]));
  });
  // Text the fast path refuses goes to the full parser and gives its errors.
  for (const bad of [{ prefix: '2001:db8::1/64', via: '2001:db8:a::2' }, { prefix: '2001:db8:::/64', via: '2001:db8:a::2' }, { prefix: '2001:db8::/129', via: '2001:db8:a::2' }, { prefix: '2001:db8::/64', via: 'fe80::1' }, { prefix: '2001:db8::/64', via: '2001:db9::1' }]) {
    assert.throws(() => parseRoutes([bad], ifs), (e: Error) => e.name === 'ConfigError', JSON.stringify(bad));
  }
  assert.deepEqual([...(parseRoutes([{ prefix: '::ffff:10.0.0.0/120', via: '2001:db8:a::2' }], ifs)[0]?.addr6 ?? [])], [...(parseIpv6('::ffff:10.0.0.0') ?? [])]);
});

test('router: exported neighbour ages are whole ms under a fractional clock (performance.now), so an import takes them', () => {
  const r = router();
  const h = new Harness(r);
  h.now = 10.25;
  h.run(0, [arpRequestFrame({ srcMac: 0x0200000000d1, spa: '10.0.1.77', tpa: '10.0.1.1' })]);
  h.now = 1811.5;
  h.run(0, [arpRequestFrame({ srcMac: 0x0200000000d2, spa: '10.0.1.78', tpa: '10.0.1.1' })]);
  const st = r.exportState() as { neighbors: { address: string; ageMs: number }[] };
  const learnt = st.neighbors.filter((n) => n.address.startsWith('10.0.1.7'));
  assert.equal(learnt.length, 2);
  assert.ok(learnt.some((n) => n.ageMs > 1000) && st.neighbors.every((n) => Number.isInteger(n.ageMs)), JSON.stringify(st.neighbors));
  router().importState(JSON.parse(JSON.stringify(st)));
});
