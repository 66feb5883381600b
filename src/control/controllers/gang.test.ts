import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apply, getResource } from '../manifest/apply.js';
import { GOOD } from '../manifest/fixtures.js';
import { parseManifestText } from '../manifest/load.js';
import { PLACEMENT_PREFIX, type Placement } from '../placement.js';
import { MemoryStore } from '../store/memory.js';
import { computeTop } from '../top.js';
import { GangScheduler } from './gang.js';
import { NetworkController } from './network.js';
import { until } from '../../testkit/until.js';

describe('network controller with the filter/score scheduler', () => {
  it('places a network with standbys and anti-affinity, and explains an unschedulable one', async () => {
    const store = new MemoryStore();
    const { resources, issues } = parseManifestText(
      `${GOOD}apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: huge, namespace: tenant-a }\nspec:\n  functions:\n    - { name: big, kind: switch, config: { ports: [{ name: a }, { name: b }] }, resources: { cpu: 64 } }\n`,
      'good.yaml',
    );
    assert.deepEqual(issues, []);
    await apply(store, resources);
    const c = await NetworkController.start(store, { scheduler: new GangScheduler(), minBackoffMs: 50 });
    try {
      const web = await until('web scheduled', async () => {
        const r = await getResource(store, 'SoftwareNetwork', 'web', 'tenant-a');
        return r.status?.conditions?.find((x) => x.type === 'Scheduled' && x.status === 'True') ? r : undefined;
      });
      assert.ok(web);
      const ps = (await store.list(`${PLACEMENT_PREFIX}tenant-a/web/`)).items.map((kv) => kv.value as unknown as Placement);
      const at = new Map(ps.map((p) => [p.function, p.server]));
      assert.deepEqual([...at.keys()].sort(), ['fw', 'fw~standby-1', 'lb', 'lb~standby-1', 'r1', 'r1~standby-1']);
      assert.notEqual(at.get('r1'), at.get('fw'), 'anti-affinity r1/fw');
      for (const f of ['r1', 'fw', 'lb']) assert.notEqual(at.get(f), at.get(`${f}~standby-1`), `${f} and its standby apart`);
      assert.equal(ps.find((p) => p.function === 'r1')?.requests.cpu, 0.5);
      const cond = await until('huge unschedulable', async () => (await getResource(store, 'SoftwareNetwork', 'huge', 'tenant-a')).status?.conditions?.find((x) => x.type === 'Scheduled' && x.status === 'False'));
      assert.equal(cond.reason, 'Unschedulable');
      assert.match(cond.message ?? '', /0\/2 servers fit tenant-a\/huge\/big: capacity refused 2/);
      const top = await computeTop(store);
      assert.equal(top.servers.reduce((n, s) => n + s.functions, 0), 6);
      assert.deepEqual(top.networks.map((n) => `${n.name} ${n.placed}/${n.functions} ${n.scheduled}`), ['huge 0/1 False', 'web 6/3 True']);
    } finally {
      await c.stop();
      await store.close();
    }
  });
});
