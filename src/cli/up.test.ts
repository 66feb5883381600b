import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../control/store/open.js';
import { PLACEMENT_PREFIX, type Placement } from '../control/placement.js';
import { MIGRATION_PREFIX } from '../control/migrations.js';
import type { JsonObject } from '../control/store/contract.js';
import type { Resource } from '../control/manifest/types.js';
import { MemoryStore } from '../control/store/memory.js';
import { parseManifestText } from '../control/manifest/load.js';
import { DAY_KEY, dayClock, dayTime, withDay } from './up.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const TOKEN = 'up-test-token-0123456789';

interface Run {
  out: string;
  err: string;
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  stop(): Promise<number | null>;
}

function up(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...(args[0] === 'start' ? args : ['up', ...args])], { env: { ...process.env, SWNET_ADMIN_TOKEN: TOKEN, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Run = {
    out: '',
    err: '',
    waitFor: (re, ms = 20000) =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const poll = (): void => {
          const m = re.exec(r.out);
          if (m) return resolve(m);
          if (child.exitCode !== null || Date.now() - t0 > ms) return reject(new Error(`no ${re} in stdout:\n${r.out}\nstderr:\n${r.err}`));
          setTimeout(poll, 50);
        };
        poll();
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
  child.stdout.on('data', (b: Buffer) => (r.out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (r.err += b.toString()));
  return r;
}

interface Item {
  metadata: { name: string; namespace?: string };
  status?: { standby?: boolean; agent?: { vxlan?: string; reportedAt?: string }; conditions?: { type: string; status: string }[]; domains?: { network: string; traffic?: Record<string, { received: number }> }[] };
}
interface Mig {
  id: string;
  network: string;
  function: string;
  from: string;
  to: string;
  reason: string;
  phase: string;
  detail?: string;
  error?: string;
}

async function get<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200, url);
  return (await res.json()) as T;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const SERVERS = ['central-1', 'central-2', 'central-3', 'edge-1', 'edge-2', 'regional-1', 'regional-2', 'regional-3'];
const STATUS = /day (\d\d):(\d\d) \| servers (\d+) active, (\d+) standby \((\d+)\/(\d+) agents up\) \| ([\d.]+) W \| 3 networks, 15 functions placed, sinks received ([1-9]\d*) \| migrations (\d+)/;

test('npm start (swnet start): the platform example — 8 agents, 3 networks with traffic, empty servers in standby; a restart at night over a spread layout resumes from the store and consolidates (reason idle)', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-platform-'));
  try {
    // 1. A fresh platform: the day starts at midnight and lasts 20 s.
    const a = up(['start'], { SWNET_DATA_DIR: dir, SWNET_PORT: '0', SWNET_STATUS_INTERVAL: '500', SWNET_DAY_LENGTH: '20s' });
    try {
      const [, url] = await a.waitFor(/API on (http:\/\/127\.0\.0\.1:\d+).*8 servers, a day lasts 20 s, urbanization on/);
      const api = `${url}/api/v1`;
      await a.waitFor(/\(8\/8 agents up\) \| [\d.]+ W \| 3 networks, 15 functions placed, sinks received [1-9]/);
      const servers = await get<{ items: Item[] }>(`${api}/servers`);
      assert.deepEqual(servers.items.map((s) => s.metadata.name).sort(), SERVERS);
      await until('every agent reporting', async () => ((await get<{ items: Item[] }>(`${api}/servers`)).items.every((s) => typeof s.status?.agent?.reportedAt === 'string') ? true : undefined));
      const nets = await get<{ items: Item[] }>(`${api}/namespaces/default/softwarenetworks`);
      assert.deepEqual(nets.items.map((n) => n.metadata.name).sort(), ['iptv', 'secure', 'voip']);
      for (const n of nets.items) assert.equal(n.status?.conditions?.find((c) => c.type === 'Scheduled')?.status, 'True', `${n.metadata.name} Scheduled`);
      // Every network's sinks receive frames (as the agents report them).
      await until('traffic at every network sink', async () => {
        const rx = new Map<string, number>();
        for (const s of (await get<{ items: Item[] }>(`${api}/servers`)).items) for (const d of s.status?.domains ?? []) for (const [fn, t] of Object.entries(d.traffic ?? {})) rx.set(`${d.network}/${fn}`, t.received);
        const sinks = ['default/voip/gateway', 'default/iptv/settop-1', 'default/iptv/settop-2', 'default/iptv/settop-3', 'default/secure/datacenter'];
        return sinks.every((k) => (rx.get(k) ?? 0) > 0) ? true : undefined;
      });
      // The scheduler packed the networks: the servers left empty go to standby, with an event each.
      const standby = await until('a server in standby', async () => (await get<{ items: Item[] }>(`${api}/servers`)).items.find((s) => s.status?.standby === true)?.metadata.name);
      const ev = await get<{ items: { reason: string; message: string; source: string }[] }>(`${api}/events?kind=Server&name=${standby}`);
      assert.ok(ev.items.some((e) => e.reason === 'Standby' && e.source === 'urbanizer'), JSON.stringify(ev.items));
      const m = STATUS.exec(a.out.split('\n').filter((l) => STATUS.test(l)).at(-1) ?? '');
      assert.ok(m, a.out);
      assert.equal(Number(m[3]) + Number(m[4]), 8, 'active + standby = 8');
      assert.ok(Number(m[4]) >= 1 && Number(m[7]) > 0, 'standby servers and power on the status line');
    } finally {
      assert.equal(await a.stop(), 0);
    }
    assert.match(a.out, /swnet up: stopped/);
    assert.doesNotMatch(a.err, /AgentError|Cannot read|"component":"urbanizer".*Error/);

    // 2. What a peak leaves behind (the spreading itself is urbanize.test.ts'): the secure network
    // spread onto central-3, the migrations done and cleaned up; and, so that the test does not
    // race a 20 s night on a busy machine, a 2-minute day at 20:00 (the day clock and the sources'
    // profiles, as `swnet up` writes them; the networks keep their generation, hence their
    // placements). Written while the platform is down.
    const store = await openStore({ store: `sqlite:${dir}` });
    try {
      assert.equal(((await store.get(DAY_KEY))?.value as unknown as { periodMs: number }).periodMs, 20_000);
      const day = { periodMs: 120_000, originMs: Date.now() - (20 / 24) * 120_000 };
      await store.put(DAY_KEY, day);
      for (const kv of (await store.list('/swnet/softwarenetwork/')).items) {
        const [lr] = withDay([{ resource: kv.value as unknown as Resource }], day);
        await store.put(kv.key, lr?.resource as unknown as JsonObject);
      }
      await store.txn([], [{ type: 'delete', key: MIGRATION_PREFIX, prefix: true }]);
      for (const kv of (await store.list(`${PLACEMENT_PREFIX}default/secure/`)).items) await store.put(kv.key, { ...(kv.value as unknown as Placement), server: 'central-3' } as unknown as JsonObject);
    } finally {
      await store.close();
    }
    const b = up(['--data-dir', dir, '--port', '0', '--status-interval', '500']);
    try {
      const [, url] = await b.waitFor(/API on (http:\/\/127\.0\.0\.1:\d+).*8 servers, a day lasts 2 min/);
      const api = `${url}/api/v1`;
      await b.waitFor(/day (2\d|0[0-5]):\d\d \| /);
      // Lightly loaded central-3 is emptied: migrations with reason idle, nothing else at night.
      const idle = await until('a consolidation migration', async () => {
        const ms = (await get<{ items: Mig[] }>(`${api}/migrations`)).items;
        return ms.some((x) => x.reason === 'idle') ? ms : undefined;
      }, 40000).catch((e: unknown) => {
        throw new Error(`${String(e)}\nstdout:\n${b.out.slice(-3000)}\nstderr:\n${b.err.slice(-4000)}`);
      });
      const last = STATUS.exec(b.out.split('\n').filter((l) => STATUS.test(l)).at(-1) ?? '');
      t.diagnostic(`consolidation seen at ${last ? `${last[1]}:${last[2]}` : '?'} of the compressed day`);
      for (const x of idle) {
        assert.equal(x.reason, 'idle', JSON.stringify(x));
        assert.match(x.detail ?? '', /consolidation: \S+ forecast \d+% < 60%, emptied for standby/);
      }
      assert.ok(idle.some((x) => x.network === 'secure' && x.from === 'central-3'), JSON.stringify(idle));
      const ev = await get<{ items: { reason: string; message: string }[] }>(`${api}/events?namespace=default`);
      assert.ok(ev.items.some((e) => e.reason === 'Consolidate' && /→/.test(e.message)));
      // Once the agents have carried the migrations out, central-3 holds nothing and goes to standby.
      // That needs the agents' side of the migration protocol: without it the migrations stay
      // pending and fail after 10 s, so the standby of central-3 is checked when they all succeed.
      const outcome = await until('central-3 emptied into standby, or a migration off it failed', async () => {
        const failed = (await get<{ items: Mig[] }>(`${api}/migrations`)).items.filter((x) => x.from === 'central-3' && x.phase === 'failed');
        if (failed.length > 0) return failed;
        return (await get<{ items: Item[] }>(`${api}/servers`)).items.find((s) => s.metadata.name === 'central-3')?.status?.standby === true ? ('standby' as const) : undefined;
      }, 40000);
      if (outcome === 'standby') t.diagnostic('the agents carried the consolidation out (one function of the network per wave): central-3 emptied and in standby');
      else t.diagnostic(`a migration off central-3 failed (${outcome.map((x) => `${x.function}: ${x.error ?? '?'}`).join(', ')}): central-3 standby not checked`);
    } finally {
      assert.equal(await b.stop(), 0);
    }
    // Resumed: the example was not applied again, no server created.
    assert.doesNotMatch(b.err, /(Server|SoftwareNetwork) \S+ (created|configured)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('swnet up -f examples/embedded.yaml --servers 2: emulated servers s1, s2 and their agents; a Server applied later gets its agent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swnet-up-'));
  const manifest = fileURLToPath(new URL('../../../examples/embedded.yaml', import.meta.url));
  try {
    const a = up(['-f', manifest, '--data-dir', dir, '--port', '0', '--servers', '2', '--status-interval', '300', '--no-urbanize']);
    try {
      const [, url] = await a.waitFor(/API on (http:\/\/127\.0\.0\.1:\d+).*2 servers/);
      await a.waitFor(/servers 2 active, 0 standby \(2\/2 agents up\) \| [\d.]+ W \| 1 networks, 4 functions placed, sinks received [1-9]/);
      const res = await fetch(`${url}/api/v1/apply`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' }, body: 'apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: s3 }\nspec: { datacenter: embedded, capacity: { cpu: 2, memory: 4Gi } }\n' });
      assert.equal(res.status, 200, await res.text());
      await a.waitFor(/\(3\/3 agents up\)/);
    } finally {
      assert.equal(await a.stop(), 0);
    }
    assert.doesNotMatch(a.err, /AgentError|Cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('day clock: a fresh store starts a day at midnight now; a restart keeps it; a new length keeps the time of day; the example\'s sources get it', async () => {
  const store = new MemoryStore();
  const t0 = 1_700_000_000_000;
  const a = await dayClock(store, undefined, t0);
  assert.deepEqual(a, { day: { originMs: t0, periodMs: 600_000 }, changed: true });
  assert.equal(dayTime(a.day, t0), '00:00');
  assert.equal(dayTime(a.day, t0 + 150_000), '06:00');
  assert.equal(dayTime(a.day, t0 + 600_000 + 450_000), '18:00', 'the next day');
  assert.deepEqual(await dayClock(store, undefined, t0 + 5000), { day: a.day, changed: false });
  assert.deepEqual(await dayClock(store, 600_000, t0 + 5000), { day: a.day, changed: false });
  // 06:00 of a 10-minute day; the day becomes 20 s long and it is still 06:00.
  const b = await dayClock(store, 20_000, t0 + 150_000);
  assert.equal(b.changed, true);
  assert.equal(b.day.periodMs, 20_000);
  assert.equal(dayTime(b.day, t0 + 150_000), '06:00');
  assert.equal(dayTime(b.day, t0 + 150_000 + 10_000), '18:00');
  assert.deepEqual((await store.get(DAY_KEY))?.value, b.day);

  const text = readFileSync(fileURLToPath(new URL('../../../examples/platform.yaml', import.meta.url)), 'utf8');
  const { resources, issues } = parseManifestText(text, 'platform.yaml');
  assert.deepEqual(issues, []);
  const kinds = resources.map((r) => r.resource.kind);
  assert.deepEqual([kinds.filter((k) => k === 'Datacenter').length, kinds.filter((k) => k === 'Server').length, kinds.filter((k) => k === 'Link').length, kinds.filter((k) => k === 'SoftwareNetwork').length], [3, 8, 3, 3]);
  const out = withDay(resources, b.day);
  const profiles = out.flatMap((r) => ((r.resource.spec['functions'] ?? []) as { kind: string; config?: { profile?: unknown } }[]).filter((f) => f.kind === 'traffic-source').map((f) => f.config?.profile));
  assert.equal(profiles.length, 3);
  for (const p of profiles) assert.deepEqual(p, { shape: 'day', periodMs: 20_000, min: 0.1, max: 1, originMs: b.day.originMs });
  assert.equal(out[0], resources[0], 'other resources untouched');
});
