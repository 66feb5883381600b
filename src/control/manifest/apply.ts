/**
 * `apply` and `delete` of manifests on a store — the logic behind `swnet apply` / `swnet
 * delete`, kept here so that the API server calls the same code.
 *
 * Apply is one store transaction guarded by the modRevision of every object it reads (0 for
 * objects it creates): all or nothing, and a concurrent writer makes it retry rather than
 * overwrite. It is idempotent: an object whose spec, labels and annotations are unchanged is
 * not written at all (no new revision, no generation bump). `metadata.generation` grows when
 * the spec changes, as in Kubernetes; `status` belongs to controllers and is preserved.
 */
import { randomUUID } from 'node:crypto';
import { NotFoundError, type Compare, type JsonObject, type KeyValue, type Op, type Store } from '../store/contract.js';
import { ManifestError, checkReferences, checkSet, collectReferences, namespaceOf, type LoadedResource } from './load.js';
import { API_VERSION } from './schema.js';
import { KINDS, kindPrefix, resourceKey, type Kind, type Metadata, type Resource } from './types.js';

export type Action = 'created' | 'configured' | 'unchanged' | 'deleted' | 'not found';

export interface Change {
  readonly kind: Kind;
  readonly name: string;
  /** Namespace of namespaced kinds; absent for Datacenter, Server, Link. */
  readonly namespace?: string;
  readonly key: string;
  readonly action: Action;
  /** Generation after the operation (0 when the object does not exist). */
  readonly generation: number;
  /** For `configured`: the changed fields (`spec.tokens`, `metadata.labels.tier`). */
  readonly fields?: readonly string[];
}

export interface ApplyResult {
  /** Store revision after the operation (the one read when nothing changed). */
  readonly revision: number;
  readonly changes: readonly Change[];
}

export interface ApplyOptions {
  /** Clock for creationTimestamp (tests). */
  readonly now?: () => Date;
  /** Attempts when a concurrent writer wins the race (default 10). */
  readonly attempts?: number;
  /** Compute and return the changes (after every check) without writing anything. */
  readonly dryRun?: boolean;
}

/** Conflicting writers kept winning; nothing was applied. */
export class ApplyConflictError extends Error {
  override readonly name = 'ApplyConflictError';
}

/** A JSON value with object keys sorted, so that equal content compares equal as text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Leaf paths where a and b differ (at most `limit`). */
function diffPaths(a: unknown, b: unknown, path: string, out: string[], limit = 20): void {
  if (out.length >= limit || canonical(a) === canonical(b)) return;
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) diffPaths(a[k], b[k], path ? `${path}.${k}` : k, out, limit);
  } else out.push(path);
}

/** The Resource stored at `kv`, with resourceVersion set from its modRevision. */
export function readResource(kv: KeyValue): Resource {
  const r = kv.value as unknown as Resource;
  return { ...r, metadata: { ...r.metadata, resourceVersion: String(kv.modRevision) } };
}

function keyOf(r: Resource): string {
  return resourceKey(r.kind, r.metadata.name, r.metadata.namespace);
}

function changeOf(r: Resource, action: Action, generation: number, fields?: string[]): Change {
  const ns = namespaceOf(r);
  return {
    kind: r.kind,
    name: r.metadata.name,
    ...(ns ? { namespace: ns } : {}),
    key: keyOf(r),
    action,
    generation,
    ...(fields ? { fields } : {}),
  };
}

/** Which of the objects the set refers to exist in the store (one get per distinct name). */
async function knownNames(store: Store, items: readonly LoadedResource[]): Promise<(kind: Kind, name: string) => boolean> {
  const wanted = new Set<string>();
  for (const ref of collectReferences(items)) for (const k of ref.accepts) wanted.add(`${k}/${ref.name}`);
  const found = new Set<string>();
  await Promise.all(
    [...wanted].map(async (id) => {
      const [kind, name] = id.split('/') as [Kind, string];
      if (await store.get(resourceKey(kind, name))) found.add(id);
    }),
  );
  return (kind, name) => found.has(`${kind}/${name}`);
}

/**
 * Applies resources atomically and idempotently; returns what changed per object.
 * Throws {@link ManifestError} (duplicates, unknown references) before writing anything.
 *
 * @example
 * const items = await loadManifests(['net.yaml']);
 * const { changes } = await apply(store, items);
 * // [{ kind: 'SoftwareNetwork', name: 'web', namespace: 'default', action: 'created', generation: 1, ... }]
 */
export async function apply(store: Store, items: readonly LoadedResource[], opts: ApplyOptions = {}): Promise<ApplyResult> {
  const dup = checkSet(items);
  if (dup.length > 0) throw new ManifestError(dup);
  const now = opts.now ?? (() => new Date());
  const attempts = opts.attempts ?? 10;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const refs = checkReferences(items, await knownNames(store, items));
    if (refs.length > 0) throw new ManifestError(refs);
    const existing = await Promise.all(items.map((i) => store.get(keyOf(i.resource))));
    const compares: Compare[] = [];
    const ops: Op[] = [];
    const changes: Change[] = [];
    items.forEach(({ resource: r }, i) => {
      const key = keyOf(r);
      const cur = existing[i];
      compares.push({ key, modRevision: cur?.modRevision ?? 0 });
      const ns = namespaceOf(r);
      const want = { spec: r.spec, labels: r.metadata.labels ?? {}, annotations: r.metadata.annotations ?? {} };
      const prev = cur ? (cur.value as unknown as Resource) : undefined;
      const prevMeta: Metadata | undefined = prev?.metadata;
      const had = prev ? { spec: prev.spec, labels: prevMeta?.labels ?? {}, annotations: prevMeta?.annotations ?? {} } : undefined;
      if (had && canonical(had) === canonical(want)) {
        changes.push(changeOf(r, 'unchanged', prevMeta?.generation ?? 1));
        return;
      }
      const specChanged = !had || canonical(had.spec) !== canonical(want.spec);
      const generation = (prevMeta?.generation ?? 0) + (specChanged ? 1 : 0);
      const metadata: Metadata = {
        name: r.metadata.name,
        ...(ns ? { namespace: ns } : {}),
        ...(r.metadata.labels ? { labels: r.metadata.labels } : {}),
        ...(r.metadata.annotations ? { annotations: r.metadata.annotations } : {}),
        uid: prevMeta?.uid ?? randomUUID(),
        generation,
        creationTimestamp: prevMeta?.creationTimestamp ?? now().toISOString(),
      };
      const stored: Resource = { apiVersion: API_VERSION, kind: r.kind, metadata, spec: r.spec, ...(prev?.status ? { status: prev.status } : {}) };
      ops.push({ type: 'put', key, value: stored as unknown as JsonObject });
      if (had) {
        const fields: string[] = [];
        diffPaths({ spec: had.spec, metadata: { labels: had.labels, annotations: had.annotations } }, { spec: want.spec, metadata: { labels: want.labels, annotations: want.annotations } }, '', fields);
        changes.push(changeOf(r, 'configured', generation, fields));
      } else changes.push(changeOf(r, 'created', generation));
    });
    if (ops.length === 0 || opts.dryRun) return { revision: await store.revision(), changes };
    const res = await store.txn(compares, ops);
    if (res.succeeded) return { revision: res.revision, changes };
  }
  throw new ApplyConflictError(`apply lost ${attempts} races with concurrent writers; nothing was applied`);
}

/**
 * Deletes every object the resources name, atomically (`swnet delete -f`). Objects already
 * gone are reported as `not found`.
 *
 * @example
 * await remove(store, await loadManifests(['net.yaml']));
 */
export async function remove(store: Store, items: readonly LoadedResource[], opts: ApplyOptions = {}): Promise<ApplyResult> {
  const attempts = opts.attempts ?? 10;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const seen = new Set<string>();
    const uniq = items.filter((i) => !seen.has(keyOf(i.resource)) && seen.add(keyOf(i.resource)));
    const existing = await Promise.all(uniq.map((i) => store.get(keyOf(i.resource))));
    const compares: Compare[] = [];
    const ops: Op[] = [];
    const changes = uniq.map(({ resource: r }, i): Change => {
      const cur = existing[i];
      if (!cur) return changeOf(r, 'not found', 0);
      compares.push({ key: cur.key, modRevision: cur.modRevision });
      ops.push({ type: 'delete', key: cur.key });
      return changeOf(r, 'deleted', 0);
    });
    if (ops.length === 0 || opts.dryRun) return { revision: await store.revision(), changes };
    const res = await store.txn(compares, ops);
    if (res.succeeded) return { revision: res.revision, changes };
  }
  throw new ApplyConflictError(`delete lost ${attempts} races with concurrent writers; nothing was deleted`);
}

/**
 * Objects of one kind, optionally one namespace (undefined = all) and one name.
 *
 * @example
 * const nets = await listResources(store, 'SoftwareNetwork', { namespace: 'default' });
 */
export async function listResources(store: Store, kind: Kind, opts: { readonly namespace?: string; readonly name?: string } = {}): Promise<Resource[]> {
  if (opts.name !== undefined) {
    const kv = await store.get(resourceKey(kind, opts.name, opts.namespace));
    return kv ? [readResource(kv)] : [];
  }
  const prefix = KINDS[kind].namespaced && opts.namespace !== undefined ? kindPrefix(kind, opts.namespace) : kindPrefix(kind);
  const { items } = await store.list(prefix);
  return items.map(readResource);
}


/**
 * One object; throws {@link NotFoundError} when it does not exist.
 *
 * @example
 * const s1 = await getResource(store, 'Server', 's1');
 */
export async function getResource(store: Store, kind: Kind, name: string, namespace?: string): Promise<Resource> {
  const key = resourceKey(kind, name, namespace);
  const kv = await store.get(key);
  if (!kv) throw new NotFoundError(key);
  return readResource(kv);
}
