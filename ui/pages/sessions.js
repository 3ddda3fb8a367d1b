// Operator sessions: start one (an emulator's packets, or a running probe's,
// streamed over TCP as pcap, optionally cut into segment files), follow the
// sessions, open one to download its segments, and see the room the box has
// left for more.
import { h, setText, table, meter, segmented } from '../lib/dom.js';
import { api, poll } from '../lib/net.js';
import { int, bytes, pct, time, ago, duration } from '../lib/format.js';

const ENDED = new Set(['finished', 'stopped', 'failed', 'aborted']);
const SESSION_FIELDS = ['id', 'state', 'packets', 'clients', 'served', 'started', 'location', 'actions'];
const NUMERIC = new Set(['packets', 'clients', 'served']);
const MONO = new Set(['location', 'command', 'network', 'probe', 'stream', 'segmentation']); // details shown as code

/**
 * Keeps a table() in step with items: build(tr, item) makes a new row's
 * cells once, refresh(tr, item) then changes only their text, so a row's
 * badges and buttons are not recreated every tick.
 */
function syncTable(t, items, key, build, refresh) {
  t.update(items, key, () => [], build);
  const rows = t.tbody.rows;
  items.forEach((it, i) => refresh(rows[i], it));
}

/** Marks the numeric columns of a table() right-aligned. */
function numericHeads(t, fields, numeric) {
  t.el.querySelectorAll('th').forEach((th, i) => { if (numeric.has(fields[i])) th.classList.add('num'); });
}

/** Splits "tcp://host:port" (IPv6 in brackets) into host and port. */
function hostPort(location) {
  const m = /^tcp:\/\/\[?([^\]]*?)\]?:(\d+)$/.exec(location || '');
  return m ? { host: m[1], port: m[2] } : null;
}

/** The shell command that reads a session's stream into tcpdump. */
function ncCommand(location) {
  const hp = hostPort(location);
  return hp ? `nc ${hp.host} ${hp.port} | tcpdump -r -` : '';
}

/** An API error's message without the "400: " the client put in front. */
const serverMessage = (e) => String(e.message).replace(/^\d{3}: /, '');
/** A sentence for a failed look: the box unreachable, or its error. */
function offlineText(e) {
  const m = serverMessage(e);
  return /^the box did not answer/.test(m) ? `The box did not answer${m.slice('the box did not answer'.length)}.` : `The box answered with an error: ${m}.`;
}

/** The request field an API error names ("count: must be ..."), if any. */
function errorField(e) {
  const m = /^(count|plain_stream|probe|duration|body): /.exec(serverMessage(e));
  return m ? m[1] : '';
}

/**
 * Copies text to the clipboard where the page may (a secure context), else
 * selects it in el so the user can copy it. Resolves to what happened.
 */
async function copyText(text, el) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return 'Copied'; } catch { /* fall back to selecting */ }
  }
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  return 'Selected: press Ctrl+C';
}

/** @param {HTMLElement} root @param {{status: Function, banner: Function, arg: string, title: string}} ctx */
export function mount(root, ctx) {
  const stops = [];
  let sessions = null; // the last GET /sessions answer
  let selected = ctx.arg || '';
  let listSeq = 0;
  let alive = true; // false once unmounted: late answers must not touch the shell

  // ---- Start a session ----
  let mode = 'emulator', output = 'segmented';
  const count = h('input', { type: 'number', name: 'count', min: 1, max: 10000000, step: 1, value: '1000', required: true,
    inputmode: 'numeric', 'data-testid': 'session-count' });
  const probeSel = h('select', { name: 'probe', 'data-testid': 'session-probe' }, h('option', { value: '' }, 'Loading…'));
  const probeCount = h('input', { type: 'number', name: 'probe-count', min: 1, step: 1, placeholder: 'no limit', inputmode: 'numeric' });
  const probeDuration = h('input', { type: 'number', name: 'duration', min: 1, max: 3600, step: 'any', inputmode: 'decimal' });
  const modeCtl = segmented('mode', [['emulator', 'Emulator'], ['probe', 'Stream a probe']], mode, (v) => { mode = v; showMode(); });
  modeCtl.setAttribute('aria-label', 'Source');
  const outputCtl = segmented('output', [['segmented', 'Segmented'], ['plain', 'Plain stream']], output, (v) => { output = v; });
  outputCtl.setAttribute('aria-label', 'Output');
  const emuFields = [h('label', { class: 'field' }, 'Packets to emulate', count)];
  const probeFields = [
    h('label', { class: 'field' }, 'Probe', probeSel),
    h('label', { class: 'field' }, 'Packets (optional)', probeCount),
    h('label', { class: 'field' }, 'Seconds (optional, ≤ 3600)', probeDuration),
    h('p', { class: 'small muted wide' }, 'With neither packets nor seconds, the stream lasts 60 s.'),
  ];
  const startBtn = h('button', { type: 'submit', class: 'primary', 'data-testid': 'session-start' }, 'Start');
  const formError = h('p', { class: 'note bad', role: 'alert', 'data-testid': 'session-error', hidden: true });
  const result = h('div', { hidden: true });
  const form = h('form', { class: 'form', novalidate: true, onsubmit: (ev) => { ev.preventDefault(); start(); } },
    h('div', { class: 'toolbar wide' },
      h('div', { class: 'field' }, h('span', {}, 'Source'), h('div', {}, modeCtl)),
      h('div', { class: 'field' }, h('span', {}, 'Output'), h('div', {}, outputCtl))),
    emuFields, probeFields,
    h('div', {}, startBtn));
  const startCard = h('section', { class: 'card' }, h('h2', {}, 'Start a session'), form, formError, result,
    h('p', { class: 'small muted' }, 'The stream is pcap over TCP: every client gets the packets from when it connected. ',
      'Segmented also writes them to pcap files of 10,000 packets or 10 s, kept an hour after the session ends.'));

  /** Shows the fields of the chosen source, and lists probes while they matter. */
  function showMode() {
    for (const f of emuFields) f.hidden = mode !== 'emulator';
    for (const f of probeFields) f.hidden = mode !== 'probe';
    if (mode === 'probe' && probeSel.dataset.sig == null) loadProbes(); // then every 5 s in tick()
    updateStartBtn();
  }
  /** Start is off while a request is on its way, or when there is no probe to stream. */
  function updateStartBtn() {
    startBtn.disabled = busy || (mode === 'probe' && !probeSel.value);
  }

  /** Fills the probe select with the running probes a session may stream. */
  async function loadProbes() {
    let list;
    try { list = await api('/probes'); } catch (e) {
      probeSel.replaceChildren(h('option', { value: '' }, `Cannot list probes (${serverMessage(e)})`));
      updateStartBtn();
      return;
    }
    const ok = (list || []).filter((p) => p.kind !== 'session' && p.state === 'running');
    const keep = probeSel.value;
    const sig = ok.map((p) => `${p.id}|${p.kind}|${p.source}`).join(',');
    if (probeSel.dataset.sig !== sig) {
      probeSel.dataset.sig = sig;
      probeSel.replaceChildren(...(ok.length
        ? ok.map((p) => h('option', { value: String(p.id) }, p.kind === p.source ? `${p.id} · ${p.source}` : `${p.id} · ${p.source} (${p.kind})`))
        : [h('option', { value: '' }, 'No running probe')]));
      if (ok.some((p) => String(p.id) === keep)) probeSel.value = keep;
    }
    updateStartBtn();
  }

  let busy = false;
  /** POSTs exactly the fields the API takes for the chosen source. */
  async function start() {
    for (const el of [count, probeSel, probeCount, probeDuration]) el.removeAttribute('aria-invalid');
    formError.hidden = true;
    const body = { plain_stream: output === 'plain' };
    const need = (el, what) => { el.setAttribute('aria-invalid', 'true'); showError(what); el.focus(); };
    if (mode === 'emulator') {
      if (count.value.trim() === '') return need(count, 'count: give the number of packets to emulate, a whole number from 1 to ' + int(Number(count.max)));
      body.count = Number(count.value);
    } else {
      if (!probeSel.value) return need(probeSel, 'probe: choose a running probe');
      body.probe = Number(probeSel.value);
      if (probeCount.value.trim() !== '') body.count = Number(probeCount.value);
      if (probeDuration.value.trim() !== '') body.duration = Number(probeDuration.value);
    }
    busy = true; updateStartBtn();
    setText(startBtn, 'Starting…');
    try {
      const ans = await api('/post/', { method: 'POST', body });
      showResult(ans, body);
      refreshList();
    } catch (e) {
      const field = errorField(e);
      const el = { count: mode === 'emulator' ? count : probeCount, probe: probeSel, duration: probeDuration }[field];
      if (el) el.setAttribute('aria-invalid', 'true');
      showError(e.status === 503 ? `No room for a session now: ${serverMessage(e)}` : serverMessage(e));
    } finally {
      busy = false; updateStartBtn();
      setText(startBtn, 'Start');
    }
  }
  /** Shows why a session did not start, in the card. */
  function showError(text) {
    setText(formError, `Not started. ${text}`);
    formError.hidden = false;
    result.hidden = true;
  }

  /** Shows where to connect to a session that just started. */
  function showResult(ans, body) {
    const cmd = ncCommand(ans.location);
    const cmdEl = h('code', { 'data-testid': 'session-command' }, cmd);
    const copied = h('span', { class: 'muted small', role: 'status' });
    const copyBtn = h('button', { type: 'button', class: 'small', onclick: async () => setText(copied, await copyText(cmd, cmdEl)) }, 'Copy');
    const hp = hostPort(ans.location);
    const wait = body.probe == null
      ? `An emulator session waits up to 30 s for its first client, then sends its ${int(body.count)} packets: connect now.`
      : 'A probe session starts tapping when its first client connects.';
    result.replaceChildren(
      h('div', { class: 'note', role: 'status' },
        h('p', {}, 'Session ', h('a', { href: `#/sessions/${encodeURIComponent(ans.session_id)}` }, h('code', {}, ans.session_id)),
          ' started. Connect to ', h('code', { 'data-testid': 'session-location' }, ans.location), '.'),
        h('p', {}, cmdEl, ' ', copyBtn, ' ', copied),
        hp ? h('p', { class: 'small muted' }, 'or: ', h('code', {}, `wireshark -k -i <(nc ${hp.host} ${hp.port})`)) : null,
        h('p', { class: 'small' }, wait,
          ans.segments ? ' Its segments are listed in the session’s details.' : ' A plain stream keeps no files.')));
    result.hidden = false;
  }

  // ---- Sessions table ----
  const sessHeads = ['ID', 'State', 'Packets', 'Clients', 'Served / dropped', 'Started', 'Location', ''];
  const sessTable = table(sessHeads, 'No sessions yet — start one above');
  numericHeads(sessTable, SESSION_FIELDS, NUMERIC);
  sessTable.el.hidden = true;
  const loading = h('p', { class: 'empty' }, 'Loading sessions…');
  const offline = h('p', { class: 'note bad', hidden: true });
  const sessCard = h('section', { class: 'card wide' }, h('h2', {}, 'Sessions'), offline, loading, sessTable.el);

  /** Asks to stop (or remove) a session, then DELETEs it. */
  async function stopSession(s) {
    const live = !ENDED.has(s.state);
    const q = live
      ? `Stop session ${s.session_id}? Its clients are disconnected and its files deleted.`
      : `Remove session ${s.session_id} from the list and delete its files?`;
    if (!window.confirm(q)) return;
    try {
      await api(`/sessions/${encodeURIComponent(s.session_id)}`, { method: 'DELETE' });
      if (alive) ctx.banner('');
    } catch (e) {
      if (alive) ctx.banner(`Could not stop session ${s.session_id}: ${serverMessage(e)}`);
    }
    refreshList();
  }

  /** Makes a session row's cells once. */
  function buildRow(tr, s) {
    tr.dataset.sessionId = s.session_id;
    tr.classList.add('clickable');
    tr.tabIndex = 0;
    const f = {};
    for (const name of SESSION_FIELDS) {
      const td = tr.insertCell();
      td.dataset.field = name;
      if (NUMERIC.has(name)) td.classList.add('num');
      f[name] = td;
    }
    f.idCode = h('code', {}, s.session_id);
    f.id.append(f.idCode);
    f.badge = h('span', { class: 'badge' });
    f.state.append(f.badge);
    f.loc = h('code', {});
    f.location.append(f.loc);
    f.stop = h('button', { type: 'button', class: 'small danger', onclick: (ev) => { ev.stopPropagation(); stopSession(tr._s); } }, 'Stop');
    f.actions.append(f.stop);
    tr._f = f;
    tr.addEventListener('click', () => select(tr.dataset.sessionId === selected ? '' : tr.dataset.sessionId));
    tr.addEventListener('keydown', (ev) => {
      if (ev.target === tr && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); tr.click(); }
    });
  }
  /** Updates a session row's text. */
  function refreshRow(tr, s) {
    const f = tr._f;
    tr._s = s;
    if (f.badge.dataset.state !== s.state) { f.badge.dataset.state = s.state; }
    setText(f.badge, s.state);
    f.badge.title = s.error || '';
    setText(f.packets, int(s.packets));
    setText(f.clients, int(s.clients));
    setText(f.served, `${int(s.served)} / ${int(s.dropped)}`);
    setText(f.started, time(s.created));
    setText(f.loc, s.location);
    setText(f.stop, ENDED.has(s.state) ? 'Remove' : 'Stop');
    f.stop.title = ENDED.has(s.state) ? 'Delete its files and take it off the list' : 'Stop it and delete its files';
    const sel = s.session_id === selected ? 'true' : 'false';
    if (tr.getAttribute('aria-selected') !== sel) tr.setAttribute('aria-selected', sel);
  }

  /** GET /sessions: the table and, when one is open, its details. */
  async function refreshList() {
    if (!alive) return;
    const my = ++listSeq;
    try {
      const list = await api('/sessions');
      if (my !== listSeq) return; // a newer answer was already shown
      sessions = (list || []).slice().reverse(); // newest first
      loading.hidden = true;
      sessTable.el.hidden = false;
      offline.hidden = true;
      syncTable(sessTable, sessions, (s) => s.session_id, buildRow, refreshRow);
      ctx.status('live');
      ctx.banner('');
      renderDetails();
    } catch (e) {
      if (my !== listSeq) return;
      ctx.status('disconnected', e.message);
      ctx.banner(`Sessions: ${serverMessage(e)}`);
      setText(offline, `${offlineText(e)} Retrying every second; the figures below may be old.`);
      offline.hidden = false;
    }
  }

  // ---- Details of one session ----
  const detTitle = h('h2', {}, 'Session');
  const detStop = h('button', { type: 'button', class: 'small danger', onclick: () => { const s = current(); if (s) stopSession(s); } }, 'Stop');
  const detClose = h('button', { type: 'button', class: 'small', onclick: () => select('') }, 'Close');
  const progress = meter('Sent');
  const KV = [
    ['State', 'state'], ['Error', 'error'], ['Kind', 'kind'], ['Packets sent', 'packets'], ['Count', 'count'],
    ['Duration limit', 'duration'], ['Clients now', 'clients'], ['Clients served', 'served'], ['Clients dropped (slow)', 'dropped'],
    ['Location', 'location'], ['Command', 'command'], ['Created', 'created'], ['Ended', 'ended'], ['Reports’ probe', 'probe_id'],
    ['Network', 'network'], ['Probe worker', 'probe'], ['Stream worker', 'stream'], ['Segmentation worker', 'segmentation'],
    ['Segments', 'segments'],
  ];
  const dd = {}, dt = {};
  const kv = h('dl', { class: 'kv' }, KV.map(([label, k]) => [
    (dt[k] = h('dt', {}, label)),
    (dd[k] = h('dd', { 'data-field': k, class: MONO.has(k) ? 'mono' : null })),
  ]));
  const segHeads = ['Name', 'Packets', 'Size', 'First packet', 'Last packet', ''];
  const SEG_FIELDS = ['name', 'packets', 'bytes', 'first', 'last', 'download'];
  const segTable = table(segHeads, 'No segment yet: the first is written after 10,000 packets or 10 s.');
  numericHeads(segTable, SEG_FIELDS, new Set(['packets', 'bytes']));
  const segNote = h('p', { class: 'muted' });
  const segBox = h('div', {}, h('h3', {}, 'Segments'), segNote, segTable.el);
  const detGone = h('p', { class: 'note bad', hidden: true });
  const detCard = h('section', { class: 'card wide', hidden: true, 'data-testid': 'session-details' },
    h('div', { class: 'card-head' }, detTitle, h('div', { class: 'toolbar' }, detStop, detClose)),
    detGone, progress.el, kv, segBox);

  const current = () => (sessions || []).find((s) => s.session_id === selected);

  /** Opens (id) or closes ('') the details, through the address so it can be linked. */
  function select(id) {
    const want = id ? `#/sessions/${encodeURIComponent(id)}` : '#/sessions';
    if (location.hash !== want) location.hash = want; // route() calls update()
    else open(id);
  }
  /** Shows the details of session id ('' closes them); the sub-route's handler. */
  function open(id) {
    const was = selected;
    selected = id || '';
    segSeq++;
    if (selected !== was) {
      segTable.update([], (x) => x.name, () => []);
      setText(segNote, '');
      segLoadedEnded = false;
    }
    for (const tr of sessTable.tbody.rows) tr.setAttribute('aria-selected', tr.dataset.key === selected ? 'true' : 'false');
    renderDetails();
    if (selected && selected !== was) {
      loadSegments();
      requestAnimationFrame(() => detCard.scrollIntoView({ block: 'nearest', behavior: 'smooth' }));
    }
  }

  /** Fills the details card from the last /sessions answer. */
  function renderDetails() {
    detCard.hidden = !selected;
    if (!selected || !sessions) return;
    setText(detTitle, `Session ${selected}`);
    const s = current();
    detGone.hidden = !!s;
    setText(detGone, 'This session is no longer listed: it was removed, or reaped after it ended.');
    for (const el of [progress.el, kv, segBox, detStop]) el.hidden = !s;
    if (!s) return;
    const set = (k, v) => { setText(dd[k], v); dd[k].hidden = dt[k].hidden = v === '' || v == null; };
    if (dd.state.dataset.v !== s.state) { // a new badge only when the state changes
      dd.state.replaceChildren(h('span', { class: 'badge', dataset: { state: s.state } }, s.state));
      dd.state.dataset.v = s.state;
    }
    set('error', s.error || '');
    set('kind', s.kind || '');
    set('packets', int(s.packets));
    set('count', s.count ? int(s.count) : '');
    set('duration', s.duration_ms ? duration(s.duration_ms / 1000) : '');
    set('clients', int(s.clients));
    set('served', int(s.served));
    set('dropped', int(s.dropped));
    set('location', s.location);
    set('command', ncCommand(s.location));
    set('created', `${time(s.created)} (${ago(s.created)})`);
    set('ended', s.ended ? `${time(s.ended)} (${duration((s.ended - s.created) / 1000)} after it started)` : '');
    set('probe_id', String(s.probe_id));
    set('network', s.network);
    set('probe', s.probe);
    set('stream', s.stream);
    set('segmentation', s.segmentation || 'none (plain stream)');
    const nseg = (s.segment_files || []).length;
    set('segments', s.segments ? `${int(nseg)} file${nseg === 1 ? '' : 's'}` : '');
    if (s.count) {
      progress.el.hidden = false;
      progress.set([[s.packets / s.count, '']], `${pct(Math.min(1, s.packets / s.count))} of ${int(s.count)}`);
    } else {
      progress.el.hidden = true;
    }
    setText(detStop, ENDED.has(s.state) ? 'Remove' : 'Stop');
    if (!s.segments) {
      segTable.el.hidden = true;
      setText(segNote, 'A plain stream keeps no segments.');
    } else segTable.el.hidden = false;
  }

  let segSeq = 0, segLoadedEnded = false;
  /** GET /sessions/ID/segments while a segmented session is open; once more after it ends. */
  async function loadSegments() {
    const s = current();
    if (!selected || (sessions && !s) || (s && !s.segments) || segLoadedEnded) return;
    const my = ++segSeq, id = selected;
    const ended = s && ENDED.has(s.state);
    try {
      const list = await api(`/sessions/${encodeURIComponent(id)}/segments`);
      if (my !== segSeq || id !== selected) return;
      syncTable(segTable, list || [], (x) => x.name, buildSeg, refreshSeg);
      const total = (list || []).reduce((a, x) => a + x.bytes, 0);
      const n = (list || []).length;
      setText(segNote, n ? `${int(n)} file${n === 1 ? '' : 's'}, ${bytes(total)}; kept an hour after the session ends.` : '');
      if (ended) segLoadedEnded = true;
    } catch (e) {
      if (my !== segSeq) return;
      setText(segNote, `Cannot list the segments: ${serverMessage(e)}`);
    }
  }
  /** Makes a segment row's cells once. */
  function buildSeg(tr, x) {
    const f = {};
    for (const name of SEG_FIELDS) {
      const td = tr.insertCell();
      td.dataset.field = name;
      if (name === 'packets' || name === 'bytes') td.classList.add('num');
      f[name] = td;
    }
    f.link = h('a', { href: x.url, download: '' }, 'Download');
    f.download.append(f.link);
    tr._f = f;
  }
  /** Updates a segment row's text. */
  function refreshSeg(tr, x) {
    const f = tr._f;
    setText(f.name, x.name);
    setText(f.packets, int(x.packets));
    setText(f.bytes, bytes(x.bytes));
    setText(f.first, time(Date.parse(x.first)));
    setText(f.last, time(Date.parse(x.last)));
    if (f.link.getAttribute('href') !== x.url) f.link.setAttribute('href', x.url);
  }

  // ---- Resources ----
  const cpu = meter('CPU'), mem = meter('Memory'), disk = meter('Disk'), slots = meter('Sessions');
  const resStat = (label) => {
    const v = h('div', { class: 'stat-value' }, '–');
    return { v, el: h('div', { class: 'stat' }, v, h('div', { class: 'stat-label' }, label)) };
  };
  const rPorts = resStat('stream ports open'), rFiles = resStat('session files'),
    rToday = resStat('DB writes today'), rSince = resStat('DB writes since start');
  const LIM = [['max_sessions', 'Sessions at once'], ['max_ports', 'Stream ports'], ['max_count', 'Packets per session'],
    ['max_cpu', 'Start only under CPU'], ['min_memory', 'Memory needed'], ['min_disk', 'Disk needed (segmented)']];
  const lim = {};
  const limits = h('dl', { class: 'kv' }, LIM.map(([k, label]) => [h('dt', {}, label), (lim[k] = h('dd', {}, '–'))]));
  const resErr = h('p', { class: 'note bad', hidden: true });
  const resCard = h('section', { class: 'card' }, h('h2', {}, 'Resources'), resErr,
    cpu.el, mem.el, disk.el, slots.el,
    h('div', { class: 'stats' }, rPorts.el, rFiles.el, rToday.el, rSince.el),
    h('h3', {}, 'Admission limits'), limits);

  /** GET /resources: what admission control looks at. */
  async function refreshResources() {
    let r;
    try { r = await api('/resources'); } catch (e) {
      setText(resErr, `Cannot read the resources: ${serverMessage(e)}`);
      resErr.hidden = false;
      return;
    }
    resErr.hidden = !r.error;
    if (r.error) setText(resErr, `A reading failed: ${r.error}`);
    const L = r.limits || {};
    cpu.set([[r.cpu, '']], `${pct(r.cpu)} busy · ${r.cpus} CPU${r.cpus === 1 ? '' : 's'}`);
    mem.set([[r.mem_total ? 1 - r.mem_available / r.mem_total : 0, '']], `${bytes(r.mem_available)} free of ${bytes(r.mem_total)}`);
    disk.set([[r.disk_total ? 1 - r.disk_free / r.disk_total : 0, '']], `${bytes(r.disk_free)} free of ${bytes(r.disk_total)}`);
    slots.set([[L.max_sessions ? r.sessions / L.max_sessions : 0, '']], `${int(r.sessions)} of ${int(L.max_sessions)}`);
    setText(rPorts.v, `${int(r.ports)} / ${int(L.max_ports)}`);
    setText(rFiles.v, bytes(r.session_files));
    setText(rToday.v, bytes(r.db_written_today));
    setText(rSince.v, bytes(r.db_written_since_start));
    setText(lim.max_sessions, int(L.max_sessions));
    setText(lim.max_ports, int(L.max_ports));
    setText(lim.max_count, int(L.max_count));
    setText(lim.max_cpu, L.max_cpu > 0 && L.max_cpu < 1 ? `${pct(L.max_cpu)} busy` : 'no limit');
    setText(lim.min_memory, `${bytes(L.min_memory)} available`);
    setText(lim.min_disk, `${bytes(L.min_disk)} free`);
    if (L.max_count && count.max !== String(L.max_count)) count.max = String(L.max_count);
  }

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, ctx.title),
      h('div', { class: 'toolbar' }, h('span', { class: 'muted small' }, 'Probe → stream → segments, as the Operator ran them'))),
    h('div', { class: 'grid' }, startCard, resCard, sessCard, detCard),
  );
  showMode();
  ctx.status('connecting');
  // One loop, one request at a time: parallel polls make the browser open
  // spare connections, and an idle one is taken for a raw Rt-Stat client.
  let ticks = 0;
  stops.push(poll(async () => {
    const n = ticks++;
    await refreshList();
    if (n % 2 === 0) await refreshResources();
    if (n % 2 === 0 && selected) await loadSegments();
    if (n % 5 === 0 && mode === 'probe') await loadProbes();
  }, 1000));
  if (selected) open(selected);

  const unmount = () => {
    for (const s of stops) s();
    alive = false;
    listSeq++; segSeq++; // answers still on their way are ignored
  };
  unmount.update = (arg) => open(arg || '');
  return unmount;
}
