// Revenue: what was assessed, paid and is outstanding over a period, by day
// (uPlot) and by chapter, with the revenue at risk the valuation control
// flagged. Officers and administrators (GET /v1/revenue/summary).
import uPlot from '../../vendor/uplot.js';
import { api, qs } from '../api.js';
import { h, fill, card, errorBox, empty, loading, dl, bar } from '../dom.js';
import { money, num } from '../format.js';

const DAY = 86400000;
const iso = (t) => new Date(t).toISOString().slice(0, 10);

export async function render(main, { query }, { signal }) {
  const to = query.get('to') || iso(Date.now());
  const from = query.get('from') || iso(Date.parse(to) - 89 * DAY);
  main.append(h('h1', null, 'Revenue'));
  const form = h('form', { class: 'inline', on: { submit: (e) => {
    e.preventDefault();
    location.hash = '#/revenue?' + new URLSearchParams({ from: fromIn.value, to: toIn.value });
  } } });
  const fromIn = h('input', { id: 'rev-from', type: 'date', value: from, required: true });
  const toIn = h('input', { id: 'rev-to', type: 'date', value: to, required: true });
  form.append(h('label', { for: 'rev-from' }, 'From'), fromIn, h('label', { for: 'rev-to' }, 'to'), toIn,
    h('button', { type: 'submit' }, 'Show'));
  const totalsBody = h('div', { class: 'card-body' }, loading());
  const dayBody = h('div', { class: 'card-body' }, loading());
  const chapterBody = h('div', { class: 'card-body' }, loading());
  main.append(form, h('div', { class: 'model-grid' },
    card('In the period', totalsBody), card('By day', dayBody), card('By chapter', chapterBody)));
  let byDay, byChapter;
  try {
    [byDay, byChapter] = await Promise.all(['day', 'chapter'].map((group) =>
      api('/v1/revenue/summary' + qs({ from, to, group }), { signal })));
  } catch (err) {
    if (err.name === 'AbortError') return;
    for (const el of [totalsBody, dayBody, chapterBody]) fill(el, errorBox(err, 'The revenue summary could not be loaded'));
    return;
  }
  const cur = byDay.currency;
  const t = byDay.totals;
  fill(totalsBody, dl([
    ['Declarations assessed', num(t.declarations)],
    ['Assessed', money(t.assessed, cur)],
    ['Paid', money(t.paid, cur)],
    ['Outstanding', money(t.outstanding, cur)],
    ['Guaranteed', money(t.guaranteed, cur)],
    ['Refunded', money(t.refunded, cur)],
    ['Revenue at risk flagged', money(t.revenue_at_risk, cur)],
    ['Recovered by inspections', t.recovered === null ? 'not measured' : money(t.recovered, cur)],
    ['Waiting for an officer (problems)', num(t.unresolved)],
  ]));
  const chart = dayChart(dayBody, byDay.groups, cur, from, to);
  chapterBars(chapterBody, byChapter.groups, cur);
  return () => { if (chart) chart.destroy(); };
}

function dayChart(el, groups, cur, from, to) {
  if (!groups.length) { fill(el, empty('No declaration dated in this period was assessed.')); return null; }
  const rows = [...groups].sort((a, b) => a.day.localeCompare(b.day));
  const xs = rows.map((r) => Date.parse(r.day) / 1000);
  const series = ['assessed', 'paid', 'outstanding'].map((k) => rows.map((r) => r[k]));
  const peak = rows.reduce((a, b) => (b.assessed > a.assessed ? b : a));
  const holder = h('div', { class: 'chart', role: 'img', 'aria-label': `Assessed, paid and outstanding per day from ${from} to ${to}; the most was assessed on ${peak.day}: ${money(peak.assessed, cur)}.` });
  fill(el, holder, h('p', { class: 'hint' }, `Amounts in ${cur} by the declarations’ dates; outstanding is what is neither paid nor refunded.`));
  const width = Math.max(280, Math.min(760, el.clientWidth || 600));
  const opts = {
    width, height: 240,
    scales: { x: { time: true } },
    axes: [{}, { size: 96, values: (u, v) => v.map((x) => num(x)) }],
    series: [{}, { label: 'assessed', stroke: '#1f5fa8', width: 2 },
      { label: 'paid', stroke: '#2e7d32', width: 2 }, { label: 'outstanding', stroke: '#c62828', width: 2, dash: [6, 4] }],
  };
  try {
    return new uPlot(opts, [xs, ...series], holder);
  } catch (err) {
    fill(el, errorBox({ message: 'The chart could not be drawn: ' + err.message }));
    return null;
  }
}

function chapterBars(el, groups, cur) {
  if (!groups.length) { fill(el, empty('Nothing assessed in this period.')); return; }
  const rows = [...groups].sort((a, b) => b.assessed - a.assessed).slice(0, 20);
  const max = rows[0].assessed || 1;
  fill(el, h('table', { class: 'bars', 'data-testid': 'chapters' },
    h('thead', null, h('tr', null, ...['Chapter', 'Assessed', '', 'Outstanding', 'At risk'].map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, ...rows.map((r) => h('tr', null,
      h('th', { scope: 'row' }, r.chapter),
      h('td', { class: 'num' }, money(r.assessed, cur)),
      h('td', null, bar(r.assessed / max, `${r.chapter}: ${money(r.assessed, cur)}`)),
      h('td', { class: 'num' }, money(r.outstanding, cur)),
      h('td', { class: 'num' }, r.revenue_at_risk ? money(r.revenue_at_risk, cur) : '—'))))),
  groups.length > rows.length ? h('p', { class: 'hint' }, `The 20 chapters with most assessed of ${groups.length}.`) : null);
}
