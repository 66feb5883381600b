/**
 * Test helpers for real kernel traffic: two network namespaces joined by a veth pair, commands
 * run inside them, and captures taken with tcpdump (pcap) or dumpcap (pcapng). Needs root.
 * Names are unique per process (prefix + pid + counter) and everything is removed by `destroy`.
 *
 * @example
 * const pair = VethPair.create('swp');
 * try {
 *   const cap = await Capture.start(pair.a, pair.ifA, '/tmp/x.pcap', 'pcap');
 *   pair.exec(pair.a, ['ping', '-c', '1', pair.ipB]);
 *   await cap.stop();
 * } finally { pair.destroy(); }
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** A command that exited non-zero (or could not start). */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(readonly cmd: string, readonly status: number | null, readonly stderr: string) {
    super(`command failed (${status ?? 'signal'}): ${cmd}\n${stderr.trim()}`);
  }
}

/** Runs a command synchronously and returns its stdout; throws CommandError on failure. */
export function sh(argv: string[], opts: { input?: string; timeoutMs?: number; allowFail?: boolean } = {}): string {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new RangeError('empty command');
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeoutMs ?? 20_000, maxBuffer: 64 << 20 });
  if ((r.status !== 0 || r.error) && !opts.allowFail) throw new CommandError(argv.join(' '), r.status, `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`);
  return r.stdout ?? '';
}

/** True when `cmd` is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** True when this process may create network namespaces (root on Linux with iproute2). */
export function canUseNetns(): boolean {
  return process.platform === 'linux' && typeof process.getuid === 'function' && process.getuid() === 0 && have('ip');
}

/**
 * A Linux bridge `br` with the host's `address` (CIDR) on it, up: the LAN that namespaced test
 * servers share. Delete it with `ip link del br`.
 *
 * @example bridge('swa1b', '172.31.1.254/24'); joinBridge('swa1b', 'swa1n1', 'swa1r1', '172.31.1.1/24');
 */
export function bridge(br: string, address: string): void {
  sh(['ip', 'link', 'add', br, 'type', 'bridge']);
  sh(['ip', 'addr', 'add', address, 'dev', br]);
  sh(['ip', 'link', 'set', br, 'up']);
}

/** Creates namespace `ns` and puts it on bridge `br` through veth `hostEnd` ↔ its eth0 at `address` (CIDR); eth0 and lo up. */
export function joinBridge(br: string, ns: string, hostEnd: string, address: string): void {
  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  sh(['ip', 'link', 'set', hostEnd, 'master', br, 'up']);
  sh(['ip', '-n', ns, 'addr', 'add', address, 'dev', 'eth0']);
  sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
}

let counter = 0;

/** Two namespaces `a` and `b` joined by veth `ifA`–`ifB`, with IPv4 and IPv6 (nodad) addresses. */
export class VethPair {
  readonly ipA = '10.77.0.1';
  readonly ipB = '10.77.0.2';
  readonly ip6A = 'fd77::1';
  readonly ip6B = 'fd77::2';
  /** Addresses on the VXLAN devices (VNI `vni`, UDP 4789 over the veth), when created with `vxlan: true`. */
  readonly vni = 42;
  readonly vxlanIpA = '10.79.0.1';
  readonly vxlanIpB = '10.79.0.2';
  /** Name of the VXLAN device (same in both namespaces), or '' when not created. */
  vxlanDev = '';
  private destroyed = false;

  private constructor(readonly a: string, readonly b: string, readonly ifA: string, readonly ifB: string) {}

  /**
   * Creates the pair. `checksumOffload: false` (the default) turns veth tx checksum offload off
   * with ethtool so the kernel writes full UDP/TCP checksums instead of partial ones. `vxlan: true`
   * adds a VXLAN device (VNI 42, UDP 4789 over the veth) on each side. (802.1Q needs the 8021q
   * module, which containers often lack, so VLAN tags are tested on built frames only.)
   */
  static create(prefix: string, opts: { checksumOffload?: boolean; vxlan?: boolean } = {}): VethPair {
    const id = `${prefix}${process.pid % 100000}x${counter++}`;
    // Interface names are limited to 15 bytes (IFNAMSIZ - 1).
    const pair = new VethPair(`${id}a`, `${id}b`, `${id}a`.slice(-15), `${id}b`.slice(-15));
    try {
      sh(['ip', 'netns', 'add', pair.a]);
      sh(['ip', 'netns', 'add', pair.b]);
      // No duplicate address detection: link-local addresses are usable at once, no DAD probes.
      for (const ns of [pair.a, pair.b]) sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      sh(['ip', 'link', 'add', pair.ifA, 'netns', pair.a, 'type', 'veth', 'peer', 'name', pair.ifB, 'netns', pair.b]);
      for (const [ns, dev, ip4, ip6] of [[pair.a, pair.ifA, pair.ipA, pair.ip6A], [pair.b, pair.ifB, pair.ipB, pair.ip6B]] as const) {
        sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
        sh(['ip', '-n', ns, 'addr', 'add', `${ip4}/24`, 'dev', dev]);
        sh(['ip', '-n', ns, 'addr', 'add', `${ip6}/64`, 'dev', dev, 'nodad']);
        if (opts.checksumOffload !== true) sh(['ip', 'netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off']);
        sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
      }
      if (opts.vxlan === true) {
        pair.vxlanDev = `${id}x`;
        for (const [ns, dev, local, remote, ip4] of [[pair.a, pair.ifA, pair.ipA, pair.ipB, pair.vxlanIpA], [pair.b, pair.ifB, pair.ipB, pair.ipA, pair.vxlanIpB]] as const) {
          // udpcsum: the outer UDP checksum is computed (Linux leaves it 0 over IPv4 by default).
          sh(['ip', '-n', ns, 'link', 'add', pair.vxlanDev, 'type', 'vxlan', 'id', String(pair.vni), 'local', local, 'remote', remote, 'dstport', '4789', 'dev', dev, 'udpcsum']);
          sh(['ip', '-n', ns, 'addr', 'add', `${ip4}/24`, 'dev', pair.vxlanDev]);
          if (opts.checksumOffload !== true) sh(['ip', 'netns', 'exec', ns, 'ethtool', '-K', pair.vxlanDev, 'tx', 'off']);
          sh(['ip', '-n', ns, 'link', 'set', pair.vxlanDev, 'up']);
        }
      }
      pair.waitLinkLocal();
    } catch (e) {
      pair.destroy();
      throw e;
    }
    return pair;
  }

  /** Waits until both link-local addresses left the tentative state (DAD done), at most 5 s. */
  private waitLinkLocal(): void {
    const deadline = Date.now() + 5000;
    for (;;) {
      const out = [this.a, this.b].map((ns) => sh(['ip', '-n', ns, '-6', 'addr', 'show', 'scope', 'link'])).join('');
      const ready = (out.match(/inet6 fe80/g) ?? []).length >= 2 && !/tentative/.test(out);
      if (ready || Date.now() > deadline) return;
      sh(['sleep', '0.05']);
    }
  }

  /** Runs argv inside namespace `ns` and returns stdout. */
  exec(ns: string, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): string {
    return sh(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /** Starts argv inside `ns` in the background. */
  spawn(ns: string, argv: string[]): ChildProcess {
    return spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** MAC address of `dev` in `ns`. */
  mac(ns: string, dev: string): string {
    const out = sh(['ip', '-n', ns, 'link', 'show', dev]);
    const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
    if (!m?.[1]) throw new Error(`no MAC for ${dev} in ${ns}`);
    return m[1];
  }

  /** Deletes both namespaces (and so the veth pair). Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    sh(['ip', 'netns', 'del', this.a], { allowFail: true });
    sh(['ip', 'netns', 'del', this.b], { allowFail: true });
  }
}

/** Resolves when `child` printed a line matching `re` on stdout or stderr (rejects on exit or timeout). */
export function waitForOutput(child: ChildProcess, re: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      if (re.test(seen)) { cleanup(); resolve(seen); }
    };
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`process exited (${code}) before printing ${re}: ${seen}`)); };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timeout waiting for ${re}: ${seen}`)); }, timeoutMs);
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Resolves with the exit code once `child` ended. */
export function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** A running tcpdump (pcap, nanosecond) or dumpcap (pcapng) capture on an interface in a namespace. */
export class Capture {
  private constructor(private readonly child: ChildProcess, readonly file: string, private readonly format: 'pcap' | 'pcapng') {}

  /** Starts capturing and resolves once the capturer is listening. */
  static async start(ns: string, dev: string, file: string, format: 'pcap' | 'pcapng'): Promise<Capture> {
    const argv = format === 'pcap'
      ? ['tcpdump', '-n', '-U', '--immediate-mode', '-i', dev, '--time-stamp-precision=nano', '-w', file]
      : ['dumpcap', '-i', dev, '-w', file];
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const cap = new Capture(child, file, format);
    try {
      // Both print their banner once the capture handle is active (after pcap_activate).
      await waitForOutput(child, format === 'pcap' ? /listening on/ : /^File: /m);
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
    return cap;
  }

  /** Ends the capturer at once if it still runs (cleanup after a failure). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Stops the capture (SIGINT, so the file is flushed and closed) and waits for the process. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    // Let the capturer read the last frames out of the kernel ring first: tcpdump runs in
    // immediate mode; dumpcap (no such option in Wireshark 4.0) polls with a 250 ms timeout.
    await new Promise((r) => setTimeout(r, this.format === 'pcap' ? 150 : 500));
    this.child.kill('SIGINT');
    await waitExit(this.child);
  }
}

/**
 * Reads `fields` of every frame with `tshark -T fields` (one row per frame, one string per
 * field; several occurrences of a field joined by `,`, as tshark's aggregator does). `prefs` are
 * `-o name:value` preferences, e.g. `tcp.check_checksum:TRUE`.
 */
export function tsharkFields(file: string, fields: string[], filter?: string, prefs: string[] = []): string[][] {
  const argv = ['tshark', '-n', '-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const p of prefs) argv.push('-o', p);
  if (filter !== undefined) argv.push('-Y', filter);
  for (const f of fields) argv.push('-e', f);
  const out = sh(argv);
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

/** Frames that tshark flags as malformed or with an expert item of severity error, as "frame: summary" lines. */
export function tsharkProblems(file: string): string[] {
  const out = sh(['tshark', '-n', '-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= error || _ws.expert.severity == "Error"']);
  return out.split('\n').filter((l) => l.trim().length > 0);
}

/** Node script for traffic: servers print "ready" and echo; clients send, wait for the echo, exit. */
export const TRAFFIC_SCRIPT = `
const [mode, host, port, count, size] = process.argv.slice(1);
const n = Number(count ?? 1), len = Number(size ?? 100);
if (mode === 'udp-server') {
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let got = 0;
  s.on('message', (m, r) => { s.send(m, r.port, r.address); if (++got >= n) setTimeout(() => s.close(), 50); });
  s.bind(Number(port), host, () => console.log('ready'));
} else if (mode === 'udp-client') {
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let got = 0;
  s.on('message', () => { if (++got >= n) s.close(); });
  s.bind(0, () => { for (let i = 0; i < n; i++) s.send(Buffer.alloc(len, 65 + (i % 26)), Number(port), host); });
  setTimeout(() => process.exit(got >= n ? 0 : 3), 5000).unref();
} else if (mode === 'udp-send') {
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.send(Buffer.alloc(len, 67), Number(port), host, () => setTimeout(() => s.close(), 100));
} else if (mode === 'tcp-refused') {
  const c = require('net').connect(Number(port), host);
  c.on('error', (e) => process.exit(e.code === 'ECONNREFUSED' ? 0 : 3));
  c.on('connect', () => process.exit(4));
} else if (mode === 'tcp-server') {
  const srv = require('net').createServer((c) => { c.on('data', (d) => c.write(d)); c.on('end', () => { c.end(); srv.close(); }); });
  srv.listen(Number(port), host, () => console.log('ready'));
} else if (mode === 'tcp-client') {
  const c = require('net').connect(Number(port), host, () => c.write(Buffer.alloc(len, 66)));
  let got = 0;
  c.on('data', (d) => { got += d.length; if (got >= len) c.end(); });
  c.on('close', () => process.exit(got >= len ? 0 : 3));
}
`;

/** Argv that runs TRAFFIC_SCRIPT in `mode` with this node binary. */
export function trafficArgv(mode: 'udp-server' | 'udp-client' | 'udp-send' | 'tcp-server' | 'tcp-client' | 'tcp-refused', host: string, port: number, count = 1, size = 100): string[] {
  return [process.execPath, '-e', TRAFFIC_SCRIPT, mode, host, String(port), String(count), String(size)];
}

/**
 * Generates the reference traffic between the two namespaces: ARP, ping, ping -6 (with NDP),
 * fragmented pings (IPv4 and IPv6), UDP over IPv4 and IPv6, a TCP connection over IPv4 and IPv6
 * (handshake, data, close), UDP and TCP to closed ports (ICMP port unreachable, RST), and ping
 * and UDP through VXLAN when the pair has it.
 */
export async function generateTraffic(pair: VethPair, opts: { udpPort?: number; tcpPort?: number } = {}): Promise<void> {
  const udpPort = opts.udpPort ?? 5000;
  const tcpPort = opts.tcpPort ?? 6000;
  // Forget neighbours learnt while the devices came up, so ARP and NDP happen in the capture.
  for (const [ns, dev] of [[pair.a, pair.ifA], [pair.b, pair.ifB]] as const) sh(['ip', '-n', ns, 'neigh', 'flush', 'dev', dev]);
  pair.exec(pair.a, ['ping', '-c', '2', '-i', '0.05', '-W', '2', pair.ipB]);
  pair.exec(pair.a, ['ping', '-6', '-c', '2', '-i', '0.05', '-W', '2', pair.ip6B]);
  // Larger than the 1500-byte MTU: IPv4 fragments and IPv6 fragment headers.
  pair.exec(pair.a, ['ping', '-c', '1', '-s', '2000', '-W', '2', pair.ipB]);
  pair.exec(pair.a, ['ping', '-6', '-c', '1', '-s', '2000', '-W', '2', pair.ip6B]);
  if (pair.vxlanDev !== '') {
    pair.exec(pair.a, ['ping', '-c', '2', '-i', '0.05', '-W', '2', pair.vxlanIpB]);
    const srv = pair.spawn(pair.b, trafficArgv('udp-server', pair.vxlanIpB, udpPort, 1, 64));
    await waitForOutput(srv, /ready/);
    pair.exec(pair.a, trafficArgv('udp-client', pair.vxlanIpB, udpPort, 1, 64));
    srv.kill('SIGTERM');
    await waitExit(srv);
  }
  for (const host of [pair.ipB, pair.ip6B]) {
    const srv = pair.spawn(pair.b, trafficArgv('udp-server', host, udpPort, 2, 100));
    await waitForOutput(srv, /ready/);
    pair.exec(pair.a, trafficArgv('udp-client', host, udpPort, 2, 100));
    srv.kill('SIGTERM');
    await waitExit(srv);
    const tsrv = pair.spawn(pair.b, trafficArgv('tcp-server', host, tcpPort));
    await waitForOutput(tsrv, /ready/);
    pair.exec(pair.a, trafficArgv('tcp-client', host, tcpPort, 1, 200));
    await waitExit(tsrv);
    // Nothing listens on these ports: ICMP/ICMPv6 port unreachable quoting the datagram, and a RST.
    pair.exec(pair.a, trafficArgv('udp-send', host, udpPort + 2, 1, 32));
    pair.exec(pair.a, trafficArgv('tcp-refused', host, tcpPort + 2));
  }
}
