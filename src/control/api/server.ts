/**
 * The control plane's HTTP API on node:http: REST routes for every resource kind, manifest
 * apply/delete, events, placements, utilisation, a WebSocket watch stream, /openapi.json, /metrics (Prometheus) and
 * /healthz. Every handler works through the same functions as the CLI's local mode
 * (manifest/apply.ts, events.ts), so the API adds authentication and transport, nothing else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { listEvents } from '../events.js';
import { apply, getResource, listResources, readResource, remove, type Change } from '../manifest/apply.js';
import { ManifestError, checkSet, namespaceOf, parseManifestText, type LoadedResource, type ManifestIssue } from '../manifest/load.js';
import { DEFAULT_NAMESPACE, KINDS, describeRef, resolveKind, resourceKey, type Kind, type Resource } from '../manifest/types.js';
import { PLACEMENT_PREFIX, parseKey, type KeyRef, type Placement } from '../placement.js';
import { NotFoundError, type Store, type Watch, type WatchEvent } from '../store/contract.js';
import { computeTop } from '../top.js';
import { listMigrations } from '../migrations.js';
import { requestMigration, serverOperation } from '../server-ops.js';
import { connectUser, disconnectUser, userNetworkName } from '../users.js';
import { allowed, authorize, type Principal, type TokenAuth } from './auth.js';
import { ApiError, BadRequestError, ForbiddenError, PayloadTooLargeError, RouteNotFoundError, WS_CLOSE_COMPACTED, WS_CLOSE_TOO_SLOW, httpStatusOf } from './errors.js';
import type { Logger } from '../log.js';
import { PlatformMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { matchRoute, type Match } from './routes.js';
import { DEFAULT_WEB_ROOT, serveStatic } from './static.js';

export interface ApiServerInit {
  readonly store: Store;
  readonly auth: TokenAuth;
  /** Version shown in the OpenAPI document. */
  readonly version?: string;
  /** Largest accepted request body in bytes (default 8 MiB). */
  readonly maxBody?: number;
  /** A watcher whose unsent data exceeds this is closed with 4429 (default 16 MiB). */
  readonly maxWatchBuffer?: number;
  /** Directory of the built dashboard served at `/` (default dist/web); null serves none. */
  readonly webRoot?: string | null;
  /** One record per request (method, path without the query, status, ms, user); none without. */
  readonly logger?: Logger;
}

/** One message of the watch stream. */
export interface WatchMessage {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'ERROR';
  readonly revision?: number;
  readonly key?: string;
  readonly object: Record<string, unknown>;
}

interface Ctx {
  readonly req: IncomingMessage;
  readonly url: URL;
  readonly match: Match;
  readonly who: Principal | undefined;
}

const ANON: Principal = { name: 'anonymous', admin: false, namespaces: [] };

/**
 * @example
 * const api = new ApiServer({ store, auth: await TokenAuth.fromFile('tokens.yaml') });
 * const { port } = await api.listen(7700, '127.0.0.1');
 * await api.close();
 */
export class ApiServer {
  private readonly http: Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly watches = new Set<{ ws: WebSocket; watch?: Watch }>();
  private readonly sses = new Set<{ res: ServerResponse; watch?: Watch }>();
  private closed = false;
  private readonly metrics: PlatformMetrics;

  constructor(private readonly init: ApiServerInit) {
    this.metrics = new PlatformMetrics(init.store);
    this.http = createServer((req, res) => void this.handle(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head));
  }

  /** Listens; port 0 picks a free port. Resolves with the bound address. */
  async listen(port: number, host = '127.0.0.1'): Promise<{ host: string; port: number; url: string }> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const a = this.http.address() as AddressInfo;
    const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `http://${h}:${a.port}` };
  }

  /** Stops accepting, ends every watch (close code 1001) and open connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ends = [...this.watches].map(async (w) => {
      await w.watch?.cancel();
      w.ws.close(1001, 'server shutting down');
    });
    await Promise.all(ends);
    await Promise.all([...this.sses].map(async (e) => {
      await e.watch?.cancel();
      e.res.end();
    }));
    const done = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    setTimeout(() => {
      this.http.closeAllConnections();
      for (const w of this.watches) w.ws.terminate();
    }, 500).unref();
    await done;
    this.wss.close();
  }

  /** Logs one finished request (the query is left out: a watch URL may carry a token). */
  private logRequest(req: IncomingMessage, status: number, t0: number, user: string | undefined): void {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] as string;
    const ms = Math.round((performance.now() - t0) * 100) / 100;
    this.init.logger?.info({ component: 'api', method, path, status, ms, user: user ?? null }, `${method} ${path} ${status}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Access-Control-Allow-Origin', '*');
    let user: string | undefined;
    if (this.init.logger) {
      const t0 = performance.now();
      res.once('finish', () => this.logRequest(req, res.statusCode, t0, user));
    }
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = req.method ?? 'GET';
      if (method === 'OPTIONS') {
        res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, PUT, POST, DELETE', 'Access-Control-Allow-Headers': 'Authorization, Content-Type', 'Access-Control-Max-Age': '600' });
        res.end();
        return;
      }
      const { match, allowed: methods } = matchRoute(method, url.pathname);
      const web = this.init.webRoot === undefined ? DEFAULT_WEB_ROOT : this.init.webRoot;
      if (!match && web !== null && !url.pathname.startsWith('/api/') && (await serveStatic(req, res, url.pathname, web))) return;
      if (!match) throw new RouteNotFoundError(method, url.pathname, methods);
      if (match.route.id === 'watch') {
        if (url.searchParams.get('sse') === '1' || /\btext\/event-stream\b/.test(req.headers.accept ?? '')) {
          await this.sse(req, res, url);
          return;
        }
        throw new BadRequestError('the watch stream needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket) or Accept: text/event-stream (or ?sse=1)');
      }
      const who = match.route.auth ? this.init.auth.authenticate(req.headers.authorization) : undefined;
      user = who?.name;
      if (match.route.id === 'metrics') {
        const m = await this.metrics.render();
        res.writeHead(200, { 'Content-Type': m.contentType, 'Content-Length': Buffer.byteLength(m.text) });
        res.end(m.text);
        return;
      }
      const body = await this.route({ req, url, match, who });
      send(res, 200, body);
    } catch (e) {
      const status = httpStatusOf(e);
      send(res, status.code, status);
    }
  }

  private async route(ctx: Ctx): Promise<unknown> {
    const { store } = this.init;
    const { route, params } = ctx.match;
    const who = ctx.who ?? ANON;
    const q = (name: string): string | undefined => ctx.url.searchParams.get(name) ?? undefined;
    switch (route.id) {
      case 'healthz':
        return { status: 'ok', store: store.backend, revision: await store.revision() };
      case 'openapi':
        return openApiDocument(this.init.version ?? '0.0.0');
      case 'whoami':
        return who;
      case 'list': {
        const kind = route.kind!;
        authorizeList(who, kind);
        const ns = q('namespace');
        if (ns !== undefined && KINDS[kind].namespaced) authorize(who, kind, ns, 'list');
        const items = await listResources(store, kind, ns !== undefined && KINDS[kind].namespaced ? { namespace: ns } : {});
        return { items: items.filter((r) => allowed(who, kind, namespaceOf(r))) };
      }
      case 'listNamespaced': {
        authorize(who, route.kind!, params['namespace']!, 'list');
        return { items: await listResources(store, route.kind!, { namespace: params['namespace']! }) };
      }
      case 'get': {
        const ns = params['namespace'] ?? '';
        authorize(who, route.kind!, ns, 'read');
        return getResource(store, route.kind!, params['name']!, ns || undefined);
      }
      case 'put':
        return this.putOne(ctx, who);
      case 'delete': {
        const kind = route.kind!;
        const ns = params['namespace'] ?? '';
        authorize(who, kind, ns, 'delete');
        const r: Resource = { apiVersion: 'swnet.io/v1', kind, metadata: { name: params['name']!, ...(ns ? { namespace: ns } : {}) }, spec: {} };
        const res = await remove(store, [{ resource: r }]);
        const change = res.changes[0]!;
        if (change.action === 'not found') throw new NotFoundError(resourceKey(kind, params['name']!, ns || undefined));
        return { revision: res.revision, change };
      }
      case 'apply':
      case 'deleteManifest': {
        const items = await manifestBody(ctx.req, q('file') ?? '<request>', this.init.maxBody ?? 8 << 20);
        const denied = items.filter((i) => !allowed(who, i.resource.kind, namespaceOf(i.resource)));
        if (denied.length > 0) throw new ForbiddenError(`${who.name} may not change ${denied.map((i) => describeRef(i.resource.kind, i.resource.metadata.name, i.resource.metadata.namespace)).join(', ')}; nothing was changed`);
        return route.id === 'apply' ? apply(store, items) : remove(store, items);
      }
      case 'events': {
        const kindArg = q('kind');
        const name = q('name');
        const ns = q('namespace');
        if ((kindArg === undefined) !== (name === undefined)) throw new BadRequestError('kind and name go together');
        const kind = kindArg !== undefined ? resolveKind(kindArg) : undefined;
        if (kindArg !== undefined && !kind) throw new BadRequestError(`unknown kind '${kindArg}'`);
        if (kind) authorize(who, kind, KINDS[kind].namespaced ? (ns ?? DEFAULT_NAMESPACE) : '', 'read events of');
        else if (ns !== undefined) authorize(who, 'Event', ns, 'read');
        const evs = await listEvents(store, { ...(ns !== undefined ? { namespace: ns } : {}), ...(kind && name !== undefined ? { involved: { kind, name, ...(ns !== undefined ? { namespace: ns } : {}) } } : {}) });
        return { items: evs.filter((e) => allowed(who, 'Event', e.metadata.namespace)) };
      }
      case 'placements': {
        const ns = q('namespace');
        if (ns !== undefined) authorize(who, 'Placement', ns, 'read');
        const { items } = await store.list(ns !== undefined ? `${PLACEMENT_PREFIX}${ns}/` : PLACEMENT_PREFIX);
        return { items: items.map((kv) => kv.value as unknown as Placement).filter((p) => allowed(who, 'Placement', p.namespace)) };
      }
      case 'top':
        return computeTop(store, who.admin ? {} : { namespaces: who.namespaces, servers: false });
      case 'userConnect':
      case 'userDisconnect':
        return this.userOp(ctx, who);
      case 'migrate':
        return this.migrate(ctx, who);
      case 'migrations': {
        const ns = q('namespace');
        if (ns !== undefined) authorize(who, 'Migration', ns, 'read');
        return { items: (await listMigrations(store, ns)).filter((m) => allowed(who, 'Migration', m.namespace)) };
      }
      case 'drain':
      case 'uncordon':
      case 'fail': {
        authorize(who, 'Server', '', route.id);
        return serverOperation(store, params['name']!, route.id);
      }
      case 'watch':
        throw new BadRequestError('the watch stream needs a WebSocket upgrade');
      case 'metrics':
        return (await this.metrics.render()).text;
    }
  }

  /**
   * Connect or disconnect a user (users.ts). Allowed to an admin and to a tenant owning the
   * namespace of the template and of the user's network: a tenant's users are the tenant's.
   */
  private async userOp(ctx: Ctx, who: Principal): Promise<unknown> {
    const text = await readBody(ctx.req, 64 << 10);
    let body: Record<string, unknown> = {};
    if (text.trim() !== '') {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (e) {
        throw new BadRequestError(`body is not JSON: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new BadRequestError('the body must be a JSON object');
      body = doc as Record<string, unknown>;
    }
    const connect = ctx.match.route.id === 'userConnect';
    const known = connect ? ['template', 'namespace'] : ['namespace'];
    const extra = Object.keys(body).filter((k) => !known.includes(k));
    if (extra.length > 0) throw new BadRequestError(`unknown field(s) ${extra.join(', ')} (expected ${known.join(', ')})`);
    const nsArg = body['namespace'] ?? ctx.url.searchParams.get('namespace') ?? undefined;
    if (nsArg !== undefined && (typeof nsArg !== 'string' || nsArg === '')) throw new BadRequestError('namespace must be a non-empty string');
    const ns = nsArg ?? (who.admin ? DEFAULT_NAMESPACE : (who.namespaces[0] ?? DEFAULT_NAMESPACE));
    authorize(who, 'SoftwareNetwork', ns, connect ? 'connect users in' : 'disconnect users in');
    const user = ctx.match.params['id']!;
    if (connect) {
      const template = body['template'];
      if (typeof template !== 'string' || template === '') throw new BadRequestError('connect needs {"template": "<UserNetworkTemplate name>"}');
      return connectUser(this.init.store, { user, namespace: ns }, template);
    }
    return { name: userNetworkName(user), namespace: ns, disconnected: await disconnectUser(this.init.store, { user, namespace: ns }) };
  }

  /** A planned migration of one function (admin: it moves infrastructure load). Body `{to}`. */
  private async migrate(ctx: Ctx, who: Principal): Promise<unknown> {
    if (!who.admin) throw new ForbiddenError(`${who.name} may not migrate functions: moving load between servers needs an admin token`);
    const text = await readBody(ctx.req, 64 << 10);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new BadRequestError(`body is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new BadRequestError('migrate needs {"to": "<server>"}');
    const extra = Object.keys(doc).filter((k) => k !== 'to');
    if (extra.length > 0) throw new BadRequestError(`unknown field(s) ${extra.join(', ')} (expected to)`);
    const to = (doc as { to?: unknown }).to;
    if (typeof to !== 'string' || to === '') throw new BadRequestError('migrate needs {"to": "<server>"}');
    const p = ctx.match.params;
    return requestMigration(this.init.store, { namespace: p['namespace']!, network: p['name']!, function: p['function']!, to });
  }

  /** PUT of one object: YAML or JSON body, which must name the object of the path. */
  private async putOne(ctx: Ctx, who: Principal): Promise<unknown> {
    const kind = ctx.match.route.kind!;
    const ns = ctx.match.params['namespace'] ?? '';
    const name = ctx.match.params['name']!;
    authorize(who, kind, ns, 'write');
    const text = await readBody(ctx.req, this.init.maxBody ?? 8 << 20);
    const { resources, issues } = parseManifestText(text, ctx.url.searchParams.get('file') ?? '<request>');
    if (issues.length > 0) throw new ManifestError(issues);
    if (resources.length !== 1) throw new BadRequestError(`the body must hold exactly one object (found ${resources.length})`);
    const item = resources[0]!;
    const r = item.resource;
    if (r.kind !== kind || r.metadata.name !== name || namespaceOf(r) !== ns) {
      throw new BadRequestError(`the body describes ${describeRef(r.kind, r.metadata.name, r.metadata.namespace)} but the path names ${describeRef(kind, name, ns || undefined)}`);
    }
    const res = await apply(this.init.store, [item]);
    const change: Change = res.changes[0]!;
    const kv = await this.init.store.get(change.key);
    return { revision: res.revision, change, ...(kv ? { object: readResource(kv) } : {}) };
  }

  /**
   * Who watches what, from a watch request (WebSocket or SSE): the token (header or ?token=),
   * the revision to resume after (?resourceVersion=, or SSE's Last-Event-ID), kind and namespace.
   */
  private watchScope(req: IncomingMessage, url: URL): { who: Principal; filter: (ref: KeyRef) => boolean; from: number | undefined } {
    let from: number | undefined;
    const token = url.searchParams.get('token');
    const who = this.init.auth.authenticate(token !== null ? `Bearer ${token}` : req.headers.authorization);
    const rv = url.searchParams.get('resourceVersion');
    if (rv !== null && rv !== '') {
      if (!/^\d+$/.test(rv)) throw new BadRequestError(`resourceVersion must be a non-negative integer (got '${rv}')`);
      from = Number(rv) + 1;
    }
    const kindArg = url.searchParams.get('kind');
    const kl = kindArg?.toLowerCase();
    const kind = kindArg === null ? undefined : kl === 'event' || kl === 'events' ? 'Event' : kl === 'placement' || kl === 'placements' ? 'Placement' : kl === 'migration' || kl === 'migrations' ? 'Migration' : resolveKind(kindArg);
    if (kindArg !== null && !kind) throw new BadRequestError(`unknown kind '${kindArg}'`);
    const ns = url.searchParams.get('namespace');
    if (kind !== undefined && kind !== 'Event' && kind !== 'Placement' && kind !== 'Migration' && !KINDS[kind].namespaced) authorize(who, kind, '', 'watch');
    if (ns !== null) authorize(who, 'Event', ns, 'watch');
    const filter = (ref: KeyRef): boolean => {
      const k = ref.type === 'resource' ? ref.kind : ref.type === 'event' ? 'Event' : ref.type === 'migration' ? 'Migration' : 'Placement';
      return (kind === undefined || k === kind) && (ns === null || ref.namespace === ns) && allowed(who, k, ref.namespace);
    };
    const last = req.headers['last-event-id'];
    if (typeof last === 'string' && last !== '') {
      if (!/^\d+$/.test(last)) throw new BadRequestError(`Last-Event-ID must be a revision (got '${last}')`);
      from = Number(last) + 1;
    }
    return { who, filter, from };
  }

  /**
   * The watch stream as Server-Sent Events: the WebSocket's messages as `data:` lines, each
   * revision's messages in one write with `id: <revision>`, so a client (EventSource or plain
   * HTTP) resumes with Last-Event-ID; a compacted revision is an ERROR message (Status 410),
   * then the stream ends; a comment line every 15 s keeps proxies from closing it.
   */
  private async sse(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { filter, from } = this.watchScope(req, url);
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write(': swnet watch\n\n');
    const limit = this.init.maxWatchBuffer ?? 16 << 20;
    const entry: { res: ServerResponse; watch?: Watch } = { res };
    this.sses.add(entry);
    let ended = false;
    const end = (err?: unknown): void => {
      if (ended) return;
      ended = true;
      if (err !== undefined) res.write(`data: ${JSON.stringify({ type: 'ERROR', object: { ...httpStatusOf(err) } } satisfies WatchMessage)}\n\n`);
      res.end();
    };
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    ping.unref();
    res.on('close', () => {
      ended = true;
      clearInterval(ping);
      this.sses.delete(entry);
      void entry.watch?.cancel();
    });
    const onEvents = (evs: readonly WatchEvent[]): void => {
      if (ended) return;
      let out = '';
      let rev = -1;
      const flush = (): void => {
        if (out !== '') res.write(`id: ${rev}\n${out}`);
        out = '';
      };
      for (const e of evs) {
        const ref = parseKey(e.key);
        if (!ref || !filter(ref)) continue;
        if (e.revision !== rev) flush();
        rev = e.revision;
        out += `data: ${JSON.stringify(toMessage(e, ref))}\n\n`;
      }
      flush();
      if (res.writableLength > limit) end(new ApiError(429, 'watcher too slow; list again and resume from the last revision seen'));
    };
    try {
      const watch = await this.init.store.watch('/swnet/', { ...(from !== undefined ? { fromRevision: from } : {}), onError: (e) => end(e) }, onEvents);
      if (ended || this.closed) await watch.cancel();
      else entry.watch = watch;
    } catch (e) {
      end(e);
    }
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const t0 = performance.now();
    const reject = (code: number, body: unknown): void => {
      this.logRequest(req, code, t0, undefined);
      const text = JSON.stringify(body);
      socket.end(`HTTP/1.1 ${code} ${code === 401 ? 'Unauthorized' : code === 403 ? 'Forbidden' : code === 404 ? 'Not Found' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    let who: Principal;
    let filter: (ref: KeyRef) => boolean;
    let from: number | undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const { match } = matchRoute('GET', url.pathname);
      if (match?.route.id !== 'watch') throw new RouteNotFoundError('GET', url.pathname);
      ({ who, filter, from } = this.watchScope(req, url));
    } catch (e) {
      const s = httpStatusOf(e);
      reject(s.code, s);
      return;
    }
    this.logRequest(req, 101, t0, who.name);
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.stream(ws, filter, from));
  }

  private async stream(ws: WebSocket, filter: (ref: KeyRef) => boolean, from: number | undefined): Promise<void> {
    const entry: { ws: WebSocket; watch?: Watch } = { ws };
    this.watches.add(entry);
    const limit = this.init.maxWatchBuffer ?? 16 << 20;
    let ended = false;
    const end = (code: number, reason: string, err?: unknown): void => {
      if (ended) return;
      ended = true;
      if (err !== undefined) ws.send(JSON.stringify({ type: 'ERROR', object: { ...httpStatusOf(err) } } satisfies WatchMessage));
      ws.close(code, reason);
    };
    const ping = setInterval(() => ws.ping(), 30_000);
    ping.unref();
    ws.on('close', () => {
      ended = true;
      clearInterval(ping);
      this.watches.delete(entry);
      void entry.watch?.cancel();
    });
    ws.on('error', () => ws.terminate());
    const onEvents = (evs: readonly WatchEvent[]): void => {
      if (ended) return;
      for (const e of evs) {
        const ref = parseKey(e.key);
        if (!ref || !filter(ref)) continue;
        ws.send(JSON.stringify(toMessage(e, ref)));
      }
      if (ws.bufferedAmount > limit) end(WS_CLOSE_TOO_SLOW, 'watcher too slow; list again and resume from the last revision seen');
    };
    try {
      const watch = await this.init.store.watch('/swnet/', { ...(from !== undefined ? { fromRevision: from } : {}), onError: (e) => end(e.name === 'CompactedError' ? WS_CLOSE_COMPACTED : 1011, e.message.slice(0, 120), e) }, onEvents);
      if (ended || this.closed) await watch.cancel();
      else entry.watch = watch;
    } catch (e) {
      const s = httpStatusOf(e);
      end(s.code === 410 ? WS_CLOSE_COMPACTED : s.code === 400 ? 4400 : 1011, s.message.slice(0, 120), e);
    }
  }
}

function toMessage(e: WatchEvent, ref: KeyRef): WatchMessage {
  if (e.type === 'delete') {
    const object: Record<string, unknown> =
      ref.type === 'resource'
        ? { apiVersion: 'swnet.io/v1', kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}), resourceVersion: String(e.revision) } }
        : ref.type === 'event'
          ? { kind: 'Event', metadata: { name: ref.name, namespace: ref.namespace } }
          : ref.type === 'migration'
            ? { kind: 'Migration', namespace: ref.namespace, network: ref.network, id: ref.name }
            : { kind: 'Placement', namespace: ref.namespace, network: ref.network, function: ref.name };
    return { type: 'DELETED', revision: e.revision, key: e.key, object };
  }
  const kv = e.kv!;
  const object = ref.type === 'resource' ? (readResource(kv) as unknown as Record<string, unknown>) : (kv.value as unknown as Record<string, unknown>);
  return { type: kv.version === 1 ? 'ADDED' : 'MODIFIED', revision: e.revision, key: e.key, object };
}

function authorizeList(who: Principal, kind: Kind): void {
  if (!KINDS[kind].namespaced) authorize(who, kind, '', 'list');
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    const b = c as Buffer;
    n += b.length;
    if (n > max) throw new PayloadTooLargeError(max);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A manifest body: YAML (several documents) named by `file`, or JSON `{manifests: [{file, text}]}`
 * (what the CLI sends, so that positions name the user's own files).
 */
async function manifestBody(req: IncomingMessage, file: string, max: number): Promise<LoadedResource[]> {
  const text = await readBody(req, max);
  let parts: { file: string; text: string }[] = [{ file, text }];
  if ((req.headers['content-type'] ?? '').startsWith('application/json')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new BadRequestError(`body is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    const list = (doc as { manifests?: unknown } | null)?.manifests;
    if (!Array.isArray(list) || !list.every((m: unknown) => typeof m === 'object' && m !== null && typeof (m as { text?: unknown }).text === 'string')) {
      throw new BadRequestError('a JSON body must be {"manifests": [{"file": "...", "text": "..."}]}');
    }
    parts = list.map((m: { file?: unknown; text: string }, i) => ({ file: typeof m.file === 'string' ? m.file : `<manifest ${i}>`, text: m.text }));
  }
  const items: LoadedResource[] = [];
  const issues: ManifestIssue[] = [];
  for (const p of parts) {
    const r = parseManifestText(p.text, p.file);
    items.push(...r.resources);
    issues.push(...r.issues);
  }
  issues.push(...checkSet(items));
  if (issues.length > 0) throw new ManifestError(issues);
  if (items.length === 0) throw new BadRequestError('the manifest holds no object');
  return items;
}
