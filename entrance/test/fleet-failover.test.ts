// Two entrance processes of one fleet on one Redis kept on disk, with real box agents and a publisher that
// were told only entrance A. A is SIGKILLed: the boxes go on beating through B and the publisher SEARCHes B
// within their backoff cap. Then Redis is SIGKILLed and started again from its append-only file: the boxes
// are back in SEARCH, their enrolment and the token's use count are intact, and traffic counted before is
// still counted once (its duplicate markers survived too).
import t from 'tap';
import { MAX_BACKOFF_MS } from '../../shared/src/backoff.js';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { enrolmentKeys } from '../../shared/src/redis-keys.js';
import { EnrolmentStore } from '../src/enrolment/store.js';
import { startPersistentRedis } from '../../test/helpers/persistent-redis.js';
import { startEntranceProcess } from '../../test/helpers/entrance-process.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange, searchRequest } from '../../test/helpers/messages.js';
import { ask, enrolledBox, upgrade } from '../../test/helpers/enrolment.js';

const FLEET = 'fleet-failover';
/** Seconds a box stays registered after its last EXCHANGE: short, so "still listed" means "still beating". */
const EXPIRE_BOX_SECONDS = 4;
/** The agents' heartbeat period (startAgent's BOX_PING_ENTRANCE_FREQ) and the publisher's SEARCH period, in ms. */
const BEAT_MS = 500;
/** A reconnect's bound: one backoff at its cap, one period, and room for a loaded machine to run them. */
const FAILOVER_BOUND_MS = MAX_BACKOFF_MS + BEAT_MS + 5_000;

const ENTRANCE_ENV = {
  DANDELION_FLEET_ID: FLEET,
  DANDELION_METRICS_PUBLIC: 'true',
  DANDELION_ENTRANCE_EXPIRE_BOX_TIME: String(EXPIRE_BOX_SECONDS),
  DANDELION_ENTRANCE_SWEEP_FREQ: '0.5',
  DANDELION_REQUIRE_ENROLMENT: 'true',
  // The agents serve nothing the entrance could probe from outside here, and the test SEARCHes as an original publisher.
  DANDELION_REQUIRE_REACHABLE: 'false',
  DANDELION_REQUIRE_PUBLISHER_AUTH: 'false',
};

/** The boxes SEARCH on `url` lists, but for the test's own traffic-sending box. */
async function searched(url: string): Promise<string[]> {
  const publisher = await connectPeer(url);
  try {
    return Object.keys((await publisher.ask(searchRequest('publisher-probe'))).BOX_SET as object).filter((id) => id !== 'box-counter').sort();
  } finally {
    await publisher.close();
  }
}

t.test('an entrance SIGKILLed, then Redis restarted, under load: nothing lost', async (t) => {
  const redis = await startPersistentRedis(t);
  const r = redis.client();
  const a = await startEntranceProcess(t, { ...ENTRANCE_ENV, DANDELION_REDIS_URL: redis.url });
  const b = await startEntranceProcess(t, { ...ENTRANCE_ENV, DANDELION_REDIS_URL: redis.url });

  const admin = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  const { token, info } = await new EnrolmentStore(admin).createToken({ expiresInSeconds: 3600, maxUses: 2 });
  admin.disconnect();
  const boxes = await Promise.all(['box-fleet1', 'box-fleet2'].map((boxId) =>
    startAgent(t, { redisUrl: redis.url, entranceUrls: [a.url], boxId, env: { DANDELION_ENROLMENT_TOKEN: token } })));
  await startPublisher(t, { redisUrl: redis.url, entranceUrls: [a.url], id: 'publisher-fleet', account: false });
  t.ok(await eventually(() => r.zscore(`${FLEET}:PUBLISHERS_SEEN`, 'publisher-fleet')), 'the publisher SEARCHes A');
  const ids = boxes.map((x) => x.boxId).sort();
  t.same(await eventually(async () => (await searched(b.url)).length === 2 && searched(b.url)), ids, 'SEARCH on B finds the boxes registered through A');

  // A names B in its replies (the fleet's live entrances), and the boxes, told only A, open a link to B too.
  const socketsOnB = async (): Promise<number> => {
    const text = await (await fetch(`${b.url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '')}/metrics`)).text();
    return Number(/^dandelion_websocket_connections (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  t.ok(await eventually(async () => (await socketsOnB()) >= 2), 'the boxes learnt B from A and keep a link to it');

  const killedAt = Date.now();
  await a.kill('SIGKILL');
  const beatingAfter = (id: string) => async (): Promise<boolean> => Number(await r.zscore(`${FLEET}:BOX_SET`, id)) > killedAt / 1000 + EXPIRE_BOX_SECONDS;
  for (const id of ids) t.ok(await eventually(beatingAfter(id), FAILOVER_BOUND_MS), `${id} beats through B after A died`);
  const searchedAfter = async (): Promise<boolean> => Number(await r.zscore(`${FLEET}:PUBLISHERS_SEEN`, 'publisher-fleet')) > killedAt / 1000;
  t.ok(await eventually(searchedAfter, FAILOVER_BOUND_MS), 'the publisher SEARCHes B after A died');
  t.ok(Date.now() - killedAt < FAILOVER_BOUND_MS, `moved within the backoff cap (${Date.now() - killedAt} ms)`);
  await new Promise((resolve) => setTimeout(resolve, (EXPIRE_BOX_SECONDS + 1) * 1000));
  t.same(await searched(b.url), ids, 'still listed after their registration would have expired');

  // Traffic counted before the restart, through an enrolled box's socket on B (the publisher is known: it SEARCHed).
  const counter = await enrolledBox(redis.url, b.url, 'box-counter');
  const aggregate = { ID: 'agg-before-restart', PUBLISHER: 'publisher-fleet', FILE: 'live/seg-1.ts', REQUESTS: 3, BYTES: 3000, FROM: Date.now() / 1000 - 30, TO: Date.now() / 1000 - 29 };
  const sendAggregate = async (): Promise<Record<string, unknown>> => {
    const socket = await upgrade(b.url, (await counter.upgradeHeaders(b.url)) ?? {});
    try {
      return await ask(socket, boxExchange('box-counter', { TRAFFIC_AGGREGATES: [aggregate] }));
    } finally {
      if (socket.ok) socket.ws.close();
    }
  };
  t.equal((await sendAggregate()).MESSAGE, 'ACCEPTED', 'an enrolled box reports traffic at B');
  const before = await r.hgetall('dandelion:TRAFFIC:FLEET:TOTAL');
  t.equal(before.bytes, '3000', 'counted');

  await redis.kill('SIGKILL');
  const restartedAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // the boxes' heartbeats fail meanwhile
  await redis.start();
  const beatingAgain = (id: string) => async (): Promise<boolean> => Number(await r.zscore(`${FLEET}:BOX_SET`, id)) > restartedAt / 1000 + EXPIRE_BOX_SECONDS;
  for (const id of ids) t.ok(await eventually(beatingAgain(id), FAILOVER_BOUND_MS), `${id} beats again after Redis came back (${Date.now() - restartedAt} ms after it was killed)`);
  t.same(await searched(b.url), ids, 'both back in SEARCH');
  t.same(await r.hgetall('dandelion:TRAFFIC:FLEET:TOTAL'), before, 'the counted traffic survived');
  t.equal((await sendAggregate()).MESSAGE, 'ACCEPTED', 'the same aggregate again (a box that missed the ack)');
  t.same(await r.hgetall('dandelion:TRAFFIC:FLEET:TOTAL'), before, 'is not counted twice: its marker survived');
  const k = enrolmentKeys();
  t.equal(await r.hget(k.token(info.ID), 'USES'), '2', 'the token\'s use count survived');
  for (const id of ids) t.equal(await r.hget(k.box(id), 'STATE'), 'enrolled', `${id} is still enrolled`);
  t.equal(b.proc.exitCode, null, 'B rode out the Redis restart');
});
