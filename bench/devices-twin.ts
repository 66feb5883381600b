/**
 * Digital twin benchmarks (part of `npm run bench -- devices`).
 *
 * Throughput: frames per second a router twin follows on one core, 64-byte UDP frames in batches
 * of 256, both streams (each pass: 256 frames the device received, then the 256 frames it sent,
 * which the twin matches), beside the model router alone on the same input frames. Both loops
 * copy the frames into the pool from pristine copies every pass (the router rewrites them).
 * The rate counts input frames (each also has its output frame).
 *
 * Detection delay: captures of a router "device" (our router, 2,000 frames/s of four flows)
 * that develops a fault half-way (route deleted, one flow filtered, MTU lowered, neighbour MAC
 * changed) are followed with `followCaptures` and the default 20 ms window; the figure is the
 * worst, over the four faults, of report time − capture time of the first affected frame.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Batch, PacketPool } from '../src/packet/pool.js';
import { udpFrame } from '../src/packet/frames.js';
import { PcapWriter } from '../src/packet/pcap.js';
import { LINKTYPE_ETHERNET } from '../src/packet/capture.js';
import type { Emit } from '../src/functions/contract.js';
import { createFunction } from '../src/functions/registry.js';
import { createTwin } from '../src/functions/twin.js';
import { followCaptures } from '../src/functions/lib/twin-follow.js';
import { rate, type Reporter } from './report.js';

const MAC = { h1: '02:00:00:00:01:02', r0: '02:00:00:00:01:01', r1: '02:00:00:00:02:01', h2: '02:00:00:00:02:02' };

function routerConfig(o: { noRoute?: boolean; mtu?: number; h2Mac?: string } = {}): unknown {
  return {
    interfaces: [{ name: 'r0', mac: MAC.r0, addresses: ['10.0.1.1/24'] }, { name: 'r1', mac: MAC.r1, addresses: ['10.0.2.1/24'], ...(o.mtu !== undefined ? { mtu: o.mtu } : {}) }],
    routes: o.noRoute === true ? [] : [{ prefix: '10.2.0.0/16', via: '10.0.2.2' }],
    neighbors: [{ interface: 'r0', address: '10.0.1.2', mac: MAC.h1 }, { interface: 'r1', address: '10.0.2.2', mac: o.h2Mac ?? MAC.h2 }],
  };
}

/** Runs a router on frames and collects copies of what it sends (port, bytes). */
function routerOut(cfg: unknown, frames: readonly Uint8Array[]): { port: number; bytes: Uint8Array }[] {
  const fn = createFunction('router', cfg);
  const pool = new PacketPool({ slots: 1024 });
  const out: { port: number; bytes: Uint8Array }[] = [];
  const emit: Emit = {
    send: (port, slot, off, len) => { out.push({ port, bytes: pool.bytes.slice(off, off + len) }); pool.release(slot); },
    drop: (slot) => pool.release(slot),
  };
  const b = new Batch();
  for (let i = 0; i < frames.length; i += 256) {
    b.clear();
    for (const f of frames.slice(i, i + 256)) pool.load(f, b);
    fn.process(0, b, { pool, out: emit, now: 0 });
  }
  return out;
}

function throughput(r: Reporter): void {
  // 64-byte frames: 14 + 20 + 8 + 18 bytes of payload + 4 of FCS on the wire.
  const frames = Array.from({ length: 256 }, (_, i) => udpFrame({ srcMac: MAC.h1, dstMac: MAC.r0, src: '10.0.1.2', dst: `10.2.${i >> 4}.${(i & 15) + 1}`, srcPort: 10000 + i, dstPort: 6000, id: i, payload: new Uint8Array(18) }));
  const outs = routerOut(routerConfig(), frames);
  if (outs.length !== 256) throw new Error(`model forwarded ${outs.length} of 256`);
  const pool = new PacketPool({ slots: 1024 });
  const b = new Batch();
  const load = (list: readonly Uint8Array[]): void => {
    b.clear();
    for (const f of list) {
      const s = pool.alloc();
      const off = pool.frameOffset(s);
      pool.bytes.set(f, off);
      b.push(s, off, f.length);
    }
  };
  const release: Emit = { send: (_p, slot) => pool.release(slot), drop: (slot) => pool.release(slot) };
  const model = createFunction('router', routerConfig());
  const alone = rate(() => {
    load(frames);
    model.process(0, b, { pool, out: release, now: 0 });
    return 256;
  }, 1500);
  const twin = createTwin({ function: 'router', config: routerConfig() });
  const outBytes = outs.map((o) => o.bytes);
  const inPort = twin.portIndex('r0.in');
  const outPort = twin.portIndex('r1.out');
  let now = 0;
  const twinRate = rate(() => {
    now += 1;
    const ctx = { pool, out: release, now };
    load(frames);
    twin.observe(inPort, b, ctx);
    load(outBytes);
    twin.observe(outPort, b, ctx);
    // The runtime ticks every few milliseconds: every 8 passes (2,048 frames) here.
    if ((now & 7) === 0) twin.tick(ctx);
    return 256;
  }, 1500);
  const c = twin.counters();
  if (c['missing'] !== 0 || c['unexpected'] !== 0) throw new Error(`twin diverged in the benchmark: ${JSON.stringify(c)}`);
  r.record({ name: 'twin follows (router model, 64 B frames, input + output streams)', value: twinRate, unit: 'frames/s', target: null, better: 'higher', baseline: alone });
  r.note(`model router alone on the same frames: ${Math.round(alone)} frames/s; twin matched ${String(c['matched'])} frames`);
}

/** Captures of a device that develops `fault` at frame `at` of `n`; returns the delay of the first report. */
function detection(dir: string, fault: 'route' | 'filter' | 'mtu' | 'neighbour'): number {
  const n = 2000;
  const at = 1000;
  const t0 = 1_700_000_000_000_000_000n;
  const paths = { in: join(dir, `${fault}-in.pcap`), o0: join(dir, `${fault}-o0.pcap`), o1: join(dir, `${fault}-o1.pcap`) };
  const w = { in: PcapWriter.create(paths.in, { linkType: LINKTYPE_ETHERNET, nanosecond: true }), o0: PcapWriter.create(paths.o0, { linkType: LINKTYPE_ETHERNET, nanosecond: true }), o1: PcapWriter.create(paths.o1, { linkType: LINKTYPE_ETHERNET, nanosecond: true }) };
  const faulty = fault === 'route' ? routerConfig({ noRoute: true }) : fault === 'mtu' ? routerConfig({ mtu: 1280 }) : fault === 'neighbour' ? routerConfig({ h2Mac: '02:00:00:00:09:09' }) : routerConfig();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 4;
    const l2 = { srcMac: MAC.h1, dstMac: MAC.r0, src: '10.0.1.2', id: i };
    frames.push(k === 3
      ? udpFrame({ ...l2, dst: '10.0.2.2', srcPort: 7000, dstPort: 7000, payload: new Uint8Array(1372) })
      : udpFrame({ ...l2, dst: k === 2 ? '10.0.2.2' : '10.2.0.5', srcPort: 5000 + k, dstPort: 6000 + k, payload: new Uint8Array(22) }));
  }
  const good = routerOut(routerConfig(), frames.slice(0, at));
  const bad = routerOut(faulty, frames.slice(at)).filter((o) => fault !== 'filter' || !(o.bytes[23] === 17 && ((o.bytes[36] as number) << 8 | (o.bytes[37] as number)) === 6001));
  // 2,000 frames/s; each output 100 µs after the input (in order; the ICMP errors too).
  for (let i = 0; i < n; i++) w.in.write(0, t0 + BigInt(i) * 500_000n, frames[i] as Uint8Array);
  const byInput = (list: { port: number; bytes: Uint8Array }[], base: number): void => {
    // The router sends at most one frame per input here (a forward or an ICMP error), in order;
    // outputs are stamped with the time of the input that caused them, matched by IP ID.
    for (const o of list) {
      const ipOff = 14;
      const proto = o.bytes[ipOff + 9];
      const id = proto === 1 ? ((o.bytes[ipOff + 28 + 4] as number) << 8 | (o.bytes[ipOff + 28 + 5] as number)) : ((o.bytes[ipOff + 4] as number) << 8 | (o.bytes[ipOff + 5] as number));
      const i = Math.max(base, Math.min(n - 1, id));
      (o.port === 0 ? w.o0 : w.o1).write(0, t0 + BigInt(i) * 500_000n + 100_000n, o.bytes);
    }
  };
  byInput(good, 0);
  byInput(bad, at);
  for (const x of Object.values(w)) x.close();
  let delay = NaN;
  const twin = createTwin({ function: 'router', config: routerConfig() }, { onDivergence: (d, phase) => { if (phase === 'open' && Number.isNaN(delay)) delay = d.reportedAt - d.firstTs; } });
  followCaptures(twin, [{ port: 'r0.in', path: paths.in }, { port: 'r0.out', path: paths.o0 }, { port: 'r1.out', path: paths.o1 }]);
  const first = twin.divergences()[0];
  if (first === undefined || first.kind !== fault) throw new Error(`${fault}: twin reported ${JSON.stringify(twin.divergences().map((d) => d.diagnosis))}`);
  return delay;
}

export async function run(r: Reporter): Promise<void> {
  throughput(r);
  const dir = mkdtempSync(join(tmpdir(), 'swtw-bench-'));
  try {
    const delays: number[] = [];
    for (const fault of ['route', 'filter', 'mtu', 'neighbour'] as const) {
      const d = detection(dir, fault);
      delays.push(d);
      r.note(`detection delay, ${fault} fault, on captures: ${d.toFixed(2)} ms`);
    }
    r.record({ name: 'twin detection delay', value: Math.max(...delays), unit: 'ms', target: 100, better: 'lower' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await Promise.resolve();
}
