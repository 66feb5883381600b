/**
 * A digital twin: a software function that mirrors a device and says, the moment they disagree,
 * how the device diverges from what it should do.
 *
 * The twin is given a copy of everything the device receives on each of its ports (`<port>.in`)
 * and of everything it sends (`<port>.out`). It runs a model (a router, switch or firewall of our
 * registry, built from the SAME configuration as the device) on the inputs and matches what the
 * model sends with what the device sent, per port, by content (a hash of every byte but the
 * explicitly tolerated fields, see lib/twin-frames TOLERANCES), within `windowMs`:
 *  - a model frame the device did not send is a divergence "device dropped" once it waited
 *    `windowMs` AND every output stream of the device that is active (had a frame within
 *    `maxWaitMs`) has delivered frames captured more than `windowMs` after it: a capture feed
 *    that lags (a busy capturer, a scheduler hiccup) delays the judgement instead of raising a
 *    false alarm, and the device's other frames of that moment (evidence: ICMP errors, the same
 *    frame with another MAC) are in by then. After `maxWaitMs` a frame is judged regardless;
 *  - a device frame the model did not send is "device sent unexpected" once it waited
 *    `unexpectedMs` (default 3 × the window) and every active input stream passed it (or after
 *    2 × maxWaitMs); judged later than drops, so that it can first serve as their evidence.
 * A dropped frame is diagnosed from the device's unmatched frames of the same moment: the same
 * frame with another destination MAC (a changed neighbour entry), an ICMP error quoting it
 * (no route → a missing or wrong route; fragmentation needed / packet too big → MTU lowered;
 * administratively prohibited → a filter), fragments of it (MTU); with no evidence, a silent
 * drop of one flow (a filter rule?). Divergences are grouped (by diagnosis, port and traffic),
 * reported at once when a group opens, then aggregated: an update every `aggregateMs` while
 * frames keep diverging and a final record once the group was quiet for `aggregateMs`.
 *
 * Time is capture time: `observe()` takes the capture timestamp of each frame; `tick(ctx)`
 * with ctx.now (wall clock when following live, the latest capture timestamp when reading
 * captures) expires what waited longer than the window. Matching is per batch, without
 * allocation per frame; only divergent frames are parsed and described.
 */
import { Batch, MAX_BATCH, type PacketPool } from '../packet/pool.js';
import { ConfigError, type Counters, type Emit, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { createFunction } from './registry.js';
import { FrameHasher, TOLERANCES, flowText, frameHex, frameInfo, icmpReason, quotes, type FrameInfo, type Tolerance } from './lib/twin-frames.js';

export type DivergenceKind = 'route' | 'filter' | 'mtu' | 'neighbour' | 'dropped' | 'unexpected';

/** One group of divergent frames: what the twin reports. */
export interface TwinDivergence {
  readonly id: number;
  readonly kind: DivergenceKind;
  /** The device port where the frames should have left (or left unexpectedly). */
  readonly port: string;
  /** The affected traffic: a prefix, a flow, a destination, a size. */
  readonly traffic: string;
  /** Human diagnosis, e.g. "device dropped 312 frames to 10.1.0.0/16 that the twin forwarded on eth1: a missing or wrong route". */
  diagnosis: string;
  /** Frames in the group so far. */
  frames: number;
  /** Capture time (ms since the epoch) at which the first affected frame reached the device. */
  readonly firstTs: number;
  lastTs: number;
  /** The twin's clock (ms) when the group was first reported. */
  readonly reportedAt: number;
  /** Distinct flows among the frames (counted up to 64). */
  flows: number;
  /** Up to four frames involved, as hex: what the twin sent and what the device sent. */
  readonly samples: { side: 'twin' | 'device'; port: string; hex: string }[];
  open: boolean;
}

export type DivergencePhase = 'open' | 'update' | 'close';

export interface TwinConfig {
  /** Kind of the model (router, switch, firewall, …). */
  readonly function: string;
  /** The device's configuration, in the model's format. */
  readonly config: unknown;
  readonly windowMs: number;
  /** How long a device frame waits for the model's before it is unexpected (≥ windowMs). */
  readonly unexpectedMs: number;
  /** Longest a frame waits for a lagging feed before it is judged anyway. */
  readonly maxWaitMs: number;
  readonly aggregateMs: number;
  readonly tolerate: readonly Tolerance[];
  /** Entries each pending set holds (frames awaiting their match); oldest are evicted beyond it. */
  readonly capacity: number;
}

export interface TwinOptions {
  /** Called when a group opens, every aggregateMs while it grows, and when it closes. */
  readonly onDivergence?: (d: TwinDivergence, phase: DivergencePhase) => void;
}

/**
 * Parses a twin configuration: `{ function, config, windowMs?, unexpectedMs?, maxWaitMs?, aggregateMs?, tolerate?, capacity? }`.
 *
 * @example
 * parseTwinConfig({ function: 'router', config: routerCfg, windowMs: 40 });
 */
export function parseTwinConfig(v: unknown): TwinConfig {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError('', 'twin configuration must be an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['function', 'config', 'windowMs', 'unexpectedMs', 'maxWaitMs', 'aggregateMs', 'tolerate', 'capacity'].includes(k)) throw new ConfigError(k, 'unknown key');
  const fn = o['function'];
  if (typeof fn !== 'string' || fn === '') throw new ConfigError('function', 'the model kind (e.g. router) is required');
  if (fn === 'twin') throw new ConfigError('function', 'a twin cannot model a twin');
  const num = (k: string, d: number, lo: number, hi: number): number => {
    const x = o[k];
    if (x === undefined) return d;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < lo || x > hi) throw new ConfigError(k, `must be a number in [${lo}, ${hi}]`);
    return x;
  };
  const tol = o['tolerate'] ?? ['ipv4-id-local', 'ipv6-flowlabel-local'];
  if (!Array.isArray(tol)) throw new ConfigError('tolerate', 'must be a list of field names');
  const tolerate = tol.map((t, i): Tolerance => {
    if (typeof t !== 'string' || !(t in TOLERANCES)) throw new ConfigError(`tolerate[${i}]`, `unknown field '${String(t)}' (known: ${Object.keys(TOLERANCES).join(', ')})`);
    return t as Tolerance;
  });
  const capacity = num('capacity', 16384, 64, 1 << 20);
  const windowMs = num('windowMs', 20, 0.1, 60_000);
  const unexpectedMs = num('unexpectedMs', windowMs * 3, windowMs, 600_000);
  const maxWaitMs = num('maxWaitMs', Math.max(300, unexpectedMs), unexpectedMs, 600_000);
  return { function: fn, config: o['config'] ?? {}, windowMs, unexpectedMs, maxWaitMs, aggregateMs: num('aggregateMs', 1000, 10, 3_600_000), tolerate, capacity: 2 ** Math.ceil(Math.log2(capacity)) };
}

const SNAP = 128;
const FREE = 0;
const PENDING = 1;

/**
 * Frames awaiting their match, in arrival order (a ring), indexed by (port, content hash) with
 * doubly linked chains so that matching and expiry are O(1) and allocation-free.
 */
class PendingSet {
  readonly full: Uint32Array;
  readonly noDst: Uint32Array;
  readonly port: Int32Array;
  readonly len: Int32Array;
  readonly ts: Float64Array;
  readonly state: Uint8Array;
  readonly snap: Uint8Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  /** Bucket of each entry; buckets hold the head of a chain (-1 when empty), 2 per entry. */
  private readonly bucket: Int32Array;
  private readonly buckets: Int32Array;
  head = 0;
  tail = 0;
  overflow = 0;

  constructor(readonly cap: number) {
    this.full = new Uint32Array(cap);
    this.noDst = new Uint32Array(cap);
    this.port = new Int32Array(cap);
    this.len = new Int32Array(cap);
    this.ts = new Float64Array(cap);
    this.state = new Uint8Array(cap);
    this.snap = new Uint8Array(cap * SNAP);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.bucket = new Int32Array(cap);
    this.buckets = new Int32Array(cap * 2).fill(-1);
  }

  static key(port: number, h: number): number {
    return (h ^ Math.imul(port + 1, 0x9e3779b1)) >>> 0;
  }

  /** Removes and returns a pending entry with this content on this port, or -1. */
  take(port: number, full: number, len: number): number {
    let i = this.buckets[PendingSet.key(port, full) & (this.buckets.length - 1)] as number;
    while (i >= 0) {
      if (this.full[i] === full && this.port[i] === port && this.len[i] === len) { this.unlink(i); return i; }
      i = this.next[i] as number;
    }
    return -1;
  }

  add(port: number, full: number, noDst: number, b: Uint8Array, off: number, len: number, ts: number): void {
    const m = this.cap - 1;
    if (this.head - this.tail === this.cap) {
      // Full: the oldest entry is forgotten (counted), never silently matched.
      const old = this.tail & m;
      if (this.state[old] === PENDING) { this.unlink(old); this.overflow++; }
      this.tail++;
    }
    const i = this.head & m;
    this.head++;
    this.full[i] = full;
    this.noDst[i] = noDst;
    this.port[i] = port;
    this.len[i] = len;
    this.ts[i] = ts;
    this.state[i] = PENDING;
    const n = len < SNAP ? len : SNAP;
    const base = i * SNAP;
    for (let k = 0; k < n; k++) this.snap[base + k] = b[off + k] as number;
    const bk = PendingSet.key(port, full) & (this.buckets.length - 1);
    this.bucket[i] = bk;
    const h = this.buckets[bk] as number;
    this.prev[i] = -1;
    this.next[i] = h;
    if (h >= 0) this.prev[h] = i;
    this.buckets[bk] = i;
  }

  unlink(i: number): void {
    if (this.state[i] !== PENDING) return;
    this.state[i] = FREE;
    const p = this.prev[i] as number;
    const n = this.next[i] as number;
    if (p >= 0) this.next[p] = n;
    else this.buckets[this.bucket[i] as number] = n;
    if (n >= 0) this.prev[n] = p;
  }

  /** Stored bytes of entry i (a prefix of at most SNAP bytes). */
  info(i: number): FrameInfo {
    return frameInfo(this.snap, i * SNAP, Math.min(this.len[i] as number, SNAP));
  }

  hex(i: number): string {
    return frameHex(this.snap, i * SNAP, Math.min(this.len[i] as number, SNAP));
  }

  get pending(): number {
    let n = 0;
    for (let t = this.tail; t < this.head; t++) if (this.state[t & (this.cap - 1)] === PENDING) n++;
    return n;
  }
}

/**
 * Whether every stream active since `activeSince` (its newest frame is newer than that) has
 * delivered frames captured after `t`: a silent stream holds nothing back, a lagging one does.
 */
function caughtUp(marks: Float64Array, t: number, activeSince: number): boolean {
  for (let p = 0; p < marks.length; p++) {
    const m = marks[p] as number;
    if (m > activeSince && m <= t) return false;
  }
  return true;
}

interface Route4 { net: number; mask: number; len: number; text: string }

function ip4(s: string): number | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (!m) return null;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return null;
  return (((p[0] as number) << 24) | ((p[1] as number) << 16) | ((p[2] as number) << 8) | (p[3] as number)) >>> 0;
}

/** The model's IPv4 prefixes (static routes and connected networks) for naming affected traffic. */
function modelRoutes(config: unknown): { routes: Route4[]; local4: Set<number>; local6: Set<string>; neighbours: Map<string, string> } {
  const routes: Route4[] = [];
  const neighbours = new Map<string, string>();
  const local4 = new Set<number>();
  const local6 = new Set<string>();
  const add = (text: string, isLocal: boolean): void => {
    const [a, l] = text.split('/');
    const addr = ip4(a ?? '');
    const len = Number(l ?? '32');
    if (addr === null || !Number.isInteger(len) || len < 0 || len > 32) {
      if (isLocal && a !== undefined && a.includes(':')) local6.add(expand6(a));
      return;
    }
    if (isLocal) local4.add(addr);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const net = (addr & mask) >>> 0;
    routes.push({ net, mask, len, text: `${(net >>> 24) & 255}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}` });
  };
  if (typeof config === 'object' && config !== null) {
    const c = config as Record<string, unknown>;
    for (const f of Array.isArray(c['interfaces']) ? c['interfaces'] : []) {
      const addrs = typeof f === 'object' && f !== null ? (f as Record<string, unknown>)['addresses'] : undefined;
      if (Array.isArray(addrs)) for (const a of addrs) if (typeof a === 'string') add(a, true);
    }
    for (const r of Array.isArray(c['routes']) ? c['routes'] : []) {
      const p = typeof r === 'object' && r !== null ? (r as Record<string, unknown>)['prefix'] : undefined;
      if (typeof p === 'string') add(p, false);
    }
    for (const n of Array.isArray(c['neighbors']) ? c['neighbors'] : []) {
      if (typeof n !== 'object' || n === null) continue;
      const { interface: dev, address, mac } = n as Record<string, unknown>;
      if (typeof dev === 'string' && typeof address === 'string' && typeof mac === 'string') neighbours.set(`${dev}|${mac.toLowerCase()}`, address);
    }
  }
  routes.sort((x, y) => y.len - x.len);
  return { routes, local4, local6, neighbours };
}

function expand6(a: string): string {
  const [l, r] = a.split('::');
  const lp = l ? l.split(':') : [];
  const rp = r !== undefined && r !== '' ? r.split(':') : [];
  const groups = a.includes('::') ? [...lp, ...Array<string>(8 - lp.length - rp.length).fill('0'), ...rp] : lp;
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** Fewest frames kept as samples per divergence. */
const MAX_SAMPLES = 4;
const MAX_RECORDS = 256;
/** Device frames scanned for evidence when a model frame goes missing (the most recent ones). */
const EVIDENCE_SCAN = 512;

interface Group { d: TwinDivergence; flowSet: Set<string>; reportedFrames: number; lastReport: number; text: (n: number, flows: number) => string }

/**
 * The twin network function. Ports: `<p>.in` (2k) and `<p>.out` (2k+1) for each port p of the model.
 *
 * @example
 * const twin = new Twin(parseTwinConfig({ function: 'router', config: routerCfg }), { onDivergence: (d, phase) => log(phase, d.diagnosis) });
 * twin.observe(0, inBatch, ctx, inTs);   // what the device received on its port 0
 * twin.observe(3, outBatch, ctx, outTs); // what the device sent on its port 1
 * twin.tick(ctx);                        // expire, diagnose, report
 */
export class Twin implements NetworkFunction {
  readonly kind = 'twin';
  readonly ports: readonly PortDecl[];
  readonly model: NetworkFunction;
  readonly config: TwinConfig;
  private readonly modelPorts: readonly string[];
  private readonly hasher: FrameHasher;
  private readonly expected: PendingSet;
  private readonly device: PendingSet;
  private readonly routes: Route4[];
  /** `<port>|<mac>` → the static neighbour's address, to name a next hop. */
  private readonly neighbours: Map<string, string>;
  private readonly sub = new Batch(MAX_BATCH);
  private readonly emit: Emit;
  private pool: PacketPool | null = null;
  private curTs = 0;
  /** Newest capture time seen on each model port's input / output stream (ms). */
  private readonly inMark: Float64Array;
  private readonly outMark: Float64Array;
  private readonly groups = new Map<string, Group>();
  private readonly records: TwinDivergence[] = [];
  private nextId = 1;
  private readonly onDivergence: ((d: TwinDivergence, phase: DivergencePhase) => void) | undefined;
  private readonly c = { inputFrames: 0, deviceFrames: 0, modelFrames: 0, modelDrops: 0, matched: 0, missing: 0, unexpected: 0, explained: 0, divergences: 0 };

  constructor(config: TwinConfig, opts: TwinOptions = {}) {
    this.config = config;
    try {
      this.model = createFunction(config.function, config.config);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(e.path === 'kind' ? 'function' : `config${e.path ? `.${e.path}` : ''}`, e.message);
      throw e;
    }
    this.modelPorts = this.model.ports.map((p) => p.name);
    this.ports = this.modelPorts.flatMap((n) => [{ name: `${n}.in` }, { name: `${n}.out` }]);
    const mr = modelRoutes(config.config);
    this.routes = mr.routes;
    this.neighbours = mr.neighbours;
    this.hasher = new FrameHasher(config.tolerate, mr.local4, mr.local6);
    this.inMark = new Float64Array(this.modelPorts.length).fill(-Infinity);
    this.outMark = new Float64Array(this.modelPorts.length).fill(-Infinity);
    this.expected = new PendingSet(config.capacity);
    this.device = new PendingSet(config.capacity);
    this.onDivergence = opts.onDivergence;
    const self = this;
    this.emit = {
      send(port: number, slot: number, off: number, len: number): void { self.modelSent(port, slot, off, len); },
      drop(slot: number): void { self.c.modelDrops++; self.pool?.release(slot); },
    };
  }

  /** Index of `<port>.in` / `<port>.out`, or -1. */
  portIndex(name: string): number {
    return this.ports.findIndex((p) => p.name === name);
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    this.observe(port, batch, ctx);
  }

  /**
   * Takes frames the device received (even port 2k: model port k's input) or sent (odd port
   * 2k+1) with their capture times in ms (`ts[i]`, else ctx.now). Consumes every frame.
   */
  observe(port: number, batch: Batch, ctx: ProcessContext, ts?: Float64Array): void {
    const pool = ctx.pool;
    this.pool = pool;
    const mport = port >> 1;
    if (mport >= this.modelPorts.length || port < 0) {
      for (let i = 0; i < batch.count; i++) pool.release(batch.slots[i] as number);
      return;
    }
    if ((port & 1) === 0) {
      this.c.inputFrames += batch.count;
      // Runs of frames captured within 1 ms go to the model together; the model's output is
      // stamped with the run's first capture time (what a drop is measured from).
      const mctx: ProcessContext = { pool, out: this.emit, now: ctx.now };
      const sub = this.sub;
      let i = 0;
      while (i < batch.count) {
        sub.clear();
        const t0 = ts !== undefined ? (ts[i] as number) : ctx.now;
        while (i < batch.count && (ts === undefined || (ts[i] as number) - t0 <= 1)) {
          sub.push(batch.slots[i] as number, batch.offs[i] as number, batch.lens[i] as number);
          i++;
        }
        this.curTs = t0;
        const last = ts !== undefined ? (ts[i - 1] as number) : ctx.now;
        if (last > (this.inMark[mport] as number)) this.inMark[mport] = last;
        this.model.process(mport, sub, mctx);
      }
      return;
    }
    const b = pool.bytes;
    this.c.deviceFrames += batch.count;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offs[i] as number;
      const len = batch.lens[i] as number;
      this.hasher.hash(b, off, len);
      const j = this.expected.take(mport, this.hasher.full, len);
      if (j >= 0) this.c.matched++;
      else this.device.add(mport, this.hasher.full, this.hasher.noDst, b, off, len, ts !== undefined ? (ts[i] as number) : ctx.now);
      pool.release(batch.slots[i] as number);
    }
    const last = batch.count > 0 ? (ts !== undefined ? (ts[batch.count - 1] as number) : ctx.now) : -Infinity;
    if (last > (this.outMark[mport] as number)) this.outMark[mport] = last;
  }

  private modelSent(port: number, slot: number, off: number, len: number): void {
    const pool = this.pool;
    if (pool === null) return;
    this.c.modelFrames++;
    this.hasher.hash(pool.bytes, off, len);
    const j = this.device.take(port, this.hasher.full, len);
    if (j >= 0) this.c.matched++;
    else this.expected.add(port, this.hasher.full, this.hasher.noDst, pool.bytes, off, len, this.curTs);
    pool.release(slot);
  }

  /**
   * Tells the twin that the stream of twin port `port` delivered everything captured up to `t`
   * (ms) even if it had no frame since (an idle live feed; the merge point of captures).
   */
  feedCaughtUp(port: number, t: number): void {
    const mp = port >> 1;
    if (mp < 0 || mp >= this.modelPorts.length) return;
    const marks = (port & 1) === 0 ? this.inMark : this.outMark;
    if (t > (marks[mp] as number)) marks[mp] = t;
  }

  /** Runs the model's timers, then expires what waited longer than the window (ctx.now in ms). */
  tick(ctx: ProcessContext): void {
    this.pool = ctx.pool;
    if (this.model.tick) this.model.tick({ pool: ctx.pool, out: this.emit, now: ctx.now });
    this.expire(ctx.now);
  }

  /** Declares divergent every frame that waited past its window at time `now` (ms), and ages groups. */
  expire(now: number): void {
    const w = this.config.windowMs;
    const e = this.expected;
    const m = e.cap - 1;
    while (e.tail < e.head) {
      const i = e.tail & m;
      if (e.state[i] === PENDING) {
        const t = e.ts[i] as number;
        if (t + w > now || (t + this.config.maxWaitMs > now && !caughtUp(this.outMark, t + w, now - this.config.maxWaitMs))) break;
        this.missing(i, now);
        e.unlink(i);
      }
      e.tail++;
    }
    const d = this.device;
    const wd = this.config.unexpectedMs;
    while (d.tail < d.head) {
      const i = d.tail & m;
      if (d.state[i] === PENDING) {
        const t = d.ts[i] as number;
        // Not before every older model frame was judged: it may be the evidence of their drop.
        if (e.tail < e.head && (e.ts[e.tail & m] as number) <= t) break;
        if (t + wd > now || (t + 2 * this.config.maxWaitMs > now && !caughtUp(this.inMark, t, now - this.config.maxWaitMs))) break;
        this.unexpected(i, now);
        d.unlink(i);
      }
      d.tail++;
    }
    for (const [k, g] of this.groups) {
      if (now - g.d.lastTs >= this.config.aggregateMs && now - g.lastReport >= this.config.aggregateMs) {
        g.d.open = false;
        this.groups.delete(k);
        this.onDivergence?.(g.d, 'close');
      } else if (g.d.frames !== g.reportedFrames && now - g.lastReport >= this.config.aggregateMs) {
        g.reportedFrames = g.d.frames;
        g.lastReport = now;
        this.onDivergence?.(g.d, 'update');
      }
    }
  }

  /** The model's prefix holding `dst` (longest match), or the address itself. */
  private prefixOf(dst: string): string {
    const a = ip4(dst);
    if (a === null) return dst;
    for (const r of this.routes) if (((a & r.mask) >>> 0) === r.net) return r.text;
    return `${dst}/32`;
  }

  /** The key of an open MTU group on `port` whose limit `ipLen` exceeds, or ''. */
  private mtuGroup(port: string, ipLen: number): string {
    for (const [k, g] of this.groups) {
      if (g.d.kind !== 'mtu' || g.d.port !== port) continue;
      const limit = Number(k.slice(k.lastIndexOf('|') + 1));
      if (limit > 0 && ipLen > limit) return k;
    }
    return '';
  }

  private missing(i: number, now: number): void {
    this.c.missing++;
    const e = this.expected;
    const f = e.info(i);
    const port = this.modelPorts[e.port[i] as number] ?? String(e.port[i]);
    const dev = this.device;
    const m = dev.cap - 1;
    let kind: DivergenceKind = 'dropped';
    let evidence = -1;
    let mtu = 0;
    let because = '';
    for (let t = dev.head - 1; t >= dev.tail && t >= dev.head - EVIDENCE_SCAN; t--) {
      const j = t & m;
      if (dev.state[j] !== PENDING) continue;
      if (dev.port[j] === e.port[i] && dev.noDst[j] === e.noDst[i] && dev.len[j] === e.len[i]) { kind = 'neighbour'; evidence = j; break; }
      if (f.ip === 0) continue;
      const g = dev.info(j);
      if (g.icmpType >= 0 && quotes(g, f)) {
        const r = icmpReason(g);
        if (r === 'other') continue;
        kind = r;
        evidence = j;
        mtu = g.icmpMtu;
        because = ` (device answered ICMP${g.ip === 6 ? 'v6' : ''} type ${g.icmpType} code ${g.icmpCode})`;
        break;
      }
      if (f.ip === 4 && g.ip === 4 && g.fragment && !f.fragment && g.src === f.src && g.dst === f.dst && g.ipId === f.ipId && dev.port[j] === e.port[i]) {
        kind = 'mtu';
        evidence = j;
        mtu = Math.max(mtu, g.ipLen + 14);
        because = ' (device fragmented it)';
        // Every fragment of it is explained, not only this one.
        for (let u = t - 1; u >= dev.tail && u >= dev.head - EVIDENCE_SCAN; u--) {
          const k = u & m;
          if (dev.state[k] !== PENDING) continue;
          const h = dev.info(k);
          if (h.fragment && h.ipId === f.ipId && h.src === f.src && h.dst === f.dst) { dev.unlink(k); this.c.explained++; }
        }
        break;
      }
    }
    let key: string;
    let traffic: string;
    let text: (n: number, flows: number) => string;
    const flow = flowText(f);
    if (kind === 'neighbour') {
      const devMac = frameInfo(dev.snap, evidence * SNAP, 6).dstMac;
      const hop = this.neighbours.get(`${port}|${f.dstMac}`);
      traffic = hop ?? (f.ip !== 0 ? f.dst : f.dstMac);
      key = `neighbour|${port}|${f.dstMac}|${devMac}`;
      text = (n, flows) => `device sent ${n} frame${n === 1 ? '' : 's'} ${hop !== undefined ? `through neighbour ${hop}` : `to ${traffic}`} (${flows === 1 ? flow : `${flows} flows`}) on ${port} with a different destination MAC than the twin (${devMac} vs ${f.dstMac}): a changed neighbour entry`;
    } else if (kind === 'route') {
      traffic = this.prefixOf(f.dst);
      key = `route|${port}|${traffic}`;
      text = (n, flows) => `device dropped ${n} frame${n === 1 ? '' : 's'} to ${traffic} (${flows === 1 ? flow : `${flows} flows`}) that the twin forwarded on ${port}${because}: a missing or wrong route`;
    } else if (kind === 'mtu') {
      const limit = mtu > 0 ? (because.includes('fragmented') ? mtu - 14 : mtu) : 0;
      traffic = limit > 0 ? `frames larger than ${limit} bytes` : `frames of ${f.ipLen} bytes`;
      key = `mtu|${port}|${limit}`;
      text = (n) => `device dropped ${n} frame${n === 1 ? '' : 's'} ${limit > 0 ? `larger than ${limit} bytes` : `of ${f.ipLen} bytes`} on ${port} that the twin forwarded (first: ${flow}, ${f.ipLen} bytes)${because}: MTU lowered${limit > 0 ? ` to ${limit}` : ''}?`;
    } else if (this.groups.has(`route|${port}|${this.prefixOf(f.dst)}`)) {
      // Devices rate-limit their ICMP errors: later drops to a prefix already diagnosed join it.
      traffic = this.prefixOf(f.dst);
      key = `route|${port}|${traffic}`;
      kind = 'route';
      text = (n, flows) => `device dropped ${n} frame${n === 1 ? '' : 's'} to ${traffic} (${flows === 1 ? flow : `${flows} flows`}) that the twin forwarded on ${port}: a missing or wrong route`;
    } else if ((key = this.mtuGroup(port, f.ipLen)) !== '') {
      kind = 'mtu';
      traffic = '';
      text = (n) => `device dropped ${n} frames on ${port}: MTU lowered?`;
    } else {
      kind = 'filter';
      traffic = flow;
      key = `filter|${port}|${flow}`;
      text = (n) => `device dropped ${n} frame${n === 1 ? '' : 's'} of ${flow} (one flow) that the twin forwarded on ${port}${because}: a filter rule?`;
    }
    if (evidence >= 0) {
      this.c.explained++;
      dev.unlink(evidence);
    }
    this.count(key, kind, port, traffic, text, e.ts[i] as number, now, flow, [
      { side: 'twin', port, hex: e.hex(i) },
      ...(evidence >= 0 ? [{ side: 'device' as const, port: this.modelPorts[dev.port[evidence] as number] ?? '', hex: dev.hex(evidence) }] : []),
    ]);
  }

  private unexpected(i: number, now: number): void {
    this.c.unexpected++;
    const d = this.device;
    const f = d.info(i);
    const port = this.modelPorts[d.port[i] as number] ?? String(d.port[i]);
    const flow = f.icmpType >= 0 ? `${flowText(f)} type ${f.icmpType} code ${f.icmpCode}` : flowText(f);
    this.count(`unexpected|${port}|${flow}`, 'unexpected', port, flow, (n) => `device sent ${n} frame${n === 1 ? '' : 's'} of ${flow} on ${port} that the twin did not`, d.ts[i] as number, now, flow, [{ side: 'device', port, hex: d.hex(i) }]);
  }

  private count(key: string, kind: DivergenceKind, port: string, traffic: string, text: (n: number, flows: number) => string, ts: number, now: number, flow: string, samples: TwinDivergence['samples']): void {
    let g = this.groups.get(key);
    if (g === undefined) {
      const d: TwinDivergence = { id: this.nextId++, kind, port, traffic, diagnosis: '', frames: 0, firstTs: ts, lastTs: ts, reportedAt: now, flows: 0, samples: [], open: true };
      g = { d, flowSet: new Set(), reportedFrames: 0, lastReport: now, text };
      this.groups.set(key, g);
      this.records.push(d);
      if (this.records.length > MAX_RECORDS) this.records.shift();
      this.c.divergences++;
    }
    const d = g.d;
    d.frames++;
    d.lastTs = Math.max(d.lastTs, ts);
    if (g.flowSet.size < 64) g.flowSet.add(flow);
    d.flows = g.flowSet.size;
    for (const s of samples) if (d.samples.length < MAX_SAMPLES) d.samples.push(s);
    d.diagnosis = g.text(d.frames, d.flows);
    if (d.frames === 1) {
      g.reportedFrames = 1;
      this.onDivergence?.(d, 'open');
    }
  }

  /** Every divergence reported (the last 256), oldest first. */
  divergences(): readonly TwinDivergence[] {
    return this.records;
  }

  counters(): Counters {
    return { ...this.c, pendingTwin: this.expected.pending, pendingDevice: this.device.pending, overflow: this.expected.overflow + this.device.overflow, openDivergences: this.groups.size, model: this.model.counters() };
  }

  exportState(): Plain {
    return { divergences: this.records.map((d) => ({ ...d, samples: d.samples.map((s) => ({ ...s })) })), model: this.model.exportState() };
  }

  importState(state: Plain): void {
    if (typeof state !== 'object' || state === null || Array.isArray(state)) return;
    const s = state as { readonly [k: string]: Plain };
    const m = s['model'];
    if (m !== undefined) this.model.importState(m);
    const list = s['divergences'];
    if (!Array.isArray(list)) return;
    this.records.length = 0;
    for (const r of list) {
      if (typeof r !== 'object' || r === null || Array.isArray(r)) continue;
      const o = r as { readonly [k: string]: Plain };
      if (typeof o['id'] !== 'number' || typeof o['diagnosis'] !== 'string') continue;
      const d = JSON.parse(JSON.stringify(o)) as TwinDivergence;
      d.open = false;
      this.records.push(d);
      this.nextId = Math.max(this.nextId, d.id + 1);
    }
  }
}

/**
 * Builds a twin from its configuration (see parseTwinConfig); throws ConfigError.
 *
 * @example
 * const twin = createTwin({ function: 'router', config: JSON.parse(readFileSync('r1.json', 'utf8')) });
 */
export function createTwin(config: unknown, opts: TwinOptions = {}): Twin {
  return new Twin(parseTwinConfig(config), opts);
}
