// The small router of the agent's HTTP surfaces, on a real guarded server over loopback: a path and
// method in the table reach their handler (query ignored), '*' answers every method, an unknown path
// is 404 E_NOT_FOUND (with the server's own wording when given), a known path with another method is
// 405 E_BAD_REQUEST with `allow` listing the table's methods, and names of Object's prototype are no routes.
import t from 'tap';
import { createGuardedServer } from '../src/http-guard.js';
import type { RequestHandler } from '../src/http-guard.js';
import { createRouter } from '../src/http-router.js';
import { listenOn } from '../src/listen.js';
import { silentLogger } from '../src/log.js';
import { httpRequest } from '../../test/helpers/http-request.js';


const answer = (text: string): RequestHandler => (req, res, url) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${text} ${req.method} ${url.searchParams.get('q') ?? ''}`);
};

async function serve(t: { teardown(fn: () => unknown): void }, onRequest: RequestHandler): Promise<number> {
  const server = createGuardedServer({ log: silentLogger(), onRequest });
  const port = await listenOn(server, '127.0.0.1', 0);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return port;
}

t.test('routes by path and method, refuses the rest with a code', async (t) => {
  const port = await serve(t, createRouter({
    '/items': { GET: answer('list'), POST: answer('add') },
    '/any': { '*': answer('any') },
  }));

  t.match(await httpRequest(port, 'GET', '/items?q=1'), { status: 200, body: 'list GET 1' }, 'the query does not change the route');
  t.match(await httpRequest(port, 'POST', '/items'), { status: 200, body: 'add POST ' });
  for (const method of ['GET', 'DELETE', 'PATCH']) t.match(await httpRequest(port, method, '/any'), { status: 200, body: `any ${method} ` }, `'*' answers ${method}`);

  const wrong = await httpRequest(port, 'DELETE', '/items');
  t.equal(wrong.status, 405);
  t.equal(wrong.headers.allow, 'GET, POST', 'allow lists the methods the path has');
  t.same(JSON.parse(wrong.body), { ERROR: 'method not allowed', ERROR_CODE: 'E_BAD_REQUEST' });

  for (const path of ['/', '/items/', '/item', '/__proto__', '/constructor', '/toString']) {
    const missing = await httpRequest(port, 'GET', path);
    t.equal(missing.status, 404, `${path} is no route`);
    t.same(JSON.parse(missing.body), { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' });
    t.equal(missing.headers['cache-control'], 'no-store');
  }
});

t.test('the 404 says what the server serves when told', async (t) => {
  const port = await serve(t, createRouter({ '/metrics': { GET: answer('m') } }, { notFound: { ERROR: 'only /metrics here', ERROR_CODE: 'E_NOT_FOUND' } }));
  const missing = await httpRequest(port, 'GET', '/');
  t.equal(missing.status, 404);
  t.same(JSON.parse(missing.body), { ERROR: 'only /metrics here', ERROR_CODE: 'E_NOT_FOUND' });
});

t.test('a handler that throws costs its one request under the guard', async (t) => {
  const port = await serve(t, createRouter({
    '/fail': { GET: () => { throw new Error('handler failure'); } },
    '/ok': { GET: answer('ok') },
  }));
  const failed = await httpRequest(port, 'GET', '/fail');
  t.equal(failed.status, 500);
  t.match(JSON.parse(failed.body), { ERROR_CODE: 'E_INTERNAL' });
  t.match(await httpRequest(port, 'GET', '/ok'), { status: 200, body: 'ok GET ' }, 'the server answers afterwards');
});
