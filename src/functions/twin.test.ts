// The twin against a "device" that is our own router run with a faulty configuration (a route
// missing, an MTU lowered, a neighbour's MAC changed) or with one flow filtered out of its
// output: each fault must be reported, once per group, with the diagnosis naming the traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { udpFrame, icmp4EchoFrame } from '../packet/frames.js';
import { Batch, PacketPool } from '../packet/pool.js';
import { ConfigError } from './contract.js';
import { createFunction } from './registry.js';
import { Harness } from './testing.js';
import { createTwin, type DivergencePhase, type Twin, type TwinDivergence } from './twin.js';

const MAC = { h1: '02:00:00:00:01:02', r0: '02:00:00:00:01:01', r1: '02:00:00:00:02:01', h2: '02:00:00:00:02:02' };

function routerConfig(o: { mtu?: number; noRoute?: boolean; h2Mac?: string } = {}): unknown {
  return {
    interfaces: [
      { name: 'r0', mac: MAC.r0, addresses: ['10.0.1.1/24'] },
      { name: 'r1', mac: MAC.r1, addresses: ['10.0.2.1/24'], ...(o.mtu !== undefined ? { mtu: o.mtu } : {}) },
    ],
    routes: o.noRoute === true ? [] : [{ prefix: '10.2.0.0/16', via: '10.0.2.2' }],
    neighbors: [
      { interface: 'r0', address: '10.0.1.2', mac: MAC.h1 },
      { interface: 'r1', address: '10.0.2.2', mac: o.h2Mac ?? MAC.h2 },
    ],
  };
}

/** h1's traffic: two UDP flows to 10.2.0.5, pings to h2, and 1400-byte UDP datagrams (DF) to h2. */
function traffic(rounds: number): Uint8Array[] {
  const f: Uint8Array[] = [];
  const l2 = { srcMac: MAC.h1, dstMac: MAC.r0 };
  for (let i = 0; i < rounds; i++) {
    f.push(udpFrame({ ...l2, src: '10.0.1.2', dst: '10.2.0.5', srcPort: 5000, dstPort: 6000, id: 100 + i, payload: new Uint8Array(18).fill(i) }));
    f.push(udpFrame({ ...l2, src: '10.0.1.2', dst: '10.2.0.5', srcPort: 5001, dstPort: 6001, id: 300 + i, payload: new Uint8Array(18).fill(i) }));
    f.push(icmp4EchoFrame({ ...l2, src: '10.0.1.2', dst: '10.0.2.2', identifier: 9, sequence: i, id: 500 + i }));
    f.push(udpFrame({ ...l2, src: '10.0.1.2', dst: '10.0.2.2', srcPort: 7000, dstPort: 7000, id: 700 + i, payload: new Uint8Array(1372).fill(i) }));
  }
  return f;
}

interface Out { port: number; bytes: Uint8Array }

/** What a router "device" with configuration `cfg` sends for frames arriving on r0. */
function device(cfg: unknown, frames: readonly Uint8Array[]): Out[] {
  const h = new Harness(createFunction('router', cfg));
  return h.run(0, frames).sent.map((s) => ({ port: s.port, bytes: s.bytes }));
}

interface Run { twin: Twin; reports: [DivergencePhase, TwinDivergence][] }

/**
 * Feeds the twin: input frame k at time T0 + k, every device output just after the last input
 * (later than the device would send it: the window must absorb that), then ticks to T0 + 3 s.
 */
function follow(inputs: readonly Uint8Array[], outs: readonly Out[], cfgOver: Record<string, unknown> = {}): Run {
  const reports: [DivergencePhase, TwinDivergence][] = [];
  const twin = createTwin({ function: 'router', config: routerConfig(), windowMs: 40, aggregateMs: 500, ...cfgOver }, { onDivergence: (d, p) => reports.push([p, { ...d }]) });
  const pool = new PacketPool({ slots: 4096 });
  const ctx = { pool, out: { send: () => undefined, drop: () => undefined }, now: T0 };
  const b = new Batch();
  const ts = new Float64Array(256);
  const feed = (port: number, frames: readonly Uint8Array[], at: (i: number) => number): void => {
    for (let i = 0; i < frames.length; i += 256) {
      b.clear();
      for (const f of frames.slice(i, i + 256)) { ts[b.count] = at(i + b.count); pool.load(f, b); }
      twin.observe(port, b, ctx, ts);
    }
  };
  feed(twin.portIndex('r0.in'), inputs, (k) => T0 + k);
  for (const [p, name] of [[0, 'r0.out'], [1, 'r1.out']] as const) {
    const mine = outs.filter((o) => o.port === p);
    feed(twin.portIndex(name), mine.map((o) => o.bytes), () => T0 + Math.max(inputs.length - 1, 0) + 0.2);
  }
  for (let t = T0; t <= T0 + 3000; t += 5) twin.tick({ ...ctx, now: t });
  assert.equal(pool.available, 4096, 'every frame given back to the pool');
  return { twin, reports };
}

const T0 = 1_700_000_000_000;

test('twin: a device that does what the model does diverges nowhere', () => {
  const inputs = traffic(50);
  const { twin, reports } = follow(inputs, device(routerConfig(), inputs));
  assert.deepEqual(reports, []);
  const c = twin.counters();
  assert.equal(c['matched'], 200);
  assert.equal(c['missing'], 0);
  assert.equal(c['unexpected'], 0);
});

test('twin: a deleted route is reported as such, naming the prefix, within the window', () => {
  const inputs = traffic(50);
  const { twin, reports } = follow(inputs, device(routerConfig({ noRoute: true }), inputs));
  const opened = reports.filter(([p]) => p === 'open').map(([, d]) => d);
  assert.equal(opened.length, 1, JSON.stringify(opened.map((d) => d.diagnosis)));
  const d = opened[0]!;
  assert.equal(d.kind, 'route');
  assert.equal(d.traffic, '10.2.0.0/16');
  assert.equal(d.port, 'r1');
  assert.equal(d.firstTs, T0);
  assert.ok(d.reportedAt - d.firstTs <= 45, `reported ${d.reportedAt - d.firstTs} ms after`);
  const closed = twin.divergences()[0]!;
  assert.equal(closed.frames, 100);
  assert.equal(closed.flows, 2);
  assert.match(closed.diagnosis, /^device dropped 100 frames to 10\.2\.0\.0\/16 \(2 flows\) that the twin forwarded on r1 \(device answered ICMP type 3 code 0\): a missing or wrong route$/);
  assert.equal(closed.open, false);
  // The router's ICMP errors were explained by the drops, not reported as unexpected.
  assert.equal(reports.filter(([, x]) => x.kind === 'unexpected').length, 0);
});

test('twin: one flow filtered out is reported as that flow, a filter rule', () => {
  const inputs = traffic(30);
  const outs = device(routerConfig(), inputs).filter((o) => !(o.bytes[23] === 17 && o.bytes[36] === 0x17 && o.bytes[37] === 0x71));
  const { reports, twin } = follow(inputs, outs);
  const opened = reports.filter(([p]) => p === 'open').map(([, d]) => d);
  assert.equal(opened.length, 1);
  assert.equal(opened[0]!.kind, 'filter');
  assert.equal(opened[0]!.traffic, 'UDP 10.0.1.2:5001 → 10.2.0.5:6001');
  assert.match(twin.divergences()[0]!.diagnosis, /^device dropped 30 frames of UDP 10\.0\.1\.2:5001 → 10\.2\.0\.5:6001 \(one flow\) that the twin forwarded on r1: a filter rule\?$/);
});

test('twin: an MTU lowered on r1 is reported with the size the device allows', () => {
  const inputs = traffic(20);
  const { reports, twin } = follow(inputs, device(routerConfig({ mtu: 1280 }), inputs));
  const opened = reports.filter(([p]) => p === 'open').map(([, d]) => d);
  assert.equal(opened.length, 1, JSON.stringify(opened));
  assert.equal(opened[0]!.kind, 'mtu');
  assert.equal(opened[0]!.port, 'r1');
  assert.equal(opened[0]!.traffic, 'frames larger than 1280 bytes');
  assert.match(twin.divergences()[0]!.diagnosis, /^device dropped 20 frames larger than 1280 bytes on r1 that the twin forwarded \(first: UDP 10\.0\.1\.2:7000 → 10\.0\.2\.2:7000, 1400 bytes\).*: MTU lowered to 1280\?$/);
});

test('twin: a changed neighbour entry names the destination and both MACs', () => {
  const inputs = traffic(10);
  const { reports, twin } = follow(inputs, device(routerConfig({ h2Mac: '02:00:00:00:09:09' }), inputs));
  const opened = reports.filter(([p]) => p === 'open').map(([, d]) => d);
  assert.equal(opened.length, 1, JSON.stringify(opened.map((d) => d.diagnosis)));
  assert.equal(opened[0]!.kind, 'neighbour');
  assert.equal(opened[0]!.traffic, '10.0.2.2');
  assert.match(twin.divergences()[0]!.diagnosis, /^device sent 40 frames through neighbour 10\.0\.2\.2 \(4 flows\) on r1 with a different destination MAC than the twin \(02:00:00:00:09:09 vs 02:00:00:00:02:02\): a changed neighbour entry$/);
  assert.equal(twin.counters()['unexpected'], 0);
  assert.equal(twin.divergences()[0]!.samples.length, 4);
});

test('twin: the IPv4 ID of packets the device originates is tolerated, and only when listed', () => {
  // A ping with TTL 1: the router answers time exceeded from 10.0.1.1; the device numbers it differently.
  const ping = icmp4EchoFrame({ srcMac: MAC.h1, dstMac: MAC.r0, src: '10.0.1.2', dst: '10.0.2.2', identifier: 1, sequence: 1, ttl: 1 });
  const outs = device(routerConfig(), [ping]);
  assert.equal(outs.length, 1);
  const other = outs[0]!.bytes.slice();
  other[18] = (other[18]! + 1) & 255;
  const ok = follow([ping], [{ port: 0, bytes: other }]);
  assert.equal(ok.twin.counters()['matched'], 1);
  assert.equal(ok.reports.length, 0);
  const strict = follow([ping], [{ port: 0, bytes: other }], { tolerate: [] });
  const kinds = strict.twin.divergences().map((d) => d.kind).sort();
  assert.deepEqual(kinds, ['filter', 'unexpected']);
});

test('twin: frames the device sends on its own are reported as unexpected', () => {
  const extra = udpFrame({ srcMac: MAC.r1, dstMac: MAC.h2, src: '10.0.2.1', dst: '10.0.2.2', srcPort: 53, dstPort: 53, payload: new Uint8Array(8) });
  const { reports } = follow([], [{ port: 1, bytes: extra }]);
  assert.equal(reports.length, 2);
  assert.equal(reports[0]![1].kind, 'unexpected');
  assert.match(reports[0]![1].diagnosis, /^device sent 1 frame of UDP 10\.0\.2\.1:53 → 10\.0\.2\.2:53 on r1 that the twin did not$/);
  assert.equal(reports[1]![0], 'close');
});

test('twin: configuration errors name the key', () => {
  assert.throws(() => createTwin({ config: {} }), (e: unknown) => e instanceof ConfigError && e.name === 'ConfigError' && e.path === 'function');
  assert.throws(() => createTwin({ function: 'nope', config: {} }), (e: unknown) => e instanceof ConfigError && e.path === 'function');
  assert.throws(() => createTwin({ function: 'router', config: { interfaces: 3 } }), (e: unknown) => e instanceof ConfigError && e.path.startsWith('config.interfaces'));
  assert.throws(() => createTwin({ function: 'router', config: routerConfig(), tolerate: ['ip-id'] }), (e: unknown) => e instanceof ConfigError && e.path === 'tolerate[0]');
  assert.throws(() => createTwin({ function: 'router', config: routerConfig(), windowMs: -1 }), (e: unknown) => e instanceof ConfigError && e.path === 'windowMs');
  const t = createTwin({ function: 'router', config: routerConfig() });
  assert.deepEqual(t.ports.map((p) => p.name), ['r0.in', 'r0.out', 'r1.in', 'r1.out']);
});

test('twin: divergence records survive export and import', () => {
  const inputs = traffic(5);
  const { twin } = follow(inputs, device(routerConfig({ noRoute: true }), inputs));
  const copy = createTwin({ function: 'router', config: routerConfig() });
  copy.importState(JSON.parse(JSON.stringify(twin.exportState())) as never);
  assert.deepEqual(copy.divergences().map((d) => d.diagnosis), twin.divergences().map((d) => d.diagnosis));
});

test('twin: random bytes on every port never throw and every slot comes back', () => {
  const twin = createTwin({ function: 'router', config: routerConfig(), windowMs: 5 });
  const pool = new PacketPool({ slots: 512 });
  const ctx = { pool, out: { send: () => undefined, drop: () => undefined }, now: 0 };
  const b = new Batch();
  let seed = 7;
  const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  const base = traffic(1);
  for (let round = 0; round < 200; round++) {
    b.clear();
    for (let k = 0; k < 8; k++) {
      const f = (base[Math.floor(rnd() * base.length)] as Uint8Array).slice(0, 1 + Math.floor(rnd() * 200));
      for (let m = 0; m < 4; m++) f[Math.floor(rnd() * f.length)] = Math.floor(rnd() * 256);
      pool.load(f, b);
    }
    twin.observe(Math.floor(rnd() * 4), b, { ...ctx, now: round });
    twin.tick({ ...ctx, now: round });
  }
  twin.tick({ ...ctx, now: 10_000 });
  assert.equal(pool.available, 512);
});
