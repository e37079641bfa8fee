// SEARCH answers only publishers with an account (REQUIRE_PUBLISHER_AUTH, on by default): a stranger learns
// no box and reports no origin bytes, an enrolled publisher gets boxes trimmed to what it needs to connect,
// a revoked one is cut off and refused, nobody speaks for another publisher, and SEARCH is rate-limited.
import t from 'tap';
import type { Test } from 'tap';
import { PublisherAccounts } from '../src/publishers/accounts.js';
import { SEARCH_BURST } from '../src/handlers/search-rate.js';
import { trafficKeys } from '../../shared/src/redis-keys.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { ask, enrol, newKey, signedHeaders, upgrade } from '../../test/helpers/enrolment.js';
import type { Upgrade } from '../../test/helpers/enrolment.js';
import { boxExchange, searchRequest } from '../../test/helpers/messages.js';

async function withBox(t: Test, env: Record<string, string> = {}) {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env });
  const box = await connectPeer(entrance.url);
  t.teardown(() => box.close());
  const reply = await box.ask(boxExchange('box-a', {
    HTTP_URL: 'http://127.0.0.1:7072/', 'BANDWIDTH-UP': 50, 'BANDWIDTH-IDLE-UP': 40, 'CPU-USR': 12, TEMPERATURE: 51, 'NET-TX-BYTES': 123456, VERSION: '1.2.3', STATUS: 'registered',
    GEOIP: { IP: '203.0.113.7', HOSTNAME: 'home-7.example.net', ORG: 'AS64500 Example ISP', CITY: 'Taipei', REGION: 'Taipei', COUNTRY: 'TW', LOC: '25.03721,121.56354' },
  }));
  t.equal(reply.MESSAGE, 'ACCEPTED', 'a box is registered');
  return { redis, entrance, accounts: new PublisherAccounts(redis.client()) };
}

/** An account for `id`, its key enrolled with the token, and a socket opened with the key. */
async function enrolledPublisher(t: Test, url: string, accounts: PublisherAccounts, id: string): Promise<Extract<Upgrade, { ok: true }>> {
  const created = await accounts.create(id, 3e9);
  if (!created) throw new Error('account not created');
  const key = newKey();
  const enrolled = await enrol(url, id, key, created.token);
  t.equal(enrolled.status, 200, `${id} enrols with its token`);
  const u = await upgrade(url, await signedHeaders(url, id, key));
  if (!u.ok) throw new Error(`upgrade refused: ${JSON.stringify(u.body)}`);
  t.teardown(() => u.ws.terminate());
  return u;
}

t.test('a stranger\'s SEARCH learns no box and its ORIGIN_BYTES are not counted', async (t) => {
  const { redis, entrance } = await withBox(t);
  const stranger = await connectPeer(entrance.url);
  const reply = await stranger.ask(searchRequest('publisher-stranger', { ORIGIN_BYTES: 9_000_000_000, ORIGIN_SINCE: 1_700_000_000 }));
  t.equal(reply.ERROR_CODE, 'E_AUTH', 'refused with E_AUTH');
  t.equal(reply.BOX_SET, undefined, 'no box in the reply');
  t.notMatch(JSON.stringify(reply), /box-a|127\.0\.0\.1:7072/, 'nothing about the box at all');
  t.equal((await stranger.closed).code, 4401, 'and the socket is closed');
  const r = redis.client();
  t.same(await r.hgetall(trafficKeys().origin('publisher-stranger')), {}, 'its origin bytes were not counted');
  t.same(await r.hgetall(trafficKeys().originTotal), {}, 'nor in the fleet\'s origin total');
});

t.test('an enrolled publisher\'s SEARCH works, and each box is trimmed to what a publisher needs', async (t) => {
  const { redis, entrance, accounts } = await withBox(t);
  const pub = await enrolledPublisher(t, entrance.url, accounts, 'publisher-acme');
  const reply = await ask(pub, searchRequest('publisher-acme', { ORIGIN_BYTES: 5000, ORIGIN_SINCE: 1_700_000_000 }));
  t.equal(reply.COMMAND, 'SEARCH');
  const set = reply.BOX_SET as Record<string, Record<string, unknown>>;
  t.same(Object.keys(set), ['box-a']);
  const box = set['box-a'] ?? {};
  t.same(Object.keys(box).sort(), ['BANDWIDTH-IDLE-UP', 'BANDWIDTH-UP', 'COMMAND', 'CONNECT_WS', 'DISK-AVAIL', 'GEOIP', 'HTTP_URL', 'ID', 'IP', 'PORT', 'RANK', 'TYPE'], 'only the fields a publisher needs');
  t.equal(box.CONNECT_WS, 'ws://127.0.0.1:7071/dandelion/box-a/ws/');
  t.equal(box.HTTP_URL, 'http://127.0.0.1:7072/');
  t.equal(box.RANK, 1);
  t.same(box.GEOIP, { CITY: 'Taipei', REGION: 'Taipei', COUNTRY: 'TW', LOC: '25.0,121.6' }, 'the place to city level: no IP, host name or ISP, LOC to a tenth of a degree');
  t.equal((await redis.client().hgetall(trafficKeys().origin('publisher-acme'))).total, '5000', 'its own ORIGIN_BYTES count');
});

t.test('SEARCH as another publisher over an authenticated socket is refused', async (t) => {
  const { redis, entrance, accounts } = await withBox(t);
  await accounts.create('publisher-victim', 1e9);
  const pub = await enrolledPublisher(t, entrance.url, accounts, 'publisher-mallory');
  const reply = await ask(pub, searchRequest('publisher-victim', { ORIGIN_BYTES: 1e12, ORIGIN_SINCE: 1_700_000_000 }));
  t.equal(reply.ERROR_CODE, 'E_AUTH');
  t.equal(reply.BOX_SET, undefined);
  t.equal(await pub.closed, 4401);
  t.same(await redis.client().hgetall(trafficKeys().origin('publisher-victim')), {}, 'no origin bytes counted for the victim');
});

t.test('a revoked publisher\'s socket is closed and its next upgrade refused', async (t) => {
  const { entrance, accounts } = await withBox(t);
  const created = await accounts.create('publisher-gone', 1e9);
  if (!created) throw new Error('account not created');
  const key = newKey();
  t.equal((await enrol(entrance.url, 'publisher-gone', key, created.token)).status, 200);
  const u = await upgrade(entrance.url, await signedHeaders(entrance.url, 'publisher-gone', key));
  if (!u.ok) throw new Error('upgrade refused');
  t.ok((await ask(u, searchRequest('publisher-gone'))).BOX_SET, 'searches while its account stands');
  t.ok(await accounts.revoke('publisher-gone'));
  t.equal(await u.closed, 4403, 'its open socket is closed with 4403');
  const again = await upgrade(entrance.url, await signedHeaders(entrance.url, 'publisher-gone', key));
  t.equal(again.ok, false);
  if (!again.ok) t.same([again.status, again.body.ERROR_CODE], [403, 'E_REVOKED'], 'its next upgrade is refused');
  const reenrol = await enrol(entrance.url, 'publisher-gone', newKey(), created.token);
  t.same([reenrol.status, reenrol.body.ERROR_CODE], [403, 'E_REVOKED'], 'and its token enrols no new key');
});

t.test('unknown publishers and wrong tokens are refused at the upgrade and at enrolment', async (t) => {
  const { entrance, accounts } = await withBox(t);
  const u = await upgrade(entrance.url, await signedHeaders(entrance.url, 'publisher-nobody', newKey()));
  t.equal(u.ok, false);
  if (!u.ok) t.same([u.status, u.body.ERROR_CODE], [401, 'E_AUTH'], 'a publisher without an account is not admitted');
  const created = await accounts.create('publisher-one', 1e9);
  if (!created) throw new Error('account not created');
  const other = await enrol(entrance.url, 'publisher-two', newKey(), created.token);
  t.same([other.status, other.body.ERROR_CODE], [403, 'E_TOKEN'], 'a token enrols only its own publisher');
  const fleet = await enrol(entrance.url, 'publisher-one', newKey(), 'dlt_0123456789ab_' + 'A'.repeat(43));
  t.same([fleet.status, fleet.body.ERROR_CODE], [403, 'E_TOKEN'], 'a fleet token does not enrol a publisher');
});

t.test('SEARCH is rate-limited per publisher, answered E_RATE on a socket that stays open', async (t) => {
  const { entrance, accounts } = await withBox(t);
  const pub = await enrolledPublisher(t, entrance.url, accounts, 'publisher-busy');
  const codes: unknown[] = [];
  // Sent at once: the entrance answers them in order, far faster than the bucket refills.
  for (let i = 0; i < SEARCH_BURST * 3; i++) pub.ws.send(JSON.stringify(searchRequest('publisher-busy')));
  for (let i = 0; i < SEARCH_BURST * 3; i++) codes.push((await pub.next()).ERROR_CODE ?? 'ok');
  t.same(codes.slice(0, SEARCH_BURST), Array(SEARCH_BURST).fill('ok'), 'a burst is answered');
  t.ok(codes.filter((c) => c === 'E_RATE').length >= SEARCH_BURST / 2, `then E_RATE (${codes.filter((c) => c === 'E_RATE').length} of ${codes.length})`);
  t.equal(pub.ws.readyState, pub.ws.OPEN, 'the socket stays open');
  const other = await enrolledPublisher(t, entrance.url, accounts, 'publisher-calm');
  t.ok((await ask(other, searchRequest('publisher-calm'))).BOX_SET, 'another publisher is not slowed by it');
});

t.test('with REQUIRE_PUBLISHER_AUTH false an original publisher searches as before', async (t) => {
  const { entrance, accounts } = await withBox(t, { DANDELION_REQUIRE_PUBLISHER_AUTH: 'false' });
  const original = await connectPeer(entrance.url);
  t.teardown(() => original.close());
  const reply = await original.ask(searchRequest('publisher-original'));
  t.same(Object.keys(reply.BOX_SET as object), ['box-a'], 'an anonymous SEARCH is answered');
  await enrolledPublisher(t, entrance.url, accounts, 'publisher-owned');
  const impostor = await connectPeer(entrance.url);
  const refused = await impostor.ask(searchRequest('publisher-owned'));
  t.equal(refused.ERROR_CODE, 'E_AUTH', 'but nobody speaks anonymously for a publisher that enrolled a key');
});
