/**
 * Opens a store from the URL a user gives (`--store`), defaulting to SQLite in a data
 * directory (`--data-dir`, default ~/.swnet).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { StoreError, type Store } from './contract.js';
import { MemoryStore } from './memory.js';

export interface OpenStoreOptions {
  /** `memory:`, `sqlite:` / `sqlite:DIR`, `etcd://HOST:PORT[,HOST:PORT...]`; default SQLite. */
  readonly store?: string;
  readonly dataDir?: string;
}

export function defaultDataDir(): string {
  return process.env['SWNET_DATA_DIR'] ?? join(homedir(), '.swnet');
}

/**
 * @example
 * const store = await openStore({ store: 'etcd://127.0.0.1:2379' });
 * const local = await openStore({ dataDir: '/tmp/swnet' }); // SQLite
 */
export async function openStore(opts: OpenStoreOptions = {}): Promise<Store> {
  const url = opts.store ?? 'sqlite:';
  if (url === 'memory:' || url === 'memory') return new MemoryStore();
  if (url.startsWith('sqlite:')) {
    const dir = url.slice('sqlite:'.length).replace(/^\/\//, '');
    // Backends load lazily: the etcd client (gRPC) alone costs ~0.3 s of start-up.
    const { SqliteStore } = await import('./sqlite.js');
    return new SqliteStore({ dataDir: dir || opts.dataDir || defaultDataDir() });
  }
  if (url.startsWith('etcd://') || url.startsWith('etcds://')) {
    const tls = url.startsWith('etcds://');
    const hosts = url
      .replace(/^etcds?:\/\//, '')
      .split(',')
      .filter((h) => h !== '')
      .map((h) => `${tls ? 'https' : 'http'}://${h.replace(/\/$/, '')}`);
    if (hosts.length === 0) throw new StoreError(`no etcd host in store URL '${url}'`);
    const { EtcdStore } = await import('./etcd.js');
    const s = new EtcdStore({ hosts });
    try {
      await s.revision();
    } catch (e) {
      await s.close();
      throw new StoreError(`cannot reach etcd at ${hosts.join(', ')}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return s;
  }
  throw new StoreError(`unknown store URL '${url}' (use memory:, sqlite:[DIR] or etcd://HOST:PORT)`);
}
