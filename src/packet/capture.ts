/**
 * What pcap and pcapng share: the record and interface types, the typed error, a chunked byte
 * source (so a capture larger than memory streams through a fixed window) and a buffered sink.
 *
 * @example
 * const src = ByteSource.fromFile('trace.pcap');
 * if (src.ensure(24)) console.log(src.u8(0));
 */
import { closeSync, openSync, readSync, writeSync, fstatSync } from 'node:fs';

/** Link types (LINKTYPE_* of tcpdump.org) that swnet writes and names. */
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_LINUX_SLL2 = 276;

/** One captured frame. */
export interface CaptureRecord {
  /** Capture time in nanoseconds since the Unix epoch (0n for a pcapng Simple Packet Block, which has none). */
  tsNs: bigint;
  /** Index into the reader's `interfaces` (counted across pcapng sections; always 0 for pcap). */
  iface: number;
  /** Length of the frame on the wire (may exceed `data.length` when the snap length cut it). */
  origLen: number;
  /**
   * The captured bytes. A view into the reader's window: valid until the next record is read.
   * Copy it (`data.slice()`) to keep it.
   */
  data: Uint8Array;
  /** Byte offset of the record (pcap record header or pcapng block) in the file. */
  offset: number;
}

/** An interface a capture was taken on. */
export interface CaptureInterface {
  /** LINKTYPE_* value (1 = Ethernet). */
  linkType: number;
  /** Snap length (0 = unlimited). */
  snapLen: number;
  /** Timestamp resolution as units per second: 1e6 (µs), 1e9 (ns), or any if_tsresol value. */
  tsUnitsPerSec: bigint;
  /** Seconds added to every timestamp (pcapng if_tsoffset). */
  tsOffsetSec: bigint;
  /** Interface name (pcapng if_name), when known. */
  name?: string;
  /** Interface description (pcapng if_description), when known. */
  description?: string;
  /** Bytes of FCS at the end of each frame, when known (pcap FCS bits, pcapng if_fcslen). */
  fcsLen?: number;
}

/** What a writer needs to know about an interface. */
export interface CaptureInterfaceInit {
  linkType: number;
  snapLen?: number;
  /** Write nanosecond timestamps (default true for pcapng, false for pcap). */
  nanosecond?: boolean;
  name?: string;
  description?: string;
}

/**
 * A file that is not a well-formed capture: names the file and the byte offset of the fault.
 *
 * @example
 * try { for (const r of openCapture(f)) use(r); } catch (e) { if (e instanceof CaptureError) console.error(e.file, e.offset, e.reason); }
 */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  constructor(readonly file: string, readonly offset: number, readonly reason: string) {
    super(`${file}: byte offset ${offset}: ${reason}`);
  }
}

/** Records larger than this are refused as corrupt rather than allocated (Wireshark uses 256 KiB for most link types; we allow large GSO frames). */
export const MAX_RECORD = 64 * 1024 * 1024;

/** The reading side every format shares. */
export interface CaptureReader extends Iterable<CaptureRecord> {
  readonly format: 'pcap' | 'pcapng';
  readonly file: string;
  /** Interfaces seen so far (a pcapng file may declare more as it goes). */
  readonly interfaces: readonly CaptureInterface[];
  /** The next record, or null at the end of the capture. Throws CaptureError on a malformed file. */
  next(): CaptureRecord | null;
  close(): void;
}

/** The writing side every format shares. */
export interface CaptureWriter {
  readonly format: 'pcap' | 'pcapng';
  /** Declares an interface and returns its index for `write`. */
  addInterface(iface: CaptureInterfaceInit): number;
  /** Appends one record. `origLen` defaults to `data.length`. */
  write(iface: number, tsNs: bigint, data: Uint8Array, origLen?: number): void;
  /** Flushes buffered records and closes the file. */
  close(): void;
}

/**
 * A window over a file (read with readSync in chunks) or over bytes in memory. Offsets given to
 * the accessors are relative to `pos`, the current absolute file offset.
 */
export class ByteSource {
  buf: Uint8Array;
  view: DataView;
  /** Absolute file offset of buf[start]. */
  pos = 0;
  start = 0;
  end = 0;
  private eof = false;
  private ownFd = true;

  private constructor(readonly file: string, private fd: number, initial: Uint8Array, private readonly chunk: number) {
    this.buf = initial;
    this.view = new DataView(initial.buffer, initial.byteOffset, initial.byteLength);
    if (fd < 0) { this.end = initial.length; this.eof = true; }
  }

  /** Streams `path` through a window of `chunkSize` bytes (grown only for a record larger than it). */
  static fromFile(path: string, chunkSize = 1 << 20): ByteSource {
    const fd = openSync(path, 'r');
    const size = Math.max(64, chunkSize);
    return new ByteSource(path, fd, new Uint8Array(size), size);
  }

  /**
   * Streams an open file descriptor (a pipe such as `tcpdump -w - | swnet pcap inspect -` too);
   * `close()` closes it unless `ownFd` is false.
   */
  static fromFd(fd: number, name: string, chunkSize = 1 << 20, ownFd = true): ByteSource {
    const size = Math.max(64, chunkSize);
    const src = new ByteSource(name, fd, new Uint8Array(size), size);
    src.ownFd = ownFd;
    return src;
  }

  static fromBytes(bytes: Uint8Array, name = '<memory>'): ByteSource {
    return new ByteSource(name, -1, bytes, bytes.length);
  }

  /** Bytes available from `pos` without reading. */
  get available(): number { return this.end - this.start; }

  /** Makes `n` bytes from `pos` available; false when the file ends first. */
  ensure(n: number): boolean {
    if (this.end - this.start >= n) return true;
    if (this.eof) return false;
    if (this.start + n > this.buf.length) {
      const keep = this.end - this.start;
      if (n > this.buf.length) {
        const bigger = new Uint8Array(Math.max(n, this.buf.length * 2));
        bigger.set(this.buf.subarray(this.start, this.end));
        this.buf = bigger;
        this.view = new DataView(bigger.buffer);
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = keep;
    }
    while (this.end - this.start < n) {
      const want = Math.max(this.buf.length - this.end, 0);
      const got = want > 0 ? readRetry(this.fd, this.buf, this.end, Math.min(want, Math.max(this.chunk, n))) : 0;
      if (got === 0) { this.eof = true; return false; }
      this.end += got;
    }
    return true;
  }

  /** True when no byte follows `pos`. */
  atEnd(): boolean { return !this.ensure(1); }

  advance(n: number): void { this.start += n; this.pos += n; }

  u8(off: number): number { return this.buf[this.start + off] ?? 0; }
  u16(off: number, le: boolean): number { return this.view.getUint16(this.start + off, le); }
  u32(off: number, le: boolean): number { return this.view.getUint32(this.start + off, le); }
  bytes(off: number, len: number): Uint8Array { return this.buf.subarray(this.start + off, this.start + off + len); }

  /** Size of the underlying file (or byte array). */
  size(): number { return this.fd >= 0 ? fstatSync(this.fd).size : this.buf.length; }

  close(): void {
    if (this.fd >= 0 && this.ownFd) closeSync(this.fd);
    this.fd = -1;
    this.eof = true;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** readSync that waits on a non-blocking pipe with nothing to read yet (EAGAIN) instead of failing. */
function readRetry(fd: number, buf: Uint8Array, off: number, len: number): number {
  for (;;) {
    try {
      return readSync(fd, buf, off, len, null);
    } catch (e) {
      if (!(e instanceof Error && 'code' in e && e.code === 'EAGAIN')) throw e;
      Atomics.wait(sleeper, 0, 0, 5);
    }
  }
}

/** Where a writer's bytes go. */
export interface ByteSink {
  write(bytes: Uint8Array): void;
  close(): void;
}

/**
 * Collects written bytes in memory (tests, in-process capture).
 *
 * @example
 * const sink = new MemorySink();
 * const w = new PcapWriter(sink, { linkType: 1 });
 * w.write(0, 0n, frame);
 * const bytes = sink.bytes();
 */
export class MemorySink implements ByteSink {
  private parts: Uint8Array[] = [];
  private total = 0;
  write(bytes: Uint8Array): void { this.parts.push(bytes.slice()); this.total += bytes.length; }
  close(): void { /* nothing to release */ }
  /** Everything written so far, as one array. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.total);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

/**
 * Writes to a file through a buffer, so each record costs no system call.
 *
 * @example
 * const w = new PcapngWriter(new FileSink('out.pcapng', true)); // appends a section
 */
export class FileSink implements ByteSink {
  private fd: number;
  private readonly buf: Uint8Array;
  private used = 0;
  constructor(path: string, append = false, bufferSize = 1 << 16) {
    this.fd = openSync(path, append ? 'a' : 'w');
    this.buf = new Uint8Array(bufferSize);
  }
  write(bytes: Uint8Array): void {
    if (bytes.length > this.buf.length - this.used) {
      this.flush();
      if (bytes.length > this.buf.length) { writeAll(this.fd, bytes); return; }
    }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }
  flush(): void {
    if (this.used > 0) writeAll(this.fd, this.buf.subarray(0, this.used));
    this.used = 0;
  }
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let o = 0;
  while (o < bytes.length) o += writeSync(fd, bytes, o, bytes.length - o);
}

/** Splits nanoseconds since the epoch into whole seconds and the remainder in `unitsPerSec`. */
export function splitTs(tsNs: bigint, unitsPerSec: bigint): [bigint, bigint] {
  const sec = tsNs / 1_000_000_000n;
  const rem = tsNs - sec * 1_000_000_000n;
  return [sec, (rem * unitsPerSec) / 1_000_000_000n];
}
