import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { importContainerlab } from './containerlab.js';
import { ManifestError, formatIssue, parseManifestText } from './load.js';
import { apply } from './apply.js';
import { MemoryStore } from '../store/memory.js';

const LAB = `name: Campus_Lab
topology:
  kinds:
    linux: { image: alpine:3 }
  nodes:
    br-core:
      kind: bridge
    BR_Access:
      kind: ovs-bridge
    edge:
      kind: linux
      labels:
        swnet.io/function: switch
        swnet.io/config: '{"ports":[{"name":"eth1"},{"name":"eth2"}]}'
  links:
    - endpoints: ["br-core:e1", "BR_Access:e1"]
    - endpoints: ["edge:eth1", "br-core:e2"]
    - type: veth
      endpoints:
        - { node: edge, interface: eth2 }
        - { node: BR_Access, interface: e2 }
`;

describe('swnet import containerlab', () => {
  it('maps nodes to functions and links to port links, producing a valid manifest', async () => {
    const net = importContainerlab(LAB, 'campus.clab.yml', { namespace: 'labs' });
    assert.equal(net.metadata.name, 'campus-lab');
    assert.equal(net.metadata.namespace, 'labs');
    const fns = net.spec['functions'] as { name: string; kind: string; ports?: string[]; config?: unknown }[];
    assert.deepEqual(fns.map((f) => [f.name, f.kind, f.ports]), [
      ['br-core', 'switch', ['e1', 'e2']],
      ['br-access', 'switch', ['e1', 'e2']],
      ['edge', 'switch', ['eth1', 'eth2']],
    ]);
    assert.deepEqual(fns[0]!.config, { ports: [{ name: 'e1' }, { name: 'e2' }] });
    assert.deepEqual(fns[2]!.config, { ports: [{ name: 'eth1' }, { name: 'eth2' }] });
    assert.deepEqual((net.spec['links'] as { endpoints: string[] }[]).map((l) => l.endpoints), [
      ['br-core:e1', 'br-access:e1'],
      ['edge:eth1', 'br-core:e2'],
      ['edge:eth2', 'br-access:e2'],
    ]);
    const { resources, issues } = parseManifestText(stringify(net), 'imported.yaml');
    assert.deepEqual(issues, []);
    const r = await apply(new MemoryStore(), resources);
    assert.equal(r.changes[0]?.action, 'created');
  });

  it('derives router interfaces (stable MACs) from the links of vendor router nodes', () => {
    const lab = `name: srlceos01
topology:
  nodes:
    srl: { kind: nokia_srlinux, image: ghcr.io/nokia/srlinux }
    ceos: { kind: ceos, image: ceos:4.32 }
    ids: { kind: linux, image: jasonish/suricata }
  links:
    - endpoints: ["srl:e1-1", "ceos:eth1"]
`;
    assert.throws(
      () => importContainerlab(lab, 'l.clab.yml'),
      (e: unknown) => e instanceof ManifestError && e.issues.length === 1 && /^l\.clab\.yml:6:10: node "ids" becomes a dpi, whose configuration cannot be derived/.test(formatIssue(e.issues[0]!)),
    );
    const net = importContainerlab(lab.replace(/ {4}ids:.*\n/, ''), 'l.clab.yml');
    const fns = net.spec['functions'] as { name: string; kind: string; config: { interfaces: { name: string; mac: string }[] } }[];
    assert.deepEqual(fns.map((f) => [f.name, f.kind, f.config.interfaces.map((i) => i.name)]), [
      ['srl', 'router', ['e1-1']],
      ['ceos', 'router', ['eth1']],
    ]);
    const mac = fns[0]!.config.interfaces[0]!.mac;
    assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
    const again = importContainerlab(lab.replace(/ {4}ids:.*\n/, ''), 'l.clab.yml');
    assert.equal((again.spec['functions'] as typeof fns)[0]!.config.interfaces[0]!.mac, mac, 'stable across imports');
    assert.notEqual(fns[1]!.config.interfaces[0]!.mac, mac);
  });

  it('reports what cannot be mapped at file:line:column and produces nothing', () => {
    const bad = `name: bad
topology:
  nodes:
    r1:
      kind: cisco_iol
    h1:
      kind: linux
      image: alpine:3
    sw:
      kind: bridge
  links:
    - endpoints: ["sw:e1", "ghost:e1"]
    - endpoints: ["sw:e2"]
`;
    assert.throws(
      () => importContainerlab(bad, 'bad.clab.yml'),
      (e: unknown) => {
        assert.ok(e instanceof ManifestError);
        const lines = e.issues.map(formatIssue);
        assert.equal(lines.length, 4, lines.join('\n'));
        assert.match(lines[0]!, /^bad\.clab\.yml:5:13: containerlab kind "cisco_iol" has no swnet equivalent/);
        assert.match(lines[1]!, /^bad\.clab\.yml:8:14: linux node "h1" \(image alpine:3\) has no swnet equivalent; label it swnet\.io\/function: <kind> \(available: .*switch/);
        assert.match(lines[2]!, /^bad\.clab\.yml:12:28: no node named "ghost"$/);
        assert.match(lines[3]!, /^bad\.clab\.yml:13:7: a link needs two endpoints "node:interface"$/);
        return true;
      },
    );
    assert.throws(() => importContainerlab('name: x\n', 'x.yml'), /not a containerlab topology/);
    assert.throws(() => importContainerlab('topology: { nodes: { a: { kind: bridge } } }\n  bad: [\n', 'y.yml'), /^Error|YAML|y\.yml/);
  });
});
