// Files from publishers: the PUBLISH handshake, a <Dandelion> frame stored durably and answered with
// its size and SHA-256, served by the box's real nginx at /<publisher>/<path>, deleted at its deadline;
// refusals (traversal, size, disk reserve, no handshake) answered without closing the socket; and a
// viewer never sees a partial file while a slow upload replaces it.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { connectRaw } from '../../test/helpers/raw-ws.js';

const PUBLISH = { ID: 'publisher-tester', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function setup(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}) {
  const redis = await startRedis(t);
  // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env });
  return { redis, entrance, box };
}

t.test('publish, store, serve through nginx, expire', async (t) => {
  const { redis, box } = await setup(t, { DANDELION_EXPIRY_CRON: '* * * * * *' });
  const publisher = await connectPeer(box.status.connectWs);
  t.teardown(() => publisher.close());
  const hello = await publisher.ask(PUBLISH);
  t.equal(hello.COMMAND, 'PUBLISH');
  t.equal(hello.MESSAGE, 'ACCEPTED');
  t.equal(hello.ID, box.boxId);
  const r = redis.client();
  t.equal((await r.hgetall(`${box.boxId}:SUBSCRIBE:publisher-tester`)).ID, 'publisher-tester', 'publisher kept in {ID}:SUBSCRIBE');

  const content = randomBytes(300_000);
  const sentAt = Date.now() / 1000;
  publisher.sendRaw(encodeFrame({ FILE_PATH: '/live/seg-1.ts', TTL: 2 }, content), true);
  const ack = await publisher.next();
  const ackedAt = Date.now() / 1000;
  t.same({ COMMAND: ack.COMMAND, FILE_PATH: ack.FILE_PATH, MESSAGE: ack.MESSAGE, SIZE: ack.SIZE, SHA256: ack.SHA256 },
    { COMMAND: 'FILE', FILE_PATH: '/live/seg-1.ts', MESSAGE: 'ACCEPTED', SIZE: content.length, SHA256: sha(content) });
  t.equal(ack.ID, box.boxId, 'the reply carries the box envelope');

  const url = `${box.httpBase}/publisher-tester/live/seg-1.ts`;
  const res = await fetch(url);
  t.equal(res.status, 200);
  t.equal(sha(Buffer.from(await res.arrayBuffer())), sha(content), 'nginx serves exactly the bytes received');
  t.equal(res.headers.get('access-control-allow-origin'), '*', 'CORS for browsers on other origins');
  t.equal(res.headers.get('content-type'), 'video/mp2t');

  publisher.sendRaw(encodeFrame({ FILE_PATH: 'live/index.m3u8', TTL: 60 }, Buffer.from('#EXTM3U\n')), true);
  t.equal((await publisher.next()).MESSAGE, 'ACCEPTED');
  const playlist = await fetch(`${box.httpBase}/publisher-tester/live/index.m3u8`);
  t.equal(playlist.headers.get('cache-control'), 'no-cache', 'playlists are never cached');
  t.equal(playlist.headers.get('content-type'), 'application/vnd.apple.mpegurl');

  const score = Number(await r.zscore(`${box.boxId}:EXPIRE_FILES`, 'publisher-tester/live/seg-1.ts'));
  // The deadline is set while the file is stored: between sending it and its reply, plus the TTL
  // (bounded by those two moments, not by the clock now, which a loaded machine may have moved on).
  t.ok(score >= sentAt + 2 && score <= ackedAt + 2, `deadline from the TTL header (${score - sentAt} s after sending)`);
  t.ok(await eventually(async () => (await fetch(url)).status === 404), 'gone from nginx after its TTL');
  // The sweeper unlinks the file before it removes the entry: nginx's 404 can come first.
  t.ok(await eventually(async () => (await r.zscore(`${box.boxId}:EXPIRE_FILES`, 'publisher-tester/live/seg-1.ts')) === null), 'entry removed');
  t.notOk(existsSync(path.join(box.baseDirectory, 'publisher-tester/live/seg-1.ts')));
  t.equal((await fetch(`${box.httpBase}/publisher-tester/live/index.m3u8`)).status, 200, 'a file with a later deadline stays');
});

t.test('an original-style publisher through nginx\'s proxy', async (t) => {
  const { box } = await setup(t);
  const viaNginx = `ws://127.0.0.1:${box.status.httpPort}/dandelion/${box.boxId}/ws/`;
  const publisher = await connectPeer(viaNginx);
  t.teardown(() => publisher.close());
  t.equal((await publisher.ask(PUBLISH)).MESSAGE, 'ACCEPTED');
  const original = Buffer.concat([Buffer.from('<Dandelion>{"FILE_PATH": "/hls/index0.ts", "TTL": 120}</Dandelion>'), Buffer.from('segment bytes')]);
  publisher.sendRaw(original, true);
  t.equal((await publisher.next()).MESSAGE, 'ACCEPTED');
  t.equal(await (await fetch(`${box.httpBase}/publisher-tester/hls/index0.ts`)).text(), 'segment bytes');
});

t.test('refusals leave the socket open and store nothing', async (t) => {
  const { box } = await setup(t, { DANDELION_MAX_FILE_MB: '1' });
  const publisher = await connectPeer(box.status.connectWs);
  t.teardown(() => publisher.close());

  publisher.sendRaw(encodeFrame({ FILE_PATH: 'early.ts' }, Buffer.from('x')), true);
  t.match(await publisher.next(), { COMMAND: 'FILE', FILE_PATH: 'early.ts', ERROR_CODE: 'E_HANDSHAKE' }, 'no file before PUBLISH');
  t.equal((await publisher.ask(PUBLISH)).MESSAGE, 'ACCEPTED');

  for (const bad of ['../escape.ts', 'a/../../escape.ts', '//etc/passwd', 'a\\b.ts', 'a/./b.ts']) {
    publisher.sendRaw(encodeFrame({ FILE_PATH: bad }, Buffer.from('evil')), true);
    t.match(await publisher.next(), { COMMAND: 'FILE', FILE_PATH: bad, ERROR_CODE: 'E_PATH' }, `refused ${bad}`);
  }
  t.notOk(existsSync(path.join(box.baseDirectory, 'escape.ts')));
  t.notOk(existsSync(path.join(path.dirname(box.baseDirectory), 'escape.ts')));

  publisher.sendRaw(encodeFrame({ FILE_PATH: 'big.ts' }, Buffer.alloc(1024 * 1024 + 1)), true);
  t.match(await publisher.next(), { FILE_PATH: 'big.ts', ERROR_CODE: 'E_TOO_BIG' }, 'over MAX_FILE_MB');

  publisher.sendRaw(encodeFrame({ FILE_PATH: 'ok.ts' }, Buffer.from('fine')), true);
  t.equal((await publisher.next()).MESSAGE, 'ACCEPTED', 'the same socket still takes good files');
  t.equal((await fetch(`${box.httpBase}/.incoming/`)).status, 404, 'the temp folder is never served');
  t.equal((await fetch(`${box.httpBase}/etc/passwd`)).status, 404, 'nothing outside the publishers\' folders is served');

  publisher.sendRaw(Buffer.from('not a frame at all'), true);
  t.equal((await publisher.next()).ERROR_CODE, 'E_BINARY');
  t.equal((await publisher.closed).code, 4000, 'an unreadable frame closes the socket');
});

t.test('disk reserve', async (t) => {
  const { box } = await setup(t, { DANDELION_DISK_RESERVE_MB: String(1024 * 1024 * 1024) });
  const publisher = await connectPeer(box.status.connectWs);
  t.teardown(() => publisher.close());
  await publisher.ask(PUBLISH);
  publisher.sendRaw(encodeFrame({ FILE_PATH: 'seg.ts' }, Buffer.from('x')), true);
  t.match(await publisher.next(), { FILE_PATH: 'seg.ts', ERROR_CODE: 'E_DISK_FULL' });
  t.equal((await fetch(`${box.httpBase}/publisher-tester/seg.ts`)).status, 404);
});

t.test('a frame larger than the socket limit is refused with 1009', async (t) => {
  const { box } = await setup(t, { DANDELION_MAX_FILE_MB: '1' });
  const publisher = await connectPeer(box.status.connectWs);
  await publisher.ask(PUBLISH);
  publisher.sendRaw(encodeFrame({ FILE_PATH: 'huge.ts' }, Buffer.alloc(2 * 1024 * 1024)), true);
  t.equal((await publisher.closed).code, 1009);
});

t.test('no partial file is ever visible during a slow transfer', async (t) => {
  const { box } = await setup(t);
  const v1 = randomBytes(200_000);
  const v2 = randomBytes(1_500_000);
  const raw = await connectRaw(box.status.connectWs);
  t.teardown(() => raw.close());
  raw.sendText(JSON.stringify(PUBLISH));
  t.equal(JSON.parse(await raw.nextText()).MESSAGE, 'ACCEPTED');
  await raw.sendSlowly(encodeFrame({ FILE_PATH: 'live/seg.ts' }, v1), 1 << 20, 0);
  t.equal(JSON.parse(await raw.nextText()).SHA256, sha(v1));

  const url = `${box.httpBase}/publisher-tester/live/seg.ts`;
  const seen = new Map<string, number>();
  let uploading = true;
  const upload = raw.sendSlowly(encodeFrame({ FILE_PATH: 'live/seg.ts' }, v2), 64 * 1024, 15).then(() => raw.nextText()).finally(() => (uploading = false));
  const watcher = (async () => {
    while (uploading) {
      const body = Buffer.from(await (await fetch(url)).arrayBuffer());
      seen.set(sha(body), (seen.get(sha(body)) ?? 0) + 1);
    }
  })();
  const ack = JSON.parse(await upload) as Record<string, unknown>;
  await watcher;
  t.equal(ack.SHA256, sha(v2));
  t.ok((seen.get(sha(v1)) ?? 0) > 0, 'viewers got the old file while the new one was arriving');
  t.same([...seen.keys()].filter((h) => h !== sha(v1) && h !== sha(v2)), [], 'never anything but a whole file');
  t.equal(sha(Buffer.from(await (await fetch(url)).arrayBuffer())), sha(v2), 'then the whole new file');
});
