// Live: this box through its own Rt-Stat WebSocket, one render per push,
// ten minutes of history kept in the charts.
import { connect } from '../lib/rtstat.js';
import { wsURL, token } from '../lib/net.js';
import { h, setText, table, card, meter } from '../lib/dom.js';
import { kib, rate, ioRate, pct, int } from '../lib/format.js';
import { TimeChart } from '../lib/chart.js';

const HISTORY_MS = 10 * 60 * 1000;
const KNOWN = new Set(['cpu_stat', 'meminfo', 'processes', 'uptime', 'net', 'disk', 'temp']);
const MAX_IFACES = 5; // charted interfaces (2 series each), the busiest first

/** @param {HTMLElement} root @param {{status: Function, banner: Function, title: string}} ctx */
export function mount(root, ctx) {
  let interval = parseFloat(localStorage.getItem('edgestat.interval')) || 1;
  const capacity = () => Math.ceil(HISTORY_MS / 500) + 2; // ten minutes at the shortest interval
  const sys = {};
  const field = (name) => (sys[name] = h('dd', { dataset: { field: name } }, '–'));
  const intervalIn = h('input', { type: 'number', min: '0.5', max: '86400', step: '0.5', value: String(interval), inputmode: 'decimal', 'aria-label': 'Interval in seconds' });
  const toggle = h('button', { type: 'button' }, 'Pause');

  const cpuMeters = h('div');
  const cpuChart = new TimeChart({ format: pct, max: 1, span: HISTORY_MS, capacity: capacity(), label: 'CPU usage per core' });
  const memMeters = { ram: meter('RAM'), swap: meter('Swap') };
  const memChart = new TimeChart({ series: ['apps', 'cache', 'swap'], format: (v) => kib(v), span: HISTORY_MS, capacity: capacity(), label: 'Memory' });
  const netTable = table(['Interface', 'Receive', 'Send', 'Packets in', 'Packets out'], 'No interfaces');
  const netChart = new TimeChart({ format: rate, rate: true, span: HISTORY_MS, capacity: capacity(), label: 'Network' });
  const diskTable = table(['Mount', 'Device', 'Used', 'Free', 'Read', 'Write'], 'No disks');
  const temps = h('dl', { class: 'kv' });
  const extra = h('div');
  const extraCard = card('Plugins', extra);
  extraCard.hidden = true;
  const offline = h('p', { class: 'note bad', hidden: true });

  root.append(
    h('div', { class: 'page-head' },
      h('h1', {}, ctx.title),
      h('span', { class: 'muted' }, location.host),
      h('div', { class: 'toolbar' },
        h('label', { class: 'check' }, 'Every', intervalIn, 's'), toggle)),
    offline,
    h('div', { class: 'grid' },
      card('System', h('dl', { class: 'kv' },
        h('dt', {}, 'Time'), field('clock'), h('dt', {}, 'Up'), field('uptime'), h('dt', {}, 'Users'), field('users'),
        h('dt', {}, 'Load'), field('load'), h('dt', {}, 'Processes'), field('procs'))),
      card('CPU', cpuMeters, h('div', { class: 'key' }, h('span', {}, h('i', { class: 'user' }), 'user'),
        h('span', {}, h('i', { class: 'system' }), 'system'), h('span', {}, h('i', { class: 'iowait' }), 'iowait'))),
      card('Memory', memMeters.ram.el, memMeters.swap.el, h('div', { class: 'key' },
        h('span', {}, h('i', { class: 'user' }), 'apps'), h('span', {}, h('i', { class: 'system' }), 'buffers'),
        h('span', {}, h('i', { class: 'cache' }), 'cache'), h('span', {}, h('i', { class: 'swap' }), 'swap'))),
      h('section', { class: 'card wide' }, h('h2', {}, 'CPU usage, 10 minutes'), cpuChart.el),
      h('section', { class: 'card wide' }, h('h2', {}, 'Network'), netChart.el, netTable.el),
      h('section', { class: 'card wide' }, h('h2', {}, 'Memory, 10 minutes'), memChart.el),
      h('section', { class: 'card wide' }, h('h2', {}, 'Disks'), diskTable.el),
      card('Temperatures', temps),
      extraCard));

  const cores = new Map();
  /** @param {object} d one push */
  function render(d) {
    const now = Date.now();
    const ok = (k) => d[k] && !d[k].error;
    if (ok('uptime')) {
      const u = d.uptime;
      setText(sys.clock, u.time); setText(sys.uptime, u.uptime); setText(sys.users, u.users);
      setText(sys.load, `${u.la1} · ${u.la5} · ${u.la15}`);
    }
    if (ok('processes')) {
      const p = d.processes;
      setText(sys.procs, `${int(p.all)} (${int(p.running)} running, ${int(p.zombie)} zombie)`);
    }
    if (ok('cpu_stat')) {
      const names = Object.keys(d.cpu_stat).sort((a, b) => parseInt(a.slice(3), 10) - parseInt(b.slice(3), 10));
      if (!cpuChart.hasSeries(names)) {
        cpuChart.setSeries(names);
        cores.clear();
        cpuMeters.replaceChildren(...names.map((n) => { const m = meter(n); cores.set(n, m); return m.el; }));
      }
      for (const n of names) {
        const c = d.cpu_stat[n];
        cores.get(n).set([[c.user, 'user'], [c.system, 'system'], [c.iowait, 'iowait']], pct(c.usage));
      }
      cpuChart.push(now, names.map((n) => d.cpu_stat[n].usage));
    }
    if (ok('meminfo')) {
      const m = d.meminfo.memory, s = d.meminfo.swap, t = m.total || 1;
      memMeters.ram.set([[m.apps / t, 'user'], [m.buffers / t, 'system'], [m.cached / t, 'cache']], `${kib(m.apps)} of ${kib(m.total)}`);
      memMeters.swap.el.hidden = !(s.total > 0);
      if (s.total > 0) memMeters.swap.set([[s.used / s.total, 'swap']], `${kib(s.used)} of ${kib(s.total)}`);
      memChart.push(now, [m.apps, m.cached + m.buffers, s.used]);
    }
    if (ok('net')) {
      const ifs = Object.entries(d.net).sort((a, b) => (b[1].rx_bytes + b[1].tx_bytes) - (a[1].rx_bytes + a[1].tx_bytes) || a[0].localeCompare(b[0]));
      netTable.update(ifs, ([n]) => n, ([n, v]) => [n, rate(v.rx_bytes), rate(v.tx_bytes), `${int(v.rx_packets)}/s`, `${int(v.tx_packets)}/s`]);
      // The charted set is the interfaces by name; it only changes when interfaces come or go.
      const charted = Object.keys(d.net).sort().slice(0, MAX_IFACES);
      const names = charted.flatMap((n) => [`${n} in`, `${n} out`]);
      if (!netChart.hasSeries(names)) netChart.setSeries(names);
      netChart.push(now, charted.flatMap((n) => [d.net[n].rx_bytes, d.net[n].tx_bytes]));
    }
    if (ok('disk')) {
      diskTable.update(Object.entries(d.disk), ([m]) => m, ([m, v]) =>
        [m, v.device, `${kib(v.used)} of ${kib(v.total)} (${pct(v.used / (v.total || 1))})`, kib(v.free), ioRate(v.read_bytes), ioRate(v.write_bytes)]);
    }
    if (ok('temp')) {
      const e = Object.entries(d.temp);
      const pairs = e.length ? e.map(([z, v]) => [v.type || z, `${v.temp.toFixed(1)} °C`]) : [['–', 'no sensors on this box']];
      if (temps.childElementCount !== pairs.length * 2) temps.replaceChildren(...pairs.flatMap(() => [h('dt'), h('dd')]));
      pairs.forEach(([k, v], i) => { setText(temps.children[2 * i], k); setText(temps.children[2 * i + 1], v); });
    }
    const other = Object.entries(d).filter(([k]) => !KNOWN.has(k));
    extraCard.hidden = other.length === 0;
    if (other.length) extra.replaceChildren(...other.map(([k, v]) => h('pre', { class: 'mono small' }, `${k}: ${JSON.stringify(v)}`)));
  }

  const client = connect({
    url: wsURL('/'),
    interval,
    token: token(),
    onPush: (d) => { offline.hidden = true; ctx.banner(''); render(d); },
    onState: (s, detail) => {
      ctx.status(s, detail);
      if (s === 'disconnected') {
        offline.hidden = false;
        offline.textContent = 'The box is not answering. Reconnecting…';
      } else if (s === 'error') {
        ctx.banner(detail === 'Not authorized' || detail === 'Auth failed' ? `${detail}: set the token in Settings.` : detail);
      }
    },
  });
  intervalIn.addEventListener('change', () => {
    const v = parseFloat(intervalIn.value);
    if (!(v >= 0.5 && v <= 86400)) { intervalIn.value = String(interval); return; }
    interval = v;
    localStorage.setItem('edgestat.interval', String(v));
    client.setInterval(v);
  });
  toggle.addEventListener('click', () => {
    if (client.running) { client.pause(); toggle.textContent = 'Resume'; } else { client.resume(); toggle.textContent = 'Pause'; }
  });
  return () => {
    client.close();
    for (const c of [cpuChart, memChart, netChart]) c.destroy();
  };
}
