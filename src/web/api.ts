/**
 * The dashboard's only link to swnet: the REST API and the WebSocket watch stream, with the
 * admin token from the URL fragment (#token=...) or the login form, kept in sessionStorage.
 */

export interface Meta { name: string; namespace?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string> }
export interface Condition { type: string; status: string; reason?: string; message?: string }
export interface Resource { apiVersion?: string; kind: string; metadata: Meta; spec?: Record<string, unknown>; status?: Record<string, unknown> & { conditions?: Condition[] } }
export interface Placement { namespace: string; network: string; function: string; server: string; generation?: number; requests?: { cpu: number; memory: number; bandwidth: number } }
export interface SwEvent { kind: 'Event'; metadata: { name: string; namespace: string }; involvedObject: { kind: string; name: string; namespace?: string }; type: string; reason: string; message: string; count: number; firstTimestamp: string; lastTimestamp: string; source?: string }
export interface Issue { file: string; line: number; column: number; message: string }
export type MigrationPhase = 'pending' | 'prepared' | 'state-copied' | 'both-running' | 'switched' | 'drained' | 'done' | 'failed';
/** A function's move between servers (contract §1): its phases arrive over the watch stream as CAS writes. */
export interface Migration {
  kind: 'Migration';
  id: string;
  namespace: string;
  network: string;
  function: string;
  from: string;
  to: string;
  reason: 'operator' | 'overload' | 'failure' | 'idle' | string;
  detail?: string;
  phase: MigrationPhase;
  timeline: { phase: string; at: number; sinceStartMs: number; by: string; detail?: string }[];
  createdAt: number;
  error?: string;
  standby?: boolean;
}
export interface WatchMsg { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'ERROR'; revision?: number; key?: string; object: Record<string, unknown> }

const TOKEN_KEY = 'swnet.token';

/** Reads #token=... once (then removes it from the address bar), else sessionStorage. */
export function initialToken(): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m?.[1]) {
    const t = decodeURIComponent(m[1]);
    sessionStorage.setItem(TOKEN_KEY, t);
    history.replaceState(null, '', location.pathname + location.search);
    return t;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(t: string | null): void {
  if (t === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, t);
}

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(readonly status: number, readonly body: { reason?: string; message?: string; issues?: Issue[] }) {
    super(body.message ?? `HTTP ${status}`);
  }
}

export class Api {
  constructor(public token: string) {}

  async req<T>(method: string, path: string, body?: string, type = 'application/yaml'): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['Content-Type'] = type;
    const res = await fetch(path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let json: unknown = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { message: text };
    }
    if (!res.ok) throw new HttpError(res.status, json as HttpError['body']);
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.req<T>('GET', path);
  }

  /** POST with a JSON body (the operation routes). */
  post<T>(path: string, body: unknown): Promise<T> {
    return this.req<T>('POST', path, JSON.stringify(body), 'application/json');
  }

  /** Opens the watch stream from `revision` (exclusive). */
  watch(revision: number): WebSocket {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return new WebSocket(`${proto}//${location.host}/api/v1/watch?resourceVersion=${revision}&token=${encodeURIComponent(this.token)}`);
  }
}
