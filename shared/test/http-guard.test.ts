// The last-resort guard of every HTTP server: request-targets are read as RFC 9112 says (a path that
// starts with // stays a path; a broken absolute URL is refused); a handler that throws or rejects costs
// its one request (500) and an upgrade handler that throws costs its one socket, never the process; a
// request line that is no HTTP gets 400 with the same JSON body; the server answers afterwards.
import t from 'tap';
import { silentLogger } from '../../shared/src/log.js';
import { createGuardedServer, parseRequestTarget, refuseUpgrade } from '../../shared/src/http-guard.js';
import { listenOn } from '../../shared/src/listen.js';
import { errorCodeOf, rawGet, rawUpgrade, sendRaw } from '../../test/helpers/raw-http.js';

t.test('parseRequestTarget', async (t) => {
  t.equal(parseRequestTarget('/dandelion/ws/?a=1')?.pathname, '/dandelion/ws/');
  t.equal(parseRequestTarget('/dandelion/ws/?a=1')?.searchParams.get('a'), '1');
  t.equal(parseRequestTarget('//')?.pathname, '//', 'origin-form: // is a path, not a host');
  t.equal(parseRequestTarget('//evil.example/dandelion/ws')?.pathname, '//evil.example/dandelion/ws');
  t.equal(parseRequestTarget('http://proxy.example/metrics')?.pathname, '/metrics', 'absolute-form');
  for (const bad of [undefined, '', '*', 'example.com:443', 'dandelion', 'http://[', 'http://', 'http://a:b/', 'ftp://x/', 'javascript:alert(1)']) {
    t.equal(parseRequestTarget(bad), undefined, `${JSON.stringify(bad)} refused`);
  }
});

t.test('throwing and rejecting handlers cost one request or one socket', async (t) => {
  const server = createGuardedServer({
    log: silentLogger(),
    onRequest(_req, res, url) {
      if (url.pathname === '/throw') throw new Error('sync failure');
      if (url.pathname === '/reject') return Promise.reject(new Error('async failure'));
      if (url.pathname === '/half') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        throw new Error('failure after the headers went out');
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('fine');
    },
    onUpgrade(_req, socket, _head, url) {
      if (url.pathname === '/throw') throw new Error('sync upgrade failure');
      if (url.pathname === '/reject') return Promise.reject(new Error('async upgrade failure'));
      refuseUpgrade(socket, 404, { ERROR: 'nothing here', ERROR_CODE: 'E_NOT_FOUND' });
    },
  });
  const port = await listenOn(server, '127.0.0.1', 0);
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));

  for (const path of ['/throw', '/reject']) {
    const answer = await sendRaw(port, rawGet(path));
    t.equal(answer.status, 500, `${path}: 500`);
    t.equal(errorCodeOf(answer), 'E_INTERNAL');
    const upgrade = await sendRaw(port, rawUpgrade(path));
    t.equal(upgrade.text, '', `upgrade ${path}: that socket is closed without a word`);
  }
  const half = await sendRaw(port, rawGet('/half'));
  t.ok(half.body.length < 100, 'headers already out: the response is cut short, not completed');
  t.notMatch(half.text, /E_INTERNAL/, 'and no second response follows it');

  const elsewhere = await sendRaw(port, rawUpgrade('/other'));
  t.equal(elsewhere.status, 404);
  t.same(JSON.parse(elsewhere.body), { ERROR: 'nothing here', ERROR_CODE: 'E_NOT_FOUND' }, 'an upgrade refusal has the JSON body');
  t.match(elsewhere.headers, /\r\ncontent-type: application\/json/);

  for (const bytes of ['NOT HTTP AT ALL\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`]) {
    const answer = await sendRaw(port, bytes);
    t.ok(answer.status === 400 || answer.status === 431, `${JSON.stringify(bytes.slice(0, 30))}: ${answer.status}`);
    t.equal(errorCodeOf(answer), 'E_BAD_REQUEST');
  }
  const connect = await sendRaw(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  t.equal(connect.status, 405, 'CONNECT is refused, not dropped');

  const res = await fetch(`http://127.0.0.1:${port}/ok`);
  t.equal(await res.text(), 'fine', 'the server answers after all of it');
});
