// The remote expert (/#/assist/{sid}): the officer's camera frames as they
// arrive, boxes drawn on the frame being looked at (sent in that frame's
// pixels), and the chat. Everything comes and goes over the session's
// stream (docs/inspection.md).
import { api, stream } from '../api.js';
import { h, fill, errorBox, card, announce } from '../dom.js';
import { bitmap, drawShapes } from '../session-view.js';

export async function render(main, { rest }, { signal }) {
  const sid = rest[0];
  const s = await api(`/v1/sessions/${encodeURIComponent(sid)}`, { signal });
  const base = `/v1/sessions/${encodeURIComponent(sid)}`;
  const canvas = h('canvas', { class: 'frame', width: 640, height: 480, role: 'img',
    'aria-label': 'The officer’s camera: drag to draw a box' });
  const state = h('p', { class: 'hint', 'aria-live': 'polite' }, s.status === 'open' ? 'Waiting for the camera…' : 'This session is closed.');
  const log = h('ol', { class: 'chat' });
  const status = h('div', { class: 'form-status' });
  let frame = null, img = null, drag = null, start = null;
  const notes = new Map(); // frame -> shapes drawn on it
  const redraw = () => {
    const g = canvas.getContext('2d');
    if (img) g.drawImage(img, 0, 0);
    if (frame && notes.has(frame)) drawShapes(g, notes.get(frame), 1, 1);
    if (drag) drawShapes(g, [drag], 1, 1, '#ff9f1c');
  };
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: Math.max(0, Math.min(canvas.width, (e.clientX - r.left) * canvas.width / r.width)),
      y: Math.max(0, Math.min(canvas.height, (e.clientY - r.top) * canvas.height / r.height)) };
  };
  canvas.addEventListener('pointerdown', (e) => { if (frame) { start = at(e); canvas.setPointerCapture(e.pointerId); } });
  canvas.addEventListener('pointermove', (e) => {
    if (!start) return;
    const p = at(e);
    drag = { kind: 'box', x: Math.round(Math.min(start.x, p.x)), y: Math.round(Math.min(start.y, p.y)),
      w: Math.round(Math.abs(p.x - start.x)), h: Math.round(Math.abs(p.y - start.y)) };
    redraw();
  });
  canvas.addEventListener('pointerup', () => { start = null; redraw(); });
  const text = h('input', { id: 'say', name: 'say', autocomplete: 'off', maxlength: 2000, placeholder: 'Say something (with a box: a note on it)' });
  const form = h('form', { class: 'say', on: { submit: async (e) => {
    e.preventDefault();
    status.replaceChildren();
    const t = text.value.trim();
    const body = drag && drag.w > 2 && drag.h > 2 ? { frame, shapes: [drag], ...(t ? { text: t } : {}) } : { text: t };
    if (!body.shapes && !t) return;
    try {
      await api(base + '/annotations', { method: 'POST', body, signal });
      text.value = '';
      drag = null;
      redraw();
    } catch (err) { status.append(errorBox(err)); }
  } } }, h('label', { for: 'say' }, 'Message'), text, h('button', { type: 'submit', class: 'primary' }, 'Send'), status);
  const ac = new AbortController();
  signal.addEventListener('abort', () => ac.abort());
  let latest = 0;
  stream(base + '/stream', { signal: ac.signal, onEvent: async (ev) => {
    const d = JSON.parse(ev.data);
    if (ev.event === 'frame') {
      latest = d.frame;
      const b = await bitmap(`${base}/frames/${d.frame}`, ac.signal).catch(() => null);
      if (!b || d.frame !== latest || drag) return; // keep the frame being drawn on
      img = b; frame = d.frame;
      canvas.width = b.width; canvas.height = b.height;
      canvas.dataset.frame = String(frame);
      state.textContent = `Frame ${frame} from ${d.by.org}`;
      redraw();
    } else if (ev.event === 'annotation') {
      notes.set(d.frame, [...(notes.get(d.frame) || []), ...d.shapes]);
      if (d.text) log.append(h('li', null, `${d.by.org} ${d.by.role} on frame ${d.frame}: ${d.text}`));
      redraw();
    } else if (ev.event === 'chat') {
      log.append(h('li', { class: 'chat-line' }, `${d.by.org} ${d.by.role}: ${d.text}`));
      announce(d.text);
    } else if (ev.event === 'closed') {
      state.textContent = 'The officer closed this session.';
      ac.abort();
    }
  } });
  fill(main, h('h1', null, 'Remote assistance'),
    h('p', null, `Declaration `, h('a', { href: `#/declarations/${encodeURIComponent(s.declaration)}` }, s.declaration),
      `, opened by ${s.opened_by.org} at ${s.opened_at.slice(11, 16)} UTC.`),
    card('Camera', state, h('div', { class: 'frame-wrap' }, canvas), form),
    card('Chat', log));
  return () => ac.abort();
}
