// Risk queue: declarations by risk, highest first, or by revenue at risk
// (probability × what a fraud would cost: the API's rank=revenue); filters by
// lane, status, office and organisation; paging on the API's cursor. It opens
// on the open work (submitted or held: the API's status=open); "any" lists
// every status.
import { api, qs } from '../api.js';
import { h, fill, errorBox, empty, loading, bar, announce } from '../dom.js';
import { num, pct, laneBadge, statusBadge, featureTitle } from '../format.js';
import { officeName } from '../names.js';

const FILTERS = ['lane', 'status', 'office', 'org', 'inspected', 'rank'];
const RANKS = [['', 'Risk'], ['revenue', 'Revenue at risk']];
const STATUSES = [['open', 'Open work: submitted or held'], ['any', 'Any status'],
  ['submitted', 'Submitted'], ['held', 'Held'], ['released', 'Released'], ['refused', 'Refused'],
  ['historical', 'Historical (loaded history)']];

function field(id, label, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('span', { class: 'hint' }, hint) : null);
}

export async function render(main, { query }, { signal, navigate }) {
  const f = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || '']));
  if (!f.status) f.status = 'open';
  const limit = Math.min(500, Math.max(1, Number(query.get('limit')) || 25));
  const select = (id, opts, value) => h('select', { id, name: id },
    opts.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the risk queue', on: { submit: (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const p = {};
    for (const k of FILTERS) p[k] = String(fd.get(k) || '').trim();
    if (p.status === 'open') p.status = ''; // the default
    navigate('#/queue' + qs(p));
  } } },
  field('rank', 'Rank by', select('rank', RANKS, f.rank)),
  field('lane', 'Lane', select('lane', [['', 'Any lane'], ['red', 'Red'], ['yellow', 'Yellow'], ['green', 'Green']], f.lane)),
  field('status', 'Status', select('status', STATUSES.some(([v]) => v === f.status) ? STATUSES
    : [...STATUSES, [f.status, f.status]], f.status)),
  field('office', 'Office', h('input', { id: 'office', name: 'office', value: f.office, placeholder: 'any', autocomplete: 'off', maxlength: 16 })),
  field('org', 'Organisation', h('input', { id: 'org', name: 'org', value: f.org, placeholder: 'any', autocomplete: 'off', maxlength: 64 })),
  field('inspected', 'Inspected', select('inspected', [['', 'Either'], ['false', 'Not yet'], ['true', 'Inspected']], f.inspected)),
  h('div', { class: 'field actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    h('button', { type: 'button', on: { click: () => navigate('#/queue') } }, 'Clear')));

  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Queue pages' });
  main.append(h('h1', null, 'Risk queue'),
    h('p', { class: 'lead' }, f.rank === 'revenue'
      ? 'Declarations ordered by expected recovery: risk score × revenue at risk, highest first. Select a reference to see why it scored so and to record an inspection.'
      : 'Declarations ordered by their risk score, highest first. Select a reference to see why it scored so and to record an inspection.'),
    form, results, pager);

  const cursors = [null];
  let pageNo = 0;

  async function load() {
    fill(results, loading('Loading the queue…'));
    pager.replaceChildren();
    let data;
    try {
      data = await api('/v1/risk/queue' + qs({ ...f, status: f.status === 'any' ? '' : f.status, limit, cursor: cursors[pageNo] }), { signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(results, errorBox(err, 'The queue could not be loaded'));
      return;
    }
    if (!data.items.length) {
      const filtered = FILTERS.some((k) => k !== 'status' && k !== 'rank' && f[k]);
      // no open work: because everything is decided, or because nothing came yet?
      const none = !pageNo && !filtered && f.status !== 'any'
        && !(await api('/v1/risk/queue' + qs({ limit: 1 }), { signal }).catch(() => ({ items: [1] }))).items.length;
      fill(results, empty(pageNo ? 'There are no more declarations.'
        : filtered ? 'No declaration matches these filters.'
          : none || f.status === 'any' ? 'The queue is empty: no declaration has been assessed yet.'
            : f.status === 'open' ? 'No open work: every assessed declaration has a final decision.'
              : `No declaration is ${f.status}.`));
    } else {
      fill(results, table(data.items, pageNo * limit, f.rank === 'revenue'));
    }
    if (data.next_cursor) cursors[pageNo + 1] = data.next_cursor;
    fill(pager,
      h('button', { type: 'button', disabled: pageNo === 0, on: { click: () => { pageNo = 0; load(); } } }, 'First'),
      h('button', { type: 'button', disabled: pageNo === 0, on: { click: () => { pageNo--; load(); } } }, '‹ Previous'),
      h('span', { class: 'pageno' }, `Page ${pageNo + 1}`),
      h('button', { type: 'button', disabled: !data.next_cursor, on: { click: () => { pageNo++; load(); } } }, 'Next ›'));
    announce(`Page ${pageNo + 1} of the risk queue: ${data.items.length} declarations`);
  }
  await load();
}

function table(items, offset, byRevenue) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'queue' },
    h('caption', { class: 'visually-hidden' }, 'Declarations by risk'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col', class: 'num' }, '#'),
      h('th', { scope: 'col' }, 'Risk'),
      byRevenue ? h('th', { scope: 'col', class: 'num' }, 'Revenue at risk') : null,
      h('th', { scope: 'col' }, 'Lane'),
      h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Reference'),
      h('th', { scope: 'col' }, 'Organisation'),
      h('th', { scope: 'col' }, 'Office'),
      h('th', { scope: 'col' }, 'Date'),
      h('th', { scope: 'col' }, 'Main reason'),
      h('th', { scope: 'col' }, 'Inspection'))),
    h('tbody', null, items.map((d, i) => {
      const r = d.risk || {};
      const top = (r.reasons || [])[0];
      const score = typeof r.score === 'number' ? r.score : null;
      return h('tr', { 'data-id': d.id, 'data-score': score === null ? '' : String(score), 'data-lane': r.lane || '', 'data-status': d.status || '', 'data-at-risk': String(d.revenue_at_risk ?? '') },
        h('td', { class: 'num', 'data-label': '#' }, num(offset + i + 1)),
        h('td', { class: 'score', 'data-label': 'Risk' },
          score === null ? h('span', { class: 'muted' }, 'no score') : [bar(score, `risk ${pct(score)}`, 'risk'), ' ', pct(score)]),
        byRevenue ? h('td', { class: 'num', 'data-label': 'Revenue at risk' },
          num(d.revenue_at_risk)) : null,
        h('td', { 'data-label': 'Lane' }, laneBadge(r.lane), r.explore ? h('span', { class: 'tag', title: 'Selected at random so the model keeps learning' }, 'explore') : null),
        h('td', { 'data-label': 'Status' }, statusBadge(d.status)),
        h('td', { 'data-label': 'Reference' }, h('a', { href: '#/declarations/' + encodeURIComponent(d.id) }, d.reference)),
        h('td', { 'data-label': 'Organisation' }, d.org),
        h('td', { 'data-label': 'Office' }, officeName(d.office)),
        h('td', { class: 'date', 'data-label': 'Date' }, d.date),
        h('td', { class: 'reason', 'data-label': 'Main reason' }, top ? featureTitle(top.feature) : '—'),
        h('td', { 'data-label': 'Inspection' }, d.inspection
          ? h('span', { class: ['outcome', `outcome-${d.inspection.result}`] }, d.inspection.result)
          : h('span', { class: 'muted' }, 'not inspected')));
    }))));
}
