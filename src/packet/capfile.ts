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

/** Opens a pcap or pcapng file (told apart by magic), streaming through `chunkSize` bytes. */
export function openCapture(path: string, opts: { chunkSize?: number } = {}): CaptureReader {
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
