// The peers' few HTTP requests (enrolment challenges, UPnP SOAP calls) on node:http: status, headers and a
// bounded body; a silent server or a closed port is an error, never a hang; and enrolment no longer loads
// fetch's undici (with its WebAssembly parser, about 27 MiB of a box's memory).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { httpRequest } from '../src/http-request.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

async function server(t: { teardown(fn: () => unknown): void }, handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => s.close(r)));
  t.teardown(() => s.closeAllConnections());
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

t.test('status, headers, body; a POST body arrives whole', async (t) => {
  let got = '';
  const url = await server(t, (req, res) => {
    req.setEncoding('utf8');
    req.on('data', (c: string) => (got += c));
    req.on('end', () => res.writeHead(201, 'Made', { date: 'Sat, 05 Dec 2026 10:00:00 GMT', 'content-type': 'application/json' }).end('{"NONCE":"abc"}'));
  });
  const r = await httpRequest(`${url}/enrol`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ID":"box-1"}', timeoutMs: 5000, maxBodyBytes: 1024 });
  t.equal(got, '{"ID":"box-1"}', 'the body reached the server');
  t.same([r.status, r.statusText, r.ok, r.text, r.truncated], [201, 'Made', true, '{"NONCE":"abc"}', false]);
  t.equal(r.headers.date, 'Sat, 05 Dec 2026 10:00:00 GMT', 'headers by lower-case name');
  const notFound = await httpRequest(`${url}/x`, { method: 'GET', timeoutMs: 5000, maxBodyBytes: 1024 });
  t.ok(notFound.status === 201 && notFound.ok, 'a second request on the same server');
});

t.test('a long body is cut at the bound and said to be; errors and silence reject', async (t) => {
  const url = await server(t, (req, res) => {
    if (req.url === '/big') res.end('x'.repeat(100_000));
    else if (req.url === '/redirect') res.writeHead(302, { location: '/big' }).end();
    // /silent: never answers
  });
  const big = await httpRequest(`${url}/big`, { method: 'GET', timeoutMs: 5000, maxBodyBytes: 1000 });
  t.same([big.text.length, big.truncated], [1000, true], 'kept 1000 bytes, truncated');
  const redirect = await httpRequest(`${url}/redirect`, { method: 'GET', timeoutMs: 5000, maxBodyBytes: 1000 });
  t.equal(redirect.status, 302, 'a redirect is returned, not followed');
  await t.rejects(httpRequest(`${url}/silent`, { method: 'GET', timeoutMs: 300, maxBodyBytes: 1000 }), /no answer in 300 ms/, 'a silent server times out');
  await t.rejects(httpRequest('http://127.0.0.1:1/', { method: 'GET', timeoutMs: 2000, maxBodyBytes: 10 }), { code: 'ECONNREFUSED' }, 'a closed port is refused');
});

t.test('enrolment\'s challenge goes out without loading fetch (undici)', async (t) => {
  const url = await server(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"NONCE":"n1"}'));
  // A fresh Node, so what this test file loaded does not count.
  const creds = path.join(HERE, '../src/enrolment/peer-credentials.js');
  const codec = path.join(HERE, '../src/enrolment/codec.js');
  const script = `const { PeerCredentials } = await import(${JSON.stringify(creds)}); const { newBoxKey } = await import(${JSON.stringify(codec)});
const headers = await new PeerCredentials('box-1', newBoxKey(), undefined).upgradeHeaders(${JSON.stringify(`${url.replace('http', 'ws')}/dandelion/ws/`)});
process.stdout.write(JSON.stringify({ headers, undici: process.moduleLoadList.some((m) => m.includes('undici')) }));`;
  // Asynchronously: the server answering it runs in this process.
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  const out = JSON.parse(stdout) as { headers: Record<string, string> | undefined; undici: boolean };
  t.ok(out.headers && Object.values(out.headers).includes('n1'), 'the challenge\'s nonce is in the upgrade headers');
  t.equal(out.undici, false, 'undici was never loaded');
});
