/*
 * What went wrong, shown to the operator in the error banner and kept for tests: window.dandelion holds
 * the events received (live.js), the errors met and whether the page finished loading.
 */
import { $ } from './dom.js';

export const debug = { events: [], errors: [], loaded: false };
window.dandelion = debug;

let bannerTimer;

/** Shows `where: message` for 15 s. A 401 is not reported: the page is already going to the login form. */
export function report(where, err) {
  if (err && err.status === 401) return;
  const msg = `${where}: ${err && err.message ? err.message : String(err)}`;
  debug.errors.push(msg);
  const banner = $('#error-banner');
  banner.textContent = msg;
  banner.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { banner.hidden = true; }, 15_000);
}
