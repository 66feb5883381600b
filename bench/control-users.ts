/**
 * Per-user networks at scale (issue 5: 100,000 on one machine, connect + disconnect ≥ 5,000/s,
 * ≤ 4 KiB of memory per idle user network), measured with the controllers running on the
 * embedded (SQLite) store, so that what an idle network costs in the controller's reflectors,
 * the scheduler's cluster and its placements is counted, not only the stored object.
 *
 * The measurement runs in a child process started with --expose-gc: memory is the growth of
 * heap used and of RSS after full collections, from before the first connect to after every
 * user network is placed and Scheduled, divided by the number of users.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apply } from '../src/control/manifest/apply.js';
import { GOOD } from '../src/control/manifest/fixtures.js';
import { parseManifestText } from '../src/control/manifest/load.js';
import { startControllers } from '../src/control/controllers/start.js';
import { PLACEMENT_PREFIX } from '../src/control/placement.js';
import { encodeValue } from '../src/control/store/codec.js';
import { SqliteStore } from '../src/control/store/sqlite.js';
import { connectUser, disconnectUser } from '../src/control/users.js';
import type { Reporter } from './report.js';

/** What the child measures. */
export interface UsersAtScale {
  users: number;
  connectSeconds: number;
  settleSeconds: number;
  heapPerUser: number;
  rssPerUser: number;
  storedBytes: number;
  pairsPerSecond: number;
  /** Connect + disconnect pairs per CPU-second of the process (controllers' work included). */
  pairsPerCpuSecond: number;
  /** CPU seconds of the process from the first connect to every network Scheduled. */
  settleCpuSeconds: number;
  placements: number;
}

const gc = (): void => {
  const f = (globalThis as { gc?: () => void }).gc;
  if (!f) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) f();
};

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 20));
}

/** The child's work: `users` connected at once, controllers running. */
export async function measure(users: number, concurrency = 256): Promise<UsersAtScale> {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-bench-users-'));
  // Compaction as in production; history of 100k creations would otherwise stay in SQLite (on disk, not in the heap).
  const store = new SqliteStore({ dataDir: dir });
  try {
    await apply(store, parseManifestText(GOOD, 'good.yaml').resources.filter((x) => x.resource.kind !== 'SoftwareNetwork'));
    const ctl = await startControllers(store);
    // Placements counted from a cache-less watch, so the counter costs nothing per user.
    let placed = 0;
    const w = await store.watch(PLACEMENT_PREFIX, {}, (evs) => {
      for (const e of evs) placed += e.type === 'put' && e.kv?.version === 1 ? 1 : e.type === 'delete' ? -1 : 0;
    });
    // Warm-up: code paths compiled and caches created before the baseline.
    for (let i = 0; i < 200; i++) await connectUser(store, { user: `warm${i}` }, 'home');
    while (placed < 400) await settle();
    for (let i = 0; i < 200; i++) await disconnectUser(store, { user: `warm${i}` });
    while (placed > 0) await settle();
    await settle();
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < users; i = next++) await connectUser(store, { user: `u${i}` }, 'home');
      }),
    );
    const t1 = performance.now();
    while (placed < users * 2) await settle();
    const t2 = performance.now();
    const c1 = process.cpuUsage(c0);
    await settle();
    gc();
    const heap1 = process.memoryUsage().heapUsed;
    const rss1 = process.memoryUsage().rss;
    const kv = (await store.get('/swnet/softwarenetwork/default/user-u0'))!;
    // Connect + disconnect of other users while the 100k stay connected and the controllers place them.
    let n = 0;
    const tr = performance.now();
    const cr = process.cpuUsage();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, wk) => {
        for (let i = 0; performance.now() - tr < 1500; i++) {
          await connectUser(store, { user: `c${wk}-${i}` }, 'home');
          await disconnectUser(store, { user: `c${wk}-${i}` });
          n++;
        }
      }),
    );
    const pairs = (n * 1000) / (performance.now() - tr);
    const cpuPairs = process.cpuUsage(cr);
    await w.cancel();
    await ctl.stop();
    return {
      users,
      connectSeconds: (t1 - t0) / 1000,
      settleSeconds: (t2 - t0) / 1000,
      heapPerUser: (heap1 - heap0) / users,
      rssPerUser: (rss1 - rss0) / users,
      storedBytes: encodeValue(kv.value).length,
      pairsPerSecond: pairs,
      pairsPerCpuSecond: (n * 1e6) / (cpuPairs.user + cpuPairs.system),
      settleCpuSeconds: (c1.user + c1.system) / 1e6,
      placements: placed,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs {@link measure} in a child with --expose-gc. */
export async function measureInChild(users: number): Promise<UsersAtScale> {
  const file = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--expose-gc', file, '--child', String(users)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`per-user bench child exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as UsersAtScale;
}

export async function run(r: Reporter): Promise<void> {
  const m = await measureInChild(100_000);
  r.note(
    `${m.users} user networks connected in ${m.connectSeconds.toFixed(1)} s, all placed and Scheduled after ${m.settleSeconds.toFixed(1)} s (${m.settleCpuSeconds.toFixed(1)} CPU-s; ${m.placements} placements); stored object ${m.storedBytes} B; connect + disconnect ${m.pairsPerCpuSecond.toFixed(0)} pairs per CPU-second`,
  );
  r.record({ name: 'per-user networks: process heap per idle user network (100k connected, controllers running)', value: m.heapPerUser, unit: 'B', target: 4096, better: 'lower', baseline: m.storedBytes });
  r.record({ name: 'per-user networks: process RSS per idle user network (100k connected, controllers running)', value: m.rssPerUser, unit: 'B', target: 4096, better: 'lower', baseline: m.storedBytes });
  r.record({ name: 'sqlite: per-user network connect + disconnect with 100k connected and the controllers running', value: m.pairsPerSecond, unit: 'pairs/s', target: 5000, better: 'higher' });
  // The same per CPU-second of the process: what one dedicated core gives (the wall rate depends on the machine's load).
  r.record({ name: 'sqlite: per-user network connect + disconnect with 100k connected, per CPU-second', value: m.pairsPerCpuSecond, unit: 'pairs/CPU-s', target: null, better: 'higher', baseline: m.pairsPerSecond });
}

if (process.argv[2] === '--child') {
  const m = await measure(Number(process.argv[3] ?? 100_000));
  process.stdout.write(`${JSON.stringify(m)}\n`);
  process.exit(0);
}
