import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from '../control/store/memory.js';
import { startControllers } from '../control/controllers/start.js';
import { apply, readResource } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { resourceKey } from '../control/manifest/types.js';
import type { JsonObject } from '../control/store/contract.js';
import { ApiServer } from '../control/api/server.js';
import { TokenAuth } from '../control/api/auth.js';
import { LATENCY_LE_MS } from '../functions/latency.js';
import { ServerAgent } from './agent.js';
import { until } from './agent-testing.js';
import { infraManifest } from './agent-bed.js';

const MANIFEST = `${infraManifest(['m1'], { cpu: 1, memory: '4Gi' })}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: tv, namespace: default }
spec:
  tokens: 7
  functions:
    - name: src
      kind: traffic-source
      config:
        flows:
          - { kind: udp, srcMac: '02:01:00:00:00:10', dstMac: '02:01:00:00:00:20', src: 10.1.1.10, dst: 10.1.2.10, srcPort: 4000, dstPort: 5000, intervalMs: 2, payloadBytes: 200 }
    - { name: sink, kind: traffic-sink }
  links:
    - { endpoints: ['src:out', 'sink:in'] }
`;

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `malformed sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const get = (s: readonly Sample[], name: string, labels: Record<string, string>): number | undefined => s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

interface DomainStatus {
  network: string;
  traffic: Record<string, { received: number; bytes: number; lost?: number }>;
  drops: number;
  latency: { p50Ms: number; p99Ms: number; count: number; sumMs: number; buckets: number[] };
  tokens?: { allocation: number; balance: number };
}

test('GET /metrics against a running agent with real traffic: per-network packets, bytes, drops, latency histogram, tokens, cordoned — equal to the Server status', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  let agent: ServerAgent | undefined;
  const api = new ApiServer({ store, auth: new TokenAuth([{ name: 'ops', token: 'admin-token-0123456789', admin: true }]), webRoot: null });
  try {
    const { resources, issues } = parseManifestText(MANIFEST, 'm.yaml');
    assert.deepEqual(issues, []);
    await apply(store, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    agent = await ServerAgent.start({ store, server: 'm1', ttlSeconds: 2, statusMs: 150, resyncMs: 300 });
    await apply(store, resources);
    const key = resourceKey('Server', 'm1');
    await until('placements', async () => ((await store.list('/swnet/placement/')).items.length === 2 ? true : undefined));
    // Cordon the server once placed (spec.unschedulable, as `swnet drain` does; placements stay):
    // the agent mirrors it into status.cordoned.
    const r = readResource((await store.get(key))!);
    const { resourceVersion: _rv, ...metadata } = r.metadata;
    await store.put(key, { ...r, metadata, spec: { ...r.spec, unschedulable: true } } as unknown as JsonObject);
    let last = '';
    await until('latency figures in the status', async () => {
      const st = ((await store.get(key))?.value as { status?: { domains?: DomainStatus[]; cordoned?: boolean } }).status;
      last = JSON.stringify(st);
      return (st?.domains?.[0]?.latency?.count ?? 0) > 200 && st?.cordoned === true ? true : undefined;
    }).catch((e: Error) => assert.fail(`${e.message}: ${last}`));
    const { url } = await api.listen(0, '127.0.0.1');
    // The agent keeps writing: take a scrape bracketed by two identical reads of the status.
    let samples: Sample[] = [];
    let d: DomainStatus | undefined;
    let st: Record<string, unknown> = {};
    await until('a scrape between two identical statuses', async () => {
      const before = await store.get(key);
      const text = await (await fetch(`${url}/metrics`)).text();
      const after = await store.get(key);
      if (before?.modRevision !== after?.modRevision) return undefined;
      samples = parse(text);
      st = (after?.value as { status: Record<string, unknown> }).status;
      d = (st['domains'] as DomainStatus[]).find((x) => x.network === 'default/tv');
      return true;
    });
    assert.ok(d);
    const net = { namespace: 'default', network: 'tv' };
    const sink = d.traffic['sink']!;
    assert.ok(sink.received > 200);
    assert.equal(get(samples, 'swnet_network_packets_total', net), sink.received);
    // Sinks' bytes only (the source's sent bytes are listed in the status too, not counted here).
    assert.equal(get(samples, 'swnet_network_bytes_total', net), sink.bytes);
    assert.ok(d.traffic['src'] && d.traffic['src'].bytes > 0);
    assert.equal(get(samples, 'swnet_network_drops_total', net), d.drops);
    // End-to-end loss the sink counts (sequence gaps): a number for the sink, none for the source.
    assert.equal(typeof sink.lost, 'number');
    assert.equal(d.traffic['src']?.lost, undefined);
    assert.equal(get(samples, 'swnet_network_lost_total', net), sink.lost);
    // Histogram: +Inf = count = sink's received frames; each le = the status bucket; sum in seconds.
    const lat = d.latency;
    assert.equal(lat.count, sink.received);
    assert.equal(get(samples, 'swnet_network_latency_seconds_count', net), lat.count);
    assert.equal(get(samples, 'swnet_network_latency_seconds_bucket', { ...net, le: '+Inf' }), lat.count);
    assert.ok(Math.abs((get(samples, 'swnet_network_latency_seconds_sum', net) ?? -1) - lat.sumMs / 1000) < 1e-9);
    // Source and sink share a domain: a frame can reach the sink in the pump pass that sent it (0 ms).
    assert.ok(lat.sumMs >= 0 && lat.p50Ms >= 0 && lat.p99Ms >= lat.p50Ms);
    const buckets = samples.filter((x) => x.name === 'swnet_network_latency_seconds_bucket' && x.labels['network'] === 'tv' && x.labels['le'] !== '+Inf');
    assert.deepEqual(buckets.map((x) => Number(x.labels['le'])), LATENCY_LE_MS.map((ms) => ms / 1000));
    assert.deepEqual(buckets.map((x) => x.value), lat.buckets);
    assert.ok((buckets.at(-1)?.value ?? 0) > 0);
    const q = { ...net, server: 'm1' };
    assert.equal(get(samples, 'swnet_network_latency_quantile_seconds', { ...q, quantile: '0.5' }), lat.p50Ms / 1000);
    assert.equal(get(samples, 'swnet_network_latency_quantile_seconds', { ...q, quantile: '0.99' }), lat.p99Ms / 1000);
    // Tokens: the network's share (spec.tokens) at m1's scheduler and its balance as reported.
    assert.equal(d.tokens?.allocation, 7);
    assert.equal(get(samples, 'swnet_network_token_allocation', q), 7);
    assert.equal(get(samples, 'swnet_network_token_balance', q), d.tokens?.balance);
    // Per server.
    assert.equal(st['cordoned'], true);
    assert.equal(get(samples, 'swnet_server_cordoned', { server: 'm1' }), 1);
    assert.equal(get(samples, 'swnet_server_standby', { server: 'm1' }), 0);
    assert.equal(get(samples, 'swnet_server_domains', { server: 'm1' }), 1);
  } finally {
    await api.close();
    await agent?.stop();
    await ctl.stop();
    await store.close();
  }
});
