/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against `swnet up`
 * (a child process on a free port, its default example, real agents): the page shows every server
 * and network the API lists; the per-network charts receive points from the agents' status
 * writes (uPlot's series grow); draining a server from the page empties it (checked through the
 * API) and the operations panel shows the migrations' phases as they arrive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until, withUpInBrowser, type ApiPlacement } from './dashboard-testing.js';

const TOKEN = 'dash-platform-token-0123456789';

interface Named { metadata: { name: string; namespace?: string } }
type Pl = ApiPlacement;

test('dashboard on swnet up: servers and networks, charts fed by the agents, drain from the page empties the server', { timeout: 60_000 }, async () => {
  await withUpInBrowser('swnet-dashup-', TOKEN, async (u, b) => {
    const get = u.get;
    // The example is applied and placed.
    const { servers, nets } = await until('servers, networks and placements', 20_000, async () => {
      const [s, n, p] = await Promise.all([get<{ items: Named[] }>('/api/v1/servers'), get<{ items: Named[] }>('/api/v1/softwarenetworks'), get<{ items: Pl[] }>('/api/v1/placements')]);
      return s.items.length > 0 && n.items.length > 0 && p.items.length > 0 ? { servers: s.items.map((x) => x.metadata.name), nets: n.items.map((x) => `${x.metadata.namespace ?? 'default'}/${x.metadata.name}`) } : undefined;
    });

    const page = await b.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${u.url}/#token=${TOKEN}`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });

    // Infrastructure: every server in its datacenter card, under its tier.
    for (const s of servers) await page.waitForSelector(`.tier .dc tr[data-server="${s}"]`, { timeout: 5_000 });
    // Networks: every one in the list.
    await page.click('#tabs button[data-tab="nets"]');
    for (const n of nets) await page.waitForSelector(`#net-rows [data-net="${n}"]`, { timeout: 5_000 });

    // Charts: the agents' status writes reach a network's card and its uPlot series grow.
    await page.click('#tabs button[data-tab="charts"]');
    const card = await page.waitForSelector('.netcard[data-points]:not([data-points="0"])', { timeout: 15_000 });
    const net = (await card.getAttribute('data-net')) ?? '';
    const before = Number(await card.getAttribute('data-points'));
    const sel = `.netcard[data-net="${net}"]`;
    await page.waitForFunction(`Number(document.querySelector(${JSON.stringify(sel)})?.dataset.points) > ${before}`, undefined, { timeout: 10_000 });
    // Sorted by throughput: busiest first (the networks' rates differ by far more than between two reports).
    await page.selectOption('#ch-sort', 'bits');
    const order = await page.$$eval('#ch-rows .netcard', (cs) => cs.map((c) => Number(c.getAttribute('data-bits') || -1)));
    assert.ok(order.length > 1 && order.every((x, i) => i === 0 || x <= order[i - 1]!), `cards by throughput: ${order.join(', ')}`);
    // Links with their load: the agents' per-port frame counters give the busiest network's
    // topology edges a rate (frames/s), at least one of them carrying traffic.
    await page.click('#tabs button[data-tab="nets"]');
    await page.click(`[data-net="${net}"]`);
    await page.waitForFunction(`Object.values(JSON.parse(document.querySelector('#topology')?.dataset.links ?? '{}')).some((v) => v > 0)`, undefined, { timeout: 15_000 });
    // The infrastructure's energy chart has points too.
    await page.click('#tabs button[data-tab="infra"]');
    await page.waitForFunction(`Number(document.querySelector('#chart-active')?.dataset.points) >= 2 && Number(document.querySelector('#chart-energy')?.dataset.lastWatts) > 0`, undefined, { timeout: 10_000 });

    // Drain from the page: the busiest server (primaries and standby copies alike must leave).
    const pls = (await get<{ items: Pl[] }>('/api/v1/placements')).items;
    const count = new Map<string, number>();
    for (const p of pls) count.set(p.server, (count.get(p.server) ?? 0) + 1);
    const [victim, had] = [...count].sort((a, c) => c[1] - a[1])[0]!;
    const drain = await page.waitForSelector(`tr[data-server="${victim}"] button[data-op="drain"]`);
    assert.equal(await drain.isDisabled(), false, `drain is disabled: ${await drain.getAttribute('title')}`);
    await drain.click();
    await page.waitForSelector('#ops [data-outcome="ok"], #ops [data-outcome="error"]', { timeout: 10_000 });
    assert.equal(await page.textContent('#ops [data-outcome]').then((t) => (t ?? '').length > 0), true);
    const outcome = await page.getAttribute('#ops [data-outcome]', 'data-outcome');
    assert.equal(outcome, 'ok', `drain answered: ${await page.textContent('#ops .op')}`);
    const left = await until(`${victim} empty (had ${had} placements)`, 30_000, async () => {
      const rest = (await get<{ items: Pl[] }>('/api/v1/placements')).items.filter((p) => p.server === victim);
      return rest.length === 0 ? rest : undefined;
    });
    assert.deepEqual(left, []);
    // Its functions run elsewhere: every function placed before is placed again, on another server.
    const after = (await get<{ items: Pl[] }>('/api/v1/placements')).items;
    for (const p of pls.filter((x) => x.server === victim && !x.function.includes('~'))) {
      const now = after.find((x) => x.namespace === p.namespace && x.network === p.network && x.function === p.function);
      assert.ok(now && now.server !== victim, `${p.namespace}/${p.network}/${p.function} is placed elsewhere`);
    }
    // The page follows: the server's row counts no function and says cordoned; the operations
    // panel lists the drain's migrations, each ending in 'done' with its phases.
    await page.waitForFunction(`(() => { const r = document.querySelector('tr[data-server="${victim}"]'); return r && r.children[2].textContent === '0' && /cordoned/.test(r.children[1].textContent); })()`, undefined, { timeout: 10_000 });
    await page.waitForFunction(`(() => { const ms = [...document.querySelectorAll('#ops .op .mig')]; return ms.length > 0 && ms.every((m) => m.dataset.phase === 'done' || m.dataset.phase === 'failed'); })()`, undefined, { timeout: 15_000 });
    const phases = await page.$$eval('#ops .op .mig', (ms) => ms.map((m) => [m.getAttribute('data-phase'), [...m.querySelectorAll('.chip')].map((c) => c.textContent?.split(' ')[0])]));
    assert.ok(phases.some(([ph, chips]) => ph === 'done' && Array.isArray(chips) && chips.includes('switched')), `a migration went through switched to done: ${JSON.stringify(phases)}`);
    // The timeline shows the same migrations with their reason.
    await page.click('#tabs button[data-tab="events"]');
    await page.check('#ev-mig');
    await page.waitForFunction(`[...document.querySelectorAll('#ev-rows .migration')].some((r) => r.textContent.includes(${JSON.stringify(`${victim} →`)}) && /operator|drain/.test(r.textContent))`, undefined, { timeout: 5_000 });
    assert.deepEqual(errors, []);
  });
});
