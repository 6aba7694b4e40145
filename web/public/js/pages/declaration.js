// Declaration detail: header and items, the risk score with its reasons, the
// inspection form, the officer's decision (release, hold, refuse), the ledger
// anchor with an in-browser proof check, the duties and taxes assessed
// (assessment.js), a map of its containers' tracks and alerts, and its
// X-ray scans (pictures, regions, their outcomes).
import { api, qs } from '../api.js';
import { h, fill, card, errorBox, empty, loading, dl, bar, announce } from '../dom.js';
import { num, pct, money, when, laneBadge, featureTitle, findingTitle, sentence } from '../format.js';
import { officeName, transportModeName } from '../names.js';
import { checkEntryInLog } from '../verify.js';

export async function render(main, { rest }, ctx) {
  const id = rest[0];
  const { signal } = ctx;
  if (!id) { main.append(h('h1', null, 'Declaration'), empty('No declaration was named.')); return; }
  const head = h('div', { class: 'decl-head' }, h('h1', null, 'Declaration'), loading());
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/queue' }, '‹ Risk queue')), head);
  let d;
  try {
    d = await api('/v1/declarations/' + encodeURIComponent(id), { signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    fill(head, h('h1', null, 'Declaration'), err.status === 404
      ? empty('There is no declaration with this id (or your key may not see it).')
      : errorBox(err, 'The declaration could not be loaded'));
    return;
  }
  const riskBody = h('div', { class: 'card-body' });
  const inspBody = h('div', { class: 'card-body' });
  const decisionBody = h('div', { class: 'card-body' });
  const ledgerBody = h('div', { class: 'card-body' }, loading());
  const dutyBody = h('div', { class: 'card-body', 'data-testid': 'assessment' }, loading());
  const mapBody = h('div', { class: 'card-body' }, loading());
  const itemsBody = h('div', { class: 'card-body' });
  const partiesBody = h('div', { class: 'card-body' });

  const show = (decl) => {
    d = decl;
    fill(head, headerOf(d));
    fill(riskBody, riskOf(d.risk));
    fill(inspBody, inspectionOf(d, ctx, reload));
    fill(decisionBody, decisionOf(d, ctx, reload));
  };
  async function reload() {
    const fresh = await api('/v1/declarations/' + encodeURIComponent(id), { signal });
    show(fresh);
    return fresh;
  }
  show(d);
  fill(partiesBody, partiesOf(d));
  fill(itemsBody, itemsOf(d.items || []));
  // X-ray scans, when the declaration has any: wide, after the decision they gate
  const xrayBody = d.xray ? h('div', { class: 'card-body' }, loading()) : null;
  const xrayCard = xrayBody ? card('X-ray scans', xrayBody) : null;
  if (xrayCard) xrayCard.classList.add('wide');
  main.append(h('div', { class: 'detail-grid' },
    card('Risk', riskBody),
    card('Inspection', inspBody),
    card('Decision', decisionBody),
    xrayCard,
    card('Declaration', partiesBody),
    card('Items', itemsBody),
    card('Duties and taxes', dutyBody),
    card('Ledger anchor', ledgerBody),
    card('Containers on the map', mapBody)));

  const officer = ctx.me && (ctx.me.role === 'officer' || ctx.me.role === 'admin');
  const tasks = [ledgerSection(ledgerBody, d, signal)];
  // only an assessed declaration has an assessment to ask for (no 404s)
  if (!d.assessment) fill(dutyBody, empty('Not assessed: no national currency was set when it was lodged, or it is history.'));
  else tasks.push(import('../assessment.js').then((m) => m.assessmentCard(dutyBody, d.id, officer, signal))
    .catch((err) => { if (err.name !== 'AbortError') fill(dutyBody, errorBox(err)); }));
  let mapCleanup = null;
  if (!officer) fill(mapBody, empty('Only officers and administrators see the tracks of consignments.'));
  else tasks.push(import('../track.js').then(async (m) => {
    mapCleanup = await m.declarationMap(mapBody, d, signal);
  }).catch((err) => { if (err.name !== 'AbortError') fill(mapBody, errorBox(err)); }));
  let xrayCleanup = null;
  if (xrayBody && !officer) fill(xrayBody, empty('Only officers and administrators see X-ray scans.'));
  else if (xrayBody) tasks.push(import('../xray.js').then(async (m) => {
    xrayCleanup = await m.declarationScans(xrayBody, d, ctx, reload);
  }).catch((err) => { if (err.name !== 'AbortError') fill(xrayBody, errorBox(err)); }));
  await Promise.all(tasks);
  return () => {
    if (typeof mapCleanup === 'function') mapCleanup();
    if (typeof xrayCleanup === 'function') xrayCleanup();
  };
}

function headerOf(d) {
  const r = d.risk || {};
  return [
    h('h1', null, 'Declaration ', h('span', { class: 'ref' }, d.reference)),
    h('p', { class: 'decl-meta' },
      laneBadge(r.lane), ' ',
      h('span', { class: 'status' }, d.status), ' · ',
      `${d.type} · ${d.date} · ${officeName(d.office)} · ${d.org}`,
      d.inspection ? [' · ', h('span', { class: ['outcome', `outcome-${d.inspection.result}`] }, 'inspected: ' + d.inspection.result)] : null),
  ];
}

function partiesOf(d) {
  const td = d.transport_document;
  return dl([
    ['Id', h('code', null, d.id)],
    ['Type', d.type],
    ['Date', d.date],
    ['Office', officeName(d.office)],
    ['Organisation', d.org],
    ['Declarant', d.declarant_id],
    ['Importer', d.importer_id],
    ['Exporter', d.exporter_id],
    ['Seller', d.seller_id],
    ['Courier', d.courier_id],
    ['Country of departure', d.country_of_departure],
    ['Mode of transport', d.transport_mode ? transportModeName(d.transport_mode) : null],
    ['Transport document', td ? `${td.type} ${td.number}` : null],
    ['Containers', d.containers && d.containers.length ? d.containers.join(', ') : null],
    ['Procedure', d.procedure ? Object.entries(d.procedure).map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`).join(', ') : null],
    ['Received', when(d.received_at)],
  ]);
}

function itemsOf(items) {
  if (!items.length) return empty('The declaration has no items.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'items' },
    h('thead', null, h('tr', null, ['#', 'HS code', 'Description', 'Origin', 'Net mass', 'Value', 'Tax rate']
      .map((t, i) => h('th', { scope: 'col', class: i === 4 || i === 5 || i === 6 ? 'num' : null }, t)))),
    h('tbody', null, items.map((it, i) => h('tr', null,
      h('td', { 'data-label': '#' }, String(i + 1)),
      h('td', { 'data-label': 'HS code' }, h('code', null, it.hs_code)),
      h('td', { class: 'desc', 'data-label': 'Description' }, it.description ?? h('span', { class: 'muted' }, 'none given'),
        it.design ? [' ', h('a', { href: '#/designs/' + it.design.sha256 }, it.transmission ? 'design file (transmitted)' : 'design file'),
          h('span', { class: 'muted' }, ` · ${it.design.licence}${it.design.rights_holder ? ' from ' + it.design.rights_holder : ''}`)] : null),
      h('td', { 'data-label': 'Origin' }, it.country_of_origin),
      h('td', { class: 'num', 'data-label': 'Net mass' }, `${num(it.net_mass_kg)} kg`),
      h('td', { class: 'num', 'data-label': 'Value' }, money(it.value, it.currency)),
      h('td', { class: 'num', 'data-label': 'Tax rate' }, it.tax_rate === undefined ? '—' : `${num(it.tax_rate)} %`))))));
}

function riskOf(r) {
  if (!r) return empty('This declaration has not been assessed.');
  const reasons = r.reasons || [];
  const max = Math.max(1e-9, ...reasons.map((x) => Math.abs(Number(x.contribution) || 0)));
  const scoreLine = typeof r.score === 'number'
    ? h('p', { class: 'score-line' }, h('strong', { class: 'big' }, pct(r.score)), ' estimated probability of fraud. ', laneBadge(r.lane),
      r.explore ? ' Also selected at random so that the model keeps learning.' : null)
    : h('p', { class: 'score-line' }, 'No model score: the lane was set by rules. ', laneBadge(r.lane));
  return [
    scoreLine,
    typeof r.score === 'number' ? bar(r.score, `risk score ${pct(r.score)}`, 'risk', 'big') : null,
    reasons.length ? h('h3', null, 'Why') : empty('The score comes with no reasons.'),
    h('ol', { class: 'reasons' }, reasons.map((x) => {
      const c = Number(x.contribution) || 0;
      const dir = c > 0 ? 'up' : c < 0 ? 'down' : 'flat';
      const effect = c > 0 ? 'raises the risk' : c < 0 ? 'lowers the risk' : 'does not change the score';
      return h('li', { class: ['reason', `reason-${dir}`] },
        h('div', { class: 'reason-head' },
          h('span', { class: 'reason-title' }, featureTitle(x.feature)),
          h('span', { class: 'reason-effect' }, `${effect}${c ? ` (${c > 0 ? '+' : '−'}${num(Math.abs(c), 2)})` : ''}`)),
        bar(Math.abs(c) / max, `${featureTitle(x.feature)} ${effect}`, `reason-bar ${dir}`),
        h('p', { class: 'reason-text' }, sentence(x.detail)));
    })),
    r.model ? h('p', { class: 'hint' }, 'Contributions are in log-odds from the model ', h('a', { href: '#/model' }, r.model), '.') : null,
  ];
}

function inspectionOf(d, ctx, reload) {
  const out = [];
  const i = d.inspection;
  if (i) {
    out.push(h('p', { class: 'inspection-latest' },
      'Latest outcome: ', h('strong', { class: ['outcome', `outcome-${i.result}`] }, i.result),
      i.critical ? ' (critical)' : '', ` — recorded ${when(i.inspected_at)}`,
      i.inspected_by ? ` by ${i.inspected_by.org} (${i.inspected_by.role})` : '', '.'),
    dl([
      ['Revenue recovered', i.revenue_recovered !== undefined ? num(i.revenue_recovered) : null],
      ['Notes', i.notes],
      ['Source', i.source],
      ['Inspections recorded', i.inspections !== undefined ? num(i.inspections) : null],
    ]));
  } else {
    out.push(h('p', null, 'Not inspected yet.'));
  }
  const role = ctx.me && ctx.me.role;
  if (role !== 'officer' && role !== 'admin') {
    out.push(h('p', { class: 'hint' }, 'Only officers and administrators record inspections.'));
    return out;
  }
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const crit = h('input', { type: 'checkbox', id: 'insp-critical', name: 'critical', disabled: true });
  const radios = ['fraud', 'compliant'].map((v) => h('label', { class: 'radio' },
    h('input', { type: 'radio', name: 'result', value: v, required: true, on: { change: () => { crit.disabled = v !== 'fraud'; if (crit.disabled) crit.checked = false; } } }),
    v === 'fraud' ? ' Fraud found' : ' Compliant'));
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Record inspection');
  const form = h('form', { class: 'inspection-form', 'aria-label': 'Record an inspection', on: { submit: async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const body = { result: fd.get('result') };
    if (!body.result) { fill(status, errorBox({ message: 'Choose an outcome: fraud found or compliant.' })); return; }
    if (body.result === 'fraud') body.critical = crit.checked;
    const rev = String(fd.get('revenue_recovered') || '').trim();
    if (rev) body.revenue_recovered = Number(rev);
    const notes = String(fd.get('notes') || '').trim();
    if (notes) body.notes = notes;
    submit.disabled = true;
    fill(status, loading('Recording…'));
    try {
      const rec = await api(`/v1/declarations/${encodeURIComponent(d.id)}/inspection`, { method: 'POST', body, signal: ctx.signal });
      await reload();
      announce(`Inspection recorded: ${rec.result}`);
      const s = document.querySelector('.inspection-form .form-status');
      if (s) fill(s, h('p', { class: 'ok' }, `Inspection recorded: ${rec.result}.`));
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(status, errorBox(err, 'The inspection was not recorded'));
      submit.disabled = false;
    }
  } } },
  h('h3', null, 'Record an inspection'),
  h('fieldset', null, h('legend', null, 'Outcome'), radios),
  h('div', { class: 'field' }, h('label', { class: 'check' }, crit, ' Critical fraud')),
  h('div', { class: 'field' }, h('label', { for: 'insp-revenue' }, 'Revenue recovered'),
    h('input', { id: 'insp-revenue', name: 'revenue_recovered', type: 'number', min: '0', step: 'any', inputmode: 'decimal' })),
  h('div', { class: 'field' }, h('label', { for: 'insp-notes' }, 'Notes'),
    h('textarea', { id: 'insp-notes', name: 'notes', rows: '3', maxlength: '2000' })),
  submit, status);
  out.push(form);
  return out;
}

// A key issued to a person (keys create --subject) decides only after that
// person's biometric verification within the window (the bio.verified gate):
// say so before the officer tries, and until when a verification holds.
function verificationState(ctx) {
  const el = h('p', { class: 'verify-state', 'aria-live': 'polite' }, loading('Checking the biometric verification…'));
  api('/v1/biometrics/verification', { signal: ctx.signal }).then((v) => {
    if (v.required) {
      el.className = 'verify-state verify-required';
      fill(el, h('strong', null, 'A fresh biometric verification is required. '),
        `This key stands for ${v.subject}, who has no successful verification in the last ${v.window_hours} hours`,
        v.last_verified_at ? ` (the last was ${when(v.last_verified_at)})` : '',
        '. Ask an officer or a capture station to verify you; until then the server refuses the decision (verification_required).');
    } else {
      el.className = 'verify-state verify-ok';
      fill(el, `${v.subject} was verified ${when(v.last_verified_at)}; decisions are accepted until ${when(v.valid_until)}.`);
    }
  }).catch((err) => { if (err.name !== 'AbortError') fill(el, errorBox(err, 'The verification state could not be read')); });
  return el;
}

const DECISIONS = [
  ['release', 'Release the goods', 'released'],
  ['hold', 'Hold for examination', 'held'],
  ['refuse', 'Refuse the declaration', 'refused'],
];

// The status and the latest decision; for officers, the decisions the status
// still allows (released and refused are final). The server has the last
// word: a red-lane release without an inspection comes back as a sentence.
function decisionOf(d, ctx, reload) {
  const out = [];
  const x = d.decision;
  if (x) {
    out.push(h('p', { class: 'decision-latest' },
      'Status: ', h('strong', { class: ['status', `status-${d.status}`] }, d.status),
      ` — ${x.decision} decided ${when(x.decided_at)}`,
      x.decided_by ? ` by ${x.decided_by.org} (${x.decided_by.role})` : '', '.'),
    dl([['Reason', x.reason], ['Previous status', x.previous_status]]));
  } else {
    out.push(h('p', { class: 'decision-latest' }, 'Status: ', h('strong', { class: ['status', `status-${d.status}`] }, d.status), ' — no decision yet.'));
  }
  const role = ctx.me && ctx.me.role;
  if (role !== 'officer' && role !== 'admin') {
    out.push(h('p', { class: 'hint' }, 'Only officers and administrators decide on a declaration.'));
    return out;
  }
  if (d.status === 'released' || d.status === 'refused') {
    out.push(h('p', { class: 'hint' }, `The declaration is ${d.status}: that decision is final.`));
    return out;
  }
  const allowed = DECISIONS.filter(([, , st]) => st !== d.status);
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Record decision');
  const form = h('form', { class: 'decision-form', 'aria-label': 'Decide on the declaration', on: { submit: async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const body = { decision: fd.get('decision') };
    if (!body.decision) { fill(status, errorBox({ message: 'Choose a decision.' })); return; }
    const reason = String(fd.get('reason') || '').trim();
    if (reason) body.reason = reason;
    if (body.decision !== 'release' && !reason) { fill(status, errorBox({ message: 'Give the reason for holding or refusing the declaration.' })); return; }
    submit.disabled = true;
    fill(status, loading('Recording…'));
    try {
      const rec = await api(`/v1/declarations/${encodeURIComponent(d.id)}/decision`, { method: 'POST', body, signal: ctx.signal });
      await reload();
      announce(`Declaration ${rec.status}`);
      const s = document.querySelector('.decision-latest');
      if (s) s.after(h('p', { class: 'ok' }, `Decision recorded: the declaration is ${rec.status}.`));
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(status, errorBox(err, 'The decision was not recorded'));
      submit.disabled = false;
    }
  } } },
  h('fieldset', null, h('legend', null, 'Decision'),
    allowed.map(([v, label]) => h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'decision', value: v, required: true }), ' ' + label))),
  h('div', { class: 'field' }, h('label', { for: 'decision-reason' }, 'Reason'),
    h('textarea', { id: 'decision-reason', name: 'reason', rows: '2', maxlength: '1000' })),
  submit, status);
  if (ctx.me.subject) out.push(verificationState(ctx));
  out.push(form);
  return out;
}

async function ledgerSection(el, d, signal) {
  const anchorOf = async () => {
    const r = await api('/v1/ledger/anchors' + qs({ declaration_id: d.id }), { signal });
    return (r.items || [])[0] || null;
  };
  let a;
  try {
    a = await anchorOf();
  } catch (err) {
    if (err.name === 'AbortError') return;
    fill(el, err.status === 404 ? empty('This server has no ledger module (its API answered 404).')
      : errorBox(err, 'The anchor could not be loaded'));
    return;
  }
  if (!a) {
    // Findings can exist without an anchor (e.g. containers missing from the bill of lading).
    let f = null;
    try { f = await api('/v1/ledger/findings' + qs({ declaration_id: d.id }), { signal }); } catch (err) {
      if (err.name === 'AbortError') return;
    }
    fill(el, empty('This declaration is not anchored on the ledger.'), findingsList((f && f.items) || []));
    return;
  }
  const cp = a.checkpoint;
  const findings = a.findings || [];
  const result = h('div', { class: 'verify-result', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'primary', on: { click: async () => {
    button.disabled = true;
    fill(result, loading('Checking in this browser…'));
    try {
      // Fresh data for every check: the anchor, its proof and the members' keys.
      const [fresh, trust] = await Promise.all([anchorOf(), api('/v1/ledger/trust', { signal })]);
      if (!fresh) throw new Error('the anchor is no longer on the ledger');
      const res = await checkEntryInLog(fresh, trust, (entry) => [
        entry.type === 'declaration.anchor' && entry.body && entry.body.declaration_id === d.id,
        `the entry is a ${entry.type} for ${entry.body && entry.body.declaration_id}, not this declaration's anchor`]);
      fill(result, verdict(res, fresh));
      announce(res.ok ? 'Proof verified' : 'Proof check failed');
    } catch (err) {
      if (err.name !== 'AbortError') fill(result, errorBox(err, 'The check could not run'));
    }
    button.disabled = false;
  } } }, 'Verify');
  fill(el,
    dl([
      ['Entry', `#${num(a.index)} (${a.entry && a.entry.type})`],
      ['Anchored by', a.entry && a.entry.org],
      ['Fields committed', a.entry && a.entry.body && a.entry.body.fields ? num(Object.keys(a.entry.body.fields).length) : null],
      ['Leaf hash', h('code', { class: 'hash' }, a.leaf_hash)],
      ['Checkpoint', cp ? `size ${num(cp.tree_size)}, cosigned by ${(cp.cosignatures || []).map((c) => c.org).join(', ')}` : 'none yet'],
    ]),
    findingsList(findings),
    h('p', { class: 'hint' }, 'Verify recomputes the entry’s leaf hash and the RFC 6962 inclusion proof with this browser’s WebCrypto SHA-256, checks the entry’s and the checkpoint’s Ed25519 signatures with the members’ keys, and compares the root with the cosigned checkpoint.'),
    button, result);
}

function findingsList(findings) {
  if (!findings.length) return null;
  return [h('h3', null, 'Ledger findings'), h('ul', { class: 'findings' }, findings.map((f) => h('li', null,
    h('span', { class: ['sev', `sev-${f.severity === 'high' ? 'critical' : f.severity === 'medium' ? 'warning' : 'info'}`] }, f.severity), ' ',
    h('strong', null, findingTitle(f.rule)), ' — ', sentence(f.message || f.rule))))];
}

export function verdict(res, a) {
  return [
    h('p', { class: res.ok ? 'verdict ok' : 'verdict bad', 'data-verdict': res.ok ? 'ok' : 'fail' },
      res.ok ? `Verified: entry #${a.index} is in the log the members cosigned.`
        : 'Not verified: the proof does not hold. The log’s answer was altered, or the entry is not in the cosigned log.'),
    h('ol', { class: 'steps' }, res.steps.map((s) => h('li', { class: s.ok ? 'ok' : 'bad' },
      h('span', { class: 'mark', 'aria-hidden': 'true' }, s.ok ? '✓' : '✗'), ' ',
      h('span', { class: 'visually-hidden' }, s.ok ? 'passed: ' : 'failed: '),
      s.label, s.ok ? '' : [' — ', h('span', { class: 'why' }, sentence(s.detail))]))),
  ];
}

