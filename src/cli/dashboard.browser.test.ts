/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against the API
 * server of `swnet controller` over a SQLite store: it shows the servers and networks, a manifest
 * applied from the page appears live through the watch stream, a bad one shows file:line:column.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenAuth } from '../control/api/auth.js';
import { DEFAULT_WEB_ROOT } from '../control/api/static.js';
import { GOOD } from '../control/manifest/fixtures.js';
import { readResource } from '../control/manifest/apply.js';
import { resourceKey } from '../control/manifest/types.js';
import type { JsonObject, Store } from '../control/store/contract.js';
import { openStore } from '../control/store/open.js';
import { dashboardBuilt, launchChromium } from './browser.js';
import { startControlPlane } from './controller.js';

const TOKEN = 'dash-test-token-0123456789';

/** Writes a Server's status as a server agent does (src/cli/agent.ts writeStatus). */
async function writeStatus(store: Store, server: string, status: JsonObject): Promise<void> {
  const key = resourceKey('Server', server);
  const kv = await store.get(key);
  assert.ok(kv);
  const r = readResource(kv);
  const { resourceVersion: _rv, ...metadata } = r.metadata;
  const res = await store.txn([{ key, modRevision: kv.modRevision }], [{ type: 'put', key, value: { ...r, metadata, status: { ...(r.status ?? {}), ...status } } as unknown as JsonObject }]);
  assert.ok(res.succeeded);
}

test('dashboard: servers, networks, apply from the page, live updates, manifest errors', { timeout: 60_000 }, async () => {
  assert.ok(dashboardBuilt(DEFAULT_WEB_ROOT), `the dashboard is not built in ${DEFAULT_WEB_ROOT} (npm run build)`);
  const dir = mkdtempSync(join(tmpdir(), 'swnet-dash-'));
  const store = await openStore({ store: `sqlite:${dir}` });
  const auth = new TokenAuth([{ name: 'admin', token: TOKEN, admin: true }]);
  let cp = await startControlPlane(store, { auth, host: '127.0.0.1', port: 0 });
  const b = await launchChromium();
  const api = async (method: string, path: string, body?: string): Promise<Response> =>
    fetch(`${cp.url}${path}`, { method, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/yaml' }, ...(body !== undefined ? { body } : {}) });
  try {
    const r = await api('POST', '/api/v1/apply?file=good.yaml', GOOD);
    assert.equal(r.status, 200, await r.text());

    const page = await b.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Without a token: the login form; a wrong token is refused there.
    await page.goto(`${cp.url}/`);
    await page.waitForSelector('#login:not([hidden])');
    await page.fill('#login-token', 'wrong-token');
    await page.click('#login-form button');
    await page.waitForFunction(`/refused/.test(document.querySelector('#login-error').textContent) && !document.querySelector('#login').hidden`, undefined, { timeout: 5_000 });
    assert.equal(await page.evaluate('sessionStorage.getItem("swnet.token")'), null);
    await page.goto(`${cp.url}/#token=${TOKEN}`);
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });
    // The token left the address bar for sessionStorage.
    assert.equal(new URL(page.url()).hash, '');
    assert.equal(await page.evaluate('sessionStorage.getItem("swnet.token")'), TOKEN);

    // Infrastructure: the datacenter by tier, both servers.
    await page.waitForSelector('[data-dc="edge-paris"] tr[data-server="s1"]');
    await page.waitForSelector('[data-dc="edge-paris"] tr[data-server="s2"]');
    assert.match((await page.textContent('.tier h2')) ?? '', /edge/);
    // What an agent reports (utilisation, power, energy) shows up live, and feeds the charts.
    await writeStatus(store, 's1', { utilization: { cpu: 0.5 }, powerWatts: 120, energyJoules: 7200 });
    await page.waitForFunction(`/50%.*120 W.*2\\.0 Wh/.test(document.querySelector('tr[data-server="s1"]')?.textContent ?? '')`, undefined, { timeout: 5_000 });
    await page.waitForFunction(`document.querySelector('#chart-energy')?.dataset.lastWatts === '120' && Number(document.querySelector('#chart-active')?.dataset.points) >= 2`, undefined, { timeout: 5_000 });

    // Networks: the fixture's network, placed by the controller (placements arrive over the watch).
    await page.click('#tabs button[data-tab="nets"]');
    await page.click('[data-net="tenant-a/web"]');
    await page.waitForSelector('#net-title');
    await page.waitForFunction(`[...document.querySelectorAll('#net-placements tr[data-fn="r1"] td')].some((td) => /^s[12]$/.test(td.textContent))`, undefined, { timeout: 10_000 });
    await page.waitForSelector('#topology canvas', { timeout: 5_000 });
    // Traffic counted by the agent's sinks becomes the network's throughput chart.
    for (let i = 1; i <= 8; i++) {
      await writeStatus(store, 's1', { domains: [{ network: 'tenant-a/web', functions: ['r1'], state: 'running', restarts: 0, processed: i * 1000, traffic: { r1: { received: i * 1000, bytes: i * 1_000_000 } }, ports: { 'r1.eth0': i * 500, 'r1.eth1': 0 } }] });
      await new Promise((r) => setTimeout(r, 400));
    }
    await page.waitForFunction(`Number(document.querySelector('#net-charts')?.dataset.maxBits) > 0`, undefined, { timeout: 5_000 });
    // Links with their load: r1.eth0 sent 500 frames per ~400 ms → link 0 (r1:eth0 – fw) carries
    // about 1,250 frames/s; link 1's r1 end sent nothing (its lb end is not reported).
    await page.waitForFunction(`(JSON.parse(document.querySelector('#topology')?.dataset.links ?? '{}').l0 ?? 0) > 300`, undefined, { timeout: 5_000 });
    const loads = JSON.parse((await page.evaluate(`document.querySelector('#topology').dataset.links`)) as string) as Record<string, number>;
    assert.ok((loads['l0'] ?? 0) < 5_000 && loads['l1'] === 0, JSON.stringify(loads));
    // Drops, latency and tokens: rates between the agent's own report times, latency of the
    // interval from the difference of two cumulative histograms (bounds 4^m µs): 1,000 new frames
    // all in (0.256, 1.024] ms → p50 0.64, p99 1.016 (interpolated), mean 800/1000 exactly.
    const at = Date.now() + 1000;
    const le = Array.from({ length: 12 }, (_, m) => m);
    for (const [k, t] of [[1, at], [2, at + 2000]] as const) {
      await writeStatus(store, 's1', { agent: { reportedAt: new Date(t).toISOString() }, domains: [{ network: 'tenant-a/web', functions: ['r1'], state: 'running', restarts: 0, processed: 8000, drops: 100 * k, traffic: { r1: { received: 8000, bytes: 8_000_000 } }, latency: { p50Ms: 9, p99Ms: 9, count: 1000 * k, sumMs: 600 + 800 * (k - 1), buckets: le.map((m) => (m >= 5 ? 1000 * k : 0)) }, tokens: { allocation: 10, balance: 4 } }] });
    }
    await page.waitForFunction(`document.querySelector('#net-charts .netcard')?.dataset.drops === '50'`, undefined, { timeout: 5_000 });
    const figures = await page.evaluate(`({ ...document.querySelector('#net-charts .netcard').dataset })`) as Record<string, string>;
    assert.ok(Math.abs(Number(figures['p50']) - 0.64) < 1e-9, JSON.stringify(figures));
    assert.ok(Math.abs(Number(figures['p99']) - (0.256 + 0.768 * 0.99)) < 1e-9, JSON.stringify(figures));
    assert.ok(Math.abs(Number(figures['mean']) - 0.8) < 1e-9, JSON.stringify(figures));
    assert.equal(figures['bits'], '0');
    assert.deepEqual([figures['alloc'], figures['bal']], ['10', '4']);
    assert.match((await page.textContent('#net-charts .netcard-head')) ?? '', /50 drops\/s · p99 1\.02 ms · tokens 4\/10/);

    // Apply from the page: the new network appears in the list through the watch stream.
    await page.click('#tabs button[data-tab="apply"]');
    await page.fill('#apply-text', 'apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: added-from-page }\nspec:\n  functions:\n    - name: sw\n      kind: switch\n      config: { ports: [{ name: a }, { name: b }] }\n');
    await page.click('#apply-go');
    await page.waitForSelector('#apply-result .ok');
    assert.match((await page.textContent('#apply-result')) ?? '', /SoftwareNetwork default\/added-from-page created/);
    await page.click('#tabs button[data-tab="nets"]');
    await page.waitForSelector('[data-net="default/added-from-page"]', { timeout: 5_000 });

    // A change made elsewhere (through the API) shows up without reloading.
    const put = await api('PUT', '/api/v1/namespaces/ops/softwarenetworks/from-api', 'apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: from-api, namespace: ops }\nspec:\n  functions:\n    - name: sw\n      kind: switch\n      config: { ports: [{ name: a }] }\n');
    assert.equal(put.status, 200, await put.text());
    await page.waitForSelector('[data-net="ops/from-api"]', { timeout: 5_000 });

    // A bad manifest: 422 shown as file:line:column, nothing applied.
    await page.click('#tabs button[data-tab="apply"]');
    await page.fill('#apply-text', 'apiVersion: swnet.io/v1\nkind: SoftwareNetwork\nmetadata: { name: broken }\nspec:\n  tokens: many\n  functions:\n    - name: x\n      kind: switch\n');
    await page.click('#apply-go');
    await page.waitForSelector('#apply-result :is(.err, .ok)');
    await page.waitForSelector('#apply-issues li', { timeout: 1000 }).catch(async () => assert.fail(`no issues listed: ${await page.textContent('#apply-result')}`));
    const issue = (await page.textContent('#apply-issues li')) ?? '';
    assert.match(issue, /^dashboard\.yaml:\d+:\d+: /);
    assert.equal((await api('GET', '/api/v1/namespaces/default/softwarenetworks/broken')).status, 404);

    // Operations the API lacks are disabled with the reason.
    const drain = await page.$('#op-drain');
    assert.ok(drain);
    const hasDrain = JSON.stringify(await (await api('GET', '/openapi.json')).json()).includes('/drain');
    if (!hasDrain) {
      assert.equal(await drain.isDisabled(), true);
      assert.match((await drain.getAttribute('title')) ?? '', /no endpoint to drain/);
    }

    // Operations from the page, each with its outcome in the Operations panel.
    const newest = '#ops .op:first-child';
    const outcome = async (re: RegExp, state: 'ok' | 'error'): Promise<void> => {
      await page.waitForFunction(`document.querySelector(${JSON.stringify(`${newest} [data-outcome]`)})?.dataset.outcome !== 'running'`, undefined, { timeout: 5_000 });
      const text = (await page.textContent(newest)) ?? '';
      assert.equal(await page.getAttribute(`${newest} [data-outcome]`, 'data-outcome'), state, text);
      assert.match(text, re);
    };
    // A user connected from a template picked in the page, then disconnected.
    const tpl = await api('PUT', '/api/v1/namespaces/default/usernetworktemplates/home', 'apiVersion: swnet.io/v1\nkind: UserNetworkTemplate\nmetadata: { name: home }\nspec:\n  template:\n    spec:\n      functions:\n        - { name: sw, kind: switch, config: { ports: [{ name: a }] } }\n');
    assert.equal(tpl.status, 200, await tpl.text());
    await page.click('#tabs button[data-tab="apply"]');
    await page.waitForSelector('#user-template option[value="default/home"]', { state: 'attached', timeout: 5_000 });
    await page.fill('#user-id', 'alice');
    await page.selectOption('#user-template', 'default/home');
    await page.click('#user-connect');
    await outcome(/connect user alice.*default\/user-alice created/, 'ok');
    await page.waitForFunction(`/default\\/user-alice: 1\\/1 functions placed/.test(document.querySelector(${JSON.stringify(`${newest} .live`)})?.textContent ?? '')`, undefined, { timeout: 10_000 });
    await page.click('#user-disconnect');
    await outcome(/disconnect user alice/, 'ok');
    assert.equal((await api('GET', '/api/v1/namespaces/default/softwarenetworks/user-alice')).status, 404);
    // A refused operation shows the API's message: migrating r1 to the server it runs on.
    const pls = (await (await api('GET', '/api/v1/placements')).json()) as { items: { network: string; function: string; server: string }[] };
    const r1 = pls.items.find((p) => p.network === 'web' && p.function === 'r1')?.server ?? '';
    await page.fill('#mig-net', 'tenant-a/web');
    await page.selectOption('#mig-fn', 'r1');
    await page.selectOption('#mig-to', r1);
    await page.click('#mig-go');
    await outcome(new RegExp(`409: .*already runs on ${r1}`), 'error');
    // Migrating from the network's page: the Migration object comes over the watch into the panel.
    await page.click('#tabs button[data-tab="nets"]');
    await page.click('[data-net="tenant-a/web"]');
    const other = r1 === 's1' ? 's2' : 's1';
    await page.selectOption('#net-placements tr[data-fn="r1"] select', other);
    await page.click('#net-placements tr[data-fn="r1"] button[data-op="migrate"]');
    await outcome(new RegExp(`migrate tenant-a/web/r1 → ${other}`), 'ok');
    await page.waitForSelector(`${newest} .mig[data-phase] >> text=${r1} → ${other}`, { timeout: 5_000 });
    // Drain and uncordon from the infrastructure view: the row says cordoned, then not.
    await page.click('#tabs button[data-tab="infra"]');
    await page.click(`tr[data-server="${other}"] button[data-op="drain"]`);
    await outcome(new RegExp(`drain ${other}`), 'ok');
    await page.waitForFunction(`/cordoned/.test(document.querySelector('tr[data-server="${other}"]')?.children[1].textContent ?? '')`, undefined, { timeout: 5_000 });
    await page.click(`tr[data-server="${other}"] button[data-op="uncordon"]`);
    await outcome(new RegExp(`uncordon ${other}`), 'ok');
    await page.waitForFunction(`!/cordoned/.test(document.querySelector('tr[data-server="${other}"]')?.children[1].textContent ?? 'cordoned')`, undefined, { timeout: 5_000 });

    if (process.env['SWNET_DASH_SCREENSHOT']) {
      await page.click('#tabs button[data-tab="nets"]');
      await page.click('[data-net="tenant-a/web"]');
      await page.waitForTimeout(1500);
      await page.screenshot({ path: `${process.env['SWNET_DASH_SCREENSHOT']}-nets.png` });
      await page.click('#tabs button[data-tab="infra"]');
      await page.screenshot({ path: `${process.env['SWNET_DASH_SCREENSHOT']}-infra.png` });
    }
    // The timeline shows the controller's events with their reasons.
    await page.click('#tabs button[data-tab="events"]');
    await page.waitForFunction(`[...document.querySelectorAll('#ev-rows .ev')].some((r) => /Scheduled/.test(r.textContent) && /tenant-a\\/web/.test(r.textContent))`, undefined, { timeout: 5_000 });

    // The watch reconnects after the API restarts and resumes from the last revision it saw.
    const port = Number(new URL(cp.url).port);
    await cp.stop();
    await store.put(resourceKey('SoftwareNetwork', 'while-down', 'ops'), { apiVersion: 'swnet.io/v1', kind: 'SoftwareNetwork', metadata: { name: 'while-down', namespace: 'ops' }, spec: { functions: [{ name: 'sw', kind: 'switch', config: { ports: [{ name: 'a' }] } }] } });
    cp = await startControlPlane(store, { auth, host: '127.0.0.1', port });
    await page.click('#tabs button[data-tab="nets"]');
    await page.waitForSelector('[data-net="ops/while-down"]', { timeout: 10_000 });
    await page.waitForSelector('#conn.live', { timeout: 5_000 });
    assert.deepEqual(errors, []);
  } finally {
    await b.close();
    await cp.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
