/*
 * The entrance's JSON API (docs/dashboard-api.md): GETs, and POSTs that carry the session's CSRF token.
 * A 401 means the session is gone, and the page reloads into the login form.
 */

// The page is /…/dashboard/; the API and static files are found from there, so a proxy prefix works.
const PREFIX = location.pathname.replace(/dashboard(\/.*)?$/, '');
export const API = `${PREFIX}api/`;
export const STATIC = `${PREFIX}dashboard/static/`;

export class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

let csrfToken = '';
/** The session's CSRF token, sent with every POST (start() finds it in the page or /api/session). */
export function setCsrfToken(token) {
  csrfToken = token;
}

let leaving = false;
// Logging out navigates by itself (the form's POST, then its redirect): a poll answered 401 meanwhile, the
// session being gone already, must not start a second navigation that aborts the first.
document.addEventListener('submit', (event) => {
  if (event.target instanceof HTMLFormElement && event.target.id === 'logout-form') leaving = true;
});

/** The session is gone (expired, logged out elsewhere): the entrance shows the login form again. */
function sessionLost() {
  if (leaving) return;
  leaving = true;
  location.assign(`${PREFIX}dashboard/`);
}

export function api(path) {
  return request(path, { headers: { accept: 'application/json' } });
}

export function post(path, body) {
  return request(path, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': csrfToken },
    body: JSON.stringify(body ?? {}),
  });
}

async function request(path, init) {
  const res = await fetch(API + path, { credentials: 'same-origin', ...init });
  if (res.status === 401) {
    sessionLost();
    throw new HttpError(401, 'not logged in');
  }
  let body = null;
  try { body = await res.json(); } catch { /* intentional: a non-JSON error page; the status says enough */ }
  if (!res.ok) throw new HttpError(res.status, (body && body.ERROR) || `HTTP ${res.status}`);
  return body;
}

/** A query string of the parameters that have a value. */
export const qs = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v !== null && v !== undefined)).toString();
