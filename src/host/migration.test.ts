import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { migrateDomain, MIGRATION_PHASES, MigrationError, warmStandby } from './migration.js';
import { ROUTER_CONFIG, routerBed, type RouterBed } from './migration-bed.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Domains' own drops (tx ring full), kept per domain id so that a destroyed source still counts. */
const txFull = new Map<string, number>();
function noteDomains(bed: RouterBed): void {
  for (const h of bed.hosts) for (const d of h.domainList()) txFull.set(`${h.name}/${d.domain.id}`, d.domain.counters().txFull);
}

/** Frames the platform dropped and counted (rings, pools, link, queues, domains), everywhere. */
function counted(bed: RouterBed): number {
  noteDomains(bed);
  // (The source's noBuffer is not a loss: it sends that sequence number at a later tick.)
  let n = bed.link?.lost ?? 0;
  for (const v of txFull.values()) n += v;
  return bed.hosts.reduce((k, h) => k + h.drops.unwired + h.drops.ringFull + h.drops.queueFull + h.drops.noBuffer, n);
}

/**
 * Every packet missing at the receiver is one the platform counted; on a machine with CPU to spare
 * it drops none (a loaded CI runner can starve a domain's thread long enough to overflow its rx
 * ring, before or after the migration).
 */
function onlyPlatformLoss(t: TestContext, bed: RouterBed, r: { sent: number; received: number }, diag: string): void {
  const platform = counted(bed);
  assert.equal(r.sent - r.received, platform, `lost ${r.sent - r.received} of ${r.sent}, ${platform} counted; ${diag}`);
  if (platform > 0) t.diagnostic(`overloaded machine: ${platform} packets dropped by full rings outside the migration`);
  else assert.equal(r.received, r.sent);
}

for (const servers of [1, 2] as const) {
  test(`a router at 100 kpps migrates ${servers === 1 ? 'between domains' : 'between two servers'} with a hold: no loss, no duplicate, no reorder`, async (t) => {
    const bed = await routerBed({ kpps: 100, flows: 10, servers });
    txFull.clear();
    try {
      await sleep(150);
      const to = bed.hosts[servers - 1];
      assert.ok(to);
      let atSwitch = -1;
      let atDrained = -1;
      const rec = await migrateDomain({
        from: bed.hosts[0] as NonNullable<typeof to>,
        domain: bed.domain,
        to,
        ...(bed.link ? { link: bed.link } : {}),
        reason: 'operator',
        hold: true,
        onPhase: (e) => {
          noteDomains(bed);
          if (e.phase === 'switched') atSwitch = counted(bed);
          if (e.phase === 'drained') atDrained = counted(bed);
        },
      });
      await sleep(150);
      const r = await bed.finish();
      assert.equal(rec.outcome, 'done');
      assert.equal(rec.hold, true);
      assert.deepEqual(rec.timeline.map((e) => e.phase), [...MIGRATION_PHASES]);
      for (let i = 1; i < rec.timeline.length; i++) assert.ok((rec.timeline[i]?.at as number) >= (rec.timeline[i - 1]?.at as number));
      assert.ok(rec.stateBytes.final > 0 && rec.stateBytes.preCopy > 0);
      // The target ran copies of the live frames before the switch (their output discarded: no
      // duplicate at the sink, no unwired drop below).
      assert.match(rec.timeline.find((e) => e.phase === 'both-running')?.detail ?? '', /^target warmed with \d{3,} copies/);
      // The source is gone; the target forwarded (the traffic kept flowing after the switch).
      assert.equal(bed.hosts[0]?.domainList().some((d) => d.domain.id === bed.domain), false);
      const target = to.domainList().find((d) => d.domain.id === rec.to.domain);
      assert.ok(target && target.domain.counters().processed > 1000, 'the target carried traffic');
      assert.ok(r.sent > 30_000, `sent ${r.sent}`);
      assert.equal(r.duplicates, 0);
      assert.equal(r.reordered, 0);
      const diag = JSON.stringify({ drops: bed.hosts.map((h) => h.drops), linkLost: bed.link?.lost, src: { ...bed.source.counters(), flows: 0 }, sink: { ...bed.sink.counters(), flows: 0 }, flows: r.flows.map((f) => [f.id, f.received, f.expected, f.lost, f.tooOld, f.reordered]), domains: bed.hosts.map((h) => h.domainList().map((d) => d.domain.counters())), rec });
      // Nothing dropped from the switch until the source is drained and the held frames are
      // handed to the target, nothing to a detached attachment, and every missing packet is one
      // the platform counted.
      assert.equal(atDrained - atSwitch, 0, `dropped during the switch; ${diag}`);
      assert.equal(bed.hosts.reduce((n, h) => n + h.drops.unwired, 0), 0);
      onlyPlatformLoss(t, bed, r, diag);
    } finally {
      await bed.close();
    }
  });
}

test('on servers with an emulated capacity (token scheduler), frames queued for the source are not lost (a router: no hold)', async (t) => {
  const bed = await routerBed({ kpps: 40, flows: 4, servers: 2, capacityPps: 60_000 });
  txFull.clear();
  try {
    await sleep(100);
    let atSwitch = -1;
    let atDrained = -1;
    const rec = await migrateDomain({
      from: bed.hosts[0] as never,
      domain: bed.domain,
      to: bed.hosts[1] as never,
      ...(bed.link ? { link: bed.link } : {}),
      reason: 'overload',
      onPhase: (e) => {
        if (e.phase === 'switched') atSwitch = counted(bed);
        if (e.phase === 'drained') atDrained = counted(bed);
      },
    });
    await sleep(100);
    const r = await bed.finish();
    assert.equal(rec.outcome, 'done');
    assert.equal(rec.hold, false, 'a router switches without a hold by default');
    assert.equal(r.duplicates, 0);
    const diag = JSON.stringify({ drops: bed.hosts.map((h) => h.drops), stats: bed.hosts.map((h) => h.stats()), rec });
    assert.equal(atDrained - atSwitch, 0, `dropped during the switch; ${diag}`);
    assert.equal(bed.hosts.reduce((n, h) => n + h.drops.unwired, 0), 0, 'no frame reached the source after it left');
    const platform = counted(bed);
    assert.equal(r.sent - r.received, platform, `lost ${r.sent - r.received} of ${r.sent}, ${platform} counted; ${diag}`);
    if (platform > 0) t.diagnostic(`overloaded machine: ${platform} packets dropped by full rings or pools outside the migration`);
    else assert.equal(r.received, r.sent);
  } finally {
    await bed.close();
  }
});

test('a migration that cannot start leaves the source running and says why', async () => {
  const bed = await routerBed({ kpps: 5, flows: 1, servers: 2 });
  try {
    const err = await migrateDomain({ from: bed.hosts[0] as never, domain: bed.domain, to: bed.hosts[1] as never, reason: 'overload' }).catch((e: unknown) => e);
    assert.ok(err instanceof MigrationError);
    assert.equal(err.name, 'MigrationError');
    assert.match(err.message, /no link between mig-s1 and mig-s2/);
    assert.equal(err.record.timeline.at(-1)?.phase, 'failed');
    const missing = await migrateDomain({ from: bed.hosts[0] as never, domain: 99, to: bed.hosts[0] as never, reason: 'idle' }).catch((e: unknown) => e);
    assert.ok(missing instanceof MigrationError && /no domain 99/.test(missing.message));
    assert.equal(bed.hosts[0]?.domainList().length, 1);
    const r = await bed.finish();
    assert.equal(r.received, r.sent);
  } finally {
    await bed.close();
  }
});

test('Bridge.redirect: the upstream goes to the new peer, the old one keeps a one-way wire until it is detached', async () => {
  const { Bridge, IsolationError } = await import('./bridge.js');
  const br = new Bridge();
  const up = br.attach('n', { kind: 'endpoint', endpoint: 0, port: 0 });
  const oldV = br.attach('n', { kind: 'vnic', domain: 1, vnic: 0 });
  const newV = br.attach('n', { kind: 'vnic', domain: 2, vnic: 0 });
  const other = br.attach('m', { kind: 'vnic', domain: 3, vnic: 0 });
  br.wire(up, oldV);
  br.redirect(up, newV);
  assert.equal(br.peerOf(up), newV);
  assert.equal(br.peerOf(newV), up);
  assert.equal(br.peerOf(oldV), up, 'the draining source still reaches the upstream');
  br.detach(oldV);
  assert.equal(br.peerOf(up), newV, 'detaching the old peer leaves the new wire alone');
  assert.equal(br.find(oldV), undefined);
  assert.throws(() => br.redirect(up, other), (e: Error) => e instanceof IsolationError && /two networks/.test(e.message));
  const third = br.attach('n', { kind: 'vnic', domain: 4, vnic: 0 });
  const busy = br.attach('n', { kind: 'vnic', domain: 5, vnic: 0 });
  br.wire(third, busy);
  assert.throws(() => br.redirect(up, busy), (e: Error) => e.name === 'IsolationError' && /already wired/.test(e.message));
});

test('a warm standby domain is used as the target (no worker starts during the migration); a mismatched one is refused', async (t) => {
  const bed = await routerBed({ kpps: 20, flows: 4, servers: 1 });
  txFull.clear();
  try {
    const h = bed.hosts[0] as NonNullable<(typeof bed.hosts)[0]>;
    const vnics = [{ context: 0, port: 'r.eth0' }, { context: 0, port: 'r.eth1' }];
    const wrong = await h.addDomain({ name: 'standby-wrong', contexts: [{ network: 'mig', functions: [{ name: 'r', kind: 'router', config: { ...ROUTER_CONFIG, neighbors: [] } }], wires: [] }], vnics });
    const bad = await migrateDomain({ from: h, domain: bed.domain, to: h, target: wrong.domain.id, reason: 'failure' }).catch((e: unknown) => e);
    assert.ok(bad instanceof MigrationError && /does not run the source's configuration/.test(bad.message));
    await h.removeDomain(wrong.domain.id);
    const standby = await h.addDomain({ name: 'standby', contexts: [{ network: 'mig', functions: [{ name: 'r', kind: 'router', config: ROUTER_CONFIG }], wires: [] }], vnics });
    const rec = await migrateDomain({ from: h, domain: bed.domain, to: h, target: standby.domain.id, reason: 'failure' });
    assert.equal(rec.to.domain, standby.domain.id);
    assert.ok(rec.durations.prepareMs < 50, `prepare took ${rec.durations.prepareMs} ms`);
    await sleep(100);
    const r = await bed.finish();
    assert.equal(r.duplicates, 0);
    const platform = counted(bed);
    assert.equal(r.sent - r.received, platform);
    if (platform > 0) t.diagnostic(`overloaded machine: ${platform} packets dropped by full rings outside the migration`);
    assert.deepEqual(h.domainList().map((d) => d.domain.id), [standby.domain.id]);
  } finally {
    await bed.close();
  }
});

test('a standby warmed ahead across servers runs hot on copies of the live frames, is unwired again, and the migration to it skips its warm-up; a wired or missing one is refused', async (t) => {
  const bed = await routerBed({ kpps: 20, flows: 4, servers: 2 });
  txFull.clear();
  try {
    const [s1, s2] = bed.hosts;
    assert.ok(s1 && s2 && bed.link);
    const vnics = [{ context: 0, port: 'r.eth0' }, { context: 0, port: 'r.eth1' }];
    const sb = await s2.addDomain({ name: 'standby', contexts: [{ network: 'mig', functions: [{ name: 'r', kind: 'router', config: ROUTER_CONFIG }], wires: [] }], vnics });
    await assert.rejects(warmStandby({ from: s1, domain: bed.domain, to: s2, target: sb.domain.id + 7, link: bed.link }), (e: Error) => e.name === 'StandbyError' && /no domain/.test(e.message));
    await assert.rejects(warmStandby({ from: s1, domain: bed.domain, to: s2, target: sb.domain.id }), (e: Error) => e.name === 'StandbyError' && /no link/.test(e.message));
    const copies = await warmStandby({ from: s1, domain: bed.domain, to: s2, target: sb.domain.id, link: bed.link, warmup: { frames: 400, perMs: 20 } });
    assert.ok(copies >= 400, `${copies} copies`);
    assert.ok(sb.domain.counters().processed >= 400, `the standby processed ${sb.domain.counters().processed}`);
    assert.ok(sb.attachments.every((a) => s2.bridge.peerOf(a) < 0), 'the standby is unwired again');
    const rec = await migrateDomain({ from: s1, domain: bed.domain, to: s2, link: bed.link, target: sb.domain.id, reason: 'operator' });
    assert.equal(rec.to.domain, sb.domain.id);
    assert.match(rec.timeline.find((e) => e.phase === 'both-running')?.detail ?? '', /warmed beforehand/);
    await sleep(100);
    const r = await bed.finish();
    assert.equal(r.duplicates, 0);
    onlyPlatformLoss(t, bed, r, 'warm standby');
    // The former standby is the live router now: wired, it cannot be warmed.
    const other = await s2.addDomain({ name: 'other', contexts: [{ network: 'mig', functions: [{ name: 'r', kind: 'router', config: ROUTER_CONFIG }], wires: [] }], vnics });
    await assert.rejects(warmStandby({ from: s2, domain: other.domain.id, to: s2, target: sb.domain.id }), (e: Error) => e.name === 'StandbyError' && /is wired/.test(e.message));
  } finally {
    await bed.close();
  }
});

for (const servers of [1, 2] as const) {
  test(`a router at 20 kpps migrates ${servers === 1 ? 'between domains' : 'between two servers'} without a hold: the target forwards at once, the source empties beside it — no loss, no duplicate, reorders counted`, async (t) => {
    const bed = await routerBed({ kpps: 20, flows: 4, servers });
    txFull.clear();
    try {
      await sleep(100);
      const from = bed.hosts[0] as NonNullable<(typeof bed.hosts)[0]>;
      const to = bed.hosts[servers - 1] as typeof from;
      const source = from.domainList().find((d) => d.domain.id === bed.domain)?.domain;
      assert.ok(source);
      const seqs = (): Map<number, number> => new Map(((bed.source.counters()['flows'] ?? []) as readonly { id: number; packets: number }[]).map((f) => [f.id, f.packets]));
      let atSwitch = -1;
      let atDrained = -1;
      let sourceAtDrained: { sent: number; processed: number; left: number } | undefined;
      let targetAtDrained = -1;
      let processedAtSwitch = -1;
      const rec = await migrateDomain({
        from,
        domain: bed.domain,
        to,
        ...(bed.link ? { link: bed.link } : {}),
        reason: 'operator',
        onPhase: (e) => {
          noteDomains(bed);
          if (e.phase === 'switched') {
            atSwitch = counted(bed);
            processedAtSwitch = source.counters().processed;
            // Everything the source emitted so far went to the old instance, the rest goes to the new.
            bed.gaps.boundary(seqs());
          }
          if (e.phase === 'drained') {
            atDrained = counted(bed);
            const c = source.counters();
            sourceAtDrained = { sent: c.sent, processed: c.processed, left: source.vnics.reduce((n, v) => n + v.rx.size + v.tx.size, 0) };
            targetAtDrained = to.domainList().find((d) => d.domain !== source)?.domain.counters().processed ?? -1;
          }
        },
      });
      await sleep(100);
      const r = await bed.finish();
      const diag = JSON.stringify({ drops: bed.hosts.map((h) => h.drops), linkLost: bed.link?.lost, flows: r.flows.map((f) => [f.id, f.received, f.expected, f.lost, f.reordered]), sourceAtDrained, rec });
      assert.equal(rec.outcome, 'done');
      assert.equal(rec.hold, false, 'a router switches without a hold by default');
      assert.equal(rec.held, 0);
      // Its routes and (static) neighbours did not change since the pre-copy: the live target is not re-imported.
      assert.match(rec.timeline.find((e) => e.phase === 'drained')?.detail ?? '', /no hold.*unchanged since the pre-copy: not imported again/);
      assert.deepEqual(rec.timeline.map((e) => e.phase), [...MIGRATION_PHASES]);
      // Make-before-break without a hold: the target forwarded before the source had drained.
      assert.ok(targetAtDrained > 0, `the target processed nothing before the source drained; ${diag}`);
      assert.ok(bed.gaps.switchover().flow >= 0, 'frames of both instances reached the sink');
      // The old instance was emptied before it was shut down: it processed every frame handed to
      // it, nothing was left on its rings, and nothing reached it afterwards.
      assert.ok(sourceAtDrained, 'drained');
      assert.equal(sourceAtDrained.left, 0, diag);
      assert.equal(sourceAtDrained.processed, sourceAtDrained.sent, diag);
      assert.equal(source.counters().sent, sourceAtDrained.sent, 'nothing reached the source after it drained');
      assert.equal(from.domainList().some((d) => d.domain.id === bed.domain && d.domain === source), false);
      assert.ok(r.sent > 3000, `sent ${r.sent}`);
      assert.equal(r.duplicates, 0);
      // Reorders are allowed (the new instance may overtake what the old one still had) and counted.
      t.diagnostic(`reordered ${r.reordered} of ${r.sent}; switch (old instance's last → new one's first) ${bed.gaps.switchover().ms.toFixed(3)} ms`);
      // Only frames the old instance still had at the switch can arrive after newer ones.
      assert.ok(processedAtSwitch >= 0 && r.reordered <= sourceAtDrained.processed - processedAtSwitch, diag);
      assert.equal(atDrained - atSwitch, 0, `dropped during the switch; ${diag}`);
      assert.equal(bed.hosts.reduce((n, h) => n + h.drops.unwired, 0), 0, 'no frame went to the source after it left');
      onlyPlatformLoss(t, bed, r, diag);
    } finally {
      await bed.close();
    }
  });
}
