// Reachability verdicts through a running entrance with REQUIRE_REACHABLE on: a real agent (nginx and its
// own socket server) on loopback is reachable (manual); a box whose ports are closed gets forward-port with
// the ports to forward, is left out of SEARCH, and comes back once its ports answer; the verdict is in
// Redis under dandelion:REACHABILITY:<box> for every entrance, with the registry entry's TTL, shown on the
// dashboard's /api/boxes, and gone with the box; the HTTPS port is probed by a TLS handshake naming the
// box; a box over IPv6 is probed at its IPv6 address.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { eventually, startAgent } from '../../../test/helpers/agent.js';
import { boxPages } from '../../../test/helpers/box-pages.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { handlerContext } from '../../../test/helpers/handler-context.js';
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../../test/helpers/messages.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { connectPeer } from '../../../test/helpers/ws-client.js';
import type { TestPeer } from '../../../test/helpers/ws-client.js';
import { hashPassword } from '../../../shared/src/password.js';
import { decodeMessage } from '../../../shared/src/protocol/index.js';
import { reachabilityKeys } from '../../../shared/src/redis-keys.js';
import { handleExchange } from '../../src/handlers/exchange.js';
import { probe } from '../../src/reachability/probe.js';
import { probeTargets } from '../../src/reachability/targets.js';

const keys = reachabilityKeys();
const REQUIRED = { ...ORIGINAL_PUBLISHERS, DANDELION_REQUIRE_REACHABLE: 'true' };

/** A port nothing listens on (just freed). */
async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Heartbeat until the reply's REACHABILITY is no longer `checking`; the last reply. */
async function heartbeatUntilJudged(peer: TestPeer, msg: Record<string, unknown>, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  let reply = await peer.ask(msg);
  await eventually(async () => (reply = await peer.ask(msg)).REACHABILITY !== 'checking', timeoutMs, 100);
  return reply;
}

async function searchIds(publisher: TestPeer): Promise<string[]> {
  return Object.keys((await publisher.ask(searchRequest('publisher-reach'))).BOX_SET as object);
}

t.test('a real agent on loopback is reachable (manual) and listed by SEARCH', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: REQUIRED });
  const agent = await startAgent(t, { redisUrl: redis.url, entranceUrls: [url] });
  const client = redis.client();
  t.teardown(() => client.disconnect());
  t.equal(await eventually(async () => (await client.hget(keys.box(agent.boxId), 'verdict')) === 'reachable', 15_000, 100), true, 'the agent\'s viewer and publisher ports answered');
  const stored = await client.hgetall(keys.box(agent.boxId));
  t.equal(stored.method, 'manual', 'no port mapping, IPv4: forwarded by hand (here: nothing in between)');
  t.match(stored.probes, new RegExp(`^viewer:\\d+:ok,publisher:${agent.status.boxPort}:ok$`));
  t.match(stored.advice, /can be reached from the internet/);
  const publisher = await connectPeer(url);
  t.teardown(() => publisher.close());
  t.same(await searchIds(publisher), [agent.boxId], 'SEARCH lists it');
});

t.test('closed ports: forward-port, left out of SEARCH until the ports answer', async (t) => {
  const redis = await startRedis(t);
  let offset = 0;
  const { url } = await startEntrance(t, { redisUrl: redis.url, now: () => Date.now() + offset, env: REQUIRED });
  const viewerPort = await closedPort();
  const publisherPort = await closedPort();
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  const id = 'box-closed-ports';
  const msg = boxExchange(id, {
    HTTP_URL: `http://127.0.0.1:${viewerPort}/`, CONNECT_WS: `ws://127.0.0.1:${publisherPort}/dandelion/${id}/ws/`,
    LAN_IP: '192.168.1.23', PORT_MAPPING: 'none', ROUTER_EXTERNAL_IP: '127.0.0.1',
  });

  const first = await box.ask(msg);
  t.equal(first.REACHABILITY, 'checking', 'the first heartbeat does not wait for the probe');
  t.notOk('REACHABLE' in first, 'REACHABLE stays absent until a probe finished');
  t.same(await searchIds(publisher), [], 'a box being checked is not listed');
  const judged = await heartbeatUntilJudged(box, msg);
  t.equal(judged.REACHABILITY, 'forward-port');
  t.equal(judged.REACHABLE, false);
  t.notOk('REACHABILITY_METHOD' in judged);
  t.equal(judged.REACHABILITY_ADVICE, `Your router does not allow automatic port forwarding. Forward TCP ${viewerPort} and ${publisherPort} to 192.168.1.23, or turn on UPnP.`);
  t.same(await searchIds(publisher), [], 'SEARCH leaves it out');

  // The household forwards the ports; the entrance tries an unreachable box again within 30 s.
  await boxPages(t, '127.0.0.1', viewerPort, id);
  await boxPages(t, '127.0.0.1', publisherPort, id);
  offset += 31_000;
  let reply = await box.ask(msg);
  await eventually(async () => (reply = await box.ask(msg)).REACHABILITY === 'reachable', 10_000, 100);
  t.equal(reply.REACHABILITY, 'reachable');
  t.equal(reply.REACHABILITY_METHOD, 'manual');
  t.equal(reply.REACHABLE, true);
  t.same(await searchIds(publisher), [id], 'listed again once reachable');
});

t.test('the verdict in Redis: registry TTL, on the dashboard, gone with the box', async (t) => {
  const redis = await startRedis(t);
  const tokens = JSON.stringify([await hashPassword('script-token-123')]);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...REQUIRED, DANDELION_API_TOKENS: tokens, DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '2' } });
  const port = await boxPages(t, '127.0.0.1', 0, 'box-ttl');
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const client = redis.client();
  t.teardown(() => client.disconnect());
  const msg = boxExchange('box-ttl', { HTTP_URL: `http://127.0.0.1:${port}/`, CONNECT_WS: `ws://127.0.0.1:${port}/dandelion/box-ttl/ws/`, PORT_MAPPING: 'upnp', ROUTER_EXTERNAL_IP: '127.0.0.1' });
  t.equal((await heartbeatUntilJudged(box, msg)).REACHABILITY_METHOD, 'upnp');
  const ttl = await client.ttl(keys.box('box-ttl'));
  t.ok(ttl > 0 && ttl <= 2, `expires with the registry entry (TTL ${ttl} s)`);

  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const listed = (await (await fetch(`${base}/api/boxes`, { headers: { authorization: 'Bearer script-token-123' } })).json()) as { BOXES: Array<Record<string, unknown>> };
  const row = listed.BOXES.find((b) => b.ID === 'box-ttl');
  t.equal(row?.REACHABILITY, 'reachable', '/api/boxes shows the verdict');
  t.equal(row?.REACHABILITY_METHOD, 'upnp');
  t.match(String(row?.REACHABILITY_ADVICE), /mapped by UPnP/);
  const sorted = await fetch(`${base}/api/boxes?sort=REACHABILITY&order=desc`, { headers: { authorization: 'Bearer script-token-123' } });
  t.equal(sorted.status, 200, 'the list sorts by verdict');
  t.equal(((await sorted.json()) as { BOXES: Array<Record<string, unknown>> }).BOXES[0]?.REACHABILITY, 'reachable');

  // The box goes silent: its verdict goes when its registry entry does.
  t.ok(await eventually(async () => (await client.exists(keys.box('box-ttl'))) === 0, 10_000, 100), 'gone after ENTRANCE_EXPIRE_BOX_TIME without an EXCHANGE');
});

t.test('a revoked box\'s verdict is deleted with its registry entry', async (t) => {
  const redis = await startRedis(t);
  const client = redis.client();
  t.teardown(() => client.disconnect());
  const { ctx } = handlerContext(client);
  const decoded = decodeMessage(boxExchange('box-revoked'));
  if (decoded.kind !== 'EXCHANGE') throw new Error('not an EXCHANGE');
  await handleExchange(decoded.msg, { remoteIp: '127.0.0.1' }, ctx);
  t.equal(await client.hget(keys.box('box-revoked'), 'verdict'), 'checking', 'written with the heartbeat');
  t.ok((await client.ttl(keys.box('box-revoked'))) > 0, 'with a TTL');
  await ctx.registry.remove('box-revoked'); // what a revocation does, on the heartbeat or through the revocation channel
  t.equal(await client.exists(keys.box('box-revoked')), 0);
});

t.test('the HTTPS port: a TLS handshake with the box\'s name as SNI', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reach-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=box-tls.boxes.example.net',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const names: string[] = [];
  const server = tls.createServer({
    key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')),
    SNICallback: (servername, done) => {
      names.push(servername);
      done(null);
    },
  }, (socket) => socket.end());
  const plain = net.createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  for (const s of [server, plain]) {
    const open = new Set<net.Socket>();
    s.on('connection', (socket: net.Socket) => open.add(socket.once('close', () => open.delete(socket))));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    t.teardown(() => {
      for (const socket of open) socket.destroy();
      return new Promise<void>((r) => s.close(() => r()));
    });
  }
  const httpsTarget = (port: number) => {
    const d = decodeMessage(boxExchange('box-tls', { HTTPS_URL: `https://box-tls.boxes.example.net:${port}/` }));
    if (d.kind !== 'EXCHANGE') throw new Error('not an EXCHANGE');
    const target = probeTargets('127.0.0.1', d.msg).find((p) => p.role === 'https');
    if (target === undefined) throw new Error('no https probe');
    return target;
  };
  t.equal(await probe(httpsTarget((server.address() as AddressInfo).port), 'box-tls'), 'ok', 'the handshake worked (the certificate is not judged here)');
  t.same(names, ['box-tls.boxes.example.net'], 'SNI named the box, the address probed was the socket\'s');
  t.equal(await probe(httpsTarget((plain.address() as AddressInfo).port), 'box-tls'), 'tls-failed', 'something answered, but no TLS');
  t.equal(await probe(httpsTarget(await closedPort()), 'box-tls'), 'refused');
});

t.test('a box over IPv6 is probed at its IPv6 address: reachable (ipv6)', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...REQUIRED, DANDELION_ENTRANCE_IP: '::1' } });
  const port = await boxPages(t, '::1', 0, 'box-six');
  const box = await connectPeer(url.replace(/\/\/[^/]+\//, `//[::1]:${new URL(url).port}/`));
  t.teardown(() => box.close());
  const msg = boxExchange('box-six', { IP: '::1', HTTP_URL: `http://[::1]:${port}/`, CONNECT_WS: `ws://[::1]:${port}/dandelion/box-six/ws/`, LAN_IP: '::1', PORT_MAPPING: 'none' });
  const reply = await heartbeatUntilJudged(box, msg);
  t.equal(reply.PUBLIC_IP, '::1');
  t.equal(reply.REACHABILITY, 'reachable');
  t.equal(reply.REACHABILITY_METHOD, 'ipv6');
});
