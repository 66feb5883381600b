// `replicas` of a SoftwareNetwork function (horizontal elasticity): schema bounds and the semantic
// check that the kind can move its flows' state between instances.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifestText } from './load.js';

const net = (fn: string): string => `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata: { name: n, namespace: default }
spec:
  functions:
${fn}
`;
const FW = `    - name: fw
      kind: firewall
      replicas: REPL
      config: { interfaces: [{ name: lan }, { name: wan }], defaultPolicy: deny }`;

test('replicas: firewall, dpi, partitioned nat and dsr load balancer accept it; 0 and 17 are out of bounds', () => {
  assert.deepEqual(parseManifestText(net(FW.replace('REPL', '4')), 'a.yaml').issues, []);
  assert.deepEqual(parseManifestText(net(`    - { name: nat, kind: nat, replicas: 3, config: { snat: { addresses: [203.0.113.1] }, partitioned: true } }`), 'a.yaml').issues, []);
  for (const n of ['0', '17', '2.5']) {
    const { issues } = parseManifestText(net(FW.replace('REPL', n)), 'a.yaml');
    assert.equal(issues.length, 1, `${n}: ${JSON.stringify(issues)}`);
    assert.match(issues[0]?.message ?? '', /replicas/);
  }
});

test('replicas: a kind whose flows cannot move, a NAT without partitioned: true and a nat-mode load balancer are refused at the replicas line', () => {
  const r = parseManifestText(net(`    - name: r1
      kind: router
      replicas: 2
      config: { interfaces: [{ name: eth0, mac: '02:00:00:00:00:01', addresses: [10.0.0.1/24] }] }`), 'r.yaml');
  assert.equal(r.issues.length, 1);
  assert.equal(r.issues[0]?.line, 8);
  assert.match(r.issues[0]?.message ?? '', /router "r1" cannot run several replicas.*firewall/);
  const n = parseManifestText(net(`    - { name: nat, kind: nat, replicas: 2, config: { snat: { addresses: [203.0.113.1] } } }`), 'n.yaml');
  assert.match(n.issues[0]?.message ?? '', /partitioned: true/);
  const lb = parseManifestText(
    net(`    - name: lb
      kind: loadbalancer
      replicas: 2
      config: { mac: '02:00:00:00:0a:01', vip: 192.0.2.10, vipPorts: [80], mode: nat, backends: [{ mac: '02:00:00:00:0b:01', ip: 10.0.0.11 }] }`),
    'lb.yaml',
  );
  assert.ok(lb.issues.some((i) => /dsr mode only/.test(i.message)), JSON.stringify(lb.issues));
});
