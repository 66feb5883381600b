/**
 * pcapng (draft-ietf-opsawg-pcapng): a sequence of blocks, each `type, total length, body,
 * total length`. A Section Header Block fixes the byte order of its section (its magic
 * 0x1A2B3C4D read in either order) and resets the interface list; Interface Description
 * Blocks declare link type, snap length and timestamp resolution (if_tsresol); packets come as
 * Enhanced (EPB), Simple (SPB) or obsolete Packet Blocks. Other blocks are skipped by length.
 *
 * @example
 * const r = PcapngReader.open('trace.pcapng');
 * for (const rec of r) console.log(r.interfaces[rec.iface]?.name, rec.tsNs, rec.data.length);
 * r.close();
 */
import {
  ByteSource, CaptureError, FileSink, MAX_RECORD, MemorySink,
  type ByteSink, type CaptureInterface, type CaptureInterfaceInit, type CaptureReader, type CaptureRecord, type CaptureWriter,
} from './capture.js';

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_PB = 0x00000002;
export const BT_SPB = 0x00000003;
export const BT_NRB = 0x00000004;
export const BT_ISB = 0x00000005;
export const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_ENDOFOPT = 0;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const IF_FCSLEN = 13;
const IF_TSOFFSET = 14;

const NS = 1_000_000_000n;
const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8enc = new TextEncoder();

/** True when the bytes start with a pcapng Section Header Block. */
export function isPcapngMagic(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x0a && b[1] === 0x0d && b[2] === 0x0d && b[3] === 0x0a;
}

interface IfaceState {
  /** Nanoseconds per unit when integral (fast path), else 0n. */
  mult: bigint;
  units: bigint;
  offsetNs: bigint;
  snapLen: number;
}

/** Streams the packets of a pcapng file (or bytes), across all its sections. */
export class PcapngReader implements CaptureReader {
  readonly format = 'pcapng' as const;
  readonly interfaces: CaptureInterface[] = [];
  /** Number of sections (SHBs) read so far. */
  sections = 0;
  /** Application that wrote the current section (shb_userappl), when given. */
  userAppl: string | undefined;
  private le = true;
  /** Index in `interfaces` of interface 0 of the current section. */
  private base = 0;
  private readonly state: IfaceState[] = [];

  constructor(private readonly src: ByteSource) {
    if (!src.ensure(4) || !isPcapngMagic(src.bytes(0, 4))) {
      const got = src.ensure(4) ? `0x${src.u32(0, false).toString(16).padStart(8, '0')}` : `${src.available} bytes`;
      throw new CaptureError(src.file, 0, `not a pcapng file: expected a Section Header Block (0x0a0d0d0a), got ${got}`);
    }
  }

  static open(path: string, chunkSize?: number): PcapngReader {
    const src = ByteSource.fromFile(path, chunkSize);
    try { return new PcapngReader(src); } catch (e) { src.close(); throw e; }
  }

  static fromBytes(bytes: Uint8Array, name?: string): PcapngReader {
    return new PcapngReader(ByteSource.fromBytes(bytes, name));
  }

  get file(): string { return this.src.file; }

  next(): CaptureRecord | null {
    const src = this.src;
    for (;;) {
      if (!src.ensure(8)) {
        if (src.available === 0) return null;
        throw this.err(0, `truncated block header: ${src.available} of 8 bytes`);
      }
      const offset = src.pos;
      const type = src.u32(0, this.le);
      if (type === BT_SHB) {
        if (!src.ensure(12)) throw this.err(0, `truncated Section Header Block: ${src.available} of 12 bytes`);
        const bom = src.u32(8, true);
        if (bom === BYTE_ORDER_MAGIC) this.le = true;
        else if (src.u32(8, false) === BYTE_ORDER_MAGIC) this.le = false;
        else throw this.err(8, `bad byte-order magic 0x${src.u32(8, false).toString(16).padStart(8, '0')} in Section Header Block`);
      }
      const len = src.u32(4, this.le);
      if (len < 12 || len % 4 !== 0) throw this.err(4, `bad block length ${len} (must be a multiple of 4, at least 12)`);
      if (len > MAX_RECORD) throw this.err(4, `block length ${len} exceeds the maximum ${MAX_RECORD} (corrupt file?)`);
      if (!src.ensure(len)) throw this.err(0, `truncated block: length ${len}, ${src.available} bytes present`);
      const trailer = src.u32(len - 4, this.le);
      if (trailer !== len) throw this.err(len - 4, `block length ${len} at the start disagrees with ${trailer} at the end`);
      let rec: CaptureRecord | null = null;
      switch (type) {
        case BT_SHB: this.readShb(len); break;
        case BT_IDB: this.readIdb(len); break;
        case BT_EPB: rec = this.readEpb(len, offset); break;
        case BT_SPB: rec = this.readSpb(len, offset); break;
        case BT_PB: rec = this.readPb(len, offset); break;
        default: break; // NRB, ISB, DSB, custom and future blocks: skipped by their length.
      }
      src.advance(len);
      if (rec !== null) return rec;
    }
  }

  *[Symbol.iterator](): Iterator<CaptureRecord> {
    for (let r = this.next(); r !== null; r = this.next()) yield r;
  }

  close(): void { this.src.close(); }

  private err(rel: number, reason: string): CaptureError {
    return new CaptureError(this.src.file, this.src.pos + rel, reason);
  }

  private readShb(len: number): void {
    if (len < 28) throw this.err(4, `Section Header Block of ${len} bytes, at least 28 needed`);
    const major = this.src.u16(12, this.le);
    if (major !== 1) throw this.err(12, `unsupported pcapng version ${major}.${this.src.u16(14, this.le)}`);
    this.sections++;
    this.base = this.interfaces.length;
    this.state.length = 0;
    this.userAppl = undefined;
    this.options(24, len - 4, (code, o, l) => {
      if (code === SHB_USERAPPL) this.userAppl = utf8.decode(this.src.bytes(o, l));
    });
  }

  private readIdb(len: number): void {
    if (this.sections === 0) throw this.err(0, 'Interface Description Block before any Section Header Block');
    if (len < 20) throw this.err(4, `Interface Description Block of ${len} bytes, at least 20 needed`);
    const src = this.src;
    const iface: CaptureInterface = { linkType: src.u16(8, this.le), snapLen: src.u32(12, this.le), tsUnitsPerSec: 1_000_000n, tsOffsetSec: 0n };
    this.options(16, len - 4, (code, o, l) => {
      if (code === IF_NAME) iface.name = utf8.decode(src.bytes(o, l)).replace(/\0+$/, '');
      else if (code === IF_DESCRIPTION) iface.description = utf8.decode(src.bytes(o, l)).replace(/\0+$/, '');
      else if (code === IF_TSRESOL && l >= 1) {
        const v = src.u8(o);
        // High bit set: a negative power of 2, else of 10 (the if_tsresol encoding).
        iface.tsUnitsPerSec = v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
      } else if (code === IF_TSOFFSET && l >= 8) {
        // 64-bit signed seconds in the section's byte order.
        const first = BigInt(src.u32(o, this.le));
        const second = BigInt(src.u32(o + 4, this.le));
        iface.tsOffsetSec = BigInt.asIntN(64, this.le ? (second << 32n) | first : (first << 32n) | second);
      } else if (code === IF_FCSLEN && l >= 1) iface.fcsLen = src.u8(o);
    });
    this.interfaces.push(iface);
    const units = iface.tsUnitsPerSec;
    this.state.push({ mult: NS % units === 0n ? NS / units : 0n, units, offsetNs: iface.tsOffsetSec * NS, snapLen: iface.snapLen });
  }

  /** Walks options in [from, to) (relative to the block), each `code, length, value padded to 4`. */
  private options(from: number, to: number, fn: (code: number, off: number, len: number) => void): void {
    let o = from;
    while (o + 4 <= to) {
      const code = this.src.u16(o, this.le);
      const l = this.src.u16(o + 2, this.le);
      if (code === OPT_ENDOFOPT) return;
      if (o + 4 + l > to) throw this.err(o, `option ${code} of length ${l} runs past the end of its block`);
      fn(code, o + 4, l);
      o += 4 + ((l + 3) & ~3);
    }
  }

  private ts(st: IfaceState, hi: number, lo: number): bigint {
    const u = (BigInt(hi) << 32n) | BigInt(lo);
    return (st.mult !== 0n ? u * st.mult : (u * NS) / st.units) + st.offsetNs;
  }

  private iface(id: number, at: number): IfaceState {
    const st = this.state[id];
    if (st === undefined) throw this.err(at, `packet on interface ${id}, but the section declares ${this.state.length} interface(s)`);
    return st;
  }

  private readEpb(len: number, offset: number): CaptureRecord {
    if (len < 32) throw this.err(4, `Enhanced Packet Block of ${len} bytes, at least 32 needed`);
    const src = this.src;
    const id = src.u32(8, this.le);
    const st = this.iface(id, 8);
    const cap = src.u32(20, this.le);
    if (28 + cap > len - 4) throw this.err(20, `captured length ${cap} exceeds the Enhanced Packet Block of ${len} bytes`);
    return { tsNs: this.ts(st, src.u32(12, this.le), src.u32(16, this.le)), iface: this.base + id, origLen: src.u32(24, this.le), data: src.bytes(28, cap), offset };
  }

  private readPb(len: number, offset: number): CaptureRecord {
    if (len < 32) throw this.err(4, `Packet Block of ${len} bytes, at least 32 needed`);
    const src = this.src;
    const id = src.u16(8, this.le);
    const st = this.iface(id, 8);
    const cap = src.u32(20, this.le);
    if (28 + cap > len - 4) throw this.err(20, `captured length ${cap} exceeds the Packet Block of ${len} bytes`);
    return { tsNs: this.ts(st, src.u32(12, this.le), src.u32(16, this.le)), iface: this.base + id, origLen: src.u32(24, this.le), data: src.bytes(28, cap), offset };
  }

  private readSpb(len: number, offset: number): CaptureRecord {
    if (len < 16) throw this.err(4, `Simple Packet Block of ${len} bytes, at least 16 needed`);
    const st = this.iface(0, 0);
    const orig = this.src.u32(8, this.le);
    // The captured length is implied: the original length cut by the snap length and the block.
    let cap = Math.min(orig, len - 16);
    if (st.snapLen > 0) cap = Math.min(cap, st.snapLen);
    return { tsNs: 0n, iface: this.base, origLen: orig, data: this.src.bytes(12, cap), offset };
  }
}

export interface PcapngWriterInit {
  /** Write big-endian sections (default little-endian). */
  bigEndian?: boolean;
  /** shb_userappl (default "swnet"). */
  userAppl?: string;
  /** Interfaces to declare at once (more can be added with addInterface). */
  interfaces?: CaptureInterfaceInit[];
}

/** Writes a pcapng section: SHB, then IDBs and EPB/SPB blocks as they come. */
export class PcapngWriter implements CaptureWriter {
  readonly format = 'pcapng' as const;
  private readonly le: boolean;
  private scratch = new Uint8Array(2048);
  private view = new DataView(this.scratch.buffer);
  private readonly ifaces: { units: bigint; snapLen: number }[] = [];

  /**
   * @example
   * const w = PcapngWriter.create('out.pcapng', { interfaces: [{ linkType: 1, name: 'veth0' }] });
   * w.write(0, 1700000000_000000001n, frame);
   * w.close();
   */
  constructor(private readonly sink: ByteSink, init: PcapngWriterInit = {}) {
    this.le = !init.bigEndian;
    const appl = utf8enc.encode(init.userAppl ?? 'swnet');
    const o = this.begin(BT_SHB, 28 + optLen(appl.length) + 4);
    const v = this.view;
    v.setUint32(8, BYTE_ORDER_MAGIC, this.le);
    v.setUint16(12, 1, this.le);
    v.setUint16(14, 0, this.le);
    v.setInt32(16, -1, this.le); // section length unknown (-1, 64 bits)
    v.setInt32(20, -1, this.le);
    let p = this.opt(24, SHB_USERAPPL, appl);
    p = this.endOpts(p);
    this.finish(o, p);
    for (const i of init.interfaces ?? []) this.addInterface(i);
  }

  static create(path: string, init?: PcapngWriterInit): PcapngWriter {
    return new PcapngWriter(new FileSink(path), init);
  }

  /** Appends a new section to `path` (a pcapng file may hold several; readers see them in turn). */
  static append(path: string, init?: PcapngWriterInit): PcapngWriter {
    return new PcapngWriter(new FileSink(path, true), init);
  }

  static inMemory(init?: PcapngWriterInit): { writer: PcapngWriter; sink: MemorySink } {
    const sink = new MemorySink();
    return { writer: new PcapngWriter(sink, init), sink };
  }

  addInterface(iface: CaptureInterfaceInit): number {
    const name = iface.name !== undefined ? utf8enc.encode(iface.name) : null;
    const desc = iface.description !== undefined ? utf8enc.encode(iface.description) : null;
    const ns = iface.nanosecond ?? true;
    const total = 20 + (name ? optLen(name.length) : 0) + (desc ? optLen(desc.length) : 0) + (ns ? 8 : 0) + 4 + 4;
    const o = this.begin(BT_IDB, total);
    const v = this.view;
    v.setUint16(8, iface.linkType, this.le);
    v.setUint16(10, 0, this.le);
    const snap = iface.snapLen ?? 262144;
    v.setUint32(12, snap, this.le);
    let p = 16;
    if (name) p = this.opt(p, IF_NAME, name);
    if (desc) p = this.opt(p, IF_DESCRIPTION, desc);
    if (ns) p = this.opt(p, IF_TSRESOL, Uint8Array.of(9));
    p = this.endOpts(p);
    this.finish(o, p);
    this.ifaces.push({ units: ns ? 1_000_000_000n : 1_000_000n, snapLen: snap });
    return this.ifaces.length - 1;
  }

  write(iface: number, tsNs: bigint, data: Uint8Array, origLen = data.length): void {
    const st = this.ifaces[iface];
    if (st === undefined) throw new RangeError(`interface ${iface} not declared (${this.ifaces.length} declared)`);
    const total = 28 + pad4(data.length) + 4;
    const o = this.begin(BT_EPB, total);
    const v = this.view;
    const u = st.units === NS ? tsNs : (tsNs * st.units) / NS;
    v.setUint32(8, iface, this.le);
    v.setUint32(12, Number((u >> 32n) & 0xffffffffn), this.le);
    v.setUint32(16, Number(u & 0xffffffffn), this.le);
    v.setUint32(20, data.length, this.le);
    v.setUint32(24, Math.max(origLen, data.length), this.le);
    this.scratch.set(data, 28);
    this.scratch.fill(0, 28 + data.length, 28 + pad4(data.length));
    this.finish(o, 28 + pad4(data.length));
  }

  /** Appends a Simple Packet Block (no timestamp, interface 0; `data` no longer than its snap length). */
  writeSimple(data: Uint8Array, origLen = data.length): void {
    const st = this.ifaces[0];
    if (st === undefined) throw new RangeError('a Simple Packet Block needs interface 0 declared');
    if (st.snapLen > 0 && data.length > st.snapLen) throw new RangeError(`${data.length} bytes exceed interface 0's snap length ${st.snapLen}`);
    const o = this.begin(BT_SPB, 12 + pad4(data.length) + 4);
    this.view.setUint32(8, Math.max(origLen, data.length), this.le);
    this.scratch.set(data, 12);
    this.scratch.fill(0, 12 + data.length, 12 + pad4(data.length));
    this.finish(o, 12 + pad4(data.length));
  }

  close(): void { this.sink.close(); }

  private begin(type: number, total: number): number {
    if (total > this.scratch.length) {
      this.scratch = new Uint8Array(Math.max(total, this.scratch.length * 2));
      this.view = new DataView(this.scratch.buffer);
    }
    this.view.setUint32(0, type, this.le);
    return 0;
  }

  private opt(p: number, code: number, value: Uint8Array): number {
    this.view.setUint16(p, code, this.le);
    this.view.setUint16(p + 2, value.length, this.le);
    this.scratch.set(value, p + 4);
    this.scratch.fill(0, p + 4 + value.length, p + 4 + pad4(value.length));
    return p + 4 + pad4(value.length);
  }

  private endOpts(p: number): number {
    this.view.setUint32(p, 0, this.le);
    return p + 4;
  }

  /** Writes both length fields and hands the block to the sink. */
  private finish(o: number, bodyEnd: number): void {
    const total = bodyEnd + 4;
    this.view.setUint32(o + 4, total, this.le);
    this.view.setUint32(bodyEnd, total, this.le);
    this.sink.write(this.scratch.subarray(o, total));
  }
}

function pad4(n: number): number { return (n + 3) & ~3; }
function optLen(n: number): number { return 4 + pad4(n); }
