/**
 * Shared configuration parsing for network functions: strict objects that reject unknown keys,
 * typed scalars with ranges, and MAC / IPv4 / IPv6 / prefix syntax. Every failure throws
 * ConfigError carrying the path of the offending key (`ports[2].vlan`), so that a caller holding
 * the source document can map it to file:line:column.
 *
 * @example
 * const o = strictObject(config, '', ['ports', 'ageingMs']);
 * const ageingMs = o.opt('ageingMs', int(1, 86_400_000), 300_000);
 * const ports = o.req('ports', arrayOf((v, p) => strictObject(v, p, ['name']).req('name', str()), 1));
 */
import { ConfigError } from './contract.js';

/** A parser of one configuration value; `path` names it in errors. */
export type Parse<T> = (v: unknown, path: string) => T;

/** `base.key` / `base[i]` path joining. */
export function keyPath(base: string, key: string | number): string {
  return typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `"${v}"` : typeof v === 'object' ? 'an object' : String(v);
}

/** A configuration object whose keys are checked against a fixed list. */
export class StrictObject {
  constructor(
    readonly value: Readonly<Record<string, unknown>>,
    readonly path: string,
  ) {}

  has(key: string): boolean {
    return this.value[key] !== undefined;
  }

  /** A required key. */
  req<T>(key: string, parse: Parse<T>): T {
    const v = this.value[key];
    if (v === undefined) throw new ConfigError(keyPath(this.path, key), 'is required');
    return parse(v, keyPath(this.path, key));
  }

  /** An optional key with a default. */
  opt<T>(key: string, parse: Parse<T>, dflt: T): T {
    const v = this.value[key];
    return v === undefined ? dflt : parse(v, keyPath(this.path, key));
  }

  /** An optional key without a default. */
  maybe<T>(key: string, parse: Parse<T>): T | undefined {
    const v = this.value[key];
    return v === undefined ? undefined : parse(v, keyPath(this.path, key));
  }
}

/**
 * Checks that `v` is a plain object whose keys are all in `keys`.
 *
 * @example
 * strictObject({ nmae: 'x' }, 'ports[0]', ['name']); // ConfigError "ports[0].nmae: unknown key (expected one of: name)"
 */
export function strictObject(v: unknown, path: string, keys: readonly string[]): StrictObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(path, `expected an object, got ${describe(v)}`);
  const rec = v as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    if (!keys.includes(k)) throw new ConfigError(keyPath(path, k), `unknown key (expected one of: ${keys.join(', ')})`);
  }
  return new StrictObject(rec, path);
}

export function str(opts: { nonEmpty?: boolean } = { nonEmpty: true }): Parse<string> {
  return (v, path) => {
    if (typeof v !== 'string') throw new ConfigError(path, `expected a string, got ${describe(v)}`);
    if (opts.nonEmpty !== false && v.length === 0) throw new ConfigError(path, 'must not be empty');
    return v;
  };
}

export function bool(): Parse<boolean> {
  return (v, path) => {
    if (typeof v !== 'boolean') throw new ConfigError(path, `expected true or false, got ${describe(v)}`);
    return v;
  };
}

export function int(min: number, max: number): Parse<number> {
  return (v, path) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(path, `expected an integer, got ${describe(v)}`);
    if (v < min || v > max) throw new ConfigError(path, `must be between ${min} and ${max}, got ${v}`);
    return v;
  };
}

export function num(min: number, max: number): Parse<number> {
  return (v, path) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(path, `expected a number, got ${describe(v)}`);
    if (v < min || v > max) throw new ConfigError(path, `must be between ${min} and ${max}, got ${v}`);
    return v;
  };
}

export function oneOf<const T extends string>(values: readonly T[]): Parse<T> {
  return (v, path) => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new ConfigError(path, `expected one of ${values.join(', ')}, got ${describe(v)}`);
    return v as T;
  };
}

export function arrayOf<T>(item: Parse<T>, min = 0, max = Number.MAX_SAFE_INTEGER): Parse<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) throw new ConfigError(path, `expected an array, got ${describe(v)}`);
    if (v.length < min) throw new ConfigError(path, `needs at least ${min} item(s)`);
    if (v.length > max) throw new ConfigError(path, `allows at most ${max} item(s)`);
    return v.map((x: unknown, i) => item(x, keyPath(path, i)));
  };
}

// --- addresses -----------------------------------------------------------------------------------

/**
 * "02:00:00:00:00:01" (or with '-') → 48-bit integer; -1 when malformed.
 *
 * @example
 * parseMac('02:00:00:00:00:01'); // 0x020000000001
 */
export function parseMac(s: string): number {
  const m = /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/.exec(s);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i] as string, 16);
  return v;
}

/** 48-bit integer → "02:00:00:00:00:01". */
export function formatMac(v: number): string {
  const parts: string[] = [];
  for (let i = 5; i >= 0; i--) parts.push((Math.floor(v / 2 ** (8 * i)) % 256).toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** "a.b.c.d" → unsigned 32-bit integer; -1 when malformed. */
export function parseIpv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return -1;
    const n = Number(part);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v;
}

export function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/**
 * RFC 4291 §2.2 text (with `::` and an embedded dotted quad) → 16 bytes; null when malformed.
 *
 * @example
 * parseIpv6('2001:db8::1'); // Uint8Array(16) [0x20, 0x01, 0x0d, 0xb8, 0, …, 1]
 */
export function parseIpv6(s: string): Uint8Array | null {
  if (s.length === 0 || s.length > 45) return null;
  const out = new Uint8Array(16);
  let text = s;
  let tail4: number | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 < 0) return null;
    tail4 = v4;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (h: string): number[] | null => {
    if (h === '') return [];
    const gs = h.split(':');
    const r: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      r.push(parseInt(g, 16));
    }
    return r;
  };
  const head = parseGroups(halves[0] as string);
  const rest = halves.length === 2 ? parseGroups(halves[1] as string) : [];
  if (!head || !rest) return null;
  if (halves.length === 1 ? head.length !== 8 : head.length + rest.length > 7) return null;
  const groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = (groups[i] as number) >>> 8;
    out[2 * i + 1] = (groups[i] as number) & 0xff;
  }
  if (tail4 !== null) {
    out[12] = tail4 >>> 24;
    out[13] = (tail4 >>> 16) & 0xff;
    out[14] = (tail4 >>> 8) & 0xff;
    out[15] = tail4 & 0xff;
  }
  return out;
}

/** 16 bytes → RFC 5952 text (longest zero run compressed). */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[off + 2 * i] as number) << 8) | (b[off + 2 * i + 1] as number));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

export interface Prefix4 { readonly family: 4; readonly addr: number; readonly len: number }
export interface Prefix6 { readonly family: 6; readonly addr: Uint8Array; readonly len: number }
export type Prefix = Prefix4 | Prefix6;

/**
 * "10.0.0.0/8", "2001:db8::/32" → Prefix; host bits must be zero. Returns an error message
 * (a string) instead of throwing, so callers can attach the key path.
 *
 * @example
 * parsePrefix('10.0.0.0/8');   // { family: 4, addr: 0x0a000000, len: 8 }
 * parsePrefix('10.0.0.1/8');   // 'host bits set in 10.0.0.1/8'
 */
export function parsePrefix(s: string): Prefix | string {
  const slash = s.indexOf('/');
  if (slash < 0) return 'expected ADDRESS/LENGTH';
  const a = s.slice(0, slash);
  const lenText = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(lenText)) return `bad prefix length '${lenText}'`;
  const len = Number(lenText);
  if (a.includes(':')) {
    const addr = parseIpv6(a);
    if (!addr) return `bad IPv6 address '${a}'`;
    if (len > 128) return `prefix length ${len} > 128`;
    for (let i = 0; i < 128; i++) if (i >= len && ((addr[i >>> 3] as number) >>> (7 - (i & 7))) & 1) return `host bits set in ${s}`;
    return { family: 6, addr, len };
  }
  const addr = parseIpv4(a);
  if (addr < 0) return `bad IPv4 address '${a}'`;
  if (len > 32) return `prefix length ${len} > 32`;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  if ((addr & ~mask) !== 0) return `host bits set in ${s}`;
  return { family: 4, addr, len };
}

export function mac(): Parse<number> {
  return (v, path) => {
    const m = typeof v === 'string' ? parseMac(v) : -1;
    if (m < 0) throw new ConfigError(path, `expected a MAC address like 02:00:00:00:00:01, got ${describe(v)}`);
    return m;
  };
}

export function ipv4(): Parse<number> {
  return (v, path) => {
    const a = typeof v === 'string' ? parseIpv4(v) : -1;
    if (a < 0) throw new ConfigError(path, `expected an IPv4 address, got ${describe(v)}`);
    return a;
  };
}

export function ipv6(): Parse<Uint8Array> {
  return (v, path) => {
    const a = typeof v === 'string' ? parseIpv6(v) : null;
    if (!a) throw new ConfigError(path, `expected an IPv6 address, got ${describe(v)}`);
    return a;
  };
}

export function prefix(family?: 4 | 6): Parse<Prefix> {
  return (v, path) => {
    if (typeof v !== 'string') throw new ConfigError(path, `expected a prefix like 10.0.0.0/8, got ${describe(v)}`);
    const p = parsePrefix(v);
    if (typeof p === 'string') throw new ConfigError(path, p);
    if (family !== undefined && p.family !== family) throw new ConfigError(path, `expected an IPv${family} prefix, got ${v}`);
    return p;
  };
}
