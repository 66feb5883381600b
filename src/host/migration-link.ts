/**
 * An emulated link between two HostServers of one process (two servers of an embedded
 * datacenter), carrying any number of channels: each channel is a pair of bridge attachments,
 * one on each server, and a frame sent to one end arrives at the other, copied into the
 * receiving server's pool (two servers share no memory), after the link's delay, in order.
 * Migration across servers uses a channel per virtual NIC to make the target reachable from
 * the source server's bridge before the switch.
 *
 * With no delay, jitter, bandwidth or loss the crossing is synchronous (delivered within the
 * sending pump pass); otherwise a 1 ms timer (and every send) delivers what is due.
 *
 * @example
 * const link = new ServerLink(s1, s2, { delay: 0.0001 });
 * const ch = link.channel('net', 'r1.eth0');   // ch.a on s1, ch.b on s2
 * s2.bridge.wire(ch.b, targetVnic);            // s1 frames sent to ch.a reach the target
 * link.close();
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import { Link, type LinkInit } from './link.js';
import type { HostServer } from './hostserver.js';

interface Way {
  link: Link;
  from: HostServer;
  to: HostServer;
  toAtt: number;
  // Per way: a delivery may re-enter another way synchronously (an endpoint that answers at once).
  out: Batch;
  copy: Batch;
}

export interface LinkChannel {
  /** Attachment on the first server (`a`). */
  a: number;
  /** Attachment on the second server (`b`). */
  b: number;
}

export class ServerLink {
  private readonly ways: Way[] = [];
  /** Frames the link dropped (queue full, random loss). */
  lost = 0;
  private readonly dropped = new Batch(MAX_BATCH);
  private readonly instant: boolean;
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();

  constructor(
    readonly a: HostServer,
    readonly b: HostServer,
    readonly init: LinkInit = {},
  ) {
    this.instant = !init.delay && !init.jitter && !init.bandwidth && !init.loss;
    if (!this.instant) {
      this.timer = setInterval(() => this.poll(), 1);
      this.timer.unref();
    }
  }

  /** A new channel of `network` across the link. */
  channel(network: string, label: string): LinkChannel {
    // An instant link has no transmit queue to overflow (its frames never wait).
    const li: LinkInit = this.instant && this.init.queue === undefined ? { ...this.init, queue: 2 ** 30 } : this.init;
    const ab: Way = { link: new Link({ ...li, seed: this.ways.length + 1 }), from: this.a, to: this.b, toAtt: -1, out: new Batch(MAX_BATCH), copy: new Batch(MAX_BATCH) };
    const ba: Way = { link: new Link({ ...li, seed: this.ways.length + 2 }), from: this.b, to: this.a, toAtt: -1, out: new Batch(MAX_BATCH), copy: new Batch(MAX_BATCH) };
    const ea = this.a.attachExternal(network, `${label}@${this.a.name}→${this.b.name}`, (batch) => this.send(ab, batch));
    const eb = this.b.attachExternal(network, `${label}@${this.b.name}→${this.a.name}`, (batch) => this.send(ba, batch));
    ab.toAtt = eb;
    ba.toAtt = ea;
    this.ways.push(ab, ba);
    return { a: ea, b: eb };
  }

  private now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  private send(w: Way, batch: Batch): boolean {
    this.dropped.clear();
    w.link.send(batch, this.now(), this.dropped);
    this.lost += this.dropped.count;
    for (let k = 0; k < this.dropped.count; k++) w.from.pool.release(this.dropped.slots[k] as number);
    this.deliver(w);
    return true;
  }

  /** Delivers what every way carried by now. */
  poll(): void {
    for (const w of this.ways) this.deliver(w);
  }

  private deliver(w: Way): void {
    const now = this.instant ? Infinity : this.now();
    for (;;) {
      const out = w.out;
      out.clear();
      const n = w.link.poll(now, out);
      if (n === 0) return;
      const cp = w.copy;
      cp.clear();
      const src = w.from.pool;
      const dst = w.to.pool;
      for (let k = 0; k < n; k++) {
        const s = out.slots[k] as number;
        const d = dst.alloc();
        if (d >= 0) {
          const off = out.offs[k] as number;
          const len = out.lens[k] as number;
          const doff = dst.frameOffset(d);
          dst.bytes.set(src.bytes.subarray(off, off + len), doff);
          cp.push(d, doff, len);
        } else w.to.drops.noBuffer++;
        src.release(s);
      }
      w.to.forward(w.toAtt, cp);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
