// The entrance's and the publisher's HTTP layer: one error handler turns every refusal into a status and
// the {ERROR, ERROR_CODE} body (HttpError, ProtocolError, fastify's schema and body-size errors, anything
// else as 500 E_INTERNAL); unknown paths are 404 E_NOT_FOUND, or what `unrouted` says; a body over its
// limit is refused and its connection closed, the rest unread; a schema refusal names the field; the
// guarded server below it still refuses unparseable targets and passes upgrades to onUpgrade; a path whose
// percent-encoding does not decode is 400 E_BAD_REQUEST, or 404 E_NOT_FOUND where the app says paths name
// files; a taken port names its config key.
import t from 'tap';
import type { Test } from 'tap';
import net from 'node:net';
import { silentLogger } from '../../shared/src/log.js';
import { createHttpApp, HttpError, methodNotAllowed, notFound, refusalFor, STATUS_OF_CODE } from '../../shared/src/http-app.js';
import { refuseUpgrade } from '../../shared/src/http-guard.js';
import { ListenError } from '../../shared/src/listen.js';
import { ProtocolError } from '../../shared/src/protocol/errors.js';
import { errorCodeOf, rawGet, rawUpgrade, sendRaw } from '../../test/helpers/raw-http.js';
import { describeSchemaErrors } from '../../shared/src/http-app.js';

const KEYS = { port: 'TEST_PORT', host: 'TEST_IP' };

async function startApp(t: Test): Promise<{ port: number; upgrades: string[] }> {
  const upgrades: string[] = [];
  const web = createHttpApp({
    log: silentLogger(),
    bodyLimit: 64,
    onUpgrade(_req, socket, _head, url) {
      upgrades.push(url.pathname);
      refuseUpgrade(socket, 404, { ERROR: 'no socket here', ERROR_CODE: 'E_NOT_FOUND' });
    },
  });
  web.app.get('/fine', async () => ({ OK: true }));
  web.app.get('/http-error', async () => {
    throw new HttpError(429, 'E_RATE', 'slow down', { 'retry-after': '7' });
  });
  web.app.get('/protocol-error', async () => {
    throw new ProtocolError('E_PATH', 'that path climbs out');
  });
  web.app.get('/bug', async () => {
    throw new TypeError('undefined is not a function');
  });
  web.app.post('/echo', { schema: { body: { type: 'object', required: ['NAME'], properties: { NAME: { type: 'string' } } } } }, async (req) => req.body);
  const port = await web.listen('127.0.0.1', 0, KEYS);
  t.teardown(() => web.close());
  return { port, upgrades };
}

async function json(port: number, path: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

t.test('every refusal has a status and the {ERROR, ERROR_CODE} body', async (t) => {
  const { port } = await startApp(t);
  t.same((await json(port, '/fine')).body, { OK: true }, 'a route answers');

  const rate = await json(port, '/http-error');
  t.equal(rate.status, 429);
  t.same(rate.body, { ERROR: 'slow down', ERROR_CODE: 'E_RATE' });
  t.equal(rate.headers.get('retry-after'), '7', "an HttpError's headers go out");
  t.equal(rate.headers.get('cache-control'), 'no-store', 'refusals are never cached');

  const path = await json(port, '/protocol-error');
  t.equal(path.status, 400, 'a ProtocolError takes the status of its code');
  t.same(path.body, { ERROR: 'that path climbs out', ERROR_CODE: 'E_PATH' });

  const bug = await json(port, '/bug');
  t.equal(bug.status, 500);
  t.same(bug.body, { ERROR: 'internal error; try again', ERROR_CODE: 'E_INTERNAL' }, 'no internal detail leaks');

  const missing = await json(port, '/nothing/here');
  t.equal(missing.status, 404);
  t.same(missing.body, { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' });

  const post = (body: string): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.same((await json(port, '/echo', post('{"NAME":"a"}'))).body, { NAME: 'a' }, 'a body that matches its schema is taken');
  const wrong = await json(port, '/echo', post('{"NAME":5}'));
  t.equal(wrong.status, 400, 'a body that does not match its schema is 400');
  t.equal(wrong.body.ERROR_CODE, 'E_FORMAT');
  const broken = await json(port, '/echo', post('{"NAME":'));
  t.equal(broken.status, 400, 'JSON that does not parse is 400');
  t.equal(broken.body.ERROR_CODE, 'E_BAD_REQUEST');
  const large = await json(port, '/echo', post(JSON.stringify({ NAME: 'x'.repeat(100) })));
  t.equal(large.status, 413, 'a body over bodyLimit is 413');
  t.equal(large.body.ERROR_CODE, 'E_TOO_BIG');
});

t.test('the guarded server below fastify still refuses broken targets and passes upgrades on', async (t) => {
  const { port, upgrades } = await startApp(t);
  const unparseable = await sendRaw(port, rawGet('http://['));
  t.equal(unparseable.status, 400);
  t.equal(errorCodeOf(unparseable), 'E_BAD_REQUEST');
  const slashes = await sendRaw(port, rawGet('//'));
  t.equal(slashes.status, 404, '// is a path that nothing answers, not a host');
  t.equal(errorCodeOf(slashes), 'E_NOT_FOUND');
  const garbage = await sendRaw(port, 'NOT HTTP AT ALL\r\n\r\n');
  t.equal(garbage.status, 400, 'bytes that are no request get one answer');
  t.equal(garbage.text.match(/^HTTP\/1\.1 \d{3}/gm)?.length, 1, 'exactly one, not a second from fastify');
  const absolute = await sendRaw(port, rawGet('http://proxy.example/fine'));
  t.equal(absolute.status, 200, "a proxy's absolute-form target is routed by its path");
  const dotted = await sendRaw(port, rawGet('/nothing/../fine'));
  t.equal(dotted.status, 200, 'dot segments are resolved before routing, as a browser would');

  const upgrade = await sendRaw(port, rawUpgrade('/socket'));
  t.equal(upgrade.status, 404);
  t.same(upgrades, ['/socket'], 'the upgrade reached onUpgrade, not fastify');
  t.equal((await json(port, '/fine')).status, 200, 'and the server answers afterwards');
});

t.test('a path that does not decode: 400 E_BAD_REQUEST, or 404 E_NOT_FOUND where paths name files', async (t) => {
  for (const [undecodablePath, status, code] of [[undefined, 400, 'E_BAD_REQUEST'], ['bad-request', 400, 'E_BAD_REQUEST'], ['not-found', 404, 'E_NOT_FOUND']] as const) {
    const web = createHttpApp({ log: silentLogger(), undecodablePath });
    web.app.get('/files/*', async () => ({ OK: true }));
    const port = await web.listen('127.0.0.1', 0, KEYS);
    t.teardown(() => web.close());
    for (const target of ['/files/%zz.ts', '/files/%E0%A4%A', '/nothing/%']) {
      const answer = await sendRaw(port, rawGet(target));
      t.equal(answer.status, status, `${undecodablePath ?? 'default'} ${target}: ${status}`);
      t.equal(errorCodeOf(answer), code, `${undecodablePath ?? 'default'} ${target}: ${code}`);
    }
    t.equal((await json(port, '/files/a%20b.ts')).status, 200, 'a path that decodes is routed');
  }
});

t.test('a taken port names its config key; close frees the port', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const taken = (holder.address() as net.AddressInfo).port;
  const web = createHttpApp({ log: silentLogger() });
  const err = await web.listen('127.0.0.1', taken, KEYS).catch((e: unknown) => e);
  t.ok(err instanceof ListenError, 'a ListenError');
  t.match(String((err as Error).message), /^TEST_PORT \d+: address in use/);
  await web.close();

  const again = createHttpApp({ log: silentLogger() });
  again.app.get('/', async () => ({ OK: true }));
  const port = await again.listen('127.0.0.1', 0, KEYS);
  await again.close();
  const reopened = net.createServer();
  await new Promise<void>((resolve, reject) => {
    reopened.once('error', reject);
    reopened.listen(port, '127.0.0.1', resolve);
  });
  t.pass('the port is free again after close');
  await new Promise<void>((resolve) => reopened.close(() => resolve()));
});

t.test('refusalFor: one mapping from errors to answers', async (t) => {
  t.equal(refusalFor(new ProtocolError('E_DISK_FULL', 'full')).status, 507);
  t.equal(refusalFor(new ProtocolError('E_RATE', 'slow')).status, 429);
  t.equal(refusalFor('a string thrown').status, 500);
  t.same(refusalFor(notFound()), { status: 404, body: { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' }, headers: {} }, 'notFound');
  t.same(refusalFor(methodNotAllowed('GET, HEAD')), { status: 405, body: { ERROR: 'method not allowed', ERROR_CODE: 'E_BAD_REQUEST' }, headers: { allow: 'GET, HEAD' } }, 'methodNotAllowed names what is allowed');
  for (const [code, status] of Object.entries(STATUS_OF_CODE)) {
    t.ok(status >= 400 && status < 600, `${code} maps to an error status (${status})`);
  }
});

t.test('a body over the limit closes its connection; `unrouted` decides what no route takes', async (t) => {
  const web = createHttpApp({
    log: silentLogger(),
    bodyLimit: 64,
    unrouted: (request) => (request.method === 'GET' ? new HttpError(404, 'E_NOT_FOUND', 'nothing here') : new HttpError(405, 'E_BAD_REQUEST', 'GET only', { allow: 'GET' })),
  });
  let bodiesRead = 0;
  web.app.post('/echo', async (req) => {
    bodiesRead += 1;
    return req.body;
  });
  web.app.get('/sort', { schema: { querystring: { type: 'object', properties: { sort: { type: 'string', enum: ['ID', 'CPU', ''] } } } } }, async () => ({ OK: true }));
  web.app.get('/item/:id', async () => ({ OK: true }));
  const port = await web.listen('127.0.0.1', 0, KEYS);
  t.teardown(() => web.close());

  // Declared too large: answered from the headers, then the connection is closed with the body unsent.
  const declared = await sendRaw(port, `POST /echo HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"a":`);
  t.equal(declared.status, 413);
  t.equal(errorCodeOf(declared), 'E_TOO_BIG');
  t.match(declared.headers, /\r\nconnection: close/i, 'the answer says the connection closes');
  const closedByServer = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('POST /echo HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"a":'));
    socket.on('error', () => undefined); // intentional: a reset is a close too
    socket.resume();
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 10_000).unref();
  });
  t.ok(closedByServer, 'the server closes the connection, the body still unsent');
  t.equal(bodiesRead, 0, 'no handler ran');

  const missing = await sendRaw(port, rawGet('/nothing'));
  t.equal(missing.status, 404);
  t.same(JSON.parse(missing.body), { ERROR: 'nothing here', ERROR_CODE: 'E_NOT_FOUND' });
  const put = await sendRaw(port, 'PUT /nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\ncontent-length: 0\r\n\r\n');
  t.equal(put.status, 405, 'unrouted chose 405 for another method');
  t.match(put.headers, /\r\nallow: GET/i);
  t.equal(errorCodeOf(put), 'E_BAD_REQUEST');

  const broken = await sendRaw(port, rawGet('/item/%zz'));
  t.equal(broken.status, 400, 'a path parameter with broken percent-encoding is the client\'s 400');
  t.equal(errorCodeOf(broken), 'E_BAD_REQUEST', 'with the same body as every refusal');
  const res = await fetch(`http://127.0.0.1:${port}/sort?sort=NAME`);
  t.equal(res.status, 400);
  t.same(await res.json(), { ERROR: 'sort must be one of ID, CPU', ERROR_CODE: 'E_FORMAT' }, 'named by the field, the empty default left out');
});

t.test('describeSchemaErrors: the first problem, in the words of the field', async (t) => {
  t.equal(describeSchemaErrors([{ keyword: 'required', instancePath: '', schemaPath: '#/required', params: { missingProperty: 'ID' }, message: "must have required property 'ID'" }], 'body').message, 'ID is required in the body');
  t.equal(describeSchemaErrors([{ keyword: 'minLength', instancePath: '/TOKEN', schemaPath: '#/properties/TOKEN/minLength', params: { limit: 1 }, message: 'must NOT have fewer than 1 characters' }], 'body').message, 'TOKEN must NOT have fewer than 1 characters');
  t.equal(describeSchemaErrors([{ keyword: 'type', instancePath: '', schemaPath: '#/type', params: { type: 'object' }, message: 'must be object' }], 'body').message, 'the body must be object');
  t.equal(describeSchemaErrors([], 'querystring').message, 'the querystring does not match its schema');
});
