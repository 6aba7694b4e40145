// The public /v1 API with the bearer token kept in sessionStorage (never in
// a URL). Errors become ApiError with a sentence an officer can read.

const KEY = 'customs.token';

export function getToken() {
  try { return sessionStorage.getItem(KEY); } catch { return null; }
}
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { try { sessionStorage.removeItem(KEY); } catch { /* storage off */ } }

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
  }
}

const listeners = new Set();
/** fn(err) is called when the server refuses the token (401). */
export function onUnauthorized(fn) { listeners.add(fn); }

function sentence(status, body) {
  const e = body && body.error;
  if (e && typeof e.message === 'string' && e.message) {
    const m = e.message.charAt(0).toUpperCase() + e.message.slice(1);
    return /[.!?]$/.test(m) ? m : m + '.';
  }
  switch (status) {
    case 401: return 'The server did not accept this key: it is unknown or revoked.';
    case 403: return 'Your key’s role may not do this.';
    case 404: return 'The server does not have this.';
    case 503: return 'The server is busy or shutting down; try again in a moment.';
    default: return `The server answered with status ${status}.`;
  }
}

/** Calls the API; resolves with the parsed JSON body, rejects with ApiError. */
export async function api(path, { method = 'GET', body, signal, token } = {}) {
  const t = token ?? getToken();
  const headers = { Accept: 'application/json' };
  if (t) headers.Authorization = 'Bearer ' + t;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server could not be reached. Is “customs serve” running?');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch {
      if (res.ok) throw new ApiError(res.status, 'bad_response', 'The server sent an answer that is not JSON.');
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data?.error?.code || `http_${res.status}`, sentence(res.status, data),
      data?.error?.details);
    if (res.status === 401 && !token) for (const fn of listeners) fn(err);
    throw err;
  }
  return data;
}

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? '?' + s : '';
}

/**
 * Follows a Server-Sent Events stream with fetch (EventSource cannot send an
 * Authorization header, and the token must not go in the URL). Calls
 * onEvent({event, data, id}) for each event and onState('open'|'retrying'|
 * 'closed', detail) as the connection changes; reconnects with backoff until
 * signal aborts.
 */
export function stream(path, { signal, onEvent, onState = () => {} }) {
  let lastId = null;
  let delay = 500;
  const run = async () => {
    while (!signal.aborted) {
      try {
        const headers = { Accept: 'text/event-stream', Authorization: 'Bearer ' + getToken() };
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await fetch(path, { headers, signal, cache: 'no-store' });
        if (res.status === 401) {
          const err = new ApiError(401, 'unauthorized', sentence(401, null));
          for (const fn of listeners) fn(err);
          onState('closed', err);
          return;
        }
        if (!res.ok || !res.body) {
          let body = null;
          try { body = await res.json(); } catch { /* not JSON */ }
          const err = new ApiError(res.status, body?.error?.code || `http_${res.status}`, sentence(res.status, body));
          if (res.status === 403 || res.status === 404) { onState('closed', err); return; }
          throw err;
        }
        onState('open');
        delay = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        let ev = { event: 'message', data: [], id: null };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl;
          while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
            if (line === '') {
              if (ev.data.length) {
                if (ev.id !== null) lastId = ev.id;
                try { onEvent({ event: ev.event, data: ev.data.join('\n'), id: ev.id }); } catch (e) { reportError(e); }
              }
              ev = { event: 'message', data: [], id: null };
              continue;
            }
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            let val = c < 0 ? '' : line.slice(c + 1);
            if (val.startsWith(' ')) val = val.slice(1);
            if (field === 'data') ev.data.push(val);
            else if (field === 'event') ev.event = val;
            else if (field === 'id') ev.id = val;
          }
        }
        if (signal.aborted) return;
        onState('retrying', new ApiError(0, 'closed', 'The live stream ended; reconnecting.'));
      } catch (e) {
        if (signal.aborted || (e && e.name === 'AbortError')) return;
        onState('retrying', e instanceof ApiError ? e : new ApiError(0, 'network', 'The live stream was interrupted; reconnecting.'));
      }
      await new Promise((r) => {
        const t = setTimeout(r, delay);
        signal.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
      });
      delay = Math.min(delay * 2, 10000);
    }
  };
  run();
}
