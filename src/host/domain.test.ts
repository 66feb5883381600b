import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostServer } from './hostserver.js';
import { FAULT_ETHERTYPE, FAULT_HANG, FAULT_THROW } from './fault.js';
import type { ContextSpec } from './domain.js';
import { frame, inject, tap, until, type Tap } from './domain-bed.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const wire = (network: string, armed: boolean): ContextSpec => ({ network, functions: [{ name: 'w', kind: 'fault', config: { armed } }], wires: [] });

/** A network on `h`: tap ⇄ domain (fault wire) ⇄ tap. */
async function wireNetwork(h: HostServer, network: string, armed: boolean): Promise<{ id: number; in: Tap; out: Tap }> {
  const { domain, attachments } = await h.addDomain({ name: network, contexts: [wire(network, armed)], vnics: [{ context: 0, port: 'w.a' }, { context: 0, port: 'w.b' }] });
  const i = tap(h, network, `${network}:in`);
  const o = tap(h, network, `${network}:out`);
  h.bridge.wire(i.att, attachments[0] as number);
  h.bridge.wire(attachments[1] as number, o.att);
  return { id: domain.id, in: i, out: o };
}

test('domains are created and destroyed at run time; slots all come back', async () => {
  const h = new HostServer({ name: 't', slots: 2048, domain: { watchdogMs: 2000 } });
  h.start();
  try {
    const free0 = h.pool.available;
    const a = await wireNetwork(h, 'a', false);
    inject(h, a.in.att, Array.from({ length: 300 }, (_, i) => frame(1, i)));
    await until(() => a.out.got.length === 300);
    assert.deepEqual(a.out.got.map((f) => new DataView(f.buffer).getUint32(15)), Array.from({ length: 300 }, (_, i) => i));
    const b = await wireNetwork(h, 'b', false);
    const state = await h.removeDomain(a.id);
    assert.deepEqual(state, [[{ passed: 300 }]]);
    inject(h, b.in.att, [frame(2, 0)]);
    await until(() => b.out.got.length === 1);
    // Frames toward a destroyed domain's attachments are dropped as unwired, not delivered.
    inject(h, a.in.att, [frame(1, 1)]);
    await sleep(20);
    assert.equal(a.out.got.length, 300);
    await h.removeDomain(b.id);
    assert.equal(h.pool.available, free0);
  } finally {
    await h.close();
  }
});

for (const mode of ['throw', 'hang'] as const) {
  test(`a domain that crashes (${mode}) is restarted while another network keeps forwarding`, async () => {
    const h = new HostServer({ name: 't', slots: 4096, domain: { watchdogMs: 300, heartbeatMs: 10 } });
    h.start();
    try {
      const free0 = h.pool.available;
      const bad = await wireNetwork(h, 'bad', true);
      const good = await wireNetwork(h, 'good', false);
      const crashes: string[] = [];
      const badDomain = h.domainList().find((d) => d.domain.id === bad.id)?.domain;
      assert.ok(badDomain);
      badDomain.onCrash = (e) => crashes.push(e.name);
      // The good network sends 32 frames every 2 ms; its receptions are timestamped.
      let seq = 0;
      const arrivals: number[] = [];
      let seen = 0;
      const feeder = setInterval(() => {
        inject(h, good.in.att, Array.from({ length: 32 }, () => frame(2, seq++)));
        for (; seen < good.out.got.length; seen++) arrivals.push(performance.now());
      }, 2);
      await sleep(100);
      const tCrash = performance.now();
      inject(h, bad.in.att, [frame(1, 0), frame(1, 1, FAULT_ETHERTYPE, 64, mode === 'throw' ? FAULT_THROW : FAULT_HANG), frame(1, 2)]);
      await until(() => badDomain.restarts === 1 && badDomain.state === 'running', 5000);
      const tBack = performance.now();
      await sleep(100);
      clearInterval(feeder);
      for (; seen < good.out.got.length; seen++) arrivals.push(performance.now());
      // Continuity: during the outage of 'bad' (crash → running again), 'good' never went
      // 100 ms without a frame (the outage itself lasts the watchdog period plus a restart).
      let gap = 0;
      let last = tCrash;
      for (const x of arrivals) if (x >= tCrash && x <= tBack) {
        gap = Math.max(gap, x - last);
        last = x;
      }
      gap = Math.max(gap, tBack - last);
      assert.ok(tBack - tCrash > 0 && gap < 100, `'good' stalled ${gap.toFixed(1)} ms during a ${(tBack - tCrash).toFixed(0)} ms outage`);
      await until(() => good.out.got.length === seq);
      assert.equal(crashes.length, 1);
      assert.equal(crashes[0], mode === 'throw' ? 'FaultInjectedError' : 'DomainError');
      // The restarted domain forwards again.
      const before = bad.out.got.length;
      inject(h, bad.in.att, [frame(1, 3), frame(1, 4)]);
      await until(() => bad.out.got.length === before + 2);
      const c = badDomain.counters();
      assert.equal(c.restarts, 1);
      await h.removeDomain(bad.id);
      await h.removeDomain(good.id);
      assert.equal(h.pool.available, free0, 'every slot came back after the crash');
    } finally {
      await h.close();
    }
  });
}

test('elastic sizing: allocations change under load and no frame is dropped', async () => {
  const h = new HostServer({ name: 't', slots: 8192, capacity: { capacity: 200_000, unit: 'packets' } });
  h.addNetwork('a', { allocation: 1 });
  h.addNetwork('b', { allocation: 1 });
  h.start();
  try {
    const a = await wireNetwork(h, 'a', false);
    const b = await wireNetwork(h, 'b', false);
    let seq = 0;
    const sizes = [1, 20, 2, 50, 1, 10];
    for (let round = 0; round < 30; round++) {
      if (round % 5 === 0) h.setAllocation('a', sizes[round / 5] as number);
      inject(h, a.in.att, Array.from({ length: 64 }, () => frame(1, seq)));
      inject(h, b.in.att, Array.from({ length: 64 }, () => frame(2, seq++)));
      await sleep(3);
    }
    await until(() => a.out.got.length === seq && b.out.got.length === seq, 5000);
    assert.deepEqual(h.drops, { unwired: 0, ringFull: 0, queueFull: 0, noBuffer: 0 });
    const st = h.stats();
    assert.ok(st);
    for (const n of st.networks) assert.equal(n.dropped, 0);
  } finally {
    await h.close();
  }
});

test('lightweight contexts: many small networks in one domain stay apart', async () => {
  const h = new HostServer({ name: 't', slots: 2048 });
  h.start();
  try {
    const nets = Array.from({ length: 20 }, (_, i) => `user${i}`);
    const { domain, attachments } = await h.addDomain({ name: 'users', contexts: nets.map((n) => wire(n, false)), vnics: nets.flatMap((_, i) => [{ context: i, port: 'w.a' }, { context: i, port: 'w.b' }]) });
    const taps = nets.map((n, i) => {
      const tin = tap(h, n, `${n}:in`);
      const tout = tap(h, n, `${n}:out`);
      h.bridge.wire(tin.att, attachments[2 * i] as number);
      h.bridge.wire(attachments[2 * i + 1] as number, tout.att);
      return { tin, tout };
    });
    taps.forEach(({ tin }, i) => inject(h, tin.att, Array.from({ length: 5 + i }, (_, k) => frame(i, k))));
    await until(() => taps.every(({ tout }, i) => tout.got.length === 5 + i));
    await sleep(20);
    taps.forEach(({ tin, tout }, i) => {
      assert.equal(tout.got.length, 5 + i);
      for (const f of tout.got) assert.equal(f[11], i, `network ${i} received a frame of network ${f[11]}`);
      assert.equal(tin.got.length, 0);
    });
    assert.equal(domain.counters().processed, taps.reduce((s, _, i) => s + 5 + i, 0));
  } finally {
    await h.close();
  }
});

test('a domain whose functions cannot be built is refused, and leaks nothing', async () => {
  const h = new HostServer({ name: 't', slots: 512 });
  try {
    const free0 = h.pool.available;
    await assert.rejects(
      h.addDomain({ name: 'bad', contexts: [{ network: 'n', functions: [{ name: 'x', kind: 'switch', config: { ports: 'nope' } }], wires: [] }], vnics: [] }),
      (e: Error) => e.name === 'DomainError' && /ports/.test(e.message),
    );
    await assert.rejects(
      h.addDomain({ name: 'bad', contexts: [wire('n', false)], vnics: [{ context: 0, port: 'w.zz' }] }),
      (e: Error) => e.name === 'DomainError' && /no port w\.zz/.test(e.message),
    );
    assert.equal(h.domainList().length, 0);
    assert.equal(h.pool.available, free0);
  } finally {
    await h.close();
  }
});
