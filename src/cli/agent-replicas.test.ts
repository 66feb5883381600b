// Horizontal elasticity through the agent: a SoftwareNetwork function with `replicas` runs as a
// partition (src/host/partition.ts) on its server, and a changed `replicas` re-partitions it live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../control/store/memory.js';
import { startControllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import type { Plain } from '../functions/contract.js';
import { ServerAgent } from './agent.js';
import { until } from './agent-testing.js';
import { infraManifest, replyFirewall } from './agent-bed.js';

const FLOWS = 8;
const FWD_COUNT = 100;

/**
 * cli → fw (a → b) → ssink and srv → fw (d → c) → csink: no switch (a flood copies frames, and
 * a loaded machine runs out of slots for copies). The firewall lets new flows in by `a` only;
 * what comes in by `d` passes as established (conntrack is by 5-tuple, not interface). The client's
 * flows (ids 1…8) end after 0.4 s; the server's replies (ids 101…108, the same 5-tuples
 * reversed, 200/s each: a domain starved of CPU for a while must not overflow its 1024-slot rx
 * ring) start 1.5 s after it and go on: they pass only where the conntrack entry of their flow
 * is, so once re-partitioned, only if the entries moved with their buckets. Frames of a flow
 * arrive in order, so at any moment a sink that lost none has received maxSeq + 1 of them.
 */
function manifest(replicas: number | undefined): string {
  const fw = replyFirewall({ name: 'part', flows: FLOWS, net: 9, mac: '0a', port: 41000, forward: { intervalMs: 4, count: FWD_COUNT }, replies: { intervalMs: 5, startMs: 1500 }, ...(replicas !== undefined ? { replicas } : {}) });
  return `${infraManifest(['s1'])}---\n${fw}`;
}

interface SinkFlow {
  id: number;
  received: number;
  maxSeq: number;
  duplicates: number;
  reordered: number;
  tooOld: number;
}

const KEY = 'default/part';

async function sinkFlows(agent: ServerAgent, sink: string, ids: (id: number) => boolean): Promise<SinkFlow[]> {
  // Not running yet (the agent has not applied the network): nothing received.
  const st = (await agent.runtime.exportState(KEY, sink).catch(() => null)) as { flows?: Plain[] } | null;
  return ((st?.flows ?? []) as unknown as SinkFlow[]).filter((f) => ids(f.id)).sort((a, b) => a.id - b.id);
}

/** Waits until every reply flow went `more` frames past where it was, then its sink's flows. */
async function repliesGoOn(a: ServerAgent, more: number): Promise<SinkFlow[]> {
  const from = new Map((await sinkFlows(a, 'csink', (id) => id > 100)).map((f) => [f.id, f.maxSeq]));
  return waitFor(a, `every reply flow ${more} frames further`, async () => {
    const f = await sinkFlows(a, 'csink', (id) => id > 100);
    return f.length === FLOWS && f.every((x) => x.maxSeq >= (from.get(x.id) ?? 0) + more) ? f : undefined;
  });
}

/** What the host saw, for a failure's message: drops of the network, its domains' counters, the sinks' flows. */
async function diag(a: ServerAgent): Promise<string> {
  const doms = a.runtime.domainsOf(KEY).map((d) => {
    const c = a.runtime.host.domainList().find((x) => x.domain.id === d.id)?.domain.counters();
    return c ? { fns: d.functions.join(','), sent: c.sent, received: c.received, processed: c.processed, ringFull: c.ringFull, txFull: c.txFull } : d;
  });
  const sinks = [...(await sinkFlows(a, 'ssink', () => true)), ...(await sinkFlows(a, 'csink', () => true))].map((f) => [f.id, f.received, f.maxSeq, f.duplicates, f.reordered, f.tooOld]);
  return JSON.stringify({ drops: a.runtime.host.dropsOf(KEY), doms, sinks, changes: a.runtime.changes(KEY) });
}

/** `until`, its failure naming what the host saw. */
async function waitFor<T>(a: ServerAgent, what: string, f: () => Promise<T | undefined>, ms?: number): Promise<T> {
  try {
    return await until(what, f, ms);
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}: ${await diag(a)}`);
  }
}

async function applyReplicas(store: MemoryStore, n: number | undefined): Promise<void> {
  const { resources, issues } = parseManifestText(manifest(n), 'replicas.yaml');
  assert.deepEqual(issues, []);
  await apply(store, resources);
}

test('agent: a firewall with replicas 2 runs as a partition; replicas 3 then 1 re-partition it live: every numbered reply passes once (conntrack entries moved with their buckets)', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  let agent: ServerAgent | undefined;
  try {
    const { resources } = parseManifestText(manifest(2), 'replicas.yaml');
    await apply(store, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    agent = await ServerAgent.start({ store, server: 's1', ttlSeconds: 2, statusMs: 500, resyncMs: 300 });
    const a = agent;
    await applyReplicas(store, 2);
    const part = await until('fw partitioned', async () => a.runtime.partitionOf(KEY, 'fw'));
    assert.equal(part.partition.replicas, 2);
    assert.ok(a.runtime.functions(KEY).includes('fw'));
    // Each instance is a domain of its own, beside the network's cells.
    assert.equal(a.runtime.domainsOf(KEY).filter((d) => d.functions.includes('fw')).length, 2);

    // The client's numbered flows all cross the two instances, each flow on one of them.
    const fwd = await waitFor(a, 'forward flows delivered', async () => {
      const f = await sinkFlows(a, 'ssink', (id) => id <= FLOWS);
      return f.length === FLOWS && f.every((x) => x.received === FWD_COUNT) ? f : undefined;
    });
    assert.ok(fwd.every((x) => x.duplicates === 0 && x.maxSeq === FWD_COUNT - 1), JSON.stringify(fwd));
    const spread = Object.values(part.partition.counters().spread);
    assert.equal(spread.length, 2);
    assert.ok(spread.every((n) => n > 0) && spread.reduce((s, n) => s + n, 0) >= FLOWS * FWD_COUNT, `spread ${spread.join(' + ')}`);

    // Replies flow (established connections only); the spec changes to 3, then to 1, meanwhile.
    await waitFor(a, 'replies flowing', async () => {
      const f = await sinkFlows(a, 'csink', (id) => id > 100);
      return f.length === FLOWS && f.every((x) => x.received > 100) ? true : undefined;
    });
    await applyReplicas(store, 3);
    await until('3 instances', async () => (a.runtime.partitionOf(KEY, 'fw')?.partition.replicas === 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    await applyReplicas(store, 1);
    await until('1 instance', async () => (a.runtime.partitionOf(KEY, 'fw')?.partition.replicas === 1 ? true : undefined));
    // The same partition throughout: re-partitioned, never rebuilt.
    assert.equal(a.runtime.partitionOf(KEY, 'fw')?.partition, part.partition);
    assert.deepEqual(a.runtime.changes(KEY)?.started, []);

    // Replies still pass after the last re-partition (100 frames = 0.5 s per flow), none missing.
    const final = await repliesGoOn(a, 100);
    const why = `${JSON.stringify(part.resizes)} ${await diag(a)}`;
    for (const x of final) {
      assert.equal(x.received, x.maxSeq + 1, `flow ${x.id}: ${x.received} of ${x.maxSeq + 1} replies (lost ones were dropped without their conntrack entry) ${why}`);
      assert.equal(x.duplicates, 0, `flow ${x.id} duplicated`);
    }
    const recs = part.resizes;
    assert.deepEqual(
      recs.map((r) => [r.from, r.to]),
      [
        [2, 3],
        [3, 1],
      ],
    );
    // 2→3 moves about a third of the buckets, 3→1 the two removed instances' two thirds; the
    // entries of the flows there went with them.
    assert.ok(recs[0] && recs[0].moved > 60 && recs[0].moved < 110, `2→3 moved ${recs[0]?.moved}`);
    assert.ok(recs[1] && recs[1].moved > 140 && recs[1].moved < 200, `3→1 moved ${recs[1]?.moved}`);
    assert.ok(recs[1].flows > 0, `3→1 moved ${recs[1].flows} connections`);
    assert.deepEqual(part.partition.counters().buckets, { 'fw#0': 257 });
    const drops = a.runtime.host.dropsOf(KEY);
    assert.deepEqual([drops.unwired, drops.ringFull, drops.queueFull, drops.noBuffer], [0, 0, 0, 0], JSON.stringify(drops));
    console.log(`replicas: 2→3 moved ${recs[0].moved} buckets, ${recs[0].flows} connections, held ${recs[0].held} frames ${recs[0].holdMs.toFixed(1)} ms; 3→1 moved ${recs[1].moved}, ${recs[1].flows} connections, held ${recs[1].held} frames ${recs[1].holdMs.toFixed(1)} ms`);
  } finally {
    await agent?.stop();
    await ctl.stop();
  }
});

test('agent: a firewall gains replicas (cell → partition of 2, its conntrack table pre-copied) and loses them (→ one instance → a cell with its state) while replies flow: every reply arrives once', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  let agent: ServerAgent | undefined;
  try {
    const { resources } = parseManifestText(manifest(undefined), 'replicas.yaml');
    await apply(store, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    agent = await ServerAgent.start({ store, server: 's1', ttlSeconds: 2, statusMs: 500, resyncMs: 300 });
    const a = agent;
    await applyReplicas(store, undefined);
    await waitFor(a, 'replies flowing', async () => {
      const f = await sinkFlows(a, 'csink', (id) => id > 100);
      return f.length === FLOWS && f.every((x) => x.received > 100) ? true : undefined;
    });
    assert.equal(a.runtime.partitionOf(KEY, 'fw'), undefined);
    await applyReplicas(store, 2);
    const part = await until('partitioned', async () => a.runtime.partitionOf(KEY, 'fw')?.resizes.length === 1 ? a.runtime.partitionOf(KEY, 'fw') : undefined);
    // Started as one instance with the cell's table, then grown live to 2.
    assert.deepEqual(part.resizes.map((r) => [r.from, r.to]), [[1, 2]]);
    assert.ok((part.resizes[0]?.flows ?? 0) > 0, 'connections moved to the second instance');
    assert.deepEqual(a.runtime.changes(KEY)?.stateLost, []);
    await new Promise((r) => setTimeout(r, 300));
    await applyReplicas(store, undefined);
    await until('back in a cell', async () => (a.runtime.partitionOf(KEY, 'fw') === undefined ? true : undefined));
    assert.deepEqual(a.runtime.changes(KEY)?.stateLost, []);
    await repliesGoOn(a, 100);
    // A transition rebuilds the sinks' domain too (make-before-break, held frames released a ring's
    // worth per pass): a machine starving that domain of CPU may overflow its rx ring, which the
    // host counts. What the firewall drops is not counted: a reply refused for want of its
    // conntrack entry would show as a loss beyond the host's drops.
    const why = await diag(a);
    const d = a.runtime.host.dropsOf(KEY);
    const counted = d.unwired + d.ringFull + d.queueFull + d.noBuffer;
    const flows = await sinkFlows(a, 'csink', (id) => id > 100);
    const lost = flows.reduce((s, x) => s + x.maxSeq + 1 - x.received, 0);
    assert.ok(lost <= counted, `${lost} replies lost, ${counted} frames dropped by the host: ${why}`);
    for (const x of flows) assert.equal(x.duplicates, 0, `flow ${x.id} duplicated`);
  } finally {
    await agent?.stop();
    await ctl.stop();
  }
});

