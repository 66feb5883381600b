/**
 * Runs a topology (topology.ts) on this machine: one HostServer per server (domain 0's loops
 * share this thread; each user domain is a worker), one user domain per software network per
 * server (or one shared domain of lightweight contexts when the server says `lightweight`),
 * traffic endpoints in domain 0, wires inside a domain (direct calls), through the bridge
 * (same server) or over emulated links (another server, or a wire with `link` properties: the
 * frame is copied into the other server's pool on arrival, as a wire would).
 *
 * `run(seconds)` lets the sources send for that long, stops them, waits for the frames in flight
 * and reports, per network, throughput, loss and latency p50/p99 (merged sink histograms), and
 * per server the energy its meter measured.
 *
 * @example
 * const x = await Experiment.build(loadTopology(text, file), { captures: new Map([['voip-out', 'v.pcap']]) });
 * const report = await x.run(10);
 * await x.close();
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import { LINKTYPE_ETHERNET, type CaptureWriter } from '../packet/capture.js';
import { createCaptureWriter } from '../packet/capfile.js';
import type { NetworkFunction } from '../functions/contract.js';
import { createFunction } from '../functions/registry.js';
import { bucketUpperMs, BUCKETS } from '../functions/traffic-sink.js';
import { HostServer, type HostServerInit } from './hostserver.js';
import { Link } from './link.js';
import type { ContextSpec, VnicSpec } from './domain.js';
import type { Topology } from './topology.js';
import type { EnergyReading } from './energy.js';
import { VxlanUplink } from './uplink.js';

export interface ExperimentOptions {
  /** Wire name → capture file (.pcap or .pcapng). */
  captures?: Map<string, string>;
  domain?: HostServerInit['domain'];
}

export interface NetworkReport {
  network: string;
  sentPackets: number;
  receivedPackets: number;
  receivedBytes: number;
  lost: number;
  lossPercent: number;
  throughputMbps: number;
  p50Ms: number;
  p99Ms: number;
}

export interface ServerReport {
  server: string;
  domains: number;
  energy: EnergyReading | undefined;
  utilisation: number;
}

export interface RunReport {
  seconds: number;
  networks: NetworkReport[];
  servers: ServerReport[];
}

export class ExperimentError extends Error {
  override readonly name = 'ExperimentError';
}

interface Crossing {
  link: Link;
  from: HostServer;
  to: HostServer;
  /** Attachment on `to` whose peer receives the frames. */
  toAtt: number;
  out: Batch;
  copy: Batch;
  dropped: Batch;
}

interface EndpointRec {
  network: string;
  kind: string;
  fn: NetworkFunction;
}

export class Experiment {
  private readonly crossings: Crossing[] = [];
  private readonly writers: CaptureWriter[] = [];
  private readonly endpoints: EndpointRec[] = [];
  private readonly t0 = performance.now();
  private linkTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly topo: Topology,
    readonly hosts: Map<string, HostServer>,
  ) {}

  private now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Builds every server, domain, endpoint, wire and link; starts nothing yet. */
  static async build(topo: Topology, opts: ExperimentOptions = {}): Promise<Experiment> {
    const hosts = new Map<string, HostServer>();
    for (const s of topo.servers) {
      const init: HostServerInit = { name: s.name, slots: 16384 };
      if (s.capacity !== undefined) init.capacity = { capacity: s.capacity, unit: s.unit };
      if (s.power) init.power = s.power;
      if (s.standbyWatts !== undefined) init.standbyWatts = s.standbyWatts;
      if (opts.domain) init.domain = opts.domain;
      hosts.set(s.name, new HostServer(init));
    }
    const x = new Experiment(topo, hosts);
    const captures = opts.captures ?? new Map<string, string>();
    for (const name of captures.keys()) if (!topo.networks.some((n) => n.wires.some((w) => w.name === name))) throw new ExperimentError(`--capture: no wire named '${name}' (wires: ${topo.networks.flatMap((n) => n.wires.map((w) => w.name)).join(', ')})`);
    const lightweight = new Set(topo.servers.filter((s) => s.lightweight).map((s) => s.name));

    // Domains to create: key = server/network (or server/* for a lightweight server).
    interface Plan { server: string; name: string; contexts: ContextSpec[]; ctxOf: Map<string, number>; vnics: VnicSpec[]; keys: string[] }
    const plans = new Map<string, Plan>();
    const where = new Map<string, { server: string; endpoint: boolean }>();
    const plan = (server: string, network: string): { p: Plan; ctx: number } => {
      const key = lightweight.has(server) ? `${server}/*` : `${server}/${network}`;
      let p = plans.get(key);
      if (!p) {
        p = { server, name: lightweight.has(server) ? `${server}-contexts` : `${network}@${server}`, contexts: [], ctxOf: new Map(), vnics: [], keys: [] };
        plans.set(key, p);
      }
      let ctx = p.ctxOf.get(network);
      if (ctx === undefined) {
        ctx = p.contexts.push({ network, functions: [], wires: [] }) - 1;
        p.ctxOf.set(network, ctx);
      }
      return { p, ctx };
    };
    for (const net of topo.networks) {
      const servers = new Set([...net.functions, ...net.endpoints].map((f) => f.server));
      for (const s of servers) hosts.get(s)?.addNetwork(net.name, { allocation: net.allocation, priority: net.priority });
      for (const f of net.functions) {
        const { p, ctx } = plan(f.server, net.name);
        (p.contexts[ctx] as ContextSpec).functions.push({ name: f.name, kind: f.kind, config: f.config });
        where.set(`${net.name}/${f.name}`, { server: f.server, endpoint: false });
      }
      for (const f of net.endpoints) where.set(`${net.name}/${f.name}`, { server: f.server, endpoint: true });
    }
    // Wires inside one domain are direct calls; the others need a virtual NIC at each function end.
    const through: { net: string; wire: Topology['networks'][number]['wires'][number] }[] = [];
    for (const net of topo.networks) {
      for (const w of net.wires) {
        const a = where.get(`${net.name}/${w.a.slice(0, w.a.lastIndexOf('.'))}`);
        const b = where.get(`${net.name}/${w.b.slice(0, w.b.lastIndexOf('.'))}`);
        if (!a || !b) throw new ExperimentError(`wire ${w.name}: unknown end`);
        if (!a.endpoint && !b.endpoint && a.server === b.server && !w.link && !captures.has(w.name)) {
          (plan(a.server, net.name).p.contexts[plan(a.server, net.name).ctx] as ContextSpec).wires.push([w.a, w.b]);
          continue;
        }
        for (const [end, loc] of [[w.a, a], [w.b, b]] as const) {
          if (loc.endpoint) continue;
          const { p, ctx } = plan(loc.server, net.name);
          p.vnics.push({ context: ctx, port: end });
          p.keys.push(`${net.name}/${end}`);
        }
        through.push({ net: net.name, wire: w });
      }
    }
    for (const u of topo.uplinks)
      for (const v of u.vnis) {
        const loc = where.get(`${v.network}/${v.attach.slice(0, v.attach.lastIndexOf('.'))}`);
        if (loc && !loc.endpoint) {
          const { p, ctx } = plan(loc.server, v.network);
          p.vnics.push({ context: ctx, port: v.attach });
          p.keys.push(`${v.network}/${v.attach}`);
        }
      }
    const att = new Map<string, { host: HostServer; id: number }>();
    for (const p of plans.values()) {
      const h = hosts.get(p.server) as HostServer;
      const { attachments } = await h.addDomain({ name: p.name, contexts: p.contexts, vnics: p.vnics });
      p.keys.forEach((k, i) => att.set(k, { host: h, id: attachments[i] as number }));
    }
    for (const net of topo.networks) {
      for (const e of net.endpoints) {
        const h = hosts.get(e.server) as HostServer;
        const fn = createFunction(e.kind, e.config);
        const ids = h.addEndpoint(net.name, fn, e.name);
        fn.ports.forEach((port, i) => att.set(`${net.name}/${e.name}.${port.name}`, { host: h, id: ids[i] as number }));
        x.endpoints.push({ network: net.name, kind: e.kind, fn });
      }
    }
    for (const u of topo.uplinks) {
      const h = hosts.get(u.server) as HostServer;
      let up: VxlanUplink;
      try {
        up = await VxlanUplink.open({ address: u.address, port: u.port }, h.pool);
      } catch (e) {
        await x.close();
        throw new ExperimentError((e as Error).message);
      }
      for (const v of u.vnis) {
        const end = att.get(`${v.network}/${v.attach}`);
        if (!end) throw new ExperimentError(`uplink VNI ${v.vni}: ${v.attach} not attached`);
        h.bridge.wire(h.attachUplink(up, v.vni, v.network, v.remotes), end.id);
      }
    }
    for (const { net, wire } of through) {
      const a = att.get(`${net}/${wire.a}`);
      const b = att.get(`${net}/${wire.b}`);
      if (!a || !b) throw new ExperimentError(`wire ${wire.name}: end not attached`);
      const file = captures.get(wire.name);
      if (file !== undefined) {
        const wr = createCaptureWriter(file, { iface: { linkType: LINKTYPE_ETHERNET, name: wire.name } });
        x.writers.push(wr);
        a.host.capture(a.id, wr);
      }
      if (a.host === b.host && !wire.link) {
        a.host.bridge.wire(a.id, b.id);
        continue;
      }
      // An emulated link each way; each end's bridge sees it as an external attachment.
      const mk = (from: { host: HostServer; id: number }, to: { host: HostServer; id: number }, seed: number): Crossing => ({ link: new Link({ ...wire.link, seed }), from: from.host, to: to.host, toAtt: -1, out: new Batch(MAX_BATCH), copy: new Batch(MAX_BATCH), dropped: new Batch(MAX_BATCH) });
      const ab = mk(a, b, x.crossings.length * 2 + 1);
      const ba = mk(b, a, x.crossings.length * 2 + 2);
      const extA = a.host.attachExternal(net, `${wire.name}@${a.host.name}`, (batch) => x.toLink(ab, batch));
      const extB = b.host.attachExternal(net, `${wire.name}@${b.host.name}`, (batch) => x.toLink(ba, batch));
      a.host.bridge.wire(a.id, extA);
      b.host.bridge.wire(b.id, extB);
      ab.toAtt = extB;
      ba.toAtt = extA;
      x.crossings.push(ab, ba);
    }
    return x;
  }

  private toLink(c: Crossing, batch: Batch): boolean {
    c.dropped.clear();
    c.link.send(batch, this.now(), c.dropped);
    for (let k = 0; k < c.dropped.count; k++) c.from.pool.release(c.dropped.slots[k] as number);
    return true;
  }

  /** Delivers what the links carried by now: copied into the receiving server's pool. */
  private pumpLinks(): void {
    const now = this.now();
    for (const c of this.crossings) {
      for (;;) {
        c.out.clear();
        const n = c.link.poll(now, c.out);
        if (n === 0) break;
        c.copy.clear();
        const src = c.from.pool;
        const dst = c.to.pool;
        for (let k = 0; k < n; k++) {
          const s = c.out.slots[k] as number;
          const d = dst.alloc();
          if (d >= 0) {
            const off = c.out.offs[k] as number;
            const len = c.out.lens[k] as number;
            dst.bytes.set(src.bytes.subarray(off, off + len), dst.frameOffset(d));
            c.copy.push(d, dst.frameOffset(d), len);
          }
          src.release(s);
        }
        c.to.forward(c.toAtt, c.copy);
      }
    }
  }

  /** Runs the traffic for `seconds`, then drains and reports. */
  async run(seconds: number): Promise<RunReport> {
    for (const h of this.hosts.values()) h.start();
    this.linkTimer = setInterval(() => this.pumpLinks(), 1);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    for (const h of this.hosts.values()) h.endpointsTicking = false;
    const elapsed = (performance.now() - t0) / 1000;
    // Frames in flight: links' delays and queues, rings, emulated servers' queues.
    let maxDelay = 0;
    for (const c of this.crossings) maxDelay = Math.max(maxDelay, c.link.delay + c.link.jitter);
    await new Promise((r) => setTimeout(r, 300 + maxDelay * 2000));
    return this.report(elapsed);
  }

  private report(seconds: number): RunReport {
    const networks: NetworkReport[] = this.topo.networks.map((net) => {
      let sent = 0;
      let received = 0;
      let bytes = 0;
      let expected = 0;
      const hist = new Float64Array(BUCKETS);
      for (const e of this.endpoints) {
        if (e.network !== net.name) continue;
        if (e.kind === 'traffic-source') {
          const flows = (e.fn.counters()['flows'] ?? []) as readonly { packets?: number }[];
          for (const f of flows) sent += f.packets ?? 0;
        } else if (e.kind === 'traffic-sink') {
          const st = e.fn.exportState() as { flows?: { received: number; bytes: number; maxSeq: number; hist: number[] }[] };
          for (const f of st.flows ?? []) {
            received += f.received;
            bytes += f.bytes;
            expected += f.maxSeq + 1;
            for (let k = 0; k + 1 < f.hist.length; k += 2) hist[f.hist[k] as number] = (hist[f.hist[k] as number] as number) + (f.hist[k + 1] as number);
          }
        }
      }
      const total = sent > 0 ? sent : expected;
      const lost = Math.max(0, total - received);
      return {
        network: net.name,
        sentPackets: total,
        receivedPackets: received,
        receivedBytes: bytes,
        lost,
        lossPercent: total > 0 ? (100 * lost) / total : 0,
        throughputMbps: seconds > 0 ? (bytes * 8) / seconds / 1e6 : 0,
        p50Ms: quantile(hist, 0.5),
        p99Ms: quantile(hist, 0.99),
      };
    });
    const servers: ServerReport[] = [...this.hosts.values()].map((h) => {
      const st = h.stats();
      return { server: h.name, domains: h.domainList().length, energy: h.energy(), utilisation: st && st.capacityWork > 0 ? st.work / st.capacityWork : NaN };
    });
    return { seconds, networks, servers };
  }

  /** Stops everything: loops, domains, uplinks, captures. */
  async close(): Promise<void> {
    if (this.linkTimer) clearInterval(this.linkTimer);
    await Promise.all([...this.hosts.values()].map((h) => h.close()));
    for (const w of this.writers) w.close();
  }
}

/** Upper bound (ms) of the bucket holding quantile q of a sink histogram; NaN when empty. */
function quantile(hist: Float64Array, q: number): number {
  let total = 0;
  for (const c of hist) total += c;
  if (total === 0) return NaN;
  const want = q * total;
  let acc = 0;
  for (let k = 0; k < hist.length; k++) {
    acc += hist[k] as number;
    if (acc >= want) return bucketUpperMs(k);
  }
  return bucketUpperMs(hist.length - 1);
}
