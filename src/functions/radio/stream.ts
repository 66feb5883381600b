/**
 * Per-stream sample buffers for functions that serve several antennas at once: each stream id
 * gets its own linear buffer of interleaved cf32 samples, the absolute sample index of its first
 * element, and a gap check (a frame whose index is not the next expected one restarts the buffer,
 * since a receiver cannot correlate across missing samples).
 *
 * @example
 * const t = new StreamTable(8, 16384);
 * const s = t.get(7);            // null when 8 streams are already tracked
 * s.append(h, pool.view, pool.bytes);      // after parseIqHeader
 */
import { IqHeader, readIqSamples } from './iq.js';

export class StreamBuffer {
  /** Interleaved samples; valid complex range [0, len). */
  readonly buf: Float32Array;
  private readonly bytes: Uint8Array;
  len = 0;
  /** Absolute sample index of buf[0]. */
  base = 0;
  /** Next expected absolute index (−1 before the first frame). */
  next = -1;
  gaps = 0;
  samples = 0;

  constructor(
    readonly id: number,
    readonly capacity: number,
  ) {
    this.buf = new Float32Array(2 * capacity);
    this.bytes = new Uint8Array(this.buf.buffer);
  }

  /** Appends a frame's samples; returns true when a gap (or overflow) reset the buffer first. */
  append(h: IqHeader, dv: DataView, src?: Uint8Array): boolean {
    let reset = false;
    if (this.next >= 0 && h.sampleIndex !== this.next) {
      this.gaps++;
      reset = true;
    }
    if (this.next < 0 || reset || this.len + h.count > this.capacity) {
      if (!reset && this.next >= 0) {
        // Overflow: the consumer keeps what it needs by calling discard(); drop the oldest half.
        this.discard(Math.max(h.count, this.len - (this.capacity >> 1)));
      }
      if (reset || this.next < 0) {
        this.len = 0;
        this.base = h.sampleIndex;
      }
    }
    if (h.count > this.capacity) return true;
    readIqSamples(dv, h, this.buf, this.len, src, this.bytes);
    this.len += h.count;
    this.next = h.sampleIndex + h.count;
    this.samples += h.count;
    return reset;
  }

  /** Forgets the oldest `n` samples. */
  discard(n: number): void {
    const k = Math.min(n, this.len);
    if (k <= 0) return;
    this.buf.copyWithin(0, 2 * k, 2 * this.len);
    this.len -= k;
    this.base += k;
  }
}

/** Stream id → buffer, bounded by `maxStreams`. */
export class StreamTable {
  private readonly map = new Map<number, StreamBuffer>();
  constructor(
    readonly maxStreams: number,
    readonly capacity: number,
  ) {}

  get(id: number): StreamBuffer | null {
    let s = this.map.get(id);
    if (s) return s;
    if (this.map.size >= this.maxStreams) return null;
    s = new StreamBuffer(id, this.capacity);
    this.map.set(id, s);
    return s;
  }

  get size(): number {
    return this.map.size;
  }

  all(): StreamBuffer[] {
    return [...this.map.values()].sort((a, b) => a.id - b.id);
  }

  clear(): void {
    this.map.clear();
  }
}
