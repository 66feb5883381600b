/**
 * Prometheus metrics of the platform (`GET /metrics`, text exposition format 0.0.4), read from the
 * store at scrape time: per Server what its agent writes into the status (`utilization.cpu`,
 * `powerWatts`, `energyJoules`, `domains[]`) and its Ready condition; per SoftwareNetwork its
 * functions, placements and the traffic its sinks received, summed over every server's domains.
 * A registry of its own (not prom-client's global one), so several API servers in one process
 * (tests) never collide; prom-client's default process metrics are collected on it too.
 *
 * Per network also: drops, the latency histogram and the token share. The histogram is rebuilt
 * from the cumulative counts the agents report at fixed bounds that are exact edges of the sinks'
 * own histograms (functions/latency.ts), so its buckets, sum and count are exact, not estimated;
 * the sinks' finer p50/p99 are exposed per server as a summary-like gauge (quantile label).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { LATENCY_LE_MS, addSummaries, type LatencySummary } from '../../functions/latency.js';
import { listResources } from '../manifest/apply.js';
import { PLACEMENT_PREFIX, type Placement } from '../placement.js';
import type { Store } from '../store/contract.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const rec = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** A scrape's body and its media type. */
export interface MetricsText {
  readonly contentType: string;
  readonly text: string;
}

/**
 * @example
 * const m = new PlatformMetrics(store);
 * const { contentType, text } = await m.render(); // 'text/plain; version=0.0.4; charset=utf-8'
 */
export class PlatformMetrics {
  private registry: Registry | undefined;
  private gauges: ReturnType<typeof makeMetrics> | undefined;
  /** Scrapes run one at a time: each resets and refills the shared metric objects. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: Store) {}

  /** Reads the store and renders every metric. */
  render(): Promise<MetricsText> {
    const next = this.chain.then(() => this.scrape());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async scrape(): Promise<MetricsText> {
    if (!this.registry) {
      // Created on the first scrape: the default metrics start event-loop and GC observers.
      this.registry = new Registry();
      collectDefaultMetrics({ register: this.registry });
      this.gauges = makeMetrics(this.registry);
    }
    const g = this.gauges!;
    for (const m of Object.values(g)) m.reset();
    const placements = (await this.store.list(PLACEMENT_PREFIX)).items.map((kv) => kv.value as unknown as Placement);
    const perServer = new Map<string, number>();
    const perNet = new Map<string, number>();
    for (const p of placements) {
      perServer.set(p.server, (perServer.get(p.server) ?? 0) + 1);
      const k = `${p.namespace}/${p.network}`;
      perNet.set(k, (perNet.get(k) ?? 0) + 1);
    }
    const networks = await listResources(this.store, 'SoftwareNetwork');
    const known = new Set(networks.map((n) => `${n.metadata.namespace ?? 'default'}/${n.metadata.name}`));
    const traffic = new Map<string, { packets: number; bytes: number; lost: number; processed: number; drops: number; latency: LatencySummary[] }>();
    for (const s of await listResources(this.store, 'Server')) {
      const server = s.metadata.name;
      const dc = rec(s.spec)?.['datacenter'];
      const labels = { server, datacenter: typeof dc === 'string' ? dc : '' };
      const st = s.status ?? {};
      const cpu = num(rec(st['utilization'])?.['cpu']);
      if (cpu !== undefined) g.utilization.set(labels, cpu);
      const watts = num(st['powerWatts']);
      if (watts !== undefined) g.power.set(labels, watts);
      const joules = num(st['energyJoules']);
      if (joules !== undefined && joules >= 0) g.energy.inc(labels, joules);
      const domains = Array.isArray(st['domains']) ? (st['domains'] as unknown[]) : [];
      g.domains.set(labels, domains.length);
      g.functions.set(labels, perServer.get(server) ?? 0);
      g.ready.set(labels, s.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 1 : 0);
      g.standby.set(labels, st['standby'] === true ? 1 : 0);
      g.cordoned.set(labels, rec(s.spec)?.['unschedulable'] === true || st['cordoned'] === true ? 1 : 0);
      for (const d of domains) {
        const dr = rec(d);
        const net = dr?.['network'];
        if (typeof net !== 'string') continue;
        const t = traffic.get(net) ?? { packets: 0, bytes: 0, lost: 0, processed: 0, drops: 0, latency: [] };
        t.processed += Math.max(0, num(dr?.['processed']) ?? 0);
        t.drops += Math.max(0, num(dr?.['drops']) ?? 0);
        for (const fn of Object.values(rec(dr?.['traffic']) ?? {})) {
          // Sources are listed too (bytes sent, nothing received): only what sinks received counts.
          t.lost += Math.max(0, num(rec(fn)?.['lost']) ?? 0);
          const received = Math.max(0, num(rec(fn)?.['received']) ?? 0);
          if (received === 0) continue;
          t.packets += received;
          t.bytes += Math.max(0, num(rec(fn)?.['bytes']) ?? 0);
        }
        const lat = latencyOf(dr?.['latency']);
        if (lat) t.latency.push(lat);
        traffic.set(net, t);
        // Per-server series only for networks in the store (a stale domain is not exposed).
        if (!known.has(net)) continue;
        const slash = net.indexOf('/');
        const perServer = { namespace: net.slice(0, slash), network: net.slice(slash + 1), server };
        if (lat && lat.count > 0) {
          g.quantile.set({ ...perServer, quantile: '0.5' }, lat.p50Ms / 1000);
          g.quantile.set({ ...perServer, quantile: '0.99' }, lat.p99Ms / 1000);
        }
        const tok = rec(dr?.['tokens']);
        const alloc = num(tok?.['allocation']);
        const bal = num(tok?.['balance']);
        const backlog = num(tok?.['backlog']);
        if (alloc !== undefined) g.tokenAllocation.set(perServer, alloc);
        if (bal !== undefined) g.tokenBalance.set(perServer, bal);
        if (backlog !== undefined) g.tokenBacklog.set(perServer, backlog);
      }
    }
    for (const n of networks) {
      const namespace = n.metadata.namespace ?? 'default';
      const network = n.metadata.name;
      const labels = { namespace, network };
      const fns = rec(n.spec)?.['functions'];
      g.netFunctions.set(labels, Array.isArray(fns) ? fns.length : 0);
      g.netPlaced.set(labels, perNet.get(`${namespace}/${network}`) ?? 0);
      const t = traffic.get(`${namespace}/${network}`);
      if (t) {
        g.packets.inc(labels, t.packets);
        g.bytes.inc(labels, t.bytes);
        g.processed.inc(labels, t.processed);
        g.drops.inc(labels, t.drops);
        g.lost.inc(labels, t.lost);
        if (t.latency.length > 0) g.latency.set(labels, addSummaries(t.latency));
      }
    }
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

function makeMetrics(registers: Registry): {
  utilization: Gauge<'server' | 'datacenter'>;
  power: Gauge<'server' | 'datacenter'>;
  energy: Counter<'server' | 'datacenter'>;
  domains: Gauge<'server' | 'datacenter'>;
  functions: Gauge<'server' | 'datacenter'>;
  ready: Gauge<'server' | 'datacenter'>;
  netFunctions: Gauge<'namespace' | 'network'>;
  netPlaced: Gauge<'namespace' | 'network'>;
  packets: Counter<'namespace' | 'network'>;
  bytes: Counter<'namespace' | 'network'>;
  processed: Counter<'namespace' | 'network'>;
  drops: Counter<'namespace' | 'network'>;
  lost: Counter<'namespace' | 'network'>;
  latency: BucketHistogram;
  quantile: Gauge<'namespace' | 'network' | 'server' | 'quantile'>;
  tokenAllocation: Gauge<'namespace' | 'network' | 'server'>;
  tokenBalance: Gauge<'namespace' | 'network' | 'server'>;
  tokenBacklog: Gauge<'namespace' | 'network' | 'server'>;
  standby: Gauge<'server' | 'datacenter'>;
  cordoned: Gauge<'server' | 'datacenter'>;
} {
  const server = ['server', 'datacenter'] as const;
  const net = ['namespace', 'network'] as const;
  const netServer = ['namespace', 'network', 'server'] as const;
  const r = [registers];
  const latency = new BucketHistogram('swnet_network_latency_seconds', 'One-way latency of the frames the traffic sinks of the network measured (exact counts at these bounds), over every server');
  registers.registerMetric(latency as unknown as Metric);
  return {
    utilization: new Gauge({ name: 'swnet_server_utilization', help: 'CPU utilisation (0..1) the server agent measured', labelNames: server, registers: r }),
    power: new Gauge({ name: 'swnet_server_power_watts', help: 'Power draw of the server (power model of its agent)', labelNames: server, registers: r }),
    // The agent reports energy as a running total, so it is exposed as a counter.
    energy: new Counter({ name: 'swnet_server_energy_joules_total', help: 'Energy the server used since its agent started', labelNames: server, registers: r }),
    domains: new Gauge({ name: 'swnet_server_domains', help: 'Isolation domains (one per software network) the agent runs', labelNames: server, registers: r }),
    functions: new Gauge({ name: 'swnet_server_functions', help: 'Functions placed on the server', labelNames: server, registers: r }),
    ready: new Gauge({ name: 'swnet_server_ready', help: '1 when the server Ready condition is True', labelNames: server, registers: r }),
    netFunctions: new Gauge({ name: 'swnet_network_functions', help: 'Functions of the software network (spec)', labelNames: net, registers: r }),
    netPlaced: new Gauge({ name: 'swnet_network_functions_placed', help: 'Functions of the software network with a placement', labelNames: net, registers: r }),
    packets: new Counter({ name: 'swnet_network_packets_total', help: 'Frames received by the traffic sinks of the network, over every server', labelNames: net, registers: r }),
    bytes: new Counter({ name: 'swnet_network_bytes_total', help: 'Bytes received by the traffic sinks of the network, over every server', labelNames: net, registers: r }),
    processed: new Counter({ name: 'swnet_network_processed_total', help: 'Frames processed by the functions of the network, over every server', labelNames: net, registers: r }),
    drops: new Counter({ name: 'swnet_network_drops_total', help: 'Frames of the network dropped by the hosts (queues, rings, pools), over every server; not the functions\' own drops', labelNames: net, registers: r }),
    lost: new Counter({ name: 'swnet_network_lost_total', help: 'Frames of the network\'s test flows that never reached its traffic sinks (sequence gaps), over every server', labelNames: net, registers: r }),
    latency,
    quantile: new Gauge({ name: 'swnet_network_latency_quantile_seconds', help: 'Latency quantile (0.5, 0.99) of the network\'s sinks on one server, from their histograms (8 buckets per octave)', labelNames: [...netServer, 'quantile'], registers: r }),
    tokenAllocation: new Gauge({ name: 'swnet_network_token_allocation', help: 'Tokens per round of the network at the server\'s token scheduler', labelNames: netServer, registers: r }),
    tokenBalance: new Gauge({ name: 'swnet_network_token_balance', help: 'Current token balance of the network at the server (negative: borrowing)', labelNames: netServer, registers: r }),
    tokenBacklog: new Gauge({ name: 'swnet_network_token_backlog', help: 'Frames of the network queued at the server\'s token scheduler', labelNames: netServer, registers: r }),
    standby: new Gauge({ name: 'swnet_server_standby', help: '1 when the server is in standby (drained or consolidated)', labelNames: server, registers: r }),
    cordoned: new Gauge({ name: 'swnet_server_cordoned', help: '1 when the server is cordoned (spec.unschedulable)', labelNames: server, registers: r }),
  };
}

/** A status `latency` object, if well formed (numbers, as many buckets as bounds). */
function latencyOf(v: unknown): LatencySummary | undefined {
  const o = rec(v);
  const count = num(o?.['count']);
  const b = o?.['buckets'];
  if (!o || count === undefined || count < 0 || !Array.isArray(b) || b.length !== LATENCY_LE_MS.length || !b.every((x) => num(x) !== undefined)) return undefined;
  return { p50Ms: num(o['p50Ms']) ?? 0, p99Ms: num(o['p99Ms']) ?? 0, count, sumMs: num(o['sumMs']) ?? 0, buckets: b as number[] };
}

/**
 * A Prometheus histogram whose buckets are set from counts measured elsewhere (prom-client's
 * Histogram only observes one value at a time). Registered like any metric; the registry reads
 * it through `get()`.
 */
class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { labels: Record<string, string>; s: LatencySummary }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(labels: Record<string, string>, s: LatencySummary): void {
    this.series.set(JSON.stringify(labels), { labels, s });
  }

  reset(): void {
    this.series.clear();
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, s } of this.series.values()) {
      // Cumulative and never above the count, even from a malformed status.
      let cum = 0;
      LATENCY_LE_MS.forEach((le, i) => {
        cum = Math.min(Math.max(cum, s.buckets[i] ?? 0), s.count);
        values.push({ labels: { ...labels, le: Number((le / 1000).toPrecision(12)) }, value: cum, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: s.sumMs / 1000, metricName: `${this.name}_sum` });
      values.push({ labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}
