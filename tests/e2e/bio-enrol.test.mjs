// Enrolment from the Identify page (its own file: face-api on a CPU backend
// takes its seconds, and each file has its own time budget): a sample photo
// becomes a face descriptor in Chromium and a new subject, found again from
// the page; a fingerprint template becomes a subject with its finger, and a
// second template is added to it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { startServer, launch, newPage, shot, signIn, until, customs, SOURCE } from './harness.mjs';

const FACES = JSON.parse(readFileSync(join(SOURCE, 'data', 'biometrics', 'faces', 'faceapi-samples.json'), 'utf8'));
const FVC = join(SOURCE, 'data', 'biometrics', 'fvc-dev', 'fvc2002', 'DB1_B');
let srv, browser;

before(async () => {
  srv = await startServer({
    seed: ({ dir }) => { customs('bio', 'key', '--out', join(dir, 'bio.key')); },
    argsFrom: ({ dir }) => ['--bio-key', join(dir, 'bio.key')],
  });
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('Enrol: a sample photo and a fingerprint template become subjects from the Identify page', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await page.goto(srv.base + '/identify.html');
  await page.locator('main[aria-busy="false"] h1', { hasText: 'Identify' }).waitFor();
  // without a probe the form says what is missing and creates nothing
  await page.fill('#enrol-id', 'WL-FACE-3');
  await page.getByRole('button', { name: 'Enrol this probe' }).click();
  await page.locator('.enrol-form .error', { hasText: 'Choose a photo' }).waitFor();
  assert.equal((await srv.api('GET', '/v1/biometrics/subjects/WL-FACE-3', srv.keys.officer)).status, 404);
  // a face: the descriptor is computed here, the subject created with its details
  await page.selectOption('#sample', 'sample3.jpg');
  await page.locator('.probe-box:not([hidden])').waitFor();
  await page.fill('#enrol-name', 'Sample three');
  await page.fill('#enrol-watchlist', 'border-faces');
  await page.fill('#enrol-agency', 'Border Police');
  await page.fill('#enrol-basis', 'Regulation 2019/818');
  await page.fill('#enrol-expires', '2099-06-30');
  await page.getByRole('button', { name: 'Enrol this probe' }).click();
  const done = page.locator('.enrol-form .form-status strong', { hasText: 'Face enrolled for WL-FACE-3' });
  await done.waitFor({ timeout: 120000 }); // face-api on the CPU backend: seconds
  const s = await srv.api('GET', '/v1/biometrics/subjects/WL-FACE-3', srv.keys.officer);
  assert.equal(s.status, 200);
  assert.equal(s.body.watchlist, 'border-faces');
  assert.equal(s.body.source_agency, 'Border Police');
  assert.equal(s.body.expires, '2099-07-01T00:00:00.000Z'); // valid through 30 June
  // what was stored is sample 3's face as face-api sees it, and no one else's
  const again = await srv.api('POST', '/v1/biometrics/identify', srv.keys.officer,
    { watchlist: 'border-faces', purpose: 'CASE-2026-118', descriptor: FACES['sample3.jpg'] });
  assert.equal(again.body.candidates[0].subject, 'WL-FACE-3');
  assert.ok(again.body.candidates[0].score > 0.98, JSON.stringify(again.body));
  const other = await srv.api('POST', '/v1/biometrics/identify', srv.keys.officer,
    { watchlist: 'border-faces', purpose: 'CASE-2026-118', descriptor: FACES['sample1.jpg'] });
  assert.ok(other.body.candidates.every((c) => c.score < other.body.threshold), JSON.stringify(other.body));
  // and the page finds it: the new watchlist is offered, the photo matches
  await until(async () => (await page.locator('#watchlist option').allTextContents()).includes('border-faces'), 'the new watchlist');
  await page.selectOption('#watchlist', 'border-faces');
  await page.fill('#purpose', 'CASE-2026-118');
  await page.getByRole('button', { name: 'Search the watchlist' }).click();
  const row = page.locator('table.candidates tbody tr').first();
  await row.waitFor({ timeout: 120000 });
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], 'WL-FACE-3');
  assert.equal(cells[2], 'match');
  await shot(page, 'bio-enrol-face');
  // a fingerprint template for a new subject, with its finger
  await page.setInputFiles('#template', join(FVC, '103_1.iso'));
  await page.fill('#enrol-id', 'WL-103');
  await page.fill('#enrol-name', '');
  await page.fill('#enrol-watchlist', 'interpol');
  await page.selectOption('#enrol-finger', 'right_index');
  await page.getByRole('button', { name: 'Enrol this probe' }).click();
  await page.locator('.enrol-form .form-status strong', { hasText: 'Fingerprint (right index) enrolled for WL-103' }).waitFor();
  const hit = await srv.api('POST', '/v1/biometrics/identify', srv.keys.officer,
    { watchlist: 'interpol', purpose: 'CASE-2026-118', template_base64: readFileSync(join(FVC, '103_2.iso')).toString('base64') });
  assert.equal(hit.body.candidates[0].subject, 'WL-103');
  assert.equal(hit.body.candidates[0].finger, 'right_index');
  assert.ok(hit.body.candidates[0].score >= hit.body.threshold, JSON.stringify(hit.body));
  // the same id again adds a template to the existing subject, when asked to
  await page.setInputFiles('#template', join(FVC, '103_3.iso'));
  await page.check('#enrol-existing');
  assert.equal(await page.isHidden('#enrol-watchlist'), true); // its details are not asked for
  await page.getByRole('button', { name: 'Enrol this probe' }).click();
  await page.locator('.enrol-form .form-status', { hasText: 'an existing subject in watchlist interpol' }).waitFor();
  await page.locator('.enrol-form').scrollIntoViewIfNeeded();
  await shot(page, 'bio-enrol-finger');
  assert.deepEqual(page.problems, []);
  await page.close();
});
