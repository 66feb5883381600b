/**
 * Helpers of the dashboard's browser tests against `swnet up`: the embedded mode as a child
 * process on a free port (its default example, real agents), and a poll-until helper for checks
 * made through the API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_WEB_ROOT } from '../control/api/static.js';
import { dashboardBuilt, launchChromium } from './browser.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export interface Up {
  readonly url: string;
  /** Everything it printed (stdout and stderr), for a failing test's message. */
  out(): string;
  /** GET through the API with the admin token. */
  get<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

/**
 * `swnet up` in `dir` on a free port with `token` as admin token; resolves once it prints the API address.
 * @example
 * const u = await startUp(dir, 'token-0123456789');
 * const { items } = await u.get<{ items: unknown[] }>('/api/v1/servers');
 * await u.stop();
 */
export async function startUp(dir: string, token: string): Promise<Up> {
  const child: ChildProcess = spawn(process.execPath, [MAIN, 'up', '--data-dir', dir, '--port', '0', '--status-interval', '1000'], { env: { ...process.env, SWNET_ADMIN_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 8000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  const t0 = Date.now();
  for (;;) {
    const m = /API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (m?.[1]) {
      const url = m[1];
      return {
        url,
        out: () => out,
        stop,
        get: async <T>(path: string): Promise<T> => {
          const r = await fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
          if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
          return (await r.json()) as T;
        },
      };
    }
    if (child.exitCode !== null || Date.now() - t0 > 20_000) {
      await stop();
      throw new Error(`swnet up did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `swnet up` in a fresh directory (`prefix` + random) and a Chromium, both given to `body`; the
 * tail of what up printed goes to stderr when `body` throws; everything is closed and removed after.
 * @example
 * await withUpInBrowser('swnet-dash-', TOKEN, async (u, b) => { const page = await b.context.newPage(); await page.goto(u.url); });
 */
export async function withUpInBrowser(prefix: string, token: string, body: (u: Up, b: Awaited<ReturnType<typeof launchChromium>>) => Promise<void>): Promise<void> {
  if (!dashboardBuilt(DEFAULT_WEB_ROOT)) throw new Error(`the dashboard is not built in ${DEFAULT_WEB_ROOT} (npm run build)`);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const u = await startUp(dir, token);
  const b = await launchChromium();
  try {
    await body(u, b);
  } catch (e) {
    process.stderr.write(`swnet up output (tail):\n${u.out().slice(-3000)}\n`);
    throw e;
  } finally {
    await b.close();
    await u.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Polls `f` every 200 ms until it returns a value (errors count as not yet); throws after `ms`.
 * @example const s = await until('server up', 5000, async () => (await ok()) ? true : undefined);
 */
export async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > ms) throw new Error(`${what}: not after ${ms} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A placement as GET /api/v1/placements lists it. */
export interface ApiPlacement {
  readonly namespace: string;
  readonly network: string;
  readonly function: string;
  readonly server: string;
}
