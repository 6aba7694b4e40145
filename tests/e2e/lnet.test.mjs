// The ledger explorer on a node of a ledger network (issue 16): a real
// nats-server with JetStream on a free loopback port, the demo consortium
// seeded through the stream by `customs ledger demo --ledger-network`, and
// the served node (KCS) showing how it stands: in step, what it applied,
// its own cosignatures gathered and the checkpoint final.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launch, newPage, shot, signIn, visit, until, customs, PHONE } from './harness.mjs';

let nats, natsDir, url, srv, browser;

async function startNats() {
  natsDir = mkdtempSync(join(tmpdir(), 'customs-e2e-nats-'));
  nats = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', '-1', '--ports_file_dir', natsDir,
    '-sd', join(natsDir, 'js')], { stdio: 'ignore' });
  const file = () => readdirSync(natsDir).find((f) => f.endsWith('.ports'));
  // the server writes the port it bound: nothing guesses a free one
  const ports = await until(() => (file() ? JSON.parse(readFileSync(join(natsDir, file()), 'utf8')) : null),
    'nats-server reports its port');
  return ports.nats[0];
}

before(async () => {
  url = await startNats();
  srv = await startServer({
    seed: ({ db }) => {
      customs('ledger', 'demo', '--db', db, '--keys-dir', join(natsDir, 'keys'), '--ledger-network', url);
    },
    args: ['--org', 'KCS', '--node-key', join(natsDir, 'keys', 'kcs.key'), '--ledger-network', url],
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
  if (nats) { nats.kill('SIGTERM'); await new Promise((r) => nats.once('exit', r)); }
  if (natsDir && existsSync(natsDir)) rmSync(natsDir, { recursive: true, force: true });
});

test('the explorer shows this node in the network and its checkpoint final', async () => {
  // the node cosigns within a second of activity; the demo's members did before
  const summary = await until(async () => {
    const s = (await srv.api('GET', '/v1/ledger', srv.keys.officer)).body;
    return s.network && s.network.state === 'ok' && s.checkpoint && s.checkpoint.final &&
      s.checkpoint.tree_size === s.tree_size ? s : null;
  }, 'the node is in step and its latest checkpoint final', 20000);
  assert.equal(summary.network.org, 'KCS');
  assert.equal(summary.network.lag, 0);
  assert.ok(summary.network.applied_seq >= summary.tree_size, 'every leaf came through the stream');

  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await visit(page, srv.base, '#/ledger', '.card >> text=This node in the network');
  const card = page.locator('.card', { hasText: 'This node in the network' });
  await card.locator('.verdict[data-state=ok]', { hasText: 'In step with the stream' }).waitFor();
  const kv = await card.locator('dl.kv').evaluate((dl) => Object.fromEntries(
    [...dl.querySelectorAll('dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  assert.equal(kv.Organisation, 'KCS');
  assert.match(kv.Applied, /^sequence [\d,]+ of [\d,]+$/);
  assert.equal(kv['Rejected by the rules'], '0');
  const final = await page.locator('.card', { hasText: 'Checkpoint and cosigners' }).locator('dt:text-is("Final") + dd').textContent();
  assert.match(final, /^yes: \d+ organisations cosigned, \d+ needed$/);
  assert.ok(summary.checkpoint.cosignatures.some((c) => c.org === 'KCS'), 'this node cosigned');
  await shot(page, 'ledger-network');
  assert.deepEqual(page.problems, []);
  await page.context().close();

  const phone = await newPage(browser, PHONE);
  await signIn(phone, srv.base, srv.keys.officer);
  await visit(phone, srv.base, '#/ledger', '.verdict[data-state=ok]');
  await shot(phone, 'ledger-network-phone');
  assert.deepEqual(phone.problems, []);
  await phone.context().close();
});
