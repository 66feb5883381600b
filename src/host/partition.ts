/**
 * Horizontal elasticity: one network function partitioned across several instances (user
 * domains of one server), traffic spread by flow so that each flow — both directions — stays on
 * one instance with its state (conntrack entries, NAT bindings), and re-partitioning (N → M)
 * moves the affected flows' state with them, losing and duplicating no frame.
 *
 * Data path (domain 0, a batch at a time): each port p of the function has one FRONT attachment
 * (wire it to what the function's port p would be wired to). Frames arriving there are spread:
 * the frame's flow key (functions/lib/flowkey.ts: a symmetric 5-tuple hash) gives its bucket
 * (one of FLOW_BUCKETS = 257), a table gives the bucket's instance, and the frames of each
 * instance leave as one batch through that instance's BACK attachment for port p, wired to its
 * virtual NIC p. What an instance sends by port p goes out through the front of port p. The
 * buckets → instances table is a Maglev table (functions/lib/maglev.ts) over stable instance
 * names (`<name>#0`, `#1`, …): every instance owns ⌊257/N⌋ or ⌈257/N⌉ buckets, and adding or
 * removing one instance moves about 1/N of the buckets, almost all to or from that instance.
 *
 * Re-partition (`resize(m)`), make-before-break, as migration.ts moves a whole domain:
 * 1. new instances start (idle: nothing is spread to them yet);
 * 2. hold: frames of the moving buckets are kept in domain 0, in arrival order; the others keep
 *    flowing to their instances;
 * 3. drain: frames of moving buckets already queued at the token scheduler reach their old
 *    instance (the network's FIFO is served up to what was submitted at the hold);
 * 4. per (old, new) pair, the old instance exports the moving buckets' flows after processing
 *    what it was handed before the request (functions' `exportFlows`, which also frees their
 *    resources, e.g. NAT ports), its output is forwarded, and the new one merges them
 *    (`importFlows`) before any further frame;
 * 5. switch: the new table applies and the held frames are spread by it, in order;
 * 6. instances no longer in the table are destroyed.
 * A flow of a moving bucket therefore sees its last frames processed by the old instance and its
 * next ones by the new instance with the old one's state; frames of the other buckets are never
 * held. Functions without `exportFlows` move their buckets without state.
 *
 * Instances may run on other servers of the process (`servers`, each joined to this one by a
 * ServerLink: the back of a remote instance is wired to a link channel whose far end is the
 * instance's vNIC); the spreader stays on this server. Limits: servers in other processes need
 * the control plane (VXLAN per instance and the flows' state through the store); the NAT must be
 * configured `partitioned: true` (it then picks ports that keep a flow's bucket), and its port
 * forwards are not partition-safe; fragments and protocols without ports are spread by addresses
 * only.
 *
 * @example
 * const p = await Partition.create({ host, network: 'net', fn: { name: 'fw', kind: 'firewall', config }, replicas: 2 });
 * host.bridge.wire(lanUpstream, p.fronts[0]);
 * host.bridge.wire(p.fronts[1], wanUpstream);
 * const rec = await p.resize(3); // rec.moved ≈ 257 / 3 buckets, rec.held frames held meanwhile
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import type { Plain } from '../functions/contract.js';
import { createFunction } from '../functions/registry.js';
import { FLOW_BUCKETS, flowBucket, flowKeyOfFrame } from '../functions/lib/flowkey.js';
import { Maglev } from '../functions/lib/maglev.js';
import type { HostDomain, HostServer } from './hostserver.js';
import type { ServerLink } from './migration-link.js';

export class PartitionError extends Error {
  override readonly name = 'PartitionError';
}

/**
 * Where an instance runs when it is not on the partition's server nor on a ServerLink's: a server
 * reached over the network (spread.ts: VXLAN between agents, in-band markers, state through the
 * store).
 */
export interface InstanceSite {
  /** The place (e.g. the server's name): an instance whose site id changes is replaced, its buckets moving to the new one. */
  readonly id: string;
  /** Starts instance `name` there; what it sends by its port p is handed to `toFront(p, batch)` (slots of the partition's pool). */
  start(name: string, ports: readonly string[], toFront: (port: number, b: Batch) => void): Promise<RemoteInstance>;
}

/** An instance on another server (see InstanceSite). */
export interface RemoteInstance {
  /** Per port, an attachment on the partition's server: a batch forwarded from it reaches the instance's port p. */
  readonly backs: readonly number[];
  /**
   * The flows of `buckets` (as `Domain.exportFlows`), once the instance processed every frame
   * forwarded to it before the call and what it sent meanwhile was handed to `toFront`.
   */
  exportFlows(buckets: readonly number[]): Promise<Plain[][]>;
  /** Merges flows (as `Domain.importFlows`): applied before any frame forwarded after it resolves. */
  importFlows(flows: Plain[][]): Promise<void>;
  close(): Promise<void>;
}

export interface PartitionInit {
  host: HostServer;
  network: string;
  /** The partitioned function (every instance runs this configuration). */
  fn: { name: string; kind: string; config: Plain };
  /** Instances to start with (1 … 64). */
  replicas: number;
  /**
   * Other servers for instances, each with the link that joins it to `host`: instance k runs on
   * server k mod (1 + servers.length), 0 being `host` (the spreader and the fronts stay there).
   */
  servers?: readonly { host: HostServer; link: ServerLink }[];
  /**
   * Sites of instances on servers of other processes, by instance index (undefined: on `host`,
   * or `servers` as above). `resize` takes the sites of the new configuration.
   */
  sites?: readonly (InstanceSite | undefined)[];
}

/** What one re-partition did. */
export interface ResizeRecord {
  from: number;
  to: number;
  /** Buckets that changed instance. */
  moved: number;
  /** Flow entries handed over (rows of the functions' exportFlows, summed). */
  flows: number;
  /** Frames held in domain 0 while their buckets moved. */
  held: number;
  /** From the hold to the release of the held frames (ms). */
  holdMs: number;
  totalMs: number;
  /**
   * Moves whose flows could not be handed over (a remote instance that did not answer: its
   * server is gone): their buckets moved without state. Absent when every move carried its flows.
   */
  stateLost?: string[];
}

export interface PartitionCounters {
  /** Frames spread to each instance (by instance name). */
  spread: Record<string, number>;
  /** Buckets owned by each instance. */
  buckets: Record<string, number>;
  held: number;
  resizes: number;
}

interface Instance {
  name: string;
  /** Where it runs: the site's id, or the name of a server of this process. */
  site: string;
  /** The server the instance runs on (the partition's own for a remote instance). */
  host: HostServer;
  /** Its domain, when on a server of this process. */
  hd: HostDomain | undefined;
  remote: RemoteInstance | undefined;
  /** On another server: the channel ends there (detached with the instance). */
  far: number[];
  /** Back attachment per port, wired to the instance's vNIC. */
  backs: number[];
  sub: Batch;
  spread: number;
}

const MAX_REPLICAS = 64;

/** Flow entries in exported flows: the `connections` rows of conntrack-based functions. */
function countRows(st: Plain[][]): number {
  let n = 0;
  for (const ctx of st)
    for (const f of ctx) {
      if (f === null || typeof f !== 'object' || Array.isArray(f)) continue;
      const rows = (f as { readonly [k: string]: Plain })['connections'];
      if (Array.isArray(rows)) n += rows.length;
    }
  return n;
}

export class Partition {
  /** Front attachment per port of the function (wire them where the function's ports would go). */
  readonly fronts: number[] = [];
  readonly ports: readonly string[];
  private instances: Instance[] = [];
  /** Bucket → index in `instances`. */
  private table: Int32Array = new Int32Array(FLOW_BUCKETS);
  private readonly held = new Uint8Array(FLOW_BUCKETS);
  private holding = false;
  private readonly holdQ: { port: number; batch: Batch }[] = [];
  private readonly maglev = new Maglev(FLOW_BUCKETS);
  private heldTotal = 0;
  private resizes = 0;
  private busy = false;
  private sites: readonly (InstanceSite | undefined)[];

  private constructor(
    readonly init: PartitionInit,
    ports: readonly string[],
  ) {
    this.ports = ports;
    this.sites = init.sites ?? [];
  }

  /**
   * Starts `replicas` instances and the spreader; rejects with PartitionError on a bad request
   * (and whatever the domains reject, e.g. a ConfigError of the function).
   *
   * @example
   * const p = await Partition.create({ host, network: 'net', fn: { name: 'nat', kind: 'nat', config: { snat: { addresses: ['203.0.113.1'] }, partitioned: true } }, replicas: 2 });
   */
  static async create(init: PartitionInit): Promise<Partition> {
    if (!Number.isInteger(init.replicas) || init.replicas < 1 || init.replicas > MAX_REPLICAS) throw new PartitionError(`replicas must be an integer in 1…${MAX_REPLICAS}, got ${init.replicas}`);
    const probe = createFunction(init.fn.kind, init.fn.config);
    if (init.fn.kind === 'nat' && (init.fn.config as { partitioned?: unknown } | null)?.partitioned !== true) throw new PartitionError(`a partitioned NAT needs partitioned: true in its configuration (its ports must keep each flow's bucket)`);
    const p = new Partition(init, probe.ports.map((x) => x.name));
    p.ports.forEach((port, i) => {
      p.fronts.push(init.host.attachExternal(init.network, `${init.network}:${init.fn.name}.${port}`, (b) => p.spreadBatch(i, b)));
    });
    try {
      for (let k = 0; k < init.replicas; k++) p.instances.push(await p.startInstance(k, p.sites[k]));
    } catch (e) {
      await p.close();
      throw e;
    }
    p.table = p.buildTable(init.replicas);
    return p;
  }

  /** Instances running. */
  get replicas(): number {
    return this.instances.length;
  }

  /** The instance (index) that owns `bucket`. */
  ownerOf(bucket: number): number {
    return this.table[bucket] as number;
  }

  /** The user domains of the instances on servers of this process, in order. */
  domains(): HostDomain[] {
    return this.instances.flatMap((i) => (i.hd ? [i.hd] : []));
  }

  /** Where each instance runs, in order: its name and site (a site's id, else a server's name). */
  placement(): { name: string; site: string }[] {
    return this.instances.map((i) => ({ name: i.name, site: i.site }));
  }

  counters(): PartitionCounters {
    const spread: Record<string, number> = {};
    const buckets: Record<string, number> = {};
    for (const i of this.instances) {
      spread[i.name] = i.spread;
      buckets[i.name] = 0;
    }
    for (let b = 0; b < FLOW_BUCKETS; b++) {
      const i = this.instances[this.table[b] as number];
      if (i) buckets[i.name] = (buckets[i.name] as number) + 1;
    }
    return { spread, buckets, held: this.heldTotal, resizes: this.resizes };
  }

  private async startInstance(k: number, site: InstanceSite | undefined): Promise<Instance> {
    const { host, network, fn } = this.init;
    const name = `${fn.name}#${k}`;
    if (site) {
      const remote = await site.start(name, this.ports, (p, b) => host.forward(this.fronts[p] as number, b));
      return { name, site: site.id, host, hd: undefined, remote, far: [], backs: [...remote.backs], sub: new Batch(MAX_BATCH), spread: 0 };
    }
    const others = this.init.servers ?? [];
    const place = k % (1 + others.length);
    const remote = place === 0 ? undefined : (others[place - 1] as { host: HostServer; link: ServerLink });
    const on = remote?.host ?? host;
    if (remote && !((remote.link.a === host && remote.link.b === on) || (remote.link.a === on && remote.link.b === host))) throw new PartitionError(`the link of server ${on.name} does not join it to ${host.name}`);
    const hd = await on.addDomain({
      name: `${network}/${name}`,
      contexts: [{ network, functions: [{ name: fn.name, kind: fn.kind, config: fn.config }], wires: [] }],
      vnics: this.ports.map((port) => ({ context: 0, port: `${fn.name}.${port}` })),
    });
    const far: number[] = [];
    const backs = this.ports.map((port, p) => {
      // What the instance sends by port p leaves by the front of port p.
      const back = host.attachExternal(network, `${network}:${name}.${port}`, (b) => {
        host.forward(this.fronts[p] as number, b);
        return true;
      });
      if (!remote) host.bridge.wire(back, hd.attachments[p] as number);
      else {
        // Across servers the back is wired to a channel of the link, whose far end is the instance's vNIC.
        const ch = remote.link.channel(network, `${name}.${port}`);
        const [near, end] = remote.link.a === host ? [ch.a, ch.b] : [ch.b, ch.a];
        host.bridge.wire(back, near);
        on.bridge.wire(end, hd.attachments[p] as number);
        far.push(near, end);
      }
      return back;
    });
    return { name, site: on.name, host: on, hd, remote: undefined, far, backs, sub: new Batch(MAX_BATCH), spread: 0 };
  }

  private buildTable(n: number): Int32Array {
    const names = Array.from({ length: n }, (_, k) => `${this.init.fn.name}#${k}`);
    this.maglev.build(names, names.map(() => true));
    return Int32Array.from(this.maglev.table);
  }

  /** The front of `port` received a batch: one sub-batch per instance, held buckets kept aside. */
  private spreadBatch(port: number, b: Batch): boolean {
    const bytes = this.init.host.pool.bytes;
    const inst = this.instances;
    const table = this.table;
    let hold: Batch | undefined;
    for (let k = 0; k < b.count; k++) {
      const off = b.offs[k] as number;
      const len = b.lens[k] as number;
      const bucket = flowBucket(flowKeyOfFrame(bytes, off, len));
      if (this.holding && this.held[bucket] === 1) {
        if (!hold) {
          hold = new Batch(MAX_BATCH);
          this.holdQ.push({ port, batch: hold });
        }
        hold.push(b.slots[k] as number, off, len);
        this.heldTotal++;
        continue;
      }
      const i = inst[table[bucket] as number];
      if (i) i.sub.push(b.slots[k] as number, off, len);
      else this.init.host.pool.release(b.slots[k] as number); // closed: no instance left
    }
    for (const i of inst) {
      if (i.sub.count === 0) continue;
      i.spread += i.sub.count;
      this.init.host.forward(i.backs[port] as number, i.sub);
      i.sub.clear();
    }
    b.clear();
    return true;
  }

  /**
   * Re-partitions to `replicas` instances (see the module comment); resolves once the held
   * frames were released and removed instances destroyed. One resize at a time. With `sites`
   * (the new configuration's, by index), an instance whose site changed is replaced by a new
   * one there: all its buckets move, with their flows.
   *
   * @example
   * await p.resize(p.replicas + 1);
   */
  async resize(replicas: number, sites?: readonly (InstanceSite | undefined)[]): Promise<ResizeRecord> {
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) throw new PartitionError(`replicas must be an integer in 1…${MAX_REPLICAS}, got ${replicas}`);
    if (this.busy) throw new PartitionError('a resize is already running');
    this.busy = true;
    try {
      return await this.doResize(replicas, sites ?? this.sites);
    } finally {
      this.busy = false;
    }
  }

  private async doResize(m: number, sites: readonly (InstanceSite | undefined)[]): Promise<ResizeRecord> {
    const t0 = performance.now();
    const old = this.instances;
    const n = old.length;
    // 1. new instances (and replacements of instances whose site changed), idle.
    const nextInst: Instance[] = [];
    const started: Instance[] = [];
    try {
      for (let k = 0; k < m; k++) {
        const cur = old[k];
        const site = sites[k];
        if (cur && (site ? site.id === cur.site : cur.remote === undefined)) nextInst.push(cur);
        else {
          const i = await this.startInstance(k, site);
          started.push(i);
          nextInst.push(i);
        }
      }
    } catch (e) {
      for (const i of started) await this.destroy(i);
      throw e;
    }
    const next = this.buildTable(m);
    const moves = new Map<string, { from: Instance; to: Instance; buckets: number[] }>();
    let moved = 0;
    for (let b = 0; b < FLOW_BUCKETS; b++) {
      const from = old[this.table[b] as number] as Instance;
      const to = nextInst[next[b] as number] as Instance;
      if (from === to) continue;
      moved++;
      this.held[b] = 1;
      const key = `${old.indexOf(from)}>${started.indexOf(to)}:${nextInst.indexOf(to)}`;
      let l = moves.get(key);
      if (!l) moves.set(key, (l = { from, to, buckets: [] }));
      l.buckets.push(b);
    }
    // 2. hold.
    const heldBefore = this.heldTotal;
    const tHold = performance.now();
    this.holding = true;
    let flows = 0;
    let stateLost: string[] | undefined;
    try {
      // 3. frames of the network queued at the token scheduler before the hold reach their
      // instances (a remote instance's export is itself a barrier: spread.ts).
      const net = this.init.network;
      for (const h of new Set(old.filter((i) => i.hd).map((i) => i.host))) {
        const st = h.stats()?.networks.find((x) => x.net === net);
        if (!st) continue;
        const end = performance.now() + 3000;
        const target = st.submitted;
        for (;;) {
          const now = h.stats()?.networks.find((x) => x.net === net);
          if (!now || now.served + now.dropped >= target || performance.now() > end) break;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      // 4. state, per (old, new) pair; pairs of different instances at once, but an instance
      // serves one request at a time (a domain's export and import control words hold one each).
      const tails = new Map<Instance, Promise<unknown>>();
      const serial = <T>(inst: Instance, f: () => Promise<T>): Promise<T> => {
        const p = (tails.get(inst) ?? Promise.resolve()).then(f);
        tails.set(inst, p.catch(() => undefined));
        return p;
      };
      await Promise.all(
        [...moves.values()].map(async ({ from, to, buckets }) => {
          let st: Plain[][];
          try {
            st = await serial(from, () => this.exportOf(from, buckets));
          } catch (e) {
            // A remote instance that does not answer (its server is gone) has no flows to give:
            // its buckets move without them rather than never. A local domain's failure is the caller's.
            if (!from.remote) throw e;
            (stateLost ??= []).push(`${from.name}@${from.site} → ${to.name}: ${e instanceof Error ? e.message : String(e)}`);
            return;
          }
          flows += countRows(st);
          await serial(to, () => (to.remote ? to.remote.importFlows(st) : (to.hd as HostDomain).domain.importFlows(st)));
        }),
      );
    } finally {
      // 5. switch and release, in arrival order (also when a step failed: frames are never kept).
      this.instances = nextInst;
      this.table = next;
      this.sites = [...sites];
      this.holding = false;
      this.held.fill(0);
      const q = this.holdQ.splice(0);
      for (const h of q) this.spreadBatch(h.port, h.batch);
    }
    const holdMs = performance.now() - tHold;
    // 6. removed (and replaced) instances go, once what they sent left.
    for (const gone of old) if (!nextInst.includes(gone)) await this.destroy(gone).catch(() => undefined);
    this.resizes++;
    return { from: n, to: m, moved, flows, held: this.heldTotal - heldBefore, holdMs, totalMs: performance.now() - t0, ...(stateLost ? { stateLost } : {}) };
  }

  /** The flows of `buckets` out of instance `i`, its output up to then forwarded. */
  private async exportOf(i: Instance, buckets: readonly number[]): Promise<Plain[][]> {
    if (i.remote) return i.remote.exportFlows(buckets);
    const s = await (i.hd as HostDomain).domain.exportFlows(buckets);
    this.forwardTx(i);
    return s;
  }

  /** An instance leaves: what it sent is forwarded, its attachments detached, its domain destroyed. */
  private async destroy(i: Instance): Promise<void> {
    if (i.hd) this.forwardTx(i);
    this.detach(i);
    if (i.remote) await i.remote.close();
    else if (i.hd) await i.host.removeDomain(i.hd.domain.id);
  }

  /** Forwards what an instance left on its tx rings (domain 0 would on its next pass). */
  private forwardTx(i: Instance): void {
    const host = i.host;
    const hd = i.hd;
    if (!hd) return;
    const b = new Batch(MAX_BATCH);
    hd.domain.service();
    for (let v = 0; v < hd.attachments.length; v++) {
      for (;;) {
        b.clear();
        if (hd.domain.receive(v, b) === 0) break;
        host.forward(hd.attachments[v] as number, b);
      }
    }
  }

  private detach(i: Instance): void {
    // A remote instance's backs are its site's (closed with it).
    if (!i.remote) for (const back of i.backs) this.init.host.bridge.detach(back);
    for (let k = 0; k < i.far.length; k += 2) {
      this.init.host.bridge.detach(i.far[k] as number);
      i.host.bridge.detach(i.far[k + 1] as number);
    }
  }

  /** Destroys every instance and detaches the fronts. */
  async close(): Promise<void> {
    // Fronts first: nothing is spread any more while the instances go.
    for (const f of this.fronts) this.init.host.bridge.detach(f);
    for (const i of this.instances.splice(0)) {
      this.detach(i);
      if (i.remote) await i.remote.close().catch(() => undefined);
      else if (i.hd) await i.host.removeDomain(i.hd.domain.id);
    }
  }
}
