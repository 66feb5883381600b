/**
 * Plumbing shared by the stateful in-line functions (firewall, NAT): per-port counters kept as
 * five numbers a port in one Float64Array (rx packets, rx bytes, tx packets, tx bytes, drops) so
 * that the hot path adds to a typed array and allocates nothing; and the port-range config parser.
 */
import type { Batch } from '../../packet/pool.js';
import { ConfigError, type Counters, type Emit } from '../contract.js';
import { int, type Parse } from '../config.js';

/**
 * Counts one frame sent out of `port`.
 *
 * @example
 * countTx(pc, 1, 60); // pc[1 * 5 + 2] += 1, pc[1 * 5 + 3] += 60
 */
export function countTx(pc: Float64Array, port: number, len: number): void {
  pc[port * 5 + 2] = pc[port * 5 + 2]! + 1;
  pc[port * 5 + 3] = pc[port * 5 + 3]! + len;
}

/**
 * Counts one frame dropped on `port`.
 *
 * @example
 * countDrop(pc, 0);
 */
export function countDrop(pc: Float64Array, port: number): void {
  pc[port * 5 + 4] = pc[port * 5 + 4]! + 1;
}

/**
 * Drops every frame of a batch (one that arrived on a port the function does not have).
 *
 * @example
 * if (port < 0 || port >= nPorts) { dropBatch(out, batch); c.dropped += batch.count; return; }
 */
export function dropBatch(out: Emit, batch: Batch): void {
  const n = batch.count;
  for (let i = 0; i < n; i++) out.drop(batch.slots[i]!);
}

/**
 * The per-port counters as rows for `counters()`.
 *
 * @example
 * portRows(pc, 2); // [{ rxPackets, rxBytes, txPackets, txBytes, drops }, …]
 */
export function portRows(pc: Float64Array, ports: number): Counters[] {
  return Array.from({ length: ports }, (_, i) => ({
    rxPackets: pc[i * 5]!,
    rxBytes: pc[i * 5 + 1]!,
    txPackets: pc[i * 5 + 2]!,
    txBytes: pc[i * 5 + 3]!,
    drops: pc[i * 5 + 4]!,
  }));
}

/**
 * A port (`80`) or an inclusive range (`"1024-65535"`) → [lo, hi].
 *
 * @example
 * o.opt('dport', portRange, null); // "8000-8080" → [8000, 8080]
 */
export const portRange: Parse<readonly [number, number]> = (v, path) => {
  if (typeof v === 'number') {
    const p = int(0, 65535)(v, path);
    return [p, p];
  }
  const m = typeof v === 'string' ? /^(\d{1,5})-(\d{1,5})$/.exec(v) : null;
  if (!m) throw new ConfigError(path, `expected a port or a range like "1024-65535", got ${JSON.stringify(v)}`);
  const a = int(0, 65535)(Number(m[1]), path);
  const b = int(0, 65535)(Number(m[2]), path);
  if (b < a) throw new ConfigError(path, `empty range ${String(v)}`);
  return [a, b];
};
