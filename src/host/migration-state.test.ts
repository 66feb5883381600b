import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch } from '../packet/pool.js';
import type { Plain } from '../functions/contract.js';
import { arpReplyFrame, tcpFrame, udpFrame } from '../packet/frames.js';
import { HostServer } from './hostserver.js';
import { ServerLink } from './migration-link.js';
import { migrateDomain, type MigrationEvent, type MigrationRecord } from './migration.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;

/** One function in a domain, a tap on each of its ports; optionally a second server to move to. */
interface Bed {
  h: HostServer;
  other: HostServer | undefined;
  link: ServerLink | undefined;
  domain: number;
  taps: { att: number; got: Uint8Array[] }[];
  inject(port: number, frames: Uint8Array[]): void;
  /** Waits until tap `port` has `n` frames, then takes them. */
  take(port: number, n: number): Promise<Uint8Array[]>;
  migrate(onPhase?: (e: MigrationEvent) => void): Promise<MigrationRecord>;
  close(): Promise<void>;
}

async function bed(kind: string, config: Plain, ports: string[], twoServers = false): Promise<Bed> {
  const h = new HostServer({ name: 'st-1', slots: 2048 });
  const other = twoServers ? new HostServer({ name: 'st-2', slots: 2048 }) : undefined;
  const link = other ? new ServerLink(h, other) : undefined;
  const { domain, attachments } = await h.addDomain({ name: kind, contexts: [{ network: 'st', functions: [{ name: 'f', kind, config }], wires: [] }], vnics: ports.map((p) => ({ context: 0, port: `f.${p}` })) });
  const taps = ports.map((p, i) => {
    const t = { att: 0, got: [] as Uint8Array[] };
    t.att = h.attachExternal('st', `tap:${p}`, (b) => {
      for (let k = 0; k < b.count; k++) t.got.push(h.pool.frame(b, k).slice());
      return false;
    });
    h.bridge.wire(t.att, attachments[i] as number);
    return t;
  });
  h.start();
  other?.start();
  return {
    h,
    other,
    link,
    domain: domain.id,
    taps,
    inject(port, frames) {
      const b = new Batch();
      for (const f of frames) h.pool.load(f, b);
      h.forward((taps[port] as { att: number }).att, b);
    },
    async take(port, n) {
      const t = taps[port] as { got: Uint8Array[] };
      const end = performance.now() + 3000;
      while (t.got.length < n) {
        if (performance.now() > end) throw new Error(`tap ${port}: ${t.got.length} of ${n} frames`);
        await sleep(2);
      }
      await sleep(20);
      return t.got.splice(0);
    },
    migrate(onPhase) {
      return migrateDomain({ from: h, domain: domain.id, to: other ?? h, ...(link ? { link } : {}), reason: 'operator', ...(onPhase ? { onPhase } : {}) });
    },
    async close() {
      link?.close();
      await h.close();
      await other?.close();
    },
  };
}

const ip4 = (f: Uint8Array, at: number): string => `${f[at]}.${f[at + 1]}.${f[at + 2]}.${f[at + 3]}`;
const port = (f: Uint8Array, at: number): number => (f[at]! << 8) | f[at + 1]!;
/** Source and destination of an untagged IPv4 TCP/UDP frame. */
const ends = (f: Uint8Array): string => `${ip4(f, 26)}:${port(f, 34)}>${ip4(f, 30)}:${port(f, 36)}`;
const tcpFlags = (f: Uint8Array): number => f[47]!;

test('NAT across servers: a TCP connection keeps its mapping (same external port, replies un-translated); a binding made after the pre-copy travels too', async () => {
  const IN = { srcMac: '02:00:00:00:01:01', dstMac: '02:00:00:00:01:fe' };
  const OUT = { srcMac: '02:00:00:00:02:01', dstMac: '02:00:00:00:02:fe' };
  const b = await bed('nat', { snat: { addresses: ['203.0.113.1'], sources: ['10.0.0.0/8'] } }, ['inside', 'outside'], true);
  try {
    const c = (src: string, flags: number, seq: number, ack: number, data = ''): Uint8Array => tcpFrame({ ...IN, src, dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags, seq, ack, payload: enc(data) });
    const s = (dport: number, flags: number, seq: number, ack: number, data = ''): Uint8Array => tcpFrame({ ...OUT, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: dport, flags, seq, ack, payload: enc(data) });
    // 10.0.0.2 takes external port 40000, so the client's mapping is 40001 (a NAT without the state would pick 40000).
    b.inject(0, [c('10.0.0.2', SYN, 500, 0)]);
    assert.equal(ends((await b.take(1, 1))[0] as Uint8Array), '203.0.113.1:40000>198.51.100.7:443');
    b.inject(0, [c('10.0.0.1', SYN, 1000, 0)]);
    assert.equal(ends((await b.take(1, 1))[0] as Uint8Array), '203.0.113.1:40001>198.51.100.7:443');
    b.inject(1, [s(40001, SYN | ACK, 9000, 1001)]);
    assert.equal(ends((await b.take(0, 1))[0] as Uint8Array), '198.51.100.7:443>10.0.0.1:40000');
    b.inject(0, [c('10.0.0.1', ACK | PSH, 1001, 9001, 'GET / HTTP/1.1\r\n\r\n')]);
    await b.take(1, 1);
    // Between the pre-copy and the switch a third host opens a connection (mapping 40002).
    const rec = await b.migrate((e) => {
      if (e.phase === 'state-copied') b.inject(0, [c('10.0.0.3', SYN, 7000, 0)]);
    });
    assert.equal(rec.outcome, 'done');
    assert.equal(rec.to.server, 'st-2');
    assert.equal(ends((await b.take(1, 1))[0] as Uint8Array), '203.0.113.1:40002>198.51.100.7:443');
    assert.equal(b.h.domainList().length, 0, 'the source is gone');
    // After the move, on the other server: the same external port, replies un-translated.
    b.inject(1, [s(40001, ACK | PSH, 9001, 1019, 'HTTP/1.1 200 OK\r\n\r\n')]);
    let got = await b.take(0, 1);
    assert.equal(ends(got[0] as Uint8Array), '198.51.100.7:443>10.0.0.1:40000');
    b.inject(0, [c('10.0.0.1', ACK | FIN, 1019, 9020)]);
    got = await b.take(1, 1);
    assert.equal(ends(got[0] as Uint8Array), '203.0.113.1:40001>198.51.100.7:443');
    assert.equal(tcpFlags(got[0] as Uint8Array), ACK | FIN);
    b.inject(1, [s(40002, SYN | ACK, 1, 7001)]);
    assert.equal(ends((await b.take(0, 1))[0] as Uint8Array), '198.51.100.7:443>10.0.0.3:40000', 'the late binding travelled in the final copy');
  } finally {
    await b.close();
  }
});

test('firewall: conntrack travels (the reply of an established connection passes the target; a new inbound one does not)', async () => {
  const A = { srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b' };
  const B = { srcMac: '02:00:00:00:00:0b', dstMac: '02:00:00:00:00:0a' };
  const b = await bed('firewall', { interfaces: [{ name: 'lan' }, { name: 'wan' }], defaultPolicy: 'deny', rules: [{ name: 'lan-out', in: 'lan', action: 'allow' }] }, ['lan', 'wan']);
  try {
    const out = (flags: number, seq: number, ack: number): Uint8Array => tcpFrame({ ...A, src: '10.0.0.1', dst: '198.51.100.7', srcPort: 40000, dstPort: 443, flags, seq, ack });
    const back = (flags: number, seq: number, ack: number, sport = 443): Uint8Array => tcpFrame({ ...B, src: '198.51.100.7', dst: '10.0.0.1', srcPort: sport, dstPort: 40000, flags, seq, ack });
    b.inject(0, [out(SYN, 1, 0)]);
    await b.take(1, 1);
    b.inject(1, [back(SYN | ACK, 100, 2)]);
    await b.take(0, 1);
    b.inject(0, [out(ACK, 2, 101)]);
    await b.take(1, 1);
    const rec = await b.migrate();
    assert.equal(rec.outcome, 'done');
    b.inject(1, [back(ACK | PSH, 101, 2), back(SYN, 5, 0, 444)]);
    await sleep(100);
    const got = b.taps[0]?.got ?? [];
    assert.equal(got.length, 1, 'only the established reply passes');
    assert.equal(ends(got[0] as Uint8Array), '198.51.100.7:443>10.0.0.1:40000');
  } finally {
    await b.close();
  }
});

test('switch: the MAC table travels (a known destination is not flooded by the target)', async () => {
  const b = await bed('switch', { ports: [{ name: 'p0' }, { name: 'p1' }, { name: 'p2' }] }, ['p0', 'p1', 'p2']);
  try {
    const f = (src: string, dst: string): Uint8Array => udpFrame({ srcMac: src, dstMac: dst, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, payload: enc('x') });
    b.inject(0, [f('02:00:00:00:00:aa', '02:00:00:00:00:bb')]); // learns aa on p0, floods
    await b.take(1, 1);
    await b.take(2, 1);
    await b.migrate();
    b.inject(1, [f('02:00:00:00:00:bb', '02:00:00:00:00:aa')]);
    assert.equal((await b.take(0, 1)).length, 1);
    assert.equal(b.taps[2]?.got.length, 0, 'not flooded to p2');
  } finally {
    await b.close();
  }
});

test('router: the ARP cache travels (the target forwards to a learnt neighbour without asking again)', async () => {
  const cfg = { interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:fe', addresses: ['10.0.0.254/24'] }, { name: 'eth1', mac: '02:00:00:00:01:fe', addresses: ['10.0.1.254/24'] }] };
  const b = await bed('router', cfg, ['eth0', 'eth1']);
  try {
    const pkt = (n: number): Uint8Array => udpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:fe', src: '10.0.0.1', dst: '10.0.1.1', srcPort: 1000, dstPort: 9, payload: new Uint8Array([n]) });
    b.inject(0, [pkt(1)]);
    const req = (await b.take(1, 1))[0] as Uint8Array;
    assert.equal(port(req, 12), 0x0806, 'an ARP request first');
    b.inject(1, [arpReplyFrame({ srcMac: '02:00:00:00:01:01', spa: '10.0.1.1', tha: '02:00:00:00:01:fe', tpa: '10.0.1.254' })]);
    const fwd = await b.take(1, 1);
    assert.equal(port(fwd[0] as Uint8Array, 12), 0x0800);
    await b.migrate();
    b.inject(0, [pkt(2)]);
    const after = await b.take(1, 1);
    assert.equal(after.length, 1);
    assert.equal(port(after[0] as Uint8Array, 12), 0x0800, 'forwarded at once, no ARP request');
    assert.deepEqual([...(after[0] as Uint8Array).subarray(0, 6)], [2, 0, 0, 0, 1, 1]);
  } finally {
    await b.close();
  }
});

test('router without a hold: a neighbour learnt between the pre-copy and the switch reaches the live target in the final state', async () => {
  const cfg = { interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:fe', addresses: ['10.0.0.254/24'] }, { name: 'eth1', mac: '02:00:00:00:01:fe', addresses: ['10.0.1.254/24'] }] };
  const b = await bed('router', cfg, ['eth0', 'eth1']);
  try {
    const pkt = (n: number): Uint8Array => udpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:fe', src: '10.0.0.1', dst: '10.0.1.1', srcPort: 1000, dstPort: 9, payload: new Uint8Array([n]) });
    b.inject(0, [pkt(1)]);
    assert.equal(port((await b.take(1, 1))[0] as Uint8Array, 12), 0x0806, 'an ARP request first (10.0.1.1 incomplete in the pre-copy)');
    // No warm-up copies: what the target knows of 10.0.1.1 can only come from the final state.
    const rec = await migrateDomain({ from: b.h, domain: b.domain, to: b.h, reason: 'operator', hold: false, warmup: false, onPhase: (e) => {
        if (e.phase === 'state-copied') b.inject(1, [arpReplyFrame({ srcMac: '02:00:00:00:01:01', spa: '10.0.1.1', tha: '02:00:00:00:01:fe', tpa: '10.0.1.254' })]);
      } });
    assert.equal(rec.hold, false);
    assert.doesNotMatch(rec.timeline.find((e) => e.phase === 'drained')?.detail ?? '', /not imported/);
    const held = await b.take(1, 1);
    assert.equal(port(held[0] as Uint8Array, 12), 0x0800, 'the source forwarded the frame it held once the reply came');
    b.inject(0, [pkt(2)]);
    const after = await b.take(1, 1);
    assert.equal(after.length, 1);
    assert.equal(port(after[0] as Uint8Array, 12), 0x0800, 'the target forwards at once, no ARP request');
    assert.deepEqual([...(after[0] as Uint8Array).subarray(0, 6)], [2, 0, 0, 0, 1, 1]);
  } finally {
    await b.close();
  }
});

test('DPI: stream state travels (a pattern split across the move is found and the flow blocked)', async () => {
  const L2 = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };
  const b = await bed('dpi', { signatures: [{ name: 'evil', pattern: 'EVILPATTERN', protocol: 'tcp', action: 'drop' }] }, ['a', 'b']);
  try {
    const seg = (seq: number, data: string, flags = ACK): Uint8Array => tcpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 80, seq, flags, payload: enc(data) });
    b.inject(0, [seg(999, '', SYN), seg(1000, 'hello EVILPA')]);
    await b.take(1, 2);
    await b.migrate();
    b.inject(0, [seg(1012, 'TTERN and more'), seg(1026, 'innocent')]);
    await sleep(100);
    assert.equal(b.taps[1]?.got.length, 0, 'the completing segment is dropped and the flow stays blocked');
  } finally {
    await b.close();
  }
});
