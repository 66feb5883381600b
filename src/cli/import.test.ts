import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

describe('swnet import containerlab', () => {
  it('prints the network, or every problem at file:line:column with exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-clab-'));
    try {
      const good = join(dir, 'lab.clab.yml');
      writeFileSync(good, 'name: lab\ntopology:\n  nodes:\n    a: { kind: bridge }\n    b: { kind: bridge }\n  links:\n    - endpoints: ["a:e1", "b:e1"]\n');
      const r = spawnSync(process.execPath, [MAIN, 'import', 'containerlab', good, '-n', 'labs'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const net = parse(r.stdout) as { kind: string; metadata: { name: string; namespace: string }; spec: { links: { endpoints: string[] }[] } };
      assert.equal(net.kind, 'SoftwareNetwork');
      assert.deepEqual(net.metadata.namespace, 'labs');
      assert.deepEqual(net.spec.links[0]?.endpoints, ['a:e1', 'b:e1']);
      const bad = join(dir, 'bad.clab.yml');
      writeFileSync(bad, 'name: lab\ntopology:\n  nodes:\n    a: { kind: cisco_iol }\n');
      const b = spawnSync(process.execPath, [MAIN, 'import', 'containerlab', bad], { encoding: 'utf8' });
      assert.equal(b.status, 1);
      assert.match(b.stderr, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4:16: containerlab kind "cisco_iol" has no swnet equivalent`, 'm'));
      assert.equal(b.stdout, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
