/**
 * `swnet replay --function KIND --config FILE --in PORT=IN.pcap [--in …] --out PORT=OUT.pcap [--out …]`:
 * runs one network function over captures and writes what leaves each port.
 *
 * Frames of every input are merged in timestamp order and fed in batches (consecutive frames of
 * one port, at most 256, spanning at most `--window` ms of capture time); the function's clock
 * (`ctx.now`, ms) follows the capture timestamps from the first frame, and its timers (`tick`) run
 * as capture time advances. Each output frame is stamped with the time of the last frame of the
 * batch that produced it. Outputs are pcap or pcapng by file extension.
 *
 * The configuration file is YAML or JSON (JSON is YAML); a bad configuration is reported as
 * file:line:column with the message of the function's parser.
 *
 * @example
 * swnet replay --function router --config r.yaml --in eth0=in0.pcap --in eth1=in1.pcap --out eth0=out0.pcap --out eth1=out1.pcapng
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { Batch, PacketPool } from '../packet/pool.js';
import { CaptureError, LINKTYPE_ETHERNET, type CaptureReader, type CaptureRecord, type CaptureWriter } from '../packet/capture.js';
import { createCaptureWriter, openCapture } from '../packet/capfile.js';
import { ConfigError, type Counters, type Emit, type NetworkFunction, type ProcessContext } from '../functions/contract.js';
import { createFunction } from '../functions/registry.js';

/** A configuration file that does not parse or that the function rejects, located in the file. */
export class ReplayConfigError extends Error {
  override readonly name = 'ReplayConfigError';
  constructor(readonly file: string, readonly line: number, readonly column: number, readonly reason: string) {
    super(`${file}:${line}:${column}: ${reason}`);
  }
}

/** Bad command-line usage (unknown port, malformed PORT=FILE, wrong link type). */
export class ReplayUsageError extends Error {
  override readonly name = 'ReplayUsageError';
}

/** Splits `interfaces[1].mtu` into ['interfaces', 1, 'mtu']. */
export function splitPath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return out;
}

/**
 * Reads a YAML/JSON configuration and builds the function; every error comes back as a
 * ReplayConfigError with the line and column of the offending key (the deepest node of the
 * ConfigError path that exists in the file: the parent object when a required key is missing).
 *
 * @example
 * const fn = loadFunction('router', 'router.yaml');
 */
export function loadFunction(kind: string, file: string, text: string = readFileSync(file, 'utf8')): NetworkFunction {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const at = (offset: number, reason: string): ReplayConfigError => {
    const p = lc.linePos(offset);
    return new ReplayConfigError(file, p.line, p.col, reason);
  };
  const first = doc.errors[0];
  if (first) throw at(first.pos[0], first.message.split('\n')[0] ?? first.message);
  const config: unknown = doc.toJS();
  try {
    return createFunction(kind, config);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (e.path === 'kind') throw new ReplayUsageError(e.message);
    let node: unknown = doc.contents;
    let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
    for (const seg of splitPath(e.path)) {
      if (isMap(node) && typeof seg === 'string') {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
        if (!pair) break;
        const key = pair.key as Node;
        const value = pair.value as Node | null;
        // An unknown key is reported at the key; a bad value at the value.
        offset = value && e.message.includes('unknown key') === false ? (value.range?.[0] ?? offset) : (key.range?.[0] ?? offset);
        node = value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else break;
    }
    throw at(offset, e.message);
  }
}

export interface ReplayOptions {
  kind: string;
  config: string;
  /** [port name, capture file]. */
  inputs: readonly (readonly [string, string])[];
  outputs: readonly (readonly [string, string])[];
  /** Largest capture-time span of one batch, ms (default 1). */
  windowMs?: number;
}

export interface ReplayResult {
  framesIn: Record<string, number>;
  framesOut: Record<string, number>;
  /** Frames sent to ports without an --out file. */
  discarded: number;
  /** Input frames larger than a pool slot, skipped. */
  oversize: number;
  counters: Counters;
}

class Writers implements Emit {
  ts = 0n;
  readonly counts: number[];
  discarded = 0;
  constructor(private readonly pool: PacketPool, private readonly writers: (CaptureWriter | null)[]) {
    this.counts = writers.map(() => 0);
  }
  send(port: number, slot: number, off: number, len: number): void {
    const w = this.writers[port];
    if (w) {
      w.write(0, this.ts, this.pool.bytes.subarray(off, off + len));
      this.counts[port] = (this.counts[port] ?? 0) + 1;
    } else this.discarded++;
    this.pool.release(slot);
  }
  drop(slot: number): void {
    this.pool.release(slot);
  }
}

/**
 * Runs the replay and returns what went in and out per port.
 *
 * @example
 * runReplay({ kind: 'router', config: 'r.yaml', inputs: [['eth0', 'in.pcap']], outputs: [['eth1', 'out.pcap']] });
 */
export function runReplay(o: ReplayOptions): ReplayResult {
  const fn = loadFunction(o.kind, o.config);
  const portIndex = (name: string, flag: string): number => {
    const i = fn.ports.findIndex((p) => p.name === name);
    if (i < 0) throw new ReplayUsageError(`${flag} ${name}: no port named '${name}' (ports: ${fn.ports.map((p) => p.name).join(', ')})`);
    return i;
  };
  const inPorts = o.inputs.map(([p]) => portIndex(p, '--in'));
  const outIdx = o.outputs.map(([p]) => portIndex(p, '--out'));
  const pool = new PacketPool({ slots: 2048, slotSize: 10240 });
  const readers: CaptureReader[] = [];
  const writers: (CaptureWriter | null)[] = fn.ports.map(() => null);
  try {
    for (const [, file] of o.inputs) readers.push(openCapture(file));
    o.outputs.forEach(([name, file], k) => {
      const port = outIdx[k] as number;
      if (writers[port]) throw new ReplayUsageError(`--out ${name}: given twice`);
      writers[port] = createCaptureWriter(file, { iface: { linkType: LINKTYPE_ETHERNET, nanosecond: true, name } });
    });
    const emit = new Writers(pool, writers);
    const framesIn = fn.ports.map(() => 0);
    const windowNs = BigInt(Math.round((o.windowMs ?? 1) * 1e6));
    // One pending record per input (copied: a reader's view is valid until its next record).
    const pending: ({ ts: bigint; data: Uint8Array } | null)[] = readers.map(() => null);
    const pull = (k: number): void => {
      const r = readers[k] as CaptureReader;
      let rec: CaptureRecord | null = r.next();
      if (rec && (r.interfaces[rec.iface]?.linkType ?? LINKTYPE_ETHERNET) !== LINKTYPE_ETHERNET) {
        throw new ReplayUsageError(`${r.file}: link type ${r.interfaces[rec.iface]?.linkType} is not Ethernet`);
      }
      pending[k] = rec ? { ts: rec.tsNs, data: rec.data.slice() } : null;
    };
    readers.forEach((_, k) => pull(k));
    const earliest = (): number => {
      let best = -1;
      for (let k = 0; k < pending.length; k++) {
        const p = pending[k];
        if (p && (best < 0 || p.ts < (pending[best] as { ts: bigint }).ts)) best = k;
      }
      return best;
    };
    const batch = new Batch();
    let t0: bigint | null = null;
    let lastTick = -Infinity;
    let oversize = 0;
    for (;;) {
      const k = earliest();
      if (k < 0) break;
      const port = inPorts[k] as number;
      const start = (pending[k] as { ts: bigint }).ts;
      t0 ??= start;
      batch.clear();
      let last = start;
      for (;;) {
        const k2 = earliest();
        if (k2 < 0 || inPorts[k2] !== port || batch.full) break;
        const p = pending[k2] as { ts: bigint; data: Uint8Array };
        if (p.ts - start > windowNs) break;
        if (p.data.length > pool.mtu) oversize++;
        else if (pool.load(p.data, batch) < 0) break;
        framesIn[port] = (framesIn[port] ?? 0) + 1;
        last = p.ts;
        pull(k2);
      }
      const now = Number(start - t0) / 1e6;
      emit.ts = last;
      const ctx: ProcessContext = { pool, out: emit, now };
      if (fn.tick && now - lastTick >= 10) {
        fn.tick(ctx);
        lastTick = now;
      }
      if (batch.count > 0) fn.process(port, batch, ctx);
    }
    const names = fn.ports.map((p) => p.name);
    return {
      framesIn: Object.fromEntries(names.map((n, i) => [n, framesIn[i] ?? 0])),
      framesOut: Object.fromEntries(names.map((n, i) => [n, emit.counts[i] ?? 0])),
      discarded: emit.discarded,
      oversize,
      counters: fn.counters(),
    };
  } finally {
    for (const r of readers) r.close();
    for (const w of writers) w?.close();
  }
}

function collect(v: string, acc: string[]): string[] {
  return [...acc, v];
}

function pairs(flag: string, list: readonly string[]): [string, string][] {
  return list.map((v) => {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw new ReplayUsageError(`${flag} ${v}: expected PORT=FILE`);
    return [v.slice(0, eq), v.slice(eq + 1)];
  });
}

export function register(program: Command): void {
  program
    .command('replay')
    .description('run one network function over captures and write what leaves each port')
    .requiredOption('--function <kind>', 'function kind (router, switch, mpls, firewall, ...)')
    .requiredOption('--config <file>', 'configuration (YAML or JSON, see docs/functions.md)')
    .option('--in <port=file>', 'frames arriving on a port (repeatable)', collect, [])
    .option('--out <port=file>', 'capture of what leaves a port, .pcap or .pcapng (repeatable)', collect, [])
    .option('--window <ms>', 'largest capture-time span of one batch', '1')
    .option('--counters', 'print the function counters as JSON')
    .action((o: { function: string; config: string; in: string[]; out: string[]; window: string; counters?: boolean }) => {
      try {
        if (o.in.length === 0) throw new ReplayUsageError('give at least one --in PORT=FILE');
        const windowMs = Number(o.window);
        if (!Number.isFinite(windowMs) || windowMs < 0) throw new ReplayUsageError(`--window ${o.window}: expected a number of milliseconds`);
        const r = runReplay({ kind: o.function, config: o.config, inputs: pairs('--in', o.in), outputs: pairs('--out', o.out), windowMs });
        const ins = Object.entries(r.framesIn).map(([p, n]) => `${p} ${n}`).join(', ');
        const outs = Object.entries(r.framesOut).map(([p, n]) => `${p} ${n}`).join(', ');
        process.stderr.write(`replay: in ${ins}; out ${outs}${r.discarded ? `; ${r.discarded} to ports without --out` : ''}${r.oversize ? `; ${r.oversize} oversize frames skipped` : ''}\n`);
        if (o.counters) console.log(JSON.stringify(r.counters, null, 2));
      } catch (e) {
        if (e instanceof ReplayConfigError || e instanceof ReplayUsageError || e instanceof CaptureError || e instanceof ConfigError) {
          process.stderr.write(`swnet replay: ${e.message}\n`);
          process.exitCode = 2;
          return;
        }
        if (e instanceof Error && 'code' in e && typeof e.code === 'string') {
          process.stderr.write(`swnet replay: ${e.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
    });
}
