// Viewers and the publisher check what boxes serve. The publisher serves the SHA-256 of every segment a
// playlist names (/hashes/), takes a viewer's report of a box that served other bytes (/report, 4xx
// for anything it cannot check, rate limited), and audits boxes itself by fetching segments back as a
// viewer would: a box whose copy no longer matches (its owner edited the file on disk) is quarantined,
// so the publisher stops listing it, the entrance leaves it out of every SEARCH reply and the dashboard
// says why.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { startRedis } from '../../test/helpers/redis.js';
import { REAL_BOXES, startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import type { RunningAgent } from '../../test/helpers/agent.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { ORIGINAL_PUBLISHERS, searchRequest } from '../../test/helpers/messages.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const API_TOKEN = 'verify-api-token-1';

async function network(t: { teardown(fn: () => unknown): void }, publisherEnv: Record<string, string>) {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, ...REAL_BOXES, DANDELION_API_TOKENS: JSON.stringify([await hashPassword(API_TOKEN)]) } });
  const boxes: RunningAgent[] = [];
  for (let i = 0; i < 2; i++) boxes.push(await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: `box-verify${i}` }));
  const r = redis.client();
  await eventually(async () => (await r.zcard(`${entrance.id}:BOX_SET`)) === boxes.length);
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_REPLICAS: '2', ...publisherEnv } });
  await eventually(() => pub.publisher.pool.ready().length === boxes.length);
  return { entrance, boxes, pub };
}

async function urlsOf(base: string, file: string): Promise<string[]> {
  const res = await fetch(`${base}/files/${file}`);
  return res.status === 200 ? ((await res.json()) as { URLS: string[] }).URLS : [];
}

/** Write a segment into the watched folder and wait until both boxes confirmed it. */
async function publishSegment(pub: { base: string; watchDirectory: string }, file: string): Promise<Buffer> {
  const content = randomBytes(120_000);
  mkdirSync(path.dirname(path.join(pub.watchDirectory, file)), { recursive: true });
  writeFileSync(path.join(pub.watchDirectory, file), content);
  await eventually(async () => (await urlsOf(pub.base, file)).length === 2, 20_000);
  return content;
}

/** What a box owner with root can do: change the stored copy in place, same size, after it was confirmed. */
function alterOnDisk(box: RunningAgent, publisherId: string, file: string): void {
  const fd = openSync(path.join(box.baseDirectory, publisherId, file), 'r+');
  writeSync(fd, Buffer.alloc(64, 0x47), 0, 64, 5_000);
  closeSync(fd);
}

t.test('an audit catches a box that altered a segment, and the box is quarantined everywhere', async (t) => {
  const { entrance, boxes, pub } = await network(t, { DANDELION_AUDIT_RATE: '1' });
  const [cheat, honest] = boxes as [RunningAgent, RunningAgent];
  const content = await publishSegment(pub, 'live/seg0.ts');
  alterOnDisk(cheat, pub.id, 'live/seg0.ts');

  // A client that does not verify (native HLS on Safari) would get the altered bytes from that box.
  const cheatUrl = (await urlsOf(pub.base, 'live/seg0.ts')).find((u) => u.startsWith(cheat.httpBase));
  t.ok(cheatUrl, 'the box that altered its copy is listed until the audit');
  const served = Buffer.from(await (await fetch(cheatUrl ?? '')).arrayBuffer());
  t.not(sha(served), sha(content), 'that box serves other bytes than the publisher sent');

  const dropped = await eventually(async () => !(await urlsOf(pub.base, 'live/seg0.ts')).some((u) => u.startsWith(cheat.httpBase)), 20_000, 100);
  t.ok(dropped, 'the audit made the publisher stop listing the box');
  t.same(await urlsOf(pub.base, 'live/seg0.ts'), [`${honest.httpBase}/${pub.id}/live/seg0.ts`], 'the honest copy is still listed');
  const redirect = await fetch(`${pub.base}/r/live/seg0.ts`, { redirect: 'manual' });
  t.equal(redirect.headers.get('location'), `${honest.httpBase}/${pub.id}/live/seg0.ts`, '/r/ sends viewers to the honest box');
  t.ok(pub.publisher.pool.ready().every((c) => c.boxId !== cheat.boxId), 'no socket to the quarantined box is used for sending');

  // The next SEARCH tells the entrance; every publisher's SEARCH leaves the box out from then on.
  const other = await connectPeer(entrance.url);
  t.teardown(() => other.close());
  const left = await eventually(async () => {
    const reply = await other.ask(searchRequest('publisher-other'));
    const set = Object.keys((reply.BOX_SET ?? {}) as Record<string, unknown>);
    return set.includes(honest.boxId) && !set.includes(cheat.boxId);
  }, 20_000, 200);
  t.ok(left, 'another publisher\'s SEARCH no longer lists the quarantined box');

  const base = entrance.url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const row = (await (await fetch(`${base}/api/boxes/${cheat.boxId}`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as { BOX: { QUARANTINE: { REASON: string; PATH: string; PUBLISHER: string } | null } };
  t.match(row.BOX.QUARANTINE, { REASON: /SHA-256/, PATH: 'live/seg0.ts', PUBLISHER: pub.id }, 'the dashboard API shows the quarantine and why');
  const honestRow = (await (await fetch(`${base}/api/boxes/${honest.boxId}`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as { BOX: { QUARANTINE: unknown } };
  t.equal(honestRow.BOX.QUARANTINE, null, 'the honest box is not quarantined');
  const list = (await (await fetch(`${base}/api/boxes?state=quarantined`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as { BOXES: Array<{ ID: string }> };
  t.same(list.BOXES.map((b) => b.ID), [cheat.boxId], 'the fleet list filters quarantined boxes');

  // What a SEARCH may say about quarantine is checked by the codec (a refused message ends its socket);
  // a box the entrance does not know is ignored.
  const askFresh = async (msg: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const peer = await connectPeer(entrance.url);
    try {
      return await peer.ask(msg);
    } finally {
      await peer.close();
    }
  };
  t.match(await askFresh(searchRequest('publisher-other', { QUARANTINE: 'all of them' })), { ERROR_CODE: 'E_FORMAT' }, 'QUARANTINE that is not a list: E_FORMAT');
  const many = Array.from({ length: 17 }, (_, i) => ({ BOX_ID: `box-x${i}`, REASON: 'r', PATH: 'p' }));
  t.match(await askFresh(searchRequest('publisher-other', { QUARANTINE: many })), { ERROR_CODE: 'E_TOO_BIG' }, 'more than 16 entries: E_TOO_BIG');
  t.match(await askFresh(searchRequest('publisher-other', { QUARANTINE: [{ BOX_ID: 'not-a-box', REASON: 'r', PATH: 'p' }] })), { ERROR_CODE: 'E_ID' }, 'a BOX_ID that is not one: E_ID');
  t.match(await other.ask(searchRequest('publisher-other', { QUARANTINE: [{ BOX_ID: 'box-nobody', REASON: 'r', PATH: 'p' }] })), { COMMAND: 'SEARCH' }, 'an unknown box is answered as usual');
  const listAgain = (await (await fetch(`${base}/api/boxes?state=quarantined`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as { BOXES: Array<{ ID: string }> };
  t.same(listAgain.BOXES.map((b) => b.ID), [cheat.boxId], '… and not recorded');
  t.equal((await fetch(`${base}/api/boxes/${cheat.boxId}/unquarantine`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).status, 405, 'clearing is POST only');

  // A new segment goes only to boxes not quarantined.
  writeFileSync(path.join(pub.watchDirectory, 'live/seg1.ts'), randomBytes(50_000));
  await eventually(async () => (await urlsOf(pub.base, 'live/seg1.ts')).length >= 1);
  await new Promise((r) => setTimeout(r, 500));
  t.notOk((await urlsOf(pub.base, 'live/seg1.ts')).some((u) => u.startsWith(cheat.httpBase)), 'no new copy goes to the quarantined box');

  // The operator clears it: SEARCH lists it again, and the publisher's later SEARCHes do not undo that.
  const cleared = await fetch(`${base}/api/boxes/${cheat.boxId}/unquarantine`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}` } });
  t.equal(cleared.status, 200, 'an operator clears the quarantine');
  await new Promise((r) => setTimeout(r, 1_500)); // three of the publisher's SEARCH periods
  const listed = Object.keys(((await other.ask(searchRequest('publisher-other'))).BOX_SET ?? {}) as Record<string, unknown>);
  t.ok(listed.includes(cheat.boxId), 'SEARCH lists the cleared box again');
  t.ok(pub.publisher.quarantined.has(cheat.boxId), 'the publisher that saw the altered bytes still does not use it');
});

t.test('/hashes lists a playlist\'s segments; /report takes only a box and file it can check', async (t) => {
  const { boxes, pub } = await network(t, { DANDELION_AUDIT_RATE: '0' });
  const content = await publishSegment(pub, 'live/seg0.ts');
  writeFileSync(path.join(pub.watchDirectory, 'live/index.m3u8'), '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg0.ts\n#EXTINF:2,\nseg9.ts\n');

  const hashes = await fetch(`${pub.base}/hashes/live/index.m3u8`);
  t.equal(hashes.status, 200);
  t.same(await hashes.json(), { PLAYLIST: 'live/index.m3u8', SHA256: { 'live/seg0.ts': sha(content) } }, 'the hash of each segment the publisher holds');
  t.equal((await fetch(`${pub.base}/hashes/live/nothing.m3u8`)).status, 404, 'no such playlist: 404');
  t.equal((await fetch(`${pub.base}/hashes/live/seg0.ts`)).status, 404, 'not a playlist: 404');

  const report = (body: string, type = 'application/json'): Promise<Response> => fetch(`${pub.base}/report`, { method: 'POST', headers: { 'content-type': type }, body });
  const honestUrl = (await urlsOf(pub.base, 'live/seg0.ts'))[0] ?? '';
  const bad: Array<[string, string, string?]> = [
    ['not json', '{'],
    ['an array', '[]'],
    ['no URL', JSON.stringify({ PATH: 'live/seg0.ts' })],
    ['a URL that is not one', JSON.stringify({ PATH: 'live/seg0.ts', URL: 'nope' })],
    ['a file the publisher does not know', JSON.stringify({ PATH: 'live/other.ts', URL: honestUrl })],
    ['a box that does not hold it', JSON.stringify({ PATH: 'live/seg0.ts', URL: `http://127.0.0.1:1/${pub.id}/live/seg0.ts` })],
    ['a path that climbs out', JSON.stringify({ PATH: '../etc/passwd', URL: honestUrl })],
    ['a huge body', JSON.stringify({ PATH: 'x'.repeat(100_000), URL: honestUrl })],
    ['a form', 'PATH=live/seg0.ts', 'application/x-www-form-urlencoded'],
  ];
  for (const [what, body, type] of bad) {
    const res = await report(body, type);
    t.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
  }
  t.equal((await fetch(`${pub.base}/report`)).status, 405, 'GET /report: 405');
  t.equal((await fetch(`${pub.base}/stats`)).status, 200, 'the publisher still answers');

  const good = await report(JSON.stringify({ PATH: 'live/seg0.ts', URL: honestUrl }));
  t.equal(good.status, 202, 'a report of a box that holds the file is taken');
  t.match(await good.json(), { BOX: boxes.some((b) => honestUrl.startsWith(b.httpBase)) ? /^box-verify/ : 'x' }, 'it names the box to audit');
  let limited = 0;
  for (let i = 0; i < 40; i++) if ((await report(JSON.stringify({ PATH: 'live/seg0.ts', URL: honestUrl }))).status === 429) limited += 1;
  t.ok(limited > 0, `a viewer sending many reports is refused (${limited} of 40 with 429)`);
  await new Promise((r) => setTimeout(r, 1_500));
  t.equal((await urlsOf(pub.base, 'live/seg0.ts')).length, 2, 'a report alone quarantines nothing: the audit found the honest copy matching');
  t.ok(pub.publisher.pool.ready().length === 2, 'both boxes still used');
});
