/**
 * LTE cell search (1.4 MHz, 1.92 Msps, FDD), per IQ stream:
 * 1. acquisition: the stream is cross-correlated with the three time-domain PSS symbols
 *    (36.211 §6.11.1, roots 25/29/34) by overlap-save FFT (1024 points, 896 new outputs per block);
 *    the metric |c(t)|² / (E_pss · E_x(t)) is a normalised correlation (≈ SNR/(1+SNR) on the PSS,
 *    ≈ 1/128 on noise), and its peak above `threshold` within ±64 samples gives N_ID2 and timing;
 * 2. CFO from the phase between the two halves of the PSS correlation (lag 64 samples);
 * 3. SSS: the symbol before the PSS (137 samples earlier) is CFO-corrected, transformed, equalised
 *    with the channel measured on the PSS subcarriers, and correlated with the 2 × 168 SSS
 *    sequences of that N_ID2: the best gives N_ID1 and whether this is subframe 0 or 5, hence the
 *    frame timing; cell id = 3·N_ID1 + N_ID2;
 * 4. tracking: once found, only ±`trackWindow` samples around the next expected PSS (5 ms later)
 *    are correlated, with the known N_ID2 — a few operations per sample instead of three FFT
 *    correlations; two misses in a row return the stream to acquisition.
 * An acquisition is reported only once the PSS of the next half frame confirms it (band-limited
 * data symbols reach the threshold now and then); then one result per half frame. Streams are
 * independent.
 *
 * @example
 * const cs = lteCellSearchFactory.create({ maxStreams: 2 }) as LteCellSearch;
 * cs.process(0, batch, ctx);
 * cs.results(); // [{ stream: 1, cellId: 301, nId1: 100, nId2: 1, subframe: 0, frameStart: 1234, ... }]
 */
import type { FunctionFactory, NetworkFunction, Plain } from './contract.js';
import { arrayOf, bool, int, num, oneOf, strictObject } from './config.js';
import { Fft } from './radio/fft.js';
import { CP_LEN, LTE_HALF_FRAME, LTE_N, LTE_RATE, PSS_BODY, SYMBOL_START, pssSequence, pssTime, sssSequence, syncBin } from './radio/lte.js';
import { IqStreamReceiver, receiverPorts, type ReceiverConfig } from './radio/receiver.js';
import type { StreamBuffer } from './radio/stream.js';

export interface CellSearchConfig extends ReceiverConfig {
  readonly threshold: number;
  readonly trackWindow: number;
  readonly sampleRate: number;
}

/**
 * Parses an lte-cellsearch configuration (unknown keys rejected).
 *
 * @example
 * parseCellSearchConfig({ maxStreams: 4, threshold: 0.2 });
 */
export function parseCellSearchConfig(config: unknown): CellSearchConfig {
  const o = strictObject(config ?? {}, '', ['maxStreams', 'threshold', 'trackWindow', 'sampleRate', 'maxResults', 'resultsPort']);
  return {
    maxStreams: o.opt('maxStreams', int(1, 1024), 16),
    threshold: o.opt('threshold', num(0.02, 0.99), 0.2),
    trackWindow: o.opt('trackWindow', int(4, 512), 64),
    sampleRate: o.opt('sampleRate', num(1, 1e9), LTE_RATE),
    maxResults: o.opt('maxResults', int(1, 1 << 20), 4096),
    resultsPort: o.opt('resultsPort', bool(), false),
  };
}

/** One detected half frame. */
export interface CellResult {
  readonly stream: number;
  readonly cellId: number;
  readonly nId1: number;
  readonly nId2: number;
  /** 0 when this PSS/SSS pair is the one of subframe 0, 5 for subframe 5. */
  readonly subframe: 0 | 5;
  /** Absolute sample index of the first sample of the PSS symbol body. */
  readonly pssIndex: number;
  /** Absolute sample index where the 10 ms frame containing this PSS starts (may be negative at stream start). */
  readonly frameStart: number;
  readonly cfoHz: number;
  /** Normalised PSS correlation (0..1). */
  readonly pssMetric: number;
  /** SSS decision margin: best correlation over the second best (≥ 1). */
  readonly sssMargin: number;
}

const CAPACITY = 65536;
const NFFT = 1024;
const STEP = NFFT - LTE_N;
const SSS_BACK = 137;

interface CsState {
  mode: 'search' | 'track';
  pos: number;
  candT: number;
  candM: number;
  candU: number;
  expect: number;
  nId2: number;
  misses: number;
  /** An acquisition not yet verified by the PSS of the next half frame. */
  pending: CellResult | null;
}

export class LteCellSearch extends IqStreamReceiver<CsState, CellResult> implements NetworkFunction {
  readonly kind = 'lte-cellsearch';
  private readonly fft = new Fft(NFFT);
  private readonly fft128 = new Fft(LTE_N);
  /** conj(FFT(pss_u zero-padded to 1024)) per N_ID2. */
  private readonly tpl: Float32Array[];
  private readonly pssT: Float32Array[];
  private readonly pssF: Float32Array[];
  private readonly ePss: number;
  /** SSS sequences per N_ID2: 336 rows (N_ID1·2 + (subframe 5 ? 1 : 0)) of 62. */
  private readonly sss: Int8Array[];
  private readonly blk = new Float32Array(2 * NFFT);
  private readonly cor = new Float32Array(2 * NFFT);
  private readonly met = new Float32Array(3 * STEP);
  private readonly a = new Float32Array(2 * LTE_N);
  private readonly b = new Float32Array(2 * LTE_N);
  private readonly z = new Float32Array(62);
  protected readonly c = { in: 0, consumed: 0, dropped: 0, malformed: 0, foreign: 0, streamsFull: 0, gaps: 0, samples: 0, searched: 0, tracked: 0, detections: 0, falseAlarms: 0, lost: 0, resultsDropped: 0, resultFrames: 0, resultFramesLost: 0 };

  constructor(readonly cfg: CellSearchConfig) {
    super(cfg, CAPACITY, CAPACITY / 8);
    this.pssT = [0, 1, 2].map((u) => pssTime(u));
    this.pssF = [0, 1, 2].map((u) => pssSequence(u));
    let e = 0;
    const p0 = this.pssT[0]!;
    for (let i = 0; i < 2 * LTE_N; i++) e += p0[i]! * p0[i]!;
    this.ePss = e;
    this.tpl = this.pssT.map((p) => {
      const t = new Float32Array(2 * NFFT);
      t.set(p);
      this.fft.forward(t);
      for (let k = 0; k < NFFT; k++) t[2 * k + 1] = -t[2 * k + 1]!;
      return t;
    });
    this.sss = [0, 1, 2].map((n2) => {
      const t = new Int8Array(336 * 62);
      for (let n1 = 0; n1 < 168; n1++) {
        t.set(sssSequence(n1, n2, 0), (2 * n1) * 62);
        t.set(sssSequence(n1, n2, 5), (2 * n1 + 1) * 62);
      }
      return t;
    });
  }

  protected fresh(): CsState {
    return fresh();
  }

  protected restart(st: CsState): void {
    Object.assign(st, fresh());
  }

  protected scan(s: StreamBuffer, st: CsState): void {
    const thr = this.cfg.threshold;
    const win = this.cfg.trackWindow;
    for (;;) {
      if (st.mode === 'track') {
        if (st.expect + win + LTE_N > s.len) break;
        this.c.tracked++;
        let bm = 0;
        let bt = -1;
        for (let t = Math.max(0, st.expect - win); t <= st.expect + win; t++) {
          const m = this.direct(s.buf, t, st.nId2);
          if (m > bm) {
            bm = m;
            bt = t;
          }
        }
        if (bm >= thr && bt >= 0) {
          st.misses = 0;
          if (st.pending) this.push(st.pending);
          st.pending = null;
          const r = this.confirm(s, bt, st.nId2, bm);
          if (r) this.push(r);
          st.expect = bt + LTE_HALF_FRAME;
        } else if (st.pending) {
          // The acquisition was not confirmed 5 ms later: a false alarm (band-limited data can reach the threshold).
          this.c.falseAlarms++;
          st.pending = null;
          st.mode = 'search';
          st.pos = Math.max(0, st.expect - win);
          st.candT = -1;
        } else if (++st.misses >= 2) {
          this.c.lost++;
          st.mode = 'search';
          st.pos = Math.max(0, st.expect - win);
          st.candT = -1;
        } else st.expect += LTE_HALF_FRAME;
        continue;
      }
      if (st.pos + NFFT > s.len) break;
      this.c.searched++;
      this.block(s.buf, st.pos);
      const met = this.met;
      let switched = false;
      for (let i = 0; i < STEP; i++) {
        const t = st.pos + i;
        for (let u = 0; u < 3; u++) {
          const m = met[3 * i + u]!;
          if (m >= thr && m > st.candM) {
            st.candM = m;
            st.candT = t;
            st.candU = u;
          }
        }
        // A partial overlap with the PSS already correlates (≈ (overlap/128)²): wait a whole symbol for the true peak.
        if (st.candT >= 0 && t > st.candT + LTE_N) {
          const r = this.confirm(s, st.candT, st.candU, st.candM);
          if (r) {
            st.pending = r;
            st.mode = 'track';
            st.nId2 = st.candU;
            st.expect = st.candT + LTE_HALF_FRAME;
            st.misses = 0;
            switched = true;
          }
          st.candT = -1;
          st.candM = 0;
          if (switched) break;
        }
      }
      if (switched) continue;
      st.pos += STEP;
    }
    const need = st.mode === 'track' ? st.expect - win : st.candT >= 0 ? Math.min(st.pos, st.candT) : st.pos;
    // Keep the PSS slot from its start: the CFO estimate reads its cyclic prefixes.
    const keepFrom = need - PSS_BODY - 64;
    if (keepFrom > CAPACITY / 4) {
      s.discard(keepFrom);
      st.pos -= keepFrom;
      st.expect -= keepFrom;
      if (st.candT >= 0) st.candT -= keepFrom;
    }
  }

  /** Normalised correlations of the three PSS at outputs pos..pos+STEP−1 into `met` (overlap-save). */
  private block(x: Float32Array, pos: number): void {
    const blk = this.blk;
    blk.set(x.subarray(2 * pos, 2 * (pos + NFFT)));
    this.fft.forward(blk);
    const cor = this.cor;
    const met = this.met;
    // Sliding window energy E_x(t) over 128 samples.
    let e = 0;
    for (let k = 0; k < LTE_N; k++) e += x[2 * (pos + k)]! * x[2 * (pos + k)]! + x[2 * (pos + k) + 1]! * x[2 * (pos + k) + 1]!;
    const ew = this.energies;
    for (let i = 0; i < STEP; i++) {
      ew[i] = e;
      const a = 2 * (pos + i);
      const b = 2 * (pos + i + LTE_N);
      e += x[b]! * x[b]! + x[b + 1]! * x[b + 1]! - x[a]! * x[a]! - x[a + 1]! * x[a + 1]!;
    }
    for (let u = 0; u < 3; u++) {
      const t = this.tpl[u]!;
      for (let k = 0; k < NFFT; k++) {
        const xr = blk[2 * k]!;
        const xi = blk[2 * k + 1]!;
        const tr = t[2 * k]!;
        const ti = t[2 * k + 1]!;
        cor[2 * k] = xr * tr - xi * ti;
        cor[2 * k + 1] = xr * ti + xi * tr;
      }
      this.fft.inverse(cor);
      const ep = this.ePss;
      for (let i = 0; i < STEP; i++) {
        const cr = cor[2 * i]!;
        const ci = cor[2 * i + 1]!;
        const d = ew[i]! * ep;
        met[3 * i + u] = d > 1e-20 ? (cr * cr + ci * ci) / d : 0;
      }
    }
  }

  private readonly energies = new Float64Array(STEP);

  /** Normalised correlation at one position with one PSS (tracking). */
  private direct(x: Float32Array, t: number, u: number): number {
    const p = this.pssT[u]!;
    let cr = 0;
    let ci = 0;
    let e = 0;
    for (let k = 0; k < LTE_N; k++) {
      const xr = x[2 * (t + k)]!;
      const xi = x[2 * (t + k) + 1]!;
      const pr = p[2 * k]!;
      const pi = p[2 * k + 1]!;
      cr += xr * pr + xi * pi;
      ci += xi * pr - xr * pi;
      e += xr * xr + xi * xi;
    }
    const d = e * this.ePss;
    return d > 1e-20 ? (cr * cr + ci * ci) / d : 0;
  }

  private push(r: CellResult): void {
    this.c.detections++;
    this.keep(r);
  }

  /** SSS detection for a PSS body at buffer position t; null when the SSS symbol is not in the buffer. */
  private confirm(s: StreamBuffer, t: number, u: number, metric: number): CellResult | null {
    if (t - SSS_BACK < 0) return null;
    const x = s.buf;
    const p = this.pssT[u]!;
    // CFO: phase advance between the two 64-sample halves of the PSS correlation.
    let c1r = 0, c1i = 0, c2r = 0, c2i = 0;
    for (let k = 0; k < LTE_N; k++) {
      const xr = x[2 * (t + k)]!;
      const xi = x[2 * (t + k) + 1]!;
      const pr = p[2 * k]!;
      const pi = p[2 * k + 1]!;
      if (k < 64) {
        c1r += xr * pr + xi * pi;
        c1i += xi * pr - xr * pi;
      } else {
        c2r += xr * pr + xi * pi;
        c2i += xi * pr - xr * pi;
      }
    }
    let w = Math.atan2(c2i * c1r - c2r * c1i, c2r * c1r + c2i * c1i) / 64;
    // Finer, and free of the Zadoff–Chu timing/frequency coupling: the cyclic prefixes of the PSS's
    // slot, each equal to the end of its symbol 128 samples later (±7.5 kHz unambiguous).
    const slot = t - PSS_BODY;
    if (slot >= 0) {
      let cr = 0;
      let ci = 0;
      for (let l = 0; l < 7; l++) {
        const at = slot + SYMBOL_START[l]!;
        for (let k = 0; k < CP_LEN[l]!; k++) {
          const i0 = 2 * (at + k);
          const i1 = i0 + 2 * LTE_N;
          cr += x[i1]! * x[i0]! + x[i1 + 1]! * x[i0 + 1]!;
          ci += x[i1 + 1]! * x[i0]! - x[i1]! * x[i0 + 1]!;
        }
      }
      w = Math.atan2(ci, cr) / LTE_N;
    }
    const a = this.a;
    const b = this.b;
    const load = (dst: Float32Array, at: number): void => {
      for (let k = 0; k < LTE_N; k++) {
        const ph = -w * (at + k - t);
        const cs = Math.cos(ph);
        const sn = Math.sin(ph);
        const xr = x[2 * (at + k)]!;
        const xi = x[2 * (at + k) + 1]!;
        dst[2 * k] = xr * cs - xi * sn;
        dst[2 * k + 1] = xr * sn + xi * cs;
      }
      this.fft128.forward(dst);
    };
    load(a, t);
    load(b, t - SSS_BACK);
    // The SSS symbol's CP is 9 samples and the PSS one's too: same timing offset, so no extra phase ramp.
    const d = this.pssF[u]!;
    const z = this.z;
    for (let n = 0; n < 62; n++) {
      const k = syncBin(n);
      // H = Y_pss·conj(d); z = Y_sss·conj(H)
      const hr = a[2 * k]! * d[2 * n]! + a[2 * k + 1]! * d[2 * n + 1]!;
      const hi = a[2 * k + 1]! * d[2 * n]! - a[2 * k]! * d[2 * n + 1]!;
      z[n] = b[2 * k]! * hr + b[2 * k + 1]! * hi;
    }
    const tab = this.sss[u]!;
    let best = -Infinity;
    let second = -Infinity;
    let row = 0;
    for (let r = 0; r < 336; r++) {
      let acc = 0;
      const o = r * 62;
      for (let n = 0; n < 62; n++) acc += tab[o + n]! * z[n]!;
      if (acc > best) {
        second = best;
        best = acc;
        row = r;
      } else if (acc > second) second = acc;
    }
    const nId1 = row >> 1;
    const subframe: 0 | 5 = row & 1 ? 5 : 0;
    const pssIndex = s.base + t;
    return {
      stream: s.id,
      cellId: 3 * nId1 + u,
      nId1,
      nId2: u,
      subframe,
      pssIndex,
      frameStart: pssIndex - PSS_BODY - (subframe === 5 ? LTE_HALF_FRAME : 0),
      cfoHz: (w / (2 * Math.PI)) * this.cfg.sampleRate,
      pssMetric: Math.round(metric * 1000) / 1000,
      sssMargin: second > 0 ? Math.round((best / second) * 100) / 100 : best > 0 ? 99 : 0,
    };
  }

  /** The latest result of each stream (its current cell and frame timing). */
  cells(): CellResult[] {
    const m = new Map<number, CellResult>();
    for (const r of this.res) m.set(r.stream, r);
    return [...m.values()].sort((a, b) => a.stream - b.stream);
  }

  /** Results and the tracked cell of each stream; buffers restart on import (tracking reacquires). */
  exportState(): Plain {
    return {
      results: this.res.map((r) => ({ ...r })),
      streams: this.table.all().map((s) => ({ id: s.id, mode: this.st.get(s.id)?.mode ?? 'search', nId2: this.st.get(s.id)?.nId2 ?? 0 })),
    };
  }

  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['results', 'streams']);
    const any = num(-1e300, 1e300);
    const results = o.req('results', arrayOf((v, p) => {
      const r = strictObject(v, p, ['stream', 'cellId', 'nId1', 'nId2', 'subframe', 'pssIndex', 'frameStart', 'cfoHz', 'pssMetric', 'sssMargin']);
      const sf = r.req('subframe', int(0, 5));
      return {
        stream: r.req('stream', int(0, 0xffffffff)), cellId: r.req('cellId', int(0, 503)), nId1: r.req('nId1', int(0, 167)), nId2: r.req('nId2', int(0, 2)),
        subframe: (sf === 5 ? 5 : 0) as 0 | 5, pssIndex: r.req('pssIndex', any), frameStart: r.req('frameStart', any), cfoHz: r.req('cfoHz', any),
        pssMetric: r.req('pssMetric', any), sssMargin: r.req('sssMargin', any),
      };
    }));
    const streams = o.req('streams', arrayOf((v, p) => {
      const r = strictObject(v, p, ['id', 'mode', 'nId2']);
      return { id: r.req('id', int(0, 0xffffffff)), mode: r.req('mode', oneOf(['search', 'track'] as const)), nId2: r.req('nId2', int(0, 2)) };
    }, 0, this.cfg.maxStreams));
    this.table.clear();
    this.st.clear();
    for (const r of streams) {
      this.table.get(r.id);
      this.st.set(r.id, { ...fresh(), nId2: r.nId2 });
    }
    this.res.length = 0;
    this.res.push(...results);
  }
}

function fresh(): CsState {
  return { mode: 'search', pos: 0, candT: -1, candM: 0, candU: 0, expect: 0, nId2: 0, misses: 0, pending: null };
}


export const lteCellSearchFactory: FunctionFactory = {
  kind: 'lte-cellsearch',
  summary: 'LTE cell search: PSS (N_ID2, timing, CFO) and SSS (N_ID1, subframe 0/5) → physical cell id and frame timing',
  create: (config: unknown) => new LteCellSearch(parseCellSearchConfig(config)),
  ports: (config: unknown) => receiverPorts(parseCellSearchConfig(config).resultsPort),
};
