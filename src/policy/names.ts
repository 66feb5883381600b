/** Policy names as the reference writes them: `thr-mmt-0.8`, `iqr-mc-1.5`, `lr-rs-1.2`, `npa`, `dvfs`. */
import { PolicySpecError, type OverloadSpec } from './overload.js';
import type { SelectionKind } from './selection.js';

export type PolicySpec =
  | { readonly kind: 'npa' | 'dvfs' | 'urbanizer'; readonly name: string }
  | { readonly kind: 'consolidation'; readonly name: string; readonly overload: OverloadSpec; readonly selection: SelectionKind };

/**
 * Parses a policy name (case-insensitive).
 * @example parsePolicy('LR-MMT-1.2') // { kind: 'consolidation', overload: { kind: 'lr', safety: 1.2 }, selection: 'mmt', … }
 */
export function parsePolicy(name: string): PolicySpec {
  const n = name.trim().toLowerCase();
  if (n === 'npa' || n === 'dvfs' || n === 'urbanizer') return { kind: n, name: n };
  const m = /^(thr|iqr|mad|lrr|lr)-(mmt|mc|rs)-([0-9]*\.?[0-9]+)$/.exec(n);
  if (!m) throw new PolicySpecError(`unknown policy '${name}': expected npa, dvfs, urbanizer or DETECTOR-SELECTION-PARAM (e.g. lr-mmt-1.2; detectors thr iqr mad lr lrr; selections mmt mc rs)`);
  const det = m[1] as 'thr' | 'iqr' | 'mad' | 'lr' | 'lrr';
  const sel = m[2] as SelectionKind;
  const param = Number(m[3]);
  if (!(param > 0)) throw new PolicySpecError(`policy '${name}': parameter must be positive`);
  const overload: OverloadSpec = det === 'thr' ? { kind: 'thr', threshold: param } : { kind: det, safety: param };
  return { kind: 'consolidation', name: n, overload, selection: sel };
}
