/**
 * Planned live migration of a user domain (the functions of one software network on a server)
 * to a new domain on the same or another server, make-before-break, as Xen live migration
 * (pre-copy, then a short stop-and-copy) and VRRP-style switch of where traffic goes:
 *
 * 1. prepared — the target domain is created idle (its virtual NICs attached, nothing sends to
 *    it) with the functions' configuration; across servers each virtual NIC gets a channel of a
 *    `ServerLink`, wired to the target on its server, so the target is reachable before the
 *    switch;
 * 2. state copied — pre-copy: the running source exports its functions' state (routes,
 *    neighbours, conntrack, NAT bindings, MAC table, DPI streams), the target imports it;
 * 3. both running — frames still go to the source; the target processes copies of them (its
 *    output discarded, paced) until it has run `warmup.frames` of them, so that its code is compiled and
 *    its caches hot when the traffic switches (a fresh worker runs its first thousands of frames
 *    in V8's interpreter: the first frames through a cold target took ~3 ms longer, measured at
 *    100 kpps). The final import replaces whatever state the copies left; the target's counters
 *    include them;
 * 4. switched — in one synchronous step of domain 0 (between two pump passes, so no batch is
 *    in flight to both), every upstream attachment that fed the source is redirected to a hold
 *    queue in domain 0, and the source is asked for its final state once its rx rings are
 *    empty. Frames already in the source's rings are processed by the source and forwarded
 *    (its vNICs still lead to the upstreams, one way), never dropped;
 * 5. drained — the source posted its final state (so it processed everything handed to it);
 *    what it sent is forwarded; the final state is posted to the target, which applies it
 *    before any further frame (stop-and-copy of what changed since the pre-copy: connections,
 *    bindings, neighbours created in between are not lost); the upstreams are redirected to the
 *    target and the held frames follow, in order. No frame is lost or duplicated, and a flow's
 *    frames keep their order (all the source's output leaves before the target's first frame);
 * 6. done — the source domain is destroyed.
 *
 * Without a hold (`hold: false`; the default for functions whose state the pre-copy carries
 * whole, `FunctionFactory.stateCarriedByPreCopy`: a router's routes and neighbours, a switch's
 * MAC table), step 4 redirects the upstreams to the target itself: the target forwards from the
 * switch on while the source empties its queue beside it, its output still delivered; step 5
 * then only merges the source's final state into the running target (as above), and the source
 * goes. Nothing waits in domain 0, so the input is never interrupted by the copy; the price: a
 * flow's frames still queued at the source when it switched may be overtaken by its next frames
 * through the target (reordered — never lost, never duplicated). Functions with connection
 * state created during the switch (NAT, firewall, DPI) keep the hold: their next frame needs it.
 *
 * Every migration returns a `MigrationRecord`: its reason and the timeline of the phases, plain
 * data the control plane can store and show (`swnet events`, `swnet describe`).
 *
 * On a server with an emulated capacity (token scheduler), the final copy waits until the
 * network's frames queued at the scheduler reached the source. Limits: across servers the upstream stays
 * on the source server and reaches the target over the link (a triangle until the control plane
 * rewires the upstream itself).
 *
 * @example
 * const rec = await migrateDomain({ from: s1, domain: 1, to: s2, link, reason: 'operator' });
 * rec.timeline.map((e) => `${e.phase} +${e.sinceStartMs.toFixed(2)} ms`);
 */
import { Batch, MAX_BATCH } from '../packet/pool.js';
import type { Plain } from '../functions/contract.js';
import { getFactory } from '../functions/registry.js';
import type { HostServer, HostDomain } from './hostserver.js';
import type { ServerLink } from './migration-link.js';
import type { MigrationEvent, MigrationReason, MigrationRecord } from './contract-migration.js';

export { MIGRATION_PHASES } from './contract-migration.js';
export type { MigrationEvent, MigrationPhase, MigrationReason, MigrationRecord } from './contract-migration.js';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    message: string,
    readonly record: MigrationRecord,
  ) {
    super(message);
  }
}

export interface MigrationInit {
  /** Source server and domain id. */
  from: HostServer;
  domain: number;
  /** Target server (the same server = migration between domains). */
  to: HostServer;
  /** Required when `to` is another server: the link the target is reached by. */
  link?: ServerLink;
  reason: MigrationReason;
  /**
   * A domain already running idle on `to` (a warm standby built with the source's configuration,
   * its vNICs unwired): used as the target instead of starting one, so no worker starts during
   * the migration.
   */
  target?: number;
  /** Name of the target domain; default the source's name. */
  name?: string;
  /** Time to keep both running before the switch (ms); default 0. */
  warmMs?: number;
  /**
   * Warm-up of the target before the switch with copies of the source's input (output
   * discarded): `frames` copies (default 2048) at most `perMs` a millisecond (default 20), for at
   * most `maxMs` (default 250); false: none. Paced so that the target's thread runs short bursts:
   * at full rate, a third busy thread on a 2-core machine delayed the source's own frames by
   * 3–8 ms. Copies are made only while the pool has a quarter of its slots free, and never on a
   * server with an emulated capacity (they would spend the network's tokens).
   */
  warmup?: { frames?: number; perMs?: number; maxMs?: number } | false;
  /**
   * Hold the input in domain 0 from the switch until the source drained and the target has its
   * final state (no reordering), or re-point it to the target at once and let the source drain
   * beside it (no interruption; frames the source still had may be overtaken). Default: false
   * when every function of the domain declares `stateCarriedByPreCopy` (router, switch), true
   * otherwise (NAT, firewall, DPI, …).
   */
  hold?: boolean;
  /**
   * Time to keep the drained source (idle) before destroying it (ms); default 20. Its worker's exit
   * blocks domain 0's thread for 0.3–9 ms (Node joins the thread) and its teardown competes for the
   * cores: destroyed at once, that fell on the target's first milliseconds of traffic (interruption
   * within [switched − 5 ms, drained + 5 ms] without a hold, between domains: median 1.9–2.4 ms at
   * once, 0.5–0.6 ms after 20 ms; 12 interleaved trials each on a loaded 2-core machine).
   */
  keepSourceMs?: number;
  /** Called at each phase (the control plane turns these into events). */
  onPhase?: (e: MigrationEvent) => void;
}

let counter = 0;
const wallNow = (): number => performance.timeOrigin + performance.now();

/**
 * Migrates a running domain, make-before-break; resolves with its record once the source is
 * destroyed. Rejects with MigrationError (whose `record` holds the timeline so far) if the
 * target cannot be built or refuses the state; the source then keeps running, untouched,
 * unless the failure came after the switch, in which case traffic stays on the target.
 *
 * @example
 * const rec = await migrateDomain({ from: h, domain: 1, to: h, reason: 'overload' });
 */
export async function migrateDomain(init: MigrationInit): Promise<MigrationRecord> {
  const { from, to } = init;
  const t0 = performance.now();
  const src = from.domainList().find((d) => d.domain.id === init.domain);
  const rec: MigrationRecord = {
    id: `mig-${process.pid}-${++counter}`,
    reason: init.reason,
    networks: [],
    from: { server: from.name, domain: init.domain, name: src?.domain.init.name ?? '' },
    to: { server: to.name, domain: 0, name: init.name ?? src?.domain.init.name ?? '' },
    outcome: 'failed',
    timeline: [],
    durations: { prepareMs: 0, preCopyMs: 0, interruptionMs: 0, destroyMs: 0, totalMs: 0 },
    held: 0,
    stateBytes: { preCopy: 0, final: 0 },
  };
  const stamp = (phase: MigrationEvent['phase'], detail?: string): number => {
    const now = performance.now();
    const e: MigrationEvent = detail === undefined ? { phase, at: wallNow(), sinceStartMs: now - t0 } : { phase, at: wallNow(), sinceStartMs: now - t0, detail };
    rec.timeline.push(e);
    init.onPhase?.(e);
    return now;
  };
  const fail = (msg: string): never => {
    rec.error = msg;
    rec.durations.totalMs = performance.now() - t0;
    stamp('failed', msg);
    throw new MigrationError(msg, rec);
  };
  if (!src) return fail(`server ${from.name} has no domain ${init.domain}`);
  if (src.domain.state !== 'running') return fail(`domain ${src.domain.init.name} is ${src.domain.state}`);
  if (to !== from && (!init.link || !((init.link.a === from && init.link.b === to) || (init.link.a === to && init.link.b === from)))) return fail(`no link between ${from.name} and ${to.name}`);
  const spec = src.domain.init;
  rec.networks = [...new Set(spec.contexts.map((c) => c.network))];

  // 1. prepared: the target idle, with the configuration only.
  const contexts = spec.contexts.map((c) => ({ network: c.network, wires: c.wires, functions: c.functions.map((f) => ({ name: f.name, kind: f.kind, config: f.config })) }));
  let tgt: HostDomain;
  if (init.target !== undefined) {
    const ready = to.domainList().find((d) => d.domain.id === init.target);
    if (!ready || (to === from && init.target === init.domain)) return fail(`server ${to.name} has no standby domain ${init.target}`);
    const same = JSON.stringify(ready.domain.init.contexts.map((c) => ({ network: c.network, wires: c.wires, functions: c.functions.map((f) => ({ name: f.name, kind: f.kind, config: f.config })) }))) === JSON.stringify(contexts) && JSON.stringify(ready.domain.init.vnics) === JSON.stringify(spec.vnics);
    if (!same) return fail(`standby domain ${init.target} on ${to.name} does not run the source's configuration`);
    if (ready.attachments.some((a) => to.bridge.peerOf(a) >= 0)) return fail(`standby domain ${init.target} on ${to.name} is already wired`);
    if (ready.domain.state !== 'running') return fail(`standby domain ${init.target} on ${to.name} is ${ready.domain.state}`);
    tgt = ready;
    rec.to.name = ready.domain.init.name;
  } else {
    try {
      // Below the running workers until the switch (see step 3), on a real-time server.
      const prio = to.realtimePriority;
      tgt = await to.addDomain({ name: rec.to.name, contexts, vnics: spec.vnics }, prio !== undefined ? { priority: prio - 1 } : {});
    } catch (e) {
      return fail(`target on ${to.name}: ${(e as Error).message}`);
    }
  }
  rec.to.domain = tgt.domain.id;
  // Per vNIC: the attachment on the source server through which the target is reached.
  const paths: number[] = [];
  for (let i = 0; i < src.attachments.length; i++) {
    const t = tgt.attachments[i] as number;
    if (to === from) {
      paths.push(t);
      continue;
    }
    const link = init.link as ServerLink;
    const net = from.bridge.get(src.attachments[i] as number).network;
    const ch = link.channel(net, `migrate:${spec.vnics[i]?.port ?? i}`);
    const [near, far] = link.a === from ? [ch.a, ch.b] : [ch.b, ch.a];
    to.bridge.wire(far, t);
    paths.push(near);
  }
  let tPrev = stamp('prepared', `domain ${tgt.domain.id} on ${to.name}`);
  rec.durations.prepareMs = tPrev - t0;

  const abort = async (msg: string): Promise<never> => {
    await to.removeDomain(tgt.domain.id);
    return fail(msg);
  };

  // 2. state copied (pre-copy, while the source keeps forwarding).
  let preJson = '';
  try {
    const pre = await src.domain.exportState();
    preJson = JSON.stringify(pre);
    rec.stateBytes.preCopy = preJson.length;
    await tgt.domain.importState(pre);
  } catch (e) {
    return abort(`pre-copy: ${(e as Error).message}`);
  }
  let t = stamp('state-copied', `${rec.stateBytes.preCopy} bytes`);
  rec.durations.preCopyMs = t - tPrev;
  tPrev = t;

  // 3. both running.
  // Not on servers with an emulated capacity: the copies would spend the network's tokens there.
  const already = init.target !== undefined && warmedStandbys.has(tgt.domain);
  const warmed = already || init.warmup === false || from.server || to.server ? 0 : await warmUp(from, src, tgt, paths, init.warmup ?? {}, rec.id);
  if (init.warmMs) await new Promise((r) => setTimeout(r, init.warmMs));
  // On a real-time server the target starts, imports and warms up one priority below the running
  // workers, so that its cold start (interpreter, compiles) never takes a core from the source or
  // domain 0; it gets their priority only now, idle and compiled. Not at normal priority: every
  // Atomics.wait/notify of the process shares one lock in V8, and a normal thread preempted while
  // holding it (behind a real-time worker, until the next load balance) held domain 0's futex wait
  // for up to 15 ms; a real-time holder is pushed to a free core at once.
  const prio = to.realtimePriority;
  if (prio !== undefined && tgt.domain.realtime !== prio) {
    try {
      await tgt.domain.setRealtime(prio);
    } catch (e) {
      return abort(`target's real-time priority: ${(e as Error).message}`);
    }
  }
  stamp('both-running', already ? 'standby warmed beforehand (warmStandby)' : warmed > 0 ? `target warmed with ${warmed} copies of the source's frames` : undefined);

  // 4. switched: upstreams → hold queues (or, without a hold, → the target), in one synchronous step.
  const carried = spec.contexts.every((c) => c.functions.every((f) => getFactory(f.kind)?.stateCarriedByPreCopy === true));
  const hold = init.hold ?? !carried;
  rec.hold = hold;
  const gate = from.server;
  // Without a hold, the network's frames queued at the token scheduler before the switch (FIFO per
  // network) still go to the source: it drains once the scheduler has served that many.
  const servedBy = gate && !hold ? new Map(gate.stats().networks.filter((n) => rec.networks.includes(n.net)).map((n) => [n.net, n.served + n.queued])) : undefined;
  const ups: { up: number; hold: number; held: Batch[] }[] = [];
  for (let i = 0; i < src.attachments.length; i++) {
    const s = src.attachments[i] as number;
    const up = from.bridge.peerOf(s);
    if (up < 0) {
      ups.push({ up: -1, hold: -1, held: [] });
      continue;
    }
    if (!hold) {
      from.bridge.redirect(up, paths[i] as number);
      ups.push({ up: -1, hold: -1, held: [] });
      continue;
    }
    const held: Batch[] = [];
    const q = from.attachExternal(from.bridge.get(s).network, `migrate-hold:${rec.id}:${i}`, (b) => {
      const c = new Batch(MAX_BATCH);
      for (let k = 0; k < b.count; k++) c.push(b.slots[k] as number, b.offs[k] as number, b.lens[k] as number);
      held.push(c);
      return true;
    });
    from.bridge.redirect(up, q);
    ups.push({ up, hold: q, held });
  }
  const tSwitch = stamp('switched', hold ? undefined : 'no hold: the target forwards, the source drains beside it');
  // On a server with an emulated capacity, frames for the source may wait at the token
  // scheduler: they reach the source before it is asked for its final state (with a hold the
  // upstreams are held, so the queue only empties).
  if (gate) {
    const end = performance.now() + 3000;
    const pending = (): boolean => (servedBy ? gate.stats().networks.some((n) => n.served < (servedBy.get(n.net) ?? 0)) : rec.networks.some((n) => gate.queued(n) > 0));
    while (pending() && performance.now() < end) await new Promise<void>((r) => setImmediate(r));
  }
  const finalState = src.domain.exportState();

  // 5. drained: the final state says the source processed everything it was given.
  let fin: Plain[][];
  try {
    fin = await finalState;
  } catch (e) {
    if (!hold) {
      // Traffic is on the target already; it keeps the pre-copy's state; the source goes.
      rec.error = `final copy: ${(e as Error).message}`;
      fin = [];
    } else {
      // The source is stuck: put the upstreams back on it, with what was held.
      release(from, src.attachments, ups);
      return abort(`final copy: ${(e as Error).message}`);
    }
  }
  // What the source sent is forwarded before the target's first frame (order within a flow;
  // without a hold, before the source goes).
  forwardTx(from, src);
  // Without a hold the target forwards with the pre-copy's state already: a final state equal to it
  // (nothing changed since, e.g. a router whose routes and neighbours stayed put) is not imported
  // again — the re-import stalled the live target's forwarding (see docs/host.md). Only for functions
  // that declare their state carried by the pre-copy: for the others the final import also clears
  // what the warm-up's copies left (a NAT's bindings).
  const finJson = hold ? '' : JSON.stringify(fin);
  const unchanged = !hold && carried && finJson === preJson;
  const imported = fin.length > 0 && !unchanged ? tgt.domain.importState(fin) : Promise.resolve();
  for (const u of ups) rec.held += u.held.reduce((n, b) => n + b.count, 0);
  release(from, paths, ups);
  rec.durations.interruptionMs = performance.now() - tSwitch;
  // Measured once the traffic flows again (a large table takes milliseconds to serialise).
  rec.stateBytes.final = hold ? JSON.stringify(fin).length : finJson.length;
  t = stamp('drained', hold ? `${rec.held} frames held, ${rec.stateBytes.final} bytes of final state` : `source emptied beside the target (no hold), ${rec.stateBytes.final} bytes of final state${unchanged ? ', unchanged since the pre-copy: not imported again' : ''}`);
  try {
    await imported;
  } catch (e) {
    // Traffic is on the target already; its state is the pre-copy's.
    rec.error = `final import: ${(e as Error).message}`;
  }

  // 6. done: the source goes.
  const keep = init.keepSourceMs ?? 20;
  if (keep > 0) await new Promise((r) => setTimeout(r, keep));
  const tDestroy = performance.now();
  await from.removeDomain(src.domain.id);
  t = stamp('done');
  rec.durations.destroyMs = t - tDestroy;
  rec.durations.totalMs = t - t0;
  rec.outcome = 'done';
  return rec;
}

const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/** A standby that cannot be warmed (no such domain, already wired, no link). */
export class StandbyError extends Error {
  override readonly name = 'StandbyError';
}

/** Standby domains that `warmStandby` ran hot: a migration to one skips its warm-up. */
const warmedStandbys = new WeakSet<object>();

/**
 * Warms a standby ahead of any migration: domain `target` on `to` (the source's configuration,
 * unwired: the recipe's "program already present but idle") processes copies of what the upstreams
 * send to source domain `domain` on `from`, its output discarded, as the migration's step 3 would
 * (see `warmUp`), then is unwired again. A later `migrateDomain({ target })` skips that step: the
 * target's first thousands of frames in V8's interpreter and its compiles — 100 ms of a core,
 * during which the flows through the source saw gaps of 2–9 ms on a 2-core machine — are spent
 * when nothing is switching. The copies' state is replaced by the migration's pre-copy.
 *
 * @example
 * const sb = await s2.addDomain({ name: 'standby', contexts, vnics });
 * await warmStandby({ from: s1, domain: src.id, to: s2, target: sb.domain.id, link });
 * await migrateDomain({ from: s1, domain: src.id, to: s2, target: sb.domain.id, link, reason: 'operator' });
 */
export async function warmStandby(init: { from: HostServer; domain: number; to: HostServer; target: number; link?: ServerLink; warmup?: MigrationInit['warmup'] }): Promise<number> {
  const { from, to } = init;
  const src = from.domainList().find((d) => d.domain.id === init.domain);
  const tgt = to.domainList().find((d) => d.domain.id === init.target);
  if (!src || !tgt || (from === to && init.domain === init.target)) throw new StandbyError(`warm standby: no domain ${src ? init.target : init.domain} on ${src ? to.name : from.name}`);
  if (tgt.attachments.some((a) => to.bridge.peerOf(a) >= 0)) throw new StandbyError(`warm standby: domain ${init.target} on ${to.name} is wired`);
  if (from !== to && !(init.link && ((init.link.a === from && init.link.b === to) || (init.link.a === to && init.link.b === from)))) throw new StandbyError(`warm standby: no link between ${from.name} and ${to.name}`);
  // As in migrateDomain: copies would spend the network's tokens on an emulated-capacity server.
  if (init.warmup === false || from.server || to.server) return 0;
  const paths: number[] = [];
  const ends: [number, number][] = [];
  for (let i = 0; i < src.attachments.length; i++) {
    const t = tgt.attachments[i] as number;
    if (from === to || !init.link) {
      paths.push(t);
      continue;
    }
    const ch = init.link.channel(from.bridge.get(src.attachments[i] as number).network, `warm:${init.target}:${i}`);
    const [near, far] = init.link.a === from ? [ch.a, ch.b] : [ch.b, ch.a];
    to.bridge.wire(far, t);
    paths.push(near);
    ends.push([near, far]);
  }
  // Below the live workers while it runs cold (see migrateDomain's step 3).
  const prio = to.realtimePriority;
  if (prio !== undefined) await tgt.domain.setRealtime(prio - 1);
  try {
    const n = await warmUp(from, src, tgt, paths, init.warmup ?? {}, `standby-${to.name}-${init.target}`);
    warmedStandbys.add(tgt.domain);
    return n;
  } finally {
    for (const [near, far] of ends) {
      from.bridge.detach(near);
      to.bridge.detach(far);
    }
    if (prio !== undefined) await tgt.domain.setRealtime(prio);
  }
}


/**
 * Feeds the target copies of what the upstreams send to the source (per vNIC, through `paths[i]`,
 * the attachment by which the target is reached on the source's server), its output going to a
 * discarding attachment, until it processed `frames` of them or `maxMs` passed; waits (≤ 100 ms)
 * until it has processed and sent everything, then unwires it. Returns the frames copied.
 */
async function warmUp(from: HostServer, src: HostDomain, tgt: HostDomain, paths: readonly number[], w: { frames?: number; perMs?: number; maxMs?: number }, id: string): Promise<number> {
  const want = w.frames ?? 2048;
  const perMs = w.perMs ?? 20;
  const pool = from.pool;
  // Token bucket: `perMs` copies a millisecond, bursts of at most 2 ms' worth.
  let budget = perMs;
  let refilled = performance.now();
  const feeds: { vnic: number; feed: number; path: number; queue: Batch[] }[] = [];
  let copied = 0;
  for (let i = 0; i < src.attachments.length; i++) {
    const s = src.attachments[i] as number;
    const path = paths[i] as number;
    if (from.bridge.peerOf(s) < 0 || from.bridge.peerOf(path) >= 0) continue;
    const feed = from.attachExternal(from.bridge.get(s).network, `migrate-warm:${id}:${i}`, () => false);
    from.bridge.wire(feed, path);
    const f = { vnic: s, feed, path, queue: [] as Batch[] };
    from.mirror(s, (b) => {
      if (copied >= want || pool.available < pool.slots / 4) return;
      const now = performance.now();
      budget = Math.min(2 * perMs, budget + (now - refilled) * perMs);
      refilled = now;
      const n = Math.min(b.count, Math.floor(budget), want - copied);
      if (n <= 0) return;
      budget -= n;
      const c = new Batch(MAX_BATCH);
      for (let k = 0; k < n; k++) {
        const d = pool.alloc();
        if (d < 0) break;
        const off = b.offs[k] as number;
        const len = b.lens[k] as number;
        const doff = pool.frameOffset(d);
        pool.bytes.copyWithin(doff, off, off + len);
        c.push(d, doff, len);
      }
      copied += c.count;
      f.queue.push(c);
    });
    feeds.push(f);
  }
  if (feeds.length === 0) return 0;
  // Copies are forwarded between pump passes, never from inside the forward that showed them.
  const flush = (): void => {
    for (const f of feeds) {
      for (const b of f.queue) from.forward(f.feed, b);
      f.queue.length = 0;
    }
  };
  const start = tgt.domain.counters();
  const end = performance.now() + (w.maxMs ?? 250);
  while (copied < want && performance.now() < end) {
    await turn();
    flush();
  }
  for (const f of feeds) from.mirror(f.vnic, undefined);
  flush();
  const idle = (): boolean => {
    const c = tgt.domain.counters();
    return c.processed - start.processed >= c.sent - start.sent && tgt.domain.pendingTx === 0;
  };
  const until = performance.now() + 100;
  while (!idle() && performance.now() < until) await turn();
  // One more pass of both servers' pumps takes what the target sent last to the discarding feed.
  await turn();
  for (const f of feeds) {
    from.bridge.unlink(f.path);
    from.bridge.detach(f.feed);
  }
  return copied;
}

/** Redirects each upstream to `dest[i]` and sends what was held there, in order; drops the holds. */
function release(h: HostServer, dest: readonly number[], ups: { up: number; hold: number; held: Batch[] }[]): void {
  ups.forEach((u, i) => {
    if (u.up < 0) return;
    h.bridge.redirect(u.up, dest[i] as number);
    for (const b of u.held) h.forward(u.up, b);
    u.held.length = 0;
    h.bridge.detach(u.hold);
  });
}

/** Forwards what a domain left on its tx rings (domain 0 would on its next pass). */
function forwardTx(h: HostServer, hd: HostDomain): void {
  const b = new Batch(MAX_BATCH);
  hd.domain.service();
  for (let i = 0; i < hd.attachments.length; i++) {
    for (;;) {
      b.clear();
      if (hd.domain.receive(i, b) === 0) break;
      h.forward(hd.attachments[i] as number, b);
    }
  }
}
