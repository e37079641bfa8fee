/* Numbers, sizes, durations and times as the dashboard shows them; a missing value is a dash. */

export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
export const DASH = '–';

export function fmtBytes(n) {
  if (!isNum(n)) return DASH;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${n < 0 ? '-' : ''}${v.toFixed(digits)} ${units[i]}`;
}

export function fmtDuration(sec) {
  if (!isNum(sec)) return DASH;
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`;
  return `${Math.floor(sec / 86400)} d ${Math.floor((sec % 86400) / 3600)} h`;
}

/** 3 h 5 min → "3h05" style, for the table. */
export function fmtDurationShort(sec) {
  if (!isNum(sec)) return DASH;
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')}`;
  return `${Math.floor(sec / 86400)}d${String(Math.floor((sec % 86400) / 3600)).padStart(2, '0')}h`;
}

export const fmtAgo = (sec) => (isNum(sec) ? `${fmtDuration(sec)} ago` : DASH);
export const fmtNum = (v, digits = 0) => (isNum(v) ? v.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : DASH);
export const fmtRatio = (r) => (isNum(r) ? `${(r * 100).toFixed(1)} %` : DASH);
export const fmtText = (v) => (v === null || v === undefined || v === '' ? DASH : String(v));

/** "25.0300001,121.56" → "25.03, 121.56" (what a box reports is kept in the cell's title). */
export function fmtLoc(v) {
  if (typeof v !== 'string' || v === '') return DASH;
  const parts = v.split(',').map((x) => Number(x.trim()));
  return parts.length === 2 && parts.every(isNum) ? parts.map((x) => String(Math.round(x * 100) / 100)).join(', ') : v;
}

/** withDate: false "17:05", true "25 Nov 17:05", 'only' "25 Nov". */
export function fmtTime(sec, withDate = false) {
  if (!isNum(sec)) return DASH;
  const d = new Date(sec * 1000);
  const time = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
  const date = d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' });
  return withDate === 'only' ? date : withDate ? `${date} ${time}` : time;
}

export function fmtStamp(sec) {
  if (!isNum(sec)) return DASH;
  const d = new Date(sec * 1000);
  return `${d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })} ${d.toLocaleTimeString('en-GB')}`;
}

/** An enrolment time in UTC, "2026-11-25 17:05 UTC"; 0 or missing is "never". */
export const fmtWhen = (s) => (isNum(s) && s > 0 ? new Date(s * 1000).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC') : 'never');
