/**
 * Failing a server from the dashboard (Debian's chromium through playwright-core) against
 * `swnet up`: the page's fail button stops that server's agent as after kill -9; the page shows
 * the server down and the controller's AgentLost warning in the timeline, and its functions end up
 * on other servers (checked through the API).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until, withUpInBrowser, type ApiPlacement } from './dashboard-testing.js';

const TOKEN = 'dash-failover-token-0123456789';

test('dashboard on swnet up: fail a server from the page, watch it go down and its functions move', { timeout: 60_000 }, async () => {
  await withUpInBrowser('swnet-dashfail-', TOKEN, async (u, b) => {
    const placed = await until('placements', 20_000, async () => {
      const { items } = await u.get<{ items: ApiPlacement[] }>('/api/v1/placements');
      return items.length > 0 ? items : undefined;
    });
    const page = await b.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${u.url}/#token=${TOKEN}`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });

    // The server running the most functions.
    const count = new Map<string, number>();
    for (const p of placed) count.set(p.server, (count.get(p.server) ?? 0) + 1);
    const [victim] = [...count].sort((a, c) => c[1] - a[1])[0]!;
    const fail = await page.waitForSelector(`tr[data-server="${victim}"] button[data-op="fail"]`);
    assert.equal(await fail.isDisabled(), false, `fail is disabled: ${await fail.getAttribute('title')}`);
    // Fail acts on a second click (the first asks to confirm).
    await fail.click();
    assert.equal(await fail.textContent(), 'confirm?');
    assert.equal(await page.$('#ops .op'), null, 'nothing was sent on the first click');
    await fail.click();
    await page.waitForFunction(`['ok', 'error'].includes(document.querySelector('#ops .op [data-outcome]')?.dataset.outcome)`, undefined, { timeout: 10_000 });
    assert.equal(await page.getAttribute('#ops .op [data-outcome]', 'data-outcome'), 'ok', (await page.textContent('#ops .op')) ?? '');

    // Its lease expires: the page shows it down (row and the operation's live line).
    await page.waitForFunction(`/down/.test(document.querySelector('tr[data-server="${victim}"]')?.children[1].textContent ?? '')`, undefined, { timeout: 20_000 });
    await page.waitForFunction(`/${victim}: .*down/.test(document.querySelector('#ops .op .live')?.textContent ?? '')`, undefined, { timeout: 5_000 });
    // Its functions are placed on other servers (the network controller, or failover migrations).
    const moved = await until(`functions off ${victim}`, 25_000, async () => {
      const { items } = await u.get<{ items: ApiPlacement[] }>('/api/v1/placements');
      return items.some((p) => p.server === victim) ? undefined : items;
    });
    for (const p of placed.filter((x) => x.server === victim && !x.function.includes('~'))) {
      const now = moved.find((x) => x.namespace === p.namespace && x.network === p.network && x.function === p.function);
      assert.ok(now && now.server !== victim, `${p.namespace}/${p.network}/${p.function} runs elsewhere`);
    }
    // The page's functions count follows, and the timeline has the controller's warning.
    await page.waitForFunction(`document.querySelector('tr[data-server="${victim}"]')?.children[2].textContent === '0'`, undefined, { timeout: 5_000 });
    await page.click('#tabs button[data-tab="events"]');
    await page.check('#ev-warn');
    await page.waitForFunction(`[...document.querySelectorAll('#ev-rows .ev.Warning')].some((r) => /AgentLost/.test(r.textContent) && r.textContent.includes(${JSON.stringify(victim)}))`, undefined, { timeout: 5_000 });
    assert.deepEqual(errors, []);
  });
});
