/**
 * Complex baseband samples as interleaved Float32Array ([i0, q0, i1, q1, …]), the IQ frame format
 * that carries them between network functions, a seeded RNG and the impairment stage (AWGN at a
 * chosen SNR, carrier frequency offset, timing offset) used by the generators' tests and benchmark.
 *
 * IQ frame (EtherType 0x88B5, IEEE 802 "local experimental 1"):
 *
 *   Ethernet: dst(6) src(6) type=0x88B5(2)
 *   IQ header (16 bytes, big endian): version(1)=1 · format(1) (0 = cf32_le, 1 = ci16_le) ·
 *     count(2) samples · stream id(4) · sample index(8) of the first sample in its stream
 *   samples: count × (8 bytes cf32 little endian | 4 bytes ci16 little endian, full scale 32767)
 *
 * @example
 * const f = encodeIqFrame(7, 0, samples, 0, 200);   // stream 7, samples 0..199
 * const h = new IqHeader(); parseIqHeader(f, 0, f.length, h) === IQ_OK; // h.streamId === 7
 */
export const IQ_ETHERTYPE = 0x88b5;
export const IQ_VERSION = 1;
export const IQ_HEADER = 16;
export const ETH_HEADER = 14;
/** Offset of the first sample in a frame. */
export const IQ_PAYLOAD = ETH_HEADER + IQ_HEADER;
export const IqFormat = { CF32: 0, CI16: 1 } as const;
export type IqFormatCode = (typeof IqFormat)[keyof typeof IqFormat];
/** Samples per frame that fit a 1920-byte pool slot in cf32 (the generators' default is 200). */
export const MAX_CF32_PER_FRAME = Math.floor((1920 - IQ_PAYLOAD) / 8);

export const IQ_OK = 0;
export const IQ_FOREIGN = 1;
export const IQ_MALFORMED = 2;

/** A parsed IQ header (reused across frames: no allocation per frame). */
export class IqHeader {
  format = 0;
  count = 0;
  streamId = 0;
  sampleIndex = 0;
  /** Byte offset of the first sample. */
  payload = 0;
}

const SRC_MAC = [0x02, 0x00, 0x00, 0x00, 0x5d, 0x01];

/**
 * Parses the Ethernet + IQ header at `off`: IQ_OK, IQ_FOREIGN (another EtherType) or
 * IQ_MALFORMED (bad version/format, or a count the frame does not hold). Never throws.
 */
export function parseIqHeader(b: Uint8Array, off: number, len: number, h: IqHeader): number {
  if (len < ETH_HEADER) return IQ_MALFORMED;
  if (((b[off + 12]! << 8) | b[off + 13]!) !== IQ_ETHERTYPE) return IQ_FOREIGN;
  if (len < IQ_PAYLOAD) return IQ_MALFORMED;
  const p = off + ETH_HEADER;
  if (b[p] !== IQ_VERSION) return IQ_MALFORMED;
  const format = b[p + 1]!;
  if (format !== IqFormat.CF32 && format !== IqFormat.CI16) return IQ_MALFORMED;
  const count = (b[p + 2]! << 8) | b[p + 3]!;
  const size = format === IqFormat.CF32 ? 8 : 4;
  if (count === 0 || IQ_PAYLOAD + count * size > len) return IQ_MALFORMED;
  h.format = format;
  h.count = count;
  h.streamId = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
  const hi = ((b[p + 8]! << 24) | (b[p + 9]! << 16) | (b[p + 10]! << 8) | b[p + 11]!) >>> 0;
  const lo = ((b[p + 12]! << 24) | (b[p + 13]! << 16) | (b[p + 14]! << 8) | b[p + 15]!) >>> 0;
  if (hi >= 0x200000) return IQ_MALFORMED; // beyond 2^53: not a sample index we can count
  h.sampleIndex = hi * 0x100000000 + lo;
  h.payload = off + IQ_PAYLOAD;
  return IQ_OK;
}

const LITTLE_ENDIAN = new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f;

/**
 * Copies the frame's samples as cf32 into `dst` at complex index `at`. `dv` views the frame's
 * buffer (e.g. the pool's view). With `bytes` (the same buffer as `bytes`, e.g. pool.bytes) and
 * `dstBytes` (a byte view over dst's buffer), cf32 frames on a little-endian host are one memcpy.
 */
export function readIqSamples(dv: DataView, h: IqHeader, dst: Float32Array, at: number, bytes?: Uint8Array, dstBytes?: Uint8Array): void {
  const n = h.count;
  let p = h.payload;
  let d = 2 * at;
  if (h.format === IqFormat.CF32) {
    if (LITTLE_ENDIAN && bytes && dstBytes) {
      dstBytes.set(bytes.subarray(p, p + 8 * n), dst.byteOffset - dstBytes.byteOffset + 8 * at);
      return;
    }
    for (let i = 0; i < 2 * n; i++, p += 4) dst[d++] = dv.getFloat32(p, true);
  } else {
    for (let i = 0; i < 2 * n; i++, p += 2) dst[d++] = dv.getInt16(p, true) / 32767;
  }
}

/** Writes an IQ frame into `b` at `off` (the caller checked room: IQ_PAYLOAD + count·size); returns its length. */
export function writeIqFrame(b: Uint8Array, off: number, streamId: number, sampleIndex: number, src: Float32Array, from: number, count: number, format: IqFormatCode = IqFormat.CF32): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < 6; i++) b[off + i] = 0xff;
  for (let i = 0; i < 6; i++) b[off + 6 + i] = SRC_MAC[i]!;
  b[off + 12] = IQ_ETHERTYPE >>> 8;
  b[off + 13] = IQ_ETHERTYPE & 0xff;
  const p = off + ETH_HEADER;
  b[p] = IQ_VERSION;
  b[p + 1] = format;
  dv.setUint16(p + 2, count);
  dv.setUint32(p + 4, streamId >>> 0);
  dv.setUint32(p + 8, Math.floor(sampleIndex / 0x100000000));
  dv.setUint32(p + 12, sampleIndex >>> 0);
  let q = off + IQ_PAYLOAD;
  if (format === IqFormat.CF32) {
    for (let i = 0; i < 2 * count; i++, q += 4) dv.setFloat32(q, src[2 * from + i]!, true);
  } else {
    for (let i = 0; i < 2 * count; i++, q += 2) dv.setInt16(q, Math.max(-32768, Math.min(32767, Math.round(src[2 * from + i]! * 32767))), true);
  }
  return q - off;
}

/**
 * One IQ frame as a new byte array (tests, generators, the UDP bridge).
 *
 * @example
 * encodeIqFrame(1, 400, samples, 400, 200); // samples 400..599 of stream 1
 */
export function encodeIqFrame(streamId: number, sampleIndex: number, src: Float32Array, from: number, count: number, format: IqFormatCode = IqFormat.CF32): Uint8Array {
  const out = new Uint8Array(IQ_PAYLOAD + count * (format === IqFormat.CF32 ? 8 : 4));
  writeIqFrame(out, 0, streamId, sampleIndex, src, from, count, format);
  return out;
}

/**
 * Cuts a sample buffer into IQ frames of `perFrame` samples (the last one shorter).
 *
 * @example
 * const frames = toIqFrames(3, samples, 200); // stream 3, indexes from 0
 */
export function toIqFrames(streamId: number, src: Float32Array, perFrame = 200, firstIndex = 0, format: IqFormatCode = IqFormat.CF32): Uint8Array[] {
  const n = src.length / 2;
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i += perFrame) out.push(encodeIqFrame(streamId, firstIndex + i, src, i, Math.min(perFrame, n - i), format));
  return out;
}

/**
 * A seeded generator (mulberry32) with Gaussian draws, so impairments are reproducible.
 *
 * @example
 * const r = new Rng(1); r.uniform(); r.gauss();
 */
export class Rng {
  private a: number;
  private spare = NaN;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  /** Standard normal (Box–Muller, the second value kept for the next call). */
  gauss(): number {
    if (!Number.isNaN(this.spare)) {
      const s = this.spare;
      this.spare = NaN;
      return s;
    }
    let u = this.uniform();
    while (u <= 1e-300) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/** Mean power of interleaved samples (over the nonzero span if `activeOnly`). */
export function meanPower(x: Float32Array, from = 0, to = x.length / 2): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[2 * i]! * x[2 * i]! + x[2 * i + 1]! * x[2 * i + 1]!;
  return to > from ? s / (to - from) : 0;
}

export interface Impairments {
  /** SNR in dB relative to `signalPower` (default: the mean power of the signal). */
  readonly snrDb?: number;
  readonly signalPower?: number;
  /** Carrier frequency offset in Hz (needs sampleRate). */
  readonly cfoHz?: number;
  readonly sampleRate?: number;
  /** Samples of noise before the signal (timing offset) and after it. */
  readonly leadSamples?: number;
  readonly tailSamples?: number;
  /** Initial carrier phase (radians). */
  readonly phase?: number;
  readonly seed?: number;
}

/**
 * The channel: delays the signal by `leadSamples` (noise only before it), rotates it by the CFO,
 * adds complex white Gaussian noise of power signalPower/10^(snr/10). Returns a new buffer.
 *
 * @example
 * const rx = impair(ppdu, { snrDb: 10, cfoHz: 50e3, sampleRate: 20e6, leadSamples: 333, seed: 7 });
 */
export function impair(x: Float32Array, imp: Impairments): Float32Array {
  const n = x.length / 2;
  const lead = imp.leadSamples ?? 0;
  const total = lead + n + (imp.tailSamples ?? 0);
  const y = new Float32Array(2 * total);
  const w = imp.cfoHz !== undefined && imp.sampleRate ? (2 * Math.PI * imp.cfoHz) / imp.sampleRate : 0;
  const ph0 = imp.phase ?? 0;
  for (let i = 0; i < n; i++) {
    const ph = ph0 + w * (lead + i);
    const c = Math.cos(ph);
    const s = Math.sin(ph);
    const re = x[2 * i]!;
    const im = x[2 * i + 1]!;
    y[2 * (lead + i)] = re * c - im * s;
    y[2 * (lead + i) + 1] = re * s + im * c;
  }
  if (imp.snrDb !== undefined) {
    const p = imp.signalPower ?? meanPower(x);
    const sigma = Math.sqrt(p / 10 ** (imp.snrDb / 10) / 2);
    const r = new Rng(imp.seed ?? 1);
    for (let i = 0; i < 2 * total; i++) y[i] = y[i]! + sigma * r.gauss();
  }
  return y;
}

/** Concatenates sample buffers. */
export function concatSamples(parts: readonly Float32Array[]): Float32Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Float32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** EtherType of result frames (IEEE 802 local experimental 2): a UTF-8 JSON object after the Ethernet header. */
export const RESULT_ETHERTYPE = 0x88b6;

/** Where result frames go: the pool to take a slot from, and the output. */
export interface ResultSink {
  readonly pool: { alloc(): number; frameOffset(slot: number): number; readonly mtu: number; readonly bytes: Uint8Array; release(slot: number): void };
  readonly out: { send(port: number, slot: number, off: number, len: number): void };
}

const enc = new TextEncoder();

/**
 * Emits one result record as a frame on `port` (one allocation per result, not per sample frame).
 * Returns false when the pool is exhausted or the record does not fit a slot (the caller counts it).
 *
 * @example
 * emitResult(ctx, 1, { stream: 1, cellId: 301 });
 */
export function emitResult(ctx: ResultSink, port: number, rec: object): boolean {
  const body = enc.encode(JSON.stringify(rec));
  if (ETH_HEADER + body.length > ctx.pool.mtu) return false;
  const slot = ctx.pool.alloc();
  if (slot < 0) return false;
  const off = ctx.pool.frameOffset(slot);
  const b = ctx.pool.bytes;
  b.fill(0xff, off, off + 6);
  for (let i = 0; i < 6; i++) b[off + 6 + i] = SRC_MAC[i]!;
  b[off + 6 + 5] = 0x02;
  b[off + 12] = RESULT_ETHERTYPE >>> 8;
  b[off + 13] = RESULT_ETHERTYPE & 0xff;
  b.set(body, off + ETH_HEADER);
  ctx.out.send(port, slot, off, ETH_HEADER + body.length);
  return true;
}
