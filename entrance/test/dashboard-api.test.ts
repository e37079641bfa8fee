// The dashboard's server side: operators log in with a scrypt-hashed password (CSRF-guarded form,
// HttpOnly SameSite cookie), scripts use bearer tokens, everything under /api/ is 401 without either;
// the fleet list is sorted, filtered and paged on the server; box pages, history, traffic, publishers
// with their offload ratio, the map and live events answer per docs/dashboard-api.md.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { hashPassword, verifyPassword } from '../../shared/src/password.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange, searchRequest } from '../../test/helpers/messages.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');

async function login(base: string, username: string, password: string): Promise<{ status: number; location: string | null; cookie: string | undefined }> {
  const form = await fetch(`${base}/dashboard/`);
  const html = await form.text();
  const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(html)?.[1] ?? '';
  const loginCookie = form.headers.get('set-cookie')?.split(';')[0] ?? '';
  const res = await fetch(`${base}/dashboard/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
    body: new URLSearchParams({ username, password, csrf }).toString(),
  });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('dandelion_session='));
  return { status: res.status, location: res.headers.get('location'), cookie: cookie?.split(';')[0] };
}

t.test('password hashes', async (t) => {
  const hash = await hashPassword('correct horse');
  t.match(hash, /^scrypt\$16384\$8\$1\$/);
  t.ok(await verifyPassword('correct horse', hash));
  t.notOk(await verifyPassword('wrong horse', hash));
  t.notOk(await verifyPassword('x', 'not a hash'));
  const cli = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(BIN, ['hash-password']);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
    p.stdin.end('s3cret-operator\n');
  });
  t.equal(cli.code, 0);
  t.ok(await verifyPassword('s3cret-operator', cli.out.trim()), 'the CLI prints a hash of stdin');
});

t.test('login, sessions, tokens and the API', async (t) => {
  const redis = await startRedis(t);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const tokens = JSON.stringify([await hashPassword('script-token-123')]);
  let now = 1_790_000_000_000;
  const { url } = await startEntrance(t, { redisUrl: redis.url, now: () => now, env: { DANDELION_DASHBOARD_USERS: users, DANDELION_API_TOKENS: tokens, DANDELION_BOX_STALE_TIME: '10' } });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');

  t.equal((await fetch(`${base}/api/boxes`)).status, 401, 'no session, no token: 401');
  t.equal((await fetch(`${base}/api/boxes`, { headers: { authorization: 'Bearer wrong-token-000' } })).status, 401);
  t.match(await (await fetch(`${base}/dashboard/`)).text(), /<form method="post" action="\/dashboard\/login"/, 'the login form');
  const bad = await login(base, 'ops', 'guess');
  t.equal(bad.location, '/dashboard/?error=1', 'a wrong password is refused');
  t.equal(bad.cookie, undefined);
  const noCsrf = await fetch(`${base}/dashboard/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=ops&password=operator-pass' });
  t.equal(noCsrf.headers.get('location'), '/dashboard/?error=1', 'a login form without its CSRF token is refused');
  const good = await login(base, 'ops', 'operator-pass');
  t.equal(good.status, 303);
  t.ok(good.cookie, 'session cookie set');
  const setCookie = (await fetch(`${base}/dashboard/login`, { method: 'POST', redirect: 'manual' })).headers.get('set-cookie');
  t.equal(setCookie, null, 'no session from an empty form');
  const headers = { cookie: good.cookie as string };
  const session = (await (await fetch(`${base}/api/session`, { headers })).json()) as { USERNAME: string; CSRF: string };
  t.equal(session.USERNAME, 'ops');
  t.match(session.CSRF, /^[0-9a-f]{48}$/);
  t.match(await (await fetch(`${base}/dashboard/`, { headers })).text(), `<meta name="csrf-token" content="${session.CSRF}">`, 'the page carries the CSRF token');
  const bearer = { authorization: 'Bearer script-token-123' };
  t.equal((await fetch(`${base}/api/summary`, { headers: bearer })).status, 200, 'scripts use a bearer token');

  // A fleet: 12 boxes, some placed, one stale, one gone.
  const box = await connectPeer(url);
  const pub = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), pub.close()]));
  for (let i = 0; i < 12; i++) {
    const extra: Record<string, unknown> = { 'CPU-IDLE': 90 - i, 'BANDWIDTH-IDLE-UP': i * 10, VERSION: '1.2.3' };
    if (i % 2 === 0) extra.GEOIP = { CITY: i < 6 ? 'Taipei' : 'Paris', COUNTRY: i < 6 ? 'TW' : 'FR', LOC: i < 6 ? '25.03,121.56' : '48.85,2.35' };
    if (i === 3) extra.TRAFFIC_AGGREGATES = [{ ID: 'a1', PUBLISHER: 'publisher-p', FILE: 'live/s1.ts', REQUESTS: 3, BYTES: 3000, FROM: now / 1000 - 5, TO: now / 1000 - 1 }];
    t.equal((await box.ask(boxExchange(`box-f${String(i).padStart(2, '0')}`, extra))).MESSAGE, 'ACCEPTED');
  }
  t.equal((await pub.ask(searchRequest('publisher-p', { ORIGIN_BYTES: 1000, ORIGIN_SINCE: 42 }))).COMMAND, 'SEARCH');
  t.equal((await pub.ask(searchRequest('publisher-p', { ORIGIN_BYTES: 1000, ORIGIN_SINCE: 42 }))).COMMAND, 'SEARCH', 'the same count again adds nothing');

  now += 20_000; // 20 s later only box-f00 is heard from again: the others are stale
  await box.ask(boxExchange('box-f00', { 'CPU-IDLE': 50 }));
  const get = async (p: string): Promise<Record<string, unknown>> => (await (await fetch(`${base}${p}`, { headers })).json()) as Record<string, unknown>;
  const page1 = await get('/api/boxes?sort=BANDWIDTH_IDLE_UP&order=desc&per_page=5');
  t.equal(page1.TOTAL, 12);
  t.same((page1.BOXES as Array<{ ID: string }>).map((b) => b.ID), ['box-f11', 'box-f10', 'box-f09', 'box-f08', 'box-f07'], 'sorted on the server');
  const page3 = await get('/api/boxes?sort=BANDWIDTH_IDLE_UP&order=desc&per_page=5&page=3');
  t.same((page3.BOXES as Array<{ ID: string }>).map((b) => b.ID), ['box-f01', 'box-f00'], 'paged on the server');
  const paris = await get('/api/boxes?q=paris');
  t.equal(paris.TOTAL, 3, 'filtered by city');
  const online = await get('/api/boxes?state=online');
  t.same((online.BOXES as Array<{ ID: string; STATE: string; CPU: number }>).map((b) => [b.ID, b.STATE, b.CPU]), [['box-f00', 'online', 50]], 'state filter; CPU = 100 − idle');
  t.equal((await get('/api/boxes?state=stale')).TOTAL, 11);
  t.equal((await fetch(`${base}/api/boxes?sort=nonsense`, { headers })).status, 400);
  t.equal((await fetch(`${base}/api/boxes?per_page=100000`, { headers })).status, 400);

  const one = await get('/api/boxes/box-f03');
  t.match(one.BOX, { ID: 'box-f03', STATE: 'stale', BYTES_TOTAL: 3000, BYTES_HOUR: 3000, BYTES_DAY: 3000, VERSION: '1.2.3' });
  t.match(one.EXCHANGE, { ID: 'box-f03', CONNECT_WS: 'ws://127.0.0.1:7071/dandelion/box-f03/ws/' });
  t.same(one.PUBLISHERS, [{ publisher: 'publisher-p', bytes: 3000 }]);
  t.equal((await fetch(`${base}/api/boxes/box-nobody`, { headers })).status, 404);
  const history = await get(`/api/boxes/box-f00/history?from=${now / 1000 - 3600}&to=${now / 1000}`);
  t.ok((history.POINTS as unknown[]).length >= 1, 'history points recorded');

  const summary = await get('/api/summary');
  t.match(summary, { BOXES: { ONLINE: 1, STALE: 11, OFFLINE: 0, TOTAL: 12 }, BYTES: { TOTAL: 3000, HOUR: 3000, DAY: 3000 }, OFFLOAD: { BOX_BYTES: 3000, ORIGIN_BYTES: 1000, RATIO: 0.75 }, PUBLISHERS: 1 });
  const publishers = (await get('/api/publishers')).PUBLISHERS as Array<Record<string, unknown>>;
  t.match(publishers, [{ ID: 'publisher-p', ORIGIN_BYTES: 1000, BOX_BYTES: 3000, OFFLOAD: 0.75, BOXES: [{ box: 'box-f03', bytes: 3000 }] }]);
  const map = (await get('/api/map')).BOXES as Array<Record<string, unknown>>;
  t.equal(map.length, 5, 'placed boxes on the map (box-f00 no longer sends a place)');
  t.match(map.find((b) => b.ID === 'box-f06'), { LAT: 48.85, LON: 2.35, CITY: 'Paris' });
  const traffic = (await get(`/api/traffic?resolution=minute&from=${now / 1000 - 120}&to=${now / 1000}`)).POINTS as Array<{ bytes: number }>;
  t.equal(traffic.reduce((a, p) => a + p.bytes, 0), 3000, 'the traffic series adds up');

  const events = await fetch(`${base}/api/events`, { headers });
  t.equal(events.headers.get('content-type'), 'text/event-stream');
  const reader = (events.body as ReadableStream<Uint8Array>).getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  t.match(first, /event: summary\ndata: \{"BOXES":/, 'live events start with the summary');
  await reader.cancel();

  const noCsrfLogout = await fetch(`${base}/dashboard/logout`, { method: 'POST', redirect: 'manual', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
  t.equal(noCsrfLogout.status, 403, 'logout needs the CSRF token');
  const logout = await fetch(`${base}/dashboard/logout`, { method: 'POST', redirect: 'manual', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${session.CSRF}` });
  t.equal(logout.status, 303);
  t.equal((await fetch(`${base}/api/boxes`, { headers })).status, 401, 'the session is gone after logout');
});
