/**
 * Many machines, for real: three network namespaces (the servers) joined by veths to a bridge
 * in the root namespace, etcd listening on the bridge's address, `swnet controller` as a
 * process, one `swnet agent` process per namespace (`ip netns exec`). A software network of
 * three routers, one per server (anti-affinity), carries a ping (ICMP echo, traffic-source
 * `ping` flow) from r1's side to r3's address and the replies back to a sink: every hop between
 * servers is VXLAN over the veths. A kernel host in a fifth namespace pings r3's LAN address
 * with the real `ping`: its vxlan device is joined to r1's eth3 (annotation
 * `swnet.io/vxlan.r1.eth3`), the echo crosses r1, r2, r3 on three servers. A fourth server is
 * spare. Then r2's agent is killed (SIGKILL): its lease expires, r2 is placed on another server (the Rescheduled event says why) and the
 * replies flow again. Then an agent is stopped with SIGTERM: its lease is revoked, the server
 * goes NotReady at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bridge, canUseNetns, have, joinBridge, sh, waitExit } from '../testkit/netns.js';
import { startEtcd, type EtcdProcess } from '../control/store/etcd-process.js';
import { openStore } from '../control/store/open.js';
import { apply } from '../control/manifest/apply.js';
import { parseManifestText } from '../control/manifest/load.js';
import { resourceKey } from '../control/manifest/types.js';
import { listEvents } from '../control/events.js';
import type { Store } from '../control/store/contract.js';
import { trafficReceived, until as untilShared } from './agent-testing.js';
import { infraManifest, placements } from './agent-bed.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const ok = canUseNetns() && have('etcd');

const mac = (a: number, b: number): string => `02:0a:00:00:${a.toString(16).padStart(2, '0')}:${b.toString(16).padStart(2, '0')}`;

function manifest(client: string): string {
  return [
    infraManifest(['s1', 's2', 's3', 's4'], { datacenter: 'lab', cpu: 4, memory: '8Gi' }),
    `apiVersion: swnet.io/v1
kind: SoftwareNetwork
metadata:
  name: span
  namespace: default
  annotations: { swnet.io/vxlan.r1.eth3: '1000@${client}:4789' }
spec:
  functions:
    - name: pinger
      kind: traffic-source
      config:
        flows: [{ kind: ping, srcMac: '${mac(0, 10)}', dstMac: '${mac(1, 0)}', src: 10.1.3.10, dst: 10.1.2.1, intervalMs: 20 }]
    - name: r1
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(1, 0)}', addresses: [10.1.1.1/24] }
          - { name: eth1, mac: '${mac(1, 1)}', addresses: [10.1.0.1/30] }
          - { name: eth2, mac: '${mac(1, 2)}', addresses: [10.1.3.1/24] }
          - { name: eth3, mac: '${mac(1, 3)}', addresses: [10.1.5.1/24] }
        neighbors: [{ interface: eth2, address: 10.1.3.10, mac: '${mac(0, 20)}' }]
    - name: r2
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(2, 0)}', addresses: [10.1.0.2/30] }
          - { name: eth1, mac: '${mac(2, 1)}', addresses: [10.1.4.1/30] }
    - name: r3
      kind: router
      config:
        interfaces:
          - { name: eth0, mac: '${mac(3, 0)}', addresses: [10.1.4.2/30] }
          - { name: lan, mac: '${mac(3, 1)}', addresses: [10.1.2.1/24] }
    - { name: replies, kind: traffic-sink }
  links:
    - { endpoints: ['pinger:out', 'r1:eth0'] }
    - { endpoints: ['r1:eth2', 'replies:in'] }
    - { endpoints: ['r1:eth1', 'r2:eth0'] }
    - { endpoints: ['r2:eth1', 'r3:eth0'] }
  placement:
    antiAffinity: [[r1, r2, r3]]
`,
  ].join('---\n');
}

// Processes and namespaces start slower than the embedded test's agents: longer default, slower poll.
const until = <T>(what: string, f: () => Promise<T | undefined>, ms = 20000): Promise<T> => untilShared(what, f, ms, 200);
const received = (store: Store, servers: readonly string[]): Promise<number> => trafficReceived(store, servers, 'replies');

test('namespaces, etcd, one swnet agent per namespace: a ping crosses a network spanning three servers over VXLAN; kill -9 an agent and it crosses again', { skip: ok ? false : 'needs root, ip netns and etcd' }, async () => {
  const id = `swa${process.pid % 100000}`;
  const br = `${id}b`;
  const net = `172.31.${process.pid % 250}`;
  const ns = [1, 2, 3, 4].map((i) => `${id}n${i}`);
  const client = `${id}c`;
  let etcd: EtcdProcess | undefined;
  let store: Store | undefined;
  let ctl: ChildProcess | undefined;
  let ctlLog = '';
  const agents: ChildProcess[] = [];
  const logs: string[] = ['', '', '', ''];
  try {
    bridge(br, `${net}.254/24`);
    ns.forEach((n, i) => joinBridge(br, n, `${id}r${i + 1}`, `${net}.${i + 1}/24`));
    // A kernel host on the bridge, its vx0 (VNI 1000) joined to r1's eth3 by the annotation.
    joinBridge(br, client, `${id}rc`, `${net}.10/24`);
    etcd = await startEtcd({ host: `${net}.254` });
    const storeUrl = etcd.url.replace(/^http:\/\//, 'etcd://');
    store = await openStore({ store: storeUrl });
    // The control plane as its own process too (`swnet controller` on the etcd store).
    ctl = spawn(process.execPath, [MAIN, 'controller', '--store', storeUrl, '--listen', '127.0.0.1:0'], { env: { ...process.env, SWNET_ADMIN_TOKEN: 'agent-kernel-test-token' }, stdio: ['ignore', 'pipe', 'pipe'] });
    ctl.stdout?.on('data', (d: Buffer) => (ctlLog += d.toString()));
    ctl.stderr?.on('data', (d: Buffer) => (ctlLog += d.toString()));
    await until('swnet controller up', async () => (/API on http/.test(ctlLog) ? true : undefined), 15000);
    const { resources, issues } = parseManifestText(manifest(`${net}.10`), 'span.yaml');
    assert.deepEqual(issues, []);
    await apply(store, resources);
    ns.forEach((n, i) => {
      const c = spawn('ip', ['netns', 'exec', n, process.execPath, MAIN, 'agent', '--server', `s${i + 1}`, '--store', storeUrl, '--vxlan-listen', `${net}.${i + 1}:4789`, '--ttl', '3', '--status-interval', '300'], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout?.on('data', (d: Buffer) => (logs[i] += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (logs[i] += d.toString()));
      agents.push(c);
    });
    const s = store;
    const placed = await until('5 placements', async () => {
      const p = await placements(s);
      return p.size === 5 ? p : undefined;
    });
    assert.equal(new Set(['r1', 'r2', 'r3'].map((f) => placed.get(f))).size, 3, 'one router per server');
    // Echo replies from r3 back at the sink beside r1: two VXLAN crossings each way.
    // A real ping from the kernel host to r3's LAN address: r1 (VXLAN from the kernel), r2, r3 on three servers.
    const r1at = Number((placed.get('r1') as string).slice(1));
    sh(['ip', '-n', client, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '1000', 'local', `${net}.10`, 'remote', `${net}.${r1at}`, 'dstport', '4789']);
    sh(['ip', '-n', client, 'addr', 'add', '10.1.5.10/24', 'dev', 'vx0']);
    sh(['ip', '-n', client, 'link', 'set', 'vx0', 'up']);
    sh(['ip', '-n', client, 'route', 'add', '10.1.0.0/16', 'via', '10.1.5.1']);
    const ping = await until('kernel ping through three servers', async () => {
      const r = spawnSync('ip', ['netns', 'exec', client, 'ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', '10.1.2.1'], { encoding: 'utf8' });
      // The first echoes may wait for ARP on every hop; then all three must come back.
      return /3 packets transmitted, 3 received/.test(r.stdout) ? r.stdout : undefined;
    }, 20000).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${logs.join('\n---\n')}\n--- controller\n${ctlLog}`);
    });
    assert.match(ping, /3 packets transmitted, 3 received/);
    const ttl = /ttl=(\d+)/.exec(ping);
    assert.equal(Number(ttl?.[1]), 62, 'r3 answers with TTL 64, r2 and r1 decrement it');

    const all = ['s1', 's2', 's3', 's4'];
    await until('echo replies at the sink', async () => ((await received(s, all)) >= 20 ? true : undefined), 30000).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${logs.join('\n---\n')}\n--- controller\n${ctlLog}`);
    });

    // kill -9 r2's agent: nothing revokes its lease; it expires (TTL 3 s) and r2 moves.
    const dead = placed.get('r2') as string;
    const d = Number(dead.slice(1)) - 1;
    (agents[d] as ChildProcess).kill('SIGKILL');
    await waitExit(agents[d] as ChildProcess);
    const alive = all.filter((x) => x !== dead);
    const moved = await until('r2 placed again', async () => {
      const m = await placements(s);
      return m.size === 5 && [...m.values()].every((x) => x !== dead) ? m : undefined;
    }, 20000);
    assert.equal(new Set(['r1', 'r2', 'r3'].map((f) => moved.get(f))).size, 3);
    const base = moved.get('replies') === placed.get('replies') ? await received(s, alive) : 0;
    await until('replies again', async () => ((await received(s, alive)) >= base + 20 ? true : undefined), 30000).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${logs.join('\n---\n')}\n--- controller\n${ctlLog}`);
    });
    const evs = await listEvents(s, { involved: { kind: 'SoftwareNetwork', name: 'span', namespace: 'default' } });
    assert.ok(evs.some((e) => e.reason === 'Rescheduled' && e.message.includes(`server ${dead} is not ready`)), evs.map((e) => `${e.reason}: ${e.message}`).join('\n'));

    // SIGTERM: a clean stop revokes the lease; the server is NotReady within a second or two.
    const victim = moved.get('r2') as string;
    const k = Number(victim.slice(1)) - 1;
    (agents[k] as ChildProcess).kill('SIGTERM');
    assert.equal(await waitExit(agents[k] as ChildProcess), 0);
    assert.match(logs[k] as string, /swnet agent: stopped/);
    await until('victim NotReady', async () => {
      const v = (await s.get(resourceKey('Server', victim)))?.value as { status?: { conditions?: { type: string; status: string }[] } };
      return v.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'False') ? true : undefined;
    }, 5000);
  } finally {
    for (const c of agents) if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await waitExit(c);
    }
    if (ctl && ctl.exitCode === null && ctl.signalCode === null) {
      ctl.kill('SIGTERM');
      await waitExit(ctl);
    }
    await store?.close();
    await etcd?.stop();
    for (const n of [...ns, client]) sh(['ip', 'netns', 'del', n], { allowFail: true });
    sh(['ip', 'link', 'del', br], { allowFail: true });
  }
});
