/*
 * The fleet table: one row per box from /api/boxes, which sorts, filters and pages on the server (the
 * fleet may be large). Each row is tr[data-id][data-state]; each cell td[data-col=<BoxRow field>].
 */
import { $, h } from './dom.js';
import { api, qs } from './api.js';
import { report } from './report.js';
import { ageEl, badge, boxLink, quarantineBadge, quotaText, servingCell } from './cells.js';
import { fmtBytes, fmtDuration, fmtDurationShort, fmtLoc, fmtNum, fmtStamp, fmtText, fmtTime, isNum } from './format.js';

const fmtMbitNum = (v) => fmtNum(v, isNum(v) && v < 10 ? 1 : 0);
/** A household's cap: 0 is none. */
const fmtCap = (v) => (v === 0 ? 'none' : fmtMbitNum(v));

/** "reachable (upnp)", "forward-port", …; "—" when no verdict is stored (the box is offline). */
const reachabilityText = (v, row) => (typeof v !== 'string' ? '—' : row.REACHABILITY_METHOD ? `${v} (${row.REACHABILITY_METHOD})` : v);

/** Every BoxRow field, in order; `fmt` turns the value into text or a node. The box page lists them too. */
export const COLUMNS = [
  { key: 'ID', label: 'Box', fmt: (v) => boxLink(v) },
  { key: 'STATE', label: 'State', fmt: (v, row) => [badge(v), row.QUARANTINE ? ' ' : null, quarantineBadge(row.QUARANTINE)] },
  { key: 'REACHABILITY', label: 'Reachable', long: 'Reachability from the internet (the entrance\'s verdict)', fmt: (v, row) => reachabilityText(v, row), title: (_v, row) => row.REACHABILITY_ADVICE ?? null },
  { key: 'PAUSED', label: 'Serving', long: 'Whether the box serves viewers, or why its household paused it and until when', fmt: (_v, row) => servingCell(row) },
  { key: 'LAST_SEEN', label: 'Last seen', fmt: (v) => fmtTime(v), title: (v) => fmtStamp(v) },
  { key: 'AGE', label: 'Age', fmt: (_v, row) => ageEl(row.LAST_SEEN), num: true },
  { key: 'PUBLIC_IP', label: 'Public IP', fmt: fmtText, mono: true },
  { key: 'CITY', label: 'City', fmt: fmtText },
  { key: 'COUNTRY', label: 'Country', fmt: fmtText },
  { key: 'LOC', label: 'Location', fmt: fmtLoc, mono: true, title: (v) => fmtText(v) },
  { key: 'VERSION', label: 'Version', fmt: fmtText, mono: true },
  { key: 'UPTIME', label: 'Uptime', fmt: fmtDurationShort, num: true, title: (v) => fmtDuration(v) },
  { key: 'CPU', label: 'CPU %', fmt: (v) => fmtNum(v, 1), num: true, long: 'CPU used, percent' },
  { key: 'MEM_USED_PCT', label: 'Mem. %', fmt: (v) => fmtNum(v, 1), num: true, long: 'Memory used, percent' },
  { key: 'DISK_AVAIL', label: 'Disk GB', fmt: (v) => fmtNum(v, 1), num: true, long: 'Free disk, GB' },
  { key: 'TEMPERATURE', label: 'Temp. °C', fmt: (v) => fmtNum(v, 1), num: true, long: 'Temperature, °C' },
  { key: 'BANDWIDTH_UP', label: 'Up Mbit/s', fmt: fmtMbitNum, num: true, long: 'Measured upload capacity, Mbit/s' },
  { key: 'BANDWIDTH_IDLE_UP', label: 'Idle Mbit/s', fmt: fmtMbitNum, num: true, long: 'Upload the household leaves idle now, Mbit/s' },
  { key: 'VIEWER_RATE_MBIT', label: 'Viewer Mbit/s', fmt: fmtMbitNum, num: true, long: 'The upload rate the box lets viewers have now, Mbit/s' },
  { key: 'UPLOAD_CAP_MBIT', label: 'Cap Mbit/s', fmt: fmtCap, num: true, long: 'The household\'s hard cap on viewer upload, Mbit/s' },
  { key: 'QUOTA_USED_GB', label: 'Quota GB', fmt: (_v, row) => quotaText(row), num: true, long: 'Viewer upload this month of the household\'s monthly quota, GB' },
  { key: 'FILES_HELD', label: 'Files', fmt: (v) => fmtNum(v), num: true },
  { key: 'BYTES_HOUR', label: 'This hour', fmt: fmtBytes, num: true, long: 'Served this clock hour' },
  { key: 'BYTES_DAY', label: 'Today', fmt: fmtBytes, num: true, long: 'Served today (UTC)' },
  { key: 'BYTES_TOTAL', label: 'Served total', fmt: fmtBytes, num: true, long: 'Served, all time' },
  { key: 'IMPLAUSIBLE_BYTES', label: 'Implausible', fmt: fmtBytes, num: true, long: 'Reported beyond its measured upload (not counted), all time' },
];

/** What the table asks for and what it last got; `seq` drops answers a newer request overtook. */
const table = { sort: 'ID', order: 'asc', q: '', state: '', page: 1, perPage: 50, total: 0, rows: [], seq: 0 };

/** The box IDs on the current page (the traffic chart offers them as choices). */
export const shownBoxIds = () => table.rows.map((r) => r.ID);

function buildTableHead() {
  const tr = $('#boxes-head');
  tr.replaceChildren();
  for (const col of COLUMNS) {
    const active = table.sort === col.key;
    const button = h('button', { type: 'button', class: 'sort', 'data-sort': col.key, title: col.long ? `${col.long}; sort by this column` : `Sort by ${col.label.toLowerCase()}` },
      col.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, active ? (table.order === 'asc' ? '▲' : '▼') : ''));
    tr.append(h('th', { scope: 'col', class: col.num ? 'num' : null, 'aria-sort': active ? (table.order === 'asc' ? 'ascending' : 'descending') : 'none' }, button));
  }
}

export async function loadTable() {
  const seq = ++table.seq;
  const params = qs({ sort: table.sort, order: table.order, q: table.q, state: table.state, page: table.page, per_page: table.perPage });
  const body = await api(`boxes?${params}`);
  if (seq !== table.seq) return; // a newer request has been sent meanwhile
  table.total = isNum(body.TOTAL) ? body.TOTAL : 0;
  table.rows = Array.isArray(body.BOXES) ? body.BOXES : [];
  const pages = Math.max(1, Math.ceil(table.total / table.perPage));
  if (table.page > pages && table.total > 0) {
    table.page = pages; // the list shrank under us
    return loadTable();
  }
  renderTable(pages);
}

function boxRow(row) {
  return h('tr', { 'data-id': row.ID, 'data-state': row.STATE },
    COLUMNS.map((col) => h('td', { class: [col.num ? 'num' : '', col.mono ? 'mono' : ''].join(' ').trim() || null, 'data-col': col.key, title: col.title ? col.title(row[col.key], row) : null }, col.fmt(row[col.key], row))));
}

function renderTable(pages) {
  const tbody = $('#boxes tbody');
  if (table.rows.length === 0) {
    tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: COLUMNS.length }, table.q || table.state ? 'No box matches.' : 'No box has reported yet.')));
  } else {
    tbody.replaceChildren(...table.rows.map(boxRow));
  }
  $('#page-info').textContent = `page ${table.page} of ${pages} · ${fmtNum(table.total)} box${table.total === 1 ? '' : 'es'}`;
  $('#page-prev').disabled = table.page <= 1;
  $('#page-next').disabled = table.page >= pages;
  const ids = $('#traffic-ids');
  if ($('#traffic-scope').value === 'box') ids.replaceChildren(...table.rows.map((r) => h('option', { value: r.ID })));
}

const reload = () => loadTable().catch((err) => report('boxes', err));

/** A click on a heading sorts by it; clicking the same one again turns the order round. */
function onSortClick(ev) {
  const button = ev.target.closest('button[data-sort]');
  if (!button) return;
  const key = button.dataset.sort;
  if (table.sort === key) table.order = table.order === 'asc' ? 'desc' : 'asc';
  else { table.sort = key; table.order = COLUMNS.find((c) => c.key === key)?.num ? 'desc' : 'asc'; }
  table.page = 1;
  buildTableHead();
  $(`#boxes-head button[data-sort="${key}"]`).focus();
  reload();
}

export function wireTable() {
  buildTableHead();
  $('#boxes-head').addEventListener('click', onSortClick);
  let typing;
  $('#filter-q').addEventListener('input', (ev) => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      table.q = ev.target.value.trim();
      table.page = 1;
      reload();
    }, 250);
  });
  $('#filter-state').addEventListener('change', (ev) => {
    table.state = ev.target.value;
    table.page = 1;
    reload();
  });
  $('#per-page').addEventListener('change', (ev) => {
    table.perPage = Number(ev.target.value);
    table.page = 1;
    reload();
  });
  $('#table-controls').addEventListener('submit', (ev) => ev.preventDefault());
  $('#page-prev').addEventListener('click', () => {
    if (table.page > 1) { table.page--; reload(); }
  });
  $('#page-next').addEventListener('click', () => {
    table.page++;
    reload();
  });
}
