/**
 * Traffic source and sink for the HTB comparison, run inside network namespaces
 * (`ip netns exec NS node dist/bench/htb-peer.js ...`). Each datagram carries its send time
 * (CLOCK_MONOTONIC via process.hrtime, the same clock in every namespace), so the sink
 * measures one-way latency, and both ends count the datagrams *sent* within the same absolute
 * window [FROM_NS, TO_NS], so that received / sent is exactly what the path lost.
 *
 *   send DST PAYLOAD FROM_NS TO_NS PORT:PPS[,PORT:PPS...]  → prints {port: sent} as JSON
 *   recv FROM_NS TO_NS PORT[,PORT...]                      → prints {port: {bytes, frames, p50us, p99us}}
 */
import dgram from 'node:dgram';

function send(dst: string, payload: number, from: bigint, to: bigint, flows: { port: number; pps: number }[]): void {
  // One socket per flow: a shared socket's send buffer would be one FIFO in front of HTB.
  const socks = flows.map(() => dgram.createSocket('udp4'));
  const t0 = process.hrtime.bigint();
  const due0 = flows.map(() => 0);
  const counted = flows.map(() => 0);
  const tick = (): void => {
    const now = process.hrtime.bigint();
    if (now > to + 50_000_000n) {
      for (const sock of socks) sock.close();
      const out: Record<string, number> = {};
      flows.forEach((f, i) => (out[String(f.port)] = counted[i] as number));
      process.stdout.write(JSON.stringify(out) + '\n');
      return;
    }
    const el = Number(now - t0) / 1e9;
    const inWindow = now >= from && now <= to;
    flows.forEach((f, i) => {
      // Never more than 5 ms of arrivals at once, so a slow tick does not become a burst.
      const due = Math.min(Math.floor(f.pps * el) - (due0[i] as number), Math.ceil(f.pps * 0.005));
      const sock = socks[i] as dgram.Socket;
      for (let k = 0; k < due; k++) {
        // A socket whose buffer is full drops at the source, as a NIC queue would, instead of
        // queueing in user space (which would count as link latency). Not counted as sent.
        if (sock.getSendQueueCount() > 64) continue;
        const b = Buffer.alloc(payload);
        b.writeBigUInt64BE(now, 0);
        sock.send(b, f.port, dst);
        if (inWindow) counted[i] = (counted[i] as number) + 1;
      }
      if (due > 0) due0[i] = Math.floor(f.pps * el);
    });
    setImmediate(tick);
  };
  tick();
}

function recv(from: bigint, to: bigint, ports: number[]): void {
  const stats = new Map<number, { bytes: number; frames: number; lat: number[] }>();
  const socks = ports.map((port) => {
    const st = { bytes: 0, frames: 0, lat: [] as number[] };
    stats.set(port, st);
    const s = dgram.createSocket('udp4');
    s.on('message', (msg) => {
      if (msg.length < 8) return;
      const now = process.hrtime.bigint();
      const sentAt = msg.readBigUInt64BE(0);
      if (sentAt < from || sentAt > to) return;
      st.bytes += msg.length;
      st.frames++;
      st.lat.push(Number(now - sentAt) / 1000);
    });
    s.bind(port);
    return s;
  });
  // Stragglers sent before `to` may still be queued: wait 500 ms more.
  setTimeout(() => {
    const out: Record<string, { bytes: number; frames: number; p50us: number; p99us: number }> = {};
    for (const [port, st] of stats) {
      st.lat.sort((a, b) => a - b);
      const q = (p: number): number => st.lat[Math.min(st.lat.length - 1, Math.floor(p * st.lat.length))] ?? NaN;
      out[String(port)] = { bytes: st.bytes, frames: st.frames, p50us: q(0.5), p99us: q(0.99) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
    for (const s of socks) s.close();
  }, Math.max(0, Number(to - process.hrtime.bigint()) / 1e6) + 500);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'send') {
  const [dst, payload, from, to, flows] = args;
  send(
    dst ?? '127.0.0.1',
    Number(payload),
    BigInt(from ?? '0'),
    BigInt(to ?? '0'),
    (flows ?? '').split(',').map((f) => {
      const [port, pps] = f.split(':');
      return { port: Number(port), pps: Number(pps) };
    }),
  );
} else if (mode === 'recv') {
  const [from, to, ports] = args;
  recv(BigInt(from ?? '0'), BigInt(to ?? '0'), (ports ?? '').split(',').map(Number));
}
