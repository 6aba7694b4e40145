// Numbers, dates and the risk engine's vocabulary in words.
import { h } from './dom.js';

const nf = new Intl.NumberFormat('en');
export const num = (v, digits) => (v === null || v === undefined || !Number.isFinite(Number(v)) ? '—'
  : digits === undefined ? nf.format(v)
    : new Intl.NumberFormat('en', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v));
export const pct = (v, digits = 1) => (v === null || v === undefined || !Number.isFinite(Number(v)) ? '—'
  : `${num(v * 100, digits)}\u00a0%`);
export const money = (v, cur) => (v === null || v === undefined ? '—' : `${num(v, Number.isInteger(v) ? 0 : 2)} ${cur || ''}`.trim());

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

export function ago(iso) {
  const t = new Date(iso).getTime();
  if (!Number.isFinite(t)) return String(iso ?? '—');
  const s = Math.round((Date.now() - t) / 1000);
  if (Math.abs(s) < 60) return s <= 1 ? 'just now' : `${s} s ago`;
  if (Math.abs(s) < 3600) return `${Math.round(s / 60)} min ago`;
  if (Math.abs(s) < 86400) return `${Math.round(s / 3600)} h ago`;
  return when(iso);
}

export function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}

export const LANES = ['red', 'yellow', 'green'];
const LANE_WORDS = { red: 'Red — physical inspection', yellow: 'Yellow — document check', green: 'Green — release' };

export function laneBadge(lane) {
  const l = LANES.includes(lane) ? lane : 'none';
  return h('span', { class: ['lane', `lane-${l}`], title: LANE_WORDS[l] || 'Not assessed' }, l === 'none' ? 'not assessed' : l);
}

const STATUS_WORDS = {
  submitted: 'Submitted: waiting for a decision', held: 'Held for examination',
  released: 'Released (final)', refused: 'Refused (final)', historical: 'Loaded history (final)',
};

export function statusBadge(status) {
  const s = String(status ?? '');
  const known = Object.hasOwn(STATUS_WORDS, s);
  return h('span', { class: ['status', known ? `status-${s}` : null], title: STATUS_WORDS[s] || s }, s || '—');
}

export function sevBadge(sev) {
  const s = ['critical', 'warning', 'info'].includes(sev) ? sev : 'info';
  return h('span', { class: ['sev', `sev-${s}`] }, String(sev ?? 'info'));
}

const FEATURES = {
  same_declarations: 'Identical earlier declarations',
  same_goods_value: 'Same goods at the same value',
  route: 'Goods on this route',
  nearest_route: 'Most similar declarations on the route',
  nearest_hs6: 'Most similar declarations of these goods',
  hs6_origin: 'These goods from this origin',
  hs6: 'These goods (HS subheading)',
  hs4: 'HS heading',
  hs2: 'HS chapter',
  unit_value: 'Declared unit value',
  value: 'Declared value',
  mass: 'Declared mass',
  tax_rate: 'Tax rate',
  importer: 'Importer’s record',
  declarant: 'Declarant’s record',
  seller: 'Seller’s record',
  office: 'Customs office',
  origin: 'Country of origin',
  departure: 'Country of departure',
  origin_is_departure: 'Origin and departure',
  country_unknown: 'Unknown country',
  hs_unknown: 'Unknown HS code',
  transport_mode: 'Mode of transport',
  courier: 'Courier',
  baseline: 'No distinguishing feature',
  explore: 'Random selection for learning',
  random_selection: 'Random selection',
  no_model: 'No model',
  hs_mismatch: 'Description does not match the HS code',
  'rule.country_unknown': 'Rule: unknown country',
};

const ALERTS = {
  zone_enter: 'Entered a zone', zone_exit: 'Left a zone', corridor_deviation: 'Left its corridor',
  unscheduled_stop: 'Unscheduled stop', seal_opened: 'Seal opened', seal_tampered: 'Seal tampered',
  door_open: 'Door opened', temperature: 'Temperature out of range', signal_loss: 'Signal lost',
  impossible_jump: 'Impossible jump (spoofing?)', overdue: 'Arrival overdue',
  drone_border_crossing: 'Drone crossed the border', drone_restricted_zone: 'Drone in a restricted zone',
  drone_drop_pattern: 'Drone drop pattern', drone_unregistered: 'Unregistered drone', drone_spoofing: 'Drone spoofing',
  ledger_fork: 'Ledger fork: a different root cosigned',
};

/** An alert type in words; an unknown one (a module's new type) as a phrase. */
export function alertTitle(type) {
  if (ALERTS[type]) return ALERTS[type];
  const s = String(type ?? 'alert').replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
/** Alerts most severe first, then newest first. */
export function bySeverityThenTime(a, b) {
  const s = (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3);
  return s || String(b.time).localeCompare(String(a.time));
}

const FINDINGS = {
  origin_mismatch: 'Origin differs from the certificate of origin',
  certificate_unknown: 'Certificate of origin not on the ledger',
  revoked_certificate_used: 'A revoked certificate of origin is cited',
  containers_not_on_bl: 'Containers missing from the bill of lading',
  payment_below_duty: 'Payments below the duty assessed',
  suspended_aeo_used: 'A suspended or revoked AEO is named',
  mirror_value_mismatch: 'Export and import values differ (mirror trade)',
};

/** A ledger finding's rule in words. */
export function findingTitle(rule) {
  if (FINDINGS[rule]) return FINDINGS[rule];
  const s = String(rule ?? 'finding').replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const XRAY_RULES = {
  empty_check_failed: 'declared empty, but not empty',
  goods_missing: 'goods declared, container empty',
  mass_mismatch: 'observed mass differs from the declared',
  density_mismatch: 'density does not fit the declared goods',
  container_not_found: 'container not found in the image',
  dense_object: 'dense object in the load',
  organic_mass: 'organic mass',
  false_wall: 'false wall',
  anomaly: 'anomaly in the load',
};

export function featureTitle(f) {
  if (typeof f !== 'string') return 'Reason';
  if (FEATURES[f]) return FEATURES[f];
  if (f.startsWith('xray.')) return 'X-ray: ' + (XRAY_RULES[f.slice(5)] || f.slice(5).replace(/_/g, ' '));
  if (f.startsWith('ledger.')) return 'Ledger finding: ' + findingTitle(f.slice(7)).toLowerCase();
  if (f.startsWith('track.') || f.startsWith('alert')) return 'Tracking alert: ' + alertTitle(f.replace(/^[a-z]+\./, '')).toLowerCase();
  return f.replace(/[._]/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

/** The server's detail as a sentence: capital first letter, final full stop. */
export function sentence(text) {
  const s = String(text ?? '').trim();
  if (!s) return '';
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?…)]$/.test(t) ? t : t + '.';
}

export function shortId(id) {
  const s = String(id ?? '');
  return s.length > 12 ? s.slice(0, 6) + '…' + s.slice(-4) : s;
}

const km = (m) => (m >= 1000 ? `${num(m / 1000, 1)} km` : `${num(Math.round(m))} m`);
const mins = (s) => (s >= 3600 ? `${num(s / 3600, 1)} h` : s >= 60 ? `${num(Math.round(s / 60))} min` : `${num(Math.round(s))} s`);

/** An alert's detail (docs/track.md, Rules) in words. */
export function alertDetail(a) {
  const d = a && a.detail;
  if (!d || typeof d !== 'object') return typeof d === 'string' ? d : '';
  const n = (v) => Number.isFinite(Number(v));
  const zones = Array.isArray(d.zones) && d.zones.length ? ` in ${d.zones.map((z) => (typeof z === 'string' ? z : z.name || z.id)).join(', ')}` : '';
  switch (a.type) {
    case 'zone_enter':
    case 'zone_exit':
      return `${a.type === 'zone_enter' ? 'Entered' : 'Left'} ${d.zone_name || d.zone || 'a zone'}${d.zone_kind ? ` (${String(d.zone_kind).replace(/-/g, ' ')})` : ''}.`;
    case 'corridor_deviation':
      return `${n(d.distance_m) ? km(d.distance_m) : 'Some distance'} outside its ${n(d.corridor_m) ? km(d.corridor_m) : ''} corridor${n(d.outside_s) ? ` for ${mins(d.outside_s)}` : ''}.`;
    case 'unscheduled_stop':
      return `Stood still${n(d.duration_s) ? ` for ${mins(d.duration_s)}` : ''}${n(d.radius_m) ? ` within ${km(d.radius_m)}` : ''}, outside any allowed zone.`;
    case 'seal_opened':
    case 'seal_tampered':
      return `Seal ${d.seal || (a.type === 'seal_opened' ? 'open' : 'tampered')}${d.previous ? ` (was ${d.previous})` : ''}${zones}.`;
    case 'door_open':
      return `Door ${d.door || 'open'}${d.previous ? ` (was ${d.previous})` : ''}${zones}.`;
    case 'temperature':
      return `${n(d.temp_c) ? `${num(d.temp_c, 1)} °C` : 'Temperature'} outside the declared ${n(d.min_c) ? num(d.min_c, 1) : '…'} to ${n(d.max_c) ? num(d.max_c, 1) : '…'} °C.`;
    case 'signal_loss':
      return `No report${n(d.silent_s) ? ` for ${mins(d.silent_s)}` : ''}${d.last_report ? ` since ${when(d.last_report)}` : ''}.`;
    case 'impossible_jump':
      return `Moved ${n(d.distance_m) ? km(d.distance_m) : 'far'}${n(d.seconds) ? ` in ${mins(d.seconds)}` : ''}${n(d.speed_kmh) ? ` (${num(Math.round(d.speed_kmh))} km/h)` : ''}: a spoofed or moved tracker?`;
    case 'ledger_fork':
      return `${d.org || 'Another organisation'} cosigned root ${String(d.root_theirs || '').slice(0, 12)}… for tree size ${n(d.tree_size) ? num(d.tree_size) : '?'} of ${d.origin || 'the ledger'}; this node has ${String(d.root_ours || '').slice(0, 12)}… and stopped cosigning. Both signed notes are in the alert.`;
    case 'overdue':
      return `Expected by ${when(d.expected_arrival)}${n(d.grace_s) ? ` (+${mins(d.grace_s)} grace)` : ''}; not arrived.`;
    case 'drone_border_crossing':
      return `Flew ${d.direction === 'out' ? 'out of' : 'into'} ${d.zone || 'the territory'}${n(d.height_m) ? ` at ${num(d.height_m, 0)} m` : ''}.`;
    case 'drone_restricted_zone':
      return `Over ${d.zone || 'a zone'}${d.zone_kind ? ` (${String(d.zone_kind).replace(/-/g, ' ')})` : ''}.`;
    case 'drone_drop_pattern':
      return `Hovered${n(d.hover_s) ? ` ${mins(d.hover_s)}` : ''}${n(d.height_m) ? ` at ${num(d.height_m, 0)} m` : ''}${n(d.distance_to_border_m) ? `, ${km(d.distance_to_border_m)} from the border` : ''}.`;
    case 'drone_unregistered':
      return `${d.uas_id || 'The drone'}${d.operator_id ? ` (operator ${d.operator_id})` : ''} is not in the registry.`;
    case 'drone_spoofing':
      return n(d.pilot_jump_m) ? `The pilot moved ${km(d.pilot_jump_m)}${n(d.seconds) ? ` in ${mins(d.seconds)}` : ''}.`
        : `Implied speed ${n(d.speed_mps) ? `${num(Math.round(d.speed_mps))} m/s` : 'impossible'}${n(d.seconds) ? ` over ${mins(d.seconds)}` : ''}.`;
    default:
      return Object.entries(d).map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('; ');
  }
}
