// The router forwards exactly as the Linux kernel does. Three network namespaces h1 — r — h2
// joined by veth pairs, the kernel routing in r (ip_forward and IPv6 forwarding on, ICMP redirects
// off, static neighbour entries everywhere, checksum and segmentation offloads off on every veth).
// Traffic: ping, ping -6, UDP and TCP both ways between h1 and h2, ping and ping -6 of r itself
// (echo replies), TCP connections to a closed port of r (RST), a ping with TTL 1 (ICMP time
// exceeded from r), a UDP datagram to a closed port of r (port unreachable), a ping bigger than
// r's egress MTU without DF (fragmented by r) and with DF (fragmentation needed). tcpdump captures
// both interfaces of r; frames arriving at r are replayed with `swnet replay` through our router
// configured like r, and what it sends on each port must equal what the kernel sent, frame by
// frame, byte for byte.
//
// Normalised fields, only in ICMP messages the kernel generates itself (here: echo replies, time
// exceeded, port unreachable, fragmentation needed): the outer IPv4 identification and, because of
// it, the outer header checksum. The kernel sends them without DF, so ip_select_ident draws the ID from
// its per-destination generator seeded with a boot-time random key (net/ipv4/route.c ip_idents):
// it cannot be predicted. Our router numbers its own packets with a counter. Every other byte,
// including the ICMP checksum and the quoted datagram, is compared as is.
//
// Multicast IPv6 frames other than neighbor solicitations are excluded by the capture filter: MLD
// reports that the kernels send on their own timers when addresses are added are not traffic r
// forwards or answers.
//
// A second run has no static neighbour entries: r resolves h1 and h2 by ARP and NS, answers their
// ARP requests and NS, holds the first packets meanwhile and releases them on the answers; the
// replay must produce the same requests, answers and releases. It is kept under 5 s so that no
// entry reaches the DELAY → PROBE transition (whose timing in the kernel depends on jiffies).
// Needs root; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canUseNetns, have, sh, trafficArgv, waitExit, waitForOutput } from '../testkit/netns.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { openCapture } from '../packet/capfile.js';
import { PcapWriter } from '../packet/pcap.js';
import { LINKTYPE_ETHERNET } from '../packet/capture.js';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

interface Rec { ts: bigint; data: Uint8Array }

function readAll(file: string): Rec[] {
  const r = openCapture(file);
  const out: Rec[] = [];
  for (const rec of r) out.push({ ts: rec.tsNs, data: rec.data.slice() });
  r.close();
  return out;
}

// tcpdump with a capture filter (pcap, ns timestamps); resolves once it listens.
async function tcpdump(ns: string, dev: string, file: string, filter: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-n', '-U', '--immediate-mode', '-i', dev, '--time-stamp-precision=nano', '-w', file, filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(child, /listening on/);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGINT');
  await waitExit(child);
}

const macOf = (s: string): string => s.replace(/:/g, '');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Outer IPv4 ID and header checksum zeroed in ICMP errors sent by the router itself.
function normalise(f: Uint8Array, routerMac: string): string {
  const g = f.slice();
  if (hex(g.subarray(6, 12)) === routerMac && g[12] === 0x08 && g[13] === 0x00 && g[14 + 9] === 1 && g.length > 34) {
    const hl = ((g[14] as number) & 15) * 4;
    const t = g[14 + hl] as number;
    if (t === 0 || t === 3 || t === 11 || t === 12) {
      g[18] = 0;
      g[19] = 0;
      g[24] = 0;
      g[25] = 0;
    }
  }
  return hex(g);
}

const SKIP = !canUseNetns() || !have('tcpdump') || !have('ethtool') ? 'needs root, ip, tcpdump and ethtool' : false;

test('router: replay of the Linux router r\'s ingress gives r\'s egress byte for byte (static neighbours, errors, fragments)', { skip: SKIP, timeout: 60_000 }, () => scenario(false));

test('router: the same with ARP and neighbor discovery resolving every neighbour (no static entries)', { skip: SKIP, timeout: 60_000 }, () => scenario(true));

async function scenario(dynamic: boolean): Promise<void> {
  const id = `swr${process.pid % 100000}${dynamic ? 'd' : 's'}`;
  const ns = { h1: `${id}h1`, r: `${id}r`, h2: `${id}h2` };
  const mac = { h1: '02:00:00:00:01:02', r0: '02:00:00:00:01:01', r1: '02:00:00:00:02:01', h2: '02:00:00:00:02:02' };
  const dir = mkdtempSync(join(tmpdir(), 'swr-'));
  const ip = (n: string, ...a: string[]): string => sh(['ip', '-n', n, ...a]);
  const inNs = (n: string, argv: string[], allowFail = false): string => sh(['ip', 'netns', 'exec', n, ...argv], { allowFail, timeoutMs: 15_000 });
  try {
    for (const n of Object.values(ns)) {
      sh(['ip', 'netns', 'add', n]);
      ip(n, 'link', 'set', 'lo', 'up');
      for (const k of ['net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.router_solicitations=0', 'net.ipv6.conf.default.accept_ra=0', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) inNs(n, ['sysctl', '-qw', k]);
    }
    ip(ns.h1, 'link', 'add', 'eth0', 'address', mac.h1, 'type', 'veth', 'peer', 'name', 'r0', 'address', mac.r0, 'netns', ns.r);
    ip(ns.h2, 'link', 'add', 'eth0', 'address', mac.h2, 'type', 'veth', 'peer', 'name', 'r1', 'address', mac.r1, 'netns', ns.r);
    inNs(ns.r, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    inNs(ns.r, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    // ICMPv6 errors with flow label 0, as our router sends them (the default, auto flow labels,
    // hashes the flow with a boot-time random key).
    inNs(ns.r, ['sysctl', '-qw', 'net.ipv6.auto_flowlabels=0']);
    const setup: [string, string, string[], string, string][] = [
      [ns.h1, 'eth0', ['10.0.1.2/24', '2001:db8:1::2/64'], '10.0.1.1', '2001:db8:1::1'],
      [ns.h2, 'eth0', ['10.0.2.2/24', '2001:db8:2::2/64'], '10.0.2.1', '2001:db8:2::1'],
      [ns.r, 'r0', ['10.0.1.1/24', '2001:db8:1::1/64'], '', ''],
      [ns.r, 'r1', ['10.0.2.1/24', '2001:db8:2::1/64'], '', ''],
    ];
    for (const [n, dev, addrs] of setup) {
      for (const k of ['send_redirects=0', 'rp_filter=0']) inNs(n, ['sysctl', '-qw', `net.ipv4.conf.${dev}.${k}`]);
      for (const feat of ['tx', 'rx', 'tso', 'gso', 'gro', 'sg']) inNs(n, ['ethtool', '-K', dev, feat, 'off'], true);
      for (const a of addrs) ip(n, 'addr', 'add', a, 'dev', dev, ...(a.includes(':') ? ['nodad'] : []));
      ip(n, 'link', 'set', dev, 'up');
    }
    ip(ns.r, 'link', 'set', 'r1', 'mtu', '1300');
    for (const [n, dev, , gw4, gw6] of setup.slice(0, 2)) {
      ip(n, 'route', 'add', 'default', 'via', gw4, 'dev', dev);
      ip(n, '-6', 'route', 'add', 'default', 'via', gw6, 'dev', dev);
    }
    const neigh: [string, string, string, string][] = [
      [ns.h1, 'eth0', '10.0.1.1', mac.r0], [ns.h1, 'eth0', '2001:db8:1::1', mac.r0],
      [ns.h2, 'eth0', '10.0.2.1', mac.r1], [ns.h2, 'eth0', '2001:db8:2::1', mac.r1],
      [ns.r, 'r0', '10.0.1.2', mac.h1], [ns.r, 'r0', '2001:db8:1::2', mac.h1],
      [ns.r, 'r1', '10.0.2.2', mac.h2], [ns.r, 'r1', '2001:db8:2::2', mac.h2],
    ];
    if (!dynamic) for (const [n, dev, a, m] of neigh) ip(n, 'neigh', 'replace', a, 'lladdr', m, 'dev', dev, 'nud', 'permanent');
    // Let link-local setup and its MLD reports pass before capturing.
    await new Promise((r) => setTimeout(r, 300));
    if (dynamic) {
      // Right after an address is added the kernel may let the first NS for it go unanswered (the
      // solicited-node group is joined asynchronously): exercise every address once, then forget
      // every neighbour, so that the captured run starts from empty caches on a settled stack.
      for (const [n, , , gw4, gw6] of setup.slice(0, 2)) {
        inNs(n, ['ping', '-c', '1', '-W', '2', gw4], true);
        inNs(n, ['ping', '-6', '-c', '1', '-W', '2', gw6], true);
      }
      for (const n of Object.values(ns)) ip(n, 'neigh', 'flush', 'all');
    }
    // IPv6 multicast except neighbor solicitations (next header ICMPv6, type 135).
    const filter = 'not ip6 multicast or (ip6[6] == 58 and ip6[40] == 135)';
    const cap0 = await tcpdump(ns.r, 'r0', join(dir, 'r0.pcap'), filter);
    const cap1 = await tcpdump(ns.r, 'r1', join(dir, 'r1.pcap'), filter);
    try {
      inNs(ns.h1, ['ping', '-c', '2', '-i', '0.05', '-W', '2', '10.0.2.2']);
      inNs(ns.h1, ['ping', '-6', '-c', '2', '-i', '0.05', '-W', '2', '2001:db8:2::2']);
      // Resolution: kept short, so that no entry reaches its DELAY → PROBE transition (5 s).
      if (dynamic) inNs(ns.h2, ['ping', '-c', '1', '-W', '2', '10.0.2.1']);
      for (const host of dynamic ? [] : ['10.0.2.2', '2001:db8:2::2']) {
        const srv = spawn('ip', ['netns', 'exec', ns.h2, ...trafficArgv('udp-server', host, 5000, 2, 100)], { stdio: ['ignore', 'pipe', 'pipe'] });
        await waitForOutput(srv, /ready/);
        inNs(ns.h1, trafficArgv('udp-client', host, 5000, 2, 100));
        srv.kill('SIGTERM');
        await waitExit(srv);
        const tsrv = spawn('ip', ['netns', 'exec', ns.h2, ...trafficArgv('tcp-server', host, 6000)], { stdio: ['ignore', 'pipe', 'pipe'] });
        await waitForOutput(tsrv, /ready/);
        inNs(ns.h1, trafficArgv('tcp-client', host, 6000, 1, 300));
        await waitExit(tsrv);
      }
      inNs(ns.h1, ['ping', '-c', '2', '-i', '0.05', '-W', '1', '10.0.2.1']);
      inNs(ns.h1, ['ping', '-6', '-c', '2', '-i', '0.05', '-W', '1', '2001:db8:1::1']);
    } finally {
      if (dynamic) {
        await stop(cap0);
        await stop(cap1);
      }
    }
    if (!dynamic) try {
      inNs(ns.h1, ['ping', '-c', '1', '-t', '1', '-W', '1', '10.0.2.2'], true);
      // With a DSCP (EF) and ECN bits: which TOS bits the error keeps.
      inNs(ns.h1, ['ping', '-c', '1', '-t', '1', '-Q', '0xb9', '-W', '1', '10.0.2.2'], true);
      inNs(ns.h1, ['bash', '-c', 'echo closed > /dev/udp/10.0.1.1/9'], true);
      // TCP to a closed port of r: RST (IPv4 with DF and ID 0, from the control socket).
      inNs(ns.h1, ['bash', '-c', 'exec 3<>/dev/tcp/10.0.2.1/9'], true);
      inNs(ns.h1, ['bash', '-c', 'exec 3<>/dev/tcp/2001:db8:1::1/9'], true);
      inNs(ns.h1, ['ping', '-6', '-c', '1', '-t', '1', '-W', '1', '2001:db8:2::2'], true);
      inNs(ns.h1, ['bash', '-c', 'echo closed > /dev/udp/2001:db8:1::1/9'], true);
      inNs(ns.h1, ['ping', '-6', '-c', '1', '-s', '1400', '-W', '1', '2001:db8:2::2'], true);
      inNs(ns.h1, ['ping', '-c', '1', '-M', 'dont', '-s', '1400', '-W', '1', '10.0.2.2'], true);
      const r = spawnSync('ip', ['netns', 'exec', ns.h1, 'ping', '-c', '1', '-M', 'do', '-s', '1400', '-W', '1', '10.0.2.2'], { encoding: 'utf8' });
      if (process.env.SWR_KEEP) console.error(r.stdout, r.stderr);
    } finally {
      await stop(cap0);
      await stop(cap1);
    }
    const r0 = readAll(join(dir, 'r0.pcap'));
    const r1 = readAll(join(dir, 'r1.pcap'));
    const from = (recs: Rec[], m: string, mine: boolean): Rec[] => recs.filter((x) => (hex(x.data.subarray(6, 12)) === macOf(m)) === mine);
    const in0 = from(r0, mac.r0, false);
    const in1 = from(r1, mac.r1, false);
    const out0 = from(r0, mac.r0, true);
    const out1 = from(r1, mac.r1, true);
    assert.ok(in0.length >= (dynamic ? 8 : 20) && in1.length >= (dynamic ? 5 : 10), `captured ${in0.length}/${in1.length} ingress frames`);
    for (const [name, recs] of [['in0', in0], ['in1', in1]] as const) {
      const w = PcapWriter.create(join(dir, `${name}.pcap`), { linkType: LINKTYPE_ETHERNET, nanosecond: true });
      for (const x of recs) w.write(0, x.ts, x.data);
      w.close();
    }
    const config = {
      interfaces: [
        { name: 'r0', mac: mac.r0, addresses: ['10.0.1.1/24', '2001:db8:1::1/64'] },
        { name: 'r1', mac: mac.r1, mtu: 1300, addresses: ['10.0.2.1/24', '2001:db8:2::1/64'] },
      ],
      ...(dynamic ? {} : { neighbors: neigh.filter(([n]) => n === ns.r).map(([, dev, a, m]) => ({ interface: dev, address: a, mac: m })) }),
    };
    writeFileSync(join(dir, 'router.json'), JSON.stringify(config, null, 2));
    const run = spawnSync(process.execPath, [MAIN, 'replay', '--function', 'router', '--config', join(dir, 'router.json'), '--in', `r0=${join(dir, 'in0.pcap')}`, '--in', `r1=${join(dir, 'in1.pcap')}`, '--out', `r0=${join(dir, 'out0.pcap')}`, '--out', `r1=${join(dir, 'out1.pcapng')}`, '--counters'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 0, run.stderr);
    const ours0 = readAll(join(dir, 'out0.pcap'));
    const ours1 = readAll(join(dir, 'out1.pcapng'));
    const cmp = (kernel: Rec[], ours: Rec[], m: string, port: string): void => {
      const k = kernel.map((x) => normalise(x.data, macOf(m)));
      const o = ours.map((x) => normalise(x.data, macOf(m)));
      for (let i = 0; i < Math.max(k.length, o.length); i++) assert.equal(o[i], k[i], `${port} frame ${i + 1} of ${k.length} (kernel) / ${o.length} (swnet)`);
    };
    cmp(out0, ours0, mac.r0, 'r0');
    cmp(out1, ours1, mac.r1, 'r1');
    // The exercise covered what it claims: errors and fragments were produced.
    const counters = JSON.parse(run.stdout) as { drops: Record<string, number>; generated: Record<string, number>; forwarded: number };
    if (dynamic) {
      // r resolved h2 (IPv4 and IPv6) and answered h1's and h2's requests.
      assert.ok((counters.generated['arpRequest'] ?? 0) >= 1 && (counters.generated['neighborSolicit'] ?? 0) >= 1, JSON.stringify(counters.generated));
      assert.ok((counters.generated['arpReply'] ?? 0) >= 1 && (counters.generated['neighborAdvert'] ?? 0) >= 1, JSON.stringify(counters.generated));
      return;
    }
    assert.equal(counters.drops['ttlExceeded'], 3);
    assert.equal(counters.drops['tooBig'], 2);
    assert.equal(counters.drops['unknownPort'], 2);
    assert.equal(counters.generated['fragments'], 1);
    assert.equal(counters.generated['tcpReset'], 2);
    assert.ok(counters.forwarded >= 30);
  } finally {
    for (const n of Object.values(ns)) sh(['ip', 'netns', 'del', n], { allowFail: true });
    if (process.env.SWR_KEEP) console.error(`kept ${dir}`); else rmSync(dir, { recursive: true, force: true });
  }
}
