// Every EXCHANGE writes its box's summary and the minute's history point (the latest one in the minute
// wins); the background pass forgets boxes offline for longer than BOX_HISTORY_DAYS.
import t from 'tap';
import { decodeMessage } from '../../../shared/src/protocol/index.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import { entranceKeys } from '../../../shared/src/redis-keys.js';
import { decodeBoxSummary, decodeHistoryPoint } from '../../src/registry/box-summary.js';
import { BoxSummaries } from '../../src/registry/box-summaries.js';
import { boxExchange } from '../../../test/helpers/messages.js';
import { startRedis } from '../../../test/helpers/redis.js';

function exchange(id: string, extra: Record<string, unknown> = {}): BoxExchange {
  const decoded = decodeMessage(boxExchange(id, extra));
  if (decoded.kind !== 'EXCHANGE') throw new Error(`not an EXCHANGE: ${decoded.kind}`);
  return decoded.msg;
}

t.test('a heartbeat writes the summary and one history point per minute', async (t) => {
  const redis = (await startRedis(t)).client();
  const keys = entranceKeys('entrance-sum');
  let now = 1_700_000_000_000;
  const summaries = new BoxSummaries({ redis, keys, historyDays: 1, now: () => now });
  await summaries.record(exchange('box-a', { 'CPU-IDLE': 90 }), '192.0.2.1');
  now += 10_000;
  await summaries.record(exchange('box-a', { 'CPU-IDLE': 40 }), '192.0.2.1');
  const stored = decodeBoxSummary((await redis.hget(keys.boxSummary, 'box-a')) ?? '');
  t.equal(stored?.CPU, 60, 'the summary is the latest heartbeat');
  t.equal(stored?.LAST_SEEN, now / 1000);
  const points = (await redis.zrange(keys.boxHistory('box-a'), 0, '-1')).map((text) => decodeHistoryPoint(text));
  t.equal(points.length, 1, 'one point for the minute');
  t.equal(points[0]?.CPU, 60, 'holding the minute\'s latest reading');
  now += 60_000;
  await summaries.record(exchange('box-a', { 'CPU-IDLE': 0 }), '192.0.2.1');
  t.equal(await redis.zcard(keys.boxHistory('box-a')), 2, 'a new minute adds a point');
  t.ok((await redis.ttl(keys.boxHistory('box-a'))) > 0, 'the history expires after BOX_HISTORY_DAYS');
});

t.test('prune forgets only boxes silent for longer than BOX_HISTORY_DAYS', async (t) => {
  const redis = (await startRedis(t)).client();
  const keys = entranceKeys('entrance-prune');
  let now = 1_700_000_000_000;
  const summaries = new BoxSummaries({ redis, keys, historyDays: 1, now: () => now });
  await summaries.record(exchange('box-old'), undefined);
  now += 23 * 3600_000;
  await summaries.record(exchange('box-new'), undefined);
  await redis.hset(keys.boxSummary, 'box-garbled', 'not json');
  t.equal(await summaries.prune(), 0, 'nothing is a day old yet');
  now += 2 * 3600_000;
  t.equal(await summaries.prune(), 1);
  t.same((await redis.hkeys(keys.boxSummary)).sort(), ['box-garbled', 'box-new'], 'the old box is gone; an unreadable record waits for its box');
});
