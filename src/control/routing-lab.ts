/**
 * An in-process wire between router function instances, to check computed FIBs with real
 * forwarding (ARP, ND, TTL, LPM all as the routers do them) without a host runtime: each
 * linked port pair is a point-to-point cable, frames move in batches of up to 256 between
 * routers' `process` calls, and frames leaving an unlinked port are handed to a sink (the end
 * hosts of that LAN). Also the topology generator of the "N-router line" (each router with a
 * host LAN, IPv4 and IPv6), used by the tests and the control benchmark.
 */
import { Batch, MAX_BATCH, PacketPool } from '../packet/pool.js';
import type { Emit, NetworkFunction, ProcessContext } from '../functions/contract.js';
import type { SoftwareNetworkSpec } from './manifest/types.js';

export class LabError extends Error {
  override readonly name = 'LabError';
}

const hex2 = (n: number): string => (n & 0xff).toString(16).padStart(2, '0');
const macText = (a: number, i: number, k: number): string => `02:${hex2(a)}:${hex2(i >> 16)}:${hex2(i >> 8)}:${hex2(i)}:${hex2(k)}`;

/** Addresses of router i's host LAN in `lineNetwork`/`labAddresses`: its host is `.2` / `::2`. */
export function lanOf(i: number): { v4: string; v6: string; router4: string; router6: string; host4: string; host6: string; hostMac: number; routerMac: number } {
  const b2 = 128 + ((i >> 8) & 127);
  const b3 = i & 255;
  const v6 = `2001:db8:1:${i.toString(16)}`;
  return {
    v4: `10.${b2}.${b3}.0/24`,
    v6: i === 0 ? '2001:db8:1::/64' : `${v6}::/64`,
    router4: `10.${b2}.${b3}.1`,
    router6: `${v6}::1`,
    host4: `10.${b2}.${b3}.2`,
    host6: `${v6}::2`,
    hostMac: 0x020100000000 + i * 256,
    routerMac: 0x020000000000 + i * 256,
  };
}

/** Router config pieces that keep many small routers cheap (few neighbours, small hold queues). */
const SMALL = { neighbor: { maxEntries: 64, holdTotal: 64, holdQueue: 16 }, icmp: { errors: true, ratelimitMs: 0, msgsPerSec: 0 } };

/**
 * A line of `n` routers r0 … r(n−1) (n ≤ 32768), each with a host LAN on `lan` (a stub: the
 * host is a static neighbour) and /30 (IPv4) + /64 (IPv6) transit links `right` ↔ `left`.
 * @example const spec = lineNetwork(200); const { routes } = computeRoutes(spec);
 */
export function lineNetwork(n: number, o: { latency?: string } = {}): SoftwareNetworkSpec {
  if (!(n >= 1 && n <= 32768)) throw new LabError(`line of ${n} routers: need 1..32768`);
  const fns: SoftwareNetworkSpec['functions'] = [];
  const transit = (k: number, side: 1 | 2): { v4: string; v6: string } => {
    const base = k * 4 + side;
    return { v4: `10.${(base >> 16) & 127}.${(base >> 8) & 255}.${base & 255}/30`, v6: `2001:db8:2:${k.toString(16)}::${side}/64` };
  };
  for (let i = 0; i < n; i++) {
    const lan = lanOf(i);
    const interfaces: { name: string; mac: string; addresses: string[] }[] = [{ name: 'lan', mac: macText(0, i, 0), addresses: [`${lan.router4}/24`, `${lan.router6}/64`] }];
    if (i > 0) {
      const t = transit(i - 1, 2);
      interfaces.push({ name: 'left', mac: macText(0, i, 1), addresses: [t.v4, t.v6] });
    }
    if (i < n - 1) {
      const t = transit(i, 1);
      interfaces.push({ name: 'right', mac: macText(0, i, 2), addresses: [t.v4, t.v6] });
    }
    fns.push({
      name: `r${i}`,
      kind: 'router',
      config: {
        interfaces,
        neighbors: [
          { interface: 'lan', address: lan.host4, mac: macText(1, i, 0) },
          { interface: 'lan', address: lan.host6, mac: macText(1, i, 0) },
        ],
        ...SMALL,
      },
    });
  }
  const links: NonNullable<SoftwareNetworkSpec['links']> = [];
  for (let i = 0; i + 1 < n; i++) links.push({ endpoints: [`r${i}:right`, `r${i + 1}:left`], ...(o.latency ? { latency: o.latency } : {}) });
  return { functions: fns, links, protocols: ['ipv4', 'ipv6'] };
}

/** Frames that left a port no cable is attached to. */
export type Sink = (fn: number, port: number, frame: Uint8Array) => void;

/**
 * Cables between functions' ports, and the loop that carries frames until nothing moves.
 * @example
 * const w = new Wire([r0, r1], (fn, port, frame) => got.push(frame));
 * w.connect(0, 1, 1, 0);
 * w.inject(0, 0, [frame]);
 * w.run();
 */
export class Wire {
  readonly pool: PacketPool;
  now = 0;
  private readonly peer: Int32Array;
  private readonly out: number[][][];
  private readonly pending: number[] = [];
  private readonly queued: Uint8Array;
  private readonly emits: Emit[];
  private readonly batch = new Batch();
  private readonly maxPorts: number;
  /** Frames carried over cables (one per hop). */
  hops = 0;

  constructor(
    readonly fns: readonly NetworkFunction[],
    private readonly sink: Sink,
    slots = 16384,
  ) {
    this.pool = new PacketPool({ slots });
    this.maxPorts = Math.max(1, ...fns.map((f) => f.ports.length));
    this.peer = new Int32Array(fns.length * this.maxPorts).fill(-1);
    this.out = fns.map((f) => f.ports.map(() => []));
    this.queued = new Uint8Array(fns.length);
    this.emits = fns.map((_, i) => ({
      send: (port: number, slot: number, off: number, len: number): void => {
        const q = this.out[i]?.[port];
        if (!q) {
          this.pool.release(slot);
          return;
        }
        q.push(slot, off, len);
        if (!this.queued[i]) {
          this.queued[i] = 1;
          this.pending.push(i);
        }
      },
      drop: (slot: number): void => this.pool.release(slot),
    }));
  }

  /** A cable between port `pa` of function `a` and port `pb` of function `b`. */
  connect(a: number, pa: number, b: number, pb: number): void {
    for (const [f, p] of [[a, pa], [b, pb]] as const) {
      if (!this.fns[f] || p < 0 || p >= (this.fns[f] as NetworkFunction).ports.length) throw new LabError(`no port ${p} on function ${f}`);
      if ((this.peer[f * this.maxPorts + p] as number) !== -1) throw new LabError(`port ${p} of function ${f} already cabled`);
    }
    this.peer[a * this.maxPorts + pa] = b * this.maxPorts + pb;
    this.peer[b * this.maxPorts + pb] = a * this.maxPorts + pa;
  }

  /** Cuts the cable at port `p` of function `f` (both ends); frames sent there are lost from now on. */
  disconnect(f: number, p: number): void {
    const to = this.peer[f * this.maxPorts + p] as number;
    if (to < 0) throw new LabError(`port ${p} of function ${f} is not cabled`);
    this.peer[to] = -2;
    this.peer[f * this.maxPorts + p] = -2;
  }

  private ctx(i: number): ProcessContext {
    return { pool: this.pool, out: this.emits[i] as Emit, now: this.now };
  }

  /** Feeds frames into port `port` of function `fn` (in batches of 256) and queues what it emits. */
  inject(fn: number, port: number, frames: readonly Uint8Array[]): void {
    const f = this.fns[fn];
    if (!f) throw new LabError(`no function ${fn}`);
    const ctx = this.ctx(fn);
    for (let k = 0; k < frames.length; k += MAX_BATCH) {
      this.batch.clear();
      for (let j = k; j < Math.min(frames.length, k + MAX_BATCH); j++) {
        if (this.pool.load(frames[j] as Uint8Array, this.batch) < 0) throw new LabError('pool exhausted');
      }
      f.process(port, this.batch, ctx);
    }
  }

  /** Carries frames until no function has anything to send; returns the number of rounds. */
  run(maxRounds = 1_000_000): number {
    let rounds = 0;
    const b = this.batch;
    const mp = this.maxPorts;
    while (this.pending.length > 0) {
      if (++rounds > maxRounds) throw new LabError(`still moving after ${maxRounds} rounds (a forwarding loop?)`);
      const i = this.pending.shift() as number;
      this.queued[i] = 0;
      const ports = this.out[i] as number[][];
      for (let p = 0; p < ports.length; p++) {
        const q = ports[p] as number[];
        if (q.length === 0) continue;
        ports[p] = [];
        const to = this.peer[i * mp + p] as number;
        if (to === -2) {
          for (let k = 0; k < q.length; k += 3) this.pool.release(q[k] as number);
          continue;
        }
        if (to < 0) {
          for (let k = 0; k < q.length; k += 3) {
            const slot = q[k] as number;
            this.sink(i, p, this.pool.bytes.subarray(q[k + 1] as number, (q[k + 1] as number) + (q[k + 2] as number)));
            this.pool.release(slot);
          }
          continue;
        }
        const fn = Math.floor(to / mp);
        const port = to - fn * mp;
        const f = this.fns[fn] as NetworkFunction;
        const ctx = this.ctx(fn);
        this.hops += q.length / 3;
        for (let k = 0; k < q.length; ) {
          b.clear();
          for (; k < q.length && b.count < MAX_BATCH; k += 3) b.push(q[k] as number, q[k + 1] as number, q[k + 2] as number);
          f.process(port, b, ctx);
        }
      }
    }
    return rounds;
  }

  /** Runs every function's timers once (retries, ageing). */
  tick(): void {
    this.fns.forEach((f, i) => f.tick?.(this.ctx(i)));
  }
}
