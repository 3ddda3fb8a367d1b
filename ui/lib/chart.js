// A time-series line chart on canvas: a bounded ring buffer per series,
// one redraw per animation frame however many points arrive, hover values,
// a legend that toggles series. No layout is read while drawing except the
// size a ResizeObserver reported, so live charts cause no reflow storms.
import { h, setText } from './dom.js';
import { rateInBits } from './format.js';

const PALETTE = 10;
let colors = null; // read from CSS (--c0..--c9, --line, --muted) once per theme
window.addEventListener('edgestat:theme', () => { colors = null; });
function palette() {
  if (!colors) {
    const cs = getComputedStyle(document.documentElement);
    const v = (n) => cs.getPropertyValue(n).trim();
    colors = { series: [...Array(PALETTE).keys()].map((i) => v(`--c${i}`)), grid: v('--line'), text: v('--muted') };
  }
  return colors;
}

/** Rounds a maximum up to 1, 2 or 5 times a power of ten. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

const hhmm = (ms, withSec) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: withSec ? '2-digit' : undefined, hour12: false });
const dayLabel = (ms) => new Date(ms).toLocaleDateString([], { month: 'short', day: 'numeric' });

export class TimeChart {
  /**
   * @param {{series?: string[], format?: (v: number) => string, capacity?: number,
   *   span?: number, height?: number, label?: string, max?: number}} opts
   *   span: the visible window in ms ending at the newest point (null: all points);
   *   max: a fixed top (1 for fractions) instead of the data's;
   *   rate: the values are bytes/s shown by format.rate, so the top is rounded
   *   in the unit the user reads (bit/s or B/s).
   */
  constructor(opts = {}) {
    this.format = opts.format || ((v) => v.toFixed(1));
    this.capacity = opts.capacity || 1200;
    this.span = opts.span ?? null;
    this.fixedMax = opts.max ?? null;
    this.rate = !!opts.rate;
    // A new unit or theme changes the labels or colours: draw again.
    this.redraw = () => this.schedule();
    window.addEventListener('edgestat:units', this.redraw);
    window.addEventListener('edgestat:theme', this.redraw);
    this.hidden = new Set();
    this.canvas = h('canvas', { role: 'img', 'aria-label': opts.label || 'chart' });
    this.tip = h('div', { class: 'chart-tip', hidden: true });
    this.legend = h('div', { class: 'legend' });
    this.area = h('div', { class: 'chart-area', style: `height:${opts.height || 160}px` }, this.canvas, this.tip);
    this.el = h('div', { class: 'chart' }, this.legend, this.area);
    this.w = 0; this.hgt = 0; this.hover = -1; this.frame = 0;
    this.ro = new ResizeObserver((es) => {
      const r = es[0].contentRect;
      this.w = r.width; this.hgt = r.height;
      this.schedule();
    });
    this.ro.observe(this.area);
    this.area.addEventListener('pointermove', (ev) => this.onHover(ev));
    this.area.addEventListener('pointerleave', () => { this.hover = -1; this.tip.hidden = true; this.schedule(); });
    this.setSeries(opts.series || []);
  }

  /** Replaces the series (and drops the data). @param {string[]} names */
  setSeries(names) {
    this.names = names.slice();
    this.t = new Float64Array(this.capacity);
    this.v = names.map(() => new Float64Array(this.capacity));
    this.start = 0; this.len = 0;
    this.legend.replaceChildren(...names.map((n, i) => {
      const item = h('button', { type: 'button', class: 'legend-item', 'aria-pressed': 'true',
        onclick: () => {
          if (this.hidden.has(n)) this.hidden.delete(n); else this.hidden.add(n);
          item.setAttribute('aria-pressed', String(!this.hidden.has(n)));
          this.schedule();
        } },
      h('i', { style: `background:var(--c${i % PALETTE})` }), h('span', {}, n), h('b'));
      if (this.hidden.has(n)) item.setAttribute('aria-pressed', 'false');
      return item;
    }));
    this.schedule();
  }

  /** Whether the series are exactly these names, in order. */
  hasSeries(names) {
    return names.length === this.names.length && names.every((n, i) => n === this.names[i]);
  }

  /** Appends one point per series at time t (ms); the oldest falls out when full. */
  push(t, values) {
    const i = (this.start + this.len) % this.capacity;
    this.t[i] = t;
    for (let s = 0; s < this.v.length; s++) this.v[s][i] = values[s] ?? NaN;
    if (this.len < this.capacity) this.len++;
    else this.start = (this.start + 1) % this.capacity;
    this.schedule();
  }

  /** Replaces all points: times and one column per series. */
  replace(times, cols) {
    this.start = 0; this.len = 0;
    const n = Math.min(times.length, this.capacity), off = times.length - n;
    for (let k = 0; k < n; k++) {
      this.t[k] = times[off + k];
      for (let s = 0; s < this.v.length; s++) this.v[s][k] = cols[s] ? (cols[s][off + k] ?? NaN) : NaN;
    }
    this.len = n;
    this.schedule();
  }

  /** Empties the chart. */
  clear() { this.start = 0; this.len = 0; this.schedule(); }

  /** Stops observing; call when the page goes away. */
  destroy() {
    this.ro.disconnect();
    cancelAnimationFrame(this.frame);
    window.removeEventListener('edgestat:units', this.redraw);
    window.removeEventListener('edgestat:theme', this.redraw);
  }

  at(k) { return (this.start + k) % this.capacity; }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  onHover(ev) {
    if (!this.len) return;
    const r = this.area.getBoundingClientRect();
    const x = ev.clientX - r.left;
    const [t0, t1] = this.window();
    const t = t0 + ((x - this.padL) / Math.max(1, this.w - this.padL - 8)) * (t1 - t0);
    let lo = 0, hi = this.len - 1; // nearest point by time
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.t[this.at(mid)] < t) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && Math.abs(this.t[this.at(lo - 1)] - t) < Math.abs(this.t[this.at(lo)] - t)) lo--;
    this.hover = lo;
    this.hoverX = x;
    this.schedule();
  }

  window() {
    const t1 = this.len ? this.t[this.at(this.len - 1)] : Date.now();
    const first = this.len ? this.t[this.at(0)] : t1 - 60000;
    // A live chart grows from a minute to its span as history comes, rather
    // than drawing its first points as a sliver at the right edge.
    const t0 = this.span ? Math.max(t1 - this.span, Math.min(first, t1 - 60000)) : first;
    return [t0, t1 > t0 ? t1 : t0 + 1];
  }

  draw() {
    const { w, hgt: H } = this;
    if (!w || !H) return;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(H * dpr);
      c.style.width = `${w}px`; c.style.height = `${H}px`;
    }
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, H);
    const col = palette();
    const [t0, t1] = this.window();
    let first = 0; // the first point inside the window (and one before, for the line's start)
    while (first < this.len - 1 && this.t[this.at(first + 1)] < t0) first++;
    let max = 0;
    for (let s = 0; s < this.v.length; s++) {
      if (this.hidden.has(this.names[s])) continue;
      for (let k = first; k < this.len; k++) {
        const y = this.v[s][this.at(k)];
        if (y > max) max = y;
      }
    }
    const k = this.rate && rateInBits() ? 8 : 1;
    max = this.fixedMax ?? niceMax(max * k) / k;
    ctx.font = '11px system-ui, sans-serif';
    const labels = [0, 0.5, 1].map((f) => this.format(max * f));
    const padL = Math.ceil(Math.max(...labels.map((l) => ctx.measureText(l).width))) + 8;
    this.padL = padL;
    const padB = 16, padT = 6, x1 = w - 8, y0 = H - padB;
    const X = (t) => padL + ((t - t0) / (t1 - t0)) * (x1 - padL);
    const Y = (v) => y0 - (v / max) * (y0 - padT);
    ctx.strokeStyle = col.grid; ctx.fillStyle = col.text; ctx.lineWidth = 1;
    ctx.textBaseline = 'middle'; ctx.textAlign = 'right';
    [0, 0.5, 1].forEach((f, i) => {
      const y = Math.round(Y(max * f)) + 0.5;
      ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(x1, y); ctx.stroke();
      ctx.fillText(labels[i], padL - 6, y);
    });
    ctx.textBaseline = 'alphabetic'; ctx.textAlign = 'center';
    const span = t1 - t0;
    const long = span > 2 * 86400e3;
    for (const f of [0, 0.5, 1]) {
      const t = t0 + f * span;
      ctx.textAlign = f === 0 ? 'left' : f === 1 ? 'right' : 'center';
      ctx.fillText(long ? dayLabel(t) : hhmm(t, span < 600e3), X(t), H - 3);
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(padL, 0, x1 - padL, H); ctx.clip();
    ctx.lineWidth = 1.5; ctx.lineJoin = 'round';
    for (let s = 0; s < this.v.length; s++) {
      if (this.hidden.has(this.names[s])) continue;
      ctx.strokeStyle = col.series[s % PALETTE];
      ctx.beginPath();
      let pen = false;
      for (let k = first; k < this.len; k++) {
        const i = this.at(k), v = this.v[s][i];
        if (!Number.isFinite(v)) { pen = false; continue; }
        const x = X(this.t[i]), y = Y(v);
        if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
      }
      ctx.stroke();
    }
    ctx.restore();
    this.drawHover(ctx, X, Y, col, y0, padT);
    const last = this.len ? this.at(this.len - 1) : -1;
    [...this.legend.children].forEach((item, s) => {
      const v = last >= 0 ? this.v[s][last] : NaN;
      setText(item.lastChild, Number.isFinite(v) ? this.format(v) : '');
    });
  }

  drawHover(ctx, X, Y, col, y0, padT) {
    if (this.hover < 0 || this.hover >= this.len) { this.tip.hidden = true; return; }
    const i = this.at(this.hover), x = X(this.t[i]);
    ctx.strokeStyle = col.text; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, padT); ctx.lineTo(Math.round(x) + 0.5, y0); ctx.stroke();
    const rows = [h('div', { class: 'chart-tip-time' }, new Date(this.t[i]).toLocaleString([], { hour12: false }))];
    for (let s = 0; s < this.v.length; s++) {
      const v = this.v[s][i];
      if (this.hidden.has(this.names[s]) || !Number.isFinite(v)) continue;
      ctx.fillStyle = col.series[s % PALETTE];
      ctx.beginPath(); ctx.arc(x, Y(v), 3, 0, 2 * Math.PI); ctx.fill();
      rows.push(h('div', {}, h('i', { style: `background:var(--c${s % PALETTE})` }), `${this.names[s]} `, h('b', {}, this.format(v))));
    }
    this.tip.replaceChildren(...rows);
    this.tip.hidden = false;
    const left = this.hoverX > this.w / 2;
    this.tip.style.left = left ? '' : `${this.hoverX + 12}px`;
    this.tip.style.right = left ? `${this.w - this.hoverX + 12}px` : '';
  }
}
