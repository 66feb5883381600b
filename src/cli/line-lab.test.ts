import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifestText } from '../control/manifest/load.js';
import { lineManifest, lineThroughAgents } from './line-lab.js';

describe('line through apply, controllers and server agents', () => {
  it('the manifest is valid and joins every router LAN to the hosts over VXLAN', () => {
    const { resources, issues } = parseManifestText(lineManifest(5, { address: '127.0.0.1', port: 4790 }, '1'), 'line.yaml');
    assert.deepEqual(issues, []);
    const r = resources[0]!.resource;
    assert.equal(Object.keys(r.metadata.annotations ?? {}).length, 5);
    assert.match(r.metadata.annotations?.['swnet.io/vxlan.r4.lan'] ?? '', /^\d+@127\.0\.0\.1:4790$/);
  });

  it('10 routers spread over 2 servers: every ordered pair of hosts reaches the other', async () => {
    // 1 CPU each on 8-CPU servers: both servers hold routers, so the line crosses over VXLAN.
    const m = await lineThroughAgents(10, 2, 20_000, { cpuPerRouter: '1' });
    assert.equal(m.delivered, 90);
    assert.equal(m.pairs, 90);
    assert.deepEqual(Object.keys(m.spread).sort(), ['s1', 's2']);
    assert.ok(m.placedMs <= m.firstMs && m.firstMs <= m.allMs);
    // The phases are consecutive: each ≥ 0, together the whole figure.
    const ph = Object.values(m.phases);
    assert.equal(ph.length, 6);
    assert.ok(ph.every((x) => x >= 0), JSON.stringify(m.phases));
    assert.ok(Math.abs(ph.reduce((a, b) => a + b, 0) - m.allMs) < 1e-6, JSON.stringify(m.phases));
    assert.ok(m.phases.agents > 0 && m.phases.traffic > 0, JSON.stringify(m.phases));
  });
});
