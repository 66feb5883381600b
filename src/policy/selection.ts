/**
 * VM selection from an overloaded host: MMT (minimum migration time = smallest RAM), MC (maximum
 * correlation of its history with the others'), RS (random, seeded).
 */
import { rSquared } from './stats.js';
import type { VmSnapshot } from './types.js';

export type SelectionKind = 'mmt' | 'mc' | 'rs';

/** Picks one of `candidates` (indices into `vms`); returns a position in `candidates`, or -1. */
export type VmSelector = (candidates: readonly number[], vms: readonly VmSnapshot[]) => number;

/**
 * Builds a selector. `random` is used by RS only (pass a seeded one for reproducible runs).
 * @example const pick = vmSelector('mmt'); pick([3, 7], vms);
 */
export function vmSelector(kind: SelectionKind, random: () => number = Math.random): VmSelector {
  switch (kind) {
    case 'mmt':
      return minMigrationTime;
    case 'rs':
      return (c) => (c.length === 0 ? -1 : Math.min(c.length - 1, Math.floor(random() * c.length)));
    case 'mc':
      return (c, vms) => {
        if (c.length === 0) return -1;
        let m = Infinity;
        for (const i of c) m = Math.min(m, vms[i]?.history.length ?? 0);
        const cols = c.map((i) => Array.from({ length: m }, (_, j) => vms[i]?.history[j] ?? 0));
        let best = -1;
        let bestR = -Infinity;
        for (let k = 0; k < c.length; k++) {
          const others = cols.filter((_, j) => j !== k);
          const r = rSquared(cols[k] ?? [], others);
          if (Number.isNaN(r)) return minMigrationTime(c, vms); // no degrees of freedom
          if (r > bestR) { bestR = r; best = k; }
        }
        return best;
      };
  }
}

function minMigrationTime(c: readonly number[], vms: readonly VmSnapshot[]): number {
  let best = -1;
  let min = Infinity;
  for (let k = 0; k < c.length; k++) {
    const ram = vms[c[k] ?? -1]?.ramMb ?? Infinity;
    if (ram < min) { min = ram; best = k; }
  }
  return best;
}
