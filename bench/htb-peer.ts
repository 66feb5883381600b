/**
 * Traffic source and sink for the HTB comparison, run inside network namespaces
 * (`ip netns exec NS node dist/bench/htb-peer.js ...`). Each datagram carries its send time
 * (CLOCK_MONOTONIC via process.hrtime, the same clock in every namespace), so the sink
 * measures one-way latency.
 *
 *   send DST PAYLOAD MS PORT:PPS[,PORT:PPS...]
 *   recv WARM_MS MS PORT[,PORT...]     → prints {port: {bytes, frames, p50us, p99us}} as JSON
 */
import dgram from 'node:dgram';

function send(dst: string, payload: number, ms: number, flows: { port: number; pps: number }[]): void {
  // One socket per flow: a shared socket's send buffer would be one FIFO in front of HTB.
  const socks = flows.map(() => dgram.createSocket('udp4'));
  const t0 = process.hrtime.bigint();
  const sent = flows.map(() => 0);
  let skipped = 0;
  const tick = (): void => {
    const now = process.hrtime.bigint();
    const el = Number(now - t0) / 1e9;
    if (el * 1000 > ms) {
      for (const sock of socks) sock.close();
      if (skipped > 0) process.stderr.write(`htb-peer: ${skipped} datagrams not sent (socket busy)\n`);
      return;
    }
    flows.forEach((f, i) => {
      // Never more than 5 ms of arrivals at once, so a slow tick does not become a burst.
      const due = Math.min(Math.floor(f.pps * el) - (sent[i] as number), Math.ceil(f.pps * 0.005));
      const sock = socks[i] as dgram.Socket;
      for (let k = 0; k < due; k++) {
        // A socket whose buffer is full drops at the source, as a NIC queue would, instead of
        // queueing in user space (which would count as link latency).
        if (sock.getSendQueueCount() > 64) {
          skipped++;
          continue;
        }
        const b = Buffer.alloc(payload);
        b.writeBigUInt64BE(process.hrtime.bigint(), 0);
        sock.send(b, f.port, dst);
      }
      if (due > 0) sent[i] = Math.floor(f.pps * el);
    });
    setImmediate(tick);
  };
  tick();
}

function recv(warmMs: number, ms: number, ports: number[]): void {
  const stats = new Map<number, { bytes: number; frames: number; lat: number[] }>();
  const t0 = process.hrtime.bigint();
  const socks = ports.map((port) => {
    const st = { bytes: 0, frames: 0, lat: [] as number[] };
    stats.set(port, st);
    const s = dgram.createSocket('udp4');
    s.on('message', (msg) => {
      const now = process.hrtime.bigint();
      const el = Number(now - t0) / 1e6;
      if (el < warmMs || el > warmMs + ms || msg.length < 8) return;
      st.bytes += msg.length;
      st.frames++;
      st.lat.push(Number(now - msg.readBigUInt64BE(0)) / 1000);
    });
    s.bind(port);
    return s;
  });
  setTimeout(() => {
    const out: Record<string, { bytes: number; frames: number; p50us: number; p99us: number }> = {};
    for (const [port, st] of stats) {
      st.lat.sort((a, b) => a - b);
      const q = (p: number): number => st.lat[Math.min(st.lat.length - 1, Math.floor(p * st.lat.length))] ?? NaN;
      out[String(port)] = { bytes: st.bytes, frames: st.frames, p50us: q(0.5), p99us: q(0.99) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
    for (const s of socks) s.close();
  }, warmMs + ms + 300);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'send') {
  const [dst, payload, ms, flows] = args;
  send(
    dst ?? '127.0.0.1',
    Number(payload),
    Number(ms),
    (flows ?? '').split(',').map((f) => {
      const [port, pps] = f.split(':');
      return { port: Number(port), pps: Number(pps) };
    }),
  );
} else if (mode === 'recv') {
  const [warm, ms, ports] = args;
  recv(Number(warm), Number(ms), (ports ?? '').split(',').map(Number));
}
