/**
 * Reading manifests: YAML files (several documents each) and directories of them, validated
 * against the JSON Schema (ajv) and by semantic checks, with every problem reported at its
 * file:line:column. The YAML node ranges (via a LineCounter) map an ajv instancePath back to
 * the exact place in the file.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Document, type Node } from 'yaml';
import { ConfigError, type FunctionFactory } from '../../functions/contract.js';
import { getFactory } from '../../functions/registry.js';
import { manifestSchema } from './schema.js';
import { DEFAULT_NAMESPACE, KINDS, describeRef, type Kind, type NetworkFunctionSpec, type Resource, type SoftwareNetworkSpec } from './types.js';

export interface Position {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface ManifestIssue extends Position {
  readonly message: string;
}

/** Every problem found in a set of manifests; nothing was applied. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(readonly issues: readonly ManifestIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

/** `file:line:column: message`, the form editors and terminals link. */
export function formatIssue(i: ManifestIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.message}`;
}

export type Path = readonly (string | number)[];

/** Where a resource came from, able to point at any field in it. */
export interface Source {
  readonly file: string;
  /** Position of the value at `path` (or of its key when `key`); the nearest existing parent otherwise. */
  locate(path: Path, key?: boolean): Position;
}

export interface LoadedResource {
  readonly resource: Resource;
  readonly source?: Source;
}

let validator: ReturnType<Ajv['compile']> | undefined;
function validate(): ReturnType<Ajv['compile']> {
  validator ??= new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(manifestSchema);
  return validator;
}

export function docSource(file: string, doc: Document, lc: LineCounter, base: number): Source {
  const pos = (offset: number): Position => {
    const p = lc.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  return {
    file,
    locate(path: Path, key = false): Position {
      let node: unknown = doc.contents;
      let keyNode: Node | undefined;
      for (const seg of path) {
        if (isMap(node)) {
          const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
          if (!pair) break;
          keyNode = pair.key as Node;
          node = pair.value;
        } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
          keyNode = undefined;
          node = node.items[seg];
        } else break;
      }
      const target = key && keyNode ? keyNode : (node as Node | null | undefined) ?? keyNode;
      const range = target?.range ?? doc.range;
      return pos(range?.[0] ?? base);
    },
  };
}

const pathOf = (instancePath: string): (string | number)[] =>
  instancePath === ''
    ? []
    : instancePath
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
        .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));

const showPath = (p: Path): string => p.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');

function ajvIssue(src: Source, e: ErrorObject): ManifestIssue {
  const path = pathOf(e.instancePath);
  const at = showPath(path) || '(document)';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const prop = String(params['additionalProperty']);
      return { ...src.locate([...path, prop], true), message: `${at}: unknown field "${prop}"` };
    }
    case 'required':
      return { ...src.locate(path, true), message: `${at}: missing required field "${String(params['missingProperty'])}"` };
    case 'enum':
      return { ...src.locate(path), message: `${at}: must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'const':
      return { ...src.locate(path), message: `${at}: must be ${JSON.stringify(params['allowedValue'])}` };
    default:
      return { ...src.locate(path), message: `${at}: ${e.message ?? e.keyword}` };
  }
}

/**
 * Parses and validates the YAML documents of one file's text. Returns the resources and the
 * problems found (schema and within-document semantics); empty documents are skipped.
 *
 * @example
 * const { resources, issues } = parseManifestText('kind: Datacenter\n...', 'dc.yaml');
 */
export function parseManifestText(text: string, file = '<input>'): { resources: LoadedResource[]; issues: ManifestIssue[] } {
  const fast = parseJsonManifest(text, file);
  if (fast) return fast;
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const issues: ManifestIssue[] = [];
  const resources: LoadedResource[] = [];
  const at = (offset: number): Position => {
    const p = lc.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  if (!Array.isArray(docs)) return { resources, issues };
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) issues.push({ ...at(e.pos[0]), message: `YAML: ${e.message.split('\n')[0] ?? e.code}` });
      continue;
    }
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
    const src = docSource(file, doc, lc, doc.range[0]);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      issues.push({ ...src.locate([]), message: `YAML: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    checkValue(value, src, resources, issues);
  }
  return { resources, issues };
}

/** Schema, then semantics: a valid resource goes to `resources`, problems to `issues`. */
function checkValue(value: unknown, src: Source, resources: LoadedResource[], issues: ManifestIssue[]): void {
  const v = validate();
  if (!v(value)) {
    const errs = (v.errors ?? []).filter((e) => e.keyword !== 'if');
    for (const e of errs) issues.push(ajvIssue(src, e));
    return;
  }
  const resource = value as Resource;
  const semantic = checkResource(resource, src);
  issues.push(...semantic);
  if (semantic.length === 0) resources.push({ resource, source: src });
}

/**
 * One JSON object (JSON is YAML: what generated manifests and API clients send) read by
 * JSON.parse — several times faster than composing YAML nodes with their ranges — with the
 * positions found only if a problem needs one: the Source parses the text as YAML on its first
 * `locate`. Undefined (the YAML path decides) for anything else: not an object, not JSON, or a
 * key twice in one object (YAML rejects it, JSON.parse would keep the last).
 */
function parseJsonManifest(text: string, file: string): { resources: LoadedResource[]; issues: ManifestIssue[] } | undefined {
  let i = 0;
  while (i < text.length && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x0a || text.charCodeAt(i) === 0x0d || text.charCodeAt(i) === 0x09)) i++;
  if (text.charCodeAt(i) !== 0x7b) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (hasDuplicateKey(text, i)) return undefined;
  let yaml: Source | undefined;
  const src: Source = {
    file,
    locate(path: Path, key?: boolean): Position {
      if (!yaml) {
        const lc = new LineCounter();
        const doc = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
        const d = Array.isArray(doc) ? doc[0] : undefined;
        yaml = d ? docSource(file, d, lc, d.range[0]) : { file, locate: () => ({ file, line: 1, column: 1 }) };
      }
      return yaml.locate(path, key);
    },
  };
  const resources: LoadedResource[] = [];
  const issues: ManifestIssue[] = [];
  checkValue(value, src, resources, issues);
  return { resources, issues };
}

/** Whether JSON text (valid: JSON.parse took it) has an object with a key twice. */
function hasDuplicateKey(text: string, from: number): boolean {
  const keys: (Set<string> | null)[] = [];
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) keys.push(new Set());
    else if (c === 0x5b) keys.push(null);
    else if (c === 0x7d || c === 0x5d) keys.pop();
    else if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      const top = keys[keys.length - 1];
      if (!top) continue;
      // A string is a key when a colon follows it (after blanks).
      let j = i + 1;
      while (j < text.length && (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x0a || text.charCodeAt(j) === 0x0d || text.charCodeAt(j) === 0x09)) j++;
      if (text.charCodeAt(j) !== 0x3a) continue;
      const raw = text.slice(start, i + 1);
      const k = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      if (top.has(k)) return true;
      top.add(k);
    }
  }
  return false;
}

/** Semantic checks inside one resource: names that must exist in it, duplicates. */
export function checkResource(r: Resource, src?: Source): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  const here = (path: Path, message: string, key = false): void => {
    issues.push({ ...(src?.locate(path, key) ?? { file: '<object>', line: 0, column: 0 }), message: `${showPath(path)}: ${message}` });
  };
  if (!KINDS[r.kind].namespaced && r.metadata.namespace !== undefined) here(['metadata', 'namespace'], `${r.kind} is cluster-wide and takes no namespace`);
  if (r.kind === 'SoftwareNetwork') checkNetwork(r.spec as unknown as SoftwareNetworkSpec, ['spec'], here);
  if (r.kind === 'UserNetworkTemplate') checkNetwork((r.spec as unknown as { template: { spec: SoftwareNetworkSpec } }).template.spec, ['spec', 'template', 'spec'], here);
  if (r.kind === 'Link') {
    const [a, b] = r.spec['endpoints'] as [string, string];
    if (a === b) here(['spec', 'endpoints', 1], `a link joins two different endpoints, both are "${a}"`);
  }
  if (r.kind === 'Server') {
    const w = (r.spec['power'] as { specpower?: number[] } | undefined)?.specpower;
    if (w) for (let i = 1; i < w.length; i++) if (w[i]! < w[i - 1]!) here(['spec', 'power', 'specpower', i], `power must not fall as load rises (${w[i]} W at ${i * 10}% < ${w[i - 1]} W at ${(i - 1) * 10}%)`);
  }
  return issues;
}

/** `interfaces[1].mtu` → ['interfaces', 1, 'mtu'] (ConfigError paths of the functions). */
function configPath(p: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

// Building a function can cost milliseconds (tables); manifests repeat configs (re-applies,
// templates), so validated configs are remembered by content, most recent first.
const portsMemo = new Map<string, string[]>();
function declaredPorts(factory: FunctionFactory, config: unknown): string[] {
  const id = `${factory.kind}\0${canonicalJson(config)}`;
  const hit = portsMemo.get(id);
  if (hit) {
    portsMemo.delete(id);
    portsMemo.set(id, hit);
    return hit;
  }
  const ports = (factory.ports ? factory.ports(config) : factory.create(config).ports).map((p) => p.name);
  portsMemo.set(id, ports);
  if (portsMemo.size > 4096) portsMemo.delete(portsMemo.keys().next().value!);
  return ports;
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

/**
 * A function of a registered kind is built from its config once, so that a bad config is
 * reported here, at its position, rather than when a host starts it; the ports it declares
 * then check the network's links. Kinds not (yet) in the registry are accepted as written.
 */
function checkFunction(f: NetworkFunctionSpec, path: Path, here: (path: Path, message: string) => void): string[] | undefined {
  const factory = getFactory(f.kind);
  if (!factory) return f.ports;
  try {
    const ports = declaredPorts(factory, f.config ?? {});
    if (f.ports) {
      f.ports.forEach((p, j) => {
        if (!ports.includes(p)) here([...path, 'ports', j], `${f.kind} "${f.name}" has no port "${p}" in its config (ports: ${ports.join(', ')})`);
      });
    }
    return ports;
  } catch (e) {
    if (e instanceof ConfigError) here([...path, 'config', ...configPath(e.path)], `${f.kind} config: ${e.message.slice(e.path ? e.path.length + 2 : 0)}`);
    else here([...path, 'config'], `${f.kind} config: ${e instanceof Error ? e.message : String(e)}`);
    return f.ports;
  }
}

/**
 * Why function `f` cannot run as several instances (`replicas`), undefined if it can: its flows'
 * state must move between instances on a re-partition (functions' exportFlows/importFlows), and
 * a NAT must pick ports that keep a flow's bucket; a load balancer in nat mode rewrites the
 * return path's addresses, so a reply's flow key differs from its request's.
 */
function unpartitionable(f: NetworkFunctionSpec): string | undefined {
  const cfg = f.config ?? {};
  if (f.kind === 'firewall' || f.kind === 'dpi') return undefined;
  if (f.kind === 'nat') return cfg['partitioned'] === true ? undefined : `nat "${f.name}" needs partitioned: true in its config to run several replicas (its ports must keep each flow's bucket)`;
  if (f.kind === 'loadbalancer') return (cfg['mode'] ?? 'dsr') === 'dsr' ? undefined : `loadbalancer "${f.name}" runs several replicas in dsr mode only (nat mode rewrites the return path)`;
  return `${f.kind} "${f.name}" cannot run several replicas: its flows' state cannot move between instances (kinds that can: firewall, nat with partitioned: true, dpi, loadbalancer in dsr mode)`;
}

function checkNetwork(spec: SoftwareNetworkSpec, base: Path, here: (path: Path, message: string, key?: boolean) => void): void {
  const fns = new Map<string, { ports?: string[] }>();
  spec.functions.forEach((f, i) => {
    const ports = checkFunction(f, [...base, 'functions', i], here);
    const why = f.replicas !== undefined ? unpartitionable(f) : undefined;
    if (why !== undefined) here([...base, 'functions', i, 'replicas'], why);
    if (f.spread !== undefined && f.replicas === undefined) here([...base, 'functions', i, 'spread'], `function "${f.name}": spread needs replicas (the instances to spread)`);
    if (fns.has(f.name)) here([...base, 'functions', i, 'name'], `duplicate function name "${f.name}"`);
    else fns.set(f.name, ports ? { ports } : {});
  });
  const fn = (name: string, path: Path): boolean => {
    if (fns.has(name)) return true;
    here(path, `no function named "${name}" in this network (functions: ${[...fns.keys()].join(', ')})`);
    return false;
  };
  (spec.links ?? []).forEach((l, i) => {
    l.endpoints.forEach((ep, j) => {
      const [name, port] = ep.split(':') as [string, string | undefined];
      if (!fn(name, [...base, 'links', i, 'endpoints', j])) return;
      const ports = fns.get(name)?.ports;
      if (port !== undefined && ports !== undefined && !ports.includes(port))
        here([...base, 'links', i, 'endpoints', j], `function "${name}" has no port "${port}" (ports: ${ports.join(', ')})`);
    });
    if (l.endpoints[0] === l.endpoints[1]) here([...base, 'links', i, 'endpoints', 1], `a link joins two different ports, both are "${l.endpoints[0]}"`);
  });
  const used = new Map<string, string>();
  (spec.links ?? []).forEach((l, i) =>
    l.endpoints.forEach((ep, j) => {
      if (!ep.includes(':')) return;
      const prev = used.get(ep);
      if (prev !== undefined) here([...base, 'links', i, 'endpoints', j], `port "${ep}" is already linked by ${prev}`);
      else used.set(ep, `links[${i}]`);
    }),
  );
  (spec.placement?.maxLatency ?? []).forEach((m, i) => m.between.forEach((n, j) => fn(n, [...base, 'placement', 'maxLatency', i, 'between', j])));
  (spec.placement?.antiAffinity ?? []).forEach((g, i) => g.forEach((n, j) => fn(n, [...base, 'placement', 'antiAffinity', i, j])));
  const as = spec.autoscale;
  if (as && as.maxTokens < as.minTokens) here([...base, 'autoscale', 'maxTokens'], `maxTokens (${as.maxTokens}) is below minTokens (${as.minTokens})`);
}

/** `Kind namespace/name` identity of a resource. */
export function identity(r: Resource): string {
  return describeRef(r.kind, r.metadata.name, r.metadata.namespace);
}

/** Problems between resources of one set: the same object twice. */
export function checkSet(items: readonly LoadedResource[]): ManifestIssue[] {
  const seen = new Map<string, LoadedResource>();
  const issues: ManifestIssue[] = [];
  for (const it of items) {
    const id = identity(it.resource);
    const prev = seen.get(id);
    if (prev) {
      const p = prev.source?.locate(['metadata', 'name']);
      issues.push({
        ...(it.source?.locate(['metadata', 'name']) ?? { file: '<object>', line: 0, column: 0 }),
        message: `duplicate ${id}${p ? ` (first defined at ${p.file}:${p.line}:${p.column})` : ''}`,
      });
    } else seen.set(id, it);
  }
  return issues;
}

/** A reference from a resource to another object, with where it is written. */
export interface Reference {
  readonly kind: Kind;
  readonly name: string;
  readonly item: LoadedResource;
  readonly path: Path;
  /** Kinds that satisfy the reference (a link endpoint may be a Server or a Datacenter). */
  readonly accepts: readonly Kind[];
}

/** Every reference to another object in a set of resources. */
export function collectReferences(items: readonly LoadedResource[]): Reference[] {
  const refs: Reference[] = [];
  for (const item of items) {
    const r = item.resource;
    if (r.kind === 'Server') refs.push({ kind: 'Datacenter', name: r.spec['datacenter'] as string, item, path: ['spec', 'datacenter'], accepts: ['Datacenter'] });
    else if (r.kind === 'Link') (r.spec['endpoints'] as string[]).forEach((ep, i) => refs.push({ kind: 'Server', name: ep, item, path: ['spec', 'endpoints', i], accepts: ['Server', 'Datacenter'] }));
    else if (r.kind === 'SoftwareNetwork' || r.kind === 'UserNetworkTemplate') {
      const isNet = r.kind === 'SoftwareNetwork';
      const spec = isNet ? (r.spec as unknown as SoftwareNetworkSpec) : (r.spec as unknown as { template: { spec: SoftwareNetworkSpec } }).template.spec;
      const base: Path = isNet ? ['spec'] : ['spec', 'template', 'spec'];
      (spec.placement?.datacenter ?? []).forEach((dc, i) => refs.push({ kind: 'Datacenter', name: dc, item, path: [...base, 'placement', 'datacenter', i], accepts: ['Datacenter'] }));
    }
  }
  return refs;
}

/**
 * References to other objects (a server's datacenter, a link's endpoints, a network's
 * datacenters) must name an object of the set or one that `known` reports as existing.
 */
export function checkReferences(items: readonly LoadedResource[], known: (kind: Kind, name: string) => boolean): ManifestIssue[] {
  const inSet = new Set(items.map((i) => `${i.resource.kind}/${i.resource.metadata.name}`));
  const exists = (kind: Kind, name: string): boolean => inSet.has(`${kind}/${name}`) || known(kind, name);
  const issues: ManifestIssue[] = [];
  for (const ref of collectReferences(items)) {
    if (ref.accepts.some((k) => exists(k, ref.name))) continue;
    const what = ref.accepts.length > 1 ? `endpoint "${ref.name}" (no ${ref.accepts.join(' or ')} of that name)` : `${ref.kind.toLowerCase()} "${ref.name}"`;
    issues.push({ ...(ref.item.source?.locate(ref.path) ?? { file: '<object>', line: 0, column: 0 }), message: `${showPath(ref.path)}: unknown ${what}` });
  }
  return issues;
}

async function collectFiles(path: string, out: string[]): Promise<void> {
  const st = await stat(path);
  if (!st.isDirectory()) {
    out.push(path);
    return;
  }
  const names = (await readdir(path)).sort();
  for (const n of names) {
    const p = join(path, n);
    if ((await stat(p)).isDirectory()) await collectFiles(p, out);
    else if (/\.(ya?ml|json)$/i.test(n)) out.push(p);
  }
}

/**
 * Loads manifest files and directories (recursively, *.yaml, *.yml, *.json in name order).
 * Throws {@link ManifestError} listing every problem of every file.
 *
 * @example
 * const items = await loadManifests(['net.yaml', 'infra/']);
 */
export async function loadManifests(paths: readonly string[]): Promise<LoadedResource[]> {
  const files: string[] = [];
  const issues: ManifestIssue[] = [];
  for (const p of paths) {
    try {
      await collectFiles(p, files);
    } catch (e) {
      issues.push({ file: p, line: 0, column: 0, message: `cannot read: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  const resources: LoadedResource[] = [];
  for (const f of files) {
    const r = parseManifestText(await readFile(f, 'utf8'), f);
    resources.push(...r.resources);
    issues.push(...r.issues);
  }
  issues.push(...checkSet(resources));
  if (issues.length > 0) throw new ManifestError(issues);
  return resources;
}

/** Namespace an object lives in ('' for cluster-wide kinds). */
export function namespaceOf(r: Resource): string {
  return KINDS[r.kind].namespaced ? (r.metadata.namespace ?? DEFAULT_NAMESPACE) : '';
}
