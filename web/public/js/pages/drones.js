// Drones: what the Remote ID receivers heard, newest first, with registry
// status; one drone's flight replayed on the map with its pilot and alerts.
import { api, qs } from '../api.js';
import { h, fill, errorBox, empty, loading, announce } from '../dom.js';
import { when, ago, num, alertTitle, alertDetail, sevBadge } from '../format.js';
import { L, baseMap, zoneLayer, allPages } from '../track.js';
import { droneName, registryText, replayFlight } from '../drones.js';

export async function render(main, { rest, query }, { signal }) {
  if (rest[0]) return detail(main, rest[0], signal);
  const filter = query.get('registered');
  const results = h('div', { 'aria-live': 'polite' }, loading('Loading the drones…'));
  const choose = h('select', { id: 'registered', on: { change: () => {
    location.hash = '#/drones' + (choose.value ? `?registered=${choose.value}` : '');
  } } },
  h('option', { value: '', selected: !filter }, 'All drones'),
  h('option', { value: 'false', selected: filter === 'false' }, 'Not registered'),
  h('option', { value: 'true', selected: filter === 'true' }, 'Registered'));
  main.append(h('h1', null, 'Drones'),
    h('p', { class: 'hint' }, 'Drones heard by the Remote ID receivers, the most recently heard first. Registry status comes from the loaded registry (customs drones registry).'),
    h('div', { class: 'filters' }, h('label', { for: 'registered' }, 'Show'), ' ', choose),
    results);
  let page;
  try {
    page = await api('/v1/drones' + qs({ limit: 200, registered: filter || undefined }), { signal });
  } catch (err) {
    if (err.name === 'AbortError') return null;
    fill(results, err.status === 404 ? empty('This server has no drones module (its API answered 404).') : errorBox(err, 'The drones could not be loaded'));
    return null;
  }
  const items = page.items || [];
  if (!items.length) {
    fill(results, empty(filter ? 'No drone of this kind has been heard.' : 'No drone has been heard yet. Receivers post to /v1/drones/observations or publish to customs/remoteid/<receiver>.'));
    return null;
  }
  fill(results, h('div', { class: 'table-wrap' }, h('table', { class: 'queue drones', id: 'drones' },
    h('caption', { class: 'visually-hidden' }, 'Drones heard, most recent first'),
    h('thead', null, h('tr', null, ['Drone', 'Registry', 'Last heard', 'Height', 'Speed', 'Operator', 'Receivers']
      .map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, items.map((d) => h('tr', { 'data-drone': d.uas_id, 'data-registered': String(d.registered) },
      h('td', { 'data-label': 'Drone' }, h('a', { href: '#/drones/' + encodeURIComponent(d.uas_id) }, droneName(d.uas_id))),
      h('td', { 'data-label': 'Registry' }, h('span', { class: ['reg', `reg-${d.registered}`] }, registryText(d))),
      h('td', { 'data-label': 'Last heard', title: when(d.last_seen) }, ago(d.last_seen)),
      h('td', { 'data-label': 'Height' }, Number.isFinite(d.height_m) ? `${num(d.height_m, 0)} m` : '—'),
      h('td', { 'data-label': 'Speed' }, Number.isFinite(d.speed_h_mps) ? `${num(d.speed_h_mps, 1)} m/s` : '—'),
      h('td', { 'data-label': 'Operator' }, d.operator_id || '—'),
      h('td', { 'data-label': 'Receivers' }, (d.receivers || []).join(', ') || '—')))))),
  page.next_cursor ? h('p', { class: 'hint' }, 'The 200 most recent are shown.') : null);
  announce(`${items.length} drones`);
  return null;
}

async function detail(main, id, signal) {
  const head = h('div', { class: 'facts' }, loading('Loading the drone…'));
  const mapEl = h('div', { class: 'map big', id: 'drone-map', role: 'region', 'aria-label': `Flight of ${droneName(id)}` });
  const bar = h('div', { class: 'replay-bar', 'aria-live': 'polite' });
  const alertsEl = h('ul', { class: 'alerts compact', id: 'drone-alerts', 'aria-label': 'Alerts about this drone' });
  main.append(h('p', null, h('a', { href: '#/drones' }, '← All drones')), h('h1', null, droneName(id)), head,
    h('h2', null, 'Flight'), bar, mapEl, h('h2', null, 'Alerts'), alertsEl);
  const { map, borders } = baseMap(mapEl);
  borders.catch((e) => bar.append(errorBox(e)));
  const group = L.featureGroup().addTo(map);
  allPages('/v1/zones', { limit: 1000 }, signal).then((zs) => zoneLayer(zs).addTo(map)).catch(() => {});
  let stop = () => {};
  const cleanup = () => { stop(); map.remove(); };
  let d;
  try {
    d = await api(`/v1/drones/${encodeURIComponent(id)}`, { signal });
  } catch (err) {
    if (err.name !== 'AbortError') fill(head, errorBox(err, err.status === 404 ? 'No drone was heard with this name' : 'The drone could not be loaded'));
    return cleanup;
  }
  const fact = (k, v) => [h('dt', null, k), h('dd', null, v)];
  fill(head, h('dl', { class: 'kv facts' },
    fact('Registry', h('span', { class: ['reg', `reg-${d.registered}`] }, registryText(d))),
    fact('Operator', d.operator_id || 'not broadcast'),
    fact('Last heard', `${when(d.last_seen)} (${ago(d.last_seen)})`),
    fact('Height', Number.isFinite(d.height_m) ? `${num(d.height_m, 0)} m above ground` : 'unknown'),
    fact('Speed', Number.isFinite(d.speed_h_mps) ? `${num(d.speed_h_mps, 1)} m/s` : 'unknown'),
    fact('Also broadcast as', (d.uas_ids || []).filter((x) => x !== d.uas_id).join(', ') || '—'),
    fact('Receivers', (d.receivers || []).join(', ') || 'capture import')));
  const clock = h('span', { class: 'clock' });
  const run = async () => {
    stop();
    delete mapEl.dataset.replayed;
    try {
      const f = await replayFlight(group, map, id, signal, (k, t) => {
        clock.textContent = t ? when(t) : `${Math.round(k * 100)} %`;
        if (k >= 1) mapEl.dataset.replayed = 'true';
      });
      stop = f.stop;
      mapEl.dataset.points = String(f.path.length);
      mapEl.dataset.alerts = String(f.alerts.length);
      if (!f.path.length) clock.textContent = 'No position has been heard from it.';
    } catch (err) {
      if (err.name !== 'AbortError') bar.append(errorBox(err, 'The flight could not be loaded'));
    }
  };
  fill(bar, h('strong', null, 'Replay'), ' ', clock, ' ', h('button', { type: 'button', on: { click: run } }, 'Replay again'),
    h('span', { class: 'hint' }, ' The line is the flight, small dots the pilot’s positions, rings the alerts.'));
  await run();
  try {
    const r = await api('/v1/alerts' + qs({ drone: d.uas_id, order: 'desc', limit: 100 }), { signal });
    fill(alertsEl, (r.items || []).length ? r.items.map((a) => h('li', { 'data-type': a.type }, sevBadge(a.severity), ' ',
      h('strong', null, alertTitle(a.type)), ' · ', when(a.time), h('br'), alertDetail(a)))
      : h('li', { class: 'empty' }, 'No alert about this drone.'));
  } catch (err) {
    if (err.name !== 'AbortError') fill(alertsEl, h('li', null, errorBox(err, 'Alerts could not be loaded')));
  }
  return cleanup;
}
