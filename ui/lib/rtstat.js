// The Rt-Stat protocol over WebSocket: `command::arg::arg`, `\` escapes.
import { socket } from './net.js';

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
 * An Rt-Stat client over WebSocket that reconnects with backoff and, once
 * connected again, sends its token, interval and start as before.
 * @param {{url: string, interval: number, token?: string, running?: boolean,
 *   onPush: (data: object) => void, onState: (state: string, detail?: string) => void}} opts
 *   States: connecting, live, paused, disconnected, error.
 */
export function connect(opts) {
  let running = opts.running ?? true;
  const ws = socket(opts.url, {
    onOpen(send) {
      if (opts.token) send(encode('auth', [opts.token]));
      send(encode('interval', [opts.interval]));
      if (running) send(encode('start', ['']));
      opts.onState(running ? 'live' : 'paused');
    },
    onMessage(text) {
      const m = decode(text);
      if (m.command === 'push') {
        let data;
        try { data = JSON.parse(m.args[0]); } catch (e) { opts.onState('error', `bad push: ${e.message}`); return; }
        opts.onPush(data);
      } else if (m.command === 'error') {
        opts.onState('error', m.args[0]);
      }
    },
    onState(s, detail) { if (s !== 'open') opts.onState(s, detail); },
  });
  const send = (cmd, args) => ws.send(encode(cmd, args));
  return {
    setInterval(v) { opts.interval = v; send('interval', [v]); },
    setToken(t) { opts.token = t; send('auth', [t]); if (running) send('start', ['']); },
    pause() { running = false; send('stop', ['']); opts.onState('paused'); },
    resume() { running = true; send('start', ['']); opts.onState('live'); },
    get running() { return running; },
    close() { ws.close(); },
  };
}
