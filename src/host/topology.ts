/**
 * The topology file of `swnet run`: servers, software networks (functions placed on servers,
 * traffic endpoints, wires port to port, wires across servers over emulated links) in one YAML
 * file, checked up front; every error is reported at the offending node as file:line:column
 * (YAML node ranges through a LineCounter), including a function's own ConfigError, which is
 * mapped back to the key inside its `config`.
 *
 * ```yaml
 * servers:
 *   - { name: s1, capacity: 200000, unit: packets, power: HP_ML110_G5 }
 * networks:
 *   - name: voip
 *     allocation: 10
 *     priority: 1
 *     functions:
 *       - { name: r1, kind: router, server: s1, config: { interfaces: [...] } }
 *     endpoints:
 *       - { name: src, kind: traffic-source, server: s1, config: { flows: [...] } }
 *       - { name: sink, kind: traffic-sink, server: s1 }
 *     wires:
 *       - { a: src.out, b: r1.eth0 }
 *       - { a: r1.eth1, b: sink.in, name: voip-out, link: { bandwidth: 100Mbit, delay: 2ms } }
 * uplinks:            # optional: VXLAN to real networks (e.g. a kernel vxlan device)
 *   - server: s1
 *     address: 10.88.0.1
 *     port: 4789
 *     vnis: [{ vni: 100, network: voip, attach: r1.eth2, remote: '10.88.0.2:4789' }]
 * ```
 *
 * @example
 * const topo = loadTopology(readFileSync('examples/three-networks.yaml', 'utf8'), 'examples/three-networks.yaml');
 */
import { LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, type Plain } from '../functions/contract.js';
import { createFunction, getFactory } from '../functions/registry.js';
import { HP_ML110_G4, HP_ML110_G5, powerModel, type PowerModel } from '../policy/power.js';
import { faultFactory } from './fault.js';
import type { LinkInit } from './link.js';

export class TopologyError extends Error {
  override readonly name = 'TopologyError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${file}:${line}:${column}: ${detail}`);
  }
}

export interface ServerDef {
  name: string;
  /** Work units per second (see unit); absent = unlimited. */
  capacity?: number;
  unit: 'packets' | 'bytes';
  power?: PowerModel;
  standbyWatts?: number;
  /** Host every network of this server as a lightweight context of one shared domain. */
  lightweight: boolean;
}

export interface FunctionDef {
  name: string;
  kind: string;
  server: string;
  config: Plain;
}

export interface WireDef {
  name: string;
  a: string;
  b: string;
  link?: LinkInit;
}

export interface NetworkDef {
  name: string;
  allocation: number;
  priority: number;
  functions: FunctionDef[];
  endpoints: FunctionDef[];
  wires: WireDef[];
}

export interface UplinkVniDef {
  vni: number;
  network: string;
  /** `function.port` of `network` that the VNI is wired to (on the uplink's server). */
  attach: string;
  remotes: { address: string; port: number }[];
}

/** A VXLAN uplink: a UDP socket on an address of this machine, VNIs bound to networks. */
export interface UplinkDef {
  server: string;
  address: string;
  port: number;
  vnis: UplinkVniDef[];
}

export interface Topology {
  file: string;
  servers: ServerDef[];
  networks: NetworkDef[];
  uplinks: UplinkDef[];
}

type Path = (string | number)[];

/** "interfaces[1].mtu" → ['interfaces', 1, 'mtu']. */
function configPath(p: string): Path {
  const out: Path = [];
  for (const part of p.split('.')) {
    if (part === '') continue;
    const m = /^([^[]*)((\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const idx of (m[2] ?? '').matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

const UNITS: Record<string, number> = { '': 1, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, m: 60 };
const RATES: Record<string, number> = { '': 1, bit: 1, bps: 1, kbit: 1e3, kbps: 1e3, mbit: 1e6, mbps: 1e6, gbit: 1e9, gbps: 1e9 };

/** "10s", "500ms", 2.5 (seconds) → seconds; NaN when malformed. */
export function parseDuration(v: unknown): number {
  if (typeof v === 'number') return v >= 0 ? v : NaN;
  if (typeof v !== 'string') return NaN;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|ms|us|µs|m)?\s*$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * (UNITS[m[2] ?? ''] as number);
}

function parseRate(v: unknown): number {
  if (typeof v === 'number') return v >= 0 ? v : NaN;
  if (typeof v !== 'string') return NaN;
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  const mul = m ? RATES[(m[2] ?? '').toLowerCase()] : undefined;
  return m && mul !== undefined ? Number(m[1]) * mul : NaN;
}

/** "10.0.0.2", "10.0.0.2:4789", "fd00::2", "[fd00::2]:4789" → address and port (default `dflt`). */
function parseEndpoint(x: string, dflt: number): { address: string; port: number } | null {
  let m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(x);
  if (!m) m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(x);
  if (!m) m = /^([0-9a-fA-F]*:[0-9a-fA-F:.]*)()$/.exec(x); // bare IPv6: no port
  if (!m) return null;
  const port = m[2] ? Number(m[2]) : dflt;
  return port >= 1 && port <= 65535 ? { address: m[1] as string, port } : null;
}

class Reader {
  constructor(
    readonly doc: Document,
    readonly lc: LineCounter,
    readonly file: string,
  ) {}

  fail(path: Path, message: string, key = false): never {
    // The deepest node that exists on the path (a missing key is reported at its parent).
    for (let n = path.length; n >= 0; n--) {
      const p = path.slice(0, n);
      const node = (p.length === 0 ? this.doc.contents : this.doc.getIn(p, true)) as { range?: [number, number, number] } | null | undefined;
      let pos = node?.range?.[0];
      if (key && n === path.length && n > 0) {
        const parent = this.doc.getIn(path.slice(0, -1), true) as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | undefined;
        const pair = parent?.items?.find((it) => it.key?.value === path[path.length - 1]);
        pos = pair?.key?.range?.[0] ?? pos;
      }
      if (pos !== undefined) {
        const { line, col } = this.lc.linePos(pos);
        throw new TopologyError(this.file, line, col, message);
      }
    }
    throw new TopologyError(this.file, 1, 1, message);
  }

  value(path: Path): unknown {
    const v = path.length === 0 ? this.doc.toJS() : this.doc.getIn(path, false);
    return v !== null && typeof v === 'object' && 'toJSON' in v ? (v as { toJSON: () => unknown }).toJSON() : v;
  }

  object(path: Path, keys: readonly string[], required: readonly string[] = []): Record<string, unknown> {
    const v = this.value(path);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'expected a mapping');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!keys.includes(k)) this.fail([...path, k], `unknown key '${k}' (known: ${keys.join(', ')})`, true);
    for (const k of required) if (!(k in o)) this.fail(path, `missing key '${k}'`);
    return o;
  }

  list(path: Path, optional = true): unknown[] {
    const v = this.value(path);
    if (v === undefined && optional) return [];
    if (!Array.isArray(v)) this.fail(path, 'expected a list');
    return v;
  }

  name(path: Path): string {
    const v = this.value(path);
    if (typeof v !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(v)) this.fail(path, 'expected a name (letters, digits, - and _)');
    return v;
  }

  number(path: Path, min: number, max: number, dflt?: number): number {
    const v = this.value(path);
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) this.fail(path, `expected a number in [${min}, ${max}]`);
    return v;
  }
}

/**
 * Parses and checks a topology; throws TopologyError (file:line:column) on the first problem.
 * Each function's configuration is checked by building it once with its factory.
 */
export function loadTopology(text: string, file: string): Topology {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const r: Reader = new Reader(doc, lc, file);
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const { line, col } = lc.linePos(e?.pos[0] ?? 0);
    throw new TopologyError(file, line, col, `YAML: ${(e?.message ?? 'syntax error').split('\n')[0]}`);
  }
  r.object([], ['servers', 'networks', 'uplinks'], ['servers', 'networks']);
  const servers: ServerDef[] = [];
  const serverNames = new Set<string>();
  r.list(['servers'], false).forEach((_, i) => {
    const p = ['servers', i];
    const o = r.object(p, ['name', 'capacity', 'unit', 'power', 'standbyWatts', 'lightweight'], ['name']);
    const name = r.name([...p, 'name']);
    if (serverNames.has(name)) r.fail([...p, 'name'], `duplicate server '${name}'`);
    serverNames.add(name);
    const s: ServerDef = { name, unit: 'packets', lightweight: false };
    if (o['capacity'] !== undefined) s.capacity = r.number([...p, 'capacity'], 1, 1e12);
    if (o['unit'] !== undefined) {
      if (o['unit'] !== 'packets' && o['unit'] !== 'bytes') r.fail([...p, 'unit'], "expected 'packets' or 'bytes'");
      s.unit = o['unit'];
    }
    const pw = o['power'];
    if (pw === 'HP_ML110_G4') s.power = HP_ML110_G4;
    else if (pw === 'HP_ML110_G5') s.power = HP_ML110_G5;
    else if (Array.isArray(pw)) {
      try {
        s.power = powerModel(name, pw.map((x) => (typeof x === 'number' ? x : NaN)));
      } catch (e) {
        r.fail([...p, 'power'], (e as Error).message);
      }
    } else if (pw !== undefined) r.fail([...p, 'power'], 'expected HP_ML110_G4, HP_ML110_G5 or a list of 11 wattages (0 %..100 % load)');
    if (o['standbyWatts'] !== undefined) s.standbyWatts = r.number([...p, 'standbyWatts'], 0, 1e4);
    if (o['lightweight'] !== undefined) {
      if (typeof o['lightweight'] !== 'boolean') r.fail([...p, 'lightweight'], 'expected true or false');
      s.lightweight = o['lightweight'];
    }
    servers.push(s);
  });
  if (servers.length === 0) r.fail(['servers'], 'at least one server is needed');

  const networks: NetworkDef[] = [];
  const netNames = new Set<string>();
  const wireNames = new Set<string>();
  const portsOf = new Map<string, { ports: Map<string, string[]>; used: Set<string>; servers: Map<string, string> }>();
  r.list(['networks'], false).forEach((_, i) => {
    const p = ['networks', i];
    r.object(p, ['name', 'allocation', 'priority', 'functions', 'endpoints', 'wires'], ['name']);
    const name = r.name([...p, 'name']);
    if (netNames.has(name)) r.fail([...p, 'name'], `duplicate network '${name}'`);
    netNames.add(name);
    const net: NetworkDef = { name, allocation: r.number([...p, 'allocation'], 1e-6, 1e9, 1), priority: r.number([...p, 'priority'], 0, 1000, 0), functions: [], endpoints: [], wires: [] };
    const ports = new Map<string, string[]>();
    const placed = new Map<string, string>();
    for (const section of ['functions', 'endpoints'] as const) {
      r.list([...p, section]).forEach((_, j) => {
        const fp = [...p, section, j];
        const o = r.object(fp, ['name', 'kind', 'server', 'config'], ['name', 'kind', 'server']);
        const fname = r.name([...fp, 'name']);
        if (ports.has(fname)) r.fail([...fp, 'name'], `duplicate function '${fname}' in network ${name}`);
        const kind = o['kind'];
        if (typeof kind !== 'string' || (kind !== faultFactory.kind && !getFactory(kind))) r.fail([...fp, 'kind'], `unknown function kind '${String(kind)}'`);
        const server = r.name([...fp, 'server']);
        if (!serverNames.has(server)) r.fail([...fp, 'server'], `no server '${server}' (servers: ${[...serverNames].join(', ')})`);
        const config = (o['config'] ?? {}) as Plain;
        let fnPorts: string[] = [];
        try {
          const fn = kind === faultFactory.kind ? faultFactory.create(config) : createFunction(kind, config);
          fnPorts = fn.ports.map((x) => x.name);
        } catch (e) {
          if (e instanceof ConfigError) r.fail([...fp, 'config', ...configPath(e.path)], `${kind} ${fname}: ${e.message}`);
          r.fail([...fp, 'config'], `${kind} ${fname}: ${(e as Error).message}`);
        }
        ports.set(fname, fnPorts);
        placed.set(fname, server);
        net[section].push({ name: fname, kind, server, config });
      });
    }
    const used = new Set<string>();
    portsOf.set(name, { ports, used, servers: placed });
    r.list([...p, 'wires']).forEach((_, j) => {
      const wp = [...p, 'wires', j];
      const o = r.object(wp, ['a', 'b', 'name', 'link'], ['a', 'b']);
      const ends: string[] = [];
      for (const end of ['a', 'b'] as const) {
        const ref = o[end];
        const dot = typeof ref === 'string' ? ref.lastIndexOf('.') : -1;
        if (typeof ref !== 'string' || dot <= 0) r.fail([...wp, end], "expected 'function.port'");
        const fp = ports.get(ref.slice(0, dot));
        if (!fp) r.fail([...wp, end], `no function '${ref.slice(0, dot)}' in network ${name}`);
        if (!fp.includes(ref.slice(dot + 1))) r.fail([...wp, end], `${ref.slice(0, dot)} has no port '${ref.slice(dot + 1)}' (ports: ${fp.join(', ')})`);
        if (used.has(ref)) r.fail([...wp, end], `port ${ref} is wired twice`);
        used.add(ref);
        ends.push(ref);
      }
      const wname = o['name'] === undefined ? `${name}:${ends[0]}-${ends[1]}` : r.name([...wp, 'name']);
      if (wireNames.has(wname)) r.fail([...wp, 'name'], `duplicate wire name '${wname}'`);
      wireNames.add(wname);
      const w: WireDef = { name: wname, a: ends[0] as string, b: ends[1] as string };
      if (o['link'] !== undefined) {
        const lp = [...wp, 'link'];
        const lo = r.object(lp, ['bandwidth', 'delay', 'jitter', 'loss', 'queue']);
        const link: LinkInit = {};
        if (lo['bandwidth'] !== undefined) {
          link.bandwidth = parseRate(lo['bandwidth']);
          if (Number.isNaN(link.bandwidth)) r.fail([...lp, 'bandwidth'], "expected a rate, e.g. 100Mbit or 1e9 (bit/s)");
        }
        for (const k of ['delay', 'jitter'] as const) {
          if (lo[k] === undefined) continue;
          const d = parseDuration(lo[k]);
          if (Number.isNaN(d)) r.fail([...lp, k], 'expected a duration, e.g. 2ms or 0.002 (s)');
          link[k] = d;
        }
        if (lo['loss'] !== undefined) link.loss = r.number([...lp, 'loss'], 0, 1);
        if (lo['queue'] !== undefined) link.queue = r.number([...lp, 'queue'], 1, 1e7);
        w.link = link;
      }
      net.wires.push(w);
    });
    networks.push(net);
  });
  const uplinks: UplinkDef[] = [];
  const sockets = new Set<string>();
  const vniSeen = new Set<string>();
  r.list(['uplinks']).forEach((_, i) => {
    const p = ['uplinks', i];
    const o = r.object(p, ['server', 'address', 'port', 'vnis'], ['server', 'address', 'vnis']);
    const server = r.name([...p, 'server']);
    if (!serverNames.has(server)) r.fail([...p, 'server'], `no server '${server}'`);
    const address = o['address'];
    if (typeof address !== 'string' || !/^[0-9a-fA-F.:]+$/.test(address)) r.fail([...p, 'address'], 'expected an IPv4 or IPv6 address of this machine');
    const port = r.number([...p, 'port'], 1, 65535, 4789);
    if (sockets.has(`${address}:${port}`)) r.fail([...p, 'address'], `two uplinks on ${address}:${port}`);
    sockets.add(`${address}:${port}`);
    const up: UplinkDef = { server, address, port, vnis: [] };
    r.list([...p, 'vnis'], false).forEach((__, j) => {
      const vp = [...p, 'vnis', j];
      const vo = r.object(vp, ['vni', 'network', 'attach', 'remote'], ['vni', 'network', 'attach', 'remote']);
      const vni = r.number([...vp, 'vni'], 0, 0xffffff);
      if (!Number.isInteger(vni)) r.fail([...vp, 'vni'], 'expected an integer');
      if (vniSeen.has(`${address}:${port}/${vni}`)) r.fail([...vp, 'vni'], `VNI ${vni} twice on ${address}:${port}`);
      vniSeen.add(`${address}:${port}/${vni}`);
      const network = r.name([...vp, 'network']);
      const net = portsOf.get(network);
      if (!net) r.fail([...vp, 'network'], `no network '${network}'`);
      const attach = vo['attach'];
      const dot = typeof attach === 'string' ? attach.lastIndexOf('.') : -1;
      if (typeof attach !== 'string' || dot <= 0) r.fail([...vp, 'attach'], "expected 'function.port'");
      const fp = net.ports.get(attach.slice(0, dot));
      if (!fp) r.fail([...vp, 'attach'], `no function '${attach.slice(0, dot)}' in network ${network}`);
      if (!fp.includes(attach.slice(dot + 1))) r.fail([...vp, 'attach'], `${attach.slice(0, dot)} has no port '${attach.slice(dot + 1)}'`);
      if (net.used.has(attach)) r.fail([...vp, 'attach'], `port ${attach} is already wired`);
      if (net.servers.get(attach.slice(0, dot)) !== server) r.fail([...vp, 'attach'], `${attach.slice(0, dot)} is not on server ${server}`);
      net.used.add(attach);
      const rem = vo['remote'];
      const list = Array.isArray(rem) ? rem : [rem];
      const remotes = list.map((x, k) => {
        const m = typeof x === 'string' ? parseEndpoint(x, port) : null;
        if (!m) r.fail(Array.isArray(rem) ? [...vp, 'remote', k] : [...vp, 'remote'], "expected 'address' or 'address:port' (IPv6 as [addr]:port)");
        return m;
      });
      up.vnis.push({ vni, network, attach, remotes });
    });
    if (up.vnis.length === 0) r.fail([...p, 'vnis'], 'an uplink needs at least one VNI');
    uplinks.push(up);
  });
  return { file, servers, networks, uplinks };
}
