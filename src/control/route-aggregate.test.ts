import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { aggregateRoutes } from './route-aggregate.js';
import { computeRoutes } from './routing.js';
import { lanOf, lineNetwork, Wire } from './routing-lab.js';
import { routerFactory, type Router } from '../functions/router.js';
import { udpFrame } from '../packet/frames.js';
import { parseIpv4, parseIpv6, parsePrefix } from '../functions/config.js';
import type { RouteSpec } from '../functions/router.js';

const parsed = new WeakMap<RouteSpec, ReturnType<typeof parsePrefix>>();
/** Reference longest-prefix match: the matching route's next hops as text, or 'none'. */
function lpm(routes: readonly RouteSpec[], addr: Uint8Array | number): string {
  let best = -1;
  let hop = 'none';
  for (const r of routes) {
    let p = parsed.get(r);
    if (p === undefined) parsed.set(r, (p = parsePrefix(r.prefix)));
    if (typeof p === 'string' || p.len <= best) continue;
    let inside = true;
    if (p.family === 4) {
      if (typeof addr !== 'number') continue;
      const mask = p.len === 0 ? 0 : (0xffffffff << (32 - p.len)) >>> 0;
      inside = ((addr & mask) >>> 0) === p.addr;
    } else {
      if (typeof addr === 'number') continue;
      for (let i = 0; i < p.len && inside; i++) inside = (((addr[i >>> 3] as number) ^ (p.addr[i >>> 3] as number)) >>> (7 - (i & 7))) % 2 === 0;
    }
    if (!inside) continue;
    best = p.len;
    hop = `${r.type ?? ''} ${JSON.stringify(r.via ?? null)} ${r.dev ?? ''} ${JSON.stringify(r.nexthops ?? null)}`;
  }
  return hop;
}

const v4 = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

test('route aggregation: siblings with the same next hop merge, up the tree, in the input order', () => {
  const via = '10.9.0.1';
  const got = aggregateRoutes([
    { prefix: '10.0.0.0/24', via },
    { prefix: '10.0.1.0/24', via },
    { prefix: '10.0.2.0/24', via },
    { prefix: '10.0.3.0/24', via },
    { prefix: '10.0.4.0/24', via: '10.9.0.2' },
    { prefix: '2001:db8:1:2::/64', via: 'fe80::1', dev: 'left' },
    { prefix: '2001:db8:1:3::/64', via: 'fe80::1', dev: 'left' },
  ]);
  assert.deepEqual(got, [
    { prefix: '10.0.0.0/22', via },
    { prefix: '10.0.4.0/24', via: '10.9.0.2' },
    { prefix: '2001:db8:1:2::/63', via: 'fe80::1', dev: 'left' },
  ]);
});

test('route aggregation: never over a hole, another next hop, an existing or avoided prefix', () => {
  const via = '10.9.0.1';
  // 10.0.1.0/24 missing (a connected LAN): 0 and 2 are not siblings, nothing merges.
  assert.equal(aggregateRoutes([{ prefix: '10.0.0.0/24', via }, { prefix: '10.0.2.0/24', via }]).length, 2);
  assert.equal(aggregateRoutes([{ prefix: '10.0.0.0/24', via }, { prefix: '10.0.1.0/24', via: '10.9.0.2' }]).length, 2);
  // The /23 is a route of its own (shadowed by the /24s for every address): merging would replace it.
  assert.equal(aggregateRoutes([{ prefix: '10.0.0.0/24', via }, { prefix: '10.0.1.0/24', via }, { prefix: '10.0.0.0/23', via: '10.9.0.2' }]).length, 3);
  // A static /23 of the spec is added beside the computed routes and wins for its prefix.
  assert.equal(aggregateRoutes([{ prefix: '10.0.0.0/24', via }, { prefix: '10.0.1.0/24', via }], ['10.0.0.0/23']).length, 2);
  // Unparseable prefixes are left for the router to reject.
  assert.deepEqual(aggregateRoutes([{ prefix: 'nope', via }]), [{ prefix: 'nope', via }]);
});

test('route aggregation: the same longest-prefix match for every address (random IPv4 tables with static routes beside)', () => {
  // A /20 of /21…/28 prefixes over 3 gateways: dense enough that most tables merge somewhere.
  const route = fc.record({ a: fc.integer({ min: 0, max: 4095 }), len: fc.integer({ min: 21, max: 28 }), via: fc.integer({ min: 1, max: 3 }) });
  fc.assert(
    fc.property(fc.array(route, { maxLength: 120 }), fc.array(route, { maxLength: 3 }), (rs, statics) => {
      const mk = (x: { a: number; len: number; via: number }, tag: string): RouteSpec => {
        const base = 0x0a000000 + ((x.a << 0) & 0xfff);
        const mask = (0xffffffff << (32 - x.len)) >>> 0;
        return { prefix: `${v4((base & mask) >>> 0)}/${x.len}`, via: `${tag}${x.via}` };
      };
      const seen = new Set<string>();
      const computed = rs.map((x) => mk(x, '10.9.0.')).filter((r) => !seen.has(r.prefix) && seen.add(r.prefix));
      const own = statics.map((x) => mk(x, '10.8.0.')).filter((r) => !seen.has(r.prefix) && seen.add(r.prefix));
      const agg = aggregateRoutes(computed, own.map((r) => r.prefix));
      assert.ok(agg.length <= computed.length);
      for (let a = 0; a < 4096; a += 3) {
        const addr = 0x0a000000 + a;
        assert.equal(lpm([...own, ...agg], addr), lpm([...own, ...computed], addr), `address ${v4(addr)}`);
      }
    }),
    { numRuns: 60 },
  );
});

test('route aggregation: the 200-router line keeps its forwarding with ≤ 70 (~40) routes per router instead of ~800 (aggregateRoutes and computeRoutes { aggregate })', () => {
  const n = 200;
  const spec = lineNetwork(n);
  const res = computeRoutes(spec);
  const inTree = computeRoutes(spec, { aggregate: true });
  assert.ok([...inTree.fibs.values()].every((f) => f.length === 0), 'fibs left empty when aggregating');
  assert.deepEqual(inTree.unreachable, res.unreachable);
  let before = 0;
  let after = 0;
  for (const i of [0, 1, 77, 128, 199]) {
    const routes = res.routes.get(`r${i}`) ?? [];
    const agg = aggregateRoutes(routes);
    assert.deepEqual(inTree.routes.get(`r${i}`), agg, `r${i}: computeRoutes aggregates as aggregateRoutes does`);
    before += routes.length;
    after += agg.length;
    assert.ok(agg.length <= 70, `r${i}: ${agg.length} routes`);
    for (let j = 0; j < n; j++) {
      const lan = lanOf(j);
      assert.equal(lpm(agg, parseIpv4(lan.host4)), lpm(routes, parseIpv4(lan.host4)), `r${i} → r${j} IPv4`);
      assert.equal(lpm(agg, parseIpv6(lan.host6) as Uint8Array), lpm(routes, parseIpv6(lan.host6) as Uint8Array), `r${i} → r${j} IPv6`);
      // Transit addresses too (both sides of link j).
      for (const side of [1, 2]) {
        const t = 0x0a000000 + j * 4 + side;
        assert.equal(lpm(agg, t), lpm(routes, t), `r${i} → transit ${v4(t)}`);
      }
    }
  }
  assert.ok(after * 10 < before, `${before} → ${after}`);
});

test('route aggregation: computeRoutes never aggregates into a static route of the spec; a 32-router line forwards both ways with aggregated FIBs', () => {
  const spec = lineNetwork(8);
  // r7's LANs 0…5 would collapse into 10.128.0.0/22 + 10.128.4.0/23; a static /23 of its own stays alone.
  const r7 = spec.functions[7] as { config: Record<string, unknown> };
  r7.config = { ...r7.config, routes: [{ prefix: '10.128.4.0/23', via: '10.0.0.25' }] };
  const agg = computeRoutes(spec, { aggregate: true }).routes.get('r7') ?? [];
  assert.ok(!agg.some((r) => r.prefix === '10.128.4.0/23'), JSON.stringify(agg));
  assert.ok(agg.some((r) => r.prefix === '10.128.0.0/22'), JSON.stringify(agg));

  const n = 32;
  const line = lineNetwork(n);
  const res = computeRoutes(line, { aggregate: true });
  const routers = line.functions.map((f) => {
    const r = routerFactory.create(f.config) as Router;
    r.setRoutes(res.routes.get(f.name) ?? []);
    return r;
  });
  const got: number[] = [];
  const wire = new Wire(routers, (fn) => got.push(fn));
  for (let i = 0; i + 1 < n; i++) wire.connect(i, 2 - (i === 0 ? 1 : 0), i + 1, 1);
  for (const v6 of [false, true]) {
    for (const [a, b] of [[0, n - 1], [n - 1, 0], [5, 20], [20, 5]] as const) {
      got.length = 0;
      const s = lanOf(a);
      const d = lanOf(b);
      wire.inject(a, 0, [udpFrame({ srcMac: s.hostMac, dstMac: s.routerMac, src: v6 ? s.host6 : s.host4, dst: v6 ? d.host6 : d.host4, srcPort: 1000, dstPort: 2000, ttl: 255, payload: new Uint8Array(4) })]);
      wire.run();
      assert.deepEqual(got, [b], `IPv${v6 ? 6 : 4} r${a} → r${b}`);
    }
  }
});
