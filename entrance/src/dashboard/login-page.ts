/** The login form, rendered by the server (the dashboard's scripts load only after login). */
const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

export function loginPage(opts: { csrf: string; error: boolean; entranceId: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dandelion — sign in</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; background: #0f1419; color: #e6e6e6; display: grid; place-items: center; min-height: 100vh; margin: 0; }
  form { background: #1a2129; padding: 2rem 2.5rem; border-radius: 8px; min-width: 280px; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; } label { display: block; margin: .75rem 0 .25rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; border-radius: 4px; border: 1px solid #445; background: #0f1419; color: inherit; }
  button { margin-top: 1.25rem; width: 100%; padding: .6rem; border: 0; border-radius: 4px; background: #3b82f6; color: white; font-size: 1rem; cursor: pointer; }
  .error { color: #f87171; margin: .5rem 0 0; } .small { color: #889; font-size: .8rem; margin-top: 1rem; }
</style></head>
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
