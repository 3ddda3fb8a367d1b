// The one wrapper for the box's HTTP APIs and WebSockets: same origin, the
// token (when one is set) attached, errors turned into messages a person can
// read, WebSockets that come back after the box restarts.

/** The token of this browser tab, if the user gave one. */
export const token = () => sessionStorage.getItem('edgestat.token') || '';
/** Remembers the token for this tab (not on disk: sessionStorage). */
export const setToken = (t) => (t ? sessionStorage.setItem('edgestat.token', t) : sessionStorage.removeItem('edgestat.token'));

/**
 * Calls a JSON API of this box. Resolves to the parsed body; rejects with an
 * Error whose message is the server's own (`{"error":{"message"}}`).
 * @param {string} path @param {{method?: string, body?: any, signal?: AbortSignal}} [opts]
 */
export async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let resp;
  try {
    resp = await fetch(path, { method: opts.method || 'GET', headers, body, signal: opts.signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new Error(`the box did not answer (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (resp.status === 401 && !token()) {
    // The box wants its token and this tab has only its cookie (gone or
    // expired): log in again, then come back here.
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.hash)}`);
  }
  if (!resp.ok) {
    const msg = data && data.error ? (data.error.message || data.error) : text.trim() || resp.statusText;
    const err = new Error(`${resp.status}: ${msg}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

/** The ws:// or wss:// URL of a path on this box. */
export function wsURL(path) {
  const u = new URL(path, location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (token() && !u.searchParams.has('token')) u.searchParams.set('token', token());
  return u.href;
}

/**
 * A WebSocket that reconnects with backoff (0.5 s doubling to 10 s) until
 * closed. States: connecting, open, disconnected.
 * @param {string} url
 * @param {{onOpen?: (send: Function) => void, onMessage: (text: string) => void,
 *   onState?: (state: string, detail?: string) => void}} h
 * @returns {{send: (text: string) => boolean, close: () => void, readonly open: boolean}}
 */
export function socket(url, h) {
  let ws = null, closed = false, delay = 500, timer = 0;
  const state = (s, d) => h.onState && h.onState(s, d);
  const send = (text) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(text);
    return true;
  };
  const open = () => {
    state('connecting');
    ws = new WebSocket(url);
    ws.onopen = () => { delay = 500; state('open'); if (h.onOpen) h.onOpen(send); };
    ws.onmessage = (ev) => h.onMessage(ev.data);
    ws.onclose = (ev) => {
      if (closed) return;
      state('disconnected', ev.reason || (ev.code === 1013 ? 'the box has too many clients' : ''));
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return {
    send,
    close() { closed = true; clearTimeout(timer); if (ws) ws.close(); },
    get open() { return !!ws && ws.readyState === WebSocket.OPEN; },
  };
}

/**
 * Calls fn now and every ms until stopped; a call never overlaps the
 * previous one, and a hidden tab waits until it is shown again.
 * @param {() => Promise<void>} fn @param {number} ms @returns {() => void} stop
 */
export function poll(fn, ms) {
  let stopped = false, timer = 0;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try { await fn(); } catch { /* fn shows its own errors */ }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}
