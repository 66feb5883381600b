/**
 * `swnet import containerlab`: turns a containerlab topology (`*.clab.yml`) into a
 * SoftwareNetwork. Nodes become functions (containerlab kinds mapped to swnet function kinds
 * where one exists), links become links between function ports. Whatever cannot be mapped
 * is reported at its file:line:column, and nothing is produced.
 *
 * A node may name its swnet function itself with the label `swnet.io/function` (and give
 * its config as JSON in `swnet.io/config`), which also covers `linux` nodes.
 */
import { createHash } from 'node:crypto';
import { LineCounter, parseDocument } from 'yaml';
import { functionKinds, getFactory } from '../../functions/registry.js';
import type { JsonObject } from '../store/contract.js';
import { ManifestError, docSource, parseManifestText, type ManifestIssue, type Path } from './load.js';
import { API_VERSION } from './schema.js';
import type { Resource } from './types.js';

/** containerlab kind → swnet function kind. */
export const CLAB_KINDS: Readonly<Record<string, string>> = {
  bridge: 'switch',
  'ovs-bridge': 'switch',
  srl: 'router',
  nokia_srlinux: 'router',
  'vr-sros': 'router',
  nokia_sros: 'router',
  ceos: 'router',
  arista_ceos: 'router',
  'vr-veos': 'router',
  crpd: 'router',
  juniper_crpd: 'router',
  'vr-vmx': 'router',
  juniper_vmx: 'router',
  xrd: 'router',
  cisco_xrd: 'router',
  'vr-xrv9k': 'router',
  'vr-csr': 'router',
  cisco_csr1000v: 'router',
  'sonic-vs': 'router',
  cvx: 'router',
  'vr-ftosv': 'router',
  'vr-pan': 'firewall',
  paloalto_panos: 'firewall',
  'vr-fortigate': 'firewall',
  fortinet_fortigate: 'firewall',
};

/** A locally administered unicast MAC (02:…) derived from a name, stable across imports. */
function macOf(name: string): string {
  const h = createHash('sha256').update(name).digest();
  return ['02', ...[0, 1, 2, 3, 4].map((i) => h[i]!.toString(16).padStart(2, '0'))].join(':');
}

/** Configuration a function kind needs to expose the ports its links use. */
const DERIVED_CONFIG: Readonly<Record<string, (ports: readonly string[], id: string) => JsonObject>> = {
  switch: (ports) => ({ ports: ports.map((name) => ({ name })) }),
  router: (ports, id) => ({ interfaces: ports.map((name) => ({ name, mac: macOf(`${id}:${name}`) })) }),
  firewall: (ports) => ({ interfaces: ports.map((name) => ({ name })) }),
};

/** Images of `linux` nodes whose role is clear. */
const LINUX_IMAGES: readonly [RegExp, string][] = [
  [/(^|\/)frr(:|$)|frrouting|bird|gobgp|quagga/, 'router'],
  [/nftables|iptables|pfsense|opnsense/, 'firewall'],
  [/haproxy|nginx|envoy|katran/, 'loadbalancer'],
  [/suricata|snort|zeek/, 'dpi'],
];

interface ClabNode {
  kind?: string;
  image?: string;
  labels?: Record<string, string>;
}

const label = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63) || 'x';

export interface ImportOptions {
  readonly namespace?: string;
  /** Name of the SoftwareNetwork (default: the topology's `name`). */
  readonly name?: string;
}

/**
 * Converts containerlab YAML text. Throws {@link ManifestError} with positions.
 *
 * @example
 * const net = importContainerlab(readFileSync('lab.clab.yml', 'utf8'), 'lab.clab.yml');
 * process.stdout.write(stringify(net));
 */
export function importContainerlab(text: string, file = '<clab>', opts: ImportOptions = {}): Resource {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const src = docSource(file, doc, lc, 0);
  const issues: ManifestIssue[] = [];
  const here = (path: Path, message: string): void => void issues.push({ ...src.locate(path), message });
  if (doc.errors.length > 0) {
    throw new ManifestError(doc.errors.map((e) => ({ ...(({ line, col }) => ({ file, line, column: col }))(lc.linePos(e.pos[0])), message: `YAML: ${e.message.split('\n')[0] ?? e.code}` })));
  }
  type Topo = { name?: unknown; topology?: { defaults?: ClabNode; kinds?: Record<string, ClabNode>; nodes?: Record<string, ClabNode | null>; links?: unknown[] } } | null;
  let topo: Topo;
  try {
    topo = doc.toJS({ maxAliasCount: 100 }) as Topo;
  } catch (e) {
    throw new ManifestError([{ ...src.locate([]), message: `YAML: ${e instanceof Error ? e.message : String(e)}` }]);
  }
  if (!topo || typeof topo !== 'object' || !topo.topology || typeof topo.topology !== 'object') throw new ManifestError([{ ...src.locate([]), message: 'not a containerlab topology (no "topology" section)' }]);
  const t = topo.topology;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (t.nodes !== undefined && t.nodes !== null && !isObj(t.nodes)) here(['topology', 'nodes'], 'nodes must be a map of node name to node');
  if (t.links !== undefined && t.links !== null && !Array.isArray(t.links)) here(['topology', 'links'], 'links must be a list');
  if (issues.length > 0) throw new ManifestError(issues);
  const obj = <T>(v: unknown): T | undefined => (isObj(v) ? (v as T) : undefined);
  const defaults = obj<ClabNode>(t.defaults) ?? {};
  const kinds = obj<Record<string, unknown>>(t.kinds) ?? {};
  const nodes = obj<Record<string, unknown>>(t.nodes) ?? {};
  const names = new Map<string, string>();
  const functions: JsonObject[] = [];
  const ports = new Map<string, string[]>();
  const available = new Set(functionKinds());
  for (const [clabName, raw] of Object.entries(nodes)) {
    const node = obj<ClabNode>(raw) ?? {};
    const name = label(clabName);
    const clash = [...names.entries()].find(([, v]) => v === name);
    if (clash) here(['topology', 'nodes', clabName], `nodes "${clash[0]}" and "${clabName}" both become function "${name}"`);
    names.set(clabName, name);
    ports.set(clabName, []);
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const clabKind = str(node.kind) ?? str(defaults.kind);
    const kindDefaults = clabKind !== undefined ? (obj<ClabNode>(kinds[clabKind]) ?? {}) : {};
    const image = str(node.image) ?? str(kindDefaults.image) ?? str(defaults.image);
    const labels: Record<string, unknown> = { ...(obj(defaults.labels) ?? {}), ...(obj(kindDefaults.labels) ?? {}), ...(obj(node.labels) ?? {}) };
    let kind = str(labels['swnet.io/function']);
    if (kind === undefined) {
      if (clabKind === undefined) {
        here(['topology', 'nodes', clabName], `node "${clabName}" has no kind`);
        continue;
      }
      kind = clabKind === 'linux' ? LINUX_IMAGES.find(([re]) => re.test(image ?? ''))?.[1] : CLAB_KINDS[clabKind];
      if (kind === undefined) {
        here(
          ['topology', 'nodes', clabName, clabKind === 'linux' && node.image !== undefined ? 'image' : 'kind'],
          clabKind === 'linux'
            ? `linux node "${clabName}" (image ${image ?? 'none'}) has no swnet equivalent; label it swnet.io/function: <kind> (available: ${[...available].sort().join(', ')})`
            : `containerlab kind "${clabKind}" has no swnet equivalent (mapped kinds: ${Object.keys(CLAB_KINDS).join(', ')}, linux by image); label the node swnet.io/function: <kind>`,
        );
        continue;
      }
    }
    if (!available.has(kind)) {
      here(['topology', 'nodes', clabName, labels['swnet.io/function'] !== undefined ? 'labels' : 'kind'], `node "${clabName}" maps to swnet function "${kind}", which this swnet does not have (available: ${[...available].sort().join(', ')})`);
      continue;
    }
    let config: JsonObject | undefined;
    const cfgText = str(labels['swnet.io/config']);
    if (cfgText !== undefined) {
      try {
        config = JSON.parse(cfgText) as JsonObject;
      } catch (e) {
        here(['topology', 'nodes', clabName, 'labels', 'swnet.io/config'], `swnet.io/config is not JSON: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    functions.push({ name, kind, ...(config ? { config } : {}) });
  }
  const links: JsonObject[] = [];
  (Array.isArray(t.links) ? t.links : []).forEach((l, i) => {
    const eps = endpointsOf(l);
    if (!eps) {
      here(['topology', 'links', i], 'a link needs two endpoints "node:interface"');
      return;
    }
    const out: string[] = [];
    eps.forEach(([node, iface], j) => {
      if (!names.has(node)) {
        here(['topology', 'links', i, 'endpoints', j], `no node named "${node}"`);
        return;
      }
      ports.get(node)!.push(iface);
      out.push(`${names.get(node)!}:${iface}`);
    });
    if (out.length === 2) links.push({ endpoints: out });
  });
  if (functions.length === 0 && issues.length === 0) here(['topology'], 'the topology has no nodes');
  if (issues.length > 0) throw new ManifestError(issues);
  // Functions get the ports their links use, and, when the node gives no swnet.io/config,
  // the configuration their kind needs to have those ports (the rest is left to the user).
  for (const f of functions) {
    const clabName = [...names.entries()].find(([, v]) => v === f['name'])![0];
    const used = ports.get(clabName) ?? [];
    if (used.length > 0) f['ports'] = used;
    const kind = f['kind'] as string;
    if (f['config'] === undefined && DERIVED_CONFIG[kind]) f['config'] = DERIVED_CONFIG[kind](used, `${String(topo.name)}/${clabName}`);
    try {
      getFactory(kind)!.create(f['config'] ?? {});
    } catch (e) {
      here(['topology', 'nodes', clabName], `node "${clabName}" becomes a ${kind}, whose configuration cannot be derived from the topology (${e instanceof Error ? e.message : String(e)}); give it as JSON in the label swnet.io/config`);
    }
  }
  if (issues.length > 0) throw new ManifestError(issues);
  const net: Resource = {
    apiVersion: API_VERSION,
    kind: 'SoftwareNetwork',
    metadata: {
      name: label(opts.name ?? (typeof topo.name === 'string' ? topo.name : 'lab')),
      ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
      annotations: { 'swnet.io/imported-from': `containerlab:${file}` },
    },
    spec: { functions, links, protocols: ['ethernet', 'ipv4', 'ipv6'], isolation: 'domain' },
  };
  // The result must be a valid manifest: validate it as if the user had written it.
  const check = parseManifestText(JSON.stringify(net), file);
  if (check.issues.length > 0) throw new ManifestError(check.issues.map((x) => ({ ...x, line: 0, column: 0, message: `imported network: ${x.message}` })));
  return net;
}

/** `["a:e1", "b:e2"]` or `[{node, interface}, ...]` (containerlab's newer link format). */
function endpointsOf(l: unknown): [string, string][] | undefined {
  if (typeof l !== 'object' || l === null) return undefined;
  const eps = (l as { endpoints?: unknown }).endpoints;
  if (!Array.isArray(eps) || eps.length !== 2) return undefined;
  const out: [string, string][] = [];
  for (const e of eps) {
    if (typeof e === 'string') {
      const i = e.indexOf(':');
      if (i <= 0 || i === e.length - 1) return undefined;
      out.push([e.slice(0, i), e.slice(i + 1)]);
    } else if (typeof e === 'object' && e !== null && typeof (e as { node?: unknown }).node === 'string' && typeof (e as { interface?: unknown }).interface === 'string') {
      out.push([(e as { node: string }).node, (e as { interface: string }).interface]);
    } else return undefined;
  }
  return out;
}
