/**
 * Firewall and NAT figures for `npm run bench -- functions` (BENCH_FUNCTIONS=firewall): 64-byte
 * frames in batches of 256 from a PacketPool, one thread, beside a bare loop over the same frames.
 *
 * - firewall: 1,000 rules (TCP/UDP port rules over prefixes, as an edge ruleset), 100,000 tracked
 *   UDP flows; the measured frames are random packets of those flows in both directions, spread
 *   over 64 batches so that the conntrack table is visited all over (cache misses included);
 * - the same with `fastPath: false` (every packet walks the indexed rules), for information;
 * - NAT with 100,000 mappings, for information: frames are restored from a pristine copy before
 *   each batch (NAT rewrites them), and the baseline does the same copy.
 */
import { Batch, PacketPool } from '../src/packet/pool.js';
import { udpFrame } from '../src/packet/frames.js';
import type { Emit, NetworkFunction, ProcessContext } from '../src/functions/contract.js';
import { firewallFactory } from '../src/functions/firewall.js';
import { natFactory } from '../src/functions/nat.js';
import { rate, type Reporter } from './report.js';
import { rng } from '../src/functions/testing.js';
import { CountingEmit } from './emit.js';

const FLOWS = 100_000;
const BATCHES = 64;
const L2 = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };
// 14 + 20 + 8 + 22 = 64 bytes.
const PAYLOAD = new Uint8Array(22);

function flowTuple(i: number): { src: number; dst: number; sport: number; dport: number } {
  return { src: (0x0a000000 + i) >>> 0, dst: (0xc6336400 | (i % 200)) >>> 0, sport: 1024 + (i % 60000), dport: [53, 123, 443, 4500, 5060][i % 5]! };
}

function outFrame(i: number): Uint8Array {
  const t = flowTuple(i);
  return udpFrame({ ...L2, src: t.src, dst: t.dst, srcPort: t.sport, dstPort: t.dport, payload: PAYLOAD });
}
function backFrame(i: number, ext?: { addr: number; port: number }): Uint8Array {
  const t = flowTuple(i);
  return udpFrame({ ...L2, src: t.dst, dst: ext?.addr ?? t.src, srcPort: t.dport, dstPort: ext?.port ?? t.sport, payload: PAYLOAD });
}

/** An edge ruleset of 1,000 rules: per-service allows over server prefixes, some rejects, a lan rule last-but-few. */
function rules1000(): unknown[] {
  const r = rng(42);
  const rules: unknown[] = [];
  for (let i = 0; i < 990; i++) {
    const proto = r() % 3 === 0 ? 'udp' : 'tcp';
    const lo = 1 + (r() % 60000);
    rules.push({
      name: `svc${i}`,
      in: 'wan',
      proto,
      dst: `192.0.${r() % 256}.${(r() % 64) * 4}/30`,
      dport: r() % 2 ? lo : `${lo}-${lo + (r() % 50)}`,
      action: r() % 10 === 0 ? 'reject' : 'allow',
    });
  }
  for (let i = 0; i < 8; i++) rules.push({ name: `block${i}`, in: 'lan', proto: 'tcp', dport: 6660 + i, action: 'deny' });
  rules.push({ name: 'replies', state: ['established', 'related'], action: 'allow' });
  rules.push({ name: 'lan-out', in: 'lan', action: 'allow' });
  return rules;
}

interface Loaded {
  pool: PacketPool;
  batches: Batch[];
  ports: number[];
}

// 64 batches of 256 random packets of the flows, alternating lan (orig) / wan (reply) batches.
function load(make: (flow: number, reply: boolean) => Uint8Array): Loaded {
  const r = rng(9);
  const pool = new PacketPool({ slots: BATCHES * 256 + 16 });
  const batches: Batch[] = [];
  const ports: number[] = [];
  for (let k = 0; k < BATCHES; k++) {
    const b = new Batch();
    const reply = k % 2 === 1;
    for (let i = 0; i < 256; i++) pool.load(make(r() % FLOWS, reply), b);
    batches.push(b);
    ports.push(reply ? 1 : 0);
  }
  return { pool, batches, ports };
}

function establish(fn: NetworkFunction, frames: (i: number) => Uint8Array): void {
  const pool = new PacketPool({ slots: 300 });
  const emit = new CountingEmit();
  const ctx: ProcessContext = { pool, out: emit, now: 0 };
  const b = new Batch();
  for (let i = 0; i < FLOWS; i += 256) {
    b.clear();
    for (let j = i; j < Math.min(FLOWS, i + 256); j++) pool.load(frames(j), b);
    fn.process(0, b, ctx);
    for (let j = 0; j < b.count; j++) pool.release(b.slots[j]!);
  }
}

function bare(l: Loaded, emit: CountingEmit): () => number {
  let k = 0;
  return () => {
    const b = l.pool.bytes;
    const batch = l.batches[k]!;
    k = (k + 1) % BATCHES;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offs[i]!;
      const t = (b[off + 12]! << 8) | b[off + 13]!;
      emit.send(t & 1, batch.slots[i]!, off, batch.lens[i]!);
    }
    return batch.count;
  };
}

async function benchFirewall(r: Reporter, fastPath: boolean): Promise<void> {
  const fw = firewallFactory.create({ interfaces: [{ name: 'lan' }, { name: 'wan' }], rules: rules1000(), maxFlows: 131_072, fastPath });
  establish(fw, outFrame);
  const l = load((i, reply) => (reply ? backFrame(i) : outFrame(i)));
  const emit = new CountingEmit();
  const ctx: ProcessContext = { pool: l.pool, out: emit, now: 1 };
  let k = 0;
  const run = (): number => {
    const batch = l.batches[k]!;
    fw.process(l.ports[k]!, batch, ctx);
    k = (k + 1) % BATCHES;
    return batch.count;
  };
  const base = rate(bare(l, new CountingEmit()), 1000) / 1e6;
  const v = rate(run, 2000) / 1e6;
  // The same per CPU second of this thread (insensitive to other processes taking the cores).
  const u0 = process.cpuUsage();
  let done = 0;
  while (done < 2_000_000) done += run();
  const u = process.cpuUsage(u0);
  r.note(`firewall${fastPath ? '' : ' (fastPath off)'}: ${(done / (u.user + u.system)).toFixed(2)} Mpps per CPU-second of this thread`);
  const c = fw.counters();
  if (emit.dropped !== 0 || c['flows'] !== FLOWS) throw new Error(`firewall bench: ${emit.dropped} dropped: ${JSON.stringify(c).slice(0, 500)}`);
  if (fastPath) r.record({ name: 'firewall 1000 rules 100k flows', value: v, unit: 'Mpps', target: 5, better: 'higher', baseline: base });
  else r.record({ name: 'firewall 1000 rules 100k flows, rule walk for every packet (fastPath off)', value: v, unit: 'Mpps', target: null, better: 'higher', baseline: base });
}

async function benchNat(r: Reporter): Promise<void> {
  const nat = natFactory.create({ snat: { addresses: ['203.0.113.0/30'] }, maxFlows: 131_072 });
  const ext = new Map<number, { addr: number; port: number }>();
  // Learn each flow's mapping from what the NAT emits for its first packet.
  {
    const pool = new PacketPool({ slots: 300 });
    const b = new Batch();
    let flow = 0;
    const emit: Emit = {
      send(_p, slot, off) {
        const x = pool.bytes;
        ext.set(flow++, { addr: ((x[off + 26]! << 24) | (x[off + 27]! << 16) | (x[off + 28]! << 8) | x[off + 29]!) >>> 0, port: (x[off + 34]! << 8) | x[off + 35]! });
        pool.release(slot);
      },
      drop(slot) {
        flow++;
        pool.release(slot);
      },
    };
    for (let i = 0; i < FLOWS; i += 256) {
      b.clear();
      for (let j = i; j < Math.min(FLOWS, i + 256); j++) pool.load(outFrame(j), b);
      nat.process(0, b, { pool, out: emit, now: 0 });
    }
  }
  const l = load((i, reply) => (reply ? backFrame(i, ext.get(i)) : outFrame(i)));
  // 64-byte frames at 4-aligned offsets: restored as 16 words each, without allocation.
  const words = new Uint32Array(l.pool.buffer);
  const pristine = words.slice();
  const restore = (batch: Batch): void => {
    for (let i = 0; i < batch.count; i++) {
      const w = batch.offs[i]! >>> 2;
      for (let j = w; j < w + 16; j++) words[j] = pristine[j]!;
    }
  };
  const emit = new CountingEmit();
  const ctx: ProcessContext = { pool: l.pool, out: emit, now: 1 };
  let k = 0;
  const run = (): number => {
    const batch = l.batches[k]!;
    restore(batch);
    nat.process(l.ports[k]!, batch, ctx);
    k = (k + 1) % BATCHES;
    return batch.count;
  };
  const bareLoop = bare(l, new CountingEmit());
  let kb = 0;
  const base = rate(() => {
    restore(l.batches[kb]!);
    kb = (kb + 1) % BATCHES;
    return bareLoop();
  }, 1000) / 1e6;
  const v = rate(run, 2000) / 1e6;
  if (emit.dropped !== 0) throw new Error(`nat bench: ${emit.dropped} dropped`);
  r.record({ name: 'NAT 100k mappings (frames restored each batch)', value: v, unit: 'Mpps', target: null, better: 'higher', baseline: base });
}

/**
 * Runs the firewall and NAT figures.
 *
 * @example
 * await runFirewall(new Reporter('functions'));
 */
export async function runFirewall(r: Reporter): Promise<void> {
  await benchFirewall(r, true);
  await benchFirewall(r, false);
  await benchNat(r);
}
