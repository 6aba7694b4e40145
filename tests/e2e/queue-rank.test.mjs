// The risk queue ranked by revenue at risk (issue 15): the "Rank by" control
// switches the queue to the API's rank=revenue order (probability × revenue
// at risk) and back, on a desktop and a phone. Data: a trained model, the
// demo tariff and rates (KRW), and demo declarations assessed at submission.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launch, newPage, shot, signIn, visit, customs, seedRisk, demoDeclarations, SOURCE, PHONE } from './harness.mjs';

let srv, browser;

before(async () => {
  srv = await startServer({
    seed: ({ db, dir }) => {
      const demo = join(SOURCE, 'data', 'revenue', 'demo');
      customs('tariff', 'import', '--db', db, join(demo, 'tariff.csv'));
      customs('tariff', 'import', '--db', db, join(demo, 'tariff-chapters.csv'));
      customs('rates', 'import', '--db', db, '--currency', 'KRW', join(demo, 'rates.csv'));
      seedRisk(db, dir, { train: 2000, score: 5 });
    },
  });
  for (const d of demoDeclarations(20)) {
    const r = await srv.api('POST', '/v1/declarations', srv.keys.trader, d);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

const ids = (page) => page.locator('table.queue tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id));
// The rows are drawn after the header (and redrawn on Apply): wait up to 10 s
// for the expected order, then compare, so a wrong order still fails with its diff.
async function rowsAre(page, want) {
  await page.waitForFunction((w) => JSON.stringify([...document.querySelectorAll('table.queue tbody tr')]
    .map((t) => t.dataset.id)) === JSON.stringify(w), want, { timeout: 10000 }).catch(() => {});
  assert.deepEqual(await ids(page), want);
}

test('rank by revenue at risk: the API\'s order, the amount shown, back to risk; on a phone too', async () => {
  const byRevenue = (await srv.api('GET', '/v1/risk/queue?status=open&rank=revenue&limit=25', srv.keys.officer)).body.items;
  const byRisk = (await srv.api('GET', '/v1/risk/queue?status=open&limit=25', srv.keys.officer)).body.items;
  assert.notDeepEqual(byRevenue.map((d) => d.id), byRisk.map((d) => d.id), 'the two orders differ on this data');
  const expected = byRevenue.map((d) => d.risk.score * d.revenue_at_risk);
  assert.deepEqual(expected, [...expected].sort((a, b) => b - a));

  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/queue', 'table.queue tbody tr');
  await rowsAre(page, byRisk.map((d) => d.id));
  await page.getByLabel('Rank by').selectOption('revenue');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.locator('table.queue thead th', { hasText: 'Revenue at risk' }).waitFor();
  assert.match(page.url(), /#\/queue\?rank=revenue$/);
  await rowsAre(page, byRevenue.map((d) => d.id));
  const first = await page.locator('table.queue tbody tr').first().locator('td[data-label="Revenue at risk"]').textContent();
  assert.equal(first.replace(/[^0-9]/g, ''), String(Math.round(byRevenue[0].revenue_at_risk)));
  await shot(page, 'queue-rank-revenue');
  await page.getByLabel('Rank by').selectOption('');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.locator('table.queue thead th', { hasText: 'Revenue at risk' }).waitFor({ state: 'detached' });
  await rowsAre(page, byRisk.map((d) => d.id));
  assert.deepEqual(page.problems, []);

  const phone = await newPage(browser, PHONE);
  await signIn(phone, srv.base, srv.keys.officer);
  await visit(phone, srv.base, '#/queue?rank=revenue', 'table.queue tbody tr');
  await rowsAre(phone, byRevenue.map((d) => d.id));
  await shot(phone, 'queue-rank-revenue-phone');
  assert.deepEqual(phone.problems, []);
});
