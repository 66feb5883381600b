import type { Emit } from '../src/functions/contract.js';

/**
 * Counts what a function emits; slots stay where they are so the same frames are reused.
 *
 * @example
 * const emit = new CountingEmit();
 * fn.process(0, batch, { pool, out: emit, now: 1 });
 */
export class CountingEmit implements Emit {
  sent = 0;
  dropped = 0;
  send(_port: number, _slot: number, _off: number, _len: number): void {
    this.sent++;
  }
  drop(_slot: number): void {
    this.dropped++;
  }
}
