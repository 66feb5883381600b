/**
 * A two-port wire with fault injection, for crash experiments (watchdog, restart): frames pass
 * port 0 ↔ port 1 unchanged, except a trigger frame — EtherType 0x88b5 (IEEE 802 local
 * experimental) whose first payload byte is 0xde (throw) or 0xad (spin forever) — which makes the
 * function fail inside `process`, as a buggy function would. With `armed: false` trigger frames
 * pass like the others.
 *
 * @example
 * const f = faultFactory.create({ armed: true });
 * f.process(0, batch, ctx); // throws FaultInjectedError on a 0x88b5/0xde frame
 */
import type { Batch } from '../packet/pool.js';
import { ConfigError, type Counters, type FunctionFactory, type NetworkFunction, type Plain, type PortDecl, type ProcessContext } from '../functions/contract.js';

export const FAULT_ETHERTYPE = 0x88b5;
export const FAULT_THROW = 0xde;
export const FAULT_HANG = 0xad;

export class FaultInjectedError extends Error {
  override readonly name = 'FaultInjectedError';
}

export class FaultFunction implements NetworkFunction {
  readonly kind = 'fault';
  readonly ports: readonly PortDecl[] = [{ name: 'a' }, { name: 'b' }];
  private passed = 0;
  constructor(readonly armed: boolean) {}

  process(port: number, batch: Batch, ctx: ProcessContext): void {
    const b = ctx.pool.bytes;
    const out = port === 0 ? 1 : 0;
    for (let k = 0; k < batch.count; k++) {
      const off = batch.offs[k] as number;
      const len = batch.lens[k] as number;
      if (this.armed && len >= 15 && ((b[off + 12] as number) << 8 | (b[off + 13] as number)) === FAULT_ETHERTYPE) {
        const what = b[off + 14];
        if (what === FAULT_THROW) throw new FaultInjectedError('fault injected: throw');
        if (what === FAULT_HANG) for (;;) { /* a function stuck in a loop: only the watchdog ends it */ }
      }
      ctx.out.send(out, batch.slots[k] as number, off, len);
      this.passed++;
    }
  }

  counters(): Counters {
    return { passed: this.passed };
  }

  exportState(): Plain {
    return { passed: this.passed };
  }

  importState(state: Plain): void {
    if (state !== null && typeof state === 'object' && !Array.isArray(state)) {
      const p = (state as { readonly [k: string]: Plain })['passed'];
      if (typeof p === 'number') this.passed = p;
    }
  }
}

export const faultFactory: FunctionFactory = {
  kind: 'fault',
  summary: 'two-port wire that throws or hangs on a trigger frame (fault injection)',
  create(config: unknown): NetworkFunction {
    const c = config ?? {};
    if (typeof c !== 'object' || Array.isArray(c)) throw new ConfigError('', 'expected an object');
    let armed = true;
    for (const [k, v] of Object.entries(c)) {
      if (k !== 'armed') throw new ConfigError(k, 'unknown key');
      if (typeof v !== 'boolean') throw new ConfigError(k, 'expected a boolean');
      armed = v;
    }
    return new FaultFunction(armed);
  },
};
