// The entrance's check that a box's viewer port answers at the address its socket comes from: the
// box's own status page must answer with its ID; anything else (refused, another box, not JSON) is
// "unreachable". Results come from background probes and are reused for a while.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { eventually } from '../../test/helpers/agent.js';
import { Reachability } from '../src/reachability.js';

async function serve(t: { teardown(fn: () => unknown): void }, body: string): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits += 1;
    if (req.url !== '/status/status.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, hits: () => hits };
}

t.test('probes the peer address on the HTTP_URL port', async (t) => {
  const good = await serve(t, JSON.stringify({ ID: 'box-good', STATUS: 'registered' }));
  const other = await serve(t, JSON.stringify({ ID: 'box-someone-else' }));
  const garbage = await serve(t, 'not json');
  const empty = await serve(t, '{}');
  let clock = 1_000_000;
  const probe = new Reachability(() => clock);

  // The host in HTTP_URL is ignored: only the socket's own address is probed.
  const url = (port: number): string => `http://203.0.113.9:${port}/`;
  t.equal(probe.check('box-good', '127.0.0.1', url(good.port)), undefined, 'not known at the first heartbeat');
  t.equal(await eventually(() => probe.check('box-good', '127.0.0.1', url(good.port)), 5_000), true, 'reachable once the probe answered');
  probe.check('box-other', '127.0.0.1', url(other.port));
  t.equal(await eventually(() => probe.check('box-other', '127.0.0.1', url(other.port)) === false, 5_000), true, 'another box\'s page does not count');
  probe.check('box-garbage', '127.0.0.1', url(garbage.port));
  t.ok(await eventually(() => probe.check('box-garbage', '127.0.0.1', url(garbage.port)) === false, 5_000), 'not JSON: unreachable');
  probe.check('box-empty', '127.0.0.1', url(empty.port));
  t.ok(await eventually(() => probe.check('box-empty', '127.0.0.1', url(empty.port)) === false, 5_000), 'a page without the box ID: unreachable');
  t.equal(probe.check('box-nohttp', '127.0.0.1', undefined), undefined, 'no HTTP_URL: nothing probed');
  t.equal(probe.check('box-ftp', '127.0.0.1', 'ftp://x/'), undefined, 'only http URLs');

  const hits = good.hits();
  for (let i = 0; i < 10; i++) probe.check('box-good', '127.0.0.1', url(good.port));
  t.equal(good.hits(), hits, 'a fresh result is reused, not probed again per heartbeat');
  clock += 6 * 60_000;
  probe.check('box-good', '127.0.0.1', url(good.port));
  t.ok(await eventually(() => good.hits() === hits + 1, 5_000), 'probed again after a few minutes');
});

t.test('a closed port is unreachable', async (t) => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  const probe = new Reachability();
  probe.check('box-x', '127.0.0.1', `http://127.0.0.1:${port}/`);
  t.ok(await eventually(() => probe.check('box-x', '127.0.0.1', `http://127.0.0.1:${port}/`) === false, 5_000), 'refused: unreachable');
});
