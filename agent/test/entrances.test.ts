// The agent keeps working when entrances go away: it reconnects after an entrance restarts (backoff
// capped at 10 s) and keeps heartbeating to a second entrance while the first is down.
import t from 'tap';
import { Backoff } from '../../shared/src/backoff.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';

t.test('backoff is capped at 10 s', async (t) => {
  const b = new Backoff(250, 10_000, () => 1);
  const delays = Array.from({ length: 12 }, () => b.next());
  t.equal(Math.max(...delays), 10_000);
  t.ok(delays[0] as number <= 250);
  b.reset();
  t.ok(b.next() <= 250, 'reset after a success');
});

t.test('reconnects after the entrance restarts', async (t) => {
  const redis = await startRedis(t);
  const first = await startEntrance(t, { redisUrl: redis.url });
  const port = new URL(first.url).port;
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [first.url] });
  const r = redis.client();
  t.ok(await eventually(() => r.zscore(`${first.id}:BOX_SET`, box.boxId)), 'registered');
  await first.stop();
  await r.del(`${first.id}:BOX_SET`, `${first.id}:EXCHANGE:${box.boxId}`);
  const again = await startEntrance(t, { redisUrl: redis.url, runDirectory: first.runDirectory, env: { DANDELION_ENTRANCE_PORT: port } });
  t.equal(again.id, first.id);
  t.ok(await eventually(() => r.zscore(`${again.id}:BOX_SET`, box.boxId), 20_000), 'registered again with the restarted entrance');
});

t.test('fails over to the second entrance', async (t) => {
  const redis = await startRedis(t);
  const a = await startEntrance(t, { redisUrl: redis.url });
  const b = await startEntrance(t, { redisUrl: redis.url });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [a.url, b.url] });
  const r = redis.client();
  t.ok(await eventually(async () => (await r.zscore(`${a.id}:BOX_SET`, box.boxId)) && (await r.zscore(`${b.id}:BOX_SET`, box.boxId))), 'registered with both');
  await a.stop();
  const before = Number(await r.zscore(`${b.id}:BOX_SET`, box.boxId));
  t.ok(await eventually(async () => Number(await r.zscore(`${b.id}:BOX_SET`, box.boxId)) > before), 'heartbeats continue to the other entrance');
});

t.test('learns entrances from replies', async (t) => {
  const redis = await startRedis(t);
  const b = await startEntrance(t, { redisUrl: redis.url });
  const a = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_ENTRANCE_OTHER_URLS: b.url } });
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [a.url] });
  const r = redis.client();
  t.ok(await eventually(() => r.zscore(`${b.id}:BOX_SET`, box.boxId)), 'the box found the entrance it was told about');
});
