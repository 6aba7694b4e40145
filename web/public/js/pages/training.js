// Training: a simulated case (declaration, risk reasons, ledger and tracking
// events, an X-ray scan). The trainee marks what looks hidden on the scan,
// decides the lane and gets a score with what was hidden drawn on the scan.
// Cases are never real declarations (docs/inspection.md).
import { api, getToken, ApiError } from '../api.js';
import { h, fill, errorBox, empty, loading, card, dl, announce } from '../dom.js';

/** The scan as an ImageBitmap (fetched with the key; drawn on a canvas). */
async function scanBitmap(url, signal) {
  const res = await fetch(url, { headers: { Authorization: 'Bearer ' + getToken() }, signal, cache: 'no-store' });
  if (!res.ok) throw new ApiError(res.status, 'scan', 'The scan could not be loaded.');
  return createImageBitmap(await res.blob());
}

function draw(canvas, bmp, marks, truth, drag) {
  const g = canvas.getContext('2d');
  g.drawImage(bmp, 0, 0);
  g.lineWidth = Math.max(2, canvas.width / 300);
  g.strokeStyle = '#ff9f1c';
  for (const m of marks) g.strokeRect(m.x, m.y, m.w, m.h);
  if (drag) g.strokeRect(drag.x, drag.y, drag.w, drag.h);
  if (truth) {
    g.setLineDash([8, 6]);
    g.strokeStyle = '#2ec4b6';
    for (const t of truth) g.strokeRect(t.x, t.y, t.w, t.h);
    g.setLineDash([]);
  }
}

/** A box in the scan's pixels from two pointer positions on the canvas. */
function boxFrom(canvas, a, b) {
  const r = canvas.getBoundingClientRect();
  const sx = canvas.width / r.width, sy = canvas.height / r.height;
  const x1 = Math.max(0, Math.min(canvas.width, (a.clientX - r.left) * sx));
  const y1 = Math.max(0, Math.min(canvas.height, (a.clientY - r.top) * sy));
  const x2 = Math.max(0, Math.min(canvas.width, (b.clientX - r.left) * sx));
  const y2 = Math.max(0, Math.min(canvas.height, (b.clientY - r.top) * sy));
  return { x: Math.round(Math.min(x1, x2)), y: Math.round(Math.min(y1, y2)),
    w: Math.round(Math.abs(x2 - x1)), h: Math.round(Math.abs(y2 - y1)) };
}

async function results(signal, me) {
  const r = await api('/v1/training/results?limit=20', { signal });
  if (!r.items.length) return empty('No answers yet.');
  const mine = me.role !== 'admin';
  return h('table', { class: 'compact' },
    h('thead', null, h('tr', null, mine ? null : h('th', null, 'Officer'), h('th', null, 'Answered'),
      h('th', null, 'Score'), h('th', null, 'Found'), h('th', null, 'Missed'), h('th', null, 'False marks'),
      h('th', null, 'Lane'))),
    h('tbody', null, r.items.map((x) => h('tr', null,
      mine ? null : h('td', null, `${x.by.org} key ${x.by.key_id}`), h('td', null, x.answered_at.slice(0, 16).replace('T', ' ')),
      h('td', { class: 'num' }, String(x.score)), h('td', { class: 'num' }, String(x.found)),
      h('td', { class: 'num' }, String(x.missed)), h('td', { class: 'num' }, String(x.false_marks)),
      h('td', null, x.lane_correct ? 'right' : 'wrong')))));
}

export async function render(main, _params, { signal, navigate, me }) {
  fill(main, h('h1', null, 'Training'), loading('Loading a case…'));
  let c;
  try {
    c = await api('/v1/training/cases/next', { signal });
  } catch (err) {
    if (err.status !== 404) throw err;
    fill(main, h('h1', null, 'Training'), empty(err.message),
      card('Your results', await results(signal, me)));
    return;
  }
  const bmp = await scanBitmap(c.scan.image_url, signal);
  const canvas = h('canvas', { class: 'scan', width: c.scan.width, height: c.scan.height,
    'aria-label': 'The X-ray scan: drag to mark what looks hidden', role: 'img', dataset: { case: c.id } });
  const marks = [];
  let start = null, truth = null, done = false;
  const markList = h('ol', { class: 'marks' });
  const redraw = (drag) => draw(canvas, bmp, marks, truth, drag);
  const listMarks = () => fill(markList, marks.map((m, i) => h('li', null,
    `${m.w}×${m.h} px at ${m.x}, ${m.y} `,
    done ? null : h('button', { type: 'button', class: 'link', on: { click: () => { marks.splice(i, 1); listMarks(); redraw(); } } }, 'remove'))));
  canvas.addEventListener('pointerdown', (e) => { if (!done) { start = e; canvas.setPointerCapture(e.pointerId); } });
  canvas.addEventListener('pointermove', (e) => { if (start) redraw(boxFrom(canvas, start, e)); });
  canvas.addEventListener('pointerup', (e) => {
    if (!start) return;
    const b = boxFrom(canvas, start, e);
    start = null;
    if (b.w >= 3 && b.h >= 3) { marks.push(b); announce(`Marked ${marks.length}`); }
    listMarks();
    redraw();
  });
  redraw();
  const d = c.declaration, it = (d.items || [])[0] || {};
  const lanes = h('fieldset', { class: 'lanes' }, h('legend', null, 'Your decision'),
    ['red', 'yellow', 'green'].map((l) => h('label', null, h('input', { type: 'radio', name: 'lane', value: l }), ` ${l}`)));
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const outcome = h('div', { class: 'training-result' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Submit answer');
  const form = h('form', { on: { submit: async (e) => {
    e.preventDefault();
    const lane = new FormData(form).get('lane');
    status.replaceChildren();
    if (!lane) { status.append(errorBox({ message: 'Choose a lane first: red, yellow or green.' })); return; }
    submit.disabled = true;
    try {
      const r = await api(`/v1/training/cases/${encodeURIComponent(c.id)}/answer`, { method: 'POST', body: { lane, regions: marks }, signal });
      done = true;
      truth = r.truth.regions;
      listMarks();
      redraw();
      fill(outcome, h('p', { class: 'score', dataset: { score: String(r.score) } }, `Score ${r.score} of 100`),
        h('p', null, `Regions found ${r.found}, missed ${r.missed}, false marks ${r.false_marks}; lane ${r.lane_correct ? 'right' : 'wrong'} (it was ${r.truth.lane}).`),
        h('p', null, r.explanation), h('p', { class: 'hint' }, 'Dashed boxes: what was hidden. Orange: your marks.'),
        h('button', { type: 'button', class: 'primary', on: { click: () => navigate('#/training') } }, 'Next case'));
      announce(`Score ${r.score}`);
    } catch (err) {
      submit.disabled = false;
      status.append(errorBox(err));
    }
  } } }, lanes, submit, status);
  fill(main, h('h1', null, 'Training'),
    h('p', { class: 'hint' }, 'A simulated case — never a real declaration. Mark what looks hidden on the scan, decide the lane, then see what was there.'),
    card('The case',
      dl([['Reference', d.reference || c.id], ['Container', (d.containers || []).join(', ')],
        ['Goods', `HS ${it.hs_code || '?'}, ${it.gross_mass_kg ?? '?'} kg declared, origin ${it.country_of_origin || '?'}`]]),
      h('h3', null, 'Risk reasons'), h('ul', null, c.reasons.map((x) => h('li', null, x.detail))),
      c.events.length ? h('h3', null, 'Ledger and tracking') : null,
      c.events.length ? h('ul', null, c.events.map((x) => h('li', null, `${x.source}: ${x.text}`))) : null),
    card('The scan', h('div', { class: 'scan-wrap' }, canvas), h('h3', null, 'Your marks'), markList, form, outcome),
    card('Your results', await results(signal, me)));
}
