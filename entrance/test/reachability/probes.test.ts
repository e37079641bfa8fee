// The entrance's probes of a box's ports at the address its socket comes from: the viewer port's status
// page must answer with the box's ID; the publisher port must answer HTTP (the agent names itself); anything
// else (refused, another box, not JSON) fails, with how it failed. Results come from background probes and
// are reused for a while. Through a running entrance, the probe goes only to the address the box's socket
// came from (after TRUSTED_PROXIES): neither X-Forwarded-For from an untrusted peer nor an IP, HTTP_URL or
// CONNECT_WS host in EXCHANGE can aim it elsewhere.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WebSocket } from 'ws';
import { eventually } from '../../../test/helpers/agent.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { boxExchange } from '../../../test/helpers/messages.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { decodeMessage } from '../../../shared/src/protocol/index.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import { Reachability } from '../../src/reachability/prober.js';
import type { PortProbe } from '../../src/reachability/verdict.js';

/** A decoded EXCHANGE of `id` whose viewer and publisher URLs name `host` at these ports. */
function exchangeOf(id: string, host: string, viewerPort: number | undefined, publisherPort: number): BoxExchange {
  const extra: Record<string, unknown> = { CONNECT_WS: `ws://${host}:${publisherPort}/dandelion/${id}/ws/` };
  if (viewerPort !== undefined) extra.HTTP_URL = `http://${host}:${viewerPort}/`;
  const d = decodeMessage(boxExchange(id, extra));
  if (d.kind !== 'EXCHANGE') throw new Error('not an EXCHANGE');
  return d.msg;
}

/** The outcome of the viewer probe, once one finished. */
const viewer = (probes: PortProbe[] | undefined): string | undefined => probes?.find((p) => p.role === 'viewer')?.outcome;

async function serve(t: { teardown(fn: () => unknown): void }, body: string): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits += 1;
    if (req.url !== '/status/status.json' && req.url !== '/dandelion/') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as AddressInfo).port, hits: () => hits };
}

t.test('probes the peer address on the HTTP_URL and CONNECT_WS ports', async (t) => {
  const good = await serve(t, JSON.stringify({ ID: 'box-good', STATUS: 'registered' }));
  const other = await serve(t, JSON.stringify({ ID: 'box-someone-else' }));
  const garbage = await serve(t, 'not json');
  const empty = await serve(t, '{}');
  let clock = 1_000_000;
  const probe = new Reachability({ now: () => clock });

  // The host in the URLs is ignored: only the socket's own address is probed.
  const msg = (id: string, port: number): BoxExchange => exchangeOf(id, '203.0.113.9', port, port);
  t.equal(probe.check('box-good', '127.0.0.1', msg('box-good', good.port)), undefined, 'not known at the first heartbeat');
  t.same(await eventually(() => probe.check('box-good', '127.0.0.1', msg('box-good', good.port)), 5_000), [
    { role: 'viewer', port: good.port, outcome: 'ok' },
    { role: 'publisher', port: good.port, outcome: 'ok' },
  ], 'both ports answered as the box');
  probe.check('box-other', '127.0.0.1', msg('box-other', other.port));
  const otherProbes = await eventually(() => probe.check('box-other', '127.0.0.1', msg('box-other', other.port)), 5_000);
  t.same(otherProbes?.map((p) => p.outcome), ['wrong-answer', 'wrong-answer'], 'another box\'s page and identity do not count');
  probe.check('box-garbage', '127.0.0.1', msg('box-garbage', garbage.port));
  const garbageProbes = await eventually(() => probe.check('box-garbage', '127.0.0.1', msg('box-garbage', garbage.port)), 5_000);
  t.same(garbageProbes?.map((p) => p.outcome), ['wrong-answer', 'ok'], 'not JSON: no status page; but any HTTP answer on the publisher port (the original\'s boxes answer an upgrade refusal)');
  probe.check('box-empty', '127.0.0.1', msg('box-empty', empty.port));
  t.equal(viewer(await eventually(() => probe.check('box-empty', '127.0.0.1', msg('box-empty', empty.port)), 5_000)), 'wrong-answer', 'a page without the box ID does not count');
  t.same(await eventually(() => probe.check('box-nohttp', '127.0.0.1', exchangeOf('box-nohttp', '127.0.0.1', undefined, good.port)), 5_000), [
    { role: 'publisher', port: good.port, outcome: 'wrong-answer' },
  ], 'no HTTP_URL: only the publisher port');
  t.equal(probe.check('box-nopeer', '', msg('box-nopeer', good.port)), undefined, 'no peer address: nothing probed');

  const hits = good.hits();
  for (let i = 0; i < 10; i++) probe.check('box-good', '127.0.0.1', msg('box-good', good.port));
  t.equal(good.hits(), hits, 'a fresh result is reused, not probed again per heartbeat');
  clock += 6 * 60_000;
  probe.check('box-good', '127.0.0.1', msg('box-good', good.port));
  t.ok(await eventually(() => good.hits() === hits + 2, 5_000), 'probed again (both ports) after a few minutes');
  const changed = exchangeOf('box-good', '203.0.113.9', good.port, other.port);
  t.equal(probe.check('box-good', '127.0.0.1', changed), undefined, 'other ports announced: the old result does not count');
});

t.test('a closed port is refused; an unreachable one times out', async (t) => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  const probe = new Reachability();
  const msg = exchangeOf('box-x', '127.0.0.1', port, port);
  probe.check('box-x', '127.0.0.1', msg);
  t.same((await eventually(() => probe.check('box-x', '127.0.0.1', msg), 5_000))?.map((p) => p.outcome), ['refused', 'refused']);

  // A listener that takes the connection and never answers stands for packets dropped on the way.
  const quiet = new Reachability({ timeoutMs: 300 });
  const held = new Set<net.Socket>();
  const silent = net.createServer((socket) => void held.add(socket));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const socket of held) socket.destroy();
    return new Promise<void>((r) => silent.close(() => r()));
  });
  const silentPort = (silent.address() as AddressInfo).port;
  const dropped = exchangeOf('box-y', '127.0.0.1', silentPort, silentPort);
  quiet.check('box-y', '127.0.0.1', dropped);
  t.same((await eventually(() => quiet.check('box-y', '127.0.0.1', dropped), 5_000))?.map((p) => p.outcome), ['timeout', 'timeout'], 'no answer: timeout');
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
  const aimed = boxExchange('box-aim', { IP: '127.0.0.2', HTTP_URL: `http://127.0.0.2:${box.port}/`, CONNECT_WS: `ws://127.0.0.2:${box.port}/dandelion/box-aim/ws/` });

  const reply = await heartbeatUntilProbed(url, '127.0.0.1', lie, aimed);
  t.equal(reply.PUBLIC_IP, '127.0.0.1', 'the box is its socket\'s address, whatever its headers and its IP field say');
  t.equal(reply.REACHABLE, true, 'probed at that address');
  t.ok(box.hits() >= 1);
  t.equal(victim.hits(), 0, 'the address named in X-Forwarded-For, X-Real-IP, IP, HTTP_URL and CONNECT_WS was never contacted');

  // Through the trusted proxy (127.0.0.3) the forwarded address is the box's: then, and only then, it is probed.
  const proxied = await heartbeatUntilProbed(url, '127.0.0.3', { 'x-forwarded-for': '127.0.0.2' },
    boxExchange('box-behind-proxy', { HTTP_URL: `http://127.0.0.1:${box.port}/`, CONNECT_WS: `ws://127.0.0.1:${box.port}/dandelion/box-behind-proxy/ws/` }));
  t.equal(proxied.PUBLIC_IP, '127.0.0.2', 'a trusted proxy\'s X-Forwarded-For names the box');
  t.ok(victim.hits() >= 1, 'probed at the forwarded address');
  t.equal(proxied.REACHABLE, false, 'the page there answers for another box ID, so this one is not reachable');
});
