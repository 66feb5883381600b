/** Compares simulated figures with the reference table under the tolerances. */
import type { SimResult } from './engine.js';
import { REFERENCE } from './reference.js';

export interface ReferenceComparison {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

/**
 * Energy and migrations within 5 %, SLAV within 15 % of CloudSim's figure for `day`/`policy`;
 * `ok` is true with no problems when the day or policy has no reference.
 * @example compareToReference('20110303', result).ok
 */
export function compareToReference(day: string, r: SimResult): ReferenceComparison {
  const want = REFERENCE[day]?.policies[r.policy];
  if (!want) return { ok: true, problems: [] };
  const problems: string[] = [];
  const rel = (a: number, b: number): number => Math.abs(a - b) / b;
  if (rel(r.energyKWh, want.energyKWh) > 0.05) problems.push(`energy ${r.energyKWh.toFixed(2)} vs ${want.energyKWh} kWh`);
  if (rel(r.migrations, want.migrations) > 0.05) problems.push(`migrations ${r.migrations} vs ${want.migrations}`);
  if (rel(r.slav, want.slav) > 0.15) problems.push(`SLAV ${r.slav.toExponential(2)} vs ${want.slav.toExponential(2)}`);
  return { ok: problems.length === 0, problems };
}
