/**
 * Control-plane benchmarks: store write rates per backend (each beside the raw client it
 * wraps), apply rate, and manifest validation rate (beside bare YAML parsing).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { apply } from '../src/control/manifest/apply.js';
import { crashManifest } from '../src/control/manifest/crash-child.js';
import { GOOD } from '../src/control/manifest/fixtures.js';
import { parseManifestText } from '../src/control/manifest/load.js';
import type { Store } from '../src/control/store/contract.js';
import { EtcdStore } from '../src/control/store/etcd.js';
import { startEtcd } from '../src/control/store/etcd-process.js';
import { MemoryStore } from '../src/control/store/memory.js';
import { SqliteStore } from '../src/control/store/sqlite.js';
import { connectUser, disconnectUser } from '../src/control/users.js';
import { encodeValue } from '../src/control/store/codec.js';
import { rate, type Reporter } from './report.js';
import { run as runScheduler } from './control-scheduler.js';
import { run as runUsersAtScale } from './control-users.js';
import { run as runLineThroughAgents } from './control-line.js';

/** Sequential awaited operations per second for about `ms`. */
async function asyncRate(fn: (i: number) => Promise<unknown>, ms = 1000): Promise<number> {
  for (let i = 0; i < 20; i++) await fn(-1 - i);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) await fn(n++);
  return (n * 1000) / (performance.now() - t0);
}

const value = { apiVersion: 'swnet.io/v1', kind: 'Server', spec: { datacenter: 'dc1', capacity: { cpu: 16, memory: '64Gi' } } };

/** Operations per second of `workers` concurrent sequential loops for about `ms`. */
async function concurrentRate(workers: number, fn: (w: number, i: number) => Promise<unknown>, ms = 1000): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() - t0 < ms; i++) {
        await fn(w, i);
        n++;
      }
    }),
  );
  return (n * 1000) / (performance.now() - t0);
}

async function storeWrites(r: Reporter, s: Store, baseline: number): Promise<number> {
  const ops = await asyncRate((i) => s.txn([{ key: `/bench/${s.backend}/${i}`, modRevision: 0 }], [{ type: 'put', key: `/bench/${s.backend}/${i}`, value }]));
  r.record({ name: `${s.backend}: CAS put transactions, one writer`, value: ops, unit: 'txn/s', target: null, better: 'higher', baseline });
  const conc = await concurrentRate(64, (w, i) => s.txn([{ key: `/bench/${s.backend}/c${w}/${i}`, modRevision: 0 }], [{ type: 'put', key: `/bench/${s.backend}/c${w}/${i}`, value }]));
  r.record({ name: `${s.backend}: CAS put transactions, 64 concurrent writers (group commit)`, value: conc, unit: 'txn/s', target: null, better: 'higher', baseline: ops });
  return ops;
}

export async function run(r: Reporter): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-bench-'));
  try {
    // Memory: baseline is a plain Map set of the same JSON text.
    const m = new Map<string, string>();
    let k = 0;
    const mapRate = rate(() => {
      m.set(`/bench/${k++ % 100000}`, JSON.stringify(value));
      return 1;
    }, 500);
    await storeWrites(r, new MemoryStore(), mapRate);

    // SQLite: baseline is a raw better-sqlite3 insert with the same WAL + synchronous=FULL.
    const raw = new Database(join(dir, 'raw.db'));
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = FULL');
    raw.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)');
    const ins = raw.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const rawRate = await asyncRate(async (i) => ins.run(`k${i}`, Buffer.from(JSON.stringify(value))));
    raw.close();
    const sq = new SqliteStore({ dataDir: join(dir, 'store') });
    await storeWrites(r, sq, rawRate);

    // Apply: a 5-object manifest (Datacenter, 3 Servers, SoftwareNetwork) per transaction.
    const manifests = Array.from({ length: 2000 }, (_, i) => parseManifestText(crashManifest(i), 'b.yaml').resources);
    const txn5 = await asyncRate((i) => sq.txn([], [0, 1, 2, 3, 4].map((j) => ({ type: 'put' as const, key: `/bench/txn5/${i}/${j}`, value }))), 500);
    const applyRate = await asyncRate((i) => apply(sq, manifests[(i + 2000) % 2000]!), 1000);
    r.record({ name: 'sqlite: apply of a 5-object manifest (new objects)', value: applyRate, unit: 'apply/s', target: null, better: 'higher', baseline: txn5 });
    const again = await asyncRate((i) => apply(sq, manifests[(i + 2000) % 2000]!), 500);
    r.record({ name: 'sqlite: idempotent re-apply (nothing written)', value: again, unit: 'apply/s', target: null, better: 'higher', baseline: applyRate });
    await sq.close();

    // Per-user networks (issue 5: connect + disconnect >= 5,000/s): 256 users at a time.
    const users = async (st: Store): Promise<number> => {
      await apply(st, parseManifestText(GOOD, 'good.yaml').resources.filter((x) => x.resource.kind !== 'SoftwareNetwork'));
      return concurrentRate(256, async (w, i) => {
        await connectUser(st, { user: `w${w}-${i}` }, 'home');
        await disconnectUser(st, { user: `w${w}-${i}` });
      });
    };
    const memUsers = await users(new MemoryStore());
    r.record({ name: 'memory: per-user network connect + disconnect', value: memUsers, unit: 'pairs/s', target: 5000, better: 'higher', baseline: mapRate / 2 });
    const sqUsers = new SqliteStore({ dataDir: join(dir, 'users') });
    const sqUserRate = await users(sqUsers);
    r.record({ name: 'sqlite: per-user network connect + disconnect (durable, group commit)', value: sqUserRate, unit: 'pairs/s', target: 5000, better: 'higher', baseline: memUsers });
    await connectUser(sqUsers, { user: 'idle' }, 'home');
    const idle = (await sqUsers.get('/swnet/softwarenetwork/default/user-idle'))!;
    r.record({ name: 'store bytes of one idle user network (the stored object)', value: encodeValue(idle.value).length, unit: 'B', target: 4096, better: 'lower' });
    await sqUsers.close();

    // Validation: schema + semantics + positions, beside bare YAML parsing.
    const valRate = rate(() => parseManifestText(GOOD, 'good.yaml').resources.length, 1000);
    const yamlRate = rate(() => parseAllDocuments(GOOD).filter((d) => d.contents !== null).length, 1000);
    r.record({ name: 'manifest validation, configs seen before (YAML + schema + semantics)', value: valRate, unit: 'docs/s', target: null, better: 'higher', baseline: yamlRate });
    let u = 0;
    const freshRate = rate(() => parseManifestText(GOOD.replaceAll('name: in', `name: in${++u}`), 'good.yaml').resources.length, 1000);
    r.record({ name: 'manifest validation, new function configs (each function built once)', value: freshRate, unit: 'docs/s', target: null, better: 'higher', baseline: valRate });

    // etcd: a real single-member etcd on loopback; baseline is the etcd3 client's own put.
    const etcd = await startEtcd();
    const es = new EtcdStore({ hosts: etcd.url });
    try {
      const plain = await asyncRate(async (i) => {
        await es.client.put(`/bench/plain/${i}`).value(JSON.stringify(value));
      }, 1000);
      await storeWrites(r, es, plain);
      const etcdApply = await asyncRate((i) => apply(es, manifests[(i + 2000) % 2000]!), 1000);
      r.record({ name: 'etcd: apply of a 5-object manifest (new objects)', value: etcdApply, unit: 'apply/s', target: null, better: 'higher', baseline: applyRate });
    } finally {
      await es.close();
      await etcd.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await runScheduler(r);
  // The same line through apply, controllers and agents, beside the in-process figure with the
  // same (aggregated) FIBs the agents push.
  await runLineThroughAgents(r, r.records.find((x) => x.name.startsWith('200-router line, FIBs aggregated:'))?.value);
  await runUsersAtScale(r);
}
