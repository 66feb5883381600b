/**
 * Quantities as operators write them in manifests: Kubernetes-style CPU ("500m") and memory
 * ("512Mi", "4G"), link rates ("10Gbps") and durations ("5ms"). A bare number is the base
 * unit: cores, bytes, bits per second, milliseconds. The patterns are shared with the JSON
 * Schema so that what validates also parses.
 */

export const CPU_PATTERN = '^[0-9]+(\\.[0-9]+)?m?$';
export const BYTES_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P)?$';
export const RATE_PATTERN = '^[0-9]+(\\.[0-9]+)? ?(bps|kbps|Kbps|Mbps|Gbps|Tbps)$';
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)$';

const BYTES: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };
const RATE: Record<string, number> = { bps: 1, kbps: 1e3, Kbps: 1e3, Mbps: 1e6, Gbps: 1e9, Tbps: 1e12 };
const DURATION_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

function split(q: string, pattern: string): [number, string] {
  const n = /^[0-9]+(\.[0-9]+)?/.exec(q);
  if (!n || !new RegExp(pattern).test(q)) throw new RangeError(`bad quantity '${q}'`);
  return [Number(n[0]), q.slice(n[0].length).trim()];
}

/**
 * CPU in cores.
 * @example parseCpu('500m') === 0.5
 */
export function parseCpu(q: number | string): number {
  if (typeof q === 'number') return q;
  const [n, unit] = split(q, CPU_PATTERN);
  return unit === 'm' ? n / 1000 : n;
}

/**
 * Memory in bytes.
 * @example parseBytes('1Gi') === 1073741824
 */
export function parseBytes(q: number | string): number {
  if (typeof q === 'number') return q;
  const [n, unit] = split(q, BYTES_PATTERN);
  return n * BYTES[unit]!;
}

/**
 * Rate in bits per second.
 * @example parseRate('10Gbps') === 1e10
 */
export function parseRate(q: number | string): number {
  if (typeof q === 'number') return q;
  const [n, unit] = split(q, RATE_PATTERN);
  return n * RATE[unit]!;
}

/**
 * Duration in milliseconds.
 * @example parseDuration('250us') === 0.25
 */
export function parseDuration(q: number | string): number {
  if (typeof q === 'number') return q;
  const [n, unit] = split(q, DURATION_PATTERN);
  return n * DURATION_MS[unit]!;
}
