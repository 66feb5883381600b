/**
 * Router benchmarks (part of `npm run bench -- functions`): 64-byte frames in batches of 256 from
 * a PacketPool, one thread, each figure beside a bare loop over the same frames.
 *
 * FIBs: 100,000 IPv4 prefixes with a BGP-like length mix (mostly /24, then /22–/23, /16–/21, a few
 * shorter and a few longer than /24 so that DIR-24-8 second-level chunks are exercised), 100,000
 * IPv6 prefixes (mostly /48, then /29–/47, /56, /64, clustered under 4,000 allocation blocks as
 * RIR allocations are), each via one of 16 resolved gateways;
 * destinations are random addresses inside random installed prefixes. For information also the
 * IPv4 figure with 1,000,000 prefixes and with 4-way ECMP.
 *
 * Rates are per CPU-second of this process (see cpuRate), with the wall-clock rate printed beside.
 *
 * So that the same frames can be fed again without being rewritten between passes, the gateways'
 * MAC addresses are the ingress interface's own MAC (the forwarded frame is again addressed to
 * the router) and TTLs start at 255; every 200 passes the frames are restored from a pristine
 * copy (in the bare loop too), which costs well under 1% of a pass.
 */
import { Batch, PacketPool } from '../src/packet/pool.js';
import type { ProcessContext } from '../src/functions/contract.js';
import { Router, routerFactory, type RouteSpec } from '../src/functions/router.js';
import { formatIpv4, formatIpv6 } from '../src/functions/config.js';
import { cpuTimed, rate, type Reporter } from './report.js';
import { rng } from '../src/functions/testing.js';
import { CountingEmit } from './emit.js';

const IN_MAC = '02:00:00:00:aa:00';
const GATEWAYS = 16;

function makeRouter(): Router {
  return routerFactory.create({
    interfaces: [
      { name: 'in', mac: IN_MAC, addresses: ['10.0.0.1/24', '2001:db8:0::1/64'] },
      { name: 'out', mac: '02:00:00:00:aa:01', addresses: ['10.0.1.1/24', '2001:db8:1::1/64'] },
    ],
    neighbors: Array.from({ length: GATEWAYS }, (_, i) => [
      { interface: 'out', address: `10.0.1.${i + 2}`, mac: IN_MAC },
      { interface: 'out', address: `2001:db8:1::${(i + 2).toString(16)}`, mac: IN_MAC },
    ]).flat(),
    neighbor: { maxEntries: 1024 },
  }) as Router;
}

// BGP-like IPv4 prefix-length mix (share of prefixes): roughly the global table's shape.
const MIX4: [number, number][] = [[8, 0.001], [12, 0.004], [16, 0.03], [18, 0.03], [19, 0.05], [20, 0.07], [21, 0.07], [22, 0.12], [23, 0.1], [24, 0.505], [26, 0.01], [28, 0.005], [32, 0.005]];
const MIX6: [number, number][] = [[29, 0.02], [32, 0.13], [36, 0.05], [40, 0.07], [44, 0.08], [48, 0.5], [52, 0.03], [56, 0.07], [64, 0.05]];

function pickLen(mix: [number, number][], r: () => number): number {
  let x = r() / 2 ** 32;
  for (const [len, p] of mix) {
    if (x < p) return len;
    x -= p;
  }
  return (mix[mix.length - 1] as [number, number])[0];
}

interface Fib4 { routes: RouteSpec[]; prefixes: [number, number][] }

function fib4(n: number, r: () => number): Fib4 {
  const seen = new Set<string>();
  const routes: RouteSpec[] = [];
  const prefixes: [number, number][] = [];
  while (routes.length < n) {
    const len = pickLen(MIX4, r);
    // Public-looking space: avoid 0/8, 10/8, 127/8 and 224/3.
    let a = r();
    const top = a >>> 24;
    if (top === 0 || top === 10 || top === 127 || top >= 224) continue;
    a = (a & (len === 0 ? 0 : (0xffffffff << (32 - len)))) >>> 0;
    const key = `${a}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const g = r() % GATEWAYS;
    routes.push({ prefix: `${formatIpv4(a)}/${len}`, via: `10.0.1.${g + 2}` });
    prefixes.push([a, len]);
  }
  return { routes, prefixes };
}

interface Fib6 { routes: RouteSpec[]; prefixes: [Uint8Array, number][] }

function fib6(n: number, r: () => number): Fib6 {
  // Allocations cluster under a few thousand /23–/32 blocks of 2000::/12 and 2a00::/12, as RIR
  // allocations do (the same shape as bench/functions.ts uses for the LPM alone).
  const blocks: Uint8Array[] = [];
  for (let i = 0; i < 4000; i++) {
    const b = new Uint8Array(16);
    b[0] = 0x20 + (r() % 2) * 0x0a;
    b[1] = r() & 0x0f;
    b[2] = r() & 0xff;
    b[3] = r() & 0xff;
    blocks.push(b);
  }
  const seen = new Set<string>();
  const routes: RouteSpec[] = [];
  const prefixes: [Uint8Array, number][] = [];
  while (routes.length < n) {
    const len = pickLen(MIX6, r);
    const a = (blocks[r() % blocks.length] as Uint8Array).slice();
    for (let i = 4; i < 16; i++) a[i] = r() & 0xff;
    if (a[0] === 0x20 && a[1] === 0x01 && a[2] === 0x0d && a[3] === 0xb8) continue;
    for (let i = len; i < 128; i++) a[i >>> 3] = (a[i >>> 3] as number) & ~(0x80 >>> (i & 7));
    const text = `${formatIpv6(a)}/${len}`;
    if (seen.has(text)) continue;
    seen.add(text);
    routes.push({ prefix: text, via: `2001:db8:1::${((r() % GATEWAYS) + 2).toString(16)}` });
    prefixes.push([a, len]);
  }
  return { routes, prefixes };
}

const BATCHES = 16;

interface Rig {
  pool: PacketPool;
  batches: Batch[];
  pristine: Uint8Array;
  emit: CountingEmit;
  ctx: ProcessContext;
}

// 64-byte UDP frames to the router's input MAC; `dst` writes the destination address.
function rig(v6: boolean, dst: (b: Uint8Array, o: number, r: () => number) => void, r: () => number): Rig {
  const pool = new PacketPool({ slots: BATCHES * 256 + 16, slotSize: 256, headroom: 64 });
  const batches: Batch[] = [];
  for (let k = 0; k < BATCHES; k++) {
    const batch = new Batch();
    for (let i = 0; i < 256; i++) {
      const f = new Uint8Array(v6 ? 78 : 64);
      f.set([0x02, 0, 0, 0, 0xaa, 0x00, 0x02, 0, 0, 0, 0, 0x99], 0);
      const ip = 14;
      if (!v6) {
        f[12] = 0x08;
        f.set([0x45, 0, 0, 50, 0, 0, 0, 0, 255, 17, 0, 0, 10, 0, 0, 2], ip);
        dst(f, ip + 16, r);
        let s = 0;
        for (let j = ip; j < ip + 20; j += 2) s += ((f[j] as number) << 8) | (f[j + 1] as number);
        while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
        s = ~s & 0xffff;
        f[ip + 10] = s >>> 8;
        f[ip + 11] = s & 0xff;
        f.set([(r() >>> 8) & 0xff, r() & 0xff, 0, 53, 0, 30, 0, 0], ip + 20);
      } else {
        // IPv6 has a 40-byte header: the smallest UDP frame is 62 bytes; 78 keeps 16 bytes of payload.
        f[12] = 0x86;
        f[13] = 0xdd;
        f.set([0x60, 0, 0, 0, 0, 24, 17, 255], ip);
        f.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], ip + 8);
        dst(f, ip + 24, r);
        f.set([(r() >>> 8) & 0xff, r() & 0xff, 0, 53, 0, 24, 0, 0], ip + 40);
      }
      pool.load(f, batch);
    }
    batches.push(batch);
  }
  const emit = new CountingEmit();
  return { pool, batches, pristine: pool.bytes.slice(), emit, ctx: { pool, out: emit, now: 1 } };
}

function passes(x: Rig, body: (b: Batch) => void): () => number {
  let n = 0;
  return () => {
    if (++n % 200 === 0) x.pool.bytes.set(x.pristine);
    let c = 0;
    for (const b of x.batches) {
      body(b);
      c += b.count;
    }
    return c;
  };
}

// The baseline: read the EtherType of every frame and send it on.
function bare(x: Rig): () => number {
  return passes(x, (batch) => {
    const b = x.pool.bytes;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offs[i] as number;
      const t = ((b[off + 12] as number) << 8) | (b[off + 13] as number);
      x.emit.send(t & 1, batch.slots[i] as number, off, batch.lens[i] as number);
    }
  });
}

/**
 * Operations per second of CPU time used by this process (all its threads, so GC and JIT count
 * against the figure): on a machine shared with other work, wall-clock rates measure the other
 * work too. On an idle core the two agree. Returns [per CPU second, per wall second].
 */
function cpuRate(fn: () => number, ms: number): [number, number] {
  rate(fn, Math.min(300, ms / 4)); // warm-up (tier-up) outside the measurement
  const m = cpuTimed(fn, ms);
  return [m.ops / Math.max(m.cpu, 1e-9), m.ops / m.wall];
}

function measure(rep: Reporter, name: string, router: Router, x: Rig, target: number | null): void {
  const [base, baseWall] = cpuRate(bare(x), 800).map((v) => v / 1e6) as [number, number];
  x.emit.sent = 0;
  x.emit.dropped = 0;
  const [v, vWall] = cpuRate(passes(x, (b) => router.process(0, b, x.ctx)), 1500).map((q) => q / 1e6) as [number, number];
  rep.note(`${name}: wall-clock ${vWall.toFixed(2)} Mpps (bare loop ${baseWall.toFixed(1)}); the figure below is per CPU-second of this process`);
  const c = router.counters();
  if (x.emit.dropped > 0 || c['forwarded'] !== c['in']) rep.note(`${name}: ${x.emit.dropped} dropped, counters ${JSON.stringify({ in: c['in'], forwarded: c['forwarded'], drops: c['drops'] })}`);
  rep.record({ name, value: v, unit: 'Mpps', target, better: 'higher', baseline: base });
}

// Per-instance fixed cost of a small router (200 of them with 3 interfaces and 5 static routes
// each, as in a large emulated topology): construction time and resident memory.
function buildCost(rep: Reporter): void {
  const hex = (x: number): string => x.toString(16).padStart(2, '0');
  const cfg = (k: number): unknown => ({
    interfaces: [0, 1, 2].map((i) => ({ name: `eth${i}`, mac: `02:00:00:${hex(k >>> 8)}:${hex(k & 255)}:0${i}`, addresses: [`10.${i}.${k & 255}.1/24`] })),
    routes: [0, 1, 2, 3, 4].map((j) => ({ prefix: `172.${16 + j}.0.0/16`, via: `10.1.${k & 255}.${2 + j}` })),
  });
  const keep: unknown[] = [];
  const m0 = process.memoryUsage();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < 200; k++) keep.push(routerFactory.create(cfg(k)));
  const wall = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  const m1 = process.memoryUsage();
  rep.note(`router build, 200 routers × (3 interfaces, 5 routes): ${(wall / 200).toFixed(2)} ms wall, ${((cu.user + cu.system) / 200 / 1000).toFixed(2)} ms CPU per router; RSS +${((m1.rss - m0.rss) / 200 / 1024).toFixed(0)} KiB, typed arrays +${((m1.arrayBuffers - m0.arrayBuffers) / 200 / 1024).toFixed(0)} KiB per router (${keep.length} kept)`);
}

/** Router figures; called by bench/functions.ts. */
export async function run(rep: Reporter, only?: 'v4' | 'v6' | '1m' | 'build'): Promise<void> {
  const r = rng(7);
  if (!only || only === 'build') buildCost(rep);
  if (!only || only === 'v4') {
    const router = makeRouter();
    const f = fib4(100_000, r);
    router.setRoutes(f.routes);
    const x = rig(false, (b, o, rr) => {
      const [a, len] = f.prefixes[rr() % f.prefixes.length] as [number, number];
      const host = len === 32 ? 0 : rr() & ((2 ** (32 - len) - 1) >>> 0);
      const d = (a | host) >>> 0;
      b[o] = d >>> 24;
      b[o + 1] = (d >>> 16) & 0xff;
      b[o + 2] = (d >>> 8) & 0xff;
      b[o + 3] = d & 0xff;
    }, r);
    measure(rep, 'router ipv4 100k prefixes', router, x, 15);
    const e = makeRouter();
    e.setRoutes(f.routes.map((rt, k) => ({ prefix: rt.prefix, via: [0, 1, 2, 3].map((j) => `10.0.1.${((k + j) % GATEWAYS) + 2}`) })));
    measure(rep, 'router ipv4 100k prefixes, 4-way ECMP', e, x, null);
  }
  if (!only || only === 'v6') {
    const router = makeRouter();
    const f = fib6(100_000, r);
    router.setRoutes(f.routes);
    const x = rig(true, (b, o, rr) => {
      const [a, len] = f.prefixes[rr() % f.prefixes.length] as [Uint8Array, number];
      for (let i = 0; i < 16; i++) {
        const bits = len - 8 * i;
        const m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
        b[o + i] = ((a[i] as number) & m) | (rr() & ~m & 0xff);
      }
    }, r);
    measure(rep, 'router ipv6 100k prefixes', router, x, 8);
    rep.note(`router: IPv6 trie of 100,000 prefixes: ${router.lpm6.nodesInUse} nodes (${(router.lpm6.nodesInUse / 1024).toFixed(0)} MiB)`);
  }
  if (!only || only === '1m') {
    const router = makeRouter();
    const f = fib4(1_000_000, rng(9));
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    router.setRoutes(f.routes);
    const cu = process.cpuUsage(c0);
    rep.note(`router: setRoutes of 1,000,000 IPv4 prefixes: ${((cu.user + cu.system) / 1e6).toFixed(1)} s CPU, ${((performance.now() - t0) / 1000).toFixed(1)} s wall (${router.lpm4.chunksInUse} tbl8 chunks)`);
    const x = rig(false, (b, o, rr) => {
      const [a, len] = f.prefixes[rr() % f.prefixes.length] as [number, number];
      const d = (a | (len === 32 ? 0 : rr() & ((2 ** (32 - len) - 1) >>> 0))) >>> 0;
      b[o] = d >>> 24;
      b[o + 1] = (d >>> 16) & 0xff;
      b[o + 2] = (d >>> 8) & 0xff;
      b[o + 3] = d & 0xff;
    }, r);
    measure(rep, 'router ipv4 1M prefixes', router, x, null);
  }
}
