/**
 * A typed client of the control plane's API (fetch for REST, ws for the watch stream), used by
 * the CLI's remote mode (`--server URL --token T`) and by tests. Error responses come back as
 * the same typed errors the server raised (ManifestError with its file:line:column issues,
 * NotFoundError, CompactedError, UnauthorizedError, ForbiddenError, ...).
 */
import WebSocket from 'ws';
import { ApiError, BadRequestError, ForbiddenError, UnauthorizedError, WS_CLOSE_COMPACTED, type StatusBody } from './api/errors.js';
import type { Principal } from './api/auth.js';
import type { WatchMessage } from './api/server.js';
import type { SwnetEvent, ObjectRef } from './events.js';
import type { ApplyResult, Change } from './manifest/apply.js';
import { ManifestError } from './manifest/load.js';
import { KINDS, DEFAULT_NAMESPACE, type Kind, type Resource } from './manifest/types.js';
import type { Placement } from './placement.js';
import type { MigrationObject } from './migrations.js';
import { MigrationRefusedError } from './server-ops.js';
import { CompactedError, NotFoundError } from './store/contract.js';
import type { TopReport } from './top.js';
import type { ConnectResult } from './users.js';

export type { WatchMessage } from './api/server.js';

export interface ApiClientInit {
  /** Base URL, e.g. `http://127.0.0.1:7700`. */
  readonly server: string;
  readonly token?: string;
  /** Per-request timeout in ms (default 30 s). */
  readonly timeoutMs?: number;
}

/** The server could not be reached at all. */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
}

export interface ManifestText {
  readonly file: string;
  readonly text: string;
}

export interface WatchOptions {
  /** Resume after this revision; omitted: changes from now on. */
  readonly resourceVersion?: number;
  readonly kind?: string;
  readonly namespace?: string;
}

export interface WatchHandle {
  /** Resolves once the socket is open (rejects with the typed error of a refused upgrade). */
  readonly opened: Promise<void>;
  /** Resolves when the stream ends: with no error on close(), with the typed error otherwise. */
  readonly closed: Promise<Error | undefined>;
  close(): void;
}

function errorOf(s: StatusBody): Error {
  switch (s.reason) {
    case 'ManifestError':
      return new ManifestError(s.issues ?? []);
    case 'NotFoundError':
      return new NotFoundError(s.key ?? s.message);
    case 'CompactedError': {
      const m = /revision (\d+)/.exec(s.message);
      return new CompactedError(m ? Number(m[1]) : 0, s.oldest ?? 0);
    }
    case 'UnauthorizedError':
      return new UnauthorizedError(s.message);
    case 'ForbiddenError':
      return new ForbiddenError(s.message);
    case 'BadRequestError':
      return new BadRequestError(s.message);
    case 'MigrationRefusedError':
      return new MigrationRefusedError(s.message);
    default: {
      const e = new ApiError(s.code, s.message);
      return e;
    }
  }
}

function isStatus(v: unknown): v is StatusBody {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'Status' && typeof (v as { code?: unknown }).code === 'number';
}

/**
 * @example
 * const api = new ApiClient({ server: 'http://127.0.0.1:7700', token: process.env.SWNET_TOKEN });
 * const { changes } = await api.apply([{ file: 'net.yaml', text }]);
 * const nets = await api.list('SoftwareNetwork', { namespace: 'tenant-a' });
 */
export class ApiClient {
  private readonly base: string;

  constructor(private readonly init: ApiClientInit) {
    this.base = init.server.replace(/\/+$/, '');
  }

  /** Path of one object or of a kind's collection. */
  static pathOf(kind: Kind, name?: string, namespace?: string): string {
    const { plural, namespaced } = KINDS[kind];
    const coll = namespaced && (namespace !== undefined || name !== undefined) ? `/api/v1/namespaces/${encodeURIComponent(namespace ?? DEFAULT_NAMESPACE)}/${plural}` : `/api/v1/${plural}`;
    return name !== undefined ? `${coll}/${encodeURIComponent(name)}` : coll;
  }

  private async request<T>(method: string, path: string, body?: { type: string; text: string }): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.init.token !== undefined) headers['Authorization'] = `Bearer ${this.init.token}`;
    if (body) headers['Content-Type'] = body.type;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers, ...(body ? { body: body.text } : {}), signal: AbortSignal.timeout(this.init.timeoutMs ?? 30_000) });
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      throw new ApiUnreachableError(`cannot reach the API server at ${this.base}: ${cause ?? (e instanceof Error ? e.message : String(e))}`);
    }
    const text = await res.text();
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, `${method} ${path}: HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) throw isStatus(doc) ? errorOf(doc) : new ApiError(res.status, `${method} ${path}: HTTP ${res.status}`);
    return doc as T;
  }

  health(): Promise<{ status: string; store: string; revision: number }> {
    return this.request('GET', '/healthz');
  }

  whoami(): Promise<Principal> {
    return this.request('GET', '/api/v1/whoami');
  }

  /** Objects of a kind: one namespace, or every namespace the token may see when omitted. */
  async list(kind: Kind, opts: { readonly namespace?: string } = {}): Promise<Resource[]> {
    return (await this.request<{ items: Resource[] }>('GET', ApiClient.pathOf(kind, undefined, opts.namespace))).items;
  }

  get(kind: Kind, name: string, namespace?: string): Promise<Resource> {
    return this.request('GET', ApiClient.pathOf(kind, name, namespace));
  }

  /** Creates or updates one object (apply semantics). */
  put(r: Resource): Promise<{ revision: number; change: Change; object?: Resource }> {
    return this.request('PUT', ApiClient.pathOf(r.kind, r.metadata.name, r.metadata.namespace), { type: 'application/json', text: JSON.stringify(r) });
  }

  delete(kind: Kind, name: string, namespace?: string): Promise<{ revision: number; change: Change }> {
    return this.request('DELETE', ApiClient.pathOf(kind, name, namespace));
  }

  /** Applies manifests atomically; ManifestError lists every problem at file:line:column. */
  apply(manifests: readonly ManifestText[]): Promise<ApplyResult> {
    return this.request('POST', '/api/v1/apply', { type: 'application/json', text: JSON.stringify({ manifests }) });
  }

  deleteManifests(manifests: readonly ManifestText[]): Promise<ApplyResult> {
    return this.request('POST', '/api/v1/delete', { type: 'application/json', text: JSON.stringify({ manifests }) });
  }

  async events(opts: { readonly namespace?: string; readonly involved?: ObjectRef } = {}): Promise<SwnetEvent[]> {
    const p = new URLSearchParams();
    const ns = opts.involved?.namespace ?? opts.namespace;
    if (ns !== undefined) p.set('namespace', ns);
    if (opts.involved) {
      p.set('kind', opts.involved.kind);
      p.set('name', opts.involved.name);
    }
    const qs = p.toString();
    return (await this.request<{ items: SwnetEvent[] }>('GET', `/api/v1/events${qs ? `?${qs}` : ''}`)).items;
  }

  async placements(namespace?: string): Promise<Placement[]> {
    return (await this.request<{ items: Placement[] }>('GET', `/api/v1/placements${namespace !== undefined ? `?namespace=${encodeURIComponent(namespace)}` : ''}`)).items;
  }

  top(): Promise<TopReport> {
    return this.request('GET', '/api/v1/top');
  }

  /** Connects a user: its network from a template (admin, or the tenant owning the namespace). */
  connectUser(id: string, template: string, namespace?: string): Promise<ConnectResult> {
    return this.request('POST', `/api/v1/users/${encodeURIComponent(id)}/connect`, { type: 'application/json', text: JSON.stringify({ template, ...(namespace !== undefined ? { namespace } : {}) }) });
  }

  /** Disconnects a user (`disconnected` false when it was not connected). */
  disconnectUser(id: string, namespace?: string): Promise<{ name: string; namespace: string; disconnected: boolean }> {
    return this.request('POST', `/api/v1/users/${encodeURIComponent(id)}/disconnect`, { type: 'application/json', text: JSON.stringify(namespace !== undefined ? { namespace } : {}) });
  }

  /** Starts a planned migration of one function (admin); the new Migration object (phase pending). */
  migrate(namespace: string, network: string, fn: string, to: string): Promise<MigrationObject> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/softwarenetworks/${encodeURIComponent(network)}/functions/${encodeURIComponent(fn)}/migrate`;
    return this.request('POST', path, { type: 'application/json', text: JSON.stringify({ to }) });
  }

  /** Migrations, all or of one namespace the token may see. */
  async migrations(namespace?: string): Promise<MigrationObject[]> {
    return (await this.request<{ items: MigrationObject[] }>('GET', `/api/v1/migrations${namespace !== undefined ? `?namespace=${encodeURIComponent(namespace)}` : ''}`)).items;
  }

  /** Server operations (admin): drain (cordon + move everything off), uncordon, fail (as after kill -9 of its agent). */
  serverOp(server: string, op: 'drain' | 'uncordon' | 'fail'): Promise<{ server: string; message: string }> {
    return this.request('POST', `/api/v1/servers/${encodeURIComponent(server)}/${op}`, { type: 'application/json', text: '{}' });
  }

  /**
   * Opens the watch stream; `onMessage` gets ADDED/MODIFIED/DELETED in revision order. A
   * compacted resourceVersion ends the stream with a CompactedError in `closed`.
   */
  watch(opts: WatchOptions, onMessage: (m: WatchMessage) => void): WatchHandle {
    const p = new URLSearchParams();
    if (opts.resourceVersion !== undefined) p.set('resourceVersion', String(opts.resourceVersion));
    if (opts.kind !== undefined) p.set('kind', opts.kind);
    if (opts.namespace !== undefined) p.set('namespace', opts.namespace);
    const qs = p.toString();
    const ws = new WebSocket(`${this.base.replace(/^http/, 'ws')}/api/v1/watch${qs ? `?${qs}` : ''}`, { headers: this.init.token !== undefined ? { Authorization: `Bearer ${this.init.token}` } : {} });
    let failure: Error | undefined;
    let closing = false;
    const opened = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let doc: unknown;
          try {
            doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            doc = undefined;
          }
          failure = isStatus(doc) ? errorOf(doc) : new ApiError(res.statusCode ?? 0, `watch refused: HTTP ${res.statusCode ?? '?'}`);
          reject(failure);
          ws.terminate();
        });
      });
      ws.once('error', (e) => {
        failure ??= new ApiUnreachableError(`cannot reach the API server at ${this.base}: ${e.message}`);
        reject(failure);
      });
    });
    opened.catch(() => undefined);
    ws.on('message', (data: Buffer) => {
      let m: WatchMessage;
      try {
        m = JSON.parse(data.toString('utf8')) as WatchMessage;
      } catch {
        return;
      }
      if (m.type === 'ERROR') {
        const o = m.object as unknown;
        failure = isStatus(o) ? errorOf(o) : new ApiError(500, 'watch error');
        return;
      }
      onMessage(m);
    });
    const closed = new Promise<Error | undefined>((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        if (!failure && !closing && code !== 1000) failure = code === WS_CLOSE_COMPACTED ? new CompactedError(opts.resourceVersion ?? 0, 0) : new ApiError(code, `watch closed (${code}): ${reason.toString('utf8')}`);
        resolve(failure);
      });
    });
    return {
      opened,
      closed,
      close: () => {
        closing = true;
        ws.close(1000);
      },
    };
  }
}
