import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFunction, functionKinds, getFactory } from './registry.js';

test('registry: every kind builds from a minimal config and rejects unknown kinds', () => {
  assert.ok(functionKinds().includes('switch'));
  for (const k of functionKinds()) assert.equal(getFactory(k)?.kind, k);
  const sw = createFunction('switch', { ports: [{ name: 'a' }, { name: 'b' }] });
  assert.equal(sw.kind, 'switch');
  assert.deepEqual(sw.ports.map((p) => p.name), ['a', 'b']);
  assert.throws(() => createFunction('toaster', {}), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === 'kind');
});

test('registry: ports(config) of the switch, MPLS, DPI and load balancer agree with create() and reject the same configs', () => {
  const configs: Record<string, unknown> = {
    switch: { ports: [{ name: 'a' }, { name: 'b', mode: 'trunk' }] },
    'mpls-lsr': { interfaces: [{ name: 'w', mac: '02:00:00:00:00:01' }, { name: 'e', mac: '02:00:00:00:00:02' }] },
    'mpls-ler': { interfaces: [{ name: 'ce', mac: '02:00:00:00:00:01' }] },
    dpi: { ports: ['in', 'out'], signatures: [{ name: 's', pattern: 'x', action: 'alert' }] },
    loadbalancer: { mac: '02:00:00:00:00:01', vip: '192.0.2.1', backends: [{ name: 'b', mac: '02:00:00:00:00:02' }] },
  };
  for (const [kind, cfg] of Object.entries(configs)) {
    const f = getFactory(kind);
    assert.ok(f?.ports, kind);
    assert.deepEqual(f.ports(cfg), createFunction(kind, cfg).ports, kind);
    assert.throws(() => f.ports?.({ ...(cfg as object), bogus: 1 }), (e: Error & { path?: string }) => e.name === 'ConfigError' && e.path === 'bogus', kind);
  }
});
