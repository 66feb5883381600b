/**
 * Test harness for network functions (imported by *.test.ts only): feeds frames through
 * `process` from a real PacketPool, collects what leaves each port as bytes, checks that every
 * slot was sent or dropped exactly once, and fuzzes with mutated and truncated frames.
 *
 * @example
 * const h = new Harness(fn);
 * const out = h.run(0, [frame]);      // out.sent: [{port, bytes}], out.dropped
 */
import assert from 'node:assert/strict';
import { Batch, PacketPool } from '../packet/pool.js';
import type { Counters, Emit, NetworkFunction, ProcessContext } from './contract.js';

export interface Sent {
  readonly port: number;
  readonly bytes: Uint8Array;
}

export class Harness implements Emit {
  readonly pool: PacketPool;
  now = 0;
  private sent: Sent[] = [];
  private dropped = 0;
  private readonly live = new Set<number>();
  private readonly batch = new Batch();

  constructor(
    readonly fn: NetworkFunction,
    slots = 4096,
  ) {
    this.pool = new PacketPool({ slots });
  }

  send(port: number, slot: number, off: number, len: number): void {
    assert.ok(this.live.has(slot), `slot ${slot} sent but not live (double send/drop?)`);
    assert.ok(port >= 0 && port < this.fn.ports.length, `send to port ${port} of ${this.fn.ports.length}`);
    assert.ok(off >= this.pool.slotStart(slot) && off + len <= this.pool.slotStart(slot) + this.pool.slotSize, 'frame outside its slot');
    this.sent.push({ port, bytes: this.pool.bytes.slice(off, off + len) });
    this.live.delete(slot);
    this.pool.release(slot);
  }

  drop(slot: number): void {
    assert.ok(this.live.has(slot), `slot ${slot} dropped but not live`);
    this.dropped++;
    this.live.delete(slot);
    this.pool.release(slot);
  }

  get ctx(): ProcessContext {
    const pool = this.pool;
    const live = this.live;
    // Slots the function allocates itself (copies for flooding) become live through this pool.
    const tracking = new Proxy(pool, {
      get(target, prop, receiver) {
        if (prop === 'alloc') {
          return () => {
            const s = target.alloc();
            if (s >= 0) live.add(s);
            return s;
          };
        }
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    return { pool: tracking, out: this, now: this.now };
  }

  /** Feeds `frames` on `port` (in batches of 256) and returns what was sent and how many dropped. */
  run(port: number, frames: readonly Uint8Array[]): { sent: Sent[]; dropped: number } {
    this.sent = [];
    this.dropped = 0;
    const ctx = this.ctx;
    for (let i = 0; i < frames.length; i += 256) {
      this.batch.clear();
      for (const f of frames.slice(i, i + 256)) {
        const s = this.pool.load(f, this.batch);
        assert.ok(s >= 0, 'pool exhausted in harness');
        this.live.add(s);
      }
      this.fn.process(port, this.batch, ctx);
    }
    assert.equal(this.live.size, 0, 'every slot must be sent or dropped');
    return { sent: this.sent, dropped: this.dropped };
  }

  tick(): void {
    this.fn.tick?.(this.ctx);
  }
}

/** Hex of bytes, for readable golden assertions. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Bytes from hex with optional whitespace. */
export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A mutated copy of `f`: byte flips, truncation, extension, header-field smashing. */
export function mutate(f: Uint8Array, r: () => number): Uint8Array {
  const kind = r() % 6;
  let g: Uint8Array;
  if (kind === 0) g = f.slice(0, r() % (f.length + 1));
  else if (kind === 1) {
    g = new Uint8Array(f.length + (r() % 64));
    g.set(f);
    for (let i = f.length; i < g.length; i++) g[i] = r() & 0xff;
  } else if (kind === 2) {
    g = new Uint8Array(r() % 128);
    for (let i = 0; i < g.length; i++) g[i] = r() & 0xff;
  } else g = f.slice();
  const flips = kind >= 3 ? 1 + (r() % 6) : r() % 3;
  for (let k = 0; k < flips && g.length; k++) {
    const at = r() % Math.min(g.length, kind === 4 ? 64 : g.length);
    g[at] = r() % 4 === 0 ? [0, 0xff, 0x80, 0x7f][r() % 4] as number : r() & 0xff;
  }
  if (kind === 5 && g.length > 2) g = g.slice(0, Math.max(0, g.length - 1 - (r() % 24)));
  return g;
}

/** Reads a numeric counter by dotted path (`totals.in`). */
export function counter(c: Counters, path: string): number {
  let v: unknown = c;
  for (const k of path.split('.')) v = (v as Record<string, unknown>)[k];
  assert.equal(typeof v, 'number', `counter ${path}`);
  return v as number;
}

/**
 * Feeds `n` mutated/truncated frames (from `seeds`) on random ports in batches of 256; asserts no
 * exception, every slot accounted for, and `in = out + dropped` on the function's own counters
 * (`inKey`, `outKey`, `dropKey` paths), calling tick now and then.
 */
export function fuzz(fn: NetworkFunction, seeds: readonly Uint8Array[], n: number, seed = 1, keys = { in: 'in', out: 'out', dropped: 'dropped' }): void {
  const h = new Harness(fn, 1024);
  const r = rng(seed);
  const base = { in: counter(fn.counters(), keys.in), out: counter(fn.counters(), keys.out), dropped: counter(fn.counters(), keys.dropped) };
  let fed = 0;
  while (fed < n) {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 256 && fed < n; i++, fed++) frames.push(r() % 8 === 0 ? (seeds[r() % seeds.length] as Uint8Array) : mutate(seeds[r() % seeds.length] as Uint8Array, r));
    h.now += 1 + (r() % 50);
    h.run(r() % fn.ports.length, frames);
    if (r() % 16 === 0) h.tick();
  }
  const c = fn.counters();
  const din = counter(c, keys.in) - base.in;
  assert.equal(din, n, 'every fuzzed frame counted in');
  assert.equal(din, counter(c, keys.out) - base.out + counter(c, keys.dropped) - base.dropped, 'in = out + dropped');
}
