/**
 * Opening a capture of either format by its magic, and choosing a writer by file name.
 *
 * @example
 * const r = openCapture('trace.pcapng');
 * for (const rec of r) handle(rec.data);
 * r.close();
 * const w = createCaptureWriter('out.pcap', { linkType: LINKTYPE_ETHERNET });
 */
import { ByteSource, CaptureError, type CaptureInterfaceInit, type CaptureReader, type CaptureWriter } from './capture.js';
import { PcapReader, PcapWriter, isPcapMagic } from './pcap.js';
import { PcapngReader, PcapngWriter, isPcapngMagic } from './pcapng.js';
import type { Batch, PacketPool } from './pool.js';

export type CaptureFormat = 'pcap' | 'pcapng';

function fromSource(src: ByteSource): CaptureReader {
  try {
    if (!src.ensure(4)) throw new CaptureError(src.file, 0, `not a capture: file is ${src.available} bytes long`);
    const head = src.bytes(0, 4);
    if (isPcapngMagic(head)) return new PcapngReader(src);
    if (isPcapMagic(head)) return new PcapReader(src);
    throw new CaptureError(src.file, 0, `not a pcap or pcapng file: magic 0x${src.u32(0, false).toString(16).padStart(8, '0')}`);
  } catch (e) {
    src.close();
    throw e;
  }
}

/**
 * Opens a pcap or pcapng file (told apart by magic), streaming through `chunkSize` bytes;
 * `-` reads standard input (e.g. `tcpdump -w - | swnet pcap inspect -`).
 */
export function openCapture(path: string, opts: { chunkSize?: number } = {}): CaptureReader {
  if (path === '-') return fromSource(ByteSource.fromFd(0, '<stdin>', opts.chunkSize, false));
  return fromSource(ByteSource.fromFile(path, opts.chunkSize));
}

/** Reads a capture held in memory. */
export function readCaptureBytes(bytes: Uint8Array, name = '<memory>'): CaptureReader {
  return fromSource(ByteSource.fromBytes(bytes, name));
}

/** The format a file name implies: `.pcapng`/`.ntar` → pcapng, `.pcap`/`.cap`/`.dmp` → pcap, else null. */
export function formatFromPath(path: string): CaptureFormat | null {
  const p = path.toLowerCase();
  if (p.endsWith('.pcapng') || p.endsWith('.ntar') || p.endsWith('.pcapng.tmp')) return 'pcapng';
  if (p.endsWith('.pcap') || p.endsWith('.cap') || p.endsWith('.dmp')) return 'pcap';
  return null;
}

export interface CaptureWriterInit {
  /** Format; default from the file name, else pcapng. */
  format?: CaptureFormat;
  /** The first interface (pcap holds exactly this one). */
  iface: CaptureInterfaceInit;
  bigEndian?: boolean;
}

/** Creates a writer for `path` with its first interface declared as index 0. */
export function createCaptureWriter(path: string, init: CaptureWriterInit): CaptureWriter {
  const format = init.format ?? formatFromPath(path) ?? 'pcapng';
  const be = init.bigEndian === true ? { bigEndian: true } : {};
  if (format === 'pcap') {
    return PcapWriter.create(path, { linkType: init.iface.linkType, nanosecond: init.iface.nanosecond ?? false, ...(init.iface.snapLen !== undefined ? { snapLen: init.iface.snapLen } : {}), ...be });
  }
  return PcapngWriter.create(path, { interfaces: [init.iface], ...be });
}

/**
 * Copies the next records of `reader` into free slots of `pool` and appends them to `batch`,
 * until the batch is full, the pool has no free slot or the capture ends. Timestamps and
 * interface indices land at the same batch index in `ts` / `ifaces` when given. A frame longer
 * than the pool's MTU is cut to it. Returns the number of frames added (0 at the end of the
 * capture, or when nothing fits). Throws CaptureError on a malformed file.
 *
 * @example
 * const r = openCapture('trace.pcap');
 * const ts = new BigInt64Array(MAX_BATCH);
 * while (readBatch(r, pool, batch, ts) > 0) { fn.process(batch); batch.clear(); }
 */
export function readBatch(reader: CaptureReader, pool: PacketPool, batch: Batch, ts?: BigInt64Array, ifaces?: Int32Array): number {
  let n = 0;
  // Check for a free slot before taking a record, so that none is read and then dropped.
  while (!batch.full && pool.available > 0) {
    const rec = reader.next();
    if (rec === null) break;
    const i = batch.count;
    pool.load(rec.data, batch);
    if (ts !== undefined) ts[i] = rec.tsNs;
    if (ifaces !== undefined) ifaces[i] = rec.iface;
    n++;
  }
  return n;
}

/**
 * Appends every frame of `batch` (bytes in `pool`) to `writer` on interface `iface`, all with
 * timestamp `tsNs` (or `ts[i]` per frame when given).
 *
 * @example
 * writeBatch(writer, pool, batch, 0, BigInt(Date.now()) * 1_000_000n);
 */
export function writeBatch(writer: CaptureWriter, pool: PacketPool, batch: Batch, iface: number, tsNs: bigint, ts?: BigInt64Array): void {
  for (let i = 0; i < batch.count; i++) {
    const off = batch.offs[i]!;
    writer.write(iface, ts?.[i] ?? tsNs, pool.bytes.subarray(off, off + batch.lens[i]!));
  }
}
