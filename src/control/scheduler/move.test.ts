import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifestText } from '../manifest/load.js';
import type { Resource } from '../manifest/types.js';
import { clusterFromResources, networkRequests } from './resources.js';
import { Scheduler } from './scheduler.js';
import { MovePlanner, type PlacedFunction } from './move.js';

const server = (name: string, extra = ''): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${name} }\nspec: { datacenter: dc1, capacity: { cpu: 4, memory: 8Gi }${extra} }\n---\n`;
const DC = `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n`;
const NET = `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: web, namespace: t1 }
spec:
  resilience: { standby: 1 }
  functions:
    - { name: a, kind: switch, config: { ports: [{ name: p }, { name: q }] }, resources: { cpu: 1 } }
    - { name: b, kind: switch, config: { ports: [{ name: p }, { name: q }] }, resources: { cpu: 1 } }
`;

function load(text: string): Resource[] {
  const { resources, issues } = parseManifestText(text, 't.yaml');
  assert.deepEqual(issues, []);
  return resources.map((r) => r.resource);
}

const placed = (fn: string, server: string): PlacedFunction => ({ namespace: 't1', network: 'web', function: fn, server, requests: { cpu: 1, memory: 0, bandwidth: 0 } });

describe('cordon and move planning', () => {
  it('a cordoned server is refused by the scheduler, by name', () => {
    const infra = load(DC + server('s1', ', unschedulable: true') + server('s2'));
    const c = clusterFromResources(infra);
    assert.deepEqual([...c.unschedulable], [1, 0]);
    const sched = new Scheduler(c);
    const r = sched.schedule({ id: 'x', cpu: 1, memory: 0, bandwidth: 0 });
    assert.ok(r.ok && r.server === 's2');
    const full = sched.schedule({ id: 'y', cpu: 4, memory: 0, bandwidth: 0 });
    assert.ok(!full.ok);
    assert.match(full.unschedulable.message, /cordon refused 1 \(s1 is cordoned/);
  });

  it('moves only the asked functions, off excluded and cordoned servers, keeping anti-affinity and reservations', () => {
    const infra = load(DC + server('s1') + server('s2') + server('s3', ', unschedulable: true') + server('s4'));
    const net = load(NET)[0]!;
    assert.equal(networkRequests(net).length, 4);
    const planner = new MovePlanner(infra, [placed('a', 's1'), placed('b', 's1'), placed('a~standby-1', 's2'), placed('b~standby-1', 's4')]);
    const p = planner.plan(net, ['a'], new Set(['s1']));
    // Not s1 (excluded), not s2 (its standby: anti-affinity), not s3 (cordoned).
    assert.deepEqual(p.ok && [...p.targets], [['a', 's4']]);
    const q = planner.plan(net, ['b'], new Set(['s1']));
    assert.deepEqual(q.ok && [...q.targets], [['b', 's2']]);
    // Reservations accumulate: fill s2 and s4 to capacity, then nothing fits.
    const big = new MovePlanner(infra, [placed('a', 's1'), placed('b', 's1')], [{ ...placed('x', 's2'), requests: { cpu: 4, memory: 0, bandwidth: 0 } }, { ...placed('y', 's4'), requests: { cpu: 4, memory: 0, bandwidth: 0 } }]);
    const r = big.plan(net, ['a'], new Set(['s1']));
    assert.ok(!r.ok);
    assert.match(r.reason, /capacity refused 2/);
    // The failed plan rolled back: a is still accounted on s1.
    assert.equal(big.cluster.placed.get('t1/web/a')?.server, 0);
    const bad = planner.plan(net, ['zz'], new Set());
    assert.ok(!bad.ok && /not in the network's spec/.test(bad.reason));
  });
});
