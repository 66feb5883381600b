// The switch forwards as the Linux bridge does. Three hosts h1, h2, h3 on veth pairs to a bridge
// in its own namespace (this kernel's bridge has no VLAN filtering, so all ports are access ports
// of one VLAN; tagging is covered by the golden tests). STP, multicast snooping and IPv6 are off
// (no frames the bridge or the hosts would send on their own timers); offloads are off so that the
// captures hold the frames as they are on the wire.
// Traffic: pings between every pair, so ARP requests are flooded, replies and echoes go to one
// learned port. tcpdump captures each bridge port in both directions
// apart (-Q in / -Q out); the frames that arrived are replayed with `swnet replay` through our
// switch configured like the bridge, and what it sends on each port must equal what the bridge
// sent, frame by frame, byte for byte. Needs root; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canUseNetns, have, sh, waitExit, waitForOutput } from '../testkit/netns.js';
import { openCapture } from '../packet/capfile.js';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

function frames(file: string): string[] {
  const r = openCapture(file);
  const out: string[] = [];
  for (const rec of r) out.push(Buffer.from(rec.data).toString('hex'));
  r.close();
  return out;
}

async function tcpdump(ns: string, dev: string, dir: 'in' | 'out', file: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-n', '-U', '--immediate-mode', '-Q', dir, '-i', dev, '--time-stamp-precision=nano', '-w', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(child, /listening on/);
  return child;
}

const SKIP = !canUseNetns() || !have('tcpdump') || !have('ethtool') ? 'needs root, ip, tcpdump and ethtool' : false;

test('switch: replay of the Linux bridge\'s ingress gives its egress byte for byte (learning, flooding, filtering)', { skip: SKIP, timeout: 60_000 }, async () => {
  const id = `sws${process.pid % 100000}`;
  const ns = { h1: `${id}h1`, h2: `${id}h2`, h3: `${id}h3`, br: `${id}br` };
  const mac = { h1: '02:00:00:00:0a:01', h2: '02:00:00:00:0a:02', h3: '02:00:00:00:0a:03' };
  const dir = mkdtempSync(join(tmpdir(), 'sws-'));
  const ip = (n: string, ...a: string[]): string => sh(['ip', '-n', n, ...a]);
  const inNs = (n: string, argv: string[], allowFail = false): string => sh(['ip', 'netns', 'exec', n, ...argv], { allowFail, timeoutMs: 15_000 });
  const caps: ChildProcess[] = [];
  try {
    for (const n of Object.values(ns)) {
      sh(['ip', 'netns', 'add', n]);
      for (const k of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']) inNs(n, ['sysctl', '-qw', k]);
    }
    const hosts = [['h1', 'p1'], ['h2', 'p2'], ['h3', 'p3']] as const;
    for (const [h, p] of hosts) ip(ns[h], 'link', 'add', 'eth0', 'address', mac[h], 'type', 'veth', 'peer', 'name', p, 'netns', ns.br);
    ip(ns.br, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0');
    for (const [h, p] of hosts) {
      for (const [n, dev] of [[ns[h], 'eth0'], [ns.br, p]] as const) {
        for (const feat of ['tx', 'rx', 'tso', 'gso', 'gro', 'sg']) inNs(n, ['ethtool', '-K', dev, feat, 'off'], true);
      }
      ip(ns.br, 'link', 'set', p, 'master', 'br0');
      ip(ns.br, 'link', 'set', p, 'up');
      ip(ns[h], 'link', 'set', 'eth0', 'up');
    }
    ip(ns.br, 'link', 'set', 'br0', 'up');
    ip(ns.h1, 'addr', 'add', '10.10.0.1/24', 'dev', 'eth0');
    ip(ns.h2, 'addr', 'add', '10.10.0.2/24', 'dev', 'eth0');
    ip(ns.h3, 'addr', 'add', '10.10.0.3/24', 'dev', 'eth0');
    await new Promise((r) => setTimeout(r, 300));
    for (const p of ['p1', 'p2', 'p3']) {
      caps.push(await tcpdump(ns.br, p, 'in', join(dir, `in-${p}.pcap`)));
      caps.push(await tcpdump(ns.br, p, 'out', join(dir, `out-${p}.pcap`)));
    }
    inNs(ns.h1, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.10.0.2']);
    inNs(ns.h1, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.10.0.3']);
    inNs(ns.h2, ['ping', '-c', '1', '-W', '1', '10.10.0.3']);
    inNs(ns.h3, ['ping', '-c', '1', '-W', '1', '10.10.0.1']);
    await new Promise((r) => setTimeout(r, 300));
    for (const c of caps) c.kill('SIGINT');
    for (const c of caps) await waitExit(c);
    caps.length = 0;

    writeFileSync(join(dir, 'switch.json'), JSON.stringify({ ports: [{ name: 'p1' }, { name: 'p2' }, { name: 'p3' }] }));
    const args = [MAIN, 'replay', '--function', 'switch', '--config', join(dir, 'switch.json')];
    for (const p of ['p1', 'p2', 'p3']) args.push('--in', `${p}=${join(dir, `in-${p}.pcap`)}`, '--out', `${p}=${join(dir, `ours-${p}.pcap`)}`);
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 0, run.stderr);
    let total = 0;
    for (const p of ['p1', 'p2', 'p3']) {
      const kernel = frames(join(dir, `out-${p}.pcap`));
      const ours = frames(join(dir, `ours-${p}.pcap`));
      total += kernel.length;
      assert.deepEqual(ours, kernel, `port ${p}: ${ours.length} frames (swnet) / ${kernel.length} (kernel)`);
    }
    // Broadcast ARP requests flooded to two ports, unicast to one: the run exercised both paths.
    const bcast = (p: string): number => frames(join(dir, `out-${p}.pcap`)).filter((f) => f.startsWith('ffffffffffff')).length;
    assert.ok(bcast('p2') > 0 && bcast('p3') > 0, 'flooded broadcasts');
    assert.ok(total >= 20, `frames compared: ${total}`);
  } finally {
    for (const c of caps) c.kill('SIGKILL');
    for (const n of Object.values(ns)) sh(['ip', 'netns', 'del', n], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
