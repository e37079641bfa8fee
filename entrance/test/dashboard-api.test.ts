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
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';

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
  const { url } = await startEntrance(t, { redisUrl: redis.url, now: () => now, env: { ...ORIGINAL_PUBLISHERS, DANDELION_DASHBOARD_USERS: users, DANDELION_API_TOKENS: tokens, DANDELION_BOX_STALE_TIME: '10' } });
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
  // The publisher is known before its traffic arrives: traffic is counted only for known publishers.
  t.equal((await pub.ask(searchRequest('publisher-p'))).COMMAND, 'SEARCH');
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

t.test('enrolment through the API: tokens, pending, revoke, restore, forget; CSRF for sessions', async (t) => {
  const redis = await startRedis(t);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const tokens = JSON.stringify([await hashPassword('script-token-123')]);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_DASHBOARD_USERS: users, DANDELION_API_TOKENS: tokens, DANDELION_REQUIRE_ENROLMENT: 'true' } });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const bearer = { authorization: 'Bearer script-token-123', 'content-type': 'application/json' };

  const created = await fetch(`${base}/api/tokens`, { method: 'POST', headers: bearer, body: JSON.stringify({ EXPIRES: '30d', USES: 3, NOTE: 'shop batch' }) });
  t.equal(created.status, 201, 'a script makes a token with its bearer token');
  const token = (await created.json()) as { TOKEN: string; ID: string; MAX_USES: number };
  t.match(token.TOKEN, /^dlt_/);
  t.equal(token.MAX_USES, 3);
  const bad = await fetch(`${base}/api/tokens`, { method: 'POST', headers: bearer, body: JSON.stringify({ EXPIRES: 'tomorrow' }) });
  t.equal(bad.status, 400, 'a bad EXPIRES is a 400');
  t.match(((await bad.json()) as { ERROR: string }).ERROR, /EXPIRES/);
  t.equal((await fetch(`${base}/api/tokens`, { method: 'POST', headers: bearer, body: '[1]' })).status, 400, 'a body that is not an object: 400');

  const session = await login(base, 'ops', 'operator-pass');
  const cookie = session.cookie ?? '';
  const csrf = ((await (await fetch(`${base}/api/session`, { headers: { cookie } })).json()) as { CSRF: string }).CSRF;
  const noCsrf = await fetch(`${base}/api/tokens`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
  t.equal(noCsrf.status, 403, 'a logged-in POST without the CSRF token is refused');
  const withCsrf = await fetch(`${base}/api/tokens`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
  t.equal(withCsrf.status, 201, 'with it, accepted (defaults: 7 days, one use)');

  // A box enrols through the real endpoints, another one tries without a token.
  const { generateKeyPairSync } = await import('node:crypto');
  const codec = await import('../../shared/src/enrolment/codec.js');
  const key = generateKeyPairSync('ed25519').privateKey;
  const nonce = ((await (await fetch(codec.enrolmentUrl(url, 'challenge'))).json()) as { NONCE: string }).NONCE;
  const pub = codec.publicKeyText(key);
  const enrolled = await fetch(codec.enrolmentUrl(url, 'enrol'), {
    method: 'POST',
    body: JSON.stringify({ ID: 'box-api', PUBLIC_KEY: pub, TOKEN: token.TOKEN, NONCE: nonce, SIGNATURE: codec.signPayload(key, codec.enrolPayload('box-api', nonce, pub)) }),
  });
  t.equal(enrolled.status, 200);
  const nonce2 = ((await (await fetch(codec.enrolmentUrl(url, 'challenge'))).json()) as { NONCE: string }).NONCE;
  const stranger = await fetch(codec.enrolmentUrl(url, 'enrol'), {
    method: 'POST',
    body: JSON.stringify({ ID: 'box-stranger', PUBLIC_KEY: pub, TOKEN: `dlt_${'0'.repeat(12)}_${'x'.repeat(43)}`, NONCE: nonce2, SIGNATURE: codec.signPayload(key, codec.enrolPayload('box-stranger', nonce2, pub)) }),
  });
  t.equal(stranger.status, 403);

  const listing = (await (await fetch(`${base}/api/enrolment`, { headers: bearer })).json()) as {
    REQUIRE_ENROLMENT: boolean; BOXES: Array<{ ID: string; STATE: string; FINGERPRINT: string }>; PENDING: Array<{ ID: string; REASON: string }>; TOKENS: Array<{ ID: string; USES: number }>;
  };
  t.equal(listing.REQUIRE_ENROLMENT, true);
  t.same(listing.BOXES.map((b) => [b.ID, b.STATE]), [['box-api', 'enrolled']], 'enrolled');
  t.match(listing.BOXES[0]?.FINGERPRINT, /^SHA256:/);
  t.same(listing.PENDING.map((p) => [p.ID, p.REASON]), [['box-stranger', 'unknown fleet token']], 'pending, with the reason');
  t.equal(listing.TOKENS.find((x) => x.ID === token.ID)?.USES, 1, 'one use taken');
  t.notOk(JSON.stringify(listing).includes(token.TOKEN.slice(17)), 'no token secret in the listing');

  const act = async (path: string): Promise<number> => (await fetch(`${base}/api/${path}`, { method: 'POST', headers: bearer })).status;
  t.equal(await act('boxes/box-api/revoke'), 200);
  t.equal(((await (await fetch(`${base}/api/enrolment`, { headers: bearer })).json()) as { BOXES: Array<{ STATE: string }> }).BOXES[0]?.STATE, 'revoked');
  t.equal(await act('boxes/box-api/restore'), 200);
  t.equal(await act('boxes/box-api/forget'), 200);
  t.equal(await act('boxes/box-api/forget'), 404, 'forgetting twice: 404');
  t.equal(await act('boxes/publisher-x/revoke'), 400, 'not a box ID: 400');
  t.equal(await act(`tokens/${token.ID}/revoke`), 200);
  t.equal(await act('tokens/000000000000/revoke'), 404);
  t.equal((await fetch(`${base}/api/tokens/${token.ID}/revoke`, { headers: bearer })).status, 405, 'changes are POST only');
  t.equal((await fetch(`${base}/api/summary`, { method: 'POST', headers: bearer })).status, 405, 'the rest of the API stays read-only');
});
