/**
 * User domains as domain 0 sees them: a worker thread running the functions of one software
 * network (or, as a lightweight domain, of many small ones, one context each), its virtual NICs'
 * back-ends, and the watchdog that restarts it.
 *
 * Slot custody: every slot belongs to domain 0's pool and `Dom0Slots.holder[slot]` says who
 * holds it (0 = domain 0, d = user domain d). A descriptor coming back from a domain is
 * untrusted: a slot it does not hold, or a frame outside its slot, is counted as `invalid` and
 * ignored (a domain cannot forge access to another network's frames). When a domain dies every
 * slot it held is reclaimed, so a crash leaks nothing.
 *
 * Crash handling: an uncaught error ends the worker ('error' event); a function stuck in a loop
 * stops the heartbeat in the control block, and the watchdog terminates the thread after
 * `watchdogMs`. Either way the domain restarts with fresh rings and its functions rebuilt from
 * their configuration (their state is lost, as after a reboot), while domain 0 and every other
 * domain keep forwarding.
 *
 * @example
 * const slots = new Dom0Slots(new PacketPool({ slots: 4096 }));
 * const d = new Domain(slots, { id: 1, name: 'net-a', contexts: [ctx], vnics: [{ context: 0, port: 'r1.eth0' }] });
 * await d.start();
 * d.send(0, batch);          // frames arrive on r1.eth0
 * d.receive(0, out);         // frames r1 sent by that port
 */
import { Worker } from 'node:worker_threads';
import { Batch, MAX_BATCH, type PacketPool } from '../packet/pool.js';
import type { Plain } from '../functions/contract.js';
import { Ring } from './ring.js';
import { CTL, DOM0, VirtualNic, newDomainRings, ringBell, type DomainRings } from './vnic.js';
import type { ContextChange, ContextSpec, Dom0Message, DomainMessage, DomainWorkerInit, VnicSpec } from './domain-worker.js';
import { POOL_INIT, type DomainPool } from './domain-pool.js';
import type { Realtime } from './realtime.js';

export type { ContextSpec, FunctionSpec, VnicSpec } from './domain-worker.js';

export class DomainError extends Error {
  override readonly name = 'DomainError';
}

/** Domain 0's pool with the custody of each slot. */
export class Dom0Slots {
  readonly holder: Int32Array;
  /** Domain 0's doorbell (vnic.ts DOM0 words), rung by domains that sent frames. */
  readonly dom0 = new SharedArrayBuffer(DOM0.WORDS * 4);
  constructor(readonly pool: PacketPool) {
    this.holder = new Int32Array(pool.slots);
  }
  /** Releases every slot domain `id` holds; returns how many. */
  reclaim(id: number): number {
    let n = 0;
    const h = this.holder;
    for (let s = 0; s < h.length; s++)
      if (h[s] === id) {
        h[s] = 0;
        this.pool.release(s);
        n++;
      }
    return n;
  }
}

export interface DomainInit {
  id: number;
  name: string;
  contexts: ContextSpec[];
  vnics: VnicSpec[];
  /** Descriptors per ring (power of two); default 1024. */
  ringCapacity?: number;
  spin?: number;
  heartbeatMs?: number;
  /** Heartbeat silence after which the domain is restarted; default 1000 ms. */
  watchdogMs?: number;
  tickMs?: number;
  /** Empty slots kept posted on the free ring; default 256. */
  freeSlots?: number;
  /** Idle workers started ahead: the domain (and its restarts) take one when there is one. */
  pool?: DomainPool;
}

export interface DomainCounters {
  id: number;
  name: string;
  state: DomainState;
  restarts: number;
  /** Frames handed to the domain, and taken back from it. */
  sent: number;
  received: number;
  /** Frames refused because an rx ring was full (netback's drop). */
  ringFull: number;
  /** Descriptors from the domain naming a slot it did not hold or a frame outside its slot. */
  invalid: number;
  /** Slots reclaimed after crashes (frames in flight then). */
  lostInCrash: number;
  /** Frames the functions processed (the domain's own count). */
  processed: number;
  /** Frames the domain dropped because its tx ring stayed full (domain 0 starved). */
  txFull: number;
}

export type DomainState = 'starting' | 'running' | 'restarting' | 'stopped';

export class Domain {
  state: DomainState = 'starting';
  restarts = 0;
  vnics: VirtualNic[] = [];
  /** Called after a crash, with the cause, once the new instance is starting. */
  onCrash: ((cause: Error) => void) | undefined;
  private worker: Worker | undefined;
  private rings!: DomainRings;
  private ctl!: Int32Array;
  private free!: Ring;
  private ret!: Ring;
  private readonly scratch = new Batch(MAX_BATCH);
  private lastBeat = -1;
  private lastBeatAt = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private generation = 0;
  private portTx: Float64Array | undefined;
  private portNames: string[] = [];
  private portContexts: number[] = [];
  private ctxFrames: Float64Array | undefined;
  /** Per context, frames counted by workers that crashed (a context's count survives restarts, as `processed`). */
  private readonly ctxBefore: number[] = [];
  private processedBefore = 0;
  private txFullBefore = 0;
  private readonly c = { sent: 0, received: 0, ringFull: 0, invalid: 0, lostInCrash: 0 };
  private stopped: ((state: Plain[][]) => void) | undefined;
  private readyWaiters: (() => void)[] = [];
  /** The worker's thread id (0 before it is ready). */
  tid = 0;
  /** Why the worker's scheduling could not be set (see `setRealtime`), if it could not. */
  realtimeError: string | undefined;
  private rtPriority: number | undefined;
  private rtHelper: Realtime | undefined;

  constructor(
    readonly slots: Dom0Slots,
    readonly init: DomainInit,
  ) {
    if (!Number.isInteger(init.id) || init.id <= 0) throw new DomainError(`domain id must be a positive integer, got ${init.id}`);
  }

  get id(): number {
    return this.init.id;
  }

  /** Starts the worker; resolves once its functions are built. Rejects on a bad specification. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.readyWaiters.push(resolve);
      this.spawn(reject);
    });
  }

  private spawn(onFirstError?: (e: Error) => void): void {
    const gen = ++this.generation;
    const cap = this.init.ringCapacity ?? 1024;
    this.rings = newDomainRings(this.slots.dom0, this.init.vnics.length, cap, this.slots.pool.slots);
    this.ctl = new Int32Array(this.rings.control);
    this.free = new Ring({ buffer: this.rings.free });
    this.ret = new Ring({ buffer: this.rings.ret });
    this.vnics = this.init.vnics.map((_, i) => new VirtualNic(i, this.rings.rx[i] as SharedArrayBuffer, this.rings.tx[i] as SharedArrayBuffer));
    const pool = this.slots.pool;
    const data: DomainWorkerInit = {
      id: this.init.id,
      contexts: this.init.contexts,
      vnics: this.init.vnics,
      pool: { buffer: pool.buffer, slots: pool.slots, slotSize: pool.slotSize, headroom: pool.headroom },
      rings: this.rings,
      spin: this.init.spin ?? 200,
      heartbeatMs: this.init.heartbeatMs ?? 20,
      tickMs: this.init.tickMs ?? 10,
    };
    this.state = this.restarts === 0 ? 'starting' : 'restarting';
    // With a pool, a worker started here is a pooled one too, so that destroy() can park it.
    const idle = this.init.pool;
    const w = idle?.take() ?? new Worker(new URL('./domain-worker.js', import.meta.url), { workerData: idle ? { pooled: true } : data });
    if (idle) w.postMessage({ type: POOL_INIT, init: data });
    this.worker = w;
    w.on('message', (m: DomainMessage) => {
      if (gen !== this.generation) return;
      if (m.type === 'ready') {
        this.tid = m.tid;
        // A restart's new worker (a pooled one may come from a domain of another priority).
        if (this.rtHelper) void this.schedule().catch(() => undefined);
        this.portTx = new Float64Array(m.ports);
        this.portNames = m.portNames;
        this.portContexts = m.portContexts;
        this.ctxFrames = new Float64Array(m.frames);
        this.state = 'running';
        this.lastBeat = -1;
        this.lastBeatAt = performance.now();
        this.refill();
        const ws = this.readyWaiters;
        this.readyWaiters = [];
        for (const f of ws) f();
        this.armWatchdog();
      } else if (m.type === 'stopped') this.stopped?.(m.state);
      else if (m.type === 'state') this.settle(m.id, m.state, undefined);
      else if (m.type === 'imported') this.settle(m.id, null, m.error);
      else if (m.type === 'context') {
        this.portTx = new Float64Array(m.ports);
        this.portNames = m.portNames;
        this.portContexts = m.portContexts;
        this.ctxFrames = new Float64Array(m.frames);
        const w = this.ctxWaiting.get(m.id);
        this.ctxWaiting.delete(m.id);
        w?.(m.error, m.state);
      }
    });
    w.on('error', (e: Error) => {
      if (gen !== this.generation) return;
      if (this.state === 'starting' && onFirstError) {
        this.state = 'stopped';
        this.disarm();
        this.slots.reclaim(this.id);
        onFirstError(new DomainError(`domain ${this.init.name}: ${e.message}`));
        return;
      }
      this.crash(e);
    });
    w.on('exit', (code) => {
      if (gen !== this.generation || this.state === 'stopped') return;
      this.crash(new DomainError(`domain ${this.init.name} exited with code ${code}`));
    });
  }

  private crash(cause: Error): void {
    const old = this.worker;
    this.disarm();
    this.processedBefore += Atomics.load(this.ctl, CTL.FRAMES);
    this.txFullBefore += Atomics.load(this.ctl, CTL.TX_FULL);
    // A new generation first: events of the old worker are ignored from here on.
    this.generation++;
    void old?.terminate();
    this.c.lostInCrash += this.slots.reclaim(this.id);
    this.restarts++;
    this.failContextChanges(`domain ${this.init.name} crashed during a context change: ${cause.message}`);
    this.ctxFrames?.forEach((v, i) => (this.ctxBefore[i] = (this.ctxBefore[i] ?? 0) + v));
    this.ctxFrames = undefined;
    this.spawn();
    this.onCrash?.(cause);
  }

  private armWatchdog(): void {
    this.disarm();
    const limit = this.init.watchdogMs ?? 1000;
    this.watchdog = setInterval(() => {
      const beat = Atomics.load(this.ctl, CTL.HEARTBEAT);
      const now = performance.now();
      if (beat !== this.lastBeat) {
        this.lastBeat = beat;
        this.lastBeatAt = now;
      } else if (now - this.lastBeatAt > limit) this.crash(new DomainError(`domain ${this.init.name}: no heartbeat for ${Math.round(now - this.lastBeatAt)} ms (watchdog)`));
    }, Math.max(5, limit / 4));
    this.watchdog.unref();
  }

  private disarm(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  private requests = 0;
  private readonly waiting = new Map<number, { resolve: (s: Plain[][] | null) => void; reject: (e: Error) => void }>();

  private settle(id: number, state: Plain[][] | null, error: string | undefined): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    if (error !== undefined) w.reject(new DomainError(`domain ${this.init.name}: import: ${error}`));
    else w.resolve(state);
  }

  private request(timeoutMs: number): { id: number; done: Promise<Plain[][] | null> } {
    const id = ++this.requests;
    const done = new Promise<Plain[][] | null>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new DomainError(`domain ${this.init.name}: no answer to request ${id} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (s) => {
          clearTimeout(t);
          resolve(s);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
    return { id, done };
  }

  /**
   * Live export (migration): the running domain posts its functions' state (one array per
   * context) once it has processed every frame already on its rx rings, without stopping.
   *
   * @example
   * const state = await d.exportState(); // [[routerState]]
   */
  exportState(timeoutMs = 2000): Promise<Plain[][]> {
    return this.oneExport(() => {
      if (this.state !== 'running') return Promise.reject(new DomainError(`domain ${this.init.name} is ${this.state}`));
      const r = this.request(timeoutMs);
      Atomics.store(this.ctl, CTL.EXPORT, r.id);
      Atomics.add(this.ctl, CTL.WORKER_BELL, 1);
      Atomics.notify(this.ctl, CTL.WORKER_BELL);
      return r.done.then((s) => s ?? []);
    });
  }

  private exportTail: Promise<unknown> = Promise.resolve();

  /**
   * Exports one at a time: the worker answers the request in its one export word, so a second
   * request issued before the first was seen would leave the first unanswered.
   */
  private oneExport(f: () => Promise<Plain[][]>): Promise<Plain[][]> {
    const p = this.exportTail.then(f, f);
    this.exportTail = p.catch(() => undefined);
    return p;
  }

  /**
   * Live import (migration): posts state to the running domain, which applies it before it
   * processes any frame handed to it after this call returns (so frames sent right after see
   * the new state). The promise settles when the domain confirms (DomainError if a function
   * refused the state).
   *
   * @example
   * await d.importState(await source.exportState());
   */
  importState(state: Plain[][], timeoutMs = 2000): Promise<void> {
    if (this.state !== 'running' || !this.worker) return Promise.reject(new DomainError(`domain ${this.init.name} is ${this.state}`));
    const r = this.request(timeoutMs);
    this.worker.postMessage({ type: 'import', id: r.id, state } satisfies Dom0Message);
    Atomics.store(this.ctl, CTL.IMPORT, r.id);
    Atomics.add(this.ctl, CTL.WORKER_BELL, 1);
    Atomics.notify(this.ctl, CTL.WORKER_BELL);
    return r.done.then(() => undefined);
  }

  /**
   * Partitioning: the running domain takes the flows whose bucket (lib/flowkey.ts) is in
   * `buckets` out of its functions' tables (their `exportFlows`; null for functions without)
   * once it has processed every frame already on its rx rings, and posts them, one array per
   * context.
   *
   * @example
   * const moving = await a.exportFlows([3, 17]);
   * await b.importFlows(moving);
   */
  exportFlows(buckets: readonly number[], timeoutMs = 2000): Promise<Plain[][]> {
    return this.oneExport(() => {
      if (this.state !== 'running' || !this.worker) return Promise.reject(new DomainError(`domain ${this.init.name} is ${this.state}`));
      const r = this.request(timeoutMs);
      this.worker.postMessage({ type: 'exportFlows', id: r.id, buckets: [...buckets] } satisfies Dom0Message);
      Atomics.store(this.ctl, CTL.EXPORT, -r.id);
      Atomics.add(this.ctl, CTL.WORKER_BELL, 1);
      Atomics.notify(this.ctl, CTL.WORKER_BELL);
      return r.done.then((s) => s ?? []);
    });
  }

  /**
   * Partitioning: merges flows another domain exported (`exportFlows`) into this one's functions
   * (their `importFlows`), applied before any frame handed over after this call returns.
   */
  importFlows(flows: Plain[][], timeoutMs = 2000): Promise<void> {
    if (this.state !== 'running' || !this.worker) return Promise.reject(new DomainError(`domain ${this.init.name} is ${this.state}`));
    const r = this.request(timeoutMs);
    this.worker.postMessage({ type: 'import', id: r.id, state: flows, flows: true } satisfies Dom0Message);
    Atomics.store(this.ctl, CTL.IMPORT, r.id);
    Atomics.add(this.ctl, CTL.WORKER_BELL, 1);
    Atomics.notify(this.ctl, CTL.WORKER_BELL);
    return r.done.then(() => undefined);
  }

  private contextChanges = 0;
  private readonly ctxReserved = new Set<number>();
  private readonly vnicReserved = new Set<number>();

  /** Waits (bounded) for a starting or restarting domain to run. */
  private async settled(timeoutMs: number): Promise<void> {
    if (this.state !== 'starting' && this.state !== 'restarting') return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.ready(), new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
    clearTimeout(t);
  }
  private readonly ctxWaiting = new Map<number, (error: string | undefined, state: Plain[] | undefined) => void>();

  private failContextChanges(why: string): void {
    const ws = [...this.ctxWaiting.values()];
    this.ctxWaiting.clear();
    for (const w of ws) w(why, undefined);
  }

  /** Posts a context change and announces it (CTL.CONTEXT); settles with the worker's answer. */
  private contextChange(m: ContextChange, timeoutMs: number): Promise<Plain[] | undefined> {
    if (this.state !== 'running' || !this.worker) return Promise.reject(new DomainError(`domain ${this.init.name} is ${this.state}`));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.ctxWaiting.delete(m.id);
        reject(new DomainError(`domain ${this.init.name}: no answer to context change ${m.id} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.ctxWaiting.set(m.id, (error, state) => {
        clearTimeout(t);
        if (error !== undefined) reject(new DomainError(`domain ${this.init.name}: ${error}`));
        else resolve(state);
      });
      this.worker?.postMessage(m satisfies Dom0Message);
      Atomics.store(this.ctl, CTL.CONTEXT, m.id);
      Atomics.add(this.ctl, CTL.WORKER_BELL, 1);
      Atomics.notify(this.ctl, CTL.WORKER_BELL);
    });
  }

  /**
   * Live contexts (a lightweight domain hosting many small networks): builds context `spec` in
   * the running domain, with a vNIC feeding each `fn.port` of `ports`, between two of its batches
   * — the other contexts keep forwarding. Free indices (of removed contexts and their vNICs) are
   * reused. Rejects with DomainError (nothing changed) if a function cannot be built or the domain
   * restarts meanwhile; a restart later rebuilds the context from its configuration.
   *
   * @example
   * const { context, vnics } = await d.addContext({ network: 'u1', functions, wires }, ['r.eth0']);
   */
  async addContext(spec: ContextSpec, ports: readonly string[], timeoutMs = 2000): Promise<{ context: number; vnics: number[] }> {
    await this.settled(timeoutMs);
    const cs = this.init.contexts;
    // Indices of changes still in flight are reserved: concurrent adds take different ones.
    let index = 0;
    while (this.ctxReserved.has(index) || (index < cs.length && !isFreeContext(cs[index]))) index++;
    const taken: number[] = [];
    for (let i = 0; taken.length < ports.length; i++) if (!this.vnicReserved.has(i) && (i >= this.init.vnics.length || (this.init.vnics[i]?.context ?? -1) < 0)) taken.push(i);
    const vnics = ports.map((port, k) => ({ index: taken[k] as number, port, rx: new Ring({ capacity: this.init.ringCapacity ?? 1024 }).buffer, tx: new Ring({ capacity: this.init.ringCapacity ?? 1024 }).buffer }));
    this.ctxReserved.add(index);
    for (const i of taken) this.vnicReserved.add(i);
    try {
      await this.contextChange({ type: 'context', id: ++this.contextChanges, op: 'add', index, spec, vnics }, timeoutMs);
    } finally {
      this.ctxReserved.delete(index);
      for (const i of taken) this.vnicReserved.delete(i);
    }
    // Applied: a restart from now on rebuilds it (from its configuration).
    while (cs.length < index) cs.push({ network: '', functions: [], wires: [] });
    cs[index] = spec;
    this.ctxBefore[index] = 0;
    for (const v of vnics) {
      while (this.init.vnics.length < v.index) this.init.vnics.push({ context: -1, port: '' });
      this.init.vnics[v.index] = { context: index, port: v.port };
      while (this.vnics.length < v.index) this.vnics.push(deadVnic(this.vnics.length));
      this.vnics[v.index] = new VirtualNic(v.index, v.rx, v.tx);
    }
    return { context: index, vnics: vnics.map((v) => v.index) };
  }

  /**
   * Removes context `index` live: from the call on nothing more is handed to its vNICs (`send`
   * takes none), the frames on its rx rings are processed, its functions' final state returned
   * (empty if the domain restarted meanwhile: the restart left it out); what it sent and domain 0
   * did not take yet goes to `left` (vNIC index, frames now domain 0's), else is released.
   *
   * @example
   * const state = await d.removeContext(3);
   */
  async removeContext(index: number, timeoutMs = 2000, left?: (vnic: number, frames: Batch) => void): Promise<Plain[]> {
    await this.settled(timeoutMs);
    const c = this.init.contexts[index];
    if (!c || isFreeContext(c)) throw new DomainError(`domain ${this.init.name}: no context ${index}`);
    const mine = this.init.vnics.flatMap((v, i) => (v.context === index ? [i] : []));
    // Out of the configuration first: a restart from now on leaves it out.
    this.init.contexts[index] = { network: '', functions: [], wires: [] };
    for (const i of mine) this.init.vnics[i] = { context: -1, port: '' };
    let state: Plain[] = [];
    try {
      state = (await this.contextChange({ type: 'context', id: ++this.contextChanges, op: 'remove', index }, timeoutMs)) ?? [];
    } catch (e) {
      if (this.state === 'stopped') return [];
      if (!(e instanceof DomainError) || !/crashed/.test(e.message)) throw e;
    }
    const b = this.scratch;
    for (const i of mine) {
      // What it sent that domain 0 did not take: on its way (`left`), or back to the pool.
      for (;;) {
        b.clear();
        if (this.receive(i, b) === 0) break;
        if (left) left(i, b);
        else for (let k = 0; k < b.count; k++) this.slots.pool.release(b.slots[k] as number);
      }
      this.vnics[i] = deadVnic(i);
    }
    return state;
  }

  /** Frames the domain took from context `index`'s rx rings since the context was added (across restarts). */
  contextFrames(index: number): number {
    return (this.ctxBefore[index] ?? 0) + (this.ctxFrames?.[index] ?? 0);
  }

  /** Resolves when the domain (or its restarted instance) is running. */
  ready(): Promise<void> {
    if (this.state === 'running') return Promise.resolve();
    return new Promise((r) => this.readyWaiters.push(r));
  }

  /**
   * Back-end transmit: hands frames `from…` of `batch` to virtual NIC `vnic` (page flip: the
   * descriptors cross, the frames stay). Returns how many the ring took; the caller keeps the
   * rest (drop or retry). One ring push and at most one doorbell.
   */
  send(vnic: number, batch: Batch, from = 0): number {
    const v = this.vnics[vnic];
    // A vNIC of a context being removed (or removed) takes nothing: its worker reads it no more.
    if (!v || this.state === 'stopped' || (this.init.vnics[vnic]?.context ?? 0) < 0) return 0;
    const n = v.rx.push(batch, from);
    const h = this.slots.holder;
    const id = this.id;
    for (let k = from; k < from + n; k++) h[batch.slots[k] as number] = id;
    this.c.sent += n;
    this.c.ringFull += batch.count - from - n;
    if (n > 0) ringBell(this.ctl, CTL.WORKER_SLEEPING, CTL.WORKER_BELL);
    return n;
  }

  /**
   * Back-end receive: appends the frames the domain sent by virtual NIC `vnic` to `into`,
   * checking each descriptor (slot held by this domain, frame inside its slot). Returns how many
   * were appended.
   */
  receive(vnic: number, into: Batch): number {
    const v = this.vnics[vnic];
    if (!v) return 0;
    const start = into.count;
    const got = v.tx.pop(into);
    if (got === 0) return 0;
    const h = this.slots.holder;
    const id = this.id;
    const size = this.slots.pool.slotSize;
    const nSlots = this.slots.pool.slots;
    let w = start;
    for (let k = start; k < start + got; k++) {
      const s = into.slots[k] as number;
      const off = into.offs[k] as number;
      const len = into.lens[k] as number;
      const base = s * size;
      if (s < 0 || s >= nSlots || h[s] !== id || off < base || len <= 0 || off + len > base + size) {
        this.c.invalid++;
        continue;
      }
      h[s] = 0;
      into.slots[w] = s;
      into.offs[w] = off;
      into.lens[w] = len;
      w++;
    }
    into.count = w;
    this.c.received += w - start;
    return w - start;
  }

  /** Takes back the slots the domain released and keeps its free ring posted; call every pump. */
  service(): void {
    const b = this.scratch;
    const h = this.slots.holder;
    const pool = this.slots.pool;
    const id = this.id;
    for (;;) {
      b.clear();
      const n = this.ret.pop(b);
      if (n === 0) break;
      for (let k = 0; k < n; k++) {
        const s = b.slots[k] as number;
        if (s >= 0 && s < h.length && h[s] === id) {
          h[s] = 0;
          pool.release(s);
        } else this.c.invalid++;
      }
    }
    if (this.state === 'running') this.refill();
  }

  private refill(): void {
    const want = (this.init.freeSlots ?? 256) - this.free.size;
    if (want < 32) return;
    const b = this.scratch;
    b.clear();
    const pool = this.slots.pool;
    for (let k = 0; k < want && !b.full; k++) {
      const s = pool.alloc();
      if (s < 0) break;
      b.push(s, pool.frameOffset(s), 0);
    }
    const n = this.free.push(b);
    for (let k = 0; k < n; k++) this.slots.holder[b.slots[k] as number] = this.id;
    for (let k = n; k < b.count; k++) pool.release(b.slots[k] as number);
  }

  /** Frames waiting on the domain's tx rings (domain 0 should come back soon). */
  get pendingTx(): number {
    let n = 0;
    for (const v of this.vnics) n += v.tx.size;
    return n;
  }

  /**
   * Frames each function port has sent since the domain (re)started, `fn.port` → count, read from
   * memory the worker writes (no message): a link's load is the sum over its two ports.
   */
  portCounters(context?: number): Record<string, number> {
    const out: Record<string, number> = {};
    const tx = this.portTx;
    if (tx) this.portNames.forEach((n, i) => (context === undefined || this.portContexts[i] === context ? (out[n] = tx[i] as number) : 0));
    return out;
  }

  /** The worker's real-time priority as last asked (0: SCHED_OTHER), or undefined when not managed. */
  get realtime(): number | undefined {
    return this.rtPriority;
  }

  /**
   * Sets the worker thread's scheduling, SCHED_FIFO at `priority` or SCHED_OTHER for 0, now and
   * after each restart, through `helper` (or the one given before): a migration target runs below the live workers
   * while it warms up, so that its cold start never preempts the source, and is raised just before
   * the switch.
   *
   * @example await d.setRealtime(10);
   */
  async setRealtime(priority: number, helper?: Realtime): Promise<void> {
    if (helper) this.rtHelper = helper;
    if (!this.rtHelper) throw new DomainError(`domain ${this.id} has no real-time helper`);
    this.rtPriority = priority;
    if (this.tid > 0) await this.schedule();
  }

  private async schedule(): Promise<void> {
    const helper = this.rtHelper;
    const priority = this.realtime;
    if (!helper || priority === undefined) return;
    try {
      await helper.set(this.tid, priority);
      this.realtimeError = undefined;
    } catch (e) {
      this.realtimeError = (e as Error).message;
      throw e;
    }
  }

  counters(): DomainCounters {
    return { id: this.id, name: this.init.name, state: this.state, restarts: this.restarts, ...this.c, processed: this.processedBefore + (this.ctl ? Atomics.load(this.ctl, CTL.FRAMES) : 0), txFull: this.txFullBefore + (this.ctl ? Atomics.load(this.ctl, CTL.TX_FULL) : 0) };
  }

  /**
   * Stops the domain gracefully: its loop ends, it exports its functions' state (one array per
   * context), and every slot it held goes back to domain 0. A hung domain is terminated after
   * `timeoutMs` (state then empty). `onState` gets that state as soon as the domain posted it,
   * before the thread is terminated (which takes a while on a loaded machine).
   */
  async destroy(timeoutMs = 2000, onState?: (state: Plain[][]) => void): Promise<Plain[][]> {
    if (this.state === 'stopped') return [];
    this.disarm();
    this.failContextChanges(`domain ${this.init.name} stopped`);
    const w = this.worker;
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    Atomics.store(this.ctl, CTL.STOP, 1);
    Atomics.add(this.ctl, CTL.WORKER_BELL, 1);
    Atomics.notify(this.ctl, CTL.WORKER_BELL);
    let state: Plain[][] = [];
    let ended = false;
    if (w && wasRunning) {
      state = await new Promise<Plain[][]>((resolve) => {
        const t = setTimeout(() => resolve([]), timeoutMs);
        this.stopped = (s) => {
          clearTimeout(t);
          ended = true;
          resolve(s);
        };
      });
    }
    onState?.(state);
    this.generation++;
    // A worker whose runtime ended goes back to the pool (no thread exit on domain 0's path); a hung
    // or starting one is terminated.
    if (w && ended && this.init.pool) this.init.pool.park(w);
    else await w?.terminate();
    this.processedBefore += Atomics.load(this.ctl, CTL.FRAMES);
    Atomics.store(this.ctl, CTL.FRAMES, 0);
    this.slots.reclaim(this.id);
    return state;
  }
}

/** The vNIC of a free index: tiny rings, always empty. */
function deadVnic(i: number): VirtualNic {
  return new VirtualNic(i, new Ring({ capacity: 2 }).buffer, new Ring({ capacity: 2 }).buffer);
}

/** A context index free for reuse (a removed context's). */
function isFreeContext(c: ContextSpec | undefined): boolean {
  return c === undefined || (c.functions.length === 0 && c.network === '');
}
