/* Small pieces several tables share: a state badge, a quarantine badge, whether a box serves, a ticking age, a link to a box, an offload bar. */
import { h } from './dom.js';
import { serverNow } from './clock.js';
import { DASH, fmtAgo, fmtNum, fmtRatio, fmtStamp, fmtText, fmtTime, isNum } from './format.js';

export function badge(state) {
  const st = ['online', 'stale', 'offline'].includes(state) ? state : 'unknown';
  return h('span', { class: `badge state-${st}` }, fmtText(state));
}

/** A box a publisher's audit caught serving altered files (left out of SEARCH until UNTIL): the badge says why on hover. */
export function quarantineBadge(q) {
  if (!q || typeof q !== 'object') return null;
  return h('span', { class: 'badge state-quarantined', title: `${fmtText(q.REASON)} (${fmtText(q.PATH)}, by ${fmtText(q.PUBLISHER)}, until ${fmtStamp(q.UNTIL)})` }, 'quarantined');
}

const PAUSE_WHY = { quota: 'quota', 'quiet-hours': 'quiet hours' };
/** A quota as the household set it: "12", "0.5" (no trailing zeros). */
const fmtGb = (v) => String(Math.round(v * 100) / 100);

/**
 * "serving", "paused: quota (12.00 of 12 GB) until 1 Jan 00:00", "paused: quiet hours until 07:00". The
 * time is the operator's own; its date is left out when it is less than a day away.
 */
export function servingText(row) {
  const why = PAUSE_WHY[row.PAUSED];
  if (!why) return 'serving';
  const quota = row.PAUSED === 'quota' && isNum(row.QUOTA_GB) && row.QUOTA_GB > 0 ? ` (${fmtNum(isNum(row.QUOTA_USED_GB) ? row.QUOTA_USED_GB : 0, 2)} of ${fmtGb(row.QUOTA_GB)} GB)` : '';
  const until = isNum(row.PAUSED_UNTIL) ? ` until ${fmtTime(row.PAUSED_UNTIL, row.PAUSED_UNTIL - serverNow() >= 86400)}` : '';
  return `paused: ${why}${quota}${until}`;
}

/** A paused box gets a badge (its household's reason), a serving one plain text. */
export function servingCell(row) {
  const text = servingText(row);
  return row.PAUSED ? h('span', { class: 'badge state-paused', 'data-paused': row.PAUSED }, text) : text;
}

/** "3.25 of 50", "3.25 (no quota)": upload viewers used this month of the household's quota, GB. */
export function quotaText(row) {
  if (!isNum(row.QUOTA_GB)) return DASH;
  const used = fmtNum(isNum(row.QUOTA_USED_GB) ? row.QUOTA_USED_GB : 0, 2);
  return row.QUOTA_GB > 0 ? `${used} of ${fmtGb(row.QUOTA_GB)}` : `${used} (no quota)`;
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
