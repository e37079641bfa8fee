/*
 * Bytes served, from /api/traffic: the fleet panel's chart (whole fleet, one box or one publisher, over
 * an hour, a day or 30 days) and the same drawing for the box page. data-src is the API URL drawn.
 */
import { $, h } from './dom.js';
import { API, api, qs } from './api.js';
import { report } from './report.js';
import { serverNow } from './clock.js';
import { drawChart } from './chart.js';
import { fmtBytes, fmtNum, isNum } from './format.js';
import { shownBoxIds } from './fleet-table.js';
import { shownPublisherIds } from './publishers.js';

const RANGES = {
  hour: { label: 'last hour, per minute', resolution: 'minute', span: 3600, step: 60 },
  day: { label: 'last day, per hour', resolution: 'hour', span: 86400, step: 3600 },
  month: { label: 'last 30 days, per day', resolution: 'day', span: 30 * 86400, step: 86400 },
};

/** Fills a range <select> with the ranges above, so both charts offer the same ones. */
export function fillRangeSelect(select) {
  select.replaceChildren(...Object.entries(RANGES).map(([value, r]) => h('option', { value }, r.label)));
}

/** Fetches /api/traffic for the scope and range and draws its bytes into `svg`. */
export async function loadTrafficInto(svg, { scope, id, range }) {
  const r = RANGES[range] ?? RANGES.hour;
  const to = Math.floor(serverNow());
  const src = `traffic?${qs({ scope, id: scope === 'fleet' ? '' : id, resolution: r.resolution, from: to - r.span + r.step, to })}`;
  svg.dataset.loading = src;
  const body = await api(src);
  if (svg.dataset.loading !== src) return null; // superseded
  const points = Array.isArray(body.POINTS) ? body.POINTS : [];
  drawChart(svg, { times: points.map((p) => p.t), values: points.map((p) => p.bytes), kind: 'bars', format: fmtBytes, withDate: { hour: false, day: true, month: 'only' }[range] ?? false, label: 'Bytes served per bucket' });
  svg.dataset.src = API + src;
  return points;
}

/** The fleet panel chart's choices. */
const traffic = { scope: 'fleet', id: '', range: 'hour' };

export async function loadTraffic() {
  const caption = $('#traffic-caption');
  if (traffic.scope !== 'fleet' && !traffic.id) {
    drawChart($('#traffic-chart'), { times: [], values: [], format: fmtBytes });
    caption.textContent = `Choose a ${traffic.scope} ID.`;
    return;
  }
  const points = await loadTrafficInto($('#traffic-chart'), traffic);
  if (!points) return;
  const total = points.reduce((a, p) => a + (isNum(p.bytes) ? p.bytes : 0), 0);
  const requests = points.reduce((a, p) => a + (isNum(p.requests) ? p.requests : 0), 0);
  const who = traffic.scope === 'fleet' ? 'the whole fleet' : `${traffic.scope} ${traffic.id}`;
  caption.textContent = `${fmtBytes(total)} in ${fmtNum(requests)} requests by ${who}.`;
}

export function wireTraffic() {
  const reload = () => loadTraffic().catch((err) => report('traffic', err));
  $('#traffic-scope').addEventListener('change', (ev) => {
    traffic.scope = ev.target.value;
    $('#traffic-id-label').hidden = traffic.scope === 'fleet';
    const ids = traffic.scope === 'box' ? shownBoxIds() : shownPublisherIds();
    $('#traffic-ids').replaceChildren(...ids.map((id) => h('option', { value: id })));
    traffic.id = '';
    $('#traffic-id').value = '';
    if (traffic.scope !== 'fleet') $('#traffic-id').focus();
    reload();
  });
  $('#traffic-id').addEventListener('change', (ev) => {
    traffic.id = ev.target.value.trim();
    reload();
  });
  fillRangeSelect($('#traffic-range'));
  $('#traffic-range').addEventListener('change', (ev) => {
    traffic.range = ev.target.value;
    reload();
  });
  $('#traffic-controls').addEventListener('submit', (ev) => {
    ev.preventDefault();
    traffic.id = $('#traffic-id').value.trim();
    reload();
  });
}
