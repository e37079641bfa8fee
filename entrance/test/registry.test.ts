// The entrance keeps the box registry in the original's Redis namespaces: registration, refresh,
// expiry (at read time and by the sweep), restart with the same ID, and GEOIP surviving Redis.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';

t.test('a box registers and is stored under the original keys', async (t) => {
  const redis = await startRedis(t);
  const { url, id } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '120' } });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const before = Date.now() / 1000;
  const reply = await box.ask(boxExchange('box-aaa', { 'BANDWIDTH-IDLE-UP': 12.5, GEOIP: { CITY: 'Taipei', LOC: '25.04,121.53' } }));
  t.equal(reply.COMMAND, 'EXCHANGE');
  t.equal(reply.MESSAGE, 'ACCEPTED');
  t.equal(reply.TYPE, 'ENTRANCE');
  t.equal(reply.ID, id);
  t.equal(reply.PUBLIC_IP, '127.0.0.1', 'the box learns its address as the entrance sees it');
  t.same(reply.ENTRANCE_URLS, [url], 'own URL first');

  const r = redis.client();
  const score = Number(await r.zscore(`${id}:BOX_SET`, 'box-aaa'));
  t.ok(score >= before + 120 && score <= Date.now() / 1000 + 120, 'BOX_SET scores the box by its expiry time');
  const hash = await r.hgetall(`${id}:EXCHANGE:box-aaa`);
  t.equal(hash.ID, 'box-aaa');
  t.equal(hash.CONNECT_WS, 'ws://127.0.0.1:7071/dandelion/box-aaa/ws/');
  t.equal(hash['BANDWIDTH-IDLE-UP'], '12.5', 'numbers stored as text, as the original did');
  t.same(JSON.parse(hash.GEOIP ?? '{}'), { CITY: 'Taipei', LOC: '25.04,121.53' });
});

t.test('every heartbeat on one socket is answered and refreshes the stored exchange', async (t) => {
  const redis = await startRedis(t);
  let now = 1_000_000_000_000;
  const { url, id } = await startEntrance(t, { redisUrl: redis.url, now: () => now, env: ORIGINAL_PUBLISHERS });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  t.equal((await box.ask(boxExchange('box-beat', { 'CPU-USR': 50, 'OLD-FIELD': 'x' }))).MESSAGE, 'ACCEPTED');
  now += 30_000;
  const second = boxExchange('box-beat', { 'CPU-USR': 7 });
  t.equal((await box.ask(second)).MESSAGE, 'ACCEPTED');
  const r = redis.client();
  t.equal(Number(await r.zscore(`${id}:BOX_SET`, 'box-beat')), now / 1000 + 120, 'expiry pushed forward');
  const hash = await r.hgetall(`${id}:EXCHANGE:box-beat`);
  t.equal(hash['CPU-USR'], '7', 'latest reading stored');
  t.notOk('OLD-FIELD' in hash, 'fields the box stopped sending are gone');
});

t.test('a silent box is hidden at read time and removed by the sweep', async (t) => {
  const redis = await startRedis(t);
  let now = 1_700_000_000_000;
  const { url, id, entrance } = await startEntrance(t, {
    redisUrl: redis.url,
    now: () => now,
    env: { ...ORIGINAL_PUBLISHERS, DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '60', DANDELION_ENTRANCE_SWEEP_FREQ: '60' },
  });
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  await box.ask(boxExchange('box-old', { GEOIP: { LOC: '1,1' } }));
  now += 30_000;
  await box.ask(boxExchange('box-new'));
  t.same(Object.keys((await publisher.ask(searchRequest())).BOX_SET as object).sort(), ['box-new', 'box-old']);

  now += 40_000; // box-old silent for 70 s > 60 s; box-new for 40 s
  const search = await publisher.ask(searchRequest('publisher-x', { GEOIP: { LOC: '1,1' } }));
  t.same(Object.keys(search.BOX_SET as object), ['box-new'], 'expired box filtered before any sweep');
  const r = redis.client();
  t.ok(await r.exists(`${id}:EXCHANGE:box-old`), 'not swept yet');
  t.equal(Number((await (await fetch(url.replace('ws:', 'http:').replace(/ws\/$/, ''))).json() as { BOXES_ONLINE: number }).BOXES_ONLINE), 1);

  await entrance.tick();
  t.equal(await r.exists(`${id}:EXCHANGE:box-old`), 0, 'exchange removed');
  t.equal(await r.zscore(`${id}:BOX_SET`, 'box-old'), null, 'BOX_SET entry removed');
  t.equal(await r.zscore(`${id}:BOX_GEO`, 'box-old'), null, 'geo index entry removed');
  t.equal(await r.zscore(`${id}:BOX_CAPACITY`, 'box-old'), null, 'capacity index entry removed');
  t.ok(await r.exists(`${id}:EXCHANGE:box-new`), 'live box kept');
});

t.test('the sweep runs by itself', async (t) => {
  const redis = await startRedis(t);
  const { url, id } = await startEntrance(t, {
    redisUrl: redis.url,
    env: { ...ORIGINAL_PUBLISHERS, DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '1', DANDELION_ENTRANCE_SWEEP_FREQ: '0.2' },
  });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  await box.ask(boxExchange('box-brief'));
  const r = redis.client();
  t.equal(await r.exists(`${id}:EXCHANGE:box-brief`), 1);
  // Poll the real sweep rather than sleeping a fixed time.
  for (let i = 0; i < 100 && (await r.exists(`${id}:EXCHANGE:box-brief`)) === 1; i++) await new Promise((res) => setTimeout(res, 100));
  t.equal(await r.exists(`${id}:EXCHANGE:box-brief`), 0, 'removed without anyone calling tick()');
});

t.test('a restarted entrance keeps its ID and its boxes', async (t) => {
  const redis = await startRedis(t);
  const first = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const box = await connectPeer(first.url);
  await box.ask(boxExchange('box-stays'));
  await box.close();
  await first.stop();

  const second = await startEntrance(t, { redisUrl: redis.url, runDirectory: first.runDirectory, env: ORIGINAL_PUBLISHERS });
  t.equal(second.id, first.id, 'same generated ID');
  const publisher = await connectPeer(second.url);
  t.teardown(() => publisher.close());
  const reply = await publisher.ask(searchRequest());
  t.same(Object.keys(reply.BOX_SET as object), ['box-stays']);
});

t.test('GEOIP goes through Redis and comes back as an object', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  const geo = { IP: '203.0.113.9', HOSTNAME: 'h.example', COUNTRY: 'TW', CITY: 'Taipei', REGION: 'Taipei City', ORG: 'AS3462 HiNet', LOC: '25.0478,121.5319' };
  await box.ask(boxExchange('box-geo', { GEOIP: geo, 'BANDWIDTH-IDLE-UP': '12.5', 'DISK-AVAIL': '0.25' }));
  const found = (await publisher.ask(searchRequest())).BOX_SET as Record<string, Record<string, unknown>>;
  const stored = found['box-geo'] as Record<string, unknown>;
  // SEARCH tells a publisher the place to city level only (handlers/search-listing.ts).
  t.same(stored.GEOIP, { COUNTRY: 'TW', CITY: 'Taipei', REGION: 'Taipei City', LOC: '25.0,121.5' }, 'nested object intact, to city level');
  t.equal(stored['BANDWIDTH-IDLE-UP'], 12.5, 'numeric strings come back as numbers');
  t.equal(stored['DISK-AVAIL'], 0.25);
  t.equal(stored.RANK, 1);
});
