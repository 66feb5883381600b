/**
 * Bearer-token authentication and the tenancy rules of the API.
 *
 * Tokens are configured in a file (YAML or JSON), not in the store: a stolen store snapshot
 * then holds no credentials, and the file is what an operator rotates. The server keeps only
 * SHA-256 digests of the tokens in memory and looks them up by digest, so a lookup does not
 * compare secrets byte by byte.
 *
 * ```yaml
 * tokens:
 *   - { name: ops, token: "…", admin: true }              # manages everything
 *   - { name: tenant-a, token: "…", namespaces: [tenant-a] } # its own software networks only
 * ```
 *
 * A tenant sees and changes only namespaced objects (SoftwareNetwork, UserNetworkTemplate,
 * their events, placements and migrations) in its namespaces — by default the one named like the tenant.
 * Infrastructure kinds (Datacenter, Server, Link) are the admin's.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { KINDS, type Kind } from '../manifest/types.js';
import { ForbiddenError, UnauthorizedError } from './errors.js';

export interface Principal {
  readonly name: string;
  readonly admin: boolean;
  /** Namespaces a tenant owns (empty for an admin, who owns all). */
  readonly namespaces: readonly string[];
}

export interface TokenEntry {
  readonly name: string;
  readonly token: string;
  readonly admin?: boolean;
  readonly namespaces?: readonly string[];
}

/** The tokens file is malformed. */
export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * @example
 * const auth = new TokenAuth([{ name: 'ops', token: 'x', admin: true }]);
 * auth.authenticate('Bearer x').admin === true
 */
export class TokenAuth {
  private readonly byDigest = new Map<string, Principal>();

  constructor(entries: readonly TokenEntry[]) {
    for (const e of entries) {
      if (e.token.length < 8) throw new TokenFileError(`token of '${e.name}' is shorter than 8 characters`);
      const d = digest(e.token);
      if (this.byDigest.has(d)) throw new TokenFileError(`token of '${e.name}' is used twice`);
      this.byDigest.set(d, { name: e.name, admin: e.admin === true, namespaces: e.admin === true ? [] : [...(e.namespaces ?? [e.name])] });
    }
  }

  /** Reads a tokens file (see the module comment). */
  static async fromFile(path: string): Promise<TokenAuth> {
    const text = await readFile(path, 'utf8');
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (e) {
      throw new TokenFileError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const list = (doc as { tokens?: unknown } | null)?.tokens;
    if (!Array.isArray(list)) throw new TokenFileError(`${path}: expected a 'tokens' list`);
    const entries = list.map((raw: unknown, i): TokenEntry => {
      const o = raw as Record<string, unknown> | null;
      if (!o || typeof o !== 'object') throw new TokenFileError(`${path}: tokens[${i}] is not a map`);
      const unknownKeys = Object.keys(o).filter((k) => !['name', 'token', 'admin', 'namespaces'].includes(k));
      if (unknownKeys.length > 0) throw new TokenFileError(`${path}: tokens[${i}]: unknown key(s) ${unknownKeys.join(', ')}`);
      if (typeof o['name'] !== 'string' || typeof o['token'] !== 'string') throw new TokenFileError(`${path}: tokens[${i}] needs string 'name' and 'token'`);
      const ns = o['namespaces'];
      if (ns !== undefined && !(Array.isArray(ns) && ns.every((n) => typeof n === 'string'))) throw new TokenFileError(`${path}: tokens[${i}].namespaces must be a list of strings`);
      return { name: o['name'], token: o['token'], admin: o['admin'] === true, ...(ns !== undefined ? { namespaces: ns as string[] } : {}) };
    });
    try {
      return new TokenAuth(entries);
    } catch (e) {
      throw new TokenFileError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The principal of an `Authorization` header (or a bare token); UnauthorizedError otherwise. */
  authenticate(header: string | undefined): Principal {
    if (header === undefined || header === '') throw new UnauthorizedError();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const token = m ? m[1]! : header;
    const p = this.byDigest.get(digest(token));
    if (!p) throw new UnauthorizedError('unknown or revoked token');
    return p;
  }
}

/** Whether `p` may see or change objects of `kind` in `namespace` ('' for cluster-wide). */
export function allowed(p: Principal, kind: Kind | 'Event' | 'Placement' | 'Migration', namespace: string): boolean {
  if (p.admin) return true;
  if (kind !== 'Event' && kind !== 'Placement' && kind !== 'Migration' && !KINDS[kind].namespaced) return false;
  return p.namespaces.includes(namespace);
}

/** Throws ForbiddenError unless {@link allowed}. */
export function authorize(p: Principal, kind: Kind | 'Event' | 'Placement' | 'Migration', namespace: string, verb: string): void {
  if (allowed(p, kind, namespace)) return;
  if (kind !== 'Event' && kind !== 'Placement' && kind !== 'Migration' && !KINDS[kind].namespaced) throw new ForbiddenError(`${p.name} may not ${verb} ${kind} objects: infrastructure needs an admin token`);
  throw new ForbiddenError(`${p.name} may not ${verb} ${kind} objects in namespace '${namespace}' (its namespaces: ${p.namespaces.join(', ') || 'none'})`);
}
