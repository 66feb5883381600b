/**
 * The contract every network function implements, in the manner of a Click element:
 * ports are declared as data, work arrives a batch at a time (push), configuration is parsed
 * in one place, state is plain data that can be exported and imported (migration), and
 * counters are a typed snapshot. Nothing in this file implements a function.
 */
import type { Batch, PacketPool } from '../packet/pool.js';

/** A port is a named attachment point; frames arrive on it and leave by it. */
export interface PortDecl {
  readonly name: string;
}

/** Where a function puts what it emits: one batch per output port. */
export interface Emit {
  /** Queue a frame (already in the pool) to leave by `port`. */
  send(port: number, slot: number, off: number, len: number): void;
  /** Give a frame back to the pool (dropped or consumed). */
  drop(slot: number): void;
}

export interface ProcessContext {
  readonly pool: PacketPool;
  readonly out: Emit;
  /** Monotonic time in milliseconds (injected, so tests and replays are deterministic). */
  readonly now: number;
}

/** A counter snapshot: plain numbers, possibly nested per port / rule / signature. */
export type Counters = { readonly [name: string]: number | Counters | readonly Counters[] };

/** JSON-compatible data: what state export/import and configuration are made of. */
export type Plain = null | boolean | number | string | readonly Plain[] | { readonly [k: string]: Plain };

export interface NetworkFunction {
  readonly kind: string;
  readonly ports: readonly PortDecl[];
  /** Process a batch that arrived on `port`. Every frame of the batch must be sent or dropped. */
  process(port: number, batch: Batch, ctx: ProcessContext): void;
  /** Timers (ageing, retries); called by the runtime every few milliseconds. */
  tick?(ctx: ProcessContext): void;
  counters(): Counters;
  exportState(): Plain;
  importState(state: Plain): void;
  /**
   * Optional, for functions with per-flow state that can be partitioned across instances
   * (horizontal scaling, src/host/partition.ts): exports the flows whose flow key
   * (lib/flowkey.ts `flowKeyOfTuple`, the symmetric 5-tuple hash) satisfies `owns`, and forgets
   * them here (their resources, e.g. NAT ports, are freed). The result is for `importFlows` of
   * another instance of the same configuration.
   */
  exportFlows?(owns: (key: number) => boolean): Plain;
  /** Optional: adds flows exported by `exportFlows` to this instance's state (merging, never replacing). */
  importFlows?(flows: Plain): void;
}

/** A configuration error with the path of the offending key (e.g. `interfaces[1].mtu`). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}

/** Builds a function from its (already parsed, untyped) configuration; throws ConfigError. */
export interface FunctionFactory {
  readonly kind: string;
  readonly summary: string;
  create(config: unknown): NetworkFunction;
  /**
   * Optional: parses `config` exactly as create() does (same ConfigErrors) and returns the
   * ports it would declare, without allocating runtime state. The control plane validates
   * manifests with it when present (create() otherwise, which costs a full build).
   */
  ports?(config: unknown): readonly PortDecl[];
  /**
   * Optional: true when the pre-copy of a live migration carries all the state a flow's next
   * frame needs (a router's routes and neighbours, a switch's MAC table: whatever is created
   * meanwhile is learned again without harm). Migration then re-points the input to the new
   * instance at once, without holding it while the old one drains (host/migration.ts `hold`).
   * Absent: connection state created during the switch must move first (NAT, firewall, DPI).
   */
  readonly stateCarriedByPreCopy?: boolean;
}
