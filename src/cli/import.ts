/**
 * `swnet import containerlab FILE.clab.yml`: prints the SoftwareNetwork a containerlab
 * topology becomes (or applies it with --apply). The conversion is
 * src/control/manifest/containerlab.ts.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { apply } from '../control/manifest/apply.js';
import { importContainerlab } from '../control/manifest/containerlab.js';
import { ManifestError, formatIssue } from '../control/manifest/load.js';
import { openStore } from '../control/store/open.js';

export function register(program: Command): void {
  const imp = program.command('import').description('turn other tools\' topologies into swnet manifests');
  imp
    .command('containerlab')
    .description('convert a containerlab topology (*.clab.yml) into a SoftwareNetwork')
    .argument('<file>', 'containerlab topology file')
    .option('-n, --namespace <ns>', 'namespace of the network')
    .option('--name <name>', 'network name (default: the topology name)')
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .option('--apply', 'apply the network instead of printing it')
    .option('--data-dir <dir>', 'data directory of the embedded SQLite store (default ~/.swnet)')
    .option('--store <url>', 'store URL: sqlite:[DIR], etcd://HOST:PORT, memory:')
    .action(async (file: string, o: { namespace?: string; name?: string; output: string; apply?: boolean; dataDir?: string; store?: string }) => {
      try {
        const net = importContainerlab(readFileSync(file, 'utf8'), file, { ...(o.namespace !== undefined ? { namespace: o.namespace } : {}), ...(o.name !== undefined ? { name: o.name } : {}) });
        if (!o.apply) {
          process.stdout.write(o.output === 'json' ? `${JSON.stringify(net, null, 2)}\n` : stringify(net));
          return;
        }
        const store = await openStore({ ...(o.store !== undefined ? { store: o.store } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
        try {
          const r = await apply(store, [{ resource: net }]);
          for (const c of r.changes) process.stdout.write(`${c.kind.toLowerCase()}/${c.name}${c.namespace && c.namespace !== 'default' ? ` -n ${c.namespace}` : ''} ${c.action}\n`);
        } finally {
          await store.close();
        }
      } catch (e) {
        if (e instanceof ManifestError) {
          for (const i of e.issues) process.stderr.write(`${formatIssue(i)}\n`);
          process.stderr.write(`error: ${e.issues.length} problem(s); nothing was imported\n`);
        } else process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      }
    });
}
