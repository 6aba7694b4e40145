// The console's declarations and risk pages in Chromium against a real
// `customs serve`: sign-in, overview, the risk queue, a declaration's
// reasons, the inspection form, escaping, the model page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, shot, signIn, visit, settled, until, seedRisk, demoDeclarations, PHONE } from './harness.mjs';

const XSS = '<img src=x onerror=alert(1)>';
let srv, browser;
const posted = [];

before(async () => {
  srv = await startServer({ seed: ({ db, dir }) => seedRisk(db, dir) });
  for (const d of demoDeclarations(12)) {
    const r = await srv.api('POST', '/v1/declarations', srv.keys.trader, d);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    posted.push(r.body);
  }
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('the console is served with a CSP that forbids inline scripts', async () => {
  const res = await fetch(srv.base + '/');
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /style-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const html = await res.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline <script>');
  assert.doesNotMatch(html, /\sstyle=|<style/i, 'no inline style');
});

test('GET /v1/whoami names the key\'s organisation and role', async () => {
  const r = await srv.api('GET', '/v1/whoami', srv.keys.officer);
  assert.equal(r.status, 200);
  assert.equal(r.body.org, 'KCS');
  assert.equal(r.body.role, 'officer');
  assert.ok(Number.isInteger(r.body.key_id));
  assert.equal((await srv.api('GET', '/v1/whoami', 'cst_nonsense')).status, 401);
});

test('sign in: a wrong key is refused with a sentence, the right one opens the overview; the key stays out of the URL', async () => {
  const page = await newPage(browser);
  await page.goto(srv.base + '/');
  const input = page.getByLabel('API key');
  await input.waitFor();
  assert.equal(await input.getAttribute('type'), 'password');
  // keyboard only: type the key and press Enter
  await input.focus();
  await page.keyboard.type('cst_' + 'x'.repeat(43));
  await page.keyboard.press('Enter');
  await page.getByRole('alert').filter({ hasText: 'This key was not accepted' }).waitFor();
  await shot(page, 'sign-in-refused');
  // the refused sign-in is the one expected failed request
  assert.deepEqual(page.problems, ['console: Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
  page.problems.length = 0;

  await input.fill(srv.keys.officer);
  await page.keyboard.press('Enter');
  const count = page.getByTestId('decl-today');
  await count.waitFor();
  const midnight = await page.evaluate(() => { const d = new Date(); d.setHours(0, 0, 0, 0); return d.toISOString(); });
  const sum = (await srv.api('GET', `/v1/risk/summary?since=${midnight}`, srv.keys.officer)).body;
  // today's work: what the API does not mark historical; the KCS training rows
  // loaded today are history, counted apart, and today's work is the 300 scored
  // submissions and the demo's own
  const today = sum.groups.filter((g) => g.status !== 'historical').reduce((a, g) => a + g.count, 0);
  assert.equal(today, sum.declarations);
  assert.ok(today >= 300 && today < 4000, `${today} declarations received today`);
  assert.equal(sum.historical, 4000);
  assert.equal(await count.textContent(), today.toLocaleString('en'));
  const open = sum.groups.filter((g) => g.status === 'submitted' || g.status === 'held').reduce((a, g) => a + g.count, 0);
  assert.equal(await page.getByTestId('decl-open').textContent(), `${open.toLocaleString('en')} open`);
  await page.locator('.card', { hasText: 'Risk model' }).getByText('precision when inspecting 10').waitFor();
  assert.equal(await page.locator('#who').textContent(), 'KCS officerSign out');
  assert.ok(!page.url().includes(srv.keys.officer), 'the key is not in the URL');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('customs.token')), srv.keys.officer);
  await shot(page, 'overview');
  // a reload keeps the session; signing out forgets the key
  await page.reload();
  await page.getByTestId('decl-today').waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('customs.token')), null);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('the overview counts historical rows apart, as the API marks them', async () => {
  // the summary's contract: totals without historical rows, a historical
  // count, and groups with status "historical"
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await page.route('**/v1/risk/summary*', (route) => route.fulfill({
    status: 200, contentType: 'application/json',
    body: JSON.stringify({ since: new Date().toISOString(), declarations: 40, inspected: 6, fraud: 2, historical: 45519,
      groups: [{ lane: 'red', status: 'submitted', count: 4, inspected: 1, fraud: 1 },
        { lane: 'green', status: 'held', count: 6, inspected: 2, fraud: 0 },
        { lane: 'green', status: 'released', count: 30, inspected: 3, fraud: 1 },
        { lane: 'green', status: 'historical', count: 40000, inspected: 33000, fraud: 7000 },
        { lane: 'red', status: 'historical', count: 5519, inspected: 4000, fraud: 1000 }] }),
  }));
  await visit(page, srv.base, '#/overview', '[data-testid=decl-historical]');
  assert.equal(await page.getByTestId('decl-today').textContent(), '40');
  assert.equal(await page.getByTestId('decl-open').textContent(), '10 open');
  assert.match(await page.getByTestId('decl-historical').textContent(), /^45,519 historical declarations .* not counted here\.$/);
  const statuses = await page.locator('.card', { hasText: 'Declarations today' }).locator('table caption', { hasText: 'By status' })
    .locator('xpath=..').locator('tbody th').allTextContents();
  assert.deepEqual(statuses, ['submitted', 'held', 'released'], 'history is no status of today\'s work');
  await shot(page, 'overview-historical');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('the risk queue opens on open work, shows each status, and names offices', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/queue', 'table.queue tbody tr');
  assert.equal(await page.getByLabel('Status').inputValue(), 'open');
  assert.ok(await page.locator('table.queue thead th', { hasText: 'Status' }).count() === 1);
  const st = await page.locator('table.queue tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.status));
  assert.ok(st.length > 0 && st.every((x) => x === 'submitted' || x === 'held'), `open work only: ${st}`);
  const api = await srv.api('GET', '/v1/risk/queue?status=open&limit=25', srv.keys.officer);
  assert.deepEqual(await page.locator('table.queue tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id)),
    api.body.items.map((i) => i.id));
  // offices in words: the demo's UN/LOCODEs by name, KCS's anonymised numbers as numbers
  const offices = await page.locator('table.queue tbody td[data-label="Office"]').allTextContents();
  assert.ok(offices.every((o) => /^office \d+$|^[A-Z][a-z].* \([A-Z]{5}\)$/.test(o)), offices.join(', '));
  await visit(page, srv.base, `#/queue?status=any&org=ACME-KR`, 'table.queue tbody tr');
  const acme = await page.locator('table.queue tbody td[data-label="Office"]').allTextContents();
  assert.ok(acme.some((o) => /\((KRINC|KRICN|KRKAN|KRPUS)\)$/.test(o)), acme.join(', '));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('the risk queue lists declarations by risk, filters by lane and pages on the cursor', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/queue?status=any', 'table.queue tbody tr');
  const rows = page.locator('table.queue tbody tr');
  assert.equal(await rows.count(), 25);
  const scores = (await rows.evaluateAll((trs) => trs.map((t) => t.dataset.score))).map(Number);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'highest risk first');
  assert.ok(scores[0] > 0.5);
  await shot(page, 'queue');

  await page.getByLabel('Lane').selectOption('red');
  await page.getByLabel('Organisation').fill('KCS-2021');
  await settled(page, () => page.getByRole('button', { name: 'Apply' }).click());
  assert.ok(page.url().includes('lane=red') && page.url().includes('org=KCS-2021'), 'the filters in the URL');
  await page.locator('table.queue tbody tr').first().waitFor();
  assert.equal(await page.getByLabel('Lane').inputValue(), 'red', 'the form shows the filters of the URL');
  assert.equal(await page.getByLabel('Organisation').inputValue(), 'KCS-2021');
  const lanes = await page.locator('table.queue tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.lane));
  assert.ok(lanes.length > 0 && lanes.every((l) => l === 'red'), `only red: ${lanes}`);
  const api = await srv.api('GET', '/v1/risk/queue?lane=red&org=KCS-2021&limit=25', srv.keys.officer);
  assert.deepEqual(await page.locator('table.queue tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id)),
    api.body.items.map((i) => i.id));

  // next page on the cursor, and back
  await visit(page, srv.base, '#/queue?status=any&org=KCS-2021', 'table.queue tbody tr');
  const first = await page.locator('table.queue tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id));
  await page.getByRole('button', { name: 'Next ›' }).click();
  await page.getByText('Page 2', { exact: true }).waitFor();
  await page.locator('table.queue tbody tr td:first-child', { hasText: /^26$/ }).waitFor();
  const second = await page.locator('table.queue tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id));
  assert.equal(second.length, 25);
  assert.ok(second.every((id) => !first.includes(id)), 'page 2 holds other declarations');
  const p2 = await srv.api('GET', `/v1/risk/queue?org=KCS-2021&limit=25&cursor=${encodeURIComponent(
    (await srv.api('GET', '/v1/risk/queue?org=KCS-2021&limit=25', srv.keys.officer)).body.next_cursor)}`, srv.keys.officer);
  assert.deepEqual(second, p2.body.items.map((i) => i.id));
  await page.getByRole('button', { name: '‹ Previous' }).click();
  await page.getByText('Page 1', { exact: true }).waitFor();
  await page.locator('table.queue tbody tr td:first-child', { hasText: /^1$/ }).waitFor();

  // a filter nothing matches says so
  await visit(page, srv.base, '#/queue?office=NOWHERE', '.results .empty');
  assert.equal(await page.locator('.results .empty').textContent(), 'No declaration matches these filters.');
  assert.deepEqual(page.problems, []);

  const phone = await newPage(browser, PHONE);
  await signIn(phone, srv.base, srv.keys.officer);
  await visit(phone, srv.base, '#/queue', 'table.queue tbody tr');
  await shot(phone, 'queue-phone');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow}px too wide)`);
  assert.deepEqual(phone.problems, []);
  await phone.context().close();
  await page.context().close();
});

test('a declaration shows its risk reasons as sentences with bars', async () => {
  const q = await srv.api('GET', '/v1/risk/queue?org=KCS-2021&limit=1', srv.keys.officer);
  const top = q.body.items[0];
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await page.locator('#nav').getByRole('link', { name: 'Risk queue' }).click();
  await page.locator(`table.queue tr[data-id="${top.id}"] a`).click();
  await page.locator('li.reason').first().waitFor();
  assert.equal(await page.locator('h1').textContent(), `Declaration ${top.reference}`);
  const reasons = await page.locator('li.reason').evaluateAll((lis) => lis.map((li) => ({
    title: li.querySelector('.reason-title').textContent,
    text: li.querySelector('.reason-text').textContent,
    width: parseFloat(li.querySelector('.bar-fill').style.width),
  })));
  assert.equal(reasons.length, top.risk.reasons.length);
  top.risk.reasons.forEach((r, i) => {
    const want = r.detail.charAt(0).toUpperCase() + r.detail.slice(1);
    assert.ok(reasons[i].text.startsWith(want), `reason ${i}: ${reasons[i].text}`);
    assert.match(reasons[i].text, /[.)]$/);
    assert.ok(reasons[i].width > 0 && reasons[i].width <= 100);
  });
  assert.equal(reasons[0].width, 100, 'the strongest reason fills its bar');
  assert.ok(await page.getByText(/estimated probability of fraud/).isVisible());
  await shot(page, 'declaration-reasons');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('an inspection submitted from the form changes the declaration', async () => {
  const d = posted[3];
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${d.id}`, 'form.inspection-form');
  assert.equal(await page.locator('.card', { hasText: 'Inspection' }).getByText('Not inspected yet.').count(), 1);
  await page.getByLabel('Fraud found').check();
  await page.getByLabel('Critical fraud').check();
  await page.getByLabel('Revenue recovered').fill('1250');
  await page.getByLabel('Notes').fill('Invoice shows three times the declared value.');
  await page.getByRole('button', { name: 'Record inspection' }).click();
  await page.getByText('Inspection recorded: fraud.').waitFor();
  await page.locator('.inspection-latest', { hasText: 'fraud' }).waitFor();
  assert.match(await page.locator('.decl-meta').textContent(), /inspected: fraud/);
  const r = await srv.api('GET', `/v1/declarations/${d.id}`, srv.keys.officer);
  assert.equal(r.body.inspection.result, 'fraud');
  assert.equal(r.body.inspection.critical, true);
  assert.equal(r.body.inspection.revenue_recovered, 1250);
  assert.equal(r.body.inspection.notes, 'Invoice shows three times the declared value.');
  assert.equal(r.body.inspection.inspected_by.role, 'officer');
  // codes in words: the office by name, the mode of transport (UN/ECE Rec. 19)
  const parties = page.locator('.card', { hasText: 'Mode of transport' });
  const mode = { 10: 'Sea (10)', 40: 'Air (40)' }[d.transport_mode];
  await parties.getByText(mode, { exact: true }).waitFor();
  assert.match(await page.locator('.decl-meta').textContent(), /(Incheon port|Incheon airport|Gwangyang|Busan) \(KR[A-Z]{3}\)/);
  await shot(page, 'declaration-inspected');

  // a trader's key sees the outcome but gets no form
  const trader = await newPage(browser);
  await signIn(trader, srv.base, srv.keys.trader);
  await visit(trader, srv.base, `#/declarations/${d.id}`, '.inspection-latest');
  assert.equal(await trader.locator('form.inspection-form').count(), 0);
  await trader.getByText('Only officers and administrators record inspections.').waitFor();
  assert.deepEqual(trader.problems, []);
  await trader.context().close();
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a description written as HTML is shown as text', async () => {
  const d = { ...demoDeclarations(1)[0], reference: 'XSS-1' };
  d.items = [{ ...d.items[0], description: XSS }];
  const r = await srv.api('POST', '/v1/declarations', srv.keys.trader, d);
  assert.equal(r.status, 201);
  const page = await newPage(browser);
  let dialogs = 0;
  page.on('dialog', (dlg) => { dialogs++; dlg.dismiss(); });
  const requested = [];
  page.on('request', (req) => requested.push(new URL(req.url()).pathname));
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${r.body.id}`, 'td.desc');
  assert.equal(await page.locator('td.desc').textContent(), XSS);
  assert.equal(await page.locator('main img').count(), 0, 'no <img> element was made from the data');
  await shot(page, 'xss-as-text');
  assert.equal(dialogs, 0);
  assert.ok(!requested.includes('/x'), 'the browser never tried to load the image');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a decision from the form: a red-lane release waits for the inspection, hold, then release', async () => {
  const q = await srv.api('GET', '/v1/risk/queue?lane=red&inspected=false&status=submitted&limit=1', srv.keys.officer);
  assert.equal(q.status, 200);
  const d = q.body.items[0];
  assert.ok(d, 'a red declaration without inspection');
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${d.id}`, 'form.decision-form');
  const card = page.locator('.card', { hasText: 'Decision' });
  await card.getByText('no decision yet').waitFor();
  // the server refuses: the sentence names the rule, nothing changes
  await page.getByLabel('Release the goods').check();
  await page.getByRole('button', { name: 'Record decision' }).click();
  await card.getByRole('alert').filter({ hasText: 'red lane' }).waitFor();
  // a sentence, not the JSON Pointer of the field
  assert.match(await card.getByRole('alert').textContent(), /Decision: the declaration is in the red lane: record its inspection/);
  assert.doesNotMatch(await card.getByRole('alert').textContent(), /\/decision/);
  await shot(page, 'decision-refused');
  assert.deepEqual(page.problems, ['console: Failed to load resource: the server responded with a status of 409 (Conflict)']);
  page.problems.length = 0;
  assert.equal((await srv.api('GET', `/v1/declarations/${d.id}`, srv.keys.officer)).body.status, 'submitted');
  // hold with a reason
  await page.getByLabel('Hold for examination').check();
  await page.getByLabel('Reason').fill('Seal number differs from the bill of lading.');
  await page.getByRole('button', { name: 'Record decision' }).click();
  await page.getByText('Decision recorded: the declaration is held.').waitFor();
  assert.match(await page.locator('.decl-meta').textContent(), /held/);
  assert.equal(await page.getByLabel('Hold for examination').count(), 0, 'held is not offered again');
  // the inspection, then the release
  await page.getByLabel('Compliant').check();
  await page.getByRole('button', { name: 'Record inspection' }).click();
  await page.getByText('Inspection recorded: compliant.').waitFor();
  await page.getByLabel('Release the goods').check();
  await page.getByRole('button', { name: 'Record decision' }).click();
  await page.getByText('Decision recorded: the declaration is released.').waitFor();
  await card.getByText('that decision is final').waitFor();
  assert.equal(await page.locator('form.decision-form').count(), 0);
  const r = await srv.api('GET', `/v1/declarations/${d.id}/decisions`, srv.keys.officer);
  assert.deepEqual(r.body.items.map((x) => [x.decision, x.status, x.reason ?? null]),
    [['hold', 'held', 'Seal number differs from the bill of lading.'], ['release', 'released', null]]);
  await shot(page, 'declaration-released');
  // the queue's open work no longer lists it; the released filter does
  await visit(page, srv.base, '#/queue?status=released', 'table.queue tbody tr');
  await page.getByLabel('Status').selectOption('open');
  await settled(page, () => page.getByRole('button', { name: 'Apply' }).click());
  await page.locator('table.queue tbody tr').first().waitFor();
  assert.ok(!page.url().includes('status='), `open work is the default: ${page.url()}`);
  assert.equal(await page.locator(`table.queue tbody tr[data-id="${d.id}"]`).count(), 0);
  await visit(page, srv.base, '#/queue?status=released', 'table.queue tbody tr');
  assert.equal(await page.getByLabel('Status').inputValue(), 'released');
  assert.deepEqual(await page.locator('table.queue tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id)), [d.id]);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('the model page charts precision and recall and projects inspection capacity', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/model', '.chart canvas');
  const m = (await srv.api('GET', '/v1/risk/models/active', srv.keys.officer)).body;
  const volume = page.getByLabel('Declarations in the period');
  await volume.fill('1000');
  const slider = page.getByLabel('Inspection capacity (share of declarations inspected)');
  assert.equal(await slider.inputValue(), '10');
  await slider.focus();
  for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await slider.inputValue(), '20');
  const at20 = m.metrics.curve.find((c) => c.share === 20);
  await until(async () => (await page.getByTestId('whatif-inspected').textContent()) === '200', '200 inspections at 20 %');
  assert.equal(await page.getByTestId('whatif-frauds').textContent(), String(Math.round(at20.precision * 200)));
  assert.ok(await page.locator('ol.importance li').count() >= 5);
  await shot(page, 'model');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('every page works on a phone without console errors', async () => {
  const page = await newPage(browser, PHONE);
  await signIn(page, srv.base, srv.keys.officer);
  for (const [hash, ready, name] of [
    ['#/overview', '[data-testid=decl-today]', 'overview-phone'],
    [`#/declarations/${posted[0].id}`, 'li.reason', 'declaration-phone'],
    ['#/model', '.chart canvas', 'model-phone'],
  ]) {
    await visit(page, srv.base, hash, ready);
    await shot(page, name);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${hash}: no sideways scrolling (${overflow}px too wide)`);
  }
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
