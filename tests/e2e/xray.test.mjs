// X-ray scans in the declaration page: a container declared empty holds a
// block; the officer sees the scan (overlay and plain pictures through blob:
// URLs), the finding and the region in metres from the doors, is told that
// release waits for the region's outcome, records it, and releases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, newPage, shot, signIn, visit, until, customs, demoDeclarations, PHONE } from './harness.mjs';

let srv, browser, decl, scanId;

before(async () => {
  srv = await startServer();
  const dir = join(srv.dir, 'scans');
  customs('xray', 'simulate', '--seed', '5', '--n', '2', '--out', dir, '--kinds', 'empty,empty_block',
    '--pixel-mm', '12', '--container', '20ft');
  const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')).scans[1];
  const meta = JSON.parse(readFileSync(join(dir, truth.scan_id + '.json'), 'utf8'));
  const off = srv.keys.officer;
  const d = {
    ...demoDeclarations(1)[0], reference: 'XRAY-E2E-1', containers: [meta.container],
    items: [{ hs_code: '860900', description: 'the container itself, returned empty', country_of_origin: 'CN',
      net_mass_kg: 0, value: 0, currency: 'USD' }],
  };
  let r = await srv.api('POST', '/v1/declarations', srv.keys.trader, d);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  decl = r.body;
  r = await srv.api('POST', '/v1/xray/scanners', off, { id: meta.scanner, name: 'Gate 3 portal', site: 'KRPUS' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const image = readFileSync(join(dir, truth.file)).toString('base64');
  delete meta.declared_empty;
  r = await srv.api('POST', '/v1/xray/scans', off, { meta: { ...meta, declaration: decl.id }, image_base64: image });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.ok(r.body.analysis.findings.some((f) => f.rule === 'empty_check_failed'), JSON.stringify(r.body.analysis));
  scanId = r.body.id;
  // the red lane's own gate wants an inspection first; xray's gate comes after it
  r = await srv.api('POST', `/v1/declarations/${decl.id}/inspection`, off, { result: 'fraud' });
  assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body));
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('the declaration shows its scan, and release waits for the flagged region', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${decl.id}`, '.xray-scan');
  const scan = page.locator('.xray-scan');
  const title = await scan.locator('h3').first().textContent();
  assert.ok(title.startsWith(`Scan ${scanId} ${decl.containers[0]} · `), title);
  // the overlay, fetched with the token into a blob: URL, decoded by the browser
  const img = scan.locator('img.xray-img');
  await until(async () => (await img.getAttribute('data-view')) === 'overlay', 'the overlay');
  assert.match(await img.getAttribute('src'), /^blob:/);
  await until(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), 'the overlay decoded');
  assert.match(await scan.locator('ul.findings').textContent(), /Declared empty, but not empty/);
  assert.match(await scan.locator('dl.kv').textContent(), /VerdictNot empty/);
  const row = scan.locator('table.xray-regions tbody tr').first();
  assert.match(await row.textContent(), /^1.+m from the doors, .+(above the floor|in the floor)/);
  assert.match(await scan.locator('p.hint').last().textContent(), /still needs? an inspection outcome before release/);
  // the risk reason names the scan's finding in words
  assert.match(await page.locator('ol.reasons').textContent(), /X-ray: declared empty, but not empty/);
  await scan.locator('h3').first().scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -60));
  await shot(page, 'xray-declaration');
  // release is refused by xray's gate, with its sentence
  await page.getByLabel('Release the goods').check();
  await page.getByRole('button', { name: 'Record decision' }).click();
  const err = page.locator('.decision-form .error');
  await err.waitFor();
  assert.match(await err.textContent(), new RegExp(`X-ray scan ${scanId} has 1 region without an inspection outcome`));
  // the plain picture
  await scan.getByLabel('Plain').check();
  await until(async () => (await img.getAttribute('data-view')) === 'image', 'the plain picture');
  await until(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), 'the plain picture decoded');
  // the officer records what was found at region 1
  await row.getByLabel('Note on region 1').fill('cannabis resin under a tarpaulin, 31 kg');
  await row.getByRole('button', { name: 'Found' }).click();
  await until(async () => /found/.test(await page.locator('.xray-scan table.xray-regions tbody tr').first().textContent()), 'the outcome');
  assert.match(await page.locator('.xray-scan p.hint').last().textContent(), /Every flagged region has its inspection outcome/);
  await page.getByLabel('Release the goods').check();
  await page.getByRole('button', { name: 'Record decision' }).click();
  await until(async () => /released/.test(await page.locator('.decision-latest').textContent()), 'the release');
  await page.locator('.xray-scan table.xray-regions').scrollIntoViewIfNeeded();
  await shot(page, 'xray-released');
  assert.deepEqual(page.problems.filter((p) => !/status of 409/.test(p)), []);
  await page.context().close();
});

test('on a phone the scan fits the screen', async () => {
  const page = await newPage(browser, PHONE);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${decl.id}`, '.xray-scan');
  const img = page.locator('img.xray-img');
  await until(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), 'the overlay decoded');
  await page.locator('.xray-scan').scrollIntoViewIfNeeded();
  // the page does not scroll sideways: the whole container is in view
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
  assert.ok(await img.evaluate((el) => el.getBoundingClientRect().width <= window.innerWidth));
  await shot(page, 'xray-phone');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a trader sees that the declaration has scans, not the scans', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.trader);
  await visit(page, srv.base, `#/declarations/${decl.id}`, 'main .card');
  const card = page.locator('section.card', { has: page.getByRole('heading', { name: 'X-ray scans' }) });
  assert.equal(await card.locator('.empty').textContent(), 'Only officers and administrators see X-ray scans.');
  assert.equal(await page.locator('img.xray-img').count(), 0);
  await page.context().close();
});
