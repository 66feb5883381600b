/**
 * The N-router line through the real path (issue 5: apply the 200-router line and have every
 * pair of endpoints reach each other ≤ 2 s): a SoftwareNetwork manifest applied to the embedded
 * SQLite store (what `swnet apply` does), the controllers placing it, two in-process server
 * agents (src/cli/agent.ts, as `swnet up` runs them) computing the routers' FIBs and starting
 * their domains, links between servers over VXLAN on 127.0.0.1. The end hosts are this process:
 * each router's `lan` port is joined to a UDP socket here (annotation `swnet.io/vxlan.rI.lan`),
 * and one IPv4/UDP datagram is sent from every router's host to every other router's host
 * (39,800), until each has arrived. The clock runs from the apply to the last pair reached.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerAgent } from './agent.js';
import { embeddedServers } from './up.js';
import { startControllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { PLACEMENT_PREFIX, type Placement } from '../control/placement.js';
import { lanOf, lineNetwork } from '../control/routing-lab.js';
import { SqliteStore } from '../control/store/sqlite.js';
import { literalLookup } from '../host/uplink.js';
import { udpFrame } from '../packet/frames.js';
import { VXLAN_HLEN, buildVxlan } from '../packet/vxlan.js';

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

/** VNI of router i's host LAN (far from the agents' per-link VNIs, which hash the network name). */
const lanVni = (i: number): number => 0xfe0000 + i;

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
  const sock = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
  const agents: ServerAgent[] = [];
  let ctl: Awaited<ReturnType<typeof startControllers>> | undefined;
  try {
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    // The replies of a round arrive faster than this thread reads them while it also runs the
    // agents' domain 0: with the default 208 KiB (~270 small datagrams) thousands were lost and
    // cost resend rounds. 4 MiB, as the agents' uplinks ask (capped by net.core.rmem_max).
    try {
      sock.setRecvBufferSize(4 << 20);
      sock.setSendBufferSize(4 << 20);
    } catch {
      // Kept at the system's size: losses only cost resends.
    }
    const hosts = { address: '127.0.0.1', port: sock.address().port };
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

    // Every datagram prebuilt (VXLAN header + frame), payload tagged with (from, to).
    const frames: Buffer[][] = [];
    for (let i = 0; i < n; i++) {
      const s = lanOf(i);
      const row: Buffer[] = [];
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const payload = new Uint8Array(18);
        new DataView(payload.buffer).setUint16(0, i);
        new DataView(payload.buffer).setUint16(2, j);
        const f = udpFrame({ srcMac: s.hostMac, dstMac: s.routerMac, src: s.host4, dst: lanOf(j).host4, srcPort: 1000, dstPort: 2000, ttl: 255, payload });
        const d = Buffer.alloc(VXLAN_HLEN + f.length);
        buildVxlan(d, 0, lanVni(i));
        d.set(f, VXLAN_HLEN);
        row.push(d);
      }
      frames.push(row);
    }
    const seen = new Uint8Array(n * n);
    let delivered = 0;
    let firstBoth = 0;
    let onAll: (() => void) | undefined;
    sock.on('message', (m: Buffer) => {
      // VXLAN 8 + Ethernet 14 + IPv4 20 + UDP 8, then the tag.
      if (m.length < VXLAN_HLEN + 42 + 4) return;
      const from = m.readUInt16BE(VXLAN_HLEN + 42);
      const to = m.readUInt16BE(VXLAN_HLEN + 44);
      if (from >= n || to >= n || m.readUIntBE(4, 3) !== lanVni(to)) return;
      const k = from * n + to;
      if (seen[k] === 0) {
        seen[k] = 1;
        delivered++;
        if ((from === 0 && to === n - 1) || (from === n - 1 && to === 0)) firstBoth++;
        if (delivered === n * (n - 1)) onAll?.();
      }
    });

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
    const send = (i: number, k: number): void => {
      const ep = endpoint.get(where[i]!)!;
      sock.send(frames[i]![k]!, ep.port, ep.address);
    };
    // The domains start: probe the two ends until a datagram has crossed the line both ways.
    while (firstBoth < 2) {
      if (performance.now() > deadline) throw new LineTimeoutError(`the line never carried a datagram end to end in ${timeoutMs} ms`, 0);
      send(0, n - 2);
      send(n - 1, 0);
      await new Promise((r) => setTimeout(r, 5));
    }
    const firstMs = performance.now() - t0;
    // Every pair, a router's row at a time (yielding so that replies are read); then the missing ones again.
    // At most `window` datagrams in flight, as a host's socket buffer would allow: a burst of
    // 39,800 overflows the agent's UDP receive buffer, and lost datagrams only cost resend rounds.
    const all = new Promise<void>((resolve) => (onAll = resolve));
    if (delivered === n * (n - 1)) onAll?.();
    const window = 2048;
    for (let round = 0; delivered < n * (n - 1); round++) {
      if (performance.now() > deadline) throw new LineTimeoutError(`${delivered}/${n * (n - 1)} pairs reached after ${timeoutMs} ms`, delivered);
      let sent = 0;
      const base = delivered;
      for (let i = 0; i < n; i++) {
        for (let j = 0, k = 0; j < n; j++) {
          if (j === i) continue;
          if (seen[i * n + j] === 0) {
            send(i, k);
            sent++;
          }
          k++;
        }
        await new Promise((r) => setImmediate(r));
        // Wait while more than `window` are in flight and replies still come (none for 50 ms:
        // the rest are lost, the next round resends them). A fixed number of waits let a starved
        // agent fall behind by its whole pool (8,192 slots) and drop thousands.
        for (let last = delivered, since = performance.now(); sent - (delivered - base) > window; ) {
          await new Promise((r) => setTimeout(r, 1));
          if (delivered !== last) (last = delivered), (since = performance.now());
          else if (performance.now() - since > 50) break;
        }
      }
      if (log) {
        const diag = agents.map((a) => {
          const u = a.runtime.uplink?.counters();
          const d = a.runtime.host.dropsOf(`default/line-${n}`);
          const dc = a.runtime.host.domainList().map((h) => h.domain.counters());
          return `${a.server}: up rx ${u?.rxPackets} tx ${u?.txPackets} noBuf ${u?.rxNoBuffer} unk ${u?.rxUnknownVni}; drops ${JSON.stringify(d)}; domains ${dc.map((c) => `${c.processed}/${c.ringFull}/${c.txFull}`).join(' ')}`;
        });
        log(`round ${round}: ${sent} sent, ${delivered - base} new, ${delivered} reached; ${diag.join(' | ')}`);
      }
      await Promise.race([all, new Promise((r) => setTimeout(r, round === 0 ? 200 : 50))]);
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
    sock.close();
    await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
    await ctl?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

