import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plain } from '../functions/contract.js';
import type { FunctionSpec } from './domain.js';
import { AgentRuntime, type NetworkPlan } from './agent-runtime.js';

const mac = (b: number): string => `02:00:00:00:00:${b.toString(16).padStart(2, '0')}`;
const KEY = 'default/mig';
const N = 3000;

const udp = { kind: 'udp', srcMac: mac(10), dstMac: mac(1), src: '10.0.1.10', dst: '10.0.2.10', dstPort: 2000 };
// Flow 1 warms the path up (r1 resolves r2 by ARP, dropping what it cannot queue meanwhile);
// flow 2, the one measured, starts once that is done.
const src: FunctionSpec = { name: 'src', kind: 'traffic-source', config: { flows: [{ ...udp, srcPort: 1000, intervalMs: 5, count: 100 }, { ...udp, srcPort: 1001, intervalMs: 1, count: N, startMs: 1500 }] } };
const r1 = (extra: readonly Plain[] = []): FunctionSpec => ({ name: 'r1', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(1), addresses: ['10.0.1.1/24'] }, { name: 'eth1', mac: mac(2), addresses: ['10.0.0.1/30'] }], routes: [{ prefix: '10.0.2.0/24', via: '10.0.0.2' }, ...extra] } });
const r2: FunctionSpec = { name: 'r2', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(3), addresses: ['10.0.0.2/30'] }, { name: 'eth1', mac: mac(4), addresses: ['10.0.2.1/24'] }], neighbors: [{ interface: 'eth1', address: '10.0.2.10', mac: mac(20) }] } };
const sink: FunctionSpec = { name: 'sink', kind: 'traffic-sink', config: {} };

interface Flow { received: number; maxSeq: number; duplicates: number }
type Obj = { readonly [k: string]: Plain };

async function flow(rt: AgentRuntime): Promise<Flow> {
  const st = (await rt.exportState(KEY, 'sink')) as Obj;
  const f = (st['flows'] as readonly Obj[]).find((x) => x['id'] === 2);
  return f ? { received: f['received'] as number, maxSeq: f['maxSeq'] as number, duplicates: f['duplicates'] as number } : { received: 0, maxSeq: -1, duplicates: 0 };
}

async function until(what: string, f: () => Promise<boolean>, ms = 15000, say?: () => Promise<string>): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}${say ? `: ${await say()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Frames the platform itself dropped and counted (a worker thread starved of CPU long enough for
 * its rx ring to fill, a pool or queue exhausted): load artefacts, not losses of the migration.
 * Anything else missing (unwired, an unknown VNI, a frame gone with a destroyed domain) fails.
 */
function starved(...rts: AgentRuntime[]): number {
  let n = 0;
  for (const rt of rts) {
    const d = rt.host.drops;
    n += d.ringFull + d.queueFull + d.noBuffer + (rt.uplink?.counters().rxNoBuffer ?? 0);
    for (const hd of rt.host.domainList()) n += hd.domain.counters().txFull;
  }
  return n;
}

/**
 * Every frame of the flow sent since `f0` (a reading once the path was up: the first frames may
 * wait for ARP on a loaded machine) arrived once, or was dropped and counted by a starved platform.
 */
function allOnce(f0: Flow, f: Flow, ...rts: AgentRuntime[]): void {
  const lost = f.maxSeq - f0.maxSeq - (f.received - f0.received);
  assert.equal(f.duplicates, 0, 'no duplicate');
  assert.equal(f.maxSeq, N - 1);
  assert.ok(lost === 0 || lost <= starved(...rts), `${lost} frames lost, ${starved(...rts)} counted by a starved platform`);
  if (lost > 0) process.stdout.write(`# ${lost} frames dropped by the loaded machine (rings full), none by the migration\n`);
}

const neighbours = (st: Plain): string[] => (((st as Obj)['neighbors'] ?? []) as readonly Obj[]).map((n) => `${String(n['address'])}@${String(n['mac'])}`);

/** A: src → r1 (local), r1.eth1 over VXLAN 101 to B: r2 → sink. */
function before(a: AgentRuntime, b: AgentRuntime, r1spec = r1()): { pa: NetworkPlan; pb: NetworkPlan } {
  return {
    pa: { key: KEY, functions: [src, r1spec], wires: [['src.out', 'r1.eth0']], remote: [{ port: 'r1.eth1', vni: 101, remote: b.endpoint as { address: string; port: number } }] },
    pb: { key: KEY, functions: [r2, sink], wires: [['r2.eth1', 'sink.in']], remote: [{ port: 'r2.eth0', vni: 101, remote: a.endpoint as { address: string; port: number } }] },
  };
}

/** Applies `before` on both runtimes and waits for traffic at the sink: the plans and the sink's count then. */
async function running(a: AgentRuntime, b: AgentRuntime): Promise<{ pa: NetworkPlan; pb: NetworkPlan; f0: Flow }> {
  const { pa, pb } = before(a, b);
  await b.apply(pb);
  await a.apply(pa);
  await until('traffic at the sink', async () => (await flow(b)).received > 300);
  return { pa, pb, f0: await flow(b) };
}

test('AgentRuntime warm instance: r1 moves from A to B under traffic (warm, state copied, VNI bound ahead, adopted, final state); no frame lost or duplicated, its learned neighbour travelled', async () => {
  const a = await AgentRuntime.open({ name: 'a', vxlan: { address: '127.0.0.1', port: 0 } });
  const b = await AgentRuntime.open({ name: 'b', vxlan: { address: '127.0.0.1', port: 0 } });
  try {
    const { f0 } = await running(a, b);
    // r1 learned r2's MAC by ARP (r2 answered): state that must travel.
    const learned = `10.0.0.2@${mac(3)}`;
    assert.ok(neighbours(await a.exportState(KEY, 'r1')).includes(learned));
    // The local functions of a network share one domain (one worker thread), wired inside it;
    // a traffic generator has one of its own (never rebuilt with its neighbours).
    assert.deepEqual(b.domainsOf(KEY).map((d) => d.functions), [['r2', 'sink']]);
    assert.deepEqual(a.domainsOf(KEY).map((d) => d.functions).sort(), [['r1'], ['src']]);
    assert.equal(a.host.domainList().length, 2);

    // prepared: warm on B, its future VNI 100 (src ↔ r1) bound to it ahead.
    const toA = a.endpoint as { address: string; port: number };
    await b.warm(KEY, r1(), ['eth0', 'eth1'], { remote: [{ port: 'r1.eth0', vni: 100, remote: toA }] });
    assert.ok(b.hasWarm(KEY, 'r1'));
    assert.deepEqual(b.functions(KEY), ['r2', 'sink']);
    // state-copied, both-running.
    const pre = await a.exportState(KEY, 'r1');
    await b.importState(KEY, 'r1', pre);
    assert.ok(neighbours(await b.exportState(KEY, 'r1')).includes(learned), 'the warm instance has the learned neighbour before any frame');

    // switched: the source's server re-plans first (its frames reach the warm r1 over VNI 100,
    // whose output waits in B's domain 0), then B adopts r1.
    const pa2: NetworkPlan = { key: KEY, functions: [src], wires: [], remote: [{ port: 'src.out', vni: 100, remote: b.endpoint as { address: string; port: number } }] };
    const pb2: NetworkPlan = { key: KEY, functions: [r1(), r2, sink], wires: [['r1.eth1', 'r2.eth0'], ['r2.eth1', 'sink.in']], remote: [{ port: 'r1.eth0', vni: 100, remote: toA }] };
    const domainsOfB = b.host.domainList().map((d) => d.domain.id).sort();
    assert.equal(await a.apply(pa2), 'replaced');
    assert.deepEqual(a.changes(KEY), { started: [], kept: ['src'], adopted: [], replaced: [], stateLost: [], retiring: ['r1'], repointed: [] });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(await b.apply(pb2), 'replaced');
    assert.deepEqual(b.changes(KEY), { started: [], kept: ['r2', 'sink'], adopted: ['r1'], replaced: [], stateLost: [], retiring: [], repointed: [] });
    assert.deepEqual(b.host.domainList().map((d) => d.domain.id).sort(), domainsOfB, 'no domain started or stopped on B: the warm r1 runs on');
    assert.equal(b.hasWarm(KEY, 'r1'), false);
    // drained: A's r1 ran out its grace period; its final state goes to B.
    const fin = await a.retired(KEY, 'r1');
    assert.ok(fin !== undefined && neighbours(fin).includes(learned));
    await b.importState(KEY, 'r1', fin);
    assert.deepEqual(a.functions(KEY), ['src']);

    await until(`all ${N} frames at the sink`, async () => (await flow(b)).maxSeq === N - 1, 10000, async () => JSON.stringify([await flow(b), a.host.drops, b.host.drops, a.uplink?.counters(), b.uplink?.counters()]));
    await new Promise((r) => setTimeout(r, 100));
    allOnce(f0, await flow(b), a, b);
    assert.equal(a.uplink?.counters().rxUnknownVni, 0);
    assert.equal(b.uplink?.counters().rxUnknownVni, 0);
    assert.deepEqual([a.host.drops.unwired, b.host.drops.unwired], [0, 0]);
  } finally {
    await a.close();
    await b.close();
  }
});

test('AgentRuntime plan changes keep state: a new FIB replaces r1 make-before-break (neighbours kept, no frame lost), a re-pointed VNI and a removed function restart nothing', async () => {
  const a = await AgentRuntime.open({ name: 'a', vxlan: { address: '127.0.0.1', port: 0 } });
  const b = await AgentRuntime.open({ name: 'b', vxlan: { address: '127.0.0.1', port: 0 } });
  try {
    const { pb, f0 } = await running(a, b);
    const learned = `10.0.0.2@${mac(3)}`;
    assert.deepEqual(a.domainsOf(KEY).map((d) => d.functions).sort(), [['r1'], ['src']]);

    // A new FIB for r1 (the control plane recomputed routes): a new domain with the old one's neighbours.
    const extra = { prefix: '10.9.0.0/16', via: '10.0.0.2' };
    const { pa: pa2 } = before(a, b, r1([extra]));
    assert.equal(await a.apply(pa2), 'replaced');
    assert.deepEqual(a.changes(KEY), { started: [], kept: ['src'], adopted: [], replaced: ['r1'], stateLost: [], retiring: [], repointed: [] });
    const st = (await a.exportState(KEY, 'r1')) as Obj;
    assert.ok(neighbours(st).includes(learned));
    assert.ok((st['routes'] as readonly Obj[]).some((r) => r['prefix'] === '10.9.0.0/16'), 'the new FIB, not the old state\'s');

    // B's VNI 101 re-pointed (to a second endpoint of A's, then back): nothing restarts.
    const ids = b.host.domainList().map((d) => d.domain.id).sort();
    const elsewhere = { address: '127.0.0.1', port: 9 };
    assert.equal(await b.apply({ ...pb, remote: [{ port: 'r2.eth0', vni: 101, remote: elsewhere }] }), 'replaced');
    assert.deepEqual(b.changes(KEY)?.repointed, [101]);
    assert.deepEqual(b.uplink?.remotesOf(101), [elsewhere]);
    assert.equal(await b.apply(pb), 'replaced');
    assert.deepEqual(b.changes(KEY), { started: [], kept: ['r2', 'sink'], adopted: [], replaced: [], stateLost: [], retiring: [], repointed: [101] });
    assert.deepEqual(b.host.domainList().map((d) => d.domain.id).sort(), ids);

    await until(`all ${N} frames at the sink`, async () => (await flow(b)).maxSeq === N - 1, 10000);
    await new Promise((r) => setTimeout(r, 100));
    const fEnd = await flow(b);
    allOnce(f0, fEnd, a, b);

    // r2 leaves B's plan: it retires (final state kept), the sink keeps its counts.
    assert.equal(await b.apply({ key: KEY, functions: [sink], wires: [], remote: [] }), 'replaced');
    assert.deepEqual(b.changes(KEY)?.retiring, ['r2']);
    assert.equal((await flow(b)).received, fEnd.received);
    const fin = await b.retired(KEY, 'r2');
    assert.ok(fin !== undefined && typeof fin === 'object');
    // A bad configuration is refused before anything changes.
    await assert.rejects(a.apply({ ...pa2, functions: [src, { ...r1(), config: { interfaces: 'x' } }] }), (e: Error) => e.name === 'ConfigError');
    assert.deepEqual(a.functions(KEY), ['src', 'r1']);
  } finally {
    await a.close();
    await b.close();
  }
});

test('AgentRuntime warm instance: VNIs bound ahead are freed by dropWarm; one warmed with an older configuration is replaced at adoption, its state carried (neighbours kept, routes of the new configuration)', async () => {
  const a = await AgentRuntime.open({ name: 'a', vxlan: { address: '127.0.0.1', port: 0 } });
  try {
    const peer = { address: '127.0.0.1', port: 9 };
    await a.warm(KEY, r1(), undefined, { remote: [{ port: 'r1.eth0', vni: 555, remote: peer }] });
    assert.deepEqual(a.uplink?.remotesOf(555), [peer]);
    assert.deepEqual(a.warmList(), { [KEY]: ['r1'] });
    assert.equal(await a.dropWarm(KEY, 'r1'), true);
    assert.equal(a.uplink?.remotesOf(555), undefined);
    assert.equal(await a.dropWarm(KEY, 'r1'), false);
    await assert.rejects(a.importState(KEY, 'r1', null), (e: Error) => e.name === 'AgentRuntimeError');

    const learned = { interface: 'eth1', address: '10.0.0.2', mac: mac(3), state: 'reachable', ageMs: 0 };
    await a.warm(KEY, r1(), ['eth0', 'eth1']);
    await a.importState(KEY, 'r1', { routes: [], neighbors: [learned], ipId: 0 });
    const extra = { prefix: '10.9.0.0/16', via: '10.0.0.2' };
    assert.equal(await a.apply({ key: KEY, functions: [r1([extra])], wires: [], remote: [] }), 'created');
    assert.deepEqual(a.changes(KEY), { started: [], kept: [], adopted: [], replaced: ['r1'], stateLost: [], retiring: [], repointed: [] });
    assert.equal(a.hasWarm(KEY, 'r1'), false);
    const st = (await a.exportState(KEY, 'r1')) as Obj;
    assert.ok(neighbours(st).includes(`10.0.0.2@${mac(3)}`));
    assert.deepEqual((st['routes'] as readonly Obj[]).map((r) => r['prefix']).sort(), ['10.0.2.0/24', '10.9.0.0/16']);
    assert.equal(a.host.domainList().length, 1, 'the warm domain is gone once its state moved on');

    // Two routers share a domain; isolating one (a migration's source does, before its pre-copy)
    // moves it to a domain of its own with its state, the other keeps its own.
    const key2 = 'default/two';
    await a.apply({ key: key2, functions: [r1(), r2], wires: [['r1.eth1', 'r2.eth0']], remote: [] });
    assert.deepEqual(a.domainsOf(key2).map((d) => d.functions), [['r1', 'r2']]);
    await a.importState(key2, 'r1', { routes: [], neighbors: [learned], ipId: 0 });
    await a.isolate(key2, 'r1');
    assert.deepEqual(a.domainsOf(key2).map((d) => d.functions).sort(), [['r1'], ['r2']]);
    assert.deepEqual(a.changes(key2), { started: [], kept: ['r1', 'r2'], adopted: [], replaced: [], stateLost: [], retiring: [], repointed: [] });
    assert.ok(neighbours(await a.exportState(key2, 'r1')).includes(`10.0.0.2@${mac(3)}`));
    assert.equal(a.host.domainList().length, 3);
    // Changes of one network asked at once run one after the other (each rewires across awaits).
    const two = (extra: readonly Plain[]): NetworkPlan => ({ key: key2, functions: [r1(extra), r2], wires: [['r1.eth1', 'r2.eth0']], remote: [] });
    await Promise.all([a.apply(two([{ prefix: '10.9.0.0/16', via: '10.0.0.2' }])), a.isolate(key2, 'r2'), a.apply(two([])), a.apply(two([{ prefix: '10.8.0.0/16', via: '10.0.0.2' }]))]);
    assert.deepEqual(a.functions(key2).sort(), ['r1', 'r2']);
    assert.ok(neighbours(await a.exportState(key2, 'r1')).includes(`10.0.0.2@${mac(3)}`), 'state kept through every change');
    assert.ok(((await a.exportState(key2, 'r1')) as Obj)['routes'] !== undefined);
    assert.deepEqual((((await a.exportState(key2, 'r1')) as Obj)['routes'] as readonly Obj[]).map((r) => r['prefix']).sort(), ['10.0.2.0/24', '10.8.0.0/16']);
  } finally {
    await a.close();
  }
});
