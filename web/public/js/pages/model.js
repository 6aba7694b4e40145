// Model: precision and recall against the share inspected (uPlot), feature
// importance, and a what-if slider for inspection capacity.
import uPlot from '../../vendor/uplot.js';
import { api, qs } from '../api.js';
import { h, fill, card, errorBox, empty, loading, dl, bar } from '../dom.js';
import { num, pct, when, startOfToday, shortId } from '../format.js';

const FEATURE_WORDS = {
  te_same: 'identical earlier declarations (fraud share)',
  n_same: 'identical earlier declarations (count)',
  nearest_route_fraud: 'most similar declarations on the route (fraud share)',
  nearest_route_dist: 'most similar declarations on the route (distance)',
  nearest_hs6_fraud: 'most similar declarations of the goods (fraud share)',
  nearest_hs6_dist: 'most similar declarations of the goods (distance)',
  te_same_hs6_value: 'same goods at the same value (fraud share)',
  te_route: 'goods on this route (fraud share)',
  unit_value_dev_hs6: 'unit value against the goods’ median',
  unit_value_dev_hs6_origin: 'unit value against the goods’ median from this origin',
};

export async function render(main, params, { signal }) {
  main.append(h('h1', null, 'Risk model'));
  let models;
  try { models = await api('/v1/risk/models', { signal }); } catch (err) {
    if (err.name === 'AbortError') return;
    main.append(errorBox(err, 'The model registry could not be loaded'));
    return;
  }
  const active = (models.items || []).find((m) => m.active);
  if (!active) {
    main.append(empty('No model is active: declarations are assessed by rules, and there is nothing to measure. Train one with “customs risk train --db …”.'));
    if ((models.items || []).length) main.append(registry(models.items));
    return;
  }
  const [m, summary] = await Promise.all([
    api('/v1/risk/models/' + encodeURIComponent(active.id), { signal }),
    api('/v1/risk/summary' + qs({ since: startOfToday().toISOString() }), { signal }).catch(() => null),
  ]);
  const met = m.metrics || {};
  const curve = (met.curve || []).filter((c) => Number.isFinite(c.share));
  const lanes = (m.serving && m.serving.lanes) || {};

  main.append(h('p', { class: 'lead' },
    `Model ${shortId(m.id)}, trained ${when(m.created_at)} on ${num(m.n_train)} labelled declarations (${m.train_from} to ${m.train_until}, ${num(m.n_fraud)} fraudulent). `,
    met.validation ? `Measured on ${num(met.n)} declarations it did not learn from (${met.validation.from} to ${met.validation.until}).` : 'It was not measured on held-out data.'));

  const chartBody = h('div', { class: 'card-body' });
  const whatIfBody = h('div', { class: 'card-body' });
  const importanceBody = h('div', { class: 'card-body' });
  main.append(h('div', { class: 'model-grid' },
    card('Precision and recall against the share inspected', chartBody),
    card('What if we inspect more, or less?', whatIfBody),
    card('What the model looks at', importanceBody),
    card('Measured quality', dl([
      ['AUC', num(met.auc, 4)],
      ['Precision at 1 % / 5 % / 10 %', [met.precision_at_1, met.precision_at_5, met.precision_at_10].map((v) => pct(v)).join(' / ')],
      ['Recall at 5 % / 10 %', [met.recall_at_5, met.recall_at_10].map((v) => pct(v)).join(' / ')],
      ['Fraud in the measured set', met.n ? `${num(met.positives)} of ${num(met.n)} (${pct(met.positives / met.n)})` : null],
      ['Lanes in force', lanes.inspect_rate !== undefined ? `red ${num(lanes.inspect_rate)} %, yellow ${num(lanes.yellow_rate)} %, exploration ${num(lanes.explore_rate)} %` : null],
      ['Training time', met.training_seconds !== undefined ? `${num(met.training_seconds, 1)} s` : null],
    ])),
    card('Model registry', registry(models.items))));

  if (!curve.length) {
    fill(chartBody, empty('This model has no measured curve.'));
    fill(whatIfBody, empty('Without a measured curve there is nothing to project.'));
  } else {
    const state = { share: Math.round(lanes.inspect_rate || 10) };
    const plot = chart(chartBody, curve, state);
    whatIf(whatIfBody, curve, met, summary, state, () => plot && plot.redraw(false, false));
    if (plot) {
      const ro = new ResizeObserver(() => {
        const w = Math.max(260, chartBody.clientWidth);
        plot.setSize({ width: w, height: Math.round(Math.min(340, Math.max(220, w * 0.55))) });
      });
      ro.observe(chartBody);
      signal.addEventListener('abort', () => { ro.disconnect(); plot.destroy(); }, { once: true });
    }
  }
  fill(importanceBody, importance(met.importance || []));
}

function chart(el, curve, state) {
  const w = Math.max(260, el.clientWidth || 600);
  const data = [curve.map((c) => c.share), curve.map((c) => c.precision), curve.map((c) => c.recall)];
  const css = getComputedStyle(document.documentElement);
  const color = (name, fb) => css.getPropertyValue(name).trim() || fb;
  const opts = {
    width: w,
    height: Math.round(Math.min(340, Math.max(220, w * 0.55))),
    scales: { x: { time: false, range: [0, 100] }, y: { range: [0, 1] } },
    axes: [
      { label: 'Share of declarations inspected (%)', stroke: color('--ink', '#222') },
      { label: 'Precision / recall', stroke: color('--ink', '#222'), values: (u, vals) => vals.map((v) => `${Math.round(v * 100)} %`) },
    ],
    series: [
      { label: 'Inspected', value: (u, v) => (v == null ? '—' : `${v} %`) },
      { label: 'Precision', stroke: color('--precision', '#b03a2e'), width: 2, value: (u, v) => (v == null ? '—' : pct(v)) },
      { label: 'Recall', stroke: color('--recall', '#1f618d'), width: 2, value: (u, v) => (v == null ? '—' : pct(v)) },
    ],
    hooks: {
      draw: [(u) => {
        const x = Math.round(u.valToPos(state.share, 'x', true));
        const c = u.ctx;
        c.save();
        c.strokeStyle = color('--accent', '#444');
        c.setLineDash([5, 4]);
        c.lineWidth = 1.5 * devicePixelRatio;
        c.beginPath();
        c.moveTo(x, u.bbox.top);
        c.lineTo(x, u.bbox.top + u.bbox.height);
        c.stroke();
        c.restore();
      }],
    },
  };
  const holder = h('div', { class: 'chart', role: 'img', 'aria-label': `Precision falls from ${pct(curve[0].precision)} at ${curve[0].share} % inspected to ${pct(curve[curve.length - 1].precision)} at ${curve[curve.length - 1].share} %, while recall rises to ${pct(curve[curve.length - 1].recall)}.` });
  fill(el, holder, h('p', { class: 'hint' }, 'Measured on held-out declarations: inspecting the top x % by score, precision is the share of them that are frauds, recall the share of all frauds they catch. The dashed line marks the capacity chosen in the what-if panel.'));
  try {
    return new uPlot(opts, data, holder);
  } catch (err) {
    fill(el, errorBox({ message: 'The chart could not be drawn: ' + err.message }));
    return null;
  }
}

function whatIf(el, curve, met, summary, state, redraw) {
  const base = met.n ? met.positives / met.n : null;
  const perDay = summary && summary.declarations ? summary.declarations : met.n || 1000;
  const slider = h('input', { id: 'capacity', type: 'range', min: String(curve[0].share), max: String(curve[curve.length - 1].share), step: '1', value: String(state.share) });
  const volume = h('input', { id: 'volume', type: 'number', min: '1', step: '1', value: String(perDay), inputmode: 'numeric' });
  const out = h('output', { for: 'capacity volume', class: 'whatif-out', 'aria-live': 'polite' });
  const byShare = new Map(curve.map((c) => [c.share, c]));
  const update = () => {
    const s = Number(slider.value);
    const n = Math.max(0, Math.round(Number(volume.value) || 0));
    state.share = s;
    const c = byShare.get(s) || curve.reduce((a, b) => (Math.abs(b.share - s) < Math.abs(a.share - s) ? b : a));
    const inspected = Math.round((s / 100) * n);
    const frauds = Math.round(c.precision * inspected);
    fill(out,
      h('p', { class: 'big' }, h('strong', { 'data-testid': 'whatif-inspected' }, num(inspected)), ' inspections, ',
        h('strong', { 'data-testid': 'whatif-frauds' }, num(frauds)), ' expected frauds found'),
      h('p', null, `Inspecting ${s} % of ${num(n)} declarations means ${num(inspected)} inspections. ` +
        `At this share the model measured ${pct(c.precision)} precision, so about ${num(frauds)} of them would be frauds, ` +
        `catching ${pct(c.recall)} of all frauds` + (base !== null ? ` (about ${num(Math.round(base * n))} if fraud is as common as in the measured set).` : '.')),
      c.threshold !== undefined ? h('p', { class: 'hint' }, `Score threshold at this share: ${num(c.threshold, 4)}.`) : null);
    redraw();
  };
  slider.addEventListener('input', update);
  volume.addEventListener('input', update);
  fill(el,
    h('div', { class: 'field' }, h('label', { for: 'capacity' }, 'Inspection capacity (share of declarations inspected)'), slider),
    h('div', { class: 'field' }, h('label', { for: 'volume' }, 'Declarations in the period'), volume,
      h('span', { class: 'hint' }, summary && summary.declarations ? 'Today’s count so far; change it to plan for another volume.' : 'The size of the measured set; change it to plan for your volume.')),
    out);
  update();
}

function importance(items) {
  if (!items.length) return empty('The model reports no feature importance.');
  const top = items.slice(0, 12);
  const max = Math.max(...top.map((i) => i.share || 0), 1e-9);
  const row = (i) => h('li', null,
    h('span', { class: 'imp-name' }, h('code', null, i.feature), FEATURE_WORDS[i.feature] ? h('span', { class: 'muted' }, ' — ' + FEATURE_WORDS[i.feature]) : null),
    h('span', { class: 'imp-bar' }, bar((i.share || 0) / max, `${pct(i.share)} of the total gain`, 'imp'), ' ', pct(i.share)));
  return [
    h('p', { class: 'hint' }, 'Share of the total gain of the trees’ splits per feature: how much each one sharpens the score overall.'),
    h('ol', { class: 'importance' }, top.map(row)),
    items.length > top.length ? h('details', null, h('summary', null, `${items.length - top.length} more features`),
      h('ol', { class: 'importance', start: String(top.length + 1) }, items.slice(top.length).map(row))) : null,
  ];
}

function registry(items) {
  if (!items || !items.length) return empty('The registry is empty.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'compact' },
    h('thead', null, h('tr', null, ['Model', 'Created', 'Trained on', 'AUC', 'Precision at 10 %', 'Active'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, items.slice().reverse().map((m) => h('tr', null,
      h('td', null, h('code', { title: m.id }, shortId(m.id))),
      h('td', null, when(m.created_at)),
      h('td', null, `${m.train_from || '?'} to ${m.train_until || '?'} (${num(m.n_train)})`),
      h('td', { class: 'num' }, num(m.auc, 3)),
      h('td', { class: 'num' }, pct(m.precision_at_10)),
      h('td', null, m.active ? 'active' : ''))))));
}
