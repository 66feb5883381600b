import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostServer } from './hostserver.js';
import type { ContextSpec } from './domain.js';
import { frame, inject, tap, until, type Tap } from './domain-bed.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const wire = (network: string): ContextSpec => ({ network, functions: [{ name: 'w', kind: 'fault', config: { armed: false } }], wires: [] });
const seqs = (t: Tap): number[] => t.got.map((f) => new DataView(f.buffer).getUint32(15));
const tags = (t: Tap): number[] => [...new Set(t.got.map((f) => f[11] as number))];

test('live contexts: added concurrently and removed in a running domain, each network only its own frames, no slot lost', async () => {
  const h = new HostServer({ name: 't', slots: 4096, domain: { watchdogMs: 2000 } });
  h.start();
  try {
    const free0 = h.pool.available;
    const { domain } = await h.addDomain({ name: 'contexts', contexts: [], vnics: [] });
    // Three added at once: each gets its own index and vNICs.
    const nets = ['a', 'b', 'c'];
    const added = await Promise.all(nets.map((n) => h.addContext(domain.id, wire(n), ['w.a', 'w.b'])));
    assert.deepEqual(added.map((x) => x.context).sort(), [0, 1, 2]);
    assert.equal(new Set(added.flatMap((x) => x.attachments)).size, 6);
    const taps = nets.map((n, i) => {
      const t = { in: tap(h, n, `${n}:in`), out: tap(h, n, `${n}:out`) };
      h.bridge.wire(t.in.att, added[i]?.attachments[0] as number);
      h.bridge.wire(added[i]?.attachments[1] as number, t.out.att);
      return t;
    });
    // The bridge never joins two networks: a's vNIC cannot be wired to b's tap.
    assert.throws(() => h.bridge.wire(added[0]?.attachments[0] as number, tap(h, 'b', 'b:x').att), (e: Error) => e.name === 'IsolationError');
    taps.forEach((t, i) => inject(h, t.in.att, Array.from({ length: 200 }, (_, k) => frame(i + 1, k))));
    await until(() => taps.every((t) => t.out.got.length === 200));
    taps.forEach((t, i) => assert.deepEqual(tags(t.out), [i + 1]));
    assert.deepEqual(nets.map((_, i) => domain.contextFrames(added[i]?.context as number)), [200, 200, 200]);
    assert.deepEqual(domain.portCounters(added[1]?.context as number), { 'w.a': 0, 'w.b': 200 });

    // b leaves while a and c keep sending: its final state comes back, theirs keep flowing, in order.
    const tb = taps[1] as { in: Tap; out: Tap };
    inject(h, tb.in.att, Array.from({ length: 50 }, (_, k) => frame(2, 200 + k)));
    const gone = h.removeContext(domain.id, added[1]?.context as number);
    inject(h, taps[0]?.in.att as number, Array.from({ length: 300 }, (_, k) => frame(1, 200 + k)));
    const st = await gone;
    assert.equal(st.length, 1);
    const passed = (st[0] as { passed: number }).passed;
    assert.ok(passed >= 200 && passed <= 250, `b passed ${passed}`);
    inject(h, taps[2]?.in.att as number, Array.from({ length: 300 }, (_, k) => frame(3, 200 + k)));
    await until(() => (taps[0]?.out.got.length ?? 0) === 500 && (taps[2]?.out.got.length ?? 0) === 500);
    for (const i of [0, 2]) assert.deepEqual(seqs(taps[i]?.out as Tap), Array.from({ length: 500 }, (_, k) => k));
    // Frames to b's vNICs now: unwired, dropped in domain 0, never delivered.
    inject(h, tb.in.att, [frame(2, 999)]);
    await sleep(20);
    assert.ok(tb.out.got.every((f) => new DataView(f.buffer).getUint32(15) !== 999));

    // A new network takes b's free index and vNICs; a bad one is refused and changes nothing.
    await assert.rejects(h.addContext(domain.id, { network: 'bad', functions: [{ name: 'r', kind: 'router', config: { interfaces: 'nope' } }], wires: [] }, []), (e: Error) => e.name === 'DomainError');
    await assert.rejects(h.addContext(domain.id, wire('bad'), ['w.nope']), (e: Error) => e.name === 'DomainError' && /no port w\.nope/.test(e.message));
    const d = await h.addContext(domain.id, wire('d'), ['w.a', 'w.b']);
    assert.equal(d.context, added[1]?.context);
    const td = { in: tap(h, 'd', 'd:in'), out: tap(h, 'd', 'd:out') };
    h.bridge.wire(td.in.att, d.attachments[0] as number);
    h.bridge.wire(d.attachments[1] as number, td.out.att);
    inject(h, td.in.att, Array.from({ length: 100 }, (_, k) => frame(4, k)));
    await until(() => td.out.got.length === 100);
    assert.deepEqual(tags(td.out), [4]);
    assert.equal(domain.contextFrames(d.context), 100);
    assert.equal(domain.counters().invalid, 0);
    await h.removeDomain(domain.id);
    assert.equal(h.pool.available, free0, 'every slot came back');
  } finally {
    await h.close();
  }
});
