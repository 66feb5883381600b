/**
 * The partitioning test bed (tests and bench/migration-elastic.ts): a function partitioned on
 * one server between a LAN tap and a WAN tap, with a reflector on the WAN side that sends every
 * frame back with addresses and ports swapped (checksum-neutral: one's complement sums do not
 * depend on the order of their words), so every frame crosses the function twice, once per
 * direction, and a reply passes a stateful firewall only if it reaches the instance that saw its
 * flow leave.
 *
 * Two ways to load it: `startSource` (a traffic source endpoint of numbered UDP flows at a
 * real-time rate; the LAN sink counts loss, duplicates and reordering per flow), or `circulate`
 * (a closed loop: `n` frames injected once, each re-injected when it comes back, so the
 * function runs flat out with a constant population and none may be lost).
 *
 * @example
 * const bed = await partitionBed({ replicas: 2 });
 * bed.startSource({ kpps: 20, flows: 64 });
 * await bed.partition.resize(3);
 * const r = await bed.finish(); // r.lost === 0
 */
import assert from 'node:assert/strict';
import { Batch, MAX_BATCH } from '../packet/pool.js';
import type { Emit, Plain } from '../functions/contract.js';
import { tcpFrame, udpFrame } from '../packet/frames.js';
import { trafficSourceFactory, type TrafficSource } from '../functions/traffic-source.js';
import { trafficSinkFactory, type TrafficSink } from '../functions/traffic-sink.js';
import { createFunction } from '../functions/registry.js';
import { HostServer } from './hostserver.js';
import { Partition } from './partition.js';
import { ServerLink } from './migration-link.js';
import { untilQuiet } from './migration-bed.js';
import { VxlanUplink } from './uplink.js';
import { SpreadNode, type SpreadStateStore } from './spread.js';
import type { InstanceSite } from './partition.js';

/** The LAN address of flow `i` (10.`net`.x.y, y in 1…250). */
export function flowAddress(i: number, net = 0): string {
  return `10.${net}.${Math.floor(i / 250) & 255}.${(i % 250) + 1}`;
}

export const FIREWALL_CONFIG = { interfaces: [{ name: 'lan' }, { name: 'wan' }], defaultPolicy: 'deny', rules: [{ name: 'lan-out', in: 'lan', action: 'allow' }] };

export interface PartitionBedInit {
  replicas: number;
  fn?: { name: string; kind: string; config: Plain };
  /** Emulated capacity of the server (packets/s); default none. */
  capacityPps?: number;
  /** 2: odd instances run on a second server joined by a ServerLink. */
  servers?: 1 | 2;
  /**
   * Servers reached over VXLAN on 127.0.0.1 as agents of other processes would be (spread.ts:
   * in-band markers, flows through a state map): instance k runs on server k mod (1 + spread).
   */
  spread?: number;
  /** The front's view of which servers are alive (SpreadNodeInit.alive). */
  alive?: (server: string) => boolean;
}

export interface PartitionBed {
  host: HostServer;
  /** Every server (the first holds the taps and the spreader). */
  hosts: HostServer[];
  partition: Partition;
  sink: TrafficSink;
  /** With `spread`: the spread nodes (the first on `host`), and a resize that serves the instances first and stops the removed ones after. */
  spreadNodes: SpreadNode[];
  spreadResize(n: number): ReturnType<Partition['resize']>;
  /** Frames the WAN reflector turned around, and frames the LAN tap received. */
  readonly reflected: number;
  readonly returned: number;
  /** Starts numbered UDP flows (ids 1…flows, distinct source addresses and ports). */
  startSource(o: { kpps: number; flows: number }): void;
  /** Injects `n` frames of `flows` flows that circulate until `stopCirculating`. */
  circulate(n: number, flows: number): void;
  /** Stops re-injecting; resolves with the frames that came back after the stop (the population). */
  stopCirculating(): Promise<number>;
  /** Sends frames into the function's WAN side, as if they came from the network behind the reflector. */
  fromWan(frames: readonly Uint8Array[]): void;
  /** Stops the source, drains, and compares what was sent with what returned. */
  finish(): Promise<{ sent: number; received: number; lost: number; duplicates: number; reordered: number }>;
  close(): Promise<void>;
}

function reflect(bytes: Uint8Array, b: Batch): void {
  for (let k = 0; k < b.count; k++) {
    const o = b.offs[k] as number;
    if ((b.lens[k] as number) < 42 || bytes[o + 12] !== 0x08 || bytes[o + 13] !== 0x00) continue;
    const l4 = o + 14 + ((bytes[o + 14] as number) & 15) * 4;
    for (let i = 0; i < 4; i++) {
      const t = bytes[o + 26 + i] as number;
      bytes[o + 26 + i] = bytes[o + 30 + i] as number;
      bytes[o + 30 + i] = t;
    }
    for (let i = 0; i < 2; i++) {
      const t = bytes[l4 + i] as number;
      bytes[l4 + i] = bytes[l4 + 2 + i] as number;
      bytes[l4 + 2 + i] = t;
    }
  }
}

/**
 * Builds the bed (no traffic yet) and starts the server's loop.
 *
 * @example
 * const bed = await partitionBed({ replicas: 4 });
 */
export async function partitionBed(init: PartitionBedInit): Promise<PartitionBed> {
  const net = 'part';
  const h = new HostServer({ name: 'part-s1', slots: 65536, slotSize: 512, domain: { watchdogMs: 5000, ringCapacity: 32768 }, ...(init.capacityPps ? { capacity: { capacity: init.capacityPps, unit: 'packets' as const } } : {}) });
  if (init.capacityPps) h.addNetwork(net, { allocation: 10 });
  const hosts = [h];
  let link: ServerLink | undefined;
  if (init.servers === 2) {
    const h2 = new HostServer({ name: 'part-s2', slots: 65536, slotSize: 512, domain: { watchdogMs: 5000, ringCapacity: 32768 } });
    hosts.push(h2);
    link = new ServerLink(h, h2);
  }
  const fnSpec = init.fn ?? { name: 'fw', kind: 'firewall', config: FIREWALL_CONFIG };
  const nodes: SpreadNode[] = [];
  const flowsByRef = new Map<string, Plain[][]>();
  const state: SpreadStateStore = {
    put: async (ref, f) => void flowsByRef.set(ref, f),
    take: async (ref) => {
      const f = flowsByRef.get(ref);
      flowsByRef.delete(ref);
      return f;
    },
  };
  for (let i = 0; i <= (init.spread ?? -1); i++) {
    const x = i === 0 ? h : new HostServer({ name: `part-s${i + 1}`, slots: 65536, slotSize: 512, domain: { watchdogMs: 5000, ringCapacity: 32768 } });
    if (i > 0) hosts.push(x);
    const uplink = await VxlanUplink.open({ address: '127.0.0.1', port: 0 }, x.pool);
    nodes.push(new SpreadNode({ host: x, uplink, server: x.name, state, ...(i === 0 && init.alive ? { alive: init.alive } : {}) }));
    // Pings and markers cross while the partition starts: the pumps run.
    x.start();
  }
  const ports = createFunction(fnSpec.kind, fnSpec.config).ports.map((x) => x.name);
  const sitesFor = async (n: number): Promise<(InstanceSite | undefined)[]> => {
    const out: (InstanceSite | undefined)[] = [];
    for (let k = 0; k < n; k++) {
      const at = nodes.length > 0 ? k % nodes.length : 0;
      const node = nodes[at];
      if (at === 0 || !node) {
        out.push(undefined);
        continue;
      }
      const front = nodes[0] as SpreadNode;
      await node.serve(net, fnSpec, k, { address: front.init.uplink.address, port: front.init.uplink.port }, ports);
      out.push(front.site(net, fnSpec.name, k, { server: node.init.server, remote: { address: node.init.uplink.address, port: node.init.uplink.port } }));
    }
    return out;
  };
  const partition = await Partition.create({ host: h, network: net, fn: fnSpec, replicas: init.replicas, ...(link ? { servers: [{ host: hosts[1] as HostServer, link }] } : {}), ...(nodes.length > 0 ? { sites: await sitesFor(init.replicas) } : {}) });
  const sink = trafficSinkFactory.create({}) as TrafficSink;
  const release: Emit = { send: (_p, slot) => h.pool.release(slot), drop: (slot) => h.pool.release(slot) };
  const ctx = { pool: h.pool, out: release, now: 0 };
  let reflected = 0;
  let returned = 0;
  let looping = false;
  let afterStop = 0;
  // lanTap: injection point and LAN sink; wanTap: the reflector.
  const lanTap = h.attachExternal(net, `${net}:lan-tap`, (b) => {
    returned += b.count;
    if (looping) {
      // Turned around again (the reflector swapped the tuple; swap back so the flow leaves by LAN again).
      reflect(h.pool.bytes, b);
      h.forward(lanTap, b);
      return true;
    }
    afterStop += b.count;
    ctx.now = performance.now();
    sink.process(0, b, ctx);
    return true;
  });
  const wanTap = h.attachExternal(net, `${net}:wan-tap`, (b) => {
    reflected += b.count;
    reflect(h.pool.bytes, b);
    h.forward(wanTap, b);
    return true;
  });
  h.bridge.wire(lanTap, partition.fronts[0] as number);
  h.bridge.wire(partition.fronts[1] as number, wanTap);
  let source: TrafficSource | undefined;
  for (const x of hosts) x.start();
  return {
    host: h,
    hosts,
    partition,
    sink,
    spreadNodes: nodes,
    async spreadResize(n) {
      const rec = await partition.resize(n, await sitesFor(n));
      for (const node of nodes.slice(1)) for (const r of node.servedList()) if (r.k >= n) await node.unserve(r.key, r.fn, r.k);
      return rec;
    },
    get reflected() {
      return reflected;
    },
    get returned() {
      return returned;
    },
    startSource(o): void {
      const intervalMs = o.flows / o.kpps;
      source = trafficSourceFactory.create({
        flows: Array.from({ length: o.flows }, (_, i) => ({ id: i + 1, kind: 'udp', srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:fe', src: flowAddress(i), dst: '198.51.100.7', srcPort: 20000 + i, dstPort: 9, payloadBytes: 32, intervalMs })),
      }) as TrafficSource;
      const [srcAtt] = h.addEndpoint(net, source, 'src');
      const inject = h.attachExternal(net, `${net}:inject`, (b) => {
        h.forward(lanTap, b);
        return true;
      });
      h.bridge.wire(srcAtt as number, inject);
    },
    fromWan(frames): void {
      const b = new Batch(MAX_BATCH);
      for (const f of frames) {
        h.pool.load(f, b);
        if (b.full) {
          h.forward(wanTap, b);
          b.clear();
        }
      }
      if (b.count > 0) h.forward(wanTap, b);
    },
    circulate(n, flows): void {
      looping = true;
      const b = new Batch(MAX_BATCH);
      for (let i = 0; i < n; i++) {
        const f = i % flows;
        h.pool.load(udpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:fe', src: flowAddress(f, 1), dst: '198.51.100.7', srcPort: 20000 + f, dstPort: 9, payload: new Uint8Array(32) }), b);
        if (b.full || i === n - 1) {
          h.forward(lanTap, b);
          b.clear();
        }
      }
    },
    async stopCirculating(): Promise<number> {
      looping = false;
      afterStop = 0;
      // Until nothing came back for 300 ms.
      await untilQuiet(() => afterStop, 300);
      return afterStop;
    },
    async finish() {
      h.endpointsTicking = false;
      const sentNow = (): number => ((source?.counters()['flows'] ?? []) as readonly { packets: number }[]).reduce((n, f) => n + f.packets, 0);
      const recv = (): number => sink.report().reduce((n, f) => n + f.received, 0);
      const sent = sentNow();
      await untilQuiet(recv, 1000, () => recv() >= sent);
      const flows = sink.report();
      const duplicates = flows.reduce((n, f) => n + f.duplicates, 0);
      const received = recv();
      return { sent, received, lost: sent - received + duplicates, duplicates, reordered: flows.reduce((n, f) => n + f.reordered, 0) };
    },
    async close(): Promise<void> {
      await partition.close();
      link?.close();
      for (const n of nodes) {
        await n.close();
        await n.init.uplink.close();
      }
      for (const x of hosts) await x.close();
    },
  };
}

/** A NAT that may be partitioned (the SNAT address 203.0.113.1). */
export const PARTITIONED_NAT = { name: 'nat', kind: 'nat', config: { snat: { addresses: ['203.0.113.1'] }, partitioned: true } };

/** N TCP connections through a partitioned NAT; see tcpThroughNat. */
export interface TcpThroughNat {
  readonly n: number;
  /** The inside address of connection `i` (its source port is 40000 + i). */
  host(i: number): string;
  /** The 16-bit big-endian field at byte `at` of frame `f` (34: TCP source port, 36: destination). */
  port(f: Uint8Array, at: number): number;
  /** The handshake of every connection to 198.51.100.7:443: the SYNs as they left outside, the SYN-ACKs as they came back inside (the ACKs sent too). */
  handshake(): Promise<{ syns: Uint8Array[]; synacks: Uint8Array[] }>;
  /** One data segment of each connection out (byte i) and its answer back: both as they left the NAT. */
  exchange(): Promise<{ out: Uint8Array[]; back: Uint8Array[] }>;
  /**
   * For each instance count of `counts`: `resize` to it, then one exchange in which every segment
   * must leave from the SNAT address and every answer reach its connection's host and port
   * (assertion errors otherwise). Returns the connections each resize moved.
   */
  roundsThrough(counts: readonly number[], resize: (n: number) => Promise<{ readonly flows: number }>): Promise<number[]>;
}

/**
 * Taps at a NAT partition's two fronts on `h` (inside: front 0, outside: front 1) and `n`
 * connections through it, each exchange waiting (5 s at most) until every frame came out.
 * The host must be started.
 *
 * @example
 * const t = tcpThroughNat(h, 'natnet', p);
 * await t.handshake();
 * await p.resize(3);
 * const { back } = await t.exchange(); // back[k] to t.host(back[k][54])
 */
export function tcpThroughNat(h: HostServer, net: string, p: Partition, n = 48): TcpThroughNat {
  const atInside: Uint8Array[] = [];
  const atOutside: Uint8Array[] = [];
  const tap = (into: Uint8Array[]) => (b: Batch): boolean => {
    for (let k = 0; k < b.count; k++) into.push(h.pool.bytes.slice(b.offs[k] as number, (b.offs[k] as number) + (b.lens[k] as number)));
    for (let k = 0; k < b.count; k++) h.pool.release(b.slots[k] as number);
    b.clear();
    return true;
  };
  const inside = h.attachExternal(net, 'inside', tap(atInside));
  const outside = h.attachExternal(net, 'outside', tap(atOutside));
  h.bridge.wire(inside, p.fronts[0] as number);
  h.bridge.wire(p.fronts[1] as number, outside);
  const M = { srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02' };
  const send = async (from: number, frames: Uint8Array[], into: Uint8Array[]): Promise<Uint8Array[]> => {
    into.length = 0;
    const b = new Batch();
    for (const f of frames) h.pool.load(f, b);
    h.forward(from, b);
    const end = performance.now() + 5000;
    while (into.length < frames.length && performance.now() < end) await new Promise((r) => setTimeout(r, 2));
    if (into.length !== frames.length) throw new Error(`${frames.length - into.length} of ${frames.length} frames missing`);
    return [...into];
  };
  const port = (f: Uint8Array, at: number): number => (f[at]! << 8) | f[at + 1]!;
  const host = (i: number): string => `10.0.${i >> 8}.${(i & 255) + 1}`;
  const fromInside = (flags: number, seq: number, ack?: number, payload?: (i: number) => Uint8Array): Uint8Array[] =>
    Array.from({ length: n }, (_, i) => tcpFrame({ ...M, src: host(i), dst: '198.51.100.7', srcPort: 40000 + i, dstPort: 443, flags, seq, ...(ack !== undefined ? { ack } : {}), ...(payload ? { payload: payload(i) } : {}) }));
  const t: TcpThroughNat = {
    n,
    host,
    port,
    handshake: async () => {
      const syns = await send(inside, fromInside(0x02, 1000), atOutside);
      const synacks = await send(outside, syns.map((f) => tcpFrame({ ...M, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: port(f, 34), flags: 0x12, seq: 5000, ack: 1001 })), atInside);
      await send(inside, fromInside(0x10, 1001, 5001), atOutside);
      return { syns, synacks };
    },
    exchange: async () => {
      const out = await send(inside, fromInside(0x18, 1001, 5001, (i) => new Uint8Array([i])), atOutside);
      const back = await send(outside, out.map((f) => tcpFrame({ ...M, src: '198.51.100.7', dst: '203.0.113.1', srcPort: 443, dstPort: port(f, 34), flags: 0x18, seq: 5001, ack: 1002, payload: new Uint8Array([f[54]!]) })), atInside);
      return { out, back };
    },
    roundsThrough: async (counts, resize) => {
      const rounds: number[] = [];
      for (const c of counts) {
        rounds.push((await resize(c)).flows);
        const { out, back } = await t.exchange();
        for (const f of out) assert.deepEqual([...f.subarray(26, 30)], [203, 0, 113, 1]);
        for (const f of back) {
          const i = f[54]!;
          assert.equal(`${f[30]}.${f[31]}.${f[32]}.${f[33]}`, host(i), `connection ${i} after ${c} instances`);
          assert.equal(port(f, 36), 40000 + i);
        }
      }
      return rounds;
    },
  };
  return t;
}
