/**
 * Resource types (the shapes the JSON Schema in schema.ts validates) and where each kind
 * lives in the store.
 */
import type { Json, JsonObject } from '../store/contract.js';
import { API_VERSION, KIND_NAMES, type Kind } from './schema.js';

export type { Kind } from './schema.js';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
}

export interface Status {
  observedGeneration?: number;
  conditions?: Condition[];
  [extra: string]: Json | Condition[] | undefined;
}

export interface Resource {
  apiVersion: typeof API_VERSION;
  kind: Kind;
  metadata: Metadata;
  spec: JsonObject;
  status?: Status;
}

export type Quantity = number | string;

export interface NetworkFunctionSpec {
  name: string;
  kind: string;
  ports?: string[];
  config?: JsonObject;
  resources?: { cpu?: Quantity; memory?: Quantity; bandwidth?: Quantity };
  /**
   * Horizontal elasticity: instances of the function on its server, traffic spread by flow
   * (src/host/partition.ts); only kinds that export flows (firewall, nat with partitioned: true,
   * dpi, loadbalancer in dsr mode). A change re-partitions live.
   */
  replicas?: number;
  /**
   * `servers`: the replicas run on several servers (replica k ≥ 1 placed as `<name>~replica-k`,
   * away from the others where the cluster allows); the function's own server keeps the spreader
   * and reaches the others over VXLAN (src/host/spread.ts). Absent: all on the function's server.
   */
  spread?: 'servers';
}

export interface SoftwareNetworkSpec {
  functions: NetworkFunctionSpec[];
  links?: { endpoints: [string, string]; bandwidth?: Quantity; latency?: Quantity }[];
  protocols?: ('ethernet' | 'ipv4' | 'ipv6' | 'mpls')[];
  tokens?: number;
  priority?: number;
  /** Vertical elasticity (src/policy/autoscale.ts): token allocation bounds; targetUtilization default 0.7. */
  autoscale?: { minTokens: number; maxTokens: number; targetUtilization?: number };
  isolation?: 'domain' | 'context';
  placement?: {
    tier?: string[];
    datacenter?: string[];
    maxLatency?: { between: [string, string]; latency: Quantity }[];
    antiAffinity?: string[][];
  };
  resilience?: { standby?: number };
}

export interface KindInfo {
  readonly kind: Kind;
  readonly plural: string;
  readonly short: readonly string[];
  readonly namespaced: boolean;
}

export const KINDS: Record<Kind, KindInfo> = {
  Datacenter: { kind: 'Datacenter', plural: 'datacenters', short: ['dc'], namespaced: false },
  Server: { kind: 'Server', plural: 'servers', short: ['srv'], namespaced: false },
  Link: { kind: 'Link', plural: 'links', short: [], namespaced: false },
  SoftwareNetwork: { kind: 'SoftwareNetwork', plural: 'softwarenetworks', short: ['sn', 'net'], namespaced: true },
  UserNetworkTemplate: { kind: 'UserNetworkTemplate', plural: 'usernetworktemplates', short: ['unt', 'template'], namespaced: true },
};

export const DEFAULT_NAMESPACE = 'default';

/**
 * A kind from what a user typed: `Server`, `server`, `servers`, `srv`.
 * @example resolveKind('sn') === 'SoftwareNetwork'
 */
export function resolveKind(s: string): Kind | undefined {
  const l = s.toLowerCase();
  return KIND_NAMES.find((k) => k.toLowerCase() === l || KINDS[k].plural === l || KINDS[k].short.includes(l));
}

/** Store prefix of a kind (optionally one namespace of it), always ending in '/'. */
export function kindPrefix(kind: Kind, namespace?: string): string {
  const base = `/swnet/${kind.toLowerCase()}/`;
  return KINDS[kind].namespaced && namespace !== undefined ? `${base}${namespace}/` : base;
}

/**
 * Store key of an object: `/swnet/<kind>/<namespace>/<name>`, or `/swnet/<kind>/<name>` for the
 * cluster-wide infrastructure kinds (Datacenter, Server, Link).
 * @example resourceKey('SoftwareNetwork', 'web') === '/swnet/softwarenetwork/default/web'
 */
export function resourceKey(kind: Kind, name: string, namespace?: string): string {
  return KINDS[kind].namespaced ? `${kindPrefix(kind, namespace ?? DEFAULT_NAMESPACE)}${name}` : `${kindPrefix(kind)}${name}`;
}

/** Human id: `SoftwareNetwork default/web`, `Server s1`. */
export function describeRef(kind: Kind, name: string, namespace?: string): string {
  return KINDS[kind].namespaced ? `${kind} ${namespace ?? DEFAULT_NAMESPACE}/${name}` : `${kind} ${name}`;
}
