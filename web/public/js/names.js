// Codes in words: customs offices, modes of transport, the fields an API
// error points at (a JSON Pointer becomes "Item 2, HS code"). docs/web.md
// lists the tables; a code not in them is shown as it is, with its kind.

/** Customs offices by code: UN/LOCODEs of the demo and the tracking demo's
 * places. KCS office numbers (the synthetic data's "40") are anonymised in
 * the data set, so they stay numbers. */
export const OFFICES = {
  KRPUS: 'Busan', KRINC: 'Incheon port', KRICN: 'Incheon airport', KRKAN: 'Gwangyang',
  KRSEL: 'Seoul', KRUSN: 'Ulsan', KRPTK: 'Pyeongtaek', KRUIW: 'Uiwang inland depot',
  KRTJN: 'Daejeon', KRTAE: 'Daegu',
  KEMBA: 'Mombasa', KENBO: 'Nairobi', UGKLA: 'Kampala', UGMAL: 'Malaba', RWKGL: 'Kigali',
  FJSUV: 'Suva', FJTVU: 'Taveuni',
  CNSHA: 'Shanghai', VNSGN: 'Ho Chi Minh City', NLRTM: 'Rotterdam', DEHAM: 'Hamburg',
};

/** Modes of transport, UN/ECE Recommendation 19: one digit, or two digits
 * whose first is the mode (10 sea, 40 air). */
export const TRANSPORT_MODES = {
  0: 'Not specified', 1: 'Sea', 2: 'Rail', 3: 'Road', 4: 'Air', 5: 'Post',
  6: 'Multimodal', 7: 'Fixed installation (pipeline, power line)', 8: 'Inland waterway',
  9: 'Own propulsion',
};

/** "Busan (KRPUS)", "office 40". */
export function officeName(code) {
  if (code === null || code === undefined || code === '') return '—';
  const s = String(code);
  return OFFICES[s] ? `${OFFICES[s]} (${s})` : /^\d+$/.test(s) ? `office ${s}` : s;
}

/** "Sea (10)", "code X9" for what Recommendation 19 does not know. */
export function transportModeName(code) {
  if (code === null || code === undefined || code === '') return '—';
  const s = String(code);
  const mode = /^\d$/.test(s) ? TRANSPORT_MODES[s] : /^\d\d$/.test(s) ? TRANSPORT_MODES[s[0]] : null;
  return mode ? `${mode} (${s})` : `code ${s}`;
}

const FIELDS = {
  decision: 'Decision', reason: 'Reason', result: 'Outcome', critical: 'Critical fraud',
  revenue_recovered: 'Revenue recovered', notes: 'Notes', note: 'Note',
  reference: 'Reference', type: 'Type', date: 'Date', office: 'Office',
  declarant_id: 'Declarant', importer_id: 'Importer', exporter_id: 'Exporter', seller_id: 'Seller',
  courier_id: 'Courier', country_of_departure: 'Country of departure', transport_mode: 'Mode of transport',
  procedure: 'Procedure', containers: 'Containers', transport_document: 'Transport document',
  number: 'number', items: 'Items', hs_code: 'HS code', description: 'description',
  country_of_origin: 'country of origin', origin_indicator: 'origin indicator', quantity: 'quantity',
  unit: 'unit', net_mass_kg: 'net mass', gross_mass_kg: 'gross mass', value: 'value',
  currency: 'currency', tax_rate: 'tax rate', tax_type: 'tax type',
  status: 'Status', lane: 'Lane', org: 'Organisation', inspected: 'Inspected', limit: 'Page size',
  cursor: 'Page', since: 'Since', q: 'Description',
};

/** A JSON Pointer in words: "/items/1/hs_code" → "Item 2, HS code"; "" → "". */
export function fieldName(pointer) {
  if (!pointer) return '';
  const parts = String(pointer).split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const words = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (/^\d+$/.test(p)) {
      const prev = parts[i - 1];
      if (prev === 'items') words[words.length - 1] = `Item ${Number(p) + 1}`;
      else words.push(`number ${Number(p) + 1}`);
    } else {
      words.push(FIELDS[p] || p.replace(/_/g, ' '));
    }
  }
  const s = words.join(', ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** One {path, message} problem of an API error as a sentence. */
export function problemSentence(d) {
  // the API's own pointers to its routes mean nothing on a page: "(POST /v1/…)"
  const msg = String((d && d.message) || '').replace(/\s*\((GET|POST|PUT|PATCH|DELETE) \/[^)]*\)/g, '').trim();
  const field = fieldName(d && d.path);
  const text = msg.charAt(0).toUpperCase() + msg.slice(1);
  const s = /[.!?]$/.test(text) ? text : text + '.';
  return field ? `${field}: ${s.charAt(0).toLowerCase()}${s.slice(1)}` : s;
}
