/**
 * A cached key-value's value, parsed once per version for the whole process. The reflector keeps
 * large values as JSON text and parses them on every read of `value` (memory: an idle network
 * stays small); a consumer that reads the same few busy keys on every pass — the 50 migration
 * objects of a drain, read by the controller and by every agent on each change — parses the same
 * text hundreds of times (a third of the main thread of a 50-function drain, cpu profile).
 *
 * Keyed by the cached KeyValue object itself (a reflector replaces it on each change), weakly: the
 * parsed value lives as long as that version stays in the cache. So only for transient or few
 * keys (migrations, servers), never for the 100,000 networks whose compactness the text is for.
 * The value is shared by every reader in the process, like a small value the cache keeps as an
 * object: read-only.
 *
 * @example
 * for (const kv of reflector.cache.values()) {
 *   const m = parsedValue(kv); // one JSON.parse per version, whoever reads it
 * }
 */
import type { KeyValue, Value } from './contract.js';

const parsed = new WeakMap<KeyValue, Value>();

export function parsedValue(kv: KeyValue): Value {
  let v = parsed.get(kv);
  if (v === undefined) {
    v = kv.value;
    parsed.set(kv, v);
  }
  return v;
}
