/**
 * Server agent heartbeats: an agent keeps `/swnet/heartbeat/<server>` alive on a store lease
 * (etcd-style: put once, renew the lease every third of its TTL). When the agent dies the lease
 * expires and the key disappears; the server lifecycle controller then marks the Server
 * `Ready=False` (AgentLost) and the network controller places its functions elsewhere.
 * A Server that never had an agent (emulated servers of the embedded mode) has no Ready
 * condition and stays schedulable.
 */
import type { JsonObject, LeaseId, Store } from './store/contract.js';

export const HEARTBEAT_PREFIX = '/swnet/heartbeat/';

/** @example heartbeatKey('s1') === '/swnet/heartbeat/s1' */
export function heartbeatKey(server: string): string {
  return `${HEARTBEAT_PREFIX}${server}`;
}

export interface Heartbeat {
  readonly lease: LeaseId;
  /** Stops renewing and revokes the lease (a clean shutdown: the server goes NotReady at once). */
  stop(): Promise<void>;
  /** Stops renewing without revoking, as a killed agent would (for tests). */
  abandon(): void;
}

/**
 * Starts an agent's heartbeat for `server`.
 * @example
 * const hb = await startHeartbeat(store, 's1', { ttlSeconds: 10 });
 * // ... on shutdown:
 * await hb.stop();
 */
export async function startHeartbeat(store: Store, server: string, o: { readonly ttlSeconds?: number; readonly onError?: (e: Error) => void; readonly info?: JsonObject } = {}): Promise<Heartbeat> {
  const grant = await store.grantLease(o.ttlSeconds ?? 10);
  await store.put(heartbeatKey(server), { server, since: new Date().toISOString(), ...(o.info ?? {}) }, { lease: grant.id });
  const timer = setInterval(() => {
    store.keepAlive(grant.id).catch((e: unknown) => o.onError?.(e instanceof Error ? e : new Error(String(e))));
  }, Math.max(100, (grant.ttl * 1000) / 3));
  timer.unref();
  return {
    lease: grant.id,
    abandon: () => clearInterval(timer),
    stop: async () => {
      clearInterval(timer);
      await store.revokeLease(grant.id).catch(() => undefined);
    },
  };
}
