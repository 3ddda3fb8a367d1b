// Traffic: what crossed the probes, by protocol path, application and LAN
// host, over a period (the stored summaries) and live (the /traffic/live
// WebSocket). #/traffic/<dotted path> drills into one protocol path.
import { h, setText, table, segmented } from '../lib/dom.js';
import { bytes, rate, int, count, pct, time } from '../lib/format.js';
import { api, wsURL, socket, poll } from '../lib/net.js';
import { TimeChart } from '../lib/chart.js';

const PERIODS = [['minute', 'Minute'], ['hour', 'Hour'], ['day', 'Day'], ['week', 'Week'], ['month', 'Month']];
const PERIOD_KEY = 'edgestat.traffic.period';
const PERIOD_TITLE = { minute: 'Last minute', hour: 'Last hour', day: 'Last 24 hours', week: 'Last 7 days', month: 'Last 30 days' };
// Link, network and transport layers: every packet crosses some of them, so
// they would crowd out the applications in "top applications".
const LAYERS = new Set([99, 7, 178, 182, 354, 376, 304, 137]);
const TOP_APPS = 5; // lines in the history chart besides all traffic
const PATHS_PER_APP = 3; // an application seen on more paths is summed over its 3 largest
const PATHS_SHOWN = 50;
const PATHS_FETCHED = 500; // more than shown: apps and drill-downs find their paths here
const LIVE_SPAN = 5 * 60e3;
const LIVE_CAP = 600; // live points kept (a report every second would still fit 5 min)
const SOURCES_CAP = 256; // probe/source pairs remembered by the live feed
const EMPTY = 'No traffic stored yet';
const PATH_RE = /^\d+(\.\d+)*$/;

/**
 * A keyed list of rows "name | share bar | bytes | packets", reused between
 * refreshes so only changed text and widths are touched.
 * @param {string} empty text shown when there are no rows
 * @param {boolean} [withHead] whether to show column headings
 */
function rowList(empty, withHead = true) {
  const body = h('div');
  const none = h('p', { class: 'empty' }, 'Loading…');
  const head = withHead
    ? h('div', { class: 'trow trow-head', 'aria-hidden': 'true' }, h('span', {}, 'Name'), h('span', {}, 'Share'), h('span', {}, 'Bytes'), h('span', {}, 'Packets'))
    : null;
  const el = h('div', { class: 'tlist' }, head, body, none);
  if (head) head.hidden = true;
  const rows = new Map();
  return {
    el,
    /**
     * @param {{key: string, href?: string, title: string, label: string, depth?: number,
     *   share: number, bytes: string, packets: string, attrs?: object}[]} items
     * @param {string} [emptyText] replaces the empty text for this update
     */
    update(items, emptyText) {
      const seen = new Set();
      let prev = null;
      for (const it of items) {
        seen.add(it.key);
        let r = rows.get(it.key);
        if (!r) {
          const name = h('span', { class: 'trow-name' });
          const fill = h('span');
          const b = h('span'), p = h('span');
          const a = h('a', { class: 'trow' }, name, h('span', { class: 'bar' }, fill), b, p);
          for (const [k, v] of Object.entries(it.attrs || {})) a.setAttribute(k, v);
          r = { a, name, fill, b, p };
          rows.set(it.key, r);
        }
        if (!it.href) r.a.removeAttribute('href');
        else if (r.a.getAttribute('href') !== it.href) r.a.setAttribute('href', it.href);
        if (r.a.title !== it.title) r.a.title = it.title;
        setText(r.name, it.label);
        const d = String(it.depth || 0);
        if (r.name.style.getPropertyValue('--depth') !== d) r.name.style.setProperty('--depth', d);
        const w = `${(Math.max(0, Math.min(1, it.share || 0)) * 100).toFixed(1)}%`;
        if (r.fill.style.width !== w) r.fill.style.width = w;
        setText(r.b, it.bytes);
        setText(r.p, it.packets);
        const want = prev ? prev.nextSibling : body.firstChild;
        if (r.a !== want) body.insertBefore(r.a, want);
        prev = r.a;
      }
      for (const [k, r] of rows) if (!seen.has(k)) { r.a.remove(); rows.delete(k); }
      none.hidden = items.length > 0;
      if (emptyText != null) setText(none, emptyText);
      if (head) head.hidden = items.length === 0;
    },
  };
}

/**
 * Orders paths as a tree (children after their parent, biggest first) and
 * labels each with the names below its nearest listed ancestor.
 * @param {{path: string, name: string, bytes: number}[]} items
 * @returns {{item: object, depth: number, label: string}[]}
 */
function pathTree(items) {
  const byPath = new Map(items.map((it) => [it.path, it]));
  const kids = new Map();
  const roots = [];
  const anc = new Map(); // path -> nearest listed ancestor
  for (const it of items) {
    const ids = it.path.split('.');
    let parent = null;
    for (let n = ids.length - 1; n > 0 && !parent; n--) {
      const p = ids.slice(0, n).join('.');
      if (byPath.has(p)) parent = p;
    }
    anc.set(it.path, parent);
    if (parent) { if (!kids.has(parent)) kids.set(parent, []); kids.get(parent).push(it); } else roots.push(it);
  }
  const out = [];
  const walk = (list) => {
    list.sort((a, b) => b.bytes - a.bytes);
    for (const it of list) {
      const ids = it.path.split('.'), names = it.name.split('.');
      const from = anc.get(it.path) ? anc.get(it.path).split('.').length : ids.length - 1;
      const label = names.length === ids.length ? names.slice(from).join('.') : it.name;
      out.push({ item: it, depth: ids.length - 1, label });
      if (kids.has(it.path)) walk(kids.get(it.path));
    }
  };
  walk(roots);
  return out;
}

/**
 * The time each point of a series covers: buckets from their start over
 * bucket_ms (the newest, still filling, only up to the newest report); raw
 * reports, stamped with the end of their stats period, over the period
 * derived from the gaps between consecutive reports (their median).
 * @param {number[]} times @param {number} bucketMs @param {number} newest newest live report (ms) or 0
 * @param {number} livePeriod stats period seen live (ms) or 0
 * @returns {{t: number, from: number, to: number}[]}
 */
function spansOf(times, bucketMs, newest, livePeriod) {
  if (bucketMs > 0) {
    const spans = times.map((t) => ({ t, from: t, to: t + bucketMs }));
    // The newest bucket is still filling: it covers up to the newest report
    // seen live, or without one up to now (when now falls inside it).
    const last = spans[spans.length - 1];
    if (last && livePeriod && newest >= last.from && newest < last.to) {
      last.to = Math.min(last.to, newest + livePeriod);
    } else if (last && Date.now() > last.from + 1000 && Date.now() < last.to) {
      last.to = Date.now();
    }
    return spans;
  }
  const gaps = [];
  for (let i = 1; i < times.length; i++) gaps.push(times[i] - times[i - 1]);
  const p = median(gaps) || livePeriod || 5000;
  // A report covers at most one period: after a silent gap it is not spread
  // over the gap, and a short one (a probe stopping) covers only its gap.
  return times.map((t, i) => ({ t, from: t - (i ? Math.min(t - times[i - 1], p) : p), to: t }));
}

/** The median of positive numbers (0 when there are none): the stats period among a few odd gaps. */
function median(xs) {
  const v = xs.filter((x) => x > 0).sort((a, b) => a - b);
  return v.length ? v[v.length >> 1] : 0;
}

/**
 * Step lines of bytes/s: each value holds over the time it covers, and a gap
 * between spans (nothing was counted there) is drawn at 0.
 * @param {{t: number, from: number, to: number}[]} spans
 * @param {Map<number, number>[]} sums bytes by point time, one map per series
 * @returns {{times: number[], cols: number[][]}}
 */
function steps(spans, sums) {
  const times = [], idx = [];
  spans.forEach((s, i) => {
    if (i > 0 && s.from > spans[i - 1].to) { times.push(spans[i - 1].to, s.from); idx.push(-1, -1); }
    times.push(s.from, s.to); idx.push(i, i);
  });
  const cols = sums.map((m) => idx.map((k) => {
    if (k < 0) return 0;
    const s = spans[k], sec = (s.to - s.from) / 1000;
    return sec > 0 ? (m.get(s.t) || 0) / sec : NaN;
  }));
  return { times, cols };
}

/** Bytes by point time of a /traffic/series answer. @param {object} ans */
const sumsOf = (ans, into = new Map()) => {
  for (const p of (ans && ans.points) || []) into.set(p[0], (into.get(p[0]) || 0) + p[1]);
  return into;
};

/** A figure tile. @returns {[HTMLElement, HTMLElement]} the tile and its value */
function stat(label, field) {
  const v = h('div', { class: 'stat-value', dataset: field ? { field } : undefined }, '–');
  return [h('div', { class: 'stat' }, v, h('div', { class: 'stat-label' }, label)), v];
}

/**
 * Mounts the Traffic page.
 * @param {HTMLElement} root
 * @param {{status: Function, banner: Function, arg: string, title: string}} ctx
 */
export function mount(root, ctx) {
  let period = localStorage.getItem(PERIOD_KEY);
  if (!PERIODS.some(([p]) => p === period)) period = 'hour';
  let filter = null; // [probe id, source] or null for all
  let drill = ctx.arg || '';
  let ac = new AbortController(), drillAc = new AbortController();
  let stopPoll = null;
  // What the last refresh brought, kept to re-render on a unit change.
  const last = { paths: null, apps: null, hosts: null, total: null, top: [], appSums: [], drill: null, probes: [] };
  const appNames = new Map(); // app id -> name, for the live rows
  const appPath = new Map(); // app id -> its biggest path, for the drill link

  // ---- head ----
  const probeSel = h('select', { 'aria-label': 'Probe', onchange: () => {
    filter = probeSel.value ? JSON.parse(probeSel.value) : null;
    resetLive();
    restart();
  } }, h('option', { value: '' }, 'All probes'));
  const head = h('div', { class: 'page-head' }, h('h1', {}, ctx.title),
    h('div', { class: 'toolbar' },
      h('label', { class: 'check' }, h('span', { class: 'muted small' }, 'Probe'), probeSel),
      segmented('period', PERIODS, period, (p) => {
        period = p;
        localStorage.setItem(PERIOD_KEY, p);
        setText(periodTitle, PERIOD_TITLE[p]);
        setText(windowText, 'loading…');
        restart();
      })));

  // ---- drill-down card ----
  const crumbs = h('p', { class: 'crumbs' });
  const [dBytesT, dBytes] = stat('Bytes'), [dPktT, dPkt] = stat('Packets');
  const [dFlowT, dFlow] = stat('Peak active flows'), [dShareT, dShare] = stat('Share of all traffic');
  const drillChart = new TimeChart({ series: ['Path'], format: rate, rate: true, capacity: 1000, height: 180, label: 'Traffic of this protocol path' });
  const drillNote = h('p', { class: 'empty', hidden: true });
  const children = rowList('No deeper protocol on this path in this period');
  const drillCard = h('section', { class: 'card wide', 'data-testid': 'traffic-drill', hidden: true },
    h('div', { class: 'card-head' }, h('h2', {}, 'Protocol path'),
      h('div', { class: 'toolbar' }, h('a', { class: 'btn small', href: '#/traffic' }, '← Back to all traffic'))),
    crumbs, h('div', {}, h('div', { class: 'stats' }, dBytesT, dPktT, dFlowT, dShareT), drillNote, drillChart.el,
      h('h3', {}, 'Next level'), children.el));
  const drillBody = drillCard.lastChild;

  // ---- period card: figures and history ----
  const emptyNote = h('p', { class: 'note wide', hidden: true }, `${EMPTY}. The probes store what they see as it arrives; this page refreshes by itself.`);
  const periodTitle = h('h2', {}, PERIOD_TITLE[period]);
  const windowText = h('span', { class: 'muted small' });
  const [bytesT, bytesV] = stat('Bytes', 'total-bytes'), [pktT, pktV] = stat('Packets', 'total-packets');
  const [flowT, flowV] = stat('Peak active flows', 'peak-flows'), [avgT, avgV] = stat('Average rate', 'avg-rate');
  const history = new TimeChart({ series: ['All traffic'], format: rate, rate: true, capacity: 4000, height: 200, label: 'Traffic over the period' });
  const periodCard = h('section', { class: 'card wide', 'data-testid': 'traffic-period' },
    h('div', { class: 'card-head' }, periodTitle, h('div', { class: 'toolbar' }, windowText)),
    h('div', { class: 'stats' }, bytesT, pktT, flowT, avgT),
    h('p', { class: 'muted small' }, 'Bytes per second of all traffic and of the top applications; click a legend entry to hide its line.'),
    history.el);

  // ---- live card ----
  const liveChart = new TimeChart({ series: ['All traffic'], format: rate, rate: true, capacity: LIVE_CAP, span: LIVE_SPAN, height: 160, label: 'Live traffic, last 5 minutes' });
  const [lRateT, lRate] = stat('Now', 'live-rate');
  const [lCountT, lCount] = stat('Reports received', 'live-reports');
  const [lNewT, lNew] = stat('Newest report', 'live-newest');
  setText(lCount, '0');
  const liveState = h('p', { class: 'note bad', hidden: true }, 'The live feed is disconnected; reconnecting…');
  const nowList = rowList('Waiting for the first reports…', false);
  const liveCard = h('section', { class: 'card', 'data-testid': 'traffic-live' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Live'), h('div', { class: 'toolbar' }, h('span', { class: 'muted small' }, 'last 5 minutes'))),
    liveState, h('div', { class: 'stats' }, lRateT, lCountT, lNewT), liveChart.el,
    h('h3', {}, 'Applications in the newest report'), nowList.el);

  // ---- lists ----
  const appsList = rowList(EMPTY);
  const appsCard = h('section', { class: 'card', 'data-testid': 'traffic-apps' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Applications'), h('div', { class: 'toolbar' }, h('span', { class: 'muted small' }, 'share of all traffic'))),
    appsList.el);
  const pathsList = rowList(EMPTY);
  const pathsCard = h('section', { class: 'card', 'data-testid': 'traffic-paths' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Protocol paths'), h('div', { class: 'toolbar' }, h('span', { class: 'muted small' }, 'click to drill down'))),
    pathsList.el);
  const hostsTable = table(['MAC', 'IP', 'In', 'Out', 'Packets', 'Share'], EMPTY);
  const hostsEmpty = hostsTable.el.querySelector('p.empty');
  hostsEmpty.textContent = 'Loading…';
  hostsTable.el.querySelector('table').hidden = true;
  for (const th of [...hostsTable.el.querySelectorAll('th')].slice(2)) th.className = 'num';
  const hostsCard = h('section', { class: 'card', 'data-testid': 'traffic-hosts' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Top LAN hosts'), h('div', { class: 'toolbar' }, h('span', { class: 'muted small' }, 'in = toward the host'))),
    hostsTable.el);

  root.append(head, h('div', { class: 'grid' }, drillCard, emptyNote, periodCard, liveCard, appsCard, pathsCard, hostsCard));

  /** The probe/source/period parameters of every summary request. @param {string} [p] period */
  function query(p = period) {
    let q = `period=${p}`;
    if (filter) q += `&probe=${filter[0]}&source=${encodeURIComponent(JSON.stringify([filter[1]]))}`;
    return q;
  }

  /** Fetches the summaries of the period and renders them. @param {AbortSignal} signal */
  async function refresh(signal) {
    const q = query();
    try {
      const [paths, apps, hosts, status] = await Promise.all([
        api(`/traffic/protocols?by=path&limit=${PATHS_FETCHED}&${q}`, { signal }),
        api(`/traffic/protocols?by=app&limit=20&${q}`, { signal }),
        api(`/traffic/hosts?limit=20&${q}`, { signal }),
        api('/traffic/status', { signal }),
      ]);
      for (const it of apps.items) appNames.set(it.app, it.name);
      appPath.clear();
      for (const it of paths.items) {
        const names = it.name.split('.');
        if (!appNames.has(it.app)) appNames.set(it.app, names[names.length - 1]);
        if (!appPath.has(it.app)) appPath.set(it.app, it.path); // sorted by bytes: the first is the biggest
      }
      // The history lines: all traffic, and each top application summed over its biggest paths.
      const top = apps.items.filter((a) => !LAYERS.has(a.app)).slice(0, TOP_APPS);
      const want = top.map((a) => paths.items.filter((p) => p.app === a.app).slice(0, PATHS_PER_APP).map((p) => p.path));
      const flat = ['99', ...want.flat()];
      const series = await Promise.all(flat.map((p) => api(`/traffic/series?path=${p}&${q}`, { signal })));
      if (signal.aborted) return; // the period or probe changed meanwhile
      const bySeries = new Map(flat.map((p, i) => [p, series[i]]));
      Object.assign(last, {
        paths, apps, hosts, total: bySeries.get('99'), top,
        appSums: want.map((ps) => ps.reduce((m, p) => sumsOf(bySeries.get(p), m), new Map())),
        probes: status.probes || [],
      });
      ctx.banner('');
      renderProbes();
      renderSummaries();
      if (drill) await loadDrill(signal);
    } catch (e) {
      if (e.name !== 'AbortError') ctx.banner(`Traffic: ${e.message}`);
    }
  }

  /** Keeps the probe choices equal to the probes the box runs (and the chosen one). */
  function renderProbes() {
    const opts = [['', 'All probes']];
    for (const p of last.probes) opts.push([JSON.stringify([p.id, p.source]), `${p.id} · ${p.source}`]);
    if (filter && !opts.some(([v]) => v === JSON.stringify(filter))) opts.push([JSON.stringify(filter), `${filter[0]} · ${filter[1]}`]);
    const have = [...probeSel.options].map((o) => o.value).join('\n');
    if (have === opts.map(([v]) => v).join('\n')) return;
    probeSel.replaceChildren(...opts.map(([v, t]) => h('option', { value: v }, t)));
    probeSel.value = filter ? JSON.stringify(filter) : '';
  }

  /** Renders figures, history, applications, paths and hosts from `last`. */
  function renderSummaries() {
    const { paths, apps, hosts, total } = last;
    if (!paths) return;
    const all = paths.items.find((p) => p.path === '99');
    const totalBytes = all ? all.bytes : 0;
    const empty = paths.items.length === 0;
    emptyNote.hidden = !empty;
    setText(periodTitle, PERIOD_TITLE[period]);

    // Figures and the history chart.
    const points = (total && total.points) || [];
    const spans = spansOf(points.map((p) => p[0]), total ? total.bucket_ms : 0, live.newest, live.period);
    let covered = 0;
    for (const s of spans) covered += s.to - s.from;
    setText(bytesV, all ? bytes(all.bytes) : '–');
    setText(pktV, all ? int(all.packets) : '–');
    setText(flowV, points.length ? int(Math.max(...points.map((p) => p[4]))) : (all ? int(all.active_flows) : '–'));
    setText(avgV, covered > 0 ? rate(points.reduce((a, p) => a + p[1], 0) / (covered / 1000)) : '–');
    setText(windowText, spans.length ? `${time(spans[0].from)} – ${time(spans[spans.length - 1].to)}` : '');
    const names = ['All traffic', ...last.top.map((a) => a.name)];
    if (!history.hasSeries(names)) history.setSeries(names);
    const st = steps(spans, [sumsOf(total), ...last.appSums]);
    history.replace(st.times, st.cols);

    // Applications, as the API names them.
    appsList.update(apps.items.map((a) => {
      const p = appPath.get(a.app);
      return {
        key: String(a.app), href: p ? `#/traffic/${p}` : null, label: a.name,
        title: `${a.name} (id ${a.app}): ${bytes(a.bytes)}, ${int(a.packets)} packets${p ? ` — open ${a.name} on ${paths.items.find((x) => x.path === p).name}` : ''}`,
        share: totalBytes ? a.bytes / totalBytes : 0, bytes: bytes(a.bytes), packets: count(a.packets),
        attrs: { 'data-name': a.name },
      };
    }), EMPTY);

    // Protocol paths as a tree.
    pathsList.update(pathTree(paths.items.slice(0, PATHS_SHOWN)).map(({ item, depth, label }) => ({
      key: item.path, href: `#/traffic/${item.path}`, label, depth,
      title: `${item.name} (${item.path}): ${bytes(item.bytes)}, ${int(item.packets)} packets`,
      share: totalBytes ? item.bytes / totalBytes : 0, bytes: bytes(item.bytes), packets: count(item.packets),
      attrs: { 'data-path': item.path },
    })), EMPTY);

    // LAN hosts.
    hostsTable.update(hosts.hosts, (x) => `${x.mac}|${x.ip}`, (x) => [
      x.mac, x.ip, bytes(x.in_bytes), bytes(x.out_bytes), int(x.in_packets + x.out_packets),
      totalBytes ? pct(Math.min(1, (x.in_bytes + x.out_bytes) / totalBytes)) : '–',
    ], (tr) => { for (let i = 0; i < 6; i++) tr.insertCell().className = i >= 2 ? 'num' : ''; });
    setText(hostsEmpty, EMPTY);
  }

  /** Fetches the drilled path's series. @param {AbortSignal} signal */
  async function loadDrill(signal) {
    const path = drill;
    if (!PATH_RE.test(path)) return;
    try {
      const ans = await api(`/traffic/series?path=${path}&${query()}`, { signal });
      if (path !== drill) return;
      last.drill = ans;
      renderDrill();
    } catch (e) {
      if (e.name !== 'AbortError') ctx.banner(`Traffic: ${e.message}`);
    }
  }

  /** Renders the drill-down card from `last` (or hides it). */
  function renderDrill() {
    drillCard.hidden = !drill;
    if (!drill) return;
    if (!PATH_RE.test(drill)) {
      crumbs.replaceChildren(`“${drill}” is not a protocol path (dotted ids such as 99.178.354).`);
      crumbs.title = '';
      drillBody.hidden = true;
      return;
    }
    drillBody.hidden = false;
    const ids = drill.split('.');
    const ans = last.drill && last.drill.path === drill ? last.drill : null;
    const known = last.paths && last.paths.items.find((p) => p.path === drill);
    const names = ((ans && ans.name) || (known && known.name) || ids.map((id) => appNames.get(Number(id)) || id).join('.')).split('.');
    const parts = [];
    ids.forEach((id, i) => {
      const name = names.length === ids.length ? names[i] : id;
      const p = ids.slice(0, i + 1).join('.');
      if (i) parts.push(h('span', { class: 'muted' }, ' › '));
      parts.push(i === ids.length - 1 ? h('strong', { title: `${p}` }, name) : h('a', { href: `#/traffic/${p}`, title: p }, name));
    });
    crumbs.replaceChildren(...parts);
    crumbs.title = `${names.join('.')} (${drill})`;
    const label = names[names.length - 1];
    if (!drillChart.hasSeries([label])) drillChart.setSeries([label]);
    if (!ans) {
      for (const v of [dBytes, dPkt, dFlow, dShare]) setText(v, '–');
      drillChart.clear();
      drillNote.hidden = false;
      setText(drillNote, 'Loading…');
    } else {
      const pts = ans.points;
      const sum = (k) => pts.reduce((a, p) => a + p[k], 0);
      const all = last.paths && last.paths.items.find((p) => p.path === '99');
      setText(dBytes, bytes(sum(1)));
      setText(dPkt, int(sum(3)));
      setText(dFlow, pts.length ? int(Math.max(...pts.map((p) => p[4]))) : '–');
      setText(dShare, all && all.bytes ? pct(Math.min(1, sum(1) / all.bytes)) : '–');
      drillNote.hidden = pts.length > 0;
      setText(drillNote, 'No traffic on this path in this period.');
      const st = steps(spansOf(pts.map((p) => p[0]), ans.bucket_ms, live.newest, live.period), [sumsOf(ans)]);
      drillChart.replace(st.times, st.cols);
    }
    const parent = known ? known.bytes : (ans ? ans.points.reduce((a, p) => a + p[1], 0) : 0);
    const kids = last.paths ? last.paths.items.filter((p) => p.path.startsWith(`${drill}.`) && p.path.split('.').length === ids.length + 1) : [];
    children.update(kids.map((k) => {
      const n = k.name.split('.');
      return {
        key: k.path, href: `#/traffic/${k.path}`, label: n[n.length - 1],
        title: `${k.name} (${k.path}): ${bytes(k.bytes)}, ${int(k.packets)} packets`,
        share: parent ? k.bytes / parent : 0, bytes: bytes(k.bytes), packets: count(k.packets),
        attrs: { 'data-child': k.path },
      };
    }), last.paths ? 'No deeper protocol on this path in this period' : 'Loading…');
  }

  /** Starts (again) the refresh loop for the current period and filter. */
  function restart() {
    if (stopPoll) stopPoll();
    ac.abort();
    drillAc.abort();
    ac = new AbortController();
    drillAc = new AbortController();
    const signal = ac.signal;
    stopPoll = poll(() => refresh(signal), period === 'minute' || period === 'hour' ? 10e3 : 60e3);
    if (!live.seeded) seedLive(signal);
  }

  // ---- live ----
  const live = {
    count: 0, newest: 0, period: 0, seeded: false,
    guess: 0, seedMax: 0, // the stats period and the newest time of the stored minute
    pts: [], // [time, bytes/s] in time order, the last LIVE_SPAN
    sources: new Map(), // probe/source -> {last, period}
    nowT: 0, now: new Map(), // app id -> bytes/s in the newest report
    timer: 0,
  };

  /** Forgets the live data (the probe filter changed). */
  function resetLive() {
    live.pts = []; live.sources.clear(); live.now.clear(); live.nowT = 0; live.newest = 0; live.period = 0;
    live.seeded = false; live.guess = 0; live.seedMax = 0;
    liveChart.clear();
    scheduleLive();
  }

  /**
   * Starts the live chart with the stored last minute, so it does not open
   * empty; points the socket already brought are kept as they are.
   * @param {AbortSignal} signal
   */
  async function seedLive(signal) {
    live.seeded = true;
    try {
      const ans = await api(`/traffic/series?path=99&${query('minute')}`, { signal });
      const spans = spansOf(ans.points.map((p) => p[0]), 0, 0, live.period);
      const sums = sumsOf(ans);
      if (spans.length > 1) live.guess = median(spans.slice(1).map((sp) => sp.to - sp.from));
      if (spans.length) live.seedMax = spans[spans.length - 1].t;
      const first = live.pts.length ? live.pts[0][0] : Infinity;
      for (const sp of spans) {
        if (sp.t < first && sp.to > sp.from) addLive(sp.t, sums.get(sp.t) / ((sp.to - sp.from) / 1000));
      }
      scheduleLive();
    } catch (e) {
      if (e.name !== 'AbortError') live.seeded = false; // try again with the next restart
    }
  }

  /** Adds a rate to the live point of time t (sources reporting at the same time add up). */
  function addLive(t, v) {
    const pts = live.pts;
    let i = pts.length - 1;
    while (i >= 0 && pts[i][0] > t) i--;
    if (i >= 0 && pts[i][0] === t) pts[i][1] += v;
    else pts.splice(i + 1, 0, [t, v]);
    const cut = pts[pts.length - 1][0] - LIVE_SPAN - 10e3;
    while (pts.length > LIVE_CAP || (pts.length && pts[0][0] < cut)) pts.shift();
  }

  /** Takes one /traffic/live message. @param {string} text */
  function onLive(text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    if (!m || m.event !== 'stats_raw' || !Array.isArray(m.data) || m.data[0] !== 99) return;
    live.count++;
    const [, probe, source, t, app, path, , , b] = m.data;
    if (filter && (probe !== filter[0] || source !== filter[1])) { scheduleLive(); return; }
    const key = `${probe}\u0000${source}`;
    let s = live.sources.get(key);
    if (!s) {
      if (live.sources.size >= SOURCES_CAP) live.sources.clear();
      s = { last: 0, period: 0, gaps: [] };
      live.sources.set(key, s);
    }
    if (path === '99') {
      if (s.last && t > s.last) {
        const gap = t - s.last;
        s.gaps.push(gap);
        if (s.gaps.length > 9) s.gaps.shift();
        s.period = median(s.gaps);
        // A report covers one stats period: after a silent gap it is not spread over the gap.
        addLive(t, b / (Math.min(gap, s.period) / 1000));
        live.period = s.period;
      } else if (!s.last && live.guess && t > live.seedMax) {
        addLive(t, b / (live.guess / 1000)); // the source's first report, after the stored minute
      }
      if (t > s.last) s.last = t;
      if (t > live.newest) live.newest = t;
    } else if ((s.period || live.guess) && !LAYERS.has(app)) {
      if (t > live.nowT) { live.nowT = t; live.now.clear(); }
      if (t === live.nowT) live.now.set(app, (live.now.get(app) || 0) + b / ((s.period || live.guess) / 1000));
    }
    scheduleLive();
  }

  /** Renders the live card at most twice a second however many rows arrive. */
  function scheduleLive() {
    if (!live.timer) live.timer = setTimeout(renderLive, 500);
  }

  function renderLive() {
    live.timer = 0;
    setText(lCount, String(live.count));
    const pts = live.pts;
    setText(lRate, pts.length ? rate(pts[pts.length - 1][1]) : '–');
    setText(lNew, live.newest ? time(live.newest) : '–');
    liveChart.replace(pts.map((p) => p[0]), [pts.map((p) => p[1])]);
    const now = [...live.now].sort((a, b) => b[1] - a[1]).slice(0, TOP_APPS);
    const totalNow = pts.length && pts[pts.length - 1][0] === live.nowT ? pts[pts.length - 1][1] : 0;
    nowList.update(now.map(([app, r]) => ({
      key: String(app), label: appNames.get(app) || String(app),
      title: `${appNames.get(app) || app} (id ${app}): ${rate(r)}`,
      share: totalNow ? r / totalNow : 0, bytes: rate(r), packets: totalNow ? pct(Math.min(1, r / totalNow)) : '',
      attrs: { 'data-app': String(app) },
    })), live.nowT ? 'No application traffic in the newest report' : 'Waiting for the first reports…');
  }

  const ws = socket(wsURL('/traffic/live?events=stats_raw&format=99'), {
    onMessage: onLive,
    onState: (state, detail) => {
      liveState.hidden = state !== 'disconnected';
      ctx.status(state === 'open' ? 'live' : state, detail);
    },
  });

  /** Re-renders every rate (bit/s or B/s changed). */
  const onUnits = () => { renderSummaries(); renderDrill(); renderLive(); };
  window.addEventListener('edgestat:units', onUnits);

  renderDrill();
  restart();

  const unmount = () => {
    if (stopPoll) stopPoll();
    ac.abort();
    drillAc.abort();
    ws.close();
    clearTimeout(live.timer);
    history.destroy(); liveChart.destroy(); drillChart.destroy();
    window.removeEventListener('edgestat:units', onUnits);
  };
  /** Follows #/traffic/<path> without a remount. @param {string} arg */
  unmount.update = (arg) => {
    if (arg === drill) return;
    drill = arg || '';
    last.drill = null;
    drillAc.abort();
    drillAc = new AbortController();
    renderDrill();
    if (drill) { window.scrollTo({ top: 0 }); loadDrill(drillAc.signal); }
  };
  return unmount;
}
