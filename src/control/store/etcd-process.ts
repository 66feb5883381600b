/**
 * Starts a single-member etcd (Debian's etcd-server, /usr/bin/etcd) on loopback with free
 * client and peer ports and its own data directory: for tests, benchmarks and a
 * single-machine `--store etcd://` trial.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdProcess {
  /** Client URL, e.g. http://127.0.0.1:40123. */
  readonly url: string;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly child: ChildProcess;
  /** SIGTERM, wait for exit, remove the data directory (unless it was given). */
  stop(): Promise<void>;
}

export interface EtcdProcessInit {
  readonly binary?: string;
  readonly dataDir?: string;
  /** Fixed ports (to restart a member where it was); free ones by default. */
  readonly clientPort?: number;
  readonly peerPort?: number;
  /** Address to listen on (default 127.0.0.1; e.g. a bridge address that network namespaces reach). */
  readonly host?: string;
  /** Milliseconds to wait for /health (default 15000). */
  readonly timeoutMs?: number;
}

/** A port that was free a moment ago (bind to 0, read, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @example
 * const etcd = await startEtcd();
 * const store = new EtcdStore({ hosts: etcd.url });
 * // ...
 * await store.close();
 * await etcd.stop();
 */
export async function startEtcd(init: EtcdProcessInit = {}): Promise<EtcdProcess> {
  const ownDir = init.dataDir === undefined;
  const dataDir = init.dataDir ?? mkdtempSync(join(tmpdir(), 'swnet-etcd-'));
  const client = init.clientPort ?? (await freePort());
  const peer = init.peerPort ?? (await freePort());
  const host = init.host ?? '127.0.0.1';
  const url = `http://${host}:${client}`;
  const peerUrl = `http://${host}:${peer}`;
  const name = `swnet${process.pid}`;
  const child = spawn(
    init.binary ?? '/usr/bin/etcd',
    [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${name}=${peerUrl}`,
      '--logger=zap',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (init.timeoutMs ?? 15000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`);
    }
    try {
      const r = await fetch(`${url}/health`);
      const body = (await r.json()) as { health?: string };
      if (body.health === 'true') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not become healthy at ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, dataDir, clientPort: client, peerPort: peer, child, stop };
}
