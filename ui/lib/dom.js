// Small DOM helpers: build elements, and update tables in place so a live
// page changes text, not layout.

/**
 * Creates an element. Props: `class`, `on<event>` handlers, `dataset`,
 * `value`/`checked`/`disabled`/`hidden`/`textContent` as properties, the rest
 * as attributes (null and false are skipped). Children may be nested arrays,
 * nodes or text.
 * @param {string} tag @param {object} [props] @param {...any} kids
 * @returns {HTMLElement}
 */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'textContent', 'selected', 'open']);

function append(el, kids) {
  for (const k of kids) {
    if (k == null || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else el.append(k instanceof Node ? k : String(k));
  }
}

/** Sets text only when it changed (no style recalculation otherwise). */
export function setText(el, text) {
  text = String(text);
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Keeps tbody's rows equal to items, reusing the row of each key: cells
 * whose text did not change are not touched. A cell may be a string or a
 * Node (replaced each time).
 * @param {HTMLTableSectionElement} tbody
 * @param {any[]} items
 * @param {(item: any) => string} key
 * @param {(item: any) => (string|Node)[]} cells
 * @param {(tr: HTMLTableRowElement, item: any) => void} [decorate] called for new rows
 */
export function syncRows(tbody, items, key, cells, decorate) {
  const old = new Map();
  for (const tr of tbody.rows) old.set(tr.dataset.key, tr);
  let prev = null;
  for (const item of items) {
    const k = String(key(item));
    let tr = old.get(k);
    if (tr) old.delete(k);
    else {
      tr = document.createElement('tr');
      tr.dataset.key = k;
      if (decorate) decorate(tr, item);
    }
    const cs = cells(item);
    while (tr.cells.length < cs.length) tr.insertCell();
    cs.forEach((c, i) => {
      const td = tr.cells[i];
      if (c instanceof Node) td.replaceChildren(c);
      else setText(td, c);
    });
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (tr !== want) tbody.insertBefore(tr, want);
    prev = tr;
  }
  for (const tr of old.values()) tr.remove();
}

/**
 * A table with a header and an empty-state row.
 * @param {string[]} heads @param {string} empty text shown when there are no rows
 * @returns {{el: HTMLElement, tbody: HTMLTableSectionElement, update: Function}}
 */
export function table(heads, empty) {
  const tbody = h('tbody');
  const none = h('p', { class: 'empty' }, 'Loading…');
  const t = h('table', { hidden: true }, h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))), tbody);
  const el = h('div', { class: 'table-wrap' }, t, none);
  return {
    el, tbody,
    /** @param {any[]} items @param {Function} key @param {Function} cells @param {Function} [decorate] */
    update(items, key, cells, decorate) {
      syncRows(tbody, items, key, cells, decorate);
      setText(none, empty);
      none.hidden = items.length > 0;
      t.hidden = items.length === 0;
    },
  };
}

/** A titled card. @param {string} title @param {...any} kids */
export function card(title, ...kids) {
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...kids);
}

/**
 * A horizontal stacked bar with a label and a value.
 * @returns {{el: HTMLElement, set: (parts: [number, string][], text: string) => void}}
 */
export function meter(label) {
  const bar = h('div', { class: 'bar' });
  const text = h('span', { class: 'bar-text' });
  const el = h('div', { class: 'bar-row' }, h('span', { class: 'bar-label' }, label), bar, text);
  return {
    el,
    set(parts, t) {
      while (bar.children.length < parts.length) bar.append(h('span'));
      while (bar.children.length > parts.length) bar.lastChild.remove();
      parts.forEach(([f, cls], i) => {
        const s = bar.children[i];
        if (s.className !== cls) s.className = cls;
        s.style.width = `${(Math.max(0, Math.min(1, f || 0)) * 100).toFixed(1)}%`;
      });
      setText(text, t);
    },
  };
}

/** A segmented control (radio buttons) bound to a value. */
export function segmented(name, options, value, onChange) {
  const el = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': name });
  for (const [v, label] of options) {
    const id = `${name}-${v}`.replace(/[^\w-]/g, '_');
    el.append(
      h('input', { type: 'radio', name, id, value: v, checked: String(v) === String(value), onchange: () => onChange(v) }),
      h('label', { for: id }, label),
    );
  }
  return el;
}
