import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrafficSource } from '../functions/traffic-source.js';
import type { TrafficSink } from '../functions/traffic-sink.js';
import { HostServer } from '../host/hostserver.js';
import { routedNetwork } from '../host/migration-bed.js';
import { parseManifestText } from '../control/manifest/load.js';
import { AgentAutoscaler, type ScaleChange } from './agent-autoscale.js';
import { MemoryStore } from '../control/store/memory.js';
import { startControllers } from '../control/controllers/start.js';
import { apply } from '../control/manifest/apply.js';
import { listEvents } from '../control/events.js';
import { ServerAgent } from './agent.js';
import { until } from './agent-testing.js';
import { infraManifest } from './agent-bed.js';

const sent = (s: TrafficSource): number => ((s.counters()['flows'] ?? []) as readonly { packets: number }[]).reduce((n, f) => n + f.packets, 0);
const received = (s: TrafficSink): number => s.report().reduce((n, f) => n + f.received, 0);

test('autoscaler on a host: a compressed day raises the allocation at the peak and lowers it at night, within limits, with no frame dropped', async () => {
  const h = new HostServer({ name: 'as-s1', slots: 65536, slotSize: 512, capacity: { capacity: 10_000, unit: 'packets' }, domain: { watchdogMs: 5000, ringCapacity: 32768 } });
  h.addNetwork('day', { allocation: 10 });
  h.addNetwork('bg', { allocation: 10 });
  const periodMs = 4000;
  const dayNet = await routedNetwork(h, 'day');
  const bgNet = await routedNetwork(h, 'bg');
  // The sources start together, at 21:36 of a compressed day (phase 0.9): night, then the load
  // rises to 6 kpps at noon and falls back to 300 packets/s at the next midnight. Rates a loaded
  // machine keeps up with: a backlog at the scheduler would rightly keep the allocation up.
  const originMs = performance.timeOrigin + performance.now() + 0.1 * periodMs;
  const day = { sink: dayNet.sink, source: dayNet.source(6000, { periodMs, min: 0.05, max: 1, originMs }) };
  const bg = { sink: bgNet.sink, source: bgNet.source(1000) };
  const limits = { minTokens: 2, maxTokens: 40, targetUtilization: 0.7 };
  const events: ScaleChange[] = [];
  const scaler = new AgentAutoscaler({ host: h, limits: (n) => (n === 'day' ? limits : undefined), onScaled: (c) => void events.push(c), options: { downWindows: 3 } });
  const trail: number[] = [];
  try {
    h.start();
    // Until 02:24 of the next day (phase 1.1), or up to 07:12 (1.3) while the evening's shrink is
    // still to come (a loaded machine delays ticks and drains the peak's backlog late).
    const at = (phase: number): number => originMs - performance.timeOrigin + periodMs * phase;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      await scaler.tick();
      trail.push(h.stats()?.networks.find((n) => n.net === 'day')?.share.nextAllocation ?? NaN);
      const peak = Math.max(...trail);
      const shrunk = Math.min(...trail.slice(trail.indexOf(peak))) <= peak / 4;
      if (performance.now() > at(1.3) || (performance.now() > at(1.1) && shrunk)) break;
    }
    h.endpointsTicking = false;
    const deadline = performance.now() + 5000;
    while ((received(day.sink) < sent(day.source) || received(bg.sink) < sent(bg.source)) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  } finally {
    await h.close();
  }
  const s = trail.join(' ');
  const peak = Math.max(...trail);
  const peakAt = trail.indexOf(peak);
  // Night first: shrunk below the initial 10; noon: grown well above it; evening: back down.
  assert.ok(Math.min(...trail.slice(0, peakAt)) < 10, `no shrink at night: ${s}`);
  assert.ok(peak >= 30, `no growth at the peak: ${s}`);
  assert.ok(Math.min(...trail.slice(peakAt)) <= peak / 4, `no shrink in the evening: ${s}`);
  assert.ok(trail.every((a) => a >= limits.minTokens && a <= limits.maxTokens), `outside the limits: ${s}`);
  assert.ok(events.length >= 4 && events.every((e) => e.network === 'day' && e.reason.length > 0 && e.from !== e.to));
  assert.ok(events.some((e) => e.to > e.from) && events.some((e) => e.to < e.from));
  // Every change was free of loss: nothing dropped anywhere in domain 0, every frame arrived.
  assert.deepEqual(h.drops, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 });
  assert.equal(received(day.sink), sent(day.source), `day network: ${sent(day.source) - received(day.sink)} frames missing (${s})`);
  assert.equal(received(bg.sink), sent(bg.source));
  assert.ok(sent(day.source) > 5000);
});

test('autoscaler: only networks with limits are scaled; an allocation outside new limits is brought back at once', async () => {
  const stats = { work: 0, capacityWork: 0, networks: [{ net: 'a', submitted: 0, served: 0, dropped: 0, queued: 0, p50: NaN, p99: NaN, share: { net: 'a', allocation: 100, nextAllocation: 100, priority: 0, balance: 0, backlog: 0, backlogCost: 0, served: 0, servedCost: 0 } }] };
  const set: [string, number][] = [];
  const host = { stats: () => stats, setAllocation: (n: string, a: number) => void set.push([n, a]), server: undefined };
  let lim: { minTokens: number; maxTokens: number; targetUtilization: number } | undefined;
  const scaler = new AgentAutoscaler({ host, limits: () => lim });
  assert.deepEqual(await scaler.tick(), []);
  lim = { minTokens: 1, maxTokens: 20, targetUtilization: 0.5 };
  const [c] = await scaler.tick();
  assert.deepEqual(set, [['a', 20]]);
  assert.equal(c?.from, 100);
  assert.match(c?.reason ?? '', /outside the limits \[1, 20\]/);
});

test('manifest: spec.autoscale is validated (schema and maxTokens ≥ minTokens)', () => {
  const net = (as: string): string => `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: web }
spec:
  tokens: 10
  autoscale: ${as}
  functions:
    - { name: r1, kind: router, config: { interfaces: [{ name: eth0, mac: '02:00:00:00:00:01', addresses: [10.0.0.1/24] }] } }
`;
  assert.deepEqual(parseManifestText(net('{ minTokens: 2, maxTokens: 50, targetUtilization: 0.7 }'), 'ok.yaml').issues, []);
  const bad = parseManifestText(net('{ minTokens: 20, maxTokens: 5 }'), 'bad.yaml').issues;
  assert.equal(bad.length, 1);
  assert.match(bad[0]?.message ?? '', /maxTokens \(5\) is below minTokens \(20\)/);
  assert.equal(parseManifestText(net('{ minTokens: 2, maxTokens: 5, targetUtilization: 1.5 }'), 'bad.yaml').issues.length, 1);
  assert.equal(parseManifestText(net('{ minTokens: 2, maxTokens: 5, step: 3 }'), 'bad.yaml').issues.length, 1);
});

test('server agent: a network whose tokens lie outside its spec.autoscale limits is scaled into them, with a Normal Scaled event', async () => {
  const store = new MemoryStore();
  const ctl = await startControllers(store);
  let agent: ServerAgent | undefined;
  try {
    const text = `${infraManifest(['s1'], { cpu: 1, memory: '1Gi' })}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: web, namespace: default }
spec:
  tokens: 10
  autoscale: { minTokens: 1, maxTokens: 4 }
  functions:
    - { name: r1, kind: router, config: { interfaces: [{ name: eth0, mac: '02:00:00:00:00:01', addresses: [10.0.0.1/24] }] } }
`;
    const { resources, issues } = parseManifestText(text, 'as.yaml');
    assert.deepEqual(issues, []);
    await apply(store, resources.filter((r) => r.resource.kind !== 'SoftwareNetwork'));
    agent = await ServerAgent.start({ store, server: 's1', ttlSeconds: 2, statusMs: 200, resyncMs: 300 });
    await apply(store, resources);
    const ev = await until('a Scaled event', async () => (await listEvents(store, { involved: { kind: 'SoftwareNetwork', name: 'web', namespace: 'default' } })).find((e) => e.reason === 'Scaled'), 15000);
    assert.equal(ev.type, 'Normal');
    assert.match(ev.message, /^s1: tokens 10 → 4: outside the limits \[1, 4\]/);
    assert.equal(agent.runtime.host.stats()?.networks.find((n) => n.net === 'default/web')?.share.nextAllocation, 4);
  } finally {
    await agent?.stop();
    await ctl.stop();
  }
});
