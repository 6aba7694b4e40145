// Biometrics in the console: the Identify page (its own document, with the
// only wider CSP) turns a photo into a face-api descriptor in Chromium and
// finds the subject in a watchlist; a fingerprint template is searched too;
// the subjects and audit pages; the decision card of a key issued to an
// operator says when a fresh verification is required.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { startServer, launch, newPage, shot, signIn, visit, settled, until, customs, SOURCE, PHONE, demoDeclarations } from './harness.mjs';

const FACES = JSON.parse(readFileSync(join(SOURCE, 'data', 'biometrics', 'faces', 'faceapi-samples.json'), 'utf8'));
const FVC = join(SOURCE, 'data', 'biometrics', 'fvc-dev', 'fvc2002', 'DB1_B');
let srv, browser, opKey, declId;

before(async () => {
  srv = await startServer({
    seed: ({ db, dir }) => {
      const key = join(dir, 'bio.key');
      customs('bio', 'key', '--out', key);
      customs('bio', 'enrol', '--db', db, '--bio-key', key, '--watchlist', 'interpol', '--subject', 'WL-101',
        '--agency', 'Immigration Service', '--legal-basis', 'MoU 2024/7 art. 4', '--expires', '2099-12-31', join(FVC, '101_1.iso'));
      customs('bio', 'enrol', '--db', db, '--bio-key', key, '--watchlist', 'operators', '--subject', 'OP-1',
        '--kind', 'operator', '--org', 'KCS', join(FVC, '102_1.iso'));
      opKey = customs('keys', 'create', '--db', db, '--org', 'KCS', '--role', 'officer', '--subject', 'OP-1').trim();
    },
    argsFrom: ({ dir }) => ['--bio-key', join(dir, 'bio.key')],
  });
  const d = demoDeclarations(1)[0];
  const r = await srv.api('POST', '/v1/declarations', srv.keys.trader, d);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  declId = r.body.id;
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('Identify: a photo becomes a descriptor in the browser and finds its subject', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  const resp = await page.goto(srv.base + '/identify.html');
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.match(csp, /media-src 'self' blob:/);
  await page.locator('main[aria-busy="false"] h1', { hasText: 'Identify' }).waitFor();
  // the face of sample 2, as face-api computed it (data/biometrics/faces)
  const v = FACES['sample2.jpg'].vector;
  assert.equal((await srv.api('POST', '/v1/biometrics/subjects', srv.keys.officer, { id: 'WL-FACE-2', kind: 'watchlist',
    watchlist: 'interpol', name: 'Sample two', source_agency: 'Border Police', legal_basis: 'Regulation 2019/818' })).status, 201);
  assert.equal((await srv.api('POST', '/v1/biometrics/subjects/WL-FACE-2/templates', srv.keys.officer,
    { model: 'faceapi-128', vector: v })).status, 201);
  await page.reload();
  await page.locator('main[aria-busy="false"] h1', { hasText: 'Identify' }).waitFor();
  // another person's face is a candidate below the threshold, not a match
  const other = await srv.api('POST', '/v1/biometrics/identify', srv.keys.officer,
    { watchlist: 'interpol', purpose: 'CASE-2026-118', descriptor: FACES['sample5.jpg'] });
  assert.ok(other.body.candidates.every((c) => c.score < other.body.threshold), JSON.stringify(other.body));
  await until(async () => (await page.locator('#watchlist option').allTextContents()).includes('interpol'), 'the watchlists');
  await page.selectOption('#watchlist', 'interpol');
  await page.fill('#purpose', 'CASE-2026-118');
  await page.selectOption('#sample', 'sample2.jpg');
  await page.locator('.probe-box:not([hidden])').waitFor();
  await page.getByRole('button', { name: 'Search the watchlist' }).click();
  const row = page.locator('table.candidates tbody tr').first();
  await row.waitFor({ timeout: 120000 }); // face-api on the CPU backend: seconds
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], 'WL-FACE-2');
  assert.equal(cells[2], 'match');
  assert.equal(cells[5], 'Border Police');
  assert.equal(cells[6], 'Regulation 2019/818');
  await shot(page, 'bio-identify-face');
  assert.ok(Number(cells[1]) > 0.98, cells[1]); // the browser's descriptor is the stored one
  // a fingerprint template, uploaded
  await page.setInputFiles('#template', join(FVC, '101_4.iso'));
  await page.getByRole('button', { name: 'Search the watchlist' }).click();
  await until(async () => (await page.locator('table.candidates tbody tr td').first().textContent()) === 'WL-101', 'the fingerprint search');
  assert.equal(await page.locator('table.candidates tbody tr td').nth(3).textContent(), 'watchlist');
  assert.equal(await page.inputValue('#sample'), ''); // the photo is no longer the probe
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, 'bio-identify-finger');
  assert.deepEqual(page.problems, []);
  // every search is in the audit, with its purpose
  const audit = (await srv.api('GET', '/v1/biometrics/audit?action=identify', srv.keys.officer)).body.items;
  assert.equal(audit.length, 3); // face, the other face (API), the fingerprint
  assert.ok(audit.every((a) => a.purpose === 'CASE-2026-118'));
  // the rest of the console keeps the strict policy
  const index = await page.goto(srv.base + '/');
  assert.doesNotMatch(index.headers()['content-security-policy'], /wasm-unsafe-eval|media-src/);
  await page.close();
});

test('subjects and audit pages; on a phone too', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/biometrics', 'table.subjects');
  const rows = await page.locator('table.subjects tbody tr td:first-child').allTextContents();
  assert.ok(rows.includes('WL-101') && rows.includes('OP-1'), rows.join());
  const wl101 = page.locator('table.subjects tbody tr', { hasText: 'WL-101' }).locator('td');
  assert.equal(await wl101.nth(5).textContent(), 'Immigration Service');
  assert.equal(await wl101.nth(6).textContent(), 'MoU 2024/7 art. 4');
  // the watchlists, summed up: subjects, agencies, the soonest expiry
  await page.locator('table.watchlists').waitFor();
  const interpol = page.locator('table.watchlists tbody tr', { hasText: 'interpol' }).locator('td');
  assert.match(await interpol.nth(3).textContent(), /Immigration Service/);
  assert.match(await interpol.nth(4).textContent(), /31 Dec 2099|1 Jan 2100/); // WL-101's, valid through 31 Dec
  const ops = page.locator('table.watchlists tbody tr', { hasText: 'operators' }).locator('td');
  assert.equal(await ops.nth(1).textContent(), '1');
  assert.equal(await ops.nth(4).textContent(), 'no expiry');
  await shot(page, 'bio-subjects');
  await visit(page, srv.base, '#/biometrics/WL-101', 'text=Audit of this subject');
  await page.locator('table.audit').waitFor();
  await visit(page, srv.base, '#/biometrics/audit?action=identify', 'table.audit');
  const purposes = await page.locator('table.audit tbody tr td:nth-child(6)').allTextContents();
  assert.ok(purposes.length >= 1 && purposes.every((p) => p === 'CASE-2026-118'), purposes.join());
  await shot(page, 'bio-audit');
  const phone = await newPage(browser, PHONE);
  await signIn(phone, srv.base, srv.keys.officer);
  await visit(phone, srv.base, '#/biometrics', 'table.subjects');
  await shot(phone, 'bio-subjects-phone');
  assert.deepEqual([...page.problems, ...phone.problems], []);
  await page.close();
  await phone.close();
});

test('the decision card of a key issued to an operator says when a verification is required', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, opKey);
  await visit(page, srv.base, `#/declarations/${declId}`, '.decision-form');
  const state = page.locator('.verify-state');
  await until(async () => (await state.getAttribute('class')).includes('verify-required'), 'the verification state');
  assert.match(await state.textContent(), /fresh biometric verification is required.*OP-1.*12 hours/);
  await page.locator('input[name=decision][value=hold]').check();
  await page.fill('#decision-reason', 'documents missing');
  await page.getByRole('button', { name: 'Record decision' }).click();
  await page.locator('.decision-form .error').waitFor();
  assert.match(await page.locator('.decision-form .error').textContent(), /operator this key stands for, OP-1, has no successful biometric verification/);
  await shot(page, 'bio-decision-required');
  // an officer verifies OP-1 (another finger impression): the card says so, the decision goes through
  const v = await srv.api('POST', '/v1/biometrics/verify', srv.keys.officer, { subject: 'OP-1', purpose: 'SHIFT-START',
    template_base64: readFileSync(join(FVC, '102_3.iso')).toString('base64') });
  assert.equal(v.body.match, true, JSON.stringify(v.body));
  await settled(page, () => page.reload());
  await until(async () => (await state.getAttribute('class')).includes('verify-ok'), 'the fresh verification');
  assert.match(await state.textContent(), /OP-1 was verified .* decisions are accepted until/);
  await page.locator('input[name=decision][value=hold]').check();
  await page.fill('#decision-reason', 'documents missing');
  await page.getByRole('button', { name: 'Record decision' }).click();
  await page.locator('text=Decision recorded').waitFor();
  await shot(page, 'bio-decision-verified');
  assert.deepEqual(page.problems.filter((p) => !/status of 409/.test(p)), []);
  await page.close();
});
