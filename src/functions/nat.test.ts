import { test } from 'node:test';
import assert from 'node:assert/strict';
import { icmp4EchoFrame, icmp4ErrorFrame, tcpFrame, udpFrame } from '../packet/frames.js';
import { checksumValid, pseudoSum4At } from '../packet/checksum.js';
import { ConfigError } from './contract.js';
import { Nat, natFactory } from './nat.js';
import { Harness, counter, fuzz, hex, rng } from './testing.js';

const IN = { srcMac: '02:00:00:00:01:01', dstMac: '02:00:00:00:01:fe' };
const OUT = { srcMac: '02:00:00:00:02:01', dstMac: '02:00:00:00:02:fe' };
const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const PSH = 0x08;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const cfg = {
  snat: { addresses: ['203.0.113.1'], sources: ['10.0.0.0/8'] },
  forwards: [{ proto: 'tcp', port: 8080, to: '10.0.0.5', toPort: 80 }],
};

/** Independent check of every checksum of an IPv4 frame (header, TCP/UDP with pseudo-header, ICMP). */
function checksumsOk(f: Uint8Array): void {
  const l3 = 14;
  const hl = (f[l3]! & 15) * 4;
  assert.ok(checksumValid(f, l3, hl), 'IPv4 header checksum');
  const proto = f[l3 + 9]!;
  const tl = (f[l3 + 2]! << 8) | f[l3 + 3]!;
  const l4len = tl - hl;
  if (proto === 6 || (proto === 17 && ((f[l3 + hl + 6]! << 8) | f[l3 + hl + 7]!) !== 0)) assert.ok(checksumValid(f, l3 + hl, l4len, pseudoSum4At(f, l3, proto, l4len)), 'transport checksum');
  if (proto === 1) assert.ok(checksumValid(f, l3 + hl, l4len), 'ICMP checksum');
}

test('nat: source NAT of a TCP connection keeps the port, rewrites with correct checksums, and maps replies back (golden bytes)', () => {
  const nat = natFactory.create(cfg);
  const h = new Harness(nat);
  const syn = tcpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: SYN, seq: 1, options: { mss: 1460 } });
  let r = h.run(0, [syn]);
  const want = tcpFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: SYN, seq: 1, options: { mss: 1460 } });
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(want)]]);
  checksumsOk(r.sent[0]!.bytes);
  const synack = tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: 40000, flags: SYN | ACK, seq: 9, ack: 2 });
  r = h.run(1, [synack]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(tcpFrame({ ...OUT, src: '198.51.100.7', dst: '10.0.0.1', srcPort: 443, dstPort: 40000, flags: SYN | ACK, seq: 9, ack: 2 }))]]);
  // a second host with the same source port gets the next free port
  const syn2 = tcpFrame({ ...IN, src: '10.0.0.2', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: SYN, seq: 77 });
  r = h.run(0, [syn2]);
  assert.equal(hex(r.sent[0]!.bytes), hex(tcpFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', srcPort: 40001, dstPort: 443, flags: SYN, seq: 77 })));
  assert.equal(counter(nat.counters(), 'snat'), 2);
  assert.equal(counter(nat.counters(), 'addresses.0.tcpPorts'), 3, 'two mappings + the forwarded port 8080');
});

test('nat: UDP without checksum keeps 0; a checksum that updates to 0 is sent as 0xffff (RFC 768)', () => {
  const h = new Harness(natFactory.create(cfg));
  const none = udpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 5000, dstPort: 53, payload: enc('q'), noChecksum: true });
  let r = h.run(0, [none]);
  assert.equal(hex(r.sent[0]!.bytes), hex(udpFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', srcPort: 5000, dstPort: 53, payload: enc('q'), noChecksum: true })));
  // Search a payload whose translated checksum is 0x0000 in one's complement (sent 0xffff).
  for (let x = 0; x < 65536; x++) {
    const pl = new Uint8Array([x >>> 8, x & 255]);
    const after = udpFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', srcPort: 5001, dstPort: 53, payload: pl });
    if (((after[40]! << 8) | after[41]!) !== 0xffff) continue;
    r = h.run(0, [udpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 5001, dstPort: 53, payload: pl })]);
    assert.equal(hex(r.sent[0]!.bytes), hex(after));
    checksumsOk(r.sent[0]!.bytes);
    return;
  }
  assert.fail('no payload found');
});

test('nat: ICMP echo identifiers are translated per host and mapped back', () => {
  const nat = natFactory.create(cfg);
  const h = new Harness(nat);
  const a = icmp4EchoFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', identifier: 1, sequence: 5 });
  const b = icmp4EchoFrame({ ...IN, src: '10.0.0.2', dst: '198.51.100.7', identifier: 1, sequence: 5 });
  const r = h.run(0, [a, b]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [
    hex(icmp4EchoFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', identifier: 1, sequence: 5 })),
    hex(icmp4EchoFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', identifier: 2, sequence: 5 })),
  ]);
  const back = h.run(1, [
    icmp4EchoFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', identifier: 2, sequence: 5, reply: true }),
    icmp4EchoFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', identifier: 1, sequence: 5, reply: true }),
    icmp4EchoFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', identifier: 3, sequence: 5, reply: true }),
  ]);
  assert.deepEqual(back.sent.map((s) => [s.port, hex(s.bytes)]), [
    [0, hex(icmp4EchoFrame({ ...OUT, src: '198.51.100.7', dst: '10.0.0.2', identifier: 1, sequence: 5, reply: true }))],
    [0, hex(icmp4EchoFrame({ ...OUT, src: '198.51.100.7', dst: '10.0.0.1', identifier: 1, sequence: 5, reply: true }))],
  ]);
  assert.equal(back.dropped, 1);
});

test('nat: port forwarding (destination NAT) and its replies', () => {
  const nat = natFactory.create(cfg);
  const h = new Harness(nat);
  const syn = tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 5555, dstPort: 8080, flags: SYN, seq: 1 });
  let r = h.run(1, [syn, tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 5555, dstPort: 8081, flags: SYN, seq: 1 })]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(tcpFrame({ ...OUT, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5555, dstPort: 80, flags: SYN, seq: 1 }))]]);
  assert.equal(counter(nat.counters(), 'noMapping'), 1, 'no forward for 8081');
  r = h.run(0, [tcpFrame({ ...IN, src: '10.0.0.5', dst: '198.51.100.7', srcPort: 80, dstPort: 5555, flags: SYN | ACK, seq: 50, ack: 2 })]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(tcpFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', srcPort: 8080, dstPort: 5555, flags: SYN | ACK, seq: 50, ack: 2 }))]]);
  checksumsOk(r.sent[0]!.bytes);
});

test('nat: ICMP errors about translated flows: outer address, quoted header and both checksums', () => {
  const nat = natFactory.create(cfg);
  const h = new Harness(nat);
  const dg = udpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 33434, dstPort: 33435, payload: enc('traceroute'), ttl: 1, id: 0x1111 });
  const outDg = h.run(0, [dg]).sent[0]!.bytes;
  // A router outside answers time exceeded, quoting the translated datagram in full.
  const err = icmp4ErrorFrame({ ...OUT, src: '192.0.2.254', dst: '203.0.113.1', type: 11, code: 0, invoking: outDg.subarray(14), quote: outDg.length - 14 });
  let r = h.run(1, [err]);
  const want = icmp4ErrorFrame({ ...OUT, src: '192.0.2.254', dst: '10.0.0.1', type: 11, code: 0, invoking: dg.subarray(14), quote: dg.length - 14 });
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(want)]]);
  checksumsOk(r.sent[0]!.bytes);
  // With only IP header + 8 bytes quoted (RFC 792) too.
  const short = icmp4ErrorFrame({ ...OUT, src: '192.0.2.254', dst: '203.0.113.1', type: 3, code: 3, invoking: outDg.subarray(14) });
  r = h.run(1, [short]);
  assert.equal(hex(r.sent[0]!.bytes), hex(icmp4ErrorFrame({ ...OUT, src: '192.0.2.254', dst: '10.0.0.1', type: 3, code: 3, invoking: dg.subarray(14) })));
  // An inside server refusing a forwarded connection: the error leaves with the public address.
  const syn = tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 5555, dstPort: 8080, flags: SYN, seq: 1 });
  const inSyn = h.run(1, [syn]).sent[0]!.bytes;
  const refuse = icmp4ErrorFrame({ ...IN, src: '10.0.0.5', dst: '198.51.100.7', type: 3, code: 13, invoking: inSyn.subarray(14), quote: inSyn.length - 14 });
  r = h.run(0, [refuse]);
  assert.equal(hex(r.sent[0]!.bytes), hex(icmp4ErrorFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', type: 3, code: 13, invoking: syn.subarray(14), quote: syn.length - 14 })));
  checksumsOk(r.sent[0]!.bytes);
  // An error about an unknown flow is dropped.
  const stray = udpFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.9', srcPort: 1, dstPort: 2 });
  assert.equal(h.run(1, [icmp4ErrorFrame({ ...OUT, src: '192.0.2.254', dst: '203.0.113.1', type: 3, code: 3, invoking: stray.subarray(14) })]).sent.length, 0);
  assert.equal(counter(nat.counters(), 'icmpErrors'), 3);
});

test('nat: port exhaustion is counted and ports return to the pool when mappings expire', () => {
  const nat = natFactory.create({ snat: { addresses: ['203.0.113.1'], ports: '5000-5002' }, timeouts: { udpUnreplied: 10_000 } });
  const h = new Harness(nat);
  const f = (sport: number): Uint8Array => udpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: sport, dstPort: 53 });
  const r = h.run(0, [f(1), f(2), f(3), f(4)]);
  assert.deepEqual(r.sent.map((s) => (s.bytes[34]! << 8) | s.bytes[35]!).sort(), [5000, 5001, 5002], 'ports outside the range start at a hashed position');
  assert.equal(counter(nat.counters(), 'portExhausted'), 1);
  // the same flow keeps its mapping
  assert.equal(h.run(0, [f(2)]).sent.length, 1);
  h.now = 10_001;
  h.tick();
  assert.equal(counter(nat.counters(), 'mappings'), 0);
  assert.equal(counter(nat.counters(), 'addresses.0.udpPorts'), 0);
  const again = h.run(0, [f(4)]).sent.map((s) => (s.bytes[34]! << 8) | s.bytes[35]!);
  assert.ok(again.length === 1 && again[0]! >= 5000 && again[0]! <= 5002);
});

test('nat: a pool spreads hosts over addresses by hash and uses the next address when one is full', () => {
  const nat = natFactory.create({ snat: { addresses: ['203.0.113.0/30'], ports: '6000-6000' } });
  const h = new Harness(nat);
  const frames = [1, 2, 3, 4, 5].map((i) => udpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 1000 + i, dstPort: 53 }));
  const r = h.run(0, frames);
  const srcs = r.sent.map((s) => s.bytes.subarray(26, 30).join('.'));
  assert.equal(new Set(srcs).size, 4, 'four addresses, one port each');
  assert.equal(counter(nat.counters(), 'portExhausted'), 1);
});

test('nat: hairpinning sends an inside client to an inside server through the public address', () => {
  const h = new Harness(natFactory.create({ ...cfg, hairpin: true }));
  const syn = tcpFrame({ ...IN, src: '10.0.0.9', dst: '203.0.113.1', srcPort: 41000, dstPort: 8080, flags: SYN, seq: 1 });
  let r = h.run(0, [syn]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(tcpFrame({ ...IN, src: '203.0.113.1', dst: '10.0.0.5', srcPort: 41000, dstPort: 80, flags: SYN, seq: 1 }))]]);
  r = h.run(0, [tcpFrame({ ...IN, src: '10.0.0.5', dst: '203.0.113.1', srcPort: 80, dstPort: 41000, flags: SYN | ACK, seq: 5, ack: 2 })]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(tcpFrame({ ...IN, src: '203.0.113.1', dst: '10.0.0.9', srcPort: 8080, dstPort: 41000, flags: SYN | ACK, seq: 5, ack: 2 }))]]);
});

test('nat: bindings survive export/import into a fresh instance in the middle of a TCP connection', () => {
  const nat1 = natFactory.create(cfg);
  const h1 = new Harness(nat1);
  h1.run(0, [tcpFrame({ ...IN, src: '10.0.0.2', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: SYN, seq: 1 })]);
  const first = h1.run(0, [tcpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: SYN, seq: 1 })]).sent[0]!.bytes;
  const extPort = (first[34]! << 8) | first[35]!;
  assert.equal(extPort, 40001);
  h1.run(1, [tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: 40001, flags: SYN | ACK, seq: 9, ack: 2 })]);
  h1.run(0, [tcpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: ACK, seq: 2, ack: 10 })]);
  const state = JSON.parse(JSON.stringify(nat1.exportState())) as Parameters<Nat['importState']>[0];
  const nat2 = natFactory.create(cfg);
  nat2.importState(state);
  const h2 = new Harness(nat2);
  h2.now = 777_000;
  let r = h2.run(0, [tcpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: ACK | PSH, seq: 2, ack: 10, payload: enc('data') })]);
  assert.equal(hex(r.sent[0]!.bytes), hex(tcpFrame({ ...IN, src: '203.0.113.1', dst: '198.51.100.7', srcPort: 40001, dstPort: 443, flags: ACK | PSH, seq: 2, ack: 10, payload: enc('data') })));
  r = h2.run(1, [tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: 40001, flags: FIN | ACK, seq: 10, ack: 6 })]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[0, hex(tcpFrame({ ...OUT, src: '198.51.100.7', dst: '10.0.0.1', srcPort: 443, dstPort: 40000, flags: FIN | ACK, seq: 10, ack: 6 }))]]);
  // the imported ports stay owned: a new host asking for 40000 and 40001 gets 40002
  r = h2.run(0, [tcpFrame({ ...IN, src: '10.0.0.3', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: SYN, seq: 1 })]);
  assert.equal((r.sent[0]!.bytes[34]! << 8) | r.sent[0]!.bytes[35]!, 40002);
  assert.throws(() => natFactory.create({ snat: { addresses: ['203.0.113.9'] } }).importState(state), (e: Error) => e.name === 'ConfigError');
});

test('nat: non-IPv4 frames cross unchanged; sources outside `sources` are not translated; fragments dropped', () => {
  const nat = natFactory.create(cfg);
  const h = new Harness(nat);
  const v6 = udpFrame({ ...IN, src: 'fd00::1', dst: '2001:db8::1', srcPort: 1, dstPort: 2 });
  const pub = udpFrame({ ...IN, src: '192.0.2.10', dst: '198.51.100.7', srcPort: 1, dstPort: 2 });
  const frag = udpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 1, dstPort: 2, payload: new Uint8Array(16) });
  frag[20] = 0x00;
  frag[21] = 0x10; // fragment offset 16 × 8
  frag[24] = 0;
  frag[25] = 0;
  const hc = ~(() => { let s = 0; for (let i = 14; i < 34; i += 2) s += (frag[i]! << 8) | frag[i + 1]!; while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return s; })() & 0xffff;
  frag[24] = hc >>> 8;
  frag[25] = hc & 0xff;
  const r = h.run(0, [v6, pub, frag]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [hex(v6), hex(pub)]);
  assert.equal(counter(nat.counters(), 'fragments'), 1);
});

test('nat: configuration errors name the offending key', () => {
  const bad = (c: unknown, path: string): void => {
    assert.throws(() => natFactory.create(c), (e: Error) => e.name === 'ConfigError' && (e as ConfigError).path === path);
  };
  bad({ snat: { adresses: ['1.2.3.4'] } }, 'snat.adresses');
  bad({ snat: { addresses: ['1.2.3.400'] } }, 'snat.addresses[0]');
  bad({ snat: { addresses: ['1.2.0.0/16'] } }, 'snat.addresses[0]');
  bad({ snat: { addresses: ['1.2.3.4'], ports: '9-1' } }, 'snat.ports');
  bad({ forwards: [{ proto: 'tcp', port: 80, to: '10.0.0.1' }] }, 'forwards[0].address');
  bad({ snat: { addresses: ['1.2.3.4'] }, forwards: [{ proto: 'tcp', port: '80-90', to: '10.0.0.1' }, { proto: 'tcp', port: 85, to: '10.0.0.2' }] }, 'forwards[1].port');
});

test('nat: fuzz 100,000 mutated frames: no exception, in = out + dropped, ports never leak', () => {
  const nat = natFactory.create({ ...cfg, maxFlows: 2048, hairpin: true, timeouts: { udpUnreplied: 300, tcpSynSent: 300, icmp: 300 } });
  const outDg = udpFrame({ ...OUT, src: '203.0.113.1', dst: '198.51.100.7', srcPort: 1024, dstPort: 53 });
  const seeds = [
    tcpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags: SYN, seq: 1 }),
    tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: 40000, flags: SYN | ACK, seq: 1, ack: 2 }),
    tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 5, dstPort: 8080, flags: SYN, seq: 1 }),
    udpFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 1024, dstPort: 53, payload: enc('abc') }),
    icmp4EchoFrame({ ...IN, src: '10.0.0.1', dst: '198.51.100.7', identifier: 3, sequence: 1 }),
    icmp4ErrorFrame({ ...OUT, src: '192.0.2.1', dst: '203.0.113.1', type: 3, code: 3, invoking: outDg.subarray(14) }),
    icmp4ErrorFrame({ ...OUT, src: '192.0.2.1', dst: '203.0.113.1', type: 11, code: 0, invoking: icmp4EchoFrame({ ...OUT, src: '203.0.113.1', dst: '198.51.100.7', identifier: 3, sequence: 1 }).subarray(14) }),
  ];
  fuzz(nat, seeds, 100_000, 5);
  const c = nat.counters();
  assert.ok(counter(c, 'translated') > 1000 && counter(c, 'malformed') > 1000, JSON.stringify(c).slice(0, 400));
  // every owned port belongs to a live mapping (plus the reserved forward)
  const st = nat.exportState() as { connections: { mark: number }[] };
  const owned = st.connections.filter((x) => (x.mark & (1 << 26)) !== 0);
  const byClass = [0, 1, 2].map((k) => owned.filter((x) => ((x.mark >>> 16) & 3) === k).length);
  assert.deepEqual([counter(c, 'addresses.0.tcpPorts'), counter(c, 'addresses.0.udpPorts'), counter(c, 'addresses.0.icmpIds')], [byClass[0]! + 1, byClass[1], byClass[2]]);
});

test('nat: random flows translate out and back to the exact frames a host would build (checksums included)', () => {
  const r = rng(21);
  const nat = natFactory.create({ snat: { addresses: ['203.0.113.0/30'], ports: '1024-65535' }, maxFlows: 4096 });
  const h = new Harness(nat);
  for (let k = 0; k < 600; k++) {
    const src = `10.${r() % 4}.${r() % 256}.${1 + (r() % 254)}`;
    const dst = `198.51.${r() % 256}.${1 + (r() % 254)}`;
    const payload = Uint8Array.from({ length: r() % 40 }, () => r() & 0xff);
    const kind = r() % 4;
    const sp = 1 + (r() % 65535);
    const dp = 1 + (r() % 65535);
    const build = (L: typeof IN, s: string, d: string, a: number, b: number, reply: boolean): Uint8Array =>
      kind === 0 ? tcpFrame({ ...L, src: s, dst: d, srcPort: a, dstPort: b, flags: reply ? SYN | ACK : SYN, seq: k, ack: reply ? k + 1 : 0, payload })
        : kind === 1 ? udpFrame({ ...L, src: s, dst: d, srcPort: a, dstPort: b, payload })
          : kind === 2 ? udpFrame({ ...L, src: s, dst: d, srcPort: a, dstPort: b, payload, noChecksum: true })
            : icmp4EchoFrame({ ...L, src: s, dst: d, identifier: reply ? b : a, sequence: k & 0xffff, payload, reply });
    const o = h.run(0, [build(IN, src, dst, sp, dp, false)]).sent;
    assert.equal(o.length, 1, `flow ${k} out`);
    const f = o[0]!.bytes;
    checksumsOk(f);
    const ext = f.subarray(26, 30).join('.');
    const ep = kind === 3 ? (f[38]! << 8) | f[39]! : (f[34]! << 8) | f[35]!;
    assert.equal(hex(f), hex(build(IN, ext, dst, ep, dp, false)), `flow ${k}: only source address/port changed`);
    const back = h.run(1, [build(OUT, dst, ext, dp, ep, true)]).sent;
    assert.deepEqual(back.map((s) => [s.port, hex(s.bytes)]), [[0, hex(build(OUT, dst, src, dp, sp, true))]], `flow ${k} back`);
  }
});
