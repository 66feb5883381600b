/**
 * IEEE 802.11a/g OFDM PHY pieces shared by the generator and the receiver (IEEE 802.11-2016
 * clause 17): 20 Msps, 64-point FFT, 16-sample (0.8 µs) guard interval, 52 used subcarriers
 * (48 data + pilots at ±7, ±21), the short and long training fields, the SIGNAL field
 * (RATE · reserved · 12-bit LENGTH LSB first · even parity · 6 tail bits), BPSK rate 1/2
 * convolutional code K = 7 (g0 = 133₈, g1 = 171₈), the interleaver and a soft Viterbi decoder.
 *
 * @example
 * const ppdu = wifiPpdu({ rateMbps: 24, length: 100, seed: 1 });  // STF+LTF+SIGNAL+DATA samples
 */
import { Fft } from './fft.js';
import { Rng } from './iq.js';

export const WIFI_RATE = 20e6;
export const WIFI_N = 64;
export const WIFI_CP = 16;
export const WIFI_SYM = 80;
export const STF_LEN = 160;
export const LTF_LEN = 160;
/** Start of the SIGNAL symbol (its guard interval) from the start of the PPDU. */
export const SIGNAL_AT = STF_LEN + LTF_LEN;

/** 17.3.3: S₋₂₆..₂₆ nonzero at multiples of 4, value (±(1+j))·√(13/6). */
const STF_NZ: readonly (readonly [number, number])[] = [[-24, 1], [-20, -1], [-16, 1], [-12, -1], [-8, -1], [-4, 1], [4, -1], [8, -1], [12, 1], [16, 1], [20, 1], [24, 1]];
/** 17.3.3: L₋₂₆..₂₆. */
export const LTF_FREQ: readonly number[] = [
  1, 1, -1, -1, 1, 1, -1, 1, -1, 1, 1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1, -1, 1, 1, 1, 1, 0,
  1, -1, -1, 1, 1, -1, 1, -1, 1, -1, -1, -1, -1, -1, 1, 1, -1, -1, 1, -1, 1, -1, 1, 1, 1, 1,
];
export const PILOT_SC: readonly number[] = [-21, -7, 7, 21];
const PILOT_VAL: readonly number[] = [1, 1, 1, -1];
/** Data subcarriers −26..26 minus DC and pilots, in the order coded bits are mapped. */
export const DATA_SC: readonly number[] = (() => {
  const r: number[] = [];
  for (let k = -26; k <= 26; k++) if (k !== 0 && !PILOT_SC.includes(k)) r.push(k);
  return r;
})();

/** FFT bin of subcarrier k (negative frequencies wrap to the top half). */
export function bin(k: number, n = WIFI_N): number {
  return (k + n) % n;
}

/** Table 17-6: RATE bits R1..R4 (R1 first) per data rate, with coded bits per symbol and data bits per symbol. */
export const RATES: readonly { readonly mbps: number; readonly bits: number; readonly nbpsc: number; readonly ncbps: number; readonly ndbps: number }[] = [
  { mbps: 6, bits: 0b1101, nbpsc: 1, ncbps: 48, ndbps: 24 },
  { mbps: 9, bits: 0b1111, nbpsc: 1, ncbps: 48, ndbps: 36 },
  { mbps: 12, bits: 0b0101, nbpsc: 2, ncbps: 96, ndbps: 48 },
  { mbps: 18, bits: 0b0111, nbpsc: 2, ncbps: 96, ndbps: 72 },
  { mbps: 24, bits: 0b1001, nbpsc: 4, ncbps: 192, ndbps: 96 },
  { mbps: 36, bits: 0b1011, nbpsc: 4, ncbps: 192, ndbps: 144 },
  { mbps: 48, bits: 0b0001, nbpsc: 6, ncbps: 288, ndbps: 192 },
  { mbps: 54, bits: 0b0011, nbpsc: 6, ncbps: 288, ndbps: 216 },
];

/** Rate (Mb/s) from the 4 RATE bits (R1 the most significant here), or 0 when not a legal code. */
export function rateFromBits(bits: number): number {
  for (const r of RATES) if (r.bits === bits) return r.mbps;
  return 0;
}

/** The 64-sample time-domain symbol of a frequency-domain vector over −26..26 (index 0 = −26). */
function timeSymbol(freq: readonly number[], im: readonly number[] | null, scale: number): Float32Array {
  const x = new Float32Array(2 * WIFI_N);
  for (let i = 0; i < 53; i++) {
    x[2 * bin(i - 26)] = freq[i]! * scale;
    x[2 * bin(i - 26) + 1] = (im ? im[i]! : 0) * scale;
  }
  new Fft(WIFI_N).inverse(x);
  return x;
}

/** One period (64 samples) of the STF; the field is its first 160 samples repeated (period 16). */
export const STF_TIME: Float32Array = (() => {
  const re = new Array<number>(53).fill(0);
  for (const [k, s] of STF_NZ) re[k + 26] = s;
  return timeSymbol(re, re, Math.sqrt(13 / 6));
})();

/** One 64-sample LTF symbol (the field is its last 32 samples, then two copies). */
export const LTF_TIME: Float32Array = timeSymbol(LTF_FREQ, null, 1);

/** 17.3.5.7 interleaver for N_CBPS coded bits of N_BPSC bits per subcarrier: coded bit k goes to position j. */
export function interleaverTable(ncbps: number, nbpsc: number): Uint16Array {
  const s = Math.max(nbpsc / 2, 1);
  const t = new Uint16Array(ncbps);
  for (let k = 0; k < ncbps; k++) {
    const i = (ncbps / 16) * (k % 16) + Math.floor(k / 16);
    t[k] = s * Math.floor(i / s) + ((i + ncbps - Math.floor((16 * i) / ncbps)) % s);
  }
  return t;
}

function parity(x: number): number {
  x ^= x >>> 4;
  x ^= x >>> 2;
  x ^= x >>> 1;
  return x & 1;
}

/** The K = 7 shift register as a 7-bit number, newest bit in bit 6: outputs are parities of taps 133₈ and 171₈. */
const G0 = 0o133;
const G1 = 0o171;

/**
 * Rate 1/2 convolutional encoder (17.3.5.6), starting from the all-zero state; output A then B per bit.
 *
 * @example
 * convEncode(Uint8Array.of(1, 0, 0)); // [1, 1, 0, 1, 1, 1]
 */
export function convEncode(bits: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 * bits.length);
  let reg = 0;
  for (let i = 0; i < bits.length; i++) {
    reg = ((reg >>> 1) | (bits[i]! << 6)) & 0x7f;
    out[2 * i] = parity(reg & G0);
    out[2 * i + 1] = parity(reg & G1);
  }
  return out;
}

/**
 * Soft-decision Viterbi decoder for the same code over 64 states: `soft[i] > 0` means coded bit 1
 * (larger = more confident). Decodes `nbits` bits; when `terminated` the path ends in state 0
 * (the 6 tail bits of SIGNAL). Scratch buffers are kept per decoder, so a decode allocates nothing.
 *
 * @example
 * const v = new Viterbi(24); v.decode(soft, 24, true, bitsOut);
 */
export class Viterbi {
  private readonly metric = new Float64Array(64);
  private readonly next = new Float64Array(64);
  private readonly from: Uint8Array;
  /** For each state s (reg bits 6..1 = the last 6 inputs, newest in bit 5) and input b: the two outputs. */
  private readonly outA = new Uint8Array(128);
  private readonly outB = new Uint8Array(128);

  constructor(readonly maxBits: number) {
    this.from = new Uint8Array(maxBits * 64);
    for (let s = 0; s < 64; s++) {
      for (let b = 0; b < 2; b++) {
        const reg = (b << 6) | s;
        this.outA[s * 2 + b] = parity(reg & G0);
        this.outB[s * 2 + b] = parity(reg & G1);
      }
    }
  }

  decode(soft: Float32Array, nbits: number, terminated: boolean, out: Uint8Array): void {
    const m = this.metric;
    const nx = this.next;
    m.fill(-1e30);
    m[0] = 0;
    for (let t = 0; t < nbits; t++) {
      const sa = soft[2 * t]!;
      const sb = soft[2 * t + 1]!;
      nx.fill(-1e30);
      for (let s = 0; s < 64; s++) {
        const ms = m[s]!;
        if (ms <= -1e29) continue;
        for (let b = 0; b < 2; b++) {
          // new register = (b << 6) | s; next state keeps the 6 newest bits: reg >>> 1.
          const ns = ((b << 6) | s) >>> 1;
          const a = this.outA[s * 2 + b]!;
          const c = this.outB[s * 2 + b]!;
          const v = ms + (a ? sa : -sa) + (c ? sb : -sb);
          if (v > nx[ns]!) {
            nx[ns] = v;
            this.from[t * 64 + ns] = s;
          }
        }
      }
      m.set(nx);
    }
    let s = 0;
    if (!terminated) {
      let best = -Infinity;
      for (let k = 0; k < 64; k++) if (m[k]! > best) { best = m[k]!; s = k; }
    }
    for (let t = nbits - 1; t >= 0; t--) {
      out[t] = (s >>> 5) & 1;
      s = this.from[t * 64 + s]!;
    }
  }
}

/** The 24 SIGNAL bits in transmission order (R1..R4, reserved, LENGTH LSB first, parity, tail). */
export function signalBits(rateMbps: number, length: number): Uint8Array {
  const r = RATES.find((x) => x.mbps === rateMbps);
  if (!r) throw new RangeError(`not an 802.11a/g rate: ${rateMbps}`);
  if (!Number.isInteger(length) || length < 1 || length > 4095) throw new RangeError(`LENGTH must be 1..4095, got ${length}`);
  const b = new Uint8Array(24);
  for (let i = 0; i < 4; i++) b[i] = (r.bits >>> (3 - i)) & 1;
  for (let i = 0; i < 12; i++) b[5 + i] = (length >>> i) & 1;
  let p = 0;
  for (let i = 0; i < 17; i++) p ^= b[i]!;
  b[17] = p;
  return b;
}

/** The 127-periodic pilot polarity sequence p₀..p₁₂₆ (17.3.5.10), from the scrambler with all-ones seed. */
export const PILOT_POLARITY: Int8Array = (() => {
  const p = new Int8Array(127);
  let st = 0x7f;
  for (let i = 0; i < 127; i++) {
    const fb = ((st >>> 6) ^ (st >>> 3)) & 1;
    st = ((st << 1) | fb) & 0x7f;
    p[i] = fb ? -1 : 1;
  }
  return p;
})();

/** Writes one OFDM symbol (CP + 64) at sample `at` of `y` from the 48 data values and pilot polarity. */
function writeSymbol(y: Float32Array, at: number, dre: Float32Array, dim: Float32Array, polarity: number, fft: Fft, scratch: Float32Array): void {
  scratch.fill(0);
  for (let i = 0; i < 48; i++) {
    const b2 = 2 * bin(DATA_SC[i]!);
    scratch[b2] = dre[i]!;
    scratch[b2 + 1] = dim[i]!;
  }
  for (let i = 0; i < 4; i++) scratch[2 * bin(PILOT_SC[i]!)] = PILOT_VAL[i]! * polarity;
  fft.inverse(scratch);
  for (let i = 0; i < WIFI_SYM; i++) {
    const s = (i + WIFI_N - WIFI_CP) % WIFI_N;
    y[2 * (at + i)] = scratch[2 * s]!;
    y[2 * (at + i) + 1] = scratch[2 * s + 1]!;
  }
}

export interface PpduOptions {
  readonly rateMbps: number;
  /** PSDU length in bytes (the SIGNAL LENGTH), 1..4095. */
  readonly length: number;
  /** Generate the DATA symbols (random constellation points of the rate's modulation, real pilots). Default true. */
  readonly data?: boolean;
  readonly seed?: number;
}

/** Number of DATA OFDM symbols: ⌈(16 + 8·LENGTH + 6) / N_DBPS⌉ (17.3.5.4). */
export function dataSymbols(rateMbps: number, length: number): number {
  const r = RATES.find((x) => x.mbps === rateMbps);
  if (!r) throw new RangeError(`not an 802.11a/g rate: ${rateMbps}`);
  return Math.ceil((16 + 8 * length + 6) / r.ndbps);
}

/**
 * One 802.11a/g PPDU at 20 Msps: STF (160) + LTF (160) + SIGNAL (80) + N_SYM DATA symbols (80 each).
 * The DATA field carries random symbols of the rate's constellation (its payload is not meant to
 * be decoded: receivers here stop at SIGNAL), with the standard pilots and polarity.
 *
 * @example
 * wifiPpdu({ rateMbps: 6, length: 20, data: false }).length / 2; // 400 samples
 */
export function wifiPpdu(o: PpduOptions): Float32Array {
  const nsym = o.data === false ? 0 : dataSymbols(o.rateMbps, o.length);
  const total = SIGNAL_AT + WIFI_SYM * (1 + nsym);
  const y = new Float32Array(2 * total);
  for (let i = 0; i < STF_LEN; i++) {
    y[2 * i] = STF_TIME[2 * (i % 64)]!;
    y[2 * i + 1] = STF_TIME[2 * (i % 64) + 1]!;
  }
  for (let i = 0; i < LTF_LEN; i++) {
    const s = (i + 32) % 64;
    y[2 * (STF_LEN + i)] = LTF_TIME[2 * s]!;
    y[2 * (STF_LEN + i) + 1] = LTF_TIME[2 * s + 1]!;
  }
  const fft = new Fft(WIFI_N);
  const scratch = new Float32Array(2 * WIFI_N);
  const coded = convEncode(signalBits(o.rateMbps, o.length));
  const il = interleaverTable(48, 1);
  const dre = new Float32Array(48);
  const dim = new Float32Array(48);
  for (let k = 0; k < 48; k++) dre[il[k]!] = coded[k] ? 1 : -1;
  writeSymbol(y, SIGNAL_AT, dre, dim, PILOT_POLARITY[0]!, fft, scratch);
  const rate = RATES.find((x) => x.mbps === o.rateMbps)!;
  const rng = new Rng(o.seed ?? 1);
  const levels = rate.nbpsc === 1 ? 1 : 1 << (rate.nbpsc / 2);
  const norm = rate.nbpsc === 1 ? 1 : Math.sqrt((2 * (levels * levels - 1)) / 3);
  for (let s = 0; s < nsym; s++) {
    for (let i = 0; i < 48; i++) {
      if (rate.nbpsc === 1) {
        dre[i] = rng.int(2) ? 1 : -1;
        dim[i] = 0;
      } else {
        dre[i] = (2 * rng.int(levels) - levels + 1) / norm;
        dim[i] = (2 * rng.int(levels) - levels + 1) / norm;
      }
    }
    writeSymbol(y, SIGNAL_AT + WIFI_SYM * (1 + s), dre, dim, PILOT_POLARITY[(s + 1) % 127]!, fft, scratch);
  }
  return y;
}
