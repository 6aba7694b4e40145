// Ledger explorer: entries by type, findings, the checkpoint and its
// cosigners, client-side verification of a dropped disclosure bundle, and —
// on a node of a ledger network — how this node stands in it.
import { api, qs } from '../api.js';
import { h, fill, card, errorBox, empty, loading, dl, announce } from '../dom.js';
import { num, when, sentence, shortId, findingTitle } from '../format.js';
import { checkBundle, checkEntryInLog, checkCosignatures, parseNote, trustedKeys } from '../verify.js';
import { verdict } from './declaration.js';

const SEV = { high: 'critical', medium: 'warning', low: 'info' };

export async function render(main, { query }, { signal, navigate }) {
  main.append(h('h1', null, 'Ledger'));
  let summary;
  try { summary = await api('/v1/ledger', { signal }); } catch (err) {
    if (err.name === 'AbortError') return;
    main.append(err.status === 404 ? empty('This server has no ledger module (its API answered 404).') : errorBox(err, 'The ledger could not be loaded'));
    return;
  }
  if (!summary.tree_size) {
    main.append(empty('The ledger has no entries yet: it starts with “customs ledger init” (or “customs ledger demo”). Entries, findings and checkpoints will appear here.'));
    return;
  }
  let trustP = null;
  const trust = () => (trustP ??= api('/v1/ledger/trust', { signal }));

  const cp = summary.checkpoint;
  const cpBody = h('div', { class: 'card-body' });
  const entriesBody = h('div', { class: 'card-body' });
  const findingsBody = h('div', { class: 'card-body' }, loading());
  const bundleBody = h('div', { class: 'card-body' });
  const netBody = summary.network ? h('div', { class: 'card-body' }) : null;
  main.append(
    h('p', { class: 'lead' }, `${summary.origin}: ${num(summary.tree_size)} entries signed by ${num(summary.members)} member organisations, hashed into an RFC 6962 Merkle tree.`),
    h('div', { class: 'ledger-grid' },
      netBody ? card('This node in the network', netBody) : null,
      card('Checkpoint and cosigners', cpBody),
      card('Verify a disclosure bundle', bundleBody),
      card('Entries by type', entriesBody),
      card('Findings', findingsBody)));

  if (netBody) networkSection(netBody, summary.network, signal);
  checkpointSection(cpBody, summary, trust, signal);
  bundleSection(bundleBody, trust);
  entriesSection(entriesBody, summary, query, { signal, navigate, trust });
  await findingsSection(findingsBody, signal);
}

function checkpointSection(el, summary, trust, signal) {
  const cp = summary.checkpoint;
  if (!cp) {
    fill(el, empty('No checkpoint has been cosigned yet (“customs ledger checkpoint --db … --key …”).'),
      dl([['Tree size', num(summary.tree_size)], ['Root hash', h('code', { class: 'hash' }, summary.root_hash)]]));
    return;
  }
  const result = h('div', { class: 'verify-result', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', on: { click: async () => {
    button.disabled = true;
    fill(result, loading('Checking the cosignatures…'));
    try {
      const [full, t] = await Promise.all([api('/v1/ledger/checkpoint', { signal }), trust()]);
      const note = parseNote(full.note);
      const cos = await checkCosignatures(note, trustedKeys(t));
      const quorum = Number(t.checkpoint_quorum) || 2;
      const ok = cos.bad.length === 0 && cos.valid.length >= quorum && note.origin === t.origin;
      fill(result, h('p', { class: ok ? 'verdict ok' : 'verdict bad', 'data-verdict': ok ? 'ok' : 'fail' },
        ok ? `Verified: ${cos.valid.join(', ')} signed this tree head (${quorum} needed).`
          : `Not verified: ${cos.bad.length ? `the cosignature of ${cos.bad.join(', ')} does not verify` : `${cos.valid.length} valid cosignatures, ${quorum} needed`}.`),
      cos.unknown.length ? h('p', { class: 'hint' }, `Signatures by keys the trust list does not hold were ignored: ${cos.unknown.join(', ')}.`) : null);
    } catch (err) {
      if (err.name !== 'AbortError') fill(result, errorBox(err, 'The check could not run'));
    }
    button.disabled = false;
  } } }, 'Verify cosignatures');
  fill(el,
    dl([
      ['Tree size', num(cp.tree_size)],
      ['Root hash', h('code', { class: 'hash' }, cp.root_hash)],
      ['Created', when(cp.created_at)],
      ['Log now', summary.tree_size > cp.tree_size ? `${num(summary.tree_size)} entries (${num(summary.tree_size - cp.tree_size)} not yet covered)` : 'fully covered'],
      cp.threshold ? ['Final', cp.final ? `yes: ${num((cp.cosignatures || []).length)} organisations cosigned, ${num(cp.threshold)} needed`
        : `not yet: ${num((cp.cosignatures || []).length)} of the ${num(cp.threshold)} cosignatures needed`] : null,
    ].filter(Boolean)),
    h('h3', null, 'Cosigners'),
    h('ul', { class: 'cosigners' }, (cp.cosignatures || []).map((c) => h('li', null,
      h('strong', null, c.org), ` (${c.role || 'member'}) · key ${c.key_id || ''} · ${when(c.created_at)}`))),
    button, result);
}

const NET_STATE = {
  ok: ['ok', 'In step with the stream'],
  catching_up: ['warning', 'Catching up with the stream'],
  connecting: ['warning', 'Not connected to the NATS cluster: submissions answer 503 until it is back'],
  fork: ['critical', 'Fork: another organisation cosigned a different root; this node stopped cosigning'],
  failed: ['critical', 'Stopped applying the stream'],
};

// A node of a ledger network (docs/ledger.md, "Network"): its state, how far
// it has applied the stream, and what the stream brought that the rules
// rejected on every node.
function networkSection(el, n, signal) {
  const [sev, words] = NET_STATE[n.state] || ['warning', String(n.state)];
  const rejected = h('div', { 'aria-live': 'polite' });
  fill(el,
    h('p', { class: ['verdict', sev === 'ok' ? 'ok' : 'bad'], 'data-state': n.state }, `${words}.`),
    n.failed ? h('p', null, sentence(n.failed)) : null,
    n.fork ? h('p', null, `${n.fork.org} cosigned a different root for tree size ${num(n.fork.tree_size)} (${when(n.fork.detected_at)}); the ledger_fork alert holds both signed notes.`) : null,
    dl([
      ['Organisation', n.org],
      ['Stream', h('code', null, n.stream)],
      ['Applied', `sequence ${num(n.applied_seq)} of ${num(n.stream_last_seq)}${n.lag ? ` (${num(n.lag)} behind)` : ''}`],
      ['Tree', `${num(n.tree_size)} entries`],
      ['Rejected by the rules', num(n.rejected)],
      ['Cosignatures received', num(n.cosignatures_received)],
      ['As of', when(n.updated_at)],
    ]),
    rejected);
  if (n.rejected) rejectedList(rejected, signal);
}

async function rejectedList(el, signal) {
  let r;
  try { r = await api('/v1/ledger/rejected' + qs({ limit: 20 }), { signal }); } catch (err) {
    if (err.name !== 'AbortError') fill(el, errorBox(err, 'The rejected entries could not be loaded'));
    return;
  }
  fill(el, h('h3', null, 'Rejected at'),
    h('ul', { class: 'findings' }, r.items.map((x) => h('li', null,
      h('strong', null, `sequence ${num(x.seq)}`), ' ', h('code', null, x.type || 'entry'), x.org ? ` by ${x.org}` : '', ' — ',
      sentence(x.message), h('br'),
      h('span', { class: 'muted' }, `${x.status} ${x.code} · ${when(x.received_at)}`)))),
    r.next_cursor ? h('p', { class: 'hint' }, 'Showing the first 20 (GET /v1/ledger/rejected pages through all).') : null);
}

function bundleSection(el, trust) {
  const result = h('div', { class: 'verify-result', 'aria-live': 'polite' });
  const input = h('input', { id: 'bundle-file', type: 'file', accept: '.json,application/json', class: 'visually-hidden' });
  const trustInput = h('input', { id: 'trust-file', type: 'file', accept: '.json,application/json' });
  const zone = h('label', { for: 'bundle-file', class: 'dropzone', tabindex: '0' },
    h('strong', null, 'Drop a disclosure bundle here'), ' or press to choose a file (.json).',
    h('span', { class: 'hint' }, 'It is checked in this browser: nothing is sent to the server.'));
  zone.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  for (const ev of ['dragenter', 'dragover']) zone.addEventListener(ev, (e) => { e.preventDefault(); zone.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) zone.addEventListener(ev, () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) verifyFile(f);
  });
  input.addEventListener('change', () => { if (input.files[0]) verifyFile(input.files[0]); input.value = ''; });

  async function readJson(file, what) {
    if (file.size > 8 << 20) throw new Error(`the ${what} is larger than 8 MiB`);
    const text = await file.text();
    try { return JSON.parse(text); } catch { throw new Error(`the ${what} is not JSON`); }
  }
  async function verifyFile(file) {
    fill(result, loading(`Checking ${file.name}…`));
    try {
      const bundle = await readJson(file, 'bundle');
      const t = trustInput.files[0] ? await readJson(trustInput.files[0], 'trust file') : await trust();
      const res = await checkBundle(bundle, t);
      fill(result,
        h('p', { class: 'hint' }, `File ${file.name}; keys from ${trustInput.files[0] ? 'the trust file ' + trustInput.files[0].name : 'this server’s trust list (/v1/ledger/trust)'}.`),
        verdict(res, { index: bundle.index }),
        res.disclosed && res.disclosed.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'compact' },
          h('caption', null, 'Disclosed fields'),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Commitment'))),
          h('tbody', null, res.disclosed.map((d) => h('tr', null,
            h('td', null, h('code', null, d.name)),
            h('td', null, typeof d.value === 'string' ? d.value : JSON.stringify(d.value)),
            h('td', { class: d.ok ? 'ok' : 'bad' }, d.ok ? 'matches' : sentence(d.detail))))))) : null);
      announce(res.ok ? 'Bundle verified' : 'Bundle not verified');
    } catch (err) {
      fill(result, errorBox({ message: sentence(err.message) }, `${file.name} could not be checked`));
    }
  }
  fill(el, zone, input,
    h('div', { class: 'field' }, h('label', { for: 'trust-file' }, 'Trust file (optional)'), trustInput,
      h('span', { class: 'hint' }, 'Members’ public keys you got elsewhere (customs ledger trust). Without one, this server’s trust list is used.')),
    result);
}

function entriesSection(el, summary, query, { signal, navigate, trust }) {
  const types = Object.entries(summary.entries_by_type || {}).sort((a, b) => a[0].localeCompare(b[0]));
  const type = query.get('type') || '';
  const sel = h('select', { id: 'entry-type', on: { change: () => navigate('#/ledger' + qs({ type: sel.value })) } },
    h('option', { value: '' }, `All types (${num(summary.tree_size)})`),
    types.map(([t, n]) => h('option', { value: t, selected: t === type }, `${t} (${num(n)})`)));
  const list = h('div', { 'aria-live': 'polite' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Entry pages' });
  fill(el,
    h('ul', { class: 'type-counts' }, types.map(([t, n]) => h('li', null,
      h('a', { href: '#/ledger' + qs({ type: t }), 'aria-current': t === type ? 'true' : null }, t), ' ', h('span', { class: 'count' }, num(n))))),
    h('div', { class: 'field' }, h('label', { for: 'entry-type' }, 'Show entries of type'), sel),
    list, pager);
  const cursors = [null];
  let page = 0;
  const load = async () => {
    fill(list, loading());
    pager.replaceChildren();
    let r;
    try { r = await api('/v1/ledger/entries' + qs({ type, order: 'desc', limit: 20, cursor: cursors[page] }), { signal }); } catch (err) {
      if (err.name !== 'AbortError') fill(list, errorBox(err, 'The entries could not be loaded'));
      return;
    }
    if (!r.items.length) { fill(list, empty(type ? `No entry of type ${type}.` : 'The ledger is empty.')); return; }
    if (r.next_cursor) cursors[page + 1] = r.next_cursor;
    fill(list, h('ul', { class: 'entries' }, r.items.map((e) => entryItem(e, summary, { signal, trust }))));
    fill(pager,
      h('button', { type: 'button', disabled: page === 0, on: { click: () => { page--; load(); } } }, '‹ Newer'),
      h('span', { class: 'pageno' }, `Page ${page + 1}`),
      h('button', { type: 'button', disabled: !r.next_cursor, on: { click: () => { page++; load(); } } }, 'Older ›'));
  };
  load();
}

function describe(e) {
  const b = (e.entry && e.entry.body) || {};
  switch (e.type) {
    case 'declaration.anchor': return `declaration ${b.declaration_id} (${Object.keys(b.fields || {}).length} fields committed)`;
    case 'bl.issue': return `bill of lading ${b.number}: ${b.port_of_loading} → ${b.port_of_discharge}, holder ${b.holder}, ${(b.containers || []).length} containers`;
    case 'bl.transfer': return `bill of lading ${b.number} to ${b.to}`;
    case 'bl.surrender': return `bill of lading ${b.number} surrendered`;
    case 'coo.issue': return `certificate ${b.number}: origin ${b.country_of_origin}, exporter ${b.exporter}`;
    case 'coo.revoke': return `certificate ${b.number} revoked: ${b.reason}`;
    case 'aeo.status': return `AEO ${b.status} for ${b.operator_id} (${b.program})`;
    case 'payment.receipt': return `receipt ${b.receipt_no}: ${b.amount} ${b.currency} for ${b.declaration_id}`;
    case 'parcel.manifest': return `manifest ${b.manifest_id}: ${(b.parcels || []).length} parcels`;
    case 'ipr.register': return `${b.kind} “${b.mark}” (${b.registration_no})`;
    case 'finding': return `${b.severity} finding: ${findingTitle(b.rule).toLowerCase()}: ${b.summary}`;
    case 'member.register': return `member ${b.org} (${b.role}) registered`;
    case 'policy.set': return `policy for ${b.type}`;
    case 'ledger.init': return `log ${b.origin} started`;
    default: return '';
  }
}

function entryItem(e, summary, { signal, trust }) {
  const result = h('div', { class: 'verify-result', 'aria-live': 'polite' });
  const declId = e.entry && e.entry.body && e.entry.body.declaration_id;
  const verify = h('button', { type: 'button', on: { click: async () => {
    verify.disabled = true;
    fill(result, loading('Checking in this browser…'));
    try {
      const s = await api('/v1/ledger', { signal });
      const cp = s.checkpoint ? await api('/v1/ledger/checkpoint', { signal }) : null;
      const covered = cp && cp.tree_size > e.index;
      const [full, proof, t] = await Promise.all([
        api(`/v1/ledger/entries/${e.index}`, { signal }),
        covered ? api(`/v1/ledger/entries/${e.index}/proof` + qs({ tree_size: cp.tree_size }), { signal }) : null,
        trust(),
      ]);
      const res = await checkEntryInLog({ ...full, proof, checkpoint: cp }, t, null);
      fill(result, verdict(res, full));
    } catch (err) {
      if (err.name !== 'AbortError') fill(result, errorBox(err, 'The check could not run'));
    }
    verify.disabled = false;
  } } }, 'Verify inclusion');
  return h('li', { class: 'entry' },
    h('details', null,
      h('summary', null, h('span', { class: 'idx' }, `#${e.index}`), ' ', h('code', null, e.type), ' by ', h('strong', null, e.org), ' — ', describe(e),
        h('span', { class: 'muted' }, ` · ${when(e.received_at)}`)),
      dl([
        ['Leaf hash', h('code', { class: 'hash' }, e.leaf_hash)],
        ['Signed by', ((e.entry && e.entry.signatures) || []).map((s) => s.org).join(', ') || 'nobody'],
        ['Declaration', declId ? h('a', { href: '#/declarations/' + encodeURIComponent(declId) }, declId) : null],
      ]),
      h('pre', { class: 'json' }, JSON.stringify(e.entry, null, 2)),
      verify, result));
}

async function findingsSection(el, signal) {
  let r;
  try { r = await api('/v1/ledger/findings' + qs({ limit: 100 }), { signal }); } catch (err) {
    if (err.name !== 'AbortError') fill(el, errorBox(err, 'The findings could not be loaded'));
    return;
  }
  if (!r.items.length) { fill(el, empty('No findings: the documents on the ledger agree with the declarations.')); return; }
  fill(el, h('ul', { class: 'findings' }, r.items.map((f) => h('li', null,
    h('span', { class: ['sev', `sev-${SEV[f.severity] || 'info'}`] }, f.severity), ' ',
    h('strong', null, findingTitle(f.rule)), ' — ', sentence(f.message),
    h('br'),
    h('span', { class: 'muted' }, [
      f.declaration_id ? ['declaration ', h('a', { href: '#/declarations/' + encodeURIComponent(f.declaration_id) }, shortId(f.declaration_id))] : null,
      f.entry_index !== null && f.entry_index !== undefined ? ` · entry #${f.entry_index}` : '',
      ` · ${f.source} · ${when(f.created_at)}`,
    ])))),
  r.next_cursor ? h('p', { class: 'hint' }, 'Showing the first 100 findings.') : null);
}
