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
