/**
 * LTE downlink pieces for the 1.4 MHz bandwidth (6 resource blocks, 72 subcarriers) at 1.92 Msps:
 * 128-point FFT, 15 kHz spacing, normal cyclic prefix of 10 samples for the first symbol of a slot
 * and 9 for the others (160 and 144 at 30.72 Msps, scaled by 128/2048), 7 symbols and 960 samples
 * per slot, 20 slots per 10 ms frame. Synchronisation signals of 3GPP TS 36.211 §6.11 (FDD):
 * - PSS: Zadoff–Chu d_u(n) of root u = 25, 29, 34 for N_ID2 = 0, 1, 2, in the last symbol of
 *   slots 0 and 10;
 * - SSS: two interleaved length-31 m-sequences scrambled by N_ID2 and N_ID1, whose order differs
 *   between subframe 0 and subframe 5, in the symbol before the PSS.
 * Both occupy the 62 subcarriers around DC (d(0..30) on −31..−1, d(31..61) on +1..+31).
 *
 * @example
 * const frame = lteFrame({ cellId: 301, seed: 1 });   // 19,200 samples = 10 ms
 */
import { Fft } from './fft.js';
import { Rng } from './iq.js';

export const LTE_RATE = 1.92e6;
export const LTE_N = 128;
export const LTE_SLOT = 960;
export const LTE_HALF_FRAME = 9600;
export const LTE_FRAME = 19200;
/** Start (in samples from the slot start) of each symbol's CP, and CP lengths. */
export const SYMBOL_START: readonly number[] = [0, 138, 275, 412, 549, 686, 823];
export const CP_LEN: readonly number[] = [10, 9, 9, 9, 9, 9, 9];
/** Offset of the PSS symbol's body (after its CP) from the start of its slot. */
export const PSS_BODY = 832;
/** Offset of the SSS symbol's body from the start of its slot. */
export const SSS_BODY = 695;
export const PSS_ROOTS: readonly number[] = [25, 29, 34];

/** FFT bin of synchronisation-signal element n (0..61): −31..−1 then +1..+31. */
export function syncBin(n: number): number {
  const k = n < 31 ? n - 31 : n - 30;
  return (k + LTE_N) % LTE_N;
}

/** PSS d_u(n), n = 0..61, as interleaved re/im (36.211 §6.11.1.1). */
export function pssSequence(nId2: number): Float32Array {
  const u = PSS_ROOTS[nId2];
  if (u === undefined) throw new RangeError(`N_ID2 must be 0..2, got ${nId2}`);
  const d = new Float32Array(124);
  for (let n = 0; n < 62; n++) {
    const e = n < 31 ? n * (n + 1) : (n + 1) * (n + 2);
    const ph = (-Math.PI * u * e) / 63;
    d[2 * n] = Math.cos(ph);
    d[2 * n + 1] = Math.sin(ph);
  }
  return d;
}

function mseq(taps: (x: Uint8Array, i: number) => number): Int8Array {
  const x = new Uint8Array(31);
  x[4] = 1;
  for (let i = 0; i < 26; i++) x[i + 5] = taps(x, i) & 1;
  const s = new Int8Array(31);
  for (let i = 0; i < 31; i++) s[i] = 1 - 2 * x[i]!;
  return s;
}
const S_TILDE = mseq((x, i) => x[i + 2]! + x[i]!);
const C_TILDE = mseq((x, i) => x[i + 3]! + x[i]!);
const Z_TILDE = mseq((x, i) => x[i + 4]! + x[i + 2]! + x[i + 1]! + x[i]!);

/** m0, m1 of N_ID1 (36.211 Table 6.11.2.1-1 by its formula). */
export function sssIndices(nId1: number): [number, number] {
  const qp = Math.floor(nId1 / 30);
  const q = Math.floor((nId1 + (qp * (qp + 1)) / 2) / 30);
  const mp = nId1 + (q * (q + 1)) / 2;
  const m0 = mp % 31;
  const m1 = (m0 + Math.floor(mp / 31) + 1) % 31;
  return [m0, m1];
}

/** SSS d(0..61) as ±1 for N_ID1 0..167, N_ID2 0..2, subframe 0 or 5 (36.211 §6.11.2.1). */
export function sssSequence(nId1: number, nId2: number, subframe: 0 | 5): Int8Array {
  if (!(nId1 >= 0 && nId1 <= 167)) throw new RangeError(`N_ID1 must be 0..167, got ${nId1}`);
  const [m0, m1] = sssIndices(nId1);
  const d = new Int8Array(62);
  for (let n = 0; n < 31; n++) {
    const s0 = S_TILDE[(n + m0) % 31]!;
    const s1 = S_TILDE[(n + m1) % 31]!;
    const c0 = C_TILDE[(n + nId2) % 31]!;
    const c1 = C_TILDE[(n + nId2 + 3) % 31]!;
    const z0 = Z_TILDE[(n + (m0 % 8)) % 31]!;
    const z1 = Z_TILDE[(n + (m1 % 8)) % 31]!;
    if (subframe === 0) {
      d[2 * n] = s0 * c0;
      d[2 * n + 1] = s1 * c1 * z0;
    } else {
      d[2 * n] = s1 * c0;
      d[2 * n + 1] = s0 * c1 * z1;
    }
  }
  return d;
}

/** The 128-sample time-domain PSS symbol body for N_ID2 (unit power per used subcarrier). */
export function pssTime(nId2: number): Float32Array {
  const d = pssSequence(nId2);
  const x = new Float32Array(2 * LTE_N);
  for (let n = 0; n < 62; n++) {
    x[2 * syncBin(n)] = d[2 * n]!;
    x[2 * syncBin(n) + 1] = d[2 * n + 1]!;
  }
  new Fft(LTE_N).inverse(x);
  return x;
}

export interface LteFrameOptions {
  /** Physical cell id 0..503 = 3·N_ID1 + N_ID2. */
  readonly cellId: number;
  /** Number of 10 ms frames (default 1). */
  readonly frames?: number;
  /** Fill every resource element of the 72 subcarriers with random QPSK (default true), as a loaded cell does. */
  readonly load?: boolean;
  readonly seed?: number;
}

/**
 * LTE FDD downlink frames at 1.92 Msps: PSS/SSS in slots 0 and 10, every resource element of the
 * 6 RBs (DC excluded) carrying random QPSK when loaded (standing in for PDSCH/PDCCH and
 * reference signals; the central 72 subcarriers of the sync symbols carry only PSS/SSS and zeros).
 *
 * @example
 * lteFrame({ cellId: 0, frames: 2 }).length / 2; // 38,400
 */
export function lteFrame(o: LteFrameOptions): Float32Array {
  if (!Number.isInteger(o.cellId) || o.cellId < 0 || o.cellId > 503) throw new RangeError(`cell id must be 0..503, got ${o.cellId}`);
  const nId1 = Math.floor(o.cellId / 3);
  const nId2 = o.cellId % 3;
  const frames = o.frames ?? 1;
  const y = new Float32Array(2 * LTE_FRAME * frames);
  const fft = new Fft(LTE_N);
  const sym = new Float32Array(2 * LTE_N);
  const rng = new Rng(o.seed ?? 1);
  const pss = pssSequence(nId2);
  const sss0 = sssSequence(nId1, nId2, 0);
  const sss5 = sssSequence(nId1, nId2, 5);
  const load = o.load !== false;
  const a = Math.SQRT1_2;
  for (let f = 0; f < frames; f++) {
    for (let slot = 0; slot < 20; slot++) {
      for (let l = 0; l < 7; l++) {
        sym.fill(0);
        const isPss = (slot === 0 || slot === 10) && l === 6;
        const isSss = (slot === 0 || slot === 10) && l === 5;
        if (isPss) {
          for (let n = 0; n < 62; n++) {
            sym[2 * syncBin(n)] = pss[2 * n]!;
            sym[2 * syncBin(n) + 1] = pss[2 * n + 1]!;
          }
        } else if (isSss) {
          const d = slot === 0 ? sss0 : sss5;
          for (let n = 0; n < 62; n++) sym[2 * syncBin(n)] = d[n]!;
        } else if (load) {
          for (let k = -36; k <= 36; k++) {
            if (k === 0) continue;
            sym[2 * ((k + LTE_N) % LTE_N)] = rng.int(2) ? a : -a;
            sym[2 * ((k + LTE_N) % LTE_N) + 1] = rng.int(2) ? a : -a;
          }
        }
        fft.inverse(sym);
        const at = f * LTE_FRAME + slot * LTE_SLOT + SYMBOL_START[l]!;
        const cp = CP_LEN[l]!;
        for (let i = 0; i < cp + LTE_N; i++) {
          const s = (i - cp + LTE_N) % LTE_N;
          y[2 * (at + i)] = sym[2 * s]! * 8;
          y[2 * (at + i) + 1] = sym[2 * s + 1]! * 8;
        }
      }
    }
  }
  return y;
}
