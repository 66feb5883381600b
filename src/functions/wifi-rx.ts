/**
 * 802.11a/g receiver front end (IEEE 802.11-2016 clause 17), per IQ stream at 20 Msps:
 * 1. packet detection by Schmidl–Cox on the short training field: M(n) = |P(n)|² / R(n)² with
 *    P(n) = Σ_{k<32} x[n+k]·x*[n+k+16], R(n) = Σ |x[n+k+16]|², over a plateau of `plateau` samples;
 * 2. coarse CFO from the angle of P (lag 16: ±625 kHz unambiguous), then symbol timing by
 *    cross-correlating with the known 64-sample LTF symbol (peak of |c(t)|² + |c(t+64)|²), then fine
 *    CFO from the two LTF symbols (lag 64);
 * 3. channel estimate H[k] = mean of the two LTF FFTs / L[k]; SIGNAL equalised (Y·H*), common phase
 *    from the 4 pilots, BPSK soft bits weighted by |H|², deinterleaved, soft Viterbi (K = 7, tail
 *    terminated);
 * 4. result: RATE (legal code?), LENGTH, even parity checked, tail and reserved bits checked, CFO
 *    and an SNR estimate from the difference of the two LTF symbols.
 * Streams are independent (state per stream id); results are typed records read with results().
 *
 * @example
 * const rx = wifiRxFactory.create({ maxStreams: 4 }) as WifiRx;
 * rx.process(0, batch, ctx);
 * rx.results(); // [{ stream: 1, sampleIndex: 1000, rateMbps: 24, length: 100, parityOk: true, valid: true, ... }]
 */
import type { FunctionFactory, NetworkFunction, Plain } from './contract.js';
import { arrayOf, bool, int, num, strictObject } from './config.js';
import { Fft } from './radio/fft.js';
import { IqStreamReceiver, receiverPorts, type ReceiverConfig } from './radio/receiver.js';
import type { StreamBuffer } from './radio/stream.js';
import { DATA_SC, LTF_FREQ, LTF_TIME, PILOT_POLARITY, PILOT_SC, Viterbi, WIFI_RATE, bin, dataSymbols, interleaverTable, rateFromBits } from './radio/wifi.js';

export interface WifiRxConfig extends ReceiverConfig {
  /** Schmidl–Cox threshold on M(n) (0..1). */
  readonly threshold: number;
  /** Consecutive samples above the threshold that make a detection. */
  readonly plateau: number;
  readonly sampleRate: number;
  /** Keep results whose SIGNAL failed its checks (parity, rate code, tail) too. */
  readonly keepInvalid: boolean;
}

/**
 * Parses a wifi-rx configuration (unknown keys rejected).
 *
 * @example
 * parseWifiRxConfig({ maxStreams: 2, threshold: 0.5 });
 */
export function parseWifiRxConfig(config: unknown): WifiRxConfig {
  const o = strictObject(config ?? {}, '', ['maxStreams', 'threshold', 'plateau', 'sampleRate', 'maxResults', 'resultsPort', 'keepInvalid']);
  return {
    maxStreams: o.opt('maxStreams', int(1, 1024), 16),
    threshold: o.opt('threshold', num(0.05, 0.99), 0.45),
    plateau: o.opt('plateau', int(8, 120), 32),
    sampleRate: o.opt('sampleRate', num(1, 1e9), WIFI_RATE),
    maxResults: o.opt('maxResults', int(1, 1 << 20), 4096),
    resultsPort: o.opt('resultsPort', bool(), false),
    keepInvalid: o.opt('keepInvalid', bool(), true),
  };
}

/** A decoded SIGNAL field. */
export interface WifiSignalResult {
  readonly stream: number;
  /** Absolute sample index (in its stream) of the start of the STF, as estimated from the LTF timing. */
  readonly sampleIndex: number;
  /** 6..54, or 0 when the RATE bits are not a legal code. */
  readonly rateMbps: number;
  readonly length: number;
  readonly parityOk: boolean;
  /** Parity ok, legal rate, reserved bit 0 and tail bits 0. */
  readonly valid: boolean;
  readonly cfoHz: number;
  readonly snrDb: number;
}

const CAPACITY = 16384;
const L = 32;
const D = 16;
/** Samples from the candidate needed before decoding: LTF search (up to +320) + LTF + SIGNAL. */
const NEED = 720;
const SEARCH_FROM = 192 - 64;
const SEARCH_TO = 192 + 112;

interface RxState {
  pos: number;
  cand: number;
  plateau: number;
  pr: number;
  pi: number;
  r: number;
  sumsAt: number;
}

export class WifiRx extends IqStreamReceiver<RxState, WifiSignalResult> implements NetworkFunction {
  readonly kind = 'wifi-rx';
  private readonly fft = new Fft(64);
  private readonly vit = new Viterbi(24);
  private readonly il = interleaverTable(48, 1);
  private readonly y = new Float32Array(2 * (NEED + 64));
  private readonly s1 = new Float32Array(128);
  private readonly s2 = new Float32Array(128);
  private readonly hre = new Float32Array(64);
  private readonly him = new Float32Array(64);
  private readonly soft = new Float32Array(48);
  private readonly soft2 = new Float32Array(48);
  private readonly bits = new Uint8Array(24);
  protected readonly c = { in: 0, consumed: 0, dropped: 0, malformed: 0, foreign: 0, streamsFull: 0, gaps: 0, samples: 0, detections: 0, decoded: 0, invalid: 0, resultsDropped: 0, resultFrames: 0, resultFramesLost: 0 };

  constructor(readonly cfg: WifiRxConfig) {
    super(cfg, CAPACITY, CAPACITY / 4);
  }

  protected fresh(): RxState {
    return { pos: 0, cand: -1, plateau: 0, pr: 0, pi: 0, r: 0, sumsAt: -1 };
  }

  protected restart(st: RxState): void {
    st.pos = 0;
    st.cand = -1;
    st.plateau = 0;
    st.sumsAt = -1;
  }

  /** Scans a stream's buffer for packets, decodes what it can, and discards what it no longer needs. */
  protected scan(s: StreamBuffer, st: RxState): void {
    const x = s.buf;
    const thr = this.cfg.threshold;
    const need = this.cfg.plateau;
    for (;;) {
      if (st.cand >= 0) {
        if (st.cand + NEED > s.len) break;
        const skip = this.decode(s, st.cand, st.pr, st.pi);
        st.pos = st.cand + skip;
        st.cand = -1;
        st.plateau = 0;
        st.sumsAt = -1;
        continue;
      }
      if (st.pos + L + D > s.len) break;
      if (st.sumsAt !== st.pos) {
        let pr = 0;
        let pi = 0;
        let r = 0;
        for (let k = 0; k < L; k++) {
          const a = 2 * (st.pos + k);
          const b = a + 2 * D;
          pr += x[a]! * x[b]! + x[a + 1]! * x[b + 1]!;
          pi += x[a + 1]! * x[b]! - x[a]! * x[b + 1]!;
          r += x[b]! * x[b]! + x[b + 1]! * x[b + 1]!;
        }
        st.pr = pr;
        st.pi = pi;
        st.r = r;
        st.sumsAt = st.pos;
      }
      let pos = st.pos;
      let pr = st.pr;
      let pi = st.pi;
      let r = st.r;
      let plateau = st.plateau;
      const end = s.len - L - D;
      let found = -1;
      while (pos <= end) {
        const m = r > 1e-20 ? (pr * pr + pi * pi) / (r * r) : 0;
        if (m > thr * thr) {
          if (++plateau >= need) {
            found = pos - plateau + 1;
            break;
          }
        } else plateau = 0;
        if (pos === end) break;
        // slide by one: remove k = pos, add k = pos + L
        const a = 2 * pos;
        const b = a + 2 * D;
        const a2 = 2 * (pos + L);
        const b2 = a2 + 2 * D;
        pr += x[a2]! * x[b2]! + x[a2 + 1]! * x[b2 + 1]! - (x[a]! * x[b]! + x[a + 1]! * x[b + 1]!);
        pi += x[a2 + 1]! * x[b2]! - x[a2]! * x[b2 + 1]! - (x[a + 1]! * x[b]! - x[a]! * x[b + 1]!);
        r += x[b2]! * x[b2]! + x[b2 + 1]! * x[b2 + 1]! - (x[b]! * x[b]! + x[b + 1]! * x[b + 1]!);
        pos++;
      }
      st.pos = pos;
      st.pr = pr;
      st.pi = pi;
      st.r = r;
      st.sumsAt = pos;
      st.plateau = plateau;
      if (found < 0) break;
      this.c.detections++;
      st.cand = found;
    }
    // Keep what a pending candidate or the detector still needs.
    const keepFrom = Math.max(0, Math.min(st.cand >= 0 ? st.cand : st.pos, st.pos) - 64);
    if (keepFrom > CAPACITY / 4) {
      s.discard(keepFrom);
      st.pos -= keepFrom;
      if (st.cand >= 0) st.cand -= keepFrom;
      st.sumsAt = st.sumsAt >= 0 ? st.sumsAt - keepFrom : -1;
    }
  }

  /**
   * Decodes the SIGNAL field of a packet detected at buffer position `cand` (plateau start); returns
   * how far to skip (past the PPDU when SIGNAL is valid, past the preamble otherwise).
   */
  private decode(s: StreamBuffer, cand: number, pr: number, pi: number): number {
    const x = s.buf;
    const y = this.y;
    const w0 = -Math.atan2(pi, pr) / D; // coarse CFO, radians/sample
    const from = Math.max(0, cand - 32);
    const n = Math.min(NEED + 32, s.len - from);
    for (let i = 0; i < n; i++) {
      const ph = -w0 * i;
      const c = Math.cos(ph);
      const sn = Math.sin(ph);
      const re = x[2 * (from + i)]!;
      const im = x[2 * (from + i) + 1]!;
      y[2 * i] = re * c - im * sn;
      y[2 * i + 1] = re * sn + im * c;
    }
    const base = cand - from;
    // LTF timing: t maximising |c(t)|² + |c(t+64)|².
    let best = -1;
    let bt = -1;
    const lo = base + SEARCH_FROM;
    const hi = Math.min(base + SEARCH_TO, n - 64 * 2 - 80);
    const corr = (t: number): number => {
      let cr = 0;
      let ci = 0;
      for (let k = 0; k < 64; k++) {
        const yr = y[2 * (t + k)]!;
        const yi = y[2 * (t + k) + 1]!;
        const lr = LTF_TIME[2 * k]!;
        const li = LTF_TIME[2 * k + 1]!;
        cr += yr * lr + yi * li;
        ci += yi * lr - yr * li;
      }
      return cr * cr + ci * ci;
    };
    for (let t = lo; t <= hi; t++) {
      const m = corr(t) + corr(t + 64);
      if (m > best) {
        best = m;
        bt = t;
      }
    }
    if (bt < 0) return 160;
    // Start one sample early, inside the guard interval: a late start would leak the next symbol in.
    const t = bt - 1;
    // Fine CFO from the two LTF symbols (lag 64).
    let fr = 0;
    let fi = 0;
    for (let k = 0; k < 64; k++) {
      const a = 2 * (t + k);
      const b = a + 128;
      fr += y[a]! * y[b]! + y[a + 1]! * y[b + 1]!;
      fi += y[a + 1]! * y[b]! - y[a]! * y[b + 1]!;
    }
    const w1 = -Math.atan2(fi, fr) / 64;
    const s1 = this.s1;
    const s2 = this.s2;
    const derot = (dst: Float32Array, at: number): void => {
      for (let k = 0; k < 64; k++) {
        const ph = -w1 * (at + k - t);
        const c = Math.cos(ph);
        const sn = Math.sin(ph);
        const re = y[2 * (at + k)]!;
        const im = y[2 * (at + k) + 1]!;
        dst[2 * k] = re * c - im * sn;
        dst[2 * k + 1] = re * sn + im * c;
      }
      this.fft.forward(dst);
    };
    derot(s1, t);
    derot(s2, t + 64);
    let sig = 0;
    let noise = 0;
    for (let k = -26; k <= 26; k++) {
      const lk = LTF_FREQ[k + 26]!;
      if (lk === 0) continue;
      const b = bin(k);
      const ar = (s1[2 * b]! + s2[2 * b]!) / 2;
      const ai = (s1[2 * b + 1]! + s2[2 * b + 1]!) / 2;
      this.hre[b] = ar * lk;
      this.him[b] = ai * lk;
      const dr = s1[2 * b]! - s2[2 * b]!;
      const di = s1[2 * b + 1]! - s2[2 * b + 1]!;
      noise += (dr * dr + di * di) / 2;
      sig += ar * ar + ai * ai;
    }
    const snrDb = 10 * Math.log10(Math.max(1e-12, sig - noise / 2) / Math.max(1e-12, noise));
    // SIGNAL symbol body.
    derot(s1, t + 128 + 16);
    const hre = this.hre;
    const him = this.him;
    let pr2 = 0;
    let pi2 = 0;
    const pv = [1, 1, 1, -1];
    for (let i = 0; i < 4; i++) {
      const b = bin(PILOT_SC[i]!);
      const sgn = pv[i]! * PILOT_POLARITY[0]!;
      // Y·H* · known pilot
      pr2 += sgn * (s1[2 * b]! * hre[b]! + s1[2 * b + 1]! * him[b]!);
      pi2 += sgn * (s1[2 * b + 1]! * hre[b]! - s1[2 * b]! * him[b]!);
    }
    const cph = Math.atan2(pi2, pr2);
    const cc = Math.cos(-cph);
    const cs = Math.sin(-cph);
    const soft = this.soft;
    for (let i = 0; i < 48; i++) {
      const b = bin(DATA_SC[i]!);
      const er = s1[2 * b]! * hre[b]! + s1[2 * b + 1]! * him[b]!;
      const ei = s1[2 * b + 1]! * hre[b]! - s1[2 * b]! * him[b]!;
      soft[i] = er * cc - ei * cs;
    }
    const il = this.il;
    const soft2 = this.soft2;
    for (let k = 0; k < 48; k++) soft2[k] = soft[il[k]!]!;
    const bits = this.bits;
    this.vit.decode(soft2, 24, true, bits);
    let p = 0;
    for (let i = 0; i < 18; i++) p ^= bits[i]!;
    const rate = rateFromBits((bits[0]! << 3) | (bits[1]! << 2) | (bits[2]! << 1) | bits[3]!);
    let length = 0;
    for (let i = 0; i < 12; i++) length |= bits[5 + i]! << i;
    let tail = 0;
    for (let i = 18; i < 24; i++) tail |= bits[i]!;
    const parityOk = p === 0;
    const valid = parityOk && rate !== 0 && bits[4] === 0 && tail === 0 && length > 0;
    this.c.decoded++;
    if (!valid) this.c.invalid++;
    const stf = from + bt - 192;
    if (valid || this.cfg.keepInvalid) {
      const rec: WifiSignalResult = {
        stream: s.id,
        sampleIndex: s.base + stf,
        rateMbps: rate,
        length,
        parityOk,
        valid,
        cfoHz: ((w0 + w1) / (2 * Math.PI)) * this.cfg.sampleRate,
        snrDb: Math.round(snrDb * 10) / 10,
      };
      this.keep(rec);
    }
    if (!valid) return Math.max(1, stf - cand + 320);
    return stf - cand + 400 + 80 * dataSymbols(rate, length);
  }

  /** Results and each stream's position; sample buffers restart on import (the next frame opens them). */
  exportState(): Plain {
    return { results: this.res.map((r) => ({ ...r })), streams: this.table.all().map((s) => ({ id: s.id, next: s.next, samples: s.samples })) };
  }

  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['results', 'streams']);
    const any = num(-1e300, 1e300);
    const results = o.req('results', arrayOf((v, p) => {
      const r = strictObject(v, p, ['stream', 'sampleIndex', 'rateMbps', 'length', 'parityOk', 'valid', 'cfoHz', 'snrDb']);
      return {
        stream: r.req('stream', int(0, 0xffffffff)), sampleIndex: r.req('sampleIndex', any), rateMbps: r.req('rateMbps', int(0, 54)), length: r.req('length', int(0, 4095)),
        parityOk: r.req('parityOk', bool()), valid: r.req('valid', bool()), cfoHz: r.req('cfoHz', any), snrDb: r.req('snrDb', any),
      };
    }));
    const streams = o.req('streams', arrayOf((v, p) => {
      const r = strictObject(v, p, ['id', 'next', 'samples']);
      return { id: r.req('id', int(0, 0xffffffff)), next: r.req('next', int(-1, Number.MAX_SAFE_INTEGER)), samples: r.req('samples', int(0, Number.MAX_SAFE_INTEGER)) };
    }, 0, this.cfg.maxStreams));
    this.table.clear();
    this.st.clear();
    for (const r of streams) {
      const s = this.table.get(r.id)!;
      s.samples = r.samples;
    }
    this.res.length = 0;
    this.res.push(...results);
  }
}

export const wifiRxFactory: FunctionFactory = {
  kind: 'wifi-rx',
  summary: '802.11a/g receiver: Schmidl–Cox detection, CFO and LTF timing, LTF channel estimate, SIGNAL decoding (rate, length, parity)',
  create: (config: unknown) => new WifiRx(parseWifiRxConfig(config)),
  ports: (config: unknown) => receiverPorts(parseWifiRxConfig(config).resultsPort),
};
