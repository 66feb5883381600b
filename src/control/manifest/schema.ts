/**
 * The JSON Schema of every swnet resource: the single source for validation (ajv) and for the
 * schema published to editors in docs/schema/swnet.schema.json (see gen-schema.ts; a test
 * checks that the published file is up to date).
 */
import { BYTES_PATTERN, CPU_PATTERN, DURATION_PATTERN, RATE_PATTERN } from './quantity.js';

export const API_VERSION = 'swnet.io/v1';
export const KIND_NAMES = ['Datacenter', 'Server', 'Link', 'SoftwareNetwork', 'UserNetworkTemplate'] as const;
export type Kind = (typeof KIND_NAMES)[number];
export const TIERS = ['central', 'regional', 'local', 'edge', 'femto', 'mec'] as const;
export const PROTOCOLS = ['ethernet', 'ipv4', 'ipv6', 'mpls'] as const;

/** DNS-1123 subdomain, as Kubernetes names. */
const NAME = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' };
const LABEL = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const cpu = { type: ['number', 'string'], minimum: 0, pattern: CPU_PATTERN, description: 'cores (number) or millicores ("500m")' };
const bytes = { type: ['number', 'string'], minimum: 0, pattern: BYTES_PATTERN, description: 'bytes (number) or a quantity ("512Mi", "4G")' };
const rate = { type: ['number', 'string'], minimum: 0, pattern: RATE_PATTERN, description: 'bits per second (number) or a rate ("10Gbps")' };
const duration = { type: ['number', 'string'], minimum: 0, pattern: DURATION_PATTERN, description: 'milliseconds (number) or a duration ("5ms", "200us")' };
const nameList = { type: 'array', items: NAME, minItems: 1, uniqueItems: true };

const definitions = {
  Metadata: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: {
      name: NAME,
      namespace: LABEL,
      labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 63 }, propertyNames: { maxLength: 253, pattern: '^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$' } },
      annotations: { type: 'object', additionalProperties: { type: 'string' } },
      generation: { type: 'integer', minimum: 0, description: 'set by the control plane' },
      uid: { type: 'string', description: 'set by the control plane' },
      resourceVersion: { type: 'string', description: 'set by the control plane' },
      creationTimestamp: { type: 'string', description: 'set by the control plane' },
    },
  },
  Status: {
    type: 'object',
    description: 'written by controllers; ignored by apply',
    properties: {
      observedGeneration: { type: 'integer', minimum: 0 },
      conditions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['type', 'status'],
          properties: {
            type: { type: 'string' },
            status: { enum: ['True', 'False', 'Unknown'] },
            reason: { type: 'string' },
            message: { type: 'string' },
            lastTransitionTime: { type: 'string' },
            observedGeneration: { type: 'integer' },
          },
        },
      },
    },
  },
  DatacenterSpec: {
    type: 'object',
    required: ['tier'],
    additionalProperties: false,
    properties: {
      tier: { enum: [...TIERS] },
      location: {
        type: 'object',
        additionalProperties: false,
        properties: {
          region: { type: 'string' },
          city: { type: 'string' },
          latitude: { type: 'number', minimum: -90, maximum: 90 },
          longitude: { type: 'number', minimum: -180, maximum: 180 },
        },
      },
      pue: { type: 'number', minimum: 1, description: 'power usage effectiveness' },
    },
  },
  ServerSpec: {
    type: 'object',
    required: ['datacenter', 'capacity'],
    additionalProperties: false,
    properties: {
      datacenter: NAME,
      capacity: {
        type: 'object',
        required: ['cpu', 'memory'],
        additionalProperties: false,
        properties: { cpu, memory: bytes, bandwidth: rate },
      },
      power: {
        type: 'object',
        required: ['specpower'],
        additionalProperties: false,
        properties: {
          specpower: {
            type: 'array',
            description: 'SPECpower watts at 0%, 10%, ..., 100% load (11 values, non-decreasing)',
            items: { type: 'number', minimum: 0 },
            minItems: 11,
            maxItems: 11,
          },
        },
      },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      unschedulable: { type: 'boolean', description: 'cordoned (swnet drain): the scheduler places nothing new here; existing placements stay' },
    },
  },
  LinkSpec: {
    type: 'object',
    required: ['endpoints'],
    additionalProperties: false,
    properties: {
      endpoints: { type: 'array', items: NAME, minItems: 2, maxItems: 2, description: 'two servers or datacenters' },
      bandwidth: rate,
      latency: duration,
    },
  },
  Resources: {
    type: 'object',
    additionalProperties: false,
    properties: { cpu, memory: bytes, bandwidth: rate },
  },
  NetworkFunction: {
    type: 'object',
    required: ['name', 'kind'],
    additionalProperties: false,
    properties: {
      name: LABEL,
      kind: { type: 'string', pattern: '^[a-z][a-z0-9-]*$', description: 'function kind, e.g. router, switch, firewall, nat' },
      ports: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9][-A-Za-z0-9_./]*$' }, uniqueItems: true },
      config: { type: 'object' },
      resources: { $ref: '#/definitions/Resources' },
      replicas: { type: 'integer', minimum: 1, maximum: 16, description: 'horizontal elasticity: instances on its server, traffic spread by flow hash (firewall, nat with partitioned: true, dpi, loadbalancer in dsr mode)' },
      spread: { type: 'string', enum: ['servers'], description: "with replicas: 'servers' places each replica on its own server where possible (replica k as <name>~replica-k), reached over VXLAN from the function's server" },
    },
  },
  NetworkLink: {
    type: 'object',
    required: ['endpoints'],
    additionalProperties: false,
    properties: {
      endpoints: {
        type: 'array',
        items: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(:[A-Za-z0-9][-A-Za-z0-9_./]*)?$' },
        minItems: 2,
        maxItems: 2,
        description: '"function" or "function:port"',
      },
      bandwidth: rate,
      latency: duration,
    },
  },
  SoftwareNetworkSpec: {
    type: 'object',
    required: ['functions'],
    additionalProperties: false,
    properties: {
      functions: { type: 'array', items: { $ref: '#/definitions/NetworkFunction' }, minItems: 1 },
      links: { type: 'array', items: { $ref: '#/definitions/NetworkLink' } },
      protocols: { type: 'array', items: { enum: [...PROTOCOLS] }, uniqueItems: true },
      tokens: { type: 'integer', minimum: 1, description: 'base token allocation per scheduling round' },
      priority: { type: 'integer', minimum: 0, maximum: 7 },
      autoscale: {
        type: 'object',
        required: ['minTokens', 'maxTokens'],
        additionalProperties: false,
        description: 'vertical elasticity: the server agents grow and shrink the token allocation with the load, within these limits',
        properties: {
          minTokens: { type: 'integer', minimum: 1 },
          maxTokens: { type: 'integer', minimum: 1 },
          targetUtilization: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'utilisation of the guaranteed share to aim at; default 0.7' },
        },
      },
      isolation: { enum: ['domain', 'context'] },
      placement: {
        type: 'object',
        additionalProperties: false,
        properties: {
          tier: { type: 'array', items: { enum: [...TIERS] }, minItems: 1, uniqueItems: true },
          datacenter: nameList,
          maxLatency: {
            type: 'array',
            items: {
              type: 'object',
              required: ['between', 'latency'],
              additionalProperties: false,
              properties: { between: { type: 'array', items: LABEL, minItems: 2, maxItems: 2 }, latency: duration },
            },
          },
          antiAffinity: { type: 'array', items: { type: 'array', items: LABEL, minItems: 2, uniqueItems: true }, description: 'groups of functions placed on distinct servers' },
        },
      },
      resilience: {
        type: 'object',
        additionalProperties: false,
        properties: { standby: { type: 'integer', minimum: 0, maximum: 8, description: 'hot standby copies of each function' } },
      },
    },
  },
  UserNetworkTemplateSpec: {
    type: 'object',
    required: ['template'],
    additionalProperties: false,
    properties: {
      template: {
        type: 'object',
        required: ['spec'],
        additionalProperties: false,
        properties: {
          metadata: { type: 'object', additionalProperties: false, properties: { labels: { type: 'object', additionalProperties: { type: 'string' } } } },
          spec: { $ref: '#/definitions/SoftwareNetworkSpec' },
        },
      },
      idleTimeout: duration,
      maxUsers: { type: 'integer', minimum: 1 },
    },
  },
};

const bySpec = KIND_NAMES.map((k) => ({
  if: { properties: { kind: { const: k } }, required: ['kind'] },
  then: { properties: { spec: { $ref: `#/definitions/${k}Spec` } } },
}));

/** The whole schema: one swnet resource (one YAML document). */
export const manifestSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://swnet.io/schema/v1/swnet.schema.json',
  title: 'swnet resource (apiVersion swnet.io/v1)',
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: API_VERSION },
    kind: { enum: [...KIND_NAMES] },
    metadata: { $ref: '#/definitions/Metadata' },
    spec: { type: 'object' },
    status: { $ref: '#/definitions/Status' },
  },
  allOf: bySpec,
  definitions,
};

/** The published file's exact text. */
export function publishedSchemaText(): string {
  return `${JSON.stringify(manifestSchema, null, 2)}\n`;
}
