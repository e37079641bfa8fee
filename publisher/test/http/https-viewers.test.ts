// Viewers on HTTPS pages. With VIEWER_TLS_CERT_FILE/KEY_FILE (a certificate from a real CA made by openssl,
// test-ca.ts) the viewer server speaks HTTPS. A playlist, /r/ or /files/ asked for over HTTPS names boxes
// by their HTTPS_URL only; a segment whose boxes have none comes from the origin (an http:// URL would be
// blocked as mixed content). The same server's plain-HTTP twin keeps the boxes' http:// URLs. A half-set
// or unusable pair is refused naming the key, and `dandelion publisher` exits 2 before it starts anything.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { ConfigError } from '../../../shared/src/config/spec.js';
import { silentLogger } from '../../../shared/src/log.js';
import { publisherKeys } from '../../../shared/src/redis-keys.js';
import { BoxPool } from '../../src/boxes/pool.js';
import { createWebServer } from '../../src/http/server.js';
import { loadViewerTls } from '../../src/http/viewer-tls.js';
import { Viewers } from '../../src/http/viewers.js';
import { FileIndex } from '../../src/upload/file-index.js';
import { runDandelion } from '../../../test/helpers/cli.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { createTestCa } from '../../../test/helpers/test-ca.js';

const PUBLISHER = 'publisher-tls';
const ca = createTestCa();
const HTTPS_BASES: Record<string, string> = { 'box-a': 'https://box-a.boxes.test:7073/' };

function tlsFiles(): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-viewer-tls-'));
  const pair = ca.serverPair('publisher.test');
  writeFileSync(path.join(dir, 'cert.pem'), pair.certPem);
  writeFileSync(path.join(dir, 'key.pem'), pair.keyPem);
  return { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
}

/** GET over HTTPS from a client that trusts only the test root and expects the name publisher.test. */
function secureGet(port: number, target: string): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: target, servername: 'publisher.test', ca: ca.rootPem, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    }).once('error', reject);
  });
}

async function twinServers(t: Test) {
  const redis = await startRedis(t);
  const watch = mkdtempSync(path.join(os.tmpdir(), 'dandelion-web-'));
  mkdirSync(path.join(watch, 'live'), { recursive: true });
  const index = new FileIndex(redis.client(), publisherKeys(PUBLISHER));
  const viewers = new Viewers({ locate: () => undefined, placeOfBox: () => undefined, scoreOfBox: () => 50 });
  const files = tlsFiles();
  const tls = loadViewerTls({ VIEWER_TLS_CERT_FILE: files.cert, VIEWER_TLS_KEY_FILE: files.key });
  const deps = { publisherId: PUBLISHER, watchDirectory: watch, index, viewers, replicasWanted: 1, holdBackMs: 0, log: silentLogger(), boxCount: () => 2, auditBox: () => undefined, httpsBaseOf: (id: string) => HTTPS_BASES[id] };
  const secure = createWebServer({ ...deps, ...(tls ? { tls } : {}) });
  const plain = createWebServer(deps);
  const securePort = await secure.listen('127.0.0.1', 0);
  const plainPort = await plain.listen('127.0.0.1', 0);
  t.teardown(() => secure.stop());
  t.teardown(() => plain.stop());
  return { watch, index, securePort, plainBase: `http://127.0.0.1:${plainPort}` };
}

t.test('over HTTPS, boxes are named by HTTPS_URL; a box without one falls back to the origin; plain HTTP keeps http://', async (t) => {
  const { watch, index, securePort, plainBase } = await twinServers(t);
  writeFileSync(path.join(watch, 'live', 'index.m3u8'), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\ns0.ts\n#EXTINF:2.0,\ns1.ts\n');
  for (const s of ['s0', 's1']) {
    writeFileSync(path.join(watch, 'live', `${s}.ts`), randomBytes(1_000));
    index.seen(`live/${s}.ts`, 60);
  }
  // s0 is on box-a (which has HTTPS_URL); s1 only on box-b (which has none).
  await index.confirm('live/s0.ts', 'box-a', `http://10.0.0.1:7072/${PUBLISHER}/live/s0.ts`, 1_000, 'ab'.repeat(32), 60);
  await index.confirm('live/s1.ts', 'box-b', `http://10.0.0.2:7072/${PUBLISHER}/live/s1.ts`, 1_000, 'ab'.repeat(32), 60);

  const secure = await secureGet(securePort, '/hls/live/index.m3u8');
  t.equal(secure.status, 200, 'the viewer server speaks HTTPS with the configured certificate');
  t.match(secure.body, new RegExp(`^https://box-a\\.boxes\\.test:7073/${PUBLISHER}/live/s0\\.ts$`, 'm'), 'a box with HTTPS_URL: its https:// URL');
  t.match(secure.body, /^\/origin\/live\/s1\.ts$/m, 'a box without HTTPS_URL: the origin instead');
  t.notMatch(secure.body, /http:\/\//, 'no http:// URL on an HTTPS page');

  const plain = await (await fetch(`${plainBase}/hls/live/index.m3u8`)).text();
  t.match(plain, new RegExp(`^http://10\\.0\\.0\\.1:7072/${PUBLISHER}/live/s0\\.ts$`, 'm'), 'plain HTTP: the box\'s HTTP_URL');
  t.match(plain, new RegExp(`^http://10\\.0\\.0\\.2:7072/${PUBLISHER}/live/s1\\.ts$`, 'm'));

  t.equal((await secureGet(securePort, '/r/live/s0.ts')).location, `https://box-a.boxes.test:7073/${PUBLISHER}/live/s0.ts`, '/r/ over HTTPS: the https:// copy');
  t.equal((await secureGet(securePort, '/r/live/s1.ts')).location, '/origin/live/s1.ts', '/r/ over HTTPS without one: the origin');
  t.same(JSON.parse((await secureGet(securePort, '/files/live/s1.ts')).body), { FILE_PATH: 'live/s1.ts', URLS: [] }, '/files/ over HTTPS lists no http:// copy');
  t.equal((await fetch(`${plainBase}/r/live/s1.ts`, { redirect: 'manual' })).headers.get('location'), `http://10.0.0.2:7072/${PUBLISHER}/live/s1.ts`, '/r/ over HTTP: the http:// copy');
});

t.test('the pool takes a box\'s HTTPS_URL from SEARCH only when it is an https:// URL', async (t) => {
  const redis = await startRedis(t);
  const pool = new BoxPool({
    redis: redis.client(), keys: publisherKeys(PUBLISHER), minPeers: 0, sendTimeoutMs: 1_000, maxFrameBytes: 1024, log: silentLogger(),
    hello: () => ({ ID: PUBLISHER, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' }),
  });
  t.teardown(() => pool.stop());
  const box = (id: string, httpsUrl: string | undefined) => ({
    ID: id, IP: '127.0.0.1', PORT: 7071, TYPE: 'BOX' as const, COMMAND: 'EXCHANGE' as const, RANK: 1,
    CONNECT_WS: `ws://127.0.0.1:9/dandelion/${id}/ws/`, HTTP_URL: 'http://127.0.0.1:7072/', ...(httpsUrl ? { HTTPS_URL: httpsUrl } : {}),
  });
  await pool.update({ 'box-a': box('box-a', 'https://box-a.boxes.test:7073'), 'box-b': box('box-b', 'http://box-b.boxes.test:7073/'), 'box-c': box('box-c', undefined) });
  t.equal(pool.get('box-a')?.httpsUrl, 'https://box-a.boxes.test:7073/');
  t.equal(pool.get('box-b')?.httpsUrl, undefined, 'an http:// URL is no HTTPS_URL');
  t.equal(pool.get('box-c')?.httpsUrl, undefined);
});

t.test('VIEWER_TLS_CERT_FILE and VIEWER_TLS_KEY_FILE: both or neither, readable, and a pair', async (t) => {
  const files = tlsFiles();
  const other = tlsFiles();
  const refusedKey = (cfg: { VIEWER_TLS_CERT_FILE: string; VIEWER_TLS_KEY_FILE: string }): string | undefined => {
    try {
      loadViewerTls(cfg);
      return undefined;
    } catch (err) {
      return err instanceof ConfigError ? err.problems[0]?.key : 'not a ConfigError';
    }
  };
  t.equal(loadViewerTls({ VIEWER_TLS_CERT_FILE: '', VIEWER_TLS_KEY_FILE: '' }), undefined, 'neither: plain HTTP');
  t.equal(refusedKey({ VIEWER_TLS_CERT_FILE: files.cert, VIEWER_TLS_KEY_FILE: '' }), 'VIEWER_TLS_KEY_FILE', 'a certificate without its key');
  t.equal(refusedKey({ VIEWER_TLS_CERT_FILE: '', VIEWER_TLS_KEY_FILE: files.key }), 'VIEWER_TLS_CERT_FILE', 'a key without its certificate');
  t.equal(refusedKey({ VIEWER_TLS_CERT_FILE: '/nonexistent/cert.pem', VIEWER_TLS_KEY_FILE: files.key }), 'VIEWER_TLS_CERT_FILE', 'an unreadable certificate');
  t.equal(refusedKey({ VIEWER_TLS_CERT_FILE: files.cert, VIEWER_TLS_KEY_FILE: other.key }), 'VIEWER_TLS_KEY_FILE', 'a key of another certificate');
  t.equal(refusedKey({ VIEWER_TLS_CERT_FILE: files.key, VIEWER_TLS_KEY_FILE: files.key }), 'VIEWER_TLS_KEY_FILE', 'a key where the certificate belongs');

  const run = await runDandelion(['publisher'], { DANDELION_VIEWER_TLS_CERT_FILE: files.cert, DANDELION_REDIS_URL: 'redis://127.0.0.1:9/0' });
  t.equal(run.code, 2, 'dandelion publisher exits 2');
  t.match(run.stderr, /VIEWER_TLS_KEY_FILE/, 'naming the key');
});
