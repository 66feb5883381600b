/** The CloudSim PlanetLab setup (Beloglazov & Buyya 2012) and scaled variants of it. */
import { HP_ML110_G4, HP_ML110_G5, type PowerModel } from '../policy/power.js';
import { seededRandom } from '../policy/rng.js';
import type { Trace } from './trace.js';

export interface SimHostSpec {
  readonly peMips: number;
  readonly pes: number;
  readonly ramMb: number;
  readonly bwMbps: number;
  readonly power: PowerModel;
}

export interface SimVmSpec {
  readonly mips: number;
  readonly ramMb: number;
  readonly bwMbps: number;
  /** Utilisation samples (fractions), one per interval. */
  readonly samples: Float64Array;
  readonly antiAffinity?: string;
}

export interface Scenario {
  readonly name: string;
  readonly hosts: readonly SimHostSpec[];
  readonly vms: readonly SimVmSpec[];
  /** Seconds between decisions (and samples). */
  readonly interval: number;
  /** Simulated seconds (CloudSim: 86,400; decisions at 300.1, 600.1, …, last ≤ this). */
  readonly duration: number;
  /**
   * Optional grouping of hosts (e.g. datacenter tiers) reported separately: `hostGroup[h]` is an
   * index into `groups`. Totals are unchanged by it.
   */
  readonly groups?: readonly SimGroup[];
  readonly hostGroup?: Int32Array;
}

/** A reporting group of hosts; `pue` scales its IT energy into facility energy. */
export interface SimGroup {
  readonly name: string;
  readonly pue?: number;
}

/** HP ML110 G4 (2 × 1860 MIPS) and G5 (2 × 2660 MIPS), 4 GB, 1 Gbit/s. */
export const PLANETLAB_HOSTS: readonly SimHostSpec[] = [
  { peMips: 1860, pes: 2, ramMb: 4096, bwMbps: 1000, power: HP_ML110_G4 },
  { peMips: 2660, pes: 2, ramMb: 4096, bwMbps: 1000, power: HP_ML110_G5 },
];
/** The four VM types (EC2-like): MIPS and RAM; 1 core, 100 Mbit/s. */
export const PLANETLAB_VM_TYPES: readonly { mips: number; ramMb: number }[] = [
  { mips: 2500, ramMb: 870 },
  { mips: 2000, ramMb: 1740 },
  { mips: 1000, ramMb: 1740 },
  { mips: 500, ramMb: 613 },
];

/**
 * CloudSim's experiment: `hosts` hosts alternately G4/G5, one VM per trace line, types in four
 * equal consecutive blocks (VM i has type ⌊i / ⌈n/4⌉⌋).
 * @example planetLabScenario(loadTrace(file)).hosts.length // 800
 */
export function planetLabScenario(trace: Trace, hosts = 800): Scenario {
  const n = trace.samples.length;
  const block = Math.ceil(n / PLANETLAB_VM_TYPES.length);
  const vms: SimVmSpec[] = trace.samples.map((samples, i) => {
    const t = PLANETLAB_VM_TYPES[Math.floor(i / block)] ?? PLANETLAB_VM_TYPES[3]!;
    return { mips: t.mips, ramMb: t.ramMb, bwMbps: 100, samples };
  });
  const hs: SimHostSpec[] = [];
  for (let i = 0; i < hosts; i++) hs.push(PLANETLAB_HOSTS[i % 2]!);
  const samples = trace.samples[0]?.length ?? 288;
  return { name: trace.name, hosts: hs, vms, interval: trace.interval, duration: samples * trace.interval };
}

/**
 * A larger datacenter built by resampling: `vmCount` VMs whose traces are drawn (seeded) from
 * the given days, each shifted by a random number of intervals (wrapping) and jittered by ±5
 * points so that copies are not in lockstep; `hostCount` hosts alternately G4/G5.
 * @example scaledScenario([day1, day2], 100_000, 80_000, 1)
 */
export function scaledScenario(traces: readonly Trace[], vmCount: number, hostCount: number, seed = 1): Scenario {
  const rnd = seededRandom(seed);
  const pool: Float64Array[] = traces.flatMap((t) => [...t.samples]);
  const len = Math.min(...pool.map((p) => p.length));
  const vms: SimVmSpec[] = [];
  for (let i = 0; i < vmCount; i++) {
    const src = pool[Math.floor(rnd() * pool.length)] ?? new Float64Array(len);
    const shift = Math.floor(rnd() * len);
    const s = new Float64Array(len);
    for (let j = 0; j < len; j++) {
      const v = (src[(j + shift) % len] ?? 0) + Math.round((rnd() - 0.5) * 10) / 100;
      s[j] = Math.min(1, Math.max(0, Math.round(v * 100) / 100));
    }
    const t = PLANETLAB_VM_TYPES[i % 4]!;
    vms.push({ mips: t.mips, ramMb: t.ramMb, bwMbps: 100, samples: s });
  }
  const hs: SimHostSpec[] = [];
  for (let i = 0; i < hostCount; i++) hs.push(PLANETLAB_HOSTS[i % 2]!);
  return { name: `scaled ${vmCount} VMs / ${hostCount} hosts`, hosts: hs, vms, interval: traces[0]?.interval ?? 300, duration: len * (traces[0]?.interval ?? 300) };
}
