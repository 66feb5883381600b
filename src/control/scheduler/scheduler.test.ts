import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Cluster, type FunctionRequest, type ServerInput } from './cluster.js';
import { antiAffinityFilter, balanceScore, capacityFilter, datacenterFilter, energyScore, latencyFilter, tierFilter } from './plugins.js';
import { gangOrder, Scheduler, UnschedulableError } from './scheduler.js';
import { clusterFromResources, networkRequests } from './resources.js';
import { HP_ML110_G4, HP_ML110_G5, powerAt } from '../../policy/power.js';
import { allocationScore, powerIncrease, shortestDistances } from '../../policy/scheduling.js';
import { parseManifestText } from '../manifest/load.js';
import { GOOD } from '../manifest/fixtures.js';
import type { Resource } from '../manifest/types.js';

const GI = 2 ** 30;
const srv = (name: string, o: Partial<ServerInput> = {}): ServerInput => ({ name, datacenter: 'dc1', tier: 'edge', cpu: 8, memory: 32 * GI, ...o });
const fn = (id: string, cpu = 1, o: Partial<FunctionRequest> = {}): FunctionRequest => ({ id, cpu, memory: GI, bandwidth: 0, ...o });

test('policy/scheduling: power increase, allocation score, Dijkstra', () => {
  assert.equal(powerIncrease(HP_ML110_G5, 8, 0, 4), powerAt(HP_ML110_G5, 0.5), 'an off server costs its whole draw');
  assert.ok(Math.abs(powerIncrease(HP_ML110_G5, 8, 4, 4) - (135 - 116)) < 1e-9, 'an on server costs the difference');
  assert.equal(allocationScore('least', [2, 4], [8, 16], [0, 0]), 75);
  assert.equal(allocationScore('most', [2, 4], [8, 16], [2, 4]), 50);
  assert.deepEqual([...shortestDistances([[1, 2], [0, 2, 2, 3], [1, 3]], [0])], [0, 2, 5]);
  assert.deepEqual([...shortestDistances([[1, 1], [0, 1], []], [0])], [0, 1, Infinity]);
});

test('capacity filter: cpu, memory, bandwidth; the reason names what and where', () => {
  const c = new Cluster([srv('s1', { cpu: 4, bandwidth: 1e9 })], []);
  c.assume(fn('a', 2.5), 0);
  assert.equal(capacityFilter.filter(fn('b', 1.5), 0, c), true);
  assert.equal(capacityFilter.filter(fn('b', 3), 0, c), false);
  assert.equal(capacityFilter.reason(fn('b', 3), 0, c), 'cpu 3 > free 1.5 on s1');
  assert.equal(capacityFilter.filter(fn('m', 0, { memory: 40 * GI }), 0, c), false);
  assert.equal(capacityFilter.reason(fn('m', 0, { memory: 40 * GI }), 0, c), 'memory 40Gi > free 31Gi on s1');
  assert.equal(capacityFilter.reason(fn('w', 0, { bandwidth: 2e9 }), 0, c), 'bandwidth 2Gbps > free 1Gbps on s1');
  // A server without a bandwidth capacity does not account bandwidth.
  const d = new Cluster([srv('s2')], []);
  assert.equal(capacityFilter.filter(fn('w', 0, { bandwidth: 1e12 }), 0, d), true);
  c.forget('a');
  assert.equal(c.free(0, 0), 4, 'forget releases');
});

test('tier and datacenter filters narrow candidates from indexes', () => {
  const c = new Cluster([srv('a', { tier: 'edge', datacenter: 'e1' }), srv('b', { tier: 'central', datacenter: 'c1' }), srv('c', { tier: 'edge', datacenter: 'e2' })], []);
  const r = fn('x', 1, { tiers: new Set(['edge']), datacenters: new Set(['e2']) });
  assert.deepEqual(tierFilter.candidates?.(r, c), [0, 2]);
  assert.deepEqual(datacenterFilter.candidates?.(r, c), [2]);
  assert.equal(tierFilter.filter(r, 1, c), false);
  assert.equal(tierFilter.reason(r, 1, c), 'tier central not in [edge] on b');
  assert.equal(datacenterFilter.reason(r, 0, c), 'datacenter e1 not in [e2] on a');
  const s = new Scheduler(c);
  const res = s.schedule(r);
  assert.ok(res.ok && res.server === 'c');
});

test('anti-affinity filter: members of a group never share a server', () => {
  const c = new Cluster([srv('s1'), srv('s2')], []);
  c.assume(fn('n/a', 1, { antiAffinity: ['g'] }), 0);
  const b = fn('n/b', 1, { antiAffinity: ['g'] });
  assert.equal(antiAffinityFilter.filter(b, 0, c), false);
  assert.equal(antiAffinityFilter.filter(b, 1, c), true);
  assert.equal(antiAffinityFilter.reason(b, 0, c), 'n/a already on s1 (group g)');
});

test('latency filter: shortest-latency path over server and datacenter links', () => {
  // dcA —2ms— dcB —3ms— dcC, and a direct 10ms dcA—dcC: A→C is 5ms via B.
  const c = new Cluster([srv('a', { datacenter: 'A' }), srv('b', { datacenter: 'B' }), srv('c', { datacenter: 'C' })], [
    { endpoints: ['A', 'B'], latencyMs: 2 },
    { endpoints: ['B', 'C'], latencyMs: 3 },
    { endpoints: ['A', 'C'], latencyMs: 10 },
  ]);
  assert.equal(c.latency(0, 2), 5);
  assert.equal(c.latency(2, 0), 5);
  c.assume(fn('n/x'), 0);
  const y = fn('n/y', 1, { latency: [{ peer: 'n/x', maxMs: 4 }] });
  assert.equal(latencyFilter.filter(y, 1, c), true);
  assert.equal(latencyFilter.filter(y, 2, c), false);
  assert.equal(latencyFilter.reason(y, 2, c), 'latency to n/x on a is 5ms > 4ms from c');
  const lone = new Cluster([srv('a', { datacenter: 'A' }), srv('z', { datacenter: 'Z' })], []);
  lone.assume(fn('n/x'), 0);
  assert.match(latencyFilter.reason(y, 1, lone), /unbounded \(no path\)/);
});

test('energy score prefers servers already on, then the smallest power increase', () => {
  const c = new Cluster([srv('off', { power: HP_ML110_G5 }), srv('on', { power: HP_ML110_G5 }), srv('on-g4', { power: HP_ML110_G4 })], []);
  c.assume(fn('busy', 2), 1);
  c.assume(fn('busy2', 2), 2);
  const r = fn('new', 1);
  const off = energyScore.score(r, 0, c);
  const on = energyScore.score(r, 1, c);
  assert.ok(on > off, `on ${on} > off ${off}`);
  assert.ok(Math.abs(on - 100 * (1 - powerIncrease(HP_ML110_G5, 8, 2, 1) / 135)) < 1e-9, 'the policy function\'s power increase');
  assert.ok(Math.abs(off - 100 * (1 - powerIncrease(HP_ML110_G5, 8, 0, 1) / 135)) < 1e-9);
  const s = new Scheduler(c, { scores: [{ plugin: energyScore, weight: 1 }], percentageOfNodesToScore: 100 });
  const res = s.schedule(r);
  // G4 at 25 %→37.5 %: +3.45 W; G5: +5 W.
  assert.ok(res.ok && res.server === 'on-g4', JSON.stringify(res));
});

test('balance score: least allocated spreads, most allocated packs (weights configurable)', () => {
  const mk = (): Cluster => {
    const c = new Cluster([srv('s1'), srv('s2')], []);
    c.assume(fn('x', 4), 0);
    return c;
  };
  const least = new Scheduler(mk(), { scores: [{ plugin: balanceScore('least'), weight: 1 }] });
  const most = new Scheduler(mk(), { scores: [{ plugin: balanceScore('most'), weight: 1 }] });
  const a = least.schedule(fn('y', 1));
  const b = most.schedule(fn('y', 1));
  assert.ok(a.ok && a.server === 's2');
  assert.ok(b.ok && b.server === 's1');
  // Weighted: packing outweighs spreading 3:1.
  const mixed = new Scheduler(mk(), { scores: [{ plugin: balanceScore('least'), weight: 1 }, { plugin: balanceScore('most'), weight: 3 }] });
  const m = mixed.schedule(fn('y', 1));
  assert.ok(m.ok && m.server === 's1');
});

test('unschedulable: which plugin refused on which servers, counted, first reasons listed', () => {
  const servers: ServerInput[] = [];
  for (let i = 1; i <= 5; i++) servers.push(srv(`s${i}`, { cpu: 4 }));
  for (let i = 6; i <= 8; i++) servers.push(srv(`s${i}`, { tier: 'central', datacenter: 'core' }));
  const c = new Cluster(servers, []);
  for (let i = 0; i < 5; i++) c.assume(fn(`busy${i}`, 2.5), i);
  const s = new Scheduler(c);
  const r = s.schedule(fn('t/web/r1', 3, { tiers: new Set(['edge']) }));
  assert.equal(r.ok, false);
  if (r.ok) return;
  const u = r.unschedulable;
  assert.equal(u.message, '0/8 servers fit t/web/r1: capacity refused 5 (cpu 3 > free 1.5 on s1, cpu 3 > free 1.5 on s2, cpu 3 > free 1.5 on s3, ...), tier refused 3 (tier central not in [edge] on s6, tier central not in [edge] on s7, tier central not in [edge] on s8)');
  assert.deepEqual(u.refusals.map((x) => [x.plugin, x.count]), [['capacity', 5], ['tier', 3]]);
  const e = new UnschedulableError(u);
  assert.equal(e.name, 'UnschedulableError');
  assert.equal(e.detail.function, 't/web/r1');
  assert.equal(new Scheduler(new Cluster([], [])).schedule(fn('x')).ok, false);
});

test('gang: all or none — a failing member rolls every reservation back', () => {
  const c = new Cluster([srv('s1', { cpu: 4 }), srv('s2', { cpu: 4 })], []);
  const s = new Scheduler(c);
  const before = Array.from(c.used);
  const g = s.scheduleGang([fn('n/a', 3), fn('n/b', 3), fn('n/c', 3)]);
  assert.equal(g.ok, false);
  if (!g.ok) {
    assert.equal(g.rolledBack, 2);
    assert.match(g.unschedulable.message, /^0\/2 servers fit n\/c: capacity refused 2/);
  }
  assert.deepEqual(Array.from(c.used), before, 'accounting restored');
  assert.equal(c.placed.size, 0);
  const ok = s.scheduleGang([fn('n/a', 3), fn('n/b', 3)]);
  assert.ok(ok.ok && new Set(ok.placements.values()).size === 2);
});

test('gang: connected functions respect latency bounds; a bad first choice is retried with another anchor', () => {
  // a1 (dc A) is far from everything; b1, b2 (dc B) are 1 ms apart; the anchor prefers a1 (emptiest).
  const c = new Cluster([srv('a1', { datacenter: 'A', cpu: 64 }), srv('b1', { datacenter: 'B' }), srv('b2', { datacenter: 'B' })], [{ endpoints: ['A', 'B'], latencyMs: 20 }], { intraDatacenterMs: 0.5 });
  const reqs = [fn('n/x', 1, { latency: [{ peer: 'n/y', maxMs: 2 }] }), fn('n/y', 6, { latency: [{ peer: 'n/x', maxMs: 2 }], antiAffinity: ['g'] }), fn('n/z', 6, { latency: [{ peer: 'n/y', maxMs: 2 }], antiAffinity: ['g'] })];
  assert.deepEqual(gangOrder(reqs).map((r) => r.id), ['n/y', 'n/x', 'n/z']);
  const s = new Scheduler(c, { scores: [{ plugin: balanceScore('least'), weight: 1 }] });
  const g = s.scheduleGang(reqs);
  assert.ok(g.ok, g.ok ? '' : g.unschedulable.message);
  if (!g.ok) return;
  const at = (id: string): number => c.index.get(g.placements.get(id) as string) as number;
  for (const r of reqs) for (const b of r.latency ?? []) assert.ok(c.latency(at(r.id), at(b.peer)) <= b.maxMs, `${r.id} ↔ ${b.peer}`);
  assert.notEqual(at('n/y'), at('n/z'));
});

test('property: anti-affinity is never violated and capacity never exceeded', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ cpu: fc.integer({ min: 1, max: 16 }), tier: fc.constantFrom('edge', 'central') }), { minLength: 1, maxLength: 12 }),
      fc.array(
        fc.record({
          cpus: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 6 }),
          standby: fc.integer({ min: 0, max: 2 }),
          group: fc.boolean(),
          tier: fc.option(fc.constantFrom('edge', 'central'), { nil: undefined }),
        }),
        { minLength: 1, maxLength: 10 },
      ),
      fc.integer({ min: 0, max: 100 }),
      (servers, nets, pct) => {
        const c = new Cluster(servers.map((s, i) => srv(`s${i}`, { cpu: s.cpu, tier: s.tier })), []);
        const sched = new Scheduler(c, { percentageOfNodesToScore: pct, minFeasibleNodesToFind: 2 });
        nets.forEach((n, k) => {
          const reqs: FunctionRequest[] = [];
          n.cpus.forEach((cpu, i) => {
            const id = `ns/n${k}/f${i}`;
            const groups = [...(n.group ? [`n${k}#aa`] : []), ...(n.standby > 0 ? [`${id}#standby`] : [])];
            const tiers = n.tier ? { tiers: new Set([n.tier]) } : {};
            reqs.push(fn(id, cpu, { antiAffinity: groups, ...tiers }));
            for (let j = 1; j <= n.standby; j++) reqs.push(fn(`${id}~standby-${j}`, cpu, { antiAffinity: [`${id}#standby`], ...tiers }));
          });
          const before = c.placed.size;
          const g = sched.scheduleGang(reqs);
          assert.equal(c.placed.size, before + (g.ok ? reqs.length : 0), 'all or none');
        });
        const seen = new Map<string, Set<number>>();
        for (const [id, p] of c.placed) {
          for (const g of p.req.antiAffinity ?? []) {
            const s = seen.get(g) ?? new Set<number>();
            assert.ok(!s.has(p.server), `${id}: group ${g} twice on server ${p.server}`);
            s.add(p.server);
            seen.set(g, s);
          }
          if (p.req.tiers) assert.ok(p.req.tiers.has(c.tier[p.server] as string));
        }
        for (let s = 0; s < c.size; s++) assert.ok((c.used[s * 3] as number) <= (c.capacity[s * 3] as number) + 1e-9, `cpu of s${s}`);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: a placed gang respects every latency bound between its functions', () => {
  let placedSome = false;
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 6 }),
      fc.array(fc.tuple(fc.nat(5), fc.nat(5), fc.integer({ min: 1, max: 20 })), { maxLength: 8 }),
      fc.array(fc.tuple(fc.nat(4), fc.nat(4), fc.integer({ min: 0, max: 15 })), { minLength: 1, maxLength: 6 }),
      (dcs, dcLinks, bounds) => {
        const servers = Array.from({ length: dcs * 2 }, (_, i) => srv(`s${i}`, { datacenter: `d${i % dcs}`, cpu: 4 }));
        const links = dcLinks.filter(([a, b]) => a < dcs && b < dcs && a !== b).map(([a, b, l]) => ({ endpoints: [`d${a}`, `d${b}`] as const, latencyMs: l }));
        const c = new Cluster(servers, links, { intraDatacenterMs: 0.5 });
        const reqs = Array.from({ length: 5 }, (_, i) => fn(`n/f${i}`, 1.5, {
          // one-way bounds: the gang makes them hold both ways
          latency: bounds.flatMap(([a, b, ms]) => (a === i && b !== i ? [{ peer: `n/f${b}`, maxMs: ms }] : [])),
        }));
        const g = new Scheduler(c, { gangAttempts: 4 }).scheduleGang(reqs);
        if (!g.ok) {
          assert.equal(c.placed.size, 0);
          return;
        }
        const at = (id: string): number => c.index.get(g.placements.get(id) as string) as number;
        for (const r of reqs) for (const b of r.latency ?? []) assert.ok(c.latency(at(r.id), at(b.peer)) <= b.maxMs + 1e-9, `${r.id} ↔ ${b.peer} ≤ ${b.maxMs}`);
        placedSome = true;
      },
    ),
    { numRuns: 300 },
  );
  assert.ok(placedSome, 'some gangs were placed');
});

test('sampling: feasible servers to find follow percentageOfNodesToScore (adaptive by default)', () => {
  const c = new Cluster(Array.from({ length: 1000 }, (_, i) => srv(`s${i}`)), []);
  assert.equal(new Scheduler(c).numFeasibleToFind(1000), 420);
  assert.equal(new Scheduler(c).numFeasibleToFind(50), 50);
  assert.equal(new Scheduler(c, { percentageOfNodesToScore: 10 }).numFeasibleToFind(1000), 100);
  assert.equal(new Scheduler(c, { percentageOfNodesToScore: 100 }).numFeasibleToFind(1000), 1000);
});

test('from manifests: the fixture network is scheduled as a gang with its standbys apart', () => {
  const { resources, issues } = parseManifestText(GOOD);
  assert.deepEqual(issues, []);
  const res = resources.map((r) => r.resource as Resource);
  const cluster = clusterFromResources(res);
  assert.deepEqual(cluster.names, ['s1', 's2']);
  assert.equal(cluster.tier[0], 'edge');
  assert.equal(cluster.capacity[1], 64 * GI);
  const net = res.find((r) => r.kind === 'SoftwareNetwork') as Resource;
  const reqs = networkRequests(net);
  assert.deepEqual(reqs.map((r) => r.id), ['tenant-a/web/r1', 'tenant-a/web/r1~standby-1', 'tenant-a/web/fw', 'tenant-a/web/fw~standby-1', 'tenant-a/web/lb', 'tenant-a/web/lb~standby-1']);
  assert.equal(reqs[0]?.cpu, 0.5);
  assert.deepEqual(reqs[0]?.latency, [{ peer: 'tenant-a/web/lb', maxMs: 1 }, { peer: 'tenant-a/web/lb', maxMs: 5 }]);
  const g = new Scheduler(cluster).scheduleGang(reqs);
  assert.ok(g.ok, g.ok ? '' : g.unschedulable.message);
  if (!g.ok) return;
  for (const f of ['r1', 'fw', 'lb']) assert.notEqual(g.placements.get(`tenant-a/web/${f}`), g.placements.get(`tenant-a/web/${f}~standby-1`), `${f} and its standby apart`);
  assert.notEqual(g.placements.get('tenant-a/web/r1'), g.placements.get('tenant-a/web/fw'), 'antiAffinity [r1, fw]');
});

test('clusterFromResources: a datacenter whose servers are all left out (agents lost) still joins links; links to missing servers are dropped', () => {
  const text = `apiVersion: swnet.io/v1
kind: Datacenter
metadata: { name: central }
spec: { tier: central }
---
apiVersion: swnet.io/v1
kind: Datacenter
metadata: { name: edge }
spec: { tier: edge }
---
apiVersion: swnet.io/v1
kind: Datacenter
metadata: { name: regional }
spec: { tier: regional }
---
apiVersion: swnet.io/v1
kind: Server
metadata: { name: c1 }
spec: { datacenter: central, capacity: { cpu: 4, memory: 8Gi } }
---
apiVersion: swnet.io/v1
kind: Server
metadata: { name: r1 }
spec: { datacenter: regional, capacity: { cpu: 4, memory: 8Gi } }
---
apiVersion: swnet.io/v1
kind: Link
metadata: { name: central-edge }
spec: { endpoints: [central, edge], latency: 3ms }
---
apiVersion: swnet.io/v1
kind: Link
metadata: { name: edge-regional }
spec: { endpoints: [edge, regional], latency: 2ms }
---
apiVersion: swnet.io/v1
kind: Link
metadata: { name: c1-e1 }
spec: { endpoints: [c1, e1], latency: 1ms }
`;
  const { resources, issues } = parseManifestText(text, 'x.yaml');
  assert.deepEqual(issues.filter((i) => !/e1/.test(i.message)), []);
  const cluster = clusterFromResources(resources.map((r) => r.resource));
  // central → edge (no server left) → regional: 5 ms.
  assert.equal(cluster.latency(cluster.index.get('c1') as number, cluster.index.get('r1') as number), 5);
});
