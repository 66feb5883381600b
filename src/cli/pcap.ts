/**
 * `swnet pcap inspect FILE [--json]` and `swnet pcap convert IN OUT [--format F]`.
 *
 * @example
 * swnet pcap inspect examples/captures/kernel-veth.pcap
 * swnet pcap inspect trace.pcapng --json | jq '.totals'
 * swnet pcap convert trace.pcap trace.pcapng
 */
import type { Command } from 'commander';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { CaptureError, LINKTYPE_ETHERNET, LINKTYPE_RAW, type CaptureReader, type CaptureWriter } from '../packet/capture.js';
import { openCapture, formatFromPath, type CaptureFormat } from '../packet/capfile.js';
import { PcapWriter } from '../packet/pcap.js';
import { PcapngWriter } from '../packet/pcapng.js';
import { decodeFrame, type DecodedFrame } from '../packet/decode.js';
import { FrameSummarizer, formatTime } from './pcap-summary.js';

/** The capture `swnet start` inspects: real kernel traffic (see scripts/make-sample-capture.mjs). */
export const BUNDLED_CAPTURE = fileURLToPath(new URL('../../../examples/captures/kernel-veth.pcap', import.meta.url));

const PROTOCOL_ORDER = ['arp', 'icmp', 'icmpv6', 'udp', 'tcp', 'vxlan', 'mpls', 'ipv4-fragment', 'ipv6-fragment', 'ipv4-other', 'ipv6-other', 'other', 'malformed'];

/** Per-protocol counts of an inspected capture. */
export interface InspectTotals {
  frames: number;
  /** Bytes captured (sum of record lengths). */
  bytes: number;
  /** Bytes on the wire (sum of original lengths). */
  wireBytes: number;
  protocols: Record<string, { frames: number; bytes: number }>;
}

export interface InspectOptions {
  json?: boolean;
  /** Where lines go (default stdout, buffered). */
  write?: (chunk: string) => void;
}

const scratch = new Uint8Array(14 + 65536 * 4);

/** Decodes one record whatever its link type: raw IP (101) gets an Ethernet header in front so decodeFrame can walk it. */
function decodeRecord(linkType: number, data: Uint8Array): { frame: Uint8Array; decoded: DecodedFrame | null; linkHdr: number } {
  if (linkType === LINKTYPE_ETHERNET) return { frame: data, decoded: decodeFrame(data, 0, data.length), linkHdr: 0 };
  if (linkType === LINKTYPE_RAW && data.length + 14 <= scratch.length) {
    const v = (data[0] ?? 0) >>> 4;
    scratch.fill(0, 0, 12);
    scratch[12] = v === 6 ? 0x86 : 0x08;
    scratch[13] = v === 6 ? 0xdd : 0x00;
    scratch.set(data, 14);
    const frame = scratch.subarray(0, 14 + data.length);
    return { frame, decoded: decodeFrame(frame, 0, frame.length), linkHdr: 14 };
  }
  return { frame: data, decoded: null, linkHdr: 0 };
}

/**
 * Prints one line per frame (as `tcpdump -n`) then per-protocol totals, or the same as one JSON
 * document with `json`. Throws CaptureError (after printing what came before it) on a malformed file.
 *
 * @example
 * const totals = inspectCapture('trace.pcap', { write: (s) => process.stdout.write(s) });
 */
export function inspectCapture(path: string, opts: InspectOptions = {}): InspectTotals {
  const out = opts.write ?? bufferedStdout();
  const reader = openCapture(path);
  const totals: InspectTotals = { frames: 0, bytes: 0, wireBytes: 0, protocols: {} };
  const summarizer = new FrameSummarizer();
  let failure: unknown = null;
  if (opts.json) {
    out(`{"file":${JSON.stringify(path)},"format":"${reader.format}","frames":[`);
  }
  try {
    for (let rec = reader.next(); rec !== null; rec = reader.next()) {
      const iface = reader.interfaces[rec.iface];
      const linkType = iface?.linkType ?? LINKTYPE_ETHERNET;
      const { frame, decoded, linkHdr } = decodeRecord(linkType, rec.data);
      // Lines start with the fixed-width time (15 characters and a space).
      const sum = decoded === null
        ? { text: `${formatTime(rec.tsNs)} unsupported link type ${linkType}, length ${rec.origLen}`, protocol: 'other' }
        : summarizer.summarize(rec.tsNs, frame, decoded.layers, rec.origLen + linkHdr);
      const text = sum.text;
      totals.frames++;
      totals.bytes += rec.data.length;
      totals.wireBytes += rec.origLen;
      const p = (totals.protocols[sum.protocol] ??= { frames: 0, bytes: 0 });
      p.frames++;
      p.bytes += rec.origLen;
      if (opts.json) {
        const obj = {
          number: totals.frames,
          tsNs: rec.tsNs.toString(),
          time: isoTime(rec.tsNs),
          iface: rec.iface,
          length: rec.origLen,
          captured: rec.data.length,
          protocol: sum.protocol,
          summary: text.slice(16),
          layers: decoded?.layers.map((l) => l.kind) ?? [],
          error: decoded?.error ?? null,
          checksumsOk: decoded?.checksumsOk ?? true,
        };
        out(`${totals.frames > 1 ? ',' : ''}\n${JSON.stringify(obj)}`);
      } else {
        out(`${text}\n`);
      }
    }
  } catch (e) {
    failure = e;
  }
  const ifaces = reader.interfaces.map((i) => ({ linkType: i.linkType, snapLen: i.snapLen, tsUnitsPerSec: i.tsUnitsPerSec.toString(), ...(i.name !== undefined ? { name: i.name } : {}) }));
  reader.close();
  if (opts.json) {
    const err = failure instanceof CaptureError ? { file: failure.file, offset: failure.offset, message: failure.message } : failure === null ? null : { message: String(failure) };
    out(`\n],"interfaces":${JSON.stringify(ifaces)},"totals":${JSON.stringify(sortedTotals(totals))},"error":${JSON.stringify(err)}}\n`);
  } else {
    out(formatTotals(totals));
  }
  if (opts.write === undefined) out('');
  if (failure !== null) throw failure;
  return totals;
}

function sortedTotals(t: InspectTotals): InspectTotals {
  const protocols: InspectTotals['protocols'] = {};
  const keys = Object.keys(t.protocols).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const k of keys) protocols[k] = t.protocols[k]!;
  return { ...t, protocols };
}

function rank(p: string): number {
  const i = PROTOCOL_ORDER.indexOf(p);
  return i < 0 ? PROTOCOL_ORDER.length : i;
}

/** The totals block printed after the frames. */
export function formatTotals(t: InspectTotals): string {
  const s = sortedTotals(t);
  let out = `\n${t.frames} frames, ${t.bytes} bytes captured, ${t.wireBytes} bytes on the wire\n`;
  out += `${'protocol'.padEnd(16)}${'frames'.padStart(8)}${'bytes'.padStart(10)}\n`;
  for (const [k, v] of Object.entries(s.protocols)) out += `${k.padEnd(16)}${String(v.frames).padStart(8)}${String(v.bytes).padStart(10)}\n`;
  return out;
}

function isoTime(tsNs: bigint): string {
  const ms = Number(tsNs / 1_000_000n);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 19)}.${(tsNs % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

/** Collects output and writes it in large pieces; `''` flushes. */
function bufferedStdout(): (s: string) => void {
  let buf = '';
  return (s: string) => {
    buf += s;
    if (s === '' || buf.length > 1 << 16) {
      if (buf.length > 0) process.stdout.write(buf);
      buf = '';
    }
  };
}

/**
 * Copies every record of `inPath` into `outPath` in `format` (default: from OUT's extension).
 * pcap → pcapng keeps the interface (link type, snap length, resolution); pcapng → pcap needs all
 * packets on one link type and writes nanoseconds when an interface is finer than 1 µs.
 * On failure the partial output is removed.
 *
 * @example
 * convertCapture('in.pcap', 'out.pcapng'); // { frames: 41, format: 'pcapng' }
 */
export function convertCapture(inPath: string, outPath: string, format?: CaptureFormat): { frames: number; format: CaptureFormat } {
  const fmt = format ?? formatFromPath(outPath);
  if (fmt === null) throw new UsageError(`cannot tell the format of ${outPath} from its name: use --format pcap or --format pcapng`);
  const reader = openCapture(inPath);
  // Held in an object: TypeScript does not track assignments made inside the closure below.
  const out: { writer: CaptureWriter | null } = { writer: null };
  let frames = 0;
  try {
    const ifaceMap: number[] = [];
    const ensureWriter = (): CaptureWriter => {
      if (out.writer !== null) return out.writer;
      const first = reader.interfaces[0];
      if (fmt === 'pcap') {
        const ns = reader.interfaces.some((i) => i.tsUnitsPerSec > 1_000_000n);
        out.writer = PcapWriter.create(outPath, { linkType: first?.linkType ?? LINKTYPE_ETHERNET, snapLen: first?.snapLen || 262144, nanosecond: ns });
      } else {
        out.writer = PcapngWriter.create(outPath, { userAppl: 'swnet pcap convert' });
      }
      return out.writer;
    };
    const mapIface = (w: CaptureWriter, idx: number, offset: number): number => {
      if (w instanceof PcapWriter) {
        const lt = reader.interfaces[idx]?.linkType;
        if (lt !== w.linkType) throw new CaptureError(inPath, offset, `packet on interface ${idx} of link type ${lt}, but a pcap file holds one link type (${w.linkType}); convert to pcapng instead`);
        return 0;
      }
      while (ifaceMap.length < reader.interfaces.length) {
        const i = reader.interfaces[ifaceMap.length]!;
        ifaceMap.push(w.addInterface({
          linkType: i.linkType,
          snapLen: i.snapLen,
          nanosecond: i.tsUnitsPerSec > 1_000_000n,
          ...(i.name !== undefined ? { name: i.name } : {}),
          ...(i.description !== undefined ? { description: i.description } : {}),
        }));
      }
      return ifaceMap[idx] ?? 0;
    };
    for (let rec = reader.next(); rec !== null; rec = reader.next()) {
      const w = ensureWriter();
      w.write(mapIface(w, rec.iface, rec.offset), rec.tsNs, rec.data, rec.origLen);
      frames++;
    }
    const w = ensureWriter();
    if (!(w instanceof PcapWriter)) mapIface(w, 0, 0);
    w.close();
    reader.close();
    return { frames, format: fmt };
  } catch (e) {
    reader.close();
    const w = out.writer;
    if (w !== null) {
      try { w.close(); } catch { /* already failing */ }
      rmSync(outPath, { force: true });
    }
    throw e;
  }
}

/** A mistake in how the command was called (exit code 2, as commander's own errors). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function fail(e: unknown): never {
  if (e instanceof CaptureError) process.stderr.write(`swnet: ${e.message}\n`);
  else if (e instanceof UsageError) process.stderr.write(`swnet: ${e.message}\n`);
  else if (e instanceof Error && 'code' in e && typeof e.code === 'string') process.stderr.write(`swnet: ${e.message}\n`);
  else throw e;
  process.exit(1);
}

/**
 * What `swnet start` (and so `npm start`) does until the platform's main job exists: inspect the
 * bundled capture of real kernel traffic. Never fails: a problem is printed and the exit code is 0.
 *
 * @example
 * runStart();
 */
export function runStart(): void {
  const shown = relative(process.cwd(), BUNDLED_CAPTURE) || BUNDLED_CAPTURE;
  try {
    process.stdout.write(`swnet: inspecting ${shown} (real kernel traffic between two network namespaces: ARP, ping, ping -6 with NDP, fragments, UDP and TCP over IPv4 and IPv6, port unreachable, RST, VXLAN)\n\n`);
    inspectCapture(BUNDLED_CAPTURE);
    process.stdout.write(`\nMore: swnet pcap inspect FILE [--json], swnet pcap convert IN OUT, swnet --help\n`);
  } catch (e) {
    process.stdout.write(`swnet: could not inspect the bundled capture: ${e instanceof Error ? e.message : String(e)}\nTry: swnet --help\n`);
  }
}

export function register(program: Command): void {
  const pcap = program.command('pcap').description('read, summarise and convert pcap/pcapng captures');
  pcap
    .command('inspect')
    .description('one line per frame as `tcpdump -n` prints it, then totals per protocol')
    .argument('<file>', 'pcap or pcapng capture (- for standard input)')
    .option('--json', 'machine-readable JSON (frames, interfaces, totals)')
    .action((file: string, o: { json?: boolean }) => {
      process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); });
      try { inspectCapture(file, o.json === true ? { json: true } : {}); } catch (e) { fail(e); }
    });
  pcap
    .command('convert')
    .description('convert between pcap and pcapng (format from OUT\'s extension, or --format)')
    .argument('<in>', 'input capture (pcap or pcapng)')
    .argument('<out>', 'output file')
    .option('--format <format>', 'pcap or pcapng')
    .action((input: string, output: string, o: { format?: string }) => {
      try {
        if (o.format !== undefined && o.format !== 'pcap' && o.format !== 'pcapng') throw new UsageError(`--format must be pcap or pcapng, got ${o.format}`);
        const r = convertCapture(input, output, o.format as CaptureFormat | undefined);
        process.stdout.write(`${r.frames} frames written to ${output} (${r.format})\n`);
      } catch (e) { fail(e); }
    });
}
