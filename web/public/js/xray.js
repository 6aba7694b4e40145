// X-ray scans of a declaration: each scan's picture — the plain rendering or
// the overlay with its regions labelled in metres from the doors — fetched
// with the bearer token into a blob: URL (the CSP's img-src allows blob: for
// exactly this), the analysis in words, and for each region that raised a
// finding what the inspection found there, with the form officers fill in.
// Release waits for those outcomes (the server's xray_outcomes_missing).
import { api, qs, getToken, ApiError } from './api.js';
import { h, fill, errorBox, empty, loading, dl, announce } from './dom.js';
import { num, pct, when, sentence } from './format.js';

const KIND = {
  dense_object: 'Dense object',
  organic_mass: 'Organic mass',
  false_wall: 'False wall',
  anomaly: 'Anomaly',
};
const RULE = {
  empty_check_failed: 'Declared empty, but not empty',
  goods_missing: 'Goods declared, container empty',
  mass_mismatch: 'Observed mass differs from the declared',
  density_mismatch: 'Density does not fit the declared goods',
  container_not_found: 'Container not found in the image',
  image_saturated: 'Parts of the image are saturated',
  container_size: 'Container size',
  ...KIND,
};
const SEV = { critical: 'critical', warning: 'warning', info: 'info' };

/** The picture at path as a blob: URL (revoke it when done). */
async function imageUrl(path, signal) {
  const res = await fetch(path, {
    headers: { Authorization: 'Bearer ' + getToken() }, signal, credentials: 'omit', cache: 'no-store',
  });
  if (!res.ok) {
    let body = null;
    try { body = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, body?.error?.code || `http_${res.status}`,
      sentence(body?.error?.message || `the picture could not be loaded (status ${res.status})`));
  }
  return URL.createObjectURL(await res.blob());
}

function metres(m) {
  return `${num(m, 1)} m`;
}

function whereOf(r) {
  const h0 = r.height_m < 0 ? 'in the floor' : `${metres(r.height_m)} above the floor`;
  return `${metres(r.from_door_m)} from the doors, ${h0}`;
}

function summaryOf(a) {
  const mass = a.declared_mass_kg === null || a.declared_mass_kg === undefined
    ? `${num(Math.round(a.observed_mass_kg))} kg observed (no mass declared)`
    : `${num(Math.round(a.observed_mass_kg))} kg observed against ${num(Math.round(a.declared_mass_kg))} kg declared`
      + (typeof a.mass_ratio === 'number' ? ` (×${num(a.mass_ratio, 2)})` : '');
  return dl([
    ['Verdict', a.empty
      ? h('strong', null, `Empty (${pct(a.empty_score)} sure)`)
      : h('strong', null, `Not empty (${pct(1 - a.empty_score)} sure)`)],
    ['Mass', mass],
    ['Regions', a.regions.length ? num(a.regions.length) : 'none'],
  ]);
}

function findingsOf(a) {
  const f = (a.findings || []).filter((x) => x.severity !== 'info');
  if (!f.length) return h('p', { class: 'ok' }, 'No finding: the image fits what was declared.');
  return h('ul', { class: 'findings' }, f.map((x) => h('li', null,
    h('span', { class: ['sev', `sev-${SEV[x.severity] || 'info'}`] }, x.severity), ' ',
    h('strong', null, RULE[x.rule] || x.rule), ' — ', sentence(x.message))));
}

// One row per region; flagged regions (numbered 1..flagged, by descending
// score) get their outcome, or for officers the buttons that record it.
function regionsOf(scan, flagged, officer, onRecorded, signal) {
  const regions = scan.analysis.regions || [];
  if (!regions.length) return null;
  const outcomes = new Map((scan.outcomes || []).map((o) => [o.n, o]));
  const rows = regions.map((r, i) => {
    const n = i + 1;
    const o = outcomes.get(n);
    let cell;
    if (o) {
      cell = h('span', { class: ['outcome', o.found ? 'outcome-fraud' : 'outcome-compliant'] },
        o.found ? 'found' : 'nothing');
      if (o.note) cell = [cell, ' ', h('span', { class: 'small muted' }, o.note)];
    } else if (n > flagged) {
      cell = h('span', { class: 'muted' }, 'below the finding threshold');
    } else if (!officer) {
      cell = h('span', { class: 'muted' }, 'awaiting inspection');
    } else {
      cell = outcomeForm(scan, n, onRecorded, signal);
    }
    return h('tr', { class: n <= flagged ? 'flagged' : null },
      h('td', { 'data-label': '#' }, String(n)),
      h('td', { 'data-label': 'Kind' }, KIND[r.kind] || r.kind),
      h('td', { 'data-label': 'Where' }, whereOf(r)),
      h('td', { class: 'num', 'data-label': 'Score' }, pct(r.score)),
      h('td', { 'data-label': 'Inspection' }, cell));
  });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'xray-regions' },
    h('caption', { class: 'visually-hidden' }, `Regions of scan ${scan.id}`),
    h('thead', null, h('tr', null, ['#', 'Kind', 'Where', 'Score', 'Inspection']
      .map((t) => h('th', { scope: 'col', class: t === 'Score' ? 'num' : null }, t)))),
    h('tbody', null, rows)));
}

function outcomeForm(scan, n, onRecorded, signal) {
  const status = h('span', { class: 'form-status', 'aria-live': 'polite' });
  const note = h('input', { type: 'text', name: 'note', maxlength: '2000', placeholder: 'note (optional)',
    'aria-label': `Note on region ${n}` });
  const record = async (found, btns) => {
    btns.forEach((b) => { b.disabled = true; });
    fill(status, loading('Recording…'));
    const body = { found };
    const t = note.value.trim();
    if (t) body.note = t;
    try {
      await api(`/v1/xray/scans/${encodeURIComponent(scan.id)}/regions/${n}/outcome`,
        { method: 'POST', body, signal });
      announce(`Region ${n}: ${found ? 'found' : 'nothing found'}`);
      await onRecorded();
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(status, errorBox(err, 'The outcome was not recorded'));
      btns.forEach((b) => { b.disabled = false; });
    }
  };
  const found = h('button', { type: 'button', class: 'primary' }, 'Found');
  const nothing = h('button', { type: 'button' }, 'Nothing');
  found.addEventListener('click', () => record(true, [found, nothing]));
  nothing.addEventListener('click', () => record(false, [found, nothing]));
  return h('div', { class: 'xray-outcome', role: 'group', 'aria-label': `Outcome of region ${n}` },
    found, nothing, note, status);
}

// The picture with its two views; returns a function that frees its URLs.
function pictureOf(scan, signal) {
  const urls = {};
  const img = h('img', { class: 'xray-img', alt: `X-ray scan ${scan.id} of container ${scan.container}` });
  const msg = h('div', { class: 'xray-img-status', 'aria-live': 'polite' }, loading('Loading the picture…'));
  const show = async (view) => {
    try {
      if (!urls[view]) urls[view] = await imageUrl(view === 'overlay' ? scan.overlay_url : scan.image_url, signal);
      img.src = urls[view];
      img.dataset.view = view;
      fill(msg);
    } catch (err) {
      if (err.name !== 'AbortError') fill(msg, errorBox(err, 'The picture could not be shown'));
    }
  };
  const views = [['overlay', 'Regions'], ['image', 'Plain']].map(([v, label]) => {
    const input = h('input', { type: 'radio', name: `xray-view-${scan.id}`, value: v, checked: v === 'overlay' });
    input.addEventListener('change', () => { if (input.checked) show(v); });
    return h('label', { class: 'radio' }, input, ' ' + label);
  });
  show('overlay');
  const el = h('figure', { class: 'xray-figure' },
    h('div', { class: 'xray-views', role: 'radiogroup', 'aria-label': 'Picture' }, views),
    h('div', { class: 'xray-frame' }, img), msg,
    h('figcaption', { class: 'hint' },
      `Doors on the ${scan.meta.orientation === 'door_left' ? 'left' : 'right'}; dark is dense. `,
      `${num(scan.width)} × ${num(scan.height)} px at ${num(scan.meta.pixel_mm_x, 1)} mm.`));
  return { el, free: () => Object.values(urls).forEach((u) => URL.revokeObjectURL(u)) };
}

/**
 * Fills el with the scans of declaration d; onChange() reloads the page's
 * declaration after an outcome (the decision card then shows whether release
 * may go ahead). Returns a cleanup function.
 */
export async function declarationScans(el, d, ctx, onChange) {
  const frees = [];
  const cleanup = () => { frees.splice(0).forEach((f) => f()); };
  const { signal } = ctx;
  const officer = ctx.me && (ctx.me.role === 'officer' || ctx.me.role === 'admin');
  const draw = async () => {
    let page;
    try {
      page = await api('/v1/xray/scans' + qs({ declaration: d.id, limit: 20 }), { signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(el, err.status === 404 ? empty('This server has no X-ray module (its API answered 404).')
        : errorBox(err, 'The scans could not be loaded'));
      return;
    }
    cleanup();
    const scans = page.items || [];
    if (!scans.length) {
      fill(el, empty('No X-ray scan names this declaration.'));
      return;
    }
    const flaggedOf = new Map((d.xray || []).map((x) => [x.id, x.flagged]));
    const onRecorded = async () => { d = await onChange(); await draw(); };
    fill(el, scans.map((s) => {
      const pic = pictureOf(s, signal);
      frees.push(pic.free);
      const flagged = flaggedOf.get(s.id) ?? 0;
      const open = (s.outcomes || []).filter((o) => o.n <= flagged).length;
      return h('article', { class: 'xray-scan', 'aria-label': `Scan ${s.id}` },
        h('h3', null, `Scan ${s.id}`, ' ', h('span', { class: 'small muted' },
          `${s.container} · ${s.scanner} · ${when(s.time)}`)),
        pic.el,
        summaryOf(s.analysis),
        findingsOf(s.analysis),
        flagged ? h('p', { class: 'hint' }, open >= flagged
          ? 'Every flagged region has its inspection outcome.'
          : `${flagged - open} of ${flagged} flagged region${flagged === 1 ? '' : 's'} still need${flagged - open === 1 ? 's' : ''} an inspection outcome before release.`) : null,
        regionsOf(s, flagged, officer, onRecorded, signal));
    }));
  };
  fill(el, loading());
  await draw();
  return cleanup;
}
