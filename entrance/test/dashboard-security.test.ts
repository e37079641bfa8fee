// The dashboard's exposure: the session cookie is Secure when the login came over TLS (a TLS socket of
// the entrance's own, or a trusted proxy saying X-Forwarded-Proto: https), and not on plain HTTP or when
// an untrusted peer merely claims https; every dashboard and API response carries a strict
// Content-Security-Policy (no inline script or style), nosniff and a Referrer-Policy, and the pages hold
// no inline script or style for that policy to break.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TLS_DIR = path.join(ROOT, 'entrance', 'test', 'fixtures', 'tls');

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Send = (method: string, p: string, headers?: Record<string, string>, body?: string) => Promise<Answer>;

/** Requests over plain HTTP from source address `from`, or over TLS when `tls` holds the CA to trust. */
function sender(base: string, from: string, tls?: { ca: Buffer }): Send {
  const u = new URL(base);
  return (method, p, headers = {}, body = '') =>
    new Promise((resolve, reject) => {
      const opts = { host: u.hostname, port: u.port, path: p, method, headers: { ...headers, 'content-length': Buffer.byteLength(body) }, localAddress: from, agent: false };
      const onResponse = (res: http.IncomingMessage): void => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      };
      const req = tls ? https.request({ ...opts, ca: tls.ca, servername: 'localhost' }, onResponse) : http.request(opts, onResponse);
      req.on('error', reject);
      req.end(body);
    });
}

/** Log in as ops through `send` (with extra headers on both requests); the Set-Cookie lines of each step. */
async function login(send: Send, extra: Record<string, string> = {}): Promise<{ form: string[]; session: string[] }> {
  const page = await send('GET', '/dashboard/', extra);
  const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(page.body)?.[1] ?? '';
  const formCookies = page.headers['set-cookie'] ?? [];
  const res = await send(
    'POST', '/dashboard/login',
    { ...extra, 'content-type': 'application/x-www-form-urlencoded', cookie: formCookies[0]?.split(';')[0] ?? '' },
    new URLSearchParams({ username: 'ops', password: 'operator-pass', csrf }).toString(),
  );
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  return { form: formCookies, session: res.headers['set-cookie'] ?? [] };
}

const sessionLine = (cookies: string[]): string => cookies.find((c) => c.startsWith('dandelion_session=')) ?? '';
/** A Set-Cookie line with its attributes in alphabetical order (their order means nothing). */
const sortedAttributes = (line: string): string => {
  const [pair = '', ...attributes] = line.split(/;\s*/);
  return [pair, ...attributes.sort()].join('; ');
};
const isSecure = (line: string): boolean => /;\s*Secure(;|$)/i.test(line);

t.test('Secure cookies behind TLS, and only then', async (t) => {
  const redis = await startRedis(t);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const { url, entrance } = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_DASHBOARD_USERS: users, DANDELION_TRUSTED_PROXIES: '127.0.0.2' } });
  const base = url.replace('ws:', 'http:');

  const plain = await login(sender(base, '127.0.0.1'));
  t.match(sortedAttributes(sessionLine(plain.session)), /^dandelion_session=[0-9a-f]{64}; HttpOnly; Max-Age=\d+; Path=\/; SameSite=Strict$/, 'plain HTTP: no Secure (development keeps working)');

  const proxied = await login(sender(base, '127.0.0.2'), { 'x-forwarded-proto': 'https' });
  t.ok(isSecure(sessionLine(proxied.session)), 'via the trusted proxy with X-Forwarded-Proto: https: Secure');
  t.ok(proxied.form.every(isSecure), 'the login form\'s CSRF cookie too');

  const claimed = await login(sender(base, '127.0.0.3'), { 'x-forwarded-proto': 'https' });
  t.notOk(isSecure(sessionLine(claimed.session)), 'an untrusted peer saying https does not count');

  // A TLS socket of the entrance's own: a real TLS server handing its requests to the entrance's handler.
  const tls = https.createServer({ key: readFileSync(path.join(TLS_DIR, 'localhost.key')), cert: readFileSync(path.join(TLS_DIR, 'localhost.crt')) }, (req, res) => {
    entrance.server.emit('request', req, res);
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => tls.close(() => r())));
  const overTls = await login(sender(`https://127.0.0.1:${(tls.address() as AddressInfo).port}/`, '127.0.0.1', { ca: readFileSync(path.join(TLS_DIR, 'localhost.crt')) }));
  t.ok(isSecure(sessionLine(overTls.session)), 'over TLS: Secure');
});

t.test('a strict Content-Security-Policy, nosniff and Referrer-Policy on the dashboard and the API', async (t) => {
  const redis = await startRedis(t);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_DASHBOARD_USERS: users } });
  const send = sender(url.replace('ws:', 'http:'), '127.0.0.1');
  const { session } = await login(send);
  const cookie = sessionLine(session).split(';')[0] as string;

  const answers = {
    'the login form': await send('GET', '/dashboard/'),
    'the dashboard': await send('GET', '/dashboard/', { cookie }),
    'a script': await send('GET', '/dashboard/static/app.js'),
    'the login styles': await send('GET', '/dashboard/static/login.css'),
    'the API': await send('GET', '/api/summary', { cookie }),
    'a refusal': await send('GET', '/api/summary'),
  };
  for (const [what, res] of Object.entries(answers)) {
    const csp = String(res.headers['content-security-policy'] ?? '');
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name = '', ...values]) => [name, values]));
    t.same(directives.get('default-src'), ["'self'"], `${what}: default-src 'self'`);
    t.same(directives.get('script-src'), ["'self'"], `${what}: scripts only from the entrance, none inline`);
    t.same(directives.get('style-src'), ["'self'"], `${what}: styles only from the entrance, none inline`);
    t.same(directives.get('object-src'), ["'none'"]);
    t.same(directives.get('frame-ancestors'), ["'none'"]);
    t.same(directives.get('base-uri'), ["'none'"]);
    t.same(directives.get('form-action'), ["'self'"]);
    t.notMatch(csp, /unsafe-/, `${what}: nothing unsafe`);
    t.equal(res.headers['x-content-type-options'], 'nosniff');
    t.equal(res.headers['referrer-policy'], 'no-referrer');
  }
  t.equal(answers['the login styles'].status, 200, 'the login form\'s styles are a file');
  t.match(answers['the login styles'].headers['content-type'], /^text\/css/);

  // What the policy would block must not be in the pages: inline scripts, event handlers, style blocks or attributes.
  const pages = { login: answers['the login form'].body, dashboard: answers['the dashboard'].body };
  for (const [name, html] of Object.entries(pages)) {
    t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, `${name}: no inline <script>`);
    t.notMatch(html, /<style/i, `${name}: no <style> block`);
    t.notMatch(html, /\sstyle=/i, `${name}: no style attribute`);
    t.notMatch(html, /\son[a-z]+=/i, `${name}: no inline event handler`);
    t.notMatch(html, /javascript:/i, `${name}: no javascript: URL`);
  }
  t.notMatch(answers['a script'].body, /setAttribute\(\s*['"]style['"]|\{\s*style:/, 'app.js sets no style attribute (it uses the CSSOM, which the policy allows)');
});
