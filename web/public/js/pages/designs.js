// Designs (3D printing): upload a design file and see it drawn with its
// measurements and its matches beside the registered designs; the
// watchlists; officers register designs and see the latest matches.
import { api, qs, getToken, ApiError } from '../api.js';
import { h, fill, card, errorBox, empty, loading, dl, announce } from '../dom.js';
import { num, when, shortId, sentence } from '../format.js';
import { isOfficer } from '../main.js';

const MAX_BYTES = 128 * 1024 * 1024;

export async function render(main, { rest }, ctx) {
  if (rest[0]) return detail(main, rest[0], ctx);
  return index(main, ctx);
}

/* ---- the index: upload, latest matches, watchlists ------------------------------------ */

async function index(main, ctx) {
  const { signal } = ctx;
  const officer = isOfficer(ctx.me);
  const alertsBody = h('div', { class: 'card-body' }, loading());
  const listBody = h('div', { class: 'card-body' }, loading());
  main.append(h('h1', null, 'Designs'),
    h('p', { class: 'lede' }, 'Design files that cross the border (3D printing): each upload is measured and compared with the protected (ipr) and controlled (security) designs, however it was scaled, turned, mirrored or re-meshed.'),
    h('div', { class: 'grid' },
      card('Check a design file', uploadForm(ctx)),
      officer ? card('Latest matches', alertsBody) : null),
    card(officer ? 'Watchlists' : 'Protected designs (ipr)', listBody));
  const tasks = [watchlist(listBody, officer, signal)];
  if (officer) tasks.push(latestMatches(alertsBody, signal));
  await Promise.all(tasks);
}

function uploadForm(ctx) {
  const input = h('input', { id: 'design-file', name: 'file', type: 'file', accept: '.stl,.3mf,.obj,model/stl,model/3mf,model/obj', required: true });
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Upload and check');
  return h('form', { class: 'design-upload', on: { submit: async (e) => {
    e.preventDefault();
    const f = input.files && input.files[0];
    if (!f) return;
    if (f.size > MAX_BYTES) { fill(status, errorBox({ message: `This file has ${num(f.size / 1048576, 1)} MiB; a design file may have at most 128 MiB.` })); return; }
    button.disabled = true;
    fill(status, loading(`Uploading ${f.name} and comparing it with the watchlists…`));
    try {
      const r = await upload(f, ctx.signal);
      announce('Design checked');
      ctx.navigate('#/designs/' + r.inspection.sha256);
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(status, errorBox(err, 'The file was not accepted'));
      button.disabled = false;
    }
  } } },
  h('label', { for: 'design-file' }, 'STL, 3MF or OBJ file (up to 128 MiB)'), input, button, status);
}

/** POST /v1/designs as a form (the file's name travels with it). */
async function upload(file, signal) {
  const form = new FormData();
  form.append('file', file, file.name);
  let res;
  try {
    res = await fetch('/v1/designs', { method: 'POST', body: form, signal, cache: 'no-store', credentials: 'omit',
      headers: { Authorization: 'Bearer ' + getToken(), Accept: 'application/json' } });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server could not be reached.');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = data && data.error;
    const why = e && e.details && e.details[0] && e.details[0].message;
    throw new ApiError(res.status, e ? e.code : `http_${res.status}`,
      sentence([e ? e.message : `status ${res.status}`, why].filter(Boolean).join(': ')));
  }
  return data;
}

async function latestMatches(el, signal) {
  try {
    const r = await api('/v1/alerts' + qs({ subject: 'design', order: 'desc', limit: 12 }), { signal });
    if (!r.items.length) { fill(el, empty('No upload has matched a watchlist design yet.')); return; }
    fill(el, h('ul', { class: 'design-matches plain' }, r.items.map((a) => h('li', null,
      h('span', { class: ['lane', a.detail.watchlist === 'security' ? 'lane-red' : 'lane-yellow'] }, a.detail.watchlist), ' ',
      h('a', { href: '#/designs/' + a.subject.id }, a.detail.name || shortId(a.subject.id)),
      ` matches “${a.detail.title}” (${a.detail.holder}), ${num(a.detail.similarity * 100, 0)} %`,
      h('span', { class: 'muted' }, ` · ${a.detail.uploaded_by} · ${when(a.time)}`)))));
  } catch (err) {
    if (err.name !== 'AbortError') fill(el, errorBox(err, 'The matches could not be loaded'));
  }
}

async function watchlist(el, officer, signal) {
  const rows = h('tbody');
  const more = h('p');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'items designs-list' },
    h('thead', null, h('tr', null, ['Title', 'Holder', 'List', 'Registration', 'Valid until', 'Registered']
      .map((t) => h('th', { scope: 'col' }, t)))), rows));
  const page = async (cursor) => {
    const r = await api('/v1/designs/watchlist' + qs({ limit: 50, cursor }), { signal });
    for (const e of r.items) rows.append(h('tr', null,
      h('td', { 'data-label': 'Title' }, officer && e.sha256 ? h('a', { href: '#/designs/' + e.sha256 }, e.title) : e.title),
      h('td', { 'data-label': 'Holder' }, e.holder),
      h('td', { 'data-label': 'List' }, h('span', { class: ['lane', e.watchlist === 'security' ? 'lane-red' : 'lane-yellow'] }, e.watchlist)),
      h('td', { 'data-label': 'Registration' }, e.registration ?? '—'),
      h('td', { 'data-label': 'Valid until' }, e.valid_until ?? '—'),
      h('td', { 'data-label': 'Registered' }, when(e.registered_at))));
    fill(more, r.next_cursor ? h('button', { type: 'button', on: { click: () => page(r.next_cursor).catch((err) => fill(more, errorBox(err))) } }, 'More') : null);
    return r;
  };
  try {
    const first = await page();
    fill(el, first.items.length ? [table, more] : empty('No design is registered yet.'));
  } catch (err) {
    if (err.name !== 'AbortError') fill(el, errorBox(err, 'The watchlists could not be loaded'));
  }
}

/* ---- one design: the viewer, measurements, matches beside the registered designs ------------ */

async function detail(main, sha, ctx) {
  const { signal } = ctx;
  const officer = isOfficer(ctx.me);
  const head = h('div', null, h('h1', null, 'Design'), loading());
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/designs' }, '‹ Designs')), head);
  let d;
  try {
    d = await api('/v1/designs/' + encodeURIComponent(sha), { signal });
  } catch (err) {
    if (err.name === 'AbortError') return undefined;
    fill(head, h('h1', null, 'Design'), err.status === 404
      ? empty('There is no design file with this hash (or your key may not see it).')
      : errorBox(err, 'The design could not be loaded'));
    return undefined;
  }
  const ins = d.inspection;
  const name = (d.uploads.find((u) => u.name) || {}).name || shortId(ins.sha256);
  fill(head, h('h1', null, 'Design ', h('span', { class: 'ref' }, name)),
    h('p', { class: 'decl-meta' }, verdict(d.matches), ' ', `${ins.format.toUpperCase()} · ${num(ins.triangles)} triangles · ${bytes(ins.file_size)}`));
  const uploadView = h('div', { class: 'design-view', 'data-role': 'upload' }, loading('Drawing…'));
  const regView = h('div', { class: 'design-view', 'data-role': 'registered' });
  const regTitle = h('h3', null, 'Registered design');
  const regBody = h('div', null, regView);
  const cleanups = [];
  const matchesBody = h('div', { class: 'card-body' }, matchesOf(d.matches, officer, (m) => showRegistered(m)));
  main.append(h('div', { class: 'grid design-grid' },
    card('The file', uploadView, measurements(ins)),
    card('Matches', matchesBody, officer ? h('div', { class: 'design-side' }, regTitle, regBody) : null)),
  card('Uploads', uploadsOf(d.uploads)),
  officer ? card('Register this design', registerForm(ins.sha256, ctx)) : null);

  const { viewDesign, designBytes } = await import('../designview.js');
  async function draw(el, hash, label) {
    try {
      const buf = await designBytes(hash, signal);
      cleanups.push(await viewDesign(el, buf, label));
    } catch (err) {
      if (err.name !== 'AbortError') fill(el, errorBox(err, 'The file could not be drawn'));
    }
  }
  async function showRegistered(m) {
    fill(regTitle, `Registered: “${m.title}” (${m.holder})`);
    fill(regView, loading('Drawing…'));
    await draw(regView, m.sha256, `The registered design ${m.title}, drawn in 3D`);
  }
  const tasks = [draw(uploadView, ins.sha256, `The uploaded design ${name}, drawn in 3D`)];
  const best = officer && d.matches.find((m) => m.match && m.sha256);
  if (best) tasks.push(showRegistered(best));
  else if (officer) fill(regBody, empty('Nothing registered is close enough to set beside it.'));
  await Promise.all(tasks);
  return () => { for (const c of cleanups) c(); };
}

function verdict(matches) {
  const hit = matches.filter((m) => m.match);
  if (hit.some((m) => m.watchlist === 'security')) return h('span', { class: 'lane lane-red' }, 'controlled item');
  if (hit.length) return h('span', { class: 'lane lane-yellow' }, 'protected design');
  return h('span', { class: 'lane lane-green' }, 'no match');
}

const bytes = (n) => (n >= 1048576 ? `${num(n / 1048576, 1)} MiB` : n >= 1024 ? `${num(n / 1024, 1)} KiB` : `${num(n)} bytes`);
const mm = (x) => `${num(x, x < 10 ? 2 : 1)}`;

function measurements(ins) {
  const [x, y, z] = ins.bbox_mm;
  return [
    dl([
      ['Size', `${mm(x)} × ${mm(y)} × ${mm(z)} mm${ins.unit_assumed ? ' (the format has no unit: millimetres assumed)' : ''}`],
      ['Surface', `${num(ins.area_mm2, 0)} mm²`],
      ['Volume', ins.volume_mm3 === null ? 'not closed: no volume' : `${num(ins.volume_mm3 / 1000, 2)} cm³`],
      ['Watertight', ins.watertight ? 'yes' : 'no'],
      ['Triangles', `${num(ins.triangles)} (${num(ins.vertices)} vertices)`],
      ['File SHA-256', h('code', { class: 'hash' }, ins.sha256)],
      ['Mesh SHA-256', h('code', { class: 'hash' }, ins.mesh_sha256)],
    ], 'design-facts'),
    ins.problems.length ? h('ul', { class: 'problems' }, ins.problems.map((p) => h('li', null, sentence(p.message)))) : null,
  ];
}

function matchesOf(matches, officer, onShow) {
  if (!matches.length) return empty(officer ? 'No registered design is similar.' : 'This file matches no protected design.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'items design-matches-table' },
    h('thead', null, h('tr', null, ['Design', 'Holder', 'List', 'Similarity', 'Scale', ''].map((t, i) => h('th', { scope: 'col', class: i === 3 || i === 4 ? 'num' : null }, t)))),
    h('tbody', null, matches.map((m) => h('tr', { class: m.match ? 'match' : 'near' },
      h('td', { 'data-label': 'Design' }, m.title, m.registration ? h('span', { class: 'muted' }, ` · ${m.registration}`) : null),
      h('td', { 'data-label': 'Holder' }, m.holder),
      h('td', { 'data-label': 'List' }, h('span', { class: ['lane', m.watchlist === 'security' ? 'lane-red' : 'lane-yellow'] }, m.watchlist)),
      h('td', { class: 'num', 'data-label': 'Similarity' }, `${num(m.similarity * 100, 1)} %`, m.match ? h('strong', null, ' match') : h('span', { class: 'muted' }, ' below 80 %')),
      h('td', { class: 'num', 'data-label': 'Scale' }, `× ${num(m.scale, 3)}`),
      h('td', null, officer && m.sha256 ? h('button', { type: 'button', class: 'link', on: { click: () => onShow(m) } }, 'Show beside') : null))))));
}

function uploadsOf(uploads) {
  if (!uploads.length) return empty('No upload is visible to your key.');
  return h('ul', { class: 'plain' }, uploads.map((u) => h('li', null,
    u.name || 'unnamed', h('span', { class: 'muted' }, ` · ${u.org} · ${when(u.uploaded_at || u.created_at)}`))));
}

function registerForm(sha, ctx) {
  const field = (id, label, attrs = {}) => [h('label', { for: id }, label), h('input', { id, name: id, ...attrs })];
  const list = h('select', { id: 'reg-watchlist', name: 'watchlist' }, h('option', { value: 'ipr' }, 'ipr: a rights holder’s protected design'), h('option', { value: 'security' }, 'security: a controlled item'));
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const form = h('form', { class: 'design-register', on: { submit: async (e) => {
    e.preventDefault();
    const v = (n) => form.elements[n].value.trim() || undefined;
    const body = { sha256: sha, watchlist: list.value, holder: v('reg-holder'), title: v('reg-title'),
      registration: v('reg-registration'), valid_until: v('reg-until') };
    try {
      const r = await api('/v1/designs/watchlist', { method: 'POST', body, signal: ctx.signal });
      fill(status, h('p', { class: 'ok' }, `Registered on the ${r.watchlist} list as ${r.id}. Uploads that match it are flagged from now on.`));
      announce('Design registered');
    } catch (err) {
      if (err.name !== 'AbortError') fill(status, errorBox(err, 'Not registered'));
    }
  } } },
  h('label', { for: 'reg-watchlist' }, 'Watchlist'), list,
  field('reg-holder', 'Holder (rights holder or keeping agency)', { required: true, maxlength: 200 }),
  field('reg-title', 'Title', { required: true, maxlength: 200 }),
  field('reg-registration', 'Registration number (optional)', { maxlength: 200 }),
  field('reg-until', 'Protected until (optional)', { type: 'date' }),
  h('button', { type: 'submit', class: 'primary' }, 'Register'), status);
  return form;
}
