// Concurrent state requests to one running domain (a status report's export during a re-partition,
// two imports in a row): every request is answered, imports apply in the order they were posted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plain } from '../functions/contract.js';
import { PacketPool } from '../packet/pool.js';
import { Dom0Slots, Domain } from './domain.js';
import { FIREWALL_CONFIG } from './partition-bed.js';

const row = (sport: number): Plain => ({ orig: { src: '10.0.0.1', dst: '198.51.100.7', proto: 17, sport, dport: 53 }, reply: { src: '198.51.100.7', dst: '10.0.0.1', proto: 17, sport: 53, dport: sport }, state: 'REPLIED', seenReply: true, assured: false, ttlMs: 60_000, mark: 0 });
const conns = (st: Plain[][]): number[] => ((st[0]?.[0] as { connections: { orig: { sport: number } }[] }).connections.map((c) => c.orig.sport)).sort((a, b) => a - b);

test('domain: concurrent exports are all answered; concurrent imports (state, then flows) all apply, in order', async () => {
  const d = new Domain(new Dom0Slots(new PacketPool({ slots: 1024 })), { id: 1, name: 'req', contexts: [{ network: 'n', functions: [{ name: 'fw', kind: 'firewall', config: FIREWALL_CONFIG }], wires: [] }], vnics: [{ context: 0, port: 'fw.lan' }, { context: 0, port: 'fw.wan' }] });
  await d.start();
  try {
    // Two imports posted back to back: the replacing state, then merged flows.
    const a = d.importState([[{ connections: [row(1000), row(1001)] }]]);
    const b = d.importFlows([[{ connections: [row(2000)] }]]);
    await Promise.all([a, b]);
    // Three exports at once: each answered (none left waiting for a control word another overwrote).
    const [s1, f, s2] = await Promise.all([d.exportState(), d.exportFlows([...Array(257).keys()]), d.exportState()]);
    assert.deepEqual(conns(s1), [1000, 1001, 2000]);
    assert.deepEqual(conns(f), [1000, 1001, 2000], 'exportFlows of every bucket takes every connection');
    assert.deepEqual(conns(s2), [], 'and they are gone');
  } finally {
    await d.destroy();
  }
});
