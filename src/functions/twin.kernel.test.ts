// The twin of a Linux router. Three network namespaces h1 — r — h2, the kernel routing in r
// (static neighbours, a static route 10.2.0.0/16 via h2, offloads off, IPv6 off so that no
// router solicitation or MLD report is traffic). h1 sends a steady load through r: ping every
// 20 ms and three UDP flows every 10 ms (two to 10.2.0.5, one of 1300-byte datagrams to h2).
// Four tcpdumps (-Q in / -Q out on each of r's interfaces) write pcap streams into FIFOs that
// the twin follows live, in this process, through our streaming reader (one worker per FIFO).
// With no fault the twin must report nothing for two seconds; then each fault is injected, the
// twin must report it within 100 ms of the capture time of the first frame it affected, with
// the expected diagnosis and traffic, and the fault is undone before the next.
// Needs root, ip, tcpdump, nft and ethtool; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, have, sh, waitExit, waitForOutput } from '../testkit/netns.js';
import { createTwin, type DivergenceKind, type TwinDivergence } from './twin.js';
import { LiveFollower } from './lib/twin-follow.js';

const SKIP = !canUseNetns() || !have('tcpdump') || !have('nft') || !have('ethtool') ? 'needs root, ip, tcpdump, nft and ethtool' : false;

const SENDER = `
const s = require('dgram').createSocket('udp4');
const socks = [5000, 5001, 5002].map((p) => { const k = require('dgram').createSocket('udp4'); k.bind(p); return k; });
const small = Buffer.alloc(22, 7), big = Buffer.alloc(1300, 9);
let n = 0;
setInterval(() => {
  n++;
  small.writeUInt32BE(n, 0); big.writeUInt32BE(n, 0);
  socks[0].send(small, 6000, '10.2.0.5');
  socks[1].send(small, 6001, '10.2.0.5');
  socks[2].send(big, 7000, '10.0.2.2');
}, 10);
console.log('ready');
`;
const SINK = `
for (const p of [6000, 6001, 7000]) require('dgram').createSocket('udp4').bind(p);
console.log('ready');
`;

interface Seen { d: TwinDivergence; at: number }

test('twin: follows a Linux router live; silent without fault; reports a deleted route, an nft drop, a lowered MTU and a changed neighbour within 100 ms', { skip: SKIP, timeout: 60_000 }, async (t) => {
  const id = `swtw${process.pid % 100000}`;
  const ns = { h1: `${id}h1`, r: `${id}r`, h2: `${id}h2` };
  const mac = { h1: '02:00:00:00:01:02', r0: '02:00:00:00:01:01', r1: '02:00:00:00:02:01', h2: '02:00:00:00:02:02' };
  const dir = mkdtempSync(join(tmpdir(), 'swtw-'));
  const ip = (n: string, ...a: string[]): string => sh(['ip', '-n', n, ...a]);
  const inNs = (n: string, argv: string[], allowFail = false): string => sh(['ip', 'netns', 'exec', n, ...argv], { allowFail });
  const children: ChildProcess[] = [];
  let follower: LiveFollower | undefined;
  try {
    for (const n of Object.values(ns)) {
      sh(['ip', 'netns', 'add', n]);
      ip(n, 'link', 'set', 'lo', 'up');
      for (const k of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) inNs(n, ['sysctl', '-qw', k]);
    }
    ip(ns.h1, 'link', 'add', 'eth0', 'address', mac.h1, 'type', 'veth', 'peer', 'name', 'r0', 'address', mac.r0, 'netns', ns.r);
    ip(ns.h2, 'link', 'add', 'eth0', 'address', mac.h2, 'type', 'veth', 'peer', 'name', 'r1', 'address', mac.r1, 'netns', ns.r);
    inNs(ns.r, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const [n, dev, addr] of [[ns.h1, 'eth0', '10.0.1.2/24'], [ns.h2, 'eth0', '10.0.2.2/24'], [ns.r, 'r0', '10.0.1.1/24'], [ns.r, 'r1', '10.0.2.1/24']] as const) {
      for (const feat of ['tx', 'rx', 'tso', 'gso', 'gro', 'sg']) inNs(n, ['ethtool', '-K', dev, feat, 'off'], true);
      ip(n, 'addr', 'add', addr, 'dev', dev);
      ip(n, 'link', 'set', dev, 'up');
    }
    ip(ns.h2, 'addr', 'add', '10.2.0.5/32', 'dev', 'lo');
    ip(ns.h1, 'route', 'add', 'default', 'via', '10.0.1.1');
    ip(ns.h2, 'route', 'add', 'default', 'via', '10.0.2.1');
    ip(ns.r, 'route', 'add', '10.2.0.0/16', 'via', '10.0.2.2');
    const neigh: [string, string, string, string][] = [[ns.h1, 'eth0', '10.0.1.1', mac.r0], [ns.h2, 'eth0', '10.0.2.1', mac.r1], [ns.r, 'r0', '10.0.1.2', mac.h1], [ns.r, 'r1', '10.0.2.2', mac.h2]];
    for (const [n, dev, a, m] of neigh) ip(n, 'neigh', 'replace', a, 'lladdr', m, 'dev', dev, 'nud', 'permanent');

    // The device's configuration, in our router's format: what the twin learns.
    const config = {
      function: 'router',
      windowMs: 20,
      aggregateMs: 300,
      config: {
        interfaces: [{ name: 'r0', mac: mac.r0, addresses: ['10.0.1.1/24'] }, { name: 'r1', mac: mac.r1, addresses: ['10.0.2.1/24'] }],
        routes: [{ prefix: '10.2.0.0/16', via: '10.0.2.2' }],
        neighbors: [{ interface: 'r0', address: '10.0.1.2', mac: mac.h1 }, { interface: 'r1', address: '10.0.2.2', mac: mac.h2 }],
      },
    };
    const seen: Seen[] = [];
    const twin = createTwin(config, { onDivergence: (d, phase) => { if (phase === 'open') seen.push({ d: { ...d }, at: Date.now() }); } });
    const streams = [['r0', 'in'], ['r0', 'out'], ['r1', 'in'], ['r1', 'out']] as const;
    for (const [dev, q] of streams) sh(['mkfifo', join(dir, `${dev}.${q}`)]);
    follower = new LiveFollower(twin, streams.map(([dev, q]) => ({ port: `${dev}.${q}`, path: join(dir, `${dev}.${q}`) })));
    follower.since = Infinity;
    follower.start();
    for (const [dev, q] of streams) {
      const c = spawn('ip', ['netns', 'exec', ns.r, 'tcpdump', '-n', '-U', '--immediate-mode', '-Q', q, '-i', dev, '--time-stamp-precision=nano', '-w', join(dir, `${dev}.${q}`), 'ip'], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      await waitForOutput(c, /listening on/);
    }
    follower.since = Date.now();
    const sink = spawn('ip', ['netns', 'exec', ns.h2, process.execPath, '-e', SINK], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(sink);
    await waitForOutput(sink, /ready/);
    const sender = spawn('ip', ['netns', 'exec', ns.h1, process.execPath, '-e', SENDER], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(sender);
    await waitForOutput(sender, /ready/);
    const ping = spawn('ip', ['netns', 'exec', ns.h1, 'ping', '-q', '-i', '0.02', '10.2.0.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(ping);
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

    // Frames that reach the twin later than this after their capture (a capturer or this
    // thread descheduled on a loaded machine) cannot be judged in time: a phase that saw such a
    // lag is inconclusive and is run again (at most three times), as a false alarm or a late
    // report then says nothing about the twin.
    const LAG_BUDGET_MS = 40;
    const live = follower;
    // Returns false when three runs in a row were inconclusive (the machine too loaded to say).
    const attempt = async (name: string, phase: () => Promise<string | null>): Promise<boolean> => {
      for (let k = 0; k < 3; k++) {
        live.maxLagMs = 0;
        const failure = await phase();
        if (failure === null) return true;
        if (live.maxLagMs <= LAG_BUDGET_MS) assert.fail(`${name}: ${failure} (largest feed lag ${live.maxLagMs.toFixed(0)} ms)`);
        t.diagnostic(`${name}: inconclusive, frames reached the twin up to ${live.maxLagMs.toFixed(0)} ms late (${failure})`);
      }
      t.skip(`${name}: three runs in a row saw frames reach the twin more than ${LAG_BUDGET_MS} ms late (machine overloaded)`);
      return false;
    };

    // No fault: silence for two seconds while frames flow and match.
    const quiet = await attempt('no fault', async () => {
      const before = seen.length;
      const matched = twin.counters()['matched'] as number;
      await sleep(2000);
      const m = (twin.counters()['matched'] as number) - matched;
      if (m < 400) return `only ${m} frames matched`;
      const alarms = seen.slice(before).map((s) => s.d.diagnosis);
      return alarms.length === 0 ? null : `divergences without a fault: ${alarms.join(' | ')}`;
    });
    assert.deepEqual(follower.errors, []);

    const faults: { name: string; inject: string[][]; restore: string[][]; kind: DivergenceKind; port: string; traffic: RegExp; text: RegExp }[] = [
      { name: 'route deleted', inject: [['ip', '-n', ns.r, 'route', 'del', '10.2.0.0/16']], restore: [['ip', '-n', ns.r, 'route', 'add', '10.2.0.0/16', 'via', '10.0.2.2']], kind: 'route', port: 'r1', traffic: /^10\.2\.0\.0\/16$/, text: /to 10\.2\.0\.0\/16 .*a missing or wrong route$/ },
      {
        name: 'nft drop of one flow',
        inject: [['ip', 'netns', 'exec', ns.r, 'nft', 'add table inet swtw; add chain inet swtw twfwd { type filter hook forward priority 0; }; add rule inet swtw twfwd udp dport 6001 drop']],
        restore: [['ip', 'netns', 'exec', ns.r, 'nft', 'delete table inet swtw']],
        kind: 'filter', port: 'r1', traffic: /^UDP 10\.0\.1\.2:5001 → 10\.2\.0\.5:6001$/, text: /\(one flow\) that the twin forwarded on r1: a filter rule\?$/,
      },
      { name: 'MTU lowered', inject: [['ip', '-n', ns.r, 'link', 'set', 'r1', 'mtu', '1200']], restore: [['ip', '-n', ns.r, 'link', 'set', 'r1', 'mtu', '1500']], kind: 'mtu', port: 'r1', traffic: /^frames larger than 1200 bytes$/, text: /MTU lowered to 1200\?$/ },
      { name: 'neighbour changed', inject: [['ip', '-n', ns.r, 'neigh', 'replace', '10.0.2.2', 'lladdr', '02:00:00:00:09:09', 'dev', 'r1', 'nud', 'permanent']], restore: [['ip', '-n', ns.r, 'neigh', 'replace', '10.0.2.2', 'lladdr', mac.h2, 'dev', 'r1', 'nud', 'permanent']], kind: 'neighbour', port: 'r1', traffic: /^10\.0\.2\.2$/, text: /\(02:00:00:00:09:09 vs 02:00:00:00:02:02\): a changed neighbour entry$/ },
    ];
    for (const f of quiet ? faults : []) {
      const ok = await attempt(f.name, async () => {
        const before = seen.length;
        const injected = Date.now();
        for (const cmd of f.inject) sh(cmd);
        await sleep(400);
        for (const cmd of f.restore) sh(cmd);
        await sleep(700);
        const mine = seen.slice(before);
        if (mine.length === 0) return 'no divergence reported';
        const first = mine[0] as Seen;
        const all = mine.map((s) => s.d.diagnosis).join(' | ');
        if (first.d.kind !== f.kind || first.d.port !== f.port || !f.traffic.test(first.d.traffic) || !f.text.test(first.d.diagnosis)) return `first report is not the expected diagnosis: ${all}`;
        const fromFrame = first.at - first.d.firstTs;
        const fromInjection = first.at - injected;
        t.diagnostic(`${f.name}: "${first.d.diagnosis}" reported ${fromFrame.toFixed(1)} ms after the first affected frame reached r, ${fromInjection.toFixed(1)} ms after the injection began`);
        if (!(fromFrame >= 0 && fromFrame < 100)) return `reported ${fromFrame.toFixed(1)} ms after the first affected frame`;
        // Every divergence of this fault is about the fault (no collateral false alarm).
        const other = mine.filter((s) => s.d.kind !== f.kind);
        return other.length === 0 ? null : `also reported: ${other.map((s) => s.d.diagnosis).join(' | ')}`;
      });
      if (!ok) break;
    }
    assert.deepEqual(follower.errors, []);
  } finally {
    for (const c of children.reverse()) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGINT');
      await Promise.race([waitExit(c), new Promise((r) => setTimeout(r, 1000))]);
    }
    if (follower) await follower.stop(1000);
    for (const n of Object.values(ns)) sh(['ip', 'netns', 'del', n], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
