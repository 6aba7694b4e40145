// Drones on a map (docs/drones.md): each drone where it was last heard,
// with its heading and height, a dashed line to its pilot, kept live over
// the position stream; a drone's flight drawn and replayed.
import { api, qs, stream } from './api.js';
import { h } from './dom.js';
import { when, num, alertTitle } from './format.js';
import { L, animate } from './track.js';

const HEADING_M = 400; // the heading stroke, in metres ahead of the drone

/** A point `m` metres from [lat, lon] towards `deg` (0 = north). */
function ahead(lat, lon, deg, m) {
  const r = (deg * Math.PI) / 180;
  const dLat = (m * Math.cos(r)) / 111320;
  const dLon = (m * Math.sin(r)) / (111320 * Math.cos((lat * Math.PI) / 180) || 1);
  return [lat + dLat, lon + dLon];
}

export const droneName = (id) => String(id || '').replace(/^mac:/, 'address ');

export function registryText(d) {
  return d.registered === true ? 'registered' : d.registered === false ? 'not registered' : 'not checked (no UAS ID, or no registry loaded)';
}

function droneTip(d) {
  return h('span', null, h('strong', null, droneName(d.uas_id)), h('br'),
    Number.isFinite(d.height_m) ? `${num(d.height_m, 0)} m above ground` : 'height unknown',
    Number.isFinite(d.speed_h_mps) ? ` · ${num(d.speed_h_mps, 1)} m/s` : '',
    Number.isFinite(d.direction_deg) ? ` · heading ${num(d.direction_deg, 0)}°` : '', h('br'),
    d.time || d.last_seen ? when(d.time || d.last_seen) : '',
    d.registered !== undefined ? [h('br'), registryText(d)] : null,
    Number.isFinite(d.operator_lat) ? [h('br'), 'dashed line: to the pilot'] : null);
}

/**
 * Keeps the drones in `group` live: the latest of /v1/drones, then the
 * position stream. Returns the number placed first; el.dataset.drones
 * follows the count. A server without the drones module (404) or a key
 * that may not see them (403) leaves the group empty.
 */
export async function liveDrones(group, el, signal) {
  const drones = new Map();
  const place = (p) => {
    if (!Number.isFinite(p.lat) || !Number.isFinite(p.lon)) return;
    const prev = drones.get(p.uas_id) || {};
    const d = { ...prev, ...p };
    let m = drones.get(p.uas_id)?.layers;
    if (!m) {
      const dot = L.circleMarker([d.lat, d.lon], { radius: 6, className: 'drone', weight: 2 });
      dot.on('add', () => { const e = dot.getElement(); if (e) e.dataset.drone = d.uas_id; });
      const head = L.polyline([[d.lat, d.lon], [d.lat, d.lon]], { className: 'drone-heading', weight: 2, interactive: false });
      const pilotLine = L.polyline([], { className: 'pilot-line', weight: 1.5, dashArray: '4 4', interactive: false });
      const pilot = L.circleMarker([0, 0], { radius: 3, className: 'pilot', weight: 1 });
      m = { dot, head, pilotLine, pilot };
      for (const l of [pilotLine, head, dot]) l.addTo(group);
    }
    d.layers = m;
    drones.set(d.uas_id, d);
    m.dot.setLatLng([d.lat, d.lon]);
    m.dot.unbindTooltip().bindTooltip(droneTip(d));
    m.head.setLatLngs(Number.isFinite(d.direction_deg) ? [[d.lat, d.lon], ahead(d.lat, d.lon, d.direction_deg, HEADING_M)] : []);
    if (Number.isFinite(d.operator_lat) && Number.isFinite(d.operator_lon)) {
      m.pilotLine.setLatLngs([[d.lat, d.lon], [d.operator_lat, d.operator_lon]]);
      m.pilot.setLatLng([d.operator_lat, d.operator_lon]).bindTooltip(`Pilot of ${droneName(d.uas_id)}`);
      if (!group.hasLayer(m.pilot)) m.pilot.addTo(group);
    }
    el.dataset.drones = String(drones.size);
  };
  try {
    const r = await api('/v1/drones' + qs({ limit: 200 }), { signal });
    for (const d of r.items || []) place(d);
  } catch (err) {
    if (err.name === 'AbortError' || err.status === 404 || err.status === 403) return 0;
    throw err;
  }
  el.dataset.drones = String(drones.size);
  stream('/v1/drones/stream', {
    signal,
    onEvent: (ev) => { if (ev.event === 'position') place(JSON.parse(ev.data)); },
  });
  return drones.size;
}

/**
 * Draws a drone's flight (/v1/drones/{id}/track) into group: the path, the
 * pilot's positions, the alerts. Returns {path, times, alerts}.
 */
export function drawFlight(group, fc) {
  let path = [], times = null;
  const alerts = [];
  for (const f of fc.features || []) {
    const p = f.properties || {};
    if (!f.geometry) continue;
    if (p.kind === 'flight') {
      const c = f.geometry.type === 'LineString' ? f.geometry.coordinates : [f.geometry.coordinates];
      path = c.map(([lon, lat]) => [lat, lon]);
      times = p.times;
      L.polyline(path, { className: 'flight', weight: 3 }).bindTooltip(`Flight of ${droneName(p.uas_id)}`, { sticky: true }).addTo(group);
    } else if (p.kind === 'pilot') {
      const [lon, lat] = f.geometry.coordinates;
      L.circleMarker([lat, lon], { radius: 3, className: 'pilot', weight: 1 }).bindTooltip(`Pilot · ${when(p.time)}`).addTo(group);
    } else if (p.kind === 'alert') {
      const [lon, lat] = f.geometry.coordinates;
      alerts.push(p);
      L.circleMarker([lat, lon], { radius: 9, className: `alert-mark sev-${p.severity}`, weight: 2 })
        .bindTooltip(h('span', null, h('strong', null, alertTitle(p.type)), h('br'), `${p.severity} · ${when(p.time)}`)).addTo(group);
    }
  }
  return { path, times, alerts };
}

/** Loads and replays a drone's flight in group; returns a stop function. */
export async function replayFlight(group, map, id, signal, onStep) {
  const fc = await api(`/v1/drones/${encodeURIComponent(id)}/track`, { signal });
  group.clearLayers();
  const f = drawFlight(group, fc);
  const b = group.getBounds();
  if (b.isValid()) map.fitBounds(b.pad(0.2), { maxZoom: 15 });
  return { ...f, stop: f.path.length ? animate(group, f.path, f.times, 6000, onStep) : () => {} };
}
