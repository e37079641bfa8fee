// The outbox hands stored traffic to the next EXCHANGE, on a real Redis and nothing else: records under
// this box's keys decoded, at most maxRecords of them; pending aggregates oldest first, at most
// MAX_AGGREGATES_PER_EXCHANGE; what the protocol's decoder refuses moved aside with the reason, never
// handed on; an acknowledgement drops exactly the aggregates it names.
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { MAX_AGGREGATES_PER_EXCHANGE } from '../../../shared/src/protocol/messages.js';
import { boxKeys } from '../../../shared/src/redis-keys.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { TrafficOutbox } from '../../src/traffic/outbox.js';

const BOX_ID = 'box-outbox';
const aggregate = (id: string, from: number, extra: Record<string, unknown> = {}) =>
  ({ ID: id, PUBLISHER: 'publisher-p', FILE: 'live/a.ts', REQUESTS: 1, BYTES: 100, FROM: from, TO: from + 1, ...extra });

async function setup(t: { teardown(fn: () => unknown): void }) {
  const server = await startRedis(t);
  const redis = server.client();
  const keys = boxKeys(BOX_ID);
  return { redis, keys, outbox: new TrafficOutbox({ redis, keys, boxId: BOX_ID, log: silentLogger() }) };
}

t.test('records and aggregates decoded; the refused ones moved aside', async (t) => {
  const { redis, keys, outbox } = await setup(t);
  await redis.hset(keys.trafficFlow('r1'), { datetime: '2026-11-25T16:13:06Z', url: '/publisher-p/live/a.ts', status: '200', size: '100' });
  await redis.hset(keys.trafficFlow('bad'), { url: '/x', status: 'NaN', size: '1' });
  await redis.hset(keys.trafficPending, {
    late: JSON.stringify(aggregate('late', 2000)),
    early: JSON.stringify(aggregate('early', 1000)),
    broken: '{not json',
  });

  const { records, aggregates } = await outbox.collect(100);
  t.same(Object.keys(records), [keys.trafficFlow('r1')], 'only the good record');
  t.match(records[keys.trafficFlow('r1')], { url: '/publisher-p/live/a.ts', status: 200, size: 100 });
  t.same(aggregates.map((a) => a.ID), ['early', 'late'], 'oldest first, the broken one left out');

  const rejected = (await redis.lrange(keys.trafficRejected, 0, -1)).map((s) => JSON.parse(s) as { KEY: string; FIELD?: string; ERROR: string });
  t.same(rejected.map((r) => r.FIELD ?? r.KEY).sort(), ['broken', keys.trafficFlow('bad')].sort(), 'both refused entries moved aside');
  t.equal(await redis.hexists(keys.trafficPending, 'broken'), 0, 'and gone from pending');
  t.equal(await redis.exists(keys.trafficFlow('bad')), 0, 'and the bad record key deleted');

  await outbox.acknowledge(['early']);
  t.same(Object.keys(await redis.hgetall(keys.trafficPending)), ['late'], 'the acknowledged aggregate is dropped, the other kept');
  await outbox.acknowledge([]);
  t.equal(await redis.hlen(keys.trafficPending), 1, 'an empty acknowledgement changes nothing');
});

t.test('bounded: maxRecords records, MAX_AGGREGATES_PER_EXCHANGE oldest aggregates', async (t) => {
  const { redis, keys, outbox } = await setup(t);
  const tx = redis.multi();
  for (let i = 0; i < 30; i++) tx.hset(keys.trafficFlow(`r${i}`), { url: `/publisher-p/live/${i}.ts`, status: '200', size: '1' });
  const total = MAX_AGGREGATES_PER_EXCHANGE + 40;
  for (let i = 0; i < total; i++) tx.hset(keys.trafficPending, `a${i}`, JSON.stringify(aggregate(`a${i}`, 10_000 - i)));
  await tx.exec();

  const { records, aggregates } = await outbox.collect(7);
  t.equal(Object.keys(records).length, 7);
  t.equal(aggregates.length, MAX_AGGREGATES_PER_EXCHANGE);
  t.equal(aggregates[0]?.ID, `a${total - 1}`, 'the oldest first');
  t.ok(aggregates.every((a, i) => i === 0 || (aggregates[i - 1]?.FROM ?? 0) <= a.FROM), 'in order of FROM');
  t.equal(await redis.hlen(keys.trafficPending), total, 'collecting removes nothing');
});
