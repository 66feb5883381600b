import { test } from 'node:test';
import assert from 'node:assert/strict';
import { icmp4EchoFrame, udpFrame } from '../packet/frames.js';
import { PacketPool } from '../packet/pool.js';
import { ConfigError, type NetworkFunction, type ProcessContext } from './contract.js';
import { TrafficSource, trafficSourceFactory } from './traffic-source.js';
import { counter, fuzz, hex } from './testing.js';

const L2 = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };

/** Runs tick() at `now` and returns the frames sent (every slot given back). */
function tickFrames(fn: NetworkFunction, pool: PacketPool, now: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const ctx: ProcessContext = {
    pool,
    now,
    out: {
      send(port, slot, off, len) {
        assert.equal(port, 0);
        frames.push(pool.bytes.slice(off, off + len));
        pool.release(slot);
      },
      drop(slot) {
        pool.release(slot);
      },
    },
  };
  fn.tick?.(ctx);
  return frames;
}

function testPayload(id: number, seq: number, ts: number, size: number): Uint8Array {
  const p = new Uint8Array(size);
  const dv = new DataView(p.buffer);
  dv.setUint32(0, 0x53575447);
  dv.setUint32(4, id);
  dv.setUint32(8, seq);
  dv.setFloat64(12, ts);
  return p;
}

test('traffic-source: VoIP frames are real Ethernet/IPv4/UDP with the test header and correct checksums (golden)', () => {
  const src = trafficSourceFactory.create({ flows: [{ id: 7, kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.1.1' }] });
  const pool = new PacketPool({ slots: 64 });
  const f0 = tickFrames(src, pool, 1000);
  assert.equal(f0.length, 1);
  const want = udpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.1.1', srcPort: 40000, dstPort: 5004, tos: 0xb8, id: 0, df: true, payload: testPayload(7, 0, 1000, 172) });
  assert.equal(hex(f0[0]!), hex(want));
  assert.equal(tickFrames(src, pool, 1019.9).length, 0);
  const f1 = tickFrames(src, pool, 1020.5);
  assert.equal(hex(f1[0]!), hex(udpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.1.1', srcPort: 40000, dstPort: 5004, tos: 0xb8, payload: testPayload(7, 1, 1020.5, 172) })));
  // a late tick sends everything due: packets 2..5 (40, 60, 80, 100 ms)
  assert.equal(tickFrames(src, pool, 1100).length, 4);
  assert.equal(pool.available, 64, 'every slot returned');
});

test('traffic-source: ping (ICMP echo, sequence in the header too) and IPv6 UDP with a VLAN tag (golden)', () => {
  const src = trafficSourceFactory.create({
    flows: [
      { id: 1, kind: 'ping', ...L2, src: '10.0.0.1', dst: '10.0.1.1', identifier: 0x4d2 },
      { id: 2, kind: 'udp', ...L2, vlan: 100, src: 'fd00::1', dst: 'fd00::2', srcPort: 1000, dstPort: 2000, payloadBytes: 20, intervalMs: 10 },
    ],
  });
  const pool = new PacketPool({ slots: 64 });
  const f = tickFrames(src, pool, 0);
  assert.equal(hex(f[0]!), hex(icmp4EchoFrame({ ...L2, src: '10.0.0.1', dst: '10.0.1.1', identifier: 0x4d2, sequence: 0, payload: testPayload(1, 0, 0, 56) })));
  assert.equal(hex(f[1]!), hex(udpFrame({ ...L2, vlans: [{ vid: 100 }], src: 'fd00::1', dst: 'fd00::2', srcPort: 1000, dstPort: 2000, payload: testPayload(2, 0, 0, 20) })));
  const later = tickFrames(src, pool, 1000);
  assert.equal(later.length, 1 + 100, 'ping 1/s, udp 100/s');
  assert.equal(hex(later[0]!), hex(icmp4EchoFrame({ ...L2, src: '10.0.0.1', dst: '10.0.1.1', identifier: 0x4d2, sequence: 1, payload: testPayload(1, 1, 1000, 56) })));
});

test('traffic-source: IPTV rate, count limit and start offset; export/import continues the sequence', () => {
  const cfg = { flows: [{ id: 3, kind: 'iptv', ...L2, src: '10.0.0.1', dst: '232.1.1.1', dstMac: '01:00:5e:01:01:01', startMs: 100, count: 500 }] };
  const src = trafficSourceFactory.create(cfg) as TrafficSource;
  const pool = new PacketPool({ slots: 1024 });
  assert.equal(tickFrames(src, pool, 0).length, 0);
  assert.equal(tickFrames(src, pool, 99).length, 0);
  // 8 Mbit/s of 1316-byte payloads: one every 1.316 ms
  const n = tickFrames(src, pool, 100 + 1.316 * 199 + 0.1).length;
  assert.equal(n, 200);
  assert.equal(counter(src.counters(), 'out'), 200);
  const state = JSON.parse(JSON.stringify(src.exportState())) as { flows: { nextSeq: number }[] };
  assert.equal(state.flows[0]!.nextSeq, 200);
  const src2 = trafficSourceFactory.create(cfg);
  src2.importState(state);
  const g = tickFrames(src2, pool, 5000);
  assert.equal(g.length, 1, 'resumes at once with the next sequence');
  assert.equal(new DataView(g[0]!.buffer).getUint32(14 + 20 + 8 + 8), 200);
  assert.equal(tickFrames(src2, pool, 5000 + 1.316 * 1000).length, 299, 'stops at count 500');
});

test('traffic-source: configuration errors', () => {
  const bad = (c: unknown, path: string): void => {
    assert.throws(() => trafficSourceFactory.create(c), (e: Error) => e.name === 'ConfigError' && (e as ConfigError).path === path);
  };
  bad({ flows: [{ kind: 'udp', ...L2, src: '10.0.0.1', dst: '10.0.0.2' }] }, 'flows[0].intervalMs');
  bad({ flows: [{ kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.0.2', rateKbps: 64, intervalMs: 20 }] }, 'flows[0].rateKbps');
  bad({ flows: [{ kind: 'ping', ...L2, src: '10.0.0.1', dst: '10.0.0.2', dstPort: 1 }] }, 'flows[0].dstPort');
  bad({ flows: [{ kind: 'voip', ...L2, src: '10.0.0.1', dst: 'fd00::1' }] }, 'flows[0].dst');
  bad({ flows: [{ kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.0.2', payloadBytes: 10 }] }, 'flows[0].payloadBytes');
  bad({ flows: [{ id: 1, kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.0.2' }, { id: 1, kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.0.2' }] }, 'flows[1].id');
});

test('traffic-source: fuzz 100,000 frames arriving on its port: all dropped and counted', () => {
  const src = trafficSourceFactory.create({ flows: [{ kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.1.1' }] });
  fuzz(src, [udpFrame({ ...L2, src: '10.0.0.1', dst: '10.0.1.1', srcPort: 1, dstPort: 2 })], 100_000, 9, { in: 'in', out: 'forwarded', dropped: 'dropped' });
  assert.ok(counter(src.counters(), 'out') > 0, 'ticks during the fuzz sent frames');
});

test('traffic-source: day profile: the rate follows min at midnight, max at noon; the packets sent are the integral of the rate', () => {
  const periodMs = 10_000;
  // ctx.now 0 is midnight of the compressed day (the profile reads the wall clock timeOrigin + now).
  const originMs = performance.timeOrigin;
  const profile = { shape: 'day', periodMs, min: 0.1, max: 1, originMs };
  const src = trafficSourceFactory.create({ profile, flows: [{ id: 1, kind: 'udp', ...L2, src: '10.0.0.1', dst: '10.0.1.1', intervalMs: 1 }] });
  const pool = new PacketPool({ slots: 8192 });
  const sentIn = (from: number, to: number): number => {
    let n = 0;
    for (let t = from; t <= to; t += 10) n += tickFrames(src, pool, t).length;
    return n;
  };
  // Packet 0 at once, then the integral of m over [0, t] at 1 packet/ms: ∫ = 0.1t + 0.9(t/2 − P/(4π) sin 2πt/P).
  const integral = (t: number): number => 0.1 * t + 0.9 * (t / 2 - (periodMs / (4 * Math.PI)) * Math.sin((2 * Math.PI * t) / periodMs));
  const night = sentIn(0, 1000);
  assert.ok(Math.abs(night - (1 + Math.floor(integral(1000)))) <= 1, `night hour: ${night} vs ${integral(1000)}`);
  const rest = sentIn(1010, 4000);
  const noon = sentIn(4010, 6000);
  assert.ok(Math.abs(night + rest + noon - (1 + Math.floor(integral(6000)))) <= 1, 'cumulative = integral');
  // Around noon the rate is ~10x the midnight one: ~0.97 packets/ms against ~0.11.
  assert.ok(noon / 2000 > 0.9 && night / 1000 < 0.2, `noon ${noon / 2000}/ms, night ${night / 1000}/ms`);
  const day = sentIn(6010, periodMs * 2);
  assert.ok(Math.abs(night + rest + noon + day - (1 + Math.floor(integral(periodMs * 2)))) <= 1, 'two days: (min + max)/2 on average');
  assert.equal(pool.available, 8192);
});

test('traffic-source: day profile: a source started (or resumed) at noon sends at the noon rate at once', () => {
  const profile = { shape: 'day', periodMs: 10_000, min: 0, max: 1, originMs: performance.timeOrigin - 5000 };
  const src = trafficSourceFactory.create({ profile, flows: [{ id: 1, kind: 'udp', ...L2, src: '10.0.0.1', dst: '10.0.1.1', intervalMs: 1 }] }) as TrafficSource;
  const pool = new PacketPool({ slots: 4096 });
  assert.equal(tickFrames(src, pool, 0).length, 1);
  const n = tickFrames(src, pool, 100).length;
  assert.ok(n >= 98 && n <= 101, `noon: ~1 packet/ms, got ${n} in 100 ms`);
  // After an import the schedule restarts from the sequence it resumes at, at the rate of that hour.
  const state = src.exportState();
  const dst = trafficSourceFactory.create({ profile, flows: [{ id: 1, kind: 'udp', ...L2, src: '10.0.0.1', dst: '10.0.1.1', intervalMs: 1 }] }) as TrafficSource;
  dst.importState(state);
  assert.equal(tickFrames(dst, pool, 5000).length, 1, 'midnight: the resumed packet at once');
  assert.equal(tickFrames(dst, pool, 5100).length, 0, 'min 0 at midnight: nothing more for a while');
  const c = dst.counters() as { flows: { packets: number }[] };
  assert.equal(c.flows[0]?.packets, n + 2);
});

test('traffic-source: day profile configuration errors', () => {
  const flows = [{ kind: 'voip', ...L2, src: '10.0.0.1', dst: '10.0.1.1' }];
  const bad = (profile: unknown, re: RegExp): void => {
    assert.throws(() => trafficSourceFactory.create({ flows, profile }), (e: Error) => e.name === 'ConfigError' && re.test(e.message));
  };
  bad({ shape: 'week', periodMs: 1000 }, /profile\.shape/);
  bad({ shape: 'day' }, /profile\.periodMs: is required/);
  bad({ shape: 'day', periodMs: 10 }, /profile\.periodMs/);
  bad({ shape: 'day', periodMs: 1000, min: 2, max: 1 }, /profile\.min: must not exceed max/);
  bad({ shape: 'day', periodMs: 1000, max: 0, min: 0 }, /profile\.max: must be positive/);
  bad({ shape: 'day', periodMs: 1000, peak: 12 }, /profile\.peak: unknown key/);
  assert.ok(trafficSourceFactory.create({ flows, profile: { shape: 'day', periodMs: 600_000 } }));
});
