/**
 * The route table of the REST API: one entry per method and path, with what the OpenAPI
 * document says about it. The server matches requests against this table and the document
 * is generated from it, so the two cannot drift apart.
 */
import { KIND_NAMES } from '../manifest/schema.js';
import { KINDS, type Kind } from '../manifest/types.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export type RouteId =
  | 'healthz'
  | 'openapi'
  | 'metrics'
  | 'whoami'
  | 'list'
  | 'listNamespaced'
  | 'get'
  | 'put'
  | 'delete'
  | 'apply'
  | 'deleteManifest'
  | 'events'
  | 'placements'
  | 'top'
  | 'watch'
  | 'userConnect'
  | 'userDisconnect'
  | 'migrate'
  | 'migrations'
  | 'drain'
  | 'uncordon'
  | 'fail';

export interface QueryParam {
  readonly name: string;
  readonly description: string;
  readonly type: 'string' | 'integer' | 'boolean';
}

export interface Route {
  readonly id: RouteId;
  readonly method: Method;
  /** OpenAPI path template, e.g. `/api/v1/namespaces/{namespace}/softwarenetworks/{name}`. */
  readonly path: string;
  readonly kind?: Kind;
  readonly summary: string;
  readonly auth: boolean;
  readonly query?: readonly QueryParam[];
  /** Media types of the request body. */
  readonly body?: readonly string[];
  /** Schema name (components.schemas) of a JSON request body (default: a Resource). */
  readonly bodySchema?: string;
  /** Schema name (components.schemas) of the 200 response. */
  readonly returns: string;
}

const YAML_BODY = ['application/yaml', 'application/json'];

function kindRoutes(kind: Kind): Route[] {
  const { plural, namespaced } = KINDS[kind];
  const one = namespaced ? `/api/v1/namespaces/{namespace}/${plural}/{name}` : `/api/v1/${plural}/{name}`;
  const routes: Route[] = [
    { id: 'list', method: 'GET', path: `/api/v1/${plural}`, kind, summary: `List ${kind} objects${namespaced ? ' in every namespace the caller may see' : ''}`, auth: true, returns: 'ResourceList' },
  ];
  if (namespaced) routes.push({ id: 'listNamespaced', method: 'GET', path: `/api/v1/namespaces/{namespace}/${plural}`, kind, summary: `List ${kind} objects of one namespace`, auth: true, returns: 'ResourceList' });
  routes.push(
    { id: 'get', method: 'GET', path: one, kind, summary: `Read one ${kind}`, auth: true, returns: 'Resource' },
    { id: 'put', method: 'PUT', path: one, kind, summary: `Create or update one ${kind} (apply semantics: idempotent, generation grows on spec changes)`, auth: true, body: YAML_BODY, returns: 'ObjectChange' },
    { id: 'delete', method: 'DELETE', path: one, kind, summary: `Delete one ${kind}`, auth: true, returns: 'ObjectChange' },
  );
  return routes;
}

/** Every route of the API. */
export const ROUTES: readonly Route[] = [
  { id: 'healthz', method: 'GET', path: '/healthz', summary: 'Liveness and store reachability', auth: false, returns: 'Health' },
  { id: 'openapi', method: 'GET', path: '/openapi.json', summary: 'This OpenAPI document', auth: false, returns: 'OpenApiDocument' },
  { id: 'metrics', method: 'GET', path: '/metrics', summary: 'Prometheus metrics (text format 0.0.4) per server and per software network; unauthenticated like /healthz (serve the API on an admin or loopback address)', auth: false, returns: 'MetricsText' },
  { id: 'whoami', method: 'GET', path: '/api/v1/whoami', summary: 'The principal of the bearer token', auth: true, returns: 'Principal' },
  ...KIND_NAMES.flatMap(kindRoutes),
  {
    id: 'apply',
    method: 'POST',
    path: '/api/v1/apply',
    summary: 'Apply a whole manifest atomically: all objects or none. 422 lists every problem at file:line:column and changes nothing',
    auth: true,
    query: [{ name: 'file', description: 'file name used in positions of a YAML body', type: 'string' }],
    body: YAML_BODY,
    returns: 'ApplyResult',
  },
  {
    id: 'deleteManifest',
    method: 'POST',
    path: '/api/v1/delete',
    summary: 'Delete every object a manifest names, atomically',
    auth: true,
    query: [{ name: 'file', description: 'file name used in positions of a YAML body', type: 'string' }],
    body: YAML_BODY,
    returns: 'ApplyResult',
  },
  {
    id: 'events',
    method: 'GET',
    path: '/api/v1/events',
    summary: 'Events, oldest first',
    auth: true,
    query: [
      { name: 'namespace', description: 'one namespace (_cluster holds those of infrastructure objects)', type: 'string' },
      { name: 'kind', description: 'kind of the involved object (with name)', type: 'string' },
      { name: 'name', description: 'name of the involved object (with kind)', type: 'string' },
    ],
    returns: 'EventList',
  },
  { id: 'placements', method: 'GET', path: '/api/v1/placements', summary: 'Where each function runs', auth: true, query: [{ name: 'namespace', description: 'one namespace', type: 'string' }], returns: 'PlacementList' },
  { id: 'top', method: 'GET', path: '/api/v1/top', summary: 'Utilisation per server (admin only) and per software network', auth: true, returns: 'TopReport' },
  {
    id: 'watch',
    method: 'GET',
    path: '/api/v1/watch',
    summary:
      'WebSocket upgrade: a stream of JSON messages {type: ADDED|MODIFIED|DELETED, revision, key, object} in revision order, then {type: ERROR, object: Status} and close code 4410 when resourceVersion was compacted. The token may also be passed as ?token= (browsers cannot set headers on WebSockets). Or Server-Sent Events (Accept: text/event-stream, or ?sse=1): the same messages as data: lines with id: <revision>; resume with Last-Event-ID; the ERROR message ends the stream',
    auth: true,
    query: [
      { name: 'resourceVersion', description: 'resume after this revision (every change with a greater revision is delivered); omitted: changes from now on', type: 'integer' },
      { name: 'kind', description: 'only this kind (Event and Placement too)', type: 'string' },
      { name: 'namespace', description: 'only this namespace', type: 'string' },
      { name: 'token', description: 'bearer token, for clients that cannot set headers', type: 'string' },
      { name: 'sse', description: '1: Server-Sent Events instead of a WebSocket (as Accept: text/event-stream)', type: 'string' },
    ],
    returns: 'WatchEvent',
  },
  {
    id: 'userConnect',
    method: 'POST',
    path: '/api/v1/users/{id}/connect',
    summary:
      "Connect a user: create the user's own SoftwareNetwork (user-<id>) from a UserNetworkTemplate of the namespace (idempotent: 'unchanged' when connected already). Admin, or a tenant owning the namespace (default: 'default' for an admin, the tenant's first namespace otherwise). 404 unknown template, 409 connected with another template",
    auth: true,
    body: ['application/json'],
    bodySchema: 'UserConnectRequest',
    returns: 'UserConnectResult',
  },
  {
    id: 'userDisconnect',
    method: 'POST',
    path: '/api/v1/users/{id}/disconnect',
    summary: "Disconnect a user: delete the user's network (disconnected: false when it was not connected). Same rights as connect; 409 when the network of that name belongs to another user",
    auth: true,
    body: ['application/json'],
    bodySchema: 'UserDisconnectRequest',
    returns: 'UserDisconnectResult',
  },
  {
    id: 'migrate',
    method: 'POST',
    path: '/api/v1/namespaces/{namespace}/softwarenetworks/{name}/functions/{function}/migrate',
    summary:
      'Live-migrate one function to server `to` (admin): creates a Migration (reason operator, phase pending) that the target and source agents and the migration controller carry through prepared, state-copied, both-running, switched, drained, done. 404 unknown network, function or server; 409 same server, cordoned or lost target, a migration of it in flight, not placed yet',
    auth: true,
    body: ['application/json'],
    bodySchema: 'MigrateRequest',
    returns: 'Migration',
  },
  {
    id: 'migrations',
    method: 'GET',
    path: '/api/v1/migrations',
    summary: 'Migrations (finished ones are kept 60 s), of every namespace the caller may see',
    auth: true,
    query: [{ name: 'namespace', description: 'one namespace', type: 'string' }],
    returns: 'MigrationList',
  },
  {
    id: 'drain',
    method: 'POST',
    path: '/api/v1/servers/{name}/drain',
    summary: 'Cordon a server (spec.unschedulable) and migrate every function off it, a bounded number at a time, to servers the scheduler chooses (reason operator, detail "drain <server>"); once empty it is marked status.standby (admin)',
    auth: true,
    returns: 'ServerOpResult',
  },
  { id: 'uncordon', method: 'POST', path: '/api/v1/servers/{name}/uncordon', summary: 'Make a cordoned or drained server schedulable again and clear its standby mark (admin)', auth: true, returns: 'ServerOpResult' },
  {
    id: 'fail',
    method: 'POST',
    path: '/api/v1/servers/{name}/fail',
    summary: "Make the server's agent fail as after kill -9: no more heartbeat renewals or hellos (its lease expires, warm standbys take over), its domains torn down (admin; to watch a failover)",
    auth: true,
    returns: 'ServerOpResult',
  },
];

export interface Match {
  readonly route: Route;
  readonly params: Readonly<Record<string, string>>;
}

/** Matches a path; `allowed` lists the methods of a path that exists when the method does not. */
export function matchRoute(method: string, path: string): { match?: Match; allowed?: string[] } {
  const segs = path.split('/');
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const tpl = route.path.split('/');
    if (tpl.length !== segs.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < tpl.length && ok; i++) {
      const t = tpl[i]!;
      const s = segs[i]!;
      if (t.startsWith('{')) {
        if (s === '') ok = false;
        else {
          try {
            params[t.slice(1, -1)] = decodeURIComponent(s);
          } catch {
            ok = false;
          }
        }
      } else if (t !== s) ok = false;
    }
    if (!ok) continue;
    if (route.method === method) return { match: { route, params } };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { allowed } : {};
}
