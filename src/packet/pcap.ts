/**
 * Classic libpcap files: a 24-byte global header, then records of a 16-byte header and the
 * captured bytes. Magic 0xa1b2c3d4 means microsecond timestamps, 0xa1b23c4d nanosecond; the
 * order in which the magic's bytes appear gives the file's byte order (both are read).
 * Reference: draft-ietf-opsawg-pcap.
 *
 * @example
 * const r = PcapReader.open('trace.pcap');
 * for (const rec of r) console.log(rec.tsNs, rec.data.length);
 * r.close();
 */
import {
  ByteSource, CaptureError, FileSink, MAX_RECORD, MemorySink, splitTs,
  type ByteSink, type CaptureInterface, type CaptureInterfaceInit, type CaptureReader, type CaptureRecord, type CaptureWriter,
} from './capture.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

/** True when the first four bytes are a pcap magic in either byte order. */
export function isPcapMagic(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  const be = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const le = ((b[3]! << 24) | (b[2]! << 16) | (b[1]! << 8) | b[0]!) >>> 0;
  return be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS || le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS;
}

/** Streams the records of a pcap file (or bytes). */
export class PcapReader implements CaptureReader {
  readonly format = 'pcap' as const;
  readonly interfaces: CaptureInterface[];
  /** True when the file is little-endian. */
  readonly littleEndian: boolean;
  readonly nanosecond: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  private readonly frac: bigint;

  constructor(private readonly src: ByteSource) {
    const file = src.file;
    if (!src.ensure(4)) throw new CaptureError(file, 0, `not a capture: file is ${src.available} bytes, shorter than a pcap magic`);
    const le = src.u32(0, true);
    if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) this.littleEndian = true;
    else if (src.u32(0, false) === PCAP_MAGIC_US || src.u32(0, false) === PCAP_MAGIC_NS) this.littleEndian = false;
    else throw new CaptureError(file, 0, `not a pcap file: magic 0x${src.u32(0, false).toString(16).padStart(8, '0')}`);
    this.nanosecond = src.u32(0, this.littleEndian) === PCAP_MAGIC_NS;
    if (!src.ensure(GLOBAL_HEADER)) throw new CaptureError(file, src.available, `truncated pcap global header: ${src.available} of ${GLOBAL_HEADER} bytes`);
    const l = this.littleEndian;
    this.versionMajor = src.u16(4, l);
    this.versionMinor = src.u16(6, l);
    if (this.versionMajor !== 2) throw new CaptureError(file, 4, `unsupported pcap version ${this.versionMajor}.${this.versionMinor}`);
    const snapLen = src.u32(16, l);
    const network = src.u32(20, l);
    // LinkType field: low 16 bits the link type; bit 28 says bits 29-31 hold the FCS length in 16-bit words.
    const iface: CaptureInterface = {
      linkType: network & 0xffff,
      snapLen,
      tsUnitsPerSec: this.nanosecond ? 1_000_000_000n : 1_000_000n,
      tsOffsetSec: 0n,
    };
    if (network & 0x10000000) iface.fcsLen = ((network >>> 29) & 7) * 2;
    this.interfaces = [iface];
    this.frac = this.nanosecond ? 1n : 1000n;
    src.advance(GLOBAL_HEADER);
  }

  /** Opens a file; `chunkSize` bounds the memory used however large the file. */
  static open(path: string, chunkSize?: number): PcapReader {
    const src = ByteSource.fromFile(path, chunkSize);
    try { return new PcapReader(src); } catch (e) { src.close(); throw e; }
  }

  static fromBytes(bytes: Uint8Array, name?: string): PcapReader {
    return new PcapReader(ByteSource.fromBytes(bytes, name));
  }

  get file(): string { return this.src.file; }

  next(): CaptureRecord | null {
    const src = this.src;
    if (!src.ensure(RECORD_HEADER)) {
      if (src.available === 0) return null;
      throw new CaptureError(src.file, src.pos, `truncated record header: ${src.available} of ${RECORD_HEADER} bytes`);
    }
    const l = this.littleEndian;
    const sec = src.u32(0, l);
    const frac = src.u32(4, l);
    const incl = src.u32(8, l);
    const orig = src.u32(12, l);
    const offset = src.pos;
    if (incl > MAX_RECORD) throw new CaptureError(src.file, offset, `record length ${incl} exceeds the maximum ${MAX_RECORD} (corrupt file?)`);
    if (!src.ensure(RECORD_HEADER + incl)) {
      throw new CaptureError(src.file, offset, `truncated record: header says ${incl} captured bytes, ${src.available - RECORD_HEADER} present`);
    }
    const data = src.bytes(RECORD_HEADER, incl);
    src.advance(RECORD_HEADER + incl);
    return { tsNs: BigInt(sec) * 1_000_000_000n + BigInt(frac) * this.frac, iface: 0, origLen: orig, data, offset };
  }

  *[Symbol.iterator](): Iterator<CaptureRecord> {
    for (let r = this.next(); r !== null; r = this.next()) yield r;
  }

  close(): void { this.src.close(); }
}

export interface PcapWriterInit {
  linkType: number;
  snapLen?: number;
  /** Nanosecond timestamps (magic a1b23c4d); default microsecond. */
  nanosecond?: boolean;
  /** Write big-endian (default: little-endian, as tcpdump on x86). */
  bigEndian?: boolean;
}

/** Writes a pcap file record by record. */
export class PcapWriter implements CaptureWriter {
  readonly format = 'pcap' as const;
  private readonly hdr = new Uint8Array(RECORD_HEADER);
  private readonly hv = new DataView(this.hdr.buffer);
  private readonly le: boolean;
  private readonly units: bigint;
  readonly linkType: number;
  readonly snapLen: number;
  readonly nanosecond: boolean;

  /**
   * @example
   * const w = PcapWriter.create('out.pcap', { linkType: LINKTYPE_ETHERNET, nanosecond: true });
   * w.write(0, 1700000000_000000001n, frame);
   * w.close();
   */
  constructor(private readonly sink: ByteSink, init: PcapWriterInit, writeHeader = true) {
    this.le = !init.bigEndian;
    this.nanosecond = init.nanosecond ?? false;
    this.units = this.nanosecond ? 1_000_000_000n : 1_000_000n;
    this.linkType = init.linkType;
    this.snapLen = init.snapLen ?? 262144;
    if (!writeHeader) return;
    const g = new Uint8Array(GLOBAL_HEADER);
    const v = new DataView(g.buffer);
    v.setUint32(0, this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, this.le);
    v.setUint16(4, 2, this.le);
    v.setUint16(6, 4, this.le);
    v.setUint32(16, this.snapLen, this.le);
    v.setUint32(20, init.linkType, this.le);
    sink.write(g);
  }

  /** Creates (truncates) `path`. */
  static create(path: string, init: PcapWriterInit): PcapWriter {
    return new PcapWriter(new FileSink(path), init);
  }

  /**
   * Appends to an existing pcap file, keeping its byte order and resolution; the link type must
   * match. A missing or empty file is created with `init`.
   */
  static append(path: string, init: PcapWriterInit): PcapWriter {
    let existing: PcapReader | null = null;
    try { existing = PcapReader.open(path, 64); } catch (e) {
      if (!(e instanceof Error && 'code' in e && e.code === 'ENOENT') && !(e instanceof CaptureError && e.offset === 0 && /shorter/.test(e.reason))) throw e;
    }
    if (existing === null) return PcapWriter.create(path, init);
    const found = existing.interfaces[0]!;
    const le = existing.littleEndian;
    const ns = existing.nanosecond;
    existing.close();
    if (found.linkType !== init.linkType) throw new CaptureError(path, 20, `cannot append link type ${init.linkType} to a pcap of link type ${found.linkType}`);
    return new PcapWriter(new FileSink(path, true), { linkType: found.linkType, snapLen: found.snapLen, nanosecond: ns, bigEndian: !le }, false);
  }

  /** Writes into memory; read the result with `sink.bytes()`. */
  static inMemory(init: PcapWriterInit): { writer: PcapWriter; sink: MemorySink } {
    const sink = new MemorySink();
    return { writer: new PcapWriter(sink, init), sink };
  }

  /** pcap holds one interface: the first call returns 0, later ones must agree on the link type. */
  addInterface(iface: CaptureInterfaceInit): number {
    if (iface.linkType !== this.linkType) throw new RangeError(`pcap holds one link type (${this.linkType}); interface of link type ${iface.linkType} cannot be added`);
    return 0;
  }

  write(iface: number, tsNs: bigint, data: Uint8Array, origLen = data.length): void {
    if (iface !== 0) throw new RangeError(`pcap has one interface (0), got ${iface}`);
    const [sec, frac] = splitTs(tsNs, this.units);
    const v = this.hv;
    v.setUint32(0, Number(sec & 0xffffffffn), this.le);
    v.setUint32(4, Number(frac), this.le);
    v.setUint32(8, data.length, this.le);
    v.setUint32(12, Math.max(origLen, data.length), this.le);
    this.sink.write(this.hdr);
    this.sink.write(data);
  }

  close(): void { this.sink.close(); }
}
