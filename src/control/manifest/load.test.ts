import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkReferences, formatIssue, loadManifests, parseManifestText, ManifestError } from './load.js';
import { publishedSchemaText } from './schema.js';
import { publishedSchemaPath } from './gen-schema.js';
import { parseBytes, parseCpu, parseDuration, parseRate } from './quantity.js';
import { GOOD } from './fixtures.js';
import fc from 'fast-check';
import { importContainerlab } from './containerlab.js';


const where = (e: { issues: readonly { line: number; column: number; message: string }[] }): string[] => e.issues.map((i) => `${i.line}:${i.column} ${i.message}`);

describe('manifest parsing and validation', () => {
  it('accepts every kind in one multi-document file, skipping empty documents', () => {
    const { resources, issues } = parseManifestText(GOOD, 'good.yaml');
    assert.deepEqual(issues, []);
    assert.deepEqual(
      resources.map((r) => `${r.resource.kind}/${r.resource.metadata.name}`),
      ['Datacenter/edge-paris', 'Server/s1', 'Server/s2', 'Link/s1-s2', 'SoftwareNetwork/web', 'UserNetworkTemplate/home'],
    );
    const net = resources[4]!;
    assert.deepEqual(net.source?.locate(['spec', 'functions', 1, 'kind']), { file: 'good.yaml', line: 50, column: 13 });
  });

  it('reports every schema error at its file:line:column', () => {
    const text = `apiVersion: swnet.io/v2
kind: Datacenter
metadata:
  name: Bad_Name
spec:
  tier: orbit
  colour: blue
---
apiVersion: swnet.io/v1
kind: Server
metadata: { name: s9 }
spec:
  capacity: { cpu: lots, memory: 1Gi }
  power: { specpower: [1, 2, 3] }
`;
    const { issues } = parseManifestText(text, 'bad.yaml');
    const got = issues.map(formatIssue);
    assert.deepEqual(got.sort(), [
      'bad.yaml:1:13: apiVersion: must be "swnet.io/v1"',
      'bad.yaml:12:1: spec: missing required field "datacenter"',
      'bad.yaml:13:20: spec.capacity.cpu: must match pattern "^[0-9]+(\\.[0-9]+)?m?$"',
      'bad.yaml:14:23: spec.power.specpower: must NOT have fewer than 11 items',
      'bad.yaml:4:9: metadata.name: must match pattern "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"',
      'bad.yaml:6:9: spec.tier: must be one of "central", "regional", "local", "edge", "femto", "mec"',
      'bad.yaml:7:3: spec: unknown field "colour"',
    ].sort());
  });

  it('reports YAML syntax errors with their position', () => {
    const { issues } = parseManifestText('apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata:\n  name: [unclosed\n', 'syn.yaml');
    assert.ok(issues.length >= 1);
    assert.equal(issues[0]!.file, 'syn.yaml');
    assert.ok(issues[0]!.line >= 4, formatIssue(issues[0]!));
    assert.match(issues[0]!.message, /^YAML: /);
    const dupKey = parseManifestText('apiVersion: swnet.io/v1\nkind: Link\nkind: Link\n', 'dup.yaml');
    assert.equal(dupKey.issues[0]!.line, 3);
  });

  it('checks a network semantically: unknown functions and ports, duplicates', () => {
    const text = `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: n }
spec:
  functions:
    - { name: a, kind: xrouter, ports: [p0] }
    - { name: a, kind: xswitch }
    - { name: b, kind: xswitch }
  links:
    - endpoints: ["a:p0", ghost]
    - endpoints: ["a:p9", b]
    - endpoints: ["a:p0", b]
  placement:
    antiAffinity: [[a, nobody]]
`;
    const { issues, resources } = parseManifestText(text, 'n.yaml');
    assert.equal(resources.length, 0);
    assert.deepEqual(where({ issues }), [
      '7:15 spec.functions[1].name: duplicate function name "a"',
      '10:27 spec.links[0].endpoints[1]: no function named "ghost" in this network (functions: a, b)',
      '11:19 spec.links[1].endpoints[0]: function "a" has no port "p9" (ports: p0)',
      '12:19 spec.links[2].endpoints[0]: port "a:p0" is already linked by links[0]',
      '14:24 spec.placement.antiAffinity[0][1]: no function named "nobody" in this network (functions: a, b)',
    ]);
  });

  it('builds registered function kinds from their config: bad config and unknown ports at their position', () => {
    const text = `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: n }
spec:
  functions:
    - name: sw
      kind: switch
      config:
        ports: [{ name: a }, { name: b, colour: red }]
    - name: sw2
      kind: switch
      ports: [a, q]
      config:
        ports: [{ name: a }, { name: b }]
    - { name: r, kind: some-future-kind }
  links:
    - endpoints: ["sw2:a", r]
    - endpoints: ["sw2:z", r]
`;
    const { issues } = parseManifestText(text, 'f.yaml');
    assert.deepEqual(where({ issues }), [
      '9:49 spec.functions[0].config.ports[1].colour: switch config: unknown key (expected one of: name, mode, vlan, allowed, native)',
      '12:18 spec.functions[1].ports[1]: switch "sw2" has no port "q" in its config (ports: a, b)',
      '18:19 spec.links[1].endpoints[0]: function "sw2" has no port "z" (ports: a, b)',
    ]);
  });

  it('checks references to other objects, in the set or known to the store', () => {
    const { resources } = parseManifestText(GOOD.split('---\n').slice(1, 4).join('---\n'), 'refs.yaml');
    assert.equal(resources.length, 3);
    const issues = checkReferences(resources, () => false);
    assert.deepEqual(where({ issues }), [
      '6:15 spec.datacenter: unknown datacenter "edge-paris"',
      '16:15 spec.datacenter: unknown datacenter "edge-paris"',
    ]);
    assert.deepEqual(checkReferences(resources, (k, n) => k === 'Datacenter' && n === 'edge-paris'), []);
  });

  it('loads directories recursively and reports duplicates across files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swnet-manifest-'));
    try {
      mkdirSync(join(dir, 'sub'));
      writeFileSync(join(dir, 'a.yaml'), GOOD);
      writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
      writeFileSync(join(dir, 'sub', 'b.yml'), 'apiVersion: swnet.io/v1\nkind: Server\nmetadata:\n  name: s1\nspec: { datacenter: edge-paris, capacity: { cpu: 1, memory: 1 } }\n');
      await assert.rejects(loadManifests([dir]), (e: unknown) => {
        assert.ok(e instanceof ManifestError);
        assert.equal(e.name, 'ManifestError');
        assert.equal(e.issues.length, 1);
        assert.equal(formatIssue(e.issues[0]!), `${join(dir, 'sub', 'b.yml')}:4:9: duplicate Server s1 (first defined at ${join(dir, 'a.yaml')}:13:9)`);
        return true;
      });
      rmSync(join(dir, 'sub'), { recursive: true });
      assert.equal((await loadManifests([dir])).length, 6);
      await assert.rejects(loadManifests([join(dir, 'missing.yaml')]), /cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('publishes an up-to-date JSON Schema (regenerate: node dist/src/control/manifest/gen-schema.js)', () => {
    assert.equal(readFileSync(publishedSchemaPath(), 'utf8'), publishedSchemaText());
  });

  it('never throws on arbitrary input: every problem becomes an issue', () => {
    const tokens = ['apiVersion: swnet.io/v1\n', 'kind: SoftwareNetwork\n', 'kind: Server\n', 'metadata: { name: a }\n', 'spec:\n', '  functions:\n', '    - { name: a, kind: switch, config: ', '{ ports: [{ name: p }] } }\n', '[', ']', '{', '}', ':', '- ', '---\n', '&x ', '*x ', '!!binary ', '"\\u0000"', '\t', '  ', '\n', 'links: [{ endpoints: [a, "a:p"] }]\n', 'null', '~', '1e999', 'toString: 1\n', '__proto__: { x: 1 }\n', 'constructor: 2\n', 'topology:\n', '  nodes:\n', '  links: x\n', '    a: { kind: bridge }\n', '    b: 5\n', '  links:\n', '    - endpoints: ["a:e1", "b:e1"]\n', '  kinds: { bridge: 3 }\n', '  defaults: [1]\n', 'name: lab\n'];
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 8 })), { maxLength: 30 }), (parts) => {
        const text = parts.join('');
        const r = parseManifestText(text, 'fuzz.yaml');
        for (const i of r.issues) assert.ok(i.line >= 1 && i.column >= 1, formatIssue(i));
        try {
          importContainerlab(text, 'fuzz.clab.yml');
        } catch (e) {
          assert.ok(e instanceof ManifestError, String(e));
        }
      }),
      { numRuns: 800 },
    );
  });

  it('parses quantities', () => {
    assert.equal(parseCpu('500m'), 0.5);
    assert.equal(parseCpu(2), 2);
    assert.equal(parseBytes('1Gi'), 2 ** 30);
    assert.equal(parseBytes('4G'), 4e9);
    assert.equal(parseRate('10Gbps'), 1e10);
    assert.equal(parseRate('100 Mbps'), 1e8);
    assert.equal(parseDuration('250us'), 0.25);
    assert.equal(parseDuration('2s'), 2000);
    assert.throws(() => parseRate('10GB'), RangeError);
  });
});
