/**
 * The host side of a server agent: one HostServer and one VXLAN uplink, and per software
 * network placed on this server one user domain holding the network's local functions. Links
 * between two local functions are wires inside the domain (direct calls); a link whose other
 * end runs on another server is a virtual NIC bridged to its own VNI on the uplink (one VNI per
 * cross-server link: the bridge joins exactly two attachments, so a VNI is one cable).
 *
 * The agent (src/cli/agent.ts) turns placements and the SoftwareNetwork spec into a
 * `NetworkPlan`; this file knows nothing of the control plane. A changed plan replaces the
 * domain (make-after-break: functions restart with their new configuration, e.g. new FIBs).
 *
 * @example
 * const rt = await AgentRuntime.open({ name: 's1', vxlan: { address: '127.0.0.1', port: 0 } });
 * await rt.apply({ key: 'default/web', functions: [...], wires: [['r1.eth1', 'r2.eth0']], remote: [] });
 * const report = await rt.report();
 * await rt.close();
 */
import type { Plain } from '../functions/contract.js';
import { LatencyMerge, type LatencySummary } from '../functions/latency.js';
import type { PowerModel } from '../policy/power.js';
import type { ContextSpec, FunctionSpec } from './domain.js';
import { HostServer, type HostDomain } from './hostserver.js';
import type { CostUnit } from './tokens.js';
import { VxlanUplink, type UplinkRemote } from './uplink.js';

export class AgentRuntimeError extends Error {
  override readonly name = 'AgentRuntimeError';
}

/** A port of a local function joined to a port on another server through VXLAN. */
export interface RemotePort {
  /** Local end, `fn.port`. */
  readonly port: string;
  readonly vni: number;
  /** The peer agent's VXLAN endpoint. */
  readonly remote: UplinkRemote;
}

/** What one software network needs on this server. */
export interface NetworkPlan {
  /** `namespace/network`. */
  readonly key: string;
  readonly functions: readonly FunctionSpec[];
  /** Local links, `fn.port` pairs. */
  readonly wires: readonly (readonly [string, string])[];
  readonly remote: readonly RemotePort[];
  /** Token share at the emulated server. */
  readonly allocation?: number;
  readonly priority?: number;
}

export interface DomainReport {
  readonly network: string;
  readonly functions: readonly string[];
  readonly state: string;
  readonly restarts: number;
  /** Frames the domain's functions processed. */
  readonly processed: number;
  /** Per traffic sink (a function whose state has `flows[].received`): frames and bytes received. */
  readonly traffic: Readonly<Record<string, { readonly received: number; readonly bytes: number }>>;
  /**
   * Frames of this network dropped by the host since the agent started (domain 0: no peer, rx ring
   * full, queue full at the emulated server, no slot for a copy), by its VXLAN uplink bindings (no
   * slot: the pool is exhausted) and by its current domain (tx ring full, in flight during a crash).
   * Functions' own drops (a firewall's deny, a sink consuming) are not counted.
   */
  readonly drops: number;
  /** Latency of every frame the network's traffic sinks measured (their histograms merged). */
  readonly latency: LatencySummary;
  /** The network's token share at the emulated server and its balance now; absent without a capacity. */
  readonly tokens?: { readonly allocation: number; readonly balance: number; readonly priority: number; readonly backlog: number };
}

export interface RuntimeReport {
  /** Fraction of the emulated capacity used since the last report (NaN without a capacity). */
  readonly utilisation: number;
  readonly powerWatts: number | undefined;
  readonly energyJoules: number | undefined;
  readonly domains: readonly DomainReport[];
  readonly drops: Readonly<Record<string, number>>;
}

export interface AgentRuntimeInit {
  readonly name: string;
  /** Where the uplink listens; absent = no cross-server links possible. */
  readonly vxlan?: { readonly address: string; readonly port: number };
  readonly capacity?: { readonly capacity: number; readonly unit: CostUnit };
  readonly power?: PowerModel;
  readonly slots?: number;
}

interface Running {
  readonly plan: NetworkPlan;
  readonly canon: string;
  readonly hd: HostDomain;
  readonly vnis: number[];
  readonly attachments: number[];
}

export class AgentRuntime {
  private readonly nets = new Map<string, Running>();
  private lastWork = 0;
  private lastCap = 0;

  private constructor(
    readonly host: HostServer,
    readonly uplink: VxlanUplink | undefined,
  ) {}

  /** Opens the host (pool, loop started) and its uplink; rejects with UplinkError if the address is unusable. */
  static async open(init: AgentRuntimeInit): Promise<AgentRuntime> {
    const host = new HostServer({ name: init.name, slots: init.slots ?? 8192, ...(init.capacity ? { capacity: { ...init.capacity } } : {}), ...(init.power ? { power: init.power } : {}) });
    const uplink = init.vxlan ? await VxlanUplink.open({ address: init.vxlan.address, port: init.vxlan.port }, host.pool) : undefined;
    host.start();
    return new AgentRuntime(host, uplink);
  }

  /** The uplink's bound endpoint (the port is the real one when 0 was asked). */
  get endpoint(): UplinkRemote | undefined {
    return this.uplink ? { address: this.uplink.address, port: this.uplink.port } : undefined;
  }

  keys(): string[] {
    return [...this.nets.keys()];
  }

  /** Creates the network's domain, or replaces it if the plan changed; no-op if unchanged. */
  async apply(plan: NetworkPlan): Promise<'created' | 'replaced' | 'unchanged'> {
    const canon = JSON.stringify(plan);
    const cur = this.nets.get(plan.key);
    if (cur && cur.canon === canon) return 'unchanged';
    if (cur) await this.remove(plan.key);
    if (plan.remote.length > 0 && !this.uplink) throw new AgentRuntimeError(`network ${plan.key}: links to other servers need a VXLAN endpoint (--vxlan-listen)`);
    const ctx: ContextSpec = { network: plan.key, functions: plan.functions.map((f) => ({ ...f })), wires: plan.wires.map(([a, b]) => [a, b]) };
    this.host.addNetwork(plan.key, { allocation: plan.allocation ?? 1, ...(plan.priority !== undefined ? { priority: plan.priority } : {}) });
    const hd = await this.host.addDomain({ name: plan.key, contexts: [ctx], vnics: plan.remote.map((r) => ({ context: 0, port: r.port })) });
    const vnis: number[] = [];
    const attachments: number[] = [];
    try {
      plan.remote.forEach((r, i) => {
        const up = this.uplink as VxlanUplink;
        const a = this.host.attachUplink(up, r.vni, plan.key, [r.remote]);
        vnis.push(r.vni);
        attachments.push(a);
        this.host.bridge.wire(hd.attachments[i] as number, a);
      });
    } catch (e) {
      for (const v of vnis) this.uplink?.unbindVni(v);
      for (const a of attachments) this.host.bridge.detach(a);
      await this.host.removeDomain(hd.domain.id);
      throw e;
    }
    this.nets.set(plan.key, { plan, canon, hd, vnis, attachments });
    return cur ? 'replaced' : 'created';
  }

  /** Destroys the network's domain and unbinds its VNIs. */
  async remove(key: string): Promise<boolean> {
    const cur = this.nets.get(key);
    if (!cur) return false;
    this.nets.delete(key);
    for (const v of cur.vnis) this.uplink?.unbindVni(v);
    for (const a of cur.attachments) this.host.bridge.detach(a);
    await this.host.removeDomain(cur.hd.domain.id);
    return true;
  }

  /** Utilisation, power, energy and each domain's counters and functions' state. */
  async report(): Promise<RuntimeReport> {
    const st = this.host.stats();
    let utilisation = NaN;
    if (st) {
      const dw = st.work - this.lastWork;
      const dc = st.capacityWork - this.lastCap;
      this.lastWork = st.work;
      this.lastCap = st.capacityWork;
      utilisation = dc > 0 ? dw / dc : 0;
    }
    const e = this.host.energy();
    const domains: DomainReport[] = [];
    const shares = new Map((this.host.server?.scheduler.balances().networks ?? []).map((n) => [n.net, n]));
    for (const [key, r] of this.nets) {
      const c = r.hd.domain.counters();
      const traffic: Record<string, { received: number; bytes: number }> = {};
      const latency = new LatencyMerge();
      if (c.state === 'running') {
        const state = await r.hd.domain.exportState(1000).catch(() => [] as Plain[][]);
        const fns = state[0] ?? [];
        r.plan.functions.forEach((f, i) => {
          const t = sinkTotals(fns[i]);
          if (t) traffic[f.name] = t;
          latency.addState(fns[i]);
        });
      }
      const hd = this.host.dropsOf(key);
      let drops = hd.unwired + hd.ringFull + hd.queueFull + hd.noBuffer + c.txFull + c.lostInCrash;
      for (const v of r.vnis) drops += this.uplink?.droppedOf(v) ?? 0;
      const sh = shares.get(key);
      const tokens = sh ? { tokens: { allocation: sh.allocation, balance: sh.balance, priority: sh.priority, backlog: sh.backlog } } : {};
      domains.push({ network: key, functions: r.plan.functions.map((f) => f.name), state: c.state, restarts: c.restarts, processed: c.processed, traffic, drops, latency: latency.summary(), ...tokens });
    }
    return { utilisation, powerWatts: e?.watts, energyJoules: e?.joules, domains, drops: { ...this.host.drops } };
  }

  async close(): Promise<void> {
    for (const k of [...this.nets.keys()]) await this.remove(k).catch(() => undefined);
    await this.host.close();
    await this.uplink?.close();
  }
}

/** Sums `flows[].received/bytes` of a function's exported state (traffic sinks); undefined for others. */
function sinkTotals(st: Plain | undefined): { received: number; bytes: number } | undefined {
  if (st === null || typeof st !== 'object' || Array.isArray(st)) return undefined;
  const flows = (st as { readonly [k: string]: Plain })['flows'];
  if (!Array.isArray(flows)) return undefined;
  let received = 0;
  let bytes = 0;
  for (const f of flows) {
    if (f === null || typeof f !== 'object' || Array.isArray(f)) continue;
    const o = f as { readonly [k: string]: Plain };
    if (typeof o['received'] === 'number') received += o['received'];
    if (typeof o['bytes'] === 'number') bytes += o['bytes'];
  }
  return { received, bytes };
}
