/* Small pieces several tables share: a state badge, a quarantine badge, a ticking age, a link to a box, an offload bar. */
import { h } from './dom.js';
import { serverNow } from './clock.js';
import { DASH, fmtAgo, fmtRatio, fmtStamp, fmtText, isNum } from './format.js';

export function badge(state) {
  const st = ['online', 'stale', 'offline'].includes(state) ? state : 'unknown';
  return h('span', { class: `badge state-${st}` }, fmtText(state));
}

/** A box a publisher's audit caught serving altered files (left out of SEARCH until UNTIL): the badge says why on hover. */
export function quarantineBadge(q) {
  if (!q || typeof q !== 'object') return null;
  return h('span', { class: 'badge state-quarantined', title: `${fmtText(q.REASON)} (${fmtText(q.PATH)}, by ${fmtText(q.PUBLISHER)}, until ${fmtStamp(q.UNTIL)})` }, 'quarantined');
}

/** "12 s ago", kept current by tickAges() from its data-last-seen. */
export function ageEl(lastSeen) {
  return h('span', { class: 'age', 'data-last-seen': isNum(lastSeen) ? lastSeen : null, title: fmtStamp(lastSeen) }, isNum(lastSeen) ? fmtAgo(serverNow() - lastSeen) : DASH);
}

export function tickAges() {
  for (const el of document.querySelectorAll('.age[data-last-seen]')) el.textContent = fmtAgo(serverNow() - Number(el.dataset.lastSeen));
}

export const boxLink = (id) => h('a', { href: `#/box/${encodeURIComponent(id)}` }, id);

export function ratioBar(r) {
  if (!isNum(r)) return DASH;
  const pct = Math.max(0, Math.min(100, r * 100));
  // Set through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  const fill = h('span');
  fill.style.width = `${pct.toFixed(1)}%`;
  return h('span', { class: 'ratio' }, h('span', { class: 'ratio-bar', 'aria-hidden': 'true' }, fill), fmtRatio(r));
}
