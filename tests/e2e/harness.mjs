// End-to-end harness: a real `customs serve` with demo data, driven in Debian's
// Chromium through playwright-core. Node's standard library plus
// playwright-core only (from web/node_modules).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const HERE = dirname(fileURLToPath(import.meta.url));
export const SOURCE = process.env.CUSTOMS_SOURCE_DIR || join(HERE, '..', '..');
export const BIN = process.env.CUSTOMS_BIN || join(SOURCE, 'build', 'customs');
export const SHOTS = process.env.CUSTOMS_E2E_DIR || join(SOURCE, 'build', 'e2e');
const require = createRequire(join(SOURCE, 'web', 'package.json'));
const { chromium } = require('playwright-core');

export function customs(...args) {
  return execFileSync(BIN, args, {
    encoding: 'utf8',
    env: { ...process.env, CUSTOMS_DATA_DIR: join(SOURCE, 'data'), CUSTOMS_NO_PROGRESS: '1' },
  });
}

/** Starts a server on a fresh database; seed(db) prepares data first;
 * argsFrom({db, dir, keys}) adds serve options that name seeded files. */
export async function startServer({ seed, args = [], argsFrom } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'customs-e2e-'));
  const db = join(dir, 'customs.db');
  const keys = {
    admin: customs('keys', 'create', '--db', db, '--org', 'KCS', '--role', 'admin').trim(),
    officer: customs('keys', 'create', '--db', db, '--org', 'KCS', '--role', 'officer').trim(),
    trader: customs('keys', 'create', '--db', db, '--org', 'ACME-KR', '--role', 'trader').trim(),
  };
  if (seed) await seed({ db, dir, keys });
  if (argsFrom) args = [...args, ...argsFrom({ db, dir, keys })];
  const portFile = join(dir, 'port');
  const proc = spawn(BIN, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--port-file', portFile, ...args],
    { env: { ...process.env, CUSTOMS_DATA_DIR: join(SOURCE, 'data') }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  // the file may exist before the port is written in it (seen under load: port 0)
  const written = () => existsSync(portFile) && readFileSync(portFile, 'utf8').trim() !== '';
  for (let i = 0; i < 800 && !written(); i++) await new Promise((r) => setTimeout(r, 25));
  const port = Number(readFileSync(portFile, 'utf8').trim());
  const base = `http://127.0.0.1:${port}`;
  return {
    db, dir, keys, port, base,
    log: () => log,
    async api(method, path, token, body) {
      const res = await fetch(base + path, {
        method, headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Chromium; extra: more switches (the inspection test's fake camera; the
 *  designs page's WebGL runs in SwiftShader). */
export async function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extra],
  });
}

/** A page that records console errors and page exceptions. */
export async function newPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.problems = problems;
  return page;
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

export const PHONE = { width: 390, height: 844 };

/** Waits for cond() to be truthy (polling), up to ms; returns its value or throws with what. */
export async function until(cond, what, ms = 10000, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Signs in through the form, the way an officer does. */
export async function signIn(page, base, token) {
  await page.goto(base + '/');
  await page.getByLabel('API key').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#nav:not([hidden])').waitFor();
}

/** Runs action (which navigates inside the console) and waits until the new
 * page has rendered: the router numbers each page it shows and marks <main>
 * aria-busy while it renders. */
export async function settled(page, action) {
  const prev = await page.evaluate(() => document.getElementById('main')?.dataset.gen || '');
  await action();
  await page.waitForFunction((p) => {
    const m = document.getElementById('main');
    return m && m.dataset.gen && m.dataset.gen !== p && m.getAttribute('aria-busy') === 'false';
  }, prev);
}

/** Opens a console page by its hash, waits for it to render, then for selector. */
export async function visit(page, base, hash, selector) {
  await settled(page, () => page.goto(base + '/' + hash));
  if (selector) await page.locator(selector).first().waitFor();
}

/** The first n data rows of a KCS CSV file, written to path (columns cut to keep). */
export function kcsSlice(src, path, { from = 0, n, columns } = {}) {
  const lines = readFileSync(src, 'utf8').split('\n');
  const pick = (l) => (columns ? l.split(',').slice(0, columns).join(',') : l);
  const rows = lines.slice(1 + from, 1 + from + n).filter(Boolean);
  writeFileSync(path, [lines[0], ...rows].map(pick).join('\n') + '\n');
  return rows.length;
}

/** The JSON declaration of a KCS row (as the kcs import maps it). */
function kcsDeclaration(f) {
  const d = {
    reference: f[0], type: 'import', date: f[1], office: f[2], declarant_id: f[8], importer_id: f[9],
    country_of_departure: f[13], transport_mode: f[7],
    procedure: { process_type: f[3], import_type: f[4], import_use: f[5], payment_type: f[6] },
    items: [{ hs_code: f[12], country_of_origin: f[14], origin_indicator: f[17], net_mass_kg: Number(f[18]),
      value: Number(f[19]), currency: 'KRW', tax_rate: Number(f[15]), tax_type: f[16] }],
  };
  if (f[10]) d.seller_id = f[10];
  if (f[11]) d.courier_id = f[11];
  return d;
}

/** A trained risk model and scored declarations: a slice of the KCS data with
 * outcomes (org KCS, history: `customs import --format kcs`), `customs risk
 * train`, then a later slice without outcomes submitted as new declarations of
 * org KCS-2021 (JSON Lines: scored at import, so the queue has work). */
export function seedRisk(db, dir, { train = 4000, score = 300 } = {}) {
  const data = join(SOURCE, 'data', 'customs-fraud');
  kcsSlice(join(data, 'df_syn_train_eng.csv'), join(dir, 'train.csv'), { n: train });
  customs('import', '--db', db, '--org', 'KCS', '--format', 'kcs', '--no-progress', join(dir, 'train.csv'));
  customs('risk', 'train', '--db', db);
  const lines = readFileSync(join(data, 'df_syn_valid_eng.csv'), 'utf8').split('\n').slice(1, 1 + score)
    .filter(Boolean).map((l) => JSON.stringify(kcsDeclaration(l.split(','))));
  writeFileSync(join(dir, 'score.jsonl'), lines.join('\n') + '\n');
  customs('import', '--db', db, '--org', 'KCS-2021', '--no-progress', join(dir, 'score.jsonl'));
}

/** The demo declarations of data/demo/acme-kr.jsonl (parsed). */
export function demoDeclarations(n) {
  return readFileSync(join(SOURCE, 'data', 'demo', 'acme-kr.jsonl'), 'utf8').split('\n').filter(Boolean)
    .slice(0, n).map((l) => JSON.parse(l));
}
