// The Rt-Stat protocol over WebSocket: `command::arg::arg`, `\` escapes.

/** Encodes one message. @param {string} cmd @param {string[]} args */
export function encode(cmd, args = []) {
  const esc = (a) => String(a).replace(/\\/g, '\\\\').replace(/:(?=:|$)/g, '\\:').replace(/\n/g, '\\n');
  return [cmd, ...args.map(esc)].join('::');
}

/** Decodes one message into {command, args}. @param {string} text */
export function decode(text) {
  text = text.trim();
  const i = text.indexOf('::');
  const command = (i < 0 ? text : text.slice(0, i)).toLowerCase();
  const args = [];
  if (i < 0) return { command, args };
  const s = text.slice(i + 2);
  let cur = '', escaped = false, afterSep = false;
  for (let j = 0; j < s.length; j++) {
    const c = s[j];
    afterSep = false;
    if (escaped) { cur += c === 'n' ? '\n' : c; escaped = false; }
    else if (c === '\\') escaped = true;
    else if (c === ':' && s[j + 1] === ':') { args.push(cur); cur = ''; j++; afterSep = true; }
    else cur += c;
  }
  if (!afterSep) args.push(cur);
  return { command, args };
}

/**
 * A client that reconnects with backoff and keeps pushing at its interval.
 * @param {{url: string, interval: number, token?: string,
 *   onPush: (data: object) => void, onState: (state: string, detail?: string) => void}} opts
 */
export function connect(opts) {
  let ws = null, closed = false, delay = 500, running = true;
  const open = () => {
    opts.onState('connecting');
    ws = new WebSocket(opts.url);
    ws.onopen = () => {
      delay = 500;
      if (opts.token) ws.send(encode('auth', [opts.token]));
      ws.send(encode('interval', [opts.interval]));
      if (running) ws.send(encode('start', ['']));
      opts.onState(running ? 'live' : 'paused');
    };
    ws.onmessage = (ev) => {
      const m = decode(ev.data);
      if (m.command === 'push') {
        try { opts.onPush(JSON.parse(m.args[0])); } catch (e) { opts.onState('error', 'bad push: ' + e.message); }
      } else if (m.command === 'error') {
        opts.onState('error', m.args[0]);
      }
    };
    ws.onclose = () => {
      if (closed) return;
      opts.onState('disconnected');
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  const send = (cmd, args) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(encode(cmd, args)); };
  return {
    setInterval(v) { opts.interval = v; send('interval', [v]); },
    setToken(t) { opts.token = t; send('auth', [t]); if (running) { send('start', ['']); } },
    pause() { running = false; send('stop', ['']); opts.onState('paused'); },
    resume() { running = true; send('start', ['']); opts.onState('live'); },
    get running() { return running; },
    close() { closed = true; if (ws) ws.close(); },
  };
}
