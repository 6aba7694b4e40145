// Building the page without ever parsing markup: every value from the API
// reaches the DOM as text (textContent / text nodes), never through innerHTML.
import { problemSentence } from './names.js';

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'open', 'multiple', 'required']);

/**
 * h('a', {href: '#/x', class: 'y', on: {click: fn}}, 'text', child, [more])
 * Attributes are set with setAttribute (never "style" or on* handlers:
 * the CSP forbids inline styles and scripts); strings become text nodes.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'on') {
        for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      } else if (k === 'class') {
        el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      } else if (k === 'dataset') {
        Object.assign(el.dataset, v);
      } else if (k === 'style' || k.startsWith('on')) {
        throw new Error(`h(): attribute ${k} is not allowed`);
      } else if (PROPS.has(k)) {
        el[k] = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A short message for screen readers (the polite live region). */
export function announce(text) {
  const a = document.getElementById('announce');
  if (a) { a.textContent = ''; setTimeout(() => { a.textContent = text; }, 30); }
}

/** A sentence that says something went wrong (role=alert). */
export function errorBox(err, what) {
  const msg = err && err.message ? err.message : String(err);
  return h('div', { class: 'error', role: 'alert' },
    what ? h('strong', null, what + ': ') : null, msg,
    err && err.details && err.details.length
      ? h('ul', null, err.details.map((d) => h('li', null, problemSentence(d))))
      : null);
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading' }, text);
}

/** A titled section card. */
export function card(title, ...body) {
  const id = 'c-' + Math.random().toString(36).slice(2, 9);
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...body);
}

/** Definition list from [label, value] pairs; values null/undefined are skipped. */
export function dl(pairs, cls) {
  const d = h('dl', { class: ['kv', cls] });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '') continue;
    d.append(h('dt', null, k), h('dd', null, v));
  }
  return d;
}

/** A horizontal bar (0..1) with its number as text beside it. */
export function bar(fraction, label, cls, outer) {
  const f = Math.max(0, Math.min(1, Number(fraction) || 0));
  const fillEl = h('span', { class: ['bar-fill', cls] });
  fillEl.style.width = (f * 100).toFixed(1) + '%';
  return h('span', { class: ['bar', outer], role: 'img', 'aria-label': label }, fillEl);
}
