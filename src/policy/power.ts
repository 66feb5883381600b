/**
 * Power models as SPECpower tables: watts at 0 %, 10 %, …, 100 % CPU load, linear in between
 * (the model CloudSim's PowerModelSpecPower uses).
 */

/** A SPECpower table: `watts[i]` is the draw at `i × 10 %` load; 11 entries. */
export interface PowerModel {
  readonly name: string;
  readonly watts: readonly number[];
}

/** Thrown for a power table that is not 11 increasing-or-equal wattages. */
export class PowerModelError extends Error {
  override readonly name = 'PowerModelError';
}

/**
 * Builds a checked power model.
 * @example const m = powerModel('box', [80, 85, 90, 95, 100, 105, 110, 115, 120, 125, 130]);
 */
export function powerModel(name: string, watts: readonly number[]): PowerModel {
  if (watts.length !== 11) throw new PowerModelError(`power model ${name}: need 11 wattages (0 %..100 %), got ${watts.length}`);
  for (let i = 0; i < 11; i++) {
    const w = watts[i] ?? NaN;
    if (!Number.isFinite(w) || w < 0) throw new PowerModelError(`power model ${name}: wattage ${i} is not a non-negative number`);
    if (i > 0 && w < (watts[i - 1] ?? 0)) throw new PowerModelError(`power model ${name}: wattage decreases at ${i * 10} %`);
  }
  return { name, watts: [...watts] };
}

/** HP ProLiant ML110 G4 (Xeon 3040), SPECpower. */
export const HP_ML110_G4: PowerModel = powerModel('HP ProLiant ML110 G4', [86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117]);
/** HP ProLiant ML110 G5 (Xeon 3075), SPECpower. */
export const HP_ML110_G5: PowerModel = powerModel('HP ProLiant ML110 G5', [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135]);

/**
 * Watts at utilisation `u` (0..1; clamped), linear between the table's 10 % points.
 * Same arithmetic as CloudSim's PowerModelSpecPower so that energies match to the last digit.
 * @example powerAt(HP_ML110_G4, 0.25) // 94.3
 */
export function powerAt(model: PowerModel, u: number): number {
  const w = model.watts;
  if (!(u > 0)) return w[0] ?? 0;
  if (u >= 1) return w[10] ?? 0;
  const x = u * 10;
  const lo = Math.floor(x);
  const hi = Math.ceil(x);
  const p1 = w[lo] ?? 0;
  if (lo === hi) return p1;
  const p2 = w[hi] ?? 0;
  return p1 + ((p2 - p1) / 10) * (u - lo / 10) * 100;
}

/** Peak draw (at 100 % load). @example maxPower(HP_ML110_G5) // 135 */
export function maxPower(model: PowerModel): number {
  return model.watts[10] ?? 0;
}

/**
 * Energy (joules) over `seconds` when utilisation moves linearly from `from` to `to`
 * (CloudSim's getEnergyLinearInterpolation): a host whose utilisation was 0 at the start
 * of the interval counts as switched off.
 * @example energyLinear(HP_ML110_G5, 0.5, 0.5, 300) // 34800
 */
export function energyLinear(model: PowerModel, from: number, to: number, seconds: number): number {
  if (from === 0) return 0;
  const a = powerAt(model, from);
  const b = powerAt(model, to);
  return (a + (b - a) / 2) * seconds;
}
