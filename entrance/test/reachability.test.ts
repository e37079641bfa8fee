// The entrance's check that a box's viewer port answers at the address its socket comes from: the
// box's own status page must answer with its ID; anything else (refused, another box, not JSON) is
// "unreachable". Results come from background probes and are reused for a while. Through a running
// entrance, the probe goes only to the address the box's socket came from (after TRUSTED_PROXIES):
// neither X-Forwarded-For from an untrusted peer nor an IP or HTTP_URL host in EXCHANGE can aim it elsewhere.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WebSocket } from 'ws';
import { eventually } from '../../test/helpers/agent.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { boxExchange } from '../../test/helpers/messages.js';
import { startRedis } from '../../test/helpers/redis.js';
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

/** A status page on `host`:`port` (0: any) that counts its requests and answers as box `id`. */
async function statusPage(t: { teardown(fn: () => unknown): void }, host: string, port: number, id: string): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ID: id }));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, hits: () => hits };
}

/** Heartbeat as `id` from source address `from` with `headers` until the reply says REACHABLE (or 10 s pass); the last reply. */
async function heartbeatUntilProbed(url: string, from: string, headers: Record<string, string>, msg: Record<string, unknown>): Promise<Record<string, unknown>> {
  const ws = new WebSocket(url, { headers, localAddress: from });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  const ask = (): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      ws.once('message', (data) => resolve(JSON.parse(data.toString()) as Record<string, unknown>));
      ws.send(JSON.stringify(msg));
    });
  let reply = await ask();
  await eventually(async () => 'REACHABLE' in (reply = await ask()), 10_000, 100);
  ws.close();
  return reply;
}

t.test('a box cannot aim the probe: only its socket\'s address (after trusted proxies) is probed', async (t) => {
  const redis = await startRedis(t);
  // The box's real page on 127.0.0.1, and a "third party" on 127.0.0.2 at the same port (all of 127/8 is this machine).
  const box = await statusPage(t, '127.0.0.1', 0, 'box-aim');
  const victim = await statusPage(t, '127.0.0.2', box.port, 'box-aim');
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_TRUSTED_PROXIES: '127.0.0.3' } });
  const lie = { 'x-forwarded-for': '127.0.0.2', 'x-real-ip': '127.0.0.2' };
  const aimed = boxExchange('box-aim', { IP: '127.0.0.2', HTTP_URL: `http://127.0.0.2:${box.port}/` });

  const reply = await heartbeatUntilProbed(url, '127.0.0.1', lie, aimed);
  t.equal(reply.PUBLIC_IP, '127.0.0.1', 'the box is its socket\'s address, whatever its headers and its IP field say');
  t.equal(reply.REACHABLE, true, 'probed at that address');
  t.ok(box.hits() >= 1);
  t.equal(victim.hits(), 0, 'the address named in X-Forwarded-For, X-Real-IP, IP and HTTP_URL was never contacted');

  // Through the trusted proxy (127.0.0.3) the forwarded address is the box's: then, and only then, it is probed.
  const proxied = await heartbeatUntilProbed(url, '127.0.0.3', { 'x-forwarded-for': '127.0.0.2' }, boxExchange('box-behind-proxy', { HTTP_URL: `http://127.0.0.1:${box.port}/` }));
  t.equal(proxied.PUBLIC_IP, '127.0.0.2', 'a trusted proxy\'s X-Forwarded-For names the box');
  t.ok(victim.hits() >= 1, 'probed at the forwarded address');
  t.equal(proxied.REACHABLE, false, 'the page there answers for another box ID, so this one is not reachable');
});
