import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from './store/memory.js';
import { EventRecorder, listEvents, setCondition } from './events.js';
import { apply, getResource } from './manifest/apply.js';
import { parseManifestText } from './manifest/load.js';
import { GOOD } from './manifest/fixtures.js';

describe('events', () => {
  it('folds repeats into one event with a count, lists per object and namespace', async () => {
    const s = new MemoryStore();
    let t = Date.parse('2026-01-01T00:00:00Z');
    const rec = new EventRecorder(s, { component: 'scheduler', now: () => new Date((t += 1000)) });
    const web = { kind: 'SoftwareNetwork' as const, name: 'web', namespace: 't1' };
    await rec.record(web, 'Warning', 'Unschedulable', 'fw: no server has 2 free CPUs');
    const again = await rec.record(web, 'Warning', 'Unschedulable', 'fw: no server has 2 free CPUs');
    assert.equal(again.count, 2);
    assert.equal(again.firstTimestamp, '2026-01-01T00:00:01.000Z');
    assert.equal(again.lastTimestamp, '2026-01-01T00:00:02.000Z');
    await rec.record(web, 'Normal', 'Scheduled', 'placed 3 functions');
    await rec.record({ kind: 'Server', name: 's1' }, 'Warning', 'NotReady', 'lease expired');
    await rec.record({ kind: 'SoftwareNetwork', name: 'web2', namespace: 't1' }, 'Normal', 'Scheduled', 'placed');
    const forWeb = await listEvents(s, { involved: web });
    assert.deepEqual(forWeb.map((e) => [e.reason, e.count]), [['Unschedulable', 2], ['Scheduled', 1]]);
    assert.deepEqual((await listEvents(s, { namespace: '_cluster' })).map((e) => e.involvedObject), [{ kind: 'Server', name: 's1' }]);
    assert.equal((await listEvents(s)).length, 4);
    assert.equal((await listEvents(s, { namespace: 't1' })).length, 3);
  });

  it('expire with their lease', async () => {
    const s = new MemoryStore();
    const rec = new EventRecorder(s, { component: 'agent/s1', ttlSeconds: 1 });
    await rec.record({ kind: 'Server', name: 's1' }, 'Normal', 'Started', 'agent up');
    assert.equal((await listEvents(s)).length, 1);
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal((await listEvents(s)).length, 0);
    // A recorder whose lease has gone takes a new one.
    await rec.record({ kind: 'Server', name: 's1' }, 'Normal', 'Started', 'agent up again');
    assert.equal((await listEvents(s)).length, 1);
  });
});

describe('status conditions', () => {
  it('sets conditions with observedGeneration; transition time moves only on a status change; apply keeps status', async () => {
    const s = new MemoryStore();
    const items = parseManifestText(GOOD, 'good.yaml').resources;
    await apply(s, items);
    let t = Date.parse('2026-01-01T00:00:00Z');
    const now = (): Date => new Date((t += 1000));
    const web = { kind: 'SoftwareNetwork' as const, name: 'web', namespace: 'tenant-a' };
    const a = await setCondition(s, web, { type: 'Ready', status: 'False', reason: 'Scheduling', message: 'placing' }, undefined, now);
    assert.equal(a.status?.observedGeneration, 1);
    const b = await setCondition(s, web, { type: 'Ready', status: 'False', reason: 'Scheduling', message: 'still placing' }, undefined, now);
    assert.equal(b.status?.conditions?.[0]?.lastTransitionTime, a.status?.conditions?.[0]?.lastTransitionTime);
    await setCondition(s, web, { type: 'Placed', status: 'True' }, undefined, now);
    const c = await setCondition(s, web, { type: 'Ready', status: 'True' }, undefined, now);
    assert.notEqual(c.status?.conditions?.[0]?.lastTransitionTime, a.status?.conditions?.[0]?.lastTransitionTime);
    assert.deepEqual(c.status?.conditions?.map((x) => `${x.type}=${x.status}`), ['Ready=True', 'Placed=True']);
    const r = await apply(s, items);
    assert.ok(r.changes.every((x) => x.action === 'unchanged'));
    const got = await getResource(s, 'SoftwareNetwork', 'web', 'tenant-a');
    assert.deepEqual(got.status?.conditions?.map((x) => x.type), ['Ready', 'Placed']);
    await assert.rejects(setCondition(s, { kind: 'Server', name: 'nope' }, { type: 'Ready', status: 'True' }), (e: unknown) => e instanceof Error && e.name === 'NotFoundError');
  });
});
