/**
 * Horizontal elasticity across servers of different processes: the instances of a partitioned
 * function (partition.ts) on other agents' servers, reached over VXLAN.
 *
 * The server running the partition's front (its spreader, in domain 0) reaches remote instance k
 * on server S through one VNI per port of the function (`replicaVni(key, fn, k, S, port)`, the
 * same derivation on both ends, so no VNI is negotiated); S's agent runs the instance in a domain
 * of its own, each vNIC wired to its VNI. The instance's output comes back to the front, which
 * sends it on by the function's port: neighbours see one function wherever its instances run.
 *
 * Control travels in band, on the same VNIs as the frames, in Ethernet frames of the local
 * experimental ethertype 0x88B5 (payload `SWPC` + JSON): a control frame sent after data frames
 * arrives after them (one UDP socket pair, in order), so it is a barrier (Chandy–Lamport marker):
 * - `p`/`P`: ping/pong on port 0 — the front waits for the instance to run before using it;
 * - `x` (export, on every port): once it came on every port, every frame the front sent before
 *   it was handed to the instance's domain; the server waits for them in its token queue, the
 *   domain exports the moving buckets' flows (after processing its rx rings), what it sent is
 *   forwarded, the flows go to the state store under a reference, and `X` comes back on every
 *   port — after the instance's last output for those flows, so the front knows it has all of it;
 * - `i`/`I` (import, port 0): the flows behind a reference are merged into the instance before
 *   any frame handed to it after `I` left.
 * Lost control frames are resent (every `retryMs`) and each request is answered once per id (a
 * repeat gets the same answer again). The flows' state itself goes through a `SpreadStateStore`
 * (the control plane's store for agents: src/cli/agent-spread.ts).
 *
 * @example
 * const node = new SpreadNode({ host, uplink, server: 's1', state });
 * const site = node.site('default/web', 'fw', 1, { server: 's2', remote: { address: '10.0.0.2', port: 4789 } });
 * const p = await Partition.create({ host, network: 'default/web', fn, replicas: 2, sites: [undefined, site] });
 * // on s2: await node2.serve('default/web', { name: 'fw', kind: 'firewall', config }, 1, { address: '10.0.0.1', port: 4789 });
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import type { Plain } from '../functions/contract.js';
import type { FunctionSpec } from './domain.js';
import type { HostDomain, HostServer } from './hostserver.js';
import type { InstanceSite, RemoteInstance } from './partition.js';
import type { UplinkRemote, VxlanUplink } from './uplink.js';

export class SpreadError extends Error {
  override readonly name = 'SpreadError';
}

/** Where the flows' state goes between two servers (put by the exporting side, taken once by the front). */
export interface SpreadStateStore {
  put(ref: string, flows: Plain[][]): Promise<void>;
  /** The flows behind `ref`, removed; undefined if there are none (yet). */
  take(ref: string): Promise<Plain[][] | undefined>;
}

/** A remote instance's server and that server's VXLAN endpoint. */
export interface SpreadTarget {
  readonly server: string;
  readonly remote: UplinkRemote;
}

export interface SpreadNodeInit {
  readonly host: HostServer;
  readonly uplink: VxlanUplink;
  /** This server's name (part of the VNIs of the instances it runs). */
  readonly server: string;
  readonly state: SpreadStateStore;
  /** Control frames are resent this often until answered (ms, default 200). */
  readonly retryMs?: number;
  /** A new instance that does not answer its pings this long fails to start (ms, default 10 000). */
  readonly timeoutMs?: number;
  /**
   * An export or import unanswered this long fails (ms, default 3000): the moving buckets' frames
   * are held meanwhile, so a dead instance must not keep them long.
   */
  readonly requestTimeoutMs?: number;
  /** Whether a server is alive (e.g. its agent's heartbeat): a request to a dead one fails at once. */
  readonly alive?: (server: string) => boolean;
}

/** Local experimental ethertype (IEEE 802 local experimental 1). */
export const SPREAD_ETHERTYPE = 0x88b5;
const MAGIC = [0x53, 0x57, 0x50, 0x43]; // 'SWPC'
const HDR = 14 + MAGIC.length;

type Msg =
  | { t: 'p'; id: string }
  | { t: 'P'; id: string }
  | { t: 'x'; id: string; bits: string }
  | { t: 'X'; id: string; ref: string; error?: string }
  | { t: 'i'; id: string; ref: string }
  | { t: 'I'; id: string; error?: string };

/**
 * The VNI of port `port` of instance `k` of function `fn` of network `key` running on `server`:
 * 24 bits of FNV-1a over all of them (never 0). The server is part of it: an instance replaced on
 * another server gets other VNIs, so both run side by side while the buckets move.
 *
 * @example replicaVni('default/web', 'fw', 1, 's2', 0)
 */
export function replicaVni(key: string, fn: string, k: number, server: string, port: number): number {
  const s = `${key}\0${fn}\0${k}\0${server}\0${port}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  const v = (h ^ (h >>> 24)) & 0xffffff;
  return v === 0 ? 1 : v;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function isControl(bytes: Uint8Array, off: number, len: number): boolean {
  return len >= HDR && bytes[off + 12] === 0x88 && bytes[off + 13] === 0xb5 && bytes[off + 14] === MAGIC[0] && bytes[off + 15] === MAGIC[1] && bytes[off + 16] === MAGIC[2] && bytes[off + 17] === MAGIC[3];
}

/** A control frame's message; undefined if its JSON is not one (untrusted bytes never throw). */
function parseControl(bytes: Uint8Array, off: number, len: number): Msg | undefined {
  try {
    const v = JSON.parse(dec.decode(bytes.subarray(off + HDR, off + len))) as unknown;
    if (v === null || typeof v !== 'object' || typeof (v as { t?: unknown }).t !== 'string' || typeof (v as { id?: unknown }).id !== 'string') return undefined;
    const m = v as Msg;
    if (m.t === 'x' && !(typeof m.bits === 'string' && /^[0-9a-f]*$/.test(m.bits))) return undefined;
    if ((m.t === 'X' || m.t === 'i') && typeof m.ref !== 'string') return undefined;
    return m;
  } catch {
    return undefined;
  }
}

function controlFrame(m: Msg): Uint8Array {
  const body = enc.encode(JSON.stringify(m));
  const f = new Uint8Array(HDR + body.length);
  f.set([0x02, 0x73, 0x77, 0, 0, 1, 0x02, 0x73, 0x77, 0, 0, 2, 0x88, 0xb5, ...MAGIC]);
  f.set(body, HDR);
  return f;
}

/**
 * Calls `f` for each run of data frames of `b` (in order, as one batch in `tmp`) and `onMsg` for
 * each control frame between them (its slot released). Returns nothing: every slot is handed on.
 */
function split(host: HostServer, b: Batch, tmp: Batch, data: (x: Batch) => void, onMsg: (m: Msg) => void): void {
  const bytes = host.pool.bytes;
  let any = false;
  for (let k = 0; k < b.count; k++) if (isControl(bytes, b.offs[k] as number, b.lens[k] as number)) any = true;
  if (!any) return data(b);
  tmp.clear();
  for (let k = 0; k < b.count; k++) {
    const off = b.offs[k] as number;
    const len = b.lens[k] as number;
    const slot = b.slots[k] as number;
    if (!isControl(bytes, off, len)) {
      tmp.push(slot, off, len);
      continue;
    }
    if (tmp.count > 0) {
      data(tmp);
      tmp.clear();
    }
    const m = parseControl(bytes, off, len);
    host.pool.release(slot);
    if (m) onMsg(m);
  }
  if (tmp.count > 0) data(tmp);
  tmp.clear();
}

/** Buckets as a hex bitmap (bit b of nibble ⌊b/4⌋): 257 buckets in 65 characters, whatever the slot size. */
export function bucketBits(buckets: readonly number[]): string {
  const n = new Uint8Array(Math.ceil((Math.max(-1, ...buckets) + 1) / 4));
  for (const b of buckets) n[b >> 2] = (n[b >> 2] as number) | (1 << (b & 3));
  return Array.from(n, (x) => x.toString(16)).join('');
}

/** The buckets of a hex bitmap (see bucketBits). */
export function bitsBuckets(bits: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < bits.length; i++) {
    const x = parseInt(bits[i] as string, 16);
    for (let j = 0; j < 4; j++) if (x & (1 << j)) out.push(i * 4 + j);
  }
  return out;
}

let seq = 0;
const newId = (): string => `${Date.now().toString(36)}-${(seq++).toString(36)}-${Math.floor(Math.random() * 0xffff).toString(16)}`;

/** Counters of one node. */
export interface SpreadCounters {
  /** Control frames sent and received. */
  controlSent: number;
  controlReceived: number;
  /** Requests resent for want of an answer. */
  resent: number;
}

/** A replica instance this server runs for a front elsewhere. */
export interface ServedReplica {
  readonly key: string;
  readonly fn: string;
  readonly k: number;
  /** The front's VXLAN endpoint. */
  readonly front: UplinkRemote;
  readonly hd: HostDomain;
}

interface Served extends ServedReplica {
  front: UplinkRemote;
  readonly canon: string;
  readonly vnis: number[];
  /** Per port: the attachment the frames from the front arrive at (wired to the VNI). */
  readonly nears: number[];
  /** Per port: the attachment wired to the vNIC. */
  readonly inner: number[];
  /** Export requests: ports their marker came by, and the answer once done. */
  readonly exports: Map<string, { ports: Set<number>; done?: Msg; running: boolean }>;
  readonly imports: Map<string, { done?: Msg }>;
  readonly tmp: Batch;
}

/**
 * One server's side of spread partitions: sites for the partitions it fronts (`site`) and the
 * replica instances it runs for fronts elsewhere (`serve`, `unserve`).
 */
export class SpreadNode {
  private readonly served = new Map<string, Served>();
  readonly counters: SpreadCounters = { controlSent: 0, controlReceived: 0, resent: 0 };
  private closed = false;

  constructor(readonly init: SpreadNodeInit) {}

  private send(att: number, m: Msg): void {
    const b = new Batch(1);
    if (this.init.host.pool.load(controlFrame(m), b) < 0) return; // no slot: resent later
    this.counters.controlSent++;
    this.init.host.forward(att, b);
  }

  /**
   * The site of instance `k` of `fn` of network `key` on `target` (for Partition's `sites`).
   *
   * @example
   * node.site('default/web', 'fw', 2, { server: 's3', remote: { address: '127.0.0.1', port: 40123 } });
   */
  site(key: string, fn: string, k: number, target: SpreadTarget): InstanceSite {
    return {
      id: `${target.server}@${target.remote.address}:${target.remote.port}`,
      start: (name, ports, toFront) => this.connect(key, fn, k, target, ports, toFront),
    };
  }

  /** The front's end of a remote instance: its VNIs bound, then pinged until it answers. */
  private async connect(key: string, fn: string, k: number, target: SpreadTarget, ports: readonly string[], toFront: (p: number, b: Batch) => void): Promise<RemoteInstance> {
    const { host, uplink } = this.init;
    const vnis = ports.map((_, p) => replicaVni(key, fn, k, target.server, p));
    const waiting = new Map<string, (m: Msg, port: number) => void>();
    const tmp = new Batch(MAX_BATCH);
    const ups: number[] = [];
    const nears: number[] = [];
    const detach = (): void => {
      for (const a of nears) host.bridge.detach(a);
      for (let p = 0; p < ups.length; p++) {
        uplink.unbindVni(vnis[p] as number);
        host.bridge.detach(ups[p] as number);
      }
    };
    try {
      ports.forEach((port, p) => {
        const up = host.attachUplink(uplink, vnis[p] as number, key, [{ ...target.remote }]);
        ups.push(up);
        const near = host.attachExternal(key, `${key}:${fn}#${k}@${target.server}.${port}`, (b) => {
          split(host, b, tmp, (x) => toFront(p, x), (m) => {
            this.counters.controlReceived++;
            waiting.get(m.id)?.(m, p);
          });
          return true;
        });
        nears.push(near);
        host.bridge.wire(near, up);
      });
    } catch (e) {
      detach();
      throw new SpreadError(`instance ${k} of ${key}/${fn} on ${target.server}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const retry = this.init.retryMs ?? 200;
    const timeout = this.init.timeoutMs ?? 10_000;
    /** Sends `m` on `on` ports every `retry` ms until `done` resolves it (or the timeout). */
    const ask = <T>(m: Msg, on: readonly number[], what: string, done: (reply: Msg, port: number, resolve: (v: T) => void, reject: (e: Error) => void) => void, limit = timeout): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const t0 = performance.now();
        let timer: NodeJS.Timeout | undefined;
        const end = (): void => {
          clearTimeout(timer);
          waiting.delete(m.id);
        };
        waiting.set(m.id, (r, port) =>
          done(
            r,
            port,
            (v) => (end(), resolve(v)),
            (e) => (end(), reject(e)),
          ),
        );
        const tick = (): void => {
          if (this.init.alive && !this.init.alive(target.server)) {
            end();
            reject(new SpreadError(`${what}: server ${target.server} is gone`));
            return;
          }
          if (this.closed || performance.now() - t0 > limit) {
            end();
            reject(new SpreadError(`${what}: no answer from ${target.server} (${target.remote.address}:${target.remote.port}) in ${limit} ms`));
            return;
          }
          for (const p of on) this.send(nears[p] as number, m);
          timer = setTimeout(() => {
            this.counters.resent++;
            tick();
          }, retry);
        };
        tick();
      });
    const all = ports.map((_, p) => p);
    const label = `${key}/${fn}#${k} on ${target.server}`;
    try {
      await ask<void>({ t: 'p', id: newId() }, [0], `start of ${label}`, (r, _p, ok) => {
        if (r.t === 'P') ok();
      });
    } catch (e) {
      detach();
      throw e;
    }
    const { state } = this.init;
    const reqLimit = this.init.requestTimeoutMs ?? 3000;
    return {
      backs: nears,
      exportFlows: async (buckets) => {
        const seen = new Set<number>();
        const ref = await ask<string>({ t: 'x', id: newId(), bits: bucketBits(buckets) }, all, `export of ${label}`, (r, p, ok, fail) => {
          if (r.t !== 'X') return;
          if (r.error !== undefined) return fail(new SpreadError(`export of ${label}: ${r.error}`));
          seen.add(p);
          if (seen.size === all.length) ok(r.ref);
        }, reqLimit);
        const st = await state.take(ref);
        if (!st) throw new SpreadError(`export of ${label}: no flows under ${ref}`);
        return st;
      },
      importFlows: async (flows) => {
        const ref = `${key}/${fn}/${newId()}`;
        await state.put(ref, flows);
        await ask<void>({ t: 'i', id: newId(), ref }, [0], `import into ${label}`, (r, _p, ok, fail) => {
          if (r.t !== 'I') return;
          if (r.error !== undefined) fail(new SpreadError(`import into ${label}: ${r.error}`));
          else ok();
        }, reqLimit);
      },
      close: async () => detach(),
    };
  }

  /**
   * Runs instance `k` of function `fn` of network `key` here for the front at `front` (its own
   * domain, a vNIC per port, each wired to its VNI); re-points it if the front moved; no-op if it
   * runs already with this configuration. Rejects (ConfigError, DomainError, UplinkError) if it
   * cannot be built.
   *
   * @example
   * await node.serve('default/web', { name: 'fw', kind: 'firewall', config }, 1, { address: '127.0.0.1', port: 40000 });
   */
  async serve(key: string, fn: FunctionSpec, k: number, front: UplinkRemote, ports: readonly string[], share: { allocation: number; priority?: number } = { allocation: 1 }): Promise<void> {
    const id = `${key}\0${fn.name}\0${k}`;
    const canon = JSON.stringify([fn.kind, fn.config, ports]);
    const cur = this.served.get(id);
    if (cur && cur.canon === canon) {
      if (cur.front.address !== front.address || cur.front.port !== front.port) {
        for (const v of cur.vnis) this.init.uplink.setRemotes(v, [{ ...front }]);
        cur.front = { ...front };
      }
      return;
    }
    if (cur) await this.unserve(key, fn.name, k);
    const { host, uplink, server } = this.init;
    host.addNetwork(key, share);
    const hd = await host.addDomain({
      name: `${key}/${fn.name}#${k}`,
      contexts: [{ network: key, functions: [{ name: fn.name, kind: fn.kind, config: fn.config }], wires: [] }],
      vnics: ports.map((p) => ({ context: 0, port: `${fn.name}.${p}` })),
    });
    const s: Served = { key, fn: fn.name, k, front: { ...front }, hd, canon, vnis: [], nears: [], inner: [], exports: new Map(), imports: new Map(), tmp: new Batch(MAX_BATCH) };
    try {
      ports.forEach((port, p) => {
        const vni = replicaVni(key, fn.name, k, server, p);
        const up = host.attachUplink(uplink, vni, key, [{ ...front }]);
        s.vnis.push(vni);
        const near = host.attachExternal(key, `${key}:${fn.name}#${k}<front.${port}`, (b) => {
          split(host, b, s.tmp, (x) => host.forward(s.inner[p] as number, x), (m) => this.onServed(s, p, m));
          return true;
        });
        s.nears.push(near);
        host.bridge.wire(near, up);
        const inner = host.attachExternal(key, `${key}:${fn.name}#${k}>front.${port}`, (b) => {
          host.forward(near, b);
          return true;
        });
        s.inner.push(inner);
        host.bridge.wire(inner, hd.attachments[p] as number);
      });
    } catch (e) {
      this.served.set(id, s);
      await this.unserve(key, fn.name, k);
      throw e;
    }
    this.served.set(id, s);
  }

  /** Stops instance `k` of `fn` of `key` here (its flows, if any are left, go with it); false if it did not run. */
  async unserve(key: string, fn: string, k: number): Promise<boolean> {
    const id = `${key}\0${fn}\0${k}`;
    const s = this.served.get(id);
    if (!s) return false;
    this.served.delete(id);
    const { host, uplink } = this.init;
    for (const v of s.vnis) uplink.unbindVni(v);
    for (const a of [...s.nears, ...s.inner]) host.bridge.detach(a);
    await host.removeDomain(s.hd.domain.id).catch(() => undefined);
    return true;
  }

  /** The replica instances this server runs. */
  servedList(): ServedReplica[] {
    return [...this.served.values()].map((s) => ({ key: s.key, fn: s.fn, k: s.k, front: { ...s.front }, hd: s.hd }));
  }

  /** A control message from the front, arrived by port `p` after every frame sent before it. */
  private onServed(s: Served, p: number, m: Msg): void {
    this.counters.controlReceived++;
    if (m.t === 'p') {
      if (s.hd.domain.state === 'running') this.send(s.nears[p] as number, { t: 'P', id: m.id });
      return;
    }
    if (m.t === 'x') {
      let e = s.exports.get(m.id);
      if (!e) {
        s.exports.set(m.id, (e = { ports: new Set(), running: false }));
        trim(s.exports);
      }
      e.ports.add(p);
      if (e.done) {
        // A repeat (an answer was lost): the same answer, on every port.
        for (const a of s.nears) this.send(a, e.done);
        return;
      }
      if (e.running || e.ports.size < s.nears.length) return;
      e.running = true;
      const ex = e;
      void this.exportServed(s, m.id, bitsBuckets(m.bits)).then((done) => {
        ex.done = done;
        ex.running = false;
        for (const a of s.nears) this.send(a, done);
      });
      return;
    }
    if (m.t === 'i') {
      let e = s.imports.get(m.id);
      if (e?.done) return this.send(s.nears[0] as number, e.done);
      if (e) return;
      s.imports.set(m.id, (e = {}));
      trim(s.imports);
      const im = e;
      void (async (): Promise<Msg> => {
        try {
          const st = await this.init.state.take(m.ref);
          if (!st) return { t: 'I', id: m.id, error: `no flows under ${m.ref}` };
          await s.hd.domain.importFlows(st);
          return { t: 'I', id: m.id };
        } catch (err) {
          return { t: 'I', id: m.id, error: err instanceof Error ? err.message : String(err) };
        }
      })().then((done) => {
        im.done = done;
        this.send(s.nears[0] as number, done);
      });
    }
  }

  /** The export behind an `x` marker seen on every port: frames queued here first, then the domain's flows. */
  private async exportServed(s: Served, id: string, buckets: readonly number[]): Promise<Msg> {
    try {
      const h = this.init.host;
      // Frames the front sent before the marker may wait in this server's token queue.
      const st = h.stats()?.networks.find((x) => x.net === s.key);
      if (st) {
        const end = performance.now() + 3000;
        for (;;) {
          const now = h.stats()?.networks.find((x) => x.net === s.key);
          if (!now || now.served + now.dropped >= st.submitted || performance.now() > end) break;
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      const flows = await s.hd.domain.exportFlows(buckets);
      this.forwardTx(s);
      const ref = `${s.key}/${s.fn}#${s.k}/${id}`;
      await this.init.state.put(ref, flows);
      return { t: 'X', id, ref };
    } catch (err) {
      return { t: 'X', id, ref: '', error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** What the domain left on its tx rings goes towards the front now (before the answer). */
  private forwardTx(s: Served): void {
    const b = new Batch(MAX_BATCH);
    s.hd.domain.service();
    for (let v = 0; v < s.hd.attachments.length; v++) {
      for (;;) {
        b.clear();
        if (s.hd.domain.receive(v, b) === 0) break;
        this.init.host.forward(s.hd.attachments[v] as number, b);
      }
    }
  }

  /** Stops every replica instance served here (the fronts' sites just stop answering). */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of [...this.served.values()]) await this.unserve(s.key, s.fn, s.k);
  }
}

/** Keeps the last 64 answers of a request map (repeats come within seconds). */
function trim(m: Map<string, unknown>): void {
  while (m.size > 64) {
    const first = m.keys().next();
    if (first.done) return;
    m.delete(first.value);
  }
}
