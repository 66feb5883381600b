/** Builds simulator deciders from policy names, over the shared policy/ functions. */
import { consolidate, placeNewVms } from '../policy/placement.js';
import { overloadDetector } from '../policy/overload.js';
import { vmSelector } from '../policy/selection.js';
import { seededRandom } from '../policy/rng.js';
import { parsePolicy } from '../policy/names.js';
import { createUrbanizer, DEFAULT_URBANIZER, type UrbanizerConfig } from '../policy/urbanizer.js';
import type { SimDecider } from './engine.js';
import type { DatacenterSnapshot } from '../policy/types.js';

export interface DeciderOptions {
  /** Seed for RS (random selection). */
  readonly seed?: number;
  readonly urbanizer?: UrbanizerConfig;
}

/**
 * A decider reproducing CloudSim's behaviour for `name` (npa, dvfs, thr-mmt-0.8, …) or our urbanizer.
 * @example simulate(scenario, decider('lr-mmt-1.2'))
 */
export function decider(name: string, o: DeciderOptions = {}): SimDecider {
  const spec = parsePolicy(name);
  const all = (s: DatacenterSnapshot): number[] => s.vms.map((_, i) => i);
  const thr07 = overloadDetector({ kind: 'thr', threshold: 0.7 });
  if (spec.kind === 'npa' || spec.kind === 'dvfs') {
    return {
      name: spec.name, initial: 'first-fit', energy: spec.kind,
      place: (s) => placeNewVms(s, all(s), { mode: 'first-fit', overload: thr07, checkOverload: false, enforceCapacity: true }),
    };
  }
  if (spec.kind !== 'consolidation') {
    const u = createUrbanizer(o.urbanizer ?? DEFAULT_URBANIZER);
    return { name: 'urbanizer', initial: 'power-aware', energy: 'dvfs', place: (s) => u.place(s), decide: (s) => u.decide(s) };
  }
  const overload = overloadDetector(spec.overload);
  const select = vmSelector(spec.selection, seededRandom(o.seed ?? 1));
  return {
    name: spec.name, initial: 'power-aware', energy: 'dvfs',
    // At creation the VMs already placed request 0 MIPS in CloudSim, so the overload check never bites.
    place: (s) => placeNewVms(s, all(s), { mode: 'power-aware', overload, checkOverload: false, enforceCapacity: true }),
    decide: (s) => consolidate(s, { overload, select, enforceCapacity: false }),
  };
}
