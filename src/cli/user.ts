/**
 * `swnet user connect ID --template T` / `swnet user disconnect ID`: a user's own network,
 * made from a UserNetworkTemplate on connect and removed on disconnect (src/control/users.ts).
 * On the store directly (local mode), or through the API server with `--server URL --token T`
 * (POST /api/v1/users/{id}/connect|disconnect: an admin token, or a tenant token owning the
 * namespace; without -n the server takes the tenant's first namespace, `default` for an admin).
 */
import type { Command } from 'commander';
import { connectUser, disconnectUser, type ConnectResult } from '../control/users.js';
import { openStore } from '../control/store/open.js';
import { remoteClient, remoteOptions, type RemoteOpts } from './remote.js';

interface Opts extends RemoteOpts {
  namespace?: string;
}

interface Ops {
  connect(id: string, template: string): Promise<ConnectResult>;
  disconnect(id: string): Promise<{ namespace: string; disconnected: boolean }>;
}

async function run(o: Opts, fn: (ops: Ops) => Promise<string>): Promise<void> {
  try {
    const api = remoteClient(o);
    if (api) {
      process.stdout.write(await fn({ connect: (id, t) => api.connectUser(id, t, o.namespace), disconnect: (id) => api.disconnectUser(id, o.namespace) }));
      return;
    }
    const s = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
    const ref = (user: string): { user: string; namespace?: string } => ({ user, ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) });
    try {
      process.stdout.write(
        await fn({
          connect: (id, t) => connectUser(s, ref(id), t),
          disconnect: async (id) => ({ namespace: o.namespace ?? 'default', disconnected: await disconnectUser(s, ref(id)) }),
        }),
      );
    } finally {
      await s.close();
    }
  } catch (e) {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}

/**
 * @example
 * register(program); // swnet user connect alice -t home --server http://127.0.0.1:7700 --token T
 */
export function register(program: Command): void {
  const user = program.command('user').description('per-user networks made from templates');
  const common = (c: Command): Command =>
    remoteOptions(
      c
        .option('-n, --namespace <ns>', 'namespace of the template and the user networks (default: default; remote: the token\'s namespace)')
        .option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)')
        .option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT, memory:'),
    );
  common(user.command('connect').description("create the user's network from a template").argument('<id>', 'user id').requiredOption('-t, --template <name>', 'UserNetworkTemplate name')).action(
    async (id: string, o: Opts & { template: string }) =>
      run(o, async (ops) => {
        const r = await ops.connect(id, o.template);
        return `softwarenetwork/${r.name}${r.namespace !== 'default' ? ` -n ${r.namespace}` : ''} ${r.action}\n`;
      }),
  );
  common(user.command('disconnect').description("remove the user's network").argument('<id>', 'user id')).action(async (id: string, o: Opts) =>
    run(o, async (ops) => {
      const r = await ops.disconnect(id);
      return r.disconnected ? `user ${id} disconnected\n` : `user ${id} was not connected\n`;
    }),
  );
}
