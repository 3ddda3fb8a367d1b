// Probes: every running probe's counters (captures, replays, the emulator,
// the sessions' own), their packet rates and losses over the last ten
// minutes, and the store and live hub the reports go through.
import { h, setText, table, meter } from '../lib/dom.js';
import { api, poll } from '../lib/net.js';
import { TimeChart } from '../lib/chart.js';
import { int, count, bytes, rate, perSec, time, ago } from '../lib/format.js';

const SPAN = 10 * 60e3; // the charts' window
const CAP = 660; // points kept: ten minutes at one a second, and some slack
// The live figures first, the long names last: a phone shows the first columns.
const FIELDS = ['id', 'kind', 'state', 'pps', 'rate', 'packets', 'bytes', 'drops', 'decode_errors',
  'flows_active', 'flows_total', 'flows_evicted', 'paths', 'hosts', 'packet_time', 'source', 'session'];
const HEADS = ['ID', 'Kind', 'State', 'Packets/s', 'Rate', 'Packets', 'Bytes', 'Drops', 'Decode errors',
  'Active flows', 'Total flows', 'Evictions', 'Paths', 'Hosts', 'Last packet', 'Source', 'Session'];
const NUMERIC = new Set(['pps', 'rate', 'packets', 'bytes', 'drops', 'decode_errors', 'flows_active', 'flows_total',
  'flows_evicted', 'paths', 'hosts']);

const serverMessage = (e) => String(e.message).replace(/^\d{3}: /, '');
/** A sentence for a failed look: the box unreachable, or its error. */
function offlineText(e) {
  const m = serverMessage(e);
  return /^the box did not answer/.test(m) ? `The box did not answer${m.slice('the box did not answer'.length)}.` : `The box answered with an error: ${m}.`;
}
/** A probe's name in the charts' legends. */
const seriesName = (p) => `${p.id} ${p.source}`;
/** A per-second figure; small ones (losses) with decimals, so the axis reads 0.5/s, not 1/s. */
const fmtPerSec = (v) => (v > 0 && v < 10 ? `${+v.toFixed(v < 1 ? 2 : 1)}/s` : perSec(v));

/** A figure: a big value over a small label. */
function stat(label) {
  const v = h('div', { class: 'stat-value' }, '–');
  return { v, el: h('div', { class: 'stat' }, v, h('div', { class: 'stat-label' }, label)) };
}

/** @param {HTMLElement} root @param {{status: Function, banner: Function, arg: string, title: string}} ctx */
export function mount(root, ctx) {
  let last = null; // the last /traffic/status answer, to re-render on a unit change
  let seq = 0;

  // ---- Probes table ----
  const tbl = table(HEADS, 'No probe runs: start edgestat with --capture, --pcap, or the emulator.');
  tbl.el.querySelectorAll('th').forEach((th, i) => { if (NUMERIC.has(FIELDS[i])) th.classList.add('num'); });
  tbl.el.hidden = true;
  const loading = h('p', { class: 'empty' }, 'Loading probes…');
  const offline = h('p', { class: 'note bad', hidden: true });
  const probesCard = h('section', { class: 'card wide' }, h('h2', {}, 'Probes'), offline, loading, tbl.el);

  /** Makes a probe row's cells once; refreshRow then changes their text. */
  function buildRow(tr, p) {
    tr.dataset.probeId = String(p.id);
    const f = {};
    for (const name of FIELDS) {
      const td = tr.insertCell();
      td.dataset.field = name;
      if (NUMERIC.has(name)) td.classList.add('num');
      f[name] = td;
    }
    f.badge = h('span', { class: 'badge' });
    f.state.append(f.badge);
    f.srcCode = h('code', {});
    f.source.append(f.srcCode);
    tr._f = f;
  }
  /** Updates a probe row's text. */
  function refreshRow(tr, p) {
    const f = tr._f;
    setText(f.id, p.id);
    setText(f.kind, p.kind);
    setText(f.srcCode, p.source);
    if (f.badge.dataset.state !== p.state) f.badge.dataset.state = p.state;
    setText(f.badge, p.state);
    const sess = p.session || '';
    if (f.session.dataset.v !== sess) { // a link only when the owner changes
      f.session.dataset.v = sess;
      f.session.replaceChildren(sess ? h('a', { href: `#/sessions/${encodeURIComponent(sess)}` }, h('code', {}, sess)) : '–');
    }
    setText(f.pps, perSec(p.pps, ' pkt/s'));
    setText(f.rate, rate(p.bps / 8));
    setText(f.packets, int(p.packets));
    setText(f.bytes, bytes(p.bytes));
    setText(f.drops, int(p.drops));
    setText(f.decode_errors, int(p.decode_errors));
    setText(f.flows_active, int(p.flows_active));
    setText(f.flows_total, int(p.flows_total));
    setText(f.flows_evicted, int(p.flows_evicted));
    setText(f.paths, p.paths_overflow ? `${int(p.paths)} (+${int(p.paths_overflow)} cut)` : int(p.paths));
    setText(f.hosts, p.hosts_evicted ? `${int(p.hosts)} (+${int(p.hosts_evicted)} evicted)` : int(p.hosts));
    setText(f.packet_time, time(p.packet_time));
    f.packet_time.title = p.packet_time ? ago(p.packet_time) : '';
  }

  // ---- Charts ----
  const ppsChart = new TimeChart({ series: [], format: fmtPerSec, capacity: CAP, span: SPAN, height: 180, label: 'Packets per second per probe' });
  const lossChart = new TimeChart({ series: ['drops', 'flow evictions', 'host evictions', 'decode errors'], format: fmtPerSec,
    capacity: CAP, span: SPAN, height: 180, label: 'Drops and evictions per second, all probes' });
  const ppsCard = h('section', { class: 'card' }, h('h2', {}, 'Packets per second, per probe'), ppsChart.el);
  const lossCard = h('section', { class: 'card' }, h('h2', {}, 'Losses per second, all probes'), lossChart.el,
    h('p', { class: 'small muted' }, 'From the counters’ growth between two looks: capture drops, flows and LAN hosts pushed out of full tables, undecodable packets.'));

  // Our own history per probe, so a probe joining or leaving keeps the others' lines.
  const times = [];
  const cols = new Map(); // probe id -> values aligned with times
  const names = new Map(); // probe id -> series name
  let prevCounters = null, prevAt = 0;

  /** Adds a look's packet rates to the history and the chart; changes the series when the probe set does. */
  function pushPPS(t, probes) {
    const now = new Map(probes.map((p) => [p.id, p]));
    for (const p of probes) {
      names.set(p.id, seriesName(p));
      if (!cols.has(p.id)) cols.set(p.id, new Array(times.length).fill(NaN));
    }
    times.push(t);
    // Our own counter growth where we have a previous look: the server's pps
    // is over the time since anyone's previous look, and misses short bursts.
    const pps = (p) => {
      const q = prevCounters && prevCounters.get(p.id);
      return q && t > prevAt && p.packets >= q.packets ? (p.packets - q.packets) / ((t - prevAt) / 1000) : p.pps;
    };
    for (const [id, col] of cols) col.push(now.has(id) ? pps(now.get(id)) : NaN);
    if (times.length > CAP) {
      times.shift();
      for (const col of cols.values()) col.shift();
    }
    for (const [id, col] of cols) { // a probe gone for the whole window leaves the chart
      if (!now.has(id) && col.every((v) => !Number.isFinite(v))) { cols.delete(id); names.delete(id); }
    }
    const ids = [...cols.keys()].sort((a, b) => a - b);
    const want = ids.map((id) => names.get(id));
    if (!ppsChart.hasSeries(want)) {
      ppsChart.setSeries(want);
      ppsChart.replace(times, ids.map((id) => cols.get(id)));
    } else {
      ppsChart.push(t, ids.map((id) => cols.get(id)[cols.get(id).length - 1]));
    }
  }

  /** Adds the losses per second since the previous look (probes in both looks only). */
  function pushLosses(t, probes) {
    const cur = new Map(probes.map((p) => [p.id, p]));
    if (prevCounters && t > prevAt) {
      const dt = (t - prevAt) / 1000;
      const sum = [0, 0, 0, 0];
      for (const [id, p] of cur) {
        const q = prevCounters.get(id);
        if (!q) continue;
        const d = (k) => Math.max(0, (p[k] || 0) - (q[k] || 0));
        sum[0] += d('drops'); sum[1] += d('flows_evicted'); sum[2] += d('hosts_evicted'); sum[3] += d('decode_errors');
      }
      lossChart.push(t, sum.map((x) => x / dt));
    }
    prevCounters = cur; prevAt = t;
  }

  // ---- Store and live hub ----
  const S = {};
  for (const [k, label] of [['accepted', 'reports accepted'], ['stored', 'stored'], ['pending', 'pending'], ['dropped', 'dropped (too many waiting)'],
    ['invalid', 'invalid'], ['flushes', 'flushes'], ['failures', 'failed flushes']]) S[k] = stat(label);
  const dbMeter = meter('Database');
  const skv = {};
  const storeKV = h('dl', { class: 'kv' }, [['last_flush', 'Last flush'], ['newest', 'Newest report'], ['file', 'File on disk'],
    ['today', 'Written today'], ['since', 'Written since start']].map(([k, label]) => [h('dt', {}, label), (skv[k] = h('dd', {}, '–'))]));
  const storeCard = h('section', { class: 'card' }, h('h2', {}, 'Store'),
    h('div', { class: 'stats' }, Object.values(S).map((x) => x.el)), dbMeter.el, storeKV);
  const L = {};
  for (const [k, label] of [['published', 'rows published'], ['sent', 'messages sent'], ['slow', 'slow clients dropped'],
    ['rejected', 'connections refused'], ['live_clients', 'live clients'], ['socketio_clients', 'socket.io clients']]) L[k] = stat(label);
  const hubNone = h('p', { class: 'empty', hidden: true }, 'This box runs no live hub.');
  const hubStats = h('div', { class: 'stats' }, Object.values(L).map((x) => x.el));
  const hubCard = h('section', { class: 'card' }, h('h2', {}, 'Live hub'), hubNone, hubStats);

  /** The store's counters, database size and flash wear. */
  function renderStore(st) {
    for (const k of Object.keys(S)) setText(S[k].v, count(st[k]));
    for (const k of Object.keys(S)) S[k].v.title = int(st[k]);
    dbMeter.set([[st.max_db_bytes ? st.db_bytes / st.max_db_bytes : 0, '']],
      st.max_db_bytes ? `${bytes(st.db_bytes)} of ${bytes(st.max_db_bytes)}` : `${bytes(st.db_bytes)} (no bound)`);
    setText(skv.last_flush, st.last_flush ? `${time(st.last_flush)} (${ago(st.last_flush)}, took ${int(st.last_flush_ms)} ms)` : 'not yet');
    setText(skv.newest, st.newest ? time(st.newest) : 'none yet');
    setText(skv.file, `${bytes(st.file_bytes)} (${bytes(st.db_bytes)} in use)`);
    setText(skv.today, bytes(st.written_today));
    setText(skv.since, bytes(st.written_since_start));
  }
  /** The live hub's counters (null: no hub). */
  function renderHub(lv) {
    hubNone.hidden = !!lv;
    hubStats.hidden = !lv;
    if (!lv) return;
    for (const k of Object.keys(L)) { setText(L[k].v, count(lv[k])); L[k].v.title = int(lv[k]); }
  }

  /** Shows one /traffic/status answer (not the charts: they take one point per look). */
  function render(data) {
    const probes = data.probes || [];
    loading.hidden = true;
    tbl.el.hidden = false;
    tbl.update(probes, (p) => p.id, () => [], buildRow);
    probes.forEach((p, i) => refreshRow(tbl.tbody.rows[i], p));
    renderStore(data.store || {});
    renderHub(data.live);
  }

  /** GET /traffic/status every second. */
  async function refresh() {
    const my = ++seq;
    try {
      const data = await api('/traffic/status');
      if (my !== seq) return;
      const t = Date.now();
      last = data;
      offline.hidden = true;
      render(data);
      pushPPS(t, data.probes || []);
      pushLosses(t, data.probes || []);
      ctx.status('live');
      ctx.banner('');
    } catch (e) {
      if (my !== seq) return;
      ctx.status('disconnected', e.message);
      ctx.banner(`Probes: ${serverMessage(e)}`);
      setText(offline, `${offlineText(e)} Retrying every second; the figures below may be old.`);
      offline.hidden = false;
      prevCounters = null; // no loss rate across a gap
    }
  }

  const onUnits = () => { if (last) render(last); };
  window.addEventListener('edgestat:units', onUnits);

  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, ctx.title),
      h('div', { class: 'toolbar' }, h('span', { class: 'muted small' }, 'Every second, from /traffic/status'))),
    h('div', { class: 'grid' }, probesCard, ppsCard, lossCard, storeCard, hubCard),
  );
  ctx.status('connecting');
  const stop = poll(refresh, 1000);

  return () => {
    stop();
    seq++;
    window.removeEventListener('edgestat:units', onUnits);
    ppsChart.destroy();
    lossChart.destroy();
  };
}
