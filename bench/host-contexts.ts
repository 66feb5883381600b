/**
 * Context domains (`isolation: context`, src/host/context-domain.ts) against domains of their own
 * (`isolation: domain`, the default): N per-user networks from one template (a traffic source → a
 * router → a sink, all on one server) connected one after the other, every sink seeing its own
 * flow, then disconnected. Figures: connects + disconnects per second, worker threads, resident
 * memory per network (the process's RSS: workers are threads of it), the context figure beside the
 * domain one as baseline.
 */
import { AgentRuntime, type NetworkPlan } from '../src/host/agent-runtime.js';
import type { Reporter } from './report.js';

const mac = (b: number): string => `02:00:00:00:00:${b.toString(16).padStart(2, '0')}`;

function userNet(i: number, isolation: 'domain' | 'context'): NetworkPlan {
  return {
    key: `bench/u${i}`,
    isolation,
    functions: [
      { name: 'src', kind: 'traffic-source', config: { flows: [{ id: i + 1, kind: 'udp', srcMac: mac(10), dstMac: mac(3), src: '10.0.1.10', dst: '10.0.2.10', srcPort: 1000, dstPort: 2000, intervalMs: 20 }] } },
      { name: 'r', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(3), addresses: ['10.0.1.1/24'] }, { name: 'eth1', mac: mac(4), addresses: ['10.0.2.1/24'] }], neighbors: [{ interface: 'eth1', address: '10.0.2.10', mac: mac(20) }] } },
      { name: 'sink', kind: 'traffic-sink', config: {} },
    ],
    wires: [['src.out', 'r.eth0'], ['r.eth1', 'sink.in']],
    remote: [],
  };
}

interface Run {
  /** Connects + disconnects per second. */
  rate: number;
  threads: number;
  rssPerNet: number;
  connectMs: number;
  disconnectMs: number;
}

async function run(n: number, isolation: 'domain' | 'context'): Promise<Run> {
  const rt = await AgentRuntime.open({ name: `bench-${isolation}`, idleWorkers: 2 });
  try {
    await new Promise((r) => setTimeout(r, 300));
    (globalThis as { gc?: () => void }).gc?.();
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await rt.apply(userNet(i, isolation));
    const t1 = performance.now();
    // Every network forwards its own flow before anything is measured further.
    const end = performance.now() + 15000;
    for (let i = 0; i < n; i++) {
      for (;;) {
        const st = (await rt.exportState(`bench/u${i}`, 'sink')) as { flows: { id: number; received: number }[] };
        if (st.flows.some((f) => f.id === i + 1 && f.received > 0)) break;
        if (st.flows.some((f) => f.id !== i + 1)) throw new Error(`network ${i} saw another network's flow`);
        if (performance.now() > end) throw new Error(`network ${i}: no traffic`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const rss1 = process.memoryUsage().rss;
    const threads = rt.host.domainList().length;
    const t2 = performance.now();
    for (let i = 0; i < n; i++) await rt.remove(`bench/u${i}`, { graceMs: 0 });
    const t3 = performance.now();
    return { rate: (2 * n * 1000) / (t1 - t0 + (t3 - t2)), threads, rssPerNet: (rss1 - rss0) / n, connectMs: (t1 - t0) / n, disconnectMs: (t3 - t2) / n };
  } finally {
    await rt.close();
  }
}

/**
 * @example
 * await contextDomainCost(new Reporter('host'), 16);
 */
export async function contextDomainCost(r: Reporter, n = 16): Promise<void> {
  const dom = await run(n, 'domain');
  const ctx = await run(n, 'context');
  r.record({ name: `context domains: ${n} per-user networks connected + disconnected`, value: ctx.rate, unit: 'ops/s', target: null, better: 'higher', baseline: dom.rate });
  r.record({ name: `context domains: worker threads for ${n} networks`, value: ctx.threads, unit: 'threads', target: null, better: 'lower', baseline: dom.threads });
  r.record({ name: 'context domains: resident memory per network', value: ctx.rssPerNet / 1024, unit: 'KiB', target: null, better: 'lower', baseline: dom.rssPerNet / 1024 });
  r.note(`context domains: connect ${ctx.connectMs.toFixed(1)} ms, disconnect ${ctx.disconnectMs.toFixed(1)} ms per network (domain isolation: ${dom.connectMs.toFixed(1)} ms, ${dom.disconnectMs.toFixed(1)} ms)`);
}
