/**
 * Operator actions on migrations and servers (session contract §3), shared by the REST API and
 * the CLI's local-store mode:
 * - migrate: one Migration object (phase `pending`) for one function, checked first (the
 *   network, the function's placement, the target server, no other migration of it in flight);
 * - drain: cordon (Server `spec.unschedulable`, kubectl-style) + annotation `swnet.io/drain`;
 *   the migration controller then moves the functions off a bounded number at a time and sets
 *   `status.standby` when nothing is left;
 * - uncordon: clears the cordon, the drain and the standby;
 * - fail: `/swnet/command/<server>` = `{ action: 'fail', at }` — the agent behaves as after kill -9.
 */
import { getResource, readResource } from './manifest/apply.js';
import { DEFAULT_NAMESPACE, resourceKey, type Resource, type SoftwareNetworkSpec } from './manifest/types.js';
import { keyOf, listMigrations, newMigration, SWITCHED_OR_LATER, type MigrationObject, type MigrationReason } from './migrations.js';
import { placementKey, type Placement } from './placement.js';
import { NotFoundError, type JsonObject, type Store } from './store/contract.js';

/** Annotation set on a Server by `drain` (epoch ms of the request). */
export const DRAIN_ANNOTATION = 'swnet.io/drain';
export const COMMAND_PREFIX = '/swnet/command/';

/** The request conflicts with the current state (a migration in flight, a bad target): HTTP 409. */
export class MigrationRefusedError extends Error {
  override readonly name = 'MigrationRefusedError';
}

/** A migration not yet finished (`done` or `failed`). */
export function inFlight(m: MigrationObject): boolean {
  return m.phase !== 'done' && m.phase !== 'failed';
}

export interface MigrateRequest {
  readonly namespace?: string;
  readonly network: string;
  readonly function: string;
  readonly to: string;
  readonly reason?: MigrationReason;
  readonly detail?: string;
}

/**
 * Creates a planned migration of one function (phase `pending`); agents and the migration
 * controller carry it through. Throws NotFoundError (no network / placement / server) or
 * MigrationRefusedError (same server, cordoned target, a migration of it in flight).
 *
 * @example
 * const m = await requestMigration(store, { namespace: 't1', network: 'web', function: 'fw', to: 's2' });
 */
export async function requestMigration(store: Store, req: MigrateRequest): Promise<MigrationObject> {
  const ns = req.namespace ?? DEFAULT_NAMESPACE;
  const net = await getResource(store, 'SoftwareNetwork', req.network, ns);
  const fns = ((net.spec as unknown as SoftwareNetworkSpec).functions ?? []).map((f) => f.name);
  if (!fns.includes(req.function)) throw new NotFoundError(placementKey(ns, req.network, req.function));
  const pk = placementKey(ns, req.network, req.function);
  const pkv = await store.get(pk);
  if (!pkv) throw new MigrationRefusedError(`${ns}/${req.network}/${req.function} is not placed yet: nothing to migrate`);
  const from = (pkv.value as unknown as Placement).server;
  if (from === req.to) throw new MigrationRefusedError(`${ns}/${req.network}/${req.function} already runs on ${req.to}`);
  const target = await getResource(store, 'Server', req.to);
  if (target.spec['unschedulable'] === true) throw new MigrationRefusedError(`server ${req.to} is cordoned (swnet uncordon ${req.to} first)`);
  if (target.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False') throw new MigrationRefusedError(`server ${req.to} is not ready (its agent is lost)`);
  const busy = (await listMigrations(store, ns, req.network)).find((m) => m.function === req.function && inFlight(m));
  if (busy) throw new MigrationRefusedError(`${ns}/${req.network}/${req.function} is already migrating (${busy.id}: ${busy.from}→${busy.to}, ${busy.phase})`);
  const m = newMigration({ namespace: ns, network: req.network, function: req.function, from, to: req.to, reason: req.reason ?? 'operator', ...(req.detail !== undefined ? { detail: req.detail } : {}) });
  // Guarded by the placement: a placement that moved meanwhile refuses rather than races.
  const res = await store.txn([{ key: pk, modRevision: pkv.modRevision }, { key: keyOf(m), modRevision: 0 }], [{ type: 'put', key: keyOf(m), value: m as unknown as JsonObject }]);
  if (!res.succeeded) throw new MigrationRefusedError(`the placement of ${ns}/${req.network}/${req.function} changed meanwhile; try again`);
  return m;
}

/** Read-modify-write of a Server with compare-and-swap; `f` returns undefined for "no change". */
async function updateServer(store: Store, name: string, f: (r: Resource) => Resource | undefined): Promise<Resource> {
  const key = resourceKey('Server', name);
  for (let attempt = 0; attempt < 20; attempt++) {
    const kv = await store.get(key);
    if (!kv) throw new NotFoundError(key);
    const cur = readResource(kv);
    const next = f(cur);
    if (!next) return cur;
    const { resourceVersion: _rv, ...metadata } = next.metadata;
    const res = await store.txn([{ key, modRevision: kv.modRevision }], [{ type: 'put', key, value: { ...next, metadata } as unknown as JsonObject }]);
    if (res.succeeded) return { ...next, metadata: { ...metadata, resourceVersion: String(res.revision) } };
  }
  throw new Error(`could not update Server ${name}: too much contention`);
}

/** A spec change bumps the generation (as apply does). */
function withSpec(r: Resource, spec: JsonObject, annotations: Record<string, string> | undefined): Resource {
  const metadata = { ...r.metadata, generation: (r.metadata.generation ?? 1) + 1 };
  if (annotations && Object.keys(annotations).length > 0) metadata.annotations = annotations;
  else delete metadata.annotations;
  return { ...r, metadata, spec };
}

/**
 * Cordons a server and asks for its drain: the migration controller moves every function off
 * it (targets from the scheduler), then marks it `status.standby`. Idempotent.
 *
 * @example await drainServer(store, 's3');
 */
export async function drainServer(store: Store, name: string, now = Date.now()): Promise<Resource> {
  return updateServer(store, name, (r) => {
    if (r.spec['unschedulable'] === true && r.metadata.annotations?.[DRAIN_ANNOTATION] !== undefined) return undefined;
    return withSpec(r, { ...r.spec, unschedulable: true }, { ...(r.metadata.annotations ?? {}), [DRAIN_ANNOTATION]: String(now) });
  });
}

/**
 * Cordons a server without draining it (new functions go elsewhere, the present ones stay).
 * @example await cordonServer(store, 's3');
 */
export async function cordonServer(store: Store, name: string): Promise<Resource> {
  return updateServer(store, name, (r) => (r.spec['unschedulable'] === true ? undefined : withSpec(r, { ...r.spec, unschedulable: true }, r.metadata.annotations)));
}

/**
 * Clears the cordon, the drain request and the standby mark. Idempotent.
 * @example await uncordonServer(store, 's3');
 */
export async function uncordonServer(store: Store, name: string): Promise<Resource> {
  return updateServer(store, name, (r) => {
    const drained = r.metadata.annotations?.[DRAIN_ANNOTATION] !== undefined;
    if (r.spec['unschedulable'] !== true && !drained && r.status?.['standby'] !== true) return undefined;
    const { unschedulable: _u, ...spec } = r.spec;
    const { [DRAIN_ANNOTATION]: _d, ...annotations } = r.metadata.annotations ?? {};
    const next = r.spec['unschedulable'] === true ? withSpec(r, spec, annotations) : { ...r, metadata: { ...r.metadata, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) } };
    if (Object.keys(annotations).length === 0) delete next.metadata.annotations;
    return { ...next, status: { ...(r.status ?? {}), standby: false } };
  });
}

/**
 * Marks a server in standby (or not) in its status, merging with what its agent writes.
 * @example await setServerStandby(store, 's3', true);
 */
export async function setServerStandby(store: Store, name: string, standby: boolean): Promise<Resource> {
  return updateServer(store, name, (r) => (r.status?.['standby'] === standby ? undefined : { ...r, status: { ...(r.status ?? {}), standby } }));
}

/**
 * Tells the agent of `server` to fail as after kill -9 (to watch a failover). Throws
 * NotFoundError for an unknown server.
 *
 * @example await failServer(store, 's1');
 */
export async function failServer(store: Store, name: string, now = Date.now()): Promise<{ key: string; action: 'fail'; at: number }> {
  await getResource(store, 'Server', name);
  const key = `${COMMAND_PREFIX}${name}`;
  await store.put(key, { action: 'fail', at: now });
  return { key, action: 'fail', at: now };
}

/**
 * One server operation with the message the API and the CLI print.
 * @example (await serverOperation(store, 's3', 'drain')).message // 'server s3 cordoned; ...'
 */
export async function serverOperation(store: Store, server: string, op: 'drain' | 'uncordon' | 'fail'): Promise<{ server: string; message: string }> {
  if (op === 'drain') {
    await drainServer(store, server);
    return { server, message: `server ${server} cordoned; its functions are being migrated off it` };
  }
  if (op === 'uncordon') {
    await uncordonServer(store, server);
    return { server, message: `server ${server} uncordoned: schedulable again` };
  }
  await failServer(store, server);
  return { server, message: `server ${server}: its agent was told to fail (as after kill -9)` };
}

/** Whether a migration already moved traffic (its placement points to the target). */
export function switched(m: MigrationObject): boolean {
  return SWITCHED_OR_LATER.includes(m.phase);
}
