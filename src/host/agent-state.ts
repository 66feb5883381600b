/**
 * State carried between two instances of one function whose configuration changed (a router
 * given a new FIB by the control plane): the old instance's learned state (neighbours,
 * bindings, tables) goes over, but what the configuration decides is the new instance's.
 * Most functions keep configuration out of their exported state; those that do not are listed
 * in STATE_FROM_CONFIG with the keys that come from the configuration.
 *
 * @example
 * carryState('router', oldState, freshNewState, 'router'); // old neighbours, new routes
 */
import type { Plain } from '../functions/contract.js';

export class StateCarryError extends Error {
  override readonly name = 'StateCarryError';
}

/** Per kind, the top-level keys of the exported state that mirror the configuration. */
export const STATE_FROM_CONFIG: Readonly<Record<string, readonly string[]>> = {
  // router.exportState carries the FIB (`routes`); importState replaces the FIB with it.
  router: ['routes'],
};

type PlainObject = { readonly [k: string]: Plain };
const isObject = (v: Plain | undefined): v is PlainObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The state to import into a new instance (kind `newKind`, whose own state right after start
 * is `fresh`) from the old instance's exported `state`. Throws StateCarryError when the kind
 * changed (nothing to carry).
 */
export function carryState(oldKind: string, state: Plain, fresh: Plain, newKind: string = oldKind): Plain {
  if (oldKind !== newKind) throw new StateCarryError(`the function changed kind (${oldKind} → ${newKind}): its state does not carry over`);
  const keys = STATE_FROM_CONFIG[newKind];
  if (!keys || !isObject(state) || !isObject(fresh)) return state;
  const out: { [k: string]: Plain } = { ...state };
  for (const k of keys) {
    const v = fresh[k];
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/**
 * Per kind, how rows of the exported state are identified: `key` names an array of rows, `ids`
 * the fields whose values identify a row (each field separately: a row of the other state that
 * shares any of them is the same entry, or would collide with it — a NAT binding's reply tuple
 * is its external port).
 */
export const STATE_ROWS: Readonly<Record<string, readonly { readonly key: string; readonly ids: readonly (readonly string[])[] }[]>> = {
  router: [{ key: 'neighbors', ids: [['interface', 'address']] }],
  nat: [{ key: 'connections', ids: [['orig'], ['reply']] }],
  firewall: [{ key: 'connections', ids: [['orig'], ['reply']] }],
  switch: [{ key: 'macs', ids: [['vlan', 'mac']] }],
  loadbalancer: [{ key: 'connections', ids: [['client', 'clientPort', 'port', 'protocol']] }],
  dpi: [{ key: 'flows', ids: [['key']] }],
};

/**
 * The state to import into an instance that already runs (the target of a migration, after the
 * switch) from the source's final state: what the target created since the switch stays, rows
 * the source created or kept and the target does not know are added (STATE_ROWS), everything
 * else is the target's. Kinds without a row description get the final state as it is (their
 * import replaces).
 *
 * @example
 * mergeState('nat', await target.exportState(k, 'nat'), final); // bindings of both, target's first
 */
export function mergeState(kind: string, current: Plain, final: Plain): Plain {
  const rows = STATE_ROWS[kind];
  if (!rows) return final;
  if (!isObject(current) || !isObject(final)) return current;
  const out: { [k: string]: Plain } = { ...current };
  for (const r of rows) {
    const mine = current[r.key];
    const theirs = final[r.key];
    if (!Array.isArray(mine) || !Array.isArray(theirs)) continue;
    const ident = (row: Plain, fields: readonly string[]): string | undefined => (isObject(row) ? JSON.stringify(fields.map((f) => row[f] ?? null)) : undefined);
    const seen = r.ids.map((fields) => new Set((mine as readonly Plain[]).map((row) => ident(row, fields))));
    const added = (theirs as readonly Plain[]).filter((row) => r.ids.every((fields, i) => {
      const id = ident(row, fields);
      return id !== undefined && !(seen[i] as Set<string | undefined>).has(id);
    }));
    out[r.key] = [...(mine as readonly Plain[]), ...added];
  }
  return out;
}
