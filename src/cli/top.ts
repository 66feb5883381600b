/**
 * `swnet top`: utilisation per server and per software network (requested resources of the
 * placed functions against capacity, and measured figures when agents report them), from the
 * store or through the API server (`--server`).
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { TopReport } from '../control/top.js';
import { remoteOptions, withBackend, type RemoteOpts } from './remote.js';

const pct = (used: number, cap: number): string => (cap > 0 ? `${Math.round((100 * used) / cap)}%` : '-');
const cores = (n: number): string => `${Number(n.toFixed(2))}`;
function bytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${Number(n.toPrecision(3))}${u[i]}`;
}
function rate(n: number): string {
  const u = ['bps', 'kbps', 'Mbps', 'Gbps', 'Tbps'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(3))}${u[i]}`;
}

function align(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** The two tables of `swnet top` (servers only when the report has some). */
export function renderTop(t: TopReport, what: 'all' | 'servers' | 'networks'): string {
  const out: string[] = [];
  if (what !== 'networks' && t.servers.length > 0) {
    out.push(
      align([
        ['SERVER', 'DATACENTER', 'FUNCTIONS', 'CPU(req)', 'CPU%', 'MEMORY(req)', 'MEMORY%', 'BANDWIDTH(req)', 'BANDWIDTH%', 'CPU(measured)', 'POWER'],
        ...t.servers.map((s) => [
          s.name,
          s.datacenter || '-',
          String(s.functions),
          `${cores(s.requested.cpu)}/${cores(s.capacity.cpu)}`,
          pct(s.requested.cpu, s.capacity.cpu),
          `${bytes(s.requested.memory)}/${bytes(s.capacity.memory)}`,
          pct(s.requested.memory, s.capacity.memory),
          `${rate(s.requested.bandwidth)}/${s.capacity.bandwidth > 0 ? rate(s.capacity.bandwidth) : '-'}`,
          pct(s.requested.bandwidth, s.capacity.bandwidth),
          s.measured?.cpu !== undefined ? `${Math.round(s.measured.cpu * 100)}%` : '-',
          s.powerWatts !== undefined ? `${Math.round(s.powerWatts)}W` : '-',
        ]),
      ]),
    );
  }
  if (what !== 'servers' && t.networks.length > 0) {
    out.push(
      align([
        ['NAMESPACE', 'NETWORK', 'FUNCTIONS', 'PLACED', 'SCHEDULED', 'SERVERS', 'CPU(req)', 'MEMORY(req)', 'BANDWIDTH(req)'],
        ...t.networks.map((n) => [n.namespace, n.name, String(n.functions), String(n.placed), n.scheduled, n.servers.join(',') || '-', cores(n.requested.cpu), bytes(n.requested.memory), rate(n.requested.bandwidth)]),
      ]),
    );
  }
  return out.join('\n');
}

export function register(program: Command): void {
  remoteOptions(
    program
      .command('top')
      .description('utilisation per server and per software network (requested vs capacity; measured when agents report it)')
      .argument('[what]', 'servers, networks or both (default)')
      .option('-o, --output <format>', 'table, yaml or json', 'table')
      .option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)')
      .option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT[,HOST:PORT], memory:'),
  ).action(async (whatArg: string | undefined, o: RemoteOpts & { output: string }) => {
    try {
      const what = whatArg === undefined ? 'all' : whatArg.startsWith('server') ? 'servers' : whatArg.startsWith('net') || whatArg === 'sn' ? 'networks' : undefined;
      if (!what) throw new Error(`swnet top takes servers or networks (got '${whatArg}')`);
      if (!['table', 'yaml', 'json'].includes(o.output)) throw new Error(`unknown output format '${o.output}' (table, yaml, json)`);
      const t = await withBackend(o, (b) => b.top());
      const shown: TopReport = { servers: what === 'networks' ? [] : t.servers, networks: what === 'servers' ? [] : t.networks };
      if (o.output === 'json') process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      else if (o.output === 'yaml') process.stdout.write(stringify(shown));
      else {
        const text = renderTop(shown, what);
        if (text === '') process.stderr.write('nothing to show (no servers or networks)\n');
        else process.stdout.write(text);
      }
    } catch (e) {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  });
}
