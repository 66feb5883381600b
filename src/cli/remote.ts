/**
 * Where the kubectl-like commands read and write: the store directly (local mode, the
 * default) or the API server (`--server URL --token T`, or SWNET_SERVER / SWNET_TOKEN).
 * Both sides run the same code paths on the control plane, so the output is the same.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ApiClient } from '../control/client.js';
import { listEvents, type ObjectRef, type SwnetEvent } from '../control/events.js';
import { apply, getResource, listResources, remove, type ApplyResult } from '../control/manifest/apply.js';
import type { LoadedResource } from '../control/manifest/load.js';
import type { Kind, Resource } from '../control/manifest/types.js';
import type { Store } from '../control/store/contract.js';
import { openStore } from '../control/store/open.js';
import { computeTop, type TopReport } from '../control/top.js';

export interface RemoteOpts {
  dataDir?: string;
  store?: string;
  server?: string;
  token?: string;
}

export interface Backend {
  apply(items: readonly LoadedResource[]): Promise<ApplyResult>;
  remove(items: readonly LoadedResource[]): Promise<ApplyResult>;
  list(kind: Kind, opts: { readonly namespace?: string }): Promise<Resource[]>;
  get(kind: Kind, name: string, namespace?: string): Promise<Resource>;
  events(opts: { readonly namespace?: string; readonly involved?: ObjectRef }): Promise<SwnetEvent[]>;
  top(): Promise<TopReport>;
}

/** Adds --server and --token to a command. */
export function remoteOptions(c: Command): Command {
  return c.option('--server <url>', 'API server URL (env SWNET_SERVER); without it the command works on the store').option('--token <token>', 'bearer token for --server (env SWNET_TOKEN)');
}

/** Adds --data-dir and --store (the local mode) beside --server and --token to a command. */
export function storeOptions(c: Command): Command {
  return remoteOptions(c.option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)').option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT[,HOST:PORT], memory:'));
}

/** The API client when remote mode is asked for. */
export function remoteClient(o: RemoteOpts): ApiClient | undefined {
  const server = o.server ?? process.env['SWNET_SERVER'];
  if (server === undefined || server === '') return undefined;
  const token = o.token ?? process.env['SWNET_TOKEN'];
  return new ApiClient({ server, ...(token !== undefined && token !== '' ? { token } : {}) });
}

/** The texts of the files the loaded resources came from, so the server reports the same positions. */
async function texts(items: readonly LoadedResource[]): Promise<{ file: string; text: string }[]> {
  const files = [...new Set(items.map((i) => i.source?.file).filter((f): f is string => f !== undefined))];
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
}

function apiBackend(api: ApiClient): Backend {
  return {
    apply: async (items) => api.apply(await texts(items)),
    remove: async (items) => api.deleteManifests(await texts(items)),
    list: (kind, opts) => api.list(kind, opts),
    get: (kind, name, ns) => api.get(kind, name, ns),
    events: (opts) => api.events(opts),
    top: () => api.top(),
  };
}

function storeBackend(s: Store): Backend {
  return {
    apply: (items) => apply(s, items),
    remove: (items) => remove(s, items),
    list: (kind, opts) => listResources(s, kind, opts),
    get: (kind, name, ns) => getResource(s, kind, name, ns),
    events: (opts) => listEvents(s, opts),
    top: () => computeTop(s),
  };
}

/**
 * Runs `fn` against the API server (remote mode) or an opened store (closed afterwards).
 * @example
 * const items = await withBackend(opts, (b) => b.list('Server', {}));
 */
export function withBackend<T>(o: RemoteOpts, fn: (b: Backend) => Promise<T>): Promise<T> {
  return withRemoteOrStore(o, apiBackend, storeBackend, fn);
}

/**
 * The CLI's one remote-or-local switch: `fn` gets `remote(api)` when --server (or SWNET_SERVER)
 * is set, else `local(store)` on the store --store/--data-dir name, closed afterwards.
 * @example
 * await withRemoteOrStore(o, (api) => api.migrations('default'), (s) => listMigrations(s, 'default'), (p) => p);
 */
export async function withRemoteOrStore<B, T>(o: RemoteOpts, remote: (api: ApiClient) => B, local: (s: Store) => B, fn: (b: B) => Promise<T>): Promise<T> {
  const api = remoteClient(o);
  if (api) return fn(remote(api));
  const s = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
  try {
    return await fn(local(s));
  } finally {
    await s.close();
  }
}
