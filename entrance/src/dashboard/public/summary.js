/* The header's fleet summary (online, stale, offline, bytes served, offload), from /api/summary and each summary event. */
import { $ } from './dom.js';
import { syncClock } from './clock.js';
import { fmtBytes, fmtNum, fmtRatio, isNum } from './format.js';

export function renderSummary(sum) {
  if (!sum || !sum.BOXES) return;
  if (isNum(sum.NOW)) syncClock(sum.NOW);
  const set = (key, text, title) => {
    const el = document.querySelector(`[data-summary="${key}"]`);
    el.textContent = text;
    if (title) el.title = title;
  };
  set('ONLINE', fmtNum(sum.BOXES.ONLINE));
  set('STALE', fmtNum(sum.BOXES.STALE));
  set('OFFLINE', fmtNum(sum.BOXES.OFFLINE));
  set('BYTES_HOUR', fmtBytes(sum.BYTES?.HOUR));
  set('BYTES_DAY', fmtBytes(sum.BYTES?.DAY));
  set('BYTES_TOTAL', fmtBytes(sum.BYTES?.TOTAL));
  set('OFFLOAD', fmtRatio(sum.OFFLOAD?.RATIO), `boxes ${fmtBytes(sum.OFFLOAD?.BOX_BYTES)}, origins ${fmtBytes(sum.OFFLOAD?.ORIGIN_BYTES)}`);
  set('PUBLISHERS', fmtNum(sum.PUBLISHERS));
  $('#summary').dataset.total = String(sum.BOXES.TOTAL ?? '');
}
