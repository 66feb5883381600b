import type { DatacenterSnapshot, Migration } from './types.js';
import { placeNewVms } from './placement.js';
import { overloadDetector } from './overload.js';
export interface UrbanizerConfig { readonly x: number }
export const DEFAULT_URBANIZER: UrbanizerConfig = { x: 1 };
export function createUrbanizer(_c: UrbanizerConfig): { place(s: DatacenterSnapshot): Int32Array; decide(s: DatacenterSnapshot): Migration[] } {
  const o = overloadDetector({ kind: 'thr', threshold: 0.7 });
  return { place: (s) => placeNewVms(s, s.vms.map((_, i) => i), { mode: 'power-aware', overload: o, checkOverload: false }), decide: () => [] };
}
