// Overview: today's declarations by lane and status, open alerts by
// severity, the ledger's size and last cosigned checkpoint, the active model.
import { api, qs } from '../api.js';
import { h, fill, card, errorBox, empty, loading, dl, bar } from '../dom.js';
import { num, pct, when, ago, startOfToday, laneBadge, statusBadge, LANES, shortId, alertTitle, bySeverityThenTime } from '../format.js';

// A module that is not part of this server answers 404 on its paths.
function missing(err, module) {
  return err.status === 404 ? empty(`This server has no ${module} (its API answered 404).`) : null;
}

// Today's work only: rows the API marks historical (loaded history such as
// the KCS data, status "historical") are counted apart, never as today's
// declarations nor as open work. Nothing is guessed from dates.
async function declarationsCard(el, signal) {
  const since = startOfToday();
  const s = await api('/v1/risk/summary' + qs({ since: since.toISOString() }), { signal });
  const groups = s.groups || [];
  const today = groups.filter((g) => g.status !== 'historical');
  const historical = Number.isFinite(s.historical) ? s.historical
    : groups.filter((g) => g.status === 'historical').reduce((a, g) => a + g.count, 0);
  const total = today.reduce((a, g) => a + g.count, 0);
  const histNote = historical ? h('p', { class: 'hint', 'data-testid': 'decl-historical' },
    `${num(historical)} historical declarations (loaded history, status “historical”) are not counted here.`) : null;
  if (!total) {
    fill(el, empty(`No declarations have been received since midnight (${when(s.since)}).`), histNote);
    return;
  }
  const lanes = {}, statuses = {};
  for (const g of today) {
    const l = g.lane || 'none';
    lanes[l] = (lanes[l] || 0) + g.count;
    statuses[g.status] = (statuses[g.status] || 0) + g.count;
  }
  const open = (statuses.submitted || 0) + (statuses.held || 0);
  const rows = [...LANES, 'none'].filter((l) => lanes[l]).map((l) => h('tr', null,
    h('th', { scope: 'row' }, h('a', { href: '#/queue?lane=' + (l === 'none' ? '' : l) }, laneBadge(l))),
    h('td', { class: 'num' }, num(lanes[l])),
    h('td', { class: 'barcell' }, bar(lanes[l] / total, `${pct(lanes[l] / total)} of today's declarations`, `lane-${l}`)),
    h('td', { class: 'num' }, pct(lanes[l] / total))));
  const order = ['submitted', 'held', 'released', 'refused'];
  const stRows = Object.entries(statuses).sort(([a], [b]) => (order.indexOf(a) + 1 || 9) - (order.indexOf(b) + 1 || 9));
  fill(el,
    h('p', { class: 'big' }, h('strong', { 'data-testid': 'decl-today' }, num(total)), total === 1 ? ' declaration since midnight' : ' declarations since midnight'),
    h('p', null, h('a', { href: '#/queue', 'data-testid': 'decl-open' }, `${num(open)} open`),
      ' (submitted or held, waiting for a decision).'),
    h('table', { class: 'compact' }, h('caption', null, 'By lane'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Lane'), h('th', { scope: 'col', class: 'num' }, 'Count'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Share bar')), h('th', { scope: 'col', class: 'num' }, 'Share'))),
      h('tbody', null, rows)),
    h('table', { class: 'compact' }, h('caption', null, 'By status'),
      h('tbody', null, stRows.map(([st, n]) => h('tr', null,
        h('th', { scope: 'row' }, h('a', { href: '#/queue?status=' + encodeURIComponent(st) }, statusBadge(st))),
        h('td', { class: 'num' }, num(n)))))),
    h('p', null, `${num(s.inspected)} inspected, ${num(s.fraud)} of them found fraudulent.`),
    histNote);
}

async function alertsCard(el, signal) {
  let items = [];
  const counts = {};
  const sevs = ['critical', 'warning', 'info'];
  const more = {};
  try {
    for (const sev of sevs) {
      const r = await api('/v1/alerts' + qs({ acked: 'false', severity: sev, limit: 1000, order: 'desc' }), { signal });
      counts[sev] = r.items.length;
      more[sev] = !!r.next_cursor;
      items = items.concat(r.items.slice(0, 4));
    }
  } catch (err) {
    const m = missing(err, 'tracking module');
    if (m) { fill(el, m); return; }
    throw err;
  }
  const total = sevs.reduce((a, s) => a + counts[s], 0);
  if (!total) { fill(el, empty('No open alerts: every alert has been acknowledged, or none was raised.')); return; }
  // the most severe first: a critical alert never hides behind newer info
  items.sort(bySeverityThenTime);
  fill(el,
    h('ul', { class: 'sevcounts' }, sevs.map((s) => h('li', { class: `sev-${s}` },
      h('strong', null, num(counts[s]) + (more[s] ? '+' : '')), ' ', s))),
    h('p', null, 'Most severe first:'),
    h('ul', { class: 'plain latest-alerts' }, items.slice(0, 4).map((a) => h('li', { 'data-severity': a.severity },
      h('span', { class: ['sev', `sev-${a.severity}`] }, a.severity), ' ',
      alertTitle(a.type), ' — ', [a.container, a.device].filter(Boolean).join(' · '), ' ',
      h('span', { class: 'muted' }, ago(a.time))))),
    h('p', null, h('a', { href: '#/map' }, 'Open the live map')));
}

async function ledgerCard(el, signal) {
  let l;
  try { l = await api('/v1/ledger', { signal }); } catch (err) {
    const m = missing(err, 'ledger module');
    if (m) { fill(el, m); return; }
    throw err;
  }
  if (!l.tree_size) {
    fill(el, empty('The ledger has no entries yet: it starts with “customs ledger init” (or “customs ledger demo”).'));
    return;
  }
  const cp = l.checkpoint;
  const findings = Object.entries(l.findings_by_severity || {});
  fill(el,
    h('p', { class: 'big' }, h('strong', null, num(l.tree_size)), ' entries'),
    dl([
      ['Log', l.origin],
      ['Members', num(l.members)],
      ['Findings', findings.length ? findings.map(([k, v]) => `${num(v)} ${k}`).join(', ') : 'none'],
      ['Last cosigned checkpoint', cp ? `size ${num(cp.tree_size)}, ${when(cp.created_at)}` : 'none yet'],
      ['Cosigned by', cp && cp.cosignatures ? cp.cosignatures.map((c) => c.org).join(', ') : null],
    ]),
    h('p', null, h('a', { href: '#/ledger' }, 'Explore the ledger')));
}

async function modelCard(el, signal) {
  const models = await api('/v1/risk/models', { signal });
  const active = (models.items || []).find((m) => m.active);
  if (!active) {
    fill(el, empty('No model is active: lanes are set by rules. Train one with “customs risk train”.'));
    return;
  }
  const m = await api('/v1/risk/models/' + encodeURIComponent(active.id), { signal });
  const met = m.metrics || {};
  fill(el,
    h('p', { class: 'big' }, h('strong', null, pct(met.precision_at_10)), ' precision when inspecting 10\u00a0%'),
    dl([
      ['Model', shortId(m.id)],
      ['Trained on', `${num(m.n_train)} declarations, ${m.train_from} to ${m.train_until}`],
      ['Measured on', met.validation ? `${met.validation.from} to ${met.validation.until} (${num(met.n)} declarations)` : null],
      ['AUC', num(met.auc, 3)],
      ['Recall at 10 %', pct(met.recall_at_10)],
      ['Serving', m.serving && m.serving.model === m.id ? 'yes' : (m.serving && m.serving.rules) || 'not yet loaded'],
    ]),
    h('p', null, h('a', { href: '#/model' }, 'See the model')));
}

async function ownCard(el, signal) {
  const r = await api('/v1/declarations' + qs({ limit: 10 }), { signal });
  if (!r.items.length) { fill(el, empty('Your organisation has lodged no declaration yet.')); return; }
  fill(el, h('p', null, 'Your organisation’s first declarations (your key sees only its own):'),
    h('ul', { class: 'plain' }, r.items.map((d) => h('li', null,
      h('a', { href: '#/declarations/' + encodeURIComponent(d.id) }, d.reference), ' ',
      laneBadge(d.risk && d.risk.lane), ' ', h('span', { class: 'muted' }, `${d.date} · ${d.status}`)))));
}

export async function render(main, params, { signal, me }) {
  const officer = me && (me.role === 'officer' || me.role === 'admin');
  const cards = officer ? [
    ['Declarations today', declarationsCard],
    ['Open alerts', alertsCard],
    ['Ledger', ledgerCard],
    ['Risk model', modelCard],
  ] : [
    ['Declarations', ownCard],
    ...(me && me.role === 'device' ? [] : [['Ledger', ledgerCard]]),
  ];
  const grid = h('div', { class: 'grid' });
  main.append(h('h1', null, 'Overview'), grid);
  await Promise.all(cards.map(async ([title, fn]) => {
    const body = h('div', { class: 'card-body' }, loading());
    grid.append(card(title, body));
    try { await fn(body, signal); } catch (err) {
      if (err.name === 'AbortError') return;
      fill(body, errorBox(err));
    }
  }));
}
