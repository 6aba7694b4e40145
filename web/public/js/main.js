// The console: sign-in, navigation and a hash router. Each page module
// exports render(main, params, ctx) and may return a cleanup function.
import { api, getToken, setToken, clearToken, onUnauthorized } from './api.js';
import { h, fill, errorBox, announce } from './dom.js';

const PAGES = {
  overview: () => import('./pages/overview.js'),
  queue: () => import('./pages/queue.js'),
  declarations: () => import('./pages/declaration.js'),
  map: () => import('./pages/map.js'),
  drones: () => import('./pages/drones.js'),
  ledger: () => import('./pages/ledger.js'),
  model: () => import('./pages/model.js'),
  training: () => import('./pages/training.js'),
  assist: () => import('./pages/assist.js'),
  inspect: () => import('./pages/inspect.js'),
  designs: () => import('./pages/designs.js'),
  revenue: () => import('./pages/revenue.js'),
  biometrics: () => import('./pages/biometrics.js'),
};
// Pages whose API only officers and administrators may read.
const OFFICER_PAGES = new Set(['queue', 'map', 'drones', 'model', 'training', 'assist', 'inspect', 'revenue', 'biometrics']);
export const isOfficer = (me) => !!me && (me.role === 'officer' || me.role === 'admin');
const TITLES = { overview: 'Overview', queue: 'Risk queue', declarations: 'Declaration', map: 'Live map', drones: 'Drones', ledger: 'Ledger', model: 'Model', training: 'Training', assist: 'Remote assistance', inspect: 'Inspection', revenue: 'Revenue', biometrics: 'Biometrics', designs: 'Designs' };

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

const ctx = { me: null };
let cleanup = null;
let generation = 0;

function parseHash() {
  const raw = location.hash.slice(1) || '/overview';
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'overview', rest: parts.slice(1), query: new URLSearchParams(query) };
}

function showSignIn(message) {
  nav.hidden = true;
  who.replaceChildren();
  document.title = 'Sign in — customs console';
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    spellcheck: 'false', 'aria-describedby': 'token-help' });
  const status = h('div', { class: 'form-status' });
  if (message) status.append(errorBox({ message }));
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'signin card', on: { submit: async (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    button.disabled = true;
    status.replaceChildren();
    try {
      const me = await api('/v1/whoami', { token: t });
      setToken(t);
      ctx.me = me;
      route();
    } catch (err) {
      status.append(errorBox(err.status === 401
        ? { message: 'This key was not accepted: it is unknown or revoked. Check var/demo-keys.txt or ask an administrator for a key.' }
        : err));
      button.disabled = false;
      input.focus();
    }
  } } },
  h('h1', null, 'Sign in'),
  h('p', null, 'Officers sign in with their API key. The key stays in this browser tab only (session storage) and is sent to the server in the Authorization header.'),
  h('label', { for: 'token' }, 'API key'),
  input,
  h('p', { id: 'token-help', class: 'hint' }, 'A key starts with cst_. “make run” prints demo keys and saves them in var/demo-keys.txt.'),
  button, status);
  fill(main, form);
  input.focus();
}

function renderWho() {
  const me = ctx.me;
  fill(who,
    me ? h('span', { class: 'me' }, h('span', { class: 'me-org' }, me.org), ' ', h('span', { class: 'me-role' }, me.role)) : null,
    h('button', { type: 'button', class: 'link', on: { click: () => {
      clearToken();
      ctx.me = null;
      if (cleanup) { cleanup(); cleanup = null; }
      location.hash = '#/overview';
      showSignIn();
      announce('Signed out');
    } } }, 'Sign out'));
}

async function route() {
  const gen = ++generation;
  // busy while a page renders (assistive technology, and tests, wait for it)
  main.setAttribute('aria-busy', 'true');
  main.dataset.gen = String(gen);
  try { await show(gen); } finally {
    if (gen === generation) main.setAttribute('aria-busy', 'false');
  }
}

async function show(gen) {
  if (cleanup) { try { cleanup(); } catch (e) { reportError(e); } cleanup = null; }
  if (!getToken()) { showSignIn(); return; }
  if (!ctx.me) {
    try { ctx.me = await api('/v1/whoami'); } catch (err) {
      if (gen !== generation) return;
      if (err.status === 401) { clearToken(); showSignIn('Your key is no longer accepted; sign in again.'); return; }
      fill(main, errorBox(err, 'The console could not start'));
      return;
    }
    if (gen !== generation) return;
  }
  nav.hidden = false;
  const officer = isOfficer(ctx.me);
  for (const a of nav.querySelectorAll('a')) {
    const href = a.getAttribute('href');
    // identify.html is a document of its own (its CSP), for officers too
    a.hidden = !officer && (OFFICER_PAGES.has(href.slice(2)) || href === 'identify.html');
  }
  renderWho();
  const { page, rest, query } = parseHash();
  const load = PAGES[page];
  for (const a of nav.querySelectorAll('a')) {
    const target = a.getAttribute('href').slice(2);
    if (target === page || (page === 'declarations' && target === 'queue')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!load) {
    fill(main, h('h1', null, 'Not found'), h('p', null, 'There is no such page. ', h('a', { href: '#/overview' }, 'Go to the overview.')));
    return;
  }
  document.title = `${TITLES[page]} — customs console`;
  if (OFFICER_PAGES.has(page) && !isOfficer(ctx.me)) {
    fill(main, h('h1', null, TITLES[page]), h('p', { class: 'empty' },
      `This page is for customs officers and administrators; your key’s role is ${ctx.me.role}. `, h('a', { href: '#/overview' }, 'Go to the overview.')));
    return;
  }
  let mod;
  try { mod = await load(); } catch (err) {
    fill(main, errorBox({ message: 'This page could not be loaded: ' + err.message }));
    return;
  }
  if (gen !== generation) return;
  const ac = new AbortController();
  main.replaceChildren();
  main.dataset.page = page;
  let pageCleanup = null;
  cleanup = () => { ac.abort(); if (typeof pageCleanup === 'function') pageCleanup(); };
  try {
    pageCleanup = await mod.render(main, { rest, query }, { ...ctx, signal: ac.signal, navigate });
    // left before it finished loading: its cleanup ran without the page's part
    if (gen !== generation && typeof pageCleanup === 'function') pageCleanup();
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    if (gen !== generation) return;
    fill(main, errorBox(err, 'This page could not be shown'));
  }
  if (gen === generation) {
    const h1 = main.querySelector('h1');
    if (h1 && document.activeElement === document.body) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); }
  }
}

function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

onUnauthorized(() => {
  clearToken();
  ctx.me = null;
  if (cleanup) { cleanup(); cleanup = null; }
  showSignIn('Your key is no longer accepted (unknown or revoked); sign in again.');
});

window.addEventListener('hashchange', () => {
  // "#main" is the skip link: move focus, keep the page.
  if (!location.hash.startsWith('#/') && location.hash !== '') return;
  route();
});
window.addEventListener('unhandledrejection', (e) => {
  if (e.reason && e.reason.name === 'AbortError') e.preventDefault();
});
route();
