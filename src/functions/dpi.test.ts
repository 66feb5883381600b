import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, udpFrame } from '../packet/frames.js';
import { dpiFactory, parseContent, Dpi } from './dpi.js';
import { Harness, fuzz, hex, counter } from './testing.js';
import type { Counters } from './contract.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const L2 = { srcMac: 0x020000000001, dstMac: 0x020000000002 };
const ACK = 0x10;
const SYN = 0x02;
const FIN = 0x01;
function seg(seq: number, data: string, flags = ACK, sport = 40000, dport = 80): Uint8Array {
  return tcpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: sport, dstPort: dport, seq, flags, payload: enc(data) });
}
const config = {
  signatures: [
    { name: 'evil', pattern: 'EVILPATTERN', protocol: 'tcp', action: 'drop' },
    { name: 'watch', pattern: 'watch|0d 0a|me', action: 'alert' },
    { name: 'video', pattern: 'MPEG-TS', protocol: 'udp', action: 'tag', dscp: 34 },
    { name: 'ssh-only', pattern: 'SSH-', port: 22, action: 'alert' },
  ],
};
const hits = (d: Dpi): number[] => ((d.counters()['signatures'] as readonly Counters[]).map((s) => s['hits'] as number));

test('dpi: content syntax with |hex| segments', () => {
  assert.deepEqual(Array.from(parseContent('a|0d 0A|b') as Uint8Array), [0x61, 0x0d, 0x0a, 0x62]);
  assert.equal(typeof parseContent('a|0d'), 'string');
  assert.equal(typeof parseContent('|zz|'), 'string');
});

test('dpi: a pattern split across in-order TCP segments is found; drop blocks the flow', () => {
  const dpi = dpiFactory.create(config) as Dpi;
  const h = new Harness(dpi);
  const syn = seg(999, '', SYN);
  const s1 = seg(1000, 'hello EVILPA');
  const s2 = seg(1012, 'TTERN and more');
  const s3 = seg(1026, 'innocent');
  let r = h.run(0, [syn, s1]);
  assert.deepEqual(r.sent.map((s) => [s.port, hex(s.bytes)]), [[1, hex(syn)], [1, hex(s1)]], 'first half passes unchanged');
  r = h.run(0, [s2, s3]);
  assert.equal(r.sent.length, 0, 'completing segment dropped, and the flow stays blocked');
  assert.equal(r.dropped, 2);
  assert.deepEqual(hits(dpi), [1, 0, 0, 0]);
  assert.equal(counter(dpi.counters(), 'blockedFlow'), 1);
  const a = dpi.alerts();
  assert.equal(a.length, 1);
  assert.deepEqual({ ...a[0], timeMs: 0 }, { timeMs: 0, signature: 'evil', action: 'drop', protocol: 6, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 80 });
  // the other direction is another stream and is not blocked
  r = h.run(1, [seg(5000, 'reply', ACK, 80, 40000)]);
  assert.equal(r.sent.length, 1);
  assert.equal(r.sent[0]?.port, 0);
});

test('dpi: retransmissions, overlaps and out-of-order segments', () => {
  const dpi = dpiFactory.create(config) as Dpi;
  const h = new Harness(dpi);
  h.run(0, [seg(100, 'xxwat')]);
  // overlap: resends 'wat' then continues; only the new bytes are scanned, continuing the stream
  let r = h.run(0, [seg(102, 'watch\r\nme')]);
  assert.equal(r.sent.length, 1);
  assert.deepEqual(hits(dpi), [0, 1, 0, 0]);
  assert.equal(counter(dpi.counters(), 'overlaps'), 1);
  // pure retransmission of old data containing a pattern: scanned alone (a late segment could be new)
  r = h.run(0, [seg(102, 'watch\r\nme')]);
  assert.deepEqual(hits(dpi), [0, 2, 0, 0]);
  // a gap: the segment after it is scanned alone and the stream resynchronises
  r = h.run(0, [seg(500, 'EVILPATTERN')]);
  assert.equal(r.dropped, 1);
  assert.equal(counter(dpi.counters(), 'outOfOrder'), 2);
});

test('dpi: UDP datagrams tag DSCP with the IPv4 checksum updated; IPv6 traffic class (golden bytes)', () => {
  const dpi = dpiFactory.create(config) as Dpi;
  const h = new Harness(dpi);
  const mk = (tos: number, src: string, dst: string): Uint8Array => udpFrame({ ...L2, src, dst, srcPort: 5000, dstPort: 6000, tos, payload: enc('..MPEG-TS..') });
  const r = h.run(0, [mk(0x01, '10.0.0.1', '10.0.0.2'), mk(0x00, 'fd00::1', 'fd00::2'), mk(0, '10.0.0.1', '10.0.0.2').slice(0, 40)]);
  assert.deepEqual(r.sent.map((s) => hex(s.bytes)), [hex(mk((34 << 2) | 1, '10.0.0.1', '10.0.0.2')), hex(mk(34 << 2, 'fd00::1', 'fd00::2'))]);
  assert.equal(counter(dpi.counters(), 'tagged'), 2);
  assert.equal(counter(dpi.counters(), 'malformed'), 1);
  // protocol and port filters
  const r2 = h.run(0, [udpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, payload: enc('SSH-2.0') }), seg(1, 'SSH-2.0', ACK, 50000, 22), seg(1, 'MPEG-TS')]);
  assert.equal(r2.sent.length, 3);
  assert.deepEqual(hits(dpi), [0, 0, 2, 1]);
});

test('dpi: export/import in the middle of a stream keeps the automaton state', () => {
  const a = dpiFactory.create(config) as Dpi;
  const ha = new Harness(a);
  ha.now = 1000;
  ha.run(0, [seg(1, '', SYN), seg(2, '...EVILPAT')]);
  const state = JSON.parse(JSON.stringify(a.exportState())) as Parameters<Dpi['importState']>[0];
  const b = dpiFactory.create(config) as Dpi;
  b.importState(state);
  const hb = new Harness(b);
  hb.now = 50;
  const r = hb.run(0, [seg(12, 'TERN')]);
  assert.equal(r.dropped, 1, 'match completed on the importing side');
  // a different signature set: streams restart, no false state
  const c = dpiFactory.create({ signatures: [{ name: 'x', pattern: 'TERN', action: 'alert' }] }) as Dpi;
  c.importState(state);
  assert.equal(new Harness(c).run(0, [seg(12, 'TERN')]).sent.length, 1);
  assert.throws(() => b.importState({ signatures: 'x', flows: [{ key: [1], expected: 0, state: 0, blocked: false, idleMs: 0 }] }), (e: Error) => e.name === 'ConfigError');
});

test('dpi: FIN ends a stream, idle flows time out', () => {
  const dpi = dpiFactory.create({ ...config, flowTimeoutMs: 1000 }) as Dpi;
  const h = new Harness(dpi);
  h.run(0, [seg(1, 'abc'), seg(4, 'def', FIN | ACK)]);
  assert.equal(counter(dpi.counters(), 'activeFlows'), 0);
  h.run(0, [seg(1, 'abc', ACK, 1234)]);
  assert.equal(counter(dpi.counters(), 'activeFlows'), 1);
  h.now = 5000;
  h.tick();
  assert.equal(counter(dpi.counters(), 'activeFlows'), 0);
  assert.equal(counter(dpi.counters(), 'expired'), 1);
});

test('dpi: configuration errors name the key', () => {
  const bad: [unknown, string][] = [
    [{ signatures: [{ name: 'a', pattern: 'x', action: 'explode' }] }, 'signatures[0].action'],
    [{ signatures: [{ name: 'a', pattern: 'x|0', action: 'alert' }] }, 'signatures[0].pattern'],
    [{ signatures: [{ name: 'a', pattern: 'x', action: 'alert', dscp: 3 }] }, 'signatures[0].dscp'],
    [{ signatures: [{ name: 'a', pattern: 'x', action: 'alert' }, { name: 'a', pattern: 'y', action: 'alert' }] }, 'signatures[1].name'],
    [{ signatures: [], extra: true }, 'extra'],
  ];
  for (const [c, path] of bad) assert.throws(() => dpiFactory.create(c), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === path, path);
});

test('dpi: fuzz 100k mutated frames', () => {
  const dpi = dpiFactory.create({ ...config, maxFlows: 500, flowTimeoutMs: 200 });
  fuzz(dpi, [
    seg(1, '', SYN), seg(2, 'abc EVILPATTERN'), seg(9, 'watch\r\nme'), seg(100, 'x', FIN),
    udpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 5000, dstPort: 6000, payload: enc('..MPEG-TS..') }),
    udpFrame({ ...L2, src: 'fd00::1', dst: 'fd00::2', srcPort: 5000, dstPort: 22, payload: enc('SSH-MPEG-TS') }),
    tcpFrame({ ...L2, src: 'fd00::1', dst: 'fd00::2', srcPort: 1, dstPort: 2, seq: 5, flags: ACK, payload: enc('EVILPATTERN') }),
  ], 100_000, 21);
});

test('dpi: IPv6 TCP streams are reassembled across segments too', () => {
  const dpi = dpiFactory.create(config) as Dpi;
  const h = new Harness(dpi);
  const s6 = (seq: number, data: string): Uint8Array => tcpFrame({ ...L2, src: 'fd00::1', dst: 'fd00::2', srcPort: 1000, dstPort: 2000, seq, flags: ACK, payload: enc(data) });
  assert.equal(h.run(0, [s6(10, 'xx watch\r')]).sent.length, 1);
  assert.equal(h.run(0, [s6(19, '\nme')]).sent.length, 1);
  assert.deepEqual(hits(dpi), [0, 1, 0, 0]);
  assert.equal(dpi.alerts()[0]?.src, 'fd00::1');
});

test('dpi: nocase signatures match either case, across segments, beside case-sensitive ones', () => {
  const dpi = dpiFactory.create({ signatures: [
    { name: 'exact', pattern: 'Select', action: 'alert' },
    { name: 'any-case', pattern: 'union select', nocase: true, action: 'drop' },
  ] }) as Dpi;
  const h = new Harness(dpi);
  assert.equal(h.run(0, [seg(1, "id=1 UNION SEL")]).sent.length, 1);
  assert.equal(h.run(0, [seg(15, 'eCT * from t')]).dropped, 1);
  assert.deepEqual(hits(dpi), [0, 1]);
  const r = h.run(0, [seg(1, 'Select', ACK, 7), seg(1, 'SELECT', ACK, 8)]);
  assert.equal(r.sent.length, 2);
  assert.deepEqual(hits(dpi), [1, 1]);
  // export/import carries both automaton states
  h.run(0, [seg(100, 'UNION sel', ACK, 9)]);
  const b = dpiFactory.create({ signatures: [
    { name: 'exact', pattern: 'Select', action: 'alert' },
    { name: 'any-case', pattern: 'union select', nocase: true, action: 'drop' },
  ] }) as Dpi;
  b.importState(JSON.parse(JSON.stringify(dpi.exportState())) as Parameters<Dpi['importState']>[0]);
  const hb = new Harness(b);
  assert.equal(hb.run(0, [seg(109, 'ECT', ACK, 9)]).dropped, 1, 'match completed from imported nocase state');
  assert.equal(hb.run(0, [seg(500, 'x')]).dropped, 1, 'the blocked flow stays blocked after import');
  assert.equal(counter(b.counters(), 'blockedFlow'), 1);
});
