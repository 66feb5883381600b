import { test } from 'node:test';
import assert from 'node:assert/strict';
import { icmp4EchoFrame, icmp4ErrorFrame, icmp6ErrorFrame, tcpFrame, udpFrame } from '../packet/frames.js';
import { checksumValid, sum16 } from '../packet/checksum.js';
import { ConfigError, type Counters } from './contract.js';
import { Firewall, firewallFactory, parseFirewallConfig } from './firewall.js';
import { Harness, counter, fuzz, hex, rng } from './testing.js';

const A = { srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b' };
const B = { srcMac: '02:00:00:00:00:0b', dstMac: '02:00:00:00:00:0a' };
const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const RST = 0x04;
const PSH = 0x08;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

// lan host 10.0.0.1, wan server 198.51.100.7
const out = (flags: number, seq: number, ack: number, payload = ''): Uint8Array =>
  tcpFrame({ ...A, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags, seq, ack, payload: enc(payload) });
const back = (flags: number, seq: number, ack: number, payload = ''): Uint8Array =>
  tcpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.1', srcPort: 443, dstPort: 40000, flags, seq, ack, payload: enc(payload) });

const base = {
  interfaces: [{ name: 'lan' }, { name: 'wan' }],
  defaultPolicy: 'deny',
  rules: [
    { name: 'lan-out', in: 'lan', action: 'allow' },
    { name: 'web', in: 'wan', proto: 'tcp', dst: '10.0.0.80/32', dport: 80, action: 'allow' },
    { name: 'low-tcp', in: 'wan', proto: 'tcp', dport: '1-1023', action: 'reject' },
    { name: 'udp-admin', in: 'wan', proto: 'udp', dport: 161, action: 'reject', rejectWith: 'admin-prohibited' },
    { name: 'v6-udp', in: 'wan', family: 6, proto: 'udp', action: 'reject', rejectWith: 'admin-prohibited' },
    { name: 'udp', in: 'wan', proto: 'udp', action: 'reject' },
  ],
};
const ruleCounts = (fw: Firewall): [string, number, number][] =>
  (fw.counters()['rules'] as readonly Counters[]).map((r) => [r['name'] as unknown as string, r['packets'] as number, r['bytes'] as number]);

test('firewall: an allowed TCP connection is tracked through its states; replies pass as established without a rule walk', () => {
  const fw = firewallFactory.create(base) as Firewall;
  const h = new Harness(fw);
  const frames = [out(SYN, 100, 0)];
  let r = h.run(0, frames);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(frames[0]!)]]);
  const st = (): string => ((fw.exportState() as { connections: { state: string }[] }).connections[0]?.state ?? 'gone');
  assert.equal(st(), 'SYN_SENT');
  r = h.run(1, [back(SYN | ACK, 500, 101)]);
  assert.equal(r.sent.length, 1);
  assert.equal(st(), 'SYN_RECV');
  h.run(0, [out(ACK, 101, 501)]);
  assert.equal(st(), 'ESTABLISHED');
  r = h.run(1, [back(ACK | PSH, 501, 101, 'hello')]);
  assert.deepEqual(r.sent.map((s) => s.port), [0]);
  h.run(0, [out(FIN | ACK, 101, 506)]);
  assert.equal(st(), 'FIN_WAIT');
  h.run(1, [back(FIN | ACK, 506, 102)]);
  assert.equal(st(), 'LAST_ACK');
  h.run(0, [out(ACK, 102, 507)]);
  assert.equal(st(), 'TIME_WAIT');
  const c = fw.counters();
  assert.equal(counter(c, 'ruleWalks'), 1, 'only the SYN walked the rules');
  assert.equal(counter(c, 'fastPath'), 6);
  assert.deepEqual(ruleCounts(fw)[0], ['lan-out', 1, frames[0]!.length]);
  // TIME_WAIT lasts 120 s (nf_conntrack_tcp_timeout_time_wait)
  h.now = 119_999;
  h.tick();
  assert.equal(counter(fw.counters(), 'flows'), 1);
  h.now = 120_001;
  h.tick();
  assert.equal(counter(fw.counters(), 'flows'), 0);
});

test('firewall: unsolicited traffic from wan is dropped by the default policy; a denied SYN leaves no state', () => {
  const fw = firewallFactory.create(base) as Firewall;
  const h = new Harness(fw);
  const r = h.run(1, [back(SYN, 1, 0), back(ACK, 5, 5)]);
  assert.equal(r.sent.length, 0);
  assert.equal(r.dropped, 2);
  const c = fw.counters();
  assert.equal(counter(c, 'flows'), 0);
  assert.equal(counter(c, 'invalid'), 1, 'an ACK without a connection is invalid (tcpLoose off)');
  assert.equal(counter(c, 'defaultPolicy.packets'), 2);
  // a mid-stream ACK from lan is invalid too and hits the lan-out rule, but opens nothing... unless tcpLoose
  const loose = new Harness(firewallFactory.create({ ...base, tcpLoose: true }));
  loose.run(0, [out(ACK, 101, 501)]);
  assert.equal((loose.fn.exportState() as { connections: { state: string }[] }).connections[0]?.state, 'ESTABLISHED');
});

test('firewall: reject of a TCP SYN is an RST+ACK with exact bytes (mirrored MACs, checksums)', () => {
  const fw = firewallFactory.create(base);
  const h = new Harness(fw);
  const syn = tcpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5555, dstPort: 22, flags: SYN, seq: 0xfffffff0, options: { mss: 1460 } });
  const r = h.run(1, [syn]);
  const want = tcpFrame({ ...A, src: '10.0.0.5', dst: '198.51.100.7', srcPort: 22, dstPort: 5555, flags: RST | ACK, seq: 0, ack: 0xfffffff1, window: 0, id: 0, df: true, ttl: 64 });
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(want)]]);
  const f = r.sent[0]!.bytes;
  assert.ok(checksumValid(f, 14, 20), 'IPv4 header checksum');
  assert.ok(checksumValid(f, 34, 20, sum16(f, 26, 8, 6 + 20)), 'TCP checksum over the pseudo-header');
  // a segment with ACK gets <SEQ=SEG.ACK><CTL=RST>
  const seg = tcpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5555, dstPort: 23, flags: ACK | PSH, seq: 7, ack: 0x01020304, payload: enc('abc') });
  const r2 = h.run(1, [seg]);
  assert.equal(hex(r2.sent[0]!.bytes), hex(tcpFrame({ ...A, src: '10.0.0.5', dst: '198.51.100.7', srcPort: 23, dstPort: 5555, flags: RST, seq: 0x01020304, ack: 0, window: 0 })));
  // an RST is never answered
  const r3 = h.run(1, [tcpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5555, dstPort: 23, flags: RST, seq: 1 })]);
  assert.equal(r3.sent.length, 0);
  assert.equal(counter(fw.counters(), 'rejectSuppressed'), 1);
  // hand-written golden bytes of the first RST
  assert.equal(
    hex(r.sent[0]!.bytes),
    // (checksums computed apart with Python's struct: IPv4 0x0691, TCP 0x65d6)
    '02000000000b02000000000a0800' + '450000280000400040060691' + '0a000005c6336407' + '001615b3' + '00000000' + 'fffffff1' + '5014' + '0000' + '65d6' + '0000',
  );
});

test('firewall: reject of UDP is ICMP port unreachable (or admin-prohibited) quoting the datagram', () => {
  const fw = firewallFactory.create(base);
  const h = new Harness(fw);
  const dg = udpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5353, dstPort: 9999, payload: enc('ping?'), id: 0x4242 });
  let r = h.run(1, [dg]);
  const err = (code: number, invoking: Uint8Array): Uint8Array =>
    icmp4ErrorFrame({ ...A, src: '10.0.0.5', dst: '198.51.100.7', type: 3, code, invoking, quote: invoking.length, ttl: 64, id: 0 });
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(err(3, dg.subarray(14)))]]);
  const f = r.sent[0]!.bytes;
  assert.ok(checksumValid(f, 14, 20) && checksumValid(f, 34, f.length - 34), 'IP and ICMP checksums');
  const snmp = udpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5353, dstPort: 161 });
  r = h.run(1, [snmp]);
  assert.equal(hex(r.sent[0]!.bytes), hex(err(13, snmp.subarray(14))));
  // broadcast destinations are never answered
  r = h.run(1, [udpFrame({ ...B, dstMac: 'ff:ff:ff:ff:ff:ff', src: '198.51.100.7', dst: '255.255.255.255', srcPort: 68, dstPort: 67 })]);
  assert.equal(r.sent.length, 0);
  assert.deepEqual(ruleCounts(fw as Firewall).map((x) => x[1]), [0, 0, 0, 1, 0, 2]);
});

test('firewall: IPv6 reject is ICMPv6 admin-prohibited with the pseudo-header checksum', () => {
  const fw = firewallFactory.create(base);
  const h = new Harness(fw);
  const dg = udpFrame({ ...B, src: '2001:db8::7', dst: '2001:db8:1::5', srcPort: 1000, dstPort: 2000, payload: enc('x') });
  const r = h.run(1, [dg]);
  const want = icmp6ErrorFrame({ ...A, src: '2001:db8:1::5', dst: '2001:db8::7', type: 1, code: 1, invoking: dg.subarray(14), ttl: 64 });
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(want)]]);
});

test('firewall: IPv6 TCP is tracked; an ICMPv6 packet-too-big about it is related; NDP is untracked and walks the rules', () => {
  const fw = firewallFactory.create({ ...base, rules: [{ in: 'lan', action: 'allow' }, { name: 'ndp', proto: 'icmpv6', icmpType: 135, action: 'allow' }] });
  const h = new Harness(fw);
  const syn = tcpFrame({ ...A, src: 'fd00::1', dst: '2001:db8::7', srcPort: 40000, dstPort: 443, flags: SYN, seq: 1 });
  const synack = tcpFrame({ ...B, src: '2001:db8::7', dst: 'fd00::1', srcPort: 443, dstPort: 40000, flags: SYN | ACK, seq: 9, ack: 2 });
  const stranger = tcpFrame({ ...B, src: '2001:db8::8', dst: 'fd00::1', srcPort: 443, dstPort: 40000, flags: SYN | ACK, seq: 9, ack: 2 });
  assert.equal(h.run(0, [syn]).sent.length, 1);
  assert.deepEqual(h.run(1, [synack, stranger]).sent.map((s) => hex(s.bytes)), [hex(synack)]);
  const ptb = icmp6ErrorFrame({ ...B, src: '2001:db8::fe', dst: 'fd00::1', type: 2, code: 0, value: 1280, invoking: syn.subarray(14) });
  assert.equal(h.run(1, [ptb]).sent.length, 1);
  const ns = icmp6ErrorFrame({ ...B, src: '2001:db8::fe', dst: 'fd00::1', type: 135, code: 0, invoking: new Uint8Array(20) });
  assert.equal(h.run(1, [ns]).sent.length, 1);
  const c = fw.counters();
  assert.deepEqual([counter(c, 'related'), counter(c, 'untracked'), counter(c, 'invalid')], [1, 1, 1]);
  assert.deepEqual(ruleCounts(fw as Firewall).map((x) => x[1]), [1, 1]);
});

test('firewall: ICMP echo is tracked by id; errors related to a tracked flow pass, others do not', () => {
  const fw = firewallFactory.create(base);
  const h = new Harness(fw);
  const req = icmp4EchoFrame({ ...A, src: '10.0.0.1', dst: '198.51.100.7', identifier: 77, sequence: 1 });
  const rep = icmp4EchoFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.1', identifier: 77, sequence: 1, reply: true });
  const stray = icmp4EchoFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.1', identifier: 78, sequence: 1, reply: true });
  assert.equal(h.run(0, [req]).sent.length, 1);
  assert.deepEqual(h.run(1, [rep, stray]).sent.map((s) => hex(s.bytes)), [hex(rep)]);
  // a UDP flow lan → wan, then a port unreachable about it from a router on the way
  const dg = udpFrame({ ...A, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 33434, dstPort: 33435 });
  h.run(0, [dg]);
  const related = icmp4ErrorFrame({ ...B, src: '203.0.113.1', dst: '10.0.0.1', type: 11, code: 0, invoking: dg.subarray(14) });
  const other = udpFrame({ ...A, src: '10.0.0.1', dst: '198.51.100.8', srcPort: 1, dstPort: 2 });
  const unrelated = icmp4ErrorFrame({ ...B, src: '203.0.113.1', dst: '10.0.0.1', type: 11, code: 0, invoking: other.subarray(14) });
  assert.deepEqual(h.run(1, [related, unrelated]).sent.map((s) => hex(s.bytes)), [hex(related)]);
  const c = fw.counters();
  assert.equal(counter(c, 'related'), 1);
  assert.equal(counter(c, 'invalid'), 2, 'the stray echo reply and the unrelated error');
});

test('firewall: UDP timeouts: unreplied 30 s, replied 120 s; replies after expiry are dropped', () => {
  const fw = firewallFactory.create({ ...base, rules: [{ in: 'lan', action: 'allow' }] });
  const h = new Harness(fw);
  const o = udpFrame({ ...A, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 5000, dstPort: 53 });
  const i = udpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.1', srcPort: 53, dstPort: 5000 });
  h.run(0, [o]);
  h.now = 29_000;
  assert.equal(h.run(1, [i]).sent.length, 1, 'reply within 30 s');
  h.now = 29_000 + 119_000;
  assert.equal(h.run(1, [i]).sent.length, 1, 'replied flow lives 120 s');
  h.now += 121_000;
  assert.equal(h.run(1, [i]).sent.length, 0, 'expired');
  h.run(0, [o]);
  h.now += 31_000;
  assert.equal(h.run(1, [i]).sent.length, 0, 'unreplied flow expired after 30 s');
  assert.ok(counter(fw.counters(), 'conntrack.expired') >= 2);
});

test('firewall: conntrack survives export/import into a fresh instance in the middle of a TCP connection', () => {
  const cfg = { ...base, defaultPolicy: 'deny', rules: [{ name: 'lan-out', in: 'lan', proto: 'tcp', state: ['new'], action: 'allow' }] };
  const fw1 = firewallFactory.create(cfg);
  const h1 = new Harness(fw1);
  h1.now = 5000;
  h1.run(0, [out(SYN, 100, 0)]);
  h1.run(1, [back(SYN | ACK, 500, 101)]);
  h1.run(0, [out(ACK, 101, 501), out(ACK | PSH, 101, 501, 'GET /')]);
  const state = JSON.parse(JSON.stringify(fw1.exportState())) as { connections: { state: string; ttlMs: number }[] };
  assert.equal(state.connections[0]?.state, 'ESTABLISHED');
  const fw2 = firewallFactory.create(cfg);
  fw2.importState(state);
  const h2 = new Harness(fw2);
  h2.now = 1_000_000; // another clock entirely
  const mid = [back(ACK | PSH, 501, 106, 'HTTP/1.1 200 OK'), out(ACK, 106, 516), out(FIN | ACK, 106, 516), back(FIN | ACK, 516, 107), out(ACK, 107, 517)];
  const r = h2.run(1, [mid[0]!]);
  assert.equal(r.sent.length, 1, 'the reply passes on the fresh instance');
  for (const [k, f] of mid.slice(1).entries()) assert.equal(h2.run([0, 0, 1, 0][k]!, [f]).sent.length, 1);
  assert.equal((fw2.exportState() as { connections: { state: string }[] }).connections[0]?.state, 'TIME_WAIT');
  assert.equal(counter(fw2.counters(), 'ruleWalks'), 0, 'no packet needed the rules');
  // without the import the same reply is invalid and dropped
  const h3 = new Harness(firewallFactory.create(cfg));
  assert.equal(h3.run(1, [mid[0]!]).sent.length, 0);
  // the lifetime continues: ESTABLISHED timeout counts from the import clock
  assert.ok((state.connections[0]?.ttlMs ?? 0) > 400_000_000);
});

test('firewall: state rules with fastPath off are walked for every packet, as iptables does', () => {
  const fw = firewallFactory.create({
    ...base,
    fastPath: false,
    rules: [
      { name: 'est', state: ['established', 'related'], action: 'allow' },
      { name: 'inv', state: ['invalid'], action: 'deny' },
      { name: 'new-out', in: 'lan', state: ['new'], action: 'allow' },
    ],
  }) as Firewall;
  const h = new Harness(fw);
  h.run(0, [out(SYN, 100, 0)]);
  h.run(1, [back(SYN | ACK, 500, 101)]);
  h.run(0, [out(ACK, 101, 501)]);
  assert.deepEqual(ruleCounts(fw).map((x) => x[1]), [2, 0, 1]);
  // a SYN+ACK from the originator of an established connection is invalid (nf_conntrack state table)
  const r = h.run(0, [out(SYN | ACK, 101, 501)]);
  assert.equal(r.dropped, 1);
  assert.deepEqual(ruleCounts(fw).map((x) => x[1]), [2, 1, 1]);
});

// Reference: the rules evaluated one by one with none of the firewall's indexes.
function naiveVerdict(cfg: ReturnType<typeof parseFirewallConfig>, inIf: string, proto: number, src: number, dst: number, dport: number): string {
  for (const r of cfg.rules) {
    if (r.in !== null && r.in !== inIf) continue;
    if (r.proto >= 0 && r.proto !== proto) continue;
    if (r.family !== 0 && r.family !== 4) continue;
    const inP = (p: typeof r.src, a: number): boolean => !p || (p.family === 4 && (p.len === 0 || (a >>> (32 - p.len)) === (p.addr >>> (32 - p.len))));
    if (!inP(r.src, src) || !inP(r.dst, dst)) continue;
    if (r.dport && (dport < r.dport[0] || dport > r.dport[1])) continue;
    if (r.sport && (40000 < r.sport[0] || 40000 > r.sport[1])) continue;
    if (r.state !== 0 && (r.state & 1) === 0) continue;
    return r.name;
  }
  return 'default';
}

test('firewall: the per-protocol/port rule index gives the same first match as a linear walk (1,000 random rules)', () => {
  const r = rng(7);
  const rules: unknown[] = [];
  for (let i = 0; i < 1000; i++) {
    const rule: Record<string, unknown> = { name: `r${i}`, action: r() % 3 === 0 ? 'deny' : 'allow' };
    if (r() % 2) rule['in'] = r() % 2 ? 'lan' : 'wan';
    const pk = r() % 4;
    if (pk < 3) rule['proto'] = ['tcp', 'udp', 'icmp'][pk];
    if (pk < 2 && r() % 4) {
      const lo = r() % 2000;
      rule['dport'] = r() % 2 ? lo : `${lo}-${lo + (r() % 300)}`;
    }
    if (pk < 2 && r() % 8 === 0) rule['sport'] = '30000-50000';
    if (r() % 3 === 0) rule['dst'] = `10.${r() % 4}.0.0/16`;
    if (r() % 5 === 0) rule['src'] = `192.168.${r() % 4}.0/24`;
    if (r() % 10 === 0) rule['state'] = ['new'];
    if (r() % 10 === 0) rule['state'] = ['invalid'];
    rules.push(rule);
  }
  const cfgRaw = { interfaces: [{ name: 'lan' }, { name: 'wan' }], rules, defaultPolicy: 'deny' };
  const cfg = parseFirewallConfig(cfgRaw);
  const fw = new Firewall(cfg);
  const h = new Harness(fw, 8192);
  for (let k = 0; k < 3000; k++) {
    const port = r() % 2;
    const proto = [6, 17, 1][r() % 3]!;
    const src = (0xc0a80000 | ((r() % 4) << 8) | (r() % 256)) >>> 0;
    const dst = (0x0a000000 | ((r() % 4) << 16) | (r() % 65536)) >>> 0;
    const dport = r() % 2100;
    const L2x = port === 0 ? A : B;
    const f = proto === 6
      ? tcpFrame({ ...L2x, src, dst, srcPort: 40000, dstPort: dport, flags: SYN })
      : proto === 17
        ? udpFrame({ ...L2x, src, dst, srcPort: 40000, dstPort: dport })
        : icmp4EchoFrame({ ...L2x, src, dst, identifier: k, sequence: 1 });
    const before = ruleCounts(fw);
    const defBefore = counter(fw.counters(), 'defaultPolicy.packets');
    h.run(port, [f]);
    const after = ruleCounts(fw);
    const hit = after.findIndex((x, i) => x[1] !== before[i]![1]);
    const got = hit >= 0 ? `r${hit}` : counter(fw.counters(), 'defaultPolicy.packets') > defBefore ? 'default' : 'none';
    assert.equal(got, naiveVerdict(cfg, port === 0 ? 'lan' : 'wan', proto, src, dst, proto === 1 ? -1 : dport), `packet ${k}`);
  }
  const c = fw.counters();
  assert.ok(counter(c, 'rulesVisited') / counter(c, 'ruleWalks') < 600, 'the index skips rules that cannot match');
});

test('firewall: configuration errors name the offending key', () => {
  const bad = (cfg: unknown, path: string): void => {
    assert.throws(() => firewallFactory.create(cfg), (e: Error) => e.name === 'ConfigError' && (e as ConfigError).path === path);
  };
  bad({ ...base, rules: [{ action: 'allow', dprt: 1 }] }, 'rules[0].dprt');
  bad({ ...base, rules: [{ action: 'allow', in: 'dmz' }] }, 'rules[0].in');
  bad({ ...base, rules: [{ action: 'allow', proto: 'udp', dport: '9-1' }] }, 'rules[0].dport');
  bad({ ...base, rules: [{ action: 'allow', dport: 80 }] }, 'rules[0].dport');
  bad({ ...base, rules: [{ action: 'allow', src: '10.0.0.0/8', dst: '2001:db8::/32' }] }, 'rules[0].dst');
  bad({ ...base, rules: [{ action: 'allow', state: ['bogus'] }] }, 'rules[0].state[0]');
  bad({ ...base, rules: [{ action: 'deny', rejectWith: 'admin-prohibited' }] }, 'rules[0].rejectWith');
  bad({ interfaces: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }, 'interfaces[0].to');
  bad({ ...base, timeouts: { tcpEstablishd: 1 } }, 'timeouts.tcpEstablishd');
});

test('firewall: fuzz 100,000 mutated frames: no exception, in = out + dropped', () => {
  const fw = firewallFactory.create({ ...base, maxFlows: 4096, timeouts: { udpUnreplied: 500, tcpSynSent: 500 } });
  const seeds = [
    out(SYN, 1, 0), back(SYN | ACK, 1, 2), out(ACK, 2, 2, 'data'), back(FIN | ACK, 2, 2),
    udpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.5', srcPort: 1, dstPort: 161 }),
    udpFrame({ ...A, src: 'fd00::1', dst: 'fd00::2', srcPort: 1, dstPort: 2 }),
    icmp4EchoFrame({ ...A, src: '10.0.0.1', dst: '198.51.100.7', identifier: 1, sequence: 1 }),
    icmp4ErrorFrame({ ...B, src: '203.0.113.1', dst: '10.0.0.1', type: 3, code: 3, invoking: out(SYN, 1, 0).subarray(14) }),
    tcpFrame({ ...B, vlans: [{ vid: 10 }], src: '198.51.100.7', dst: '10.0.0.5', srcPort: 5, dstPort: 22, flags: SYN }),
  ];
  fuzz(fw, seeds, 100_000, 3);
  const c = fw.counters();
  assert.ok(counter(c, 'malformed') > 1000 && counter(c, 'rejected') > 100 && counter(c, 'fastPath') > 100, JSON.stringify(c).slice(0, 300));
});
