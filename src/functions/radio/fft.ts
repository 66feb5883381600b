/**
 * Radix-2 complex FFT over interleaved Float32Array buffers ([re0, im0, re1, im1, …]), in place,
 * with twiddles and the bit-reversal permutation precomputed once per size: a call allocates
 * nothing, so receivers can run one per symbol on the hot path.
 *
 * @example
 * const f = new Fft(64);
 * const x = new Float32Array(128); x[2] = 1;   // bin 1
 * f.inverse(x);                                 // x = e^{j2πn/64} / 64
 */
export class Fft {
  readonly n: number;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly rev: Uint32Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0) throw new RangeError(`FFT size must be a power of two ≥ 2, got ${n}`);
    this.n = n;
    this.cos = new Float64Array(n / 2);
    this.sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    this.rev = new Uint32Array(n);
    const bits = Math.log2(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >>> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
  }

  /** X[k] = Σ x[n]·e^{−j2πkn/N} (no scaling), on `n` complex values at `off` (in complex units). */
  forward(x: Float32Array, off = 0): void {
    this.run(x, off, -1);
  }

  /** x[n] = (1/N)·Σ X[k]·e^{+j2πkn/N}. */
  inverse(x: Float32Array, off = 0): void {
    this.run(x, off, 1);
    const s = 1 / this.n;
    const b = 2 * off;
    for (let i = 0; i < 2 * this.n; i++) x[b + i] = x[b + i]! * s;
  }

  private run(x: Float32Array, off: number, sign: number): void {
    const n = this.n;
    const b = 2 * off;
    const rev = this.rev;
    for (let i = 0; i < n; i++) {
      const j = rev[i]!;
      if (j > i) {
        const a = b + 2 * i;
        const c = b + 2 * j;
        const tr = x[a]!;
        const ti = x[a + 1]!;
        x[a] = x[c]!;
        x[a + 1] = x[c + 1]!;
        x[c] = tr;
        x[c + 1] = ti;
      }
    }
    const cs = this.cos;
    const sn = this.sin;
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >>> 1;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const wr = cs[k * step]!;
          const wi = sign * sn[k * step]!;
          const p = b + 2 * (start + k);
          const q = p + 2 * half;
          const qr = x[q]!;
          const qi = x[q + 1]!;
          const tr = qr * wr - qi * wi;
          const ti = qr * wi + qi * wr;
          const pr = x[p]!;
          const pi = x[p + 1]!;
          x[q] = pr - tr;
          x[q + 1] = pi - ti;
          x[p] = pr + tr;
          x[p + 1] = pi + ti;
        }
      }
    }
  }
}
