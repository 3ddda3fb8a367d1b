// The live page of this box: one Rt-Stat WebSocket, one render per push.
import { connect } from './rtstat.js';

const $ = (id) => document.getElementById(id);
const store = window.localStorage;

/** Formats kB as a human size. */
function kb(v) {
  const u = ['kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 && i ? 1 : 0)} ${u[i]}`;
}
/** Formats a byte rate. */
function rate(v) {
  const u = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
  let i = 0;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(v < 10 && i ? 1 : 0)} ${u[i]}`;
}
const pct = (f) => `${Math.round(f * 100)}%`;

/** Replaces el's children with rows of a definition list. */
function dl(el, pairs) {
  el.replaceChildren(...pairs.flatMap(([k, v]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    return [dt, dd];
  }));
}

/** A labelled bar; parts are [fraction, class] stacked. */
function bar(label, parts, text) {
  const row = document.createElement('div');
  row.className = 'bar-row';
  const l = document.createElement('span'); l.className = 'bar-label'; l.textContent = label;
  const b = document.createElement('div'); b.className = 'bar';
  for (const [f, cls] of parts) {
    const p = document.createElement('span');
    p.className = cls; p.style.width = `${Math.max(0, Math.min(1, f)) * 100}%`;
    b.append(p);
  }
  const t = document.createElement('span'); t.className = 'bar-text'; t.textContent = text;
  row.append(l, b, t);
  return row;
}

function rows(tbody, list) {
  tbody.replaceChildren(...list.map((cells) => {
    const tr = document.createElement('tr');
    for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
    return tr;
  }));
}

const known = new Set(['cpu_stat', 'meminfo', 'processes', 'uptime', 'net', 'disk', 'temp']);

function render(d) {
  if (d.uptime && !d.uptime.error) {
    const u = d.uptime;
    dl($('uptime'), [['Time', u.time], ['Up', u.uptime], ['Users', u.users], ['Load', `${u.la1} ${u.la5} ${u.la15}`]]);
  }
  if (d.processes && !d.processes.error) {
    const p = d.processes;
    dl($('processes'), [['All', p.all], ['Running', p.running], ['Sleeping', p.sleep], ['Stopped', p.stopped], ['Zombie', p.zombie]]);
  }
  if (d.cpu_stat && !d.cpu_stat.error) {
    const cpus = Object.keys(d.cpu_stat).sort((a, b) => parseInt(a.slice(3)) - parseInt(b.slice(3)));
    $('cpu').replaceChildren(...cpus.map((k) => {
      const c = d.cpu_stat[k];
      return bar(k, [[c.user, 'user'], [c.system, 'system'], [c.iowait, 'iowait']], pct(c.usage));
    }));
  }
  if (d.meminfo && !d.meminfo.error) {
    const m = d.meminfo.memory, s = d.meminfo.swap;
    const t = m.total || 1;
    const parts = [bar('RAM', [[m.apps / t, 'user'], [m.buffers / t, 'system'], [m.cached / t, 'cache']],
      `${kb(m.apps)} / ${kb(m.total)}`)];
    if (s.total > 0) parts.push(bar('Swap', [[s.used / s.total, 'iowait']], `${kb(s.used)} / ${kb(s.total)}`));
    $('memory').replaceChildren(...parts);
  }
  if (d.net && !d.net.error) {
    rows($('net').tBodies[0], Object.entries(d.net).map(([n, v]) =>
      [n, rate(v.rx_bytes), rate(v.tx_bytes), `${Math.round(v.rx_packets)} / ${Math.round(v.tx_packets)}`]));
  }
  if (d.disk && !d.disk.error) {
    rows($('disk').tBodies[0], Object.entries(d.disk).map(([m, v]) =>
      [m, `${kb(v.used)} of ${kb(v.total)}`, kb(v.free), rate(v.read_bytes), rate(v.write_bytes)]));
  }
  if (d.temp && !d.temp.error) {
    const e = Object.entries(d.temp);
    dl($('temp'), e.length ? e.map(([z, v]) => [v.type || z, `${v.temp.toFixed(1)} °C`]) : [['—', 'no sensors']]);
  }
  const extra = Object.entries(d).filter(([k]) => !known.has(k));
  $('extra-card').hidden = extra.length === 0;
  $('extra').replaceChildren(...extra.map(([k, v]) => {
    const pre = document.createElement('pre');
    pre.textContent = `${k}: ${JSON.stringify(v)}`;
    return pre;
  }));
}

function setState(state, detail) {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = state;
  const e = $('error');
  e.hidden = state !== 'error';
  if (detail) e.textContent = detail;
}

const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
$('host').textContent = location.host;
$('interval').value = store.getItem('edgestat.interval') || '1';
const client = connect({
  url: `${proto}//${location.host}/`,
  interval: parseFloat($('interval').value),
  token: sessionStorage.getItem('edgestat.token') || '',
  onPush: (d) => { setState(client.running ? 'live' : 'paused'); render(d); },
  onState: setState,
});
$('interval').addEventListener('change', () => {
  const v = parseFloat($('interval').value);
  if (v >= 0.5) { store.setItem('edgestat.interval', String(v)); client.setInterval(v); }
});
$('token').addEventListener('change', () => {
  sessionStorage.setItem('edgestat.token', $('token').value);
  client.setToken($('token').value);
});
$('controls').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (client.running) { client.pause(); $('toggle').textContent = 'Resume'; }
  else { client.resume(); $('toggle').textContent = 'Pause'; }
});
