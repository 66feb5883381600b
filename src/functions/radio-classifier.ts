/**
 * Radio technology classifier: tells from the samples alone which technology is on the air in
 * each IQ stream and dispatches each IQ frame to the port of that technology — one antenna,
 * several technologies, a downstream function (and domain) per technology.
 *
 * Features, each normalised by the energy of the samples involved so that they do not depend on
 * gain (ρ = |Σ x[n]·x*[n+L]| / Σ (|x[n]|² + |x[n+L]|²)/2, about SNR/(1+SNR) on a periodic
 * signal, about 1/√N on noise):
 * - 802.11 short training field: lag-16 autocorrelation over a sliding 128-sample window (the STF
 *   repeats every 16 samples for 160 samples);
 * - 802.11 OFDM symbols: cyclic-prefix correlation at lag 64 over the 16-sample CP, accumulated per
 *   phase of the 80-sample symbol period (leaky, time constant `tauSamples`, scored every 1024 samples);
 * - LTE (1.4 MHz at 1.92 Msps): cyclic-prefix correlation at lag 128 over 9-sample CPs at the 7
 *   symbol starts of the 960-sample slot (0, 138, 275, …, 823), accumulated per slot phase.
 * A burst starts when a technology's score crosses its threshold and lasts while it stays above
 * 60 % of it (hysteresis); the stream's previous frame is sent ahead of a burst's first frame
 * (pre-roll, counted in `preroll`, not in `out`); frames outside bursts go to `other` (or are dropped).
 *
 * @example
 * const c = radioClassifierFactory.create({ maxStreams: 4 }) as RadioClassifier;
 * c.process(0, batch, ctx);   // IQ frames in on 'in', out on 'wifi' | 'lte' | 'other'
 * c.results();                // [{ stream: 1, technology: 'wifi', firstSample: 400, ... }]
 */
import type { Batch } from '../packet/pool.js';
import type { Counters, FunctionFactory, NetworkFunction, Plain, PortDecl, ProcessContext } from './contract.js';
import { ConfigError } from './contract.js';
import { arrayOf, bool, int, num, oneOf, strictObject } from './config.js';
import { IQ_OK, IQ_FOREIGN, IqHeader, parseIqHeader, readIqSamples } from './radio/iq.js';
import { SYMBOL_START } from './radio/lte.js';

export type Technology = 'wifi' | 'lte' | 'noise';
const TECHS: readonly Technology[] = ['noise', 'wifi', 'lte'];
export const CLASSIFIER_PORTS = { in: 0, wifi: 1, lte: 2, other: 3 } as const;

export interface ClassifierConfig {
  readonly maxStreams: number;
  readonly tauSamples: number;
  readonly stfThreshold: number;
  readonly wifiCpThreshold: number;
  readonly lteCpThreshold: number;
  /** Drop frames that belong to no burst instead of sending them to `other`. */
  readonly dropNoise: boolean;
  readonly maxResults: number;
}

/**
 * Parses a classifier configuration (unknown keys rejected).
 *
 * @example
 * parseClassifierConfig({ maxStreams: 8, lteCpThreshold: 0.5 });
 */
export function parseClassifierConfig(config: unknown): ClassifierConfig {
  const o = strictObject(config ?? {}, '', ['maxStreams', 'tauSamples', 'stfThreshold', 'wifiCpThreshold', 'lteCpThreshold', 'dropNoise', 'maxResults']);
  return {
    maxStreams: o.opt('maxStreams', int(1, 4096), 64),
    tauSamples: o.opt('tauSamples', int(256, 1 << 20), 2048),
    stfThreshold: o.opt('stfThreshold', num(0.05, 1), 0.6),
    wifiCpThreshold: o.opt('wifiCpThreshold', num(0.05, 1), 0.45),
    lteCpThreshold: o.opt('lteCpThreshold', num(0.05, 1), 0.45),
    dropNoise: o.opt('dropNoise', bool(), false),
    maxResults: o.opt('maxResults', int(1, 1 << 20), 4096),
  };
}

/** One burst: a run of frames of one stream classified as one technology. */
export interface BurstResult {
  readonly stream: number;
  readonly technology: Technology;
  readonly firstSample: number;
  /** One past the last sample of the last frame dispatched in the burst. */
  readonly endSample: number;
  readonly frames: number;
  /** Highest score seen during the burst. */
  readonly score: number;
}

const STF_WIN = 128;
const RING = 256;
const W_PER = 80;
const L_PER = 960;
const SCORE_EVERY = 1024;

/** Classifier state of one stream. */
class ClsStream {
  readonly ring = new Float32Array(2 * RING);
  n = 0;
  next = -1;
  readonly p16 = new Float64Array(3 * STF_WIN);
  p16r = 0;
  p16i = 0;
  e16 = 0;
  readonly bw = new Float64Array(3 * W_PER);
  readonly bl = new Float64Array(3 * L_PER);
  tech: Technology = 'noise';
  first = 0;
  end = 0;
  frames = 0;
  best = 0;
  lastScores = [0, 0, 0];
  /** Samples since the CP scores were refreshed. */
  pending = 0;
  /** The previous IQ frame of this stream (sent ahead of a burst's first frame). */
  readonly prev = new Uint8Array(2048);
  prevLen = 0;
  constructor(readonly id: number) {}
}

export class RadioClassifier implements NetworkFunction {
  readonly kind = 'radio-classifier';
  readonly ports: readonly PortDecl[] = [{ name: 'in' }, { name: 'wifi' }, { name: 'lte' }, { name: 'other' }];
  private readonly streams = new Map<number, ClsStream>();
  private readonly h = new IqHeader();
  private readonly tmp = new Float32Array(2 * 4096);
  private readonly tmpBytes = new Uint8Array(this.tmp.buffer);
  private readonly res: BurstResult[] = [];
  private readonly c = { in: 0, out: 0, dropped: 0, malformed: 0, foreign: 0, streamsFull: 0, gaps: 0, samples: 0, wifi: 0, lte: 0, other: 0, bursts: 0, resultsDropped: 0, preroll: 0 };
  private readonly decay: number;

  constructor(readonly cfg: ClassifierConfig) {
    this.decay = 1 / cfg.tauSamples;
  }

  private stream(id: number): ClsStream | null {
    let s = this.streams.get(id);
    if (s) return s;
    if (this.streams.size >= this.cfg.maxStreams) return null;
    s = new ClsStream(id);
    this.streams.set(id, s);
    return s;
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const { pool, out } = ctx;
    const b = pool.bytes;
    const c = this.c;
    const h = this.h;
    c.in += batch.count;
    for (let i = 0; i < batch.count; i++) {
      const slot = batch.slots[i]!;
      if (port !== CLASSIFIER_PORTS.in) {
        c.foreign++;
        c.dropped++;
        out.drop(slot);
        continue;
      }
      const pr = parseIqHeader(b, batch.offs[i]!, batch.lens[i]!, h);
      if (pr !== IQ_OK) {
        if (pr === IQ_FOREIGN) c.foreign++;
        else c.malformed++;
        c.dropped++;
        out.drop(slot);
        continue;
      }
      const s = this.stream(h.streamId);
      if (!s || h.count > 4096) {
        if (!s) c.streamsFull++;
        else c.malformed++;
        c.dropped++;
        out.drop(slot);
        continue;
      }
      if (s.next >= 0 && h.sampleIndex !== s.next) {
        c.gaps++;
        this.closeBurst(s);
        s.n = 0;
        s.prevLen = 0;
      }
      readIqSamples(pool.view, h, this.tmp, 0, b, this.tmpBytes);
      this.feed(s, this.tmp, h.count);
      s.next = h.sampleIndex + h.count;
      c.samples += h.count;
      const t = this.decide(s, h.sampleIndex, h.count);
      const off = batch.offs[i]!;
      const len = batch.lens[i]!;
      // Pre-roll: a burst is recognised a frame late at worst (e.g. a preamble that starts near the
      // end of a frame), so the previous frame of the stream goes ahead of the burst's first frame.
      if (t !== 'noise' && s.frames === 1 && s.prevLen > 0) {
        const ps = pool.alloc();
        if (ps >= 0) {
          const po = pool.frameOffset(ps);
          b.set(s.prev.subarray(0, s.prevLen), po);
          out.send(t === 'wifi' ? CLASSIFIER_PORTS.wifi : CLASSIFIER_PORTS.lte, ps, po, s.prevLen);
          c.preroll++;
        }
      }
      if (len <= s.prev.length) {
        s.prev.set(b.subarray(off, off + len));
        s.prevLen = len;
      } else s.prevLen = 0;
      if (t === 'wifi') {
        c.wifi++;
        c.out++;
        out.send(CLASSIFIER_PORTS.wifi, slot, batch.offs[i]!, batch.lens[i]!);
      } else if (t === 'lte') {
        c.lte++;
        c.out++;
        out.send(CLASSIFIER_PORTS.lte, slot, batch.offs[i]!, batch.lens[i]!);
      } else if (this.cfg.dropNoise) {
        c.other++;
        c.dropped++;
        out.drop(slot);
      } else {
        c.other++;
        c.out++;
        out.send(CLASSIFIER_PORTS.other, slot, batch.offs[i]!, batch.lens[i]!);
      }
    }
  }

  /** Updates the stream's correlators with `count` samples and refreshes its scores. */
  private feed(s: ClsStream, x: Float32Array, count: number): void {
    const ring = s.ring;
    const p16 = s.p16;
    const bw = s.bw;
    const bl = s.bl;
    let n = s.n;
    let p16r = s.p16r;
    let p16i = s.p16i;
    let e16 = s.e16;
    let stfMax = 0;
    // Phase counters instead of a modulo per sample.
    let w16 = (n % STF_WIN) * 3;
    let wb = n >= 64 ? ((n - 64) % W_PER) * 3 : 0;
    let lb = n >= 128 ? ((n - 128) % L_PER) * 3 : 0;
    for (let i = 0; i < count; i++) {
      const re = x[2 * i]!;
      const im = x[2 * i + 1]!;
      const r = (n & (RING - 1)) * 2;
      ring[r] = re;
      ring[r + 1] = im;
      const e = re * re + im * im;
      if (n >= 16) {
        const q = ((n - 16) & (RING - 1)) * 2;
        const ar = ring[q]!;
        const ai = ring[q + 1]!;
        // x[n−16]·conj(x[n])
        const cr = ar * re + ai * im;
        const ci = ai * re - ar * im;
        const ee = (ar * ar + ai * ai + e) * 0.5;
        p16r += cr - p16[w16]!;
        p16i += ci - p16[w16 + 1]!;
        e16 += ee - p16[w16 + 2]!;
        p16[w16] = cr;
        p16[w16 + 1] = ci;
        p16[w16 + 2] = ee;
        // max of |P|²/E² without a division per sample
        const pp = p16r * p16r + p16i * p16i;
        if (n >= 16 + STF_WIN && pp > stfMax * e16 * e16 && e16 > 1e-20) stfMax = pp / (e16 * e16);
      }
      w16 += 3;
      if (w16 === 3 * STF_WIN) w16 = 0;
      if (n >= 64) {
        const q = ((n - 64) & (RING - 1)) * 2;
        const ar = ring[q]!;
        const ai = ring[q + 1]!;
        bw[wb] = bw[wb]! + ar * re + ai * im;
        bw[wb + 1] = bw[wb + 1]! + ai * re - ar * im;
        bw[wb + 2] = bw[wb + 2]! + (ar * ar + ai * ai + e) * 0.5;
        wb += 3;
        if (wb === 3 * W_PER) wb = 0;
      }
      if (n >= 128) {
        const q = ((n - 128) & (RING - 1)) * 2;
        const ar = ring[q]!;
        const ai = ring[q + 1]!;
        bl[lb] = bl[lb]! + ar * re + ai * im;
        bl[lb + 1] = bl[lb + 1]! + ai * re - ar * im;
        bl[lb + 2] = bl[lb + 2]! + (ar * ar + ai * ai + e) * 0.5;
        lb += 3;
        if (lb === 3 * L_PER) lb = 0;
      }
      n++;
    }
    s.n = n;
    s.p16r = p16r;
    s.p16i = p16i;
    s.e16 = e16;
    s.lastScores[0] = Math.sqrt(stfMax);
    s.pending += count;
    // The CP scores move slowly (time constant tauSamples): refresh them, and age the bins, every
    // SCORE_EVERY samples rather than every frame.
    if (s.pending >= SCORE_EVERY) {
      const f = (1 - this.decay) ** s.pending;
      s.pending = 0;
      for (let k = 0; k < bw.length; k++) bw[k] = bw[k]! * f;
      for (let k = 0; k < bl.length; k++) bl[k] = bl[k]! * f;
      // Warm-up: with few samples per phase bin, noise alone correlates (≈ 1/√N); wait for the bins to fill.
      const tau = this.cfg.tauSamples;
      s.lastScores[1] = n >= tau / 2 ? cpScore(bw, W_PER, [0], 16) : 0;
      s.lastScores[2] = n >= tau ? cpScore(bl, L_PER, SYMBOL_START, 9) : 0;
    }
  }

  private decide(s: ClsStream, first: number, count: number): Technology {
    const cfg = this.cfg;
    const sc = s.lastScores;
    const stf = sc[0]!;
    const wcp = sc[1]!;
    const lcp = sc[2]!;
    const wifiScore = Math.max(stf / cfg.stfThreshold, wcp / cfg.wifiCpThreshold);
    const lteScore = lcp / cfg.lteCpThreshold;
    let t: Technology = 'noise';
    // Hysteresis: the current burst holds at 60 % of its threshold.
    if (s.tech === 'wifi' && wifiScore >= 0.6 && wifiScore >= lteScore) t = 'wifi';
    else if (s.tech === 'lte' && lteScore >= 0.6 && lteScore >= wifiScore) t = 'lte';
    else if (lteScore >= 1 && lteScore > wifiScore) t = 'lte';
    else if (wifiScore >= 1) t = 'wifi';
    if (t !== s.tech) {
      this.closeBurst(s);
      s.tech = t;
      s.first = first;
      s.frames = 0;
      s.best = 0;
    }
    if (t !== 'noise') {
      s.frames++;
      s.end = first + count;
      const sc = t === 'wifi' ? wifiScore : lteScore;
      if (sc > s.best) s.best = sc;
    }
    return t;
  }

  private closeBurst(s: ClsStream): void {
    if (s.tech === 'noise' || s.frames === 0) {
      s.tech = 'noise';
      return;
    }
    this.c.bursts++;
    if (this.res.length >= this.cfg.maxResults) {
      this.res.shift();
      this.c.resultsDropped++;
    }
    this.res.push({ stream: s.id, technology: s.tech, firstSample: s.first, endSample: s.end, frames: s.frames, score: s.best });
    s.tech = 'noise';
    s.frames = 0;
  }

  /**
   * Closed bursts, plus the open one of each stream (flagged by being last), oldest first.
   *
   * @example
   * c.results().filter((r) => r.stream === 2);
   */
  results(): BurstResult[] {
    const open: BurstResult[] = [];
    for (const s of this.streams.values()) {
      if (s.tech !== 'noise' && s.frames > 0) open.push({ stream: s.id, technology: s.tech, firstSample: s.first, endSample: s.end, frames: s.frames, score: s.best });
    }
    return [...this.res, ...open];
  }

  /** The latest scores of a stream: [stf, wifi CP, LTE CP] (normalised correlations). */
  scores(stream: number): readonly number[] {
    return this.streams.get(stream)?.lastScores.slice() ?? [];
  }

  counters(): Counters {
    return { ...this.c, streams: this.streams.size };
  }

  exportState(): Plain {
    const streams: Plain[] = [];
    for (const s of this.streams.values()) {
      streams.push({
        id: s.id, n: s.n, next: s.next, ring: Array.from(s.ring), p16: Array.from(s.p16), p16r: s.p16r, p16i: s.p16i, e16: s.e16,
        bw: Array.from(s.bw), bl: Array.from(s.bl), pending: s.pending, scores: s.lastScores.slice(), tech: s.tech, first: s.first, end: s.end, frames: s.frames, best: s.best,
      });
    }
    return { streams, results: this.res.map((r) => ({ ...r })) };
  }

  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['streams', 'results']);
    const any = num(-1e300, 1e300);
    const fixed = (len: number) => arrayOf(any, len, len);
    const rows = o.req('streams', arrayOf((v, p) => {
      const r = strictObject(v, p, ['id', 'n', 'next', 'ring', 'p16', 'p16r', 'p16i', 'e16', 'bw', 'bl', 'pending', 'scores', 'tech', 'first', 'end', 'frames', 'best']);
      const s = new ClsStream(r.req('id', int(0, 0xffffffff)));
      s.n = r.req('n', int(0, Number.MAX_SAFE_INTEGER));
      s.next = r.req('next', int(-1, Number.MAX_SAFE_INTEGER));
      s.ring.set(r.req('ring', fixed(2 * RING)));
      s.p16.set(r.req('p16', fixed(3 * STF_WIN)));
      s.p16r = r.req('p16r', any);
      s.p16i = r.req('p16i', any);
      s.e16 = r.req('e16', any);
      s.bw.set(r.req('bw', fixed(3 * W_PER)));
      s.bl.set(r.req('bl', fixed(3 * L_PER)));
      s.pending = r.req('pending', int(0, 1 << 30));
      s.lastScores = r.req('scores', fixed(3));
      s.tech = r.req('tech', oneOf(TECHS));
      s.first = r.req('first', any);
      s.end = r.req('end', any);
      s.frames = r.req('frames', int(0, Number.MAX_SAFE_INTEGER));
      s.best = r.req('best', any);
      return s;
    }, 0, this.cfg.maxStreams));
    const results = o.req('results', arrayOf((v, p) => {
      const r = strictObject(v, p, ['stream', 'technology', 'firstSample', 'endSample', 'frames', 'score']);
      return { stream: r.req('stream', int(0, 0xffffffff)), technology: r.req('technology', oneOf(TECHS)), firstSample: r.req('firstSample', any), endSample: r.req('endSample', any), frames: r.req('frames', any), score: r.req('score', any) };
    }));
    this.streams.clear();
    for (const s of rows) {
      if (this.streams.has(s.id)) throw new ConfigError('state.streams', `duplicate stream ${s.id}`);
      this.streams.set(s.id, s);
    }
    this.res.length = 0;
    this.res.push(...results);
  }
}

const WIN = new Float64Array(3 * L_PER);

/**
 * max over phase θ of |Σ_j Σ_{k<cp} B[θ+off_j+k]| / Σ E over the same bins (circular over `per`):
 * the sliding CP-window sums first (O(per)), then one sum per symbol start.
 */
function cpScore(bins: Float64Array, per: number, offs: readonly number[], cp: number): number {
  const w = WIN;
  let r = 0;
  let im = 0;
  let e = 0;
  for (let k = 0; k < cp; k++) {
    r += bins[3 * k]!;
    im += bins[3 * k + 1]!;
    e += bins[3 * k + 2]!;
  }
  for (let t = 0; t < per; t++) {
    w[3 * t] = r;
    w[3 * t + 1] = im;
    w[3 * t + 2] = e;
    const a = 3 * t;
    const b = 3 * ((t + cp) % per);
    r += bins[b]! - bins[a]!;
    im += bins[b + 1]! - bins[a + 1]!;
    e += bins[b + 2]! - bins[a + 2]!;
  }
  let best = 0;
  const no = offs.length;
  for (let t = 0; t < per; t++) {
    r = 0;
    im = 0;
    e = 0;
    for (let j = 0; j < no; j++) {
      let q = t + offs[j]!;
      if (q >= per) q -= per;
      r += w[3 * q]!;
      im += w[3 * q + 1]!;
      e += w[3 * q + 2]!;
    }
    if (e > 1e-20) {
      const m = (r * r + im * im) / (e * e);
      if (m > best) best = m;
    }
  }
  return Math.sqrt(best);
}

export const radioClassifierFactory: FunctionFactory = {
  kind: 'radio-classifier',
  summary: 'tells 802.11a/g, LTE and noise apart in IQ streams (STF and CP correlations) and dispatches frames per technology',
  create: (config: unknown) => new RadioClassifier(parseClassifierConfig(config)),
  ports: (config: unknown) => {
    parseClassifierConfig(config);
    return [{ name: 'in' }, { name: 'wifi' }, { name: 'lte' }, { name: 'other' }];
  },
};
