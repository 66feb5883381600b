/**
 * Prometheus metrics of the platform (`GET /metrics`, text exposition format 0.0.4), read from the
 * store at scrape time: per Server what its agent writes into the status (`utilization.cpu`,
 * `powerWatts`, `energyJoules`, `domains[]`) and its Ready condition; per SoftwareNetwork its
 * functions, placements and the traffic its sinks received, summed over every server's domains.
 * A registry of its own (not prom-client's global one), so several API servers in one process
 * (tests) never collide; prom-client's default process metrics are collected on it too.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
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
    const traffic = new Map<string, { packets: number; bytes: number; processed: number }>();
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
      for (const d of domains) {
        const dr = rec(d);
        const net = dr?.['network'];
        if (typeof net !== 'string') continue;
        const t = traffic.get(net) ?? { packets: 0, bytes: 0, processed: 0 };
        t.processed += Math.max(0, num(dr?.['processed']) ?? 0);
        for (const sink of Object.values(rec(dr?.['traffic']) ?? {})) {
          t.packets += Math.max(0, num(rec(sink)?.['received']) ?? 0);
          t.bytes += Math.max(0, num(rec(sink)?.['bytes']) ?? 0);
        }
        traffic.set(net, t);
      }
    }
    for (const n of await listResources(this.store, 'SoftwareNetwork')) {
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
} {
  const server = ['server', 'datacenter'] as const;
  const net = ['namespace', 'network'] as const;
  const r = [registers];
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
  };
}
