// Maps: country borders drawn offline (Natural Earth from the world-atlas
// package, decoded with topojson-client, drawn with Leaflet — no tile
// server), zones and corridors, positions, alerts and track replays from the
// tracking API (docs/track.md).
import * as L from '../vendor/leaflet.js';
import { feature } from '../vendor/topojson/index.js';
import { api, qs } from './api.js';
import { h, fill, empty, errorBox } from './dom.js';
import { when, alertTitle, alertDetail, sevBadge, num, bySeverityThenTime } from './format.js';

let countries = null;
function loadCountries() {
  countries ??= fetch('vendor/countries-50m.json', { cache: 'force-cache' }).then((r) => {
    if (!r.ok) throw new Error('the country borders (vendor/countries-50m.json) are missing: run scripts/install-deps and rebuild');
    return r.json();
  }).then((t) => unwrapRings(feature(t, t.objects.countries)));
  countries.catch(() => { countries = null; });
  return countries;
}

/** Longitudes of a line made continuous across the antimeridian. */
export function unwrap(coords) {
  const out = [];
  let prev = null;
  for (const [lon0, lat] of coords) {
    let lon = lon0;
    if (prev !== null) { while (lon - prev > 180) lon -= 360; while (prev - lon > 180) lon += 360; }
    out.push([lat, lon]);
    prev = lon;
  }
  return out;
}

/**
 * Natural Earth cuts the polygons that cross the antimeridian (Fiji,
 * Chukotka) so that a ring jumps from 180 to -180: drawn as is, that edge
 * is a line across the whole world. Such rings are made continuous (their
 * longitudes run past 180); rings around a pole (Antarctica), which cannot
 * be, are kept as they are.
 */
function unwrapRings(fc) {
  const fix = (ring) => {
    if (!ring.some((p, i) => i > 0 && Math.abs(p[0] - ring[i - 1][0]) > 180)) return ring;
    const u = unwrap(ring).map(([lat, lon]) => [lon, lat]);
    return Math.abs(u[u.length - 1][0] - u[0][0]) > 1 ? ring : u;
  };
  for (const f of fc.features) {
    const g = f.geometry;
    if (!g) continue;
    if (g.type === 'Polygon') g.coordinates = g.coordinates.map(fix);
    else if (g.type === 'MultiPolygon') g.coordinates = g.coordinates.map((poly) => poly.map(fix));
  }
  return fc;
}

/** The rings and lines of a GeoJSON geometry as one list of coordinate lists. */
function lines(geom) {
  if (!geom) return [];
  switch (geom.type) {
    case 'LineString': return [geom.coordinates];
    case 'MultiLineString': return [geom.coordinates.flat()];
    case 'Polygon': return geom.coordinates;
    case 'MultiPolygon': return geom.coordinates.flat();
    default: return [];
  }
}

/**
 * A Leaflet map in el with the world's borders. Returns {map, borders}
 * where borders resolves once the countries are drawn (or rejects with a
 * sentence if the data is missing).
 */
export function baseMap(el, { view = [[-40, -30], [60, 160]] } = {}) {
  const map = L.map(el, { attributionControl: false, zoomSnap: 0.25, minZoom: 1, maxZoom: 15, worldCopyJump: false, keyboard: true });
  L.control.attribution({ prefix: false }).addAttribution('Borders: Natural Earth (world-atlas)').addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  map.fitBounds(view);
  map.createPane('borders').style.zIndex = 250;
  const borders = loadCountries().then((fc) => {
    const style = { pane: 'borders', interactive: false, className: 'country', weight: 0.7, color: '#8d8a80', fillColor: '#efece4', fillOpacity: 1 };
    L.geoJSON(fc, style).addTo(map);
    // Countries reaching the antimeridian are drawn again one world east and
    // west, so that tracks across it (unwrapped) have land on both sides.
    const edge = fc.features.filter((f) => lines(f.geometry).some((ring) => ring.some(([lon]) => Math.abs(lon) > 170)));
    for (const shift of [360, -360]) {
      L.geoJSON({ type: 'FeatureCollection', features: edge },
        { ...style, className: 'country country-copy', coordsToLatLng: (c) => L.latLng(c[1], c[0] + shift) }).addTo(map);
    }
    el.dataset.borders = String(fc.features.length);
    return fc.features.length;
  });
  return { map, borders };
}

export function zoneLayer(zones) {
  const group = L.featureGroup();
  for (const z of zones) {
    if (!z.geometry) continue;
    const kind = /^[a-z-]+$/.test(z.kind || '') ? z.kind : 'other';
    const layer = L.geoJSON(z.geometry, { className: `zone zone-${kind}`, weight: 1.5 });
    layer.bindTooltip(h('span', null, h('strong', null, z.name || z.id), h('br'), `${kind.replace(/-/g, ' ')} · ${z.id}`), { sticky: true });
    layer.addTo(group);
  }
  return group;
}

export async function allPages(path, params, signal, max = 5000) {
  const items = [];
  let cursor;
  do {
    const r = await api(path + qs({ ...params, cursor }), { signal });
    items.push(...(r.items || []));
    cursor = r.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

function alertIcon(a) {
  return L.circleMarker([a.lat, a.lon], { radius: 8, className: `alert-mark sev-${a.severity}`, weight: 2 });
}

export function alertSummary(a) {
  return h('span', null, h('strong', null, alertTitle(a.type)), h('br'),
    [a.container, a.device, a.consignment].filter(Boolean).join(' · '), h('br'), when(a.time),
    a.detail ? [h('br'), alertDetail(a)] : null);
}

/**
 * Draws a consignment's replay (GeoJSON FeatureCollection from
 * /v1/consignments/{id}/track) into group; returns {bounds, paths:[[latlng…]], times}.
 */
export function drawTrack(group, fc) {
  const paths = [];
  let times = null;
  for (const f of fc.features || []) {
    const p = f.properties || {};
    if (!f.geometry) continue;
    if (p.kind === 'route') {
      L.polyline(unwrap(lines(f.geometry)[0] || []), { className: 'route', weight: 2, dashArray: '6 6' }).addTo(group);
    } else if (p.kind === 'path') {
      const ll = unwrap(lines(f.geometry)[0] || []);
      paths.push(ll);
      if (!times && Array.isArray(p.times) && p.times.length === ll.length) times = p.times;
      L.polyline(ll, { className: 'path', weight: 3 })
        .bindTooltip(h('span', null, `Track of ${p.device}`, p.container ? ` (${p.container})` : '', h('br'), `${when(p.from)} → ${when(p.to)}`), { sticky: true })
        .addTo(group);
    } else if (p.kind === 'stop' && f.geometry.type === 'Point') {
      const [lon, lat] = f.geometry.coordinates;
      L.circleMarker([lat, lon], { radius: 5, className: 'stop' })
        .bindTooltip(h('span', null, `Stop of ${num(Math.round((p.duration_s || 0) / 60))} min`, h('br'), when(p.from))).addTo(group);
    } else if (p.kind === 'alert' && f.geometry.type === 'Point' && p.alert) {
      const [lon, lat] = f.geometry.coordinates;
      alertIcon({ ...p.alert, lat, lon }).bindTooltip(alertSummary(p.alert)).addTo(group);
    }
  }
  // Alerts drawn near an unwrapped path belong on its side of the antimeridian.
  const ref = paths[0] && paths[0][0];
  if (ref) {
    group.eachLayer((l) => {
      if (l instanceof L.CircleMarker) {
        const ll = l.getLatLng();
        let lon = ll.lng;
        while (lon - ref[1] > 180) lon -= 360;
        while (ref[1] - lon > 180) lon += 360;
        if (lon !== ll.lng) l.setLatLng([ll.lat, lon]);
      }
    });
  }
  return { paths, times };
}

/** Moves a marker along the path over `ms`; returns a stop function. */
export function animate(group, path, times, ms, onStep) {
  if (!path || path.length < 1) return () => {};
  const marker = L.circleMarker(path[0], { radius: 7, className: 'replay-mark', weight: 3 }).addTo(group);
  const cum = [0];
  for (let i = 1; i < path.length; i++) {
    const a = path[i - 1], b = path[i];
    cum.push(cum[i - 1] + Math.hypot(b[0] - a[0], b[1] - a[1]));
  }
  const total = cum[cum.length - 1] || 1;
  let raf = 0, start = 0, stopped = false;
  const frame = (t) => {
    if (stopped) return;
    if (!start) start = t;
    const f = Math.min(1, (t - start) / ms);
    const d = f * total;
    let i = 1;
    while (i < cum.length - 1 && cum[i] < d) i++;
    const seg = cum[i] - cum[i - 1] || 1;
    const k = Math.max(0, Math.min(1, (d - cum[i - 1]) / seg));
    const a = path[i - 1], b = path[Math.min(i, path.length - 1)];
    marker.setLatLng([a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k]);
    if (onStep) onStep(f, times ? times[k < 0.5 ? i - 1 : Math.min(i, times.length - 1)] : null);
    if (f < 1) raf = requestAnimationFrame(frame);
  };
  raf = requestAnimationFrame(frame);
  return () => { stopped = true; cancelAnimationFrame(raf); };
}

/** The consignments that carry a declaration: named in it, or carrying one of its containers. */
export async function consignmentsOf(decl, signal) {
  const all = await allPages('/v1/consignments', { limit: 1000 }, signal);
  const boxes = new Set(decl.containers || []);
  return all.filter((c) => (c.declarations || []).includes(decl.id) || (c.containers || []).some((x) => boxes.has(x)));
}

/** The map section of the declaration page. */
export async function declarationMap(el, decl, signal) {
  let cons;
  try {
    cons = await consignmentsOf(decl, signal);
  } catch (err) {
    if (err.name === 'AbortError') return null;
    fill(el, err.status === 404 ? empty('This server has no tracking module (its API answered 404).') : errorBox(err, 'The consignments could not be loaded'));
    return null;
  }
  if (!cons.length) {
    fill(el, empty((decl.containers || []).length
      ? `No tracked consignment carries ${decl.containers.length === 1 ? 'its container' : 'its containers'} (${decl.containers.join(', ')}).`
      : 'This declaration lists no containers, and no consignment names it.'));
    return null;
  }
  const mapEl = h('div', { class: 'map small', role: 'region', 'aria-label': 'Map of the declaration’s consignments' });
  const legend = h('div', { class: 'map-legend' });
  const alertsList = h('ul', { class: 'alerts compact' });
  fill(el, mapEl, legend, alertsList);
  const { map, borders } = baseMap(mapEl);
  borders.catch((e) => legend.append(errorBox(e)));
  const group = L.featureGroup().addTo(map);
  const alerts = [];
  let any = false;
  for (const c of cons) {
    let fc;
    try { fc = await api(`/v1/consignments/${encodeURIComponent(c.id)}/track`, { signal }); } catch (err) {
      if (err.name === 'AbortError') return () => map.remove();
      legend.append(errorBox(err, `Consignment ${c.id}`));
      continue;
    }
    const { paths } = drawTrack(group, fc);
    any = any || paths.length > 0;
    for (const f of fc.features || []) if (f.properties && f.properties.kind === 'alert') alerts.push(f.properties.alert);
  }
  const b = group.getBounds();
  if (b.isValid()) map.fitBounds(b.pad(0.15), { maxZoom: 12 });
  legend.append(h('p', null, `${cons.length === 1 ? 'Consignment' : 'Consignments'} ${cons.map((c) => c.id).join(', ')}: `,
    any ? 'the solid line is the recorded track, the dashed line the declared route.' : 'no position has been recorded yet; the dashed line is the declared route.'));
  if (alerts.length) {
    alerts.sort(bySeverityThenTime); // the most severe first, as on the overview
    fill(alertsList, alerts.map((a) => h('li', null, sevBadge(a.severity), ' ', alertSummary(a))));
  } else {
    fill(alertsList, h('li', { class: 'empty' }, 'No alert on these consignments.'));
  }
  return () => map.remove();
}

export { L };
