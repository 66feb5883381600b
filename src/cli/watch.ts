/**
 * `swnet watch [KIND]`: a stream of changes (ADDED / MODIFIED / DELETED), through the API
 * server's watch stream with `--server`, or on the store directly. `--resource-version N`
 * resumes after revision N; a compacted revision is reported as such.
 */
import type { Command } from 'commander';
import { ApiClient, type WatchMessage } from '../control/client.js';
import { readResource } from '../control/manifest/apply.js';
import { KIND_NAMES } from '../control/manifest/schema.js';
import { kindPrefix, resolveKind } from '../control/manifest/types.js';
import { parseKey } from '../control/placement.js';
import { openStore } from '../control/store/open.js';
import { remoteClient, remoteOptions, type RemoteOpts } from './remote.js';

function line(m: WatchMessage, output: string): string {
  if (output === 'json') return JSON.stringify(m);
  const o = m.object as { kind?: string; metadata?: { name?: string; namespace?: string; generation?: number }; reason?: string; message?: string; server?: string; function?: string; network?: string; namespace?: string };
  const what =
    o.kind === 'Event'
      ? `event/${o.metadata?.name ?? '?'} -n ${o.metadata?.namespace ?? '?'}${o.reason ? ` ${o.reason}: ${o.message ?? ''}` : ''}`
      : o.kind === 'Placement'
        ? `placement/${o.network ?? '?'}/${o.function ?? '?'} -n ${o.namespace ?? '?'}${o.server ? ` on ${o.server}` : ''}`
        : `${(o.kind ?? '?').toLowerCase()}/${o.metadata?.name ?? '?'}${o.metadata?.namespace ? ` -n ${o.metadata.namespace}` : ''}${o.metadata?.generation !== undefined ? ` generation ${o.metadata.generation}` : ''}`;
  return `${String(m.revision ?? '-').padEnd(8)} ${m.type.padEnd(9)} ${what}`;
}

export function register(program: Command): void {
  remoteOptions(
    program
      .command('watch')
      .description(`stream changes as they happen (${KIND_NAMES.join(', ')}, event, placement; all when omitted) until interrupted`)
      .argument('[kind]', 'only this kind')
      .option('-n, --namespace <ns>', 'only this namespace')
      .option('--resource-version <n>', 'resume after this revision (replays later changes first)')
      .option('-o, --output <format>', 'text or json (one message a line)', 'text')
      .option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)')
      .option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT[,HOST:PORT], memory:'),
  ).action(async (kindArg: string | undefined, o: RemoteOpts & { namespace?: string; resourceVersion?: string; output: string }) => {
    try {
      const rv = o.resourceVersion !== undefined ? Number(o.resourceVersion) : undefined;
      if (rv !== undefined && !(Number.isInteger(rv) && rv >= 0)) throw new Error(`--resource-version takes a revision number (got '${o.resourceVersion}')`);
      const print = (m: WatchMessage): void => void process.stdout.write(`${line(m, o.output)}\n`);
      const api: ApiClient | undefined = remoteClient(o);
      if (api) {
        const h = api.watch({ ...(rv !== undefined ? { resourceVersion: rv } : {}), ...(kindArg !== undefined ? { kind: kindArg } : {}), ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) }, print);
        process.once('SIGINT', () => h.close());
        await h.opened;
        const err = await h.closed;
        if (err) throw err;
        return;
      }
      const l = kindArg?.toLowerCase();
      const special = l === 'event' || l === 'events' ? '/swnet/event/' : l === 'placement' || l === 'placements' ? '/swnet/placement/' : l === 'migration' || l === 'migrations' ? '/swnet/migration/' : undefined;
      const kind = kindArg !== undefined && !special ? resolveKind(kindArg) : undefined;
      if (kindArg !== undefined && !special && !kind) throw new Error(`unknown kind '${kindArg}' (kinds: ${KIND_NAMES.join(', ')}, event, placement, migration)`);
      const store = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
      await new Promise<void>((resolve, reject) => {
        // Store backends poll on unref'd timers; this keeps the command alive until interrupted.
        const alive = setInterval(() => undefined, 1 << 30);
        const stop = (e?: Error): void => {
          clearInterval(alive);
          const closed = w.then((x) => x.cancel()).then(() => store.close());
          // Bounded: a backend whose cancel waits on a poll still lets the command end.
          void Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]).finally(() => (e ? reject(e) : resolve()));
        };
        const w = store.watch(special ?? (kind ? kindPrefix(kind) : '/swnet/'), { ...(rv !== undefined ? { fromRevision: rv + 1 } : {}), onError: (e) => stop(e) }, (evs) => {
          for (const e of evs) {
            const ref = parseKey(e.key);
            if (!ref || (o.namespace !== undefined && ref.namespace !== o.namespace)) continue;
            const object = e.kv ? (ref.type === 'resource' ? readResource(e.kv) : e.kv.value) : { kind: ref.type === 'resource' ? ref.kind : ref.type === 'event' ? 'Event' : ref.type === 'migration' ? 'Migration' : 'Placement', metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } };
            print({ type: e.type === 'delete' ? 'DELETED' : e.kv?.version === 1 ? 'ADDED' : 'MODIFIED', revision: e.revision, key: e.key, object: object as unknown as Record<string, unknown> });
          }
        });
        w.catch((e: unknown) => {
          clearInterval(alive);
          void store.close();
          reject(e instanceof Error ? e : new Error(String(e)));
        });
        process.once('SIGINT', () => stop());
      });
    } catch (e) {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  });
}
