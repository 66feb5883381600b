/**
 * Value encoding shared by the persistent backends. A JSON object is stored as its UTF-8 JSON
 * text (so `etcdctl get` and `sqlite3` show it readably); raw bytes are stored behind a 0x00
 * marker byte, which JSON text can never start with.
 */
import { InvalidTxnError, type JsonObject, type Op, type Value } from './contract.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeValue(v: Value): Uint8Array {
  if (v instanceof Uint8Array) {
    const out = new Uint8Array(v.length + 1);
    out.set(v, 1);
    return out;
  }
  return enc.encode(JSON.stringify(v));
}

export function decodeValue(b: Uint8Array): Value {
  if (b.length > 0 && b[0] === 0) return new Uint8Array(b.subarray(1));
  return JSON.parse(dec.decode(b)) as JsonObject;
}

/**
 * Rejects what etcd rejects: one key written twice in one transaction (also a put inside a
 * range the same transaction deletes), and values that are not JSON objects or bytes.
 */
export function checkOps(ops: readonly Op[]): void {
  const seen = new Set<string>();
  const prefixes: string[] = [];
  for (const op of ops) {
    if (op.type === 'put') {
      const v: unknown = op.value;
      if (!(v instanceof Uint8Array) && (typeof v !== 'object' || v === null || Array.isArray(v)))
        throw new InvalidTxnError(`value of ${op.key} must be a JSON object or bytes`);
    } else if (op.prefix) {
      prefixes.push(op.key);
      continue;
    }
    if (seen.has(op.key)) throw new InvalidTxnError(`duplicate key given in txn: ${op.key}`);
    seen.add(op.key);
  }
  for (const p of prefixes) {
    for (const k of seen) if (k.startsWith(p)) throw new InvalidTxnError(`key ${k} is also in deleted range ${p}* of the same txn`);
  }
}
