// One background pass sweeps expired boxes, learns the other entrances from {ID}:ENTRANCE_URLS, forgets
// long-silent boxes and publishers, and writes {ID}:OWN_INFO; started, it repeats until stopped.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeMessage } from '../../../shared/src/protocol/index.js';
import { silentLogger } from '../../../shared/src/log.js';
import { createBackgroundPass } from '../../src/registry/background-pass.js';
import { handlerContext } from '../../../test/helpers/handler-context.js';
import { boxExchange, searchRequest } from '../../../test/helpers/messages.js';
import { startRedis } from '../../../test/helpers/redis.js';

t.test('a pass sweeps, reloads ENTRANCE_URLS, prunes and writes OWN_INFO', async (t) => {
  const redis = (await startRedis(t)).client();
  const { ctx, identity, keys, clock, rollouts } = handlerContext(redis, { historyDays: 1 });
  const box = decodeMessage(boxExchange('box-gone'));
  const search = decodeMessage(searchRequest('publisher-gone'));
  if (box.kind !== 'EXCHANGE' || search.kind !== 'SEARCH') throw new Error('test messages did not decode');
  await ctx.registry.upsert(box.msg, undefined);
  await ctx.summaries.record(box.msg, undefined);
  await ctx.publisherRecords.record(search.msg);
  await redis.sadd(keys.entranceUrls, 'ws://b.example/dandelion/ws/', 'ws://a.example/dandelion/ws/');
  clock.now += 2 * 86_400_000;
  const pass = createBackgroundPass({ redis, keys, registry: ctx.registry, summaries: ctx.summaries, publisherRecords: ctx.publisherRecords, identity, rollouts, everyMs: 60_000, log: silentLogger() });
  await pass.tick();
  t.equal(await redis.zcard(keys.boxSet), 0, 'the expired box is swept');
  t.equal(await redis.hlen(keys.boxSummary), 0, 'its summary, two days silent, is forgotten');
  t.equal(await redis.hlen(keys.publishers), 0, 'so is the silent publisher');
  t.same(identity.entranceUrls(), [ctx.ownInfo().URL, 'ws://a.example/dandelion/ws/', 'ws://b.example/dandelion/ws/'], 'the other entrances, sorted, after its own');
  t.same(await redis.hgetall(keys.ownInfo), { ID: 'entrance-test', IP: '127.0.0.1', PORT: '7070', TYPE: 'ENTRANCE', URL: 'ws://127.0.0.1:7070/dandelion/ws/' });
});

t.test('started, passes repeat until stopped, and a failed pass does not end them', async (t) => {
  const redis = (await startRedis(t)).client();
  const { ctx, identity, keys, rollouts } = handlerContext(redis);
  await redis.set(keys.boxSet, 'not a sorted set'); // every sweep fails while this is here
  const pass = createBackgroundPass({ redis, keys, registry: ctx.registry, summaries: ctx.summaries, publisherRecords: ctx.publisherRecords, identity, rollouts, everyMs: 10, log: silentLogger() });
  pass.start();
  await sleep(100);
  t.equal(await redis.exists(keys.ownInfo), 0, 'failed passes wrote nothing after the sweep');
  await redis.del(keys.boxSet);
  let written = false;
  for (let i = 0; i < 500 && !written; i++) {
    written = (await redis.exists(keys.ownInfo)) === 1;
    if (!written) await sleep(10);
  }
  t.ok(written, 'a later pass ran to the end');
  pass.stop();
  await sleep(50); // a pass under way when stopped may still finish
  await redis.del(keys.ownInfo);
  await sleep(150);
  t.equal(await redis.exists(keys.ownInfo), 0, 'no pass starts after stop');
});
