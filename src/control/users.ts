/**
 * Per-user networks: `connectUser` creates a user's own SoftwareNetwork from a
 * UserNetworkTemplate, `disconnectUser` removes it. Each is one compare-and-swap transaction
 * on one key, so connects of different users never contend, and the SQLite store's group
 * commit acknowledges a burst of them with one fsync.
 */
import { randomUUID } from 'node:crypto';
import { NotFoundError, type JsonObject, type Store } from './store/contract.js';
import { readResource } from './manifest/apply.js';
import { API_VERSION } from './manifest/schema.js';
import { DEFAULT_NAMESPACE, resourceKey, type Metadata, type Resource } from './manifest/types.js';

export const USER_LABEL = 'swnet.io/user';
export const TEMPLATE_LABEL = 'swnet.io/template';

export interface UserRef {
  /** The user's id (any string; the network's name is derived from it). */
  readonly user: string;
  /** Namespace of the template and of the user networks (default `default`). */
  readonly namespace?: string;
}

export interface ConnectResult {
  readonly name: string;
  readonly namespace: string;
  readonly action: 'created' | 'unchanged';
  readonly revision: number;
}

/** A user id as a DNS label: `user-` + the id, lower-cased, other characters as '-'; long ids hashed. */
export function userNetworkName(user: string): string {
  const clean = user.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return `user-${clean || 'x'}`.slice(0, 63).replace(/-+$/, '');
}

/** A user id that is already connected with another template, or a name clash between ids. */
export class UserConflictError extends Error {
  override readonly name = 'UserConflictError';
}

/**
 * Creates the user's network from the template (idempotent: connecting again is `unchanged`).
 * Throws NotFoundError for an unknown template.
 *
 * @example
 * await connectUser(store, { user: 'alice' }, 'home');  // SoftwareNetwork default/user-alice
 */
export async function connectUser(store: Store, ref: UserRef, template: string): Promise<ConnectResult> {
  const ns = ref.namespace ?? DEFAULT_NAMESPACE;
  const tkey = resourceKey('UserNetworkTemplate', template, ns);
  const name = userNetworkName(ref.user);
  const key = resourceKey('SoftwareNetwork', name, ns);
  let cache = templates.get(store);
  if (!cache) templates.set(store, (cache = new Map()));
  for (let attempt = 0; attempt < 5; attempt++) {
    // Templates are read once and then trusted while the transaction's compare on their
    // modRevision holds; an edited template makes the compare fail and is read again.
    let t = cache.get(tkey);
    if (!t || attempt > 0) {
      const tkv = await store.get(tkey);
      if (!tkv) {
        cache.delete(tkey);
        throw new NotFoundError(tkey);
      }
      t = { modRevision: tkv.modRevision, resource: readResource(tkv) };
      cache.set(tkey, t);
    }
    const tspec = t.resource.spec as unknown as { template: { metadata?: { labels?: Record<string, string> }; spec: JsonObject } };
    const metadata: Metadata = {
      name,
      namespace: ns,
      labels: { ...(tspec.template.metadata?.labels ?? {}), [USER_LABEL]: ref.user, [TEMPLATE_LABEL]: template },
      annotations: { 'swnet.io/template-generation': String(t.resource.metadata.generation ?? 1) },
      uid: randomUUID(),
      generation: 1,
      creationTimestamp: new Date().toISOString(),
    };
    const net: Resource = { apiVersion: API_VERSION, kind: 'SoftwareNetwork', metadata, spec: tspec.template.spec };
    const res = await store.txn(
      [
        { key, modRevision: 0 },
        { key: tkey, modRevision: t.modRevision },
      ],
      [{ type: 'put', key, value: net as unknown as JsonObject }],
    );
    if (res.succeeded) return { name, namespace: ns, action: 'created', revision: res.revision };
    // Either the user is connected already (idempotent) or the template changed: find out.
    const cur = await store.get(key);
    if (cur) {
      const r = readResource(cur);
      if (r.metadata.labels?.[USER_LABEL] !== ref.user) throw new UserConflictError(`network ${ns}/${name} exists and does not belong to user ${JSON.stringify(ref.user)}`);
      if (r.metadata.labels[TEMPLATE_LABEL] !== template) throw new UserConflictError(`user ${JSON.stringify(ref.user)} is connected with template ${r.metadata.labels[TEMPLATE_LABEL] ?? '?'}; disconnect first`);
      return { name, namespace: ns, action: 'unchanged', revision: cur.modRevision };
    }
  }
  throw new UserConflictError(`connect of user ${JSON.stringify(ref.user)} kept racing with other writers`);
}

/** Templates last read per store, by key. */
const templates = new WeakMap<Store, Map<string, { modRevision: number; resource: Resource }>>();

/**
 * Removes the user's network. Returns false when the user was not connected.
 *
 * @example
 * await disconnectUser(store, { user: 'alice' });
 */
export async function disconnectUser(store: Store, ref: UserRef): Promise<boolean> {
  const ns = ref.namespace ?? DEFAULT_NAMESPACE;
  const key = resourceKey('SoftwareNetwork', userNetworkName(ref.user), ns);
  for (let attempt = 0; attempt < 5; attempt++) {
    const cur = await store.get(key);
    if (!cur) return false;
    if (readResource(cur).metadata.labels?.[USER_LABEL] !== ref.user) throw new UserConflictError(`network ${key} does not belong to user ${JSON.stringify(ref.user)}`);
    const r = await store.txn([{ key, modRevision: cur.modRevision }], [{ type: 'delete', key }]);
    if (r.succeeded) return true;
  }
  throw new UserConflictError(`disconnect of user ${JSON.stringify(ref.user)} kept racing with other writers`);
}
