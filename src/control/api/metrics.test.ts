import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setCondition } from '../events.js';
import { apply, readResource } from '../manifest/apply.js';
import { GOOD } from '../manifest/fixtures.js';
import { parseManifestText } from '../manifest/load.js';
import { resourceKey } from '../manifest/types.js';
import { placementKey, type Placement } from '../placement.js';
import type { JsonObject } from '../store/contract.js';
import { MemoryStore } from '../store/memory.js';
import { TokenAuth } from './auth.js';
import { ApiServer } from './server.js';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Parses the text exposition format (0.0.4): samples, and the TYPE of each family. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ') as [string, string];
      types.set(name, type);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function value(samples: readonly Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('GET /metrics', () => {
  it('exposes what agents wrote into Server status, per-network traffic and process metrics, without a token', async () => {
    const store = new MemoryStore();
    const { resources, issues } = parseManifestText(GOOD, 'good.yaml');
    assert.deepEqual(issues, []);
    await apply(store, resources);
    // What the server agent writes (cli/agent.ts patchStatus): two sinks of tenant-a/web on s1.
    const key = resourceKey('Server', 's1');
    const r = readResource((await store.get(key))!);
    const status = {
      utilization: { cpu: 0.375 },
      powerWatts: 118.5,
      energyJoules: 4321.25,
      domains: [
        { network: 'tenant-a/web', functions: ['r1', 'fw', 'lb'], state: 'running', restarts: 0, processed: 9000, traffic: { fw: { received: 1200, bytes: 96000 }, lb: { received: 34, bytes: 2176 } } },
        { network: 'tenant-b/other', functions: ['x'], state: 'running', restarts: 1, processed: 5, traffic: {} },
      ],
    };
    await store.put(key, { ...r, status } as unknown as JsonObject);
    await setCondition(store, { kind: 'Server', name: 's1' }, { type: 'Ready', status: 'True', reason: 'AgentHeartbeat', message: 'ok' });
    const placement = (fn: string, server: string): Placement => ({ kind: 'Placement', namespace: 'tenant-a', network: 'web', function: fn, server, generation: 1, requests: { cpu: 0.5, memory: 0, bandwidth: 0 } });
    await store.put(placementKey('tenant-a', 'web', 'r1'), placement('r1', 's1') as unknown as JsonObject);
    await store.put(placementKey('tenant-a', 'web', 'fw'), placement('fw', 's1') as unknown as JsonObject);

    const api = new ApiServer({ store, auth: new TokenAuth([{ name: 'ops', token: 'admin-token-0123456789', admin: true }]), webRoot: null });
    const { url } = await api.listen(0, '127.0.0.1');
    try {
      const res = await fetch(`${url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const { samples, types } = parse(await res.text());
      const s1 = { server: 's1', datacenter: 'edge-paris' };
      const s2 = { server: 's2', datacenter: 'edge-paris' };
      assert.equal(value(samples, 'swnet_server_utilization', s1), 0.375);
      assert.equal(value(samples, 'swnet_server_power_watts', s1), 118.5);
      assert.equal(value(samples, 'swnet_server_energy_joules_total', s1), 4321.25);
      assert.equal(types.get('swnet_server_energy_joules_total'), 'counter');
      assert.equal(value(samples, 'swnet_server_domains', s1), 2);
      assert.equal(value(samples, 'swnet_server_functions', s1), 2);
      assert.equal(value(samples, 'swnet_server_ready', s1), 1);
      // s2 has no agent: no measured figures, not ready, no domains.
      assert.equal(value(samples, 'swnet_server_utilization', s2), undefined);
      assert.equal(value(samples, 'swnet_server_power_watts', s2), undefined);
      assert.equal(value(samples, 'swnet_server_ready', s2), 0);
      assert.equal(value(samples, 'swnet_server_domains', s2), 0);
      const web = { namespace: 'tenant-a', network: 'web' };
      assert.equal(value(samples, 'swnet_network_functions', web), 3);
      assert.equal(value(samples, 'swnet_network_functions_placed', web), 2);
      assert.equal(value(samples, 'swnet_network_packets_total', web), 1234);
      assert.equal(value(samples, 'swnet_network_bytes_total', web), 98176);
      assert.equal(value(samples, 'swnet_network_processed_total', web), 9000);
      assert.equal(types.get('swnet_network_packets_total'), 'counter');
      // A domain of a network not in the store is not exposed.
      assert.equal(samples.some((s) => s.labels['network'] === 'other'), false);
      assert.ok(samples.some((s) => s.name === 'process_cpu_user_seconds_total'), 'default process metrics');

      // Scraped again after the agent's next report: values follow the store, nothing is summed twice.
      const r2 = readResource((await store.get(key))!);
      await store.put(key, { ...r2, status: { ...r2.status, energyJoules: 5000, domains: [] } } as unknown as JsonObject);
      await store.delete(placementKey('tenant-a', 'web', 'fw'));
      const again = parse(await (await fetch(`${url}/metrics`)).text()).samples;
      assert.equal(value(again, 'swnet_server_energy_joules_total', s1), 5000);
      assert.equal(value(again, 'swnet_server_domains', s1), 0);
      assert.equal(value(again, 'swnet_network_functions_placed', web), 1);
      assert.equal(value(again, 'swnet_network_packets_total', web), undefined);

      // Listed in the OpenAPI document, unauthenticated, as text.
      const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, { content: Record<string, unknown> }> }>> };
      const op = doc.paths['/metrics']?.['get'];
      assert.ok(op);
      assert.deepEqual(op.security, []);
      assert.ok(op.responses['200']?.content['text/plain; version=0.0.4']);
    } finally {
      await api.close();
    }
  });
});
