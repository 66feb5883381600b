/**
 * Virtual NICs and the per-domain control block, the shared memory that joins a user domain
 * (worker thread) to domain 0, as Xen's netfront/netback pair plus its event channel.
 *
 * Every frame slot belongs to domain 0's pool (one PacketPool per server over a
 * SharedArrayBuffer), as guest pages are granted by the hypervisor: a user domain never owns a
 * slot, it holds it until it gives it back. Per domain:
 * - per virtual NIC, an `rx` ring (domain 0 → front-end: frames arriving on that port) and a
 *   `tx` ring (front-end → domain 0: frames leaving by that port); handing a descriptor over is
 *   the page flip, the frame stays where it is;
 * - a `free` ring on which domain 0 posts empty slots (the front-end's buffers for frames it
 *   originates: ARP, ICMP errors) and a `ret` ring on which the domain gives back slots it dropped
 *   or consumed;
 * - a control block of Int32 words: a heartbeat the watchdog reads, and two doorbells with
 *   "sleeping" flags so that each side wakes the other at most once per batch (the producer
 *   checks the flag after its one ring push of the batch, the sleeper re-checks the rings after
 *   raising its flag: no lost wake-up).
 *
 * @example
 * const rings = newDomainRings(new SharedArrayBuffer(DOM0.WORDS * 4), 2, 1024); // two virtual NICs
 * const ctl = new Int32Array(rings.control);
 * ringBell(ctl, CTL.WORKER_SLEEPING, CTL.WORKER_BELL); // after pushing a batch to rx[0]
 */
import { Ring } from './ring.js';

/** Word indices of the control block (each on its own 64-byte line: no false sharing). */
export const CTL = {
  HEARTBEAT: 0,
  WORKER_SLEEPING: 16,
  WORKER_BELL: 32,
  /** Domain 0 sets it to ask the domain to stop (graceful destroy). */
  STOP: 48,
  /** Frames the domain processed (its own count, read by domain 0 for utilisation). */
  FRAMES: 64,
  /** Migration: domain 0 writes a request number; the domain, once its rx rings are empty, posts its functions' state with it. */
  EXPORT: 80,
  /** Migration: the number of an import domain 0 posted; the domain applies it before processing any further frame. */
  IMPORT: 96,
  /** Frames the domain dropped because its tx ring stayed full (domain 0 did not drain it). */
  TX_FULL: 112,
  /** Live contexts: the number of a context change (add/remove) domain 0 posted; the domain applies it between two batches. */
  CONTEXT: 128,
  WORDS: 144,
} as const;

/** Word indices of domain 0's doorbell, one per server, shared by all its domains. */
export const DOM0 = {
  SLEEPING: 0,
  BELL: 16,
  WORDS: 32,
} as const;

/** The shared buffers of one domain; plain data, posted to the worker as is. */
export interface DomainRings {
  control: SharedArrayBuffer;
  /** Domain 0's doorbell (DOM0 words), the same buffer for every domain of the server. */
  dom0: SharedArrayBuffer;
  rx: SharedArrayBuffer[];
  tx: SharedArrayBuffer[];
  free: SharedArrayBuffer;
  ret: SharedArrayBuffer;
}

/**
 * Allocates the rings of a domain with `vnics` virtual NICs of `capacity` descriptors each.
 * The free/ret rings hold `poolSlots` rounded up (a domain can never have more slots to return).
 */
export function newDomainRings(dom0: SharedArrayBuffer, vnics: number, capacity: number, poolSlots = capacity): DomainRings {
  let retCap = 2;
  while (retCap < poolSlots) retCap *= 2;
  return {
    control: new SharedArrayBuffer(CTL.WORDS * 4),
    dom0,
    rx: Array.from({ length: vnics }, () => new Ring({ capacity }).buffer),
    tx: Array.from({ length: vnics }, () => new Ring({ capacity }).buffer),
    free: new Ring({ capacity: Math.max(capacity, 256) }).buffer,
    ret: new Ring({ capacity: retCap }).buffer,
  };
}

/** Producer side of a doorbell: wake the other side if it said it sleeps (once per batch). */
export function ringBell(ctl: Int32Array, sleeping: number, bell: number): void {
  if (Atomics.load(ctl, sleeping) !== 0) {
    Atomics.store(ctl, sleeping, 0);
    Atomics.add(ctl, bell, 1);
    Atomics.notify(ctl, bell);
  }
}

/** One end of a virtual NIC: the two rings of a port, as the side that holds them sees them. */
export class VirtualNic {
  readonly rx: Ring;
  readonly tx: Ring;
  constructor(
    readonly index: number,
    rx: SharedArrayBuffer,
    tx: SharedArrayBuffer,
  ) {
    this.rx = new Ring({ buffer: rx });
    this.tx = new Ring({ buffer: tx });
  }
}
