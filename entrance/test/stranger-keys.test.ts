// Nothing a stranger sends stays at the entrance. SEARCH needs no credentials, and each one records its
// publisher ({ID}:PUBLISHERS) and folds its ORIGIN_BYTES into dandelion:TRAFFIC:ORIGIN:<publisher>.
// Those records expire PUBLISHER_RECORD_DAYS after the publisher's last SEARCH and at most
// MAX_PUBLISHER_RECORDS are kept (oldest dropped first); a dropped publisher's origin bytes stay in the
// fleet's total, so the offload ratio does not move. /api/publishers reads the newest page only, with a
// number of Redis commands that does not grow with the number of publishers ever seen.
import t from 'tap';
import type { Redis } from 'ioredis';
import { hashPassword } from '../../shared/src/password.js';
import { ENTRANCE_SCHEMA } from '../../shared/src/config/schemas.js';
import { entranceKeys, trafficKeys } from '../../shared/src/redis-keys.js';
import { keysLike, startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';

const TOKEN = 'stranger-keys-token';

async function setup(t: { teardown(fn: () => unknown): void }, env: Record<string, string>, now?: () => number) {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, {
    redisUrl: redis.url,
    env: { ...ORIGINAL_PUBLISHERS, DANDELION_API_TOKENS: JSON.stringify([await hashPassword(TOKEN)]), ...env },
    ...(now ? { now } : {}),
  });
  const base = entrance.url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const api = async (p: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${base}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { r: redis.client(), entrance, api };
}

/** `count` SEARCH messages with new publisher IDs, each reporting 100 origin bytes, over 8 real sockets. */
async function flood(url: string, prefix: string, count: number, sockets = 8): Promise<number> {
  let answered = 0;
  await Promise.all(Array.from({ length: sockets }, async (_, s) => {
    const peer = await connectPeer(url);
    for (let i = s; i < count; i += sockets) {
      const reply = await peer.ask(searchRequest(`${prefix}-${i}`, { ORIGIN_BYTES: 100, ORIGIN_SINCE: 7 }));
      if (reply.COMMAND === 'SEARCH' && reply.ERROR === undefined) answered++;
    }
    await peer.close();
  }));
  return answered;
}

/** Redis commands run since the last CONFIG RESETSTAT, from INFO commandstats. */
async function commandsRun(r: Redis): Promise<number> {
  const info = await r.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_([a-z|_]+):calls=(\d+)/gm)) if (m[1] !== 'info' && m[1] !== 'config|resetstat') calls += Number(m[2]);
  return calls;
}

t.test('a flood of SEARCH with new IDs leaves at most MAX_PUBLISHER_RECORDS publishers', async (t) => {
  const { r, entrance, api } = await setup(t, { DANDELION_MAX_PUBLISHER_RECORDS: '50' });
  const keys = entranceKeys(entrance.id);
  const traffic = trafficKeys();
  const before = await r.dbsize();
  t.equal(await flood(entrance.url, 'publisher-flood', 300), 300, 'every SEARCH is still answered');
  const real = await connectPeer(entrance.url);
  t.teardown(() => real.close());
  t.equal((await real.ask(searchRequest('publisher-real', { ORIGIN_BYTES: 5000, ORIGIN_SINCE: 9 }))).COMMAND, 'SEARCH', 'a real publisher is still answered');

  t.ok(await r.hlen(keys.publishers) <= 50, `publisher records capped (${await r.hlen(keys.publishers)} of 301)`);
  t.ok(await r.zcard(keys.publishersSeen) <= 50, 'their index is capped too');
  t.notOk(await r.hexists(keys.publishers, 'publisher-flood-0'), 'the oldest were dropped first');
  t.ok(await r.hexists(keys.publishers, 'publisher-real'), 'the newest is kept');
  const origins = (await keysLike(r, `${traffic.origin('')}*`)).filter((k) => k.startsWith(traffic.origin('publisher-')));
  t.ok(origins.length <= 50, `origin counters capped (${origins.length} of 301)`);
  t.ok(await r.scard(traffic.originPublishers) <= 50, 'the set of origin publishers is capped');
  const after = await r.dbsize();
  t.ok(after - before <= 50 + 10, `Redis grew by ${after - before} keys for 301 publishers`);

  const summary = await api('/api/summary');
  t.match(summary.body, { OFFLOAD: { ORIGIN_BYTES: 300 * 100 + 5000 }, PUBLISHERS: 50 }, 'dropped publishers\' origin bytes stay in the fleet total');

  const list = await api('/api/publishers');
  t.equal(list.status, 200);
  const rows = list.body.PUBLISHERS as Array<{ ID: string; ORIGIN_BYTES: number }>;
  t.ok(rows.length <= 50, `listed ${rows.length}`);
  t.match(rows[0], { ID: 'publisher-real', ORIGIN_BYTES: 5000 }, 'newest first');
  t.equal(list.body.TOTAL, 50);
  const page = await api('/api/publishers?limit=10');
  t.equal((page.body.PUBLISHERS as unknown[]).length, 10, 'limit= pages the list');
  t.equal((await api('/api/publishers?limit=100000')).status, 400, 'a limit beyond the maximum is refused');
  t.equal((await api('/api/publishers?limit=x')).status, 400);

  // Bounded cost: listing 10 costs the same whether 50 or 300 publishers were ever seen.
  await r.config('RESETSTAT');
  await api('/api/publishers?limit=10');
  const calls = await commandsRun(r);
  t.ok(calls <= 10 + 5 * 10, `one page of 10 publishers took ${calls} Redis commands`);
});

t.test('publisher records expire after PUBLISHER_RECORD_DAYS; their origin bytes stay counted', async (t) => {
  t.equal(ENTRANCE_SCHEMA.PUBLISHER_RECORD_DAYS.default, 7, 'PUBLISHER_RECORD_DAYS defaults to a week');
  t.equal(ENTRANCE_SCHEMA.MAX_PUBLISHER_RECORDS.default, 1_000, 'MAX_PUBLISHER_RECORDS defaults to 1,000');
  let now = 1_790_000_000_000;
  const { r, entrance, api } = await setup(t, { DANDELION_PUBLISHER_RECORD_DAYS: '1' }, () => now);
  const keys = entranceKeys(entrance.id);
  const traffic = trafficKeys();
  const peer = await connectPeer(entrance.url);
  t.teardown(() => peer.close());
  await peer.ask(searchRequest('publisher-old', { ORIGIN_BYTES: 700, ORIGIN_SINCE: 1 }));
  t.ok(await r.hexists(keys.publishers, 'publisher-old'));
  t.equal(await r.exists(traffic.origin('publisher-old')), 1);

  now += 86_400_000 + 1_000; // a day and a second later another publisher searches
  await peer.ask(searchRequest('publisher-new', { ORIGIN_BYTES: 300, ORIGIN_SINCE: 1 }));
  t.notOk(await r.hexists(keys.publishers, 'publisher-old'), 'the stale record is gone');
  t.equal(await r.zscore(keys.publishersSeen, 'publisher-old'), null);
  t.equal(await r.exists(traffic.origin('publisher-old')), 0, 'its origin counter is gone');
  t.equal(await r.sismember(traffic.originPublishers, 'publisher-old'), 0);
  t.same(((await api('/api/publishers')).body.PUBLISHERS as Array<{ ID: string }>).map((p) => p.ID), ['publisher-new']);
  t.match((await api('/api/summary')).body, { OFFLOAD: { ORIGIN_BYTES: 1000 }, PUBLISHERS: 1 }, 'its bytes are still in the fleet total');
});

t.test('records an earlier version kept for ever are indexed, then expire and are capped like the others', async (t) => {
  const redis = await startRedis(t);
  const r = redis.client();
  const traffic = trafficKeys();
  const id = 'entrance-legacy1';
  const tx = r.multi();
  for (let i = 0; i < 80; i++) {
    tx.hset(entranceKeys(id).publishers, `publisher-old-${i}`, JSON.stringify({ LAST_SEEN: 1, IP: '127.0.0.1' }))
      .hset(traffic.origin(`publisher-old-${i}`), { total: 10, since: 1, reported: 10 }).sadd(traffic.originPublishers, `publisher-old-${i}`);
  }
  await tx.exec();
  const token = TOKEN;
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_ID: id, DANDELION_ENTRANCE_SWEEP_FREQ: '60', DANDELION_MAX_PUBLISHER_RECORDS: '30', DANDELION_API_TOKENS: JSON.stringify([await hashPassword(token)]) } });
  const peer = await connectPeer(entrance.url);
  t.teardown(() => peer.close());
  await peer.ask(searchRequest('publisher-new', { ORIGIN_BYTES: 5, ORIGIN_SINCE: 1 }));
  t.equal(await r.hlen(entranceKeys(id).publishers), 30, 'the old hash is capped');
  t.ok(await r.hexists(entranceKeys(id).publishers, 'publisher-new'));
  t.equal(await r.scard(traffic.originPublishers), 30, 'old origin counters are capped');
  const base = entrance.url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const summary = (await (await fetch(`${base}/api/summary`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>;
  t.match(summary, { OFFLOAD: { ORIGIN_BYTES: 80 * 10 + 5 } }, 'their bytes are all still counted');
});
