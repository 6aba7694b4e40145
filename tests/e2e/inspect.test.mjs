// At the container and at headquarters: the inspect page with Chromium's
// fake camera (a generated video) at phone size — the scan's region placed
// on the container overlay for a known marker alignment, a step ticked —
// and a live session: the expert's page (another browser context) gets the
// officer's frames, draws a box, and the officer's page shows it on the
// frame it was drawn on; then a finding is photographed for a step and the
// outcome recorded from the page carries the photo's hash.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, newPage, shot, signIn, visit, until, customs, PHONE } from './harness.mjs';

let srv, browser, decl, guide;

/** A Y4M video (what --use-file-for-fake-video-capture plays): moving bars. */
function y4m(path, w = 320, hgt = 240, frames = 10) {
  const parts = [Buffer.from(`YUV4MPEG2 W${w} H${hgt} F5:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < frames; f++) {
    const y = Buffer.alloc(w * hgt);
    for (let r = 0; r < hgt; r++) for (let c = 0; c < w; c++) y[r * w + c] = ((c + f * 8) >> 5) & 1 ? 200 : 60;
    parts.push(Buffer.from('FRAME\n'), y, Buffer.alloc(w * hgt / 4, 128), Buffer.alloc(w * hgt / 4, 128));
  }
  writeFileSync(path, Buffer.concat(parts));
}

before(async () => {
  let dir;
  srv = await startServer({
    args: ['--inspect-rate', '0', '--explore-rate', '0'],
    seed: ({ db, dir: d }) => {
      dir = d;
      customs('xray', 'simulate', '--seed', '5', '--n', '1', '--out', join(d, 'scans'), '--kinds', 'empty_block',
        '--pixel-mm', '12', '--container', '20ft');
      y4m(join(d, 'camera.y4m'));
    },
  });
  const t = JSON.parse(readFileSync(join(dir, 'scans', 'truth.json'), 'utf8')).scans[0];
  const meta = JSON.parse(readFileSync(join(dir, 'scans', t.scan_id + '.json'), 'utf8'));
  const d = await srv.api('POST', '/v1/declarations', srv.keys.trader, {
    reference: 'E2E-INSPECT', type: 'import', date: '2024-03-01', office: 'KRPUS', declarant_id: 'D', importer_id: 'I',
    containers: [meta.container], items: [{ hs_code: '860900', description: 'the container itself, empty',
      country_of_origin: 'CN', net_mass_kg: 0, value: 0, currency: 'USD' }] });
  decl = d.body.id;
  await srv.api('POST', '/v1/xray/scanners', srv.keys.officer, { id: meta.scanner, name: 'Gate', site: 'KRPUS' });
  meta.declaration = decl;
  delete meta.declared_empty;
  const img = readFileSync(join(dir, 'scans', t.file)).toString('base64');
  const s = await srv.api('POST', '/v1/xray/scans', srv.keys.officer, { meta, image_base64: img });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  guide = (await srv.api('GET', `/v1/declarations/${decl}/inspection-guide`, srv.keys.officer)).body;
  browser = await launch(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    `--use-file-for-fake-video-capture=${join(dir, 'camera.y4m')}`]);
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('the overlay puts the scan\'s region where the markers say, and a live session', async () => {
  const region = guide.steps.find((s) => s.source === 'xray' && s.where);
  assert.ok(region, 'the guide has a region with where');
  const page = await newPage(browser, PHONE);
  await page.context().grantPermissions(['camera']);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, `#/inspect/${decl}`, 'canvas.overlay');
  await page.locator('.hint', { hasText: 'Camera on (320×240)' }).waitFor();
  // align: the doors' marker at 10 % of the picture, the front wall at 90 %, both at 80 % height
  const ov = page.locator('canvas.overlay');
  const box = await ov.boundingBox();
  const drag = async (from, to) => {
    await page.mouse.move(box.x + from.x * box.width, box.y + from.y * box.height);
    await page.mouse.down();
    await page.mouse.move(box.x + to.x * box.width, box.y + to.y * box.height, { steps: 4 });
    await page.mouse.up();
  };
  const m = JSON.parse(await ov.getAttribute('data-markers'));
  await drag({ x: m[0].x / 320, y: m[0].y / 240 }, { x: 0.1, y: 0.8 });
  await drag({ x: m[1].x / 320, y: m[1].y / 240 }, { x: 0.9, y: 0.8 });
  const markers = JSON.parse(await ov.getAttribute('data-markers'));
  assert.ok(Math.abs(markers[0].x - 32) <= 2 && Math.abs(markers[1].x - 288) <= 2, JSON.stringify(markers));
  const placed = JSON.parse(await ov.getAttribute('data-regions'));
  const n = guide.steps.filter((s) => s.source === 'xray' && s.where).indexOf(region);
  const lengthM = 5.9; // 20 ft inside
  const want = markers[0].x + (markers[1].x - markers[0].x) * region.where.from_door_m / lengthM;
  assert.ok(Math.abs(placed[n].x - want) <= 2, `region at x ${placed[n].x}, expected ${want.toFixed(1)}`);
  // this Chromium has no immersive AR: no AR button, the markers are the way
  const hasAR = await page.evaluate(async () => !!(navigator.xr && await navigator.xr.isSessionSupported('immersive-ar').catch(() => false)));
  assert.equal(hasAR, false);
  assert.equal(await page.getByRole('button', { name: 'AR mode' }).count(), 0);
  // AR's placement in the room: metres along the axis the two taps give, up, and across
  const arp = await page.evaluate(async () => {
    const { arPoint } = await import('/js/inspect-ar.js');
    const door = { x: 1, y: 0.1, z: 2 }, ahead = { x: 1, y: 0, z: -2 };
    return [arPoint(door, ahead, 3, 0.5), arPoint(door, ahead, 0, 0, 1)];
  });
  assert.deepEqual(arp, [{ x: 1, y: 0.6, z: -1 }, { x: 2, y: 0.1, z: 2 }]);
  // a step ticked is stored
  await page.locator('#step-1').check();
  await until(async () => (await srv.api('GET', `/v1/declarations/${decl}/inspection-guide`, srv.keys.officer)).body.steps[0].done, 'step 1 stored');
  await ov.evaluate((el) => el.scrollIntoView({ block: 'center' }));
  await shot(page, 'inspect-overlay-phone');
  // the expert
  await page.getByRole('button', { name: 'Call an expert' }).click();
  const link = page.locator('a[data-session]');
  const sid = await link.getAttribute('data-session');
  const expertPage = await newPage(browser);
  await signIn(expertPage, srv.base, srv.keys.admin);
  await visit(expertPage, srv.base, `#/assist/${sid}`, 'canvas.frame');
  await expertPage.waitForFunction(() => Number(document.querySelector('canvas.frame')?.dataset.frame) > 0);
  const fc = expertPage.locator('canvas.frame');
  const fb = await fc.boundingBox();
  await expertPage.mouse.move(fb.x + fb.width * 0.2, fb.y + fb.height * 0.2);
  await expertPage.mouse.down();
  await expertPage.mouse.move(fb.x + fb.width * 0.5, fb.y + fb.height * 0.6, { steps: 4 });
  await expertPage.mouse.up();
  const drawnOn = Number(await fc.getAttribute('data-frame'));
  await expertPage.getByLabel('Message').fill('open the cartons behind this');
  await expertPage.getByRole('button', { name: 'Send' }).click();
  await shot(expertPage, 'assist-expert');
  // on the officer's phone: the marked frame, the one it was drawn on
  const marked = page.locator('canvas.frame[data-frame]');
  await marked.waitFor();
  assert.equal(Number(await marked.getAttribute('data-frame')), drawnOn);
  await page.locator('ol.chat li', { hasText: 'open the cartons behind this' }).waitFor();
  await marked.scrollIntoViewIfNeeded();
  await shot(page, 'inspect-expert-mark-phone');
  const ev = (await srv.api('GET', `/v1/sessions/${sid}/events?limit=1000`, srv.keys.officer)).body.items;
  const a = ev.find((e) => e.event === 'annotation');
  assert.equal(a.data.frame, drawnOn);
  assert.equal(a.data.shapes[0].kind, 'box');
  await page.getByRole('button', { name: 'End session' }).click();
  await until(async () => (await srv.api('GET', `/v1/sessions/${sid}`, srv.keys.officer)).body.status === 'closed', 'the session closed');
  // a finding photographed for step 1: the live frame, uploaded, linked, shown
  await page.locator('#photo-step').selectOption('1');
  await page.getByRole('button', { name: 'Take photo' }).click();
  const th = page.locator('.thumbs[data-step="1"] canvas.thumb');
  await th.waitFor();
  const sha = await th.getAttribute('data-sha');
  const step1 = (await srv.api('GET', `/v1/declarations/${decl}/inspection-guide`, srv.keys.officer)).body.steps[0];
  assert.deepEqual([step1.photos, step1.done], [[sha], true]); // the tick was kept
  const jpeg = await fetch(`${srv.base}/v1/declarations/${decl}/photos/${sha}`,
    { headers: { Authorization: `Bearer ${srv.keys.officer}` } });
  const bytes = Buffer.from(await jpeg.arrayBuffer());
  assert.equal(createHash('sha256').update(bytes).digest('hex'), sha);
  assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8]); // a JPEG, from canvas.toBlob
  await th.scrollIntoViewIfNeeded();
  await shot(page, 'inspect-photo-phone');
  // the outcome from the page: the step's photo is on the record
  await page.getByRole('button', { name: 'Record outcome' }).click();
  const rec = page.locator('[data-photos]');
  await rec.waitFor();
  assert.deepEqual(JSON.parse(await rec.getAttribute('data-photos')), [sha]);
  const d = (await srv.api('GET', `/v1/declarations/${decl}`, srv.keys.officer)).body;
  assert.deepEqual([d.inspection.photos, d.inspection.result], [[sha], 'compliant']);
  await rec.scrollIntoViewIfNeeded();
  await shot(page, 'inspect-outcome-phone');
  assert.deepEqual(page.problems, []);
  assert.deepEqual(expertPage.problems, []);
});

test('AR mode is offered only where WebXR has immersive-ar; the markers stay otherwise', async () => {
  // (this Chromium, without immersive AR, shows no AR button: the test above)
  // a browser that says it has immersive-ar gets the button; a session that
  // cannot start says so and the markers stay
  const ar = await newPage(browser, PHONE);
  await ar.context().grantPermissions(['camera']);
  await ar.addInitScript(() => Object.defineProperty(navigator, 'xr', { configurable: true, value: {
    isSessionSupported: async (mode) => mode === 'immersive-ar',
    requestSession: async () => { throw new DOMException('no AR device here', 'NotSupportedError'); } } }));
  await signIn(ar, srv.base, srv.keys.officer);
  await visit(ar, srv.base, `#/inspect/${decl}`, 'canvas.overlay');
  const btn = ar.getByRole('button', { name: 'AR mode' });
  await btn.waitFor();
  await ar.locator('.hint', { hasText: 'Camera on' }).waitFor();
  await btn.click();
  await ar.locator('.hint', { hasText: 'AR mode could not start (NotSupportedError)' }).waitFor();
  // the camera, stopped for the session, is back for the markers
  await ar.waitForFunction(() => document.querySelector('.camera video').srcObject?.getVideoTracks()[0]?.readyState === 'live');
  assert.deepEqual(ar.problems, []);
});
