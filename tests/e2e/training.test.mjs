// Training in the console: a simulated case, a region marked on the scan by
// dragging, a lane chosen, the score and what was hidden shown; the same
// score as the API records. Screenshots at phone size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, shot, signIn, visit, customs, PHONE } from './harness.mjs';

let srv, browser;

before(async () => {
  srv = await startServer({ seed: ({ db }) => customs('training', 'generate', '--db', db, '--seed', '3', '--n', '2') });
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('a full training case: mark, decide, score', async () => {
  const page = await newPage(browser, PHONE);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/training', 'canvas.scan');
  const canvas = page.locator('canvas.scan');
  const id = await canvas.getAttribute('data-case');
  const box = await canvas.boundingBox();
  assert.ok(box.width > 300 && box.width <= PHONE.width, `the scan fits a phone (${box.width} px)`);
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.6, { steps: 5 });
  await page.mouse.up();
  await page.locator('ol.marks li').first().waitFor();
  await shot(page, 'training-marked-phone');
  await page.getByRole('button', { name: 'Submit answer' }).click();
  await page.locator('.form-status', { hasText: 'Choose a lane' }).waitFor();
  await page.getByLabel('red').check();
  await page.getByRole('button', { name: 'Submit answer' }).click();
  const score = await page.locator('.training-result .score').getAttribute('data-score');
  await shot(page, 'training-scored-phone');
  const r = await srv.api('GET', '/v1/training/results', srv.keys.officer);
  assert.equal(r.body.items.length, 1);
  assert.equal(r.body.items[0].case, id);
  assert.equal(String(r.body.items[0].score), score);
  assert.equal(r.body.items[0].false_marks + r.body.items[0].found, 1, 'the one mark was sent');
  // the next case is the other one
  await page.getByRole('button', { name: 'Next case' }).click();
  await page.waitForFunction((prev) => document.querySelector('canvas.scan')?.dataset.case !== prev, id);
  assert.deepEqual(page.problems, []);
});

test('traders are told the page is not theirs', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.trader);
  await visit(page, srv.base, '#/training');
  await page.locator('main', { hasText: 'for customs officers and administrators' }).waitFor();
  assert.deepEqual(page.problems, []);
});
