/**
 * `npm run bench -- functions`: network functions on 64-byte frames in batches of 256 from a
 * PacketPool, one thread, each beside a bare loop over the same frames; DPI over 1,500-byte
 * packets; LPM lookup rates alone (printed for information: the router must reach 15 Mpps IPv4 /
 * 8 Mpps IPv6 in total, so the lookup must be well above that).
 */
import { Batch, PacketPool } from '../src/packet/pool.js';
import type { NetworkFunction, ProcessContext } from '../src/functions/contract.js';
import { switchFactory } from '../src/functions/switch.js';
import { mplsFactory } from '../src/functions/mpls.js';
import { dpiFactory } from '../src/functions/dpi.js';
import { loadBalancerFactory } from '../src/functions/loadbalancer.js';
import { Lpm4 } from '../src/functions/lib/lpm4.js';
import { Lpm6 } from '../src/functions/lib/lpm6.js';
import { cpuTimed, rate, type Reporter } from './report.js';
import { run as benchRouter } from './functions-router.js';
import { runFirewall } from './functions-firewall.js';
import { rng } from '../src/functions/testing.js';
import { CountingEmit } from './emit.js';

interface Rig {
  pool: PacketPool;
  batch: Batch;
  ctx: ProcessContext & { now: number };
  emit: CountingEmit;
}

function rig(frames: readonly Uint8Array[]): Rig {
  const pool = new PacketPool({ slots: 512 });
  const batch = new Batch();
  for (const f of frames) pool.load(f, batch);
  const emit = new CountingEmit();
  return { pool, batch, emit, ctx: { pool, out: emit, now: 0 } };
}

// The baseline: read the EtherType of every frame and send it on — the cost of the loop and
// the emit interface with no function in between.
function bareLoop(r: Rig): () => number {
  return () => {
    const b = r.pool.bytes;
    const batch = r.batch;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offs[i] as number;
      const t = ((b[off + 12] as number) << 8) | (b[off + 13] as number);
      r.emit.send(t & 1, batch.slots[i] as number, off, batch.lens[i] as number);
    }
    return batch.count;
  };
}

function eth(dst: number, src: number, type: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < 6; i++) {
    f[i] = Math.floor(dst / 2 ** (8 * (5 - i))) & 0xff;
    f[6 + i] = Math.floor(src / 2 ** (8 * (5 - i))) & 0xff;
  }
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  return f;
}

function ipv4Header(f: Uint8Array, at: number, totalLen: number, proto: number, src: number, dst: number): void {
  f.set([0x45, 0, totalLen >>> 8, totalLen & 0xff, 0, 0, 0x40, 0, 64, proto, 0, 0], at);
  for (let k = 0; k < 4; k++) {
    f[at + 12 + k] = (src >>> (24 - 8 * k)) & 0xff;
    f[at + 16 + k] = (dst >>> (24 - 8 * k)) & 0xff;
  }
  let s = 0;
  for (let k = 0; k < 20; k += 2) s += ((f[at + k] as number) << 8) | (f[at + k + 1] as number);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  s = ~s & 0xffff;
  f[at + 10] = s >>> 8;
  f[at + 11] = s & 0xff;
}

/**
 * Ops per CPU-second of this process after a long warm-up (on a loaded machine the optimising
 * compiler runs late). The machine these figures come from is shared, so wall-clock rates mostly
 * measure how often this process was scheduled; CPU time (user + system, all threads of the
 * process, so GC and compiler threads count against the figure) measures the code. The last
 * wall-clock rate is kept in `lastWall` and printed beside each figure.
 */
let lastWall = 0;
function steady(fn: () => number, ms: number): number {
  const until = performance.now() + 600;
  while (performance.now() < until) fn();
  rate(fn, 100);
  const m = cpuTimed(fn, ms);
  lastWall = m.ops / m.wall;
  return m.ops / Math.max(m.cpu, 1e-9);
}

function wallNote(r: Reporter, name: string, baseWall: number, wall: number, scale = 1e-6, unit = 'Mpps'): void {
  r.note(`${name}: wall-clock ${(wall * scale).toFixed(3)} ${unit} (bare loop ${(baseWall * scale).toFixed(3)}); the figure below is per CPU-second of this process`);
}

function mpps(opsPerSec: number): number {
  return opsPerSec / 1e6;
}

async function benchSwitch(r: Reporter): Promise<void> {
  const sw = switchFactory.create({ ports: [{ name: 'p0' }, { name: 'p1' }, { name: 'p2' }, { name: 'p3' }] });
  // 256 stations behind p1 talk to 256 stations behind p0: all known unicast after learning.
  const learn = rig(Array.from({ length: 256 }, (_, i) => eth(0xffffffffffff, 0x020000100000 + i, 0x0800, 64)));
  sw.process(1, learn.batch, learn.ctx);
  const frames = Array.from({ length: 256 }, (_, i) => eth(0x020000100000 + ((i * 7) & 255), 0x020000200000 + i, 0x0800, 64));
  const g = rig(frames);
  const base = steady(bareLoop(g), 1000);
  const baseWall = lastWall;
  const v = steady(() => {
    sw.process(0, g.batch, g.ctx);
    return g.batch.count;
  }, 1500);
  if (g.emit.dropped !== 0) throw new Error('switch bench: frames dropped');
  wallNote(r, 'switch 64B known unicast (Mpps)', baseWall, lastWall);
  r.record({ name: 'switch 64B known unicast (Mpps)', value: mpps(v), unit: 'Mpps', target: 20, better: 'higher', baseline: mpps(base) });
}

async function benchMpls(r: Reporter): Promise<void> {
  const lsr = mplsFactory.create({
    interfaces: [{ name: 'west', mac: '02:00:00:00:01:01' }, { name: 'east', mac: '02:00:00:00:01:02' }],
    ilm: Array.from({ length: 1000 }, (_, i) => ({ label: 16 + i, action: 'swap', labels: [16 + ((i + 500) % 1000)], interface: i & 1 ? 'east' : 'west', nextHop: '02:00:00:00:02:01' })),
  });
  const frames = Array.from({ length: 256 }, (_, i) => {
    const f = eth(0x020000000101, 0x020000000901, 0x8847, 64);
    const label = 16 + ((i * 37) % 1000);
    const e = (label * 4096 + 0x100 + 255) >>> 0;
    f.set([e >>> 24, (e >>> 16) & 0xff, (e >>> 8) & 0xff, e & 0xff], 14);
    ipv4Header(f, 18, 46, 17, 0xc0000201, 0xc6336401);
    return f;
  });
  const g = rig(frames);
  // Each round re-arms the label TTL (the swap decrements it): done in the baseline as well.
  const rearm = (): void => {
    const b = g.pool.bytes;
    for (let i = 0; i < g.batch.count; i++) b[(g.batch.offs[i] as number) + 17] = 255;
  };
  const bare = bareLoop(g);
  const base = steady(() => {
    rearm();
    return bare();
  }, 1000);
  const baseWall = lastWall;
  const v = steady(() => {
    rearm();
    lsr.process(0, g.batch, g.ctx);
    return g.batch.count;
  }, 1500);
  if (g.emit.dropped !== 0) throw new Error(`mpls bench: ${g.emit.dropped} frames dropped`);
  wallNote(r, 'MPLS swap 64B, 1,000 labels (Mpps)', baseWall, lastWall);
  r.record({ name: 'MPLS swap 64B, 1,000 labels (Mpps)', value: mpps(v), unit: 'Mpps', target: 20, better: 'higher', baseline: mpps(base) });
}

async function benchDpi(r: Reporter): Promise<void> {
  const rnd = rng(99);
  const letters = 'abcdefghijklmnopqrstuvwxyz ';
  const word = (n: number): string => Array.from({ length: n }, () => letters[rnd() % 26]).join('');
  const signatures = Array.from({ length: 1000 }, (_, i) => ({ name: `sig${i}`, pattern: word(6 + (rnd() % 15)), action: i % 10 === 0 ? 'drop' : 'alert' }));
  const dpi: NetworkFunction = dpiFactory.create({ signatures, maxFlows: 4096 });
  // 16 TCP streams of 1,500-byte IP packets (1,460 bytes of text payload), in order.
  const PAY = 1460;
  const frames = Array.from({ length: 256 }, (_, i) => {
    const f = eth(0x020000000002, 0x020000000001, 0x0800, 14 + 1500);
    const flow = i & 15;
    ipv4Header(f, 14, 1500, 6, 0x0a000001 + flow, 0x0a100001);
    const t = 34;
    f.set([0x9c, 0x40 + flow, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff], t);
    for (let k = 0; k < PAY; k++) f[54 + k] = letters.charCodeAt(rnd() % 27);
    return f;
  });
  const g = rig(frames);
  let round = 0;
  // Sequence numbers advance every round so that each stream stays in order (also in the baseline).
  const reseq = (): void => {
    const b = g.pool.bytes;
    for (let i = 0; i < 256; i++) {
      const seq = ((round * 16 + (i >>> 4)) * PAY) >>> 0;
      const o = (g.batch.offs[i] as number) + 38;
      b[o] = seq >>> 24;
      b[o + 1] = (seq >>> 16) & 0xff;
      b[o + 2] = (seq >>> 8) & 0xff;
      b[o + 3] = seq & 0xff;
    }
    round++;
  };
  // Baseline: the same frames with every payload byte read once (what any scan must at least do).
  let sink = 0;
  const base = steady(() => {
    reseq();
    const b = g.pool.bytes;
    for (let i = 0; i < g.batch.count; i++) {
      const off = g.batch.offs[i] as number;
      let x = 0;
      for (let k = off + 54; k < off + 54 + PAY; k++) x ^= b[k] as number;
      sink ^= x;
      g.emit.send(0, g.batch.slots[i] as number, off, g.batch.lens[i] as number);
    }
    return g.batch.count;
  }, 1000);
  g.emit.dropped = 0;
  const baseWall = lastWall;
  const v = steady(() => {
    reseq();
    dpi.process(0, g.batch, g.ctx);
    return g.batch.count;
  }, 2000);
  const c = dpi.counters();
  if (g.emit.dropped !== 0 || (c['outOfOrder'] as number) !== 0) throw new Error(`dpi bench: dropped ${g.emit.dropped}, out of order ${String(c['outOfOrder'])}`);
  const gbps = (pps: number): number => (pps * 1500 * 8) / 1e9;
  wallNote(r, 'DPI 1,000 signatures, 1,500-byte TCP packets (Gbit/s of IP packets)', baseWall, lastWall, 1500 * 8 / 1e9, 'Gbit/s');
  r.record({ name: 'DPI 1,000 signatures, 1,500-byte TCP packets (Gbit/s of IP packets)', value: gbps(v), unit: 'Gbit/s', target: 2, better: 'higher', baseline: gbps(base) });
  r.note(`dpi: ${(v / 1e6).toFixed(3)} Mpps, ${dpi.counters()['alerts'] as number} alerts, sink ${sink & 1}`);
}

async function benchLoadBalancer(r: Reporter): Promise<void> {
  const backends = Array.from({ length: 16 }, (_, i) => ({ name: `b${i}`, mac: `02:00:00:00:0b:${(i + 1).toString(16).padStart(2, '0')}`, ip: `10.1.0.${i + 1}` }));
  for (const mode of ['dsr', 'nat'] as const) {
    const lb = loadBalancerFactory.create({ mac: '02:00:00:00:aa:01', vip: '192.0.2.10', mode, backends });
    const frames = Array.from({ length: 256 }, (_, i) => {
      const f = eth(0x02000000aa01, 0x020000000001, 0x0800, 64);
      ipv4Header(f, 14, 50, 6, 0xc6336400 + i, 0xc000020a);
      f.set([0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff], 34);
      return f;
    });
    const g = rig(frames);
    const base = steady(bareLoop(g), 500);
    // nat rewrites the destination each time: put the VIP back each round (in both loops).
    const restore = (): void => {
      const b = g.pool.bytes;
      for (let i = 0; i < g.batch.count; i++) {
        const o = (g.batch.offs[i] as number) + 30;
        const f = frames[i] as Uint8Array;
        b[o] = 192; b[o + 1] = 0; b[o + 2] = 2; b[o + 3] = 10;
        b[o - 6] = f[24] as number; b[o - 5] = f[25] as number; // IP checksum
        b[o + 20] = f[50] as number; b[o + 21] = f[51] as number; // TCP checksum
      }
    };
    const baseWall = lastWall;
    const v = steady(() => {
      if (mode === 'nat') restore();
      lb.process(0, g.batch, g.ctx);
      return g.batch.count;
    }, 1000);
    wallNote(r, `load balancer ${mode} 64B, 256 connections (Mpps)`, baseWall, lastWall);
    r.record({ name: `load balancer ${mode} 64B, 256 connections (Mpps)`, value: mpps(v), unit: 'Mpps', target: null, better: 'higher', baseline: mpps(base) });
  }
}

function lengths4(rnd: () => number): number {
  const x = rnd() % 1000;
  if (x < 580) return 24;
  if (x < 600) return 25 + (rnd() % 8); // few longer than /24
  if (x < 640) return 8 + (rnd() % 8);
  const mid = [16, 17, 18, 19, 20, 20, 21, 21, 22, 22, 22, 23, 23, 23];
  return mid[rnd() % mid.length] as number;
}

async function benchLpm4(r: Reporter, count: number): Promise<void> {
  const rnd = rng(count);
  const t = new Lpm4();
  const prefixes = new Uint32Array(count);
  const lens = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const len = lengths4(rnd);
    const addr = ((1 + (rnd() % 223)) * 2 ** 24 + (rnd() & 0xffffff)) >>> 0;
    const p = len === 0 ? 0 : (addr & ((0xffffffff << (32 - len)) >>> 0)) >>> 0;
    prefixes[i] = p;
    lens[i] = len;
    t.insert(p, len, i % 1024);
  }
  // Destinations: a random host inside a random prefix (so longer prefixes are hit as often as
  // they appear), in an array much larger than the caches.
  const N = 1 << 20;
  const dst = new Uint32Array(N);
  for (let i = 0; i < N; i++) {
    const k = rnd() % count;
    const len = lens[k] as number;
    const host = len === 32 ? 0 : rnd() & (0xffffffff >>> len);
    dst[i] = ((prefixes[k] as number) | host) >>> 0;
  }
  const out = new Int32Array(256);
  let pos = 0;
  let sink = 0;
  const base = steady(() => {
    for (let i = 0; i < 256; i++) sink ^= dst[(pos + i) & (N - 1)] as number;
    pos = (pos + 256) & (N - 1);
    return 256;
  }, 500);
  const baseWall = lastWall;
  const v = steady(() => {
    t.lookupMany(dst.subarray(pos, pos + 256), out, 256);
    sink ^= out[0] as number;
    pos = (pos + 256) & (N - 1);
    return 256;
  }, 1500);
  wallNote(r, `LPM IPv4 lookup, ${count.toLocaleString('en')} prefixes (M lookups/s)`, baseWall, lastWall);
  r.record({ name: `LPM IPv4 lookup, ${count.toLocaleString('en')} prefixes (M lookups/s)`, value: mpps(v), unit: 'Mpps', target: null, better: 'higher', baseline: mpps(base) });
  r.note(`lpm4 ${count}: ${t.size} distinct prefixes, ${t.chunksInUse} second-level chunks, sink ${sink & 1}`);
}

async function benchLpm6(r: Reporter, count: number): Promise<void> {
  const rnd = rng(count + 6);
  const t = new Lpm6();
  const N = 1 << 18;
  const prefixes: Uint8Array[] = [];
  const lens: number[] = [];
  // Mostly /32–/48 as in the global table: /48s dominate, then /32, /44, /40, /36, /29; a few /56 and /64.
  const mix = [48, 48, 48, 48, 48, 48, 48, 48, 32, 32, 32, 44, 44, 40, 40, 36, 29, 33, 46, 47, 56, 64];
  // Allocations cluster under a few thousand /23–/32 blocks, as RIR allocations do.
  const blocks: Uint8Array[] = [];
  for (let i = 0; i < 4000; i++) {
    const b = new Uint8Array(16);
    b[0] = 0x20 + (rnd() % 2) * 0x0a;
    b[1] = rnd() & 0x0f;
    b[2] = rnd() & 0xff;
    b[3] = rnd() & 0xff;
    blocks.push(b);
  }
  for (let i = 0; i < count; i++) {
    const len = mix[rnd() % mix.length] as number;
    const p = (blocks[rnd() % blocks.length] as Uint8Array).slice();
    for (let k = 4; k < 16; k++) p[k] = rnd() & 0xff;
    t.insert(p, len, i % 1024);
    prefixes.push(p);
    lens.push(len);
  }
  const dst = new Uint8Array(N * 16);
  for (let i = 0; i < N; i++) {
    const k = rnd() % count;
    const p = prefixes[k] as Uint8Array;
    const len = lens[k] as number;
    for (let q = 0; q < 16; q++) {
      const bits = len - 8 * q;
      const m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
      dst[i * 16 + q] = ((p[q] as number) & m) | (rnd() & ~m & 0xff);
    }
  }
  let pos = 0;
  let sink = 0;
  const base = steady(() => {
    for (let i = 0; i < 256; i++) sink ^= dst[((pos + i) & (N - 1)) * 16] as number;
    pos = (pos + 256) & (N - 1);
    return 256;
  }, 500);
  const baseWall = lastWall;
  const v1 = steady(() => {
    for (let i = 0; i < 256; i++) sink ^= t.lookupBytes(dst, ((pos + i) & (N - 1)) * 16);
    pos = (pos + 256) & (N - 1);
    return 256;
  }, 1000);
  r.note(`lpm6 one at a time (lookupBytes): ${(v1 / 1e6).toFixed(2)} M lookups/s`);
  const offs = new Int32Array(256);
  const out = new Int32Array(256);
  const v = steady(() => {
    for (let i = 0; i < 256; i++) offs[i] = ((pos + i) & (N - 1)) * 16;
    t.lookupBatch(dst, offs, out, 256);
    sink ^= out[0] as number;
    pos = (pos + 256) & (N - 1);
    return 256;
  }, 1500);
  wallNote(r, `LPM IPv6 lookup, ${count.toLocaleString('en')} prefixes (M lookups/s)`, baseWall, lastWall);
  r.record({ name: `LPM IPv6 lookup, ${count.toLocaleString('en')} prefixes (M lookups/s)`, value: mpps(v), unit: 'Mpps', target: null, better: 'higher', baseline: mpps(base) });
  r.note(`lpm6 ${count}: ${t.size} distinct prefixes, ${t.nodesInUse} trie nodes (${((t.nodesInUse * 1024) / 2 ** 20).toFixed(0)} MiB), ${t.sparseNodes} of them read through 64-byte sparse records, sink ${sink & 1}`);
}

/** `BENCH_FUNCTIONS=dpi,lpm4` runs only some of the figures (names: switch mpls dpi lb lpm4 lpm6). */
export async function run(r: Reporter): Promise<void> {
  const only = (process.env['BENCH_FUNCTIONS'] ?? '').split(',').filter(Boolean);
  const want = (k: string): boolean => only.length === 0 || only.includes(k);
  if (want('switch')) await benchSwitch(r);
  if (want('mpls')) await benchMpls(r);
  if (want('dpi')) await benchDpi(r);
  if (want('lb')) await benchLoadBalancer(r);
  if (want('lpm4')) {
    await benchLpm4(r, 100_000);
    await benchLpm4(r, 1_000_000);
  }
  if (want('lpm6')) await benchLpm6(r, 100_000);
  if (want('router')) await benchRouter(r);
  if (want('firewall')) await runFirewall(r);
}
