/**
 * Helpers the agent tests share (imported by src/cli/agent*.test.ts only): polling until a
 * condition holds, and the frames a traffic function received as the agents report them in
 * Server status.
 *
 * @example
 * await until('traffic at the sink', async () => ((await trafficReceived(store, ['s1'], 'sink')) > 100 ? true : undefined));
 */
import type { Store } from '../control/store/contract.js';
import { resourceKey } from '../control/manifest/types.js';

/** Calls `f` every `pollMs` until it returns a value; throws "timed out waiting for <what>" after `ms`. */
export async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 15000, pollMs = 100): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Frames the traffic function `fn` received, summed over the Server status of `servers`. */
export async function trafficReceived(store: Store, servers: readonly string[], fn: string): Promise<number> {
  let n = 0;
  for (const s of servers) {
    const v = (await store.get(resourceKey('Server', s)))?.value as { status?: { domains?: { traffic?: Record<string, { received: number }> }[] } } | undefined;
    for (const d of v?.status?.domains ?? []) n += d.traffic?.[fn]?.received ?? 0;
  }
  return n;
}
