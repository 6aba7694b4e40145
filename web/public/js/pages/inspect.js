// At the container (/#/inspect/{declaration}): the guide's steps over the
// phone's camera, the scan's regions drawn as a container-shaped overlay
// once two markers are aligned with the doors and the front of the
// container (metres to screen, no special hardware), and a live session
// with a remote expert whose marks come back on the frame they were drawn
// on; the shutter photographs a finding for the current step, and the
// outcome is recorded with the photos (docs/inspection.md).
import { api, stream } from '../api.js';
import { h, fill, errorBox, card, announce } from '../dom.js';
import { bitmap, postJpeg, drawShapes } from '../session-view.js';
import { arSupported, startAR } from '../inspect-ar.js';

const LENGTH_M = { '20': 5.9, '40': 12.03 }; // inside length, doors to front wall
const HEIGHT_M = 2.39;
const FRAME_MS = 500;
const THUMB_W = 96;

/** A small canvas copy of an image or canvas, tagged with the photo's hash. */
function thumb(src, sha) {
  const c = h('canvas', { class: 'thumb', width: THUMB_W, height: Math.max(1, Math.round(THUMB_W * src.height / src.width)),
    role: 'img', 'aria-label': `Photo ${sha.slice(0, 12)}`, dataset: { sha } });
  c.getContext('2d').drawImage(src, 0, 0, c.width, c.height);
  return c;
}

/** Screen position of a point from_door_m along and height_m up, given the
 * door marker d and the front-wall marker f (both at floor level). */
export function place(d, f, lengthM, fromDoorM, heightM) {
  const scale = Math.hypot(f.x - d.x, f.y - d.y) / lengthM; // px per metre
  const t = fromDoorM / lengthM;
  return { x: d.x + (f.x - d.x) * t, y: d.y + (f.y - d.y) * t - (heightM || 0) * scale, scale };
}

function drawOverlay(canvas, markers, lengthM, regions) {
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  const [d, f] = markers;
  const top = place(d, f, lengthM, 0, HEIGHT_M), topF = place(d, f, lengthM, lengthM, HEIGHT_M);
  g.strokeStyle = '#2ec4b6';
  g.lineWidth = 3;
  g.beginPath(); g.moveTo(d.x, d.y); g.lineTo(f.x, f.y); g.lineTo(topF.x, topF.y); g.lineTo(top.x, top.y); g.closePath(); g.stroke();
  const placed = [];
  for (const r of regions) {
    const p = place(d, f, lengthM, r.where.from_door_m, r.where.height_m ?? 0);
    const s = 0.6 * p.scale;
    g.strokeStyle = '#ff3b30';
    g.strokeRect(p.x - s / 2, p.y - s, s, s);
    g.fillStyle = '#ff3b30';
    g.font = `${Math.max(12, Math.round(canvas.width / 40))}px sans-serif`;
    g.fillText(`${r.n}`, p.x - s / 2, p.y - s - 4);
    placed.push({ n: r.n, x: Math.round(p.x), y: Math.round(p.y) });
  }
  for (const [i, m] of markers.entries()) {
    g.fillStyle = i ? '#ffd166' : '#06d6a0';
    g.beginPath(); g.arc(m.x, m.y, Math.max(8, canvas.width / 60), 0, 2 * Math.PI); g.fill();
  }
  canvas.dataset.regions = JSON.stringify(placed);
  canvas.dataset.markers = JSON.stringify(markers.map((m) => ({ x: Math.round(m.x), y: Math.round(m.y) })));
}

export async function render(main, { rest }, { signal }) {
  const id = rest[0];
  const path = `/v1/declarations/${encodeURIComponent(id)}`;
  const guide = await api(path + '/inspection-guide', { signal });
  const ac = new AbortController();
  signal.addEventListener('abort', () => ac.abort());
  const video = h('video', { autoplay: true, muted: true, playsinline: true });
  const overlay = h('canvas', { class: 'overlay', width: 640, height: 480, role: 'img',
    'aria-label': 'Container overlay: drag the green marker to the doors and the yellow one to the front wall' });
  const camState = h('p', { class: 'hint', 'aria-live': 'polite' }, 'Starting the camera…');
  const size = h('select', { id: 'csize', name: 'csize' }, h('option', { value: '20' }, '20 ft'), h('option', { value: '40' }, '40 ft'));
  const regions = guide.steps.filter((s) => s.source === 'xray' && s.where && typeof s.where.from_door_m === 'number');
  let markers = [{ x: 96, y: 400 }, { x: 544, y: 400 }];
  const redraw = () => drawOverlay(overlay, markers, LENGTH_M[size.value], regions);
  size.addEventListener('change', redraw);
  let grab = null;
  const at = (e) => {
    const r = overlay.getBoundingClientRect();
    return { x: (e.clientX - r.left) * overlay.width / r.width, y: (e.clientY - r.top) * overlay.height / r.height };
  };
  overlay.addEventListener('pointerdown', (e) => {
    const p = at(e);
    const dist = markers.map((m) => Math.hypot(m.x - p.x, m.y - p.y));
    grab = dist[0] <= dist[1] ? 0 : 1;
    overlay.setPointerCapture(e.pointerId);
  });
  overlay.addEventListener('pointermove', (e) => { if (grab !== null) { markers[grab] = at(e); redraw(); } });
  overlay.addEventListener('pointerup', () => { grab = null; });
  let media = null;
  const startCamera = async () => {
    try {
      media = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
      if (ac.signal.aborted) { media.getTracks().forEach((t) => t.stop()); return; }
      video.srcObject = media;
      await video.play().catch(() => {});
      await new Promise((r) => (video.videoWidth ? r() : video.addEventListener('loadedmetadata', r, { once: true })));
      const k = video.videoWidth / overlay.width;
      markers = markers.map((m) => ({ x: m.x * k, y: m.y * k }));
      overlay.width = video.videoWidth; overlay.height = video.videoHeight;
      camState.textContent = `Camera on (${video.videoWidth}×${video.videoHeight}). Drag the green marker to the doors, the yellow one to the front wall, both at floor level.`;
      shutter.disabled = false;
      redraw();
    } catch (err) {
      camState.textContent = `The camera is not available (${err.name || err.message}): on a phone the console must be opened over HTTPS (docs/inspection.md).`;
    }
  };
  startCamera();
  redraw();
  // ---- AR mode, only where the browser has WebXR immersive-ar; the markers stay the default ----
  const arSay = h('p', { 'aria-live': 'polite' });
  let arSession = null;
  const arRoot = h('div', { class: 'ar-overlay', hidden: true }, arSay,
    h('button', { type: 'button', on: { click: () => arSession?.end() } }, 'Leave AR'));
  const arState = h('p', { class: 'hint', 'aria-live': 'polite' });
  const arButton = h('button', { type: 'button', hidden: true, on: { click: async () => {
    arButton.disabled = true;
    if (media) { media.getTracks().forEach((t) => t.stop()); media = null; } // the session needs the camera
    arRoot.hidden = false;
    try {
      arSession = await startAR(arRoot, { lengthM: LENGTH_M[size.value], regions, say: (t) => { arSay.textContent = t; },
        onEnd: () => { arSession = null; arRoot.hidden = true; arButton.disabled = false; startCamera(); } });
    } catch (err) {
      arRoot.hidden = true;
      arButton.disabled = false;
      arState.textContent = `AR mode could not start (${err.name || err.message}); the markers work as before.`;
      startCamera();
    }
  } } }, 'AR mode');
  arSupported().then((yes) => { if (yes && !ac.signal.aborted) arButton.hidden = false; });
  // ---- steps (a POST replaces the step's state: send all of it) ----
  const saveStep = (s, change) => api(`${path}/inspection-guide/steps/${s.n}`, { method: 'POST', signal,
    body: { done: s.done, note: s.note ?? null, photos: s.photos, ...change } });
  const thumbsOf = new Map(); // step n (0: the outcome's) -> its thumbnails' element
  const showPhoto = (n, sha, src) => {
    const el = thumbsOf.get(n);
    if (src) el.append(thumb(src, sha));
    else bitmap(`${path}/photos/${sha}`, ac.signal).then((b) => el.append(thumb(b, sha))).catch(() => {});
  };
  const stepItem = (s) => {
    const box = h('input', { type: 'checkbox', id: `step-${s.n}`, checked: s.done, on: { change: async () => {
      try {
        await saveStep(s, { done: box.checked });
        s.done = box.checked;
        announce(`Step ${s.n} ${box.checked ? 'done' : 'not done'}`);
      } catch (err) { box.checked = !box.checked; li.append(errorBox(err)); }
    } } });
    const where = s.where && typeof s.where.from_door_m === 'number' ? `${s.where.from_door_m.toFixed(1)} m from the doors` : null;
    const thumbs = h('div', { class: 'thumbs', dataset: { step: String(s.n) } });
    thumbsOf.set(s.n, thumbs);
    const li = h('li', null, box, ' ', h('label', { for: `step-${s.n}` }, h('strong', null, s.title)), h('br'),
      s.instruction, where ? h('span', { class: 'where' }, ` — ${where}`) : null, thumbs);
    return li;
  };
  // ---- photos: the live frame as a JPEG, uploaded, linked to the chosen step ----
  const loose = []; // photos for the outcome only
  thumbsOf.set(0, h('div', { class: 'thumbs', dataset: { step: 'outcome' } }));
  const firstOpen = guide.steps.find((s) => !s.done);
  const forStep = h('select', { id: 'photo-step', name: 'photo-step' },
    guide.steps.map((s) => h('option', { value: String(s.n), selected: s === firstOpen }, `Step ${s.n}: ${s.title}`)),
    h('option', { value: '0', selected: !firstOpen }, 'The outcome only'));
  const shotState = h('p', { class: 'hint', 'aria-live': 'polite' });
  const shutter = h('button', { type: 'button', class: 'primary shutter', disabled: true, on: { click: async () => {
    shutter.disabled = true;
    try {
      const c = document.createElement('canvas');
      c.width = video.videoWidth; c.height = video.videoHeight;
      c.getContext('2d').drawImage(video, 0, 0);
      const blob = await new Promise((r) => c.toBlob(r, 'image/jpeg', 0.9));
      const { sha256 } = await postJpeg(`${path}/photos`, blob, ac.signal);
      const n = Number(forStep.value);
      const s = guide.steps.find((x) => x.n === n);
      if (s && !s.photos.includes(sha256)) {
        const photos = [...s.photos, sha256];
        await saveStep(s, { photos });
        s.photos = photos;
      } else if (!s && !loose.includes(sha256)) {
        loose.push(sha256);
      }
      showPhoto(n, sha256, c);
      shotState.textContent = `Photo ${sha256.slice(0, 12)}… saved for ${s ? `step ${n}` : 'the outcome'}.`;
      announce('Photo saved');
    } catch (err) {
      shotState.textContent = '';
      shotState.append(errorBox(err, 'The photo'));
    } finally { shutter.disabled = !video.videoWidth; }
  } } }, 'Take photo');
  // ---- the outcome ----
  const result = h('select', { id: 'outcome-result', name: 'result' },
    h('option', { value: 'compliant' }, 'Compliant'), h('option', { value: 'fraud' }, 'Fraud found'));
  const notes = h('textarea', { id: 'outcome-notes', name: 'notes', rows: 2, maxlength: 2000 });
  const recorded = h('div', { 'aria-live': 'polite' });
  const record = h('button', { type: 'button', class: 'primary', on: { click: async () => {
    record.disabled = true;
    try {
      const body = { result: result.value, photos: loose };
      if (notes.value.trim()) body.notes = notes.value.trim();
      const r = await api(`${path}/inspection`, { method: 'POST', body, signal });
      fill(recorded, h('p', { dataset: { photos: JSON.stringify(r.photos) } },
        `Recorded: ${r.result}, ${r.photos.length} photo${r.photos.length === 1 ? '' : 's'} on the record, ${r.inspected_at}.`));
      announce('Outcome recorded');
    } catch (err) { fill(recorded, errorBox(err, 'The outcome')); } finally { record.disabled = false; }
  } } }, 'Record outcome');
  // ---- the expert ----
  const expert = h('div');
  const marked = h('canvas', { class: 'frame', width: 320, height: 240, hidden: true, role: 'img', 'aria-label': 'The frame the expert marked' });
  const said = h('ol', { class: 'chat' });
  let sid = null, timer = null, sending = false;
  const grabFrame = async () => {
    if (sending || !video.videoWidth) return;
    sending = true;
    const c = document.createElement('canvas');
    c.width = video.videoWidth; c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    const blob = await new Promise((r) => c.toBlob(r, 'image/jpeg', 0.7));
    try { await postJpeg(`/v1/sessions/${sid}/frames`, blob, ac.signal); } catch { /* the next frame retries */ }
    sending = false;
  };
  const follow = () => stream(`/v1/sessions/${sid}/stream`, { signal: ac.signal, onEvent: async (ev) => {
    const d = JSON.parse(ev.data);
    if (ev.event === 'annotation') {
      const b = await bitmap(`/v1/sessions/${sid}/frames/${d.frame}`, ac.signal).catch(() => null);
      if (!b) return;
      marked.width = b.width; marked.height = b.height;
      const g = marked.getContext('2d');
      g.drawImage(b, 0, 0);
      drawShapes(g, d.shapes, 1, 1);
      marked.hidden = false;
      marked.dataset.frame = String(d.frame);
      if (d.text) said.append(h('li', null, `${d.by.org} ${d.by.role} on frame ${d.frame}: ${d.text}`));
      announce('The expert marked a frame');
    } else if (ev.event === 'chat') {
      said.append(h('li', null, `${d.by.org} ${d.by.role}: ${d.text}`));
    }
  } });
  const call = h('button', { type: 'button', class: 'primary', on: { click: async () => {
    call.disabled = true;
    try {
      const open = (await api(`${path}/sessions?limit=500`, { signal })).items.find((x) => x.status === 'open');
      sid = open ? open.session : (await api(`${path}/sessions`, { method: 'POST', body: {}, signal })).session;
      fill(expert, h('p', null, 'Live: the expert follows at ', h('a', { href: `#/assist/${sid}`, dataset: { session: sid } }, `#/assist/${sid}`),
        '. ', h('button', { type: 'button', on: { click: async () => {
          clearInterval(timer);
          await api(`/v1/sessions/${sid}/close`, { method: 'POST', signal }).catch(() => {});
          fill(expert, h('p', null, 'Session closed.'));
        } } }, 'End session')));
      timer = setInterval(grabFrame, FRAME_MS);
      follow();
    } catch (err) { call.disabled = false; expert.append(errorBox(err)); }
  } } }, 'Call an expert');
  fill(expert, call);
  fill(main, h('h1', null, 'Inspection'),
    h('p', null, `Declaration `, h('a', { href: `#/declarations/${encodeURIComponent(id)}` }, id), ` — lane ${guide.lane}, ${guide.status}.`),
    card('Camera', camState, h('div', { class: 'camera' }, video, overlay),
      h('div', { class: 'field' }, h('label', { for: 'csize' }, 'Container'), size), arButton, arState, arRoot,
      h('div', { class: 'field' }, h('label', { for: 'photo-step' }, 'Photo for'), forStep, shutter), shotState),
    card('Steps', h('ol', { class: 'steps-guide' }, guide.steps.map(stepItem))),
    card('Outcome', h('div', { class: 'field' }, h('label', { for: 'outcome-result' }, 'Result'), result),
      h('div', { class: 'field' }, h('label', { for: 'outcome-notes' }, 'Notes'), notes),
      h('p', { class: 'hint' }, 'Photos for the outcome only (the steps\' photos go on the record too):'), thumbsOf.get(0),
      record, recorded),
    card('Remote expert', expert, marked, said));
  for (const s of guide.steps) for (const sha of s.photos) showPhoto(s.n, sha);
  return () => {
    ac.abort();
    arSession?.end();
    clearInterval(timer);
    if (media) media.getTracks().forEach((t) => t.stop());
  };
}
