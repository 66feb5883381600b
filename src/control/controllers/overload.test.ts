import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listEvents } from '../events.js';
import { apply, getResource } from '../manifest/apply.js';
import { parseManifestText } from '../manifest/load.js';
import { resourceKey } from '../manifest/types.js';
import { listMigrations } from '../migrations.js';
import { placementKey, type Placement } from '../placement.js';
import { MemoryStore } from '../store/memory.js';
import type { JsonObject, Store } from '../store/contract.js';
import { overloadDetector } from '../../policy/overload.js';
import { hostLoad, OverloadController } from './overload.js';

const server = (name: string): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${name} }\nspec: { datacenter: dc1, capacity: { cpu: 8, memory: 16Gi } }\n---\n`;
const INFRA = `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n${server('s1')}${server('s2')}${server('s3')}`;
// Three functions of different memory sizes: MMT picks the smallest first.
const NET = `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: web, namespace: t1 }
spec:
  functions:
    - { name: big, kind: switch, config: { ports: [{ name: a }, { name: b }] }, resources: { cpu: 2, memory: 4Gi } }
    - { name: mid, kind: switch, config: { ports: [{ name: a }, { name: b }] }, resources: { cpu: 2, memory: 1Gi } }
    - { name: small, kind: switch, config: { ports: [{ name: a }, { name: b }] }, resources: { cpu: 2, memory: 256Mi } }
`;

let stamp = 0;
/** What an agent writes: utilisation and per-network processed counters, a new reportedAt each time. */
async function report(s: Store, name: string, cpu: number, processed = 0): Promise<void> {
  const r = await getResource(s, 'Server', name);
  const { resourceVersion: _rv, ...metadata } = r.metadata;
  const status = { ...(r.status ?? {}), utilization: { cpu }, agent: { reportedAt: new Date(Date.now() + stamp++).toISOString() }, domains: [{ network: 't1/web', processed }] };
  await s.put(resourceKey('Server', name), { ...r, metadata, status } as unknown as JsonObject);
}

async function setup(): Promise<Store> {
  const s = new MemoryStore();
  const { resources, issues } = parseManifestText(INFRA + NET, 't.yaml');
  assert.deepEqual(issues, []);
  await apply(s, resources);
  const mem: Record<string, number> = { big: 4 * 2 ** 30, mid: 2 ** 30, small: 256 * 2 ** 20 };
  for (const f of ['big', 'mid', 'small']) {
    const p: Placement = { kind: 'Placement', namespace: 't1', network: 'web', function: f, server: 's1', generation: 1, requests: { cpu: 2, memory: mem[f]!, bandwidth: 0 } };
    await s.put(placementKey('t1', 'web', f), p as unknown as JsonObject);
  }
  return s;
}

describe('overload controller', () => {
  it('sheds with the simulator detector and selector (THR + MMT) after two overloaded samples, a bounded number, with the figure in the detail', async () => {
    const s = await setup();
    const c = await OverloadController.start(s, { policy: 'thr-mmt-0.8', intervalMs: 3_600_000, consecutive: 2, maxPerRound: 2 });
    try {
      await report(s, 's2', 0.1);
      await report(s, 's1', 0.95, 1000);
      await c.round();
      assert.equal((await listMigrations(s)).length, 0, 'one overloaded sample is not enough (hysteresis)');
      await c.round();
      assert.equal((await listMigrations(s)).length, 0, 'no new report, no new sample');
      await report(s, 's1', 0.95, 2000);
      await c.round();
      const ms = await listMigrations(s);
      // 0.95 over three equal functions: without small, 0.63 ≤ 0.8, so one move is enough.
      assert.deepEqual(ms.map((m) => [m.function, m.from, m.reason, m.detail]), [['small', 's1', 'overload', 'utilisation 0.95 > 0.8 on s1 (thr-mmt-0.8)']]);
      assert.ok(['s2', 's3'].includes(ms[0]!.to));
      const ev = (await listEvents(s, { involved: { kind: 'Server', name: 's1' } })).find((e) => e.reason === 'Overloaded');
      assert.match(ev?.message ?? '', /utilisation 0\.95 > 0\.8 on s1 \(thr-mmt-0\.8\): shedding 1 function\(s\) \(t1\/web\/small\)/);
      // In flight + cooldown: further overloaded samples shed nothing more.
      await report(s, 's1', 0.99, 3000);
      await c.round();
      await report(s, 's1', 0.99, 4000);
      await c.round();
      assert.equal((await listMigrations(s)).length, 1);
    } finally {
      await c.stop();
    }
  });

  it('the rate bound holds when one move is not enough; a lightly loaded server never sheds', async () => {
    const s = await setup();
    const c = await OverloadController.start(s, { policy: 'thr-mmt-0.5', intervalMs: 3_600_000, consecutive: 1, maxPerRound: 1 });
    try {
      await report(s, 's2', 0.3);
      await report(s, 's1', 0.99, 10);
      await c.round();
      const ms = await listMigrations(s);
      assert.deepEqual(ms.map((m) => m.function), ['small'], 'MMT order, one per round');
      assert.equal(c.stats.migrations, 1);
    } finally {
      await c.stop();
    }
    assert.throws(() => new (OverloadController as unknown as new (s: Store, i: object) => unknown)(s, { policy: 'npa' }), /DETECTOR-SELECTION-PARAM/);
  });

  it('host load is built as the simulator planner builds it', () => {
    const vm = (mips: number, hist: number[]): { mips: number; ramMb: number; bwMbps: number; host: number; requestedMips: number; history: number[] } => ({ mips, ramMb: 100, bwMbps: 0, host: 0, requestedMips: mips * (hist[0] ?? 0), history: hist });
    const h = hostLoad([vm(1000, [0.5, 0.4]), vm(2000, [0.25])], 4000, 1000, 5);
    assert.equal(h.requestedMips, 1000);
    assert.deepEqual([...(h.history as Float64Array)], [0.25, 0.1]);
    assert.equal(overloadDetector({ kind: 'thr', threshold: 0.2 })(h), true);
    assert.equal(overloadDetector({ kind: 'thr', threshold: 0.3 })(h), false);
  });
});
