/**
 * A worker entry that drives one end of a Ring: the traffic source or sink of a domain, used
 * by the ring tests and the ring benchmark to exercise two real threads. Descriptors carry a
 * sequence number in `off`, so the sink checks order, loss and duplication for free.
 *
 * @example
 * const w = new Worker(new URL('./ring-peer.js', import.meta.url), {
 *   workerData: { role: 'produce', ring: ring.buffer, frames: 1e6, maxBatch: 256, seed: 1 } });
 * w.once('message', (r: PeerReport) => console.log(r.batches));
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads';
import { Batch, MAX_BATCH } from '../packet/pool.js';
import { Ring } from './ring.js';

export interface PeerInit {
  role: 'produce' | 'consume';
  ring: SharedArrayBuffer;
  frames: number;
  /** Producer: largest batch; sizes vary in [1, maxBatch] with `seed` (0 = always maxBatch). */
  maxBatch?: number;
  seed?: number;
  frameLen?: number;
  /** Consumer: pop at most this many per call (a slow consumer fills the ring). */
  popMax?: number;
  /** Consumer: spin this many empty polls before sleeping. */
  spin?: number;
}

export interface PeerReport {
  role: 'produce' | 'consume';
  frames: number;
  batches: number;
  sleeps: number;
  /** Consumer: first sequence error, or '' when every frame came once and in order. */
  error: string;
  ms: number;
}

function produce(init: PeerInit): PeerReport {
  const ring = new Ring({ buffer: init.ring });
  const batch = new Batch(MAX_BATCH);
  const maxB = Math.min(init.maxBatch ?? MAX_BATCH, MAX_BATCH);
  const len = init.frameLen ?? 64;
  let x = init.seed ?? 0;
  let seq = 0;
  let batches = 0;
  let sleeps = 0;
  const t0 = performance.now();
  while (seq < init.frames) {
    let size = maxB;
    if (x !== 0) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      size = 1 + ((x >>> 0) % maxB);
    }
    size = Math.min(size, init.frames - seq);
    batch.clear();
    for (let k = 0; k < size; k++) batch.push((seq + k) & 1023, seq + k, len);
    let done = 0;
    for (;;) {
      done += ring.push(batch, done);
      if (done === size) break;
      sleeps++;
      ring.waitForSpace(1, 1000);
    }
    seq += size;
    batches++;
  }
  return { role: 'produce', frames: seq, batches, sleeps, error: '', ms: performance.now() - t0 };
}

function consume(init: PeerInit): PeerReport {
  const ring = new Ring({ buffer: init.ring });
  const batch = new Batch(MAX_BATCH);
  const popMax = init.popMax ?? MAX_BATCH;
  const spin = init.spin ?? 64;
  let expect = 0;
  let error = '';
  let batches = 0;
  let sleeps = 0;
  let idle = 0;
  let t0 = -1;
  while (expect < init.frames) {
    batch.clear();
    const n = ring.pop(batch, popMax);
    if (n === 0) {
      if (++idle > spin) {
        sleeps++;
        ring.waitForData(1000);
        idle = 0;
      }
      continue;
    }
    if (t0 < 0) t0 = performance.now();
    idle = 0;
    batches++;
    const offs = batch.offs;
    for (let k = 0; k < n; k++) {
      if (offs[k] !== expect && error === '') error = `frame ${expect}: got sequence ${offs[k]}`;
      expect++;
    }
  }
  if (ring.size !== 0 && error === '') error = `${ring.size} extra descriptor(s) after the last frame`;
  return { role: 'consume', frames: expect, batches, sleeps, error, ms: performance.now() - t0 };
}

if (!isMainThread && parentPort && (workerData as PeerInit | null)?.ring instanceof SharedArrayBuffer) {
  const init = workerData as PeerInit;
  parentPort.postMessage(init.role === 'produce' ? produce(init) : consume(init));
}
