/**
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
 * Load Balancer", NSDI 2016, §3.4). Each backend has a permutation of the M table slots given
 * by offset = h1(name) mod M and skip = h2(name) mod (M − 1) + 1 (M prime, so every skip is
 * coprime with M and the permutation visits every slot); backends take turns claiming their
 * next preferred free slot until the table is full. Every backend gets ⌊M/N⌋ or ⌈M/N⌉ slots, and
 * when one backend leaves, almost only its own slots change owner.
 */
import { hashString } from './flowhash.js';

export class MaglevError extends Error {
  override readonly name = 'MaglevError';
}

/** Default table size: a prime well above 100 × the backend counts we expect. */
export const MAGLEV_DEFAULT_SIZE = 65537;

function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * A Maglev lookup table over named backends; `lookup(hash)` gives a backend index (position in
 * the `backends` array given to `build`), or -1 when no backend is up.
 *
 * @example
 * const m = new Maglev(65537);
 * m.build(['a', 'b', 'c'], [true, true, true]);
 * const backend = m.lookup(flowHash4(src, dst, sport, dport, 6));
 * m.build(['a', 'b', 'c'], [true, false, true]); // b down: only b's flows move
 */
export class Maglev {
  readonly size: number;
  readonly table: Int32Array;

  constructor(size: number = MAGLEV_DEFAULT_SIZE) {
    if (!isPrime(size)) throw new MaglevError(`Maglev table size must be prime, got ${size}`);
    this.size = size;
    this.table = new Int32Array(size).fill(-1);
  }

  /**
   * Fills the table for `names` (stable identities: the permutation of a backend depends only on
   * its name), skipping those whose `up` flag is false. Optional integer `weights` (≥ 1) let a
   * backend claim that many slots per turn.
   */
  build(names: readonly string[], up: readonly boolean[], weights?: readonly number[]): void {
    const M = this.size;
    const table = this.table;
    table.fill(-1);
    const live: number[] = [];
    for (let i = 0; i < names.length; i++) if (up[i] === true) live.push(i);
    if (live.length === 0) return;
    const n = live.length;
    const offset = new Int32Array(n);
    const skip = new Int32Array(n);
    const next = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const name = names[live[k] as number] as string;
      offset[k] = hashString(name, 0x4d61676c) % M;
      skip[k] = (hashString(name, 0x65763121) % (M - 1)) + 1;
    }
    let filled = 0;
    for (;;) {
      for (let k = 0; k < n; k++) {
        const w = weights ? Math.max(1, Math.floor(weights[live[k] as number] ?? 1)) : 1;
        for (let t = 0; t < w; t++) {
          // Next slot of k's permutation that is still free: (offset + j·skip) mod M.
          let c = (offset[k] as number) + (next[k] as number) * (skip[k] as number);
          c %= M;
          while (table[c] !== -1) {
            next[k] = (next[k] as number) + 1;
            c = ((offset[k] as number) + (next[k] as number) * (skip[k] as number)) % M;
          }
          table[c] = live[k] as number;
          next[k] = (next[k] as number) + 1;
          if (++filled === M) return;
        }
      }
    }
  }

  /** Backend index for a flow hash (unsigned 32-bit), or -1 when no backend is up. */
  lookup(hash: number): number {
    return this.table[(hash >>> 0) % this.size] as number;
  }
}
