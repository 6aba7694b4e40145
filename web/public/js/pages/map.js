// Live map: borders drawn offline, zones and corridors, device positions
// and drones moving live over Server-Sent Events, the alerts list beside
// the map; selecting an alert replays its consignment's track or its
// drone's flight.
import { api, qs, stream } from '../api.js';
import { h, fill, errorBox, empty, loading, announce } from '../dom.js';
import { when, ago, alertTitle, alertDetail, num } from '../format.js';
import { L, baseMap, zoneLayer, allPages, drawTrack, animate, alertSummary, unwrap } from '../track.js';
import { liveDrones, replayFlight, droneName } from '../drones.js';

const MAX_ALERTS = 200;

export async function render(main, params, { signal, me }) {
  const mapEl = h('div', { class: 'map big', id: 'live-map', role: 'region', 'aria-label': 'Map of zones, corridors and devices' });
  const status = h('p', { class: 'map-status', 'aria-live': 'polite' }, loading('Drawing the map…'));
  const listEl = h('ol', { class: 'alerts', id: 'alerts', 'aria-label': 'Alerts, newest first' });
  const liveEl = h('span', { class: 'live off', id: 'live-state' }, 'connecting');
  const replayBar = h('div', { class: 'replay-bar', hidden: true, 'aria-live': 'polite' });
  const layersForm = h('fieldset', { class: 'layers' }, h('legend', { class: 'visually-hidden' }, 'Layers shown on the map'));
  main.append(h('h1', null, 'Live map'),
    h('div', { class: 'map-layout' },
      h('div', { class: 'map-col' }, h('div', { class: 'map-tools' }, layersForm), replayBar, mapEl, status),
      h('aside', { class: 'alerts-col', 'aria-labelledby': 'alerts-h' },
        h('h2', { id: 'alerts-h' }, 'Alerts ', liveEl),
        h('p', { class: 'hint' }, 'Newest first. Select one to replay its consignment’s track or its drone’s flight.'),
        listEl)));

  const { map, borders } = baseMap(mapEl);
  const zonesG = L.featureGroup().addTo(map);
  const corridorsG = L.featureGroup().addTo(map);
  const devicesG = L.featureGroup().addTo(map);
  const dronesG = L.featureGroup().addTo(map);
  const replayG = L.featureGroup().addTo(map);
  const markers = new Map();
  const problems = [];
  let stopReplay = () => {};

  const toggle = (label, group, id) => {
    const cb = h('input', { type: 'checkbox', id, checked: true, on: { change: () => (cb.checked ? group.addTo(map) : group.remove()) } });
    layersForm.append(h('label', { class: 'check', for: id }, cb, ' ', label));
  };
  toggle('Zones', zonesG, 'show-zones');
  toggle('Corridors', corridorsG, 'show-corridors');
  toggle('Devices', devicesG, 'show-devices');
  toggle('Drones', dronesG, 'show-drones');

  const cleanup = () => { stopReplay(); map.remove(); };
  signal.addEventListener('abort', () => { stopReplay(); }, { once: true });

  // Borders, zones and corridors.
  const bordersDone = borders.catch((e) => { problems.push(errorBox(e)); });
  let zones = [], cons = [];
  try {
    // one set of zones: tracking's kinds and the drone rules' territory
    [zones, cons] = await Promise.all([
      allPages('/v1/zones', { limit: 1000 }, signal),
      allPages('/v1/consignments', { limit: 1000 }, signal).catch((e) => { if (e.status === 403) return []; throw e; }),
    ]);
  } catch (err) {
    if (err.name === 'AbortError') return cleanup;
    await bordersDone;
    fill(status, err.status === 404 ? empty('This server has no tracking module (its API answered 404); only the borders are drawn.') : errorBox(err, 'Zones could not be loaded'));
    return cleanup;
  }
  zoneLayer(zones).addTo(zonesG);
  mapEl.dataset.zones = String(zones.length);
  const zoneName = (id) => { const z = zones.find((x) => x.id === id); return (z && z.name) || id || 'no zone'; };
  // Where the work is: the consignments in transit, grouped by region; the
  // map opens on the busiest region, the others are a choice away.
  const regions = regionsOf(cons.filter((c) => c.status !== 'arrived'));
  // Zones are small at world scale: a list to fly to each (keyboard-friendly too).
  if (zones.length || regions.length) {
    const go = h('select', { id: 'zoom-to', on: { change: () => {
      const v = go.value;
      if (v.startsWith('region:')) { map.fitBounds(regions[Number(v.slice(7))].bounds.pad(0.15), { maxZoom: 12 }); return; }
      const z = zones.find((x) => x.id === v);
      if (!v) { const all = zonesG.getBounds(); if (all.isValid()) map.fitBounds(all.pad(0.1)); return; }
      if (z && z.geometry) { const b = L.geoJSON(z.geometry).getBounds(); if (b.isValid()) map.fitBounds(b.pad(1.5), { maxZoom: 13 }); }
    } } },
    regions.length ? h('optgroup', { label: 'Consignments in transit' }, regions.map((r, i) => h('option', { value: `region:${i}`, selected: i === 0 },
      `${r.cons.length} in transit: ${routeName(r, zoneName)}`))) : null,
    h('optgroup', { label: 'Zones' }, h('option', { value: '', selected: !regions.length }, 'All zones'),
      zones.map((z) => h('option', { value: z.id }, `${z.name || z.id} (${String(z.kind || '').replace(/-/g, ' ')})`))));
    layersForm.after(h('div', { class: 'zoom-to' }, h('label', { for: 'zoom-to' }, 'Zoom to'), ' ', go));
  }
  const cBounds = [];
  await Promise.all(cons.slice(0, 200).map(async (c) => {
    try {
      const f = await api(`/v1/consignments/${encodeURIComponent(c.id)}/corridor`, { signal });
      if (f && f.geometry) L.geoJSON(f.geometry, { className: 'corridor', weight: 1 }).addTo(corridorsG);
    } catch (err) { if (err.name !== 'AbortError') problems.push(errorBox(err, `Corridor of ${c.id}`)); }
    if (c.route && c.route.coordinates) {
      const ll = unwrap(c.route.coordinates);
      L.polyline(ll, { className: 'route', weight: 1.5, dashArray: '5 5', interactive: false }).addTo(corridorsG);
      cBounds.push(...ll);
    }
  }));
  const zb = zonesG.getBounds();
  if (regions.length) map.fitBounds(regions[0].bounds.pad(0.15), { maxZoom: 12, animate: false });
  else if (zb.isValid()) map.fitBounds(zb.pad(0.1), { animate: false });
  mapEl.dataset.view = regions.length ? 'consignments' : zb.isValid() ? 'zones' : 'world';
  if (regions.length) mapEl.dataset.viewConsignments = regions[0].cons.map((c) => c.id).join(' ');
  mapEl.dataset.openedOn = map.getBounds().toBBoxString();
  await bordersDone;
  const plural = (n, one, many) => `${num(n)} ${n === 1 ? one : many}`;
  const opened = regions.length ? ` The map opens on ${regions[0].cons.length === 1 ? 'the consignment' : `the ${num(regions[0].cons.length)} consignments`} in transit ${routeName(regions[0], zoneName).replace(' → ', ' to ').replace(/^/, 'from ')}${regions.length > 1 ? `; ${plural(regions.length - 1, 'other region', 'other regions')} under “Zoom to”` : ''}.` : '';
  fill(status, zones.length || cons.length ? `${plural(zones.length, 'zone', 'zones')}, ${plural(cons.length, 'consignment', 'consignments')} with corridors.${opened}`
    : 'No zones or consignments are registered yet (POST /v1/zones, /v1/consignments): only the borders are drawn.', problems);

  // Positions: a snapshot, then live updates.
  const place = (p) => {
    if (!Number.isFinite(p.lat) || !Number.isFinite(p.lon)) return;
    let m = markers.get(p.device);
    const cls = `device seal-${p.seal || 'none'}`;
    if (!m) {
      m = L.circleMarker([p.lat, p.lon], { radius: 5, className: cls, weight: 1.5 });
      // (the element is made anew each time the layer is shown)
      m.on('add', () => { const el = m.getElement(); if (el) { el.dataset.device = p.device; el.setAttribute('class', `${m.cls} leaflet-interactive`); } });
      m.cls = cls;
      m.addTo(devicesG);
      m.bindTooltip(() => deviceTip(m.pos));
      markers.set(p.device, m);
    } else {
      m.setLatLng([p.lat, p.lon]);
      m.cls = cls;
      const el = m.getElement();
      if (el) el.setAttribute('class', `${cls} leaflet-interactive`);
    }
    m.pos = p;
  };
  try {
    const snap = await api('/v1/positions', { signal });
    for (const p of snap.items || []) place(p);
  } catch (err) {
    if (err.name === 'AbortError') return cleanup;
    if (err.status !== 403) status.append(errorBox(err, 'Positions could not be loaded'));
  }
  mapEl.dataset.devices = String(markers.size);
  stream('/v1/positions/stream', {
    signal,
    onEvent: (ev) => {
      if (ev.event !== 'positions') return;
      const d = JSON.parse(ev.data);
      for (const p of d.items || []) place(p);
      mapEl.dataset.devices = String(markers.size);
    },
  });

  // Drones: where each was last heard, then live.
  try {
    // with nothing else to show, the map opens on the drones
    if (await liveDrones(dronesG, mapEl, signal) && mapEl.dataset.view !== 'consignments' && dronesG.getBounds().isValid()) {
      map.fitBounds(dronesG.getBounds().pad(0.3), { maxZoom: 12, animate: false });
      mapEl.dataset.view = 'drones';
    }
  } catch (err) {
    if (err.name === 'AbortError') return cleanup;
    status.append(errorBox(err, 'Drones could not be loaded'));
  }

  // Alerts: the latest, then live.
  const seen = new Map();
  const officer = me && (me.role === 'officer' || me.role === 'admin');
  const addAlert = (a, fresh) => {
    if (!a || !a.id) return;
    const old = seen.get(a.id);
    const li = alertItem(a, fresh, officer, { replay: () => replay(a), signal });
    if (old) { old.replaceWith(li); } else {
      if (fresh) listEl.prepend(li); else listEl.append(li);
    }
    seen.set(a.id, li);
    while (listEl.children.length > MAX_ALERTS) { const last = listEl.lastElementChild; seen.delete(last.dataset.id); last.remove(); }
    const emptyLi = listEl.querySelector('li.empty');
    if (emptyLi) emptyLi.remove();
    if (fresh && Number.isFinite(a.lat) && Number.isFinite(a.lon)) {
      const pulse = L.circleMarker([a.lat, a.lon], { radius: 12, className: `alert-mark pulse sev-${a.severity}`, weight: 2 }).addTo(devicesG);
      pulse.bindTooltip(alertSummary(a));
      setTimeout(() => pulse.remove(), 15000);
    }
  };
  let lastSeq = 0;
  try {
    const r = await api('/v1/alerts' + qs({ order: 'desc', limit: 50 }), { signal });
    for (const a of r.items || []) addAlert(a, false);
    lastSeq = Math.max(0, ...(r.items || []).map((a) => Number(a.seq) || 0));
    if (!r.items.length) listEl.append(h('li', { class: 'empty' }, 'No alerts yet. New ones appear here as they are raised.'));
  } catch (err) {
    if (err.name === 'AbortError') return cleanup;
    listEl.append(h('li', null, errorBox(err, 'Alerts could not be loaded')));
  }
  stream('/v1/alerts/stream' + qs({ after: lastSeq || undefined }), {
    signal,
    onState: (s, err) => {
      liveEl.className = `live ${s === 'open' ? 'on' : 'off'}`;
      liveEl.textContent = s === 'open' ? 'live' : s === 'retrying' ? 'reconnecting' : 'off';
      if (s === 'closed' && err) listEl.before(errorBox(err, 'Live alerts are off'));
    },
    onEvent: (ev) => {
      if (ev.event === 'alert') {
        const a = JSON.parse(ev.data);
        addAlert(a, true);
        announce(`New ${a.severity} alert: ${alertTitle(a.type)} ${a.container || a.device || droneName(a.drone) || ''}`);
      } else if (ev.event === 'update') { // an alert turned worse (a drone's drop pattern that crossed)
        const a = JSON.parse(ev.data);
        if (seen.has(a.id)) addAlert(a, false);
        announce(`Alert now ${a.severity}: ${alertTitle(a.type)} ${a.container || a.device || droneName(a.drone) || ''}`);
      } else if (ev.event === 'ack') {
        const a = JSON.parse(ev.data);
        const li = a && seen.get(a.id);
        if (li) li.classList.add('acked');
      }
    },
  });

  async function replay(a) {
    stopReplay();
    replayG.clearLayers();
    replayBar.hidden = false;
    if (a.drone) return replayDrone(a);
    if (!a.consignment) {
      fill(replayBar, `This alert’s device ${a.device || ''} is on no consignment, so there is no track to replay.`);
      if (Number.isFinite(a.lat)) { map.setView([a.lat, a.lon], Math.max(map.getZoom(), 9)); alertMark(a).addTo(replayG); }
      return;
    }
    fill(replayBar, loading(`Loading the track of ${a.consignment}…`));
    let fc;
    try { fc = await api(`/v1/consignments/${encodeURIComponent(a.consignment)}/track`, { signal }); } catch (err) {
      if (err.name !== 'AbortError') fill(replayBar, errorBox(err, `The track of ${a.consignment} could not be loaded`));
      return;
    }
    const { paths, times } = drawTrack(replayG, fc);
    const b = replayG.getBounds();
    if (b.isValid()) map.fitBounds(b.pad(0.2), { maxZoom: 12 });
    mapEl.dataset.replay = a.consignment;
    const clock = h('span', { class: 'clock' });
    const again = h('button', { type: 'button', on: { click: () => run() } }, 'Replay again');
    const close = h('button', { type: 'button', on: { click: () => { stopReplay(); replayG.clearLayers(); replayBar.hidden = true; delete mapEl.dataset.replay; } } }, 'Close replay');
    fill(replayBar, h('strong', null, `Replay of ${a.consignment}`), ' ', clock, ' ', again, ' ', close,
      paths.length ? null : h('span', null, ' No position has been recorded for it yet.'));
    const run = () => {
      stopReplay();
      stopReplay = animate(replayG, paths[0], times, 6000, (f, t) => { clock.textContent = t ? when(t) : `${Math.round(f * 100)} %`; });
    };
    if (paths.length) run();
    announce(`Replaying the track of ${a.consignment}`);
  }

  async function replayDrone(a) {
    fill(replayBar, loading(`Loading the flight of ${droneName(a.drone)}…`));
    const clock = h('span', { class: 'clock' });
    try {
      const f = await replayFlight(replayG, map, a.drone, signal, (k, t) => { clock.textContent = t ? when(t) : `${Math.round(k * 100)} %`; });
      stopReplay = f.stop;
    } catch (err) {
      if (err.name !== 'AbortError') fill(replayBar, errorBox(err, `The flight of ${droneName(a.drone)} could not be loaded`));
      return;
    }
    mapEl.dataset.replay = a.drone;
    const close = h('button', { type: 'button', on: { click: () => { stopReplay(); replayG.clearLayers(); replayBar.hidden = true; delete mapEl.dataset.replay; } } }, 'Close replay');
    fill(replayBar, h('strong', null, `Flight of ${droneName(a.drone)}`), ' ', clock, ' ',
      h('a', { href: '#/drones/' + encodeURIComponent(a.drone) }, 'Drone page'), ' ', close);
    announce(`Replaying the flight of ${droneName(a.drone)}`);
  }
  return cleanup;
}

/** Consignments grouped by region (routes whose middles are within 25° of a
 * group's first), the biggest group first: [{cons, bounds}]. */
function regionsOf(cons) {
  const groups = [];
  for (const c of cons) {
    const coords = c.route && c.route.coordinates;
    if (!coords || !coords.length) continue;
    const b = L.latLngBounds(unwrap(coords));
    if (!b.isValid()) continue;
    const m = b.getCenter();
    let g = groups.find((x) => {
      let dl = Math.abs(x.center.lng - m.lng) % 360;
      if (dl > 180) dl = 360 - dl;
      return Math.hypot(dl, x.center.lat - m.lat) < 25;
    });
    if (!g) { g = { center: m, cons: [], bounds: L.latLngBounds(b.getSouthWest(), b.getNorthEast()) }; groups.push(g); }
    g.cons.push(c);
    g.bounds.extend(b);
  }
  return groups.sort((a, b) => b.cons.length - a.cons.length);
}

/** A region in words: its most common origin → destination. */
function routeName(region, zoneName) {
  const n = new Map();
  for (const c of region.cons) {
    const k = `${zoneName(c.origin_zone)} → ${zoneName(c.destination_zone)}`;
    n.set(k, (n.get(k) || 0) + 1);
  }
  return [...n.entries()].sort((a, b) => b[1] - a[1])[0][0];
}

function alertMark(a) {
  return L.circleMarker([a.lat, a.lon], { radius: 9, className: `alert-mark sev-${a.severity}`, weight: 2 }).bindTooltip(alertSummary(a));
}

function deviceTip(p) {
  if (!p) return h('span');
  return h('span', null, h('strong', null, p.device), p.container ? ` · ${p.container}` : '', h('br'),
    p.consignment ? [`consignment ${p.consignment}`, h('br')] : null,
    `${when(p.time)}`, Number.isFinite(p.speed_kmh) ? ` · ${num(p.speed_kmh, 0)} km/h` : '',
    p.seal ? [h('br'), `seal ${p.seal}`] : null, p.door ? ` · door ${p.door}` : '',
    Number.isFinite(p.temp_c) ? ` · ${num(p.temp_c, 1)} °C` : '');
}

function alertItem(a, fresh, officer, { replay, signal }) {
  const li = h('li', { class: ['alert', `alert-${a.severity}`, fresh ? 'new' : null, a.acked_at ? 'acked' : null], 'data-id': a.id, 'data-type': a.type });
  const main = h('button', { type: 'button', class: 'alert-main', on: { click: replay },
    'aria-label': `${a.severity} alert: ${alertTitle(a.type)}, ${a.container || a.device || droneName(a.drone) || ''}, ${when(a.time)}. Replay the ${a.drone ? 'flight' : 'track'}.` },
  h('span', { class: ['sev', `sev-${a.severity}`] }, a.severity), ' ',
  h('span', { class: 'alert-title' }, alertTitle(a.type)),
  h('span', { class: 'alert-where' }, [a.container, a.device, a.consignment, a.drone && `drone ${droneName(a.drone)}`].filter(Boolean).join(' · ')),
  a.detail ? h('span', { class: 'alert-detail' }, alertDetail(a)) : null,
  h('span', { class: 'alert-time', title: when(a.time) }, ago(a.time)));
  li.append(main);
  if (officer && !a.acked_at) {
    const ack = h('button', { type: 'button', class: 'link small', on: { click: async () => {
      ack.disabled = true;
      try {
        await api(`/v1/alerts/${encodeURIComponent(a.id)}/ack`, { method: 'POST', body: {}, signal });
        li.classList.add('acked');
        ack.replaceWith(h('span', { class: 'muted small' }, 'acknowledged'));
      } catch (err) {
        if (err.name !== 'AbortError') li.append(errorBox(err));
        ack.disabled = false;
      }
    } } }, 'Acknowledge');
    li.append(ack);
  } else if (a.acked_at) {
    li.append(h('span', { class: 'muted small' }, 'acknowledged'));
  }
  return li;
}
