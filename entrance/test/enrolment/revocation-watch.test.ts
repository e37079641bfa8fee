// A revocation published on this Redis (by any entrance, or the CLI) closes the revoked box's sockets
// on this entrance with the REVOKED close code and drops the box from the registry; other boxes stay.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { silentLogger } from '../../../shared/src/log.js';
import { Close, decodeMessage } from '../../../shared/src/protocol/index.js';
import { enrolmentKeys } from '../../../shared/src/redis-keys.js';
import { RevocationWatch } from '../../src/enrolment/revocation-watch.js';
import { handlerContext } from '../../../test/helpers/handler-context.js';
import { boxExchange } from '../../../test/helpers/messages.js';
import { startRedis } from '../../../test/helpers/redis.js';

/** A WebSocket server on a free port whose server-side sockets are handed to `onSocket`. */
async function socketPair(t: { teardown(fn: () => unknown): void }, onSocket: (ws: WebSocket, name: string) => void): Promise<(name: string) => Promise<WebSocket>> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => onSocket(ws, req.url?.slice(1) ?? ''));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return async (name) => {
    const client = new WebSocket(`ws://127.0.0.1:${port}/${name}`);
    await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
    return client;
  };
}

const closeCode = (ws: WebSocket): Promise<number> => new Promise((resolve) => ws.once('close', (code) => resolve(code)));

t.test('a published revocation closes that box\'s sockets and drops it from the registry', async (t) => {
  const redisServer = await startRedis(t);
  const redis = redisServer.client();
  const { ctx, keys } = handlerContext(redis);
  const watch = new RevocationWatch({ redis, registry: ctx.registry, log: silentLogger() });
  await watch.start();
  t.teardown(() => watch.stop());
  const connect = await socketPair(t, (ws, name) => watch.track(ws, name));
  const [revokedA, revokedB, other] = await Promise.all([connect('box-revoked'), connect('box-revoked'), connect('box-other')]);
  const decoded = decodeMessage(boxExchange('box-revoked'));
  if (decoded.kind !== 'EXCHANGE') throw new Error('test message did not decode');
  await ctx.registry.upsert(decoded.msg, undefined);
  const closes = Promise.all([closeCode(revokedA), closeCode(revokedB)]);
  await redis.publish(enrolmentKeys().revokedChannel, 'box-revoked');
  t.same(await closes, [Close.REVOKED, Close.REVOKED], 'both sockets of the revoked box close with REVOKED');
  let registered = true;
  for (let i = 0; i < 200 && registered; i++) {
    registered = (await redis.zscore(keys.boxSet, 'box-revoked')) !== null;
    if (registered) await new Promise((r) => setTimeout(r, 10));
  }
  t.notOk(registered, 'the box left the registry');
  t.equal(other.readyState, WebSocket.OPEN, 'another box\'s socket stays open');
  other.close();
});

t.test('a socket that closed before the revocation is forgotten, not closed again', async (t) => {
  const redisServer = await startRedis(t);
  const redis = redisServer.client();
  const { ctx } = handlerContext(redis);
  const watch = new RevocationWatch({ redis, registry: ctx.registry, log: silentLogger() });
  await watch.start();
  t.teardown(() => watch.stop());
  const serverSide: WebSocket[] = [];
  const connect = await socketPair(t, (ws, name) => {
    serverSide.push(ws);
    watch.track(ws, name);
  });
  const client = await connect('box-left');
  const closed = closeCode(client);
  client.close(1000, 'bye');
  t.equal(await closed, 1000, 'the box closed its own socket');
  await new Promise((r) => setTimeout(r, 50));
  await redis.publish(enrolmentKeys().revokedChannel, 'box-left');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(serverSide[0]?.readyState, WebSocket.CLOSED, 'the closed socket stays closed and nothing throws');
});
