// Releases at the entrance: an upload (POST /api/releases, `dandelion entrance release upload`) is stored
// only when its manifest was signed by a trusted release key and the bytes match its SIZE and SHA256; a
// forged, wrongly signed or truncated one is refused with the reason and leaves nothing in Redis. Boxes
// download the binary from <BASE_URL>/releases/<version>/<arch>, whole or by Range (206), and resume.
import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { hashPassword } from '../../../shared/src/password.js';
import { releaseKeys } from '../../../shared/src/redis-keys.js';
import { startRedis, keysLike } from '../../../test/helpers/redis.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { runDandelion } from '../../../test/helpers/cli.js';
import { makeRelease, releaseKey, sha256 } from './fixtures/releases.js';

const TOKEN = 'release-api-token';
const SIZE = 3 * 1024 * 1024 + 17; // several GETRANGE chunks and APPENDs, not a round number

t.test('uploads are verified before anything is stored; downloads answer Range and resume', async (t) => {
  const redis = await startRedis(t);
  const r = redis.client();
  const key = releaseKey();
  const { url } = await startEntrance(t, { redisUrl: redis.url, releaseKeys: key.trusted, env: { DANDELION_API_TOKENS: JSON.stringify([await hashPassword(TOKEN)]) } });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const upload = (release: string, body: Buffer): Promise<Response> =>
    fetch(`${base}/api/releases`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'x-dandelion-release': release, 'content-type': 'application/octet-stream' }, body: new Uint8Array(body) });
  const stored = async (): Promise<string[]> => (await keysLike(r, 'dandelion:RELEASE:*')).sort();
  const reason = async (res: Response): Promise<string> => String(((await res.json()) as { ERROR: string }).ERROR);

  // Refusals first: each leaves Redis as it was (empty).
  const good = makeRelease(key, '2.0.0', 'x64', SIZE);
  const stranger = releaseKey();
  const forged = makeRelease({ ...stranger, keyId: key.keyId }, '2.0.0', 'x64', 1000);
  let res = await upload(forged.line, forged.binary);
  t.equal(res.status, 400, 'a manifest signed by another key under the trusted key\'s ID is refused');
  t.match(await reason(res), /signature does not verify/);
  const untrusted = makeRelease(stranger, '2.0.0', 'x64', 1000);
  res = await upload(untrusted.line, untrusted.binary);
  t.equal(res.status, 400);
  t.match(await reason(res), /not a release key this build trusts/, 'an untrusted key is named as such');
  res = await upload(good.line, good.binary.subarray(0, SIZE - 1000));
  t.equal(res.status, 400, 'a truncated binary is refused');
  t.match(await reason(res), new RegExp(`${SIZE - 1000} bytes, the manifest's SIZE is ${SIZE}`));
  const swapped = Buffer.from(good.binary);
  swapped[12345] = (swapped[12345] as number) ^ 0xff;
  res = await upload(good.line, swapped);
  t.equal(res.status, 400, 'one byte changed: refused');
  t.match(await reason(res), /SHA-256/);
  res = await upload(good.line, Buffer.concat([good.binary, Buffer.from('x')]));
  t.equal(res.status, 400, 'one byte too many: refused');
  res = await upload('not-a-release', good.binary);
  t.equal(res.status, 400, 'no manifest: refused');
  t.same(await stored(), [], 'nothing refused left anything in Redis (no release, no half upload)');

  res = await upload(good.line, good.binary);
  t.equal(res.status, 201, 'the good release is stored');
  t.match(await res.json(), { VERSION: '2.0.0', ARCH: 'x64', SIZE, SHA256: sha256(good.binary), KEY_ID: key.keyId });
  const k = releaseKeys();
  t.same(await stored(), [k.binary('2.0.0', 'x64'), k.releases].sort(), 'its manifest and its binary, nothing else');
  t.equal(await r.ttl(k.binary('2.0.0', 'x64')), -1, 'the binary does not expire');
  const list = (await (await fetch(`${base}/api/releases`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { RELEASES: Array<{ VERSION: string; RELEASE: string }> };
  t.same(list.RELEASES.map((x) => [x.VERSION, x.RELEASE]), [['2.0.0', good.line]], 'GET /api/releases lists it with its manifest line');
  t.equal((await fetch(`${base}/api/releases`, { method: 'POST', headers: { 'x-dandelion-release': good.line }, body: new Uint8Array(good.binary) })).status, 401, 'an upload needs an operator');

  // Downloads: no login (boxes fetch them), whole or by range.
  const download = `${base}/dandelion/releases/2.0.0/x64`;
  const whole = await fetch(download);
  t.equal(whole.status, 200);
  t.equal(whole.headers.get('accept-ranges'), 'bytes');
  t.equal(whole.headers.get('content-length'), String(SIZE));
  t.equal(sha256(Buffer.from(await whole.arrayBuffer())), sha256(good.binary), 'the whole binary, byte for byte');
  // A box that got the first part before its connection dropped resumes from there.
  const cut = 1_500_001;
  const part = await fetch(download, { headers: { range: `bytes=0-${cut - 1}` } });
  t.equal(part.status, 206);
  t.equal(part.headers.get('content-range'), `bytes 0-${cut - 1}/${SIZE}`);
  const first = Buffer.from(await part.arrayBuffer());
  const rest = await fetch(download, { headers: { range: `bytes=${cut}-` } });
  t.equal(rest.status, 206);
  t.equal(rest.headers.get('content-range'), `bytes ${cut}-${SIZE - 1}/${SIZE}`);
  t.equal(sha256(Buffer.concat([first, Buffer.from(await rest.arrayBuffer())])), sha256(good.binary), 'resumed: the same bytes');
  const tail = await fetch(download, { headers: { range: 'bytes=-10' } });
  t.same(Buffer.from(await tail.arrayBuffer()), good.binary.subarray(SIZE - 10), 'a suffix range');
  const beyond = await fetch(download, { headers: { range: `bytes=${SIZE}-` } });
  t.equal(beyond.status, 416, 'a range past the end: 416');
  t.equal(beyond.headers.get('content-range'), `bytes */${SIZE}`);
  t.equal((await fetch(`${base}/dandelion/releases/2.0.1/x64`)).status, 404, 'an unknown version: 404');
  t.equal((await fetch(`${base}/dandelion/releases/2.0.0/arm64`)).status, 404, 'an architecture without a release: 404');
  t.equal((await fetch(`${base}/dandelion/releases/..%2F..%2Fetc/x64`)).status, 404, 'a path that is no version: 404');
  t.equal((await fetch(download, { method: 'POST' })).status, 405);

  res = await fetch(`${base}/api/releases/2.0.0/x64/remove`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(res.status, 200, 'removed');
  t.same(await stored(), [], 'with its binary');
});

t.test('the CLI refuses a release no trusted key signed with exit 2 and the reason, storing nothing', async (t) => {
  const redis = await startRedis(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-release-'));
  const release = makeRelease(releaseKey(), '3.0.0', 'arm64', 2048);
  writeFileSync(path.join(dir, 'agent'), release.binary);
  writeFileSync(path.join(dir, 'agent.release'), `${release.line}\n`);
  const env = { DANDELION_REDIS_URL: redis.url };
  const run = await runDandelion(['entrance', 'release', 'upload', '--binary', path.join(dir, 'agent'), '--release', path.join(dir, 'agent.release')], env);
  t.equal(run.code, 2, run.stderr);
  t.match(run.stderr, /not a release key this build trusts/);
  t.same(await keysLike(redis.client(), 'dandelion:RELEASE:*'), [], 'nothing stored');
  const usage = await runDandelion(['entrance', 'release', 'upload', '--binary', path.join(dir, 'agent')], env);
  t.equal(usage.code, 2, 'no --release: exit 2');
  t.match(usage.stderr, /--release/);
  const list = await runDandelion(['entrance', 'release', 'list', '--json'], env);
  t.equal(list.code, 0, list.stderr);
  t.same(JSON.parse(list.stdout), { RELEASES: [] });
});
