/**
 * What the domain tests share (src/host/domain*.test.ts): tagged and numbered frames, taps that
 * keep what reaches an external attachment, batched injection, and a poll until a condition holds.
 *
 * @example
 * const t = tap(h, 'A', 'A:out');
 * inject(h, from, [frame(1, 0), frame(1, 1)]);
 * await until(() => t.got.length === 2);
 */
import { Batch } from '../packet/pool.js';
import type { HostServer } from './hostserver.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An Ethernet frame: dst, src (last byte = `tag`), EtherType, then a 32-bit sequence at byte 15 (`first` at byte 14). */
export function frame(tag: number, seq: number, etherType = 0x88b6, len = 64, first?: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 0xff, 0x02, 0, 0, 0, 0, tag], 0);
  f[12] = etherType >> 8;
  f[13] = etherType & 0xff;
  new DataView(f.buffer).setUint32(15, seq);
  if (first !== undefined) f[14] = first;
  return f;
}

/** An external attachment and a copy of every frame that reached it. */
export interface Tap {
  att: number;
  got: Uint8Array[];
}

/** Attaches a tap labelled `label` to `network` of `h` (it keeps copies; the host frees the slots). */
export function tap(h: HostServer, network: string, label: string): Tap {
  const t: Tap = { att: 0, got: [] };
  t.att = h.attachExternal(network, label, (b) => {
    for (let k = 0; k < b.count; k++) t.got.push(h.pool.frame(b, k).slice());
    return false;
  });
  return t;
}

/** Forwards `frames` from attachment `from` in full batches; stops early when the pool is out of slots. */
export function inject(h: HostServer, from: number, frames: Uint8Array[]): void {
  const b = new Batch();
  for (const f of frames) {
    if (b.full) {
      h.forward(from, b);
      b.clear();
    }
    if (h.pool.load(f, b) < 0) break;
  }
  h.forward(from, b);
}

/** Polls `cond` every 5 ms; throws 'timed out' after `ms`. */
export async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}
