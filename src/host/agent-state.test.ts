import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plain } from '../functions/contract.js';
import { carryState, mergeState } from './agent-state.js';

test('carryState: a router keeps its learned neighbours but takes its routes from the new configuration; another kind carries nothing', () => {
  const old = { routes: [{ prefix: '10.0.0.0/8', via: '10.1.0.2' }], neighbors: [{ interface: 'eth0', address: '10.1.0.2', mac: '02:00:00:00:00:02', state: 'reachable', ageMs: 5 }], ipId: 7 };
  const fresh = { routes: [{ prefix: '10.9.0.0/16', via: '10.1.0.2' }], neighbors: [], ipId: 0 };
  assert.deepEqual(carryState('router', old, fresh), { ...old, routes: fresh.routes });
  assert.deepEqual(carryState('nat', { connections: [1] }, { connections: [] }), { connections: [1] });
  assert.throws(() => carryState('router', old, fresh, 'switch'), (e: Error) => e.name === 'StateCarryError');
});

test('mergeState: the target keeps what it created since the switch and gains the source\'s rows it lacks; a row colliding on any identity (a NAT reply tuple) is left out', () => {
  const n = (address: string, mac: string): Plain => ({ interface: 'eth1', address, mac, state: 'reachable', ageMs: 0 });
  const cur = { routes: ['mine'], neighbors: [n('10.0.0.2', 'aa'), n('10.0.0.3', 'bb')], ipId: 4 };
  const fin = { routes: ['theirs'], neighbors: [n('10.0.0.3', 'cc'), n('10.0.0.4', 'dd')], ipId: 9 };
  assert.deepEqual(mergeState('router', cur, fin), { routes: ['mine'], neighbors: [n('10.0.0.2', 'aa'), n('10.0.0.3', 'bb'), n('10.0.0.4', 'dd')], ipId: 4 });
  const row = (src: string, ext: number): Plain => ({ orig: { src, dst: '8.8.8.8', sport: 1000, dport: 53, proto: 17 }, reply: { src: '8.8.8.8', dst: '192.0.2.1', sport: 53, dport: ext, proto: 17 }, state: 'NEW', seenReply: false, assured: false, ttlMs: 1000, mark: 0 });
  const natCur = { addresses: ['192.0.2.1'], connections: [row('10.0.0.1', 2000)] };
  // 10.0.0.9's binding took external port 2000 at the source too: it would collide, it stays out; 10.0.0.7's comes in.
  const natFin = { addresses: ['192.0.2.1'], connections: [row('10.0.0.1', 2000), row('10.0.0.9', 2000), row('10.0.0.7', 2001)] };
  assert.deepEqual(mergeState('nat', natCur, natFin), { addresses: ['192.0.2.1'], connections: [row('10.0.0.1', 2000), row('10.0.0.7', 2001)] });
  // A kind without row identities: the final state as it is.
  assert.equal(mergeState('traffic-sink', { flows: [] }, fin), fin);
});
