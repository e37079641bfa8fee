// A publisher against an entrance with REQUIRE_PUBLISHER_AUTH: it shows the grant from its SEARCH in every
// PUBLISH, so a box that checks grants takes its files; and it sends viewers only to the HTTP URL the
// entrance's SEARCH gave for a box, never to one the box names in its own replies.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { WebSocketServer } from 'ws';
import { parsePublicKey } from '../../shared/src/enrolment/codec.js';
import { splitFrame } from '../../shared/src/protocol/index.js';
import { trustKeys } from '../../shared/src/redis-keys.js';
import { verifyGrant } from '../../shared/src/trust/grant.js';
import { FleetKeys } from '../../entrance/src/trust/fleet-keys.js';
import { GRANT_SECONDS } from '../../entrance/src/trust/publisher-trust.js';
import { startRedis } from '../../test/helpers/redis.js';
import { REAL_BOXES, startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange } from '../../test/helpers/messages.js';

const AUTH = { DANDELION_REQUIRE_PUBLISHER_AUTH: 'true' };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function urlsOf(base: string, file: string): Promise<string[]> {
  const res = await fetch(`${base}/files/${file}`);
  return res.status === 200 ? ((await res.json()) as { URLS: string[] }).URLS : [];
}

t.test('a granted publisher\'s files reach a box that checks grants', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { ...AUTH, ...REAL_BOXES } });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url] });
  const r = redis.client();
  await eventually(async () => (await r.zcard(`${entrance.id}:BOX_SET`)) === 1);
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_REPLICAS: '1' } });
  t.ok(await eventually(() => pub.publisher.pool.ready().length === 1), 'the box took its PUBLISH');
  const seg = randomBytes(50_000);
  mkdirSync(path.join(pub.watchDirectory, 'live'), { recursive: true });
  writeFileSync(path.join(pub.watchDirectory, 'live', 'seg1.ts'), seg);
  const urls = await eventually(async () => ((await urlsOf(pub.base, 'live/seg1.ts')).length === 1 ? urlsOf(pub.base, 'live/seg1.ts') : undefined));
  t.same(urls, [`${box.httpBase}/${pub.id}/live/seg1.ts`], 'stored on the box');
  t.equal(sha(Buffer.from(await (await fetch(`${box.httpBase}/${pub.id}/live/seg1.ts`)).arrayBuffer())), sha(seg), 'and served by it');

  // Renewing the grant on the open socket (every minute in service) leaves the files' replies in step.
  for (let i = 0; i < 3; i++) pub.publisher.pool.renewGrant();
  writeFileSync(path.join(pub.watchDirectory, 'live', 'seg2.ts'), randomBytes(20_000));
  t.ok(await eventually(async () => (await urlsOf(pub.base, 'live/seg2.ts')).length === 1), 'a file after renewals is confirmed');
  t.equal(pub.publisher.pool.ready().length, 1, 'on the same socket');
});

t.test('viewers go to the URL the entrance vouched for, not one the box names itself', async (t) => {
  const redis = await startRedis(t);
  // Its box is a raw WebSocket server whose HTTP_URL nobody serves: not reachable, so not required to be.
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: AUTH });
  const r = redis.client();
  // A box that answers like a real one, but names another HTTP_URL in its replies and keeps the grants it is shown.
  const grants: unknown[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  await new Promise((resolve) => wss.once('listening', resolve));
  const own = { ID: 'box-liar', IP: '127.0.0.1', PORT: 7071, TYPE: 'BOX', HTTP_URL: 'http://203.0.113.9/', URL: 'http://203.0.113.9/' };
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        grants.push((JSON.parse(data.toString()) as { GRANT?: string }).GRANT);
        ws.send(JSON.stringify({ ...own, COMMAND: 'PUBLISH', MESSAGE: 'ACCEPTED' }));
        return;
      }
      const { raw, content } = splitFrame(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer));
      ws.send(JSON.stringify({ ...own, COMMAND: 'FILE', FILE_PATH: raw.FILE_PATH, MESSAGE: 'ACCEPTED', SIZE: content.length, SHA256: sha(content) }));
    });
  });
  const port = (wss.address() as AddressInfo).port;
  const vouched = 'http://127.0.0.1:9/';
  const registrar = await connectPeer(entrance.url);
  t.teardown(() => registrar.close());
  const accepted = await registrar.ask(boxExchange('box-liar', { PORT: port, CONNECT_WS: `ws://127.0.0.1:${port}/dandelion/box-liar/ws/`, HTTP_URL: vouched }));
  t.equal(accepted.MESSAGE, 'ACCEPTED');

  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_REPLICAS: '1' } });
  mkdirSync(path.join(pub.watchDirectory, 'live'), { recursive: true });
  writeFileSync(path.join(pub.watchDirectory, 'live', 'seg1.ts'), randomBytes(10_000));
  const urls = await eventually(async () => ((await urlsOf(pub.base, 'live/seg1.ts')).length === 1 ? urlsOf(pub.base, 'live/seg1.ts') : undefined));
  t.same(urls, [`${vouched}${pub.id}/live/seg1.ts`], 'the entrance\'s HTTP_URL, not the box\'s own');

  // The PUBLISH it got carried a grant for this publisher, signed by a fleet key.
  const keys = new Map(Object.entries(await new FleetKeys({ redis: r, keys: trustKeys(), grantSeconds: GRANT_SECONDS }).publicKeys()).map(([id, text]) => [id, parsePublicKey(text)!]));
  const check = verifyGrant(grants[0], keys, Math.floor(Date.now() / 1000));
  t.ok(check.ok && check.grant.PUBLISHER === pub.id, 'the PUBLISH showed the publisher\'s grant');
});
