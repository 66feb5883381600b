/**
 * One server of the host runtime: domain 0 (this thread) with its pool, bridge, user domains,
 * VXLAN uplinks, traffic endpoints, the emulated capacity that the token scheduler shares among
 * software networks (server.ts), and the energy meter.
 *
 * The pump (`pump()`, or the `start()` loop around it) is domain 0's whole data path, a batch at
 * a time: frames the domains sent (tx rings), frames from uplinks, links and endpoints go to the
 * bridge; a frame whose peer is a virtual NIC is queued at the emulated server (when it has a
 * capacity) and pushed onto the domain's rx ring when the scheduler serves its network; a frame
 * for an uplink is encapsulated and sent; for an endpoint, processed in domain 0. When nothing
 * moves the loop spins a little, then sleeps on domain 0's doorbell (rung by domains once per
 * batch) for at most `tickMs`.
 *
 * @example
 * const h = new HostServer({ name: 's1', capacity: { capacity: 1e6, unit: 'packets' }, power: HP_ML110_G5 });
 * h.addNetwork('voip', { allocation: 10, priority: 1 });
 * const { domain, attachments } = await h.addDomain({ name: 'voip', contexts: [ctx], vnics: [{ context: 0, port: 'r1.eth0' }] });
 * h.bridge.wire(attachments[0] as number, uplinkAttachment);
 * h.start();
 */
import { Batch, MAX_BATCH, PacketPool } from '../packet/pool.js';
import type { Emit, NetworkFunction, Plain, ProcessContext } from '../functions/contract.js';
import type { PowerModel } from '../policy/power.js';
import type { CaptureWriter } from '../packet/capture.js';
import { Bridge, type AttachmentTarget } from './bridge.js';
import { Dom0Slots, Domain, DomainError, type ContextSpec, type DomainInit, type VnicSpec } from './domain.js';
import { EmulatedServer, type ServerStats } from './server.js';
import type { CostUnit } from './tokens.js';
import { EnergyMeter, type EnergyReading } from './energy.js';
import { DOM0 } from './vnic.js';
import { MAX_PRIORITY, Realtime, RealtimeError, threadId } from './realtime.js';
import type { VxlanUplink, UplinkRemote } from './uplink.js';

export interface HostServerInit {
  name: string;
  /** Slots in domain 0's pool; default 16384. */
  slots?: number;
  slotSize?: number;
  /** Emulated capacity, shared by the token scheduler; absent = as fast as this machine. */
  capacity?: { capacity: number; unit: CostUnit };
  power?: PowerModel;
  standbyWatts?: number;
  /**
   * Timer interval of endpoints and of the idle loop (ms); default 1. Below 1 ms (sub-ms pacing of
   * traffic sources) the idle loop sleeps synchronously on the doorbell until the next tick:
   * Node's `Atomics.waitAsync` timeouts are libuv timers of whole milliseconds.
   */
  tickMs?: number;
  /** Defaults for the domains' rings and watchdog. */
  domain?: Partial<Pick<DomainInit, 'ringCapacity' | 'spin' | 'heartbeatMs' | 'watchdogMs' | 'tickMs' | 'freeSlots' | 'pool'>>;
}

/** Where `HostServer.realtime` left the data plane's scheduling. */
export interface RealtimeStatus {
  /** The domain workers' SCHED_FIFO priority; domain 0's thread runs one above. */
  priority: number;
  /** Domain 0's thread (the thread that called `realtime`). */
  dom0Tid: number;
  /** Workers whose priority could not be set, with why (the first). */
  failed: number;
  error?: string;
}

/** Open real-time servers per domain-0 thread: the thread goes back to SCHED_OTHER when the last closes. */
const rtOpen = new Map<number, number>();

export interface DomainRequest {
  name: string;
  contexts: ContextSpec[];
  vnics: VnicSpec[];
}

export interface HostDomain {
  domain: Domain;
  /** Bridge attachment of each virtual NIC, by index. */
  attachments: number[];
}

type Sink = (batch: Batch) => boolean;

/** Frames domain 0 dropped: no peer, a full rx ring, a full queue at the emulated server, no slot for a grant copy. */
export interface HostDrops {
  unwired: number;
  ringFull: number;
  queueFull: number;
  noBuffer: number;
}

interface Endpoint extends Emit {
  fn: NetworkFunction;
  ctx: { pool: PacketPool; out: Emit; now: number };
  outs: Batch[];
  attachments: number[];
}

export class HostServer {
  readonly pool: PacketPool;
  readonly slots: Dom0Slots;
  readonly bridge = new Bridge();
  readonly server: EmulatedServer | undefined;
  readonly meter: EnergyMeter | undefined;
  private readonly domains = new Map<number, HostDomain>();
  private readonly endpoints: Endpoint[] = [];
  private readonly uplinks: VxlanUplink[] = [];
  private readonly externals = new Map<number, Sink>();
  private readonly captures = new Map<number, { writer: CaptureWriter; iface: number }>();
  private readonly mirrors = new Map<number, (batch: Batch) => void>();
  private readonly gated = new Set<string>();
  private readonly dest: Int32Array;
  private readonly batch = new Batch(MAX_BATCH);
  private readonly spare = new Batch(MAX_BATCH);
  private readonly bell: Int32Array;
  private nextDomain = 1;
  private running = false;
  private loop: Promise<void> | undefined;
  private lastTick = 0;
  private lastMeter = NaN;
  private lastWork = 0;
  private lastCapWork = 0;
  private rt: { helper: Realtime; priority: number; tid: number } | undefined;
  /** Endpoint timers run (traffic sources send); cleared to stop the traffic at the end of a run. */
  endpointsTicking = true;
  /** Frames dropped in domain 0: no peer, a full ring, a full queue, no slot for a grant copy. */
  readonly drops: HostDrops = { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 };
  /** The same drops per software network (the network of the attachment the frames came from or went to). */
  private readonly netDrops = new Map<string, HostDrops>();

  constructor(readonly init: HostServerInit) {
    this.pool = new PacketPool({ slots: init.slots ?? 16384, slotSize: init.slotSize ?? 2048 });
    this.slots = new Dom0Slots(this.pool);
    this.dest = new Int32Array(this.pool.slots);
    this.bell = new Int32Array(this.slots.dom0);
    this.server = init.capacity ? new EmulatedServer({ capacity: init.capacity.capacity, unit: init.capacity.unit, maxBurst: 0.005 }) : undefined;
    this.meter = init.power ? new EnergyMeter(init.standbyWatts === undefined ? { model: init.power } : { model: init.power, standbyWatts: init.standbyWatts }) : undefined;
  }

  get name(): string {
    return this.init.name;
  }

  /** Registers a software network with the token scheduler (allocation, priority). */
  addNetwork(network: string, share: { allocation: number; priority?: number }): void {
    if (!this.server || this.gated.has(network)) return;
    this.server.addNetwork(network, { ...share, handler: (b) => this.deliverGated(network, b) });
    this.gated.add(network);
  }

  /** Elastic sizing: the network's allocation changes at the scheduler's next round, nothing queued is dropped. */
  setAllocation(network: string, allocation: number, priority?: number): void {
    this.server?.setAllocation(network, allocation, priority);
  }

  /**
   * Creates a user domain at run time and attaches its virtual NICs to the bridge (unwired:
   * wire them with `bridge.wire`). Rejects if the worker cannot build its functions.
   */
  async addDomain(req: DomainRequest, opts: { priority?: number } = {}): Promise<HostDomain> {
    const id = this.nextDomain++;
    const d = new Domain(this.slots, { ...this.init.domain, id, name: req.name, contexts: req.contexts, vnics: req.vnics });
    await d.start();
    if (this.rt) {
      try {
        await d.setRealtime(opts.priority ?? this.rt.priority, this.rt.helper);
      } catch (e) {
        await d.destroy();
        throw e;
      }
    }
    const attachments = req.vnics.map((v, i) => {
      const net = req.contexts[v.context]?.network ?? '';
      return this.bridge.attach(net, { kind: 'vnic', domain: id, vnic: i }, `${net}:${v.port}`);
    });
    const hd = { domain: d, attachments };
    this.domains.set(id, hd);
    return hd;
  }

  /** Destroys a domain at run time: its attachments leave the bridge; returns its functions' state (`onState`: as soon as posted, see Domain.destroy). */
  async removeDomain(id: number, onState?: (state: Plain[][]) => void): Promise<Plain[][]> {
    const hd = this.domains.get(id);
    if (!hd) return [];
    this.domains.delete(id);
    for (const a of hd.attachments) this.bridge.detach(a);
    return hd.domain.destroy(undefined, onState);
  }

  /**
   * Live contexts: adds context `spec` to running domain `id` (a lightweight domain hosting many
   * small networks), with a vNIC per `fn.port` of `ports`, attached to the bridge in the
   * context's network (unwired). The domain's other contexts keep forwarding.
   *
   * @example
   * const { context, attachments } = await h.addContext(hd.domain.id, { network: 'u7', functions, wires }, ['r.eth0']);
   */
  async addContext(id: number, spec: ContextSpec, ports: readonly string[]): Promise<{ context: number; attachments: number[] }> {
    const hd = this.domains.get(id);
    if (!hd) throw new DomainError(`no domain ${id} on ${this.name}`);
    const r = await hd.domain.addContext(spec, ports);
    const attachments = r.vnics.map((v, k) => {
      const a = this.bridge.attach(spec.network, { kind: 'vnic', domain: id, vnic: v }, `${spec.network}:${ports[k] ?? ''}`);
      while (hd.attachments.length < v) hd.attachments.push(-1);
      hd.attachments[v] = a;
      return a;
    });
    return { context: r.context, attachments };
  }

  /**
   * Removes context `context` of domain `id` live; returns its functions' final state. Its
   * attachments leave the bridge first, or, with `drain`, last: what the context sends while it
   * processes its last frames still goes where its vNICs lead (make-before-break: their upstream
   * was turned away beforehand, nothing new reaches them).
   */
  async removeContext(id: number, context: number, drain = false): Promise<Plain[]> {
    const hd = this.domains.get(id);
    if (!hd) return [];
    const atts = hd.domain.init.vnics.flatMap((v, i) => (v.context === context && (hd.attachments[i] ?? -1) >= 0 ? [i] : []));
    const detach = (): void => {
      for (const i of atts) {
        this.bridge.detach(hd.attachments[i] as number);
        hd.attachments[i] = -1;
      }
    };
    if (!drain) detach();
    try {
      return await hd.domain.removeContext(context, undefined, drain ? (i, b) => this.forward(hd.attachments[i] as number, b) : undefined);
    } finally {
      if (drain) detach();
    }
  }

  domainList(): HostDomain[] {
    return [...this.domains.values()];
  }

  /** Runs `fn` in domain 0 as a traffic endpoint of `network`; returns one attachment per port. */
  addEndpoint(network: string, fn: NetworkFunction, label = fn.kind): number[] {
    const idx = this.endpoints.length;
    const host = this;
    const ep: Endpoint = {
      fn,
      ctx: { pool: this.pool, out: undefined as unknown as Emit, now: 0 },
      outs: fn.ports.map(() => new Batch(MAX_BATCH)),
      attachments: [],
      send(port: number, slot: number, off: number, len: number): void {
        const b = ep.outs[port];
        if (!b) return host.pool.release(slot);
        if (b.full) host.flushEndpoint(ep, port);
        (ep.outs[port] as Batch).push(slot, off, len);
      },
      drop(slot: number): void {
        host.pool.release(slot);
      },
    };
    ep.ctx.out = ep;
    ep.attachments = fn.ports.map((p, i) => this.bridge.attach(network, { kind: 'endpoint', endpoint: idx, port: i }, `${network}:${label}.${p.name}`));
    this.endpoints.push(ep);
    return ep.attachments;
  }

  /**
   * An attachment whose frames go to `sink` (an emulated link, a test tap). `sink` returns
   * true if it keeps the slots (it releases them later), false to let domain 0 release them.
   */
  attachExternal(network: string, label: string, sink: Sink, target: AttachmentTarget = { kind: 'link', link: -1, end: 0 }): number {
    const id = this.bridge.attach(network, target, label);
    this.externals.set(id, sink);
    return id;
  }

  /** Adds an uplink and binds `vni` to a new attachment of `network`. */
  attachUplink(uplink: VxlanUplink, vni: number, network: string, remotes: UplinkRemote[]): number {
    let u = this.uplinks.indexOf(uplink);
    if (u < 0) {
      u = this.uplinks.push(uplink) - 1;
      uplink.onFrames = () => this.wake();
    }
    const id = this.bridge.attach(network, { kind: 'uplink', uplink: u, vni }, `${network}:vxlan${vni}`);
    uplink.bindVni(vni, id, remotes);
    return id;
  }

  /**
   * Shows every batch about to be delivered to attachment `a` to `fn` first (read only: the
   * frames stay the caller's and go on to `a`); `undefined` removes it. Migration warms its target
   * with copies of the source's input.
   *
   * @example
   * h.mirror(sourceVnic, (b) => copies.push(copyOf(b)));
   */
  mirror(a: number, fn: ((batch: Batch) => void) | undefined): void {
    if (fn) this.mirrors.set(a, fn);
    else this.mirrors.delete(a);
  }

  /** Writes every frame crossing the wire at attachment `a` (both ways) to `writer`. */
  capture(a: number, writer: CaptureWriter, iface = 0): void {
    this.captures.set(a, { writer, iface });
  }

  /**
   * Frames (slots of this server's pool, owned by the caller until now) arrive from attachment
   * `from`: the bridge sends them to its peer. The batch may be reused once this returns.
   */
  forward(from: number, batch: Batch): void {
    if (batch.count === 0) return;
    const to = this.bridge.peerOf(from);
    if (to < 0) {
      this.drops.unwired += batch.count;
      this.dropped(this.bridge.find(from)?.network ?? '', 'unwired', batch.count);
      if (from < this.bridge.unwired.length) this.bridge.unwired[from] = (this.bridge.unwired[from] as number) + batch.count;
      return this.releaseAll(batch);
    }
    if (this.mirrors.size > 0) this.mirrors.get(to)?.(batch);
    if (this.captures.size > 0) {
      const cap = this.captures.get(from) ?? this.captures.get(to);
      if (cap) {
        const ts = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
        for (let k = 0; k < batch.count; k++) cap.writer.write(cap.iface, ts, this.pool.bytes.subarray(batch.offs[k] as number, (batch.offs[k] as number) + (batch.lens[k] as number)));
      }
    }
    if (this.bridge.copies(from)) batch = this.grantCopy(batch, this.bridge.find(from)?.network ?? '');
    const att = this.bridge.get(to);
    const t = att.target;
    if (t.kind === 'vnic') {
      // A frame is charged once, when it enters its network's domains on this server: a hop
      // between two domains of one network (functions each in their own domain) is a wire
      // inside the network, as a call inside one domain is.
      if (this.server && this.gated.has(att.network) && this.bridge.find(from)?.target.kind !== 'vnic') {
        for (let k = 0; k < batch.count; k++) this.dest[batch.slots[k] as number] = to;
        const dropped = this.spare;
        dropped.clear();
        const n = this.server.submit(att.network, batch, performance.now() / 1000, dropped);
        this.drops.queueFull += batch.count - n;
        if (n < batch.count) this.dropped(att.network, 'queueFull', batch.count - n);
        this.releaseAll(dropped);
        return;
      }
      return this.toDomain(att.network, t.domain, t.vnic, batch, 0);
    }
    if (t.kind === 'endpoint') {
      const ep = this.endpoints[t.endpoint] as Endpoint;
      ep.ctx.now = performance.now();
      ep.fn.process(t.port, batch, ep.ctx);
      this.flushEndpointAll(ep);
      return;
    }
    if (t.kind === 'uplink') {
      this.uplinks[t.uplink]?.send(t.vni, batch);
      return this.releaseAll(batch);
    }
    const sink = this.externals.get(to);
    if (!sink || !sink(batch)) this.releaseAll(batch);
  }

  /** Grant copy across a peering: each frame into a fresh slot, the original released. */
  private grantCopy(src: Batch, network: string): Batch {
    const out = this.copyBatch;
    out.clear();
    const pool = this.pool;
    for (let k = 0; k < src.count; k++) {
      const s = src.slots[k] as number;
      const d = pool.alloc();
      if (d >= 0) {
        const off = src.offs[k] as number;
        const len = src.lens[k] as number;
        const doff = pool.frameOffset(d);
        pool.bytes.copyWithin(doff, off, off + len);
        out.push(d, doff, len);
      } else this.drops.noBuffer++;
      pool.release(s);
    }
    if (out.count < src.count) this.dropped(network, 'noBuffer', src.count - out.count);
    src.clear();
    return out;
  }
  private readonly copyBatch = new Batch(MAX_BATCH);

  private toDomain(network: string, domain: number, vnic: number, b: Batch, from: number): void {
    const hd = this.domains.get(domain);
    const n = hd ? hd.domain.send(vnic, b, from) : 0;
    if (from + n < b.count) {
      this.drops.ringFull += b.count - from - n;
      this.dropped(network, 'ringFull', b.count - from - n);
      for (let k = from + n; k < b.count; k++) this.pool.release(b.slots[k] as number);
    }
  }

  /** The emulated server's handler: frames of one network, possibly for several virtual NICs. */
  private deliverGated(network: string, b: Batch): void {
    // Runs of one destination, each pushed with one ring push.
    const sub = this.spare;
    let k = 0;
    while (k < b.count) {
      const d = this.dest[b.slots[k] as number] as number;
      sub.clear();
      while (k < b.count && this.dest[b.slots[k] as number] === d) {
        sub.push(b.slots[k] as number, b.offs[k] as number, b.lens[k] as number);
        k++;
      }
      // The attachment may have left while its frames waited (its domain was destroyed).
      const peer = this.bridge.find(d);
      if (peer?.target.kind === 'vnic') this.toDomain(network, peer.target.domain, peer.target.vnic, sub, 0);
      else {
        this.drops.unwired += sub.count;
        this.dropped(network, 'unwired', sub.count);
        this.releaseAll(sub);
      }
    }
  }

  private flushEndpoint(ep: Endpoint, port: number): void {
    const b = ep.outs[port] as Batch;
    ep.outs[port] = new Batch(MAX_BATCH);
    this.forward(ep.attachments[port] as number, b);
  }

  private flushEndpointAll(ep: Endpoint): void {
    for (let p = 0; p < ep.outs.length; p++) {
      const b = ep.outs[p] as Batch;
      if (b.count === 0) continue;
      // Swap before forwarding: the peer may be another endpoint that sends back at once.
      ep.outs[p] = this.endpointSpare(b);
      this.forward(ep.attachments[p] as number, b);
      b.clear();
      this.spares.push(b);
    }
  }
  private readonly spares: Batch[] = [];
  private endpointSpare(_b: Batch): Batch {
    return this.spares.pop() ?? new Batch(MAX_BATCH);
  }

  /** Counts `n` frames of `network` dropped for `cause` (once per batch). */
  private dropped(network: string, cause: keyof HostDrops, n: number): void {
    let d = this.netDrops.get(network);
    if (!d) this.netDrops.set(network, (d = { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 }));
    d[cause] += n;
  }

  /** Frames of `network` dropped in domain 0 since start, by cause (zeros for a network that lost none). */
  dropsOf(network: string): HostDrops {
    return { ...(this.netDrops.get(network) ?? { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 }) };
  }

  private releaseAll(b: Batch): void {
    for (let k = 0; k < b.count; k++) this.pool.release(b.slots[k] as number);
    b.clear();
  }

  /** One pass of domain 0's data path; returns the frames moved. */
  pump(now = performance.now()): number {
    let work = 0;
    const b = this.batch;
    for (const hd of this.domains.values()) {
      const d = hd.domain;
      d.service();
      for (let i = 0; i < hd.attachments.length; i++) {
        b.clear();
        const n = d.receive(i, b);
        if (n === 0) continue;
        work += n;
        this.forward(hd.attachments[i] as number, b);
      }
    }
    for (const u of this.uplinks) work += u.drain((a, batch) => this.forward(a, batch));
    if (now - this.lastTick >= (this.init.tickMs ?? 1)) {
      this.lastTick = now;
      for (const ep of this.endpoints) {
        if (!ep.fn.tick || !this.endpointsTicking) continue;
        ep.ctx.now = now;
        ep.fn.tick(ep.ctx);
        this.flushEndpointAll(ep);
      }
      this.sampleEnergy(now);
    }
    if (this.server) {
      const before = this.server.scheduler.backlog;
      this.server.serve(now / 1000);
      if (before > 0) work++;
    }
    return work;
  }

  private sampleEnergy(now: number, force = false): void {
    if (!this.meter || (!force && !Number.isNaN(this.lastMeter) && now - this.lastMeter < 100)) return;
    let u = 0;
    if (this.server) {
      const st = this.server.stats();
      const dw = st.work - this.lastWork;
      const dc = st.capacityWork - this.lastCapWork;
      this.lastWork = st.work;
      this.lastCapWork = st.capacityWork;
      u = dc > 0 ? dw / dc : 0;
    }
    this.lastMeter = now;
    this.meter.sample(now / 1000, u, this.domains.size > 0);
  }

  energy(): EnergyReading | undefined {
    if (this.meter) this.sampleEnergy(Math.max(performance.now(), Number.isNaN(this.lastMeter) ? 0 : this.lastMeter), true);
    return this.meter?.reading();
  }

  stats(): ServerStats | undefined {
    return this.server?.stats();
  }

  /**
   * Runs the data plane at real-time priority (see realtime.ts): domain 0's thread — the caller's,
   * which must be the one that runs `start()` — at SCHED_FIFO `priority + 1`, every domain worker,
   * present and future, at `priority` (`addDomain(…, { priority })` starts one at another priority, 0
   * for SCHED_OTHER; `Domain.setRealtime` changes it later). Rejects with a RealtimeError when this process may not
   * (neither root nor CAP_SYS_NICE, or no `chrt`), and changes nothing then.
   *
   * @example
   * await h.realtime(10);
   * h.start();
   */
  async realtime(priority = 10): Promise<RealtimeStatus> {
    if (!Number.isInteger(priority) || priority < 1 || priority >= MAX_PRIORITY) throw new RealtimeError(`priority must be an integer in 1…${MAX_PRIORITY - 1}, got ${priority}`);
    const helper = this.rt?.helper ?? (await Realtime.open());
    const tid = threadId();
    await helper.set(tid, priority + 1);
    if (!this.rt) rtOpen.set(tid, (rtOpen.get(tid) ?? 0) + 1);
    this.rt = { helper, priority, tid };
    const results = await Promise.allSettled([...this.domains.values()].map((hd) => hd.domain.setRealtime(priority, helper)));
    return this.realtimeStatus(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)));
  }

  /** The data plane's scheduling (see `realtime`); a RealtimeError when it runs at normal priority. */
  realtimeStatus(errors: readonly string[] = []): RealtimeStatus {
    if (!this.rt) throw new RealtimeError(`${this.name} does not run at real-time priority`);
    const failed = [...this.domains.values()].filter((hd) => hd.domain.realtimeError !== undefined);
    const error = errors[0] ?? failed[0]?.domain.realtimeError;
    return { priority: this.rt.priority, dom0Tid: this.rt.tid, failed: Math.max(errors.length, failed.length), ...(error !== undefined ? { error } : {}) };
  }

  /** The domain workers' real-time priority, or undefined (see `realtime`). */
  get realtimePriority(): number | undefined {
    return this.rt?.priority;
  }

  /** Wakes the loop (an uplink or another thread has frames). */
  wake(): void {
    if (Atomics.load(this.bell, DOM0.SLEEPING) !== 0) {
      Atomics.store(this.bell, DOM0.SLEEPING, 0);
      Atomics.add(this.bell, DOM0.BELL, 1);
      Atomics.notify(this.bell, DOM0.BELL);
    }
  }

  /** Runs the pump until `stop()`: spins while frames move, sleeps on the doorbell when idle. */
  start(spin = 64): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      let idle = 0;
      const tick = this.init.tickMs ?? 1;
      // Paced: a thread that sleeps between short bursts is woken at once by the OS scheduler, one
      // that spins is preempted for whole time slices (gaps of several ms on a busy machine).
      const paced = tick < 1;
      while (this.running) {
        const w = this.pump();
        if (w > 0 || ++idle < (paced ? 2 : spin)) {
          if (w > 0) idle = 0;
          // Yield to I/O (uplink sockets, timers) without sleeping.
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
        idle = 0;
        const seen = Atomics.load(this.bell, DOM0.BELL);
        Atomics.store(this.bell, DOM0.SLEEPING, 1);
        let pending = 0;
        for (const hd of this.domains.values()) pending += hd.domain.pendingTx;
        if (pending === 0 && paced) {
          // At most one tick blocked (a futex wait, µs precision), then a turn of the event loop.
          Atomics.wait(this.bell, DOM0.BELL, seen, Math.max(0, Math.min(tick, this.lastTick + tick - performance.now())));
          Atomics.store(this.bell, DOM0.SLEEPING, 0);
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
        if (pending === 0) {
          const r = (Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: Promise<string> | string } }).waitAsync(this.bell, DOM0.BELL, seen, tick);
          if (r.async) await r.value;
        }
        Atomics.store(this.bell, DOM0.SLEEPING, 0);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    this.loop = undefined;
  }

  /** Stops the loop and every domain, closes uplinks; domain 0's thread leaves real time (see `realtime`). */
  async close(): Promise<void> {
    await this.stop();
    await Promise.all([...this.domains.keys()].map((id) => this.removeDomain(id)));
    await Promise.all(this.uplinks.map((u) => u.close()));
    const rt = this.rt;
    if (rt) {
      this.rt = undefined;
      const n = (rtOpen.get(rt.tid) ?? 1) - 1;
      if (n > 0) rtOpen.set(rt.tid, n);
      else {
        rtOpen.delete(rt.tid);
        await rt.helper.set(rt.tid, 0).catch(() => undefined);
      }
      rt.helper.close();
    }
  }
}
