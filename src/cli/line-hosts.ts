/**
 * The end hosts of the N-router line (line-lab.ts) in a thread of their own, as they would be on
 * machines of their own: one UDP socket stands for every router's host LAN (VXLAN, VNI
 * `lanVni(i)`), sends one IPv4/UDP datagram from every host to every other and counts the
 * ordered pairs that arrived. The agents' domain 0 (the lab's main thread) then carries only its
 * own datagrams. Messages: → `ready {port}`; ← `go {endpoints, deadlineMs}` (the agent endpoint
 * that serves each router's LAN); → `first` (a datagram crossed the line both ways), `round
 * {sent, fresh, delivered}` (when asked with `rounds`), then `all {delivered}` or
 * `timeout {delivered, first}`.
 *
 * @example
 * const w = new Worker(new URL('./line-hosts.js', import.meta.url), { workerData: { n: 200 } });
 */
import dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { literalLookup } from '../host/uplink.js';
import { lanOf } from '../control/routing-lab.js';
import { udpFrame } from '../packet/frames.js';
import { VXLAN_HLEN, buildVxlan } from '../packet/vxlan.js';

/** VNI of router i's host LAN (far from the agents' per-link VNIs, which hash the network name). */
export const lanVni = (i: number): number => 0xfe0000 + i;

export type HostsMessage =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'first' }
  | { readonly type: 'round'; readonly round: number; readonly sent: number; readonly fresh: number; readonly delivered: number }
  | { readonly type: 'all'; readonly delivered: number }
  | { readonly type: 'timeout'; readonly delivered: number; readonly first: boolean };

export interface HostsGo {
  readonly type: 'go';
  readonly endpoints: readonly { readonly address: string; readonly port: number }[];
  readonly deadlineMs: number;
  readonly rounds: boolean;
}

async function main(n: number): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const post = (m: HostsMessage): void => port.postMessage(m);
  const sock = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  // A round's replies arrive in bursts: with the default 208 KiB (~270 small datagrams)
  // thousands were lost and cost resend rounds. 4 MiB, as the agents' uplinks ask (capped by
  // net.core.rmem_max).
  try {
    sock.setRecvBufferSize(4 << 20);
    sock.setSendBufferSize(4 << 20);
  } catch {
    // Kept at the system's size: losses only cost resends.
  }
  // Every datagram prebuilt (VXLAN header + frame), payload tagged with (from, to).
  const frames: Buffer[][] = [];
  for (let i = 0; i < n; i++) {
    const s = lanOf(i);
    const row: Buffer[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const payload = new Uint8Array(18);
      new DataView(payload.buffer).setUint16(0, i);
      new DataView(payload.buffer).setUint16(2, j);
      const f = udpFrame({ srcMac: s.hostMac, dstMac: s.routerMac, src: s.host4, dst: lanOf(j).host4, srcPort: 1000, dstPort: 2000, ttl: 255, payload });
      const d = Buffer.alloc(VXLAN_HLEN + f.length);
      buildVxlan(d, 0, lanVni(i));
      d.set(f, VXLAN_HLEN);
      row.push(d);
    }
    frames.push(row);
  }
  const total = n * (n - 1);
  const seen = new Uint8Array(n * n);
  let delivered = 0;
  let firstBoth = 0;
  let onAll: (() => void) | undefined;
  sock.on('message', (m: Buffer) => {
    // VXLAN 8 + Ethernet 14 + IPv4 20 + UDP 8, then the tag.
    if (m.length < VXLAN_HLEN + 42 + 4) return;
    const from = m.readUInt16BE(VXLAN_HLEN + 42);
    const to = m.readUInt16BE(VXLAN_HLEN + 44);
    if (from >= n || to >= n || m.readUIntBE(4, 3) !== lanVni(to)) return;
    const k = from * n + to;
    if (seen[k] === 0) {
      seen[k] = 1;
      delivered++;
      if ((from === 0 && to === n - 1) || (from === n - 1 && to === 0)) firstBoth++;
      if (delivered === total) onAll?.();
    }
  });
  const going = new Promise<HostsGo>((resolve) => port.once('message', resolve));
  post({ type: 'ready', port: sock.address().port });
  const go = await going;
  const deadline = performance.now() + go.deadlineMs;
  // A connected socket per agent endpoint sends (no address to parse, no route lookup per
  // datagram, as the agents' uplinks send); replies arrive on `sock`, the port the manifest names.
  const senders = new Map<string, dgram.Socket>();
  for (const ep of go.endpoints) {
    const key = `${ep.address}|${ep.port}`;
    if (senders.has(key)) continue;
    const s = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
    // ICMP errors reach a connected socket: a datagram lost costs a resend, as before.
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    try {
      s.setSendBufferSize(4 << 20);
    } catch {
      // The system's size.
    }
    await new Promise<void>((resolve) => s.connect(ep.port, ep.address, resolve));
    senders.set(key, s);
  }
  const via = go.endpoints.map((ep) => senders.get(`${ep.address}|${ep.port}`) as dgram.Socket);
  const send = (i: number, k: number): void => {
    (via[i] as dgram.Socket).send(frames[i]![k]!);
  };
  const finish = (m: HostsMessage): void => {
    post(m);
    sock.close();
    for (const s of senders.values()) s.close();
  };
  // The domains start: probe the two ends until a datagram has crossed the line both ways.
  while (firstBoth < 2) {
    if (performance.now() > deadline) return finish({ type: 'timeout', delivered, first: false });
    send(0, n - 2);
    send(n - 1, 0);
    await new Promise((r) => setTimeout(r, 5));
  }
  post({ type: 'first' });
  // Every pair, a router's row at a time (yielding so that replies are read); then the missing
  // ones again. At most `window` datagrams in flight, as a host's socket buffer would allow: a
  // burst of 39,800 overflows the agent's UDP receive buffer, and lost datagrams only cost
  // resend rounds.
  const all = new Promise<void>((resolve) => (onAll = resolve));
  if (delivered === total) onAll?.();
  const window = 2048;
  for (let round = 0; delivered < total; round++) {
    if (performance.now() > deadline) return finish({ type: 'timeout', delivered, first: true });
    let sent = 0;
    const base = delivered;
    for (let i = 0; i < n; i++) {
      for (let j = 0, k = 0; j < n; j++) {
        if (j === i) continue;
        if (seen[i * n + j] === 0) {
          send(i, k);
          sent++;
        }
        k++;
      }
      await new Promise((r) => setImmediate(r));
      // Wait while more than `window` are in flight and replies still come (none for 50 ms:
      // the rest are lost, the next round resends them). A fixed number of waits let a starved
      // agent fall behind by its whole pool (8,192 slots) and drop thousands.
      for (let last = delivered, since = performance.now(); sent - (delivered - base) > window; ) {
        await new Promise((r) => setTimeout(r, 1));
        if (delivered !== last) (last = delivered), (since = performance.now());
        else if (performance.now() - since > 50) break;
      }
    }
    if (go.rounds) post({ type: 'round', round, sent, fresh: delivered - base, delivered });
    await Promise.race([all, new Promise((r) => setTimeout(r, round === 0 ? 200 : 50))]);
  }
  finish({ type: 'all', delivered });
}

if (parentPort && (workerData as { lineHosts?: number } | null)?.lineHosts !== undefined) void main((workerData as { lineHosts: number }).lineHosts);
