/**
 * `swnet migrate NETWORK/FUNCTION --to SERVER`, `swnet drain SERVER`, `swnet uncordon SERVER`
 * and `swnet fail SERVER`: the operator's side of migrations (session contract §3), on the store
 * directly or through the API server (`--server URL --token T`). `--wait` follows the migration
 * (or the drain) and prints each phase of the timeline as it arrives.
 */
import type { Command } from 'commander';
import type { ApiClient } from '../control/client.js';
import { getResource } from '../control/manifest/apply.js';
import { DEFAULT_NAMESPACE, type Resource } from '../control/manifest/types.js';
import { listMigrations, type MigrationObject } from '../control/migrations.js';
import { requestMigration, serverOperation } from '../control/server-ops.js';
import type { Store } from '../control/store/contract.js';
import { storeOptions, withRemoteOrStore, type RemoteOpts } from './remote.js';

/** What the commands need, from the store or from the API. */
interface MigrationBackend {
  migrate(namespace: string, network: string, fn: string, to: string): Promise<MigrationObject>;
  migrations(namespace?: string): Promise<MigrationObject[]>;
  serverOp(server: string, op: 'drain' | 'uncordon' | 'fail'): Promise<{ server: string; message: string }>;
  server(name: string): Promise<Resource>;
}

function storeBackend(s: Store): MigrationBackend {
  return {
    migrate: (namespace, network, fn, to) => requestMigration(s, { namespace, network, function: fn, to }),
    migrations: (ns) => listMigrations(s, ns),
    serverOp: (server, op) => serverOperation(s, server, op),
    server: (name) => getResource(s, 'Server', name),
  };
}

function apiBackend(api: ApiClient): MigrationBackend {
  return {
    migrate: (ns, net, fn, to) => api.migrate(ns, net, fn, to),
    migrations: (ns) => api.migrations(ns),
    serverOp: (server, op) => api.serverOp(server, op),
    server: (name) => api.get('Server', name),
  };
}

function withMigrationBackend<T>(o: RemoteOpts, fn: (b: MigrationBackend) => Promise<T>): Promise<T> {
  return withRemoteOrStore(o, apiBackend, storeBackend, fn);
}

const ms = (x: number): string => `${Math.round(x)}ms`;

/** One timeline line: `  prepared       +12ms   at 35ms   agent/s2   detail`. */
export function timelineLine(m: MigrationObject, i: number): string {
  const e = m.timeline[i]!;
  const prev = i > 0 ? m.timeline[i - 1] : undefined;
  return `  ${e.phase.padEnd(13)}${(prev ? `+${ms(e.at - prev.at)}` : '').padEnd(9)}at ${ms(e.sinceStartMs).padEnd(8)}${e.by.padEnd(18)}${e.detail ?? ''}`.trimEnd();
}

/** `fw s1→s2 (operator: drain s1)` */
export function migrationTitle(m: MigrationObject): string {
  return `${m.namespace}/${m.network}/${m.function} ${m.from}→${m.to} (${m.reason}${m.detail !== undefined ? `: ${m.detail}` : ''}${m.standby ? ', standby promoted' : ''})`;
}

/** A table of migrations, oldest first. */
export function renderMigrations(items: readonly MigrationObject[]): string {
  const head = ['NAMESPACE', 'NETWORK', 'FUNCTION', 'FROM', 'TO', 'REASON', 'PHASE', 'ELAPSED', 'AGE', 'DETAIL'];
  const now = Date.now();
  const rows = [...items]
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((m) => [m.namespace, m.network, m.function, m.from, m.to, m.reason, m.phase, ms(m.timeline.at(-1)?.sinceStartMs ?? 0), `${Math.max(0, Math.round((now - m.createdAt) / 1000))}s`, m.error ?? m.detail ?? '']);
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** The migrations of one network with their timelines (for `swnet describe softwarenetwork`). */
export function renderMigrationSection(items: readonly MigrationObject[]): string {
  if (items.length === 0) return 'Migrations:         <none>\n';
  const lines = ['Migrations:'];
  for (const m of [...items].sort((a, b) => a.createdAt - b.createdAt)) {
    lines.push(`  ${m.id}: ${m.function} ${m.from}→${m.to}, reason ${m.reason}${m.detail !== undefined ? ` (${m.detail})` : ''}${m.standby ? ', standby promoted' : ''}, ${m.phase}${m.error !== undefined ? `: ${m.error}` : ''}`);
    for (let i = 0; i < m.timeline.length; i++) lines.push(`  ${timelineLine(m, i)}`);
  }
  return `${lines.join('\n')}\n`;
}

function fail(e: unknown): void {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}

const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

/** Follows one migration, printing timeline entries as they arrive; true when done. */
async function follow(b: MigrationBackend, m: MigrationObject, timeoutMs: number, out: (s: string) => void): Promise<boolean> {
  let shown = 0;
  const deadline = Date.now() + timeoutMs;
  let cur: MigrationObject | undefined = m;
  for (;;) {
    if (cur) {
      for (; shown < cur.timeline.length; shown++) out(`${timelineLine(cur, shown)}\n`);
      if (cur.phase === 'done' || cur.phase === 'failed') {
        out(cur.phase === 'done' ? `migration ${cur.id} done in ${ms(cur.timeline.at(-1)?.sinceStartMs ?? 0)}\n` : `migration ${cur.id} failed: ${cur.error ?? 'unknown error'}\n`);
        return cur.phase === 'done';
      }
    } else if (shown > 0) {
      out(`migration ${m.id} was deleted before it finished\n`);
      return false;
    }
    if (Date.now() > deadline) {
      out(`timed out after ${timeoutMs / 1000} s waiting for migration ${m.id} (phase ${cur?.phase ?? 'unknown'})\n`);
      return false;
    }
    await sleep(50);
    cur = (await b.migrations(m.namespace)).find((x) => x.id === m.id);
  }
}

export function register(program: Command): void {
  storeOptions(
    program
      .command('migrate')
      .description('live-migrate one function of a software network to another server (make-before-break, state included)')
      .argument('<network/function>', 'e.g. web/fw')
      .requiredOption('--to <server>', 'target server')
      .option('-n, --namespace <ns>', 'namespace of the network', DEFAULT_NAMESPACE)
      .option('--wait', 'follow the migration, printing each phase as it arrives')
      .option('--timeout <s>', 'with --wait: give up after this many seconds', '60'),
  ).action(async (target: string, o: RemoteOpts & { to: string; namespace: string; wait?: boolean; timeout: string }) => {
    try {
      const [network, fn, extra] = target.split('/');
      if (!network || !fn || extra !== undefined) throw new Error(`expected NETWORK/FUNCTION, e.g. web/fw (got '${target}')`);
      await withMigrationBackend(o, async (b) => {
        const m = await b.migrate(o.namespace, network, fn, o.to);
        process.stdout.write(`migration ${m.id}: ${migrationTitle(m)}\n`);
        if (o.wait && !(await follow(b, m, Number(o.timeout) * 1000, (s) => void process.stdout.write(s)))) process.exitCode = 1;
      });
    } catch (e) {
      fail(e);
    }
  });

  storeOptions(
    program
      .command('drain')
      .description('cordon a server and migrate every function off it (targets chosen by the scheduler); it then goes to standby')
      .argument('<server>', 'server name')
      .option('--wait', 'wait until the server is empty (in standby), printing the migrations as they finish')
      .option('--timeout <s>', 'with --wait: give up after this many seconds', '300'),
  ).action(async (server: string, o: RemoteOpts & { wait?: boolean; timeout: string }) => {
    try {
      await withMigrationBackend(o, async (b) => {
        const t0 = Date.now();
        process.stdout.write(`${(await b.serverOp(server, 'drain')).message}\n`);
        if (!o.wait) return;
        const seen = new Set<string>();
        const deadline = t0 + Number(o.timeout) * 1000;
        for (;;) {
          for (const m of await b.migrations()) {
            if (m.from !== server || m.createdAt < t0 - 1000 || seen.has(`${m.id}/${m.phase}`)) continue;
            if (m.phase === 'done' || m.phase === 'failed' || m.phase === 'pending') {
              seen.add(`${m.id}/${m.phase}`);
              process.stdout.write(`  ${m.phase.padEnd(8)} ${migrationTitle(m)}${m.phase === 'done' ? ` in ${ms(m.timeline.at(-1)?.sinceStartMs ?? 0)}` : m.error !== undefined ? `: ${m.error}` : ''}\n`);
            }
          }
          if ((await b.server(server)).status?.['standby'] === true) {
            process.stdout.write(`server ${server} drained in ${((Date.now() - t0) / 1000).toFixed(1)} s: in standby\n`);
            return;
          }
          if (Date.now() > deadline) throw new Error(`timed out after ${o.timeout} s: server ${server} is not empty yet`);
          await sleep(100);
        }
      });
    } catch (e) {
      fail(e);
    }
  });

  storeOptions(program.command('uncordon').description('make a cordoned or drained server schedulable again').argument('<server>', 'server name')).action(async (server: string, o: RemoteOpts) => {
    try {
      process.stdout.write(`${(await withMigrationBackend(o, (b) => b.serverOp(server, 'uncordon'))).message}\n`);
    } catch (e) {
      fail(e);
    }
  });

  storeOptions(program.command('fail').description("make a server's agent fail as after kill -9 (no lease revocation): watch the failover").argument('<server>', 'server name')).action(async (server: string, o: RemoteOpts) => {
    try {
      process.stdout.write(`${(await withMigrationBackend(o, (b) => b.serverOp(server, 'fail'))).message}\n`);
    } catch (e) {
      fail(e);
    }
  });
}

export { withMigrationBackend };
