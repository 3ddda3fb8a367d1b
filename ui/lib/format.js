// Numbers with units. Sizes are binary (KiB, MiB: what free(1) and df -h
// show); rates are decimal (kbit/s, MB/s: what link speeds are sold in);
// network rates follow the user's bit/s or B/s choice, disk I/O is B/s.

const settings = { bits: localStorage.getItem('edgestat.units') !== 'bytes' };

/** Whether rates are shown in bit/s (true) or B/s. */
export const rateInBits = () => settings.bits;
/** Chooses bit/s or B/s for every later rate(). */
export function setRateInBits(b) {
  settings.bits = b;
  localStorage.setItem('edgestat.units', b ? 'bits' : 'bytes');
}

function scaled(v, base, units, digits = 1) {
  if (v == null || !Number.isFinite(Number(v))) return '–';
  v = Number(v);
  let i = 0;
  const neg = v < 0;
  v = Math.abs(v);
  while (v >= base && i < units.length - 1) { v /= base; i++; }
  const s = i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? digits : 0);
  return `${neg ? '-' : ''}${s} ${units[i]}`;
}

/** Bytes as B, KiB, MiB... */
export const bytes = (v) => scaled(v, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']);
/** Kilobytes (as /proc/meminfo counts) as a size. */
export const kib = (v) => bytes(v == null ? v : v * 1024);
/** A byte rate in the chosen unit. */
export const rate = (bytesPerSec) => settings.bits
  ? scaled(bytesPerSec == null ? bytesPerSec : bytesPerSec * 8, 1000, ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'])
  : scaled(bytesPerSec, 1000, ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s']);
/** Disk and file I/O: always B/s, as iostat and df speak. */
export const ioRate = (bytesPerSec) => scaled(bytesPerSec, 1000, ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s']);
/** A count, shortened: 1234567 -> 1.2 M. */
export const count = (v) => scaled(v, 1000, ['', 'k', 'M', 'G', 'T']).trim();
/** A per-second count: packets, operations. */
export const perSec = (v, unit = '/s') => `${count(v)}${unit}`;
/** A fraction 0..1 as percent. */
export const pct = (f) => (f == null || !Number.isFinite(f) ? '–' : `${(f * 100).toFixed(f < 0.1 && f > 0 ? 1 : 0)} %`);
/** A whole number with thin group separators. */
export const int = (v) => (v == null ? '–' : Math.round(v).toLocaleString('en-US').replace(/,/g, '\u202f'));

/** Seconds as "3 d 4 h", "5 min 2 s". */
export function duration(s) {
  if (s == null || !Number.isFinite(s)) return '–';
  s = Math.max(0, Math.round(s));
  const d = Math.floor(s / 86400), hh = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, ss = s % 60;
  if (d) return `${d} d ${hh} h`;
  if (hh) return `${hh} h ${m} min`;
  if (m) return `${m} min ${ss} s`;
  return `${ss} s`;
}

/** Milliseconds since the epoch as local time; with the date when not today. */
export function time(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  const now = new Date();
  const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  return d.toDateString() === now.toDateString() ? t : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${t}`;
}

/** A Date or ms time as "2 min ago". */
export function ago(ms) {
  if (!ms) return 'never';
  return `${duration((Date.now() - new Date(ms).getTime()) / 1000)} ago`;
}
