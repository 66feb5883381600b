/**
 * `swnet controller --store URL [--listen ADDR:PORT] [--tokens FILE]`: the control plane as a
 * process — the API server and the controllers over one store — running until SIGINT/SIGTERM,
 * then closing in order (controllers, API, store).
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { TokenAuth } from '../control/api/auth.js';
import { ApiServer } from '../control/api/server.js';
import { openStore } from '../control/store/open.js';
import type { Store } from '../control/store/contract.js';
import { startControllers } from '../control/controllers/start.js';
import { stopOnSignals } from './shutdown.js';
import { lineLog, type Logger } from '../control/log.js';
import { daemonLogger, logOptions } from './log-options.js';

/** Parses `ADDR:PORT`, `[v6]:PORT` or `PORT`. */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--listen takes ADDR:PORT, e.g. 127.0.0.1:7700 (got '${s}')`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/**
 * Tokens from a file, or one admin token from SWNET_ADMIN_TOKEN (or generated and printed on stderr).
 * @example const auth = await loadAuth(undefined);
 */
export async function loadAuth(tokensFile: string | undefined): Promise<TokenAuth> {
  if (tokensFile !== undefined) return TokenAuth.fromFile(tokensFile);
  const env = process.env['SWNET_ADMIN_TOKEN'];
  const token = env !== undefined && env !== '' ? env : randomBytes(24).toString('base64url');
  // On stdout with the other lines meant for the operator: stderr carries the (JSON) logs.
  if (env === undefined || env === '') process.stdout.write(`no --tokens file: admin token for this run is ${token}\n`);
  return new TokenAuth([{ name: 'admin', token, admin: true }]);
}

export interface ControlPlane {
  /** The API's base URL. */
  readonly url: string;
  /** Names of the running controllers (empty with `controllers: false`). */
  readonly controllers: readonly string[];
  /** Stops the controllers, then the API (the store stays open: the caller owns it). */
  stop(): Promise<void>;
}

/**
 * The API server and the controllers over one store: what `swnet controller` and `swnet up` run.
 * @example
 * const cp = await startControlPlane(store, { auth, host: '127.0.0.1', port: 0 });
 * console.log(cp.url);
 * await cp.stop();
 */
export async function startControlPlane(store: Store, o: { readonly auth: TokenAuth; readonly host: string; readonly port: number; readonly controllers?: boolean; /** false: no overload controller (`swnet up` with urbanization: the urbanizer owns moves for load). */ readonly overload?: false; readonly log?: (line: string) => void; readonly logger?: Logger }): Promise<ControlPlane> {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const api = new ApiServer({ store, auth: o.auth, version: pkg.version, ...(o.logger ? { logger: o.logger } : {}) });
  const addr = await api.listen(o.port, o.host);
  let controllers: Awaited<ReturnType<typeof startControllers>> | undefined;
  try {
    controllers = o.controllers === false ? undefined : await startControllers(store, { ...(o.log ? { log: o.log } : {}), ...(o.overload === false ? { overload: false as const } : {}) });
  } catch (e) {
    await api.close();
    throw e;
  }
  return {
    url: addr.url,
    controllers: controllers?.names ?? [],
    stop: async () => {
      await controllers?.stop();
      await api.close();
    },
  };
}

export function register(program: Command): void {
  logOptions(program
    .command('controller'))
    .description('run the control plane: the REST/WebSocket API and the controllers over a store, until SIGINT/SIGTERM')
    .option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT[,HOST:PORT], memory:')
    .option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)')
    .option('--listen <addr:port>', 'address of the API server', '127.0.0.1:7700')
    .option('--tokens <file>', 'tokens file (YAML: tokens: [{name, token, admin?, namespaces?}]); without it an admin token is taken from SWNET_ADMIN_TOKEN or generated and printed')
    .option('--no-controllers', 'serve the API only (no reconciling)')
    .action(async (o: { store?: string; dataDir?: string; listen: string; tokens?: string; controllers: boolean; logLevel: string; logFormat: string }) => {
      let auth: TokenAuth;
      try {
        const logger = daemonLogger(o, { daemon: 'controller' });
        const log = lineLog(logger, 'controller');
        const { host, port } = parseListen(o.listen);
        auth = await loadAuth(o.tokens);
        const store = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
        let cp: ControlPlane;
        try {
          cp = await startControlPlane(store, { auth, host, port, controllers: o.controllers, log, logger });
        } catch (e) {
          await store.close();
          throw e;
        }
        process.stdout.write(`swnet controller: API on ${cp.url} (store ${store.backend})${cp.controllers.length > 0 ? `, controllers: ${cp.controllers.join(', ')}` : ''}\n`);
        logger.info({ component: 'controller', url: cp.url, store: store.backend, controllers: cp.controllers }, 'started');
        stopOnSignals('controller', async () => {
          await cp.stop();
          await store.close();
        }, log);
      } catch (e) {
        process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      }
    });
}
