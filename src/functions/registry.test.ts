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
