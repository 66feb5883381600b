/**
 * The server agent's side of a planned migration (session contract §1, steps 2, 3, 4, 6, 7):
 * it watches `/swnet/migration/` and, for the objects that name this server, does its step and
 * moves the object on with a compare-and-swap write ({@link advance}); every pass looks at every
 * object (on each watch event and on the agent's periodic resync), so a lost event delays a
 * step, never loses it.
 *
 * - `pending`, this server the target: a WARM instance of the function (its configuration with
 *   the FIB computed as if it ran here, a vNIC per port, the VNIs of its future cross-server
 *   links bound to it ahead) → `prepared`;
 * - `prepared`, this server the source: the function's state exported live, written to the
 *   state key (`pre`) in the same transaction as → `state-copied`;
 * - `state-copied`, the target: `pre` imported into the warm instance → `both-running`;
 * - (`switched` is the controller's: placement → target in one transaction; every agent then
 *   re-plans: the target adopts the warm instance, the others re-point their VXLAN, the source
 *   keeps the function `graceMs` — see AgentRuntime.apply);
 * - `switched`, the source: once the function retired, its final state goes to the state key
 *   (`final`) → `drained`;
 * - `drained`, the target: `final` merged into the adopted function's state (what it created
 *   since the switch stays, the source's rows it lacks are added: agent-state.ts) → `done`.
 * A drain's wave (`MigrationObject.wave`) is stepped together where it shares a server and a
 * network: the target warms its functions in ONE domain (AgentRuntime.warmGroup) and imports
 * their `pre` and merged `final` states with one import per domain, the source exports them with
 * one export per domain and leaves a domain holding only the wave's functions as it is (it
 * retires whole after the wave's one switch).
 * A step that cannot be done fails the migration with the error's message (MigrationAgentError
 * and the runtime's typed errors); a failed or vanished migration's warm instance is dropped.
 * Failover promotions (`standby: true`) belong to agent-standby.ts and are left alone.
 *
 * @example
 * const mig = await MigrationAgent.start({ store, server: 's2', runtime, planWith: (k, f) => agent.planWith(k, f) });
 * await mig.reconcile();   // also run on every resync
 * await mig.stop();
 */
import type { Plain } from '../functions/contract.js';
import type { AgentRuntime, NetworkPlan } from '../host/agent-runtime.js';
import type { FunctionSpec } from '../host/domain.js';
import { mergeState } from '../host/agent-state.js';
import { advance, failMigration, keyOf, MIGRATION_PREFIX, stateKeyOf, type MigrationObject, type MigrationState } from '../control/migrations.js';
import type { JsonObject, Op, Store } from '../control/store/contract.js';
import { parsedValue } from '../control/store/parsed.js';
import { Reflector } from '../control/store/reflector.js';

export class MigrationAgentError extends Error {
  override readonly name = 'MigrationAgentError';
}

export interface MigrationAgentInit {
  readonly store: Store;
  readonly server: string;
  readonly runtime: AgentRuntime;
  /** The plan of network `key` were function `fn` (or each of several) placed on this server (its FIB, its links). */
  readonly planWith: (key: string, fn: string | readonly string[]) => Promise<NetworkPlan | undefined>;
  readonly log?: (line: string) => void;
}

/** Timings of the agent's own steps (ms), for tests and benchmarks. */
export interface MigrationStepTimes {
  readonly [step: string]: number;
}

const isMigration = (v: unknown): v is MigrationObject => v !== null && typeof v === 'object' && (v as { kind?: unknown }).kind === 'Migration';

export class MigrationAgent {
  private reflector: Reflector | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  /** Warm instances this agent started, by migration key (dropped when the migration ends without adopting them). */
  private readonly warmFor = new Map<string, { key: string; fn: string }>();
  /** The phase this agent last moved each migration out of, until the cache shows it moved (see `pass`). */
  private readonly left = new Map<string, MigrationObject['phase']>();
  /** Source steps waiting for a retirement's final state, by migration key. */
  private readonly draining = new Set<string>();
  /** Migrations whose step is running, and those steps (awaited by `settled`). */
  private readonly busy = new Set<string>();
  private readonly recheck = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Per migration key, how long each of this agent's steps took (ms). */
  readonly steps = new Map<string, Record<string, number>>();

  private constructor(private readonly init: MigrationAgentInit) {}

  /** Starts watching migration objects; the first pass runs at once. */
  static async start(init: MigrationAgentInit): Promise<MigrationAgent> {
    const m = new MigrationAgent(init);
    m.reflector = await Reflector.start(init.store, { prefix: MIGRATION_PREFIX, onChange: () => m.kick(), onRelist: (e) => init.log?.(`agent ${init.server}: relist ${MIGRATION_PREFIX}: ${e.message}`) });
    m.kick();
    return m;
  }

  private get by(): string {
    return `agent/${this.init.server}`;
  }

  /** Schedules a pass (coalesced: one at a time, one more after it if asked meanwhile). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = (async () => {
      do {
        this.dirty = false;
        await this.pass().catch((e: unknown) => this.init.log?.(`agent ${this.init.server}: migrations: ${e instanceof Error ? e.message : String(e)}`));
      } while (this.dirty && !this.stopped);
      this.running = undefined;
    })();
  }

  /** Runs a pass now (after the one in progress); the agent calls it at the end of each reconcile. */
  async reconcile(): Promise<void> {
    this.kick();
    await this.settled();
  }

  /** Resolves once no pass and no step runs. */
  async settled(): Promise<void> {
    while (this.running || this.inFlight.size > 0) {
      if (this.running) await this.running;
      else await Promise.all([...this.inFlight]);
    }
  }

  private async pass(): Promise<void> {
    const cache = this.reflector?.cache;
    if (!cache) return;
    const me = this.init.server;
    const live = new Set<string>();
    for (const kv of cache.values()) {
      if (this.stopped) return;
      // Parsed once per version for the process (five agents and the controller read each).
      const m = parsedValue(kv);
      if (!isMigration(m) || m.standby) continue;
      const mk = keyOf(m);
      if (m.phase !== 'done' && m.phase !== 'failed') live.add(mk);
      if (m.to !== me && m.from !== me) continue;
      // This agent moved it out of this phase already: the cache shows a version older than its
      // own write (a store's watch lags its writes — etcd); the step must not run again (a
      // re-warm would drop the warm instance, a re-import would put the pre-copy back).
      const left = this.left.get(mk);
      if (left !== undefined) {
        if (left === m.phase) continue;
        this.left.delete(mk);
      }
      // Migrations are independent: each step runs on its own (a warm start here never waits for
      // another migration's export); the runtime orders the changes of one network. One step per
      // migration at a time: a pass that meets a migration still busy leaves it, and the step's
      // end asks for another pass.
      if (this.busy.has(mk)) {
        this.recheck.add(mk);
        continue;
      }
      // A wave's functions bound here are warmed together, in one domain (one start, not one
      // each), and given their state together; those leaving from here are exported together
      // (one export per domain).
      const target = (m.phase === 'pending' || m.phase === 'state-copied' || m.phase === 'drained') && m.to === me;
      if (m.wave !== undefined && (target || (m.phase === 'prepared' && m.from === me))) {
        const wave: { mk: string; m: MigrationObject }[] = [];
        for (const o of cache.values()) {
          const w = parsedValue(o);
          if (isMigration(w) && !w.standby && w.wave === m.wave && w.phase === m.phase && this.left.get(keyOf(w)) !== w.phase && (target ? w.to === me : w.from === me) && w.namespace === m.namespace && w.network === m.network && !this.busy.has(keyOf(w))) wave.push({ mk: keyOf(w), m: w });
        }
        const run = { pending: this.warmWave, prepared: this.exportWave, 'state-copied': this.importWave, drained: this.finishWave }[m.phase as 'pending' | 'prepared' | 'state-copied' | 'drained'];
        this.launch(wave, () => run.call(this, wave));
        continue;
      }
      this.launch([{ mk, m }], () => this.step(mk, m));
    }
    for (const mk of this.left.keys()) if (!cache.has(mk)) this.left.delete(mk);
    // Warm instances of migrations that failed or vanished before the switch.
    for (const [mk, w] of [...this.warmFor]) {
      if (live.has(mk)) continue;
      this.warmFor.delete(mk);
      if (this.init.runtime.hasWarm(w.key, w.fn)) await this.init.runtime.dropWarm(w.key, w.fn).catch(() => false);
    }
  }

  /** Runs a step of `items` (busy meanwhile); one that throws fails them all. */
  private launch(items: readonly { mk: string; m: MigrationObject }[], step: () => Promise<void>): void {
    const me = this.init.server;
    for (const x of items) this.busy.add(x.mk);
    const run = step()
      .catch(async (e: unknown) => {
        const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        for (const { m, mk } of items) {
          this.init.log?.(`agent ${me}: migration ${m.id} (${m.phase}): ${msg}`);
          await failMigration(this.init.store, mk, this.by, `${me}: ${msg}`).catch(() => undefined);
        }
      })
      .finally(() => {
        this.inFlight.delete(run);
        let again = false;
        for (const { mk } of items) {
          this.busy.delete(mk);
          // A pass met it busy: it looks again (on the next turn: a step with nothing to do ends
          // at once, and a pass per microtask would starve the timers).
          if (this.recheck.delete(mk)) again = true;
        }
        if (again) setImmediate(() => this.kick());
      });
    this.inFlight.add(run);
  }

  /** What a wave's steps start from: this server, its runtime, the first migration, the network's key, the step's start and the functions. */
  private waveOf(items: readonly { mk: string; m: MigrationObject }[]): { me: string; rt: MigrationAgentInit['runtime']; m0: MigrationObject; key: string; t0: number; fns: string[] } | undefined {
    const m0 = items[0]?.m;
    if (!m0) return undefined;
    return { me: this.init.server, rt: this.init.runtime, m0, key: `${m0.namespace}/${m0.network}`, t0: performance.now(), fns: items.map((x) => x.m.function) };
  }

  /**
   * `pending` of a wave's migrations to this server, of one network: their functions warmed in
   * ONE domain (AgentRuntime.warmGroup; links among them inside it), then each → `prepared`.
   * Networks isolated by contexts warm each function on its own (their plans adopt by state).
   */
  private async warmWave(items: readonly { mk: string; m: MigrationObject }[]): Promise<void> {
    const w = this.waveOf(items);
    if (!w) return;
    const { me, rt, key, t0, fns } = w;
    const plan = await this.init.planWith(key, fns);
    const specs = fns.map((fn) => plan?.functions.find((f) => f.name === fn));
    if (!plan || specs.some((f) => f === undefined)) throw new MigrationAgentError(`no plan for ${key}/${fns.filter((_, i) => !specs[i]).join(',')} on ${me} (network or function unknown here)`);
    const names = new Set(fns);
    const remote = plan.remote.filter((r) => names.has(r.port.slice(0, r.port.lastIndexOf('.'))));
    const share = { ...(plan.allocation !== undefined ? { allocation: plan.allocation } : {}), ...(plan.priority !== undefined ? { priority: plan.priority } : {}) };
    for (const x of items) this.warmFor.set(x.mk, { key, fn: x.m.function });
    // Partitioned functions (replicas) and context-isolated networks are not cells: each warms alone.
    const alone = (f: FunctionSpec): boolean => plan.isolation === 'context' || plan.replicas?.[f.name] !== undefined;
    const ok = specs as FunctionSpec[];
    for (const f of ok.filter(alone)) await rt.warm(key, f, undefined, { remote: remote.filter((r) => r.port.startsWith(`${f.name}.`)), ...share });
    const group = ok.filter((f) => !alone(f));
    if (group.length > 0) await rt.warmGroup(key, group, plan.wires, { remote: remote.filter((r) => group.some((f) => r.port.startsWith(`${f.name}.`))), ...share });
    for (const x of items) this.timed(x.mk, 'prepare', t0);
    await Promise.all(items.map((x) => this.adv(x.mk, ['pending'], 'prepared', this.by, group.some((f) => f.name === x.m.function) ? `warm ${x.m.function} on ${me}, in one domain with the ${group.length} function(s) of its wave here (${remote.length} VXLAN link(s) bound ahead)` : `warm ${x.m.function} on ${me} (its own domain; wave of ${items.length} here)`)));
  }

  /**
   * `prepared` of a wave's migrations from this server, of one network: the functions isolated
   * together into one domain unless the wave holds their whole domain, their states exported with
   * one export per domain, then each → `state-copied` with its `pre` state.
   */
  private async exportWave(items: readonly { mk: string; m: MigrationObject }[]): Promise<void> {
    const w = this.waveOf(items);
    if (!w) return;
    const { me, rt, m0, key, t0, fns } = w;
    const gone = fns.filter((fn) => !rt.functions(key).includes(fn));
    if (gone.length > 0) throw new MigrationAgentError(`${key}/${gone.join(',')} does not run on ${me}`);
    // Isolated together (one domain for the wave's functions here, one rebuild): they leave together.
    await Promise.all(fns.map(async (fn) => (this.waveHolds(m0, rt.domainOf(key, fn)) ? undefined : rt.isolate(key, fn, m0.wave))));
    const states = await rt.exportStates(key, fns);
    await Promise.all(
      items.map(async ({ mk, m }) => {
        const pre = states.get(m.function) ?? null;
        this.timed(mk, 'export', t0);
        const state: MigrationState = { pre: pre as JsonObject[string] };
        await this.adv(mk, ['prepared'], 'state-copied', this.by, `${JSON.stringify(pre).length} bytes of state`, [{ type: 'put', key: stateKeyOf(mk), value: state as unknown as JsonObject }]);
      }),
    );
  }

  /** `state-copied` of a wave's migrations to this server, of one network: every `pre` imported at once, then each → `both-running`. */
  private async importWave(items: readonly { mk: string; m: MigrationObject }[]): Promise<void> {
    const w = this.waveOf(items);
    if (!w) return;
    const { rt, key, t0 } = w;
    const states = new Map<string, Plain>();
    for (const [i, st] of (await Promise.all(items.map((x) => this.readState(x.mk)))).entries()) {
      const { mk, m } = items[i] as { mk: string; m: MigrationObject };
      if (st.pre === undefined) throw new MigrationAgentError(`no pre-copy state at ${stateKeyOf(mk)}`);
      if (!rt.hasWarm(key, m.function)) throw new MigrationAgentError(`the warm instance of ${key}/${m.function} is gone (agent restarted?)`);
      states.set(m.function, st.pre as Plain);
    }
    await rt.importStates(key, states);
    for (const x of items) this.timed(x.mk, 'import', t0);
    await Promise.all(items.map((x) => this.adv(x.mk, ['state-copied'], 'both-running', this.by)));
  }

  /**
   * `drained` of a wave's migrations to this server, of one network, once adopted: each
   * function's `final` merged into its own state as in `step`, with one export and one import
   * per domain (each on its own if the domain refuses one of them), then each → `done`.
   */
  private async finishWave(items: readonly { mk: string; m: MigrationObject }[]): Promise<void> {
    const w = this.waveOf(items);
    if (!w) return;
    const { rt, key, t0 } = w;
    // Adopted by the reconcile that followed the switch; the others on a later pass.
    const ready = items.filter((x) => rt.functions(key).includes(x.m.function));
    if (ready.length === 0) return;
    for (const x of ready) this.warmFor.delete(x.mk);
    const states = await Promise.all(ready.map((x) => this.readState(x.mk)));
    const finals = new Map<string, Plain>();
    ready.forEach((x, i) => {
      const f = states[i]?.final;
      if (f !== undefined) finals.set(x.m.function, f as Plain);
    });
    const own = await rt.exportStates(key, [...finals.keys()]);
    const merged = new Map<string, Plain>();
    for (const [fn, f] of finals) merged.set(fn, mergeState(rt.kindOf(key, fn) ?? '', own.get(fn) ?? null, f));
    const detail = new Map<string, string>();
    const ok = (fn: string): void => void detail.set(fn, merged.get(fn) === finals.get(fn) ? 'final state imported' : 'final state merged');
    try {
      await rt.importStates(key, merged);
      for (const fn of merged.keys()) ok(fn);
    } catch {
      for (const [fn, st] of merged) {
        try {
          await rt.importState(key, fn, st);
          ok(fn);
        } catch (e) {
          // A merge the function refuses (a binding both sides allocated): the target's state stands.
          detail.set(fn, `final state not merged (${e instanceof Error ? e.message : String(e)}): the target's state stands`);
        }
      }
    }
    for (const x of ready) this.timed(x.mk, 'final-import', t0);
    await Promise.all(ready.map((x) => this.adv(x.mk, ['drained'], 'done', this.by, detail.get(x.m.function) ?? 'no final state: the pre-copy stands')));
  }

  /** {@link advance} of migration `mk`, remembering that this agent moved it out of `from` (see `pass`). */
  private async adv(mk: string, from: readonly MigrationObject['phase'][], to: MigrationObject['phase'], by: string, detail?: string, extraOps?: readonly Op[]): Promise<MigrationObject | undefined> {
    const r = await advance(this.init.store, mk, from, to, by, detail, extraOps);
    if (from.length === 1) this.left.set(mk, from[0] as MigrationObject['phase']);
    return r;
  }

  private timed(mk: string, step: string, t0: number): void {
    let s = this.steps.get(mk);
    if (!s) this.steps.set(mk, (s = {}));
    s[step] = performance.now() - t0;
  }

  /** This server's step of one migration, if any is due. */
  private async step(mk: string, m: MigrationObject): Promise<void> {
    const me = this.init.server;
    const rt = this.init.runtime;
    const key = `${m.namespace}/${m.network}`;
    const fn = m.function;
    const t0 = performance.now();
    if (m.phase === 'pending' && m.to === me) {
      const plan = await this.init.planWith(key, fn);
      const spec = plan?.functions.find((f) => f.name === fn);
      if (!plan || !spec) throw new MigrationAgentError(`no plan for ${key}/${fn} on ${me} (network or function unknown here)`);
      const prefix = `${fn}.`;
      const remote = plan.remote.filter((r) => r.port.startsWith(prefix));
      this.warmFor.set(mk, { key, fn });
      await rt.warm(key, spec, undefined, { remote, ...(plan.allocation !== undefined ? { allocation: plan.allocation } : {}), ...(plan.priority !== undefined ? { priority: plan.priority } : {}) });
      this.timed(mk, 'prepare', t0);
      await this.adv(mk, ['pending'], 'prepared', this.by, `warm ${fn} on ${me} (${remote.length} VXLAN link(s) bound ahead)`);
      return;
    }
    if (m.phase === 'prepared' && m.from === me) {
      if (!rt.functions(key).includes(fn)) throw new MigrationAgentError(`${key}/${fn} does not run on ${me}`);
      // Alone in its domain, the function can leave after the switch while the others stay; a
      // domain whose functions all leave in this wave (switched together) retires whole as it is.
      if (!this.waveHolds(m, rt.domainOf(key, fn))) await rt.isolate(key, fn);
      const pre = await rt.exportState(key, fn);
      const bytes = JSON.stringify(pre).length;
      this.timed(mk, 'export', t0);
      const state: MigrationState = { pre: pre as JsonObject[string] };
      await this.adv(mk, ['prepared'], 'state-copied', this.by, `${bytes} bytes of state`, [{ type: 'put', key: stateKeyOf(mk), value: state as unknown as JsonObject }]);
      return;
    }
    if (m.phase === 'state-copied' && m.to === me) {
      const st = await this.readState(mk);
      if (st.pre === undefined) throw new MigrationAgentError(`no pre-copy state at ${stateKeyOf(mk)}`);
      if (!rt.hasWarm(key, fn)) throw new MigrationAgentError(`the warm instance of ${key}/${fn} is gone (agent restarted?)`);
      await rt.importState(key, fn, st.pre as Plain);
      this.timed(mk, 'import', t0);
      await this.adv(mk, ['state-copied'], 'both-running', this.by);
      return;
    }
    if (m.phase === 'switched' && m.from === me) {
      if (this.draining.has(mk)) return;
      const fin = rt.retired(key, fn);
      if (!fin) {
        // Not re-planned yet (the function still runs here): the next pass comes after the reconcile.
        if (rt.functions(key).includes(fn)) return;
        await this.adv(mk, ['switched'], 'drained', this.by, `no final state (${fn} was not running here)`);
        return;
      }
      // The grace period runs in the runtime; the pass goes on meanwhile.
      this.draining.add(mk);
      void fin
        .then(async (final) => {
          this.timed(mk, 'drain', t0);
          const st = await this.readState(mk);
          const next: MigrationState = { ...st, ...(final !== undefined ? { final: final as JsonObject[string] } : {}) };
          await this.adv(mk, ['switched'], 'drained', this.by, final !== undefined ? `${JSON.stringify(final).length} bytes of final state` : 'no final state (the domain did not answer)', [{ type: 'put', key: stateKeyOf(mk), value: next as unknown as JsonObject }]);
          rt.forgetRetired(key, fn);
        })
        .catch(async (e: unknown) => {
          await failMigration(this.init.store, mk, this.by, `${me}: ${e instanceof Error ? e.message : String(e)}`).catch(() => undefined);
        })
        .finally(() => this.draining.delete(mk));
      return;
    }
    if (m.phase === 'drained' && m.to === me) {
      // Adopted by the reconcile that followed the switch; until then, the next pass.
      if (!rt.functions(key).includes(fn)) return;
      this.warmFor.delete(mk);
      const st = await this.readState(mk);
      let detail = 'no final state: the pre-copy stands';
      if (st.final !== undefined) {
        // The target has run since the switch: its own new state stays, the source's is added.
        const kind = rt.kindOf(key, fn) ?? '';
        const merged = mergeState(kind, await rt.exportState(key, fn), st.final as Plain);
        try {
          await rt.importState(key, fn, merged);
          detail = merged === st.final ? 'final state imported' : 'final state merged';
        } catch (e) {
          // A merge the function refuses (a binding both sides allocated): the target's state stands.
          detail = `final state not merged (${e instanceof Error ? e.message : String(e)}): the target's state stands`;
        }
      }
      this.timed(mk, 'final-import', t0);
      await this.adv(mk, ['drained'], 'done', this.by, detail);
      return;
    }
    if ((m.phase === 'switched' || m.phase === 'drained') && m.to === me && rt.functions(key).includes(fn)) this.warmFor.delete(mk);
  }

  /** True if every one of `fns` leaves this server in `m`'s wave (none of it failed). */
  private waveHolds(m: MigrationObject, fns: readonly string[]): boolean {
    if (m.wave === undefined || fns.length === 0) return false;
    const leaving = new Set<string>();
    for (const kv of this.reflector?.cache.values() ?? []) {
      const o = parsedValue(kv);
      if (!isMigration(o) || o.wave !== m.wave || o.from !== this.init.server || o.phase === 'failed') continue;
      if (o.namespace === m.namespace && o.network === m.network) leaving.add(o.function);
    }
    return fns.every((f) => leaving.has(f));
  }

  private async readState(mk: string): Promise<MigrationState> {
    const kv = await this.init.store.get(stateKeyOf(mk));
    const v = kv?.value;
    if (!v || v instanceof Uint8Array) return {};
    return v as MigrationState;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.reflector?.stop().catch(() => undefined);
    await this.settled();
  }
}
