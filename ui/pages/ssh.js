// SSH hosts: other Linux boxes read over SSH through this box's /monitor
// JSON-RPC WebSocket (the Argusyes interface). Saved hosts keep their
// secrets on the box, sealed; this page remembers only which saved hosts
// (their ids) the user watches, and starts them again on every (re)connect
// because the box stops a client's targets when its WebSocket closes.
import { api, socket, wsURL, poll } from '../lib/net.js';
import { h, setText, table, meter, segmented } from '../lib/dom.js';
import { bytes, rate, duration, int, time } from '../lib/format.js';
import { TimeChart } from '../lib/chart.js';

const WATCH_KEY = 'edgestat.ssh.watch';
const HISTORY_MS = 10 * 60 * 1000;
const MAX_WATCH = 64; // cards on one page; the box allows more, a page should not
const RETRY_MIN_MS = 5000, RETRY_MAX_MS = 60000;
const PROC_STATES = { R: 'running', S: 'sleeping', D: 'disk wait', Z: 'zombie', T: 'stopped', t: 'traced', I: 'idle', X: 'dead' };

/** The ids of the watched saved hosts, as kept in localStorage. @returns {Set<number>} */
function loadWatch() {
  try {
    const v = JSON.parse(localStorage.getItem(WATCH_KEY) || '[]');
    return new Set(Array.isArray(v) ? v.filter((x) => Number.isSafeInteger(x)) : []);
  } catch {
    return new Set();
  }
}

/** Stores the watched ids (ids only: never a host's secret). @param {Set<number>} ids */
function saveWatch(ids) {
  localStorage.setItem(WATCH_KEY, JSON.stringify([...ids]));
}

/** The box's name for a target, "user@host:port" (IPv6 in brackets, as Go's JoinHostPort). */
export function sshKey(t) {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user}@${host}:${t.port}`;
}

/** A percentage (0..100) as text. */
const pc = (v) => (v == null || !Number.isFinite(v) ? '–' : `${v.toFixed(v > 0 && v < 10 ? 1 : 0)} %`);

/** Numeric order of object keys that are numbers ("0", "10", "2"). */
const byNum = (a, b) => Number(a) - Number(b);

/**
 * The error of one target in an answer: "1 of 1 targets failed: KEY: why"
 * becomes "why" (the card already names the host).
 */
function targetError(text, key) {
  let s = String(text).replace(/^\d+ of \d+ targets failed: /, '').replace(/^sshmon: /, '');
  if (s.startsWith(`${key}: `)) s = s.slice(key.length + 2);
  return s;
}

/**
 * The card of one monitored host: built once, then only its text, meters
 * and chart change as events arrive.
 * @param {{id: number, name: string, host: string, port: number, user: string}} saved
 * @param {{onStop: Function, onRetry: Function}} acts
 */
function hostCard(saved, acts) {
  const key = sshKey(saved);
  const badge = h('span', { class: 'badge', dataset: { state: 'connecting' } }, 'connecting');
  const note = h('p', { class: 'note bad', hidden: true });
  const retry = h('button', { type: 'button', class: 'small', hidden: true, onclick: () => acts.onRetry() }, 'Retry now');
  const f = {};
  const stat = (name, label) => h('div', { class: 'stat' },
    (f[name] = h('div', { class: 'stat-value', dataset: { field: name } }, '–')),
    (f[`${name}Label`] = h('div', { class: 'stat-label' }, label)));
  const model = h('p', { class: 'muted small' }, 'Waiting for the first reading…');
  const chart = new TimeChart({
    series: ['CPU', 'Memory'], format: pc, capacity: 600, span: HISTORY_MS, max: 100, height: 140,
    label: `CPU and memory use of ${key}, 10 minutes`,
  });
  const cpuBox = h('div');
  const cpus = new Map();
  const ram = meter('RAM'), swap = meter('Swap');
  const net = table(['Interface', 'Receive', 'Send'], 'No interfaces yet');
  const fsBox = h('div');
  const fsEmpty = h('p', { class: 'empty' }, 'No file systems yet');
  const fss = new Map();
  const temps = h('dl', { class: 'kv' });
  const tempsEmpty = h('p', { class: 'empty' }, 'No sensors');
  let tempKeys = '';
  const tempDd = new Map();
  const procs = table(['PID', 'Name', 'State', 'CPU', 'Memory', 'Threads'], 'Listed from the second reading on');
  for (const i of [0, 3, 4, 5]) procs.el.querySelectorAll('th')[i].classList.add('num');
  const netHead = net.el.querySelectorAll('th');
  netHead[1].classList.add('num'); netHead[2].classList.add('num');

  // Nothing but the state until the host has answered once: a host that
  // refuses shows its error, not a page of dashes.
  const waiting = h('p', { class: 'empty' }, 'Connecting…');
  const body = h('div');
  const part = (title, ...kids) => h('div', { class: 'ssh-part' }, h('h3', {}, title), ...kids);
  const el = h('section', { class: 'card wide', dataset: { sshKey: key } },
    h('div', { class: 'card-head' },
      h('h2', {}, saved.name || key),
      h('span', { class: 'mono small muted' }, key),
      badge,
      h('div', { class: 'toolbar' }, retry,
        h('button', { type: 'button', class: 'small', onclick: () => acts.onStop() }, 'Stop'))),
    note, waiting,
    body);
  body.append(
    h('div', { class: 'stats' },
      stat('cpu', 'CPU used'), stat('mem', 'memory used'), stat('load', 'load, 1 min'), stat('uptime', 'up')),
    model,
    chart.el,
    h('div', { class: 'ssh-parts' },
      part('Processors', cpuBox, h('div', { class: 'key' },
        h('span', {}, h('i', { class: 'user' }), 'user'), h('span', {}, h('i', { class: 'system' }), 'system'),
        h('span', {}, h('i', { class: 'iowait' }), 'iowait'))),
      part('Memory', ram.el, swap.el),
      part('Network', net.el),
      part('File systems', fsBox, fsEmpty),
      part('Temperatures', temps, tempsEmpty),
      h('div', { class: 'ssh-part wide' }, h('h3', {}, 'Top processes'), procs.el)));
  body.hidden = true;
  temps.hidden = true;
  net.update([], String, () => []);
  procs.update([], String, () => []);

  let lastCPU = NaN, lastNet = null;
  const v = {
    key, el, id: saved.id, target: { host: saved.host, port: saved.port, user: saved.user },
    state: 'connecting', error: '', lastFail: '',
    started: false, pending: false, retryTimer: 0, retryDelay: RETRY_MIN_MS, failures: 0,
    onState: null,
    /** Sets the badge; an error is shown in the card. */
    setState(state, error = '', retrying = false) {
      v.state = state; v.error = error;
      badge.dataset.state = state;
      setText(badge, state);
      note.hidden = !error;
      setText(note, error);
      waiting.hidden = !body.hidden || !!error;
      retry.hidden = !retrying;
      if (v.onState) v.onState();
    },
    /** Re-renders cached rates after a units change. */
    units() { if (lastNet) v.event('net_dev', lastNet); },
    /** Applies one event's payload. @param {string} name @param {any} d */
    event(name, d) {
      if (d == null) return;
      if (body.hidden) { body.hidden = false; waiting.hidden = true; }
      switch (name) {
        case 'cpu_info': {
          const socks = Object.values(d).sort((a, b) => a.physical_id - b.physical_id);
          let n = 0;
          for (const s of socks) for (const c of Object.values(s.cpu_core_info || {})) n += Object.keys(c.cpu_processor_info || {}).length;
          const name0 = socks[0] && socks[0].model_name;
          setText(model, `${name0 || 'Unknown CPU'} · ${n} ${n === 1 ? 'processor' : 'processors'}`);
          break;
        }
        case 'cpu_perf': {
          lastCPU = d.total ? d.total.utilization : NaN;
          setText(f.cpu, pc(lastCPU));
          const ids = Object.keys(d.processors || {}).sort(byNum);
          if (ids.join() !== [...cpus.keys()].join()) {
            cpus.clear();
            cpuBox.replaceChildren(...ids.map((i) => { const m = meter(`cpu${i}`); cpus.set(i, m); return m.el; }));
          }
          for (const i of ids) {
            const u = d.processors[i];
            cpus.get(i).set([[u.user / 100, 'user'], [u.system / 100, 'system'], [u.iowait / 100, 'iowait']], pc(u.utilization));
          }
          break;
        }
        case 'memory': {
          const used = d.total ? d.used / d.total : 0;
          setText(f.mem, bytes(d.used));
          setText(f.memLabel, `memory used of ${bytes(d.total)}`);
          ram.set([[used, 'user']], `${bytes(d.used)} / ${bytes(d.total)}`);
          const su = d.swap_total - d.swap_free;
          swap.set([[d.swap_total ? su / d.swap_total : 0, 'swap']], d.swap_total ? `${bytes(su)} / ${bytes(d.swap_total)}` : 'none');
          // cpu_perf comes just before memory in a tick: one chart point per tick.
          chart.push(Date.now(), [lastCPU, used * 100]);
          lastCPU = NaN;
          break;
        }
        case 'loadavg':
          setText(f.load, d.load1.toFixed(2));
          setText(f.loadLabel, `load, 1 min (5: ${d.load5.toFixed(2)}, 15: ${d.load15.toFixed(2)})`);
          break;
        case 'uptime':
          setText(f.uptime, duration(d.seconds));
          break;
        case 'net_dev': {
          lastNet = d;
          const names = Object.keys(d).sort((a, b) => (a === 'lo') - (b === 'lo') || a.localeCompare(b));
          net.update(names, (n) => n, (n) => [n, rate(d[n].rx_bytes_per_sec), rate(d[n].tx_bytes_per_sec)], numCells(1, 2));
          break;
        }
        case 'disk': {
          const list = (d.file_systems || []).slice(0, 32);
          const seen = new Set();
          for (const fs of list) {
            seen.add(fs.mount_point);
            let m = fss.get(fs.mount_point);
            if (!m) {
              m = meter(fs.mount_point);
              m.el.title = `${fs.device} (${fs.fs_type}) on ${fs.mount_point}`;
              fss.set(fs.mount_point, m);
              fsBox.append(m.el);
            }
            m.set([[fs.total ? fs.used / fs.total : 0, 'user']], `${bytes(fs.used)} / ${bytes(fs.total)}`);
          }
          for (const [k, m] of fss) if (!seen.has(k)) { m.el.remove(); fss.delete(k); }
          fsEmpty.hidden = fss.size > 0;
          break;
        }
        case 'temp': {
          const zones = Object.keys(d).sort();
          if (zones.join() !== tempKeys) {
            tempKeys = zones.join();
            tempDd.clear();
            temps.replaceChildren(...zones.flatMap((z) => {
              const dd = h('dd', {});
              tempDd.set(z, dd);
              return [h('dt', { title: z }, d[z].type || z), dd];
            }));
          }
          for (const z of zones) setText(tempDd.get(z), `${d[z].celsius.toFixed(1)} °C`);
          temps.hidden = zones.length === 0;
          tempsEmpty.hidden = zones.length > 0;
          break;
        }
        case 'process':
          procs.update(d, (p) => p.pid, (p) => [String(p.pid), p.name, PROC_STATES[p.state] || p.state,
            `${p.cpu.toFixed(1)} %`, bytes(p.rss), int(p.threads)], numCells(0, 3, 4, 5));
          break;
        default:
      }
    },
    /** Ends the card: its chart stops observing, its timer stops. */
    destroy() {
      clearTimeout(v.retryTimer);
      chart.destroy();
      el.remove();
    },
  };
  return v;
}

/** A table row decorator that right-aligns the given cells. @param {...number} idx */
function numCells(...idx) {
  return (tr) => {
    while (tr.cells.length <= Math.max(...idx)) tr.insertCell();
    for (const i of idx) tr.cells[i].classList.add('num');
  };
}

/** @param {HTMLElement} root @param {{status: Function, banner: Function, title: string}} ctx */
export function mount(root, ctx) {
  const watch = loadWatch();
  /** @type {Map<number, any>} saved hosts by id */
  const saved = new Map();
  let savedLoaded = false;
  /** @type {Map<string, any>} host cards by user@host:port */
  const views = new Map();
  /** @type {Map<string, {method: string, key: string, user: boolean}>} requests awaiting an answer */
  const pending = new Map();
  let seq = 0, keysTimer = 0, gone = false;

  // ---- Add form ----
  const nameIn = h('input', { name: 'name', autocomplete: 'off', maxlength: '128', placeholder: 'nas' });
  const hostIn = h('input', { name: 'host', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'nas.lan or an address' });
  const portIn = h('input', { name: 'port', type: 'number', min: '1', max: '65535', required: true, value: '22', inputmode: 'numeric' });
  const userIn = h('input', { name: 'user', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'pi' });
  const passIn = h('input', { name: 'passwd', type: 'password', autocomplete: 'new-password' });
  const keyIn = h('textarea', { name: 'key', rows: '4', spellcheck: 'false', autocomplete: 'off', placeholder: '-----BEGIN OPENSSH PRIVATE KEY-----' });
  const passField = h('label', { class: 'field' }, 'Password', passIn);
  const keyField = h('label', { class: 'field wide', hidden: true }, 'Private key (PEM, not protected by a passphrase)', keyIn);
  let auth = 'password';
  const authSeg = segmented('ssh-auth', [['password', 'Password'], ['key', 'Key']], auth, (a) => {
    auth = a;
    passField.hidden = a !== 'password';
    keyField.hidden = a !== 'key';
  });
  const saveBtn = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const saveNote = h('p', { class: 'muted small wide', role: 'status' },
    'The password or key is kept on this box, encrypted, and never shown again.');
  const form = h('form', { class: 'form', dataset: { testid: 'ssh-add' }, autocomplete: 'off', onsubmit: onSave },
    h('label', { class: 'field' }, 'Name', nameIn),
    h('label', { class: 'field' }, 'Host', hostIn),
    h('label', { class: 'field' }, 'Port', portIn),
    h('label', { class: 'field' }, 'User', userIn),
    h('div', { class: 'field' }, h('span', {}, 'Sign in with'), authSeg),
    passField, keyField,
    h('div', {}, saveBtn),
    saveNote);

  // ---- Saved hosts ----
  const savedTable = table(['Host', 'Monitoring', '', 'Sign-in'], 'No saved hosts yet — add one above');
  const rowParts = new Map(); // id -> the cells built once (buttons keep focus across refreshes)

  // ---- Monitored hosts and host keys ----
  const noneCard = h('section', { class: 'card wide' }, h('h2', {}, 'Monitored hosts'),
    h('p', { class: 'empty' }, 'Not monitoring any host — press Start on a saved host.'));
  const keysTable = table(['Host', 'Key', 'First seen', ''], 'No host keys pinned yet');
  const keysCard = h('section', { class: 'card wide' },
    h('h2', {}, 'Host keys'),
    h('p', { class: 'muted' }, 'Each host\'s key is pinned the first time edgestat connects, and a different key is refused; ' +
      'after reinstalling a host, Forget its key and the next key the host shows will be accepted.'),
    keysTable.el);
  const offline = h('p', { class: 'note bad', hidden: true },
    'The connection to this box is lost: monitoring starts again when it is back.');

  const grid = h('div', { class: 'grid' },
    h('section', { class: 'card wide' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Saved hosts')),
      h('h3', {}, 'Add host'), form,
      h('h3', {}, 'Hosts'), savedTable.el),
    noneCard, keysCard);
  root.append(h('div', { class: 'page-head' }, h('h1', {}, ctx.title)), offline, grid);

  // ---- The /monitor socket ----
  const ws = socket(wsURL('/monitor'), {
    onOpen() {
      // A new connection watches nothing yet: every card starts again.
      pending.clear();
      for (const v of views.values()) {
        clearTimeout(v.retryTimer);
        v.retryTimer = 0; v.started = false; v.pending = false; v.retryDelay = RETRY_MIN_MS; v.failures = 0;
        v.setState('connecting');
      }
      syncViews();
    },
    onMessage: onMessage,
    onState(state, detail) {
      if (gone) return;
      // Shown from a loss until the socket is open again (retries pass through connecting).
      if (state === 'disconnected') offline.hidden = false;
      else if (state === 'open') offline.hidden = true;
      ctx.status(state === 'open' ? 'live' : state, detail);
      if (state === 'disconnected') {
        pending.clear();
        for (const v of views.values()) {
          clearTimeout(v.retryTimer);
          v.retryTimer = 0; v.started = false; v.pending = false;
          v.setState('disconnected', 'The connection to this box is lost.');
        }
      }
    },
  });

  /** Sends one request; returns whether it left. */
  function request(method, v, user) {
    const id = String(++seq);
    const p = { ...v.target };
    const ok = ws.send(JSON.stringify({ id, method, params: [p] }));
    if (ok) pending.set(id, { method, key: v.key, user });
    return ok;
  }

  /** Asks the box to start watching a card's host (the saved secret is used). */
  function start(v, user = false) {
    if (!v || (v.retryTimer && !user)) return; // a retry is already planned
    clearTimeout(v.retryTimer);
    v.retryTimer = 0;
    if (v.started || v.pending || !ws.open) return;
    if (request('ssh.start_monitor', v, user)) {
      v.pending = true;
      v.setState('connecting', v.lastFail ? `${v.lastFail} — trying again now.` : '');
    }
  }

  /** @param {string} text one WebSocket message */
  function onMessage(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (msg && msg.method === 'ssh.notification') {
      for (const p of msg.params || []) {
        const m = p && p.message;
        const v = m && views.get(m.ssh_key);
        if (!v) continue; // a host no longer on this page
        if (p.event === 'connected') {
          v.setState('connected');
          refreshKeysSoon();
        } else if (p.event === 'disconnected') {
          v.setState('disconnected', `${m.error || 'connection lost'} — edgestat reconnects by itself.`);
        } else {
          v.event(p.event, m[p.event]);
        }
      }
      return;
    }
    const req = msg && msg.id != null ? pending.get(String(msg.id)) : null;
    if (!req) return;
    pending.delete(String(msg.id));
    const v = views.get(req.key);
    if (req.method === 'ssh.start_monitor') {
      if (!v) {
        // Stopped while the start was under way: the box watches it now, so stop it again.
        if (!msg.error) ws.send(JSON.stringify({ id: String(++seq), method: 'ssh.stop_monitor', params: [parseKeyTarget(req.key)] }));
        return;
      }
      v.pending = false;
      if (msg.error) {
        v.failures++;
        if (v.failures === 1 || req.user) ctx.banner(String(msg.error));
        const wait = v.retryDelay;
        v.retryDelay = Math.min(v.retryDelay * 2, RETRY_MAX_MS);
        v.lastFail = targetError(msg.error, v.key);
        v.setState('disconnected', `${v.lastFail} — trying again in ${duration(wait / 1000)}.`, true);
        v.retryTimer = setTimeout(() => { v.retryTimer = 0; start(v); }, wait);
      } else {
        v.started = true; v.failures = 0; v.retryDelay = RETRY_MIN_MS; v.lastFail = '';
        // A host another client already watches sends no `connected` to us.
        if (v.state !== 'disconnected') v.setState('connected');
        refreshKeysSoon();
      }
    } else if (msg.error) {
      ctx.banner(String(msg.error));
    }
  }

  /** The target of a "user@host:port" key. */
  function parseKeyTarget(key) {
    const at = key.indexOf('@'), colon = key.lastIndexOf(':');
    return { user: key.slice(0, at), host: key.slice(at + 1, colon).replace(/^\[|\]$/g, ''), port: Number(key.slice(colon + 1)) };
  }

  /** Makes the cards equal the watched saved hosts, starting new ones. */
  function syncViews() {
    if (!savedLoaded) return;
    const want = new Map();
    for (const id of watch) {
      const s = saved.get(id);
      if (s) want.set(sshKey(s), s);
    }
    for (const [key, v] of views) {
      if (!want.has(key)) { dropView(v); }
    }
    let before = keysCard;
    for (const [key, s] of [...want].reverse()) {
      let v = views.get(key);
      if (!v) {
        v = hostCard(s, { onStop: () => stopWatching(s.id), onRetry: () => start(views.get(key), true) });
        v.onState = renderSaved;
        views.set(key, v);
      }
      if (v.el.nextSibling !== before || v.el.parentNode !== grid) grid.insertBefore(v.el, before);
      before = v.el;
      start(v);
    }
    noneCard.hidden = views.size > 0;
    renderSaved();
  }

  /** Removes a card; tells the box to stop when it was watching for us. */
  function dropView(v) {
    // A start still under way is stopped when its answer comes (see onMessage).
    if (v.started && ws.open) request('ssh.stop_monitor', v, true);
    v.onState = null;
    v.destroy();
    views.delete(v.key);
    noneCard.hidden = views.size > 0;
  }

  /** Starts watching a saved host (a user's click). */
  function startWatching(id) {
    if (!watch.has(id) && watch.size >= MAX_WATCH) {
      ctx.banner(`This page monitors ${MAX_WATCH} hosts at most: stop one first.`);
      return;
    }
    ctx.banner('');
    watch.add(id);
    saveWatch(watch);
    syncViews();
    const s = saved.get(id);
    const v = s && views.get(sshKey(s));
    if (v) v.el.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  /** Stops watching a saved host. */
  function stopWatching(id) {
    watch.delete(id);
    saveWatch(watch);
    syncViews();
  }

  /** Keeps the saved hosts table equal to `saved`, touching only what changed. */
  function renderSaved() {
    const items = [...saved.values()];
    // Every cell is built once per row and changed in place, so a button
    // keeps its focus while the list refreshes.
    savedTable.update(items, (s) => s.id, () => [], (tr, s) => {
      tr.dataset.hostId = String(s.id);
      const parts = {
        name: h('div', {}),
        addr: h('div', { class: 'mono small muted' }),
        auth: h('span', { class: 'toolbar' }),
        badge: h('span', { class: 'badge' }),
        toggle: h('button', { type: 'button', class: 'small', onclick: () => (watch.has(s.id) ? stopWatching(s.id) : startWatching(s.id)) }),
        del: h('button', { type: 'button', class: 'small danger', onclick: () => onDelete(s.id) }, 'Delete'),
      };
      while (tr.cells.length < 4) tr.insertCell();
      tr.cells[0].append(parts.name, parts.addr);
      tr.cells[1].append(parts.badge);
      tr.cells[2].append(h('span', { class: 'toolbar' }, parts.toggle, parts.del));
      tr.cells[3].append(parts.auth);
      rowParts.set(s.id, parts);
    });
    for (const id of rowParts.keys()) if (!saved.has(id)) rowParts.delete(id);
    for (const s of items) {
      const p = rowParts.get(s.id);
      setText(p.name, s.name);
      setText(p.addr, sshKey(s));
      const auth = [s.has_password && 'password', s.has_key && 'key'].filter(Boolean);
      if (p.auth.dataset.v !== auth.join()) {
        p.auth.dataset.v = auth.join();
        p.auth.replaceChildren(...(auth.length ? auth.map((a) => h('span', { class: 'badge', dataset: { state: 'info' } }, a))
          : [h('span', { class: 'badge', dataset: { state: 'bad' }, title: 'The saved secret cannot be read: save the host again' }, 'none')]));
      }
      const v = watch.has(s.id) ? views.get(sshKey(s)) : null;
      const state = v ? v.state : 'off';
      if (p.badge.dataset.state !== state) {
        if (v) p.badge.dataset.state = state; else delete p.badge.dataset.state;
        setText(p.badge, v ? state : 'off');
      }
      setText(p.toggle, v ? 'Stop' : 'Start');
      p.toggle.classList.toggle('primary', !v);
    }
  }

  /** Loads the saved hosts; forgets watched ids whose host was deleted. */
  async function refreshSaved() {
    try {
      const list = await api('/monitor/hosts');
      if (gone) return;
      saved.clear();
      for (const s of list || []) saved.set(s.id, s);
      savedLoaded = true;
      let changed = false;
      for (const id of watch) if (!saved.has(id)) { watch.delete(id); changed = true; }
      if (changed) saveWatch(watch);
      syncViews();
    } catch (e) {
      if (!gone) ctx.banner(`Saved hosts: ${e.message}`);
    }
  }

  /** Loads the pinned host keys. */
  async function refreshKeys() {
    try {
      const list = await api('/monitor/hostkeys');
      if (gone) return;
      keysTable.update(list || [], (k) => k.host, (k) => [k.host, `${k.key_type} ${k.fingerprint}`, time(k.first_seen)], (tr, k) => {
        while (tr.cells.length < 4) tr.insertCell();
        tr.cells[1].className = 'mono small ssh-fp';
        tr.cells[3].append(h('button', { type: 'button', class: 'small danger', onclick: () => onForget(k.host) }, 'Forget'));
      });
    } catch (e) {
      if (!gone) ctx.banner(`Host keys: ${e.message}`);
    }
  }

  /** A host key is pinned on a first connection: look again shortly after one. */
  function refreshKeysSoon() {
    if (!keysTimer) keysTimer = setTimeout(() => { keysTimer = 0; refreshKeys(); }, 700);
  }

  /** @param {SubmitEvent} ev */
  async function onSave(ev) {
    ev.preventDefault();
    const port = Number(portIn.value || 22);
    const body = { name: nameIn.value.trim(), host: hostIn.value.trim(), port, user: userIn.value.trim() };
    if (auth === 'key') body.key = keyIn.value.trim() ? `${keyIn.value.trim()}\n` : '';
    else body.passwd = passIn.value;
    if (!body.passwd && !body.key) {
      ctx.banner(auth === 'key' ? 'Paste the private key to sign in with.' : 'Give the password to sign in with.');
      (auth === 'key' ? keyIn : passIn).focus();
      return;
    }
    saveBtn.disabled = true;
    try {
      const s = await api('/monitor/hosts', { method: 'POST', body });
      if (gone) return;
      ctx.banner('');
      // Secrets leave the page as soon as the box has them.
      passIn.value = ''; keyIn.value = '';
      nameIn.value = ''; hostIn.value = ''; userIn.value = ''; portIn.value = '22';
      setText(saveNote, `Saved ${s.name} (${sshKey(s)}): press Start to monitor it. The password or key is kept on this box, encrypted, and never shown again.`);
      await refreshSaved();
    } catch (e) {
      if (!gone) ctx.banner(`Save: ${e.message}`);
    } finally {
      saveBtn.disabled = false;
    }
  }

  /** Deletes a saved host after asking. */
  async function onDelete(id) {
    const s = saved.get(id);
    if (!s || !confirm(`Delete the saved host ${s.name} (${sshKey(s)})? Its password or key is forgotten.`)) return;
    if (watch.has(id)) stopWatching(id);
    try {
      await api(`/monitor/hosts/${encodeURIComponent(id)}`, { method: 'DELETE' });
      ctx.banner('');
    } catch (e) {
      if (!gone) ctx.banner(`Delete: ${e.message}`);
    }
    await refreshSaved();
  }

  /** Forgets a pinned host key after asking. */
  async function onForget(host) {
    if (!confirm(`Forget the pinned key of ${host}? The next key ${host} shows will be accepted without a check.`)) return;
    try {
      await api(`/monitor/hostkeys/${encodeURIComponent(host)}`, { method: 'DELETE' });
      ctx.banner('');
    } catch (e) {
      if (!gone) ctx.banner(`Forget: ${e.message}`);
    }
    await refreshKeys();
  }

  const onUnits = () => { for (const v of views.values()) v.units(); };
  window.addEventListener('edgestat:units', onUnits);
  // Other browsers may add hosts or pin keys: look again now and then.
  const stopPoll = poll(() => Promise.all([refreshSaved(), refreshKeys()]), 30000);

  return function unmount() {
    gone = true;
    stopPoll();
    clearTimeout(keysTimer);
    window.removeEventListener('edgestat:units', onUnits);
    ws.close();
    for (const v of views.values()) v.destroy();
    views.clear();
  };
}
