// The live map: borders drawn offline, zones and a corridor, devices moving
// over SSE, an alert raised by telemetry posted during the test showing up
// live, its consignment's track replayed, and the declaration's map.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, newPage, shot, signIn, visit, until, demoDeclarations, PHONE } from './harness.mjs';

const CONTAINER = 'CSQU3054383';
const START = [128.815, 35.082];
const BEND = [128.62, 35.85];
const ZONES = [
  { id: 'PUSAN-PORT', name: 'Busan New Port', kind: 'port',
    geometry: { type: 'Polygon', coordinates: [[[128.775, 35.06], [128.845, 35.055], [128.86, 35.085], [128.84, 35.11], [128.79, 35.105], [128.775, 35.06]]] } },
  { id: 'UIWANG-ICD', name: 'Uiwang inland container depot', kind: 'bonded-warehouse',
    geometry: { type: 'Polygon', coordinates: [[[126.95, 37.33], [126.975, 37.33], [126.975, 37.35], [126.95, 37.35], [126.95, 37.33]]] } },
  { id: 'DAEGU-CUSTOMS', name: 'Daegu customs office', kind: 'customs-office',
    geometry: { type: 'Polygon', coordinates: [[[128.58, 35.86], [128.6, 35.86], [128.6, 35.875], [128.58, 35.875], [128.58, 35.86]]] } },
];
let srv, browser, decl;
let step = 0;
const at = (f) => [START[0] + (BEND[0] - START[0]) * f, START[1] + (BEND[1] - START[1]) * f];
const report = (minutesAgo, extra = {}) => {
  const [lon, lat] = at(Math.min(0.95, 0.05 * ++step));
  return { device: 'TRK-E2E', ts: new Date(Date.now() - minutesAgo * 60000).toISOString(), lat, lon, speed_kmh: 60, seal: 'closed', ...extra };
};

before(async () => {
  srv = await startServer();
  const off = srv.keys.officer;
  const d = { ...demoDeclarations(1)[0], reference: 'MAP-1', containers: [CONTAINER] };
  const r = await srv.api('POST', '/v1/declarations', srv.keys.trader, d);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  decl = r.body;
  for (const z of ZONES) assert.equal((await srv.api('POST', '/v1/zones', off, z)).status, 201);
  assert.equal((await srv.api('POST', '/v1/devices', off, { id: 'TRK-E2E', kind: 'e-seal', container: CONTAINER })).status, 201);
  const c = await srv.api('POST', '/v1/consignments', off, {
    id: 'CONS-E2E', containers: [CONTAINER], declarations: [decl.id],
    route: { type: 'LineString', coordinates: [START, BEND, [126.962, 37.338]] }, corridor_m: 2000,
    origin_zone: 'PUSAN-PORT', destination_zone: 'UIWANG-ICD', expected_arrival: new Date(Date.now() + 6 * 3600e3).toISOString(),
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  // the truck's last half hour: out of the port and up the road
  const t = await srv.api('POST', '/v1/telemetry', off, [30, 25, 20, 15, 10, 5].map((m) => report(m)));
  assert.equal(t.body.accepted, 6, JSON.stringify(t.body));
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('the live map draws country borders offline, the zones and the corridor', async () => {
  const page = await newPage(browser);
  const outside = [];
  page.on('request', (req) => { if (!req.url().startsWith(srv.base)) outside.push(req.url()); });
  await signIn(page, srv.base, srv.keys.officer);
  await page.locator('#nav').getByRole('link', { name: 'Live map' }).click();
  await page.locator('#live-map[data-borders]').waitFor();
  await page.locator('#live-map[data-zones]').waitFor();
  // the corridors are fetched after the zones are drawn; data-view is set
  // once they are (map.js), so the counts below are not read mid-way
  await page.locator('#live-map[data-view]').waitFor();
  assert.ok(await page.locator('path.country').count() > 200, 'the countries of Natural Earth');
  assert.equal(await page.locator('path.zone').count(), ZONES.length);
  assert.equal(await page.locator('path.zone-port').count(), 1);
  assert.equal(await page.locator('path.corridor').count(), 1);
  await page.locator('path.device[data-device="TRK-E2E"]').waitFor();
  assert.deepEqual(outside, [], 'no tile server, nothing from the internet');
  // it opens on the consignments in transit, not on the world
  assert.equal(await page.locator('#live-map').getAttribute('data-view'), 'consignments');
  assert.equal(await page.locator('#live-map').getAttribute('data-view-consignments'), 'CONS-E2E');
  const [w, s, e, n] = (await page.locator('#live-map').getAttribute('data-opened-on')).split(',').map(Number);
  for (const [lon, lat] of [START, BEND, [126.962, 37.338]]) assert.ok(lon >= w && lon <= e && lat >= s && lat <= n, `the route's ${lon},${lat} in view`);
  assert.ok(e - w < 15 && n - s < 15, `a region, not the world: ${w},${s},${e},${n}`);
  assert.match(await page.getByLabel('Zoom to').locator('option:checked').textContent(), /^1 in transit: Busan New Port → Uiwang inland container depot$/);
  await shot(page, 'map-opening');
  await page.getByLabel('Zoom to').selectOption('PUSAN-PORT');
  await page.getByLabel('Zoom to').selectOption('');
  await shot(page, 'map-borders-zones');
  // layers can be hidden and shown from the keyboard
  await page.getByRole('checkbox', { name: 'Zones' }).focus();
  await page.keyboard.press('Space');
  await until(async () => (await page.locator('path.zone').count()) === 0, 'zones hidden');
  await page.keyboard.press('Space');
  await until(async () => (await page.locator('path.zone').count()) === ZONES.length, 'zones shown again');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('telemetry posted during the test shows up as a live alert, and the device moves', async (t) => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/map', '#live-state.on');
  const dev = page.locator('path.device[data-device="TRK-E2E"]');
  await dev.waitFor();
  const before = await dev.getAttribute('d');
  assert.equal(await page.locator('li.alert[data-type="seal_opened"]').count(), 0);
  const t0 = Date.now();
  const r = await srv.api('POST', '/v1/telemetry', srv.keys.officer, [report(0, { seal: 'open' })]);
  assert.equal(r.body.accepted, 1, JSON.stringify(r.body));
  // No time limit asserted here: how fast is a benchmark's question (bench/track
  // measures the latency against its peers); the diagnostic only reports it.
  await page.locator('li.alert[data-type="seal_opened"]').waitFor({ timeout: 30000 });
  t.diagnostic(`posted to shown: ${Date.now() - t0} ms`);
  const li = page.locator('li.alert[data-type="seal_opened"]');
  assert.match(await li.textContent(), /critical\s*Seal opened/);
  assert.match(await li.textContent(), new RegExp(`${CONTAINER} · TRK-E2E · CONS-E2E`));
  assert.equal(await page.locator('ol.alerts li.alert').first().getAttribute('data-type'), 'seal_opened', 'newest first');
  await until(async () => (await dev.getAttribute('d')) !== before, 'the device marker moving to its new position');
  await shot(page, 'map-live-alert');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('the overview lists open alerts most severe first, in words', async () => {
  // a door opened after the seal: a warning newer than the critical alert
  // (where the truck last was: a new place a second later would be a jump)
  const [lon, lat] = at(Math.min(0.95, 0.05 * step));
  const r = await srv.api('POST', '/v1/telemetry', srv.keys.officer, [{ device: 'TRK-E2E', ts: new Date().toISOString(),
    lat, lon, speed_kmh: 0, seal: 'open', door: 'open' }]);
  assert.equal(r.body.accepted, 1, JSON.stringify(r.body));
  await until(async () => (await srv.api('GET', '/v1/alerts?type=door_open', srv.keys.officer)).body.items.length, 'the door alert');
  const open = (await srv.api('GET', '/v1/alerts?acked=false&limit=1000&order=desc', srv.keys.officer)).body.items;
  assert.notEqual(open[0].severity, 'critical', 'the newest open alert is not the critical one');
  assert.ok(open.some((a) => a.severity === 'critical'), 'a critical alert is open');
  assert.ok(open.some((a) => a.severity !== 'critical'), `and a less severe one: ${open.map((a) => a.type)}`);
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/overview', '.latest-alerts li');
  const items = page.locator('.latest-alerts li');
  const sev = await items.evaluateAll((lis) => lis.map((li) => li.dataset.severity));
  const rank = { critical: 0, warning: 1, info: 2 };
  assert.deepEqual(sev, [...sev].sort((a, b) => rank[a] - rank[b]), `most severe first: ${sev}`);
  assert.equal(sev[0], 'critical');
  const text = await items.allTextContents();
  assert.match(text[0], /Seal opened/);
  assert.ok(text.every((t) => !/_/.test(t)), `alert types in words: ${text}`);
  await page.locator('.card', { hasText: 'Open alerts' }).scrollIntoViewIfNeeded();
  await shot(page, 'overview-alerts');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('selecting an alert replays its consignment\'s track', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/map', 'li.alert[data-type="seal_opened"]');
  await page.locator('li.alert[data-type="seal_opened"] .alert-main').focus();
  await page.keyboard.press('Enter');
  await page.locator('#live-map[data-replay="CONS-E2E"]').waitFor();
  await page.locator('.replay-bar', { hasText: 'Replay of CONS-E2E' }).waitFor();
  assert.equal(await page.locator('path.path').count(), 1);
  assert.ok(await page.locator('path.route').count() >= 1);
  const mark = page.locator('path.replay-mark');
  await mark.waitFor();
  const first = await mark.getAttribute('d');
  await until(async () => (await mark.getAttribute('d')) !== first, 'the replay marker moving along the track');
  await shot(page, 'map-replay');
  // acknowledged from the list: the server records who and when
  const li = page.locator('li.alert[data-type="seal_opened"]');
  await li.getByRole('button', { name: 'Acknowledge' }).click();
  await li.getByText('acknowledged').waitFor();
  const id = await li.getAttribute('data-id');
  const a = (await srv.api('GET', `/v1/alerts/${id}`, srv.keys.officer)).body;
  assert.ok(a.acked_at, JSON.stringify(a));
  assert.match(a.acked_by, /^KCS\//);
  assert.deepEqual(page.problems, []);

  const phone = await newPage(browser, PHONE);
  await signIn(phone, srv.base, srv.keys.officer);
  await visit(phone, srv.base, '#/map', 'li.alert');
  await phone.locator('#live-map[data-zones]').waitFor();
  await shot(phone, 'map-phone');
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px too wide)`);
  assert.deepEqual(phone.problems, []);
  await phone.context().close();
  await page.context().close();
});

test('the declaration shows its container\'s track and alerts, and the critical alert raised its lane', async () => {
  await until(async () => (await srv.api('GET', `/v1/declarations/${decl.id}`, srv.keys.officer)).body.risk.lane === 'red',
    'the critical alert raising the declaration to red');
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/declarations/${decl.id}`, '.map.small path.path');
  assert.match(await page.locator('.decl-meta .lane').textContent(), /red/);
  assert.ok(await page.locator('li.reason .reason-title', { hasText: 'Tracking alert: seal opened' }).count() >= 1);
  const alerts = page.locator('.card', { hasText: 'Containers on the map' }).locator('ul.alerts li');
  assert.match(await alerts.first().textContent(), /Seal opened/);
  await page.locator('.card', { hasText: 'Containers on the map' }).scrollIntoViewIfNeeded();
  await shot(page, 'declaration-map');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
