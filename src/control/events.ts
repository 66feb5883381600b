/**
 * Events and status conditions: how controllers tell users what happened to an object
 * ("never a silent stuck state"). Events are stored under `/swnet/event/<namespace>/<name>`
 * on a lease, so they expire by themselves (default one hour, as Kubernetes); the same
 * reason and message for the same object are folded into one event with a count.
 */
import { createHash } from 'node:crypto';
import type { Compare, JsonObject, LeaseId, Op, Store } from './store/contract.js';
import { LeaseNotFoundError } from './store/contract.js';
import { getResource } from './manifest/apply.js';
import { DEFAULT_NAMESPACE, KINDS, resourceKey, type Condition, type Kind, type Resource } from './manifest/types.js';

export interface ObjectRef {
  readonly kind: Kind;
  readonly name: string;
  /** For namespaced kinds (default `default`). */
  readonly namespace?: string;
}

export interface SwnetEvent {
  readonly kind: 'Event';
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly involvedObject: ObjectRef;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  readonly count: number;
  readonly firstTimestamp: string;
  readonly lastTimestamp: string;
  readonly source: string;
}

/** Events of cluster-wide objects live in this pseudo-namespace. */
export const CLUSTER_EVENTS = '_cluster';
const EVENT_PREFIX = '/swnet/event/';

function eventNamespace(ref: ObjectRef): string {
  return KINDS[ref.kind].namespaced ? (ref.namespace ?? DEFAULT_NAMESPACE) : CLUSTER_EVENTS;
}

export interface EventRecorderInit {
  /** Who reports, e.g. `scheduler`, `agent/s1`. */
  readonly component: string;
  /** Lifetime of an event after its last occurrence, in seconds (default 3600). */
  readonly ttlSeconds?: number;
  readonly now?: () => Date;
}

/**
 * @example
 * const events = new EventRecorder(store, { component: 'scheduler' });
 * await events.record({ kind: 'SoftwareNetwork', name: 'web', namespace: 't1' }, 'Warning', 'Unschedulable', 'fw: no server with 2 free CPUs');
 */
export class EventRecorder {
  private lease: { id: LeaseId; since: number } | undefined;

  constructor(
    private readonly store: Store,
    private readonly init: EventRecorderInit,
  ) {}

  /** One lease per stretch of a tenth of the TTL, so expiry is at most 10% late. */
  private async leaseId(): Promise<LeaseId> {
    const ttl = this.init.ttlSeconds ?? 3600;
    const now = Date.now();
    if (!this.lease || now - this.lease.since > (ttl * 1000) / 10) {
      this.lease = { id: (await this.store.grantLease(ttl)).id, since: now };
    }
    return this.lease.id;
  }

  /** Records (or counts again) an event about an object. Returns the stored event. */
  async record(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<SwnetEvent> {
    for (let attempt = 0; ; attempt++) {
      const p = await this.prepare(ref, type, reason, message);
      try {
        const r = await this.store.txn([p.compare], [p.op]);
        if (r.succeeded) return p.event;
      } catch (e) {
        // The lease expired under us (a store restart, a long pause): take a new one.
        if (!(e instanceof LeaseNotFoundError) || attempt > 3) throw e;
        this.leaseLost();
      }
      if (attempt > 20) throw new Error(`could not record event ${reason} for ${ref.kind} ${ref.name}: too much contention`);
    }
  }

  /**
   * The guard and the write that record an event, for a caller to put in a transaction of its
   * own (one commit for a change and its event). A failed guard means the event was counted
   * meanwhile: prepare again. On LeaseNotFoundError from that transaction, call {@link leaseLost}.
   *
   * @example
   * const ev = await events.prepare(ref, 'Normal', 'Scheduled', 'fw→s1');
   * await store.txn([guard, ev.compare], [...ops, ev.op]);
   */
  async prepare(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<{ compare: Compare; op: Op; event: SwnetEvent }> {
    const ns = eventNamespace(ref);
    const digest = createHash('sha256').update(`${ref.kind}\0${ns}\0${ref.name}\0${type}\0${reason}\0${message}\0${this.init.component}`).digest('hex').slice(0, 16);
    const name = `${ref.name}.${digest}`;
    const key = `${EVENT_PREFIX}${ns}/${name}`;
    const now = (this.init.now ?? (() => new Date()))().toISOString();
    const cur = await this.store.get(key);
    const prev = cur?.value as unknown as SwnetEvent | undefined;
    const event: SwnetEvent = {
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: KINDS[ref.kind].namespaced ? { kind: ref.kind, name: ref.name, namespace: ref.namespace ?? DEFAULT_NAMESPACE } : { kind: ref.kind, name: ref.name },
      type,
      reason,
      message,
      count: (prev?.count ?? 0) + 1,
      firstTimestamp: prev?.firstTimestamp ?? now,
      lastTimestamp: now,
      source: this.init.component,
    };
    return { compare: { key, modRevision: cur?.modRevision ?? 0 }, op: { type: 'put', key, value: event as unknown as JsonObject, lease: await this.leaseId() }, event };
  }

  /** The events' lease is gone (LeaseNotFoundError): the next event takes a new one. */
  leaseLost(): void {
    this.lease = undefined;
  }
}

/**
 * Events, oldest first by last occurrence; all namespaces unless `namespace` is given
 * (`_cluster` holds those of Datacenters, Servers and Links).
 *
 * @example
 * const evs = await listEvents(store, { involved: { kind: 'Server', name: 's1' } });
 */
export async function listEvents(store: Store, opts: { readonly namespace?: string; readonly involved?: ObjectRef } = {}): Promise<SwnetEvent[]> {
  const ns = opts.involved ? eventNamespace(opts.involved) : opts.namespace;
  const prefix = ns !== undefined ? `${EVENT_PREFIX}${ns}/${opts.involved ? `${opts.involved.name}.` : ''}` : EVENT_PREFIX;
  const { items } = await store.list(prefix);
  let evs = items.map((kv) => kv.value as unknown as SwnetEvent);
  const inv = opts.involved;
  if (inv) evs = evs.filter((e) => e.involvedObject.kind === inv.kind && e.involvedObject.name === inv.name);
  return evs.sort((a, b) => (a.lastTimestamp < b.lastTimestamp ? -1 : a.lastTimestamp > b.lastTimestamp ? 1 : 0));
}

/**
 * Sets one status condition of an object (replacing the one of the same type), with
 * `observedGeneration` = the generation the controller acted on. `lastTransitionTime` moves
 * only when the condition's status changes. Compare-and-swap with retries, so a concurrent
 * apply is never overwritten. Returns the updated resource.
 *
 * @example
 * await setCondition(store, { kind: 'SoftwareNetwork', name: 'web' }, { type: 'Ready', status: 'False', reason: 'Unschedulable', message: '...' }, 3);
 */
export async function setCondition(store: Store, ref: ObjectRef, cond: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>, observedGeneration?: number, now: () => Date = () => new Date()): Promise<Resource> {
  const key = resourceKey(ref.kind, ref.name, ref.namespace);
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = await getResource(store, ref.kind, ref.name, ref.namespace);
    const { resourceVersion, ...metadata } = r.metadata;
    const updated = withCondition({ ...r, metadata }, cond, observedGeneration, now);
    const res = await store.txn([{ key, modRevision: Number(resourceVersion) }], [{ type: 'put', key, value: updated as unknown as JsonObject }]);
    if (res.succeeded) return { ...updated, metadata: { ...metadata, resourceVersion: String(res.revision) } };
  }
  throw new Error(`could not set condition ${cond.type} on ${ref.kind} ${ref.name}: too much contention`);
}

/**
 * The object with one status condition set (as {@link setCondition} writes it, without the
 * write): for a controller that puts the status in a transaction of its own.
 *
 * @example
 * const next = withCondition(net, { type: 'Scheduled', status: 'True', reason: 'Scheduled' }, 2);
 */
export function withCondition(r: Resource, cond: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>, observedGeneration?: number, now: () => Date = () => new Date()): Resource {
  const gen = observedGeneration ?? r.metadata.generation ?? 0;
  const conditions = [...(r.status?.conditions ?? [])];
  const i = conditions.findIndex((c) => c.type === cond.type);
  const old = i >= 0 ? conditions[i] : undefined;
  const next: Condition = {
    ...cond,
    observedGeneration: gen,
    lastTransitionTime: old && old.status === cond.status && old.lastTransitionTime ? old.lastTransitionTime : now().toISOString(),
  };
  if (i >= 0) conditions[i] = next;
  else conditions.push(next);
  return { ...r, status: { ...(r.status ?? {}), observedGeneration: gen, conditions } };
}
