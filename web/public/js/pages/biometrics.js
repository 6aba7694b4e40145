// Biometrics: subjects and watchlists with their expiry (#/biometrics),
// one subject with its audit and erasure (#/biometrics/ID), and the audit
// log of every search (#/biometrics/audit). Identification itself runs on
// identify.html (face-api needs a wider CSP than this document has).
import { api } from '../api.js';
import { h, fill, errorBox, empty, loading, card, dl, announce } from '../dom.js';
import { when } from '../format.js';
import { watchlistSummary } from '../watchlists.js';

const ACTIONS = ['verify', 'identify', 'enrol', 'erase', 'expire'];

function expiry(s) {
  if (!s.expires) return h('span', { class: 'muted' }, 'no expiry');
  const days = (Date.parse(s.expires) - Date.now()) / 86400000;
  return h('span', { class: days < 30 ? 'bad' : null, title: s.expires }, when(s.expires),
    days < 30 ? ` (in ${Math.max(0, Math.ceil(days))} days)` : '');
}

function watchlistTable(lists) {
  if (!lists.length) return empty('No watchlist holds a subject yet.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'compact watchlists' },
    h('thead', null, h('tr', null, ['Watchlist', 'Subjects', 'Templates', 'Source agencies', 'Next expiry'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, lists.map((w) => h('tr', null,
      h('td', null, h('a', { href: `#/biometrics?watchlist=${encodeURIComponent(w.name)}` }, w.name)),
      h('td', { class: 'num' }, String(w.subjects)), h('td', { class: 'num' }, String(w.templates)),
      h('td', null, w.agencies.join(', ') || '—'), h('td', null, expiry(w)))))));
}

function pager(next, go) {
  return next ? h('div', { class: 'pager' }, h('button', { type: 'button', on: { click: () => go(next) } }, 'Older')) : null;
}

async function subjects(main, query, ctx) {
  const wl = query.get('watchlist') || '';
  const body = h('div', null, loading());
  const filter = h('form', { class: 'filters', on: { submit: (e) => {
    e.preventDefault();
    const v = new FormData(e.target).get('watchlist').trim();
    ctx.navigate('#/biometrics' + (v ? '?watchlist=' + encodeURIComponent(v) : ''));
  } } },
  h('div', { class: 'field' }, h('label', { for: 'wl' }, 'Watchlist'), h('input', { id: 'wl', name: 'watchlist', value: wl, placeholder: 'all' })),
  h('button', { type: 'submit' }, 'Show'));
  const lists = h('div', null, loading());
  fill(main, h('h1', null, 'Biometric subjects'),
    h('p', { class: 'lead' }, 'Operators verified before they act and people on watchlists shared by other agencies. Templates are sealed; nothing here shows biometric data. ',
      h('a', { href: 'identify.html' }, 'Identify or enrol a person'), ' · ', h('a', { href: '#/biometrics/audit' }, 'Audit log')),
    h('h2', null, 'Watchlists'), lists, h('h2', null, wl ? `Subjects in ${wl}` : 'Subjects'), filter, body);
  watchlistSummary(ctx.signal).then((l) => fill(lists, watchlistTable(l)))
    .catch((err) => { if (err.name !== 'AbortError') fill(lists, errorBox(err, 'The watchlists could not be read')); });
  const show = async (cursor) => {
    const q = new URLSearchParams({ limit: '100' });
    if (wl) q.set('watchlist', wl);
    if (cursor) q.set('cursor', cursor);
    const page = await api('/v1/biometrics/subjects?' + q, { signal: ctx.signal });
    if (!page.items.length) { fill(body, empty(wl ? `No subject in watchlist ${wl}.` : 'No subject enrolled yet.')); return; }
    fill(body, h('div', { class: 'table-wrap' }, h('table', { class: 'compact subjects' },
      h('thead', null, h('tr', null, ['Subject', 'Kind', 'Name', 'Organisation', 'Watchlist', 'Source agency', 'Legal basis', 'Expires', 'Templates'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, page.items.map((s) => h('tr', null,
        h('td', null, h('a', { href: `#/biometrics/${encodeURIComponent(s.id)}` }, s.id)),
        h('td', null, s.kind), h('td', null, s.name || '—'), h('td', null, s.org || '—'),
        h('td', null, h('a', { href: `#/biometrics?watchlist=${encodeURIComponent(s.watchlist)}` }, s.watchlist)),
        h('td', null, s.source_agency || '—'), h('td', null, s.legal_basis || '—'),
        h('td', null, expiry(s)), h('td', { class: 'num' }, String(s.templates))))))),
    pager(page.next_cursor, (c) => show(String(c))));
  };
  await show('');
}

function auditTable(items) {
  if (!items.length) return empty('No audit record matches.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'compact audit' },
    h('thead', null, h('tr', null, ['When', 'Action', 'Outcome', 'Subject', 'Watchlist', 'Purpose', 'Who', 'Station', 'Candidates', 'Top score'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, items.map((a) => h('tr', null,
      h('td', { class: 'date' }, when(a.at)), h('td', null, a.action), h('td', null, a.outcome),
      h('td', null, a.subject ? h('a', { href: `#/biometrics/${encodeURIComponent(a.subject)}` }, a.subject) : '—'),
      h('td', null, a.watchlist || '—'), h('td', null, a.purpose || '—'),
      h('td', null, a.via === 'cli' ? 'command line' : `${a.org} ${a.role} (key ${a.key_id})`),
      h('td', null, a.station ? `key ${a.station}` : '—'),
      h('td', { class: 'num' }, a.candidates ?? '—'), h('td', { class: 'num' }, a.top_score ?? '—'))))));
}

async function audit(main, query, ctx) {
  const action = query.get('action') || '';
  const subject = query.get('subject') || '';
  const body = h('div', null, loading());
  const sel = h('select', { id: 'action', name: 'action' }, h('option', { value: '' }, 'every action'),
    ACTIONS.map((a) => h('option', { value: a, selected: a === action }, a)));
  const filter = h('form', { class: 'filters', on: { submit: (e) => {
    e.preventDefault();
    const fd = new FormData(e.target);
    const q = new URLSearchParams();
    if (fd.get('action')) q.set('action', fd.get('action'));
    if (fd.get('subject').trim()) q.set('subject', fd.get('subject').trim());
    ctx.navigate('#/biometrics/audit' + (q.size ? '?' + q : ''));
  } } },
  h('div', { class: 'field' }, h('label', { for: 'action' }, 'Action'), sel),
  h('div', { class: 'field' }, h('label', { for: 'subject' }, 'Subject'), h('input', { id: 'subject', name: 'subject', value: subject })),
  h('button', { type: 'submit' }, 'Show'));
  fill(main, h('p', { class: 'crumbs' }, h('a', { href: '#/biometrics' }, 'Biometrics'), ' › audit'),
    h('h1', null, 'Biometric audit'),
    h('p', { class: 'lead' }, 'Every verification and identification with who asked, for which case, the watchlist, how many candidates and the top score; enrolments and erasures. Newest first. Nobody can edit it; each day’s records are summed up in a Merkle root that customs anchors on the ledger (audit.digest).'),
    filter, body);
  const show = async (cursor) => {
    const q = new URLSearchParams({ limit: '50' });
    if (action) q.set('action', action);
    if (subject) q.set('subject', subject);
    if (cursor) q.set('cursor', cursor);
    const page = await api('/v1/biometrics/audit?' + q, { signal: ctx.signal });
    fill(body, auditTable(page.items), pager(page.next_cursor, (c) => show(String(c))));
  };
  await show('');
}

async function subject(main, id, ctx) {
  const s = await api(`/v1/biometrics/subjects/${encodeURIComponent(id)}`, { signal: ctx.signal });
  const log = h('div', null, loading());
  const status = h('div', { class: 'form-status' });
  const purpose = h('input', { id: 'erase-purpose', name: 'purpose', required: true, maxlength: '200', placeholder: 'the request or decision that orders it' });
  const erase = h('form', { class: 'erase-form', on: { submit: async (e) => {
    e.preventDefault();
    if (!purpose.value.trim()) { fill(status, errorBox({ message: 'Give the reference of the request or decision that orders the erasure.' })); return; }
    if (!window.confirm(`Erase ${id}? Its templates are destroyed for good (crypto-shredding).`)) return;
    try {
      await api(`/v1/biometrics/subjects/${encodeURIComponent(id)}?purpose=${encodeURIComponent(purpose.value.trim())}`, { method: 'DELETE', signal: ctx.signal });
      announce(`${id} erased`);
      ctx.navigate('#/biometrics');
    } catch (err) { fill(status, errorBox(err, 'Not erased')); }
  } } },
  h('div', { class: 'field' }, h('label', { for: 'erase-purpose' }, 'Reference'), purpose),
  h('button', { type: 'submit', class: 'danger' }, 'Erase now'), status);
  fill(main, h('p', { class: 'crumbs' }, h('a', { href: '#/biometrics' }, 'Biometrics'), ' › ', id),
    h('h1', null, `Subject ${id}`),
    h('div', { class: 'grid' },
      card('Subject', dl([['Kind', s.kind], ['Name', s.name], ['Organisation', s.org], ['Watchlist', s.watchlist],
        ['Source agency', s.source_agency], ['Legal basis', s.legal_basis], ['Expires', s.expires ? when(s.expires) : 'no expiry'],
        ['Templates', String(s.templates)], ['Enrolled', when(s.created_at)]])),
      card('Erase', h('p', { class: 'hint' }, 'Deletes the subject’s data key and every sealed template at once; the audit keeps the record of the erasure.'), erase)),
    card('Audit of this subject', log));
  const page = await api(`/v1/biometrics/audit?subject=${encodeURIComponent(id)}&limit=50`, { signal: ctx.signal });
  fill(log, auditTable(page.items));
}

export async function render(main, { rest, query }, ctx) {
  if (rest[0] === 'audit') return audit(main, query, ctx);
  if (rest[0]) return subject(main, rest[0], ctx);
  return subjects(main, query, ctx);
}
