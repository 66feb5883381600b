/**
 * The same isolation job done by Linux HTB on a veth pair between two network namespaces:
 * three classes with assured rates 10/5/1 of the link and ceil = the link (borrowing from the
 * parent), one UDP flow each, real datagrams from a sender in one namespace to a sink in the
 * other. Used by bench/host.ts when `ip` and `tc` are present and namespaces can be made.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface HtbFlowResult {
  /** Datagrams the source sent within the window (after its own socket-busy drops). */
  sent: number;
  bytes: number;
  frames: number;
  p50us: number;
  p99us: number;
}

export interface HtbSetup {
  /** Link rate in bits/s. */
  rate: number;
  /** UDP payload bytes (frames on the wire are payload + 42). */
  payload: number;
  ports: number[];
  close(): void;
  /** Offered rates in frames/s per flow (0 = off); returns, per flow, what was sent and received within the window. */
  run(pps: number[], warmMs: number, ms: number): Promise<HtbFlowResult[]>;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function tc(ns: string, args: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, 'tc', ...args], { stdio: 'pipe' });
}

/** Builds the namespaces, veth pair and HTB tree; null when this machine cannot. */
export function setupHtb(alloc: number[], rate: number, payload: number): HtbSetup | null {
  const a = `swh-${process.pid}-a`;
  const b = `swh-${process.pid}-b`;
  const ports = alloc.map((_, i) => 5001 + i);
  const close = (): void => {
    for (const ns of [a, b]) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  };
  try {
    execFileSync('tc', ['-V'], { stdio: 'pipe' });
    ip(['netns', 'add', a]);
    ip(['netns', 'add', b]);
    ip(['-n', a, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b]);
    ip(['-n', a, 'addr', 'add', '10.201.0.1/24', 'dev', 'va']);
    ip(['-n', b, 'addr', 'add', '10.201.0.2/24', 'dev', 'vb']);
    ip(['-n', a, 'link', 'set', 'va', 'up']);
    ip(['-n', b, 'link', 'set', 'vb', 'up']);
    ip(['-n', a, 'link', 'set', 'lo', 'up']);
    ip(['-n', b, 'link', 'set', 'lo', 'up']);
    const sum = alloc.reduce((x, y) => x + y, 0);
    tc(a, ['qdisc', 'add', 'dev', 'va', 'root', 'handle', '1:', 'htb', 'default', '99']);
    tc(a, ['class', 'add', 'dev', 'va', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', `${rate}bit`, 'ceil', `${rate}bit`]);
    alloc.forEach((w, i) => {
      const r = Math.floor((rate * w) / sum);
      tc(a, ['class', 'add', 'dev', 'va', 'parent', '1:1', 'classid', `1:${10 + i}`, 'htb', 'rate', `${r}bit`, 'ceil', `${rate}bit`]);
      tc(a, ['qdisc', 'add', 'dev', 'va', 'parent', `1:${10 + i}`, 'pfifo', 'limit', '100']);
      tc(a, ['filter', 'add', 'dev', 'va', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dport', String(ports[i]), '0xffff', 'flowid', `1:${10 + i}`]);
    });
    // Static neighbour entries: no ARP exchange inside the measured window.
    const mac = (ns: string, dev: string): string => {
      const out = execFileSync('ip', ['-n', ns, '-br', 'link', 'show', dev], { encoding: 'utf8' });
      return out.trim().split(/\s+/)[2] ?? '';
    };
    ip(['-n', a, 'neigh', 'replace', '10.201.0.2', 'lladdr', mac(b, 'vb'), 'dev', 'va']);
  } catch {
    close();
    return null;
  }
  const peer = fileURLToPath(new URL('./htb-peer.js', import.meta.url));
  const runIn = (ns: string, args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', ns, process.execPath, peer, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.once('error', reject);
      p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`htb peer exited with ${code}`))));
    });
  return {
    rate,
    payload,
    ports,
    close,
    async run(pps: number[], warmMs: number, ms: number): Promise<HtbFlowResult[]> {
      const from = process.hrtime.bigint() + BigInt(Math.round((warmMs + 300) * 1e6));
      const to = from + BigInt(Math.round(ms * 1e6));
      const sink = runIn(b, ['recv', String(from), String(to), ports.join(',')]);
      await new Promise((r) => setTimeout(r, 200));
      const flows = ports.map((p, i) => `${p}:${pps[i] ?? 0}`).filter((f) => !f.endsWith(':0'));
      const src = flows.length ? runIn(a, ['send', '10.201.0.2', String(payload), String(from), String(to), flows.join(',')]) : Promise.resolve('{}');
      const [got, sentOut] = await Promise.all([sink, src]);
      const parsed = JSON.parse(got) as Record<string, Omit<HtbFlowResult, 'sent'>>;
      const sent = JSON.parse(sentOut) as Record<string, number>;
      return ports.map((p) => ({ sent: sent[String(p)] ?? 0, ...(parsed[String(p)] ?? { bytes: 0, frames: 0, p50us: NaN, p99us: NaN }) }));
    },
  };
}
