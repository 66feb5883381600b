import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRoutes, RoutingError, SdnRouting, type RoutingResult } from './routing.js';
import { lanOf, lineNetwork, Wire } from './routing-lab.js';
import { Router, routerFactory } from '../functions/router.js';
import { udpFrame } from '../packet/frames.js';
import { seededRandom } from '../policy/rng.js';
import type { SoftwareNetworkSpec } from './manifest/types.js';

/** Builds router instances for a spec, pushes its computed routes, cables them as its links say. */
function lab(spec: SoftwareNetworkSpec, result: RoutingResult, got: { fn: number; frame: Uint8Array }[]): { wire: Wire; routers: Map<string, Router> } {
  const routers = new Map<string, Router>();
  const list: Router[] = [];
  for (const f of spec.functions) {
    const r = routerFactory.create(f.config) as Router;
    r.setRoutes(result.routes.get(f.name) ?? []);
    routers.set(f.name, r);
    list.push(r);
  }
  const wire = new Wire(list, (fn, _port, frame) => got.push({ fn, frame: frame.slice() }));
  const idx = new Map(spec.functions.map((f, i) => [f.name, i]));
  for (const l of spec.links ?? []) {
    const [a, b] = l.endpoints.map((e) => {
      const [fn, port] = e.split(':') as [string, string];
      const r = routers.get(fn) as Router;
      return [idx.get(fn) as number, r.ports.findIndex((p) => p.name === port)] as const;
    }) as [readonly [number, number], readonly [number, number]];
    wire.connect(a[0], a[1], b[0], b[1]);
  }
  return { wire, routers };
}

function datagram(from: number, to: number, v6: boolean, seq = 0): Uint8Array {
  const s = lanOf(from);
  const d = lanOf(to);
  return udpFrame({ srcMac: s.hostMac, dstMac: s.routerMac, src: v6 ? s.host6 : s.host4, dst: v6 ? d.host6 : d.host4, srcPort: 1000 + seq, dstPort: 2000, ttl: 255, payload: new Uint8Array([from & 255, to & 255]) });
}

// Destination IP of an Ethernet/IPv4 or IPv6 frame, as text of its last two bytes' host index.
function dstHost(frame: Uint8Array): { v6: boolean; lanByte: number; src0: number; ttl: number } {
  const v6 = frame[12] === 0x86 && frame[13] === 0xdd;
  return v6 ? { v6, lanByte: frame[14 + 24 + 7] as number, src0: frame[14 + 8 + 7] as number, ttl: frame[14 + 7] as number } : { v6, lanByte: frame[14 + 18] as number, src0: frame[14 + 14] as number, ttl: frame[14 + 8] as number };
}

test('routing: 200-router line — FIBs match BFS distances, next hop toward the destination', () => {
  const n = 200;
  const res = computeRoutes(lineNetwork(n), { metric: 'hops' });
  for (let i = 0; i < n; i++) {
    const fib = res.fibs.get(`r${i}`) ?? [];
    // every other router's LAN + every transit link it does not touch, in both families
    const transitsTouched = (i > 0 ? 1 : 0) + (i < n - 1 ? 1 : 0);
    assert.equal(fib.length, 2 * (n - 1 + (n - 1 - transitsTouched)), `r${i} FIB size`);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      for (const fam of [4, 6] as const) {
        const lan = lanOf(j);
        const e = fib.find((x) => x.prefix === (fam === 4 ? lan.v4 : lan.v6));
        assert.ok(e, `r${i} has a route to r${j}'s LAN (IPv${fam})`);
        assert.equal(e.cost, Math.abs(i - j));
        assert.equal(e.nexthops.length, 1);
        assert.equal(e.nexthops[0]?.neighbor, `r${j > i ? i + 1 : i - 1}`);
        assert.equal(e.nexthops[0]?.dev, j > i ? 'right' : 'left');
      }
    }
    assert.deepEqual(res.unreachable.get(`r${i}`), []);
  }
  // The pushed form is the router's fast shape for IPv4 ({prefix, via}).
  const r5 = res.routes.get('r5') ?? [];
  assert.deepEqual(r5.find((r) => r.prefix === lanOf(9).v4), { prefix: lanOf(9).v4, via: '10.0.0.22' });
});

// 32 routers: each router instance allocates a 64 MiB DIR-24-8 table, whose external-memory GCs
// dominate building many of them in one test process (bench/control-scheduler.ts runs 200).
test('routing: pushed into real routers, datagrams cross a 32-router line end to end (IPv4 and IPv6) and back', () => {
  const n = 32;
  const spec = lineNetwork(n);
  const res = computeRoutes(spec);
  const got: { fn: number; frame: Uint8Array }[] = [];
  const { wire } = lab(spec, res, got);
  for (const v6 of [false, true]) {
    got.length = 0;
    wire.inject(0, 0, [datagram(0, n - 1, v6)]);
    wire.run();
    wire.inject(n - 1, 0, [datagram(n - 1, 0, v6)]);
    wire.run();
    assert.equal(got.length, 2, `IPv${v6 ? 6 : 4}: both directions delivered`);
    assert.equal(got[0]?.fn, n - 1);
    assert.equal(got[1]?.fn, 0);
    const h = dstHost(got[0]?.frame as Uint8Array);
    assert.equal(h.v6, v6);
    assert.equal(h.ttl, 255 - n, 'one TTL/hop-limit decrement per router');
  }
  // Then every router's host reaches a sample of the others (neighbours are resolved by now).
  got.length = 0;
  const frames: number[] = [];
  for (let i = 0; i < n; i++) {
    const batch: Uint8Array[] = [];
    for (const j of [0, 7, 17, 25, n - 1]) if (j !== i) { batch.push(datagram(i, j, (i + j) % 2 === 1)); frames.push(j); }
    wire.inject(i, 0, batch);
    wire.run();
  }
  assert.equal(got.length, frames.length, 'every datagram delivered');
  const byDest = new Map<number, number>();
  for (const g of got) byDest.set(g.fn, (byDest.get(g.fn) ?? 0) + 1);
  for (const j of [0, 7, 17, 25, n - 1]) assert.equal(byDest.get(j), frames.filter((x) => x === j).length);
});

/** A random connected graph of routers, each with a LAN; link costs as latencies. */
function randomNetwork(seed: number, n: number, extra: number): { spec: SoftwareNetworkSpec; cost: number[][] } {
  const rnd = seededRandom(seed);
  const edges: [number, number, number][] = [];
  const has = new Set<string>();
  const add = (a: number, b: number): void => {
    if (a === b || has.has(`${Math.min(a, b)}-${Math.max(a, b)}`)) return;
    has.add(`${Math.min(a, b)}-${Math.max(a, b)}`);
    edges.push([a, b, 1 + Math.floor(rnd() * 4)]);
  };
  for (let i = 1; i < n; i++) add(i, Math.floor(rnd() * i));
  for (let k = 0; k < extra; k++) add(Math.floor(rnd() * n), Math.floor(rnd() * n));
  const ifs: { name: string; mac: string; addresses: string[] }[][] = Array.from({ length: n }, (_, i) => [
    { name: 'lan', mac: `02:00:00:00:${i.toString(16).padStart(2, '0')}:00`, addresses: [`${lanOf(i).router4}/24`, `${lanOf(i).router6}/64`] },
  ]);
  const links: NonNullable<SoftwareNetworkSpec['links']> = [];
  edges.forEach(([a, b, c], k) => {
    for (const [x, side] of [[a, 1], [b, 2]] as const) {
      const list = ifs[x] as { name: string; mac: string; addresses: string[] }[];
      list.push({ name: `e${k}`, mac: `02:00:00:00:${x.toString(16).padStart(2, '0')}:${list.length.toString(16).padStart(2, '0')}`, addresses: [`10.1.${k}.${side}/24`, `2001:db8:3:${k.toString(16)}::${side}/64`] });
    }
    links.push({ endpoints: [`r${a}:e${k}`, `r${b}:e${k}`], latency: `${c}ms` });
  });
  const cost = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 0 : Infinity)));
  for (const [a, b, c] of edges) {
    (cost[a] as number[])[b] = c * 1000;
    (cost[b] as number[])[a] = c * 1000;
  }
  const spec: SoftwareNetworkSpec = {
    functions: ifs.map((interfaces, i) => ({ name: `r${i}`, kind: 'router', config: { interfaces, neighbor: { maxEntries: 64, holdTotal: 64 } } })),
    links,
  };
  return { spec, cost };
}

function floyd(cost: number[][]): number[][] {
  const n = cost.length;
  const d = cost.map((r) => r.slice());
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const v = (d[i]?.[k] as number) + (d[k]?.[j] as number);
    if (v < (d[i]?.[j] as number)) (d[i] as number[])[j] = v;
  }
  return d;
}

test('routing: random graphs — costs equal Floyd–Warshall, next hops are exactly the shortest-path (ECMP) neighbours', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const n = 5 + (seed % 20);
    const { spec, cost } = randomNetwork(seed, n, n);
    const d = floyd(cost);
    const res = computeRoutes(spec);
    for (let i = 0; i < n; i++) {
      const fib = res.fibs.get(`r${i}`) ?? [];
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        for (const fam of [4, 6]) {
          const e = fib.find((x) => x.prefix === (fam === 4 ? lanOf(j).v4 : lanOf(j).v6));
          assert.ok(e, `seed ${seed}: r${i} → LAN ${j}`);
          assert.equal(e.cost, d[i]?.[j], `seed ${seed}: cost r${i} → r${j}`);
          const want = new Set<string>();
          for (let k = 0; k < n; k++) if (k !== i && (cost[i]?.[k] as number) + (d[k]?.[j] as number) === d[i]?.[j]) want.add(`r${k}`);
          assert.deepEqual(new Set(e.nexthops.map((h) => h.neighbor)), want, `seed ${seed}: next hops r${i} → r${j}`);
        }
      }
    }
  }
});

test('routing: ECMP on a diamond — two next hops, accepted by the router, traffic spread over both', () => {
  // r0 ─ r1 ─ r3 and r0 ─ r2 ─ r3, equal costs.
  const mk = (i: number, ports: [string, string][]): SoftwareNetworkSpec['functions'][number] => ({
    name: `r${i}`, kind: 'router',
    config: { interfaces: [{ name: 'lan', mac: `02:00:00:00:0${i}:00`, addresses: [`${lanOf(i).router4}/24`, `${lanOf(i).router6}/64`] }, ...ports.map(([name, a], k) => ({ name, mac: `02:00:00:00:0${i}:0${k + 1}`, addresses: a.split(' ') }))],
      neighbors: [{ interface: 'lan', address: lanOf(i).host4, mac: `02:01:00:00:0${i}:00` }] },
  });
  const spec: SoftwareNetworkSpec = {
    functions: [
      mk(0, [['a', '10.0.1.1/30 2001:db8:9:1::1/64'], ['b', '10.0.2.1/30 2001:db8:9:2::1/64']]),
      mk(1, [['a', '10.0.1.2/30 2001:db8:9:1::2/64'], ['b', '10.0.3.1/30 2001:db8:9:3::1/64']]),
      mk(2, [['a', '10.0.2.2/30 2001:db8:9:2::2/64'], ['b', '10.0.4.1/30 2001:db8:9:4::1/64']]),
      mk(3, [['a', '10.0.3.2/30 2001:db8:9:3::2/64'], ['b', '10.0.4.2/30 2001:db8:9:4::2/64']]),
    ],
    links: [{ endpoints: ['r0:a', 'r1:a'] }, { endpoints: ['r0:b', 'r2:a'] }, { endpoints: ['r1:b', 'r3:a'] }, { endpoints: ['r2:b', 'r3:b'] }],
  };
  const res = computeRoutes(spec);
  const e = res.fibs.get('r0')?.find((x) => x.prefix === lanOf(3).v4);
  assert.deepEqual(e?.nexthops.map((h) => [h.neighbor, h.via, h.dev]), [['r1', '10.0.1.2', 'a'], ['r2', '10.0.2.2', 'b']]);
  assert.deepEqual(res.routes.get('r0')?.find((x) => x.prefix === lanOf(3).v4), { prefix: lanOf(3).v4, via: ['10.0.1.2', '10.0.2.2'] });
  const e6 = res.fibs.get('r0')?.find((x) => x.prefix === lanOf(3).v6);
  assert.equal(e6?.nexthops.length, 2);
  const got: { fn: number; frame: Uint8Array }[] = [];
  const { wire } = lab(spec, res, got);
  const frames = Array.from({ length: 64 }, (_, k) => datagram(0, 3, false, k));
  wire.inject(0, 0, frames.slice(0, 1));
  wire.run(); // resolves the neighbours
  for (let k = 1; k < frames.length; k += 8) {
    wire.inject(0, 0, frames.slice(k, k + 8)); // within the hold queue while the second path resolves
    wire.run();
  }
  assert.equal(got.filter((g) => g.fn === 3).length, 64);
  const r1 = wire.fns[1] as Router;
  const r2 = wire.fns[2] as Router;
  const fwd = (r: Router): number => (r.counters()['forwarded'] as number);
  assert.ok(fwd(r1) > 8 && fwd(r2) > 8, `both paths used: ${fwd(r1)} / ${fwd(r2)}`);
});

test('routing: a link failure is routed around on a ring, only changed routers are pushed, traffic flows again', () => {
  // ring of 6 routers: r_i:right ↔ r_{i+1}:left, closing r5 ↔ r0
  const n = 6;
  const base = lineNetwork(n);
  const fns = base.functions.map((f, i) => {
    const cfg = f.config as { interfaces: { name: string; mac: string; addresses: string[] }[] };
    const interfaces = cfg.interfaces.slice();
    if (i === 0) interfaces.push({ name: 'left', mac: '02:00:00:00:00:09', addresses: ['10.9.0.2/30', '2001:db8:9::2/64'] });
    if (i === n - 1) interfaces.push({ name: 'right', mac: `02:00:00:00:0${n - 1}:09`, addresses: ['10.9.0.1/30', '2001:db8:9::1/64'] });
    return { ...f, config: { ...cfg, interfaces } };
  });
  const spec: SoftwareNetworkSpec = { functions: fns, links: [...(base.links ?? []), { endpoints: [`r${n - 1}:right`, 'r0:left'] }] };
  const sdn = new SdnRouting(spec, { metric: 'hops' });
  const first = sdn.compute();
  assert.equal(first.changed.length, n);
  const to2 = (r: RoutingResult): string | undefined => r.fibs.get('r0')?.find((x) => x.prefix === lanOf(2).v4)?.nexthops.map((h) => h.neighbor).join();
  assert.equal(to2(first.result), 'r1');
  const got: { fn: number; frame: Uint8Array }[] = [];
  const { wire, routers } = lab(spec, first.result, got);
  wire.inject(0, 0, [datagram(0, 2, false)]);
  wire.run();
  assert.equal(got.length, 1);
  // link 1 is r1 ↔ r2
  sdn.failLink(1);
  const pushed = sdn.push(routers);
  assert.ok(pushed.length > 0 && pushed.length <= n);
  const after = sdn.compute();
  assert.deepEqual(after.changed, [], 'nothing changes without a new failure');
  assert.equal(to2(after.result), 'r5', 'r0 now reaches r2 the other way round');
  assert.equal(after.result.fibs.get('r0')?.find((x) => x.prefix === lanOf(2).v4)?.cost, 4);
  // The cable is cut too: traffic takes the pushed routes, on the same router instances.
  got.length = 0;
  wire.disconnect(1, 2);
  wire.inject(0, 0, [datagram(0, 2, false)]);
  wire.run();
  wire.inject(0, 0, [datagram(0, 2, true)]);
  wire.run();
  assert.equal(got.filter((g) => g.fn === 2).length, 2, 'delivered around the ring after the failure');
  assert.equal(dstHost(got[0]?.frame as Uint8Array).ttl, 255 - 5, 'over 5 routers');
  // Node failure: r5 down as well → r0 cannot reach r2 any more, and says so.
  sdn.failNode('r5');
  const dead = sdn.compute();
  assert.ok(dead.result.unreachable.get('r0')?.includes(lanOf(2).v4));
  sdn.restoreNode('r5');
  sdn.restoreLink(1);
  assert.equal(to2(sdn.compute().result), 'r1', 'restored');
});

test('routing: topology errors are RoutingErrors naming the function', () => {
  const spec = lineNetwork(3);
  assert.throws(() => computeRoutes({ ...spec, links: [{ endpoints: ['r0:right', 'zz:left'] }] }), (e: Error) => e.name === 'RoutingError' && /no function named zz/.test(e.message));
  assert.throws(() => computeRoutes({ ...spec, links: [{ endpoints: ['r0:nope', 'r1:left'] }] }), (e: Error) => e instanceof RoutingError && /no interface nope/.test(e.message));
  const bad = { ...spec, functions: [{ name: 'r0', kind: 'router', config: { interfaces: [{ name: 'x', mac: 'zz' }] } }] };
  assert.throws(() => computeRoutes(bad), (e: Error) => e.name === 'RoutingError' && /router r0: interfaces\[0\]\.mac/.test(e.message));
});

test('routing: routers on a switched LAN are all neighbours (hosts on the segment ignored)', () => {
  const r = (i: number, addr: string): SoftwareNetworkSpec['functions'][number] => ({
    name: `r${i}`, kind: 'router', config: { interfaces: [{ name: 'lan', mac: `02:00:00:00:0${i}:00`, addresses: [`${lanOf(i).router4}/24`] }, { name: 'up', mac: `02:00:00:00:0${i}:01`, addresses: [addr] }] },
  });
  const spec: SoftwareNetworkSpec = {
    functions: [r(0, '10.5.0.1/24'), r(1, '10.5.0.2/24'), r(2, '10.5.0.3/24'), { name: 'sw', kind: 'switch', config: { ports: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }] } }, { name: 'h', kind: 'traffic-sink', config: {} }],
    links: [{ endpoints: ['r0:up', 'sw:a'] }, { endpoints: ['r1:up', 'sw:b'] }, { endpoints: ['r2:up', 'sw:c'] }, { endpoints: ['h', 'sw:d'] }],
  };
  const res = computeRoutes(spec);
  assert.deepEqual(res.routes.get('r0'), [{ prefix: lanOf(1).v4, via: '10.5.0.2' }, { prefix: lanOf(2).v4, via: '10.5.0.3' }]);
  // the switch down: everything beyond is unreachable
  assert.deepEqual(computeRoutes(spec, { failedNodes: ['sw'] }).unreachable.get('r0'), [lanOf(1).v4, lanOf(2).v4]);
});

test('routing: IPv6 over unnumbered transit uses the neighbour link-local address with dev, and forwards', () => {
  const r = (i: number, t4: string): SoftwareNetworkSpec['functions'][number] => ({
    name: `r${i}`, kind: 'router',
    config: {
      interfaces: [
        { name: 'lan', mac: `02:00:00:00:0${i}:00`, addresses: [`${lanOf(i).router4}/24`, `${lanOf(i).router6}/64`] },
        { name: 't', mac: `02:00:00:00:0${i}:01`, addresses: [t4] },
      ],
      neighbors: [{ interface: 'lan', address: lanOf(i).host6, mac: `02:01:00:00:0${i}:00` }],
    },
  });
  const spec: SoftwareNetworkSpec = { functions: [r(0, '10.7.0.1/30'), r(1, '10.7.0.2/30')], links: [{ endpoints: ['r0:t', 'r1:t'] }] };
  const res = computeRoutes(spec);
  // EUI-64 of 02:00:00:00:01:01 → fe80::ff:fe00:101
  assert.deepEqual(res.routes.get('r0')?.find((x) => x.prefix === lanOf(1).v6), { prefix: lanOf(1).v6, via: 'fe80::ff:fe00:101', dev: 't' });
  const got: { fn: number; frame: Uint8Array }[] = [];
  const { wire } = lab(spec, res, got);
  wire.inject(0, 0, [datagram(0, 1, true)]);
  wire.run();
  assert.equal(got.length, 1);
  assert.equal(got[0]?.fn, 1);
});
