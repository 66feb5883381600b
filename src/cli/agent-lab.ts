/**
 * The bed of the agent kernel tests (imported by src/cli/*.kernel.test.ts only): servers as
 * network namespaces joined by veths to a bridge, a real etcd (Debian's etcd-server) on the
 * bridge's address, one `swnet agent` process a namespace, their output kept for failure
 * messages, and everything removed by `close`. The namespace primitives come from the test
 * (src/testkit/netns.ts, which only tests may import).
 *
 * @example
 * const lab = await agentLab({ id: `swm${process.pid % 100000}`, subnet: 30, servers: 3, netns: { bridge, joinBridge, sh, waitExit } });
 * try {
 *   await lab.startAgents(resources);
 *   await lab.until('frames', async () => ((await trafficReceived(lab.store, ['s3'], 'sink')) > 200 ? true : undefined));
 * } finally { await lab.close(); }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEtcd, type EtcdProcess } from '../control/store/etcd-process.js';
import { openStore } from '../control/store/open.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText, type LoadedResource } from '../control/manifest/load.js';
import { MigrationController } from '../control/controllers/migration.js';
import { HEARTBEAT_PREFIX } from '../control/heartbeat.js';
import type { Store } from '../control/store/contract.js';
import { until as untilShared } from './agent-testing.js';
import { placeFixed } from './agent-bed.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** What the lab needs of src/testkit/netns.ts. */
export interface NetnsOps {
  bridge(br: string, address: string): void;
  joinBridge(br: string, ns: string, hostEnd: string, address: string): void;
  sh(argv: string[], opts?: { allowFail?: boolean }): string;
  waitExit(child: ChildProcess): Promise<number | null>;
}

/** A running lab; see agentLab. */
export interface AgentLab {
  /** The store on the lab's etcd, and its URL for processes (`etcd://…`). */
  readonly store: Store;
  readonly storeUrl: string;
  /** The servers' namespaces (server s<i+1> in ns[i]) and the bridge's /24 (`172.<subnet>.<x>`). */
  readonly ns: readonly string[];
  readonly net: string;
  /** Each agent's output, by server index. */
  readonly logs: string[];
  /** Throws `e` with every agent's output appended. */
  fail(e: unknown): never;
  /** until() (100 ms polls, default 20 s) that fails with the agents' output. */
  until<T>(what: string, f: () => Promise<T | undefined>, ms?: number): Promise<T>;
  /**
   * Applies every resource but the SoftwareNetworks (an agent reads its Server at start), starts
   * one agent a namespace (ttl 5 s, status every 200 ms) and waits for all their heartbeats.
   */
  startAgents(resources: readonly LoadedResource[]): Promise<void>;
  /**
   * The usual start: `manifest` parsed (throws on an issue), the agents started, the migration
   * controller beside the test if `migrations` (stopped first by `close`), every resource applied,
   * then the placements fixed by hand (network → function → server; no network controller).
   */
  run(manifest: string, o: { readonly place: Readonly<Record<string, Readonly<Record<string, string>>>>; readonly migrations?: boolean }): Promise<void>;
  /** Stops the migration controller (if `run` started one), the agents (SIGTERM), the store and etcd; deletes the namespaces and the bridge. */
  close(): Promise<void>;
}

/**
 * Creates the bridge `<id>b` (172.<subnet>.<pid>.254/24), `servers` namespaces `<id>n1…` at .1,
 * .2, …, starts etcd on the bridge and opens the store. Removes what it made if a step fails.
 */
export async function agentLab(o: { readonly id: string; readonly subnet: number; readonly servers: number; readonly netns: NetnsOps }): Promise<AgentLab> {
  const { id, netns } = o;
  const br = `${id}b`;
  const net = `172.${o.subnet}.${process.pid % 250}`;
  const ns = Array.from({ length: o.servers }, (_, i) => `${id}n${i + 1}`);
  const logs = ns.map(() => '');
  const agents: ChildProcess[] = [];
  let etcd: EtcdProcess | undefined;
  let store: Store | undefined;
  let ctl: MigrationController | undefined;
  const close = async (): Promise<void> => {
    await ctl?.stop();
    for (const c of agents)
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await netns.waitExit(c);
      }
    await store?.close();
    await etcd?.stop();
    for (const n of ns) netns.sh(['ip', 'netns', 'del', n], { allowFail: true });
    netns.sh(['ip', 'link', 'del', br], { allowFail: true });
  };
  const fail = (e: unknown): never => {
    throw new Error(`${String(e)}\n${logs.join('\n---\n')}`);
  };
  const until = <T>(what: string, f: () => Promise<T | undefined>, ms = 20000): Promise<T> => untilShared(what, f, ms, 100).catch(fail);
  try {
    netns.bridge(br, `${net}.254/24`);
    ns.forEach((n, i) => netns.joinBridge(br, n, `${id}r${i + 1}`, `${net}.${i + 1}/24`));
    etcd = await startEtcd({ host: `${net}.254` });
    const storeUrl = etcd.url.replace(/^http:\/\//, 'etcd://');
    const s = await openStore({ store: storeUrl });
    store = s;
    const lab: AgentLab = {
      store: s,
      storeUrl,
      ns,
      net,
      logs,
      fail,
      until,
      startAgents: async (resources) => {
        await apply(s, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
        ns.forEach((n, i) => {
          const c = spawn('ip', ['netns', 'exec', n, process.execPath, MAIN, 'agent', '--server', `s${i + 1}`, '--store', storeUrl, '--vxlan-listen', `${net}.${i + 1}:4789`, '--ttl', '5', '--status-interval', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
          c.stdout?.on('data', (d: Buffer) => (logs[i] += d.toString()));
          c.stderr?.on('data', (d: Buffer) => (logs[i] += d.toString()));
          agents.push(c);
        });
        await until(`${ns.length} agents`, async () => ((await s.list(HEARTBEAT_PREFIX)).items.length === ns.length ? true : undefined));
      },
      run: async (manifest, r) => {
        const { resources, issues } = parseManifestText(manifest, 'lab.yaml');
        if (issues.length > 0) throw new Error(`manifest issues: ${JSON.stringify(issues)}`);
        await lab.startAgents(resources);
        if (r.migrations) ctl = await MigrationController.start(s, { resyncMs: 100 });
        await apply(s, resources);
        for (const [net, where] of Object.entries(r.place)) await placeFixed(s, 'default', net, where);
      },
      close,
    };
    return lab;
  } catch (e) {
    await close();
    throw e;
  }
}
