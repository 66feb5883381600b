import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plain } from '../functions/contract.js';
import { MemoryStore } from '../control/store/memory.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { getMigration, keyOf, migrationStateKey, newMigration } from '../control/migrations.js';
import type { JsonObject } from '../control/store/contract.js';
import { MigrationController } from '../control/controllers/migration.js';
import { ServerAgent } from './agent.js';
import { until } from './agent-testing.js';
import { infraManifest, placeFixed } from './agent-bed.js';

// A drain's wave (MigrationObject.wave): two LINKED functions sharing a domain on their source
// move together — the source leaves their domain as it is (no isolation), the target warms both
// in ONE domain with their link inside it, the controller switches both in one transaction, the
// target adopts that domain whole; the flow through them goes on, every frame once.

type Obj = { readonly [k: string]: Plain };
const N = 1500;
const mac = (b: number): string => `02:0a:00:00:00:${b.toString(16).padStart(2, '0')}`;
const NET = `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: wave, namespace: default }
spec:
  functions:
    - name: src
      kind: traffic-source
      config:
        flows:
          - { kind: udp, srcMac: '${mac(0x10)}', dstMac: '${mac(0x11)}', src: 10.7.1.10, dst: 10.7.2.10, srcPort: 1000, dstPort: 2000, intervalMs: 5, count: 100 }
          - { kind: udp, srcMac: '${mac(0x10)}', dstMac: '${mac(0x11)}', src: 10.7.1.10, dst: 10.7.2.10, srcPort: 1001, dstPort: 2000, intervalMs: 1, count: ${N}, startMs: 1500 }
    - name: r1
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x11)}', addresses: [10.7.1.1/24] }
          - { name: eth1, mac: '${mac(0x12)}', addresses: [10.7.0.1/30] }
    - name: r2
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(0x21)}', addresses: [10.7.0.2/30] }
          - { name: eth1, mac: '${mac(0x22)}', addresses: [10.7.2.1/24] }
        neighbors: [{ interface: eth1, address: 10.7.2.10, mac: '${mac(0x20)}' }]
    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', 'r1:eth0'] }
    - { endpoints: ['r1:eth1', 'r2:eth0'] }
    - { endpoints: ['r2:eth1', 'sink:in'] }
`;

async function flow(agent: ServerAgent): Promise<{ received: number; maxSeq: number; duplicates: number }> {
  const st = (await agent.runtime.exportState('default/wave', 'sink').catch(() => null)) as Obj | null;
  const f = ((st?.['flows'] ?? []) as readonly Obj[]).find((x) => x['id'] === 2);
  return f ? { received: f['received'] as number, maxSeq: f['maxSeq'] as number, duplicates: f['duplicates'] as number } : { received: 0, maxSeq: -1, duplicates: 0 };
}

test('a drain wave moves two linked functions in one domain: the source does not isolate them, the target warms and adopts them as one domain, no frame lost or duplicated', { timeout: 60_000 }, async () => {
  const store = new MemoryStore();
  const { resources, issues } = parseManifestText(`${infraManifest(['s1', 's2', 's3'])}---\n${NET}`, 'wave.yaml');
  assert.deepEqual(issues, []);
  await apply(store, resources);
  await placeFixed(store, 'default', 'wave', { src: 's1', r1: 's2', r2: 's2', sink: 's1' });
  const agents = new Map<string, ServerAgent>();
  const ctl = await MigrationController.start(store, { resyncMs: 100 });
  let watch: NodeJS.Timeout | undefined;
  try {
    for (const s of ['s1', 's2', 's3']) agents.set(s, await ServerAgent.start({ store, server: s, vxlan: { address: '127.0.0.1', port: 0 }, ttlSeconds: 5, statusMs: 1000, resyncMs: 300 }));
    const s1 = agents.get('s1') as ServerAgent;
    const s2 = agents.get('s2') as ServerAgent;
    const s3 = agents.get('s3') as ServerAgent;
    const shared = await until('r1 and r2 share a domain on s2', async () => s2.runtime.domainsOf('default/wave').find((d) => d.functions.includes('r1') && d.functions.includes('r2')), 15000, 20);
    await until('frames of flow 2 at the sink', async () => ((await flow(s1)).received > 50 ? true : undefined), 20000, 20);
    // Every domain s2 and s3 run for the network while the wave moves.
    const seen = { s2: new Set<string>(), s3: new Set<string>() };
    watch = setInterval(() => {
      for (const d of s2.runtime.domainsOf('default/wave')) seen.s2.add(`${d.id}:${d.functions.join('+')}`);
      for (const d of s3.runtime.domainsOf('default/wave')) seen.s3.add(`${d.id}:${d.functions.join('+')}`);
    }, 5);
    const ms = ['r1', 'r2'].map((fn) => newMigration({ namespace: 'default', network: 'wave', function: fn, from: 's2', to: 's3', reason: 'operator', detail: 'drain s2', wave: 's2:default/wave:test' }));
    await store.txn(ms.map((m) => ({ key: keyOf(m), modRevision: 0 })), ms.map((m) => ({ type: 'put' as const, key: keyOf(m), value: m as unknown as JsonObject })));
    for (const m of ms) {
      const end = await until(`migration of ${m.function} ended`, async () => {
        const cur = (await getMigration(store, keyOf(m)))?.m;
        return cur?.phase === 'done' || cur?.phase === 'failed' ? cur : undefined;
      }, 20000, 20);
      assert.equal(end.phase, 'done', `${m.function}: ${end.error ?? ''} ${JSON.stringify(end.timeline)}`);
      const at = (p: string): string => end.timeline.find((e) => e.phase === p)?.detail ?? '';
      assert.match(at('prepared'), /in one domain with the 2 function\(s\) of its wave here/);
      assert.match(at('switched'), /a wave of 2/);
      assert.match(at('done'), /final state (imported|merged)/);
      // The pre-copy (one export of the shared domain) carried each router's learnt neighbour.
      const st = (await store.get(migrationStateKey('default', 'wave', m.id)))?.value as { pre?: { neighbors?: { address: string }[] } } | undefined;
      assert.ok(st?.pre?.neighbors?.some((n) => n.address === (m.function === 'r1' ? '10.7.0.2' : '10.7.0.1')), JSON.stringify(st));
    }
    // Both switched at one instant.
    const sw = await Promise.all(ms.map(async (m) => (await getMigration(store, keyOf(m)))?.m.timeline.find((e) => e.phase === 'switched')?.at));
    assert.equal(sw[0], sw[1]);
    await until('r1, r2 run on s3 in one domain and no longer on s2', async () => {
      const d = s3.runtime.domainsOf('default/wave');
      return d.length === 1 && d[0]!.functions.sort().join() === 'r1,r2' && s2.runtime.functions('default/wave').length === 0 ? true : undefined;
    }, 10000, 20);
    clearInterval(watch);
    // s2 never rebuilt their domain (no isolation); s3 never ran them in two domains.
    assert.deepEqual([...seen.s2], [`${shared.id}:${shared.functions.join('+')}`]);
    assert.equal(seen.s3.size, 1, [...seen.s3].join(' '));
    // The rest of the flow crosses r1 → r2 (linked inside the one domain) on s3: every frame, once.
    const f = await until(`all ${N} frames sent`, async () => {
      const x = await flow(s1);
      return x.maxSeq === N - 1 ? x : undefined;
    }, 20000, 50);
    assert.equal(f.duplicates, 0);
    assert.ok(f.received > N / 2, `frames received ${f.received} of ${N}`);
  } finally {
    clearInterval(watch);
    for (const a of agents.values()) await a.stop();
    await ctl.stop();
    await store.close();
  }
});
