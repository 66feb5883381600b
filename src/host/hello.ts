/**
 * VRRP-style liveness advertisements between server agents (RFC 5798 §6.4 in spirit): the agent
 * running a function's primary advertises it every `intervalMs` to the agent holding its warm
 * standby; the standby's monitor declares the primary down after `missed` intervals of silence
 * (VRRP's Master_Down_Interval = 3 × Advertisement_Interval + skew) once confirmed.
 *
 * One UDP socket per agent both sends and receives. Advertisements are batched per peer: one
 * datagram per peer and interval lists every function that peer stands by for, built once when
 * the list changes and re-sent with only its sequence number rewritten (no allocation per send).
 * The receive path reads fixed offsets of the datagram and updates watch records in place.
 *
 * Wire format (big-endian), 20 + 4n bytes:
 * ```
 *  0 u32 magic 'SWHL'   4 u8 version (1)   5 u8 flags (bit 0: probe)   6 u16 n
 *  8 u32 sender id      12 u32 sequence    16 u32 interval (ms)
 * 20 n × u32 group id   (ids: FNV-1a of the server name / of `ns/net/function`)
 * ```
 *
 * False failovers on a loaded machine are what makes such detectors dangerous, so silence is
 * counted in monitor ticks, never in wall time: a tick credits at most 1.5 intervals of silence
 * however late it fires (a stalled monitor could not have read anything), and a verdict is
 * taken in a setImmediate after the tick, i.e. after the event loop's poll phase has read the
 * datagrams that queued up while it was stalled. A watch is *suspect* after `missed` intervals,
 * and *down* when the owner confirms it (the primary's lease is gone, or {@link HelloEndpoint.probe}
 * finds its process gone) or after `confirmMs` more of silence.
 *
 * @example
 * const a = await HelloEndpoint.open({ server: 's1', address: '127.0.0.1', port: 0, intervalMs: 20 });
 * const b = await HelloEndpoint.open({ server: 's2', address: '127.0.0.1', port: 0, intervalMs: 20, onDown: (id) => promote(id) });
 * a.advertise(`${b.address}:${b.port}`, ['default/web/r1']);
 * b.watch('default/web/r1', 's1');
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export class HelloError extends Error {
  override readonly name = 'HelloError';
}

const MAGIC = 0x5357484c; // 'SWHL'
const VERSION = 1;
const HEADER = 20;
/** Ids per datagram: (1500 − 20 IPv4 − 8 UDP − 20 header) / 4 keeps a datagram in one Ethernet frame. */
const MAX_IDS = 363;
/** Flag of a probe datagram (no ids; receivers ignore it). */
const FLAG_PROBE = 1;

/** `addr:port` or `[v6]:port` → parts; HelloError if malformed. */
function parseEndpoint(endpoint: string): { address: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  const port = Number(endpoint.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || !(port > 0 && port < 65536)) throw new HelloError(`hello endpoint '${endpoint}': want ADDR:PORT`);
  return { address: endpoint.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

/**
 * 32-bit FNV-1a of a string (its UTF-16 code units): the id of a server or a function on the wire.
 * @example helloId('default/web/r1') === helloId('default/web/r1')
 */
export function helloId(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Why a watch went down, for the failover record. */
export interface DownInfo {
  /** Silence credited when it went down (ms). */
  readonly silentMs: number;
  /** Advertisements received from the peer before it went silent. */
  readonly received: number;
  /** 'confirmed' by the owner (lease gone), or 'silence' (missed + confirmMs of silence). */
  readonly by: 'confirmed' | 'silence';
}

export interface HelloEndpointInit {
  /** This agent's server name (its sender id). */
  readonly server: string;
  readonly address: string;
  /** 0: chosen by the system. */
  readonly port: number;
  /** Advertisement interval (ms). */
  readonly intervalMs: number;
  /** Intervals of silence before a watch is suspect (default 3, as VRRP). */
  readonly missed?: number;
  /** Further silence that confirms a suspect watch down without the owner (ms, default 3 × interval). */
  readonly confirmMs?: number;
  /** A watch became suspect: the owner may check other evidence and call `confirm(id)`. */
  readonly onSuspect?: (id: string, silentMs: number) => void;
  /** A watch is down (called once; the watch stays, down, until unwatched or heard again). */
  readonly onDown?: (id: string, info: DownInfo) => void;
  /** A suspect or down watch was heard again. */
  readonly onUp?: (id: string) => void;
}

interface Peer {
  readonly address: string;
  readonly port: number;
  ids: readonly string[];
  /** Prebuilt datagrams (one per MAX_IDS ids); only the sequence is rewritten per send. */
  bufs: Buffer[];
}

/** 'waiting' for a first hello, 'up', 'suspect' (missed intervals of silence), 'down'. */
export type WatchState = 'waiting' | 'up' | 'suspect' | 'down';

interface WatchRec {
  readonly id: string;
  readonly from: number;
  silentMs: number;
  /** performance.now() of the last hello read: silence is counted from it, not from the tick before. */
  heardAt: number;
  received: number;
  state: WatchState;
}

/** Counters of one endpoint (typed snapshot). */
export interface HelloCounters {
  readonly sent: number;
  readonly received: number;
  /** Datagrams too short, with another magic/version, or a count beyond their length. */
  readonly malformed: number;
  /** Ids received that nobody here watches (or from another sender than the watched one). */
  readonly unknown: number;
  /** Ticks that fired more than one interval late (the monitor was stalled). */
  readonly lateTicks: number;
  readonly sendErrors: number;
}

/** One agent's hello socket: advertiser towards its standbys' agents and monitor of its primaries' agents. */
export class HelloEndpoint {
  private readonly peers = new Map<string, Peer>();
  private readonly watches = new Map<number, WatchRec>();
  private readonly selfId: number;
  private readonly missedMs: number;
  private readonly confirmMs: number;
  private seq = 0;
  private sendTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private lastTick = performance.now();
  private verdictQueued = false;
  private closed = false;
  private paused = false;
  private c = { sent: 0, received: 0, malformed: 0, unknown: 0, lateTicks: 0, sendErrors: 0 };

  private constructor(
    private readonly sock: Socket,
    private readonly init: HelloEndpointInit,
  ) {
    this.selfId = helloId(init.server);
    this.missedMs = (init.missed ?? 3) * init.intervalMs;
    this.confirmMs = init.confirmMs ?? 3 * init.intervalMs;
    sock.on('message', (m, r) => this.onMessage(m, r));
    // A peer's closed port shows up as ECONNREFUSED on some platforms: never fatal.
    sock.on('error', () => void this.c.sendErrors++);
    this.sendTimer = setInterval(() => this.send(), init.intervalMs);
    // Ticks at half the interval: a verdict at most half an interval after its threshold.
    this.tickTimer = setInterval(() => this.tick(), Math.max(1, init.intervalMs / 2));
    this.sendTimer.unref();
    this.tickTimer.unref();
  }

  /** Binds the socket and starts advertising and monitoring; rejects with HelloError if the address is unusable. */
  static async open(init: HelloEndpointInit): Promise<HelloEndpoint> {
    if (!(init.intervalMs >= 1)) throw new HelloError(`hello interval must be ≥ 1 ms, got ${init.intervalMs}`);
    const sock = createSocket({ type: init.address.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (e) => reject(new HelloError(`hello: cannot bind ${init.address}:${init.port}: ${e.message}`)));
      sock.bind(init.port, init.address, () => resolve());
    });
    sock.removeAllListeners('error');
    return new HelloEndpoint(sock, init);
  }

  get address(): string {
    return this.sock.address().address;
  }

  get port(): number {
    return this.sock.address().port;
  }

  get counters(): HelloCounters {
    return { ...this.c };
  }

  /**
   * Advertises `ids` to the agent at `endpoint` (`addr:port`) every interval from now on
   * (replaces the previous list for that peer; an empty list stops advertising to it).
   */
  advertise(endpoint: string, ids: readonly string[]): void {
    const cur = this.peers.get(endpoint);
    if (ids.length === 0) {
      this.peers.delete(endpoint);
      return;
    }
    if (cur && cur.ids.length === ids.length && cur.ids.every((x, i) => x === ids[i])) return;
    const { address, port } = parseEndpoint(endpoint);
    const bufs: Buffer[] = [];
    for (let k = 0; k < ids.length; k += MAX_IDS) {
      const part = ids.slice(k, k + MAX_IDS);
      const b = Buffer.alloc(HEADER + 4 * part.length);
      b.writeUInt32BE(MAGIC, 0);
      b.writeUInt8(VERSION, 4);
      b.writeUInt16BE(part.length, 6);
      b.writeUInt32BE(this.selfId, 8);
      b.writeUInt32BE(Math.min(this.init.intervalMs, 0xffffffff), 16);
      part.forEach((id, j) => b.writeUInt32BE(helloId(id), HEADER + 4 * j));
      bufs.push(b);
    }
    const p: Peer = { address, port, ids: [...ids], bufs };
    this.peers.set(endpoint, p);
    // A new standby hears from its primary at once rather than an interval later.
    this.sendTo(p);
  }

  /** Endpoints advertised to, with their ids. */
  advertised(): ReadonlyMap<string, readonly string[]> {
    return new Map([...this.peers].map(([k, p]) => [k, p.ids]));
  }

  /** Watches `id` as advertised by `from` (a server name); a new watch waits for its first hello before it can go down. */
  watch(id: string, from: string): void {
    const h = helloId(id);
    const cur = this.watches.get(h);
    const f = helloId(from);
    if (cur && cur.id === id && cur.from === f) return;
    if (cur && cur.id !== id) throw new HelloError(`hello ids of '${id}' and '${cur.id}' collide (FNV-1a ${h.toString(16)})`);
    this.watches.set(h, { id, from: f, silentMs: 0, heardAt: 0, received: 0, state: 'waiting' });
  }

  unwatch(id: string): void {
    const h = helloId(id);
    if (this.watches.get(h)?.id === id) this.watches.delete(h);
  }

  /** Ids watched, with their state. */
  watched(): ReadonlyMap<string, WatchState> {
    return new Map([...this.watches.values()].map((w) => [w.id, w.state]));
  }

  /** Declares a suspect watch down now (the owner found other evidence, e.g. the primary's lease gone). */
  confirm(id: string): boolean {
    const w = this.watches.get(helloId(id));
    if (!w || w.id !== id || w.state !== 'suspect') return false;
    this.down(w, 'confirmed');
    return true;
  }

  /**
   * Is the process behind `endpoint` gone? A few probe datagrams from a connected socket: a
   * closed port answers with ICMP port unreachable (RFC 1122 §4.1.3.1), which Linux reports on
   * the next send as ECONNREFUSED: 'gone'. A live process, however slow, or a host that is down
   * or filters ICMP gives no answer: 'unknown' (then silence alone decides).
   */
  async probe(endpoint: string, timeoutMs = 50): Promise<'gone' | 'unknown'> {
    const { address, port } = parseEndpoint(endpoint);
    const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    // The socket's pending error reaches either the next send or the receive path (an 'error' event).
    let refused = false;
    const isRefused = (e: unknown): boolean => (e as NodeJS.ErrnoException | null)?.code === 'ECONNREFUSED';
    s.on('error', (e) => void (refused ||= isRefused(e)));
    const msg = Buffer.alloc(HEADER);
    msg.writeUInt32BE(MAGIC, 0);
    msg.writeUInt8(VERSION, 4);
    msg.writeUInt8(FLAG_PROBE, 5);
    msg.writeUInt32BE(this.selfId, 8);
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        try {
          s.connect(port, address);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
      const t0 = performance.now();
      for (let k = 0; k < 8 && performance.now() - t0 < timeoutMs; k++) {
        if (await new Promise<boolean>((r) => s.send(msg, (e) => r(isRefused(e))))) refused = true;
        if (!refused) await new Promise((r) => setTimeout(r, k < 2 ? 0 : 2));
        if (refused) return 'gone';
      }
      return 'unknown';
    } catch {
      return 'unknown';
    } finally {
      s.close();
    }
  }

  /** Stops sending (receiving goes on): what a stalled or dying agent looks like to its peers (tests, `fail`). */
  pause(paused = true): void {
    const was = this.paused;
    this.paused = paused;
    // Resuming is like a stalled loop running again: its overdue timer fires at once.
    if (was && !paused) this.send();
  }

  private send(): void {
    if (this.paused) return;
    this.seq = (this.seq + 1) >>> 0;
    for (const p of this.peers.values()) this.sendTo(p);
  }

  private sendTo(p: Peer): void {
    if (this.closed || this.paused) return;
    for (const b of p.bufs) {
      b.writeUInt32BE(this.seq, 12);
      this.sock.send(b, p.port, p.address, this.onSent);
    }
  }

  /** One callback for every send (no closure per datagram). */
  private readonly onSent = (e: Error | null): void => {
    if (e) this.c.sendErrors++;
    else this.c.sent++;
  };

  private onMessage(m: Buffer, _r: RemoteInfo): void {
    // Untrusted bytes: checked, counted, never thrown.
    if (m.length < HEADER || m.readUInt32BE(0) !== MAGIC || m.readUInt8(4) !== VERSION) {
      this.c.malformed++;
      return;
    }
    const n = m.readUInt16BE(6);
    if ((m.readUInt8(5) & FLAG_PROBE) !== 0) return;
    if (m.length < HEADER + 4 * n) {
      this.c.malformed++;
      return;
    }
    this.c.received++;
    const now = performance.now();
    const from = m.readUInt32BE(8);
    for (let k = 0; k < n; k++) {
      const w = this.watches.get(m.readUInt32BE(HEADER + 4 * k));
      if (!w || w.from !== from) {
        this.c.unknown++;
        continue;
      }
      w.silentMs = 0;
      w.heardAt = now;
      w.received++;
      if (w.state !== 'up') {
        const was = w.state;
        w.state = 'up';
        if (was === 'suspect' || was === 'down') this.init.onUp?.(w.id);
      }
    }
  }

  private tick(): void {
    const now = performance.now();
    const dt = now - this.lastTick;
    this.lastTick = now;
    if (dt > 2 * this.init.intervalMs) this.c.lateTicks++;
    // At most 1.5 intervals of silence per tick: a late tick is the monitor's stall, not the peer's.
    const cap = 1.5 * this.init.intervalMs;
    const since = now - dt;
    let crossed = false;
    for (const w of this.watches.values()) {
      if (w.state === 'waiting' || w.state === 'down') continue;
      w.silentMs += Math.min(now - (w.heardAt > since ? w.heardAt : since), cap);
      if ((w.state === 'up' && w.silentMs >= this.missedMs) || (w.state === 'suspect' && w.silentMs >= this.missedMs + this.confirmMs)) crossed = true;
    }
    if (crossed && !this.verdictQueued) {
      this.verdictQueued = true;
      // After the poll phase: datagrams queued during a stall are read before the verdict.
      setImmediate(() => this.verdict());
    }
  }

  private verdict(): void {
    this.verdictQueued = false;
    if (this.closed) return;
    for (const w of this.watches.values()) {
      if (w.state === 'up' && w.silentMs >= this.missedMs) {
        w.state = 'suspect';
        this.init.onSuspect?.(w.id, w.silentMs);
      }
      if (w.state === 'suspect' && w.silentMs >= this.missedMs + this.confirmMs) this.down(w, 'silence');
    }
  }

  private down(w: WatchRec, by: DownInfo['by']): void {
    w.state = 'down';
    this.init.onDown?.(w.id, { silentMs: w.silentMs, received: w.received, by });
  }

  /** Stops timers and closes the socket (no farewell: a resigning VRRP master would send priority 0, a dead one sends nothing). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sendTimer);
    clearInterval(this.tickTimer);
    await new Promise<void>((r) => this.sock.close(() => r()));
  }
}
