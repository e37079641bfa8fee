// Every refusal the entrance's HTTP port gives carries its status and the {ERROR, ERROR_CODE} body,
// whichever router gave it: paths nothing serves (404, or 405 for methods other than GET and HEAD),
// the dashboard's and the API's (with the dashboard's policy headers), the enrolment endpoints', the
// speed test's and /metrics'. A wrong method is told which ones are allowed.
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';

interface Refused {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  status: number;
  code: string;
  error?: string | RegExp;
  allow?: string;
}

t.test('each refusal: its status, its ERROR_CODE, and Allow on a 405', async (t) => {
  const redis = await startRedis(t);
  const tokens = JSON.stringify([await hashPassword('refusal-token-1')]);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_API_TOKENS: tokens } });
  const origin = new URL(url.replace(/^ws/, 'http')).origin;
  const bearer = { authorization: 'Bearer refusal-token-1' };

  const cases: Refused[] = [
    { path: '/nothing/here', status: 404, code: 'E_NOT_FOUND', error: 'not found' },
    { path: '/nothing/here', method: 'POST', status: 405, code: 'E_BAD_REQUEST', allow: 'GET, HEAD' },
    { path: '/dandelion/', method: 'DELETE', status: 405, code: 'E_BAD_REQUEST', allow: 'GET, HEAD' },
    { path: '/dandelion/ws/', status: 404, code: 'E_NOT_FOUND', error: 'not found' },
    { path: '/dashboard/nothing', status: 404, code: 'E_NOT_FOUND' },
    { path: '/dashboard/login', status: 404, code: 'E_NOT_FOUND' },
    { path: '/dashboard/static/app.js', method: 'POST', status: 404, code: 'E_NOT_FOUND' },
    { path: '/dashboard/static/nothing.js', status: 404, code: 'E_NOT_FOUND' },
    { path: '/api/summary', status: 401, code: 'E_AUTH', error: /log in at \/dashboard\// },
    { path: '/api/nothing', method: 'POST', status: 401, code: 'E_AUTH' },
    { path: '/api/nothing', headers: bearer, status: 404, code: 'E_NOT_FOUND', error: 'no such API' },
    { path: '/api/summary', method: 'POST', headers: bearer, status: 405, code: 'E_BAD_REQUEST', error: /read-only/ },
    { path: '/api/summary', method: 'HEAD', headers: bearer, status: 405, code: 'E_BAD_REQUEST' },
    { path: '/api/tokens', headers: bearer, status: 405, code: 'E_BAD_REQUEST', error: 'POST only', allow: 'POST' },
    { path: '/api/boxes/box-x/forget', headers: bearer, status: 405, code: 'E_BAD_REQUEST', allow: 'POST' },
    { path: '/api/boxes/box-nobody', headers: bearer, status: 404, code: 'E_NOT_FOUND', error: 'no such box' },
    { path: '/api/boxes/publisher-x', headers: bearer, status: 400, code: 'E_ID', error: 'not a box ID' },
    { path: '/api/boxes?sort=NAME', headers: bearer, status: 400, code: 'E_FORMAT', error: /^sort must be one of ID, STATE/ },
    { path: '/api/boxes?page=x', headers: bearer, status: 400, code: 'E_FORMAT', error: 'page must be a number' },
    { path: '/api/traffic?resolution=week', headers: bearer, status: 400, code: 'E_FORMAT', error: 'resolution must be one of minute, hour, day' },
    { path: '/api/tokens', method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ NOTE: 'x'.repeat(5000) }), status: 413, code: 'E_TOO_BIG' },
    { path: '/api/tokens', method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: '{"USES":true}', status: 400, code: 'E_FORMAT', error: /^USES / },
    { path: '/dandelion/ws/challenge', method: 'POST', status: 405, code: 'E_BAD_REQUEST', allow: 'GET' },
    { path: '/dandelion/ws/enrol', status: 405, code: 'E_BAD_REQUEST', allow: 'POST' },
    { path: '/dandelion/ws/enrol', method: 'POST', body: '{"ID":"box-a"}', status: 400, code: 'E_FORMAT', error: /is required in the body$/ },
    { path: '/dandelion/speedtest/upload', status: 405, code: 'E_BAD_REQUEST', error: 'use POST', allow: 'POST' },
    { path: '/dandelion/speedtest/download?bytes=0', status: 400, code: 'E_FORMAT' },
    { path: '/metrics', status: 403, code: 'E_FORBIDDEN', error: /METRICS_TOKEN/ },
    { path: '/metrics', method: 'POST', status: 405, code: 'E_BAD_REQUEST', allow: 'GET, HEAD' },
  ];
  for (const c of cases) {
    const name = `${c.method ?? 'GET'} ${c.path}`;
    const res = await fetch(`${origin}${c.path}`, { method: c.method ?? 'GET', headers: c.headers ?? {}, ...(c.body === undefined ? {} : { body: c.body }), redirect: 'manual' });
    t.equal(res.status, c.status, `${name}: ${c.status}`);
    t.equal(res.headers.get('cache-control'), 'no-store', `${name}: not cached`);
    if (c.allow !== undefined) t.equal(res.headers.get('allow'), c.allow, `${name}: Allow ${c.allow}`);
    if (c.path.startsWith('/dashboard') || c.path.startsWith('/api')) t.match(res.headers.get('content-security-policy'), /default-src 'self'/, `${name}: under the dashboard's policy`);
    if (c.method === 'HEAD') continue; // no body to read
    const body = (await res.json()) as { ERROR?: unknown; ERROR_CODE?: unknown };
    t.equal(body.ERROR_CODE, c.code, `${name}: ${c.code}`);
    t.type(body.ERROR, 'string', `${name}: ERROR says why`);
    if (c.error !== undefined) t.match(body.ERROR, c.error, `${name}: ${String(c.error)}`);
  }

  const redirect = await fetch(`${origin}/dashboard`, { method: 'POST', redirect: 'manual' });
  t.equal(redirect.status, 303, '/dashboard, whatever the method, is sent to /dashboard/');
  t.equal(redirect.headers.get('location'), '/dashboard/');
  const head = await fetch(`${origin}/dandelion/`, { method: 'HEAD' });
  t.equal(head.status, 200, 'the index answers HEAD');
  t.same(await (await fetch(`${origin}/dandelion/healthz`)).json(), { OK: true }, 'the health probe');
});
