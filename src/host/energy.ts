/**
 * Energy metering of a server from its measured utilisation: at each sample, utilisation over
 * the interval (work done ÷ work the capacity allowed) → watts from the server's SPECpower model
 * (policy/power.ts, linear between the 10 % points) → joules, integrated by the trapezoid rule.
 * A server that hosts nothing is in standby: it draws `standbyWatts` (ACPI S3-like, a few watts),
 * not the model's idle draw.
 *
 * @example
 * const m = new EnergyMeter({ model: HP_ML110_G5 });
 * m.sample(0, 0, true);        // t = 0 s, hosting something
 * m.sample(1, 0.5, true);      // 1 s at 50 %
 * m.joules;                    // 104.85 (93.7 W → 116 W, trapezoid)
 */
import { powerAt, type PowerModel } from '../policy/power.js';

export interface EnergyMeterInit {
  model: PowerModel;
  /** Draw when the server hosts nothing; default 5 W. */
  standbyWatts?: number;
}

export interface EnergyReading {
  joules: number;
  watts: number;
  utilisation: number;
  standby: boolean;
  seconds: number;
}

export class EnergyMeter {
  joules = 0;
  watts = 0;
  utilisation = 0;
  standby = true;
  private last = NaN;
  private first = NaN;
  private readonly standbyWatts: number;

  constructor(readonly init: EnergyMeterInit) {
    this.standbyWatts = init.standbyWatts ?? 5;
    if (!(this.standbyWatts >= 0)) throw new RangeError('standbyWatts must be a non-negative number');
  }

  /** Records that at time `t` (s) the utilisation of the interval just ended was `u` (0..1). */
  sample(t: number, u: number, hosting: boolean): void {
    const uu = Number.isFinite(u) ? Math.min(1, Math.max(0, u)) : 0;
    const w = hosting ? powerAt(this.init.model, uu) : this.standbyWatts;
    if (Number.isNaN(this.last)) {
      this.first = t;
    } else if (t > this.last) {
      // Trapezoid between the previous draw and this one; a switch to or from standby is a step.
      const dt = t - this.last;
      this.joules += hosting === !this.standby ? ((this.watts + w) / 2) * dt : w * dt;
    }
    this.last = t;
    this.watts = w;
    this.utilisation = uu;
    this.standby = !hosting;
  }

  reading(): EnergyReading {
    return { joules: this.joules, watts: this.watts, utilisation: this.utilisation, standby: this.standby, seconds: Number.isNaN(this.last) ? 0 : this.last - this.first };
  }
}
