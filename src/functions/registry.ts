/**
 * Kind → factory for every network function, so that the host runtime and `swnet replay` can
 * build a function from a manifest's `kind` and `config`. Add a function by importing its
 * factory and listing it in FACTORIES (one line each).
 */
import { ConfigError, type FunctionFactory, type NetworkFunction } from './contract.js';
import { switchFactory } from './switch.js';
import { mplsFactory } from './mpls.js';
import { mplsLerFactory } from './mpls-ler.js';
import { dpiFactory } from './dpi.js';
import { loadBalancerFactory } from './loadbalancer.js';
import { firewallFactory } from './firewall.js';
import { natFactory } from './nat.js';
import { trafficSourceFactory } from './traffic-source.js';
import { trafficSinkFactory } from './traffic-sink.js';
import { routerFactory } from './router.js';
import { radioClassifierFactory } from './radio-classifier.js';
import { wifiRxFactory } from './wifi-rx.js';
import { lteCellSearchFactory } from './lte-cellsearch.js';

const FACTORIES: readonly FunctionFactory[] = [
  switchFactory,
  mplsFactory,
  mplsLerFactory,
  dpiFactory,
  loadBalancerFactory,
  firewallFactory,
  natFactory,
  trafficSourceFactory,
  trafficSinkFactory,
  routerFactory,
  radioClassifierFactory,
  wifiRxFactory,
  lteCellSearchFactory,
];

const byKind = new Map<string, FunctionFactory>(FACTORIES.map((f) => [f.kind, f]));

/** Every registered kind, sorted. */
export function functionKinds(): string[] {
  return [...byKind.keys()].sort();
}

/**
 * The factory for `kind`, or undefined.
 *
 * @example
 * getFactory('dpi')?.summary;
 */
export function getFactory(kind: string): FunctionFactory | undefined {
  return byKind.get(kind);
}

/**
 * Builds a function of `kind` from its configuration; throws ConfigError for an unknown kind or
 * a bad configuration.
 *
 * @example
 * const sw = createFunction('switch', { ports: [{ name: 'p1' }, { name: 'p2' }] });
 */
export function createFunction(kind: string, config: unknown): NetworkFunction {
  const f = byKind.get(kind);
  if (!f) throw new ConfigError('kind', `unknown function kind '${kind}' (known: ${functionKinds().join(', ')})`);
  return f.create(config);
}
