/*
 * The operator dashboard: plain browser JavaScript as ES modules, no framework and no build step. It
 * talks only to the entrance that served it (docs/dashboard-api.md): JSON from /api/, live updates from
 * the server-sent events of /api/events, map outlines from a TopoJSON file an npm package ships.
 *
 * This module wires the others together and routes between the fleet view (#/) and a box's page
 * (#/box/<id>). Each part of the page has its own module: summary.js (header), fleet-table.js, map.js,
 * traffic.js and chart.js, publishers.js, enrolment.js, publisher-accounts.js, box-page.js, live.js (events).
 *
 * For tests, each chart's <svg> carries data-points (JSON of the numbers it drew) and data-src (the
 * /api/ URL they came from), and window.dandelion (report.js) keeps the events received and the errors met.
 */
import { $ } from './dom.js';
import { api, setCsrfToken } from './api.js';
import { debug, report } from './report.js';
import { tickAges } from './cells.js';
import { renderSummary } from './summary.js';
import { loadTable, wireTable } from './fleet-table.js';
import { drawCountries, loadMap, wireMapTip } from './map.js';
import { loadTraffic, wireTraffic } from './traffic.js';
import { loadPublishers } from './publishers.js';
import { loadEnrolment, wireEnrolment } from './enrolment.js';
import { loadPublisherAccounts, wirePublisherAccounts } from './publisher-accounts.js';
import { loadUpdates } from './updates.js';
import { closeBox, openBox, wireBoxPage } from './box-page.js';
import { connectEvents } from './live.js';

function route() {
  const m = /^#\/box\/(.+)$/.exec(location.hash);
  if (m) {
    let id;
    try { id = decodeURIComponent(m[1]); } catch { id = m[1]; }
    openBox(id);
  } else {
    closeBox();
    document.title = 'Dandelion dashboard';
    refreshFleet();
  }
}

function refreshFleet() {
  return Promise.all([
    loadTable().catch((err) => report('boxes', err)),
    loadMap().catch((err) => report('map', err)),
    loadTraffic().catch((err) => report('traffic', err)),
    loadPublishers().catch((err) => report('publishers', err)),
    loadEnrolment().catch((err) => report('enrolment', err)),
    loadPublisherAccounts().catch((err) => report('publisher accounts', err)),
    loadUpdates().catch((err) => report('updates', err)),
  ]);
}

/** The CSRF token: in the page's <meta> (the entrance puts it there), else from /api/session. */
async function startSession() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  let csrf = meta ? meta.getAttribute('content') : '';
  const session = await api('session');
  if (!csrf && session && session.CSRF) csrf = session.CSRF;
  $('#logout-form input[name="csrf"]').value = csrf ?? '';
  setCsrfToken(csrf ?? '');
  $('#user-name').textContent = session && session.USERNAME ? session.USERNAME : '';
}

async function start() {
  await startSession();
  wireTable();
  wireTraffic();
  wireEnrolment();
  wirePublisherAccounts();
  wireMapTip();
  wireBoxPage();
  window.addEventListener('hashchange', route);
  setInterval(tickAges, 1_000);

  renderSummary(await api('summary').catch((err) => report('summary', err)));
  await Promise.all([drawCountries().catch((err) => report('map outlines', err)), Promise.resolve().then(route)]);
  connectEvents();
  debug.loaded = true;
}

start().catch((err) => report('start', err));
