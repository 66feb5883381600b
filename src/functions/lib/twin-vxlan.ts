/**
 * Feeding a twin from a VXLAN mirror (RFC 7348): the device's ports are mirrored to us as
 * VXLAN-encapsulated copies (Linux `tc … action mirred egress mirror dev vxlanX`, a switch's
 * remote-span over VXLAN), one VNI per mirrored stream; one UDP socket may carry several VNIs.
 * Each VNI maps to a twin port (`eth0.in`, `eth0.out`). Frames are stamped with their arrival
 * time (the mirror carries no capture time), queued per VNI and handed to the twin in batches
 * once per event-loop turn; the twin ticks every `tickMs` of wall-clock time.
 *
 * @example
 * const m = await VxlanMirror.open(twin, [
 *   { port: 'r0.in', address: '0.0.0.0', udpPort: 4789, vni: 101 },
 *   { port: 'r1.out', address: '0.0.0.0', udpPort: 4789, vni: 201 },
 * ]);
 * … await m.close(); m.counters().malformed;
 */
import dgram from 'node:dgram';
import { Batch, MAX_BATCH, PacketPool } from '../../packet/pool.js';
import { VXLAN_FLAG_I, VXLAN_HLEN, VXLAN_PORT, vni as vniOf } from '../../packet/vxlan.js';
import type { Emit, ProcessContext } from '../contract.js';
import type { Twin } from '../twin.js';
import { TwinSourceError } from './twin-follow.js';

/** One mirrored stream: VNI `vni` on UDP `address:udpPort` carries twin port `port`. */
export interface VxlanMirrorSource {
  readonly port: string;
  readonly address: string;
  /** UDP port (0: a free one; all sources with the same address and port share a socket). */
  readonly udpPort: number;
  readonly vni: number;
}

export interface VxlanMirrorCounters {
  /** Frames handed to the twin. */
  frames: number;
  /** Datagrams too short for a VXLAN header and an Ethernet header, or with the I flag clear. */
  malformed: number;
  /** Well-formed datagrams of a VNI no source names. */
  unknownVni: number;
  /** Frames dropped because the pool or the VNI's batch was full. */
  noBuffer: number;
}

/** A VXLAN source the socket layer refused (address in use, not an address of this host). */
export class VxlanMirrorError extends Error {
  override readonly name = 'VxlanMirrorError';
}

/** Assumed delay between a mirrored frame's transit at the device and its arrival here (ms). */
const IDLE_SLACK_MS = 25;
/** Least Ethernet header inside the VXLAN payload. */
const ETH_HLEN = 14;

const NO_EMIT: Emit = { send: () => undefined, drop: () => undefined };

interface Stream { readonly twinPort: number; readonly batch: Batch; readonly ts: Float64Array }
interface Listener { readonly sock: dgram.Socket; readonly streams: Map<number, Stream> }

/**
 * Parses `vxlan:[[ADDR:]PORT/]VNI` (the `swnet twin --in/--out` source syntax); `ADDR` defaults
 * to `defaultAddress`, `PORT` to 4789. Returns null when `spec` does not start with `vxlan:`.
 *
 * @example
 * parseVxlanSpec('vxlan:4789/101'); // { address: '0.0.0.0', udpPort: 4789, vni: 101 }
 */
export function parseVxlanSpec(spec: string, defaultAddress = '0.0.0.0'): { address: string; udpPort: number; vni: number } | null {
  if (!spec.startsWith('vxlan:')) return null;
  const rest = spec.slice(6);
  const slash = rest.lastIndexOf('/');
  const vniText = slash < 0 ? rest : rest.slice(slash + 1);
  const ep = slash < 0 ? '' : rest.slice(0, slash);
  const vni = Number(vniText);
  if (vniText === '' || !Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new TwinSourceError(`${spec}: VNI must be an integer 0..16777215`);
  let address = defaultAddress;
  let portText = ep;
  const colon = ep.lastIndexOf(':');
  if (colon >= 0) {
    address = ep.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    portText = ep.slice(colon + 1);
    if (address === '') throw new TwinSourceError(`${spec}: empty address`);
  }
  const udpPort = portText === '' ? VXLAN_PORT : Number(portText);
  if (!Number.isInteger(udpPort) || udpPort < 0 || udpPort > 65535) throw new TwinSourceError(`${spec}: UDP port must be 0..65535`);
  return { address, udpPort, vni };
}

/** Follows VXLAN mirrors of a device's ports into a twin; see the module comment. */
export class VxlanMirror {
  private readonly pool = new PacketPool({ slots: MAX_BATCH * 8 });
  private readonly c: VxlanMirrorCounters = { frames: 0, malformed: 0, unknownVni: 0, noBuffer: 0 };
  private readonly ready: Stream[] = [];
  private flushQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Largest delay seen between a datagram's arrival and its delivery to the twin (ms). */
  maxLagMs = 0;

  private constructor(
    private readonly twin: Twin,
    private readonly listeners: readonly Listener[],
    private readonly clock: () => number,
  ) {}

  /**
   * Binds one socket per distinct address:udpPort and starts the twin's clock (every `tickMs`).
   * Rejects with TwinSourceError for an unknown twin port or a VNI given twice on a socket, with
   * VxlanMirrorError when a socket cannot be bound.
   */
  static async open(twin: Twin, sources: readonly VxlanMirrorSource[], tickMs = 2, clock: () => number = Date.now): Promise<VxlanMirror> {
    const groups = new Map<string, { address: string; udpPort: number; streams: Map<number, Stream> }>();
    for (const s of sources) {
      const p = twin.portIndex(s.port);
      if (p < 0) throw new TwinSourceError(`no twin port '${s.port}' (ports: ${twin.ports.map((q) => q.name).join(', ')})`);
      const key = `${s.address}|${s.udpPort}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { address: s.address, udpPort: s.udpPort, streams: new Map() }));
      if (g.streams.has(s.vni)) throw new TwinSourceError(`VNI ${s.vni} on ${s.address}:${s.udpPort} given twice`);
      g.streams.set(s.vni, { twinPort: p, batch: new Batch(MAX_BATCH), ts: new Float64Array(MAX_BATCH) });
    }
    const listeners: Listener[] = [];
    try {
      for (const g of groups.values()) {
        const sock = dgram.createSocket({ type: g.address.includes(':') ? 'udp6' : 'udp4' });
        listeners.push({ sock, streams: g.streams });
        await new Promise<void>((resolve, reject) => {
          sock.once('error', (e) => reject(new VxlanMirrorError(`vxlan ${g.address}:${g.udpPort}: ${e.message}`)));
          sock.bind(g.udpPort, g.address, () => {
            sock.removeAllListeners('error');
            sock.on('error', () => undefined);
            resolve();
          });
        });
      }
    } catch (e) {
      for (const l of listeners) l.sock.close();
      throw e;
    }
    const m = new VxlanMirror(twin, listeners, clock);
    for (const l of listeners) l.sock.on('message', (msg) => m.onMessage(l, msg));
    m.timer = setInterval(() => setImmediate(() => m.tick()), tickMs);
    return m;
  }

  /** The bound endpoints (one per socket, in the order of first use), with the actual ports. */
  endpoints(): { address: string; port: number }[] {
    return this.listeners.map((l) => { const a = l.sock.address(); return { address: a.address, port: a.port }; });
  }

  counters(): VxlanMirrorCounters {
    return { ...this.c };
  }

  private onMessage(l: Listener, msg: Buffer): void {
    if (this.closed) return;
    // RFC 7348 §5: the I flag must be set for the VNI to be valid; reserved bits are ignored.
    if (msg.length < VXLAN_HLEN + ETH_HLEN || ((msg[0] as number) & VXLAN_FLAG_I) === 0) {
      this.c.malformed++;
      return;
    }
    const s = l.streams.get(vniOf(msg, 0));
    if (s === undefined) {
      this.c.unknownVni++;
      return;
    }
    if (s.batch.full) this.flush();
    const slot = this.pool.alloc();
    if (slot < 0) {
      this.c.noBuffer++;
      return;
    }
    const off = this.pool.frameOffset(slot);
    const len = Math.min(msg.length - VXLAN_HLEN, this.pool.mtu);
    this.pool.bytes.set(msg.subarray(VXLAN_HLEN, VXLAN_HLEN + len), off);
    if (s.batch.count === 0) this.ready.push(s);
    s.ts[s.batch.count] = this.clock();
    s.batch.push(slot, off, len);
    // One flush per event-loop turn: the poll phase delivers every queued datagram first.
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
  }

  private ctx(): ProcessContext {
    return { pool: this.pool, out: NO_EMIT, now: this.clock() };
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.ready.length === 0) return;
    const ctx = this.ctx();
    for (const s of this.ready) {
      const n = s.batch.count;
      this.c.frames += n;
      const lag = ctx.now - (s.ts[0] as number);
      if (lag > this.maxLagMs) this.maxLagMs = lag;
      this.twin.observe(s.twinPort, s.batch, ctx, s.ts);
      s.batch.clear();
    }
    this.ready.length = 0;
  }

  /**
   * Every stream is caught up to now less IDLE_SLACK_MS: datagrams are delivered as they arrive
   * (what was received is flushed first), so only a frame in flight can still be earlier.
   */
  private tick(): void {
    if (this.closed) return;
    this.flush();
    const ctx = this.ctx();
    for (const l of this.listeners) for (const s of l.streams.values()) this.twin.feedCaughtUp(s.twinPort, ctx.now - IDLE_SLACK_MS);
    this.twin.tick(ctx);
  }

  /** Closes the sockets, hands over what was received and judges what is still pending. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.listeners.map((l) => new Promise<void>((r) => l.sock.close(() => r()))));
    this.twin.tick({ ...this.ctx(), now: this.clock() + 10_000 });
  }
}
