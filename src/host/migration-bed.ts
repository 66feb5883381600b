/**
 * The migration test bed (tests and bench/migration.ts): traffic-source → router (in a user
 * domain) → traffic-sink, real frames at a real-time rate, on one server or with the router on
 * a second server joined by a `ServerLink`. The sink sits behind a gap meter, which records per
 * flow the longest time between two consecutive arrivals (the interruption a migration causes)
 * before the sink counts loss, duplicates and reordering.
 *
 * @example
 * const bed = await routerBed({ kpps: 100, flows: 10, servers: 2 });
 * bed.gaps.reset();
 * const rec = await migrateDomain({ from: bed.hosts[0], domain: bed.domain, to: bed.hosts[1], link: bed.link, reason: 'operator' });
 * const result = await bed.finish();
 */
import type { Batch } from '../packet/pool.js';
import { DomainPool } from './domain-pool.js';
import type { Emit } from '../functions/contract.js';
import { trafficSourceFactory, TEST_MAGIC, type TrafficSource } from '../functions/traffic-source.js';
import { trafficSinkFactory, type FlowReport, type TrafficSink } from '../functions/traffic-sink.js';
import { HostServer } from './hostserver.js';
import { ServerLink } from './migration-link.js';

/**
 * Polls `count` every 10 ms until `done()` holds or it has not changed for `quietMs`: the end of
 * a drain that cannot know when the last frame is in.
 *
 * @example await untilQuiet(received, 1000, () => received() >= sent);
 */
export async function untilQuiet(count: () => number, quietMs: number, done: () => boolean = () => false): Promise<void> {
  let last = count();
  let lastAt = performance.now();
  while (!done() && performance.now() - lastAt < quietMs) {
    await new Promise((r) => setTimeout(r, 10));
    const n = count();
    if (n !== last) {
      last = n;
      lastAt = performance.now();
    }
  }
}

/** The longest gap of a flow, with its anatomy from the source's timestamp in each frame. */
export interface Gap {
  ms: number;
  flow: number;
  /** Arrival of the frame that ends the gap (performance.now() ms). */
  at: number;
  /** Time between the two frames' emission by the source (a source that sent late). */
  emitMs: number;
  /** Source → sink latency of the frame before the gap and of the one that ends it (a path that stalled). */
  latencyBeforeMs: number;
  latencyAfterMs: number;
}

/**
 * Per test flow (UDP over untagged IPv4: test header at byte 42), the longest time between two
 * consecutive arrivals (the interruption a migration causes) and where it came from: the test header's timestamp (traffic-source.ts, byte 12 of the
 * header) splits a gap into the source's emission gap and the growth of the path's latency.
 * `mark()` measures the gap that spans one instant per flow (the switch from one instance to the
 * next: the last frame before it, the first after it); `boundary()` the same switch by sequence
 * numbers (valid when the instances overlap); `record()` keeps every arrival so that the longest
 * gap within any window can be read afterwards (`longestIn`).
 *
 * @example
 * const g = new GapMeter();
 * g.observe(pool.bytes, batch, performance.now());
 * g.longest(); // { ms, flow, emitMs, latencyBeforeMs, latencyAfterMs, at }
 */
export class GapMeter {
  private readonly last = new Map<number, number>();
  private readonly lastEmit = new Map<number, number>();
  private readonly perFlow = new Map<number, number>();
  private max: Gap = GapMeter.none();
  private readonly pending = new Set<number>();
  private span: Gap = GapMeter.none();
  private view: DataView | undefined;
  /** Arrivals before this instant (the last reset) open no gap of `longest`, but still one spanning a mark. */
  private floor = -Infinity;
  /** Per flow the first sequence number sent to the new instance (see `boundary`), and the frames either side. */
  private readonly cut = new Map<number, { seq: number; oldAt: number; oldEmit: number; newAt: number; newEmit: number }>();
  /** Per flow every arrival time while recording (see `record`). */
  private readonly arrivals = new Map<number, { at: Float64Array; n: number }>();
  private recording = false;
  private static none(): Gap {
    return { ms: 0, flow: -1, at: 0, emitMs: 0, latencyBeforeMs: 0, latencyAfterMs: 0 };
  }
  /** Forgets the past (call once the traffic runs steadily). */
  reset(): void {
    this.floor = performance.now();
    this.perFlow.clear();
    this.pending.clear();
    this.max = GapMeter.none();
    this.span = GapMeter.none();
  }
  /** Forgets the longest gaps but not the last arrivals (a gap spanning the call is still measured). */
  resetMax(): void {
    this.perFlow.clear();
    this.max = GapMeter.none();
  }
  /** From now on, each flow's next arrival closes its gap spanning this instant (see `spanning`). */
  mark(): void {
    this.pending.clear();
    for (const f of this.last.keys()) this.pending.add(f);
    this.span = GapMeter.none();
  }
  /**
   * From now on, per flow, frames numbered below `next.get(flow)` went through the old instance and
   * the others through the new (the source's next sequence numbers at the switch): `switchover`
   * measures the last arrival of the first kind to the first of the second, which is negative when
   * the new instance's output overtook the old one's (a switch without a hold).
   */
  boundary(next: ReadonlyMap<number, number>): void {
    this.cut.clear();
    for (const [f, seq] of next) this.cut.set(f, { seq, oldAt: this.last.get(f) ?? NaN, oldEmit: this.lastEmit.get(f) ?? NaN, newAt: NaN, newEmit: NaN });
  }
  /** Per flow, last arrival through the old instance → first through the new (see `boundary`); the flow where it is longest. */
  switchover(): Gap {
    let best: Gap | undefined;
    for (const [flow, c] of this.cut) {
      if (Number.isNaN(c.newAt) || Number.isNaN(c.oldAt)) continue;
      const ms = c.newAt - c.oldAt;
      if (!best || ms > best.ms) best = { ms, flow, at: c.newAt, emitMs: c.newEmit - c.oldEmit, latencyBeforeMs: c.oldAt - c.oldEmit, latencyAfterMs: c.newAt - c.newEmit };
    }
    return best ?? GapMeter.none();
  }
  /** Keeps (true) every arrival time per flow from now on, for `longestIn`; false stops; a new start forgets the last record. */
  record(on: boolean): void {
    if (on && !this.recording) for (const a of this.arrivals.values()) a.n = 0;
    this.recording = on;
  }
  /** The flows recorded (see `record`). */
  recordedFlows(): number[] {
    return [...this.arrivals.keys()];
  }
  /** The longest gap between consecutive arrivals of `flow` that both fall within [from, to] (recorded ones; 0 if fewer than two). */
  longestIn(flow: number, from: number, to: number): number {
    return this.longestInAt(flow, from, to).ms;
  }
  /** `longestIn`, with the arrival that ends that gap (NaN if none). */
  longestInAt(flow: number, from: number, to: number): { ms: number; at: number } {
    const a = this.arrivals.get(flow);
    const r = { ms: 0, at: NaN };
    if (!a) return r;
    let prev = NaN;
    for (let i = 0; i < a.n; i++) {
      const t = a.at[i] as number;
      if (t < from) continue;
      if (t > to) break;
      if (t - prev > r.ms) {
        r.ms = t - prev;
        r.at = t;
      }
      prev = t;
    }
    return r;
  }
  /** Notes a batch's arrival at `now` (performance.now() ms). */
  observe(bytes: Uint8Array, b: Batch, now: number): void {
    if (this.view?.buffer !== bytes.buffer) this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const dv = this.view;
    for (let k = 0; k < b.count; k++) {
      const o = (b.offs[k] as number) + 42;
      if ((b.lens[k] as number) < 62 || ((bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!) >>> 0 !== TEST_MAGIC) continue;
      const id = ((bytes[o + 4]! << 24) | (bytes[o + 5]! << 16) | (bytes[o + 6]! << 8) | bytes[o + 7]!) >>> 0;
      const emit = dv.getFloat64(o + 12);
      if (this.cut.size > 0) {
        const c = this.cut.get(id);
        if (c) {
          const seq = ((bytes[o + 8]! << 24) | (bytes[o + 9]! << 16) | (bytes[o + 10]! << 8) | bytes[o + 11]!) >>> 0;
          if (seq < c.seq) {
            c.oldAt = now;
            c.oldEmit = emit;
          } else if (Number.isNaN(c.newAt)) {
            c.newAt = now;
            c.newEmit = emit;
          }
        }
      }
      if (this.recording) {
        let a = this.arrivals.get(id);
        if (!a) this.arrivals.set(id, (a = { at: new Float64Array(16384), n: 0 }));
        if (a.n === a.at.length) {
          const g = new Float64Array(a.at.length * 2);
          g.set(a.at);
          a.at = g;
        }
        a.at[a.n++] = now;
      }
      const prev = this.last.get(id);
      if (prev !== undefined) {
        const gap = now - prev;
        if (prev >= this.floor && gap > (this.perFlow.get(id) ?? 0)) {
          this.perFlow.set(id, gap);
          if (gap > this.max.ms) this.max = this.anatomy(id, gap, now, emit, prev);
        }
        if (this.pending.size > 0 && this.pending.delete(id) && gap > this.span.ms) this.span = this.anatomy(id, gap, now, emit, prev);
      }
      this.last.set(id, now);
      this.lastEmit.set(id, emit);
    }
  }
  private anatomy(flow: number, ms: number, now: number, emit: number, prev: number): Gap {
    const pe = this.lastEmit.get(flow) ?? emit;
    return { ms, flow, at: now, emitMs: emit - pe, latencyBeforeMs: prev - pe, latencyAfterMs: now - emit };
  }
  /** The longest gap (ms) of one flow since the last reset (0 if none). */
  of(flow: number): number {
    return this.perFlow.get(flow) ?? 0;
  }
  /** The longest gap, its flow and anatomy. */
  longest(): Gap {
    return { ...this.max };
  }
  /** The longest gap spanning the last `mark()` over the flows that arrived since (max over flows). */
  spanning(): Gap {
    return { ...this.span };
  }
}

export interface BedInit {
  /** Total rate (thousands of packets per second), spread evenly over `flows`. */
  kpps: number;
  flows: number;
  /** 1: router on the same server as the traffic; 2: a second server exists as migration target. */
  servers: 1 | 2;
  /** Emulated capacity of each server (packets/s, shared by the token scheduler); default none. */
  capacityPps?: number;
  /** One-way delay of the link between the servers (s); default 0. */
  linkDelay?: number;
  /** Domain 0's tick (ms): how often the source sends what is due (HostServerInit.tickMs); default 0.2. */
  tickMs?: number;
  /** Idle workers per server (DomainPool: a migration's target takes one, the destroyed source's worker is parked back); default 1, 0 for none. */
  idleWorkers?: number;
  /** Domain 0 and the domain workers at SCHED_FIFO (HostServer.realtime): the workers' priority; default normal scheduling. */
  realtime?: number;
}

export interface BedResult {
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  reordered: number;
  flows: FlowReport[];
}

export interface RouterBed {
  hosts: HostServer[];
  link: ServerLink | undefined;
  /** The router's domain id on hosts[0]. */
  domain: number;
  source: TrafficSource;
  sink: TrafficSink;
  gaps: GapMeter;
  /** Stops the traffic, lets it drain, and compares what was sent with what arrived. */
  finish(): Promise<BedResult>;
  close(): Promise<void>;
}

export const ROUTER_CONFIG = {
  interfaces: [
    { name: 'eth0', mac: '02:00:00:00:00:fe', addresses: ['10.0.0.254/24'] },
    { name: 'eth1', mac: '02:00:00:00:01:fe', addresses: ['10.0.1.254/24'] },
  ],
  neighbors: [{ interface: 'eth1', address: '10.0.1.1', mac: '02:00:00:00:01:01' }],
};

/**
 * router (user domain, behind the token scheduler) → sink; `source()` then attaches the traffic
 * source (endpoint in domain 0) synchronously, so a day profile starts where the caller wants.
 * `pps` frames/s over 8 UDP flows, optionally shaped by a day `profile`.
 *
 * @example
 * const n = await routedNetwork(h, 'day');
 * const src = n.source(6000, { periodMs: 4000, min: 0.05, max: 1, originMs: performance.timeOrigin + performance.now() });
 */
export async function routedNetwork(h: HostServer, net: string): Promise<{ sink: TrafficSink; source: (pps: number, profile?: { periodMs: number; min: number; max: number; originMs: number }) => TrafficSource }> {
  const sink = trafficSinkFactory.create({}) as TrafficSink;
  const release: Emit = { send: (_p, slot) => h.pool.release(slot), drop: (slot) => h.pool.release(slot) };
  const ctx = { pool: h.pool, out: release, now: 0 };
  const sinkAtt = h.attachExternal(net, `${net}:sink.in`, (b) => {
    ctx.now = performance.now();
    sink.process(0, b, ctx);
    return true;
  });
  const { attachments } = await h.addDomain({ name: net, contexts: [{ network: net, functions: [{ name: 'r', kind: 'router', config: ROUTER_CONFIG }], wires: [] }], vnics: [{ context: 0, port: 'r.eth0' }, { context: 0, port: 'r.eth1' }] });
  h.bridge.wire(attachments[1] as number, sinkAtt);
  return {
    sink,
    source: (pps, profile) => {
      const flows = 8;
      const source = trafficSourceFactory.create({
        flows: Array.from({ length: flows }, (_, i) => ({ id: i + 1, kind: 'udp', srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:fe', src: '10.0.0.1', dst: '10.0.1.1', srcPort: 40000 + i, dstPort: 9, payloadBytes: 32, intervalMs: (1000 * flows) / pps })),
        ...(profile ? { profile: { shape: 'day', ...profile } } : {}),
      }) as TrafficSource;
      const [srcAtt] = h.addEndpoint(net, source, 'src');
      h.bridge.wire(srcAtt as number, attachments[0] as number);
      return source;
    },
  };
}

/**
 * Builds the bed and starts the traffic; resolves once packets reach the sink.
 *
 * @example
 * const bed = await routerBed({ kpps: 10, flows: 4, servers: 1 });
 */
export async function routerBed(init: BedInit): Promise<RouterBed> {
  const pools: DomainPool[] = [];
  const mk = (name: string): HostServer => {
    const idle = init.idleWorkers ?? 1;
    const pool = idle > 0 ? new DomainPool(idle) : undefined;
    if (pool) pools.push(pool);
    const x = new HostServer({ name, slots: 65536, slotSize: 512, tickMs: init.tickMs ?? 0.2, domain: { watchdogMs: 3000, ringCapacity: 32768, spin: 20, ...(pool ? { pool } : {}) }, ...(init.capacityPps ? { capacity: { capacity: init.capacityPps, unit: 'packets' as const } } : {}) });
    x.addNetwork('mig', { allocation: 10 });
    return x;
  };
  const hosts = [mk('mig-s1')];
  if (init.servers === 2) hosts.push(mk('mig-s2'));
  if (init.realtime !== undefined) {
    try {
      for (const x of hosts) await x.realtime(init.realtime);
    } catch (e) {
      await Promise.all(hosts.map((x) => x.close()));
      await Promise.all(pools.map((p) => p.close()));
      throw e;
    }
  }
  const h = hosts[0] as HostServer;
  const link = init.servers === 2 ? new ServerLink(h, hosts[1] as HostServer, init.linkDelay ? { delay: init.linkDelay } : {}) : undefined;
  const intervalMs = init.flows / init.kpps;
  const source = trafficSourceFactory.create({
    flows: Array.from({ length: init.flows }, (_, i) => ({ id: i + 1, kind: 'udp', srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:fe', src: '10.0.0.1', dst: '10.0.1.1', srcPort: 40000 + i, dstPort: 9, payloadBytes: 32, intervalMs })),
  }) as TrafficSource;
  const sink = trafficSinkFactory.create({}) as TrafficSink;
  const gaps = new GapMeter();
  const [srcAtt] = h.addEndpoint('mig', source, 'src');
  const release: Emit = { send: (_p, slot) => h.pool.release(slot), drop: (slot) => h.pool.release(slot) };
  const ctx = { pool: h.pool, out: release, now: 0 };
  const sinkAtt = h.attachExternal('mig', 'mig:sink.in', (b) => {
    const now = performance.now();
    gaps.observe(h.pool.bytes, b, now);
    ctx.now = now;
    sink.process(0, b, ctx);
    return true;
  });
  const { domain, attachments } = await h.addDomain({
    name: 'mig-router',
    contexts: [{ network: 'mig', functions: [{ name: 'r', kind: 'router', config: ROUTER_CONFIG }], wires: [] }],
    vnics: [{ context: 0, port: 'r.eth0' }, { context: 0, port: 'r.eth1' }],
  });
  h.bridge.wire(srcAtt as number, attachments[0] as number);
  h.bridge.wire(attachments[1] as number, sinkAtt);
  for (const x of hosts) x.start();
  const until = async (cond: () => boolean, ms: number): Promise<void> => {
    const end = performance.now() + ms;
    while (!cond()) {
      if (performance.now() > end) throw new Error('migration bed: traffic does not flow');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await until(() => sink.report().reduce((n, f) => n + f.received, 0) > 0, 10_000);
  return {
    hosts,
    link,
    domain: domain.id,
    source,
    sink,
    gaps,
    async finish(): Promise<BedResult> {
      for (const x of hosts) x.endpointsTicking = false;
      const sentNow = (): number => ((source.counters()['flows'] ?? []) as readonly { packets: number }[]).reduce((n, f) => n + f.packets, 0);
      const recv = (): number => sink.report().reduce((n, f) => n + f.received, 0);
      const sent = sentNow();
      // Drain: rings, link, domain; until all arrived, or nothing more for 1 s (a loaded machine stalls a thread for a while).
      await untilQuiet(recv, 1000, () => recv() >= sent);
      await new Promise((r) => setTimeout(r, 20));
      const flows = sink.report();
      const received = recv();
      return { sent, received, lost: sent - received + flows.reduce((n, f) => n + f.duplicates, 0), duplicates: flows.reduce((n, f) => n + f.duplicates, 0), reordered: flows.reduce((n, f) => n + f.reordered, 0), flows };
    },
    async close(): Promise<void> {
      link?.close();
      await Promise.all(hosts.map((x) => x.close()));
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}
