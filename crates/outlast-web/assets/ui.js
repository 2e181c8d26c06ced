// Small DOM helpers shared by both pages: building elements without innerHTML (no markup from
// data ever reaches the DOM as HTML), the notice line, and the origin badge.
'use strict';

const UI = (() => {
  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === 'text') node.textContent = value;
      else if (name === 'class') node.className = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    for (const child of [].concat(children)) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // Replaces a table body's rows; `rows` are arrays of cells (text or nodes), or a message.
  function rows(tbody, list, empty) {
    tbody.replaceChildren();
    if (list.length === 0 && empty) {
      const columns = tbody.closest('table').querySelectorAll('thead th').length || 1;
      tbody.append(el('tr', {}, el('td', { colspan: columns, class: 'muted', text: empty })));
      return;
    }
    for (const row of list) {
      const attrs = row.attrs || {};
      const cells = row.cells || row;
      tbody.append(el('tr', attrs, cells.map((cell) => el('td', {}, cell))));
    }
  }

  let noticeTimer = null;
  function notice(text, kind = 'info') {
    const box = document.getElementById('notice');
    if (!box) return;
    box.textContent = text;
    box.className = `notice ${kind}`;
    box.hidden = false;
    clearTimeout(noticeTimer);
    if (kind !== 'error') noticeTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  function clearNotice() {
    const box = document.getElementById('notice');
    if (box) box.hidden = true;
  }

  function showOrigin(origin, state) {
    const badge = document.getElementById('origin-badge');
    if (!badge) return;
    badge.textContent = origin ? `${state} ${Outlast.describe(origin)}` : 'no origin';
    badge.dataset.origin = origin ? origin.url : '';
    badge.dataset.provider = origin ? origin.provider : '';
    badge.className = `badge ${state === 'on' ? 'ok' : 'warn'}`;
  }

  function time(ms) {
    const d = new Date(ms);
    return d.toISOString().slice(11, 19);
  }

  return { el, rows, notice, clearNotice, showOrigin, time };
})();
