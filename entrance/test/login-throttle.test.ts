// The dashboard's login limit holds under concurrency: 200 wrong passwords fired at once from one address
// are counted before any password is checked, so at most MAX_FAILED_LOGINS of them are checked (303 back
// to the form) and the rest are refused unchecked (429); the right password is then refused too while the
// lock holds, works from another address meanwhile, and works again once the window has passed. The
// count lives in Redis with an expiry, so a stranger's attempts do not stay.
import http from 'node:http';
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { entranceKeys } from '../../shared/src/redis-keys.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';
import { FAILED_LOGIN_WINDOW_MS, MAX_FAILED_LOGINS } from '../src/dashboard/auth.js';

interface Answer {
  status: number;
  location: string | undefined;
  setCookies: string[];
  retryAfter: string | undefined;
}

/** One HTTP request from source address `from` (a fresh connection each time: the attempts really are parallel). */
function request(base: string, from: string, method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<Answer & { body: string }> {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, headers: { ...headers, 'content-length': Buffer.byteLength(body) }, localAddress: from, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          location: res.headers.location,
          setCookies: res.headers['set-cookie'] ?? [],
          retryAfter: res.headers['retry-after'],
          body: text,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The login form's CSRF value and cookie, fetched from `from`. */
async function loginForm(base: string, from: string): Promise<{ csrf: string; cookie: string }> {
  const page = await request(base, from, 'GET', '/dashboard/');
  const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(page.body)?.[1] ?? '';
  return { csrf, cookie: page.setCookies[0]?.split(';')[0] ?? '' };
}

function attempt(base: string, from: string, form: { csrf: string; cookie: string }, password: string): Promise<Answer> {
  const body = new URLSearchParams({ username: 'ops', password, csrf: form.csrf }).toString();
  return request(base, from, 'POST', '/dashboard/login', { 'content-type': 'application/x-www-form-urlencoded', cookie: form.cookie }, body);
}

const hasSession = (a: Answer): boolean => a.setCookies.some((c) => /^dandelion_session=[0-9a-f]{64};/.test(c));

t.test('200 parallel wrong passwords, then the right one', { timeout: 120_000 }, async (t) => {
  const redis = await startRedis(t);
  let now = 1_790_000_000_000;
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const { url, id } = await startEntrance(t, { redisUrl: redis.url, now: () => now, env: { DANDELION_DASHBOARD_USERS: users } });
  const base = url.replace('ws:', 'http:');
  const attacker = '127.0.0.1';
  const form = await loginForm(base, attacker);
  t.match(form.csrf, /^[0-9a-f]{48}$/, 'the login form');

  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => attempt(base, attacker, form, `guess-${i}`)));
  const checked = answers.filter((a) => a.status === 303);
  const refused = answers.filter((a) => a.status === 429);
  t.comment(`200 parallel wrong attempts: ${checked.length} checked (303), ${refused.length} refused unchecked (429)`);
  t.equal(checked.length + refused.length, 200, 'every attempt is either checked or refused');
  t.ok(checked.length >= 1, 'some were checked');
  t.ok(checked.length <= MAX_FAILED_LOGINS, `at most ${MAX_FAILED_LOGINS} passwords were checked, not 200`);
  t.ok(checked.every((a) => a.location === '/dashboard/?error=1' && !hasSession(a)), 'the checked ones: wrong password');
  t.ok(refused.every((a) => Number(a.retryAfter) >= 1 && !hasSession(a)), 'the refused ones say when to retry');

  // The 200 took a while on a loaded machine: enough of them were checked to fill the window, whatever
  // the concurrency let through, or the next attempts fill it now.
  for (let i = checked.length; i < MAX_FAILED_LOGINS; i++) await attempt(base, attacker, form, `more-${i}`);
  const right = await attempt(base, attacker, form, 'operator-pass');
  t.equal(right.status, 429, 'the right password is refused while the lock holds');
  t.notOk(hasSession(right), 'no session');
  t.ok(Number(right.retryAfter) > 0 && Number(right.retryAfter) <= FAILED_LOGIN_WINDOW_MS / 1000, 'Retry-After within the window');

  const key = entranceKeys(id).loginFailures(attacker);
  const client = redis.client();
  t.equal(await client.zcard(key), MAX_FAILED_LOGINS, 'refused attempts are not stored: the count stops at the limit');
  const ttl = await client.pttl(key);
  t.ok(ttl > 0 && ttl <= FAILED_LOGIN_WINDOW_MS, 'the count expires');

  // The lock is the attacker's address's, not the operator's account's.
  const elsewhere = await attempt(base, '127.0.0.2', await loginForm(base, '127.0.0.2'), 'operator-pass');
  t.ok(elsewhere.status === 303 && hasSession(elsewhere), 'the operator logs in from another address meanwhile');

  now += FAILED_LOGIN_WINDOW_MS + 1_000;
  const later = await attempt(base, attacker, form, 'operator-pass');
  t.equal(later.status, 303);
  t.ok(hasSession(later), 'after the window the right password works again');
  t.equal(await client.exists(key), 0, 'a right password clears the count');
  t.equal((await attempt(base, attacker, form, 'wrong-again')).location, '/dashboard/?error=1', 'and the next wrong one is checked again');
});

t.test('at most a few checks at once per address and per user name', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_DASHBOARD_USERS: users } });
  const base = url.replace('ws:', 'http:');
  const form = await loginForm(base, '127.0.0.1');
  // Five at once, well under the failure limit: beyond the per-address check slots they are "busy" (429, retry in 1 s), not checked.
  const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => attempt(base, '127.0.0.1', form, `guess-${i}`)));
  const busy = answers.filter((a) => a.status === 429);
  t.comment(`5 parallel attempts: ${answers.length - busy.length} checked, ${busy.length} busy`);
  t.ok(answers.every((a) => a.status === 303 || a.status === 429));
  t.ok(busy.length >= 1 && busy.length <= 5 - 1, 'some checked, the rest turned away while two scrypt runs were going');

  // The same user name from five addresses at once: the per-user slots turn the surplus away just the same.
  const addresses = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15'];
  const forms = await Promise.all(addresses.map((from) => loginForm(base, from)));
  const spread = await Promise.all(addresses.map((from, i) => attempt(base, from, forms[i] as { csrf: string; cookie: string }, `guess-${i}`)));
  const spreadBusy = spread.filter((a) => a.status === 429);
  t.comment(`5 parallel attempts for one user from 5 addresses: ${spread.length - spreadBusy.length} checked, ${spreadBusy.length} busy`);
  t.ok(spread.every((a) => a.status === 303 || a.status === 429));
  t.ok(spreadBusy.length >= 1, 'per user name too');
  t.ok(busy.every((a) => a.retryAfter === '1'), 'busy: retry in a second');
});
