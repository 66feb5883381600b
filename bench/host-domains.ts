/**
 * Virtualization cost (issue 4): a router in a user domain behind two virtual NICs, fed and
 * drained from domain 0 over the rings, against the same router called directly in one thread.
 *
 * 64-byte UDP/IPv4 frames to the router's input MAC, routed out of its second interface to a
 * neighbour whose MAC is the input interface's own, so that domain 0 can hand a forwarded frame
 * straight back to the input NIC (page flip, no copy). TTLs start at 255 and every 200 passes a
 * frame's 64 bytes are restored from a pristine copy (a per-slot pass count, in both set-ups),
 * so domain 0 forwards by descriptor without touching frame bytes, as a bridge does. Rates are frames leaving the router per CPU-second of the process (see
 * virtualizationCost), wall-clock rates beside.
 */
import { Batch, MAX_BATCH, PacketPool } from '../src/packet/pool.js';
import type { Emit, ProcessContext } from '../src/functions/contract.js';
import { routerFactory } from '../src/functions/router.js';
import { Dom0Slots, Domain } from '../src/host/domain.js';
import { DOM0 } from '../src/host/vnic.js';
import type { Reporter } from './report.js';

const IN_MAC = '02:00:00:00:aa:00';
const ROUTER = {
  interfaces: [
    { name: 'in', mac: IN_MAC, addresses: ['10.0.0.1/24'] },
    { name: 'out', mac: '02:00:00:00:aa:01', addresses: ['10.0.1.1/24'] },
  ],
  neighbors: Array.from({ length: 16 }, (_, i) => ({ interface: 'out', address: `10.0.1.${i + 2}`, mac: IN_MAC })),
};
const FRAME = 64;
/** A frame loses one TTL per pass (from 255): restored from its pristine copy every 200 passes. */
const RESTORE_EVERY = 200;

/** A 64-byte UDP frame to 10.0.1.(2+i%16) with a valid IPv4 header checksum. */
export function pristine(i: number): Uint8Array {
  const f = new Uint8Array(FRAME);
  f.set([0x02, 0, 0, 0, 0xaa, 0x00, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x00], 0);
  const ip = [0x45, 0, 0, 50, 0, 0, 0x40, 0, 255, 17, 0, 0, 10, 0, 0, 2, 10, 0, 1, 2 + (i % 16)];
  f.set(ip, 14);
  let s = 0;
  for (let k = 0; k < 20; k += 2) s += ((ip[k] as number) << 8) | (ip[k + 1] as number);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f[24] = (~s >> 8) & 0xff;
  f[25] = ~s & 0xff;
  f.set([0x30, 0x39, 0x00, 0x09, 0, 30, 0, 0], 34);
  return f;
}

interface Rates {
  /** Frames per second of wall-clock time. */
  wall: number;
  /** Frames per CPU-second of this process (every thread: domain 0, the domain, spinning included). */
  cpu: number;
}

function rates(frames: number, t0: number, c0: NodeJS.CpuUsage): Rates {
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall: frames / wall, cpu: frames / ((c.user + c.system) / 1e6) };
}

/** The router in this thread: process a batch, restore and re-feed what it sent. */
function direct(ms: number, inFlight: number): Rates {
  // Slots [inFlight, 2·inFlight) hold the pristine copies (restored with copyWithin: no allocation).
  const pool = new PacketPool({ slots: 2 * inFlight, slotSize: 256, headroom: 64 });
  const cleanAt = (s: number): number => pool.frameOffset(s + inFlight);
  const batches: Batch[] = [];
  for (let s = 0; s < inFlight; s++) {
    pool.bytes.set(pristine(s), cleanAt(s));
    pool.bytes.set(pristine(s), pool.frameOffset(s));
    if (s % MAX_BATCH === 0) batches.push(new Batch(MAX_BATCH));
    (batches[batches.length - 1] as Batch).push(s, pool.frameOffset(s), FRAME);
  }
  const r = routerFactory.create(ROUTER);
  const out = new Batch(MAX_BATCH);
  const emit: Emit = {
    send: (_p, slot, off, len) => out.push(slot, off, len),
    drop: () => undefined,
  };
  const ctx: ProcessContext = { pool, out: emit, now: 0 };
  const bytes = pool.bytes;
  const passes = new Uint8Array(pool.slots);
  let frames = 0;
  const run = (until: number): void => {
    while (performance.now() < until) {
      for (const b of batches) {
        out.clear();
        r.process(0, b, ctx);
        frames += out.count;
        for (let k = 0; k < out.count; k++) {
          const s = out.slots[k] as number;
          if ((passes[s] = (passes[s] as number) + 1) < RESTORE_EVERY) continue;
          passes[s] = 0;
          const c = cleanAt(s);
          bytes.copyWithin(out.offs[k] as number, c, c + FRAME);
        }
      }
    }
  };
  run(performance.now() + 300);
  frames = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  run(t0 + ms);
  return rates(frames, t0, c0);
}

/** The router in a user domain: domain 0 feeds NIC 0, drains NIC 1, restores and feeds again. */
export async function inDomain(ms: number, inFlight: number, spin = 50): Promise<Rates> {
  const pool = new PacketPool({ slots: 2 * inFlight + 1024, slotSize: 256, headroom: 64 });
  const slots = new Dom0Slots(pool);
  // A frame's pristine copy lives in a slot never handed out: clean[slot] is its offset.
  const clean = new Int32Array(pool.slots);
  const d = new Domain(slots, {
    id: 1,
    name: 'router',
    contexts: [{ network: 'bench', functions: [{ name: 'r', kind: 'router', config: ROUTER }], wires: [] }],
    vnics: [{ context: 0, port: 'r.in' }, { context: 0, port: 'r.out' }],
    ringCapacity: 16384,
    // Short spins on both sides (1 measured best on a loaded 2-core machine): a spinning thread burns the time slice its
    // peer needs; many frames in flight keep each side busy while the other is descheduled.
    spin,
    watchdogMs: 60_000,
    freeSlots: 64,
  });
  await d.start();
  const feed = new Batch(MAX_BATCH);
  const pendingFeed: Batch[] = [];
  for (let k = 0; k < inFlight; k++) {
    const s = pool.alloc();
    const c = pool.alloc();
    clean[s] = pool.frameOffset(c);
    pool.bytes.set(pristine(k), clean[s] as number);
    pool.bytes.set(pristine(k), pool.frameOffset(s));
    feed.push(s, pool.frameOffset(s), FRAME);
    if (feed.full) {
      const b = new Batch(MAX_BATCH);
      for (let j = 0; j < feed.count; j++) b.push(feed.slots[j] as number, feed.offs[j] as number, feed.lens[j] as number);
      pendingFeed.push(b);
      feed.clear();
    }
  }
  for (const b of pendingFeed) {
    let done = 0;
    while (done < b.count) {
      done += d.send(0, b, done);
      if (done < b.count) await new Promise((r) => setImmediate(r));
    }
  }
  const back = new Batch(MAX_BATCH);
  const bytes = pool.bytes;
  const passes = new Uint8Array(pool.slots);
  const bell = new Int32Array(slots.dom0);
  let frames = 0;
  const run = (until: number): void => {
    let checks = 0;
    let idle = 0;
    for (;;) {
      if ((++checks & 63) === 0 && performance.now() >= until) return;
      d.service();
      back.clear();
      const n = d.receive(1, back);
      if (n === 0) {
        if (++idle < spin) continue;
        // Domain 0 sleeps on its doorbell (the domain rings it once per batch it sends).
        idle = 0;
        const seen = Atomics.load(bell, DOM0.BELL);
        Atomics.store(bell, DOM0.SLEEPING, 1);
        if (d.pendingTx === 0) Atomics.wait(bell, DOM0.BELL, seen, 2);
        Atomics.store(bell, DOM0.SLEEPING, 0);
        continue;
      }
      idle = 0;
      frames += n;
      for (let k = 0; k < n; k++) {
        const s = back.slots[k] as number;
        if ((passes[s] = (passes[s] as number) + 1) < RESTORE_EVERY) continue;
        passes[s] = 0;
        const c = clean[s] as number;
        bytes.copyWithin(back.offs[k] as number, c, c + FRAME);
      }
      let done = 0;
      while (done < n) done += d.send(0, back, done);
    }
  };
  run(performance.now() + 300);
  frames = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  run(t0 + ms);
  const r = rates(frames, t0, c0);
  await d.destroy();
  return r;
}

/**
 * Records the virtualization cost figures into `r`: throughput (frames per wall-clock second)
 * in a domain against direct, best of three runs each, and for information the same per
 * CPU-second of the process (all threads: the CPU a frame costs, spinning and cross-core cache
 * traffic of the two-thread pipeline included).
 */
export async function virtualizationCost(r: Reporter, ms = 2000): Promise<void> {
  let base: Rates = { wall: 0, cpu: 0 };
  let dom: Rates = { wall: 0, cpu: 0 };
  for (let attempt = 0; attempt < 3; attempt++) {
    const a = direct(ms, 4096);
    if (a.wall > base.wall) base = a;
    const b = await inDomain(ms, 16384, 1);
    if (b.wall > dom.wall) dom = b;
  }
  r.record({ name: 'router called directly in one thread', value: base.wall / 1e6, unit: 'Mpps', target: null, better: 'higher' });
  r.record({ name: 'router in a user domain behind virtual NICs', value: dom.wall / 1e6, unit: 'Mpps', target: null, better: 'higher', baseline: base.wall / 1e6 });
  r.record({ name: 'virtualization cost: router in a domain / direct', value: dom.wall / base.wall, unit: 'ratio', target: 0.67, better: 'higher' });
  r.record({ name: 'router in a user domain per CPU-second (all threads)', value: dom.cpu / 1e6, unit: 'Mpps', target: null, better: 'higher', baseline: base.cpu / 1e6 });
}
