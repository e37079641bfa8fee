/*
 * Live updates from the entrance's server-sent events (/api/events): `summary` every 2 s or so, and
 * `boxes` with the IDs whose state changed. Each event is kept in window.dandelion.events for tests.
 */
import { $ } from './dom.js';
import { API, api } from './api.js';
import { debug, report } from './report.js';
import { renderSummary } from './summary.js';
import { loadTable } from './fleet-table.js';
import { loadMap } from './map.js';
import { loadTraffic } from './traffic.js';
import { loadPublishers } from './publishers.js';
import { loadEnrolment } from './enrolment.js';
import { loadBox, shownBox } from './box-page.js';

/** Refresh the table, publishers and charts every this many summary events (≈ 2 s each). */
const REFRESH_EVERY_SUMMARIES = 5;
const MAX_EVENTS_KEPT = 200;
/** Several boxes often change together (a sweep, a restart): one refetch for a burst this long. */
const BOXES_BURST_MS = 150;

let summaries = 0;
let lastBytesTotal = null;
let boxesTimer = null;

/** Refetches what may have changed: everything now and then, the traffic parts as soon as bytes moved. */
function onSummary(sum) {
  renderSummary(sum);
  summaries++;
  const bytesMoved = lastBytesTotal !== null && sum.BYTES && sum.BYTES.TOTAL !== lastBytesTotal;
  lastBytesTotal = sum.BYTES ? sum.BYTES.TOTAL : null;
  const periodic = summaries % REFRESH_EVERY_SUMMARIES === 0;
  if (shownBox()) {
    if (periodic || bytesMoved) loadBox().catch((err) => report('box', err));
    return;
  }
  if (periodic) {
    loadTable().catch((err) => report('boxes', err));
    loadEnrolment().catch((err) => report('enrolment', err));
  }
  if (periodic || bytesMoved) {
    loadTraffic().catch((err) => report('traffic', err));
    loadPublishers().catch((err) => report('publishers', err));
  }
}

function onBoxes(changed) {
  clearTimeout(boxesTimer);
  boxesTimer = setTimeout(() => {
    const id = shownBox();
    if (id) {
      if (!Array.isArray(changed) || changed.includes(id)) loadBox().catch((err) => report('box', err));
      return;
    }
    loadTable().catch((err) => report('boxes', err));
    loadMap().catch((err) => report('map', err));
  }, BOXES_BURST_MS);
}

function keep(type, data) {
  debug.events.push({ type, at: Date.now(), data });
  if (debug.events.length > MAX_EVENTS_KEPT) debug.events.shift();
}

function parse(ev) {
  try { return JSON.parse(ev.data); } catch { return null; }
}

/** Opens the event stream; #live-status says whether it is up. */
export function connectEvents() {
  const live = $('#live-status');
  const es = new EventSource(`${API}events`, { withCredentials: true });
  es.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'live on';
  });
  es.addEventListener('summary', (ev) => {
    const sum = parse(ev);
    keep('summary', sum);
    if (sum) onSummary(sum);
  });
  es.addEventListener('boxes', (ev) => {
    const body = parse(ev);
    keep('boxes', body);
    onBoxes(body && body.CHANGED);
  });
  es.addEventListener('error', () => {
    live.textContent = es.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting…';
    live.className = 'live off';
    // EventSource retries by itself, except after an HTTP error: find out whether the session ended.
    if (es.readyState === EventSource.CLOSED) {
      api('session').then(() => setTimeout(connectEvents, 3_000), () => setTimeout(connectEvents, 10_000));
    }
  });
}
