// Revenue in the console: the assessment card on the declaration page
// (lines, the preference a ledger certificate proves, the balance, a
// payment), the release refused until paid, the trader's view without the
// valuation control, and the revenue page (by day, by chapter), on a desktop
// and a phone. Data: the demo tariff, declarations imported with KRW set,
// and the ledger demo (its certificate proves an ASEAN preference).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, newPage, shot, signIn, visit, settled, until, customs, demoDeclarations, SOURCE, PHONE } from './harness.mjs';

let srv, browser, preferred, unpaid;

before(async () => {
  srv = await startServer({
    seed: ({ db, dir }) => {
      const demo = join(SOURCE, 'data', 'revenue', 'demo');
      customs('tariff', 'groups', '--db', db, join(demo, 'groups.csv'));
      customs('tariff', 'import', '--db', db, join(demo, 'tariff.csv'));
      customs('tariff', 'import', '--db', db, join(demo, 'tariff-chapters.csv'));
      customs('tariff', 'preferences', '--db', db, join(demo, 'preferences.csv'));
      customs('rates', 'import', '--db', db, '--currency', 'KRW', join(demo, 'rates.csv'));
      const file = join(dir, 'acme.jsonl');
      writeFileSync(file, demoDeclarations(6).map((d) => JSON.stringify(d)).join('\n') + '\n');
      customs('import', '--db', db, '--org', 'ACME-KR', '--no-progress', file);
      customs('ledger', 'demo', '--db', db, '--customs', 'KCS', '--importer', 'ACME-KR', '--keys-dir', join(dir, 'keys'));
    },
  });
  const mine = (await srv.api('GET', '/v1/declarations?limit=100', srv.keys.officer)).body.items;
  preferred = mine.find((d) => d.assessment && d.assessment.items.some((i) => i.preference && i.preference.applied && i.preference.certificate));
  unpaid = mine.find((d) => d.assessment && d.assessment.total > 0 && d !== preferred && !d.assessment.problems.length);
  assert.ok(preferred, 'the ledger demo\'s certificate proves a preference');
  assert.ok(unpaid, 'an assessed declaration with duties to pay');
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('the assessment card shows lines, the certificate, the balance; release waits for payment', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${preferred.id}`, '[data-testid=preference]');
  const card = page.locator('[data-testid=assessment]');
  const pref = card.locator('.pref-applied').first();
  assert.match(await pref.textContent(), /Preference .*0 %.*certificate .*VN-HCM-24-010231/);
  assert.match(await card.locator('[data-testid=assessed-total]').textContent(), /KRW assessed \(version 2/);
  await card.scrollIntoViewIfNeeded();
  await shot(page, 'revenue-assessment-card');

  await visit(page, srv.base, `#/declarations/${unpaid.id}`, '[data-testid=balance]');
  assert.match(await page.locator('[data-testid=balance]').textContent(), /Outstanding .* KRW/);
  const release = await srv.api('POST', `/v1/declarations/${unpaid.id}/decision`, srv.keys.officer, { decision: 'release' });
  assert.equal(release.status, 409);
  assert.ok(['payment_required', 'decision_refused'].includes(release.body.error.code));
  const pay = await srv.api('POST', `/v1/declarations/${unpaid.id}/payments`, srv.keys.officer,
    { amount: unpaid.assessment.total, currency: 'KRW', reference: 'E2E-CASH-1', paid_at: '2026-11-20T10:00:00+09:00' });
  assert.equal(pay.status, 201);
  await settled(page, () => page.reload());
  await page.locator('[data-testid=balance].ok').waitFor();
  assert.match(await page.locator('[data-testid=assessment]').textContent(), /E2E-CASH-1/);
  await page.locator('[data-testid=assessment]').scrollIntoViewIfNeeded();
  await shot(page, 'revenue-assessment-paid');

  // the line is corrected to 0 % and the declaration re-assessed: a refund
  // is due, and the officer records its payout on the card
  const line = unpaid.assessment.items[0].tariff_line;
  const fix = join(srv.dir, 'fix.csv');
  writeFileSync(fix, 'hs_code,valid_from,valid_to,duty_type,ad_valorem_pct,vat_pct\n' +
    `${line.hs_code},${line.valid_from},${line.valid_to || ''},ad_valorem,0,0\n`);
  customs('tariff', 'import', '--db', srv.db, fix);
  const re = await srv.api('POST', `/v1/declarations/${unpaid.id}/assessment`, srv.keys.officer, { reason: 'e2e: rate corrected' });
  assert.equal(re.status, 200);
  assert.ok(re.body.balance.refunded > 0);
  await page.reload(); // a reload restarts the router's page count: wait for the form
  const form = page.locator('[data-testid=assessment] form:has(input[name=reference])');
  await form.waitFor();
  await form.locator('input[name=reference]').fill('E2E-RF-1');
  await form.locator('button').click();
  await page.getByText(/paid out by KCS, ref\. E2E-RF-1/).waitFor();
  await page.getByText(/paid out by KCS/).scrollIntoViewIfNeeded();
  await shot(page, 'revenue-refund-paid-out');
  assert.deepEqual(page.problems, []);
});

test('the revenue page plots by day and lists chapters; on a phone too', async () => {
  for (const [viewport, name] of [[undefined, 'revenue-page'], [PHONE, 'revenue-page-phone']]) {
    const page = await newPage(browser, viewport);
    await signIn(page, srv.base, srv.keys.officer);
    await visit(page, srv.base, '#/revenue?from=2026-08-01&to=2026-12-31', '[data-testid=chapters]');
    await page.locator('.uplot').waitFor();
    const chapters = await page.locator('[data-testid=chapters] tbody th').allTextContents();
    assert.ok(chapters.length > 0);
    assert.match(await page.locator('main').textContent(), /Assessed[\s\S]*KRW/);
    // issue 15: recovered by inspections is measured (a sum in KRW, not "not measured")
    assert.match(await page.locator('main').textContent(), /Recovered by inspections\s*[0-9,]+ KRW/);
    await shot(page, name);
    assert.deepEqual(page.problems, []);
  }
});

test('a trader sees its assessment without the valuation control, and no revenue page', async () => {
  const page = await newPage(browser, PHONE);
  await signIn(page, srv.base, srv.keys.trader);
  assert.equal(await page.locator('#nav a[href="#/revenue"]').isHidden(), true);
  await visit(page, srv.base, `#/declarations/${unpaid.id}`, '[data-testid=balance]');
  const text = await page.locator('[data-testid=assessment]').textContent();
  assert.doesNotMatch(text, /revenue at risk|Re-assess/i);
  await page.locator('[data-testid=assessment]').scrollIntoViewIfNeeded();
  await shot(page, 'revenue-trader-phone');
  assert.deepEqual(page.problems, []);
});

test('a declaration paid in 55 parts lists them 50 at a time, then all after "More payments"', async () => {
  const mine = (await srv.api('GET', '/v1/declarations?limit=100', srv.keys.officer)).body.items;
  const many = mine.find((d) => d.assessment && d.assessment.total > 0 && d.id !== preferred.id && d.id !== unpaid.id);
  assert.ok(many, 'a third assessed declaration');
  for (let i = 1; i <= 55; i++) {
    const r = await srv.api('POST', `/v1/declarations/${many.id}/payments`, srv.keys.officer,
      { amount: 1000, currency: 'KRW', reference: `E2E-PART-${String(i).padStart(2, '0')}`, paid_at: '2026-11-20T10:00:00+09:00' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  const page = await newPage(browser, PHONE);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${many.id}`, '[data-testid=payments]');
  const items = page.locator('[data-testid=payments] li');
  assert.equal(await items.count(), 50);
  assert.match(await items.first().textContent(), /E2E-PART-01/);
  const more = page.getByRole('button', { name: 'More payments' });
  assert.match(await page.locator('[data-testid=assessment]').textContent(), /Showing the first 50\./);
  await more.scrollIntoViewIfNeeded();
  await shot(page, 'revenue-payments-paged-phone');
  await more.click();
  await until(async () => (await items.count()) === 55, 'the next page of payments');
  assert.match(await items.last().textContent(), /E2E-PART-55/);
  assert.equal(await more.count(), 0);
  assert.doesNotMatch(await page.locator('[data-testid=assessment]').textContent(), /Showing the first/);
  assert.deepEqual(page.problems, []);
});
