/**
 * Failover bench (issue 7): a router with a warm standby on another server, traffic source →
 * router → a UDP endpoint of this process (the router's eth1 joined to it over VXLAN, so the
 * arrival of every frame is timed here, and the sending server is known by its VXLAN port).
 * The primary router's agent is killed; the figure is the time from the kill to the first frame
 * that reaches the endpoint through the standby, 20 trials, p50 and p99:
 * - embedded: in-process agents over a memory store, `agent.kill()` (lease left to expire);
 * - etcd: a real etcd on loopback, each agent a `swnet agent` child process, `kill -9`.
 * Trials ping-pong (embedded: after one uncounted warm-up): the killed server's agent is restarted and given the new standby placement
 * (as the network controller would), then the new primary is killed. Baseline (in-run): what a
 * lease-based detector would wait, the time from the kill until the dead agent's heartbeat key
 * is gone (measured on the first trials with the shortest lease the agents use).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import type { Reporter } from './report.js';
import { fmt } from './report.js';
import { ServerAgent } from '../src/cli/agent.js';
import { infraManifest, placeFixed } from '../src/cli/agent-bed.js';
import { STANDBY_STATE_PREFIX } from '../src/cli/agent-standby.js';
import { apply } from '../src/control/manifest/apply.js';
import { parseManifestText } from '../src/control/manifest/load.js';
import { heartbeatKey } from '../src/control/heartbeat.js';
import type { Store } from '../src/control/store/contract.js';
import { MemoryStore } from '../src/control/store/memory.js';
import { EtcdStore } from '../src/control/store/etcd.js';
import { startEtcd } from '../src/control/store/etcd-process.js';

const TRIALS = 20;
/** Trials whose lease expiry is also timed (each costs a lease TTL). */
const BASELINE_TRIALS = 3;
const VNI = 4242;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 30000, poll = 2): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`failover bench: timed out waiting for ${what}`);
    await sleep(poll);
  }
}

/**
 * The VXLAN endpoint the router's eth1 sends to. Senders are told apart by the source port of their
 * datagrams, which is not the agent's listening port (an uplink sends from a connected socket per
 * remote, on a port the system picks: RFC 7348 §5): the ports heard just before a kill are the
 * primary's, and the first frame from any other port after it comes through the standby.
 */
class Sink {
  private waiter: { exclude: ReadonlySet<number>; t0: number; resolve: (t: number) => void } | undefined;
  /** Last arrival time from each sending port. */
  private readonly last = new Map<number, number>();
  /** Frames from each sending port. */
  readonly from = new Map<number, number>();
  private constructor(readonly sock: Socket) {
    sock.on('message', (_m, r) => {
      const now = performance.now();
      this.from.set(r.port, (this.from.get(r.port) ?? 0) + 1);
      this.last.set(r.port, now);
      const w = this.waiter;
      if (w && !w.exclude.has(r.port) && now >= w.t0) {
        this.waiter = undefined;
        w.resolve(now);
      }
    });
  }
  static async open(): Promise<Sink> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new Sink(s);
  }
  get port(): number {
    return this.sock.address().port;
  }
  /** Frames heard in all. */
  get total(): number {
    let n = 0;
    for (const c of this.from.values()) n += c;
    return n;
  }
  /** The ports heard within the last `ms`. */
  heard(ms: number): Set<number> {
    const now = performance.now();
    return new Set([...this.last].filter(([, t]) => now - t <= ms).map(([p]) => p));
  }
  /** Time of the first frame at or after `t0` from a port not in `exclude`. */
  firstFromOther(exclude: ReadonlySet<number>, t0: number, ms = 10000): Promise<number> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`failover bench: no frame from a port other than ${[...exclude].join(',')} within ${ms} ms`)), ms);
      this.waiter = { exclude, t0, resolve: (x) => (clearTimeout(t), resolve(x)) };
    });
  }
  close(): void {
    this.sock.close();
  }
}

function manifest(sinkPort: number): string {
  return `${infraManifest(['s1', 's2', 's3'])}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata:
  name: fo
  namespace: default
  annotations: { swnet.io/vxlan.r.eth1: "${VNI}@127.0.0.1:${sinkPort}" }
spec:
  resilience: { standby: 1 }
  functions:
    - name: src
      kind: traffic-source
      config:
        flows:
          - { kind: voip, srcMac: '02:01:00:00:00:10', dstMac: '02:01:00:00:01:01', src: 10.1.1.10, dst: 10.1.2.10, srcPort: 40001, dstPort: 5004, intervalMs: 1 }
    - name: r
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '02:01:00:00:01:01', addresses: [10.1.1.1/24] }
          - { name: eth1, mac: '02:01:00:00:01:02', addresses: [10.1.2.1/24] }
        neighbors: [{ interface: eth1, address: 10.1.2.10, mac: '02:01:00:00:00:20' }]
  links:
    - { endpoints: ['src:out', 'r:eth0'] }
`;
}

/** Servers, the network and its placements (the bench plays the network controller). */
async function setup(store: Store, sink: Sink): Promise<void> {
  const { resources, issues } = parseManifestText(manifest(sink.port), 'failover.yaml');
  if (issues.length > 0) throw new Error(`failover bench manifest: ${JSON.stringify(issues)}`);
  await apply(store, resources);
  await placeFixed(store, 'default', 'fo', { src: 's1', r: 's2', 'r~standby-1': 's3' });
}

interface Trial {
  /** kill → first frame through the standby at the sink. */
  ms: number;
  /** kill → heartbeat key gone (lease expiry), when timed. */
  leaseMs?: number;
  /** kill → primary declared down, → placement switched, → warm instance adopted (embedded only). */
  phases?: { down: number; switched: number; adopted: number };
}

function summary(r: Reporter, label: string, trials: readonly Trial[], target: number, baselineWhat: string): void {
  const ms = trials.map((t) => t.ms);
  const lease = trials.flatMap((t) => (t.leaseMs !== undefined ? [t.leaseMs] : []));
  const baseline = lease.length > 0 ? pct(lease, 50) : undefined;
  const ph = trials.flatMap((t) => (t.phases ? [t.phases] : []));
  if (ph.length > 0) r.note(`${label}: median kill → down ${fmt(pct(ph.map((p) => p.down), 50))} ms, → placement switched ${fmt(pct(ph.map((p) => p.switched), 50))} ms, → warm instance adopted ${fmt(pct(ph.map((p) => p.adopted), 50))} ms`);
  r.note(`${label}: ${trials.length} trials, kill → first frame through the standby (ms): ${ms.map((x) => fmt(x)).join(' ')}; ${baselineWhat}: ${lease.map((x) => fmt(x)).join(' ')} ms`);
  const b = baseline !== undefined ? { baseline } : {};
  r.record({ name: `failover after kill (${label}): kill → first frame through the standby, p50`, value: pct(ms, 50), unit: 'ms', target, better: 'lower', ...b });
  r.record({ name: `failover after kill (${label}): kill → first frame through the standby, p99`, value: pct(ms, 99), unit: 'ms', target, better: 'lower', ...b });
}

/** In-process agents over a memory store; `kill()` leaves the lease to expire (TTL 2 s). */
async function embedded(r: Reporter): Promise<void> {
  const store = new MemoryStore();
  const sink = await Sink.open();
  const agents = new Map<string, ServerAgent>();
  const start = async (s: string): Promise<ServerAgent> => {
    const a = await ServerAgent.start({ store, server: s, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 2, statusMs: 60_000, resyncMs: 2000, standby: { helloMs: 20, standbySyncMs: 200 } });
    agents.set(s, a);
    return a;
  };
  const trials: Trial[] = [];
  try {
    await setup(store, sink);
    for (const s of ['s1', 's2', 's3']) await start(s);
    let primary = 's2';
    let standby = 's3';
    // Trial -1 warms the process up (JIT of every path a failover takes) and is not counted.
    for (let k = -1; k < TRIALS; k++) {
      const pa = agents.get(primary) as ServerAgent;
      const sa = agents.get(standby) as ServerAgent;
      const heard0 = sink.total;
      await until('traffic through the primary', () => (sink.total - heard0 > 50 ? true : undefined));
      await until('a warm standby hearing hellos', () => (sa.runtime.hasWarm('default/fo', 'r') && sa.standby?.hello.watched().get('default/fo/r') === 'up' ? true : undefined)).catch((e: unknown) => {
        throw new Error(`${String(e)} (trial ${k}: ${standby} warm ${sa.runtime.hasWarm('default/fo', 'r')}, hellos ${sa.standby?.hello.watched().get('default/fo/r')}, ${primary} advertises ${JSON.stringify([...(pa.standby?.hello.advertised() ?? [])])}, runs ${pa.runtime.functions('default/fo').join()})`);
      });
      // Warm for a state copy period at least (a standby is not killed for within ms of its start).
      await sleep(300);
      const n0 = sa.standby?.failovers.length ?? 0;
      const primaryPorts = sink.heard(100);
      const t0 = performance.now();
      const first = sink.firstFromOther(primaryPorts, t0);
      const killed = pa.kill();
      const t1 = await first;
      await killed;
      agents.delete(primary);
      const fo = await until('the failover record', () => sa.standby?.failovers[n0]);
      const t: Trial = { ms: t1 - t0, phases: { down: fo.downAt - t0, switched: fo.switchedAt - t0, adopted: fo.adoptedAt - t0 } };
      if (k >= 0 && k < BASELINE_TRIALS) {
        await until('the lease to expire', async () => ((await store.get(heartbeatKey(primary))) ? undefined : true), 10000, 5);
        t.leaseMs = performance.now() - t0;
      }
      if (k >= 0) trials.push(t);
      // The killed server comes back and gets the new standby, as the network controller would place it.
      await start(primary);
      await placeFixed(store, 'default', 'fo', { 'r~standby-1': primary });
      [primary, standby] = [standby, primary];
    }
  } finally {
    for (const a of agents.values()) await a.stop().catch(() => undefined);
    sink.close();
    await store.close();
  }
  summary(r, 'embedded, memory store, hello 20 ms', trials, 100, 'baseline: kill → lease of 2 s expired');
}

/** One `swnet agent` child process. */
interface Child {
  readonly server: string;
  readonly proc: ChildProcess;
  log: string;
}

/** Agents as `swnet agent` processes over a real etcd on loopback; `kill -9`. */
async function acrossProcesses(r: Reporter): Promise<void> {
  const etcd = await startEtcd();
  const store = new EtcdStore({ hosts: etcd.url });
  const sink = await Sink.open();
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const children = new Map<string, Child>();
  const helloMs = 50;
  // Long enough that the survivors' leases hold on a loaded machine (renewed every third of it).
  const ttl = 4;
  const spawnAgent = async (server: string): Promise<{ vxlan: number }> => {
    const rev = await store.revision();
    const proc = spawn(process.execPath, [main, 'agent', '--server', server, '--store', `etcd://127.0.0.1:${etcd.clientPort}`, '--vxlan-listen', '127.0.0.1:0', '--ttl', String(ttl), '--hello-interval', String(helloMs), '--status-interval', '60000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const c: Child = { server, proc, log: '' };
    proc.stderr?.on('data', (d: Buffer) => void (c.log = (c.log + d.toString()).slice(-20000)));
    children.set(server, c);
    const hb = await until(`agent ${server} heartbeat`, async () => {
      const kv = await store.get(heartbeatKey(server));
      return kv && kv.modRevision > rev ? (kv.value as { vxlan?: string }) : undefined;
    }, 30000, 20);
    return { vxlan: Number(String(hb.vxlan).split(':').pop()) };
  };
  const trials: Trial[] = [];
  try {
    await setup(store, sink);
    for (const s of ['s1', 's2', 's3']) await spawnAgent(s);
    let primary = 's2';
    let standby = 's3';
    for (let k = 0; k < TRIALS; k++) {
      const heard0 = sink.total;
      const sc = children.get(standby) as Child;
      const pc = children.get(primary) as Child;
      await until(`traffic through the primary (${primary})`, () => (sink.total - heard0 > 50 ? true : undefined), 30000).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${pc.log}`);
      });
      // The standby's agent logs when its warm instance is ready; hellos are heard within a few intervals.
      const mark = `warm standby of default/fo/r (primary on ${primary})`;
      await until(`a warm standby on ${standby}`, () => (sc.log.includes(mark) ? true : undefined), 30000, 10).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${sc.log}`);
      });
      sc.log = sc.log.replaceAll(mark, '');
      await until('the standby state copy', async () => ((await store.get(`${STANDBY_STATE_PREFIX}default/fo/r`)) ? true : undefined));
      await sleep(6 * helloMs);
      const primaryPorts = sink.heard(100);
      const t0 = performance.now();
      const first = sink.firstFromOther(primaryPorts, t0, 20000);
      pc.proc.kill('SIGKILL');
      const t1 = await first.catch((e: unknown) => {
        throw new Error(`${String(e)}\n${sc.log}`);
      });
      const t: Trial = { ms: t1 - t0 };
      if (k < BASELINE_TRIALS) {
        await until('the lease to expire', async () => ((await store.get(heartbeatKey(primary))) ? undefined : true), 20000, 10);
        t.leaseMs = performance.now() - t0;
      }
      trials.push(t);
      await spawnAgent(primary);
      await placeFixed(store, 'default', 'fo', { 'r~standby-1': primary });
      [primary, standby] = [standby, primary];
    }
  } finally {
    for (const c of children.values()) c.proc.kill('SIGKILL');
    sink.close();
    await store.close();
    await etcd.stop();
  }
  summary(r, `etcd, swnet agent processes, kill -9, hello ${helloMs} ms`, trials, 1000, `baseline: kill -9 → lease of ${ttl} s expired`);
}

/**
 * Runs both failover benches (called from bench/migration.ts).
 * @example
 * await runFailover(new Reporter('migration'));
 */
export async function runFailover(r: Reporter): Promise<void> {
  await embedded(r);
  await acrossProcesses(r);
}
