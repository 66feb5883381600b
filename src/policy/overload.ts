/**
 * Overload detection (Beloglazov & Buyya 2012): static threshold THR, adaptive IQR and MAD,
 * local regression LR and its robust variant LRR. Each works on a host's aggregate load; the
 * adaptive ones fall back to THR 0.7 while the host has too little history.
 */
import { iqr, linearFit, mad } from './stats.js';

/** The aggregate a detector looks at. */
export interface HostLoad {
  readonly capacityMips: number;
  /** Σ of the VMs' requested MIPS now. */
  readonly requestedMips: number;
  /** Host utilisation history (Σ vm utilisation × vm mips / capacity), most recent first. */
  readonly history: ArrayLike<number>;
  readonly historyLength: number;
  /** Largest VM RAM on the host (MB) and the host bandwidth (Mbit/s): LR looks ahead one migration. */
  readonly maxVmRamMb: number;
  readonly bwMbps: number;
  readonly schedulingInterval: number;
}

export type OverloadSpec =
  | { readonly kind: 'thr'; readonly threshold: number }
  | { readonly kind: 'iqr' | 'mad' | 'lr' | 'lrr'; readonly safety: number };

export type OverloadDetector = ((h: HostLoad) => boolean) & {
  /** How many of the newest history samples the detector reads (callers may fill only those). */
  readonly historyNeeded?: number;
  /**
   * Set by LR/LRR, whose verdict is a threshold on a LINEAR function of the history: the
   * least-squares line through the newest `window` samples (x = 1..window, oldest first),
   * evaluated at x = window + ahead, ahead = ⌈max VM RAM / (bw / 16) / interval⌉, is overloaded
   * when × `safety` ≥ 1; with fewer than `window` samples (trailing zeros trimmed) it is
   * requested / capacity > `fallback`. A caller that places many VMs can therefore keep per-host
   * sums of the per-VM mean and slope instead of refitting (equal up to rounding).
   */
  readonly linear?: { readonly window: number; readonly safety: number; readonly fallback: number };
};

/** Thrown for an unusable detector parameter. */
export class PolicySpecError extends Error {
  override readonly name = 'PolicySpecError';
}

const FALLBACK = 0.7;
/** Samples the adaptive thresholds need before they trust their statistics (CloudSim uses 12). */
const MIN_ADAPTIVE = 12;
/** Samples the local regression fits (the last 10). */
const LR_WINDOW = 10;

function thr(h: HostLoad, t: number): boolean {
  return h.requestedMips / h.capacityMips > t;
}

/**
 * Builds a detector.
 * @example const over = overloadDetector({ kind: 'lr', safety: 1.2 }); over(load);
 */
export function overloadDetector(spec: OverloadSpec): OverloadDetector {
  switch (spec.kind) {
    case 'thr': {
      const t = spec.threshold;
      if (!(t > 0)) throw new PolicySpecError(`THR threshold must be positive, got ${t}`);
      return Object.assign((h: HostLoad) => thr(h, t), { historyNeeded: 0 });
    }
    case 'iqr':
    case 'mad': {
      const s = spec.safety;
      const stat = spec.kind === 'iqr' ? iqr : mad;
      const buf = new Float64Array(64);
      return (h: HostLoad): boolean => {
        const n = nonZeroPrefix(h);
        if (n < MIN_ADAPTIVE) return thr(h, FALLBACK);
        // CloudSim computes the statistic over the whole (zero-trimmed) history.
        const len = trimmedLength(h);
        const data = len <= buf.length ? buf.subarray(0, len) : new Float64Array(len);
        for (let i = 0; i < len; i++) data[i] = h.history[i] ?? 0;
        const upper = 1 - s * stat(data);
        return h.requestedMips / h.capacityMips > upper;
      };
    }
    case 'lr':
    case 'lrr': {
      // LRR = LR: the reference computes robust weights but applies them only when ≥ 40 % of
      // them are zero, which never happens for a window of 10 — both are plain least squares.
      const s = spec.safety;
      const y = new Float64Array(LR_WINDOW);
      const lr = (h: HostLoad): boolean => {
        if (trimmedLength(h) < LR_WINDOW) return thr(h, FALLBACK);
        for (let i = 0; i < LR_WINDOW; i++) y[i] = h.history[LR_WINDOW - 1 - i] ?? 0;
        const [a, b] = linearFit(y);
        const migSeconds = h.maxVmRamMb / (h.bwMbps / 16);
        const ahead = Math.ceil(migSeconds / h.schedulingInterval);
        return (a + b * (LR_WINDOW + ahead)) * s >= 1;
      };
      return Object.assign(lr, { historyNeeded: LR_WINDOW, linear: { window: LR_WINDOW, safety: s, fallback: FALLBACK } });
    }
  }
}

function trimmedLength(h: HostLoad): number {
  let n = h.historyLength;
  while (n > 0 && (h.history[n - 1] ?? 0) === 0) n--;
  return n;
}

function nonZeroPrefix(h: HostLoad): number {
  let n = 0;
  const len = trimmedLength(h);
  while (n < len && (h.history[n] ?? 0) !== 0) n++;
  return n;
}
