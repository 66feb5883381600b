/**
 * The N-router line through the real path (issue 5: apply the 200-router line and have every
 * pair of endpoints reach each other ≤ 2 s): a SoftwareNetwork manifest applied to the embedded
 * SQLite store (what `swnet apply` does), the controllers placing it, two in-process server
 * agents (src/cli/agent.ts, as `swnet up` runs them) computing the routers' FIBs and starting
 * their domains, links between servers over VXLAN on 127.0.0.1. The end hosts are a thread of
 * this process (line-hosts.ts, as machines of their own would be): each router's `lan` port is
 * joined to its UDP socket (annotation `swnet.io/vxlan.rI.lan`), and one IPv4/UDP datagram is
 * sent from every router's host to every other router's host (39,800), until each has arrived.
 * The clock runs from the apply to the hosts' thread saying the last pair was reached.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ServerAgent } from './agent.js';
import { embeddedServers } from './up.js';
import { startControllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { PLACEMENT_PREFIX, type Placement } from '../control/placement.js';
import { lineNetwork } from '../control/routing-lab.js';
import { SqliteStore } from '../control/store/sqlite.js';
import { lanVni, type HostsGo, type HostsMessage } from './line-hosts.js';

/** The line did not get there in time (`delivered` pairs had). */
export class LineTimeoutError extends Error {
  override readonly name = 'LineTimeoutError';
  constructor(
    message: string,
    readonly delivered: number,
  ) {
    super(message);
  }
}


export interface LineThroughAgents {
  readonly routers: number;
  readonly servers: number;
  /** From the apply: every function placed; the first datagram end to end both ways; every pair reached. */
  readonly placedMs: number;
  readonly firstMs: number;
  readonly allMs: number;
  readonly delivered: number;
  readonly pairs: number;
  /** Routers per server. */
  readonly spread: Record<string, number>;
  /** Where the time went, ms, consecutive phases from the apply call (they sum to `allMs`). */
  readonly phases: LinePhases;
}

/**
 * The consecutive phases of one run (ms): `parse` (manifest text → validated resources),
 * `store` (the apply's transaction), `schedule` (until the controllers wrote the last
 * placement), `agents` (until every agent that runs routers has its domains running: routes
 * computed, plan applied, routers built in their domain workers), `start` (until a datagram
 * crossed the line both ways), `traffic` (until every pair was reached).
 */
export interface LinePhases {
  readonly parse: number;
  readonly store: number;
  readonly schedule: number;
  readonly agents: number;
  readonly start: number;
  readonly traffic: number;
}

/** The manifest `swnet apply -f` would be given (generated: the hosts' UDP port is chosen at run time). */
export function lineManifest(n: number, hosts: { address: string; port: number }, cpuPerRouter?: string): string {
  const annotations: Record<string, string> = {};
  for (let i = 0; i < n; i++) annotations[`swnet.io/vxlan.r${i}.lan`] = `${lanVni(i)}@${hosts.address}:${hosts.port}`;
  const spec = lineNetwork(n);
  // A CPU request per router spreads the line over the servers (the links between them: VXLAN).
  if (cpuPerRouter !== undefined) for (const f of spec.functions) Object.assign(f, { resources: { cpu: cpuPerRouter } });
  const doc = { apiVersion: 'swnet.io/v1', kind: 'SoftwareNetwork', metadata: { name: `line-${n}`, namespace: 'default', annotations }, spec };
  // JSON is YAML: one document.
  return JSON.stringify(doc);
}

/**
 * Waits until this process is quiet — under a quarter of a core over 100 ms, at most 10 s — and
 * returns how long that took (ms). Threads starting (idle domain workers loading their modules)
 * show as CPU time of the process; two agents at rest take ~15% of a core (timers, heartbeats).
 */
async function settled(): Promise<number> {
  const t0 = performance.now();
  for (let last = process.cpuUsage(), at = performance.now(); performance.now() - t0 < 10_000; ) {
    await new Promise((r) => setTimeout(r, 100));
    const now = process.cpuUsage();
    const t = performance.now();
    const cpu = (now.user - last.user + now.system - last.system) / 1000;
    if (cpu < (t - at) / 4) break;
    last = now;
    at = t;
  }
  return performance.now() - t0;
}

/**
 * Runs the line through controllers and agents; resolves once every ordered pair of hosts has
 * exchanged a datagram (or rejects after `timeoutMs`).
 * @example
 * const r = await lineThroughAgents(200, 2);
 * console.log(r.allMs);
 */
export async function lineThroughAgents(n = 200, servers = 2, timeoutMs = 60_000, o: { readonly log?: (line: string) => void; readonly cpuPerRouter?: string } = {}): Promise<LineThroughAgents> {
  const log = o.log;
  const dir = mkdtempSync(join(tmpdir(), 'swnet-bench-line-'));
  const store = new SqliteStore({ dataDir: dir });
  // The end hosts run in a thread of their own (line-hosts.ts), as on machines of their own.
  const hostsThread = new Worker(new URL('./line-hosts.js', import.meta.url), { workerData: { lineHosts: n } });
  const inbox: HostsMessage[] = [];
  let wake: (() => void) | undefined;
  let failed: Error | undefined;
  hostsThread.on('message', (m: HostsMessage) => {
    inbox.push(m);
    wake?.();
  });
  hostsThread.on('error', (e) => {
    failed = e;
    wake?.();
  });
  /** The next message of the hosts' thread (its time of arrival is what the clock reads). */
  const next = async (): Promise<HostsMessage> => {
    for (;;) {
      if (failed) throw failed;
      const m = inbox.shift();
      if (m) return m;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  };
  const agents: ServerAgent[] = [];
  let ctl: Awaited<ReturnType<typeof startControllers>> | undefined;
  try {
    const ready = await next();
    if (ready.type !== 'ready') throw new Error(`line hosts: ${ready.type} before ready`);
    const hosts = { address: '127.0.0.1', port: ready.port };
    await apply(store, parseManifestText(embeddedServers(servers), 'servers.yaml').resources);
    // When each agent reported the line's domains running (its log line after an apply that
    // created or replaced them), every time.
    const running = new Map<string, number[]>();
    const agentLog = (server: string) => (line: string): void => {
      if (line.startsWith(`agent ${server}: default/line-${n} created`) || line.startsWith(`agent ${server}: default/line-${n} replaced`)) running.set(server, [...(running.get(server) ?? []), performance.now()]);
      log?.(line);
    };
    for (let i = 1; i <= servers; i++) agents.push(await ServerAgent.start({ store, server: `s${i}`, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 5, statusMs: 2000, log: agentLog(`s${i}`) }));
    ctl = await startControllers(store, log ? { log } : {});
    const endpoint = new Map(agents.map((a) => [a.server, a.runtime.endpoint!]));
    // Agents that have been running, as an operator's are: their idle domain workers have loaded
    // every function's module (~0.3 s of CPU each, four here) before the apply, not during it.
    const settle = await settled();
    log?.(`settled after ${settle.toFixed(0)} ms`);

    // The last placement's write, seen by a watch (the agents see it the same way).
    let placedAt = 0;
    const placedKeys = new Set<string>();
    const watch = await store.watch(`${PLACEMENT_PREFIX}default/line-${n}/`, {}, (evs) => {
      for (const e of evs) if (e.type === 'put') placedKeys.add(e.key);
      if (placedAt === 0 && placedKeys.size === n) placedAt = performance.now();
    });

    const t0 = performance.now();
    log?.('apply');
    const { resources, issues } = parseManifestText(lineManifest(n, hosts, o.cpuPerRouter), `line-${n}.yaml`);
    if (issues.length > 0) throw new Error(issues.map((x) => x.message).join('; '));
    const tParsed = performance.now();
    log?.('parsed');
    await apply(store, resources);
    const tApplied = performance.now();
    log?.('applied');
    const deadline = t0 + timeoutMs;
    // Where each router runs, from the placements the controller writes.
    const where: string[] = [];
    for (;;) {
      const { items } = await store.list(`${PLACEMENT_PREFIX}default/line-${n}/`);
      for (const kv of items) {
        const p = kv.value as unknown as Placement;
        where[Number(p.function.slice(1))] = p.server;
      }
      if (items.length === n) break;
      if (performance.now() > deadline) throw new LineTimeoutError(`only ${items.length}/${n} routers placed in ${timeoutMs} ms`, 0);
      await new Promise((r) => setTimeout(r, 5));
    }
    const placedMs = performance.now() - t0;
    log?.('placed');
    await watch.cancel();
    const go: HostsGo = { type: 'go', endpoints: where.map((w) => endpoint.get(w)!), deadlineMs: Math.max(0, deadline - performance.now()), rounds: log !== undefined };
    hostsThread.postMessage(go);
    let firstMs = 0;
    let delivered = 0;
    for (let done = false; !done; ) {
      const m = await next();
      if (m.type === 'first') firstMs = performance.now() - t0;
      else if (m.type === 'round') {
        const diag = agents.map((a) => {
          const u = a.runtime.uplink?.counters();
          const d = a.runtime.host.dropsOf(`default/line-${n}`);
          const dc = a.runtime.host.domainList().map((h) => h.domain.counters());
          return `${a.server}: up rx ${u?.rxPackets} tx ${u?.txPackets} noBuf ${u?.rxNoBuffer} unk ${u?.rxUnknownVni}; drops ${JSON.stringify(d)}; domains ${dc.map((c) => `${c.processed}/${c.ringFull}/${c.txFull} restarts ${c.restarts} lost ${c.lostInCrash}`).join(' ')}`;
        });
        log?.(`round ${m.round}: ${m.sent} sent, ${m.fresh} new, ${m.delivered} reached; ${diag.join(' | ')}`);
      } else if (m.type === 'all') {
        delivered = m.delivered;
        done = true;
      } else if (m.type === 'timeout') {
        throw new LineTimeoutError(m.first ? `${m.delivered}/${n * (n - 1)} pairs reached after ${timeoutMs} ms` : `the line never carried a datagram end to end in ${timeoutMs} ms`, m.delivered);
      }
    }
    const allMs = performance.now() - t0;
    const spread: Record<string, number> = {};
    for (const s of where) spread[s] = (spread[s] ?? 0) + 1;
    // Phase ends, clamped to be consecutive (a watch or log line is seen after the step it marks).
    // An agent's domains: the last (re)build before the first datagram crossed.
    const ranAt = (s: string): number => Math.max(-Infinity, ...(running.get(s) ?? []).filter((t) => t <= t0 + firstMs));
    const ends = [tParsed, tApplied, placedAt || t0 + placedMs, Math.max(...Object.keys(spread).map(ranAt)), t0 + firstMs, t0 + allMs];
    const d: number[] = [];
    let prev = t0;
    for (const e of ends) {
      const at = Math.min(Math.max(e, prev), t0 + allMs);
      d.push(at - prev);
      prev = at;
    }
    const [parse, st, schedule, agentsMs, start, traffic] = d as [number, number, number, number, number, number];
    return { routers: n, servers, placedMs, firstMs, allMs, delivered, pairs: n * (n - 1), spread, phases: { parse, store: st, schedule, agents: agentsMs, start, traffic } };
  } finally {
    await hostsThread.terminate();
    await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
    await ctl?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

