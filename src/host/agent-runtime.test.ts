import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentRuntime, type NetworkPlan } from './agent-runtime.js';

const mac = (b: number): string => `02:00:00:00:00:${b.toString(16).padStart(2, '0')}`;

/** src → r1 on runtime A, r1.eth1 over VXLAN to r2 on runtime B, r2 → sink. */
function plans(a: AgentRuntime, b: AgentRuntime, vni: number): { pa: NetworkPlan; pb: NetworkPlan } {
  const pa: NetworkPlan = {
    key: 'default/t',
    functions: [
      { name: 'src', kind: 'traffic-source', config: { flows: [{ kind: 'udp', srcMac: mac(10), dstMac: mac(1), src: '10.0.1.10', dst: '10.0.2.10', srcPort: 1000, dstPort: 2000, intervalMs: 2 }] } },
      { name: 'r1', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(1), addresses: ['10.0.1.1/24'] }, { name: 'eth1', mac: mac(2), addresses: ['10.0.0.1/30'] }], routes: [{ prefix: '10.0.2.0/24', via: '10.0.0.2' }] } },
    ],
    wires: [['src.out', 'r1.eth0']],
    remote: [{ port: 'r1.eth1', vni, remote: b.endpoint ?? { address: '127.0.0.1', port: 1 } }],
  };
  const pb: NetworkPlan = {
    key: 'default/t',
    functions: [
      { name: 'r2', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(3), addresses: ['10.0.0.2/30'] }, { name: 'eth1', mac: mac(4), addresses: ['10.0.2.1/24'] }], neighbors: [{ interface: 'eth1', address: '10.0.2.10', mac: mac(20) }] } },
      { name: 'sink', kind: 'traffic-sink', config: {} },
    ],
    wires: [['r2.eth1', 'sink.in']],
    remote: [{ port: 'r2.eth0', vni, remote: a.endpoint ?? { address: '127.0.0.1', port: 1 } }],
  };
  return { pa, pb };
}

async function sinkCount(rt: AgentRuntime): Promise<number> {
  const r = await rt.report();
  return r.domains.reduce((n, d) => n + (d.traffic['sink']?.received ?? 0), 0);
}

async function until(what: string, f: () => Promise<boolean>, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('AgentRuntime: plans applied across two runtimes over VXLAN; unchanged is a no-op, a new VNI replaces the domains, remove frees the VNI', async () => {
  const a = await AgentRuntime.open({ name: 'a', vxlan: { address: '127.0.0.1', port: 0 } });
  const b = await AgentRuntime.open({ name: 'b', vxlan: { address: '127.0.0.1', port: 0 }, capacity: { capacity: 100_000, unit: 'packets' } });
  try {
    let { pa, pb } = plans(a, b, 4242);
    assert.equal(await a.apply(pa), 'created');
    assert.equal(await b.apply(pb), 'created');
    assert.equal(await a.apply(pa), 'unchanged');
    await until('frames at the sink', async () => (await sinkCount(b)) > 50);
    const rep = await b.report();
    assert.ok(rep.utilisation >= 0 && rep.utilisation < 0.1, `utilisation ${rep.utilisation}`);
    assert.deepEqual(rep.domains.map((d) => [d.network, d.functions, d.state]), [['default/t', ['r2', 'sink'], 'running']]);

    // A new VNI (a changed plan) replaces both domains; the old VNI is unbound, traffic flows again.
    ({ pa, pb } = plans(a, b, 4343));
    assert.equal(await a.apply(pa), 'replaced');
    assert.equal(await b.apply(pb), 'replaced');
    await until('frames at the new sink', async () => (await sinkCount(b)) > 50);
    assert.equal(a.uplink?.counters().rxUnknownVni, 0);

    assert.equal(await b.remove('default/t'), true);
    assert.equal(await b.remove('default/t'), false);
    assert.deepEqual(b.keys(), []);
    // Its VNI is free again: the same plan can be applied anew.
    assert.equal(await b.apply(pb), 'created');
  } finally {
    await a.close();
    await b.close();
  }
});

test('AgentRuntime: a plan with a cross-server link but no uplink, or a bad function config, is refused (AgentRuntimeError / ConfigError) and nothing stays', async () => {
  const a = await AgentRuntime.open({ name: 'a' });
  const b = await AgentRuntime.open({ name: 'b', vxlan: { address: '127.0.0.1', port: 0 } });
  try {
    const { pa } = plans(b, b, 77);
    await assert.rejects(a.apply(pa), (e: Error) => e.name === 'AgentRuntimeError' && /VXLAN endpoint/.test(e.message));
    assert.deepEqual(a.keys(), []);
    const bad: NetworkPlan = { key: 'default/bad', functions: [{ name: 'r', kind: 'router', config: { interfaces: 'nope' } }], wires: [], remote: [] };
    await assert.rejects(a.apply(bad));
    assert.deepEqual(a.keys(), []);
    assert.equal(a.host.domainList().length, 0);
  } finally {
    await a.close();
    await b.close();
  }
});
