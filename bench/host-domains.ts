/**
 * Virtualization cost (issue 4): a router in a user domain behind two virtual NICs, fed and
 * drained from domain 0 over the rings, against the same router called directly in one thread.
 *
 * 64-byte UDP/IPv4 frames to the router's input MAC, routed out of its second interface to a
 * neighbour whose MAC is the input interface's own, so that domain 0 can hand a forwarded frame
 * straight back to the input NIC (page flip, no copy). Each frame's 64 bytes are restored from a
 * pristine copy when it comes back (TTL, MACs), in both set-ups, so the router always sees the
 * same frames. Rates are wall-clock frames per second leaving the router.
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

/** The router in this thread: process a batch, restore and re-feed what it sent. */
function direct(ms: number, inFlight: number): number {
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
  let frames = 0;
  const run = (until: number): void => {
    while (performance.now() < until) {
      for (const b of batches) {
        out.clear();
        r.process(0, b, ctx);
        frames += out.count;
        for (let k = 0; k < out.count; k++) {
          const c = cleanAt(out.slots[k] as number);
          bytes.copyWithin(out.offs[k] as number, c, c + FRAME);
        }
      }
    }
  };
  run(performance.now() + 300);
  frames = 0;
  const t0 = performance.now();
  run(t0 + ms);
  return frames / ((performance.now() - t0) / 1000);
}

/** The router in a user domain: domain 0 feeds NIC 0, drains NIC 1, restores and feeds again. */
async function inDomain(ms: number, inFlight: number): Promise<number> {
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
    // Short spins on both sides: on a shared machine a spinning thread burns the time slice its
    // peer needs; many frames in flight keep each side busy while the other is descheduled.
    spin: 50,
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
        if (++idle < 50) continue;
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
        const c = clean[back.slots[k] as number] as number;
        bytes.copyWithin(back.offs[k] as number, c, c + FRAME);
      }
      let done = 0;
      while (done < n) done += d.send(0, back, done);
    }
  };
  run(performance.now() + 300);
  frames = 0;
  const t0 = performance.now();
  run(t0 + ms);
  const rate = frames / ((performance.now() - t0) / 1000);
  await d.destroy();
  return rate;
}

/** Records the virtualization cost figures into `r`. */
export async function virtualizationCost(r: Reporter, ms = 2000): Promise<void> {
  const inFlight = 16384;
  let best = 0;
  let base = 0;
  for (let attempt = 0; attempt < 2; attempt++) {
    base = Math.max(base, direct(ms, 4096));
    best = Math.max(best, await inDomain(ms, inFlight));
  }
  r.record({ name: 'router called directly in one thread', value: base / 1e6, unit: 'Mpps', target: null, better: 'higher' });
  r.record({ name: 'router in a user domain behind virtual NICs', value: best / 1e6, unit: 'Mpps', target: null, better: 'higher', baseline: base / 1e6 });
  r.record({ name: 'virtualization cost: router in a domain / direct', value: best / base, unit: 'ratio', target: 0.67, better: 'higher' });
}
