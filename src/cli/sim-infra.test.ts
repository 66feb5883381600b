import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../control/manifest/load.js';
import { infrastructureFrom } from './sim.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

const INFRA = `apiVersion: swnet.io/v1
kind: Datacenter
metadata: { name: core-lyon }
spec: { tier: central, pue: 1.5 }
---
apiVersion: swnet.io/v1
kind: Datacenter
metadata: { name: edge-paris }
spec: { tier: edge }
---
apiVersion: swnet.io/v1
kind: Server
metadata: { name: big, labels: { sim.swnet.io/core-mips: "3000" } }
spec:
  datacenter: core-lyon
  capacity: { cpu: 8, memory: 32Gi, bandwidth: 10Gbps }
  power: { specpower: [150, 170, 185, 200, 215, 230, 250, 270, 290, 310, 330] }
---
apiVersion: swnet.io/v1
kind: Server
metadata: { name: small }
spec:
  datacenter: edge-paris
  capacity: { cpu: 2, memory: 4Gi }
  power: { specpower: [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135] }
`;

/** 60 VMs over a day, seeded pseudo-random but smooth utilisation (percent). */
function trace(): string {
  let x = 12345;
  const rnd = (): number => { x = (x * 1103515245 + 12345) % 2 ** 31; return x / 2 ** 31; };
  const lines = ['# synthetic'];
  for (let v = 0; v < 60; v++) {
    const base = 5 + rnd() * 40;
    const row: number[] = [];
    for (let k = 0; k < 288; k++) row.push(Math.max(1, Math.min(100, Math.round(base + 20 * Math.sin((k + v * 7) / 30) + rnd() * 10))));
    lines.push(`vm${v},${row.join(',')}`);
  }
  return `${lines.join('\n')}\n`;
}

test('manifests become hosts: capacity × core MIPS, SPECpower curve, replicated, grouped by datacenter', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swsim-infra-'));
  try {
    writeFileSync(join(dir, 'infra.yaml'), INFRA);
    const infra = infrastructureFrom(await loadManifests([dir]), { replicate: 3, coreMips: 2000 });
    assert.equal(infra.hosts.length, 6);
    assert.deepEqual([...infra.hostGroup], [0, 0, 0, 1, 1, 1]);
    assert.deepEqual(infra.groups.map((g) => [g.name, g.pue]), [['central/core-lyon', 1.5], ['edge/edge-paris', undefined]]);
    const big = infra.hosts[0]!;
    assert.deepEqual([big.pes, big.peMips, big.ramMb, big.bwMbps, big.power.watts[10]], [8, 3000, 32768, 10000, 330]);
    const small = infra.hosts[3]!;
    assert.deepEqual([small.pes, small.peMips, small.ramMb, small.bwMbps, small.power.watts[0]], [2, 2000, 4096, 1000, 93.7]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('swnet sim --infra: per-tier figures add up to the totals; bad manifests give file:line:column', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swsim-infra-'));
  try {
    writeFileSync(join(dir, 'infra.yaml'), INFRA);
    writeFileSync(join(dir, 'day.csv'), trace());
    const r = spawnSync(process.execPath, [MAIN, 'sim', '--infra', join(dir, 'infra.yaml'), '--trace', join(dir, 'day.csv'), '--replicate', '10', '--compare', 'lr-mmt-1.2,urbanizer', '--json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { policy: string; hosts: number; vms: number; energyKWh: number; migrations: number; unplacedVms: number; tiers: { name: string; hosts: number; energyKWh: number; facilityKWh: number; migrationsIn: number }[] }[];
    assert.equal(out.length, 2);
    for (const o of out) {
      assert.equal(o.hosts, 20);
      assert.equal(o.vms, 60);
      assert.equal(o.unplacedVms, 0);
      assert.deepEqual(o.tiers.map((t) => [t.name, t.hosts]), [['central', 10], ['edge', 10]]);
      const sum = o.tiers.reduce((a, t) => a + t.energyKWh, 0);
      assert.ok(Math.abs(sum - o.energyKWh) < 1e-9 * o.energyKWh, `${sum} vs ${o.energyKWh}`);
      assert.ok(o.energyKWh > 0);
      assert.equal(o.tiers.reduce((a, t) => a + t.migrationsIn, 0), o.migrations);
      const central = o.tiers[0]!;
      assert.ok(Math.abs(central.facilityKWh - 1.5 * central.energyKWh) < 1e-9);
    }
    const text = spawnSync(process.execPath, [MAIN, 'sim', '--infra', dir, '--trace', join(dir, 'day.csv'), '--policy', 'lr-mmt-1.2'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /per datacenter tier:/);
    assert.match(text.stdout, /lr-mmt-1\.2\s+central\s+1\s/);
    assert.match(text.stdout, /lr-mmt-1\.2\s+total\s+2\s/);

    // an unknown tier (schema) and a server in a datacenter that is not declared (reference)
    writeFileSync(join(dir, 'bad.yaml'), `apiVersion: swnet.io/v1
kind: Datacenter
metadata: { name: dc1 }
spec:
  tier: orbit
---
apiVersion: swnet.io/v1
kind: Server
metadata: { name: s1 }
spec:
  datacenter: nowhere
  capacity: { cpu: 2, memory: 4Gi }
`);
    let bad = spawnSync(process.execPath, [MAIN, 'sim', '--infra', join(dir, 'bad.yaml'), '--trace', join(dir, 'day.csv')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /bad\.yaml:5:9: .*orbit|bad\.yaml:5:9:/);
    writeFileSync(join(dir, 'bad.yaml'), INFRA.replace('datacenter: edge-paris', 'datacenter: nowhere'));
    bad = spawnSync(process.execPath, [MAIN, 'sim', '--infra', join(dir, 'bad.yaml'), '--trace', join(dir, 'day.csv')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /bad\.yaml:23:15: .*nowhere/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
