/**
 * Vertical elasticity in the server agent: every `periodMs` the autoscaler reads the token
 * scheduler's counters of each software network on this server (frames offered, dropped,
 * queued since the last look), asks src/policy/autoscale.ts for the allocation the load needs
 * within the network's `spec.autoscale` limits, and applies a change with
 * `HostServer.setAllocation` — at the scheduler's next round, every queued frame kept, so a
 * resize drops nothing. Each change is a `Normal Scaled` event on the SoftwareNetwork
 * ("s1: tokens 10 → 20: utilisation 1.20 of its share above the target 0.70 ...").
 *
 * What it measures is what domain 0 hands to the network's domain through the scheduler
 * (frames from uplinks, links, endpoints); frames between functions inside one domain are
 * direct calls and never queue at the scheduler.
 *
 * @example
 * const scaler = new AgentAutoscaler({ host, limits: (net) => (net === 'default/web' ? { minTokens: 2, maxTokens: 50, targetUtilization: 0.7 } : undefined) });
 * setInterval(() => void scaler.tick(), 1000);
 */
import type { HostServer } from '../host/hostserver.js';
import { autoscale, initialAutoscaleState, type AutoscaleLimits, type AutoscaleOptions, type AutoscaleState } from '../policy/autoscale.js';
import { EventRecorder } from '../control/events.js';
import { readResource } from '../control/manifest/apply.js';
import { resourceKey, type SoftwareNetworkSpec } from '../control/manifest/types.js';
import type { Store } from '../control/store/contract.js';

/** One allocation change. */
export interface ScaleChange {
  /** Scheduler key of the network (`namespace/name` in the agent). */
  readonly network: string;
  readonly from: number;
  readonly to: number;
  readonly reason: string;
  /** Epoch ms. */
  readonly at: number;
}

export interface AgentAutoscalerInit {
  readonly host: Pick<HostServer, 'stats' | 'setAllocation' | 'server'>;
  /** The limits of a network, undefined when it is not autoscaled. */
  readonly limits: (network: string) => AutoscaleLimits | undefined | Promise<AutoscaleLimits | undefined>;
  /** Called for every change, after it was applied. */
  readonly onScaled?: (c: ScaleChange) => void | Promise<void>;
  readonly options?: AutoscaleOptions;
  /** Monotonic clock in ms; default performance.now. */
  readonly clock?: () => number;
}

interface Seen {
  at: number;
  submitted: number;
  dropped: number;
  state: AutoscaleState;
}

export class AgentAutoscaler {
  /** The last 100 changes, oldest first. */
  readonly changes: ScaleChange[] = [];
  private readonly seen = new Map<string, Seen>();
  private busy = false;

  constructor(readonly init: AgentAutoscalerInit) {}

  /**
   * One decision per autoscaled network over the interval since the previous tick (the first
   * tick of a network only takes its baseline, unless its allocation is outside the limits).
   * Returns the changes made.
   */
  async tick(): Promise<ScaleChange[]> {
    if (this.busy) return [];
    this.busy = true;
    try {
      return await this.step();
    } finally {
      this.busy = false;
    }
  }

  private async step(): Promise<ScaleChange[]> {
    const st = this.init.host.stats();
    if (!st) return [];
    const now = (this.init.clock ?? (() => performance.now()))();
    const capacity = this.init.host.server?.capacity;
    const out: ScaleChange[] = [];
    const total = st.networks.reduce((s, n) => s + n.share.nextAllocation, 0);
    for (const n of st.networks) {
      const lim = await this.init.limits(n.net);
      if (!lim) {
        this.seen.delete(n.net);
        continue;
      }
      const prev = this.seen.get(n.net);
      const cur = n.share.nextAllocation;
      const next: Seen = { at: now, submitted: n.submitted, dropped: n.dropped, state: prev?.state ?? initialAutoscaleState() };
      this.seen.set(n.net, next);
      let to = cur;
      let reason = '';
      if (prev && now > prev.at && capacity !== undefined && n.submitted >= prev.submitted) {
        const d = autoscale(
          cur,
          { intervalS: (now - prev.at) / 1000, offered: n.submitted - prev.submitted, dropped: n.dropped - prev.dropped, queued: n.queued, capacity, others: total - cur },
          lim,
          prev.state,
          this.init.options,
        );
        next.state = d.state;
        to = d.allocation;
        reason = d.reason;
      } else if (cur < lim.minTokens || cur > lim.maxTokens) {
        to = Math.min(lim.maxTokens, Math.max(lim.minTokens, cur));
        reason = `outside the limits [${lim.minTokens}, ${lim.maxTokens}]`;
      }
      if (to === cur) continue;
      this.init.host.setAllocation(n.net, to);
      const c: ScaleChange = { network: n.net, from: cur, to, reason, at: Date.now() };
      out.push(c);
      this.changes.push(c);
      if (this.changes.length > 100) this.changes.shift();
      await this.init.onScaled?.(c);
    }
    return out;
  }
}

/**
 * The autoscaler of a server agent: limits read from each SoftwareNetwork's `spec.autoscale`
 * in the store (network key `namespace/name`), changes recorded as `Normal Scaled` events,
 * run every `periodMs` (default 1000). Returns the timer (unref'd; the agent clears it on stop).
 *
 * @example
 * timers.push(startAgentAutoscaler({ store, server: 's1', host: runtime.host }));
 */
export function startAgentAutoscaler(init: { store: Store; server: string; host: Pick<HostServer, 'stats' | 'setAllocation' | 'server'>; periodMs?: number; log?: (line: string) => void; options?: AutoscaleOptions }): NodeJS.Timeout {
  const events = new EventRecorder(init.store, { component: `agent/${init.server}` });
  const scaler = new AgentAutoscaler({
    host: init.host,
    ...(init.options ? { options: init.options } : {}),
    limits: async (net) => {
      const i = net.indexOf('/');
      if (i < 0) return undefined;
      const kv = await init.store.get(resourceKey('SoftwareNetwork', net.slice(i + 1), net.slice(0, i))).catch(() => undefined);
      const a = kv ? (readResource(kv).spec as unknown as SoftwareNetworkSpec).autoscale : undefined;
      return a ? { minTokens: a.minTokens, maxTokens: a.maxTokens, targetUtilization: a.targetUtilization ?? 0.7 } : undefined;
    },
    onScaled: async (c) => {
      const i = c.network.indexOf('/');
      init.log?.(`agent ${init.server}: ${c.network} tokens ${c.from} → ${c.to} (${c.reason})`);
      await events.record({ kind: 'SoftwareNetwork', name: c.network.slice(i + 1), namespace: c.network.slice(0, i) }, 'Normal', 'Scaled', `${init.server}: tokens ${c.from} → ${c.to}: ${c.reason}`).catch(() => undefined);
    },
  });
  const t = setInterval(() => {
    scaler.tick().catch((e: unknown) => init.log?.(`agent ${init.server}: autoscale: ${e instanceof Error ? e.message : String(e)}`));
  }, init.periodMs ?? 1000);
  t.unref();
  return t;
}
