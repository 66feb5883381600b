/**
 * Power-aware best-fit-decreasing consolidation (Beloglazov & Buyya 2012), step for step as
 * CloudSim 3.0.3's PowerVmAllocationPolicyMigrationAbstract does it:
 *  1. find the overloaded hosts; from each, select VMs until it is no longer overloaded;
 *  2. sort those VMs by requested MIPS, decreasing; give each the host with the smallest power
 *     increase that can take it and is not overloaded afterwards (sources excluded);
 *  3. then, repeatedly, take the least-utilised remaining host and try to move all its VMs
 *     elsewhere (never onto overloaded, switched-off or already-emptied hosts); keep the moves
 *     only if every VM found a place.
 * Pure: reads a snapshot, returns migrations.
 */
import { hostCapacity, type DatacenterSnapshot, type HostSnapshot, type Migration, type VmSnapshot } from './types.js';
import type { HostLoad, OverloadDetector } from './overload.js';
import type { VmSelector } from './selection.js';
import { powerAt } from './power.js';

export const HISTORY_LENGTH = 30;
const BUCKETS = 101;
/** Hosts a bucketed search looks at per class: the first of its heap, i.e. the most LR headroom. */
const PER_BUCKET = 4;
/** Classes a bucketed search still visits after the first feasible one. */
const MORE_CLASSES = 8;
/** Classes a bucketed search visits before it gives up (keeps failed searches cheap). */
const MAX_BUCKET_VISITS = 60;

export interface ConsolidationOptions {
  readonly overload: OverloadDetector;
  readonly select: VmSelector;
  /**
   * Whether hosts' RAM and bandwidth limit placement (default true). CloudSim's PlanetLab setup
   * reserves them only while creating a VM (its RAM and bandwidth utilisation models are null),
   * so the reproduction passes false for migrations.
   */
  readonly enforceCapacity?: boolean;
  /** Skip the underload (switch-off) step, e.g. for a pure load-balancing run. */
  readonly skipUnderload?: boolean;
  /**
   * How destinations are searched. 'exact' scans every active host (CloudSim's result, bit for
   * bit); 'bucketed' looks only at hosts in the cheapest power-increase classes (1 % utilisation
   * buckets per server model, ordered by watts per MIPS), which keeps a round near-linear in the
   * number of VMs. Default: exact up to 5,000 hosts.
   */
  readonly index?: 'exact' | 'bucketed';
}

/**
 * One consolidation round.
 * @example
 * const moves = consolidate(snapshot, { overload: overloadDetector({ kind: 'lr', safety: 1.2 }), select: vmSelector('mmt') });
 */
export function consolidate(s: DatacenterSnapshot, o: ConsolidationOptions): Migration[] {
  const H = s.hosts.length;
  const bucketed = (o.index ?? (H > 5000 ? 'bucketed' : 'exact')) === 'bucketed';
  const p = new Plan(s, o.overload, o.enforceCapacity ?? true, bucketed);
  if (bucketed) p.buildBuckets();
  const out: Migration[] = [];

  // 1. overloaded hosts, and the VMs to take off them
  const overloaded = new Uint8Array(H);
  const overList: number[] = [];
  for (const h of p.nonBlank) if (p.isOverloaded(h)) overloaded[h] = 1;
  for (let h = 0; h < H; h++) if (overloaded[h]) { overList.push(h); p.retire(h); }
  const toMove: number[] = [];
  for (const h of overList) {
    for (;;) {
      const list = p.list[h] ?? [];
      const k = o.select(list, s.vms);
      if (k < 0) break;
      const v = list[k] ?? -1;
      p.removeFrom(h, v);
      toMove.push(v);
      if (!p.isOverloaded(h)) break;
    }
  }
  // 2. power-aware best fit decreasing
  sortByRequestDesc(toMove, s.vms);
  for (const v of toMove) {
    const t = p.findHost(v, overloaded, true);
    if (t >= 0) {
      p.addTo(t, v);
      out.push({ vm: v, from: s.vms[v]?.host ?? -1, to: t });
    }
  }
  if (o.skipUnderload) return out;

  // 3. underloaded hosts, least utilised first
  const exclUnder = new Uint8Array(H);
  const exclPlace = new Uint8Array(H);
  const order: number[] = [];
  for (let h = 0; h < H; h++) {
    if (overloaded[h] || p.measured[h] === 0) { exclUnder[h] = 1; exclPlace[h] = 1; p.retire(h); continue; }
    const u = p.measured[h] ?? 0;
    if (u > 0 && u < 1) order.push(h);
  }
  order.sort((a, b) => (p.measured[a] ?? 0) - (p.measured[b] ?? 0) || a - b);
  for (const u of order) {
    if (exclUnder[u]) continue;
    const list = p.list[u] ?? [];
    if (list.length === 0) continue; // CloudSim never picks a host whose VM list is empty
    exclUnder[u] = 1;
    exclPlace[u] = 1;
    p.retire(u);
    const vms = list.slice();
    sortByRequestDesc(vms, s.vms);
    const placed: Migration[] = [];
    let ok = true;
    for (const v of vms) {
      const t = p.findHost(v, exclPlace, false);
      if (t < 0) { ok = false; break; }
      p.addTo(t, v);
      placed.push({ vm: v, from: s.vms[v]?.host ?? -1, to: t });
    }
    if (!ok) {
      for (const m of placed) p.removeFrom(m.to, m.vm);
      continue;
    }
    for (const m of placed) { exclUnder[m.to] = 1; out.push(m); }
  }
  return out;
}

/**
 * Places new VMs one by one on the host with the smallest power increase (power-aware best fit),
 * or first fit. With `checkOverload` false the overload detector is not consulted (CloudSim at
 * VM creation: VMs already created request 0 MIPS until the first update, so it never bites).
 * Returns the host index per VM, -1 where none fits. `snapshot.vms[i].requestedMips` is the demand.
 * @example const where = placeNewVms(snapshot, [0, 1, 2], { mode: 'power-aware', overload, checkOverload: true });
 */
export function placeNewVms(
  s: DatacenterSnapshot,
  vms: readonly number[],
  o: { readonly mode: 'power-aware' | 'first-fit'; readonly overload: OverloadDetector; readonly checkOverload: boolean; readonly enforceCapacity?: boolean; readonly index?: 'exact' | 'bucketed' },
): Int32Array {
  const bucketed = (o.index ?? (s.hosts.length > 5000 ? 'bucketed' : 'exact')) === 'bucketed';
  const p = new Plan(s, o.overload, o.enforceCapacity ?? true, bucketed);
  p.checkOverload = o.checkOverload;
  if (bucketed) p.buildBuckets();
  const none = new Uint8Array(s.hosts.length);
  const out = new Int32Array(vms.length).fill(-1);
  vms.forEach((v, i) => {
    const t = o.mode === 'first-fit' ? p.firstFit(v) : p.findHost(v, none, true);
    if (t >= 0) { p.addTo(t, v); out[i] = t; }
  });
  return out;
}

function sortByRequestDesc(list: number[], vms: readonly VmSnapshot[]): void {
  // Array.prototype.sort is stable, as Java's Collections.sort is.
  list.sort((a, b) => (vms[b]?.requestedMips ?? 0) - (vms[a]?.requestedMips ?? 0));
}

const orderCache = new Map<string, Int32Array>();
/** Classes (shape × 1 % utilisation) ordered by watts per MIPS of their power segment, fuller first on ties. */
function classOrder(reps: readonly HostSnapshot[]): Int32Array {
  const key = reps.map(shapeKey).join('\n');
  const hit = orderCache.get(key);
  if (hit) return hit;
  const keyed: { b: number; w: number; u: number }[] = [];
  reps.forEach((host, id) => {
    const cap = hostCapacity(host);
    for (let c = 0; c < BUCKETS; c++) {
      const u = (c + 0.5) / (BUCKETS - 1);
      const seg = Math.min(9, Math.floor(u * 10));
      const w = ((host.power.watts[seg + 1] ?? 0) - (host.power.watts[seg] ?? 0)) / (0.1 * cap);
      keyed.push({ b: id * BUCKETS + c, w, u });
    }
  });
  keyed.sort((a, b) => a.w - b.w || b.u - a.u || a.b - b.b);
  const order = Int32Array.from(keyed.map((k) => k.b));
  if (orderCache.size > 64) orderCache.clear();
  orderCache.set(key, order);
  return order;
}

interface Scratch {
  H: number;
  cap: Float64Array; measured: Float64Array; actualAlloc: Float64Array; planned: Float64Array; avail: Float64Array;
  ramFree: Float64Array; bwFree: Float64Array; req: Float64Array; hist: Float64Array; histLen: Int32Array; maxRam: Float64Array;
  isNonBlank: Uint8Array;
  mm: Float64Array; ss: Float64Array; oldCnt: Int32Array;
}
let scratch: Scratch | null = null;
/** Per-VM mean and slope of the detector's window (linear fast path), reused between rounds. */
let vmScratch: { V: number; m: Float64Array; sl: Float64Array; old: Uint8Array } | null = null;
function vmScratchFor(V: number): { V: number; m: Float64Array; sl: Float64Array; old: Uint8Array } {
  if (vmScratch && vmScratch.V === V) return vmScratch;
  vmScratch = { V, m: new Float64Array(V), sl: new Float64Array(V), old: new Uint8Array(V) };
  return vmScratch;
}
function scratchFor(H: number): Scratch {
  if (scratch && scratch.H === H) return scratch;
  scratch = {
    H, cap: new Float64Array(H), measured: new Float64Array(H), actualAlloc: new Float64Array(H), planned: new Float64Array(H),
    avail: new Float64Array(H), ramFree: new Float64Array(H), bwFree: new Float64Array(H), req: new Float64Array(H),
    hist: new Float64Array(H * HISTORY_LENGTH), histLen: new Int32Array(H), maxRam: new Float64Array(H), isNonBlank: new Uint8Array(H),
    mm: new Float64Array(H), ss: new Float64Array(H), oldCnt: new Int32Array(H),
  };
  return scratch;
}

const shapeKeys = new WeakMap<HostSnapshot, string>();
const lastShape: { host: HostSnapshot | null; key: string } = { host: null, key: '' };
function shapeKey(h: HostSnapshot): string {
  const k = shapeKeys.get(h);
  if (k !== undefined) return k;
  // hosts of one model are usually consecutive objects built from one spec: reuse its key
  const prev = lastShape.host;
  const key = prev && prev.power === h.power && prev.peMips === h.peMips && prev.pes === h.pes && prev.ramMb === h.ramMb && prev.bwMbps === h.bwMbps ? lastShape.key : rawShapeKey(h);
  lastShape.host = h;
  lastShape.key = key;
  shapeKeys.set(h, key);
  return key;
}
function rawShapeKey(h: HostSnapshot): string {
  return `${h.pes}x${h.peMips}/${h.ramMb}/${h.bwMbps}/${h.power.name}/${h.power.watts.join(',')}`;
}

/** The working state of one round: VM lists with planned moves applied, and their aggregates. */
class Plan {
  readonly H: number;
  readonly cap: Float64Array;
  readonly measured: Float64Array;
  readonly actualAlloc: Float64Array;
  readonly planned: Float64Array;
  readonly avail: Float64Array;
  readonly ramFree: Float64Array;
  readonly bwFree: Float64Array;
  readonly req: Float64Array;
  readonly hist: Float64Array;
  readonly histLen: Int32Array;
  readonly maxRam: Float64Array;
  readonly list: number[][];
  readonly nonBlank: number[];
  readonly isNonBlank: Uint8Array;
  /** Per host shape: its blank hosts (no VMs, nothing allocated) in index order, and a cursor. */
  readonly blanks: { hosts: number[]; next: number }[] = [];
  checkOverload = true;
  private readonly owned = new Set<number>();
  private dead: Uint8Array = new Uint8Array(0);
  /** History samples worth aggregating (the detector reads no more). */
  private readonly need: number;
  /** Bucketed index (see ConsolidationOptions.index): per (shape, 1 % class) arrays of hosts. */
  private buckets: number[][] | null = null;
  private bucketOf: Int32Array = new Int32Array(0);
  private posInBucket: Int32Array = new Int32Array(0);
  private key: Float64Array = new Float64Array(0);
  private bucketOrder: Int32Array = new Int32Array(0);
  private shapeOf: Int32Array = new Int32Array(0);
  private shapeIds = new Map<string, number>();
  private shapeReps: HostSnapshot[] = [];
  /**
   * Linear fast path (bucketed index with an LR detector, see OverloadDetector.linear): per host
   * Σ mean × MIPS and Σ slope × MIPS of its VMs' windows and the number of VMs with a full window,
   * so that an overload check is O(1) instead of a refit; per VM its mean, slope and full-window flag.
   */
  private readonly lin: { readonly window: number; readonly safety: number; readonly fallback: number } | undefined;
  private readonly mm: Float64Array;
  private readonly ss: Float64Array;
  private readonly oldCnt: Int32Array;
  private readonly vmM: Float64Array;
  private readonly vmS: Float64Array;
  private readonly vmOld: Uint8Array;
  private readonly load: { capacityMips: number; requestedMips: number; history: Float64Array; historyLength: number; maxVmRamMb: number; bwMbps: number; schedulingInterval: number };

  constructor(readonly s: DatacenterSnapshot, readonly overload: OverloadDetector, readonly enforceCapacity: boolean, bucketed = false) {
    const H = (this.H = s.hosts.length);
    // Large per-host arrays are reused between rounds (a round is never re-entered); every entry
    // a round reads is written first, except those zeroed here.
    const sc = scratchFor(H);
    this.lin = bucketed ? overload.linear : undefined;
    this.mm = sc.mm;
    this.ss = sc.ss;
    this.oldCnt = sc.oldCnt;
    const vs = vmScratchFor(this.lin ? s.vms.length : 0);
    this.vmM = vs.m;
    this.vmS = vs.sl;
    this.vmOld = vs.old;
    if (this.lin) {
      // least squares through x = 1..w (y oldest first): mean, and slope = Σ (x − x̄) y / Sxx
      const w = this.lin.window;
      const xbar = (w + 1) / 2;
      const sxx = (w * (w * w - 1)) / 12;
      for (let v = 0; v < s.vms.length; v++) {
        const hs = (s.vms[v] as VmSnapshot).history;
        const n = Math.min(w, hs.length);
        let sum = 0;
        let sxy = 0;
        for (let i = 0; i < n; i++) {
          const y = hs[i] ?? 0;
          sum += y;
          sxy += (w - i - xbar) * y; // history[i] is x = w − i
        }
        this.vmM[v] = sum / w;
        this.vmS[v] = sxy / sxx;
        this.vmOld[v] = hs.length >= w && (hs[w - 1] ?? 0) !== 0 ? 1 : 0;
      }
    }
    this.cap = sc.cap;
    this.measured = sc.measured;
    this.actualAlloc = sc.actualAlloc;
    this.planned = sc.planned.fill(0);
    this.avail = sc.avail;
    this.ramFree = sc.ramFree;
    this.bwFree = sc.bwFree;
    this.req = sc.req;
    this.hist = sc.hist;
    this.histLen = sc.histLen;
    this.maxRam = sc.maxRam;
    this.need = this.lin ? 0 : Math.min(HISTORY_LENGTH, overload.historyNeeded ?? HISTORY_LENGTH);
    this.list = new Array<number[]>(H);
    this.nonBlank = [];
    this.isNonBlank = sc.isNonBlank.fill(0);
    this.load = { capacityMips: 0, requestedMips: 0, history: new Float64Array(HISTORY_LENGTH), historyLength: 0, maxVmRamMb: 0, bwMbps: 0, schedulingInterval: s.schedulingInterval };
    const shapes = new Map<string, { hosts: number[]; next: number }>();
    const reps: { host: HostSnapshot; group: { hosts: number[]; next: number } }[] = [];
    for (let h = 0; h < H; h++) {
      const host = s.hosts[h] as HostSnapshot;
      const cap = hostCapacity(host);
      this.cap[h] = cap;
      let u = host.allocatedMips / cap;
      if (u > 1 && u < 1.01) u = 1;
      this.measured[h] = u;
      this.actualAlloc[h] = host.allocatedMips;
      // shared with the snapshot until the round changes it (copy on write: see own())
      this.list[h] = host.vms as number[];
      let capped = 0;
      let ram = 0;
      let bw = 0;
      for (const v of host.vms) {
        const vm = s.vms[v] as VmSnapshot;
        capped += Math.min(vm.requestedMips, host.peMips);
        ram += vm.ramMb;
        bw += vm.bwMbps;
      }
      this.bwFree[h] = host.bwMbps - bw;
      this.avail[h] = capped > cap ? 0 : cap - capped;
      this.ramFree[h] = host.ramMb - ram;
      if (host.vms.length > 0) this.recompute(h);
      else {
        this.req[h] = 0;
        this.histLen[h] = 0;
        this.maxRam[h] = -Infinity;
        this.mm[h] = 0;
        this.ss[h] = 0;
        this.oldCnt[h] = 0;
        this.hist.fill(0, h * HISTORY_LENGTH, h * HISTORY_LENGTH + this.need);
      }
      if (host.vms.length > 0 || host.allocatedMips !== 0) {
        this.nonBlank.push(h);
        this.isNonBlank[h] = 1;
      } else {
        // blank hosts are grouped by shape; compare with the few shapes seen before building a key
        let b: { hosts: number[]; next: number } | undefined;
        for (const r of reps) {
          const o = r.host;
          if (o.power === host.power && o.peMips === host.peMips && o.pes === host.pes && o.ramMb === host.ramMb && o.bwMbps === host.bwMbps) { b = r.group; break; }
        }
        if (!b) {
          const k = shapeKey(host);
          b = shapes.get(k);
          if (!b) { b = { hosts: [], next: 0 }; shapes.set(k, b); this.blanks.push(b); }
          if (reps.length < 8) reps.push({ host, group: b });
        }
        b.hosts.push(h);
      }
    }
  }

  buildBuckets(): void {
    const H = this.H;
    this.dead = new Uint8Array(H);
    this.shapeOf = new Int32Array(H).fill(-1);
    this.shapeIds = new Map();
    this.shapeReps = [];
    this.buckets = [];
    this.bucketOf = new Int32Array(H).fill(-1);
    this.posInBucket = new Int32Array(H);
    this.key = new Float64Array(H);
    for (const h of this.nonBlank) this.rebucket(h);
  }

  /** Shape id of host h (assigned on first sight); grows the class arrays and their order. */
  private shapeIdOf(h: number): number {
    const known = this.shapeOf[h] ?? -1;
    if (known >= 0) return known;
    const host = this.s.hosts[h] as HostSnapshot;
    const k = shapeKey(host);
    let id = this.shapeIds.get(k);
    if (id === undefined) {
      id = this.shapeReps.length;
      this.shapeIds.set(k, id);
      this.shapeReps.push(host);
      for (let c = 0; c < BUCKETS; c++) (this.buckets as number[][]).push([]);
      this.bucketOrder = classOrder(this.shapeReps);
    }
    this.shapeOf[h] = id;
    return id;
  }

  /** Takes host h out of the index for the rest of the round (it can no longer be a destination). */
  retire(h: number): void {
    this.dead[h] = 1;
    const old = this.bucketOf[h] ?? -1;
    if (!this.buckets || old < 0) return;
    this.heapRemove(old, h);
    this.bucketOf[h] = -1;
  }

  /**
   * LR headroom of host h in MIPS (linear fast path): a VM whose own prediction term
   * (mean + c·slope)·MIPS is at least this makes h overloaded; +∞ without the fast path or VMs.
   */
  private headroom(h: number): number {
    const lin = this.lin;
    if (!lin || !((this.maxRam[h] ?? -Infinity) > -Infinity)) return Infinity;
    const bw = (this.s.hosts[h] as HostSnapshot).bwMbps;
    const ahead = Math.ceil((this.maxRam[h] ?? 0) / (bw / 16) / this.s.schedulingInterval);
    const c = lin.window + ahead - (lin.window + 1) / 2;
    return (this.cap[h] ?? 1) / lin.safety - ((this.mm[h] ?? 0) + c * (this.ss[h] ?? 0));
  }

  private rebucket(h: number): void {
    const bs = this.buckets;
    if (!bs || this.dead[h]) return;
    const used = (this.actualAlloc[h] ?? 0) + (this.planned[h] ?? 0);
    const c = Math.min(BUCKETS - 1, Math.max(0, Math.floor((used / (this.cap[h] ?? 1)) * (BUCKETS - 1))));
    const b = this.shapeIdOf(h) * BUCKETS + c;
    const old = this.bucketOf[h] ?? -1;
    this.key[h] = this.headroom(h);
    if (old === b) {
      const i = this.posInBucket[h] ?? 0;
      this.siftUp(bs[b] as number[], i);
      this.siftDown(bs[b] as number[], this.posInBucket[h] ?? 0);
      return;
    }
    if (old >= 0) this.heapRemove(old, h);
    const arr = bs[b] as number[];
    this.posInBucket[h] = arr.length;
    arr.push(h);
    this.siftUp(arr, arr.length - 1);
    this.bucketOf[h] = b;
  }

  // Each class is a binary max-heap of its hosts by LR headroom (key), so that a search sees the
  // hosts most able to take a VM first and skips a class whose best host cannot (O(1)).
  private heapRemove(b: number, h: number): void {
    const arr = (this.buckets as number[][])[b] as number[];
    const i = this.posInBucket[h] ?? 0;
    const last = arr.pop() as number;
    if (last === h) return;
    arr[i] = last;
    this.posInBucket[last] = i;
    this.siftUp(arr, i);
    this.siftDown(arr, this.posInBucket[last] ?? 0);
  }
  private siftUp(arr: number[], i: number): void {
    const key = this.key;
    const h = arr[i] ?? 0;
    const k = key[h] ?? 0;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ph = arr[p] ?? 0;
      if ((key[ph] ?? 0) >= k) break;
      arr[i] = ph;
      this.posInBucket[ph] = i;
      i = p;
    }
    arr[i] = h;
    this.posInBucket[h] = i;
  }
  private siftDown(arr: number[], i: number): void {
    const key = this.key;
    const n = arr.length;
    const h = arr[i] ?? 0;
    const k = key[h] ?? 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && (key[arr[c + 1] ?? 0] ?? 0) > (key[arr[c] ?? 0] ?? 0)) c++;
      const ch = arr[c] ?? 0;
      if ((key[ch] ?? 0) <= k) break;
      arr[i] = ch;
      this.posInBucket[ch] = i;
      i = c;
    }
    arr[i] = h;
    this.posInBucket[h] = i;
  }

  /** Σ requested and the utilisation history of host h, from its current list (CloudSim's loop order). */
  recompute(h: number): void {
    const cap = this.cap[h] ?? 1;
    let req = 0;
    let len = 0;
    let maxRam = -Infinity;
    const base = h * HISTORY_LENGTH;
    this.hist.fill(0, base, base + this.need);
    let mm = 0;
    let ss = 0;
    let old = 0;
    const lin = this.lin !== undefined;
    for (const v of this.list[h] ?? []) {
      const vm = this.s.vms[v] as VmSnapshot;
      req += vm.requestedMips;
      if (vm.ramMb > maxRam) maxRam = vm.ramMb;
      if (lin) {
        mm += (this.vmM[v] ?? 0) * vm.mips;
        ss += (this.vmS[v] ?? 0) * vm.mips;
        old += this.vmOld[v] ?? 0;
      }
      const n = Math.min(this.need, vm.history.length);
      for (let i = 0; i < n; i++) this.hist[base + i] = (this.hist[base + i] ?? 0) + ((vm.history[i] ?? 0) * vm.mips) / cap;
      if (n > len) len = n;
    }
    this.req[h] = req;
    this.histLen[h] = len;
    this.maxRam[h] = maxRam;
    this.mm[h] = mm;
    this.ss[h] = ss;
    this.oldCnt[h] = old;
  }

  /** The linear fast path's verdict for host h with VM `extra` added (-1: none). */
  private linearOverloaded(h: number, extra: number): boolean {
    const lin = this.lin as { readonly window: number; readonly safety: number; readonly fallback: number };
    let req = this.req[h] ?? 0;
    let mm = this.mm[h] ?? 0;
    let ss = this.ss[h] ?? 0;
    let old = this.oldCnt[h] ?? 0;
    let maxRam = this.maxRam[h] ?? -Infinity;
    if (extra >= 0) {
      const vm = this.s.vms[extra] as VmSnapshot;
      req += vm.requestedMips;
      mm += (this.vmM[extra] ?? 0) * vm.mips;
      ss += (this.vmS[extra] ?? 0) * vm.mips;
      old += this.vmOld[extra] ?? 0;
      if (vm.ramMb > maxRam) maxRam = vm.ramMb;
    }
    const cap = this.cap[h] ?? 1;
    if (old === 0) return req / cap > lin.fallback;
    const bw = (this.s.hosts[h] as HostSnapshot).bwMbps;
    const ahead = Math.ceil(maxRam / (bw / 16) / this.s.schedulingInterval);
    return ((mm + (lin.window + ahead - (lin.window + 1) / 2) * ss) / cap) * lin.safety >= 1;
  }

  private fillLoad(h: number, extra: number): HostLoad {
    const L = this.load;
    const host = this.s.hosts[h] as HostSnapshot;
    const cap = this.cap[h] ?? 1;
    L.capacityMips = cap;
    L.requestedMips = this.req[h] ?? 0;
    L.bwMbps = host.bwMbps;
    const base = h * HISTORY_LENGTH;
    let len = this.histLen[h] ?? 0;
    const hist = L.history;
    // entries past historyLength are never read, so only the used prefix is copied
    for (let i = 0; i < len; i++) hist[i] = this.hist[base + i] ?? 0;
    let maxRam = this.maxRam[h] ?? -Infinity;
    if (extra >= 0) {
      const vm = this.s.vms[extra] as VmSnapshot;
      L.requestedMips += vm.requestedMips;
      const n = Math.min(this.need, vm.history.length);
      for (let i = len; i < n; i++) hist[i] = 0;
      for (let i = 0; i < n; i++) hist[i] = (hist[i] ?? 0) + ((vm.history[i] ?? 0) * vm.mips) / cap;
      if (n > len) len = n;
      maxRam = Math.max(maxRam, vm.ramMb);
    }
    L.historyLength = len;
    L.maxVmRamMb = maxRam;
    return L;
  }

  isOverloaded(h: number): boolean {
    if (this.lin) return this.linearOverloaded(h, -1);
    return this.overload(this.fillLoad(h, -1));
  }

  /** The host's list, copied from the snapshot the first time the round changes it. */
  private own(h: number): number[] {
    let l = this.list[h] as number[];
    if (!this.owned.has(h)) { l = l.slice(); this.list[h] = l; this.owned.add(h); }
    return l;
  }

  removeFrom(h: number, v: number): void {
    const list = this.own(h);
    const i = list.indexOf(v);
    if (i < 0) return;
    list.splice(i, 1);
    const host = this.s.hosts[h] as HostSnapshot;
    const vm = this.s.vms[v] as VmSnapshot;
    const capped = Math.min(vm.requestedMips, host.peMips);
    if (vm.host === h) this.actualAlloc[h] = Math.max(0, (this.actualAlloc[h] ?? 0) - capped);
    else this.planned[h] = (this.planned[h] ?? 0) - capped;
    this.avail[h] = (this.avail[h] ?? 0) + capped;
    this.ramFree[h] = (this.ramFree[h] ?? 0) + vm.ramMb;
    this.bwFree[h] = (this.bwFree[h] ?? 0) + vm.bwMbps;
    this.recompute(h);
    this.rebucket(h);
  }

  addTo(h: number, v: number): void {
    const host = this.s.hosts[h] as HostSnapshot;
    const vm = this.s.vms[v] as VmSnapshot;
    const capped = Math.min(vm.requestedMips, host.peMips);
    this.own(h).push(v);
    this.planned[h] = (this.planned[h] ?? 0) + capped;
    this.avail[h] = (this.avail[h] ?? 0) - capped;
    this.ramFree[h] = (this.ramFree[h] ?? 0) - vm.ramMb;
    this.bwFree[h] = (this.bwFree[h] ?? 0) - vm.bwMbps;
    // incremental, in list order, as CloudSim's sum would be
    const cap = this.cap[h] ?? 1;
    this.req[h] = (this.req[h] ?? 0) + vm.requestedMips;
    const base = h * HISTORY_LENGTH;
    const n = Math.min(this.need, vm.history.length);
    for (let i = 0; i < n; i++) this.hist[base + i] = (this.hist[base + i] ?? 0) + ((vm.history[i] ?? 0) * vm.mips) / cap;
    if (n > (this.histLen[h] ?? 0)) this.histLen[h] = n;
    if (vm.ramMb > (this.maxRam[h] ?? -Infinity)) this.maxRam[h] = vm.ramMb;
    if (this.lin) {
      this.mm[h] = (this.mm[h] ?? 0) + (this.vmM[v] ?? 0) * vm.mips;
      this.ss[h] = (this.ss[h] ?? 0) + (this.vmS[v] ?? 0) * vm.mips;
      this.oldCnt[h] = (this.oldCnt[h] ?? 0) + (this.vmOld[v] ?? 0);
    }
    if (!this.isNonBlank[h]) { this.isNonBlank[h] = 1; this.nonBlank.push(h); }
    this.rebucket(h);
  }

  private suitable(h: number, v: number): boolean {
    const vm = this.s.vms[v] as VmSnapshot;
    const host = this.s.hosts[h] as HostSnapshot;
    if (host.peMips < vm.requestedMips) return false;
    if ((this.avail[h] ?? 0) < vm.requestedMips) return false;
    if (this.enforceCapacity && ((this.ramFree[h] ?? 0) < vm.ramMb || (this.bwFree[h] ?? 0) < vm.bwMbps)) return false;
    const g = vm.antiAffinity;
    if (g !== undefined) for (const o of this.list[h] ?? []) if (o !== v && this.s.vms[o]?.antiAffinity === g) return false;
    return true;
  }

  /** Host with the least power increase for VM v (ties: lowest index), or -1. */
  findHost(v: number, excluded: Uint8Array, blanksAllowed: boolean): number {
    const vm = this.s.vms[v] as VmSnapshot;
    let best = -1;
    let bestDiff = Infinity;
    const consider = (h: number): void => {
      if (excluded[h] || !this.suitable(h, v)) return;
      const host = this.s.hosts[h] as HostSnapshot;
      const used = (this.actualAlloc[h] ?? 0) + (this.planned[h] ?? 0);
      const after = (used + vm.requestedMips) / (this.cap[h] ?? 1);
      const d = powerAt(host.power, after) - powerAt(host.power, this.measured[h] ?? 0);
      // The overload test is the costly part: run it only for a host that would win.
      if (d > bestDiff || (d === bestDiff && h > best)) return;
      if (this.checkOverload && used !== 0 && (this.lin ? this.linearOverloaded(h, v) : this.overload(this.fillLoad(h, v)))) return;
      bestDiff = d;
      best = h;
    };
    if (this.buckets) {
      // Visit the cheapest classes first, the PER_BUCKET hosts with most LR headroom of each, and
      // stop MORE_CLASSES classes after the first feasible one (the exact power increase decides
      // among those seen). Both bounds keep a search's cost independent of the datacenter's size
      // (more hosts per class would buy energy with time: see docs/simulation.md).
      let after = -1;
      let visits = 0;
      const need = vm.requestedMips;
      let vmPred: number | undefined;
      const lin = this.lin;
      if (lin && this.checkOverload && this.vmOld[v]) {
        // the VM's own term of the prediction for a one-interval look-ahead (a migration shorter
        // than the interval, as for every PlanetLab VM); the verdict itself is still exact below
        vmPred = ((this.vmM[v] ?? 0) + (lin.window + 1 - (lin.window + 1) / 2) * (this.vmS[v] ?? 0)) * vm.mips;
      }
      for (let i = 0; i < this.bucketOrder.length && after !== 0 && visits < MAX_BUCKET_VISITS; i++) {
        const b = this.bucketOrder[i] ?? 0;
        const arr = this.buckets[b] as number[];
        if (arr.length === 0) continue;
        // every host in the class already uses at least its lower edge: skip classes it cannot fit
        const rep = arr[0] ?? 0;
        const capR = this.cap[rep] ?? 0;
        if (((b % BUCKETS) / (BUCKETS - 1)) * capR + need > capR + 1e-9) continue;
        // the class's best LR headroom cannot take the VM: no host in it can (fast path, full window)
        if (vmPred !== undefined && (this.key[rep] ?? 0) <= vmPred) continue;
        const had = best;
        visits++;
        // the heap's first entries are the hosts with the most headroom
        for (let j = 0; j < arr.length && j < PER_BUCKET; j++) {
          const h = arr[j] ?? 0;
          if (!excluded[h]) consider(h);
        }
        if (after > 0) after--;
        else if (best >= 0 && had < 0) after = MORE_CLASSES;
      }
    } else {
      for (const h of this.nonBlank) consider(h);
    }
    if (blanksAllowed) {
      for (const b of this.blanks) {
        while (b.next < b.hosts.length && (this.isNonBlank[b.hosts[b.next] ?? 0] || excluded[b.hosts[b.next] ?? 0])) b.next++;
        const h = b.hosts[b.next];
        if (h !== undefined) consider(h);
      }
    }
    return best;
  }

  firstFit(v: number): number {
    for (let h = 0; h < this.H; h++) if (this.suitable(h, v)) return h;
    return -1;
  }
}
