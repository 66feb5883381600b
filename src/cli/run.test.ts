import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTopology, TopologyError } from '../host/topology.js';

const main = new URL('./main.js', import.meta.url).pathname;
const example = new URL('../../../examples/three-networks.yaml', import.meta.url).pathname;

function swnet(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function hasTshark(): boolean {
  return spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;
}

test('swnet run three-networks: sane figures per network, and --capture writes a file tshark reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-run-'));
  try {
    const cap = join(dir, 'voip.pcap');
    const r = swnet(['run', example, '--duration', '2s', '--capture', `voip-core=${cap}`, '--json']);
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(r.out) as { seconds: number; networks: { network: string; sentPackets: number; receivedPackets: number; lossPercent: number; throughputMbps: number; p50Ms: number; p99Ms: number }[]; servers: { server: string; energy: { joules: number; watts: number } }[] };
    assert.ok(rep.seconds >= 1.9 && rep.seconds < 3);
    assert.deepEqual(rep.networks.map((n) => n.network), ['voip', 'iptv', 'secure']);
    // Offered loads: 8 calls × 50 packets/s; 3 channels × 8 Mbit/s (≈ 760 packets/s each); 2 × 500 packets/s.
    const expectPps = { voip: 400, iptv: 3 * 760, secure: 1000 } as Record<string, number>;
    for (const n of rep.networks) {
      const want = (expectPps[n.network] as number) * rep.seconds;
      assert.ok(n.sentPackets > 0.8 * want && n.sentPackets < 1.2 * want, `${n.network}: sent ${n.sentPackets}, expected about ${want}`);
      assert.ok(n.lossPercent < 2, `${n.network}: loss ${n.lossPercent} %`);
      assert.ok(n.p50Ms > 1 && n.p50Ms < 200, `${n.network}: p50 ${n.p50Ms} ms (the core link alone adds 1 ms)`);
      assert.ok(n.p99Ms >= n.p50Ms && n.p99Ms < 1000);
    }
    const iptv = rep.networks.find((n) => n.network === 'iptv');
    assert.ok(iptv && iptv.throughputMbps > 20 && iptv.throughputMbps < 28, `iptv ${iptv?.throughputMbps} Mbit/s, 3 channels of 8 Mbit/s payload`);
    for (const s of rep.servers) assert.ok(s.energy.joules > 50 * rep.seconds && s.energy.watts > 80, `${s.server}: ${s.energy.joules} J`);
    if (hasTshark()) {
      const t = spawnSync('tshark', ['-n', '-r', cap, '-T', 'fields', '-e', 'udp.dstport', '-e', 'ip.ttl'], { encoding: 'utf8' });
      assert.equal(t.status, 0, t.stderr);
      const rows = t.stdout.split('\n').filter((l) => l.length > 0);
      const voip = rep.networks[0];
      assert.equal(rows.length, voip?.receivedPackets, 'every voip frame crossed the captured wire once');
      for (const row of rows) assert.match(row, /^50\d\d\t63$/, 'a VoIP frame routed once (TTL 63) on the core wire');
      const bad = spawnSync('tshark', ['-n', '-r', cap, '-Y', '_ws.malformed || _ws.expert.severity >= error'], { encoding: 'utf8' });
      assert.equal(bad.stdout.trim(), '');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bad topology is reported with file:line:column', () => {
  const cases: [string, number, number, RegExp][] = [
    ['servers:\n  - { name: s1, colour: red }\nnetworks: []\n', 2, 17, /unknown key 'colour'/],
    ['servers:\n  - { name: s1 }\nnetworks:\n  - name: a\n    functions:\n      - { name: r, kind: nosuch, server: s1 }\n', 6, 26, /unknown function kind 'nosuch'/],
    ['servers:\n  - { name: s1 }\nnetworks:\n  - name: a\n    functions:\n      - { name: r, kind: switch, server: s9 }\n', 6, 42, /no server 's9'/],
    ['servers:\n  - { name: s1 }\nnetworks:\n  - name: a\n    functions:\n      - name: sw\n        kind: switch\n        server: s1\n        config:\n          ports:\n            - { name: p1 }\n            - { name: p2, mode: sideways }\n', 12, 33, /mode/],
    ['servers:\n  - { name: s1 }\nnetworks:\n  - name: a\n    functions:\n      - { name: sw, kind: switch, server: s1, config: { ports: [{ name: p1 }, { name: p2 }] } }\n    wires:\n      - { a: sw.p1, b: sw.p7 }\n', 8, 24, /has no port 'p7'/],
    ['servers:\n  - { name: s1 }\nnetworks:\n  - name: a\n    wires:\n      - { a: x.p1, b: [oops }\n', 6, 29, /YAML/],
  ];
  for (const [text, line, col, re] of cases) {
    try {
      loadTopology(text, 'topo.yaml');
      assert.fail(`accepted: ${text}`);
    } catch (e) {
      assert.ok(e instanceof TopologyError, String(e));
      assert.match(e.message, re);
      assert.equal(`${e.file}:${e.line}:${e.column}`, `topo.yaml:${line}:${col}`, e.message);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'swnet-run-'));
  try {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, cases[2]?.[0] ?? "");
    const r = swnet(['run', f, '--duration', '1s']);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6:42: no server 's9'`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
