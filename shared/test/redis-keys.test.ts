// The one key builder: the original's key names are wire contract (tools read them), every role key
// hangs under the role's own ID, no two keys collide, and each SCAN pattern finds exactly its keys in
// a real Redis.
import { createRequire } from 'node:module';
import t from 'tap';
import { REGISTRY_SHARDS, boxKeys, clusterNameOf, enrolmentKeys, entranceKeys, publisherAccountKeys, publisherKeys, reachabilityKeys, registryShardIndex, releaseKeys, shardKeysOf, trafficKeys, trustKeys } from '../src/redis-keys.js';
import { keysLike, startRedis } from '../../test/helpers/redis.js';
import { startRedisCluster } from '../../test/helpers/redis-cluster.js';

/**
 * The slot Redis Cluster gives a key: CRC16 of its hash tag (or whole key) mod 16384, as computed by
 * cluster-key-slot, the package ioredis routes every command with (its dependency, untyped: required here).
 */
const keySlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

/** Every key string of a builder, with its functions called on a sample argument. */
function allKeys(keys: Record<string, unknown>): string[] {
  return Object.entries(keys).flatMap(([name, v]) => {
    if (typeof v === 'string') return name === 'prefix' || name === 'noPublisher' ? [] : [v];
    // Maps a key to its name on the wire; not a key of its own.
    if (name === 'trafficFlowOnWire') return [];
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
  // A box's or a publisher's namespace, when listed, moves whole behind its tag (boxKeys, publisherKeys 'cluster').
  const roles = ['box-1', 'publisher-1'];
  for (const [single, cluster] of [[boxKeys('box-1'), boxKeys('box-1', 'cluster')], [publisherKeys('publisher-1'), publisherKeys('publisher-1', 'cluster')]] as const) {
    const from = allKeys(single).filter((k) => !k.includes('*'));
    t.same(from.map((k) => clusterNameOf(k, roles)), allKeys(cluster).filter((k) => !k.includes('*')).map((key) => ({ key })), `${from[0]}…: each key to its cluster name`);
  }
  t.equal(clusterNameOf('entrance-2:BOX_SET', ns), undefined, 'namespaces not listed stay');
});

t.test('a box\'s and a publisher\'s keys: the original\'s names with one Redis, one slot each on a cluster', async (t) => {
  // One Redis: byte for byte the names tools written against the original read (wire contract).
  t.same(allKeys(boxKeys('box-1', 'single')), allKeys(boxKeys('box-1')), 'single is the default');
  t.same(allKeys(boxKeys('box-1')), [
    'box-1:SELF_EXCHANGE', 'box-1:EXCHANGE:arg-1', 'box-1:SUBSCRIBE:arg-1', 'box-1:SUBSCRIBE:*', 'box-1:EXCHANGE:*', 'box-1:PUBLISHER_RECORDS',
    'box-1:EXPIRE_FILES', 'box-1:TRAFFIC_FLOW:log-arg-1', 'box-1:TRAFFIC_FLOW:log-*', 'box-1:TRAFFIC_PENDING', 'box-1:TRAFFIC_PENDING:REJECTED',
    'box-1:TRAFFIC_OFFSET',
  ]);
  t.same(allKeys(publisherKeys('publisher-1')), [
    'publisher-1:SELF_INFO', 'publisher-1:SEARCH:arg-1', 'publisher-1:BOX_RANKING', 'publisher-1:FILE:FILES_SENDING_QUEUE',
    'publisher-1:FILE:FILES_SENDING_PROCESSING', 'publisher-1:FILE:BOX_LIST', 'publisher-1:FILE:REJECTED', 'publisher-1:FILE:PROCESSED_FILES:arg-1',
  ]);
  // A cluster: the same names behind the tag {ID}, so every key of the namespace hashes to one slot.
  for (const [id, single, cluster] of [
    ['box-1', allKeys(boxKeys('box-1')), allKeys(boxKeys('box-1', 'cluster'))],
    ['publisher-1', allKeys(publisherKeys('publisher-1')), allKeys(publisherKeys('publisher-1', 'cluster'))],
  ] as const) {
    t.same(cluster, single.map((k) => `{${id}}${k.slice(id.length)}`), `${id}: the same names behind {${id}}`);
    const concrete = cluster.filter((k) => !k.includes('*'));
    t.same([...new Set(concrete.map(keySlot))], [keySlot(id)], `${id}: all ${concrete.length} keys in slot ${keySlot(id)}`);
  }
  const files = publisherKeys('publisher-1', 'cluster');
  const paths = ['live/seg1.ts', 'a/{b}/c.ts', 'x'.repeat(500)];
  t.same([...new Set(paths.map((p) => keySlot(files.processedFile(p))))], [keySlot('publisher-1')], 'a file path with braces does not move its key');
  const box = boxKeys('box-1', 'cluster');
  t.same([...new Set(['publisher-a', 'publisher-{z}'].flatMap((p) => [box.exchange(p), box.subscribe(p)]).map(keySlot))], [keySlot('box-1')], 'nor does a publisher ID');
  t.not(keySlot('box-1'), keySlot('box-2'), 'two boxes sharing a cluster are (here) in different slots');
  // On the wire a traffic record keeps the original's name, whatever the layout in Redis.
  t.equal(box.trafficFlowOnWire(box.trafficFlow('7')), 'box-1:TRAFFIC_FLOW:log-7');
  t.equal(boxKeys('box-1').trafficFlowOnWire(boxKeys('box-1').trafficFlow('7')), 'box-1:TRAFFIC_FLOW:log-7');
});

t.test('the slot computed here is the one a real cluster gives, and SCAN patterns find the tagged keys on every master', async (t) => {
  const cluster = await startRedisCluster(t);
  const r = cluster.client();
  const box = boxKeys('box-1', 'cluster');
  const publisher = publisherKeys('publisher-1', 'cluster');
  const sample = [box.selfExchange, box.trafficFlow('9'), publisher.sendingQueue, publisher.processedFile('live/a.ts')];
  for (const key of sample) t.equal(Number(await r.call('CLUSTER', 'KEYSLOT', key)), keySlot(key), `${key}: CLUSTER KEYSLOT agrees`);
  // Many boxes spread over every master; each box's records are found by its pattern, and only its own.
  const ids = Array.from({ length: 12 }, (_, i) => `box-${i}`);
  for (const id of ids) await r.set(boxKeys(id, 'cluster').trafficFlow('1'), '1');
  const masters = new Set(await Promise.all(ids.map(async (id) => (await cluster.masterOf(`{${id}}`)).port)));
  t.ok(masters.size > 1, `the boxes' slots are on ${masters.size} masters`);
  for (const id of ids) t.same(await keysLike(r, boxKeys(id, 'cluster').trafficFlowPattern), [boxKeys(id, 'cluster').trafficFlow('1')], `${id}'s pattern`);
});
