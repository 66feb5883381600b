import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listEvents } from '../events.js';
import { apply, getResource } from '../manifest/apply.js';
import { parseManifestText } from '../manifest/load.js';
import { startHeartbeat } from '../heartbeat.js';
import { PLACEMENT_PREFIX, type Placement } from '../placement.js';
import { MemoryStore } from '../store/memory.js';
import { GangScheduler } from './gang.js';
import { NetworkController } from './network.js';
import { ServerLifecycleController } from './servers.js';
import { until as untilShared } from '../../testkit/until.js';

const until = <T>(what: string, f: () => Promise<T | undefined>): Promise<T> => untilShared(what, f, 8000, 25);

const server = (n: string): string => `apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: ${n} }\nspec: { datacenter: dc1, capacity: { cpu: 4, memory: 8Gi } }\n---\n`;

describe('server lifecycle', () => {
  it('a killed agent makes its server NotReady and its functions move elsewhere, with events saying why', async () => {
    const store = new MemoryStore();
    const text = `apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: dc1 }\nspec: { tier: edge }\n---\n${server('s1')}${server('s2')}apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: web, namespace: t1 }\nspec:\n  functions:\n    - { name: fw, kind: switch, config: { ports: [{ name: a }, { name: b }] }, resources: { cpu: 1 } }\n`;
    await apply(store, parseManifestText(text, 'x.yaml').resources);
    const beats = new Map([
      ['s1', await startHeartbeat(store, 's1', { ttlSeconds: 1 })],
      ['s2', await startHeartbeat(store, 's2', { ttlSeconds: 1 })],
    ]);
    const life = await ServerLifecycleController.start(store);
    const nets = await NetworkController.start(store, { scheduler: new GangScheduler(), minBackoffMs: 50 });
    try {
      for (const s of ['s1', 's2']) await until(`${s} Ready`, async () => ((await getResource(store, 'Server', s)).status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined));
      const where = async (): Promise<string | undefined> => ((await store.get(`${PLACEMENT_PREFIX}t1/web/fw`))?.value as unknown as Placement | undefined)?.server;
      const first = await until('placed', where);
      const other = first === 's1' ? 's2' : 's1';
      beats.get(first)!.abandon(); // as kill -9: the lease is no longer renewed
      const cond = await until('NotReady', async () => (await getResource(store, 'Server', first)).status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False'));
      assert.equal(cond.reason, 'AgentLost');
      assert.equal(await until('moved', async () => ((await where()) === other ? other : undefined)), other);
      const serverEvents = await listEvents(store, { involved: { kind: 'Server', name: first } });
      assert.ok(serverEvents.some((e) => e.reason === 'AgentLost' && e.type === 'Warning'), JSON.stringify(serverEvents));
      const netEvents = await until('Rescheduled event', async () => (await listEvents(store, { involved: { kind: 'SoftwareNetwork', name: 'web', namespace: 't1' } })).find((e) => e.reason === 'Rescheduled'));
      assert.match(netEvents.message, new RegExp(`fw ${first}→${other} \\(server ${first} is not ready \\(AgentLost: agent of ${first} stopped renewing its lease`));
      // The agent comes back: Ready again (functions stay where they are: no needless move).
      beats.set(first, await startHeartbeat(store, first, { ttlSeconds: 1 }));
      await until('Ready again', async () => ((await getResource(store, 'Server', first)).status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined));
      assert.equal(await where(), other);
    } finally {
      for (const b of beats.values()) await b.stop();
      await nets.stop();
      await life.stop();
      await store.close();
    }
  });
});
