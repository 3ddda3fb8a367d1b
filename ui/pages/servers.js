// Servers: the Rt-Stat monitoring page's model. Columns of server cards side
// by side, each card on its own Rt-Stat WebSocket; the layout (the
// original's config format) lives in localStorage and in files the user
// saves and loads.
import { h, setText, table, meter } from '../lib/dom.js';
import { kib, rate, pct, int, time } from '../lib/format.js';
import { connect } from '../lib/rtstat.js';

const STORE_KEY = 'edgestat.servers';
const FILE_NAME = 'edgestat-servers.json';
const MAX_COLUMNS = 16;
const MAX_SERVERS = 64;
const MIN_INTERVAL = 0.5;
const MAX_INTERVAL = 86400; // the server refuses longer intervals
const MAX_FILE = 1 << 20;
// The seed: "letters, digits, underscore, hyphen, dot, comma".
const ID_RE = /^[\p{L}\p{N}_.,-]+$/u;

/**
 * The WebSocket URL of a server's `host` as the original page reads it:
 * `ws://host:port/local-part`, the protocol defaulting to ws:// (wss:// when
 * this page is https), the port to 8000 and the local part to `/`. A host
 * written with ws:// or wss:// is kept as it is.
 * @param {string} host @param {string} [pageProtocol] location.protocol
 * @returns {string} the URL
 * @throws {Error} with a sentence saying what is wrong
 */
export function serverURL(host, pageProtocol = location.protocol) {
  const s = String(host ?? '').trim();
  if (!s) throw new Error('no host given');
  if (/\s/.test(s)) throw new Error(`“${s}” contains spaces`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  let u;
  if (scheme) {
    const p = scheme[1].toLowerCase();
    if (p !== 'ws' && p !== 'wss') throw new Error(`${p}:// is not a WebSocket protocol; use ws:// or wss://`);
    try { u = new URL(s); } catch { throw new Error(`“${s}” is not a valid address`); }
  } else {
    try { u = new URL(`${pageProtocol === 'https:' ? 'wss:' : 'ws:'}//${s}`); } catch {
      throw new Error(`“${s}” is not a valid host[:port][/path]`);
    }
    // URL() drops a port equal to the protocol's default, so look at what was written.
    const authority = s.split(/[/?#]/)[0].replace(/^.*@/, '');
    if (!/^(?:\[[^\]]*\]|[^:]*):\d+$/.test(authority)) u.port = '8000';
  }
  if (!u.hostname) throw new Error(`“${s}” names no host`);
  if (u.hash) throw new Error(`“${s}”: a WebSocket address cannot have a #fragment`);
  return u.href;
}

/**
 * Checks a config object (the original's format) and returns it rebuilt with
 * its keys in the original order. Optional per server: `token` ('') and
 * `autoStart` (false).
 * @param {any} obj
 * @returns {{columns: {servers: object[]}[]}}
 * @throws {Error} naming the first fault
 */
export function validateConfig(obj) {
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(obj)) throw new Error('the config must be an object {"columns": [...]}');
  if (!Array.isArray(obj.columns)) throw new Error('"columns" must be a list');
  if (obj.columns.length > MAX_COLUMNS) {
    throw new Error(`it has ${obj.columns.length} columns; at most ${MAX_COLUMNS} fit`);
  }
  const ids = new Set();
  const total = obj.columns.reduce((n, c) => n + (c && Array.isArray(c.servers) ? c.servers.length : 0), 0);
  if (total > MAX_SERVERS) throw new Error(`it has ${total} servers; at most ${MAX_SERVERS} fit`);
  const columns = obj.columns.map((col, ci) => {
    const where = `column ${ci + 1}`;
    if (!isObj(col)) throw new Error(`${where} must be an object {"servers": [...]}`);
    if (!Array.isArray(col.servers)) throw new Error(`${where}: "servers" must be a list`);
    return {
      servers: col.servers.map((s, si) => {
        const at = `${where}, server ${si + 1}`;
        if (!isObj(s)) throw new Error(`${at} must be an object`);
        if (typeof s.id !== 'string' || !ID_RE.test(s.id) || s.id.length > 64) {
          throw new Error(`${at}: "id" must be 1 to 64 letters, digits, _ - . or , (found ${JSON.stringify(s.id)})`);
        }
        if (ids.has(s.id)) throw new Error(`${at}: the id "${s.id}" is used twice`);
        ids.add(s.id);
        if (typeof s.name !== 'string' || s.name.length > 200) throw new Error(`${at} ("${s.id}"): "name" must be text (at most 200 characters)`);
        if (typeof s.host !== 'string' || !s.host.trim() || s.host.length > 2048) throw new Error(`${at} ("${s.id}"): "host" must be a non-empty text`);
        if (typeof s.interval !== 'number' || !Number.isFinite(s.interval) || s.interval < MIN_INTERVAL || s.interval > MAX_INTERVAL) {
          throw new Error(`${at} ("${s.id}"): "interval" must be a number of seconds from ${MIN_INTERVAL} to ${MAX_INTERVAL} (found ${JSON.stringify(s.interval)})`);
        }
        if (s.autoStart !== undefined && typeof s.autoStart !== 'boolean') throw new Error(`${at} ("${s.id}"): "autoStart" must be true or false`);
        if (s.token !== undefined && typeof s.token !== 'string') throw new Error(`${at} ("${s.id}"): "token" must be text`);
        return makeServer(s);
      }),
    };
  });
  return { columns };
}

/** A server entry with exactly the six keys, in the original order. */
function makeServer(s) {
  return { id: s.id, name: s.name, host: s.host, interval: s.interval, autoStart: !!s.autoStart, token: s.token || '' };
}

/**
 * Reads a config file's text: JSON, or JSON inside the original's
 * `RtStat.Monitoring.init(...);` wrapper.
 * @param {string} text @returns {{columns: object[]}}
 */
export function parseConfigText(text) {
  const t = String(text).replace(/^\uFEFF/, '').trim();
  if (!t) throw new Error('the file is empty');
  let obj;
  try {
    obj = JSON.parse(t);
  } catch (e1) {
    const m = /^RtStat\s*\.\s*Monitoring\s*\.\s*init\s*\(([\s\S]*)\)\s*;?$/.exec(t);
    if (!m) throw new Error(`it is not JSON (${e1.message})`);
    try { obj = JSON.parse(m[1]); } catch (e2) {
      throw new Error(`the object inside RtStat.Monitoring.init(...) is not JSON (${e2.message}); keys and texts need double quotes`);
    }
  }
  return validateConfig(obj);
}


/** The config shown when nothing is stored: this box. */
function defaultConfig() {
  return { columns: [{ servers: [makeServer({ id: 'local', name: location.hostname, host: location.host, interval: 1, autoStart: true, token: '' })] }] };
}

/** The config as the file and localStorage hold it (fresh objects, keys in order). */
function serialize(config, pretty) {
  const plain = { columns: config.columns.map((c) => ({ servers: c.servers.map(makeServer) })) };
  return pretty ? `${JSON.stringify(plain, null, 2)}\n` : JSON.stringify(plain);
}

/** Seconds as the interval field shows them: "1 s", "0.5 s". */
const secs = (v) => `${Number(v.toFixed(3))} s`;
const num = (v) => (v == null || v === '' || !Number.isFinite(Number(v)) ? null : Number(v));
/** Sorts keys like cpu2 < cpu10. */
const natural = (a, b) => a.localeCompare(b, 'en', { numeric: true });
const pluginError = (v) => (v && typeof v === 'object' && typeof v.error === 'string' ? v.error : '');

/**
 * The form that adds or edits a server. onSubmit returns an error text, or
 * '' when it took the values.
 * @param {object} init the server's current values
 * @param {string} submitLabel
 * @param {(v: {name: string, host: string, interval: number, token: string, autoStart: boolean}) => string} onSubmit
 * @param {() => void} onCancel
 * @returns {HTMLFormElement}
 */
function serverForm(init, submitLabel, onSubmit, onCancel) {
  const name = h('input', { type: 'text', name: 'name', value: init.name, maxlength: 200, autocomplete: 'off', 'data-testid': 'server-name' });
  const host = h('input', { type: 'text', name: 'host', value: init.host, required: true, maxlength: 2048, autocomplete: 'off',
    spellcheck: 'false', placeholder: 'host[:port][/path] or ws://…', 'data-testid': 'server-host' });
  const interval = h('input', { type: 'number', name: 'interval', value: String(init.interval), min: MIN_INTERVAL, max: MAX_INTERVAL, step: 'any',
    required: true, 'data-testid': 'server-interval' });
  const tok = h('input', { type: 'password', name: 'token', value: init.token, autocomplete: 'off', placeholder: 'none', 'data-testid': 'server-token' });
  const auto = h('input', { type: 'checkbox', name: 'autoStart', checked: init.autoStart, 'data-testid': 'server-autostart' });
  const err = h('p', { class: 'note bad wide', role: 'alert', hidden: true });
  const form = h('form', { class: 'form srv-form', novalidate: true },
    h('label', { class: 'field' }, 'Name', name),
    h('label', { class: 'field' }, 'Host', host),
    h('label', { class: 'field' }, 'Interval (seconds, ≥ 0.5)', interval),
    h('label', { class: 'field' }, 'Token', tok),
    h('label', { class: 'check wide' }, auto, 'Start when the page opens'),
    err,
    h('div', { class: 'toolbar wide' },
      h('button', { type: 'submit', class: 'primary' }, submitLabel),
      h('button', { type: 'button', onclick: onCancel }, 'Cancel')),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fail = (text, field) => { err.hidden = false; err.textContent = text; if (field) field.focus(); };
    const hostV = host.value.trim();
    if (!hostV) return fail('Give the host, e.g. 192.168.1.20 or box:8000.', host);
    try { serverURL(hostV); } catch (e) { return fail(`The host is not valid: ${e.message}.`, host); }
    const iv = num(interval.value);
    if (iv == null || iv < MIN_INTERVAL || iv > MAX_INTERVAL) return fail(`The interval must be from ${MIN_INTERVAL} to ${MAX_INTERVAL} seconds.`, interval);
    const msg = onSubmit({ name: name.value.trim() || hostV, host: hostV, interval: iv, token: tok.value, autoStart: auto.checked });
    if (msg) fail(msg);
    return undefined;
  });
  form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); onCancel(); } });
  return form;
}

/** One server: its card, its Rt-Stat connection and what it last pushed. */
class ServerCard {
  /**
   * @param {object} srv the config entry (edited in place)
   * @param {{changed: () => void, edit: (c: ServerCard, v: object) => string, remove: (c: ServerCard) => void}} page
   */
  constructor(srv, page) {
    this.srv = srv;
    this.page = page;
    this.running = srv.autoStart; // what the user asked for
    this.connected = false; // the socket is open
    this.state = 'connecting';
    this.detail = '';
    this.url = '';
    this.conn = null;
    this.toggling = false; // inside pause()/resume()
    this.gen = 0; // the current connection's number: callbacks of older ones are ignored
    this.last = null;
    this.build();
    this.connectNow();
  }

  /** Builds the card; later pushes only change text and bar widths. */
  build() {
    this.nameEl = h('h3', { class: 'srv-name', 'data-field': 'name' });
    this.badge = h('span', { class: 'badge', 'data-field': 'state', role: 'status' });
    this.urlEl = h('span', { class: 'mono small muted srv-url', 'data-field': 'url' });
    this.toggleBtn = h('button', { type: 'button', class: 'small', 'data-action': 'toggle', onclick: () => (this.running ? this.stop() : this.start()) });
    this.editBtn = h('button', { type: 'button', class: 'small', 'data-action': 'edit', onclick: () => this.openEditor() }, 'Edit');
    const removeBtn = h('button', { type: 'button', class: 'small danger', 'data-action': 'remove', onclick: () => this.page.remove(this) }, 'Remove');
    this.errEl = h('p', { class: 'note bad small', 'data-field': 'error', hidden: true });
    this.waitEl = h('p', { class: 'empty small' });

    // CPU: one stacked bar per core, as Rt-Stat's own page draws them.
    this.cpuText = h('span', { class: 'small muted', 'data-field': 'cpu' }, '–');
    this.cpuRows = h('div');
    this.cpuMeters = new Map();
    const keyItem = (cls, label, value) => h('span', {}, h('i', { class: cls }), label, value ? ' ' : '', value || '');
    this.cpu = this.section('CPU', this.cpuText, this.cpuRows,
      h('div', { class: 'key' }, keyItem('user', 'user'), keyItem('system', 'system'), keyItem('iowait', 'iowait')));

    this.memMeter = meter('memory');
    this.swapMeter = meter('swap');
    this.memKey = { apps: h('b'), buffers: h('b'), cached: h('b') };
    this.memText = h('span', { class: 'small muted', 'data-field': 'mem' });
    this.mem = this.section('Memory', this.memText, this.memMeter.el, this.swapMeter.el,
      h('div', { class: 'key' }, keyItem('user', 'apps', this.memKey.apps), keyItem('system', 'buffers', this.memKey.buffers),
        keyItem('cache', 'cached', this.memKey.cached)));

    const dd = (f) => h('dd', { 'data-field': f }, '–');
    this.sys = { load: dd('load'), uptime: dd('uptime'), users: dd('users'), procs: dd('processes'), temp: dd('temp') };
    this.tempRow = [h('dt', {}, 'Temperature'), this.sys.temp];
    this.system = this.section('Load', null, h('dl', { class: 'kv' },
      h('dt', {}, 'Load 1 · 5 · 15 min'), this.sys.load,
      h('dt', {}, 'Uptime'), this.sys.uptime,
      h('dt', {}, 'Users'), this.sys.users,
      h('dt', {}, 'Processes'), this.sys.procs,
      this.tempRow));

    this.netTable = table(['Interface', 'Receive', 'Send'], 'No interfaces');
    for (const th of [...this.netTable.el.querySelectorAll('th')].slice(1)) th.className = 'num';
    this.net = this.section('Network', null, this.netTable.el);

    this.diskRows = h('div');
    this.diskMeters = new Map();
    this.diskNone = h('p', { class: 'empty small', hidden: true }, 'No mounted disks');
    this.disk = this.section('Disks', null, this.diskRows, this.diskNone);

    this.body = h('div', { hidden: true }, this.cpu.el, this.mem.el, this.system.el, this.net.el, this.disk.el);
    this.view = h('div', {}, this.errEl, this.waitEl, this.body);
    this.el = h('section', { class: 'card srv-card', dataset: { serverId: this.srv.id } },
      h('div', { class: 'card-head' }, this.nameEl, this.badge),
      h('div', { class: 'srv-meta' }, this.urlEl, h('div', { class: 'toolbar' }, this.toggleBtn, this.editBtn, removeBtn)),
      this.view);
    this.showConfig();
    this.showState();
  }

  /**
   * A titled part of the card with room for the plugin's error.
   * @returns {{el: HTMLElement, err: HTMLElement, kids: HTMLElement}}
   */
  section(title, aside, ...kids) {
    const err = h('p', { class: 'note bad small', hidden: true });
    const box = h('div', {}, ...kids);
    const el = h('div', { class: 'srv-sect', 'data-section': title.toLowerCase() },
      h('div', { class: 'card-head' }, h('h2', {}, title), aside ? h('div', { class: 'toolbar' }, aside) : null), err, box);
    return { el, err, box };
  }

  /** Shows the name and address from the config. */
  showConfig() {
    setText(this.nameEl, this.srv.name || this.srv.host);
    this.nameEl.title = this.srv.name || this.srv.host;
    setText(this.urlEl, `${this.url || this.srv.host} · every ${secs(this.srv.interval)}`);
  }

  /** Opens (or re-opens) the WebSocket for the current config. */
  connectNow() {
    this.drop();
    try {
      this.url = serverURL(this.srv.host);
    } catch (e) {
      this.url = '';
      this.showConfig();
      this.setState('error', `Invalid host: ${e.message}.`);
      return;
    }
    this.showConfig();
    const gen = this.gen;
    try {
      this.conn = connect({
        url: this.url, interval: this.srv.interval, token: this.srv.token, running: this.running,
        onPush: (d) => { if (gen === this.gen) this.onPush(d); },
        onState: (s, d) => { if (gen === this.gen) this.onState(s, d); },
      });
    } catch (e) {
      // The browser refuses some addresses outright (ws:// from an https page).
      this.conn = null;
      this.setState('error', `Cannot connect to ${this.url}: ${e.message}`);
    }
  }

  /** Follows the connection's state (see rtstat.js connect()). */
  onState(s, detail) {
    if (s === 'connecting' || s === 'disconnected') this.connected = false;
    else if (this.toggling && !this.connected) return; // pause()/resume() while offline: the socket's state stands
    else this.connected = true;
    if (s === 'disconnected' && !detail) detail = `No answer from ${this.url}; trying again.`;
    else if (s === 'error') detail = `The server says: ${detail || 'error'}`;
    this.setState(s, detail || '');
  }

  /** Sets the badge state and the error line. */
  setState(s, detail) {
    this.state = s;
    this.detail = detail;
    this.showState();
    this.page.changed();
  }

  /** Shows the state on the badge, the error line, the Start/Stop button and the waiting text. */
  showState() {
    const label = this.state === 'paused' ? 'stopped' : this.state;
    this.badge.dataset.state = this.state;
    setText(this.badge, label);
    this.badge.title = this.detail;
    const showErr = (this.state === 'error' || this.state === 'disconnected') && !!this.detail;
    this.errEl.hidden = !showErr;
    setText(this.errEl, showErr ? this.detail : '');
    setText(this.toggleBtn, this.running ? 'Stop' : 'Start');
    this.toggleBtn.classList.toggle('primary', !this.running);
    this.toggleBtn.setAttribute('aria-label', `${this.running ? 'Stop' : 'Start'} ${this.srv.name || this.srv.host}`);
    let wait = '';
    if (!this.last) {
      if (!this.running) wait = 'Stopped: press Start to see its figures.';
      else if (this.state === 'live') wait = `Waiting for the first push (within ${secs(this.srv.interval)})…`;
      else if (this.state === 'connecting') wait = 'Connecting…';
    }
    this.waitEl.hidden = !wait;
    setText(this.waitEl, wait);
  }

  /** Starts pushes (connecting first when there is no connection). */
  start() {
    this.running = true;
    if (!this.conn) { this.connectNow(); return; }
    this.toggling = true;
    try { this.conn.resume(); } finally { this.toggling = false; }
    this.showState();
    this.page.changed();
  }

  /** Stops pushes; the connection stays open, so the badge still tells whether the server answers. */
  stop() {
    this.running = false;
    if (this.conn) {
      this.toggling = true;
      try { this.conn.pause(); } finally { this.toggling = false; }
    }
    this.showState();
    this.page.changed();
  }

  /** Applies edited values: a new host or token reconnects, a new interval is sent. */
  apply(v) {
    const s = this.srv;
    const reconnect = v.host !== s.host || v.token !== s.token || !this.conn;
    const newInterval = v.interval !== s.interval;
    Object.assign(s, { name: v.name, host: v.host, interval: v.interval, autoStart: v.autoStart, token: v.token });
    this.showConfig();
    if (reconnect) this.connectNow();
    else if (newInterval) this.conn.setInterval(s.interval);
    this.showState();
  }

  /** Replaces the figures by the edit form until it is saved or cancelled. */
  openEditor() {
    if (this.form) { this.form.querySelector('input').focus(); return; }
    const close = () => {
      this.form.remove();
      this.form = null;
      this.view.hidden = false;
      this.editBtn.disabled = false;
      this.editBtn.focus();
    };
    this.form = serverForm(this.srv, 'Save', (v) => {
      const msg = this.page.edit(this, v);
      if (!msg) close();
      return msg;
    }, close);
    this.view.hidden = true;
    this.editBtn.disabled = true;
    this.el.append(this.form);
    this.form.querySelector('input').focus();
  }

  /** Shows one push. Only text and bar widths change. */
  onPush(d) {
    if (!d || typeof d !== 'object') return;
    if (this.running && this.connected && this.state !== 'live') this.setState('live', '');
    const first = !this.last;
    this.last = d;
    if (first) { this.body.hidden = false; this.showState(); }
    this.renderCPU(d.cpu_stat);
    this.renderMem(d.meminfo);
    this.renderSystem(d.uptime, d.processes, d.temp);
    this.renderNet(d.net);
    this.renderDisks(d.disk);
  }

  /**
   * Shows a plugin's error (or hides the part when the push lacks it).
   * @returns {boolean} whether the part has data to show
   */
  part(sec, v) {
    const e = pluginError(v);
    sec.el.hidden = v == null;
    sec.err.hidden = !e;
    setText(sec.err, e ? `Not available: ${e}` : '');
    sec.box.hidden = !!e;
    return v != null && !e && typeof v === 'object';
  }

  /** Keeps one meter per key, in order. */
  syncMeters(box, map, keys) {
    for (const [k, m] of map) if (!keys.includes(k)) { m.el.remove(); map.delete(k); }
    keys.forEach((k, i) => {
      let m = map.get(k);
      if (!m) { m = meter(k); m.el.querySelector('.bar-label').title = k; map.set(k, m); }
      if (box.children[i] !== m.el) box.insertBefore(m.el, box.children[i] || null);
    });
  }

  /** CPU: a user/system/iowait bar per core and the mean usage. */
  renderCPU(cpu) {
    if (!this.part(this.cpu, cpu)) { setText(this.cpuText, pluginError(cpu) ? 'n/a' : '–'); return; }
    const keys = Object.keys(cpu).filter((k) => cpu[k] && typeof cpu[k] === 'object').sort(natural);
    this.syncMeters(this.cpuRows, this.cpuMeters, keys);
    let sum = 0, n = 0;
    for (const k of keys) {
      const c = cpu[k];
      const usage = num(c.usage);
      if (usage != null) { sum += usage; n++; }
      this.cpuMeters.get(k).set([[num(c.user), 'user'], [num(c.system), 'system'], [num(c.iowait), 'iowait']], pct(usage));
    }
    // The receive time keeps this line changing with every push, so a stalled card shows.
    const mean = n ? `${(sum / n * 100).toFixed(1)} %` : '–';
    setText(this.cpuText, `${mean} mean of ${n} ${n === 1 ? 'core' : 'cores'} · ${time(Date.now())}`);
  }

  /** Memory: apps, buffers and cached of the total (kB), then swap. */
  renderMem(mi) {
    if (!this.part(this.mem, mi)) return;
    const m = mi.memory || {}, s = mi.swap || {};
    const total = num(m.total);
    const f = (v) => (total ? (num(v) || 0) / total : 0);
    this.memMeter.set([[f(m.apps), 'user'], [f(m.buffers), 'system'], [f(m.cached), 'cache']],
      total ? `${kib(m.apps)} / ${kib(total)}` : '–');
    setText(this.memText, total ? `${pct(f(m.apps))} in use by apps` : '');
    setText(this.memKey.apps, kib(m.apps));
    setText(this.memKey.buffers, kib(m.buffers));
    setText(this.memKey.cached, kib(m.cached));
    const st = num(s.total);
    this.swapMeter.set([[st ? (num(s.used) || 0) / st : 0, 'swap']], st ? `${kib(s.used)} / ${kib(st)}` : 'none');
  }

  /** Load averages, uptime, users, processes and the hottest thermal zone. */
  renderSystem(up, procs, temp) {
    const ok = up && typeof up === 'object' && !pluginError(up);
    this.system.el.hidden = up == null && procs == null;
    this.system.err.hidden = !pluginError(up);
    setText(this.system.err, pluginError(up) ? `Not available: ${pluginError(up)}` : '');
    setText(this.sys.load, ok ? [up.la1, up.la5, up.la15].map((v) => (v == null ? '–' : v)).join(' · ') : '–');
    setText(this.sys.uptime, ok && up.uptime ? String(up.uptime).replace(/\s+/g, ' ') : '–');
    setText(this.sys.users, ok && up.users != null ? String(up.users) : '–');
    const p = procs && typeof procs === 'object' && !pluginError(procs) ? procs : null;
    setText(this.sys.procs, p ? `${int(num(p.all))} · ${int(num(p.running))} running` : '–');
    // Temperature: the hottest zone, when the box has sensors.
    let hot = null;
    if (temp && typeof temp === 'object' && !pluginError(temp)) {
      for (const [zone, z] of Object.entries(temp)) {
        const t = num(z && z.temp);
        if (t != null && (!hot || t > hot.t)) hot = { t, name: (z.type || zone) };
      }
    }
    for (const el of this.tempRow) el.hidden = !hot;
    setText(this.sys.temp, hot ? `${hot.t.toFixed(1)} °C (${hot.name})` : '–');
  }

  /** Network: receive and send rates per interface. */
  renderNet(net) {
    if (!this.part(this.net, net)) return;
    const rows = Object.entries(net).filter(([, v]) => v && typeof v === 'object').sort(([a], [b]) => natural(a, b));
    this.netTable.update(rows, ([k]) => k, ([k, v]) => [k, rate(num(v.rx_bytes)), rate(num(v.tx_bytes))], (tr) => {
      tr.insertCell();
      tr.insertCell().className = 'num';
      tr.insertCell().className = 'num';
    });
  }

  /** Disks: space used of the total per mount point. */
  renderDisks(disk) {
    if (!this.part(this.disk, disk)) return;
    const keys = Object.keys(disk).filter((k) => disk[k] && typeof disk[k] === 'object').sort(natural);
    this.syncMeters(this.diskRows, this.diskMeters, keys);
    for (const k of keys) {
      const d = disk[k];
      const total = num(d.total);
      const m = this.diskMeters.get(k);
      m.el.title = [d.device, d.fstype].filter(Boolean).join(' · ');
      m.set([[total ? (num(d.used) || 0) / total : 0, '']], total ? `${kib(d.used)} / ${kib(total)}` : '–');
    }
    this.diskNone.hidden = keys.length > 0;
  }

  /** Re-shows rates after the bit/s ↔ B/s setting changed. */
  rerenderRates() {
    if (this.last) this.renderNet(this.last.net);
  }

  /** Ends the current connection; its late callbacks are ignored. */
  drop() {
    this.gen++;
    if (this.conn) this.conn.close();
    this.conn = null;
    this.connected = false;
  }

  /** Closes the card's connection for good. */
  close() {
    this.drop();
  }
}

/**
 * Mounts the Servers page.
 * @param {HTMLElement} root
 * @param {{status: Function, banner: Function, arg: string, title: string}} ctx
 * @returns {() => void} unmount
 */
export function mount(root, ctx) {
  /** @type {Map<string, ServerCard>} */
  const cards = new Map();
  const timers = new Map(); // revoke timer → object URL
  let config = null;
  let closed = false;

  const serverCount = () => config.columns.reduce((n, c) => n + c.servers.length, 0);

  /** Writes the config to localStorage (every change goes through here). */
  function persist() {
    try {
      localStorage.setItem(STORE_KEY, serialize(config, false));
    } catch (e) {
      ctx.banner(`The servers could not be saved in this browser (${e.message}); use Save to keep them in a file.`);
    }
  }

  /** The top-bar pill: all started servers live → live; else the worst state. */
  function changed() {
    const started = [...cards.values()].filter((c) => c.running);
    if (!started.length) { ctx.status('idle', 'no server started'); return; }
    for (const s of ['error', 'disconnected', 'connecting']) {
      const n = started.filter((c) => c.state === s).length;
      if (n) { ctx.status(s, `${n} of ${started.length} started ${started.length === 1 ? 'server' : 'servers'}: ${s}`); return; }
    }
    const live = started.filter((c) => c.state === 'live').length;
    ctx.status(live === started.length ? 'live' : 'connecting', `${live} of ${started.length} started servers live`);
  }

  const hooks = {
    changed,
    edit(card, v) {
      card.apply(v);
      persist();
      changed();
      return '';
    },
    remove(card) {
      const label = card.srv.name || card.srv.host;
      if (!confirm(`Remove the server “${label}”?`)) return;
      for (const col of config.columns) {
        const i = col.servers.indexOf(card.srv);
        if (i >= 0) col.servers.splice(i, 1);
      }
      card.close();
      cards.delete(card.srv.id);
      persist();
      render();
      changed();
    },
  };

  /** A fresh id: the seed's characters, unique in the config. */
  function newId() {
    for (let n = serverCount() + 1; ; n++) if (!cards.has(`s${n}`)) return `s${n}`;
  }

  /** Replaces the whole config (start, Load): closes every card, opens the new ones. */
  function applyConfig(cfg) {
    for (const c of cards.values()) c.close();
    cards.clear();
    config = cfg;
    for (const col of config.columns) for (const s of col.servers) cards.set(s.id, new ServerCard(s, hooks));
    render();
    changed();
  }

  // The page.
  const fileInput = h('input', { type: 'file', accept: '.json,.js', 'data-testid': 'servers-load',
    class: 'srv-file', onchange: () => loadFile() });
  const addColBtn = h('button', { type: 'button', 'data-testid': 'add-column', onclick: () => addColumn() }, 'Add column');
  const summary = h('span', { class: 'muted small', 'data-field': 'summary' });
  const columnsEl = h('div', { class: 'columns' });
  const emptyEl = h('p', { class: 'empty' }, 'No columns — add one with “Add column”, or load a saved file.');
  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, ctx.title), summary,
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', 'data-testid': 'start-all', onclick: () => { for (const c of cards.values()) if (!c.running) c.start(); } }, 'Start all'),
        h('button', { type: 'button', 'data-testid': 'stop-all', onclick: () => { for (const c of cards.values()) if (c.running) c.stop(); } }, 'Stop all'),
        addColBtn,
        h('button', { type: 'button', 'data-testid': 'servers-save', onclick: () => save(), title: `Download the servers as ${FILE_NAME}` }, 'Save'),
        h('label', { class: 'btn srv-load', title: 'Load servers from a saved file (.json, or the original page’s .js config)' }, 'Load', fileInput))),
    emptyEl,
    columnsEl,
  );

  /** Lays out the columns again, moving the existing cards (their connections stay). */
  function render() {
    const multi = config.columns.length > 1;
    columnsEl.replaceChildren(...config.columns.map((col, ci) => {
      const addBtn = h('button', { type: 'button', class: 'small', 'data-action': 'add-server' }, 'Add server');
      const removeBtn = h('button', { type: 'button', class: 'small danger', 'data-action': 'remove-column', 'aria-label': `Remove column ${ci + 1}` }, 'Remove column');
      const el = h('section', { class: 'column', dataset: { column: String(ci + 1) }, 'aria-label': `Column ${ci + 1}` },
        h('div', { class: 'card-head col-head' },
          h('h2', {}, multi ? `Column ${ci + 1}` : 'Servers'),
          h('div', { class: 'toolbar' }, addBtn, removeBtn)),
        col.servers.map((s) => cards.get(s.id).el),
        col.servers.length ? null : h('p', { class: 'empty' }, 'No servers in this column — add one.'));
      addBtn.addEventListener('click', () => openAddForm(col, el, addBtn));
      removeBtn.addEventListener('click', () => removeColumn(col, ci));
      return el;
    }));
    emptyEl.hidden = config.columns.length > 0;
    const n = serverCount();
    setText(summary, `${config.columns.length} ${config.columns.length === 1 ? 'column' : 'columns'} · ${n} ${n === 1 ? 'server' : 'servers'}`);
  }

  /** Adds an empty column at the end (at most MAX_COLUMNS). */
  function addColumn() {
    if (config.columns.length >= MAX_COLUMNS) {
      ctx.banner(`At most ${MAX_COLUMNS} columns fit on this page; remove one first.`);
      return;
    }
    ctx.banner('');
    config.columns.push({ servers: [] });
    persist();
    render();
    const last = columnsEl.lastElementChild;
    last.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    last.querySelector('[data-action=add-server]').focus();
  }

  /** Removes a column and its servers, after the user confirms. */
  function removeColumn(col, ci) {
    const n = col.servers.length;
    if (n && !confirm(`Remove column ${ci + 1} and its ${n} ${n === 1 ? 'server' : 'servers'}?`)) return;
    for (const s of col.servers) {
      const c = cards.get(s.id);
      if (c) c.close();
      cards.delete(s.id);
    }
    config.columns.splice(config.columns.indexOf(col), 1);
    persist();
    render();
    changed();
  }

  /** Opens the add-server form at the foot of a column. */
  function openAddForm(col, colEl, btn) {
    const open = colEl.querySelector('.srv-form');
    if (open) { open.querySelector('input').focus(); return; }
    if (serverCount() >= MAX_SERVERS) {
      ctx.banner(`At most ${MAX_SERVERS} servers fit on this page; remove one first.`);
      return;
    }
    let wrap = null;
    const close = () => { wrap.remove(); btn.disabled = false; btn.focus(); };
    const form = serverForm({ name: '', host: '', interval: 1, token: '', autoStart: true }, 'Add', (v) => {
      if (serverCount() >= MAX_SERVERS) return `At most ${MAX_SERVERS} servers fit on this page.`;
      if (!config.columns.includes(col)) return 'This column was removed meanwhile.';
      const srv = makeServer({ id: newId(), ...v });
      col.servers.push(srv);
      cards.set(srv.id, new ServerCard(srv, hooks));
      ctx.banner('');
      persist();
      render();
      changed();
      cards.get(srv.id).el.scrollIntoView({ block: 'nearest' });
      return '';
    }, close);
    wrap = h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'New server')), form);
    btn.disabled = true;
    colEl.append(wrap);
    wrap.scrollIntoView({ block: 'nearest' });
    form.querySelector('input').focus();
  }

  /** Downloads the config as edgestat-servers.json. */
  function save() {
    const url = URL.createObjectURL(new Blob([serialize(config, true)], { type: 'application/json' }));
    const a = h('a', { href: url, download: FILE_NAME, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    // Revoked a little later: some browsers read the URL after click() returns.
    const t = setTimeout(() => { timers.delete(t); URL.revokeObjectURL(url); }, 5000);
    timers.set(t, url);
  }

  /** Reads the chosen file; a bad one leaves the current config as it is. */
  async function loadFile() {
    const f = fileInput.files && fileInput.files[0];
    fileInput.value = ''; // choosing the same file again fires change again
    if (!f) return;
    const fail = (why) => ctx.banner(`“${f.name}” was not loaded: ${why}. The current servers are kept.`);
    if (f.size > MAX_FILE) { fail(`it is larger than ${MAX_FILE >> 10} KiB`); return; }
    let text;
    try { text = await f.text(); } catch (e) { fail(`it could not be read (${e.message})`); return; }
    if (closed) return;
    let cfg;
    try { cfg = parseConfigText(text); } catch (e) { fail(e.message); return; }
    ctx.banner('');
    applyConfig(cfg);
    persist();
  }

  /** Rates follow the bit/s or B/s setting. */
  const onUnits = () => { for (const c of cards.values()) c.rerenderRates(); };
  window.addEventListener('edgestat:units', onUnits);

  // Start: the stored config, or this box.
  let stored = null, storedError = '';
  try { stored = localStorage.getItem(STORE_KEY); } catch { /* storage off: the default below */ }
  let initial = null;
  if (stored != null) {
    try { initial = parseConfigText(stored); } catch (e) { storedError = e.message; }
  }
  applyConfig(initial || defaultConfig());
  if (storedError) ctx.banner(`The saved servers were not valid (${storedError}); showing this box instead.`);

  const unmount = () => {
    closed = true;
    for (const c of cards.values()) c.close();
    cards.clear();
    for (const [t, url] of timers) { clearTimeout(t); URL.revokeObjectURL(url); }
    timers.clear();
    window.removeEventListener('edgestat:units', onUnits);
  };
  return unmount;
}
