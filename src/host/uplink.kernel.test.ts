/**
 * VXLAN interop with the Linux kernel: two namespaces, each with a kernel `vxlan` device whose
 * remote is a swnet uplink address (a veth in the root namespace); a swnet router in a user
 * domain joins the two VNIs. ping, ping -6 and a UDP exchange cross it, and tshark dissects the
 * VXLAN packets swnet sent with no malformed or error items.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capture, canUseNetns, have, sh, trafficArgv, waitForOutput, waitExit } from '../testkit/netns.js';
import { HostServer } from './hostserver.js';
import { VxlanUplink } from './uplink.js';

/** Runs argv without blocking this thread (domain 0 must keep pumping meanwhile). */
function run(argv: string[], timeoutMs = 15_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

const ok = canUseNetns() && have('tshark') && have('tcpdump') && have('ethtool');

test('kernel vxlan ⇄ swnet uplink ⇄ router in a user domain ⇄ swnet uplink ⇄ kernel vxlan', { skip: ok ? false : 'needs root, ip, tshark, tcpdump, ethtool' }, async () => {
  const id = `swu${process.pid % 100000}`;
  const ns = [`${id}a`, `${id}b`];
  const rootIf = [`${id}ra`, `${id}rb`];
  const nsIf = [`${id}na`, `${id}nb`];
  const under = ['10.211.1', '10.211.2'];
  const vnis = [100, 200];
  const inner4 = ['192.168.100', '192.168.200'];
  const inner6 = ['fd00:100:', 'fd00:200:'];
  const dir = mkdtempSync(join(tmpdir(), 'swnet-vxlan-'));
  const h = new HostServer({ name: 'vx', slots: 4096 });
  const caps: Capture[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      sh(['ip', 'netns', 'add', ns[i] as string]);
      sh(['ip', 'netns', 'exec', ns[i] as string, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      sh(['ip', 'link', 'add', rootIf[i] as string, 'type', 'veth', 'peer', 'name', nsIf[i] as string, 'netns', ns[i] as string]);
      sh(['ip', 'addr', 'add', `${under[i]}.1/24`, 'dev', rootIf[i] as string]);
      sh(['ip', 'link', 'set', rootIf[i] as string, 'up']);
      sh(['ip', '-n', ns[i] as string, 'addr', 'add', `${under[i]}.2/24`, 'dev', nsIf[i] as string]);
      sh(['ip', '-n', ns[i] as string, 'link', 'set', nsIf[i] as string, 'up']);
      sh(['ip', '-n', ns[i] as string, 'link', 'set', 'lo', 'up']);
    }
    // Both uplinks on one UDP port (chosen free on the first address), the kernel's dstport.
    const upA = await VxlanUplink.open({ address: `${under[0]}.1`, port: 0 }, h.pool);
    const port = upA.port;
    const upB = await VxlanUplink.open({ address: `${under[1]}.1`, port }, h.pool);
    for (let i = 0; i < 2; i++) {
      const n = ns[i] as string;
      const vx = `${id}x`;
      sh(['ip', '-n', n, 'link', 'add', vx, 'type', 'vxlan', 'id', String(vnis[i]), 'local', `${under[i]}.2`, 'remote', `${under[i]}.1`, 'dstport', String(port), 'dev', nsIf[i] as string, 'udpcsum']);
      sh(['ip', '-n', n, 'addr', 'add', `${inner4[i]}.2/24`, 'dev', vx]);
      sh(['ip', '-n', n, 'addr', 'add', `${inner6[i]}:2/64`, 'dev', vx, 'nodad']);
      sh(['ip', 'netns', 'exec', n, 'ethtool', '-K', vx, 'tx', 'off']);
      sh(['ip', 'netns', 'exec', n, 'ethtool', '-K', nsIf[i] as string, 'tx', 'off']);
      sh(['ip', '-n', n, 'link', 'set', vx, 'up']);
      sh(['ip', '-n', n, 'route', 'add', 'default', 'via', `${inner4[i]}.1`]);
      sh(['ip', '-n', n, '-6', 'route', 'add', 'default', 'via', `${inner6[i]}:1`]);
    }
    const router = {
      interfaces: [
        { name: 'eth0', mac: '02:00:5e:00:01:01', addresses: [`${inner4[0]}.1/24`, `${inner6[0]}:1/64`] },
        { name: 'eth1', mac: '02:00:5e:00:01:02', addresses: [`${inner4[1]}.1/24`, `${inner6[1]}:1/64`] },
      ],
    };
    const { attachments } = await h.addDomain({ name: 'net', contexts: [{ network: 'net', functions: [{ name: 'r', kind: 'router', config: router }], wires: [] }], vnics: [{ context: 0, port: 'r.eth0' }, { context: 0, port: 'r.eth1' }] });
    h.bridge.wire(h.attachUplink(upA, vnis[0] as number, 'net', [{ address: `${under[0]}.2`, port }]), attachments[0] as number);
    h.bridge.wire(h.attachUplink(upB, vnis[1] as number, 'net', [{ address: `${under[1]}.2`, port }]), attachments[1] as number);
    h.start();
    const file = join(dir, 'vxlan.pcap');
    caps.push(await Capture.start(ns[0] as string, nsIf[0] as string, file, 'pcap'));

    const ping = await run(['ip', 'netns', 'exec', ns[0] as string, 'ping', '-c', '3', '-i', '0.2', '-W', '2', `${inner4[1]}.2`]);
    assert.equal(ping.code, 0, ping.out);
    assert.match(ping.out, /3 received/);
    assert.match(ping.out, /ttl=63/, 'the router decremented the TTL');
    const ping6 = await run(['ip', 'netns', 'exec', ns[0] as string, 'ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', `${inner6[1]}:2`]);
    assert.equal(ping6.code, 0, ping6.out);
    assert.match(ping6.out, /3 received/);
    assert.match(ping6.out, /ttl=63/);
    // UDP transfer: 20 datagrams of 1000 bytes, each echoed back by the server in B.
    const srv = spawn('ip', ['netns', 'exec', ns[1] as string, ...trafficArgv('udp-server', `${inner4[1]}.2`, 7001, 20, 1000)], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForOutput(srv, /ready/);
    const cli = await run(['ip', 'netns', 'exec', ns[0] as string, ...trafficArgv('udp-client', `${inner4[1]}.2`, 7001, 20, 1000)]);
    srv.kill('SIGTERM');
    await waitExit(srv);
    assert.equal(cli.code, 0, `UDP transfer failed: ${cli.out}`);
    await (caps.pop() as Capture).stop();

    // tshark: swnet's packets (from the uplink address) are VXLAN with the right VNI, and nothing is malformed.
    const decode = ['-d', `udp.port==${port},vxlan`];
    const rows = sh(['tshark', '-n', '-r', file, ...decode, '-Y', `ip.src == ${under[0]}.1`, '-T', 'fields', '-e', 'vxlan.vni', '-e', 'eth.type']).split('\n').filter((l) => l.length > 0);
    assert.ok(rows.length >= 10, `only ${rows.length} VXLAN packets from swnet captured`);
    for (const r of rows) assert.match(r, /^100\t/, `unexpected VNI in ${r}`);
    const problems = sh(['tshark', '-n', '-r', file, ...decode, '-Y', '_ws.malformed || _ws.expert.severity >= error']).split('\n').filter((l) => l.trim().length > 0);
    assert.deepEqual(problems, []);
    assert.equal(upA.counters().txErrors, 0);
  } finally {
    for (const c of caps) c.kill();
    await h.close();
    for (const n of ns) sh(['ip', 'netns', 'del', n], { allowFail: true });
    for (const r of rootIf) sh(['ip', 'link', 'del', r], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
