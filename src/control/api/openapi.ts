/**
 * The OpenAPI 3.0 document of the API, generated from the route table (routes.ts).
 */
import { KIND_NAMES } from '../manifest/schema.js';
import { ROUTES, type Route } from './routes.js';

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({ type: 'object', properties, ...(required.length > 0 ? { required } : {}) });
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };

const SCHEMAS: Record<string, Schema> = {
  Resource: obj(
    {
      apiVersion: { type: 'string', enum: ['swnet.io/v1'] },
      kind: { type: 'string', enum: [...KIND_NAMES] },
      metadata: obj({ name: str, namespace: str, labels: { type: 'object', additionalProperties: str }, annotations: { type: 'object', additionalProperties: str }, generation: int, uid: str, resourceVersion: str, creationTimestamp: str }, ['name']),
      spec: { type: 'object', additionalProperties: true },
      status: obj({ observedGeneration: int, conditions: { type: 'array', items: ref('Condition') } }),
    },
    ['apiVersion', 'kind', 'metadata', 'spec'],
  ),
  Condition: obj({ type: str, status: { type: 'string', enum: ['True', 'False', 'Unknown'] }, reason: str, message: str, lastTransitionTime: str, observedGeneration: int }, ['type', 'status']),
  ResourceList: obj({ items: { type: 'array', items: ref('Resource') }, revision: int }, ['items']),
  Change: obj({ kind: str, name: str, namespace: str, key: str, action: { type: 'string', enum: ['created', 'configured', 'unchanged', 'deleted', 'not found'] }, generation: int, fields: { type: 'array', items: str } }, ['kind', 'name', 'key', 'action', 'generation']),
  ApplyResult: obj({ revision: int, changes: { type: 'array', items: ref('Change') } }, ['revision', 'changes']),
  ObjectChange: obj({ revision: int, change: ref('Change'), object: ref('Resource') }, ['revision', 'change']),
  ManifestIssue: obj({ file: str, line: int, column: int, message: str }, ['file', 'line', 'column', 'message']),
  Status: obj({ kind: { type: 'string', enum: ['Status'] }, status: { type: 'string', enum: ['Failure'] }, code: int, reason: str, message: str, issues: { type: 'array', items: ref('ManifestIssue') }, oldest: int, key: str }, ['kind', 'status', 'code', 'reason', 'message']),
  Health: obj({ status: { type: 'string', enum: ['ok'] }, store: str, revision: int }, ['status']),
  Principal: obj({ name: str, admin: { type: 'boolean' }, namespaces: { type: 'array', items: str } }, ['name', 'admin', 'namespaces']),
  Event: obj({ kind: { type: 'string', enum: ['Event'] }, metadata: obj({ name: str, namespace: str }), involvedObject: obj({ kind: str, name: str, namespace: str }), type: { type: 'string', enum: ['Normal', 'Warning'] }, reason: str, message: str, count: int, firstTimestamp: str, lastTimestamp: str, source: str }),
  EventList: obj({ items: { type: 'array', items: ref('Event') } }, ['items']),
  Placement: obj({ kind: { type: 'string', enum: ['Placement'] }, namespace: str, network: str, function: str, server: str, generation: int, requests: obj({ cpu: { type: 'number' }, memory: { type: 'number' }, bandwidth: { type: 'number' } }) }),
  PlacementList: obj({ items: { type: 'array', items: ref('Placement') } }, ['items']),
  TopReport: obj({ servers: { type: 'array', items: { type: 'object', additionalProperties: true } }, networks: { type: 'array', items: { type: 'object', additionalProperties: true } } }, ['servers', 'networks']),
  WatchEvent: obj({ type: { type: 'string', enum: ['ADDED', 'MODIFIED', 'DELETED', 'ERROR'] }, revision: int, key: str, object: { type: 'object', additionalProperties: true } }, ['type', 'object']),
  UserConnectRequest: obj({ template: str, namespace: str }, ['template']),
  UserDisconnectRequest: obj({ namespace: str }),
  UserConnectResult: obj({ name: str, namespace: str, action: { type: 'string', enum: ['created', 'unchanged'] }, revision: int }, ['name', 'namespace', 'action', 'revision']),
  UserDisconnectResult: obj({ name: str, namespace: str, disconnected: { type: 'boolean' } }, ['name', 'namespace', 'disconnected']),
  MigrateRequest: obj({ to: str }, ['to']),
  Migration: obj(
    {
      kind: { type: 'string', enum: ['Migration'] },
      id: str,
      namespace: str,
      network: str,
      function: str,
      from: str,
      to: str,
      reason: { type: 'string', enum: ['operator', 'overload', 'failure', 'idle'] },
      detail: str,
      phase: { type: 'string', enum: ['pending', 'prepared', 'state-copied', 'both-running', 'switched', 'drained', 'done', 'failed'] },
      timeline: { type: 'array', items: obj({ phase: str, at: { type: 'number' }, sinceStartMs: { type: 'number' }, by: str, detail: str }, ['phase', 'at', 'sinceStartMs', 'by']) },
      createdAt: { type: 'number' },
      error: str,
      standby: { type: 'boolean' },
      wave: str,
    },
    ['kind', 'id', 'namespace', 'network', 'function', 'from', 'to', 'reason', 'phase', 'timeline', 'createdAt'],
  ),
  MigrationList: obj({ items: { type: 'array', items: ref('Migration') } }, ['items']),
  ServerOpResult: obj({ server: str, message: str }, ['server', 'message']),
  OpenApiDocument: { type: 'object', additionalProperties: true },
  MetricsText: { type: 'string', description: 'Prometheus text exposition format 0.0.4' },
};

function operation(r: Route): Schema {
  const params: Schema[] = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: str }));
  for (const q of r.query ?? []) params.push({ name: q.name, in: 'query', required: false, description: q.description, schema: { type: q.type } });
  const err = (description: string): Schema => ({ description, content: { 'application/json': { schema: ref('Status') } } });
  const responses: Record<string, Schema> =
    r.id === 'watch'
      ? {
          '101': { description: 'Switching to the WebSocket protocol; messages are WatchEvent JSON', content: { 'application/json': { schema: ref('WatchEvent') } } },
          '200': { description: 'Server-Sent Events (Accept: text/event-stream or ?sse=1): data: WatchEvent JSON, id: revision', content: { 'text/event-stream': { schema: str } } },
        }
      : { '200': { description: 'OK', content: { [r.id === 'metrics' ? 'text/plain; version=0.0.4' : 'application/json']: { schema: ref(r.returns) } } } };
  if (r.auth) Object.assign(responses, { '401': err('No or unknown bearer token'), '403': err('The token may not touch this object') });
  if (r.body) Object.assign(responses, { '400': err('Malformed body'), ...(r.bodySchema === undefined ? { '422': err('Invalid manifest: every problem at file:line:column; nothing was changed') } : {}) });
  if (r.id === 'get' || r.id === 'delete') responses['404'] = err('No such object');
  if (r.id === 'userConnect') Object.assign(responses, { '404': err('No such UserNetworkTemplate'), '409': err('The user is connected with another template, or the name belongs to another user') });
  if (r.id === 'userDisconnect') responses['409'] = err('The network of that name belongs to another user');
  if (r.id === 'migrate') Object.assign(responses, { '404': err('No such network, function or server'), '409': err('Refused: same server, cordoned or lost target, a migration of it in flight, or not placed yet') });
  if (r.id === 'drain' || r.id === 'uncordon' || r.id === 'fail') responses['404'] = err('No such server');
  if (r.id === 'watch') responses['410'] = err('resourceVersion was compacted (sent as an ERROR message, then close code 4410)');
  return {
    operationId: `${r.id}${r.kind ?? ''}`,
    summary: r.summary,
    ...(r.kind ? { tags: [r.kind] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(r.body ? { requestBody: { required: true, content: Object.fromEntries(r.body.map((t) => [t, { schema: r.bodySchema !== undefined ? ref(r.bodySchema) : t === 'application/json' && (r.id === 'apply' || r.id === 'deleteManifest') ? obj({ manifests: { type: 'array', items: obj({ file: str, text: str }, ['text']) } }, ['manifests']) : ref('Resource') }])) } } : {}),
    ...(r.auth ? {} : { security: [] }),
    responses,
  };
}

/**
 * @example
 * const doc = openApiDocument('0.1.0');
 * Object.keys(doc.paths).includes('/api/v1/servers/{name}') // true
 */
export function openApiDocument(version: string): { openapi: string; info: Schema; paths: Record<string, Record<string, Schema>>; components: Schema; security: Schema[] } {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const r of ROUTES) (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  return {
    openapi: '3.0.3',
    info: { title: 'swnet control plane API', version, description: 'Resources, manifests, events, placements, utilisation and a watch stream. Authenticate with Authorization: Bearer TOKEN.' },
    paths,
    components: { schemas: SCHEMAS, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
  };
}
