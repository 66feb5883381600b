/**
 * Who owns a frame slot when frames cross domains. One shared PacketPool buffer is carved into
 * regions, one per domain; a domain allocates only from its own region (a private free stack,
 * no lock). Two ways across:
 *  - page flip (domains of one tenant): the descriptor itself crosses the ring; the receiver
 *    reads the frame in place and, when done, releases the slot, which goes back to its
 *    owner on a return ring (one SPSC ring per (releaser, owner) pair, sized to the owner's
 *    region so that it can never be full);
 *  - grant copy (domains of different tenants, done by domain 0 as Xen's netback does): the
 *    receiver posts empty slots of its own region, the host copies each frame into one and
 *    the source slot goes back to its owner. A tenant never holds another tenant's slot.
 * Descriptors coming from another domain are untrusted: a slot out of range, a frame outside
 * its slot, a slot not owned by the claimed tenant, or a double release is counted, never
 * thrown.
 *
 * @example
 * const layout = new SlotLayout({ slotSize: 2048, headroom: 128, regions: [
 *   { domain: 0, tenant: 'host', slots: 512 }, { domain: 1, tenant: 'a', slots: 512 } ] });
 * const pool = layout.pool();                          // share layout.buffer with workers
 * const d1 = new DomainSlots({ layout, pool, domain: 1, returnsIn: [], returnsOut: new Map() });
 * const slot = d1.alloc();
 */
import { Batch, PacketPool } from '../packet/pool.js';
import { Ring } from './ring.js';

export interface RegionInit {
  domain: number;
  tenant: string;
  slots: number;
}

export interface SlotLayoutInit {
  regions: RegionInit[];
  slotSize?: number;
  headroom?: number;
  /** Share an existing layout's buffer (in another domain). */
  buffer?: SharedArrayBuffer;
}

export interface Region extends RegionInit {
  base: number;
}

/** The carving of one pool into per-domain regions: plain data, the same in every domain. */
export class SlotLayout {
  readonly regions: readonly Region[];
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly buffer: SharedArrayBuffer;
  private readonly byDomain = new Map<number, Region>();

  constructor(init: SlotLayoutInit) {
    let base = 0;
    const regions: Region[] = [];
    for (const r of init.regions) {
      if (!Number.isInteger(r.slots) || r.slots <= 0) throw new RangeError(`region of domain ${r.domain}: slots must be a positive integer`);
      if (this.byDomain.has(r.domain)) throw new RangeError(`domain ${r.domain} has two regions`);
      const reg = { ...r, base };
      regions.push(reg);
      this.byDomain.set(r.domain, reg);
      base += r.slots;
    }
    this.regions = regions;
    this.slots = base;
    this.slotSize = init.slotSize ?? 2048;
    this.headroom = init.headroom ?? 128;
    this.buffer = init.buffer ?? new SharedArrayBuffer(this.slots * this.slotSize);
  }

  /** A pool view over the shared buffer (geometry and bytes; allocation goes through DomainSlots). */
  pool(): PacketPool {
    return new PacketPool({ slots: this.slots, slotSize: this.slotSize, headroom: this.headroom, buffer: this.buffer });
  }

  region(domain: number): Region {
    const r = this.byDomain.get(domain);
    if (!r) throw new RangeError(`no region for domain ${domain}`);
    return r;
  }

  /** The region holding `slot`, or undefined for an index outside the pool. */
  ownerOf(slot: number): Region | undefined {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) return undefined;
    // Few regions per server: a linear scan beats a search tree here.
    for (const r of this.regions) if (slot < r.base + r.slots) return r;
    return undefined;
  }

  /** Capacity of the return ring toward `owner`: its region size rounded up to a power of two. */
  returnRingCapacity(owner: number): number {
    let c = 2;
    while (c < this.region(owner).slots) c *= 2;
    return c;
  }
}

export interface DomainSlotsInit {
  layout: SlotLayout;
  pool: PacketPool;
  domain: number;
  /** Rings on which other domains return this domain's slots. */
  returnsIn: Ring[];
  /** Per owner domain, the ring on which this domain returns that owner's slots. */
  returnsOut: Map<number, Ring>;
}

export interface SlotCounters {
  free: number;
  returned: number;
  reclaimed: number;
  invalid: number;
  doubleFree: number;
}

/** One domain's side of slot ownership: allocate from its region, release anyone's slots. */
export class DomainSlots {
  readonly region: Region;
  private readonly stack: Int32Array;
  private top: number;
  /** 1 = this slot is in the free stack: catches a slot released twice (a buggy or hostile peer). */
  private readonly isFree: Uint8Array;
  private readonly pending = new Map<number, Batch>();
  private readonly scratch = new Batch();
  private returned = 0;
  private reclaimed = 0;
  private invalid = 0;
  private doubleFree = 0;

  constructor(private readonly init: DomainSlotsInit) {
    this.region = init.layout.region(init.domain);
    this.stack = new Int32Array(this.region.slots);
    this.isFree = new Uint8Array(this.region.slots).fill(1);
    for (let k = 0; k < this.region.slots; k++) this.stack[k] = this.region.base + this.region.slots - 1 - k;
    this.top = this.region.slots;
    for (const owner of init.returnsOut.keys()) this.pending.set(owner, new Batch());
  }

  /** A free slot of this domain's region, or -1 (after reclaiming returned slots). */
  alloc(): number {
    if (this.top === 0 && this.reclaim() === 0) return -1;
    const s = this.stack[--this.top] as number;
    this.isFree[s - this.region.base] = 0;
    return s;
  }

  get available(): number {
    return this.top;
  }

  /**
   * Releases every slot of `batch`: own slots go back on the free stack, others are queued
   * for their owners and pushed with one ring push per owner (see `flush`).
   */
  release(batch: Batch): void {
    const { base, slots: n } = this.region;
    for (let k = 0; k < batch.count; k++) {
      const s = batch.slots[k] as number;
      if (s >= base && s < base + n) {
        this.freeOwn(s);
        continue;
      }
      const owner = this.init.layout.ownerOf(s);
      const q = owner ? this.pending.get(owner.domain) : undefined;
      if (!owner || !q) {
        this.invalid++;
        continue;
      }
      if (q.full) this.flushOne(owner.domain, q);
      q.push(s, 0, 0);
    }
    this.flush();
  }

  /** Pushes queued foreign slots to their owners' return rings. */
  flush(): void {
    for (const [owner, q] of this.pending) if (q.count > 0) this.flushOne(owner, q);
  }

  /** Takes back this domain's slots that other domains returned; returns how many. */
  reclaim(): number {
    let got = 0;
    const b = this.scratch;
    for (const r of this.init.returnsIn) {
      for (;;) {
        b.clear();
        const n = r.pop(b);
        if (n === 0) break;
        for (let k = 0; k < n; k++) {
          const s = b.slots[k] as number;
          if (s < this.region.base || s >= this.region.base + this.region.slots) this.invalid++;
          else if (this.freeOwn(s)) got++;
        }
      }
    }
    this.reclaimed += got;
    return got;
  }

  counters(): SlotCounters {
    return { free: this.top, returned: this.returned, reclaimed: this.reclaimed, invalid: this.invalid, doubleFree: this.doubleFree };
  }

  private freeOwn(s: number): boolean {
    const i = s - this.region.base;
    if (this.isFree[i] === 1) {
      this.doubleFree++;
      return false;
    }
    this.isFree[i] = 1;
    this.stack[this.top++] = s;
    return true;
  }

  private flushOne(owner: number, q: Batch): void {
    const ring = this.init.returnsOut.get(owner) as Ring;
    // Sized to the owner's region, the ring only fills if a peer returns more than it holds.
    const n = ring.push(q);
    this.returned += n;
    this.invalid += q.count - n;
    q.clear();
  }
}

export interface GrantCopyResult {
  copied: number;
  /** Frames the receiver had posted no buffer for (counted, as netback's rx drops). */
  noBuffer: number;
  /** Descriptors that were not a frame of the claimed source tenant (out of range or bounds). */
  rejected: number;
}

/**
 * Grant copy, run by domain 0 between tenants: copies each frame of `src` (claimed to come from
 * `fromTenant`) into an empty slot posted by the receiver (taken from the end of `posted`) and
 * appends its descriptor to `out`. Source slots are not released here: the caller releases
 * `src` through its DomainSlots (they go home to their owner).
 *
 * @example
 * const r = grantCopy(layout, pool, 'tenant-a', fromA, postedByB, toB);
 * dom0.release(fromA);
 */
export function grantCopy(layout: SlotLayout, pool: PacketPool, fromTenant: string, src: Batch, posted: Batch, out: Batch): GrantCopyResult {
  const bytes = pool.bytes;
  let copied = 0;
  let noBuffer = 0;
  let rejected = 0;
  for (let k = 0; k < src.count; k++) {
    const s = src.slots[k] as number;
    const off = src.offs[k] as number;
    const len = src.lens[k] as number;
    const owner = layout.ownerOf(s);
    const start = s * layout.slotSize;
    if (!owner || owner.tenant !== fromTenant || off < start || len < 0 || off + len > start + layout.slotSize) {
      rejected++;
      continue;
    }
    if (posted.count === 0 || out.full) {
      noBuffer++;
      continue;
    }
    const d = posted.slots[--posted.count] as number;
    const dOwner = layout.ownerOf(d);
    if (!dOwner || dOwner.tenant === fromTenant || len > layout.slotSize - layout.headroom) {
      rejected++;
      continue;
    }
    const doff = pool.frameOffset(d);
    bytes.copyWithin(doff, off, off + len);
    out.push(d, doff, len);
    copied++;
  }
  return { copied, noBuffer, rejected };
}

/** 'flip' between domains of one tenant, 'copy' between tenants (DESIGN.md, Packet). */
export function crossingMode(fromTenant: string, toTenant: string): 'flip' | 'copy' {
  return fromTenant === toTenant ? 'flip' : 'copy';
}
