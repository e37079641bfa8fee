// Files reach REPLICAS boxes, confirmed by size and SHA-256, from all three sources (watched folder,
// the original's Redis list, `dandelion publisher push`); a box that refuses or dies is replaced by
// another; /files and /r answer where a file is; /hls rewrites playlists to box URLs.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { REAL_BOXES, startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import type { RunningAgent } from '../../test/helpers/agent.js';
import { startPublisher } from '../../test/helpers/publisher.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function network(t: { teardown(fn: () => unknown): void }, boxEnv: Array<Record<string, string>> = [{}, {}, {}]) {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const boxes: RunningAgent[] = [];
  for (const [i, env] of boxEnv.entries()) boxes.push(await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: `box-n${i}`, env }));
  const r = redis.client();
  await eventually(async () => (await r.zcard(`${entrance.id}:BOX_SET`)) === boxes.length);
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url] });
  await eventually(() => pub.publisher.pool.ready().length === boxes.length);
  return { redis, r, entrance, boxes, pub };
}

async function urlsOf(base: string, file: string): Promise<string[]> {
  const res = await fetch(`${base}/files/${file}`);
  return res.status === 200 ? ((await res.json()) as { URLS: string[] }).URLS : [];
}

t.test('three sources, two confirmed copies each, served by the boxes', async (t) => {
  const { r, pub } = await network(t);
  // 1. the watched folder
  const seg = randomBytes(150_000);
  mkdirSync(path.join(pub.watchDirectory, 'live'), { recursive: true });
  writeFileSync(path.join(pub.watchDirectory, 'live', 'seg1.ts'), seg);
  const urls = await eventually(async () => ((await urlsOf(pub.base, 'live/seg1.ts')).length === 2 ? urlsOf(pub.base, 'live/seg1.ts') : undefined));
  t.equal(urls?.length, 2, 'on REPLICAS boxes');
  t.equal(new Set(urls?.map((u) => new URL(u).host)).size, 2, 'on distinct boxes');
  for (const u of urls ?? []) t.equal(sha(Buffer.from(await (await fetch(u)).arrayBuffer())), sha(seg), `${u} serves the same bytes`);
  const processed = await r.hgetall(`${pub.id}:FILE:PROCESSED_FILES:live/seg1.ts`);
  t.equal(Object.keys(processed).length, 2, 'PROCESSED_FILES lists both boxes');
  t.ok((await r.ttl(`${pub.id}:FILE:PROCESSED_FILES:live/seg1.ts`)) > 0, 'until the TTL passes');

  // 2. the original's Redis list, with a file outside the watched folder (sent under its base name)
  const outside = path.join(path.dirname(pub.watchDirectory), 'extra.bin');
  writeFileSync(outside, 'from the queue');
  await r.rpush(`${pub.id}:FILE:FILES_SENDING_QUEUE`, JSON.stringify({ FILE_PATH: outside, TTL: 30 }), 'not json', JSON.stringify({ TTL: 5 }));
  t.ok(await eventually(async () => (await urlsOf(pub.base, 'extra.bin')).length === 2), 'queued file delivered');
  t.equal(await (await fetch((await urlsOf(pub.base, 'extra.bin'))[0] as string)).text(), 'from the queue');
  const rejected = await eventually(async () => ((await r.llen(`${pub.id}:FILE:REJECTED`)) === 2 ? r.lrange(`${pub.id}:FILE:REJECTED`, 0, -1) : undefined));
  t.equal(rejected?.length, 2, 'unreadable queue entries kept with their reason');
  t.match(JSON.parse(rejected?.[0] ?? '{}'), { TASK: 'not json' });

  // 3. the CLI, as a separate process with the same publisher ID
  const pushed = path.join(path.dirname(pub.watchDirectory), 'pushed.bin');
  writeFileSync(pushed, randomBytes(70_000));
  const cli = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const env = { ...process.env, ...pub.configEnv, DANDELION_RUN_DIRECTORY: path.join(path.dirname(pub.watchDirectory), 'cli') };
    const p = spawn(BIN, ['publisher', 'push', pushed, '--ttl', '40'], { env });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
  t.equal(cli.code, 0, cli.out);
  t.match(cli.out, /sent pushed\.bin: confirmed by box-n\d, box-n\d/);
  t.equal(Object.keys(await r.hgetall(`${pub.id}:FILE:PROCESSED_FILES:pushed.bin`)).length, 2);
});

t.test('redirects and playlists', async (t) => {
  const { pub } = await network(t, [{}, {}]);
  mkdirSync(path.join(pub.watchDirectory, 'live'), { recursive: true });
  writeFileSync(path.join(pub.watchDirectory, 'live', 's0.ts'), randomBytes(20_000));
  writeFileSync(path.join(pub.watchDirectory, 'live', 's1.ts'), randomBytes(20_000));
  t.ok(await eventually(async () => (await urlsOf(pub.base, 'live/s1.ts')).length === 2 && (await urlsOf(pub.base, 'live/s0.ts')).length === 2));
  writeFileSync(path.join(pub.watchDirectory, 'live', 'index.m3u8'), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\ns0.ts\n#EXTINF:2.0,\ns1.ts\n');

  const r1 = await fetch(`${pub.base}/r/live/s0.ts`, { redirect: 'manual' });
  t.equal(r1.status, 302);
  t.equal(r1.headers.get('cache-control'), 'no-cache');
  const first = r1.headers.get('location') as string;
  t.ok((await urlsOf(pub.base, 'live/s0.ts')).includes(first), 'to a box holding it');
  const r2 = await fetch(`${pub.base}/r/live/s0.ts?exclude=${encodeURIComponent(new URL(first).host)}`, { redirect: 'manual' });
  t.not(r2.headers.get('location'), first, 'exclude names a failed box: another copy');
  const r3 = await fetch(`${pub.base}/r/live/missing.ts`, { redirect: 'manual' });
  t.equal(r3.headers.get('location'), '/origin/live/missing.ts', 'origin when no box has it');
  t.equal((await fetch(`${pub.base}/files/live/missing.ts`)).status, 404);
  t.equal((await fetch(`${pub.base}/origin/../etc/passwd`)).status, 404);
  t.equal((await fetch(`${pub.base}/origin/%2e%2e/%2e%2e/etc/passwd`)).status, 404, 'no escape from the watched folder');

  const playlist = await fetch(`${pub.base}/hls/live/index.m3u8`);
  t.equal(playlist.status, 200);
  t.equal(playlist.headers.get('cache-control'), 'no-cache');
  const text = await playlist.text();
  const uris = text.split('\n').filter((l) => l && !l.startsWith('#'));
  t.equal(uris.length, 2);
  for (const u of uris) t.match(u, /^http:\/\/127\.0\.0\.1:\d+\/publisher-test\/live\/s[01]\.ts$/, 'segments point at boxes');
  const cookie = playlist.headers.get('set-cookie')?.split(';')[0] as string;
  const again = await (await fetch(`${pub.base}/hls/live/index.m3u8`, { headers: { cookie } })).text();
  t.equal(again, text, 'the same viewer gets the same URIs on reload');
  t.equal((await fetch(`${pub.base}/origin/live/s0.ts`)).status, 200, 'the origin serves the original');
});

t.test('a box that refuses or dies is replaced', async (t) => {
  const { pub, boxes } = await network(t, [{}, {}, { DANDELION_DISK_RESERVE_MB: String(1024 * 1024 * 1024) }]);
  writeFileSync(path.join(pub.watchDirectory, 'a.ts'), randomBytes(10_000));
  t.ok(await eventually(async () => (await urlsOf(pub.base, 'a.ts')).length === 2), 'two copies despite a refusing box');
  const hosts = (await urlsOf(pub.base, 'a.ts')).map((u) => new URL(u).port);
  t.notOk(hosts.includes(String(boxes[2]?.status.httpPort)), 'not on the box that refused (disk reserve)');

  const victim = boxes[0] as RunningAgent;
  await victim.stop();
  t.ok(await eventually(async () => !(await urlsOf(pub.base, 'a.ts')).some((u) => new URL(u).port === String(victim.status.httpPort))), 'viewers no longer sent to the dead box');
  writeFileSync(path.join(pub.watchDirectory, 'b.ts'), randomBytes(10_000));
  const b = await eventually(async () => ((await urlsOf(pub.base, 'b.ts')).length >= 1 ? urlsOf(pub.base, 'b.ts') : undefined));
  t.same(b?.map((u) => new URL(u).port), [String(boxes[1]?.status.httpPort)], 'new files go to the boxes still alive that accept them');
});

t.test('SEARCH fails over to another entrance', async (t) => {
  const redis = await startRedis(t);
  const a = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const b = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  await startAgent(t, { redisUrl: redis.url, entranceUrls: [a.url, b.url], boxId: 'box-both' });
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [a.url, b.url] });
  t.ok(await eventually(() => pub.publisher.pool.ready().length === 1));
  t.equal(pub.publisher.search.current, a.url);
  await a.stop();
  t.ok(await eventually(() => pub.publisher.search.current === b.url), 'moved to the second entrance');
  const r = redis.client();
  const before = await r.hget(`${pub.id}:SEARCH:box-both`, 'ID');
  t.equal(before, 'box-both', 'boxes still known through it ({ID}:SEARCH:<box>)');
  t.ok(await r.zscore(`${pub.id}:BOX_RANKING`, 'box-both'), 'ranked in {ID}:BOX_RANKING');
});

t.test('large files sent at once to one box go out within what the box lets one socket hold', async (t) => {
  // A box holds at most one largest frame (MAX_FILE_MB, 50) per socket before it answers and closes a
  // socket that sends more with 1013; three 20 MB files queued together must still all arrive.
  const { pub } = await network(t, [{}]);
  const files = [1, 2, 3].map((n) => ({ name: `vod/part${n}.mp4`, content: randomBytes(20 * 1024 * 1024) }));
  mkdirSync(path.join(pub.watchDirectory, 'vod'), { recursive: true });
  for (const f of files) writeFileSync(path.join(pub.watchDirectory, f.name), f.content);
  for (const f of files) {
    const urls = await eventually(async () => ((await urlsOf(pub.base, f.name)).length === 1 ? urlsOf(pub.base, f.name) : undefined), 60_000);
    t.equal(urls?.length, 1, `${f.name} delivered`);
    t.equal(sha(Buffer.from(await (await fetch(urls?.[0] as string)).arrayBuffer())), sha(f.content), `${f.name} intact`);
  }
});
