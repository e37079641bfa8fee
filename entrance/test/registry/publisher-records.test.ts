// Each SEARCH records when and from where its publisher asked and folds its origin bytes into the
// fleet's total once per report; records are bounded by age and count; the stored entry decodes back.
import t from 'tap';
import { decodeMessage } from '../../../shared/src/protocol/index.js';
import type { SearchRequest } from '../../../shared/src/protocol/index.js';
import { entranceKeys, trafficKeys } from '../../../shared/src/redis-keys.js';
import { PublisherRecords, decodePublisherSeen } from '../../src/registry/publisher-records.js';
import { searchRequest } from '../../../test/helpers/messages.js';
import { startRedis } from '../../../test/helpers/redis.js';

function search(id: string, extra: Record<string, unknown> = {}): SearchRequest {
  const decoded = decodeMessage(searchRequest(id, extra));
  if (decoded.kind !== 'SEARCH') throw new Error(`not a SEARCH: ${decoded.kind}`);
  return decoded.msg;
}

t.test('a SEARCH records its publisher and its origin bytes, counting each report once', async (t) => {
  const redis = (await startRedis(t)).client();
  const keys = entranceKeys('entrance-pub');
  const traffic = trafficKeys();
  let now = 1_700_000_000_000;
  const records = new PublisherRecords({ redis, keys, recordSeconds: 3600, maxRecords: 10, now: () => now });
  await records.record(search('publisher-a', { ORIGIN_BYTES: 1000, ORIGIN_SINCE: 1 }));
  now += 1000;
  await records.record(search('publisher-a', { ORIGIN_BYTES: 1500, ORIGIN_SINCE: 1 }));
  const seen = decodePublisherSeen(await redis.hget(keys.publishers, 'publisher-a'));
  t.same(seen, { LAST_SEEN: now / 1000, IP: '127.0.0.1' });
  t.equal(await redis.hget(traffic.originTotal, 'total'), '1500', 'a running count adds only what grew');
  await records.record(search('publisher-a', { ORIGIN_BYTES: 200, ORIGIN_SINCE: 2 }));
  t.equal(await redis.hget(traffic.originTotal, 'total'), '1700', 'a restarted publisher counts from zero again');
});

t.test('records expire after PUBLISHER_RECORD_DAYS and are capped at MAX_PUBLISHER_RECORDS', async (t) => {
  const redis = (await startRedis(t)).client();
  const keys = entranceKeys('entrance-cap');
  let now = 1_700_000_000_000;
  const records = new PublisherRecords({ redis, keys, recordSeconds: 3600, maxRecords: 2, now: () => now });
  for (const id of ['publisher-1', 'publisher-2', 'publisher-3']) {
    await records.record(search(id));
    now += 1000;
  }
  t.same((await redis.hkeys(keys.publishers)).sort(), ['publisher-2', 'publisher-3'], 'the one seen longest ago is dropped');
  t.equal(records.cutoff(), now / 1000 - 3600);
  now += 3600_000;
  await records.expire();
  t.equal(await redis.hlen(keys.publishers), 0, 'silent publishers are dropped by the background pass');
  t.equal(await redis.zcard(keys.publishersSeen), 0, 'and so is their index');
});

t.test('a stored entry decodes to its fields; anything else to none', async (t) => {
  t.same(decodePublisherSeen('{"LAST_SEEN":12.5,"IP":"192.0.2.9"}'), { LAST_SEEN: 12.5, IP: '192.0.2.9' });
  t.same(decodePublisherSeen(null), {});
  t.same(decodePublisherSeen('garbage'), {});
  t.same(decodePublisherSeen('"text"'), {});
  t.same(decodePublisherSeen('{"LAST_SEEN":"yesterday","IP":4}'), {}, 'fields of the wrong type are left out');
});
