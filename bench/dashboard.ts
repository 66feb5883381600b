/**
 * Dashboard benchmarks in the real browser (Debian's chromium): time to first useful render with
 * 1,000 software networks in the store (beside the same page over an empty store), and the delay
 * from a change in the control plane (a PUT through the API) to its row on the page (beside a bare
 * WebSocket watch client in node receiving the same change: the transport's floor).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { Page } from 'playwright-core';
import { TokenAuth } from '../src/control/api/auth.js';
import { DEFAULT_WEB_ROOT } from '../src/control/api/static.js';
import { apply, readResource } from '../src/control/manifest/apply.js';
import { parseManifestText } from '../src/control/manifest/load.js';
import { PLACEMENT_PREFIX } from '../src/control/placement.js';
import { resourceKey } from '../src/control/manifest/types.js';
import type { JsonObject, Store } from '../src/control/store/contract.js';
import { openStore } from '../src/control/store/open.js';
import { dashboardBuilt, launchChromium } from '../src/cli/browser.js';
import { startControlPlane } from '../src/cli/controller.js';
import type { Reporter } from './report.js';

const TOKEN = 'bench-dashboard-token-0123456789';
const NETWORKS = 1000;
const SERVERS = 20;

function infrastructure(): string {
  const docs = ['apiVersion: swnet.io/v1\nkind: Datacenter\nmetadata: { name: bench-dc }\nspec: { tier: regional }\n'];
  for (let i = 1; i <= SERVERS; i++) docs.push(`apiVersion: swnet.io/v1\nkind: Server\nmetadata: { name: b${i} }\nspec:\n  datacenter: bench-dc\n  capacity: { cpu: 64, memory: 256Gi, bandwidth: 40Gbps }\n`);
  return docs.join('---\n');
}
function network(name: string, ns = 'default'): string {
  return `apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n  functions:\n    - { name: a, kind: switch, config: { ports: [{ name: p0 }, { name: p1 }] }, resources: { cpu: 100m, memory: 64Mi } }\n    - { name: b, kind: switch, config: { ports: [{ name: p0 }, { name: p1 }] }, resources: { cpu: 100m, memory: 64Mi } }\n  links:\n    - endpoints: ["a:p1", "b:p0"]\n`;
}
async function applyText(store: Store, text: string): Promise<void> {
  const { resources, issues } = parseManifestText(text, 'bench.yaml');
  if (issues.length) throw new Error(issues.map((i) => i.message).join('; '));
  await apply(store, resources);
}
/** Writes a Server's status as an agent does (the last write's revision). */
async function writeStatus(store: Store, server: string, status: JsonObject): Promise<number> {
  const key = resourceKey('Server', server);
  const kv = await store.get(key);
  if (!kv) throw new Error(`no server ${server}`);
  const res = readResource(kv);
  const { resourceVersion: _rv, ...metadata } = res.metadata;
  return store.put(key, { ...res, metadata, status } as unknown as JsonObject);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Opens the page and returns the time (ms from navigation start) of its first useful render. */
async function firstRender(page: Page, url: string): Promise<number> {
  await page.goto(`${url}/#token=${TOKEN}`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
  // The mark is set once the lists are applied and the first view rendered; add the frame that paints it.
  return Number(await page.evaluate(`new Promise((r) => requestAnimationFrame(() => r(performance.getEntriesByName('swnet-ready')[0].startTime + 0)))`));
}

async function renders(url: string, n: number): Promise<number[]> {
  const b = await launchChromium();
  try {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const page = await b.context.newPage();
      out.push(await firstRender(page, url));
      await page.close();
    }
    return out;
  } finally {
    await b.close();
  }
}

export async function run(r: Reporter): Promise<void> {
  if (!dashboardBuilt(DEFAULT_WEB_ROOT)) throw new Error(`the dashboard is not built in ${DEFAULT_WEB_ROOT} (npm run build)`);
  const dir = mkdtempSync(join(tmpdir(), 'swnet-bench-dash-'));
  const store = await openStore({ store: `sqlite:${dir}` });
  const cp = await startControlPlane(store, { auth: new TokenAuth([{ name: 'admin', token: TOKEN, admin: true }]), host: '127.0.0.1', port: 0 });
  try {
    await applyText(store, infrastructure());
    const empty = await renders(cp.url, 5);

    const docs: string[] = [];
    for (let i = 0; i < NETWORKS; i++) docs.push(network(`net-${String(i).padStart(4, '0')}`, `tenant-${i % 10}`));
    await applyText(store, docs.join('---\n'));
    const t0 = performance.now();
    for (;;) {
      const { items } = await store.list(PLACEMENT_PREFIX);
      if (items.length >= NETWORKS * 2) break;
      if (performance.now() - t0 > 120_000) throw new Error(`only ${items.length} of ${NETWORKS * 2} functions placed after 120 s`);
      await new Promise((res) => setTimeout(res, 500));
    }
    r.note(`${NETWORKS} networks (${NETWORKS * 2} functions) placed on ${SERVERS} servers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const full = await renders(cp.url, 5);
    r.note(`first useful render, ${NETWORKS} networks: ${full.map((x) => x.toFixed(0)).join(', ')} ms (first cold); empty store: ${empty.map((x) => x.toFixed(0)).join(', ')} ms`);
    r.record({ name: `dashboard first useful render, ${NETWORKS} networks`, value: median(full), unit: 'ms', target: 1000, better: 'lower', baseline: median(empty) });

    // Event → page: PUT a new network, time until its row exists in the (filtered) list.
    const b = await launchChromium();
    const ws = new WebSocket(`${cp.url.replace('http', 'ws')}/api/v1/watch?kind=SoftwareNetwork&token=${TOKEN}&resourceVersion=${(await store.revision())}`);
    const arrivals = new Map<string, number>();
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as { key?: string };
      if (m.key) arrivals.set(m.key, performance.timeOrigin + performance.now());
    });
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    try {
      const page = await b.context.newPage();
      await firstRender(page, cp.url);
      await page.click('#tabs button[data-tab="nets"]');
      await page.fill('#net-filter', 'bench-delay-');
      const delays: number[] = [];
      const floors: number[] = [];
      for (let i = 0; i < 10; i++) {
        const name = `bench-delay-${i}`;
        const sel = JSON.stringify(`[data-net="default/${name}"]`);
        const seen = page.evaluate(`new Promise((res) => { const at = () => performance.timeOrigin + performance.now(); if (document.querySelector(${sel})) return res(at()); const mo = new MutationObserver(() => { if (document.querySelector(${sel})) { mo.disconnect(); res(at()); } }); mo.observe(document.body, { subtree: true, childList: true }); })`);
        await page.evaluate('0'); // the observer is installed once this round trip returns
        const start = performance.timeOrigin + performance.now();
        const res = await fetch(`${cp.url}/api/v1/namespaces/default/softwarenetworks/${name}`, { method: 'PUT', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/yaml' }, body: network(name) });
        if (!res.ok) throw new Error(`PUT ${name}: ${res.status} ${await res.text()}`);
        delays.push(Number(await seen) - start);
        const key = resourceKey('SoftwareNetwork', name, 'default');
        for (let w = 0; w < 100 && !arrivals.has(key); w++) await new Promise((x) => setTimeout(x, 10));
        const got = arrivals.get(key);
        if (got !== undefined) floors.push(got - start);
        await new Promise((x) => setTimeout(x, 150));
      }
      r.note(`event to page: ${delays.map((x) => x.toFixed(0)).join(', ')} ms; bare watch client: ${floors.map((x) => x.toFixed(0)).join(', ')} ms`);
      r.record({ name: 'event to page delay', value: median(delays), unit: 'ms', target: 500, better: 'lower', ...(floors.length ? { baseline: median(floors) } : {}) });

      // Responsiveness: every network changes at once (1,000 watch messages, then the placements
      // the controller rewrites); time until the page has applied them, and its longest task.
      await page.evaluate(`window.__lt = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lt = Math.max(window.__lt, e.duration); }).observe({ type: 'longtask' })`);
      const burst: string[] = [];
      for (let i = 0; i < NETWORKS; i++) burst.push(network(`net-${String(i).padStart(4, '0')}`, `tenant-${i % 10}`).replace('  functions:', '  priority: 3\n  functions:'));
      const parsed = parseManifestText(burst.join('---\n'), 'burst.yaml');
      const lastKey = resourceKey('SoftwareNetwork', `net-${String(NETWORKS - 1).padStart(4, '0')}`, `tenant-${(NETWORKS - 1) % 10}`);
      arrivals.delete(lastKey);
      const t0b = performance.timeOrigin + performance.now();
      const { revision } = await apply(store, parsed.resources);
      await page.waitForFunction(`Number(document.getElementById('kpi-rev')?.dataset.rev) >= ${revision}`, undefined, { timeout: 30_000, polling: 'raf' });
      const onPage = performance.timeOrigin + performance.now() - t0b;
      for (let w = 0; w < 300 && !arrivals.has(lastKey); w++) await new Promise((x) => setTimeout(x, 10));
      await new Promise((x) => setTimeout(x, 1500));
      const longest = Number(await page.evaluate('window.__lt'));
      const floor = arrivals.get(lastKey);
      r.record({ name: `watch burst of ${NETWORKS} network changes applied on the page`, value: onPage, unit: 'ms', target: null, better: 'lower', ...(floor !== undefined ? { baseline: floor - t0b } : {}) });
      r.record({ name: `watch burst of ${NETWORKS} network changes: longest main-thread task (0 = none over 50 ms)`, value: longest, unit: 'ms', target: null, better: 'lower' });

      // Agents' reports for every network (what feeds the charts): each server writes its status
      // with one domain per network placed on it, three rounds a second apart, the Charts tab open
      // (its virtual list builds only the cards in view).
      await page.click('#tabs button[data-tab="charts"]');
      await page.evaluate('window.__lt = 0');
      const placed = (await store.list(PLACEMENT_PREFIX)).items.map((kv) => kv.value as { namespace: string; network: string; server: string });
      const onServer = new Map<string, Set<string>>();
      for (const p of placed) {
        let set = onServer.get(p.server);
        if (!set) onServer.set(p.server, (set = new Set()));
        set.add(`${p.namespace}/${p.network}`);
      }
      const rounds: number[] = [];
      for (let round = 1; round <= 3; round++) {
        const t0r = performance.timeOrigin + performance.now();
        let rev = 0;
        for (const [server, nets] of onServer) {
          const domains = [...nets].map((n, i) => ({ network: n, functions: ['a', 'b'], state: 'running', restarts: 0, processed: round * 1000 * (i + 1), drops: round * (i % 7), traffic: { b: { received: round * 1000, bytes: round * 1_000_000 } }, latency: { p50Ms: 0.2 + round / 10, p99Ms: 1 + round, count: round * 1000 }, tokens: { allocation: 10, balance: 10 - round } }));
          rev = await writeStatus(store, server, { agent: { reportedAt: new Date().toISOString() }, powerWatts: 100 + round, energyJoules: round * 3600, utilization: { cpu: 0.1 * round }, domains } as unknown as JsonObject);
        }
        await page.waitForFunction(`Number(document.getElementById('kpi-rev')?.dataset.rev) >= ${rev}`, undefined, { timeout: 30_000, polling: 'raf' });
        rounds.push(performance.timeOrigin + performance.now() - t0r);
        await new Promise((x) => setTimeout(x, 1000));
      }
      const cards = Number(await page.evaluate(`document.querySelectorAll('#ch-rows .netcard').length`));
      const withData = Number(await page.evaluate(`document.getElementById('ch-count').textContent.split(' ')[0]`));
      if (withData < NETWORKS) throw new Error(`the Charts tab lists ${withData} networks with reports, fewer than ${NETWORKS}`);
      const ltStatus = Number(await page.evaluate('window.__lt'));
      r.note(`status reports of ${onServer.size} servers for ${NETWORKS} networks, per round: ${rounds.map((x) => x.toFixed(0)).join(', ')} ms; ${cards} chart cards built (the ones in view)`);
      r.record({ name: `agents' status reports for ${NETWORKS} networks applied on the page (Charts tab)`, value: median(rounds), unit: 'ms', target: null, better: 'lower' });
      r.record({ name: `agents' status reports for ${NETWORKS} networks: longest main-thread task (0 = none over 50 ms)`, value: ltStatus, unit: 'ms', target: null, better: 'lower' });
    } finally {
      ws.close();
      await b.close();
    }
  } finally {
    await cp.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
