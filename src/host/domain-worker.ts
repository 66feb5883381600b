/**
 * The entry of a user domain (a worker thread): builds the functions of its contexts (one
 * context per software network; a lightweight domain holds many), wires them into a graph by
 * port, and runs the front-ends of its virtual NICs: pop a batch from an rx ring, push it
 * through the graph (functions call each other directly inside the domain, no copy), push what
 * leaves by a virtual NIC on its tx ring, one push and at most one doorbell per batch.
 * When every ring is empty it spins `spin` polls, then raises its sleeping flag, re-checks and
 * sleeps on its doorbell for at most `heartbeatMs`, so the heartbeat moves even when idle.
 *
 * A function that throws is not caught: the error ends the domain, and domain 0 restarts it
 * (a crash takes down its domain only).
 *
 * @example
 * new Worker(new URL('./domain-worker.js', import.meta.url), { workerData: spec });
 */
import { parentPort, workerData, isMainThread, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { threadId } from './realtime.js';
import { Batch, MAX_BATCH, PacketPool } from '../packet/pool.js';
import type { Emit, NetworkFunction, Plain, ProcessContext } from '../functions/contract.js';
import { createFunction } from '../functions/registry.js';
import { Ring } from './ring.js';
import { CTL, DOM0, ringBell, type DomainRings } from './vnic.js';
import { faultFactory } from './fault.js';
import { FLOW_BUCKETS, flowBucket } from '../functions/lib/flowkey.js';

export interface FunctionSpec {
  name: string;
  kind: string;
  config: Plain;
  /** State to import after creation (migration, restart with saved state). */
  state?: Plain;
}

/** One software network inside a domain: its functions and the wires between their ports. */
export interface ContextSpec {
  network: string;
  functions: FunctionSpec[];
  /** Internal wires, `fn.port` ↔ `fn.port`, both inside this context. */
  wires: [string, string][];
}

export interface VnicSpec {
  /** Context index and `fn.port` the front-end feeds; < 0: a free index (a removed context's vNIC, no port). */
  context: number;
  port: string;
}

export interface PoolSpec {
  buffer: SharedArrayBuffer;
  slots: number;
  slotSize: number;
  headroom: number;
}

export interface DomainWorkerInit {
  id: number;
  contexts: ContextSpec[];
  vnics: VnicSpec[];
  pool: PoolSpec;
  rings: DomainRings;
  /** Empty polls before sleeping. */
  spin: number;
  heartbeatMs: number;
  /** Interval of the functions' timers. */
  tickMs: number;
}

/** Messages a domain posts to domain 0. */
export type DomainMessage =
  /** `ports`: frames each function port sent (Float64, one writer: this worker), named `fn.port` in `portNames`. */
  | { type: 'ready'; ports: SharedArrayBuffer; portNames: string[]; portContexts: number[]; frames: SharedArrayBuffer; tid: number }
  /**
   * A live context change applied (or refused: `error`, nothing changed), with the new port
   * counters (`portContexts[i]`: the context of port i) and per-context frame counters
   * (`frames`, Float64 by context index); a removed context's final `state`.
   */
  | { type: 'context'; id: number; error?: string; state?: Plain[]; ports: SharedArrayBuffer; portNames: string[]; portContexts: number[]; frames: SharedArrayBuffer }
  | { type: 'stopped'; state: Plain[][] }
  | { type: 'counters'; counters: Plain[][] }
  | { type: 'state'; id: number; state: Plain[][] }
  | { type: 'imported'; id: number; error?: string };

/**
 * Messages domain 0 posts to a running domain (read synchronously between batches). `flows`:
 * merge with the functions' importFlows (partitioning) instead of replacing with importState.
 * 'exportFlows' (announced by CTL.EXPORT = −id): the functions' exportFlows for the flows whose
 * bucket (lib/flowkey.ts) is listed.
 */
export type Dom0Message = { type: 'import'; id: number; state: Plain[][]; flows?: boolean } | { type: 'exportFlows'; id: number; buckets: number[] } | ContextChange;

/**
 * Live contexts (announced by CTL.CONTEXT = id, applied between two batches, in id order):
 * `add` builds context `index` (a free index or the next) with a vNIC per entry of `vnics` on
 * the rings domain 0 allocated; `remove` processes what is on the context's rx rings, exports
 * its functions' state and frees its index and its vNICs' (domain 0 drains their tx rings).
 */
export type ContextChange =
  | { type: 'context'; id: number; op: 'add'; index: number; spec: ContextSpec; vnics: { index: number; port: string; rx: SharedArrayBuffer; tx: SharedArrayBuffer }[] }
  | { type: 'context'; id: number; op: 'remove'; index: number };

/**
 * Worker-side pool: allocation from the slots domain 0 posted, release onto the return ring.
 * @example
 * const pool = new GrantedPool(spec, new Ring({ buffer: rings.free }), new Ring({ buffer: rings.ret }));
 * const slot = pool.alloc();
 */
export class GrantedPool extends PacketPool {
  private readonly stash: Batch = new Batch(512);
  private readonly back: Batch = new Batch(MAX_BATCH);
  constructor(spec: PoolSpec, private readonly freeRing: Ring, private readonly retRing: Ring) {
    super({ slots: spec.slots, slotSize: spec.slotSize, headroom: spec.headroom, buffer: spec.buffer });
  }
  override alloc(): number {
    if (this.stash.count === 0 && this.freeRing.pop(this.stash) === 0) {
      // Slots this domain released and has not returned yet are still its own (domain 0 set
      // their holder when it posted or flipped them): reuse them rather than fail. A cascade in
      // one pass — a 200-router line resolving ARP hop by hop, each hop a request, a reply and
      // its held frames — allocates more than the 256 posted while domain 0 is busy elsewhere
      // and refills nothing; a failed ARP request then cost its 1 s retransmission.
      if (this.back.count === 0) return -1;
      return this.back.slots[--this.back.count] as number;
    }
    return this.stash.slots[--this.stash.count] as number;
  }
  override release(slot: number): void {
    if (this.back.full) this.flush();
    this.back.push(slot, 0, 0);
  }
  override get available(): number {
    return this.stash.count + this.freeRing.size + this.back.count;
  }
  flush(): void {
    let done = 0;
    while (done < this.back.count) {
      const n = this.retRing.push(this.back, done);
      // The return ring holds every slot of the pool: it is full only while domain 0 catches up.
      if (n === 0) this.retRing.waitForSpace(1, 1);
      done += n;
    }
    this.back.clear();
  }
}

/** The rings of a free vNIC index: always empty, never pushed to. */
const DEAD_RING = new Ring({ capacity: 2 });

type Route = { kind: 'fn'; node: Node; port: number } | { kind: 'vnic'; index: number } | { kind: 'none' };

class Node implements Emit {
  out: Batch[];
  spare: Batch[] = [];
  routes: Route[];
  readonly ctx: { pool: PacketPool; out: Emit; now: number };
  /** The function's name in its context (counter names `name.port`). */
  name = '';
  constructor(
    readonly fn: NetworkFunction,
    readonly rt: Runtime,
    /** Index of its port 0 in the runtime's per-port counters (moves when contexts come and go). */
    public txBase: number,
  ) {
    this.out = fn.ports.map(() => new Batch(MAX_BATCH));
    this.routes = fn.ports.map((): Route => ({ kind: 'none' }));
    this.ctx = { pool: rt.pool, out: this, now: 0 };
  }
  send(port: number, slot: number, off: number, len: number): void {
    const b = this.out[port];
    if (!b) {
      this.rt.pool.release(slot);
      return;
    }
    if (b.full) this.flushPort(port);
    (this.out[port] as Batch).push(slot, off, len);
  }
  drop(slot: number): void {
    this.rt.pool.release(slot);
  }
  /** Takes the port's batch (a spare takes its place, so re-entrant sends land elsewhere) and delivers it. */
  flushPort(port: number): void {
    const b = this.out[port] as Batch;
    if (b.count === 0) return;
    this.out[port] = this.spare.pop() ?? new Batch(MAX_BATCH);
    // Per batch: what a link carries is the sum of what its two ports sent.
    const tx = this.rt.portTx;
    if (tx) tx[this.txBase + port] = (tx[this.txBase + port] as number) + b.count;
    const r = this.routes[port] as Route;
    if (r.kind === 'fn') this.rt.deliver(r.node, r.port, b);
    else if (r.kind === 'vnic') this.rt.transmit(r.index, b);
    else for (let k = 0; k < b.count; k++) this.rt.pool.release(b.slots[k] as number);
    b.clear();
    this.spare.push(b);
  }
  flush(): void {
    for (let p = 0; p < this.out.length; p++) if ((this.out[p] as Batch).count > 0) this.flushPort(p);
  }
}

class Runtime {
  readonly pool: GrantedPool;
  readonly ctl: Int32Array;
  readonly dom0: Int32Array;
  readonly rx: Ring[];
  readonly tx: Ring[];
  readonly nodes: Node[][] = [];
  /** `fn.port` of every function port, in counter order; counters shared with domain 0. */
  portNames: string[] = [];
  /** Context index of each port counter. */
  portContexts: number[] = [];
  portTx: Float64Array | undefined;
  /** Frames taken from the rx rings per context (Float64 by context index, shared with domain 0). */
  ctxFrames = new Float64Array(new SharedArrayBuffer(8));
  /** Per vNIC: the port it feeds (undefined: a free index) and its context (−1: free). */
  readonly vnicTarget: ({ node: Node; port: number } | undefined)[] = [];
  readonly vnicCtx: number[] = [];
  private readonly inBatch = new Batch(MAX_BATCH);
  private pushed = false;
  now = 0;

  constructor(readonly init: DomainWorkerInit) {
    this.ctl = new Int32Array(init.rings.control);
    this.dom0 = new Int32Array(init.rings.dom0);
    this.rx = init.rings.rx.map((b) => new Ring({ buffer: b }));
    this.tx = init.rings.tx.map((b) => new Ring({ buffer: b }));
    this.pool = new GrantedPool(init.pool, new Ring({ buffer: init.rings.free }), new Ring({ buffer: init.rings.ret }));
    for (const c of init.contexts) {
      const built = this.buildContext(c);
      this.nodes.push(built.nodes);
      this.resolvers.push(built.resolve);
    }
    init.vnics.forEach((v, i) => {
      if (v.context < 0) {
        this.rx[i] = DEAD_RING;
        this.tx[i] = DEAD_RING;
        this.vnicTarget.push(undefined);
        this.vnicCtx.push(-1);
        return;
      }
      const r = this.resolvers[v.context];
      if (!r) throw new Error(`domain ${init.id}: vNIC ${i} names context ${v.context}`);
      const t = r(v.port);
      t.node.routes[t.port] = { kind: 'vnic', index: i };
      this.vnicTarget.push(t);
      this.vnicCtx.push(v.context);
    });
    this.relayout();
  }
  private readonly resolvers: ((ref: string) => { node: Node; port: number })[] = [];

  /** Builds a context's functions and inner wires (throws on a bad specification; nothing is kept then). */
  private buildContext(c: ContextSpec): { nodes: Node[]; resolve: (ref: string) => { node: Node; port: number } } {
    const byName = new Map<string, Node>();
    const nodes: Node[] = [];
    for (const f of c.functions) {
      const fn = f.kind === faultFactory.kind ? faultFactory.create(f.config) : createFunction(f.kind, f.config);
      if (f.state !== undefined) fn.importState(f.state);
      const n = new Node(fn, this, -1);
      n.name = f.name;
      nodes.push(n);
      byName.set(f.name, n);
    }
    const id = this.init.id;
    const resolve = (ref: string): { node: Node; port: number } => {
      const dot = ref.lastIndexOf('.');
      const node = byName.get(ref.slice(0, dot));
      const port = node ? node.fn.ports.findIndex((p) => p.name === ref.slice(dot + 1)) : -1;
      if (!node || port < 0) throw new Error(`domain ${id}: no port ${ref} in network ${c.network}`);
      return { node, port };
    };
    for (const [a, b] of c.wires) {
      const x = resolve(a);
      const y = resolve(b);
      x.node.routes[x.port] = { kind: 'fn', node: y.node, port: y.port };
      y.node.routes[y.port] = { kind: 'fn', node: x.node, port: x.port };
    }
    return { nodes, resolve };
  }

  /**
   * Lays the per-port and per-context counters out again (at start and after a context change),
   * carrying the counts of the ports that stay; new buffers, posted to domain 0.
   */
  private relayout(): void {
    const old = this.portTx;
    let total = 0;
    for (const ns of this.nodes) for (const n of ns) total += n.fn.ports.length;
    const tx = new Float64Array(new SharedArrayBuffer(8 * Math.max(1, total)));
    const names: string[] = [];
    const ctxs: number[] = [];
    let k = 0;
    this.nodes.forEach((ns, c) =>
      ns.forEach((n) => {
        n.fn.ports.forEach((p, j) => {
          if (old && n.txBase >= 0) tx[k + j] = old[n.txBase + j] ?? 0;
          names.push(`${n.name}.${p.name}`);
          ctxs.push(c);
        });
        n.txBase = k;
        k += n.fn.ports.length;
      }),
    );
    this.portTx = tx;
    this.portNames = names;
    this.portContexts = ctxs;
    const frames = new Float64Array(new SharedArrayBuffer(8 * Math.max(1, this.nodes.length)));
    frames.set(this.ctxFrames.subarray(0, Math.min(frames.length, this.ctxFrames.length)));
    this.ctxFrames = frames;
  }

  private reconfigured = 0;

  /** Applies the context changes domain 0 announced (CTL.CONTEXT), in order, answering each. */
  private applyContexts(): void {
    const want = Atomics.load(this.ctl, CTL.CONTEXT);
    const last = this.take('context', want);
    const all = this.inbox.filter((x): x is ContextChange => x.type === 'context' && x.id < want).sort((x, y) => x.id - y.id);
    for (const x of all) this.inbox.splice(this.inbox.indexOf(x), 1);
    if (last?.type === 'context') all.push(last);
    this.reconfigured = want;
    for (const m of all) {
      let error: string | undefined;
      let state: Plain[] | undefined;
      try {
        if (m.op === 'add') this.addContext(m);
        else state = this.removeContext(m.index);
      } catch (e) {
        error = (e as Error).message;
      }
      // A change of the function set: the timers' round starts again from the current one.
      this.cursor = 0;
      this.relayout();
      const reply: DomainMessage = { type: 'context', id: m.id, ports: (this.portTx as Float64Array).buffer as SharedArrayBuffer, portNames: this.portNames, portContexts: this.portContexts, frames: this.ctxFrames.buffer as SharedArrayBuffer };
      if (error !== undefined) reply.error = error;
      if (state !== undefined) reply.state = state;
      this.port?.postMessage(reply);
    }
  }

  private addContext(m: Extract<ContextChange, { op: 'add' }>): void {
    if (m.index < 0 || (this.nodes[m.index]?.length ?? 0) > 0) throw new Error(`domain ${this.init.id}: context ${m.index} is in use`);
    for (const v of m.vnics) if (v.index < 0 || this.vnicTarget[v.index] !== undefined) throw new Error(`domain ${this.init.id}: vNIC ${v.index} is in use`);
    // Everything that can throw first (a bad configuration, an unknown port): nothing kept then.
    const built = this.buildContext(m.spec);
    const targets = m.vnics.map((v) => built.resolve(v.port));
    // Indices below it may still be free (an earlier add was refused): empty contexts.
    while (this.nodes.length < m.index) {
      this.nodes.push([]);
      this.resolvers.push((ref) => {
        throw new Error(`domain ${this.init.id}: no port ${ref}: a free context`);
      });
    }
    this.nodes[m.index] = built.nodes;
    this.resolvers[m.index] = built.resolve;
    m.vnics.forEach((v, k) => {
      const t = targets[k] as { node: Node; port: number };
      t.node.routes[t.port] = { kind: 'vnic', index: v.index };
      while (this.rx.length < v.index) {
        this.rx.push(DEAD_RING);
        this.tx.push(DEAD_RING);
        this.vnicTarget.push(undefined);
        this.vnicCtx.push(-1);
      }
      this.rx[v.index] = new Ring({ buffer: v.rx });
      this.tx[v.index] = new Ring({ buffer: v.tx });
      this.vnicTarget[v.index] = t;
      this.vnicCtx[v.index] = m.index;
    });
    this.ctxFrames[m.index] = 0;
  }

  /** Processes what waits on the context's rx rings, exports its state, frees its index and vNICs. */
  private removeContext(index: number): Plain[] {
    const nodes = this.nodes[index];
    if (!nodes) throw new Error(`domain ${this.init.id}: no context ${index}`);
    const inb = this.inBatch;
    const mine = this.vnicCtx.flatMap((c, i) => (c === index ? [i] : []));
    for (const i of mine) {
      const ring = this.rx[i] as Ring;
      for (;;) {
        inb.clear();
        const n = ring.pop(inb);
        if (n === 0) break;
        const t = this.vnicTarget[i] as { node: Node; port: number };
        this.deliver(t.node, t.port, inb);
      }
    }
    for (const i of mine) {
      this.rx[i] = DEAD_RING;
      this.tx[i] = DEAD_RING;
      this.vnicTarget[i] = undefined;
      this.vnicCtx[i] = -1;
    }
    const state = nodes.map((n) => n.fn.exportState());
    this.nodes[index] = [];
    this.resolvers[index] = (ref) => {
      throw new Error(`domain ${this.init.id}: no port ${ref}: context ${index} was removed`);
    };
    this.ctxFrames[index] = 0;
    return state;
  }


  deliver(node: Node, port: number, b: Batch): void {
    node.ctx.now = this.now;
    node.fn.process(port, b, node.ctx);
    node.flush();
  }

  transmit(index: number, b: Batch): void {
    if ((this.vnicCtx[index] ?? -1) < 0) {
      for (let k = 0; k < b.count; k++) this.pool.release(b.slots[k] as number);
      return;
    }
    const ring = this.tx[index] as Ring;
    let done = ring.push(b);
    if (done < b.count) {
      // Backpressure: wake domain 0 and give it a moment to drain, then drop the rest (netfront's tx full).
      ringBell(this.dom0, DOM0.SLEEPING, DOM0.BELL);
      for (let tries = 0; tries < 20 && done < b.count; tries++) {
        ring.waitForSpace(1, 1);
        done += ring.push(b, done);
      }
      for (let k = done; k < b.count; k++) this.pool.release(b.slots[k] as number);
      if (done < b.count) Atomics.add(this.ctl, CTL.TX_FULL, b.count - done);
    }
    this.pushed = true;
  }

  private cursor = 0;
  private roundCost = 0;
  private all: Node[] = [];

  /** Runs the timers of the next functions for about 0.5 ms; true when a round is complete. */
  tickSlice(): boolean {
    if (this.cursor === 0) {
      this.all = this.nodes.flat().filter((n) => n.fn.tick !== undefined);
      this.roundCost = 0;
    }
    const t0 = performance.now();
    let t = t0;
    while (this.cursor < this.all.length && t - t0 < 0.5) {
      const n = this.all[this.cursor++] as Node;
      n.ctx.now = this.now;
      n.fn.tick?.(n.ctx);
      n.flush();
      t = performance.now();
    }
    this.roundCost += t - t0;
    if (this.cursor < this.all.length) return false;
    this.cursor = 0;
    return true;
  }

  run(): void {
    const ctl = this.ctl;
    const { spin, heartbeatMs, tickMs } = this.init;
    const inb = this.inBatch;
    let idle = 0;
    let nextTick = 0;
    let beat = 0;
    // `spin` counts empty passes over at most 4 rings: a pass over a domain of 200 vNICs (a
    // 200-router line in one cell) polls 200 rings, and 200 such passes kept the thread busy
    // polling between every two arrivals (a core taken from domain 0 on a loaded machine).
    const passes = Math.max(1, Math.min(spin, Math.ceil((spin * 4) / Math.max(1, this.rx.length))));
    for (;;) {
      ctl[CTL.HEARTBEAT] = ++beat;
      if (Atomics.load(ctl, CTL.STOP) !== 0) return;
      if (Atomics.load(ctl, CTL.CONTEXT) !== this.reconfigured) this.applyContexts();
      this.now = performance.now();
      let work = 0;
      for (let i = 0; i < this.rx.length; i++) {
        inb.clear();
        const n = (this.rx[i] as Ring).pop(inb);
        if (n === 0) continue;
        // A pending import (migration's final state) is applied before any frame pushed after it.
        if (Atomics.load(ctl, CTL.IMPORT) !== this.imported) this.applyImport();
        work += n;
        const t = this.vnicTarget[i];
        const c = this.vnicCtx[i] as number;
        if (c >= 0) this.ctxFrames[c] = (this.ctxFrames[c] as number) + n;
        if (t) this.deliver(t.node, t.port, inb);
        else for (let k = 0; k < n; k++) this.pool.release(inb.slots[k] as number);
      }
      if (this.now >= nextTick && this.tickSlice()) {
        // A round of timers at most every tickMs and at most 5 % of the domain's time: a domain
        // of a hundred routers spends ~20 ms per round, in slices of 0.5 ms between batches.
        nextTick = performance.now() + Math.max(tickMs, 20 * this.roundCost);
      }
      if (Atomics.load(ctl, CTL.IMPORT) !== this.imported) this.applyImport();
      this.pool.flush();
      if (this.pushed) {
        this.pushed = false;
        ringBell(this.dom0, DOM0.SLEEPING, DOM0.BELL);
      }
      if (Atomics.load(ctl, CTL.EXPORT) !== this.exported) this.maybeExport();
      if (work > 0) {
        Atomics.add(ctl, CTL.FRAMES, work);
        idle = 0;
        continue;
      }
      if (++idle < passes) continue;
      idle = 0;
      // Sleep protocol: raise the flag, re-check every ring, then wait on the doorbell.
      const seen = Atomics.load(ctl, CTL.WORKER_BELL);
      Atomics.store(ctl, CTL.WORKER_SLEEPING, 1);
      let any = false;
      for (const r of this.rx) if (r.size > 0) any = true;
      // At least 1 ms unless the timers tick faster (sub-ms pacing of a traffic source, as domain 0's).
      if (!any) Atomics.wait(ctl, CTL.WORKER_BELL, seen, Math.min(heartbeatMs, Math.max(tickMs < 1 ? 0 : 1, nextTick - performance.now())));
      Atomics.store(ctl, CTL.WORKER_SLEEPING, 0);
    }
  }

  /** Migration hooks; `port` is where domain 0's messages arrive (parentPort). */
  port: MessagePort | undefined;
  private imported = 0;
  private exported = 0;

  /** Posts the functions' state once every rx ring is empty (frames pushed before the request are processed first). */
  private maybeExport(): void {
    if (Atomics.load(this.ctl, CTL.EXPORT) < 0) return this.exportFlows();
    for (const r of this.rx) if (r.size > 0) return;
    this.exported = Atomics.load(this.ctl, CTL.EXPORT);
    this.port?.postMessage({ type: 'state', id: this.exported, state: this.exportAll() } satisfies DomainMessage);
  }

  /**
   * Partitioning: the flows of the listed buckets, taken out of the functions' tables, after the
   * frames on the rx rings when the request was seen (domain 0 pushed the moving buckets' last
   * frames before it asked) are processed — without waiting for idle rings, since the buckets
   * that stay keep flowing.
   */
  private exportFlows(): void {
    this.exported = Atomics.load(this.ctl, CTL.EXPORT);
    const inb = this.inBatch;
    this.rx.forEach((ring, i) => {
      for (let need = ring.size; need > 0; ) {
        inb.clear();
        const n = ring.pop(inb);
        if (n === 0) break;
        if (Atomics.load(this.ctl, CTL.IMPORT) !== this.imported) this.applyImport();
        need -= n;
        const t = this.vnicTarget[i];
        if (t) this.deliver(t.node, t.port, inb);
        else for (let k = 0; k < n; k++) this.pool.release(inb.slots[k] as number);
        Atomics.add(this.ctl, CTL.FRAMES, n);
      }
    });
    {
      const m = this.take('exportFlows', -this.exported);
      const own = new Uint8Array(FLOW_BUCKETS);
      if (m?.type === 'exportFlows') for (const b of m.buckets) if (b >= 0 && b < FLOW_BUCKETS) own[b] = 1;
      const owns = (k: number): boolean => own[flowBucket(k)] === 1;
      const state = this.nodes.map((ns) => ns.map((n) => n.fn.exportFlows?.(owns) ?? null));
      this.port?.postMessage({ type: 'state', id: -this.exported, state } satisfies DomainMessage);
    }
  }

  private readonly inbox: Dom0Message[] = [];

  /** The message of `type` and `id` domain 0 posted (waits up to 2 s for it: it was announced by an atomic); others are kept. */
  private take(type: Dom0Message['type'], id: number): Dom0Message | undefined {
    const deadline = performance.now() + 2000;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type && m.id === id);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      const m = this.port ? (receiveMessageOnPort(this.port) as { message: Dom0Message } | undefined) : undefined;
      if (m) this.inbox.push(m.message);
      else if (!this.port || performance.now() > deadline) return undefined;
    }
  }

  /** Waits (briefly) for the import message domain 0 announced, and applies it. */
  private applyImport(): void {
    const want = Atomics.load(this.ctl, CTL.IMPORT);
    const port = this.port;
    const last = this.take('import', want);
    // Imports posted before `want` (their messages came first) are applied too, in order.
    const all = this.inbox.filter((x) => x.type === 'import' && x.id < want).sort((x, y) => x.id - y.id);
    for (const x of all) this.inbox.splice(this.inbox.indexOf(x), 1);
    if (last) all.push(last);
    for (const m of all) {
      if (!port || m.type !== 'import') continue;
      let error: string | undefined;
      try {
        m.state.forEach((ctx, c) =>
          ctx.forEach((st, f) => {
            const fn = this.nodes[c]?.[f]?.fn;
            if (!fn) return;
            if (!m.flows) fn.importState(st);
            else if (st !== null) {
              if (!fn.importFlows) throw new Error(`function ${fn.kind} cannot import flows`);
              fn.importFlows(st);
            }
          }),
        );
      } catch (e) {
        error = (e as Error).message;
      }
      port.postMessage((error === undefined ? { type: 'imported', id: m.id } : { type: 'imported', id: m.id, error }) satisfies DomainMessage);
    }
    this.imported = want;
  }

  exportAll(): Plain[][] {
    return this.nodes.map((ns) => ns.map((n) => n.fn.exportState()));
  }

  countersAll(): Plain[][] {
    return this.nodes.map((ns) => ns.map((n) => JSON.parse(JSON.stringify(n.fn.counters())) as Plain));
  }
}

function runDomain(init: DomainWorkerInit, port: MessagePort): void {
  const rt = new Runtime(init);
  rt.port = port;
  port.postMessage({ type: 'ready', ports: (rt.portTx as Float64Array).buffer as SharedArrayBuffer, portNames: rt.portNames, portContexts: rt.portContexts, frames: rt.ctxFrames.buffer as SharedArrayBuffer, tid: threadId() } satisfies DomainMessage);
  rt.run();
  port.postMessage({ type: 'stopped', state: rt.exportAll() } satisfies DomainMessage);
  // Counters of a stopped domain, then the thread ends by itself (nothing keeps it alive).
  port.postMessage({ type: 'counters', counters: rt.countersAll() } satisfies DomainMessage);
}

const wd = isMainThread ? null : (workerData as { rings?: unknown; pooled?: unknown } | null);
if (parentPort && wd?.rings !== undefined) runDomain(wd as DomainWorkerInit, parentPort);
else if (parentPort && wd?.pooled === true) {
  // A pooled worker (domain-pool.ts): its configuration comes by message. The domain runs inside
  // this handler and does not return to the event loop while it runs: later messages stay queued on
  // the port for the runtime's receiveMessageOnPort. Once stopped, the thread waits for the next
  // domain (DomainPool.park): a destroyed domain's worker is reused, never joined on domain 0's
  // thread. What the old runtime left unread on the port is not an `init` and is ignored.
  const port = parentPort;
  const onInit = (m: { type?: unknown; init?: DomainWorkerInit }): void => {
    if (m.type !== 'init' || !m.init) return;
    port.off('message', onInit);
    runDomain(m.init, port);
    port.on('message', onInit);
  };
  port.on('message', onInit);
}
