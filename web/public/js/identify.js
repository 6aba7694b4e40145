// The Identify page (identify.html): a photo, a camera frame or a
// fingerprint template → 1:N search in a watchlist → candidates with their
// source agency and legal basis; or the same probe enrolled as a subject's
// template (enrol.js). Faces become a 128-d descriptor here, in the
// browser (face-api, models served by this server); the image never leaves
// the page. Every search is audited on the server with its purpose.
import { api, getToken } from './api.js';
import { h, fill, errorBox, announce, card } from './dom.js';
import { enrolForm } from './enrol.js';
import { watchlistSummary } from './watchlists.js';

const MODELS = 'vendor/face-api-model';
const SAMPLES = ['sample1.jpg', 'sample2.jpg', 'sample3.jpg', 'sample4.jpg', 'sample5.jpg', 'sample6.jpg'];
const main = document.getElementById('main');
const who = document.getElementById('who');

let faceapi = null; // loaded on first use: 1.3 MB of script and 6.8 MB of weights
async function loadFaceApi(report) {
  if (faceapi) return faceapi;
  report('Loading the face models (once per visit)…');
  const mod = await import('../vendor/face-api.js');
  const tf = mod.tf;
  // WebGL on a real GPU; a software one (SwiftShader, llvmpipe) is slower
  // than TensorFlow.js's own CPU backend, which gives the same descriptor
  let gpu = false;
  try {
    const gl = document.createElement('canvas').getContext('webgl2') || document.createElement('canvas').getContext('webgl');
    const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
    gpu = !!gl && !/swiftshader|llvmpipe|software/i.test(renderer);
  } catch { gpu = false; }
  try { if (!gpu || !(await tf.setBackend('webgl'))) throw new Error('no gpu'); } catch { await tf.setBackend('cpu'); }
  await tf.ready();
  await Promise.all([
    mod.nets.tinyFaceDetector.loadFromUri(MODELS),
    mod.nets.faceLandmark68Net.loadFromUri(MODELS),
    mod.nets.faceRecognitionNet.loadFromUri(MODELS),
  ]);
  faceapi = mod;
  main.dataset.backend = tf.getBackend();
  return faceapi;
}

/** The descriptor of the one clearest face in a canvas or image. */
async function describe(source, report) {
  const fa = await loadFaceApi(report);
  report('Finding the face…');
  const r = await fa.detectSingleFace(source, new fa.TinyFaceDetectorOptions({ inputSize: 320, scoreThreshold: 0.4 }))
    .withFaceLandmarks().withFaceDescriptor();
  if (!r) throw new Error('No face was found in this image. Use a frontal photo with the face well lit, or another frame.');
  return Array.from(r.descriptor, (x) => Math.round(x * 1e6) / 1e6);
}

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fingerName(f) { return f ? f.replace(/_/g, ' ') : '—'; }

function results(res, face) {
  const thr = res.threshold;
  if (!res.candidates.length) {
    return h('p', { class: 'empty' }, 'No candidate in this watchlist comes close. The search is recorded in the audit.');
  }
  return h('div', { class: 'table-wrap' }, h('table', { class: 'compact candidates' },
    h('caption', { class: 'visually-hidden' }, 'Candidates, best first'),
    h('thead', null, h('tr', null, ['Subject', face ? 'Similarity' : 'Score', 'Verdict', 'Kind', 'Finger', 'Source agency', 'Legal basis']
      .map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, res.candidates.map((c) => h('tr', { class: c.score >= thr ? 'hit' : null },
      h('td', null, h('a', { href: `./#/biometrics/${encodeURIComponent(c.subject)}` }, c.subject)),
      h('td', { class: 'num' }, face ? c.score.toFixed(3) : c.score.toFixed(1)),
      h('td', null, c.score >= thr ? h('strong', { class: 'bad' }, 'match') : h('span', { class: 'muted' }, 'below threshold')),
      h('td', null, c.kind),
      h('td', null, face ? '—' : fingerName(c.finger)),
      h('td', null, c.source_agency || '—'),
      h('td', null, c.legal_basis || '—')))))
  , h('p', { class: 'hint' }, face
    ? `Cosine similarity of face descriptors; ${thr} or more is a match (face-api’s distance 0.6).`
    : `Calibrated score; ${thr} or more is a match at a false match rate of 0.1 %.`));
}

function render(me) {
  const status = h('div', { class: 'form-status', role: 'status' });
  const out = h('div', { id: 'candidates' });
  const report = (t) => { fill(status, h('p', { class: 'loading' }, t)); };
  const wl = h('select', { id: 'watchlist', name: 'watchlist', required: true }, h('option', { value: '' }, 'Loading…'));
  const purpose = h('input', { id: 'purpose', name: 'purpose', required: true, maxlength: '200',
    placeholder: 'CASE-2026-118 or a declaration id', autocomplete: 'off' });
  // the probe
  const preview = h('canvas', { class: 'probe-preview', width: '320', height: '240', 'aria-label': 'The image that will be searched', role: 'img' });
  const previewBox = h('div', { class: 'probe-box', hidden: true }, preview);
  let probe = null; // {kind:'face', canvas} | {kind:'finger', bytes, name}
  const draw = (src, w, hgt) => {
    const scale = Math.min(1, 640 / Math.max(w, hgt));
    preview.width = Math.round(w * scale); preview.height = Math.round(hgt * scale);
    preview.getContext('2d').drawImage(src, 0, 0, preview.width, preview.height);
    previewBox.hidden = false;
    probe = { kind: 'face', canvas: preview };
    tpl.value = '';
  };
  const photo = h('input', { id: 'photo', type: 'file', accept: 'image/*', on: { change: async () => {
    const f = photo.files[0];
    if (!f) return;
    try { const bmp = await createImageBitmap(f); draw(bmp, bmp.width, bmp.height); fill(status); } catch { fill(status, errorBox({ message: 'This file is not an image the browser can read.' })); }
  } } });
  const sample = h('select', { id: 'sample', on: { change: async () => {
    if (!sample.value) return;
    const img = new Image();
    img.src = `vendor/face-samples/${sample.value}`;
    try { await img.decode(); draw(img, img.naturalWidth, img.naturalHeight); fill(status); } catch { fill(status, errorBox({ message: 'The sample photo could not be loaded.' })); }
  } } }, h('option', { value: '' }, 'a sample photo…'), SAMPLES.map((s) => h('option', { value: s }, s)));
  const video = h('video', { class: 'probe-video', autoplay: true, muted: true, playsinline: true, hidden: true, 'aria-label': 'Camera' });
  let stream = null;
  const stopCamera = () => { if (stream) for (const t of stream.getTracks()) t.stop(); stream = null; video.hidden = true; capture.hidden = true; };
  const capture = h('button', { type: 'button', hidden: true, on: { click: () => {
    draw(video, video.videoWidth, video.videoHeight); stopCamera();
  } } }, 'Take this frame');
  const camera = h('button', { type: 'button', on: { click: async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { fill(status, errorBox({ message: 'This browser offers no camera here (cameras need https or localhost).' })); return; }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user', width: 640 }, audio: false });
      video.srcObject = stream; video.hidden = false; capture.hidden = false; fill(status);
    } catch (e) { fill(status, errorBox({ message: `The camera could not be opened: ${e.message}` })); }
  } } }, 'Use the camera');
  const tpl = h('input', { id: 'template', type: 'file', on: { change: async () => {
    const f = tpl.files[0];
    if (!f) return;
    if (f.size > 1 << 20) { fill(status, errorBox({ message: 'A template is at most 1 MiB.' })); return; }
    probe = { kind: 'finger', bytes: new Uint8Array(await f.arrayBuffer()), name: f.name };
    previewBox.hidden = true;
    photo.value = '';
    sample.value = '';
    fill(status, h('p', { class: 'hint' }, `Fingerprint template ${f.name} (${f.size} bytes) ready.`));
  } } });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Search the watchlist');
  const form = h('form', { class: 'identify-form', 'aria-label': 'Identify', on: { submit: async (e) => {
    e.preventDefault();
    fill(out);
    if (!probe) { fill(status, errorBox({ message: 'Choose a photo, take a camera frame or upload a fingerprint template first.' })); return; }
    if (!wl.value || !purpose.value.trim()) { fill(status, errorBox({ message: 'Choose a watchlist and give the purpose (the case or declaration this search serves).' })); return; }
    submit.disabled = true;
    main.setAttribute('aria-busy', 'true');
    try {
      const body = { watchlist: wl.value, purpose: purpose.value.trim() };
      if (probe.kind === 'face') body.descriptor = { model: 'faceapi-128', vector: await describe(probe.canvas, report) };
      else body.template_base64 = base64(probe.bytes);
      report('Searching…');
      const res = await api('/v1/biometrics/identify', { method: 'POST', body });
      const face = probe.kind === 'face';
      const hits = res.candidates.filter((c) => c.score >= res.threshold).length;
      fill(status, h('p', null, hits ? h('strong', { class: 'bad' }, `${hits} match${hits === 1 ? '' : 'es'} in ${wl.value}.`) : `No match in ${wl.value}.`,
        ' ', h('span', { class: 'muted' }, `${res.candidates.length} candidate${res.candidates.length === 1 ? '' : 's'} shown; recorded in the audit for ${body.purpose}.`)));
      fill(out, results(res, face));
      (out.closest('section') || out).scrollIntoView({ block: 'start' });
      announce(hits ? `${hits} matches` : 'No match');
    } catch (err) {
      fill(status, errorBox(err, 'The search failed'));
    } finally {
      submit.disabled = false;
      main.setAttribute('aria-busy', 'false');
    }
  } } },
  h('div', { class: 'field' }, h('label', { for: 'watchlist' }, 'Watchlist'), wl),
  h('div', { class: 'field' }, h('label', { for: 'purpose' }, 'Purpose'), purpose,
    h('span', { class: 'hint' }, 'Required: every search is audited with the case or declaration it serves.')),
  h('fieldset', { class: 'probe' }, h('legend', null, 'Face'),
    h('div', { class: 'field' }, h('label', { for: 'photo' }, 'A photo'), photo),
    h('div', { class: 'field' }, h('label', { for: 'sample' }, 'or a sample photo (face-api’s)'), sample),
    h('div', { class: 'probe-actions' }, camera, capture), video, previewBox,
    h('p', { class: 'hint' }, 'The face is turned into a 128-number descriptor in this browser; the image is not sent.')),
  h('fieldset', { class: 'probe' }, h('legend', null, 'Fingerprint'),
    h('div', { class: 'field' }, h('label', { for: 'template' }, 'A minutiae template (ISO/IEC 19794-2 or ANSI 378)'), tpl)),
  submit, status);
  const loadWatchlists = (chosen) => watchlistSummary().then((lists) => {
    const names = lists.map((w) => w.name);
    fill(wl, names.length ? names.map((n) => h('option', { value: n }, n)) : h('option', { value: '' }, 'no watchlist has subjects yet'));
    if (chosen && names.includes(chosen)) wl.value = chosen;
  }).catch((err) => fill(status, errorBox(err, 'The watchlists could not be read')));
  const enrol = enrolForm({
    probe: () => probe, descriptor: describe, base64, watchlist: () => wl.value,
    enrolled: (name) => loadWatchlists(wl.value || name),
  });
  fill(main,
    h('h1', null, 'Identify'),
    h('p', { class: 'lead' }, `Search a watchlist shared by another agency, or enrol the probe as a subject’s template. Signed in as ${me.org} (${me.role}).`),
    h('div', { class: 'grid' }, card('Probe', form), card('Candidates', out), card('Enrol', enrol)));
  main.setAttribute('aria-busy', 'false');
  loadWatchlists();
  window.addEventListener('pagehide', stopCamera);
}

async function start() {
  if (!getToken()) {
    fill(main, h('h1', null, 'Identify'), h('p', null, 'Sign in on the console first: ', h('a', { href: './#/overview' }, 'sign in'), '.'));
    main.setAttribute('aria-busy', 'false');
    return;
  }
  let me;
  try { me = await api('/v1/whoami'); } catch (err) {
    fill(main, h('h1', null, 'Identify'), errorBox(err, 'The console could not start'), h('p', null, h('a', { href: './#/overview' }, 'Sign in again.')));
    main.setAttribute('aria-busy', 'false');
    return;
  }
  fill(who, h('span', { class: 'me' }, h('span', { class: 'me-org' }, me.org), ' ', h('span', { class: 'me-role' }, me.role)));
  if (me.role !== 'officer' && me.role !== 'admin') {
    fill(main, h('h1', null, 'Identify'), h('p', { class: 'empty' }, `Identification is for customs officers and administrators; your key’s role is ${me.role}.`));
    main.setAttribute('aria-busy', 'false');
    return;
  }
  render(me);
}
start();
