// The shell: navigation between pages, the settings every page shares
// (rate units, theme, token) and the status pill. Each page is a module
// loaded when first opened, so a page's first load carries only itself.
import { setRateInBits, rateInBits } from './lib/format.js';
import { api, token, setToken } from './lib/net.js';

const PAGES = {
  live: 'Live', servers: 'Servers', traffic: 'Traffic', ssh: 'SSH hosts', sessions: 'Sessions', probes: 'Probes',
};
const $ = (id) => document.getElementById(id);
const view = $('view');
let unmount = null, current = '', seq = 0;

/** Shows a page's connection state in the top bar. */
function status(state, detail) {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = state;
  s.title = detail || '';
}

/** Shows (or, with no text, hides) an error banner. */
function banner(text) {
  const b = $('banner');
  b.hidden = !text;
  b.textContent = text || '';
}

async function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const page = PAGES[name] ? name : 'live';
  const arg = rest.map(decodeURIComponent).join('/');
  if (page === current && unmount && unmount.update) { unmount.update(arg); return; }
  const my = ++seq;
  if (unmount) { unmount(); unmount = null; }
  current = page;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${PAGES[page]} · edgestat`;
  banner('');
  status('idle');
  view.replaceChildren();
  let mod;
  try {
    mod = await import(`./pages/${page}.js`);
  } catch (e) {
    banner(`The page could not load: ${e.message}`);
    return;
  }
  if (my !== seq) return; // another page was chosen meanwhile
  view.dataset.page = page;
  unmount = mod.mount(view, { status, banner, arg, title: PAGES[page] }) || null;
}

const systemDark = matchMedia('(prefers-color-scheme: dark)');

/** Sets the theme: light, dark, or auto (the system's, followed as it changes). */
function applyTheme(t) {
  document.documentElement.dataset.theme = t === 'auto' ? (systemDark.matches ? 'dark' : 'light') : t;
  window.dispatchEvent(new Event('edgestat:theme'));
}
systemDark.addEventListener('change', () => { if ($('theme').value === 'auto') applyTheme('auto'); });

$('host').textContent = location.host;
$('units').value = rateInBits() ? 'bits' : 'bytes';
$('units').addEventListener('change', () => {
  setRateInBits($('units').value === 'bits');
  window.dispatchEvent(new Event('edgestat:units'));
});
$('theme').value = localStorage.getItem('edgestat.theme') || 'auto';
applyTheme($('theme').value);
$('theme').addEventListener('change', () => {
  localStorage.setItem('edgestat.theme', $('theme').value);
  applyTheme($('theme').value);
});
$('token').value = token();
$('token').addEventListener('change', () => {
  setToken($('token').value);
  current = ''; // reconnect the page with the new token
  route();
});
$('settings').addEventListener('submit', (ev) => ev.preventDefault());
window.addEventListener('hashchange', route);
route();
// "Log out" only where there is something to log out of.
api('/healthz').then((h) => { $('logout').hidden = !(h && h.auth); }).catch(() => {});
