// The designs page: a file uploaded through the form, drawn with three.js
// (WebGL in SwiftShader) beside the registered design it matches, with its
// measurements; the watchlists; a trader never sees a security match.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, newPage, shot, signIn, visit, settled, customs, SOURCE, PHONE } from './harness.mjs';

const DATA = join(SOURCE, 'data', 'designs');
let srv, browser;

before(async () => {
  srv = await startServer({
    seed: ({ db }) => {
      customs('designs', 'register', '--db', db, '--watchlist', 'ipr', '--holder', 'ACME Toys', '--title', 'Rocket figurine',
        '--registration', 'EM-008765432-0001', '--valid-until', '2031-12-31', join(DATA, 'rocket.stl'));
      customs('designs', 'register', '--db', db, '--watchlist', 'security', '--holder', 'Customs', '--title', 'Controlled gear',
        join(DATA, 'gear12.stl'));
    },
  });
  browser = await launch(['--enable-unsafe-swiftshader', '--use-angle=swiftshader']);
});
after(async () => { await browser?.close(); await srv?.stop(); });

async function uploadThroughForm(page, file) {
  await visit(page, srv.base, '#/designs', 'text=Check a design file');
  await page.getByLabel('STL, 3MF or OBJ file (up to 128 MiB)').setInputFiles(file);
  await settled(page, () => page.getByRole('button', { name: 'Upload and check' }).click());
}

async function drawn(page, role) {
  const view = page.locator(`.design-view[data-role="${role}"]`);
  await view.locator('canvas').waitFor();
  await page.waitForFunction((r) => document.querySelector(`.design-view[data-role="${r}"]`)?.dataset.drawn === 'true', role);
  // the canvas holds a drawing: not one flat colour
  return page.evaluate((r) => {
    const c = document.querySelector(`.design-view[data-role="${r}"] canvas`);
    const gl = c.getContext('webgl2');
    const px = new Uint8Array(c.width * c.height * 4);
    gl.readPixels(0, 0, c.width, c.height, gl.RGBA, gl.UNSIGNED_BYTE, px);
    const seen = new Set();
    for (let i = 0; i < px.length; i += 4 * 97) seen.add(`${px[i]},${px[i + 1]},${px[i + 2]}`);
    return seen.size;
  }, role);
}

test('an officer uploads a re-meshed copy: drawn beside the registered design it matches', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await uploadThroughForm(page, join(DATA, 'rocket-fn96.stl'));
  await page.locator('h1', { hasText: 'rocket-fn96.stl' }).waitFor();
  assert.ok(await drawn(page, 'upload') > 8, 'the upload is drawn');
  assert.ok(await drawn(page, 'registered') > 8, 'the registered design is drawn');
  const row = page.locator('table.design-matches-table tbody tr').first();
  assert.match(await row.textContent(), /Rocket figurine.*ACME Toys.*ipr.*match/s);
  assert.match(await page.locator('.design-side h3').textContent(), /Registered: “Rocket figurine”/);
  assert.match(await page.locator('.design-facts').textContent(), /Watertight\s*yes/);
  await shot(page, 'designs-match');
  await page.setViewportSize(PHONE);
  await page.locator('.design-view[data-role="upload"]').scrollIntoViewIfNeeded();
  await shot(page, 'designs-match-phone');
  // the index lists the match, newest first, and both watchlists
  await visit(page, srv.base, '#/designs', 'text=Latest matches');
  await page.locator('.design-matches li').first().waitFor();
  assert.match(await page.locator('.design-matches li').first().textContent(), /rocket-fn96\.stl matches “Rocket figurine”/);
  assert.equal(await page.locator('table.designs-list tbody tr').count(), 2);
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot(page, 'designs-index');
  assert.deepEqual(page.problems, []);
});

test('a trader uploading a controlled design learns nothing of it', async () => {
  // a scaled copy of the controlled gear, sent by the trader through the API
  const gear = readFileSync(join(DATA, 'gear12.stl'));
  const n = gear.readUInt32LE(80);
  for (let t = 0; t < n; t++) for (let k = 0; k < 9; k++) {
    const at = 84 + 50 * t + 12 + 4 * k;
    gear.writeFloatLE(gear.readFloatLE(at) * 1.5, at);
  }
  const res = await fetch(srv.base + '/v1/designs?name=part-7.stl', {
    method: 'POST', body: gear, headers: { Authorization: `Bearer ${srv.keys.trader}`, 'Content-Type': 'application/octet-stream' } });
  assert.equal(res.status, 201);
  const { inspection } = await res.json();
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.trader);
  await visit(page, srv.base, `#/designs/${inspection.sha256}`, 'h1 >> text=part-7.stl');
  assert.ok(await drawn(page, 'upload') > 8);
  const text = await page.locator('main').textContent();
  assert.match(text, /no match/);
  assert.doesNotMatch(text, /security|Controlled gear/i);
  assert.equal(await page.locator('.design-view[data-role="registered"]').count(), 0);
  await shot(page, 'designs-trader');
  // the trader's list holds the protected designs only
  await visit(page, srv.base, '#/designs', 'text=Protected designs (ipr)');
  await page.locator('table.designs-list tbody tr').first().waitFor();
  assert.equal(await page.locator('table.designs-list tbody tr').count(), 1);
  assert.deepEqual(page.problems, []);
});
