/**
 * Traffic source for experiments: constant-rate flows driven by the runtime clock in `tick()`.
 * Kinds (each a preset that the flow may override):
 * - `voip`: RTP-like G.711 — 172-byte UDP payload (160 bytes of audio + 12 of RTP) every 20 ms,
 *   DSCP EF (TOS 0xb8);
 * - `iptv`: an MPEG-TS stream — 1316-byte payloads (7 × 188) at 8 Mbit/s, DSCP CS3 (0x60);
 * - `ping`: ICMP/ICMPv6 echo requests, 56 bytes, every second;
 * - `udp`: any payload size at `intervalMs` or `rateKbps`.
 *
 * Every payload starts with a 20-byte test header the sink reads: magic "SWTG", flow id (u32),
 * sequence number (u32, from 0), send time (float64 milliseconds of the sender's clock), all
 * big-endian; the rest of the payload is zero. Frames are real Ethernet (+802.1Q) / IPv4 (DF,
 * id 0) or IPv6 / UDP or ICMP, with every checksum correct: each flow keeps a prebuilt template
 * and the one's complement sum of its constant part, so a packet costs a copy and a 6-word
 * checksum update, no allocation.
 *
 * A flow sends packet k at startMs + k × interval. A late tick sends what is due at once (up to
 * the pool), stamped with the actual send time.
 *
 * With `profile: { shape: 'day', periodMs, min, max, originMs }` every flow's rate is multiplied
 * by m(φ) = min + (max − min)·(1 − cos 2πφ)/2, where φ ∈ [0, 1) is the time of a compressed day
 * of `periodMs` on the wall clock (epoch ms `originMs` is a midnight): `min` at midnight, `max` at
 * noon. The packets due are the integral of the rate, in closed form
 * (∫ (1 − cos 2πt/P)/2 dt = t/2 − P/(4π)·sin 2πt/P), so the schedule costs one sine per flow and
 * tick, and a source started (or migrated) at any time of day sends what that hour asks for.
 * The wall clock is `performance.timeOrigin + ctx.now`: the one clock all domains share.
 */
import type { Batch } from '../packet/pool.js';
import { buildEthernet, ethernetLength } from '../packet/ethernet.js';
import { buildIpv4 } from '../packet/ipv4.js';
import { buildIpv6 } from '../packet/ipv6.js';
import { foldSum, sum16 } from '../packet/checksum.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from './contract.js';
import { arrayOf, int, ipv4, ipv6, mac, num, oneOf, str, strictObject } from './config.js';

/** "SWTG": marks a test payload. */
export const TEST_MAGIC = 0x53575447;
/** Bytes of the test header at the start of every payload. */
export const TEST_HEADER = 20;

export type FlowKind = 'voip' | 'iptv' | 'ping' | 'udp';

export interface SourceFlow {
  readonly id: number;
  readonly kind: FlowKind;
  readonly srcMac: number;
  readonly dstMac: number;
  readonly vlan: number;
  readonly family: 4 | 6;
  readonly src: number | Uint8Array;
  readonly dst: number | Uint8Array;
  readonly srcPort: number;
  readonly dstPort: number;
  /** ICMP echo identifier (ping). */
  readonly identifier: number;
  readonly payloadBytes: number;
  readonly intervalMs: number;
  readonly startMs: number;
  /** Packets to send; 0 = unlimited. */
  readonly count: number;
  readonly tos: number;
  readonly ttl: number;
}

/** A rate profile over a compressed day (see the module comment). */
export interface DayProfile {
  readonly shape: 'day';
  /** Length of the compressed day (ms). */
  readonly periodMs: number;
  /** Rate multipliers at midnight and at noon. */
  readonly min: number;
  readonly max: number;
  /** Epoch ms of a midnight of the compressed day. */
  readonly originMs: number;
}

export interface SourceConfig {
  readonly port: string;
  readonly flows: readonly SourceFlow[];
  readonly profile?: DayProfile;
}

/**
 * The rate multiplier of a day profile at epoch ms `t`: `min` at midnight, `max` at noon.
 * @example dayMultiplier({ shape: 'day', periodMs: 1000, min: 0.1, max: 1, originMs: 0 }, 500) // 1
 */
export function dayMultiplier(p: DayProfile, t: number): number {
  return p.min + ((p.max - p.min) * (1 - Math.cos(2 * Math.PI * dayPhase(p, t)))) / 2;
}

/**
 * Time of the compressed day at epoch ms `t`, as a fraction in [0, 1) (0 = midnight).
 * @example dayPhase({ shape: 'day', periodMs: 1000, min: 0, max: 1, originMs: 0 }, 2250) // 0.25
 */
export function dayPhase(p: Pick<DayProfile, 'periodMs' | 'originMs'>, t: number): number {
  const x = (t - p.originMs) % p.periodMs;
  return (x < 0 ? x + p.periodMs : x) / p.periodMs;
}

/** ∫ m(t) dt from epoch ms t0 to t1 (ms at multiplier 1): each flow's packets due are this / interval. */
function dayIntegral(p: DayProfile, t0: number, t1: number): number {
  const k = p.periodMs / (4 * Math.PI);
  const dt = t1 - t0;
  // Sine arguments reduced to one period, so that epoch-sized times keep their precision.
  return p.min * dt + (p.max - p.min) * (dt / 2 - k * (Math.sin(2 * Math.PI * dayPhase(p, t1)) - Math.sin(2 * Math.PI * dayPhase(p, t0))));
}

const PRESETS: Readonly<Record<FlowKind, { payload: number; intervalMs?: number; rateKbps?: number; tos: number }>> = {
  voip: { payload: 172, intervalMs: 20, tos: 0xb8 },
  iptv: { payload: 1316, rateKbps: 8000, tos: 0x60 },
  ping: { payload: 56, intervalMs: 1000, tos: 0 },
  udp: { payload: 64, tos: 0 },
};

/**
 * Parses a traffic source configuration.
 *
 * @example
 * parseSourceConfig({ flows: [{ kind: 'voip', srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1', dst: '10.0.1.1', dstPort: 5004 }] });
 */
export function parseSourceConfig(config: unknown): SourceConfig {
  const o = strictObject(config, '', ['port', 'flows', 'profile']);
  const flows = o.req('flows', arrayOf((v, p): SourceFlow => {
    const f = strictObject(v, p, ['id', 'kind', 'srcMac', 'dstMac', 'vlan', 'src', 'dst', 'srcPort', 'dstPort', 'identifier', 'payloadBytes', 'intervalMs', 'rateKbps', 'startMs', 'count', 'tos', 'ttl']);
    const kind = f.req('kind', oneOf(['voip', 'iptv', 'ping', 'udp'] as const));
    const pre = PRESETS[kind];
    const srcText = f.req('src', str());
    const family = srcText.includes(':') ? 6 : 4;
    const src = family === 6 ? f.req('src', ipv6()) : f.req('src', ipv4());
    const dst = family === 6 ? f.req('dst', ipv6()) : f.req('dst', ipv4());
    const payloadBytes = f.opt('payloadBytes', int(TEST_HEADER, 1472 - (family === 6 ? 20 : 0)), pre.payload);
    if (f.has('intervalMs') && f.has('rateKbps')) throw new ConfigError(`${p}.rateKbps`, 'give intervalMs or rateKbps, not both');
    let intervalMs: number;
    if (f.has('rateKbps')) intervalMs = (payloadBytes * 8) / f.req('rateKbps', num(0.001, 100_000_000));
    else if (f.has('intervalMs')) intervalMs = f.req('intervalMs', num(0.000001, 86_400_000));
    else if (pre.intervalMs !== undefined) intervalMs = pre.intervalMs;
    else if (pre.rateKbps !== undefined) intervalMs = (payloadBytes * 8) / pre.rateKbps;
    else throw new ConfigError(`${p}.intervalMs`, `is required for kind ${kind} (or rateKbps)`);
    if (kind === 'ping' && (f.has('srcPort') || f.has('dstPort'))) throw new ConfigError(`${p}.${f.has('srcPort') ? 'srcPort' : 'dstPort'}`, 'ping has no ports (use identifier)');
    return {
      id: f.opt('id', int(0, 0xffffffff), 0),
      kind,
      srcMac: f.req('srcMac', mac()),
      dstMac: f.req('dstMac', mac()),
      vlan: f.opt('vlan', int(0, 4094), 0),
      family,
      src,
      dst,
      srcPort: f.opt('srcPort', int(1, 65535), 40000),
      dstPort: f.opt('dstPort', int(1, 65535), kind === 'voip' ? 5004 : kind === 'iptv' ? 5000 : 9),
      identifier: f.opt('identifier', int(0, 65535), 0),
      payloadBytes,
      intervalMs,
      startMs: f.opt('startMs', num(0, 2 ** 52), 0),
      count: f.opt('count', int(0, 2 ** 52), 0),
      tos: f.opt('tos', int(0, 255), pre.tos),
      ttl: f.opt('ttl', int(1, 255), 64),
    };
  }, 1, 4096));
  const flowsWithIds = flows.map((fl, i) => (fl.id === 0 ? { ...fl, id: i + 1 } : fl));
  const seen = new Set<number>();
  flowsWithIds.forEach((fl, i) => {
    if (seen.has(fl.id)) throw new ConfigError(`flows[${i}].id`, `duplicate flow id ${fl.id}`);
    seen.add(fl.id);
  });
  const profile = o.maybe('profile', (v, p): DayProfile => {
    const q = strictObject(v, p, ['shape', 'periodMs', 'min', 'max', 'originMs']);
    const shape = q.req('shape', oneOf(['day'] as const));
    const periodMs = q.req('periodMs', num(100, 2 ** 40));
    const min = q.opt('min', num(0, 1000), 0.1);
    const max = q.opt('max', num(0, 1000), 1);
    if (!(max > 0)) throw new ConfigError(`${p}.max`, 'must be positive');
    if (min > max) throw new ConfigError(`${p}.min`, `must not exceed max (${max})`);
    return { shape, periodMs, min, max, originMs: q.opt('originMs', num(0, 2 ** 52), 0) };
  });
  return { port: o.opt('port', str(), 'out'), flows: flowsWithIds, ...(profile ? { profile } : {}) };
}

/**
 * The traffic source: one port; frames arriving on it are dropped (counted).
 *
 * @example
 * const src = trafficSourceFactory.create({ flows: [{ kind: 'ping', srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1', dst: '10.0.0.2' }] });
 * src.tick?.(ctx); // sends what is due at ctx.now
 */
export class TrafficSource implements NetworkFunction {
  readonly kind = 'traffic-source';
  readonly ports: readonly PortDecl[];
  readonly cfg: SourceConfig;
  private readonly templates: Uint8Array[];
  /** Offset in the template of: the test header, the L4 checksum, the ICMP sequence field (-1 for UDP). */
  private readonly hdrAt: Int32Array;
  private readonly csAt: Int32Array;
  private readonly icmpSeqAt: Int32Array;
  private readonly baseSum: Float64Array;
  private readonly nextSeq: Float64Array;
  private readonly sentBytes: Float64Array;
  private started = false;
  // When packet 0 of each flow is (or would have been) due.
  private readonly origin: Float64Array;
  /** Day profile: per flow the sequence at the (re)start; the wall clock at the (re)start. */
  private readonly seq0: Float64Array;
  private wall0 = 0;
  private readonly c = { in: 0, out: 0, dropped: 0, forwarded: 0, noBuffer: 0 };

  constructor(cfg: SourceConfig) {
    this.cfg = cfg;
    this.ports = [{ name: cfg.port }];
    const n = cfg.flows.length;
    this.hdrAt = new Int32Array(n);
    this.csAt = new Int32Array(n);
    this.icmpSeqAt = new Int32Array(n);
    this.baseSum = new Float64Array(n);
    this.nextSeq = new Float64Array(n);
    this.sentBytes = new Float64Array(n);
    this.origin = new Float64Array(n);
    this.seq0 = new Float64Array(n);
    this.templates = cfg.flows.map((f, i) => this.buildTemplate(f, i));
  }

  private buildTemplate(f: SourceFlow, i: number): Uint8Array {
    const icmp = f.kind === 'ping';
    const l4len = 8 + f.payloadBytes;
    const eth = { dst: f.dstMac, src: f.srcMac, etherType: f.family === 4 ? 0x0800 : 0x86dd, ...(f.vlan ? { vlans: [{ vid: f.vlan }] } : {}) };
    const l2 = ethernetLength(eth);
    const l3len = f.family === 4 ? 20 : 40;
    const b = new Uint8Array(l2 + l3len + l4len);
    buildEthernet(b, 0, eth);
    const proto = icmp ? (f.family === 4 ? 1 : 58) : 17;
    if (f.family === 4) buildIpv4(b, l2, { protocol: proto, src: f.src as number, dst: f.dst as number, ttl: f.ttl, id: 0, df: true, tos: f.tos, payloadLength: l4len });
    else buildIpv6(b, l2, { nextHeader: proto, hopLimit: f.ttl, src: f.src as Uint8Array, dst: f.dst as Uint8Array, payloadLength: l4len, trafficClass: f.tos, flowLabel: 0 });
    const l4 = l2 + l3len;
    if (icmp) {
      b[l4] = f.family === 4 ? 8 : 128;
      b[l4 + 4] = f.identifier >>> 8;
      b[l4 + 5] = f.identifier & 0xff;
    } else {
      b[l4] = f.srcPort >>> 8;
      b[l4 + 1] = f.srcPort & 0xff;
      b[l4 + 2] = f.dstPort >>> 8;
      b[l4 + 3] = f.dstPort & 0xff;
      b[l4 + 4] = l4len >>> 8;
      b[l4 + 5] = l4len & 0xff;
    }
    const h = l4 + 8;
    b[h] = 0x53;
    b[h + 1] = 0x57;
    b[h + 2] = 0x54;
    b[h + 3] = 0x47;
    b[h + 4] = f.id >>> 24;
    b[h + 5] = (f.id >>> 16) & 0xff;
    b[h + 6] = (f.id >>> 8) & 0xff;
    b[h + 7] = f.id & 0xff;
    // Constant part of the checksum: the pseudo-header (not for ICMPv4) and the message with
    // checksum, sequence and timestamp fields zero.
    let pseudo = 0;
    if (proto !== 1) pseudo = f.family === 4 ? sum16(b, l2 + 12, 8, proto + l4len) : sum16(b, l2 + 8, 32, proto + l4len);
    this.baseSum[i] = foldSum(sum16(b, l4, l4len, pseudo));
    this.hdrAt[i] = h;
    this.csAt[i] = icmp ? l4 + 2 : l4 + 6;
    this.icmpSeqAt[i] = icmp ? l4 + 6 : -1;
    return b;
  }

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    void port;
    this.c.in += batch.count;
    this.c.dropped += batch.count;
    for (let i = 0; i < batch.count; i++) ctx.out.drop(batch.slots[i]!);
  }

  /** Sends every packet due by ctx.now. */
  tick(ctx: ProcessContext): void {
    const { pool, out, now } = ctx;
    const profile = this.cfg.profile;
    const wall = performance.timeOrigin + now;
    if (!this.started) {
      this.started = true;
      this.wall0 = wall;
      this.cfg.flows.forEach((f, i) => {
        const k = this.nextSeq[i]!;
        this.origin[i] = k === 0 ? now + f.startMs : now - k * f.intervalMs;
        this.seq0[i] = k;
      });
    }
    const b = pool.bytes;
    const dv = pool.view;
    const flows = this.cfg.flows;
    for (let i = 0; i < flows.length; i++) {
      const f = flows[i]!;
      const tpl = this.templates[i]!;
      const len = tpl.length;
      // Under a profile: sequences up to seq0 + ∫m/interval are due (one sine per flow and tick).
      let dueSeq = Infinity;
      if (profile) {
        const from = this.wall0 + (this.seq0[i] === 0 ? f.startMs : 0);
        dueSeq = wall < from ? -1 : this.seq0[i]! + dayIntegral(profile, from, wall) / f.intervalMs;
      }
      for (;;) {
        const seq = this.nextSeq[i]!;
        if (f.count !== 0 && seq >= f.count) break;
        if (profile ? seq > dueSeq : this.origin[i]! + seq * f.intervalMs > now) break;
        const slot = pool.alloc();
        if (slot < 0) {
          this.c.noBuffer++;
          return;
        }
        const off = pool.frameOffset(slot);
        b.set(tpl, off);
        const h = off + this.hdrAt[i]!;
        const s32 = seq >>> 0;
        b[h + 8] = s32 >>> 24;
        b[h + 9] = s32 >>> 16;
        b[h + 10] = s32 >>> 8;
        b[h + 11] = s32;
        dv.setFloat64(h + 12, now);
        let sum = this.baseSum[i]! + (s32 >>> 16) + (s32 & 0xffff);
        for (let w = h + 12; w < h + 20; w += 2) sum += (b[w]! << 8) | b[w + 1]!;
        const qa = this.icmpSeqAt[i]!;
        if (qa >= 0) {
          b[off + qa] = (s32 >>> 8) & 0xff;
          b[off + qa + 1] = s32 & 0xff;
          sum += s32 & 0xffff;
        }
        let cs = ~foldSum(sum) & 0xffff;
        if (cs === 0 && qa < 0) cs = 0xffff; // UDP: a computed 0 is sent as all ones (RFC 768)
        const ca = off + this.csAt[i]!;
        b[ca] = cs >>> 8;
        b[ca + 1] = cs & 0xff;
        this.nextSeq[i] = seq + 1;
        this.sentBytes[i] = this.sentBytes[i]! + len;
        this.c.out++;
        out.send(0, slot, off, len);
      }
    }
  }

  counters(): Counters {
    return {
      ...this.c,
      flows: this.cfg.flows.map((f, i) => ({ id: f.id, packets: this.nextSeq[i]!, bytes: this.sentBytes[i]! })),
    };
  }

  /** Per flow the next sequence number, and the schedule origin relative to it. */
  exportState(): Plain {
    return { flows: this.cfg.flows.map((f, i) => ({ id: f.id, nextSeq: this.nextSeq[i]!, bytes: this.sentBytes[i]! })) };
  }

  /** Continues each flow at its sequence number; the schedule restarts from the next tick. */
  importState(state: Plain): void {
    const o = strictObject(state, 'state', ['flows']);
    const rows = o.req('flows', arrayOf((v, p) => {
      const r = strictObject(v, p, ['id', 'nextSeq', 'bytes']);
      return { id: r.req('id', int(0, 0xffffffff)), nextSeq: r.req('nextSeq', int(0, 2 ** 52)), bytes: r.opt('bytes', num(0, 2 ** 60), 0) };
    }));
    for (const r of rows) {
      const i = this.cfg.flows.findIndex((f) => f.id === r.id);
      if (i < 0) throw new ConfigError('state.flows', `no flow with id ${r.id}`);
      this.nextSeq[i] = r.nextSeq;
      this.sentBytes[i] = r.bytes;
    }
    // The schedule restarts at the next tick, with packet nextSeq due at once.
    this.started = false;
  }
}

export const trafficSourceFactory: FunctionFactory = {
  kind: 'traffic-source',
  summary: 'test flows (VoIP, IPTV, ping, UDP) at a constant rate or over a compressed day, with flow id, sequence and timestamp in the payload',
  create: (config: unknown) => new TrafficSource(parseSourceConfig(config)),
  ports: (config: unknown) => [{ name: parseSourceConfig(config).port }],
};
