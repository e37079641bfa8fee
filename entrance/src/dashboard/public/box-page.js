/*
 * One box's page, #/box/<id>: its details (the fleet table's fields), its latest exchange, the publishers
 * it served, history charts (#history-<field>) and its own traffic chart.
 */
import { $, h, s } from './dom.js';
import { API, api, qs } from './api.js';
import { report } from './report.js';
import { serverNow } from './clock.js';
import { badge, quarantineBadge } from './cells.js';
import { drawChart } from './chart.js';
import { fmtBytes, fmtNum, fmtStamp, fmtText, isNum } from './format.js';
import { COLUMNS } from './fleet-table.js';
import { fillRangeSelect, loadTrafficInto } from './traffic.js';

/** The box shown (null on the fleet view); `seq` drops answers for a box no longer shown. */
const boxPage = { id: null, seq: 0, range: 'hour' };

export const shownBox = () => boxPage.id;

const DETAIL_FIELDS = COLUMNS.filter((c) => c.key !== 'ID');

/** The history charts show the API's default span, one reading a minute; a longer silence breaks the line. */
const HISTORY_SPAN_S = 6 * 3600;
const HISTORY_GAP_S = 150;
const HISTORY_CHARTS = [
  { key: 'CPU', title: 'CPU used', format: (v) => `${fmtNum(v)} %`, yMax: 100 },
  { key: 'MEM_USED_PCT', title: 'Memory used', format: (v) => `${fmtNum(v)} %`, yMax: 100 },
  { key: 'TEMPERATURE', title: 'Temperature', format: (v) => `${fmtNum(v)} °C`, optional: true },
  { key: 'BANDWIDTH_IDLE_UP', title: 'Idle upload', format: (v) => `${fmtNum(v, v < 10 ? 1 : 0)} Mbit/s` },
];

const loadBoxTraffic = (id) => loadTrafficInto($('#box-traffic-chart'), { scope: 'box', id, range: boxPage.range });

export async function loadBox() {
  const id = boxPage.id;
  if (!id) return;
  const seq = ++boxPage.seq;
  let body;
  try {
    body = await api(`boxes/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404 || err.status === 400) { // unknown, or not a box ID at all
      $('#box-title').replaceChildren(`Box ${id}`, ' ', h('span', { class: 'badge state-unknown' }, 'unknown'));
      $('#box-details').replaceChildren(h('p', {}, 'This entrance does not know this box (never seen, or forgotten after its history expired).'));
      return;
    }
    throw err;
  }
  if (seq !== boxPage.seq) return;
  const row = body.BOX ?? {};
  $('#box-title').replaceChildren(`Box ${row.ID ?? id} `, badge(row.STATE), row.QUARANTINE ? ' ' : null, quarantineBadge(row.QUARANTINE));
  document.title = `${row.ID ?? id} · Dandelion`;
  const quarantine = row.QUARANTINE
    ? [h('dt', {}, 'Quarantined'), h('dd', { 'data-field': 'QUARANTINE' }, `${fmtText(row.QUARANTINE.REASON)}; file ${fmtText(row.QUARANTINE.PATH)}, found by ${fmtText(row.QUARANTINE.PUBLISHER)}, left out of SEARCH until ${fmtStamp(row.QUARANTINE.UNTIL)}`)]
    : [];
  // What the household should do, in the sentence its box's status page shows.
  const advice = row.REACHABILITY_ADVICE ? [h('dt', {}, 'Reachability advice'), h('dd', { 'data-field': 'REACHABILITY_ADVICE' }, fmtText(row.REACHABILITY_ADVICE))] : [];
  $('#box-details').replaceChildren(...quarantine, ...advice, ...DETAIL_FIELDS.flatMap((col) => [h('dt', {}, col.long ?? col.label), h('dd', { 'data-field': col.key }, col.fmt(row[col.key], row))]));
  const pubs = Array.isArray(body.PUBLISHERS) ? body.PUBLISHERS : [];
  $('#box-publishers').replaceChildren(...(pubs.length ? pubs.map((p) => h('li', {}, h('span', { class: 'mono' }, p.publisher), ' ', h('span', { class: 'muted' }, fmtBytes(p.bytes)))) : [h('li', { class: 'muted' }, 'none yet')]));
  renderExchange(body.EXCHANGE);
  await Promise.all([loadBoxHistory(id), loadBoxTraffic(id)]);
}

/** The exchange as the box sent it, one field a line; lists (traffic records) only counted. */
function renderExchange(ex) {
  const dl = $('#box-exchange');
  if (!ex || typeof ex !== 'object') {
    dl.replaceChildren(h('div', {}, h('dt', {}, 'none'), h('dd', {}, 'No exchange kept for this box.')));
    return;
  }
  dl.replaceChildren(...Object.keys(ex).sort().map((k) => {
    const v = ex[k];
    let text;
    if (Array.isArray(v)) text = `${v.length} item${v.length === 1 ? '' : 's'}`;
    else if (v && typeof v === 'object') text = JSON.stringify(v);
    else text = fmtText(v);
    return h('div', { 'data-field': k }, h('dt', { class: 'mono' }, k), h('dd', { class: 'mono' }, text));
  }));
}

async function loadBoxHistory(id) {
  const to = Math.floor(serverNow());
  const from = to - HISTORY_SPAN_S;
  const src = `boxes/${encodeURIComponent(id)}/history?${qs({ from, to })}`;
  const body = await api(src);
  if (boxPage.id !== id) return;
  const points = Array.isArray(body.POINTS) ? body.POINTS : [];
  const times = points.map((p) => p.t);
  const figures = [];
  for (const c of HISTORY_CHARTS) {
    const values = points.map((p) => (isNum(p[c.key]) ? p[c.key] : null));
    if (c.optional && !values.some(isNum)) continue; // this box has no such sensor
    const svg = s('svg', { class: 'chart', viewBox: '0 0 600 220', role: 'img', 'aria-label': `${c.title}, last 6 hours`, 'data-key': c.key, id: `history-${c.key}` });
    drawChart(svg, { times, values, kind: 'line', format: c.format, label: c.title, yMax: c.yMax, domain: [from, to], gap: HISTORY_GAP_S });
    svg.dataset.src = API + src;
    figures.push(h('figure', { class: 'chart-box' }, h('figcaption', {}, c.title), svg));
  }
  $('#box-history').replaceChildren(...figures);
}

/** Shows box `id`'s page (emptied first when it is another box than last time) and loads it. */
export function openBox(id) {
  $('#fleet-view').hidden = true;
  $('#box-view').hidden = false;
  if (boxPage.id !== id) {
    boxPage.id = id;
    $('#box-title').textContent = `Box ${id}`;
    $('#box-details').replaceChildren();
    $('#box-history').replaceChildren();
    $('#box-exchange').replaceChildren();
    $('#box-publishers').replaceChildren();
    drawChart($('#box-traffic-chart'), { times: [], values: [], format: fmtBytes });
    delete $('#box-traffic-chart').dataset.src;
  }
  $('#main').focus({ preventScroll: true });
  window.scrollTo(0, 0);
  loadBox().catch((err) => report('box', err));
}

export function closeBox() {
  boxPage.id = null;
  $('#box-view').hidden = true;
  $('#fleet-view').hidden = false;
}

export function wireBoxPage() {
  fillRangeSelect($('#box-traffic-range'));
  $('#box-traffic-range').addEventListener('change', (ev) => {
    boxPage.range = ev.target.value;
    if (boxPage.id) loadBoxTraffic(boxPage.id).catch((err) => report('traffic', err));
  });
}
