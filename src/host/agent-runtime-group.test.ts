import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plain } from '../functions/contract.js';
import type { FunctionSpec } from './domain.js';
import { AgentRuntime, type NetworkPlan } from './agent-runtime.js';

// Warm groups (a drain's wave on its target): several functions warmed in ONE domain, their
// states imported and exported with one round trip per domain, adopted whole by a plan that
// places them all; a plan that places only some carries their state out of the group.

const mac = (b: number): string => `02:00:00:00:00:${b.toString(16).padStart(2, '0')}`;
const KEY = 'default/grp';
const r1: FunctionSpec = { name: 'r1', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(1), addresses: ['10.0.1.1/24'] }, { name: 'eth1', mac: mac(2), addresses: ['10.0.0.1/30'] }] } };
const r2: FunctionSpec = { name: 'r2', kind: 'router', config: { interfaces: [{ name: 'eth0', mac: mac(3), addresses: ['10.0.0.2/30'] }, { name: 'eth1', mac: mac(4), addresses: ['10.0.2.1/24'] }] } };
const WIRES: [string, string][] = [['r1.eth1', 'r2.eth0']];

type Neighbor = { readonly address: string };
const neighbors = (st: Plain | undefined): string[] => (((st as { neighbors?: Neighbor[] } | null)?.neighbors ?? []) as Neighbor[]).map((n) => n.address).sort();

/** A router state with one more learnt neighbour (in the format of its exportState). */
function withNeighbor(st: Plain | undefined, iface: string, address: string, m: number): Plain {
  const o = st as { routes: Plain[]; neighbors: Plain[]; ipId: number };
  return { ...o, neighbors: [...o.neighbors, { interface: iface, address, mac: mac(m), state: 'stale', ageMs: 5 }] };
}

test('AgentRuntime warmGroup: two linked routers warmed in one domain, states in and out in one round trip each, adopted whole (one domain, link inside, states kept)', async () => {
  const rt = await AgentRuntime.open({ name: 'g1' });
  try {
    await rt.warmGroup(KEY, [r1, r2], WIRES);
    assert.deepEqual(Object.keys(rt.warmList()), [KEY]);
    assert.deepEqual(rt.warmList()[KEY]?.sort(), ['r1', 'r2']);
    assert.equal(rt.host.domainList().length, 1, 'one domain for the group');
    const fresh = await rt.exportStates(KEY, ['r1', 'r2']);
    await rt.importStates(KEY, new Map([['r1', withNeighbor(fresh.get('r1'), 'eth0', '10.0.1.77', 0x77)], ['r2', withNeighbor(fresh.get('r2'), 'eth1', '10.0.2.88', 0x88)]]));
    const plan: NetworkPlan = { key: KEY, functions: [r1, r2], wires: WIRES, remote: [] };
    await rt.apply(plan);
    assert.deepEqual([...(rt.changes(KEY)?.adopted ?? [])].sort(), ['r1', 'r2']);
    const doms = rt.domainsOf(KEY);
    assert.equal(doms.length, 1);
    assert.deepEqual(doms[0]?.functions.sort(), ['r1', 'r2']);
    assert.equal(rt.host.domainList().length, 1, 'nothing else started');
    const st = await rt.exportStates(KEY, ['r1', 'r2']);
    assert.ok(neighbors(st.get('r1')).includes('10.0.1.77'), JSON.stringify(st.get('r1')));
    assert.ok(neighbors(st.get('r2')).includes('10.0.2.88'), JSON.stringify(st.get('r2')));
    assert.equal(rt.hasWarm(KEY, 'r1'), false);
  } finally {
    await rt.close();
  }
});

test('AgentRuntime warmGroup: a plan that places only one of the group carries its state out (the group is not adopted); dropWarm of one drops the group', async () => {
  const rt = await AgentRuntime.open({ name: 'g2' });
  try {
    await rt.warmGroup(KEY, [r1, r2], WIRES);
    const fresh = await rt.exportStates(KEY, ['r1']);
    await rt.importStates(KEY, new Map([['r1', withNeighbor(fresh.get('r1'), 'eth0', '10.0.1.55', 0x55)]]));
    await rt.apply({ key: KEY, functions: [r1], wires: [], remote: [] });
    assert.deepEqual(rt.changes(KEY)?.adopted, []);
    assert.deepEqual(rt.functions(KEY), ['r1']);
    assert.ok(neighbors(await rt.exportState(KEY, 'r1')).includes('10.0.1.55'), 'r1 kept the state imported into the group');
    assert.equal(rt.hasWarm(KEY, 'r2'), false, 'the group was the source of r1: gone');
    // A fresh group: dropping one of its functions drops the domain (and both names).
    await rt.warmGroup('default/other', [r1, r2], WIRES);
    const before = rt.host.domainList().length;
    assert.equal(await rt.dropWarm('default/other', 'r2'), true);
    assert.equal(rt.hasWarm('default/other', 'r1'), false);
    assert.equal(rt.host.domainList().length, before - 1);
  } finally {
    await rt.close();
  }
});

test('AgentRuntime isolate with a group: functions asked together with one group share one new domain (one rebuild), the rest another; a plan without the group retires that domain whole', async () => {
  const rt = await AgentRuntime.open({ name: 'g3' });
  const sw = (name: string): FunctionSpec => ({ name, kind: 'switch', config: { ports: [{ name: 'p' }, { name: 'q' }] } });
  try {
    await rt.apply({ key: KEY, functions: [sw('a'), sw('b'), sw('c'), sw('d')], wires: [], remote: [] });
    assert.equal(rt.domainsOf(KEY).length, 1);
    await Promise.all([rt.isolate(KEY, 'a', 'w1'), rt.isolate(KEY, 'b', 'w1'), rt.isolate(KEY, 'c')]);
    const doms = rt.domainsOf(KEY).map((d) => d.functions.sort().join()).sort();
    assert.deepEqual(doms, ['a,b', 'c', 'd']);
    // Asked again with the same group: their domain holds exactly it, nothing is rebuilt.
    const ids = rt.domainsOf(KEY).map((d) => d.id).sort();
    await Promise.all([rt.isolate(KEY, 'a', 'w2'), rt.isolate(KEY, 'b', 'w2')]);
    assert.deepEqual(rt.domainsOf(KEY).map((d) => d.id).sort(), ids);
    await rt.apply({ key: KEY, functions: [sw('c'), sw('d')], wires: [], remote: [] }, { graceMs: 50 });
    assert.deepEqual(rt.functions(KEY).sort(), ['c', 'd']);
    const [fa, fb] = await Promise.all([rt.retired(KEY, 'a'), rt.retired(KEY, 'b')]);
    assert.deepEqual([fa, fb].map((x) => (x as { macs?: unknown[] } | undefined)?.macs), [[], []]);
  } finally {
    await rt.close();
  }
});
