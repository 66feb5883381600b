/** Small statistics helpers with the exact conventions of the reference (commons-math, CloudSim MathUtil). */

/**
 * Percentile with commons-math's legacy estimator: position p(n+1)/100, linear between neighbours.
 * @example percentile([1, 2, 3, 4], 50) // 2.5
 */
export function percentile(values: ArrayLike<number>, p: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  if (n === 1) return s[0] ?? NaN;
  const pos = (p * (n + 1)) / 100;
  if (pos < 1) return s[0] ?? NaN;
  if (pos >= n) return s[n - 1] ?? NaN;
  const f = Math.floor(pos);
  const lower = s[f - 1] ?? NaN;
  const upper = s[f] ?? NaN;
  return lower + (pos - f) * (upper - lower);
}

/** Median (legacy percentile 50). @example median([3, 1, 2]) // 2 */
export function median(values: ArrayLike<number>): number {
  return percentile(values, 50);
}

/** Median absolute deviation. @example mad([1, 2, 3, 4, 100]) // 1 */
export function mad(values: ArrayLike<number>): number {
  if (values.length === 0) return 0;
  const m = median(values);
  const dev = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) dev[i] = Math.abs(m - (values[i] ?? 0));
  return median(dev);
}

/**
 * Interquartile range as CloudSim's MathUtil.iqr computes it (rounded rank positions, no interpolation).
 * @example iqr([1, 2, 3, 4, 5, 6, 7, 8]) // 5
 */
export function iqr(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return 0;
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  const q1 = Math.max(0, Math.round(0.25 * (n + 1)) - 1);
  const q3 = Math.min(n - 1, Math.round(0.75 * (n + 1)) - 1);
  return (s[q3] ?? 0) - (s[q1] ?? 0);
}

/**
 * Ordinary least squares of y on x = 1..n; returns [intercept, slope]. Accumulated with the
 * centred updates commons-math's SimpleRegression uses, so results agree to the last bit with
 * the reference (a threshold test on the prediction can flip on the last bit).
 * @example linearFit([1, 2, 3]) // [0, 1]
 */
export function linearFit(y: ArrayLike<number>): [number, number] {
  const n = y.length;
  let xbar = 0, ybar = 0, sumXX = 0, sumXY = 0, sumX = 0, sumY = 0;
  for (let i = 0; i < n; i++) {
    const x = i + 1;
    const v = y[i] ?? 0;
    if (i === 0) { xbar = x; ybar = v; }
    else {
      const fact1 = 1 + i;
      const fact2 = i / (1 + i);
      const dx = x - xbar;
      const dy = v - ybar;
      sumXX += dx * dx * fact2;
      sumXY += dx * dy * fact2;
      xbar += dx / fact1;
      ybar += dy / fact1;
    }
    sumX += x;
    sumY += v;
  }
  if (n < 2 || sumXX < 10 * Number.MIN_VALUE) return [n > 0 ? sumY / n : 0, 0];
  const b = sumXY / sumXX;
  return [(sumY - b * sumX) / n, b];
}

/**
 * R² of the multiple linear regression (with intercept) of `y` on the columns `xs`; NaN when
 * there are not more observations than parameters (no degrees of freedom).
 * @example rSquared([1, 2, 3, 4], [[2, 4, 6, 8.5]]) // ≈ 0.99
 */
export function rSquared(y: ArrayLike<number>, xs: readonly ArrayLike<number>[]): number {
  const n = y.length;
  const p = xs.length + 1;
  if (n <= p) return NaN;
  // Normal equations (XᵀX) β = Xᵀy with a leading column of ones.
  const a = new Float64Array(p * p);
  const b = new Float64Array(p);
  const row = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    row[0] = 1;
    for (let j = 1; j < p; j++) row[j] = xs[j - 1]?.[i] ?? 0;
    const yi = y[i] ?? 0;
    for (let r = 0; r < p; r++) {
      const rv = row[r] ?? 0;
      b[r] = (b[r] ?? 0) + rv * yi;
      for (let c = 0; c < p; c++) a[r * p + c] = (a[r * p + c] ?? 0) + rv * (row[c] ?? 0);
    }
  }
  const beta = solve(a, b, p);
  if (!beta) return NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[i] ?? 0;
  mean /= n;
  let ssr = 0, sst = 0;
  for (let i = 0; i < n; i++) {
    let f = beta[0] ?? 0;
    for (let j = 1; j < p; j++) f += (beta[j] ?? 0) * (xs[j - 1]?.[i] ?? 0);
    const yi = y[i] ?? 0;
    ssr += (yi - f) * (yi - f);
    sst += (yi - mean) * (yi - mean);
  }
  return sst === 0 ? 0 : 1 - ssr / sst;
}

function solve(a: Float64Array, b: Float64Array, p: number): Float64Array | null {
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(a[r * p + c] ?? 0) > Math.abs(a[piv * p + c] ?? 0)) piv = r;
    const pv = a[piv * p + c] ?? 0;
    if (Math.abs(pv) < 1e-12) return null;
    if (piv !== c) {
      for (let k = 0; k < p; k++) {
        const t = a[c * p + k] ?? 0; a[c * p + k] = a[piv * p + k] ?? 0; a[piv * p + k] = t;
      }
      const t = b[c] ?? 0; b[c] = b[piv] ?? 0; b[piv] = t;
    }
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = (a[r * p + c] ?? 0) / pv;
      if (f === 0) continue;
      for (let k = c; k < p; k++) a[r * p + k] = (a[r * p + k] ?? 0) - f * (a[c * p + k] ?? 0);
      b[r] = (b[r] ?? 0) - f * (b[c] ?? 0);
    }
  }
  const x = new Float64Array(p);
  for (let i = 0; i < p; i++) x[i] = (b[i] ?? 0) / (a[i * p + i] ?? 1);
  return x;
}
