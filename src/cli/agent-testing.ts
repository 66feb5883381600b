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
import type { Plain } from '../functions/contract.js';
import { getMigration, keyOf, type MigrationObject } from '../control/migrations.js';
import type { ServerAgent } from './agent.js';

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

/** A numbered flow as a traffic-sink counts it. */
export interface SinkFlow { received: number; maxSeq: number; duplicates: number; reordered: number }

type Obj = { readonly [k: string]: Plain };

/**
 * Flow `id` (default 2: flow 1 only warms the path up) as the sink of network `key` counts it,
 * on whichever of `agents` runs that sink; nothing received yet if none does.
 */
export async function sinkFlow(agents: ServerAgent | Iterable<ServerAgent>, key: string, id = 2): Promise<SinkFlow> {
  for (const a of Symbol.iterator in agents ? agents : [agents]) {
    if (!a.runtime.functions(key).includes('sink')) continue;
    const st = (await a.runtime.exportState(key, 'sink').catch(() => null)) as Obj | null;
    const f = ((st?.['flows'] ?? []) as readonly Obj[]).find((x) => x['id'] === id);
    if (f) return { received: f['received'] as number, maxSeq: f['maxSeq'] as number, duplicates: f['duplicates'] as number, reordered: (f['reordered'] as number | undefined) ?? 0 };
  }
  return { received: 0, maxSeq: -1, duplicates: 0, reordered: 0 };
}

/** Frames of a flow lost between two readings of it: sequence numbers passed minus frames received. */
export const lostSince = (f0: SinkFlow, f: SinkFlow): number => f.maxSeq - f0.maxSeq - (f.received - f0.received);

/**
 * Frames the platform itself dropped and counted (a worker starved of CPU long enough for its rx
 * ring to fill, a pool or queue exhausted): load artefacts, not a migration's.
 */
export function starved(agents: Iterable<ServerAgent>): number {
  let n = 0;
  for (const a of agents) {
    const d = a.runtime.host.drops;
    n += d.ringFull + d.queueFull + d.noBuffer + (a.runtime.uplink?.counters().rxNoBuffer ?? 0);
    for (const hd of a.runtime.host.domainList()) n += hd.domain.counters().txFull;
  }
  return n;
}

/** Migration `m` once it is done; throws as soon as it failed (with its timeline). */
export async function migrationDone(store: Store, m: MigrationObject, ms = 15000): Promise<MigrationObject> {
  return until(`migration ${m.function} (${m.id}) done`, async () => {
    const cur = (await getMigration(store, keyOf(m)))?.m;
    if (cur?.phase === 'failed') throw new Error(`migration failed: ${cur.error ?? ''}: ${JSON.stringify(cur.timeline)}`);
    return cur?.phase === 'done' ? cur : undefined;
  }, ms, 20);
}

/** Migration `m` once it ended, done or failed. */
export async function migrationEnded(store: Store, m: MigrationObject, ms = 20000): Promise<MigrationObject> {
  return until(`migration of ${m.function} ended`, async () => {
    const cur = (await getMigration(store, keyOf(m)))?.m;
    return cur?.phase === 'done' || cur?.phase === 'failed' ? cur : undefined;
  }, ms, 20);
}
