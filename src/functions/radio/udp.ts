/**
 * IQ over UDP: each datagram is the IQ header of iq.ts (16 bytes: version, format, count, stream
 * id, sample index) followed by the samples — the IQ frame without its Ethernet header. The
 * receiver turns datagrams into IQ frames (Ethernet type 0x88B5) for the radio functions, and
 * counts datagrams that are not valid IQ (dropped, never thrown).
 *
 * @example
 * const rx = new UdpIqReceiver({ onFrames: (frames) => fn.process(...) });
 * const port = await rx.start(0);           // 127.0.0.1, a free port
 * await sendIqUdp('127.0.0.1', port, 1, 0, samples, 200);
 * await rx.stop();
 */
import { createSocket, type Socket } from 'node:dgram';
import { ETH_HEADER, IQ_ETHERTYPE, IQ_OK, IqHeader, encodeIqFrame, parseIqHeader } from './iq.js';

export interface UdpIqReceiverInit {
  /** Called once per datagram burst (each event-loop turn's datagrams together). */
  readonly onFrames: (frames: Uint8Array[]) => void;
  readonly host?: string;
}

export class UdpIqReceiver {
  private sock: Socket | null = null;
  private pending: Uint8Array[] = [];
  private scheduled = false;
  readonly counters = { datagrams: 0, frames: 0, malformed: 0 };
  private readonly h = new IqHeader();

  constructor(private readonly init: UdpIqReceiverInit) {}

  /** Binds (port 0 = any free port) and returns the bound port. */
  start(port = 0): Promise<number> {
    const sock = createSocket('udp4');
    this.sock = sock;
    sock.on('message', (msg: Buffer) => this.onMessage(msg));
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, this.init.host ?? '127.0.0.1', () => resolve(sock.address().port));
    });
  }

  private onMessage(msg: Buffer): void {
    this.counters.datagrams++;
    const f = new Uint8Array(ETH_HEADER + msg.length);
    f.fill(0xff, 0, 6);
    f[6] = 0x02;
    f[12] = IQ_ETHERTYPE >>> 8;
    f[13] = IQ_ETHERTYPE & 0xff;
    f.set(msg, ETH_HEADER);
    if (parseIqHeader(f, 0, f.length, this.h) !== IQ_OK) {
      this.counters.malformed++;
      return;
    }
    this.counters.frames++;
    this.pending.push(f);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        const batch = this.pending;
        this.pending = [];
        this.init.onFrames(batch);
      });
    }
  }

  stop(): Promise<void> {
    const s = this.sock;
    this.sock = null;
    return new Promise((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }
}

/**
 * Sends samples as IQ datagrams of `perDatagram` samples (tests, replay of recordings).
 *
 * @example
 * await sendIqUdp('127.0.0.1', port, 3, 0, samples);
 */
export async function sendIqUdp(host: string, port: number, streamId: number, firstIndex: number, samples: Float32Array, perDatagram = 200): Promise<number> {
  const sock = createSocket('udp4');
  const n = samples.length / 2;
  let sent = 0;
  try {
    for (let i = 0; i < n; i += perDatagram) {
      const f = encodeIqFrame(streamId, firstIndex + i, samples, i, Math.min(perDatagram, n - i));
      await new Promise<void>((resolve, reject) => sock.send(f.subarray(ETH_HEADER), port, host, (err) => (err ? reject(err) : resolve())));
      sent++;
    }
  } finally {
    await new Promise<void>((resolve) => sock.close(() => resolve()));
  }
  return sent;
}
