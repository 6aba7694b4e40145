// A server with nothing in it, and an API that fails: every page says so in
// a sentence (never a blank page, never an exception).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, shot, signIn, visit, PHONE } from './harness.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await srv?.stop(); });

test('an empty server: each page says there is nothing yet', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/overview', '.card .empty');
  const overview = await page.locator('.card .empty').allTextContents();
  assert.equal(overview.length, 4, overview.join('\n'));
  assert.match(overview[0], /^No declarations have been received since midnight/);
  assert.match(overview[1], /^No open alerts/);
  assert.match(overview[2], /^The ledger has no entries yet/);
  assert.match(overview[3], /^No model is active/);
  await shot(page, 'empty-overview');
  for (const [hash, text] of [
    ['#/queue', 'The queue is empty: no declaration has been assessed yet.'],
    ['#/model', /^No model is active: declarations are assessed by rules/],
    ['#/ledger', /^The ledger has no entries yet/],
    ['#/declarations/01NOSUCHDECLARATION0000000', 'There is no declaration with this id (or your key may not see it).'],
  ]) {
    await visit(page, srv.base, hash, 'main .empty');
    const t = await page.locator('main .empty').first().textContent();
    if (typeof text === 'string') assert.equal(t, text); else assert.match(t, text);
  }
  await visit(page, srv.base, '#/map', '#alerts li.empty');
  assert.match(await page.locator('.map-status').textContent(), /^No zones or consignments are registered yet/);
  assert.match(await page.locator('#alerts li.empty').textContent(), /^No alerts yet/);
  await page.locator('#live-map[data-borders]').waitFor();
  await shot(page, 'empty-map');
  // the one expected failure: the declaration that does not exist
  assert.deepEqual(page.problems, ['console: Failed to load resource: the server responded with a status of 404 (Not Found)']);
  await page.context().close();
});

test('an API error is shown as a sentence with the fields it names', async () => {
  const page = await newPage(browser, PHONE);
  await signIn(page, srv.base, srv.keys.officer);
  await page.route('**/v1/risk/queue*', (route) => route.fulfill({
    status: 503, contentType: 'application/json',
    body: JSON.stringify({ error: { code: 'unavailable', message: 'the database refused the write; retry', details: [] } }),
  }));
  await visit(page, srv.base, '#/queue', '.results .error');
  assert.equal(await page.locator('.results .error').textContent(), 'The queue could not be loaded: The database refused the write; retry.');
  await page.unroute('**/v1/risk/queue*');
  await visit(page, srv.base, '#/queue?office=' + encodeURIComponent('not valid!'), '.results .error');
  // the field in words, not its JSON Pointer
  assert.equal(await page.locator('.results .error').textContent(),
    'The queue could not be loaded: Bad query parameter.Office: must be an office code of 1 to 16 letters or digits.');
  assert.doesNotMatch(await page.locator('.results .error').textContent(), /\/office/);
  await shot(page, 'api-error-phone');
  assert.deepEqual(page.problems, [
    'console: Failed to load resource: the server responded with a status of 503 (Service Unavailable)',
    'console: Failed to load resource: the server responded with a status of 400 (Bad Request)',
  ]);
  await page.context().close();
});
