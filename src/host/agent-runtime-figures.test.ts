import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentRuntime, type DomainReport, type NetworkPlan } from './agent-runtime.js';

const mac = (b: number): string => `02:00:00:00:00:${b.toString(16).padStart(2, '0')}`;

/** A source on runtime `a` sending over VXLAN (VNI `vni`) to a sink on runtime `b`. */
function pair(key: string, a: AgentRuntime, b: AgentRuntime, vni: number, flow: Record<string, unknown>, allocation: number): { pa: NetworkPlan; pb: NetworkPlan } {
  return {
    pa: {
      key,
      functions: [{ name: 'src', kind: 'traffic-source', config: { flows: [{ kind: 'udp', srcMac: mac(10), dstMac: mac(20), src: '10.0.1.10', dst: '10.0.2.10', srcPort: 1000, dstPort: 2000, ...flow }] } }],
      wires: [],
      remote: [{ port: 'src.out', vni, remote: b.endpoint ?? { address: '127.0.0.1', port: 1 } }],
    },
    pb: {
      key,
      functions: [{ name: 'sink', kind: 'traffic-sink', config: {} }],
      wires: [],
      remote: [{ port: 'sink.in', vni, remote: a.endpoint ?? { address: '127.0.0.1', port: 1 } }],
      allocation,
    },
  };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, last: () => string, ms = 15000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${last()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('AgentRuntime report: drops charged per network, merged sink latency, token share and balance', async () => {
  const a = await AgentRuntime.open({ name: 'a', vxlan: { address: '127.0.0.1', port: 0 } });
  // 1,000 frames/s shared 10:1. The calm network (200 frames/s) stays within its share; the burst
  // network sends 600 frames at ~5,000/s over VXLAN, which wait in its queue at the emulated server.
  const b = await AgentRuntime.open({ name: 'b', vxlan: { address: '127.0.0.1', port: 0 }, capacity: { capacity: 1000, unit: 'packets' } });
  try {
    const burst = pair('default/burst', a, b, 502, { intervalMs: 0.2, payloadBytes: 64, count: 600 }, 1);
    await b.apply(burst.pb);
    await b.apply({
      key: 'default/calm',
      functions: [
        { name: 'src', kind: 'traffic-source', config: { flows: [{ kind: 'udp', srcMac: mac(10), dstMac: mac(20), src: '10.0.1.10', dst: '10.0.2.10', srcPort: 1000, dstPort: 2000, intervalMs: 5 }] } },
        { name: 'sink', kind: 'traffic-sink', config: {} },
      ],
      wires: [['src.out', 'sink.in']],
      remote: [],
      allocation: 10,
    });
    await a.apply(burst.pa);
    const by = (r: readonly DomainReport[], k: string): DomainReport => r.find((d) => d.network === k) as DomainReport;
    let r: readonly DomainReport[] = [];
    const rep = await until(
      'traffic of both networks',
      async () => {
        r = (await b.report()).domains;
        return by(r, 'default/calm').latency.count > 50 && by(r, 'default/burst').latency.count > 100 ? r : undefined;
      },
      () => JSON.stringify(r),
    );
    const c = by(rep, 'default/calm');
    const f = by(rep, 'default/burst');
    // Drops are what the host charged to the network (domain 0 + its VXLAN bindings); counters only
    // grow, so the report's figure is at most the sum read now.
    const hd = b.host.dropsOf('default/burst');
    const up = b.uplink?.droppedOf(502) ?? 0;
    assert.ok(f.drops <= up + hd.unwired + hd.ringFull + hd.queueFull + hd.noBuffer, `${f.drops} ${up} ${JSON.stringify(hd)}`);
    const hc = b.host.dropsOf('default/calm');
    assert.ok(c.drops <= hc.unwired + hc.ringFull + hc.queueFull + hc.noBuffer, `${c.drops} ${JSON.stringify(hc)}`);
    // Latency: merged over the sinks (one each here), cumulative buckets consistent with the count.
    assert.equal(c.latency.count, c.traffic['sink']?.received);
    assert.equal(f.latency.count, f.traffic['sink']?.received);
    // Port counters: what the calm source sent on its port (read after the sink's state) covers
    // every frame its sink received; the burst's sink end only receives.
    assert.ok((c.ports['src.out'] ?? 0) > 0 && (c.ports['src.out'] ?? 0) >= (c.traffic['sink']?.received ?? Infinity), JSON.stringify(c.ports));
    assert.equal(f.ports['sink.in'], 0);
    // The calm network's source and sink share a domain (a frame can arrive in the pass that sent
    // it: 0 ms); the burst crosses VXLAN and waits at the emulated server, so its latency is > 0.
    assert.ok(f.latency.p50Ms > 0 && f.latency.sumMs > 0, JSON.stringify(f.latency));
    for (const l of [c.latency, f.latency]) {
      assert.ok(l.p50Ms >= 0 && l.p50Ms <= l.p99Ms && l.sumMs >= 0, JSON.stringify(l));
      assert.ok(l.buckets.every((x, i) => i === 0 || x >= (l.buckets[i - 1] as number)) && (l.buckets.at(-1) as number) <= l.count);
    }
    // The burst waits behind its queue (hundreds of frames at ≤ 1,000/s); the calm network, served first by its share, does not.
    assert.ok(f.latency.p99Ms > c.latency.p99Ms, `burst ${JSON.stringify(f.latency)} calm ${JSON.stringify(c.latency)}`);
    assert.deepEqual([c.tokens?.allocation, f.tokens?.allocation, f.tokens?.priority], [10, 1, 0]);
    assert.ok(f.tokens !== undefined && f.tokens.balance <= 1 && (c.tokens?.balance ?? 99) <= 10);
    // Without an emulated capacity there is no scheduler: no token figures.
    assert.equal(by((await a.report()).domains, 'default/burst').tokens, undefined);
  } finally {
    await a.close();
    await b.close();
  }
});
