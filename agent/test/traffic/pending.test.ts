// Stored traffic is decoded like network data. What the box sends back to the entrance from its own
// Redis ({ID}:TRAFFIC_PENDING aggregates, {ID}:TRAFFIC_FLOW records) passes the protocol's one decoder
// first; an entry that fails is moved to {ID}:TRAFFIC_PENDING:REJECTED with the reason (capped), so one
// bad entry never gets every later EXCHANGE refused: the next heartbeat is accepted and the good
// aggregates beside it are counted.
import t from 'tap';
import { boxKeys, trafficKeys } from '../../../shared/src/redis-keys.js';
import { MAX_REJECTED_TRAFFIC } from '../../src/traffic/rejected.js';
import { PublisherAccounts } from '../../../entrance/src/publishers/accounts.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../../test/helpers/agent.js';

interface Rejected {
  KEY: string;
  FIELD?: string;
  ENTRY: string;
  ERROR: string;
  AT: number;
}

const nowS = (): number => Math.floor(Date.now() / 1000);
const aggregate = (id: string, extra: Record<string, unknown> = {}) =>
  ({ ID: id, PUBLISHER: 'publisher-p', FILE: 'live/a.ts', REQUESTS: 2, BYTES: 1234, FROM: nowS() - 5, TO: nowS() - 1, ...extra });

/** The entrance counts traffic only for publishers it knows: publisher-p gets an account. */
async function knownPublisher(r: ConstructorParameters<typeof PublisherAccounts>[0]): Promise<void> {
  await new PublisherAccounts(r).create('publisher-p', 1e9);
}

t.test('malformed stored traffic is moved aside and the next EXCHANGE is accepted', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const r = redis.client();
  await knownPublisher(r);
  const boxId = 'box-pending1';
  const keys = boxKeys(boxId);
  await r.hset(keys.trafficPending, {
    'good-1': JSON.stringify(aggregate('good-1')),
    'bad-bytes': JSON.stringify(aggregate('bad-bytes', { BYTES: 'lots' })),
    'bad-publisher': JSON.stringify(aggregate('bad-publisher', { PUBLISHER: 'not a publisher' })),
    'bad-fraction': JSON.stringify(aggregate('bad-fraction', { REQUESTS: 1.5 })),
    'bad-json': '{not json',
    'bad-renamed': JSON.stringify(aggregate('another-id')),
  });
  const badRecord = keys.trafficFlow('bad1');
  const badRecordKey = `${boxId}:TRAFFIC_FLOW:log-a.b`; // a log id the wire format does not allow
  await r.multi().hset(badRecord, { url: '/x', status: 'NaN', size: '1' }).expire(badRecord, 600)
    .hset(badRecordKey, { url: '/y', status: '200', size: '5' }).expire(badRecordKey, 600).exec();

  await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId });
  const counted = await eventually(async () => Number(await r.hget(trafficKeys().fleetTotal, 'bytes')) === 1234);
  t.ok(counted, 'the good aggregate beside the bad ones reached the entrance and was counted');
  t.equal(await r.exists(`${entrance.id}:EXCHANGE:${boxId}`), 1, 'the EXCHANGE was accepted and stored');
  t.ok(await eventually(async () => (await r.hlen(keys.trafficPending)) === 0), 'nothing is left pending');

  const rejected = (await r.lrange(keys.trafficRejected, 0, -1)).map((s) => JSON.parse(s) as Rejected);
  const byField = new Map(rejected.map((x) => [x.FIELD ?? x.KEY, x]));
  t.same([...byField.keys()].sort(), ['bad-bytes', 'bad-fraction', 'bad-json', 'bad-publisher', 'bad-renamed', badRecordKey, badRecord].sort(), 'every bad entry moved aside, once');
  t.match(byField.get('bad-bytes'), { KEY: keys.trafficPending, ERROR: /BYTES must be a (finite )?number/, ENTRY: /"BYTES":"lots"/ });
  t.match(byField.get('bad-publisher'), { ERROR: /PUBLISHER must be empty or a publisher ID/ });
  t.match(byField.get('bad-fraction'), { ERROR: /REQUESTS must be a whole number/ });
  t.match(byField.get('bad-json'), { ERROR: /not JSON/, ENTRY: '{not json' });
  t.match(byField.get('bad-renamed'), { ERROR: /another-id/ });
  t.match(byField.get(badRecord), { ERROR: /status/, ENTRY: /NaN/ });
  t.match(byField.get(badRecordKey), { ERROR: /log id/ });
  for (const x of rejected) t.ok(x.AT > 0, `${x.FIELD ?? x.KEY} has the time it was moved aside`);
  t.equal(await r.exists(badRecord, badRecordKey), 0, 'bad records are gone from TRAFFIC_FLOW');

  // Later heartbeats keep being accepted and count new aggregates.
  await r.hset(keys.trafficPending, 'good-2', JSON.stringify(aggregate('good-2', { BYTES: 1000 })));
  t.ok(await eventually(async () => Number(await r.hget(trafficKeys().fleetTotal, 'bytes')) === 2234), 'the next aggregate is counted too');
});

t.test('the REJECTED list is capped', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const r = redis.client();
  await knownPublisher(r);
  const boxId = 'box-pending2';
  const keys = boxKeys(boxId);
  const bad: Record<string, string> = { 'good-1': JSON.stringify(aggregate('good-1')) };
  for (let i = 0; i < MAX_REJECTED_TRAFFIC + 200; i++) bad[`bad-${i}`] = JSON.stringify(aggregate(`bad-${i}`, { BYTES: -1 }));
  await r.hset(keys.trafficPending, bad);
  await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId });
  t.ok(await eventually(async () => Number(await r.hget(trafficKeys().fleetTotal, 'bytes')) === 1234), 'the good aggregate is counted');
  t.ok(await eventually(async () => (await r.hlen(keys.trafficPending)) === 0), 'nothing is left pending');
  t.equal(await r.llen(keys.trafficRejected), MAX_REJECTED_TRAFFIC, `only the newest ${MAX_REJECTED_TRAFFIC} rejected entries are kept`);
});
