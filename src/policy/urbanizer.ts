/**
 * Our urbanizer: an online, multi-objective consolidation policy.
 *
 * At each decision it forecasts every VM's demand from its own past samples only (a high
 * quantile of the recent window: mean + z·σ, never below the current sample), then
 *  1. relieves hosts whose forecast load exceeds `high`, moving the VMs that are cheapest to move
 *     (RAM × requested MIPS: what a migration costs in SLA time and degraded MIPS);
 *  2. places them best-fit on the active host with the lowest weighted cost (power increase,
 *     fit, load balance), switching a server on only when none fits — the most energy-efficient
 *     model first;
 *  3. evacuates the least-loaded hosts when all their VMs fit elsewhere under `pack`, within a
 *     per-round migration budget, so that idle servers go to standby without churn.
 * Resilience is a hard constraint: VMs sharing an `antiAffinity` group (a function and its
 * standby) never share a server. The weights and thresholds are configuration.
 */
import { powerAt, maxPower } from './power.js';
import { hostCapacity, type DatacenterSnapshot, type HostSnapshot, type Migration, type VmSnapshot } from './types.js';

export interface UrbanizerConfig {
  /** Forecast window (samples) and quantile factor: forecast = max(now, mean + z·σ). */
  readonly window: number;
  readonly z: number;
  /** A host whose forecast load exceeds `high` × capacity is relieved down to `pack`. */
  readonly high: number;
  /** Placement fills hosts up to `pack` × capacity (forecast). */
  readonly pack: number;
  /** Hosts forecast below `low` × capacity are candidates for evacuation. */
  readonly low: number;
  /** Most migrations one round may start for evacuations (relief is never budgeted). */
  readonly evacuationBudget: number;
  /** Weights of the destination cost: watts added, unused capacity left (fit), squared load (balance). */
  readonly weights: { readonly energy: number; readonly fit: number; readonly balance: number; readonly migration: number };
  /** At creation VMs are packed assuming this share of their nominal MIPS (no sample is known yet). */
  readonly creationShare: number;
  /**
   * Whether RAM and bandwidth limit migrations. The PlanetLab reference (CloudSim) reserves them
   * only at creation, so comparisons with it leave this false; a real datacenter sets it true.
   * Creation always respects them.
   */
  readonly enforceCapacity: boolean;
}

/** One configuration for every trace (not tuned per day). */
export const DEFAULT_URBANIZER: UrbanizerConfig = {
  window: 6,
  z: 1,
  high: 0.95,
  pack: 0.88,
  low: 0.6,
  evacuationBudget: 200,
  weights: { energy: 1, fit: 10, balance: 0, migration: 1 },
  creationShare: 0.5,
  enforceCapacity: false,
};

export interface Urbanizer {
  /** Places new VMs (their `requestedMips` is the nominal demand); host per VM, -1 if none. */
  place(s: DatacenterSnapshot): Int32Array;
  /** One consolidation round. */
  decide(s: DatacenterSnapshot): Migration[];
}

/** Thrown for an inconsistent configuration. */
export class UrbanizerConfigError extends Error {
  override readonly name = 'UrbanizerConfigError';
}

/**
 * Checks a configuration and builds the urbanizer.
 * @example const u = createUrbanizer(DEFAULT_URBANIZER); const moves = u.decide(snapshot);
 */
export function createUrbanizer(c: UrbanizerConfig): Urbanizer {
  if (!(c.low < c.pack && c.pack <= c.high && c.high <= 1)) throw new UrbanizerConfigError('need low < pack ≤ high ≤ 1');
  if (!(c.window >= 1) || !(c.z >= 0) || !(c.evacuationBudget >= 0)) throw new UrbanizerConfigError('window ≥ 1, z ≥ 0, evacuationBudget ≥ 0');
  if (!(c.creationShare > 0 && c.creationShare <= 1)) throw new UrbanizerConfigError('creationShare in (0, 1]');
  return {
    place: (s) => new Round(s, c, true).placeAll(),
    decide: (s) => new Round(s, c, false).run(),
  };
}

/**
 * A VM's forecast demand (MIPS) as the urbanizer sees it: max(now, mean + z·σ) of its newest
 * `window` samples, capped at its nominal MIPS (a live controller classifies decisions with it).
 * @example forecastMips({ mips: 100, requestedMips: 10, history: [0.1, 0.3] } as VmSnapshot, DEFAULT_URBANIZER) // 30
 */
export function forecastMips(vm: Pick<VmSnapshot, 'mips' | 'requestedMips' | 'history'>, c: Pick<UrbanizerConfig, 'window' | 'z'>): number {
  const h = vm.history;
  const n = Math.min(c.window, h.length);
  const now = vm.requestedMips / vm.mips;
  if (n === 0) return vm.requestedMips;
  let m = 0;
  for (let i = 0; i < n; i++) m += h[i] ?? 0;
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += ((h[i] ?? 0) - m) ** 2;
  const q = m + c.z * Math.sqrt(v / n);
  return Math.min(1, Math.max(now, q)) * vm.mips;
}

/** Watts per MIPS at full load: lower is a more efficient server. */
function efficiency(h: HostSnapshot): number {
  return maxPower(h.power) / hostCapacity(h);
}

class Round {
  readonly H: number;
  readonly cap: Float64Array;
  readonly load: Float64Array; // forecast MIPS
  readonly list: number[][];
  readonly f: Float64Array; // forecast per VM
  readonly active: Uint8Array;
  readonly locked: Uint8Array; // sources and destinations of this round
  readonly out: Migration[] = [];
  /** Blank hosts by efficiency (best first), and a cursor. */
  readonly blank: number[];
  blankNext = 0;
  readonly capacityChecked: boolean;

  constructor(readonly s: DatacenterSnapshot, readonly c: UrbanizerConfig, creating: boolean) {
    const H = (this.H = s.hosts.length);
    this.capacityChecked = creating || c.enforceCapacity;
    this.cap = new Float64Array(H);
    this.load = new Float64Array(H);
    this.active = new Uint8Array(H);
    this.locked = new Uint8Array(H);
    this.list = new Array<number[]>(H);
    this.f = new Float64Array(s.vms.length);
    for (let v = 0; v < s.vms.length; v++) {
      const vm = s.vms[v] as VmSnapshot;
      this.f[v] = creating ? vm.mips * c.creationShare : this.forecast(vm);
    }
    this.blank = [];
    for (let h = 0; h < H; h++) {
      const host = s.hosts[h] as HostSnapshot;
      this.cap[h] = hostCapacity(host);
      this.list[h] = creating ? [] : host.vms.slice();
      let l = 0;
      for (const v of this.list[h] ?? []) l += this.f[v] ?? 0;
      this.load[h] = l;
      if ((this.list[h] ?? []).length > 0) this.active[h] = 1;
      else this.blank.push(h);
    }
    this.blank.sort((a, b) => efficiency(s.hosts[a] as HostSnapshot) - efficiency(s.hosts[b] as HostSnapshot) || a - b);
  }

  forecast(vm: VmSnapshot): number {
    return forecastMips(vm, this.c);
  }

  /** May VM v go to host h with forecast limit `limit` × capacity? */
  fits(h: number, v: number, limit: number): boolean {
    const host = this.s.hosts[h] as HostSnapshot;
    const vm = this.s.vms[v] as VmSnapshot;
    const fv = this.f[v] ?? 0;
    if (host.peMips < fv || host.peMips < vm.requestedMips) return false;
    if ((this.load[h] ?? 0) + fv > limit * (this.cap[h] ?? 0)) return false;
    let ram = vm.ramMb;
    let bw = vm.bwMbps;
    for (const o of this.list[h] ?? []) {
      const ov = this.s.vms[o] as VmSnapshot;
      ram += ov.ramMb;
      bw += ov.bwMbps;
      if (vm.antiAffinity !== undefined && ov.antiAffinity === vm.antiAffinity) return false;
    }
    return !this.capacityChecked || (ram <= host.ramMb && bw <= host.bwMbps);
  }

  cost(h: number, v: number): number {
    const host = this.s.hosts[h] as HostSnapshot;
    const cap = this.cap[h] ?? 1;
    const before = (this.load[h] ?? 0) / cap;
    const after = before + (this.f[v] ?? 0) / cap;
    const w = this.c.weights;
    const dP = powerAt(host.power, Math.min(1, after)) - powerAt(host.power, Math.min(1, before));
    return w.energy * dP + w.fit * (this.c.pack - after) + w.balance * after * after * 100;
  }

  /** Best active destination (not excluded), else a blank host switched on; -1 if none. */
  destination(v: number, exclude: number, limit: number): number {
    let best = -1;
    let bestCost = Infinity;
    for (let h = 0; h < this.H; h++) {
      if (!this.active[h] || h === exclude || this.locked[h] === 2 || !this.fits(h, v, limit)) continue;
      const k = this.cost(h, v);
      if (k < bestCost) { bestCost = k; best = h; }
    }
    if (best >= 0) return best;
    while (this.blankNext < this.blank.length) {
      const h = this.blank[this.blankNext] ?? -1;
      if (this.active[h]) { this.blankNext++; continue; }
      if (this.fits(h, v, limit)) return h;
      return -1;
    }
    return -1;
  }

  move(v: number, from: number, to: number): void {
    const l = this.list[from] ?? [];
    const i = l.indexOf(v);
    if (i >= 0) l.splice(i, 1);
    this.load[from] = (this.load[from] ?? 0) - (this.f[v] ?? 0);
    this.add(v, to);
    if (from >= 0) this.out.push({ vm: v, from, to });
  }

  add(v: number, to: number): void {
    (this.list[to] as number[]).push(v);
    this.load[to] = (this.load[to] ?? 0) + (this.f[v] ?? 0);
    this.active[to] = 1;
  }

  placeAll(): Int32Array {
    const order = this.s.vms.map((_, i) => i).sort((a, b) => (this.f[b] ?? 0) - (this.f[a] ?? 0) || a - b);
    const where = new Int32Array(this.s.vms.length).fill(-1);
    for (const v of order) {
      const h = this.destination(v, -1, this.c.pack);
      if (h >= 0) { this.add(v, h); where[v] = h; }
    }
    return where;
  }

  run(): Migration[] {
    const c = this.c;
    // 1. relief
    for (let h = 0; h < this.H; h++) {
      if (!this.active[h] || (this.load[h] ?? 0) <= c.high * (this.cap[h] ?? 0)) continue;
      this.locked[h] = 2;
      const vms = (this.list[h] ?? []).slice();
      // cheapest to move per MIPS relieved first
      vms.sort((a, b) => this.moveCost(a) / Math.max(1, this.f[a] ?? 0) - this.moveCost(b) / Math.max(1, this.f[b] ?? 0));
      for (const v of vms) {
        if ((this.load[h] ?? 0) <= c.pack * (this.cap[h] ?? 0)) break;
        const to = this.destination(v, h, c.pack);
        if (to < 0) continue;
        this.move(v, h, to);
        this.locked[to] = Math.max(this.locked[to] ?? 0, 1);
      }
    }
    // 2. evacuation of the least loaded hosts
    const cand: number[] = [];
    for (let h = 0; h < this.H; h++) {
      if (this.active[h] && !this.locked[h] && (this.load[h] ?? 0) < c.low * (this.cap[h] ?? 0)) cand.push(h);
    }
    cand.sort((a, b) => (this.load[a] ?? 0) / (this.cap[a] ?? 1) - (this.load[b] ?? 0) / (this.cap[b] ?? 1) || a - b);
    let budget = c.evacuationBudget;
    for (const h of cand) {
      if (this.locked[h]) continue;
      const vms = (this.list[h] ?? []).slice().sort((a, b) => (this.f[b] ?? 0) - (this.f[a] ?? 0));
      if (vms.length > budget) continue;
      this.locked[h] = 2;
      const done: { v: number; to: number }[] = [];
      let ok = true;
      for (const v of vms) {
        const to = this.destinationActive(v, h, c.pack);
        if (to < 0) { ok = false; break; }
        this.move(v, h, to);
        done.push({ v, to });
      }
      if (!ok) {
        for (let i = done.length - 1; i >= 0; i--) {
          const d = done[i]!;
          this.out.pop();
          const l = this.list[d.to] ?? [];
          l.splice(l.indexOf(d.v), 1);
          this.load[d.to] = (this.load[d.to] ?? 0) - (this.f[d.v] ?? 0);
          (this.list[h] as number[]).push(d.v);
          this.load[h] = (this.load[h] ?? 0) + (this.f[d.v] ?? 0);
        }
        this.locked[h] = 0;
        continue;
      }
      budget -= vms.length;
      this.active[h] = 0;
      for (const d of done) this.locked[d.to] = Math.max(this.locked[d.to] ?? 0, 1);
    }
    return this.out;
  }

  /** Destination among active hosts only (an evacuation never switches a server on). */
  destinationActive(v: number, exclude: number, limit: number): number {
    let best = -1;
    let bestCost = Infinity;
    for (let h = 0; h < this.H; h++) {
      if (!this.active[h] || h === exclude || this.locked[h] === 2 || !this.fits(h, v, limit)) continue;
      const k = this.cost(h, v);
      if (k < bestCost) { bestCost = k; best = h; }
    }
    return best;
  }

  moveCost(v: number): number {
    const vm = this.s.vms[v] as VmSnapshot;
    return vm.ramMb * (vm.requestedMips + 50) * this.c.weights.migration;
  }
}
