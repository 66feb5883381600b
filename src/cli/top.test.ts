import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apply } from '../control/manifest/apply.js';
import { GOOD } from '../control/manifest/fixtures.js';
import { parseManifestText } from '../control/manifest/load.js';
import { placementKey, type Placement } from '../control/placement.js';
import { MemoryStore } from '../control/store/memory.js';
import type { JsonObject } from '../control/store/contract.js';
import { computeTop } from '../control/top.js';
import { renderTop } from './top.js';

describe('swnet top', () => {
  it('sums placed requests per server and network against capacity, with measured figures when reported', async () => {
    const store = new MemoryStore();
    await apply(store, parseManifestText(GOOD, 'good.yaml').resources);
    const put = (fn: string, server: string, cpu: number, memory: number): Promise<number> =>
      store.put(placementKey('tenant-a', 'web', fn), { kind: 'Placement', namespace: 'tenant-a', network: 'web', function: fn, server, generation: 1, requests: { cpu, memory, bandwidth: 1e9 } } satisfies Placement as unknown as JsonObject);
    await put('r1', 's1', 4, 2 ** 30);
    await put('fw', 's1', 4, 2 ** 30);
    await put('lb', 's2', 2, 2 ** 31);
    const s1 = (await store.get('/swnet/server/s1'))!;
    await store.put(s1.key, { ...(s1.value as JsonObject), status: { utilization: { cpu: 0.42 }, powerWatts: 112.4 } });
    const t = await computeTop(store);
    const text = renderTop(t, 'all');
    assert.match(text, /^SERVER\s+DATACENTER\s+FUNCTIONS\s+CPU\(req\)\s+CPU%/m);
    assert.match(text, /^s1\s+edge-paris\s+2\s+8\/16\s+50%\s+2GiB\/64GiB\s+3%\s+2Gbps\/10Gbps\s+20%\s+42%\s+112W$/m);
    assert.match(text, /^s2\s+edge-paris\s+1\s+2\/8\s+25%\s+2GiB\/32GiB\s+6%\s+1Gbps\/-\s+-\s+-\s+-$/m);
    assert.match(text, /^tenant-a\s+web\s+3\s+3\s+Unknown\s+s1,s2\s+10\s+4GiB\s+3Gbps$/m);
    // A tenant's view has no servers and only its namespaces.
    const tenant = await computeTop(store, { namespaces: ['tenant-b'], servers: false });
    assert.deepEqual(tenant, { servers: [], networks: [] });
    await store.close();
  });
});
