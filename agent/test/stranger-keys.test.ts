// Nothing a stranger sends stays on a box. Every PUBLISH writes {ID}:SUBSCRIBE:<publisher> and
// {ID}:EXCHANGE:<publisher> (the original's keys); anyone who can reach BOX_PORT may send one with a new
// ID. Those records expire PUBLISHER_RECORD_TTL after the publisher's last PUBLISH or file (never before
// the files it sent expire) and at most MAX_PUBLISHER_RECORDS are kept, the oldest dropped first, so a
// flood of new IDs neither fills the box's Redis nor locks a real publisher out.
import t from 'tap';
import { AGENT_SCHEMA } from '../../shared/src/config/schemas.js';
import { encodeFrame, MAX_TTL_SECONDS } from '../../shared/src/protocol/index.js';
import { boxKeys } from '../../shared/src/redis-keys.js';
import { keysLike, startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const publish = (id: string) => ({ ID: id, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' });

async function setup(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}) {
  const redis = await startRedis(t);
  // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env });
  return { redis, box, r: redis.client() };
}

/** `count` PUBLISH messages with new IDs, over `sockets` real sockets in parallel; every one is answered ACCEPTED. */
async function flood(connectWs: string, prefix: string, count: number, sockets = 8): Promise<number> {
  let accepted = 0;
  await Promise.all(Array.from({ length: sockets }, async (_, s) => {
    const peer = await connectPeer(connectWs);
    for (let i = s; i < count; i += sockets) {
      const reply = await peer.ask(publish(`${prefix}-${i}`));
      if (reply.MESSAGE === 'ACCEPTED') accepted++;
    }
    await peer.close();
  }));
  return accepted;
}

t.test('a flood of new publisher IDs leaves at most MAX_PUBLISHER_RECORDS records, each with a TTL', async (t) => {
  const { r, box } = await setup(t, { DANDELION_MAX_PUBLISHER_RECORDS: '40' });
  const before = await r.dbsize();
  t.equal(await flood(box.status.connectWs, 'publisher-flood', 400), 400, 'every PUBLISH is still answered ACCEPTED');

  const real = await connectPeer(box.status.connectWs);
  t.teardown(() => real.close());
  t.equal((await real.ask(publish('publisher-real'))).MESSAGE, 'ACCEPTED', 'a real publisher is not locked out by the flood');
  t.equal((await r.hgetall(`${box.boxId}:SUBSCRIBE:publisher-real`)).ID, 'publisher-real', 'the newest publisher is kept');
  t.equal((await r.hgetall(`${box.boxId}:EXCHANGE:publisher-real`)).ID, 'publisher-real');

  const subscribe = await keysLike(r, `${box.boxId}:SUBSCRIBE:*`);
  const exchange = await keysLike(r, `${box.boxId}:EXCHANGE:*`);
  t.ok(subscribe.length <= 40 && subscribe.length >= 30, `SUBSCRIBE records capped (${subscribe.length} of 401)`);
  t.ok(exchange.length <= 40 && exchange.length >= 30, `EXCHANGE records capped (${exchange.length} of 401)`);
  t.ok(await r.zcard(boxKeys(box.boxId).publisherRecords) <= 40, 'the index of records is capped too');
  const ttls = await Promise.all([...subscribe, ...exchange].map((k) => r.ttl(k)));
  t.ok(ttls.every((s) => s > 0 && s <= 86_400), 'every record expires, within PUBLISHER_RECORD_TTL (default one day)');
  t.notOk(subscribe.includes(`${box.boxId}:SUBSCRIBE:publisher-flood-0`), 'the oldest records were dropped first');
  const after = await r.dbsize();
  t.ok(after - before <= 2 * 40 + 10, `Redis grew by ${after - before} keys for 401 publishers`);
});

t.test('defaults: one day, 1,000 publishers; a record outlives the files its publisher sent', async (t) => {
  t.equal(AGENT_SCHEMA.PUBLISHER_RECORD_TTL.default, 86_400, 'PUBLISHER_RECORD_TTL defaults to one day');
  t.equal(AGENT_SCHEMA.MAX_PUBLISHER_RECORDS.default, 1_000, 'MAX_PUBLISHER_RECORDS defaults to 1,000');
  const { r, box } = await setup(t);
  const peer = await connectPeer(box.status.connectWs);
  t.teardown(() => peer.close());
  t.equal((await peer.ask(publish('publisher-long'))).MESSAGE, 'ACCEPTED');
  const key = `${box.boxId}:SUBSCRIBE:publisher-long`;
  const ttl = await r.ttl(key);
  t.ok(ttl > 86_000 && ttl <= 86_400, `a PUBLISH keeps the record for PUBLISHER_RECORD_TTL (${ttl} s)`);
  peer.sendRaw(encodeFrame({ FILE_PATH: 'vod/film.ts', TTL: MAX_TTL_SECONDS }, Buffer.from('film')), true);
  t.equal((await peer.next()).MESSAGE, 'ACCEPTED');
  for (const k of [key, `${box.boxId}:EXCHANGE:publisher-long`]) {
    const after = await r.ttl(k);
    t.ok(after > MAX_TTL_SECONDS - 100 && after <= MAX_TTL_SECONDS, `${k} lives as long as the file it sent (${after} s)`);
  }
  t.equal((await peer.ask(publish('publisher-long'))).MESSAGE, 'ACCEPTED');
  t.ok((await r.ttl(key)) > MAX_TTL_SECONDS - 100, 'a new PUBLISH never shortens it');

  t.equal(await flood(box.status.connectWs, 'publisher-default', 1_100), 1_100);
  const subscribe = await keysLike(r, `${box.boxId}:SUBSCRIBE:*`);
  t.ok(subscribe.length <= 1_000, `at most 1,000 records with the defaults (${subscribe.length} of 1,101)`);
  t.ok(subscribe.includes(key), 'the record with the latest deadline (its file\'s) survives the flood');
});

t.test('records expire after PUBLISHER_RECORD_TTL; the index forgets them', async (t) => {
  const { r, box } = await setup(t, { DANDELION_PUBLISHER_RECORD_TTL: '1' });
  const peer = await connectPeer(box.status.connectWs);
  t.teardown(() => peer.close());
  t.equal((await peer.ask(publish('publisher-brief'))).MESSAGE, 'ACCEPTED');
  t.ok(await eventually(async () => (await r.exists(`${box.boxId}:SUBSCRIBE:publisher-brief`, `${box.boxId}:EXCHANGE:publisher-brief`)) === 0), 'both records are gone after their TTL');
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  t.equal((await peer.ask(publish('publisher-next'))).MESSAGE, 'ACCEPTED');
  t.same(await r.zrange(boxKeys(box.boxId).publisherRecords, '0', '-1'), ['publisher-next'], 'the expired publisher left the index');
});

t.test('records an earlier version left without a TTL are given one at start, and capped', async (t) => {
  const redis = await startRedis(t);
  // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const r = redis.client();
  const boxId = 'box-legacy1';
  const tx = r.multi();
  for (let i = 0; i < 60; i++) {
    tx.hset(`${boxId}:SUBSCRIBE:publisher-old-${i}`, 'ID', `publisher-old-${i}`).hset(`${boxId}:EXCHANGE:publisher-old-${i}`, 'ID', `publisher-old-${i}`);
  }
  await tx.exec();
  await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId, env: { DANDELION_MAX_PUBLISHER_RECORDS: '20' } });
  const subscribe = await keysLike(r, `${boxId}:SUBSCRIBE:*`);
  const exchange = await keysLike(r, `${boxId}:EXCHANGE:*`);
  t.equal(subscribe.length, 20, 'capped at start');
  t.equal(exchange.length, 20);
  const ttls = await Promise.all([...subscribe, ...exchange].map((k) => r.ttl(k)));
  t.ok(ttls.every((s) => s > 86_000 && s <= 86_400), 'every one now expires');
  t.equal(await r.zcard(boxKeys(boxId).publisherRecords), 20);
});
