// SEARCH ranks boxes: nearest distance band first (Redis GEO), then spare upload, then free disk,
// and returns at most AMOUNT_OF_BOXES_PER_REQUEST boxes in the original's BOX_SET object.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { capacityScore, compareCandidates } from '../src/registry/ranking.js';
import type { BoxExchange } from '../../shared/src/protocol/index.js';

const TAIPEI = '25.03,121.56';
const TAICHUNG = '24.15,120.67'; // ~140 km from Taipei: same 500 km band
const TOKYO = '35.68,139.69'; // ~2100 km
const PARIS = '48.85,2.35';

t.test('nearest band first, then spare upload, then free disk, limited and ranked', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_AMOUNT_OF_BOXES_PER_REQUEST: '4' } });
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  const boxes: Array<[string, Record<string, unknown>]> = [
    ['box-paris-fast', { GEOIP: { LOC: PARIS }, 'BANDWIDTH-IDLE-UP': 900 }],
    ['box-tokyo', { GEOIP: { LOC: TOKYO }, 'BANDWIDTH-IDLE-UP': 50 }],
    ['box-taipei-slow', { GEOIP: { LOC: TAIPEI }, 'BANDWIDTH-IDLE-UP': 5 }],
    ['box-taichung-fast', { GEOIP: { LOC: TAICHUNG }, 'BANDWIDTH-IDLE-UP': 80 }],
    ['box-taipei-slow-bigdisk', { GEOIP: { LOC: TAIPEI }, 'BANDWIDTH-IDLE-UP': 5, 'DISK-AVAIL': 500 }],
    ['box-nowhere', { 'BANDWIDTH-IDLE-UP': 1000 }],
  ];
  for (const [id, extra] of boxes) t.equal((await box.ask(boxExchange(id, extra))).MESSAGE, 'ACCEPTED');

  const near = await publisher.ask(searchRequest('publisher-tw', { GEOIP: { LOC: TAIPEI } }));
  const set = near.BOX_SET as Record<string, { RANK: number }>;
  t.same(Object.keys(set), ['box-taichung-fast', 'box-taipei-slow-bigdisk', 'box-taipei-slow', 'box-tokyo'], 'band, then upload, then disk; limit 4');
  t.same(Object.values(set).map((b) => b.RANK), [1, 2, 3, 4]);

  const anywhere = await publisher.ask(searchRequest('publisher-nowhere'));
  t.same(Object.keys(anywhere.BOX_SET as object), ['box-nowhere', 'box-paris-fast', 'box-taichung-fast', 'box-tokyo'], 'no publisher place: by capacity');
});

t.test('within one band and at equal capacity the nearer box ranks first, then the box ID', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  // The farther box has the smaller ID: by ID alone it would come first.
  for (const [id, loc] of [['box-a-taichung', TAICHUNG], ['box-b-taipei', TAIPEI], ['box-c-taipei', TAIPEI]] as const) {
    t.equal((await box.ask(boxExchange(id, { GEOIP: { LOC: loc }, 'BANDWIDTH-IDLE-UP': 20 }))).MESSAGE, 'ACCEPTED');
  }
  const reply = await publisher.ask(searchRequest('publisher-tw', { GEOIP: { LOC: TAIPEI } }));
  t.same(Object.keys(reply.BOX_SET as object), ['box-b-taipei', 'box-c-taipei', 'box-a-taichung'], 'nearer first, equal distance by ID');
  const near = { id: 'box-z', distanceKm: 10, capacity: 5 };
  t.ok(compareCandidates(near, { id: 'box-a', distanceKm: 400, capacity: 5 }) < 0, 'same band, same capacity: nearer first');
  t.ok(compareCandidates(near, { id: 'box-a', distanceKm: 400, capacity: 6 }) > 0, 'capacity still comes before distance within a band');
});

t.test('capacity score orders by spare upload, then disk', async (t) => {
  const ex = (idle: number, disk: number) => ({ ...boxExchange('box-x'), 'BANDWIDTH-IDLE-UP': idle, 'DISK-AVAIL': disk }) as unknown as BoxExchange;
  t.ok(capacityScore(ex(10, 0)) > capacityScore(ex(9.99, 99_999)), 'upload dominates disk');
  t.ok(capacityScore(ex(10, 2)) > capacityScore(ex(10, 1)), 'disk breaks ties');
  t.equal(capacityScore({ ...boxExchange('box-y') } as unknown as BoxExchange) >= 0, true, 'missing readings count as zero');
  const placed = { id: 'box-b', distanceKm: 4000, capacity: 0 };
  const unplaced = { id: 'box-a', distanceKm: undefined, capacity: 1e12 };
  t.ok(compareCandidates(placed, unplaced) < 0, 'any placed box before an unplaced one');
  t.ok(compareCandidates(unplaced, { ...unplaced, id: 'box-z', capacity: 1e12 }) < 0, 'ties broken by ID');
});

t.test('a full fleet answers with exactly AMOUNT_OF_BOXES_PER_REQUEST boxes', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS }); // default 20
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  for (let i = 0; i < 45; i++) {
    box.send(boxExchange(`box-n${i}`, { 'BANDWIDTH-IDLE-UP': i, GEOIP: { LOC: `${(i % 80) - 40},${(i * 7) % 360 - 180}` } }));
  }
  for (let i = 0; i < 45; i++) await box.next();
  const reply = await publisher.ask(searchRequest());
  const ids = Object.keys(reply.BOX_SET as object);
  t.equal(ids.length, 20);
  t.equal(ids[0], 'box-n44', 'highest spare upload first');
});
