/**
 * Discrete-event simulation of a datacenter over utilisation traces, with the semantics of
 * CloudSim 3.0.3's power package (so that its PlanetLab figures are reproduced):
 * - the clock starts at 0.1 s and decisions run every interval after it (300.1, 600.1, …) while
 *   ≤ the duration; migrations end RAM / (bw/2) later and each end is a processing point too;
 * - a VM asks for its trace sample × MIPS, linear between samples, capped at one core; a host
 *   over its capacity scales every VM down (floored to whole MIPS);
 * - during a migration the VM gets 90 % on its source and costs its destination 10 %;
 * - energy per interval is the trapezoid between the host's power at the start and at the end;
 *   a host whose utilisation was 0 at the start is off (0 W);
 * - SLATAH: time a host is active with allocated < requested MIPS, over its active time;
 *   PDM: MIPS lost to migrations over MIPS requested; a VM whose request reaches 0 is destroyed.
 */
import { energyLinear, maxPower, powerAt } from '../policy/power.js';
import type { DatacenterSnapshot, HostSnapshot, Migration, VmSnapshot } from '../policy/types.js';
import type { Scenario } from './scenario.js';

export interface SimDecider {
  readonly name: string;
  /** How VMs are placed when created: first fit (NPA, DVFS) or power-aware best fit. */
  readonly initial: 'first-fit' | 'power-aware';
  /** Energy accounting: by utilisation ('dvfs') or every host at full power ('npa'). */
  readonly energy: 'dvfs' | 'npa';
  /** Called at each decision with the current snapshot; returns migrations to start. */
  readonly decide?: (s: DatacenterSnapshot) => readonly Migration[];
  /** Initial placement (host per VM, -1 for none), given a snapshot of empty hosts whose VMs ask for their full MIPS. */
  readonly place: (s: DatacenterSnapshot) => Int32Array;
}

export interface IntervalStats {
  readonly time: number;
  readonly activeHosts: number;
  readonly powerW: number;
  /** Host-seconds in SLA violation during the interval, over its length: hosts violating on average. */
  readonly violatingHosts: number;
  readonly migrations: number;
}

export interface SimResult {
  readonly scenario: string;
  readonly policy: string;
  readonly hosts: number;
  readonly vms: number;
  readonly energyKWh: number;
  readonly migrations: number;
  /** Fractions (not percent). */
  readonly slatah: number;
  readonly pdm: number;
  readonly slav: number;
  readonly esv: number;
  readonly destroyedVms: number;
  readonly unplacedVms: number;
  readonly timeline: readonly IntervalStats[];
  readonly wallMs: number;
  /** Per host group of the scenario (Scenario.groups), in its order; absent without groups. */
  readonly groups?: readonly GroupResult[];
}

export interface GroupResult {
  readonly name: string;
  readonly hosts: number;
  readonly energyKWh: number;
  /** energyKWh × the group's PUE (the IT energy when it has none). */
  readonly facilityKWh: number;
  /** Migrations whose destination is in the group. */
  readonly migrationsIn: number;
  /** Active hosts (allocated MIPS > 0) averaged over the decisions, and their peak. */
  readonly meanActiveHosts: number;
  readonly peakActiveHosts: number;
}

export interface SimOptions {
  /** Called after every decision with (done, total). */
  readonly progress?: (done: number, total: number) => void;
  readonly timeline?: boolean;
}

const START = 0.1;

/**
 * Runs one scenario under one decider.
 * @example const r = simulate(planetLabScenario(loadTrace(f)), decider('lr-mmt-1.2')); r.energyKWh
 */
export function simulate(sc: Scenario, d: SimDecider, opts: SimOptions = {}): SimResult {
  const t0 = performance.now();
  const H = sc.hosts.length;
  const V = sc.vms.length;
  const I = sc.interval;
  const cap = new Float64Array(H);
  const pe = new Float64Array(H);
  for (let h = 0; h < H; h++) {
    const s = sc.hosts[h]!;
    cap[h] = s.pes * s.peMips;
    pe[h] = s.peMips;
  }
  // The traces themselves, not copies: CloudSim keeps 289 points for 288 samples, the last one
  // repeated, which is what reading past the end as the last sample gives (no 2nd copy in memory).
  const data: readonly Float64Array[] = sc.vms.map((v) => v.samples);
  const util = (v: number, t: number): number => {
    const a = data[v]!;
    if (t % I === 0) return a[t / I] ?? a[a.length - 1] ?? 0;
    const k1 = Math.floor(t / I);
    const k2 = Math.ceil(t / I);
    const u1 = a[k1] ?? a[a.length - 1] ?? 0;
    const u2 = a[k2] ?? u1;
    return u1 + ((u2 - u1) / ((k2 - k1) * I)) * (t - k1 * I);
  };

  // decision times, computed as CloudSim's clock does (repeated addition)
  const times: number[] = [];
  for (let t = START + I; t <= sc.duration; t += I) times.push(t);
  const K = times.length;
  // Histories: utilisation at each decision, newest first, the last 30 (rolled at each decision).
  const HL = 30;
  const hist: Float64Array[] = Array.from({ length: V }, () => new Float64Array(HL));
  const histView: Float64Array[] = new Array<Float64Array>(V);

  // --- state
  const vmHost = new Int32Array(V).fill(-1);
  const alive = new Uint8Array(V).fill(1);
  const inMig = new Uint8Array(V);
  const pendingMig = new Int32Array(V); // migrations of the VM still in flight
  const resident: number[][] = Array.from({ length: H }, () => []);
  const incoming: number[][] = Array.from({ length: H }, () => []);
  const req = new Float64Array(V);
  const hostU = new Float64Array(H); // utilisation after the last processing (energy "from")
  const hostUtilMips = new Float64Array(H);
  // SLA accounting (pending state entry per host and per VM)
  const hT = new Float64Array(H).fill(-1), hAlloc = new Float64Array(H), hReq = new Float64Array(H);
  const hActive = new Uint8Array(H);
  const vT = new Float64Array(V).fill(-1), vAlloc = new Float64Array(V), vReq = new Float64Array(V);
  const vMig = new Uint8Array(V);
  let slaTime = 0, activeTime = 0, reqTotal = 0, underMig = 0;
  let energyJ = 0;
  let migrations = 0;
  let destroyed = 0;
  let lastTime = 0;
  // per-interval stats
  let ivEnergy = 0, ivViol = 0, ivMig = 0;
  const timeline: IntervalStats[] = [];
  // per group (optional): energy J, migrations in, Σ active hosts over decisions, peak
  const G = sc.groups?.length ?? 0;
  const hg = G > 0 ? sc.hostGroup : undefined;
  const gEnergy = new Float64Array(G), gMig = new Float64Array(G), gActive = new Float64Array(G), gPeak = new Float64Array(G), gHosts = new Float64Array(G);
  const gNow = new Float64Array(G);
  if (hg) for (let h = 0; h < H; h++) gHosts[hg[h]!]!++;

  // --- snapshot objects, reused between decisions
  const vmSnaps: { mips: number; ramMb: number; bwMbps: number; host: number; requestedMips: number; history: ArrayLike<number>; antiAffinity: string | undefined }[] = sc.vms.map((v) => ({
    mips: v.mips, ramMb: v.ramMb, bwMbps: v.bwMbps, host: -1, requestedMips: v.mips, history: new Float64Array(0), antiAffinity: v.antiAffinity,
  }));
  const hostSnaps: { peMips: number; pes: number; ramMb: number; bwMbps: number; power: HostSnapshot['power']; allocatedMips: number; vms: number[] }[] = sc.hosts.map((h, i) => ({
    peMips: h.peMips, pes: h.pes, ramMb: h.ramMb, bwMbps: h.bwMbps, power: h.power, allocatedMips: 0, vms: resident[i]!,
  }));
  const snapshot = (time: number, k: number): DatacenterSnapshot => {
    for (let h = 0; h < H; h++) hostSnaps[h]!.allocatedMips = hostUtilMips[h]!;
    const len = Math.min(HL, k + 1);
    for (let v = 0; v < V; v++) {
      const s = vmSnaps[v]!;
      s.host = alive[v] ? vmHost[v]! : -1;
      s.requestedMips = req[v]!;
      if (alive[v]) {
        const hv = histView[v];
        if (hv === undefined || hv.length !== len) histView[v] = hist[v]!.subarray(0, len);
        s.history = histView[v]!;
      }
    }
    return { time, schedulingInterval: I, hosts: hostSnaps, vms: vmSnaps };
  };

  // --- initial placement: VMs ask for their full MIPS while being created
  {
    for (let v = 0; v < V; v++) vmSnaps[v]!.requestedMips = sc.vms[v]!.mips;
    const where = d.place({ time: START, schedulingInterval: I, hosts: hostSnaps, vms: vmSnaps });
    for (let v = 0; v < V; v++) {
      const h = where[v] ?? -1;
      if (h < 0) { alive[v] = 0; continue; }
      vmHost[v] = h;
      resident[h]!.push(v);
    }
  }
  const unplaced = V - resident.reduce((a, r) => a + r.length, 0);

  /** Recomputes every host's allocation at time t (VM requests from the trace). */
  const vmMips = Float64Array.from(sc.vms, (v) => v.mips);
  /** Hosts with a VM whose request is 0 (to destroy after the pass). */
  let idleHosts: number[] = [];
  const computeAll = (t: number): void => {
    // util(v, t) for every VM, with the per-time terms hoisted (same arithmetic, same bits)
    if (t % I === 0) {
      const k = t / I;
      for (let v = 0; v < V; v++) {
        if (!alive[v]) continue;
        const a = data[v]!;
        req[v] = (a[k] ?? a[a.length - 1] ?? 0) * vmMips[v]!;
      }
    } else {
      const k1 = Math.floor(t / I);
      const k2 = Math.ceil(t / I);
      const denom = (k2 - k1) * I;
      const off = t - k1 * I;
      for (let v = 0; v < V; v++) {
        if (!alive[v]) continue;
        const a = data[v]!;
        const u1 = a[k1] ?? a[a.length - 1] ?? 0;
        const u2 = a[k2] ?? u1;
        req[v] = (u1 + ((u2 - u1) / denom) * off) * vmMips[v]!;
      }
    }
    for (let h = 0; h < H; h++) computeHost(h, t, true);
  };
  const computeHost = (h: number, t: number, record: boolean): void => {
    const c = cap[h]!, p = pe[h]!;
    const res = resident[h]!, inc = incoming[h]!;
    if (res.length === 0 && inc.length === 0) {
      hostUtilMips[h] = 0;
      if (record) hostEntry(h, t, 0, 0);
      return;
    }
    let total = 0;
    for (const v of res) total += Math.min(req[v]!, p);
    for (const v of inc) total += Math.min(req[v]!, p) * 0.1;
    const scale = total > c ? c / total : 1;
    let u = 0, r = 0;
    for (const v of res) {
      const capped = Math.min(req[v]!, p);
      if (capped === 0 && !inMig[v] && idleHosts[idleHosts.length - 1] !== h) idleHosts.push(h);
      let a: number;
      if (scale === 1) a = inMig[v] ? capped * 0.9 : capped;
      else a = Math.floor(inMig[v] ? capped * scale * 0.9 : capped * scale);
      u += inMig[v] ? a / 0.9 : a;
      r += req[v]!;
      if (record) vmEntry(v, t, a, req[v]!, inMig[v]! === 1);
    }
    for (const v of inc) {
      const capped = Math.min(req[v]!, p);
      const a = scale === 1 ? capped * 0.1 : Math.floor(capped * 0.1 * scale);
      u += a;
      r += req[v]!;
    }
    hostUtilMips[h] = u;
    if (record) hostEntry(h, t, u, r);
  };
  const hostEntry = (h: number, t: number, a: number, r: number): void => {
    const pt = hT[h]!;
    if (pt >= 0 && pt < t && hActive[h]) {
      const dt = t - pt;
      activeTime += dt;
      if (hAlloc[h]! < hReq[h]!) { slaTime += dt; ivViol += dt; }
    }
    hT[h] = t; hAlloc[h] = a; hReq[h] = r; hActive[h] = a > 0 ? 1 : 0;
  };
  const vmEntry = (v: number, t: number, a: number, r: number, mig: boolean): void => {
    const pt = vT[v]!;
    if (pt >= 0 && pt < t) {
      const dt = t - pt;
      reqTotal += vReq[v]! * dt;
      if (vAlloc[v]! < vReq[v]! && vMig[v]) underMig += (vReq[v]! - vAlloc[v]!) * dt;
    }
    vT[v] = t; vAlloc[v] = a; vReq[v] = r; vMig[v] = mig ? 1 : 0;
  };
  const hostUtil = (h: number): number => {
    let u = hostUtilMips[h]! / cap[h]!;
    if (u > 1 && u < 1.01) u = 1;
    return u;
  };
  const accountEnergy = (t: number): void => {
    const dt = t - lastTime;
    if (dt <= 0) return;
    let e = 0;
    for (let h = 0; h < H; h++) {
      const model = sc.hosts[h]!.power;
      if (d.energy === 'npa') {
        const eh = maxPower(model) * dt;
        e += eh;
        if (hg) gEnergy[hg[h]!]! += eh;
      }
      else {
        const now = hostUtil(h);
        const eh = energyLinear(model, hostU[h]!, now, dt);
        e += eh;
        if (hg) gEnergy[hg[h]!]! += eh;
      }
    }
    energyJ += e;
    ivEnergy += e;
  };
  const destroyIdle = (): void => {
    const hosts = idleHosts;
    idleHosts = [];
    for (const h of hosts) {
      const res = resident[h]!;
      for (let i = res.length - 1; i >= 0; i--) {
        const v = res[i]!;
        if (!inMig[v] && req[v] === 0) {
          res.splice(i, 1);
          alive[v] = 0;
          vmHost[v] = -1;
          destroyed++;
        }
      }
    }
  };
  const completedFrom: number[] = [];
  /** Full processing at time t: energy over (last, t], then the state entries at t. */
  const process = (t: number, completing: readonly { vm: number; to: number }[]): void => {
    computeAll(t);
    accountEnergy(t);
    destroyIdle();
    for (const m of completing) {
      const v = m.vm;
      const from = vmHost[v]!;
      if (from >= 0) completedFrom.push(from);
      if (from >= 0) {
        const r = resident[from]!;
        const i = r.indexOf(v);
        if (i >= 0) r.splice(i, 1);
      }
      const inc = incoming[m.to]!;
      const j = inc.indexOf(v);
      if (j >= 0) inc.splice(j, 1);
      resident[m.to]!.push(v);
      vmHost[v] = m.to;
      if (--pendingMig[v]! <= 0) { pendingMig[v] = 0; inMig[v] = 0; }
    }
    // entries at t are recorded by the first pass (a VM destroyed now keeps its last one, as in
    // the reference); a second pass at the same time replaces them after migrations end
    if (completing.length > 0) {
      // only the hosts a migration left or reached change at the same time
      const touched = new Set<number>();
      for (const m of completing) touched.add(m.to);
      for (const h of completedFrom) touched.add(h);
      completedFrom.length = 0;
      for (const h of touched) computeHost(h, t, true);
      destroyIdle();
    }
    for (let h = 0; h < H; h++) hostU[h] = hostUtil(h);
    lastTime = t;
  };

  type Pending = { at: number; vm: number; to: number };
  let pending: Pending[] = [];
  for (let k = 0; k < K; k++) {
    const t = times[k]!;
    // migration ends before this decision
    pending.sort((a, b) => a.at - b.at);
    let i = 0;
    while (i < pending.length && pending[i]!.at < t) {
      const at = pending[i]!.at;
      const batch: { vm: number; to: number }[] = [];
      while (i < pending.length && pending[i]!.at === at) { batch.push(pending[i]!); i++; }
      process(at, batch);
    }
    pending = pending.slice(i);
    process(t, []);
    // the VMs' utilisation history gains the sample at t (CloudSim: PowerVm at each decision)
    for (let v = 0; v < V; v++) {
      if (!alive[v]) continue;
      const hv = hist[v]!;
      hv.copyWithin(1, 0, HL - 1);
      hv[0] = util(v, t);
    }
    // decision
    if (d.decide) {
      const moves = d.decide(snapshot(t, k));
      const touched: number[] = [];
      for (const m of moves) {
        const v = m.vm;
        if (!alive[v] || m.to < 0 || m.to >= H || m.to === vmHost[v]) continue;
        migrations++;
        ivMig++;
        inMig[v] = 1;
        pendingMig[v]!++;
        if (!incoming[m.to]!.includes(v)) incoming[m.to]!.push(v);
        touched.push(m.to, vmHost[v]!);
        if (hg) gMig[hg[m.to]!]!++;
        const bw = sc.hosts[m.to]!.bwMbps;
        pending.push({ at: t + sc.vms[v]!.ramMb / (bw / 16), vm: v, to: m.to });
      }
      for (const h of touched) {
        computeHost(h, t, true);
        hostU[h] = hostUtil(h);
      }
    }
    if (opts.timeline !== false && k > 0) {
      const dt = t - times[k - 1]!;
      let active = 0;
      for (let h = 0; h < H; h++) if (hostUtilMips[h]! > 0) active++;
      timeline.push({ time: t, activeHosts: active, powerW: ivEnergy / dt, violatingHosts: ivViol / dt, migrations: ivMig });
    }
    if (hg) {
      gNow.fill(0);
      for (let h = 0; h < H; h++) if (hostUtilMips[h]! > 0) gNow[hg[h]!]!++;
      for (let g = 0; g < G; g++) { gActive[g]! += gNow[g]!; if (gNow[g]! > gPeak[g]!) gPeak[g] = gNow[g]!; }
    }
    ivEnergy = 0; ivViol = 0; ivMig = 0;
    opts.progress?.(k + 1, K);
  }
  // migrations still in flight end before the simulation limit and are processed
  pending.sort((a, b) => a.at - b.at);
  let i = 0;
  while (i < pending.length && pending[i]!.at <= sc.duration) {
    const at = pending[i]!.at;
    const batch: { vm: number; to: number }[] = [];
    while (i < pending.length && pending[i]!.at === at) { batch.push(pending[i]!); i++; }
    process(at, batch);
  }

  const energyKWh = energyJ / 3.6e6;
  const slatah = activeTime > 0 ? slaTime / activeTime : 0;
  const pdm = reqTotal > 0 ? underMig / reqTotal : 0;
  const slav = slatah * pdm;
  return {
    scenario: sc.name, policy: d.name, hosts: H, vms: V, energyKWh, migrations, slatah, pdm, slav,
    esv: energyKWh * slav, destroyedVms: destroyed, unplacedVms: unplaced, timeline, wallMs: performance.now() - t0,
    ...(hg ? {
      groups: (sc.groups ?? []).map((g, i) => ({
        name: g.name, hosts: gHosts[i]!, energyKWh: gEnergy[i]! / 3.6e6, facilityKWh: (gEnergy[i]! / 3.6e6) * (g.pue ?? 1),
        migrationsIn: gMig[i]!, meanActiveHosts: K > 0 ? gActive[i]! / K : 0, peakActiveHosts: gPeak[i]!,
      })),
    } : {}),
  };
}

/** Watts of host model at utilisation u (re-exported for reports). */
export { powerAt };
