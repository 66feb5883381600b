import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { parseManifestText } from './load.js';
import { GOOD } from './fixtures.js';

/** Each document of the fixture as one JSON text, pretty (several lines) or on one line. */
const docs = parseAllDocuments(GOOD)
  .filter((d) => !Array.isArray(d) && d.contents !== null)
  .map((d) => (d as { toJS(): unknown }).toJS());

describe('manifest parsing: a JSON object (the fast path)', () => {
  it('gives the resources the YAML path gives, for pretty and one-line JSON', () => {
    for (const v of docs) {
      const yaml = parseManifestText(JSON.stringify(v), 'x.yaml');
      for (const text of [JSON.stringify(v), `\n  ${JSON.stringify(v, null, 2)}\n`]) {
        const got = parseManifestText(text, 'x.json');
        assert.deepEqual(got.issues, []);
        assert.deepEqual(got.resources.map((r) => r.resource), yaml.resources.map((r) => r.resource));
      }
    }
  });

  it('reports problems at the file:line:column the YAML path reports (positions found on demand)', () => {
    const net = docs.find((d) => (d as { kind: string }).kind === 'SoftwareNetwork') as { spec: { functions: { kind: string }[] } };
    const bad = structuredClone(net);
    (bad.spec.functions[1] as { kind: string; colour?: string }).colour = 'blue';
    (bad as unknown as { metadata: { name: string } }).metadata.name = 'Bad_Name';
    const text = JSON.stringify(bad, null, 2);
    const got = parseManifestText(text, 'bad.json');
    assert.ok(got.issues.length >= 2, JSON.stringify(got.issues));
    assert.deepEqual(got.resources, []);
    // The YAML path on the same text (a leading comment line keeps it off the fast path) reports
    // the same issues, one line lower.
    const slow = parseManifestText(`# yaml\n${text}`, 'bad.json');
    assert.deepEqual(got.issues.map((i) => ({ ...i, line: i.line + 1 })), slow.issues);
    const colour = got.issues.find((i) => i.message.includes('colour'));
    assert.ok(colour && text.split('\n')[colour.line - 1]?.includes('"colour"'), JSON.stringify(colour));
  });

  it('a key twice in one object is the YAML error, as before; a repeated key in sibling objects is fine', () => {
    const dup = '{"apiVersion":"swnet.io/v1","kind":"Datacenter","kind":"Server","metadata":{"name":"a"},"spec":{"tier":"edge"}}';
    const r = parseManifestText(dup, 'dup.json');
    assert.equal(r.resources.length, 0);
    assert.match(r.issues[0]?.message ?? '', /YAML: .*unique/i);
    // An escaped spelling of the same key is the same key.
    const esc = parseManifestText('{"apiVersion":"swnet.io/v1","kind":"Datacenter","\\u006bind":"Server","metadata":{"name":"a"},"spec":{"tier":"edge"}}', 'esc.json');
    assert.match(esc.issues[0]?.message ?? '', /YAML: .*unique/i);
    const ok = parseManifestText('{"apiVersion":"swnet.io/v1","kind":"Datacenter","metadata":{"name":"a","annotations":{"name":"x","k":"a:b \\"c\\": {d} [e]"}},"spec":{"tier":"edge"}}', 'ok.json');
    assert.deepEqual(ok.issues, []);
    assert.equal(ok.resources.length, 1);
  });
});
