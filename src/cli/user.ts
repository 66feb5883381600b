/**
 * `swnet user connect ID --template T` / `swnet user disconnect ID`: a user's own network,
 * made from a UserNetworkTemplate on connect and removed on disconnect (src/control/users.ts).
 */
import type { Command } from 'commander';
import { connectUser, disconnectUser } from '../control/users.js';
import { openStore } from '../control/store/open.js';
import type { Store } from '../control/store/contract.js';

interface Opts {
  namespace?: string;
  dataDir?: string;
  store?: string;
}

async function run(o: Opts, fn: (s: Store) => Promise<string>): Promise<void> {
  try {
    const s = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
    try {
      process.stdout.write(await fn(s));
    } finally {
      await s.close();
    }
  } catch (e) {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}

export function register(program: Command): void {
  const user = program.command('user').description('per-user networks made from templates');
  const common = (c: Command): Command =>
    c
      .option('-n, --namespace <ns>', 'namespace of the template and the user networks', 'default')
      .option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)')
      .option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT, memory:');
  common(user.command('connect').description("create the user's network from a template").argument('<id>', 'user id').requiredOption('-t, --template <name>', 'UserNetworkTemplate name')).action(
    async (id: string, o: Opts & { template: string }) =>
      run(o, async (s) => {
        const r = await connectUser(s, { user: id, ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) }, o.template);
        return `softwarenetwork/${r.name}${r.namespace !== 'default' ? ` -n ${r.namespace}` : ''} ${r.action}\n`;
      }),
  );
  common(user.command('disconnect').description("remove the user's network").argument('<id>', 'user id')).action(async (id: string, o: Opts) =>
    run(o, async (s) => ((await disconnectUser(s, { user: id, ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) })) ? `user ${id} disconnected\n` : `user ${id} was not connected\n`)),
  );
}
