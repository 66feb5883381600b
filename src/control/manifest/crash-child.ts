/**
 * Child process of the kill -9 reliability test: performs N applies through the real apply
 * path, each a multi-object set (a Datacenter, three Servers in it and a SoftwareNetwork
 * placed there, all in one transaction), and prints `ack <i>` once apply(i) has returned.
 *
 * `node crash-child.js --store URL --count N`
 */
import { fileURLToPath } from 'node:url';
import { openStore } from '../store/open.js';
import { apply } from './apply.js';
import { parseManifestText } from './load.js';

export const CRASH_OBJECTS_PER_APPLY = 5;

/** The manifest of apply number i. */
export function crashManifest(i: number): string {
  const dc = `crash-${i}`;
  const servers = [0, 1, 2].map(
    (j) => `---
apiVersion: swnet.io/v1
kind: Server
metadata: { name: ${dc}-s${j} }
spec: { datacenter: ${dc}, capacity: { cpu: 8, memory: 16Gi } }
`,
  );
  return `apiVersion: swnet.io/v1
kind: Datacenter
metadata: { name: ${dc} }
spec: { tier: edge }
${servers.join('')}---
apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: ${dc}, namespace: crash }
spec:
  functions:
    - { name: a, kind: switch, config: { ports: [{ name: p0 }, { name: p1 }] } }
    - { name: b, kind: switch, config: { ports: [{ name: p0 }, { name: p1 }] } }
  links: [{ endpoints: ["a:p0", "b:p0"] }]
  placement: { datacenter: [${dc}] }
`;
}

async function main(): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const store = await openStore({ store: arg('--store') ?? 'memory:' });
  const count = Number(arg('--count') ?? '1000');
  for (let i = 0; i < count; i++) {
    const { resources, issues } = parseManifestText(crashManifest(i), `apply-${i}.yaml`);
    if (issues.length > 0) throw new Error(issues.map((x) => x.message).join('\n'));
    await apply(store, resources);
    // Pipes are synchronous on Linux: once write returns, the line survives our death.
    process.stdout.write(`ack ${i}\n`);
  }
  await store.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
}
