import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { AgentRuntime, type DomainReport, type NetworkPlan } from './agent-runtime.js';
import { FAULT_ETHERTYPE, FAULT_THROW } from './fault.js';

const mac = (b: number): string => `02:00:00:00:00:${b.toString(16).padStart(2, '0')}`;
const VNI0 = 7100;

/**
 * Per-user network `i` from one template (same names, MACs, addresses in every network): a
 * source on runtime `a` sends flow `i` over VXLAN (its own VNI) to a router then a sink on `b`.
 */
function userNet(i: number, a: AgentRuntime, b: AgentRuntime, flow: Record<string, unknown> = { intervalMs: 2 }, allocation?: number): { pa: NetworkPlan; pb: NetworkPlan } {
  const key = `users/u${i}`;
  const vni = VNI0 + i;
  return {
    pa: {
      key,
      isolation: 'context',
      functions: [{ name: 'src', kind: 'traffic-source', config: { flows: [{ id: i, kind: 'udp', srcMac: mac(10), dstMac: mac(3), src: '10.0.1.10', dst: '10.0.2.10', srcPort: 1000, dstPort: 2000, ...flow }] } }],
      wires: [],
      remote: [{ port: 'src.out', vni, remote: b.endpoint ?? { address: '127.0.0.1', port: 1 } }],
    },
    pb: {
      key,
      isolation: 'context',
      functions: [
        { name: 'r', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(3), addresses: ['10.0.1.1/24'] }, { name: 'eth1', mac: mac(4), addresses: ['10.0.2.1/24'] }], neighbors: [{ interface: 'eth1', address: '10.0.2.10', mac: mac(20) }] } },
        { name: 'sink', kind: 'traffic-sink', config: {} },
      ],
      wires: [['r.eth1', 'sink.in']],
      remote: [{ port: 'r.eth0', vni, remote: a.endpoint ?? { address: '127.0.0.1', port: 1 } }],
      ...(allocation !== undefined ? { allocation } : {}),
    },
  };
}

/** The sink's flows of network `key` on `rt` (id, received, lost), read from its live state. */
async function sinkFlows(rt: AgentRuntime, key: string): Promise<{ id: number; received: number; lost: number; maxSeq: number }[]> {
  const st = (await rt.exportState(key, 'sink')) as { flows: { id: number; received: number; maxSeq: number }[] };
  return st.flows.map((f) => ({ id: f.id, received: f.received, lost: f.maxSeq + 1 - f.received, maxSeq: f.maxSeq }));
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 8000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

const byNet = (r: readonly DomainReport[], k: string): DomainReport => {
  const d = r.find((x) => x.network === k);
  assert.ok(d, `no report of ${k}`);
  return d;
};

test('context isolation: user networks share one domain each side, carry traffic with no leak, a third comes and goes live without a lost frame, a crash restarts them all', async () => {
  const a = await AgentRuntime.open({ name: 'ca', vxlan: { address: '127.0.0.1', port: 0 }, idleWorkers: 1 });
  const b = await AgentRuntime.open({ name: 'cb', vxlan: { address: '127.0.0.1', port: 0 }, idleWorkers: 1 });
  try {
    const n1 = userNet(1, a, b);
    const n2 = userNet(2, a, b);
    assert.equal(await b.apply(n1.pb), 'created');
    assert.equal(await b.apply(n2.pb), 'created');
    assert.equal(await a.apply(n1.pa), 'created');
    assert.equal(await a.apply(n2.pa), 'created');
    assert.equal(await b.apply(n2.pb), 'unchanged');
    // One worker per side for both networks.
    assert.equal(b.host.domainList().length, 1);
    assert.equal(a.host.domainList().length, 1);
    assert.deepEqual(b.domainsOf('users/u1'), b.domainsOf('users/u2').map((d) => ({ ...d })));
    await until('both sinks', async () => ((await sinkFlows(b, 'users/u1'))[0]?.received ?? 0) > 100 && ((await sinkFlows(b, 'users/u2'))[0]?.received ?? 0) > 100 || undefined);

    // Status per network, naming the domain it shares.
    let rep = (await b.report()).domains;
    const s1 = byNet(rep, 'users/u1').shared;
    assert.ok(s1 && s1.networks === 2 && s1.domain === byNet(rep, 'users/u2').shared?.domain && s1.context !== byNet(rep, 'users/u2').shared?.context, JSON.stringify(s1));
    assert.ok(byNet(rep, 'users/u1').processed > 100 && (byNet(rep, 'users/u1').traffic['sink']?.received ?? 0) > 100);
    assert.ok((byNet(rep, 'users/u2').ports['r.eth1'] ?? 0) > 100 && byNet(rep, 'users/u2').ports['src.out'] === undefined, JSON.stringify(byNet(rep, 'users/u2').ports));

    // A third network, added live on both sides: same domain, its own traffic.
    const n3 = userNet(3, a, b);
    const before = [(await sinkFlows(b, 'users/u1'))[0]?.received ?? 0, (await sinkFlows(b, 'users/u2'))[0]?.received ?? 0];
    assert.equal(await b.apply(n3.pb), 'created');
    assert.equal(await a.apply(n3.pa), 'created');
    assert.equal(b.host.domainList().length, 1);
    assert.equal(b.contexts.sharedOf('users/u3')?.networks, 3);
    await until('the third sink', async () => ((await sinkFlows(b, 'users/u3'))[0]?.received ?? 0) > 100 || undefined);
    // … and removed live (no grace), the sender first.
    assert.equal(await a.remove('users/u3', { graceMs: 0 }), true);
    assert.equal(await b.remove('users/u3', { graceMs: 0 }), true);
    assert.equal(b.host.domainList().length, 1);
    assert.deepEqual(b.keys().sort(), ['users/u1', 'users/u2']);
    const mid = [(await sinkFlows(b, 'users/u1'))[0]?.received ?? 0, (await sinkFlows(b, 'users/u2'))[0]?.received ?? 0];
    await until('traffic after the removal', async () => ((await sinkFlows(b, 'users/u1'))[0]?.received ?? 0) > (mid[0] as number) + 50 && ((await sinkFlows(b, 'users/u2'))[0]?.received ?? 0) > (mid[1] as number) + 50 || undefined);

    // No leak (every network's sink saw only its own flow) and no lost frame, nor state (the
    // counts only grew) in the networks that stayed, across the add and the remove.
    for (const k of [1, 2]) {
      const fl = await sinkFlows(b, `users/u${k}`);
      assert.deepEqual(fl.map((f) => f.id), [k], `sink of u${k} saw flows ${JSON.stringify(fl)}`);
      assert.equal(fl[0]?.lost, 0, `u${k} lost frames: ${JSON.stringify(fl)}`);
      assert.ok((fl[0]?.received ?? 0) > (before[k - 1] as number) + 100);
    }
    rep = (await b.report()).domains;
    assert.deepEqual([byNet(rep, 'users/u1').drops, byNet(rep, 'users/u2').drops, byNet(rep, 'users/u1').restarts], [0, 0, 0]);

    // A changed plan under traffic (a new FIB for u1's router): a new context beside the old one,
    // state carried, the VNI's frames held during the final copy — u1 loses no frame either.
    const fns1 = n1.pb.functions.map((f) => (f.name === 'r' ? { ...f, config: { ...(f.config as Record<string, unknown>), routes: [{ prefix: '10.9.0.0/16', via: '10.0.2.10' }] } } : f));
    const ctx1 = b.contexts.sharedOf('users/u1')?.context;
    assert.equal(await b.apply({ ...n1.pb, functions: fns1 } as NetworkPlan), 'replaced');
    assert.deepEqual([b.changes('users/u1')?.replaced, b.changes('users/u1')?.kept], [['r'], ['sink']]);
    assert.notEqual(b.contexts.sharedOf('users/u1')?.context, ctx1);
    assert.equal(b.host.domainList().length, 1);
    const at = (await sinkFlows(b, 'users/u1'))[0]?.received ?? 0;
    await until('u1 after its change', async () => ((await sinkFlows(b, 'users/u1'))[0]?.received ?? 0) > at + 50 || undefined);
    for (const k of [1, 2]) assert.equal((await sinkFlows(b, `users/u${k}`))[0]?.lost, 0, `u${k} lost frames in u1's change`);

    // A crash of the shared domain (a fault injected in a fourth network's function) restarts it:
    // every context down and up, rebuilt from configuration (sink state lost), traffic resumes.
    assert.equal(await b.apply({ key: 'users/bad', isolation: 'context', functions: [{ name: 'w', kind: 'fault', config: { armed: true } }], wires: [], remote: [{ port: 'w.a', vni: 7199, remote: { address: '127.0.0.1', port: 9 } }] }), 'created');
    assert.equal(b.host.domainList().length, 1);
    const frame = Buffer.alloc(8 + 60);
    frame[0] = 0x08;
    frame.writeUIntBE(7199, 4, 3);
    frame.writeUInt16BE(FAULT_ETHERTYPE, 8 + 12);
    frame[8 + 14] = FAULT_THROW;
    const pre = (await sinkFlows(b, 'users/u2'))[0]?.received ?? 0;
    const procPre = byNet((await b.report()).domains, 'users/u1').processed;
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.send(frame, b.endpoint?.port ?? 0, '127.0.0.1', () => r()));
    sock.close();
    await until('the restart', async () => (byNet((await b.report()).domains, 'users/u1').restarts === 1 ? true : undefined));
    rep = (await b.report()).domains;
    assert.deepEqual(['users/u1', 'users/u2', 'users/bad'].map((k) => byNet(rep, k).restarts), [1, 1, 1]);
    // A network's processed count survives the restart (as a domain's does).
    assert.ok(byNet(rep, 'users/u1').processed >= procPre, `${byNet(rep, 'users/u1').processed} < ${procPre}`);
    await until('traffic after the restart', async () => (byNet((await b.report()).domains, 'users/u2').state === 'running' && ((await sinkFlows(b, 'users/u2'))[0]?.received ?? 0) > 50 ? true : undefined));
    // Restarted from its configuration, the sink counts only what came since: everything it
    // received before shows as lost (sent before its highest sequence, not counted).
    const after = (await sinkFlows(b, 'users/u2'))[0];
    assert.ok((after?.lost ?? 0) >= pre, `the sink restarted from its configuration: ${JSON.stringify(after)}, ${pre} before`);
  } finally {
    await a.close();
    await b.close();
  }
});

test('context isolation: a cap of networks per domain, free contexts reused, empty domains destroyed, a bad network refused with nothing left, a switch to domain isolation', async () => {
  const rt = await AgentRuntime.open({ name: 'cc', contextsPerDomain: 2, idleWorkers: 1 });
  try {
    const local = (i: number, iso: 'context' | 'domain' = 'context'): NetworkPlan => ({
      key: `users/l${i}`,
      isolation: iso,
      functions: [
        { name: 'src', kind: 'traffic-source', config: { flows: [{ id: i, kind: 'udp', srcMac: mac(10), dstMac: mac(20), src: '10.0.1.10', dst: '10.0.2.10', srcPort: 1000, dstPort: 2000, intervalMs: 5 }] } },
        { name: 'sink', kind: 'traffic-sink', config: {} },
      ],
      wires: [['src.out', 'sink.in']],
      remote: [],
    });
    for (const i of [1, 2, 3]) await rt.apply(local(i));
    assert.equal(rt.host.domainList().length, 2);
    assert.deepEqual([1, 2, 3].map((i) => rt.contexts.sharedOf(`users/l${i}`)?.domain), ['contexts-1', 'contexts-1', 'contexts-2']);
    await rt.remove('users/l1', { graceMs: 0 });
    await rt.apply(local(4));
    // l4 takes l1's place (and its context index) in the first domain.
    assert.deepEqual([rt.contexts.sharedOf('users/l4')?.domain, rt.contexts.sharedOf('users/l4')?.context], ['contexts-1', 0]);
    assert.equal(rt.host.domainList().length, 2);
    await until('l4 counts', async () => ((await sinkFlows(rt, 'users/l4'))[0]?.received ?? 0) > 20 || undefined);
    assert.deepEqual((await sinkFlows(rt, 'users/l4')).map((f) => f.id), [4]);

    // A network whose function cannot be built: refused, nothing stays, the others unharmed.
    await assert.rejects(rt.apply({ key: 'users/bad', isolation: 'context', functions: [{ name: 'r', kind: 'router', config: { interfaces: 'nope' } }], wires: [], remote: [] }), (e: Error) => e.name === 'DomainError');
    assert.equal(rt.keys().includes('users/bad'), false);
    assert.equal(rt.host.domainList().length, 2);

    // A changed plan (a new flow rate) rebuilds the context beside the old one; the sink keeps its counts.
    const was = (await sinkFlows(rt, 'users/l4'))[0]?.received ?? 0;
    const changed = local(4);
    const fns = [{ ...(changed.functions[0] as NetworkPlan['functions'][number]), config: { flows: [{ id: 4, kind: 'udp', srcMac: mac(10), dstMac: mac(20), src: '10.0.1.10', dst: '10.0.2.10', srcPort: 1000, dstPort: 2000, intervalMs: 4 }] } }, changed.functions[1] as NetworkPlan['functions'][number]];
    assert.equal(await rt.apply({ ...changed, functions: fns }), 'replaced');
    assert.deepEqual(rt.changes('users/l4')?.kept, ['sink']);
    assert.ok(((await sinkFlows(rt, 'users/l4'))[0]?.received ?? 0) >= was);

    // A migration's target: a warm instance given state is adopted by it (its state, not its
    // domain: the function joins the network's context), and a function leaving has a final state.
    const st4 = await rt.exportState('users/l4', 'sink');
    await rt.warm('users/l5', { name: 'sink', kind: 'traffic-sink', config: {} });
    await rt.importState('users/l5', 'sink', st4);
    const dom0 = rt.host.domainList().length;
    await rt.apply(local(5));
    assert.equal(rt.hasWarm('users/l5', 'sink'), false);
    assert.equal(rt.host.domainList().length, dom0 - 1);
    assert.ok(((await sinkFlows(rt, 'users/l5')).find((f) => f.id === 4)?.received ?? 0) >= was, 'the adopted sink kept the counts it was given');
    await until('l5 counts', async () => ((await sinkFlows(rt, 'users/l5')).find((f) => f.id === 5)?.received ?? 0) > 5 || undefined);
    assert.equal(await rt.apply({ ...local(5), functions: local(5).functions.slice(0, 1), wires: [] }), 'replaced');
    assert.deepEqual(rt.changes('users/l5')?.retiring, ['sink']);
    const fin = (await rt.retired('users/l5', 'sink')) as { flows: { id: number; received: number }[] } | undefined;
    assert.ok((fin?.flows.find((f) => f.id === 5)?.received ?? 0) > 0 && (fin?.flows.find((f) => f.id === 4)?.received ?? 0) >= was, JSON.stringify(fin?.flows.map((f) => [f.id, f.received])));
    await rt.remove('users/l5', { graceMs: 0 });

    // Switched to domain isolation: out of the shared domain, into one of its own (two: the source is solo).
    await rt.apply(local(2, 'domain'));
    assert.equal(rt.contexts.has('users/l2'), false);
    assert.deepEqual(rt.functions('users/l2').sort(), ['sink', 'src']);
    assert.equal(rt.contexts.sharedOf('users/l4')?.networks, 1);
    // The last context of a domain leaving destroys it.
    await rt.remove('users/l3', { graceMs: 0 });
    await rt.remove('users/l4', { graceMs: 0 });
    assert.equal(rt.contexts.domainCount, 0);
  } finally {
    await rt.close();
  }
});

test('context isolation: tokens still isolate networks sharing a domain — a flood at 8× its share does not push a calm one below its demand', async () => {
  const a = await AgentRuntime.open({ name: 'ta', vxlan: { address: '127.0.0.1', port: 0 }, idleWorkers: 1 });
  // 1,000 frames/s shared 1:1 (500 each); calm asks 250/s, the flood 4,000/s for 1.5 s.
  const b = await AgentRuntime.open({ name: 'tb', vxlan: { address: '127.0.0.1', port: 0 }, idleWorkers: 1, slots: 16384, capacity: { capacity: 1000, unit: 'packets' } });
  try {
    const calm = userNet(1, a, b, { intervalMs: 4 }, 1);
    const flood = userNet(2, a, b, { intervalMs: 0.25, count: 6000 }, 1);
    await b.apply(calm.pb);
    await b.apply(flood.pb);
    assert.equal(b.host.domainList().length, 1);
    await a.apply(calm.pa);
    await until('calm traffic', async () => ((await sinkFlows(b, 'users/u1'))[0]?.received ?? 0) > 20 || undefined);
    const c0f = (await sinkFlows(b, 'users/u1'))[0];
    const c0 = c0f?.received ?? 0;
    const t0 = performance.now();
    await a.apply(flood.pa);
    await new Promise((r) => setTimeout(r, 1500));
    const c1 = (await sinkFlows(b, 'users/u1'))[0];
    const f1 = (await sinkFlows(b, 'users/u2'))[0];
    const secs = (performance.now() - t0) / 1000;
    const calmRate = ((c1?.received ?? 0) - c0) / secs;
    // What the calm source sent meanwhile (its highest sequence seen): on a loaded machine the
    // source itself may fall short of 250/s; the flood must not take any of what it did send.
    const calmSent = ((c1?.maxSeq ?? 0) - (c0f?.maxSeq ?? 0)) / secs;
    const floodRate = (f1?.received ?? 0) / secs;
    const rep = (await b.report()).domains;
    const msg = `calm ${calmRate.toFixed(0)}/s of ${calmSent.toFixed(0)}/s sent, flood ${floodRate.toFixed(0)}/s`;
    // The calm network gets all it asks (below its share), lossless and without queueing behind
    // the flood; the flood gets the rest of the capacity at most, and waits.
    assert.ok(calmRate >= 0.95 * calmSent && calmSent > 100, msg);
    assert.equal(c1?.lost, 0, JSON.stringify(c1));
    assert.ok(floodRate < 1000 * 1.15 - calmRate + 100 && floodRate > 0, msg);
    assert.ok((byNet(rep, 'users/u2').tokens?.backlog ?? 0) > 0, JSON.stringify(byNet(rep, 'users/u2').tokens));
    assert.ok(byNet(rep, 'users/u1').latency.p99Ms < byNet(rep, 'users/u2').latency.p99Ms, `calm p99 ${byNet(rep, 'users/u1').latency.p99Ms} ms, flood p99 ${byNet(rep, 'users/u2').latency.p99Ms} ms`);
    assert.equal(byNet(rep, 'users/u1').shared?.domain, byNet(rep, 'users/u2').shared?.domain);
    process.stdout.write(`# tokens in one context domain: ${msg} (asks 250 and 4000, capacity 1000/s); p99 calm ${byNet(rep, 'users/u1').latency.p99Ms.toFixed(1)} ms, flood ${byNet(rep, 'users/u2').latency.p99Ms.toFixed(1)} ms\n`);
  } finally {
    await a.close();
    await b.close();
  }
});
