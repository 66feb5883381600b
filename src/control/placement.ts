/**
 * Placement objects: where each function of a software network runs. The network controller
 * writes one per function at `/swnet/placement/<namespace>/<network>/<function>`; server agents
 * watch them (filtering on `server`) and `swnet top` sums them per server.
 */
import { KIND_NAMES } from './manifest/schema.js';
import { KINDS, type Kind } from './manifest/types.js';

export const PLACEMENT_PREFIX = '/swnet/placement/';

export interface Placement {
  readonly kind: 'Placement';
  readonly namespace: string;
  readonly network: string;
  readonly function: string;
  readonly server: string;
  /** Generation of the SoftwareNetwork this placement was computed for. */
  readonly generation: number;
  /** Resources the function asked for, in base units (CPUs, bytes, bits per second). */
  readonly requests: { readonly cpu: number; readonly memory: number; readonly bandwidth: number };
}

/** @example placementKey('t1', 'web', 'fw') === '/swnet/placement/t1/web/fw' */
export function placementKey(namespace: string, network: string, fn?: string): string {
  return `${PLACEMENT_PREFIX}${namespace}/${network}/${fn ?? ''}`;
}

/** What a store key holds, for routing watch events and checking who may see them. */
export type KeyRef =
  | { readonly type: 'resource'; readonly kind: Kind; readonly namespace: string; readonly name: string }
  | { readonly type: 'event'; readonly namespace: string; readonly name: string }
  | { readonly type: 'placement'; readonly namespace: string; readonly network: string; readonly name: string }
  /** A migration object (src/control/migrations.ts); `name` is the migration's id. */
  | { readonly type: 'migration'; readonly namespace: string; readonly network: string; readonly name: string };

/**
 * Parses a key written by the control plane; undefined for keys of other kinds.
 * @example parseKey('/swnet/server/s1') // { type: 'resource', kind: 'Server', namespace: '', name: 's1' }
 */
export function parseKey(key: string): KeyRef | undefined {
  const parts = key.split('/');
  if (parts[0] !== '' || parts[1] !== 'swnet') return undefined;
  const seg = parts[2] ?? '';
  const rest = parts.slice(3);
  if (seg === 'event' && rest.length === 2) return { type: 'event', namespace: rest[0]!, name: rest[1]! };
  if (seg === 'placement' && rest.length === 3) return { type: 'placement', namespace: rest[0]!, network: rest[1]!, name: rest[2]! };
  if (seg === 'migration' && rest.length === 3) return { type: 'migration', namespace: rest[0]!, network: rest[1]!, name: rest[2]! };
  const kind = KIND_NAMES.find((k) => k.toLowerCase() === seg);
  if (!kind) return undefined;
  if (KINDS[kind].namespaced) return rest.length === 2 ? { type: 'resource', kind, namespace: rest[0]!, name: rest[1]! } : undefined;
  return rest.length === 1 ? { type: 'resource', kind, namespace: '', name: rest[0]! } : undefined;
}
