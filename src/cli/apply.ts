/**
 * `swnet apply`, `swnet delete` and `swnet get`, working directly on the store or, with
 * `--server URL --token T`, through the API server (remote.ts); the logic itself is in
 * src/control/manifest/apply.ts.
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { ApplyResult, Change } from '../control/manifest/apply.js';
import { ManifestError, formatIssue, loadManifests } from '../control/manifest/load.js';
import { parseBytes, parseCpu, parseRate } from '../control/manifest/quantity.js';
import { KINDS, DEFAULT_NAMESPACE, resolveKind, type Kind, type Resource } from '../control/manifest/types.js';
import { KIND_NAMES } from '../control/manifest/schema.js';
import { CLUSTER_EVENTS, type SwnetEvent } from '../control/events.js';
import { NotFoundError } from '../control/store/contract.js';
import { storeOptions, withBackend, type RemoteOpts } from './remote.js';
import { renderMigrations, renderMigrationSection, withMigrationBackend } from './migrate.js';

interface StoreOpts extends RemoteOpts {
  dataDir?: string;
  store?: string;
}

function fail(e: unknown, what: string): void {
  if (e instanceof ManifestError) {
    for (const i of e.issues) process.stderr.write(`${formatIssue(i)}\n`);
    process.stderr.write(`error: ${e.issues.length} problem(s) in the manifests; nothing was ${what}\n`);
  } else {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  }
  process.exitCode = 1;
}

function changeLine(c: Change): string {
  const ns = c.namespace !== undefined && c.namespace !== DEFAULT_NAMESPACE ? ` -n ${c.namespace}` : '';
  const fields = c.fields && c.fields.length > 0 ? ` (${c.fields.join(', ')})` : '';
  return `${c.kind.toLowerCase()}/${c.name}${ns} ${c.action}${fields}`;
}

function printResult(r: ApplyResult, output: string | undefined): void {
  if (output === 'json') process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else for (const c of r.changes) process.stdout.write(`${changeLine(c)}\n`);
}

function age(ts: string | undefined): string {
  if (!ts) return '-';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const str = (v: unknown): string => (v === undefined || v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function human(n: number, unit: string, base = 1000): string {
  const units = base === 1024 ? ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'] : ['', 'k', 'M', 'G', 'T', 'P'];
  let i = 0;
  while (n >= base && i < units.length - 1) {
    n /= base;
    i++;
  }
  return `${Number(n.toPrecision(3))}${units[i]}${unit}`;
}

/** Kind-specific columns, as `kubectl get` prints them. */
function columns(kind: Kind): [string, (r: Resource) => string][] {
  const spec = (r: Resource): Record<string, unknown> => r.spec as Record<string, unknown>;
  const cap = (r: Resource): Record<string, number | string> => (spec(r)['capacity'] ?? {}) as Record<string, number | string>;
  switch (kind) {
    case 'Datacenter':
      return [
        ['TIER', (r) => str(spec(r)['tier'])],
        ['LOCATION', (r) => {
          const l = spec(r)['location'] as Record<string, unknown> | undefined;
          return l ? str(l['city'] ?? l['region'] ?? `${str(l['latitude'])},${str(l['longitude'])}`) : '-';
        }],
      ];
    case 'Server':
      return [
        ['DATACENTER', (r) => str(spec(r)['datacenter'])],
        ['CPU', (r) => (cap(r)['cpu'] !== undefined ? String(parseCpu(cap(r)['cpu']!)) : '-')],
        ['MEMORY', (r) => (cap(r)['memory'] !== undefined ? human(parseBytes(cap(r)['memory']!), 'B', 1024) : '-')],
        ['BANDWIDTH', (r) => (cap(r)['bandwidth'] !== undefined ? human(parseRate(cap(r)['bandwidth']!), 'bps') : '-')],
      ];
    case 'Link':
      return [
        ['ENDPOINTS', (r) => ((spec(r)['endpoints'] as string[] | undefined) ?? []).join('<->')],
        ['BANDWIDTH', (r) => str(spec(r)['bandwidth'])],
        ['LATENCY', (r) => str(spec(r)['latency'])],
      ];
    case 'SoftwareNetwork':
      return [
        ['FUNCTIONS', (r) => String(((spec(r)['functions'] as unknown[] | undefined) ?? []).length)],
        ['LINKS', (r) => String(((spec(r)['links'] as unknown[] | undefined) ?? []).length)],
        ['TOKENS', (r) => str(spec(r)['tokens'])],
        ['PRIORITY', (r) => str(spec(r)['priority'])],
        ['ISOLATION', (r) => str(spec(r)['isolation'] ?? 'domain')],
        ['READY', (r) => str(r.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown')],
      ];
    case 'UserNetworkTemplate':
      return [
        ['FUNCTIONS', (r) => String((((spec(r)['template'] as { spec?: { functions?: unknown[] } } | undefined)?.spec?.functions) ?? []).length)],
        ['IDLE-TIMEOUT', (r) => str(spec(r)['idleTimeout'])],
      ];
  }
}

/** Renders resources as an aligned table. */
export function renderTable(kind: Kind, items: readonly Resource[], allNamespaces: boolean): string {
  const cols: [string, (r: Resource) => string][] = [
    ...(KINDS[kind].namespaced && allNamespaces ? [['NAMESPACE', (r: Resource) => r.metadata.namespace ?? DEFAULT_NAMESPACE] as [string, (r: Resource) => string]] : []),
    ['NAME', (r) => r.metadata.name],
    ...columns(kind),
    ['GENERATION', (r) => str(r.metadata.generation)],
    ['AGE', (r) => age(r.metadata.creationTimestamp)],
  ];
  const rows = [cols.map((c) => c[0]), ...items.map((r) => cols.map((c) => c[1](r)))];
  const widths = cols.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('')).join('\n') + '\n';
}

function align(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

function eventRows(evs: readonly SwnetEvent[], withObject: boolean): string {
  const head = ['LAST SEEN', 'TYPE', 'REASON', ...(withObject ? ['OBJECT'] : []), 'COUNT', 'SOURCE', 'MESSAGE'];
  const rows = evs.map((e) => [age(e.lastTimestamp), e.type, e.reason, ...(withObject ? [`${e.involvedObject.kind.toLowerCase()}/${e.involvedObject.name}`] : []), String(e.count), e.source, e.message]);
  return align([head, ...rows]);
}

/** `kubectl describe`-style text of one object with its conditions and events. */
export function renderDescribe(r: Resource, events: readonly SwnetEvent[]): string {
  const lines: string[] = [];
  const field = (k: string, v: string): void => void lines.push(`${`${k}:`.padEnd(20)}${v}`);
  field('Name', r.metadata.name);
  if (KINDS[r.kind].namespaced) field('Namespace', r.metadata.namespace ?? DEFAULT_NAMESPACE);
  field('Kind', r.kind);
  field('Labels', Object.entries(r.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '<none>');
  field('UID', r.metadata.uid ?? '-');
  field('Generation', str(r.metadata.generation));
  field('Resource Version', r.metadata.resourceVersion ?? '-');
  field('Created', `${r.metadata.creationTimestamp ?? '-'} (${age(r.metadata.creationTimestamp)} ago)`);
  lines.push('Spec:');
  lines.push(...stringify(r.spec).trimEnd().split('\n').map((l) => `  ${l}`));
  lines.push('Status:');
  const conds = r.status?.conditions ?? [];
  field('  Observed Gen', str(r.status?.observedGeneration));
  if (conds.length === 0) lines.push('  Conditions:       <none>');
  else {
    lines.push('  Conditions:');
    lines.push(...align([['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'], ...conds.map((c) => [c.type, c.status, c.reason ?? '', age(c.lastTransitionTime), c.message ?? ''])]).trimEnd().split('\n').map((l) => `    ${l}`));
  }
  // A Server's partitions (replicas spread over servers, agent-spread.ts): which server runs each instance.
  const parts = r.kind === 'Server' ? (r.status as { partitions?: { network?: string; function?: string; instances?: { name: string; server: string; buckets: number }[]; replica?: number; front?: string }[] } | undefined)?.partitions : undefined;
  if (parts && parts.length > 0) {
    lines.push('  Partitions:');
    const rows = parts.flatMap((p) => (p.instances ? p.instances.map((i) => [p.network ?? '', p.function ?? '', i.name, i.server, String(i.buckets)]) : [[p.network ?? '', p.function ?? '', `${p.function ?? ''}#${p.replica ?? ''}`, `here, for front ${p.front ?? '?'}`, '-']]));
    lines.push(...align([['NETWORK', 'FUNCTION', 'INSTANCE', 'SERVER', 'BUCKETS'], ...rows]).trimEnd().split('\n').map((l) => `    ${l}`));
  }
  if (events.length === 0) lines.push('Events:             <none>');
  else {
    lines.push('Events:');
    lines.push(...eventRows(events, false).trimEnd().split('\n').map((l) => `  ${l}`));
  }
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  storeOptions(
    program
      .command('apply')
      .description('create or update resources from manifests (atomic: all or nothing; idempotent)')
      .requiredOption('-f, --filename <paths...>', 'manifest files or directories (*.yaml, *.yml, *.json)')
      .option('-o, --output <format>', 'json for a machine-readable result'),
  ).action(async (o: StoreOpts & { filename: string[]; output?: string }) => {
    try {
      const items = await loadManifests(o.filename);
      const r = await withBackend(o, (b) => b.apply(items));
      printResult(r, o.output);
    } catch (e) {
      fail(e, 'applied');
    }
  });

  storeOptions(
    program
      .command('delete')
      .description('delete every resource the manifests name (atomic)')
      .requiredOption('-f, --filename <paths...>', 'manifest files or directories')
      .option('-o, --output <format>', 'json for a machine-readable result'),
  ).action(async (o: StoreOpts & { filename: string[]; output?: string }) => {
    try {
      const items = await loadManifests(o.filename);
      const r = await withBackend(o, (b) => b.remove(items));
      printResult(r, o.output);
    } catch (e) {
      fail(e, 'deleted');
    }
  });

  storeOptions(
    program
      .command('get')
      .description(`list resources of a kind (${KIND_NAMES.join(', ')}; plural and short names work)`)
      .argument('<kind>', 'kind, e.g. servers, dc, sn')
      .argument('[name]', 'one object')
      .option('-n, --namespace <ns>', 'namespace of namespaced kinds', DEFAULT_NAMESPACE)
      .option('-A, --all-namespaces', 'every namespace')
      .option('-o, --output <format>', 'table, yaml or json', 'table'),
  ).action(async (kindArg: string, name: string | undefined, o: StoreOpts & { namespace: string; allNamespaces?: boolean; output: string }) => {
    try {
      if (['migration', 'migrations', 'mig'].includes(kindArg.toLowerCase())) {
        // Migration objects (src/control/migrations.ts): one namespace, or all with -A; NAME is an id.
        const all = (await withMigrationBackend(o, (b) => b.migrations(o.allNamespaces === true ? undefined : o.namespace))).filter((m) => name === undefined || m.id === name);
        if (o.output === 'json') process.stdout.write(`${JSON.stringify({ items: all }, null, 2)}\n`);
        else if (o.output === 'yaml') process.stdout.write(all.map((m) => stringify(m)).join('---\n'));
        else if (all.length === 0) process.stderr.write(`no migrations found${o.allNamespaces === true ? '' : ` in namespace ${o.namespace}`}\n`);
        else process.stdout.write(renderMigrations(all));
        return;
      }
      const kind = resolveKind(kindArg);
      if (!kind) throw new Error(`unknown kind '${kindArg}' (kinds: ${KIND_NAMES.join(', ')}, migration)`);
      if (!['table', 'yaml', 'json'].includes(o.output)) throw new Error(`unknown output format '${o.output}' (table, yaml, json)`);
      const all = o.allNamespaces === true && name === undefined;
      const items = await withBackend(o, async (b) => {
        if (name === undefined) return b.list(kind, all ? {} : { namespace: o.namespace });
        try {
          return [await b.get(kind, name, o.namespace)];
        } catch (e) {
          if (e instanceof NotFoundError) throw new Error(`${kind.toLowerCase()} "${name}" not found${KINDS[kind].namespaced ? ` in namespace ${o.namespace}` : ''}`);
          throw e;
        }
      });
      if (o.output === 'json') process.stdout.write(`${JSON.stringify(name !== undefined ? items[0] : { items }, null, 2)}\n`);
      else if (o.output === 'yaml') process.stdout.write(items.map((r) => stringify(r)).join('---\n'));
      else if (items.length === 0) process.stderr.write(`no ${KINDS[kind].plural} found${KINDS[kind].namespaced && !all ? ` in namespace ${o.namespace}` : ''}\n`);
      else process.stdout.write(renderTable(kind, items, all));
    } catch (e) {
      fail(e, 'changed');
    }
  });

  storeOptions(
    program
      .command('describe')
      .description('one object in detail: spec, status conditions and its events')
      .argument('<kind>', 'kind, e.g. server, sn')
      .argument('<name>', 'object name')
      .option('-n, --namespace <ns>', 'namespace of namespaced kinds', DEFAULT_NAMESPACE),
  ).action(async (kindArg: string, name: string, o: StoreOpts & { namespace: string }) => {
    try {
      const kind = resolveKind(kindArg);
      if (!kind) throw new Error(`unknown kind '${kindArg}' (kinds: ${KIND_NAMES.join(', ')})`);
      const text = await withBackend(o, async (b) => {
        let r: Resource;
        try {
          r = await b.get(kind, name, o.namespace);
        } catch (e) {
          if (e instanceof NotFoundError) throw new Error(`${kind.toLowerCase()} "${name}" not found${KINDS[kind].namespaced ? ` in namespace ${o.namespace}` : ''}`);
          throw e;
        }
        return renderDescribe(r, await b.events({ involved: { kind, name, namespace: o.namespace } }));
      });
      // A software network's migrations, with reason and timeline.
      const migrations = kind === 'SoftwareNetwork' ? renderMigrationSection((await withMigrationBackend(o, (b) => b.migrations(o.namespace))).filter((m) => m.network === name)) : '';
      process.stdout.write(text + migrations);
    } catch (e) {
      fail(e, 'changed');
    }
  });

  storeOptions(
    program
      .command('events')
      .description(`events, oldest first (namespace ${CLUSTER_EVENTS} holds those of datacenters, servers and links)`)
      .option('-n, --namespace <ns>', 'one namespace')
      .option('--for <kind/name>', 'events of one object, e.g. server/s1')
      .option('-o, --output <format>', 'table, yaml or json', 'table'),
  ).action(async (o: StoreOpts & { namespace?: string; for?: string; output: string }) => {
    try {
      let involved: { kind: Kind; name: string; namespace?: string } | undefined;
      if (o.for !== undefined) {
        const [k, n] = o.for.split('/');
        const kind = k !== undefined ? resolveKind(k) : undefined;
        if (!kind || !n) throw new Error(`--for takes KIND/NAME, e.g. server/s1 (got '${o.for}')`);
        involved = { kind, name: n, ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) };
      }
      const evs = await withBackend(o, (b) => b.events({ ...(o.namespace !== undefined ? { namespace: o.namespace } : {}), ...(involved ? { involved } : {}) }));
      if (o.output === 'json') process.stdout.write(`${JSON.stringify({ items: evs }, null, 2)}\n`);
      else if (o.output === 'yaml') process.stdout.write(evs.map((e) => stringify(e)).join('---\n'));
      else if (evs.length === 0) process.stderr.write('no events found\n');
      else process.stdout.write(eventRows(evs, true));
    } catch (e) {
      fail(e, 'changed');
    }
  });
}
