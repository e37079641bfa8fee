/**
 * The login form and the "too many attempts" page, rendered by the server (the dashboard's scripts load
 * only after login). Their styles are in public/login.css: the Content-Security-Policy allows no inline
 * style or script.
 */
import { escapeHtml } from '../../../shared/src/html.js';

const head = (title: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dandelion — ${escapeHtml(title)}</title>
<link rel="stylesheet" href="/dashboard/static/login.css">
</head>`;

export function loginPage(opts: { csrf: string; error: boolean; entranceId: string }): string {
  return `${head('sign in')}
<body>
<form method="post" action="/dashboard/login" id="login">
  <h1>Dandelion operators</h1>
  ${opts.error ? '<p class="error" role="alert">Wrong user name or password.</p>' : ''}
  <input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
  <label for="username">User name</label><input id="username" name="username" autocomplete="username" required>
  <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
  <p class="small">${escapeHtml(opts.entranceId)}</p>
</form>
</body></html>
`;
}

/** Answer to a login refused unchecked: too many attempts from this address lately, or too many at once. */
export function tooManyAttemptsPage(retryAfterSeconds: number): string {
  const wait = retryAfterSeconds >= 120 ? `${Math.ceil(retryAfterSeconds / 60)} minutes` : `${retryAfterSeconds} seconds`;
  return `${head('too many attempts')}
<body>
<div class="notice">
  <h1>Too many sign-in attempts</h1>
  <p class="error" role="alert">This address has tried to sign in too often. Try again in ${escapeHtml(wait)}.</p>
  <p><a href="/dashboard/">Back to the sign-in form</a></p>
</div>
</body></html>
`;
}
