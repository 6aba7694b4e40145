// Drones in the console: the simulator's flights imported as a capture, then
// the live map (drones, heading, a line to the pilot, drone alerts that
// replay the flight), a drone heard live moving over the position stream,
// and the drones page with registry status and a flight replay, on a phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launch, newPage, shot, signIn, visit, until, customs, SOURCE, PHONE } from './harness.mjs';

const ZONES = join(SOURCE, 'data', 'drones', 'zones.geojson');
const SMUGGLER = 'SMG3RX000000417';
const SURVEY = '1581F5FKD23280021';
let srv, browser;

before(async () => {
  const start = new Date(Date.now() - 3600e3).toISOString().replace(/\.\d+Z$/, 'Z');
  srv = await startServer({
    args: ['--drone-zones', ZONES],
    seed: ({ db, dir }) => {
      const pcap = join(dir, 'flights.pcap');
      customs('drones', 'simulate', '--out', pcap, '--seed', '5', '--start', start, '--quiet');
      customs('drones', 'registry', '--db', db, join(SOURCE, 'data', 'drones', 'registry.csv'));
      customs('drones', 'import', '--db', db, '--zones', ZONES, pcap);
    },
  });
  const rx = await srv.api('POST', '/v1/drones/receivers', srv.keys.officer, { id: 'RX-E2E', name: 'Mast E2E', lat: 54.2, lon: 25.7 });
  assert.equal(rx.status, 201, JSON.stringify(rx.body));
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('the live map shows the drones, their pilots and their alerts, and replays a flight', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/map', '#live-map[data-drones="3"]');
  assert.equal(await page.locator('path.drone').count(), 3);
  assert.ok(await page.locator('path.pilot-line').count() >= 1, 'a line to a pilot');
  assert.equal(await page.locator('#live-map').getAttribute('data-view'), 'drones');
  // the zones of the drone rules are drawn: the territory and the restricted airfield
  assert.equal(await page.locator('path.zone-territory').count(), 1);
  assert.equal(await page.locator('path.zone-restricted').count(), 1);
  // drone alerts are in the list, named by drone
  const item = page.locator('#alerts li[data-type="drone_drop_pattern"]');
  await item.waitFor();
  assert.match(await item.textContent(), /Drone drop pattern.*drone SMG3RX000000417.*Hovered/s);
  await shot(page, 'drones-map');
  await item.locator('button.alert-main').click();
  await page.locator(`#live-map[data-replay="${SMUGGLER}"]`).waitFor();
  await page.locator('path.flight').waitFor();
  assert.ok(await page.locator('path.alert-mark').count() >= 3, 'the flight’s alerts drawn on it');
  await shot(page, 'drones-map-replay');
  // a drone heard now moves on the map without a reload
  const msg = (lat, lon) => {
    const b = Buffer.alloc(25);
    b[0] = 0x12; b[1] = 0x20; b.writeInt32LE(Math.round(lat * 1e7), 5); b.writeInt32LE(Math.round(lon * 1e7), 9);
    b.writeUInt16LE(2200, 13); b.writeUInt16LE(2200, 15); b.writeUInt16LE(2040, 17); b.writeUInt16LE(0xffff, 21);
    return b.toString('hex');
  };
  const post = (lat, lon, s) => srv.api('POST', '/v1/drones/observations', srv.keys.officer, { receiver: 'RX-E2E', observations: [
    { time: new Date(Date.now() - s * 1000).toISOString(), transport: 'ble4', mac: '60:60:1f:00:e2:e2', rssi: -70, payload_hex: msg(lat, lon) }] });
  assert.equal((await post(54.21, 25.61, 4)).body.accepted, 1);
  await page.locator('#live-map[data-drones="4"]').waitFor();
  assert.deepEqual(page.problems, []);
});

test('the drones page lists what was heard with registry status and replays a flight, on a phone', async () => {
  const page = await newPage(browser, PHONE);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/drones', '#drones');
  assert.ok(await page.locator('#drones tbody tr').count() >= 3); // and the one heard live by the first test
  assert.equal(await page.locator(`tr[data-drone="${SMUGGLER}"] .reg-false`).textContent(), 'not registered');
  assert.equal(await page.locator(`tr[data-drone="${SURVEY}"] .reg-true`).textContent(), 'registered');
  await shot(page, 'drones-list-phone');
  await page.getByLabel('Show').selectOption('false');
  await until(async () => (await page.locator('#drones tbody tr').count()) === 1, 'only the unregistered drone');
  await shot(page, 'drones-list-filtered-phone');
  await page.getByRole('link', { name: SMUGGLER }).click();
  await page.locator('#drone-map[data-points]').waitFor();
  assert.ok(Number(await page.locator('#drone-map').getAttribute('data-points')) > 10);
  assert.ok(Number(await page.locator('#drone-map').getAttribute('data-alerts')) >= 3);
  await page.locator('#drone-alerts li[data-type="drone_border_crossing"]').first().waitFor();
  assert.match(await page.locator('dl.facts').textContent(), /not registered.*BLR-OP-93X11/s);
  await page.locator('#drone-map[data-replayed]').waitFor(); // the replay has run to its end
  await page.locator('#drone-map').scrollIntoViewIfNeeded();
  await shot(page, 'drone-detail-phone');
  assert.deepEqual(page.problems, []);
});
