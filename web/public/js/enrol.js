// Enrolment on the Identify page: the probe chosen there (a photo, a camera
// frame or a fingerprint template) becomes a template of a new subject, or,
// when the officer says so, of an existing one. Faces are sent as their
// descriptor only, as for a search.
import { api } from './api.js';
import { h, fill, errorBox, announce } from './dom.js';
import { when } from './format.js';

const KINDS = ['watchlist', 'operator', 'broker', 'forwarder', 'logistics'];
const FINGERS = ['unknown', 'right_thumb', 'right_index', 'right_middle', 'right_ring', 'right_little',
  'left_thumb', 'left_index', 'left_middle', 'left_ring', 'left_little'];

/**
 * The enrolment form. opts.probe() gives the probe of the page ({kind:'face',
 * canvas} | {kind:'finger', bytes, name} | null), opts.descriptor(canvas,
 * report) its face descriptor, opts.base64(bytes) the template's base64,
 * opts.watchlist() the watchlist chosen for searches (the default here), and
 * opts.enrolled(watchlist) is called after each enrolment.
 */
export function enrolForm(opts) {
  const status = h('div', { class: 'form-status', role: 'status' });
  const report = (t) => { fill(status, h('p', { class: 'loading' }, t)); };
  const input = (id, attrs = {}) => h('input', { id, name: id, autocomplete: 'off', ...attrs });
  const id = input('enrol-id', { required: true, maxlength: '64', pattern: '[A-Za-z0-9._:\\-]{1,64}', placeholder: 'WL-2026-0042' });
  const name = input('enrol-name', { maxlength: '200' });
  const kind = h('select', { id: 'enrol-kind', name: 'enrol-kind' }, KINDS.map((k) => h('option', { value: k }, k)));
  const watchlist = input('enrol-watchlist', { maxlength: '64', placeholder: 'interpol-shared' });
  const agency = input('enrol-agency', { maxlength: '200', placeholder: 'Immigration service' });
  const basis = input('enrol-basis', { maxlength: '200', placeholder: 'MoU 2024/7, art. 5' });
  const expires = input('enrol-expires', { type: 'date' });
  const finger = h('select', { id: 'enrol-finger', name: 'enrol-finger' }, FINGERS.map((f) => h('option', { value: f }, f.replace(/_/g, ' '))));
  const submit = h('button', { type: 'submit' }, 'Enrol this probe');
  const field = (label, el, hint) => h('div', { class: 'field' }, h('label', { for: el.id }, label), el,
    hint ? h('span', { class: 'hint' }, hint) : null);

  const existing = h('input', { id: 'enrol-existing', type: 'checkbox', on: { change: () => { details.disabled = details.hidden = existing.checked; } } });
  const details = h('fieldset', { class: 'probe enrol-details' }, h('legend', null, 'The new subject'),
    field('Name', name), field('Kind', kind),
    field('Watchlist', watchlist, 'Empty: the watchlist chosen above (operators for the verified kinds if none).'),
    field('Source agency', agency), field('Legal basis', basis, 'The data-sharing agreement this data is held under.'),
    field('Expires', expires, 'Valid through this day; erased after it.'));

  /** The subject the template goes to: created, or (asked for) read. */
  async function subject() {
    const sid = id.value.trim();
    if (existing.checked) return api(`/v1/biometrics/subjects/${encodeURIComponent(sid)}`);
    const body = { id: sid, kind: kind.value };
    const wl = watchlist.value.trim() || opts.watchlist();
    if (wl) body.watchlist = wl;
    for (const [k, el] of [['name', name], ['source_agency', agency], ['legal_basis', basis], ['expires', expires]]) {
      if (el.value.trim()) body[k] = el.value.trim();
    }
    return api('/v1/biometrics/subjects', { method: 'POST', body });
  }

  const form = h('form', { class: 'enrol-form', 'aria-label': 'Enrol', on: { submit: async (e) => {
    e.preventDefault();
    const probe = opts.probe();
    if (!probe) { fill(status, errorBox({ message: 'Choose a photo, take a camera frame or upload a fingerprint template above first.' })); return; }
    if (!id.value.trim()) { fill(status, errorBox({ message: 'Give the subject’s id.' })); return; }
    submit.disabled = true;
    try {
      // the descriptor first: a photo without a face creates no subject
      const tpl = probe.kind === 'face'
        ? { model: 'faceapi-128', vector: await opts.descriptor(probe.canvas, report) }
        : { format: 'auto', data_base64: opts.base64(probe.bytes), finger: finger.value };
      report('Enrolling…');
      const s = await subject();
      const t = await api(`/v1/biometrics/subjects/${encodeURIComponent(s.id)}/templates`, { method: 'POST', body: tpl });
      const what = probe.kind === 'face' ? 'Face' : `Fingerprint (${finger.value.replace(/_/g, ' ')})`;
      fill(status, h('p', null, h('strong', null, `${what} enrolled for `, h('a', { href: `./#/biometrics/${encodeURIComponent(s.id)}` }, s.id)),
        ` — ${existing.checked ? 'an existing' : 'a new'} subject in watchlist ${s.watchlist || '(none)'}`,
        s.expires ? `, erased at ${when(s.expires)}.` : ', without expiry.',
        (t.warnings || []).length ? h('span', { class: 'muted' }, ` Accepted with warnings: ${t.warnings.map((w) => w.message).join('; ')}.`) : null));
      announce(`${what} enrolled for ${s.id}`);
      opts.enrolled(s.watchlist);
    } catch (err) {
      fill(status, errorBox(err, 'The enrolment failed'));
    } finally {
      submit.disabled = false;
    }
  } } },
  h('p', { class: 'hint' }, 'Uses the probe chosen above.'),
  field('Subject id', id),
  h('div', { class: 'field' }, h('label', { class: 'check' }, existing, ' Add to an existing subject (its details stay as they are)')),
  details, field('Finger (templates only)', finger), submit, status);
  return form;
}
