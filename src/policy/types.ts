/**
 * Plain snapshot data the policies decide on. The simulator and the live control plane both
 * build these; nothing here refers to how they were measured.
 */
import type { PowerModel } from './power.js';

/** A physical server at decision time. */
export interface HostSnapshot {
  /** Cores and MIPS per core; capacity is `pes × peMips`. */
  readonly peMips: number;
  readonly pes: number;
  readonly ramMb: number;
  /** Network bandwidth in Mbit/s (migrations use half of it). */
  readonly bwMbps: number;
  readonly power: PowerModel;
  /** MIPS allocated to its VMs now (utilisation × capacity, as measured). */
  readonly allocatedMips: number;
  /** Indices into `DatacenterSnapshot.vms` of the VMs that run here, in arrival order. */
  readonly vms: readonly number[];
}

/** A virtual machine (or network function) at decision time. */
export interface VmSnapshot {
  /** Nominal MIPS of its one virtual core. */
  readonly mips: number;
  readonly ramMb: number;
  readonly bwMbps: number;
  /** Index of its host, -1 when not placed. */
  readonly host: number;
  /** MIPS it asks for now (utilisation × mips, not capped by the host). */
  readonly requestedMips: number;
  /** CPU utilisation samples as fractions of `mips`, most recent first (the last ≤ 30 decisions). */
  readonly history: ArrayLike<number>;
  /** VMs with the same group must not share a host (a function and its standby). */
  readonly antiAffinity?: string | undefined;
}

/** Everything a consolidation decision sees. */
export interface DatacenterSnapshot {
  /** Seconds since the start; the interval between decisions. */
  readonly time: number;
  readonly schedulingInterval: number;
  readonly hosts: readonly HostSnapshot[];
  readonly vms: readonly VmSnapshot[];
}

/** One decision: move `vm` from host `from` to host `to` (indices into the snapshot). */
export interface Migration {
  readonly vm: number;
  readonly from: number;
  readonly to: number;
}

/** Host capacity in MIPS. @example hostCapacity({ pes: 2, peMips: 1860 } as HostSnapshot) // 3720 */
export function hostCapacity(h: Pick<HostSnapshot, 'pes' | 'peMips'>): number {
  return h.pes * h.peMips;
}

/** Seconds to migrate a VM of `ramMb` over a link of `bwMbps`, using half of the link (CloudSim's model). @example migrationSeconds(870, 1000) // 13.92 */
export function migrationSeconds(ramMb: number, bwMbps: number): number {
  return ramMb / (bwMbps / 16);
}
