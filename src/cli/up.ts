/**
 * `swnet up [--empty] [-f MANIFEST] [--data-dir DIR] [--port P] [--day-length D] [--no-urbanize]`:
 * the main job (`npm start`) in embedded mode — a SQLite store in the data directory, the API
 * server and the controllers (`startControlPlane`, as `swnet controller`), the urbanization
 * controller (src/control/controllers/urbanize.ts) and one server agent (src/cli/agent.ts, its own
 * HostServer) per Server in the store, all in one process talking to the store directly; agents
 * reach each other over VXLAN on 127.0.0.1 exactly as separate machines would. Agents follow the
 * store: a Server applied later gets its agent, a deleted one loses it.
 *
 * The built-in example is examples/platform.yaml: three datacenters, eight servers, three
 * software networks whose traffic sources follow a compressed day (docs/platform.md). The day
 * clock (`originMs`, `periodMs`) is kept in the store at `/swnet/platform/day`: the example's
 * sources get it in their `profile`, the status line shows the time of day, and a restart resumes
 * the same day. The example is applied on a fresh store (or when `--day-length` changes the day);
 * a manifest given with `-f` is applied at every start (idempotent). Without any Server in the
 * store, `--servers N` (default 3) emulated servers s1 … sN are created in Datacenter `embedded`.
 *
 * It prints the API address, then a status line every few seconds (time of day, active and standby
 * servers, power, migrations); SIGINT/SIGTERM stops everything in order.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { TokenAuth } from '../control/api/auth.js';
import { runStart } from './pcap.js';
import { apply, readResource } from '../control/manifest/apply.js';
import { parseManifestText, formatIssue, type LoadedResource } from '../control/manifest/load.js';
import { parseDuration } from '../control/manifest/quantity.js';
import { kindPrefix, type Resource } from '../control/manifest/types.js';
import { HEARTBEAT_PREFIX } from '../control/heartbeat.js';
import { MIGRATION_PREFIX, type MigrationObject } from '../control/migrations.js';
import { PLACEMENT_PREFIX } from '../control/placement.js';
import { UrbanizeController, type UrbanizeInit } from '../control/controllers/urbanize.js';
import { defaultDataDir, openStore } from '../control/store/open.js';
import type { JsonObject, Store } from '../control/store/contract.js';
import { Reflector } from '../control/store/reflector.js';
import { dayPhase } from '../functions/traffic-source.js';
import { realtimeOption, ServerAgent } from './agent.js';
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

/** Where the day clock lives in the store. */
export const DAY_KEY = '/swnet/platform/day';
/** Default length of the compressed day: 10 minutes. */
export const DEFAULT_DAY_MS = 600_000;

/** The compressed day: epoch ms of a midnight and the day's length. */
export interface DayClock {
  readonly originMs: number;
  readonly periodMs: number;
}

/**
 * "HH:MM" of the compressed day at epoch ms `t`.
 * @example dayTime({ originMs: 0, periodMs: 1000 }, 500) // '12:00'
 */
export function dayTime(d: DayClock, t: number): string {
  const min = Math.floor(dayPhase(d, t) * 1440);
  return `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
}

/**
 * The day clock of the store: kept if present (with a new length, the time of day is kept);
 * otherwise a new day that starts now at midnight. Returns it and whether it changed.
 * @example const { day } = await dayClock(store, 20_000, Date.now()); dayTime(day, Date.now()) // '00:00'
 */
export async function dayClock(store: Store, lengthMs: number | undefined, now: number): Promise<{ day: DayClock; changed: boolean }> {
  const kv = await store.get(DAY_KEY);
  const cur = kv && !(kv.value instanceof Uint8Array) ? (kv.value as unknown as Partial<DayClock>) : undefined;
  if (cur && typeof cur.originMs === 'number' && typeof cur.periodMs === 'number' && cur.periodMs > 0) {
    const old = { originMs: cur.originMs, periodMs: cur.periodMs };
    if (lengthMs === undefined || lengthMs === old.periodMs) return { day: old, changed: false };
    const day = { originMs: Math.round(now - dayPhase(old, now) * lengthMs), periodMs: lengthMs };
    await store.put(DAY_KEY, day as unknown as JsonObject);
    return { day, changed: true };
  }
  const day = { originMs: now, periodMs: lengthMs ?? DEFAULT_DAY_MS };
  await store.put(DAY_KEY, day as unknown as JsonObject);
  return { day, changed: true };
}

/**
 * Sets `periodMs` and `originMs` of every day profile of the manifest's traffic sources.
 * @example const items = withDay(parseManifestText(text, file).resources, { originMs, periodMs: 600_000 });
 */
export function withDay(resources: readonly LoadedResource[], day: DayClock): LoadedResource[] {
  return resources.map((lr) => {
    if (lr.resource.kind !== 'SoftwareNetwork') return lr;
    const fns = (lr.resource.spec['functions'] ?? []) as JsonObject[];
    if (!Array.isArray(fns) || !fns.some((f) => f['kind'] === 'traffic-source' && typeof (f['config'] as JsonObject | undefined)?.['profile'] === 'object')) return lr;
    const functions = fns.map((f) => {
      const cfg = f['config'] as JsonObject | undefined;
      const prof = cfg?.['profile'] as JsonObject | undefined;
      if (f['kind'] !== 'traffic-source' || !cfg || !prof || typeof prof !== 'object' || prof['shape'] !== 'day') return f;
      return { ...f, config: { ...cfg, profile: { ...prof, periodMs: day.periodMs, originMs: day.originMs } } };
    });
    const resource: Resource = { ...lr.resource, spec: { ...lr.resource.spec, functions } };
    return lr.source ? { resource, source: lr.source } : { resource };
  });
}

function parse(text: string, file: string): LoadedResource[] {
  const { resources, issues } = parseManifestText(text, file);
  if (issues.length > 0) throw new UpError(issues.map(formatIssue).join('\n'));
  return resources;
}

async function applyResources(store: Store, items: readonly LoadedResource[]): Promise<string[]> {
  if (items.length === 0) return [];
  const r = await apply(store, items);
  return r.changes.filter((c) => c.action !== 'unchanged').map((c) => `${c.kind} ${c.namespace ? `${c.namespace}/` : ''}${c.name} ${c.action}`);
}

const INFRA = new Set(['Datacenter', 'Server', 'Link']);
const SERVER_PREFIX = kindPrefix('Server');

export interface EmbeddedInit {
  readonly auth: Awaited<ReturnType<typeof loadAuth>>;
  readonly port: number;
  readonly host?: string;
  /** Emulated servers s1 … sN to create; default: 3 when the store (and manifest) have no Server, else none. */
  readonly servers?: number;
  readonly manifest?: { readonly text: string; readonly file: string };
  /** Apply the manifest even over a store that already has networks (default true; false: only on a fresh store or a new day length). */
  readonly alwaysApply?: boolean;
  /** Length of the compressed day (ms); default: the stored one, else 10 minutes. */
  readonly dayLengthMs?: number;
  /** Urbanization controller options, or false to run without it. */
  readonly urbanize?: UrbanizeInit | false;
  readonly log?: (line: string) => void;
  /** Logger of the API server's request records (none without). */
  readonly logger?: Logger;
  /** Period of the agents' status reports (ms). */
  readonly statusMs?: number;
  /** The agents' data plane at SCHED_FIFO, workers at this priority (AgentRuntimeInit.realtime). */
  readonly realtime?: number;
}

export interface Embedded {
  readonly url: string;
  /** The running agents (by server name). */
  readonly agents: ReadonlyMap<string, ServerAgent>;
  readonly day: DayClock;
  readonly urbanizer: UrbanizeController | undefined;
  /** Controllers running (without `overload` when the urbanizer runs: it owns moves for load). */
  readonly controllers: readonly string[];
  /** One line: time of day, servers active/standby, power, networks, traffic, migrations. */
  statusLine(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the embedded mode over an open store (the caller closes the store after `stop()`).
 * @example
 * const e = await startEmbedded(store, { auth, port: 0, manifest: { text, file } });
 * console.log(e.url, await e.statusLine());
 * await e.stop();
 */
export async function startEmbedded(store: Store, o: EmbeddedInit): Promise<Embedded> {
  const log = o.log;
  const { day, changed } = await dayClock(store, o.dayLengthMs, Date.now());
  const fresh = (await store.list(kindPrefix('SoftwareNetwork'), { limit: 1 })).items.length === 0 && (await store.list(SERVER_PREFIX, { limit: 1 })).items.length === 0;
  const items = o.manifest && (o.alwaysApply !== false || fresh || changed) ? withDay(parse(o.manifest.text, o.manifest.file), day) : [];
  // Infrastructure first, so that the agents exist before the controllers look at the servers.
  for (const m of await applyResources(store, items.filter((r) => INFRA.has(r.resource.kind)))) log?.(m);
  const haveServers = (await store.list(SERVER_PREFIX, { limit: 1 })).items.length > 0;
  const n = o.servers ?? (haveServers ? 0 : 3);
  if (n > 0) for (const m of await applyResources(store, parse(embeddedServers(n), '<embedded servers>'))) log?.(m);

  const agents = new Map<string, ServerAgent>();
  const starting = new Map<string, Promise<void>>();
  let stopped = false;
  const startAgent = (server: string): Promise<void> => {
    const cur = starting.get(server);
    if (cur || agents.has(server) || stopped) return cur ?? Promise.resolve();
    const p = ServerAgent.start({ store, server, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 5, statusMs: o.statusMs ?? 2000, ...(log ? { log } : {}), ...(o.realtime !== undefined ? { realtime: o.realtime } : {}) })
      .then(async (a) => {
        if (stopped) await a.stop();
        else agents.set(server, a);
      })
      .finally(() => starting.delete(server));
    starting.set(server, p);
    return p;
  };
  const stopAgent = async (server: string): Promise<void> => {
    await starting.get(server)?.catch(() => undefined);
    const a = agents.get(server);
    agents.delete(server);
    await a?.stop().catch((e: unknown) => log?.(`agent ${server}: ${String(e)}`));
    if (a) log?.(`agent ${server} stopped (Server deleted)`);
  };
  let cp: ControlPlane | undefined;
  let servers: Reflector | undefined;
  let urbanizer: UrbanizeController | undefined;
  const stopAll = async (): Promise<void> => {
    stopped = true;
    await urbanizer?.stop();
    await servers?.stop();
    // Controllers before agents: the whole platform stops, so no server is marked AgentLost (nor
    // its functions placed elsewhere) on the way down, and a restart finds the layout it left.
    await cp?.stop();
    await Promise.all([...starting.values()].map((p) => p.catch(() => undefined)));
    // All at once: each agent is marked stopped before any lease goes, so none reports its peers as lost.
    await Promise.all([...agents.values()].map((a) => a.stop().catch((e: unknown) => log?.(`agent ${a.server}: ${String(e)}`))));
  };
  try {
    // Agents first: on a resume the controllers then find every server's heartbeat already there
    // (otherwise they would mark the servers AgentLost and move their functions for nothing).
    const initial = (await store.list(SERVER_PREFIX)).items.map((kv) => readResource(kv).metadata.name);
    await Promise.all(initial.map(startAgent));
    // Then follow the store: a Server applied later gets an agent, a deleted one loses it.
    servers = await Reflector.start(store, {
      prefix: SERVER_PREFIX,
      onChange: (ch) => {
        for (const c of ch) {
          const name = c.key.slice(SERVER_PREFIX.length);
          if (c.type === 'put') startAgent(name).catch((e: unknown) => log?.(`agent ${name}: ${e instanceof Error ? e.message : String(e)}`));
          else void stopAgent(name);
        }
      },
    });
    // One owner of moves for load: with the urbanizer (it also spreads at the peak) the overload
    // controller stays off, or both would move the same hot server's functions (duplicate moves).
    cp = await startControlPlane(store, { auth: o.auth, host: o.host ?? '127.0.0.1', port: o.port, ...(o.urbanize !== false ? { overload: false as const } : {}), ...(log ? { log } : {}), ...(o.logger ? { logger: o.logger } : {}) });
    for (const m of await applyResources(store, items.filter((r) => !INFRA.has(r.resource.kind)))) log?.(m);
    // A round every 12 minutes of the compressed day (0.5 to 10 s); a server that just changed state is held an hour of it.
    if (o.urbanize !== false) urbanizer = await UrbanizeController.start(store, { intervalMs: Math.min(10_000, Math.max(500, day.periodMs / 120)), holdMs: day.periodMs / 24, ...(log ? { log } : {}), ...(o.urbanize ?? {}) });
  } catch (e) {
    await stopAll();
    throw e;
  }
  const plane = cp;
  const seen = new Map<string, MigrationObject['reason']>();
  return {
    url: plane.url,
    agents,
    day,
    urbanizer,
    controllers: plane.controllers,
    statusLine: async () => {
      const [hb, nets, pl, srv, mig] = await Promise.all([store.list(HEARTBEAT_PREFIX), store.list(kindPrefix('SoftwareNetwork')), store.list(PLACEMENT_PREFIX), store.list(SERVER_PREFIX), store.list(MIGRATION_PREFIX)]);
      let watts = 0;
      let received = 0;
      for (const a of agents.values()) {
        const r = a.report;
        watts += r?.powerWatts ?? 0;
        for (const d of r?.domains ?? []) for (const t of Object.values(d.traffic)) received += t.received;
      }
      const beating = new Set(hb.items.map((kv) => kv.key.slice(HEARTBEAT_PREFIX.length)));
      let standby = 0;
      let active = 0;
      for (const kv of srv.items) {
        const r = readResource(kv);
        if (!beating.has(r.metadata.name)) continue;
        if (r.status?.['standby'] === true) standby++;
        else active++;
      }
      let inFlight = 0;
      for (const kv of mig.items) {
        const m = kv.value as unknown as MigrationObject;
        if (m.kind !== 'Migration') continue;
        seen.set(m.id, m.reason);
        if (m.phase !== 'done' && m.phase !== 'failed') inFlight++;
      }
      const by = new Map<string, number>();
      for (const r of seen.values()) by.set(r, (by.get(r) ?? 0) + 1);
      const reasons = [...by].map(([r, k]) => `${r} ${k}`).join(', ');
      const placed = pl.items.filter((kv) => !String((kv.value as { function?: unknown }).function).includes('~')).length;
      return `day ${dayTime(day, Date.now())} | servers ${active} active, ${standby} standby (${hb.items.length}/${srv.items.length} agents up) | ${watts.toFixed(1)} W | ${nets.items.length} networks, ${placed} functions placed, sinks received ${received} | migrations ${seen.size}${reasons ? ` (${reasons})` : ''}${inFlight ? `, ${inFlight} in flight` : ''}`;
    },
    stop: stopAll,
  };
}

export interface UpOptions {
  readonly empty?: boolean;
  readonly filename?: string;
  readonly dataDir?: string;
  readonly port: string;
  readonly servers?: string;
  readonly tokens?: string;
  readonly statusInterval: string;
  /** Length of the compressed day: a duration ("10m", "20s") or milliseconds. */
  readonly dayLength?: string;
  /** commander's `--no-urbanize`. */
  readonly urbanize?: boolean;
  /** Take a free port if this one is in use (npm start). */
  readonly anyPortIfBusy?: boolean;
  /** `--log-level`, `--log-format` (src/control/log.ts); default info, json. */
  readonly logLevel?: string;
  readonly logFormat?: string;
  /** `--realtime [priority]`: true for the default priority. */
  readonly realtime?: string | boolean;
}

/**
 * Runs the embedded mode until SIGINT/SIGTERM; resolves false (message on stderr) if it could not start.
 * @example await runUp({ port: '7700', statusInterval: '5000', dayLength: '10m' });
 */
export async function runUp(o: UpOptions): Promise<boolean> {
  try {
    const realtime = realtimeOption(o.realtime);
    const servers = o.servers === undefined ? undefined : Number(o.servers);
    let port = Number(o.port);
    if (servers !== undefined && (!Number.isInteger(servers) || servers < 1 || servers > 64)) throw new UpError(`--servers takes 1..64 (got '${o.servers}')`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UpError(`--port takes 0..65535 (got '${o.port}')`);
    let dayLengthMs: number | undefined;
    if (o.dayLength !== undefined) {
      try {
        dayLengthMs = /^\d+(\.\d+)?$/.test(o.dayLength) ? Number(o.dayLength) : parseDuration(o.dayLength);
      } catch {
        dayLengthMs = NaN;
      }
      if (!(dayLengthMs >= 1000 && dayLengthMs <= 86_400_000)) throw new UpError(`--day-length takes a duration from 1s to 24h, e.g. 10m or 20s (got '${o.dayLength}')`);
    }
    let manifest: { text: string; file: string } | undefined;
    if (!o.empty) {
      const file = o.filename ?? fileURLToPath(new URL('../../../examples/platform.yaml', import.meta.url));
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
        e = await startEmbedded(store, {
          auth,
          port,
          log,
          logger,
          ...(servers !== undefined ? { servers } : {}),
          ...(manifest ? { manifest, alwaysApply: o.filename !== undefined } : {}),
          ...(dayLengthMs !== undefined ? { dayLengthMs } : {}),
          ...(o.urbanize === false ? { urbanize: false as const } : {}),
          statusMs: Math.min(2000, Number(o.statusInterval)),
          ...(realtime !== undefined ? { realtime } : {}),
        });
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
    const mins = emb.day.periodMs / 60_000;
    process.stdout.write(`swnet up: API on ${emb.url} (store ${store.backend} in ${dir}), ${emb.agents.size} servers, a day lasts ${mins >= 1 ? `${+mins.toFixed(2)} min` : `${emb.day.periodMs / 1000} s`}${emb.urbanizer ? ', urbanization on' : ''}; Ctrl-C stops\n`);
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
 * The main job (`npm start`): `swnet up` with examples/platform.yaml (API on SWNET_PORT or 7700, a
 * free port if taken; data in SWNET_DATA_DIR or ~/.swnet; day length SWNET_DAY_LENGTH or 10 minutes);
 * if the embedded mode cannot start, the bundled capture is inspected instead, so it never fails.
 */
export async function runMain(): Promise<void> {
  const day = process.env['SWNET_DAY_LENGTH'];
  const ok = await runUp({ port: process.env['SWNET_PORT'] ?? '7700', statusInterval: process.env['SWNET_STATUS_INTERVAL'] ?? '5000', anyPortIfBusy: true, ...(day ? { dayLength: day } : {}) });
  if (!ok) {
    process.stderr.write('swnet: the embedded mode could not start; showing the bundled capture instead\n');
    runStart();
  }
}

export function register(program: Command): void {
  logOptions(program
    .command('up'), true)
    .description('the platform in one process: store, API, controllers, urbanization and one agent per Server, until SIGINT/SIGTERM')
    .option('--empty', 'apply no example manifest')
    .option('-f, --filename <file>', 'manifest applied at every start (default: examples/platform.yaml, applied on a fresh store)')
    .option('--data-dir <dir>', 'data directory of the SQLite store (default ~/.swnet)')
    .option('--port <port>', 'API port on 127.0.0.1 (0: a free one)', '7700')
    .option('--servers <n>', 'create emulated servers s1..sN (default: 3 if the store has no Server)')
    .option('--day-length <duration>', 'length of the compressed day of the traffic profiles, e.g. 10m, 20s (default: the stored one, else 10m)')
    .option('--no-urbanize', 'no consolidation at night nor spreading at the peak')
    .option('--tokens <file>', 'tokens file; without it an admin token is taken from SWNET_ADMIN_TOKEN or generated and printed')
    .option('--status-interval <ms>', 'period of the status line', '5000')
    .option('--realtime [priority]', "run the agents' data plane at SCHED_FIFO, workers at PRIORITY (default 10), domain 0 one above; needs root or CAP_SYS_NICE")
    .action(async (o: UpOptions) => {
      if (!(await runUp(o))) process.exitCode = 1;
    });
}
