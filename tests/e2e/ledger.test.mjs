// The ledger in the console: a declaration's anchor checked in the browser
// (RFC 6962 inclusion proof with WebCrypto against the cosigned checkpoint),
// a tampered proof refused, the explorer, and a disclosure bundle verified
// client-side. Data: `customs ledger demo` with the importer's declarations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, newPage, shot, signIn, visit, until, customs, demoDeclarations, PHONE } from './harness.mjs';

let srv, browser, anchored, plain;

before(async () => {
  srv = await startServer({
    seed: ({ db, dir }) => {
      // the importer's declarations exist before the demo, so it anchors them
      const file = join(dir, 'acme.jsonl');
      writeFileSync(file, demoDeclarations(5).map((d) => JSON.stringify(d)).join('\n') + '\n');
      customs('import', '--db', db, '--org', 'ACME-KR', '--no-progress', file);
      customs('ledger', 'demo', '--db', db, '--customs', 'KCS', '--importer', 'ACME-KR', '--keys-dir', join(dir, 'keys'));
    },
  });
  const anchors = (await srv.api('GET', '/v1/ledger/entries?type=declaration.anchor&org=ACME-KR&limit=100', srv.keys.officer)).body.items;
  const ids = new Set(anchors.map((e) => e.entry.body.declaration_id));
  const mine = (await srv.api('GET', '/v1/declarations?limit=100', srv.keys.trader)).body.items;
  anchored = mine.find((d) => ids.has(d.id));
  plain = mine.find((d) => !ids.has(d.id));
  assert.ok(anchored && plain, 'some of the importer\'s declarations are anchored, some not');
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

async function verifyOn(page) {
  await page.getByRole('button', { name: 'Verify', exact: true }).click();
  const v = page.locator('.card', { hasText: 'Ledger anchor' }).locator('.verdict');
  await v.waitFor();
  return { verdict: await v.getAttribute('data-verdict'), steps: await page.locator('ol.steps li').evaluateAll((lis) => lis.map((l) => [l.className, l.textContent])) };
}

test('GET /v1/ledger/anchors?declaration_id= lists the anchor, or nothing', async () => {
  const a = await srv.api('GET', `/v1/ledger/anchors?declaration_id=${anchored.id}`, srv.keys.officer);
  assert.equal(a.status, 200);
  assert.equal(a.body.items.length, 1);
  const one = await srv.api('GET', `/v1/ledger/anchors/${anchored.id}`, srv.keys.officer);
  assert.deepEqual(a.body.items[0], one.body);
  const none = await srv.api('GET', `/v1/ledger/anchors?declaration_id=${plain.id}`, srv.keys.officer);
  assert.deepEqual(none.body, { items: [] });
  assert.equal((await srv.api('GET', '/v1/ledger/anchors', srv.keys.officer)).status, 400);
});

test('the in-browser proof check passes for an anchored declaration', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${anchored.id}`, 'text=Leaf hash');
  const { verdict, steps } = await verifyOn(page);
  assert.equal(verdict, 'ok', JSON.stringify(steps));
  assert.ok(steps.length >= 7 && steps.every(([cls]) => cls === 'ok'));
  const labels = steps.map(([, t]) => t).join('\n');
  assert.match(labels, /Leaf hash SHA-256\(0x00 ‖ entry\) matches the log/);
  assert.match(labels, /Checkpoint cosigned by [2-9] trusted members/);
  assert.match(labels, /Inclusion proof \(\d+ hashes\) leads to the cosigned root/);
  await page.locator('.card', { hasText: 'Ledger anchor' }).scrollIntoViewIfNeeded();
  await shot(page, 'proof-verified');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a tampered proof, entry or checkpoint fails the check', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  // The server's answer is altered on its way to the page, as a compromised
  // log or a man in the middle would.
  let tamper = null;
  await page.route('**/v1/ledger/anchors?*', async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    if (tamper) tamper(body.items[0]);
    await route.fulfill({ response: res, json: body });
  });
  const flip = (hex) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

  tamper = (a) => { a.proof.audit_path[0] = flip(a.proof.audit_path[0]); };
  await visit(page, srv.base, `#/declarations/${anchored.id}`, 'text=Leaf hash');
  let r = await verifyOn(page);
  assert.equal(r.verdict, 'fail');
  const last = r.steps[r.steps.length - 1];
  assert.equal(last[0], 'bad');
  assert.match(last[1], /Inclusion proof .* leads to the cosigned root — The proof leads to [0-9a-f]{16}…, the checkpoint's root is/);
  assert.match(await page.locator('.verdict').textContent(), /Not verified/);
  await page.locator('.card', { hasText: 'Ledger anchor' }).scrollIntoViewIfNeeded();
  await shot(page, 'proof-tampered');

  // one committed field changed: still canonical JSON, but not the entry on the log
  tamper = (a) => { a.canonical = a.canonical.replace(/"fields":\{"([^"]+)":"([0-9a-f])/, (m, k, c) => `"fields":{"${k}":"${c === '0' ? '1' : '0'}`); };
  await visit(page, srv.base, `#/declarations/${anchored.id}?again`, 'text=Leaf hash');
  r = await verifyOn(page);
  assert.equal(r.verdict, 'fail');
  assert.ok(r.steps.some(([cls, t]) => cls === 'bad' && /Leaf hash/.test(t)), JSON.stringify(r.steps));

  tamper = (a) => { a.checkpoint.note = a.checkpoint.note.replace(/\n([A-Za-z0-9+/]{10})/, (m, s) => '\n' + (s[0] === 'A' ? 'B' : 'A') + s.slice(1)); };
  await visit(page, srv.base, `#/declarations/${anchored.id}?third`, 'text=Leaf hash');
  r = await verifyOn(page);
  assert.equal(r.verdict, 'fail');
  assert.ok(r.steps.some(([cls, t]) => cls === 'bad' && /cosigned/.test(t)), JSON.stringify(r.steps));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a declaration that is not anchored says so, without errors', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${plain.id}`, 'text=This declaration is not anchored on the ledger.');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('the ledger explorer shows entries by type, findings and the cosigned checkpoint', async () => {
  const summary = (await srv.api('GET', '/v1/ledger', srv.keys.officer)).body;
  const findings = (await srv.api('GET', '/v1/ledger/findings?limit=100', srv.keys.officer)).body.items;
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await page.locator('#nav').getByRole('link', { name: 'Ledger' }).click();
  await page.locator('ul.entries li').first().waitFor();
  const counts = await page.locator('ul.type-counts li').evaluateAll((lis) => Object.fromEntries(lis.map((li) => [li.querySelector('a').textContent, Number(li.querySelector('.count').textContent.replace(/,/g, ''))])));
  assert.deepEqual(counts, summary.entries_by_type);
  await page.locator('ul.findings li').first().waitFor();
  assert.equal(await page.locator('ul.findings li').count(), findings.length);
  const cosigners = summary.checkpoint.cosignatures.map((c) => c.org);
  assert.deepEqual(await page.locator('ul.cosigners li strong').allTextContents(), cosigners);
  // one node, no network (tests/e2e/lnet.test.mjs has a node of one)
  assert.equal(summary.network, null);
  assert.equal(await page.locator('.card', { hasText: 'This node in the network' }).count(), 0);
  await page.getByRole('button', { name: 'Verify cosignatures' }).click();
  await page.locator('.verdict[data-verdict=ok]', { hasText: cosigners.join(', ') }).waitFor();
  await shot(page, 'ledger-explorer');

  await page.getByLabel('Show entries of type').selectOption('bl.issue');
  await page.waitForURL(/type=bl\.issue/);
  const types = await until(async () => {
    const t = await page.locator('ul.entries li summary code').allTextContents();
    return t.length && t.every((x) => x === 'bl.issue') ? t : null;
  }, 'only bl.issue entries listed');
  assert.equal(types.length, summary.entries_by_type['bl.issue']);
  // an entry's own inclusion check from the list
  await page.locator('ul.entries li summary').first().click();
  await page.getByRole('button', { name: 'Verify inclusion' }).click();
  await page.locator('ul.entries .verdict[data-verdict=ok]').waitFor();
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a disclosure bundle dropped on the page is verified client-side; a changed value is refused', async () => {
  const a = (await srv.api('GET', `/v1/ledger/anchors?declaration_id=${anchored.id}`, srv.keys.officer)).body.items[0];
  const fields = ['/items/0/country_of_origin', '/reference'];
  const b = await srv.api('GET', `/v1/ledger/entries/${a.index}/bundle?fields=${fields.join(',')}`, srv.keys.trader);
  assert.equal(b.status, 200, JSON.stringify(b.body));
  const good = join(srv.dir, 'bundle.json');
  const bad = join(srv.dir, 'bundle-changed.json');
  writeFileSync(good, JSON.stringify(b.body));
  const changed = structuredClone(b.body);
  changed.disclosed[0].value = changed.disclosed[0].value === 'CN' ? 'VN' : 'CN';
  writeFileSync(bad, JSON.stringify(changed));

  const page = await newPage(browser);
  const sent = [];
  page.on('request', (req) => { if (req.method() !== 'GET') sent.push(req.url()); });
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/ledger', '.dropzone');
  await page.setInputFiles('#bundle-file', good);
  const result = page.locator('.card', { hasText: 'Verify a disclosure bundle' });
  await result.locator('.verdict[data-verdict=ok]').waitFor();
  const rows = await result.locator('table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(rows.map((r) => [r[0], r[2]]), fields.map((f) => [f, 'matches']));
  assert.equal(rows[1][1], anchored.reference);
  await result.scrollIntoViewIfNeeded();
  await shot(page, 'bundle-verified');

  await page.setInputFiles('#bundle-file', bad);
  await result.locator('.verdict[data-verdict=fail]').waitFor();
  assert.match(await result.locator('ol.steps').textContent(), /the value and salt do not reproduce the commitment on the log/);
  assert.deepEqual(sent, [], 'nothing was sent to the server');
  await shot(page, 'bundle-refused');
  assert.deepEqual(page.problems, []);

  const phone = await newPage(browser, PHONE);
  await signIn(phone, srv.base, srv.keys.officer);
  await visit(phone, srv.base, '#/ledger', 'ul.entries li');
  await shot(phone, 'ledger-phone');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px too wide)`);
  assert.deepEqual(phone.problems, []);
  await phone.context().close();
  await page.context().close();
});
