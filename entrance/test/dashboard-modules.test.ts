// The dashboard's browser code is ES modules served as files, no build step: the page loads app.js as
// a module, every module it imports (and what they import) is served from /dashboard/static/ as
// JavaScript under the dashboard's Content-Security-Policy, every module in public/ is reached that way,
// none sets a style attribute (the policy refuses them), and a request names a file, never a path.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';
import { sendRaw } from '../../test/helpers/raw-http.js';

const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../entrance/src/dashboard/public');

async function loginCookie(base: string): Promise<string> {
  const form = await fetch(`${base}/dashboard/`);
  const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(await form.text())?.[1] ?? '';
  const res = await fetch(`${base}/dashboard/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.headers.get('set-cookie')?.split(';')[0] ?? '' },
    body: new URLSearchParams({ username: 'ops', password: 'operator-pass', csrf }).toString(),
  });
  return res.headers.getSetCookie().find((c) => c.startsWith('dandelion_session='))?.split(';')[0] ?? '';
}

/** The relative module specifiers of `import … from './x.js'` and `import './x.js'` lines. */
const importsOf = (source: string): string[] => [...source.matchAll(/^\s*import\s+(?:[^'"]*?\s+from\s+)?['"](\.\/[^'"]+)['"]/gm)].map((m) => m[1] ?? '');

t.test('the dashboard loads its code as ES modules, each a file the entrance serves', async (t) => {
  const redis = await startRedis(t);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_DASHBOARD_USERS: users } });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const cookie = await loginCookie(base);
  t.ok(cookie, 'logged in');

  const page = await (await fetch(`${base}/dashboard/`, { headers: { cookie } })).text();
  t.match(page, /<script type="module" src="static\/app\.js"><\/script>/, 'the page loads app.js as a module');

  // Walk the import graph from app.js, as the browser does.
  const served = new Map<string, string>();
  const queue = ['app.js'];
  while (queue.length > 0) {
    const name = queue.shift() ?? '';
    if (served.has(name)) continue;
    const res = await fetch(`${base}/dashboard/static/${name}`);
    const body = await res.text();
    served.set(name, body);
    t.equal(res.status, 200, `${name} is served`);
    t.match(res.headers.get('content-type'), /^text\/javascript(;|$)/, `${name} as JavaScript (browsers refuse a module of another type)`);
    t.match(res.headers.get('content-security-policy'), /script-src 'self';/, `${name} under the dashboard's policy`);
    t.notMatch(body, /setAttribute\(\s*['"]style['"]|\{\s*style:/, `${name} sets no style attribute`);
    for (const spec of importsOf(body)) queue.push(spec.slice(2));
  }
  const modules = readdirSync(PUBLIC_DIR).filter((f) => f.endsWith('.js')).sort();
  t.same([...served.keys()].sort(), modules, 'every module in public/ is imported, and nothing else is asked for');
  t.ok(modules.length >= 8, `the code is split into modules (${modules.length})`);
  for (const [name, body] of served) t.notMatch(body, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML\(|document\.write\(/, `${name} never parses text as HTML`);

  // A request names one file of the list; nothing else under public/ or beside it is reachable.
  const port = Number(new URL(base).port);
  for (const target of ['/dashboard/static/../routes.ts', '/dashboard/static/..%2Froutes.ts', '/dashboard/static/%2e%2e/routes.ts', '/dashboard/static/index.html', '/dashboard/static/constructor', '/dashboard/static/__proto__', '/dashboard/static/APP.JS', '/dashboard/static/']) {
    const answer = await sendRaw(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    t.equal(answer.status, 404, `${target} is not found`);
  }
});
