import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, shot } from './harness.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await srv?.stop(); });

test('the console is served with a CSP that forbids inline scripts', async () => {
  const res = await fetch(srv.base + '/');
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  const page = await newPage(browser);
  await page.goto(srv.base + '/');
  await shot(page, 'console-home');
  assert.deepEqual(page.problems, []);
});
