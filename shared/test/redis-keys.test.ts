// The one key builder: the original's key names are wire contract (tools read them), every role key
// hangs under the role's own ID, no two keys collide, and each SCAN pattern finds exactly its keys in
// a real Redis.
import t from 'tap';
import { REGISTRY_SHARDS, boxKeys, clusterNameOf, enrolmentKeys, entranceKeys, publisherAccountKeys, publisherKeys, reachabilityKeys, registryShardIndex, releaseKeys, shardKeysOf, trafficKeys, trustKeys } from '../src/redis-keys.js';
import { keysLike, startRedis } from '../../test/helpers/redis.js';

/** Every key string of a builder, with its functions called on a sample argument. */
function allKeys(keys: Record<string, unknown>): string[] {
  return Object.entries(keys).flatMap(([name, v]) => {
    if (typeof v === 'string') return name === 'prefix' || name === 'noPublisher' ? [] : [v];
    if (typeof v === 'function') return [String((v as (...a: unknown[]) => unknown)('arg-1', 'minute', 60))];
    return [];
  });
}

t.test('the original\'s key names', async (t) => {
  const e = entranceKeys('entrance-1');
  t.same([e.ownInfo, e.entranceUrls, e.boxSet, e.exchange('box-9')], ['entrance-1:OWN_INFO', 'entrance-1:ENTRANCE_URLS', 'entrance-1:BOX_SET', 'entrance-1:EXCHANGE:box-9']);
  const b = boxKeys('box-1');
  t.same([b.selfExchange, b.exchange('publisher-2'), b.subscribe('publisher-2'), b.expireFiles, b.trafficFlow('42')], [
    'box-1:SELF_EXCHANGE', 'box-1:EXCHANGE:publisher-2', 'box-1:SUBSCRIBE:publisher-2', 'box-1:EXPIRE_FILES', 'box-1:TRAFFIC_FLOW:log-42',
  ]);
  const p = publisherKeys('publisher-1');
  t.same([p.selfInfo, p.search('box-3'), p.boxRanking, p.sendingQueue, p.boxList, p.processedFile('live/seg1.ts')], [
    'publisher-1:SELF_INFO', 'publisher-1:SEARCH:box-3', 'publisher-1:BOX_RANKING', 'publisher-1:FILE:FILES_SENDING_QUEUE', 'publisher-1:FILE:BOX_LIST', 'publisher-1:FILE:PROCESSED_FILES:live/seg1.ts',
  ]);
});

t.test('role keys hang under the role\'s ID; shared keys under dandelion:; none collide', async (t) => {
  const sets: Array<[string, string[]]> = [
    ['entrance-1:', allKeys(entranceKeys('entrance-1'))],
    ['box-1:', allKeys(boxKeys('box-1'))],
    ['publisher-1:', allKeys(publisherKeys('publisher-1'))],
    ['dandelion:ENROL:', allKeys(enrolmentKeys())],
    ['dandelion:TRAFFIC:', allKeys(trafficKeys())],
    ['dandelion:PUBLISHER:', allKeys(publisherAccountKeys())],
    ['dandelion:REACHABILITY:', allKeys(reachabilityKeys())],
  ];
  const every: string[] = [];
  for (const [prefix, keys] of sets) {
    t.ok(keys.length >= 1, `${prefix} has keys`);
    t.same(keys.filter((k) => !k.startsWith(prefix)), [], `every key starts with ${prefix}`);
    every.push(...keys.filter((k) => !k.includes('*')));
  }
  t.equal(new Set(every).size, every.length, 'no two keys are the same');
  const tk = trafficKeys();
  t.not(tk.fleetBucket('minute', 60), tk.fleetBucket('hour', 60), 'resolutions do not share buckets');
  t.equal(tk.boxBucket('box-1', 'day', 86400), 'dandelion:TRAFFIC:BOX:box-1:DAY:86400');
});

t.test('each SCAN pattern finds exactly its own keys in a real Redis', async (t) => {
  const server = await startRedis(t);
  const r = server.client();
  const b = boxKeys('box-1');
  const neighbour = boxKeys('box-10');
  const written = [b.subscribe('publisher-a'), b.subscribe('publisher-b'), b.exchange('publisher-a'), b.trafficFlow('1'), b.trafficFlow('2'), b.selfExchange,
    neighbour.subscribe('publisher-a'), neighbour.exchange('publisher-a'), neighbour.trafficFlow('1')];
  for (const key of written) await r.set(key, '1');
  t.same((await keysLike(r, b.subscribePattern)).sort(), [b.subscribe('publisher-a'), b.subscribe('publisher-b')]);
  t.same(await keysLike(r, b.exchangePattern), [b.exchange('publisher-a')]);
  t.same((await keysLike(r, b.trafficFlowPattern)).sort(), [b.trafficFlow('1'), b.trafficFlow('2')], 'box-1 does not pick up box-10\'s keys');
});

/** The part of a key Redis Cluster hashes: the first non-empty `{…}`, else the whole key. */
function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

t.test('the cluster layout: the same names behind a hash tag, the registry in 16 shards of one slot each', async (t) => {
  const single = entranceKeys('entrance-1');
  t.same(single.shards.map((s) => s.boxSet), ['entrance-1:BOX_SET'], 'one Redis: one shard, the original\'s names');
  t.equal(single.exchange('box-9'), 'entrance-1:EXCHANGE:box-9');
  t.equal(single.boxHistory('box-9'), 'entrance-1:HISTORY:box-9');
  const cluster = entranceKeys('entrance-1', 'cluster');
  t.equal(cluster.shards.length, REGISTRY_SHARDS);
  cluster.shards.forEach((shard, n) => {
    const keys = [shard.boxSet, shard.boxGeo, shard.boxCapacity, shard.boxPaused('quota'), shard.exchange('box-x'), shard.boxHistory('box-x')];
    t.same([...new Set(keys.map(hashTagOf))], [`entrance-1:${n}`], `shard ${n}'s keys share one tag`);
  });
  const boxId = 'box-9';
  const n = registryShardIndex(boxId, REGISTRY_SHARDS);
  t.equal(cluster.exchange(boxId), `{entrance-1:${n}}:EXCHANGE:box-9`, 'a box\'s exchange is in its shard');
  t.equal(shardKeysOf(cluster, boxId).boxSet, `{entrance-1:${n}}:BOX_SET`);
  t.same([cluster.publishers, cluster.publishersSeen].map(hashTagOf), ['entrance-1', 'entrance-1'], 'the publisher records share the namespace tag');
  const spread = new Set(Array.from({ length: 200 }, (_, i) => registryShardIndex(`box-${i}`, REGISTRY_SHARDS)));
  t.equal(spread.size, REGISTRY_SHARDS, '200 boxes land in every shard');
  for (const [name, keys] of [['ENROL', allKeys(enrolmentKeys('cluster'))], ['TRAFFIC', allKeys(trafficKeys('cluster'))], ['PUBLISHER', allKeys(publisherAccountKeys('cluster'))], ['TRUST', allKeys(trustKeys('cluster'))]] as const) {
    t.same([...new Set(keys.map(hashTagOf))], [`dandelion:${name}`], `dandelion:${name} is one slot on a cluster`);
  }
  t.equal(trafficKeys('cluster').boxBucket('box-1', 'day', 86400), '{dandelion:TRAFFIC}:BOX:box-1:DAY:86400');
  t.equal(trafficKeys().boxBucket('box-1', 'day', 86400), 'dandelion:TRAFFIC:BOX:box-1:DAY:86400', 'one Redis keeps the names');
});

t.test('each single-Redis key has one place in the cluster layout', async (t) => {
  const ns = ['entrance-1'];
  t.same(clusterNameOf('dandelion:ENROL:TOKENS', ns), { key: '{dandelion:ENROL}:TOKENS' });
  t.same(clusterNameOf('dandelion:TRAFFIC:BOX:box-1:TOTAL', ns), { key: trafficKeys('cluster').boxTotal('box-1') });
  t.same(clusterNameOf(releaseKeys().binary('1.2.3', 'arm64'), ns), { key: releaseKeys('cluster').binary('1.2.3', 'arm64') }, 'releases move with their hash tag');
  t.same(clusterNameOf('dandelion:REACHABILITY:box-1', ns), { key: 'dandelion:REACHABILITY:box-1' }, 'one-key namespaces keep their names');
  t.same(clusterNameOf('entrance-1:EXCHANGE:box-9', ns), { key: entranceKeys('entrance-1', 'cluster').exchange('box-9') });
  t.same(clusterNameOf('entrance-1:PUBLISHERS', ns), { key: '{entrance-1}:PUBLISHERS' });
  const geo = clusterNameOf('entrance-1:BOX_GEO', ns);
  t.ok(geo && 'index' in geo && geo.index('box-9') === shardKeysOf(entranceKeys('entrance-1', 'cluster'), 'box-9').boxGeo, 'an index splits by box');
  t.equal(clusterNameOf('box-1:SELF_EXCHANGE', ns), undefined, 'a box\'s own keys are not the entrance\'s');
  t.equal(clusterNameOf('entrance-2:BOX_SET', ns), undefined, 'namespaces not listed stay');
});
