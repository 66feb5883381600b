/**
 * `swnet up [--empty] [--data-dir DIR] [--port P] [--servers N] [-f MANIFEST]`: the embedded
 * mode — a SQLite store in the data directory, the API server and the controllers
 * (`startControlPlane`, as `swnet controller`) and N emulated servers, each a server agent
 * (src/cli/agent.ts) with its own HostServer, all in one process talking to the store directly;
 * agents reach each other over VXLAN on 127.0.0.1 exactly as separate machines would. It prints
 * the API address, then a status line every few seconds; SIGINT/SIGTERM stops everything in
 * order. Started again on the same data directory it resumes: the servers and networks are in
 * the store, the agents rebuild what is placed on them.
 *
 * Servers are `s1` … `sN` in Datacenter `embedded` (created if absent). Without `--empty` the
 * manifest given with `-f` (default examples/embedded.yaml) is applied at start (idempotent).
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { TokenAuth } from '../control/api/auth.js';
import { runStart } from './pcap.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText, formatIssue, type LoadedResource } from '../control/manifest/load.js';
import { kindPrefix } from '../control/manifest/types.js';
import { HEARTBEAT_PREFIX } from '../control/heartbeat.js';
import { PLACEMENT_PREFIX } from '../control/placement.js';
import { defaultDataDir, openStore } from '../control/store/open.js';
import type { Store } from '../control/store/contract.js';
import { ServerAgent } from './agent.js';
import { loadAuth, startControlPlane, type ControlPlane } from './controller.js';
import { lineLog, type Logger } from '../control/log.js';
import { daemonLogger, logOptions } from './log-options.js';

export class UpError extends Error {
  override readonly name = 'UpError';
}

/** The embedded servers' manifest: Datacenter `embedded` and Servers s1 … sN. */
export function embeddedServers(n: number): string {
  const docs = [`apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: embedded }\nspec: { tier: edge }\n`];
  for (let i = 1; i <= n; i++)
    docs.push(`apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: s${i}, labels: { swnet.io/embedded: "true" } }\nspec:\n  datacenter: embedded\n  capacity: { cpu: 8, memory: 16Gi, bandwidth: 10Gbps }\n  power: { specpower: [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135] }\n`);
  return docs.join('---\n');
}

async function applyText(store: Store, text: string, file: string): Promise<string[]> {
  const { resources, issues } = parseManifestText(text, file);
  if (issues.length > 0) throw new UpError(issues.map(formatIssue).join('\n'));
  const r = await apply(store, resources as LoadedResource[]);
  return r.changes.filter((c) => c.action !== 'unchanged').map((c) => `${c.kind} ${c.namespace ? `${c.namespace}/` : ''}${c.name} ${c.action}`);
}

export interface Embedded {
  readonly url: string;
  readonly agents: readonly ServerAgent[];
  /** One line: servers active, networks, functions placed, power. */
  statusLine(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the embedded mode over an open store (the caller closes the store after `stop()`).
 * @example
 * const e = await startEmbedded(store, { auth, servers: 3, port: 0 });
 * console.log(e.url, await e.statusLine());
 * await e.stop();
 */
export async function startEmbedded(store: Store, o: { readonly auth: Awaited<ReturnType<typeof loadAuth>>; readonly servers: number; readonly port: number; readonly host?: string; readonly manifest?: { text: string; file: string }; readonly log?: (line: string) => void; readonly logger?: Logger; readonly statusMs?: number }): Promise<Embedded> {
  const log = o.log;
  const made = await applyText(store, embeddedServers(o.servers), '<embedded servers>');
  for (const m of made) log?.(m);
  // Agents first: on a resume the controllers then find every server's heartbeat already there
  // (otherwise they would mark the servers AgentLost and move their functions for nothing).
  const agents: ServerAgent[] = [];
  let cp: ControlPlane | undefined;
  try {
    for (let i = 1; i <= o.servers; i++) agents.push(await ServerAgent.start({ store, server: `s${i}`, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 5, statusMs: o.statusMs ?? 2000, ...(log ? { log } : {}) }));
    cp = await startControlPlane(store, { auth: o.auth, host: o.host ?? '127.0.0.1', port: o.port, ...(log ? { log } : {}), ...(o.logger ? { logger: o.logger } : {}) });
    if (o.manifest) for (const m of await applyText(store, o.manifest.text, o.manifest.file)) log?.(m);
  } catch (e) {
    await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
    await cp?.stop();
    throw e;
  }
  const plane = cp;
  return {
    url: plane.url,
    agents,
    statusLine: async () => {
      const [hb, nets, pl] = await Promise.all([store.list(HEARTBEAT_PREFIX), store.list(kindPrefix('SoftwareNetwork')), store.list(PLACEMENT_PREFIX)]);
      let watts = 0;
      let received = 0;
      for (const a of agents) {
        const r = a.report;
        watts += r?.powerWatts ?? 0;
        for (const d of r?.domains ?? []) for (const t of Object.values(d.traffic)) received += t.received;
      }
      const placed = pl.items.filter((kv) => !String((kv.value as { function?: unknown }).function).includes('~')).length;
      return `servers ${hb.items.length}/${agents.length} active, ${nets.items.length} networks, ${placed} functions placed, ${watts.toFixed(1)} W, sinks received ${received}`;
    },
    stop: async () => {
      // All at once: each agent is marked stopped before any lease goes, so none reports its peers as lost.
      await Promise.all(agents.map((a) => a.stop().catch((e: unknown) => log?.(`agent ${a.server}: ${String(e)}`))));
      await plane.stop();
    },
  };
}

export interface UpOptions {
  readonly empty?: boolean;
  readonly filename?: string;
  readonly dataDir?: string;
  readonly port: string;
  readonly servers: string;
  readonly tokens?: string;
  readonly statusInterval: string;
  /** Take a free port if this one is in use (npm start). */
  readonly anyPortIfBusy?: boolean;
  /** `--log-level`, `--log-format` (src/control/log.ts); default info, json. */
  readonly logLevel?: string;
  readonly logFormat?: string;
}

/**
 * Runs the embedded mode until SIGINT/SIGTERM; resolves false (message on stderr) if it could not start.
 * @example await runUp({ port: '7700', servers: '3', statusInterval: '5000' });
 */
export async function runUp(o: UpOptions): Promise<boolean> {
  try {
    const servers = Number(o.servers);
    let port = Number(o.port);
    if (!Number.isInteger(servers) || servers < 1 || servers > 64) throw new UpError(`--servers takes 1..64 (got '${o.servers}')`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UpError(`--port takes 0..65535 (got '${o.port}')`);
    let manifest: { text: string; file: string } | undefined;
    if (!o.empty) {
      const file = o.filename ?? fileURLToPath(new URL('../../../examples/embedded.yaml', import.meta.url));
      manifest = { text: readFileSync(file, 'utf8'), file };
    }
    // Without a tokens file, the admin token is chosen here so that the dashboard link can carry it.
    const adminToken = o.tokens === undefined ? process.env['SWNET_ADMIN_TOKEN'] || randomBytes(24).toString('base64url') : undefined;
    const auth = adminToken === undefined ? await loadAuth(o.tokens) : new TokenAuth([{ name: 'admin', token: adminToken, admin: true }]);
    const dir = o.dataDir ?? defaultDataDir();
    mkdirSync(dir, { recursive: true });
    const store = await openStore({ store: `sqlite:${dir}` });
    const logger = daemonLogger(o, { daemon: 'up' });
    const log = lineLog(logger, 'up');
    let e: Embedded;
    for (;;) {
      try {
        e = await startEmbedded(store, { auth, servers, port, log, logger, ...(manifest ? { manifest } : {}), statusMs: Math.min(2000, Number(o.statusInterval)) });
        break;
      } catch (err) {
        if (o.anyPortIfBusy && port !== 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          log(`port ${port} is in use: taking a free one`);
          port = 0;
          continue;
        }
        await store.close();
        throw err;
      }
    }
    const emb = e;
    process.stdout.write(`swnet up: API on ${emb.url} (store ${store.backend} in ${dir}), ${servers} servers; Ctrl-C stops\n`);
    process.stdout.write(`swnet up: dashboard at ${emb.url}/${adminToken === undefined ? ' (sign in with a token from your tokens file)' : `#token=${adminToken}`}\n`);
    const timer = setInterval(() => {
      emb.statusLine().then(
        (l) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`),
        (err: unknown) => log(`status: ${String(err)}`),
      );
    }, Math.max(200, Number(o.statusInterval)));
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      log(`${sig}: shutting down`);
      void (async () => {
        await emb.stop();
        await store.close();
        process.stdout.write('swnet up: stopped\n');
        process.exit(0);
      })();
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    return true;
  } catch (err) {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return false;
  }
}

/**
 * The main job (`npm start`): `swnet up` with examples/embedded.yaml (API on SWNET_PORT or 7700, a
 * free port if taken; data in SWNET_DATA_DIR or ~/.swnet);
 * if the embedded mode cannot start, the bundled capture is inspected instead, so it never fails.
 */
export async function runMain(): Promise<void> {
  const ok = await runUp({ port: process.env['SWNET_PORT'] ?? '7700', servers: '3', statusInterval: process.env['SWNET_STATUS_INTERVAL'] ?? '5000', anyPortIfBusy: true });
  if (!ok) {
    process.stderr.write('swnet: the embedded mode could not start; showing the bundled capture instead\n');
    runStart();
  }
}

export function register(program: Command): void {
  logOptions(program
    .command('up'), true)
    .description('embedded mode: store, API, controllers and N emulated servers in one process, until SIGINT/SIGTERM')
    .option('--empty', 'apply no example manifest')
    .option('-f, --filename <file>', 'manifest applied at start (default examples/embedded.yaml)')
    .option('--data-dir <dir>', 'data directory of the SQLite store (default ~/.swnet)')
    .option('--port <port>', 'API port on 127.0.0.1 (0: a free one)', '7700')
    .option('--servers <n>', 'emulated servers', '3')
    .option('--tokens <file>', 'tokens file; without it an admin token is taken from SWNET_ADMIN_TOKEN or generated and printed')
    .option('--status-interval <ms>', 'period of the status line', '5000')
    .action(async (o: UpOptions) => {
      if (!(await runUp(o))) process.exitCode = 1;
    });
}
