// The publisher's web server, built in-process on a real watched folder, file index and Redis: each route
// answers with its content type, cache rule and access-control-allow-origin; /origin/ sends exactly the
// bytes it announced, closes the file, counts what it sent (HEAD sends and counts nothing) and refuses
// anything but a regular file; /hls/ rewrites a playlist, sets the viewer cookie once and says 502 for a
// file that is no playlist; /files and /r say where a file is; every refusal carries ERROR and
// ERROR_CODE; anything but GET and HEAD is 405 with `allow`.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { publisherKeys } from '../../../shared/src/redis-keys.js';
import { createWebServer } from '../../src/http/server.js';
import type { WebServer } from '../../src/http/server.js';
import { Viewers } from '../../src/http/viewers.js';
import { FileIndex } from '../../src/upload/file-index.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { rawGet, sendRaw } from '../../../test/helpers/raw-http.js';

const PUBLISHER = 'publisher-web';

interface Site {
  base: string;
  port: number;
  watch: string;
  index: FileIndex;
  web: WebServer;
}

async function site(t: Test): Promise<Site> {
  const redis = await startRedis(t);
  const watch = path.join(mkdtempSync(path.join(os.tmpdir(), 'dandelion-web-')), 'live');
  mkdirSync(path.join(watch, 'live'), { recursive: true });
  const index = new FileIndex(redis.client(), publisherKeys(PUBLISHER));
  const viewers = new Viewers({ locate: () => undefined, placeOfBox: () => undefined, scoreOfBox: () => 50 });
  const web = createWebServer({ publisherId: PUBLISHER, watchDirectory: watch, index, viewers, replicasWanted: 2, holdBackMs: 0, log: silentLogger(), boxCount: () => 3, auditBox: () => undefined, httpsBaseOf: () => undefined });
  const port = await web.listen('127.0.0.1', 0);
  t.teardown(() => web.stop());
  return { base: `http://127.0.0.1:${port}`, port, watch, index, web };
}

/** File descriptors of this process open on `file`. */
function openOn(file: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === file) n += 1;
    } catch {
      /* intentional: closed while listed */
    }
  }
  return n;
}

async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

t.test('the page, its scripts and /stats', async (t) => {
  const { base } = await site(t);
  const page = await fetch(`${base}/`);
  t.equal(page.status, 200);
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  t.equal(page.headers.get('cache-control'), 'no-cache');
  t.equal(page.headers.get('access-control-allow-origin'), '*');
  const html = await page.text();
  t.match(html, `<body data-publisher-id="${PUBLISHER}">`, 'the page names its publisher for the script');
  t.match(html, '<script src="/static/hls.min.js"></script>');
  t.match(html, '<script type="module" src="/static/viewer.js"></script>');
  t.notMatch(html, /<script>/, 'no inline script');

  const player = await fetch(`${base}/static/viewer.js`);
  t.equal(player.status, 200);
  t.equal(player.headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.equal(player.headers.get('cache-control'), 'no-cache', 'changes with the page, so never cached');
  t.match(await player.text(), /function failoverLoader\(Base\)/);
  const hls = await fetch(`${base}/static/hls.min.js`);
  t.equal(hls.status, 200);
  t.equal(hls.headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.equal(hls.headers.get('cache-control'), 'public, max-age=86400');
  t.ok((await hls.arrayBuffer()).byteLength > 100_000, 'hls.js itself');
  t.equal((await fetch(`${base}/static/hls.js`)).status, 404, 'no other file of the hls.js package');

  const stats = await fetch(`${base}/stats`);
  t.equal(stats.headers.get('cache-control'), 'no-store');
  t.equal(stats.headers.get('content-type'), 'application/json; charset=utf-8');
  t.same(await stats.json(), { ID: PUBLISHER, ORIGIN_BYTES: 0, ORIGIN_SEGMENT_BYTES: 0, ORIGIN_REQUESTS: 0, FILES: 0, BOXES: 3 });
});

t.test('/origin/: the regular file, its exact length, counted once it is sent; HEAD reads nothing', async (t) => {
  const { base, watch, web } = await site(t);
  const segment = randomBytes(300_000);
  const file = path.join(watch, 'live', 'seg 1.ts');
  writeFileSync(file, segment);

  const res = await fetch(`${base}/origin/live/seg%201.ts`);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'video/mp2t');
  t.equal(res.headers.get('content-length'), '300000');
  t.equal(res.headers.get('cache-control'), 'public, max-age=60');
  t.equal(res.headers.get('access-control-allow-origin'), '*');
  t.same(Buffer.from(await res.arrayBuffer()), segment, 'the bytes of the file');
  t.ok(await eventually(() => web.origin.bytes === 300_000), 'counted when the answer has finished');
  t.same(web.origin, { bytes: 300_000, segmentBytes: 300_000, requests: 1 });
  t.ok(await eventually(() => openOn(file) === 0), 'the file is closed afterwards');

  const head = await sendRaw(Number(new URL(base).port), `HEAD /origin/live/seg%201.ts HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`);
  t.equal(head.status, 200);
  t.match(head.headers, /\r\ncontent-length: 300000/i, 'HEAD announces the length');
  t.equal(head.body, '', 'and sends no byte');
  t.same(web.origin, { bytes: 300_000, segmentBytes: 300_000, requests: 1 }, 'HEAD is not counted');
  t.ok(await eventually(() => openOn(file) === 0), 'HEAD closes the file too');

  writeFileSync(path.join(watch, 'live', 'index.m3u8'), '#EXTM3U\n');
  writeFileSync(path.join(watch, 'empty.vtt'), '');
  const playlist = await fetch(`${base}/origin/live/index.m3u8`);
  t.equal(playlist.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  t.equal(playlist.headers.get('cache-control'), 'no-cache', 'a playlist changes with every segment');
  t.equal(await playlist.text(), '#EXTM3U\n');
  const empty = await fetch(`${base}/origin/empty.vtt`);
  t.equal(empty.status, 200);
  t.equal(empty.headers.get('content-length'), '0');
  t.equal(empty.headers.get('content-type'), 'text/vtt');
  t.ok(await eventually(() => web.origin.requests === 3), 'every GET is a request');
  t.equal(web.origin.segmentBytes, 300_000, 'only segments count as segment bytes');
});

t.test('/origin/ refuses what is no regular file of the folder, like a missing one', async (t) => {
  const { base, port, watch } = await site(t);
  const outside = path.join(path.dirname(watch), 'secret.ts');
  writeFileSync(outside, 'secret');
  symlinkSync(outside, path.join(watch, 'link.ts'));
  mkdirSync(path.join(watch, 'dir.ts'));
  for (const target of ['/origin/missing.ts', '/origin/link.ts', '/origin/dir.ts', '/origin/', '/origin/live/', '/origin/%2e%2e/secret.ts', '/origin/..%2Fsecret.ts', '/origin/%zz.ts', '/origin/a%00b.ts']) {
    const answer = await sendRaw(port, rawGet(target));
    t.equal(answer.status, 404, `${target}: 404`);
    t.same(JSON.parse(answer.body), { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' }, `${target}: the body every unknown name gets`);
    t.notMatch(answer.text, /secret/, `${target}: nothing of the file`);
    t.match(answer.headers, /\r\naccess-control-allow-origin: \*/i, `${target}: refusals allow any origin too`);
    t.match(answer.headers, /\r\ncache-control: no-store/i, `${target}: and are never cached`);
  }
  t.equal((await fetch(`${base}/origin/link.ts`)).headers.get('access-control-allow-origin'), '*');
});

t.test('/hls/: the playlist rewritten, the viewer cookie set once; refusals say why', async (t) => {
  const { base, watch, index } = await site(t);
  writeFileSync(path.join(watch, 'live', 'index.m3u8'), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\ns0.ts\n');
  writeFileSync(path.join(watch, 'live', 's0.ts'), randomBytes(1_000));
  index.seen('live/s0.ts', 60); // as the watcher does when the segment appears (HOLD_BACK is 0 here)
  writeFileSync(path.join(watch, 'broken.m3u8'), '<html>not a playlist</html>');

  const first = await fetch(`${base}/hls/live/index.m3u8`);
  t.equal(first.status, 200);
  t.equal(first.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  t.equal(first.headers.get('cache-control'), 'no-cache');
  t.equal(first.headers.get('access-control-allow-origin'), '*');
  t.match(await first.text(), /^\/origin\/live\/s0\.ts$/m, 'a segment no box holds comes from the origin');
  const setCookie = first.headers.get('set-cookie') ?? '';
  t.match(setCookie, /^dandelion_viewer=[0-9a-f]{32};/, 'a new viewer gets an ID');
  for (const attribute of [/; Path=\//, /; HttpOnly/, /; SameSite=Lax/, /; Max-Age=86400/]) t.match(setCookie, attribute);
  const cookie = setCookie.split(';')[0] ?? '';
  const again = await fetch(`${base}/hls/live/index.m3u8`, { headers: { cookie } });
  t.equal(again.headers.get('set-cookie'), null, 'a known viewer keeps its ID');
  const forged = await fetch(`${base}/hls/live/index.m3u8`, { headers: { cookie: 'dandelion_viewer=not-one-of-ours' } });
  t.match(forged.headers.get('set-cookie') ?? '', /^dandelion_viewer=[0-9a-f]{32};/, 'an ID this publisher never made is replaced');

  const refusals: Array<[string, number, Record<string, string>]> = [
    ['/hls/live/s0.ts', 404, { ERROR: '/hls/ serves playlists (.m3u8) only', ERROR_CODE: 'E_NOT_FOUND' }],
    ['/hls/live/missing.m3u8', 404, { ERROR: 'no such playlist', ERROR_CODE: 'E_NOT_FOUND' }],
    ['/hls/..%2Fx.m3u8', 404, { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' }],
  ];
  for (const [target, status, body] of refusals) {
    const res = await fetch(`${base}${target}`);
    t.equal(res.status, status, `${target}: ${status}`);
    t.same(await res.json(), body, `${target}: ${body.ERROR}`);
  }
  const broken = await fetch(`${base}/hls/broken.m3u8`);
  t.equal(broken.status, 502, 'a file that is no playlist: the fault is upstream');
  t.match(await broken.json(), { ERROR: /^the source playlist could not be read: not an HLS playlist/, ERROR_CODE: 'E_FORMAT' });
});

t.test('/files and /r say where a file is', async (t) => {
  const { base, index } = await site(t);
  const missing = await fetch(`${base}/files/live/s0.ts`);
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('cache-control'), 'no-store');
  t.same(await missing.json(), { ERROR: 'no box holds this file', ERROR_CODE: 'E_NOT_FOUND', FILE_PATH: 'live/s0.ts', URLS: [] });

  index.seen('live/s0.ts', 60);
  t.same(await (await fetch(`${base}/files/live/s0.ts`)).json(), { FILE_PATH: 'live/s0.ts', URLS: [] }, 'seen, on no box yet');
  const toOrigin = await fetch(`${base}/r/live/s0.ts`, { redirect: 'manual' });
  t.equal(toOrigin.status, 302);
  t.equal(toOrigin.headers.get('location'), '/origin/live/s0.ts', 'the origin when no box has it');
  t.equal(toOrigin.headers.get('cache-control'), 'no-cache');
  t.equal(toOrigin.headers.get('access-control-allow-origin'), '*');
  t.equal(toOrigin.headers.get('content-length'), '0');
  const odd = await fetch(`${base}/r/live/a%20b%3Fc.ts`, { redirect: 'manual' });
  t.equal(odd.headers.get('location'), '/origin/live/a%20b%3Fc.ts', 'the name stays one name in the origin URL');

  const a = `http://10.0.0.1:7072/${PUBLISHER}/live/s0.ts`;
  const b = `http://10.0.0.2:7072/${PUBLISHER}/live/s0.ts`;
  await index.confirm('live/s0.ts', 'box-a', a, 1_000, 'ab'.repeat(32), 60);
  await index.confirm('live/s0.ts', 'box-b', b, 1_000, 'ab'.repeat(32), 60);
  const urls = (await (await fetch(`${base}/files/live/s0.ts`)).json()) as { URLS: string[] };
  t.same([...urls.URLS].sort(), [a, b]);
  const best = (await fetch(`${base}/r/live/s0.ts`, { redirect: 'manual' })).headers.get('location') ?? '';
  t.ok([a, b].includes(best), 'to a box holding it');
  const other = await fetch(`${base}/r/live/s0.ts?exclude=${encodeURIComponent(new URL(best).host)}`, { redirect: 'manual' });
  t.equal(other.headers.get('location'), best === a ? b : a, 'not to the box the viewer says failed');
});

t.test('read-only: any other method is 405 with allow; unknown paths are 404', async (t) => {
  const { port } = await site(t);
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
    for (const target of ['/', '/origin/live/s0.ts', '/nothing/here']) {
      const answer = await sendRaw(port, `${method} ${target} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      t.equal(answer.status, 405, `${method} ${target}: 405`);
      t.match(answer.headers, /\r\nallow: GET, HEAD/i, `${method} ${target}: allow`);
      t.match(answer.headers, /\r\naccess-control-allow-origin: \*/i);
      t.same(JSON.parse(answer.body), { ERROR: 'method not allowed', ERROR_CODE: 'E_BAD_REQUEST' });
    }
  }
  for (const target of ['/nothing', '/stats/', '/static/', '/hls', '/files']) {
    const answer = await sendRaw(port, rawGet(target));
    t.equal(answer.status, 404, `${target}: 404`);
    t.same(JSON.parse(answer.body), { ERROR: 'not found', ERROR_CODE: 'E_NOT_FOUND' });
  }
});
