// End-to-end harness: a real `customs serve` with demo data, driven in Debian's
// Chromium through playwright-core. Node's standard library plus
// playwright-core only (from web/node_modules).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
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

/** Starts a server on a fresh database; seed(db) prepares data first. */
export async function startServer({ seed, args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'customs-e2e-'));
  const db = join(dir, 'customs.db');
  const keys = {
    admin: customs('keys', 'create', '--db', db, '--org', 'KCS', '--role', 'admin').trim(),
    officer: customs('keys', 'create', '--db', db, '--org', 'KCS', '--role', 'officer').trim(),
    trader: customs('keys', 'create', '--db', db, '--org', 'ACME-KR', '--role', 'trader').trim(),
  };
  if (seed) await seed({ db, dir, keys });
  const portFile = join(dir, 'port');
  const proc = spawn(BIN, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--port-file', portFile, ...args],
    { env: { ...process.env, CUSTOMS_DATA_DIR: join(SOURCE, 'data') }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 400 && !existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 25));
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

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
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
