/**
 * `swnet twin --function KIND --config FILE --in PORT=IFACE_OR_CAPTURE … --out PORT=IFACE_OR_CAPTURE …`:
 * a digital twin of a device (see src/functions/twin.ts, docs/twins.md). `--in` gives what the
 * device receives on a port, `--out` what it sends. When every source is a capture file, the
 * twin replays them in capture-time order and exits; otherwise each interface is followed live
 * (tcpdump -Q in/out writing pcap into a FIFO that our streaming reader follows; inside a
 * network namespace with --netns) until SIGINT/SIGTERM or --duration. A source
 * `vxlan:[[ADDR:]UDPPORT/]VNI` is a VXLAN mirror: one socket per address:port, VNI → stream. Divergences are printed
 * as they happen (text, or JSON lines with --json), and recorded as Warning events
 * (reason TwinDivergence) on a SoftwareNetwork when --network is given.
 *
 * @example
 * swnet twin --function router --config r.yaml --in eth0=eth0 --out eth0=eth0 --in eth1=eth1 --out eth1=eth1 --netns r
 * swnet twin --function router --config r.yaml --in eth0=in0.pcap --out eth1=out1.pcap --json
 * swnet twin --function router --config r.yaml --in eth0=vxlan:4789/101 --out eth0=vxlan:4789/201 --out eth1=vxlan:4789/202
 */
import type { Command } from 'commander';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CaptureError } from '../packet/capture.js';
import { ConfigError } from '../functions/contract.js';
import { createTwin, type DivergencePhase, type Twin, type TwinDivergence } from '../functions/twin.js';
import { LiveFollower, TwinSourceError, followCaptures, type TwinSource } from '../functions/lib/twin-follow.js';
import { VxlanMirror, VxlanMirrorError, parseVxlanSpec, type VxlanMirrorSource } from '../functions/lib/twin-vxlan.js';
import { EventRecorder } from '../control/events.js';
import { openStore } from '../control/store/open.js';
import type { Store } from '../control/store/contract.js';
import { ReplayConfigError, ReplayUsageError, loadFunction } from './replay.js';

interface TwinCliOpts {
  function: string;
  config: string;
  in: string[];
  out: string[];
  netns?: string;
  window: string;
  aggregate: string;
  tolerate?: string;
  duration?: string;
  json?: boolean;
  filter?: string;
  network?: string;
  namespace?: string;
  store?: string;
  dataDir?: string;
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

function sources(o: TwinCliOpts): { port: string; dir: 'in' | 'out'; source: string }[] {
  const list: { port: string; dir: 'in' | 'out'; source: string }[] = [];
  for (const [flag, dir] of [['in', 'in'], ['out', 'out']] as const) {
    for (const v of o[flag]) {
      const eq = v.indexOf('=');
      if (eq <= 0 || eq === v.length - 1) throw new ReplayUsageError(`--${flag} ${v}: expected PORT=INTERFACE, PORT=CAPTURE or PORT=vxlan:[[ADDR:]UDPPORT/]VNI`);
      list.push({ port: v.slice(0, eq), dir, source: v.slice(eq + 1) });
    }
  }
  if (list.length === 0) throw new ReplayUsageError('give at least one --in and one --out');
  return list;
}

/** One line per report: "open route r1 10.2.0.0/16: device dropped …". */
export function formatDivergence(d: TwinDivergence, phase: DivergencePhase): string {
  const delay = phase === 'open' ? ` (+${(d.reportedAt - d.firstTs).toFixed(1)} ms)` : '';
  return `${new Date(phase === 'open' ? d.reportedAt : d.lastTs).toISOString()} ${phase.padEnd(6)} #${d.id} ${d.kind}: ${d.diagnosis}${delay}`;
}

async function run(o: TwinCliOpts): Promise<void> {
  const list = sources(o);
  // Validates the model's configuration with errors located in the file, then learns it.
  loadFunction(o.function, o.config);
  const modelConfig: unknown = parse(readFileSync(o.config, 'utf8'));
  const num = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new ReplayUsageError(`--${flag} ${v}: expected a positive number of milliseconds`);
    return n;
  };
  let store: Store | undefined;
  let events: EventRecorder | undefined;
  if (o.network !== undefined) {
    store = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
    events = new EventRecorder(store, { component: `twin/${o.function}` });
  }
  const pendingEvents: Promise<unknown>[] = [];
  const report = (d: TwinDivergence, phase: DivergencePhase): void => {
    if (o.json === true) console.log(JSON.stringify({ phase, ...d }));
    else console.log(formatDivergence(d, phase));
    if (events !== undefined && o.network !== undefined && phase !== 'update') {
      const ref = { kind: 'SoftwareNetwork' as const, name: o.network, ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) };
      pendingEvents.push(events.record(ref, 'Warning', 'TwinDivergence', d.diagnosis).catch((e: unknown) => process.stderr.write(`swnet twin: event not recorded: ${e instanceof Error ? e.message : String(e)}\n`)));
    }
  };
  const twin: Twin = createTwin({
    function: o.function,
    config: modelConfig,
    windowMs: num('window', o.window),
    aggregateMs: num('aggregate', o.aggregate),
    ...(o.tolerate !== undefined ? { tolerate: o.tolerate === '' ? [] : o.tolerate.split(',') } : {}),
  }, { onDivergence: report });
  for (const s of list) if (twin.portIndex(`${s.port}.${s.dir}`) < 0) throw new ReplayUsageError(`--${s.dir} ${s.port}=…: the ${o.function} has no port '${s.port}' (ports: ${twin.ports.filter((_, i) => i % 2 === 0).map((p) => p.name.slice(0, -3)).join(', ')})`);
  const mirrors: VxlanMirrorSource[] = [];
  for (const s of list) {
    const v = parseVxlanSpec(s.source);
    if (v !== null) mirrors.push({ port: `${s.port}.${s.dir}`, ...v });
  }
  const files = list.filter((s) => existsSync(s.source) && statSync(s.source).isFile());
  try {
    if (mirrors.length > 0) {
      if (mirrors.length !== list.length) throw new ReplayUsageError('give either VXLAN mirrors, capture files or interfaces, not a mix');
      await followVxlan(twin, mirrors, o);
    } else if (files.length === list.length) {
      const r = followCaptures(twin, list.map((s) => ({ port: `${s.port}.${s.dir}`, path: s.source })));
      process.stderr.write(`swnet twin: ${r.frames} frames followed; ${twin.divergences().length} divergences\n`);
    } else {
      if (files.length > 0) throw new ReplayUsageError('give either capture files or interfaces, not both');
      await followLive(twin, list, o);
    }
  } finally {
    await Promise.all(pendingEvents);
    await store?.close();
  }
  const c = twin.counters();
  process.stderr.write(`swnet twin: matched ${String(c['matched'])}, device dropped ${String(c['missing'])}, device sent unexpected ${String(c['unexpected'])}\n`);
}

async function followVxlan(twin: Twin, mirrors: readonly VxlanMirrorSource[], o: TwinCliOpts): Promise<void> {
  const m = await VxlanMirror.open(twin, mirrors);
  process.stderr.write(`swnet twin: following VXLAN mirrors ${mirrors.map((s) => `${s.port}=${s.address}:${s.udpPort}/${s.vni}`).join(', ')}\n`);
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (o.duration !== undefined) setTimeout(done, Number(o.duration) * 1000).unref();
  });
  await m.close();
  const c = m.counters();
  process.stderr.write(`swnet twin: ${c.frames} mirrored frames; ${c.malformed} malformed, ${c.unknownVni} of unknown VNIs, ${c.noBuffer} without buffer\n`);
}

async function followLive(twin: Twin, list: readonly { port: string; dir: 'in' | 'out'; source: string }[], o: TwinCliOpts): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-twin-'));
  const children: ChildProcess[] = [];
  const feeds: TwinSource[] = [];
  try {
    for (const s of list) {
      const fifo = join(dir, `${s.port}.${s.dir}`);
      const mk = spawnSync('mkfifo', [fifo], { encoding: 'utf8' });
      if (mk.status !== 0) throw new Error(`mkfifo ${fifo}: ${mk.stderr}`);
      feeds.push({ port: `${s.port}.${s.dir}`, path: fifo });
    }
    const follower = new LiveFollower(twin, feeds);
    follower.since = Infinity;
    follower.start();
    for (const [i, s] of list.entries()) {
      const argv = ['tcpdump', '-n', '-U', '--immediate-mode', '-Q', s.dir, '-i', s.source, '--time-stamp-precision=nano', '-w', (feeds[i] as TwinSource).path, ...(o.filter !== undefined ? [o.filter] : [])];
      const c = spawn(o.netns !== undefined ? 'ip' : argv[0] as string, o.netns !== undefined ? ['netns', 'exec', o.netns, ...argv] : argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(c);
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        c.stderr?.on('data', (d: Buffer) => { seen += d.toString(); if (/listening on/.test(seen)) resolve(); });
        c.on('exit', (code) => reject(new ReplayUsageError(`tcpdump on ${s.source} exited (${code ?? 'signal'}): ${seen.trim()}`)));
      });
    }
    follower.since = Date.now();
    process.stderr.write(`swnet twin: following ${list.map((s) => `${s.port}.${s.dir}=${s.source}`).join(', ')}${o.netns !== undefined ? ` in ${o.netns}` : ''}\n`);
    await new Promise<void>((resolve) => {
      const done = (): void => resolve();
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      if (o.duration !== undefined) setTimeout(done, Number(o.duration) * 1000).unref();
      for (const c of children) c.once('exit', done);
    });
    for (const c of children) if (c.exitCode === null) c.kill('SIGINT');
    await follower.stop(2000);
    for (const e of follower.errors) process.stderr.write(`swnet twin: ${e}\n`);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

export function register(program: Command): void {
  program
    .command('twin')
    .description('digital twin of a device: run the model on what the device receives and report how the device diverges')
    .requiredOption('--function <kind>', 'model kind (router, switch, firewall, ...)')
    .requiredOption('--config <file>', "the device's configuration in the model's format (YAML or JSON)")
    .option('--in <port=iface|capture|vxlan:[[addr:]udpport/]vni>', 'what the device receives on a port (repeatable); vxlan: a VXLAN mirror (RFC 7348, UDP 4789 on 0.0.0.0 by default)', collect, [])
    .option('--out <port=iface|capture|vxlan:[[addr:]udpport/]vni>', 'what the device sends on a port (repeatable)', collect, [])
    .option('--netns <name>', 'network namespace of the interfaces')
    .option('--window <ms>', 'how long a frame waits for its match', '50')
    .option('--aggregate <ms>', 'aggregation period of a divergence group', '1000')
    .option('--tolerate <fields>', 'comma-separated tolerated fields (ipv4-id-local, ipv6-flowlabel-local, ipv4-ttl); empty for none')
    .option('--filter <bpf>', 'capture filter for live interfaces (e.g. "ip")')
    .option('--duration <s>', 'stop following live interfaces after this many seconds')
    .option('--json', 'print divergences as JSON lines')
    .option('--network <name>', 'record divergences as events on this SoftwareNetwork')
    .option('--namespace <ns>', 'namespace of --network')
    .option('--store <url>', 'store URL for events: sqlite:[DIR], etcd://HOST:PORT, memory:')
    .option('--data-dir <dir>', 'data directory of the embedded SQLite store')
    .action(async (o: TwinCliOpts) => {
      try {
        await run(o);
      } catch (e) {
        if (e instanceof ReplayConfigError || e instanceof ReplayUsageError || e instanceof CaptureError || e instanceof ConfigError || e instanceof TwinSourceError || e instanceof VxlanMirrorError) {
          process.stderr.write(`swnet twin: ${e.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
    });
}
