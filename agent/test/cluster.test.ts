// A box agent and a publisher whose Redis is a real Redis Cluster (REDIS_CLUSTER_NODES; six nodes started
// by this file), with an entrance on its own Redis: a file the publisher's send queue takes from the cluster
// (BLMOVE) reaches the box, which stores it and serves it through nginx; its traffic is tailed into the
// cluster and counted by the entrance; the expiry sweep deletes it. Every key either role wrote carries its
// hash tag (one slot per role), and nothing is left under the single-Redis names.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { boxKeys, publisherKeys, trafficKeys } from '../../shared/src/redis-keys.js';
import { keysLike, startRedis } from '../../test/helpers/redis.js';
import { startRedisCluster } from '../../test/helpers/redis-cluster.js';
import { REAL_BOXES, startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { startPublisher } from '../../test/helpers/publisher.js';

/** REDIS_URL for a role on the cluster: never used, REDIS_CLUSTER_NODES wins (nothing listens on port 1). */
const UNUSED_REDIS_URL = 'redis://127.0.0.1:1/0';

t.test('a file goes from the publisher\'s queue to the box, is served, counted and expired, both roles on a cluster', async (t) => {
  const cluster = await startRedisCluster(t);
  const c = cluster.client();
  const entranceRedis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: entranceRedis.url, env: REAL_BOXES });
  const e = entranceRedis.client();

  const boxId = 'box-oncluster';
  const box = await startAgent(t, {
    redisUrl: UNUSED_REDIS_URL, redisClusterNodes: cluster.nodesEnv, entranceUrls: [entrance.url], boxId,
    env: { DANDELION_EXPIRY_CRON: '* * * * * *' },
  });
  t.ok(await eventually(async () => (await e.zscore(`${entrance.id}:BOX_SET`, boxId)) !== null), 'the box registered at the entrance');
  const pub = await startPublisher(t, { redisUrl: entranceRedis.url, redisClusterNodes: cluster.nodesEnv, entranceUrls: [entrance.url], env: { DANDELION_REPLICAS: '1' } });
  t.ok(await eventually(() => pub.publisher.pool.ready().length === 1), 'the publisher connected to the box');

  // The original's queue, on the cluster: an entry pushed by any program is taken with BLMOVE and sent.
  const pk = publisherKeys(pub.id, 'cluster');
  const bk = boxKeys(boxId, 'cluster');
  const content = randomBytes(64_000);
  const file = path.join(path.dirname(pub.watchDirectory), 'clip.ts');
  writeFileSync(file, content);
  await c.rpush(pk.sendingQueue, JSON.stringify({ FILE_PATH: file, TTL: 4 }));
  const copies = await eventually(async () => {
    const held = await c.hgetall(pk.processedFile('clip.ts'));
    return Object.keys(held).length === 1 ? held : undefined;
  });
  t.same(Object.keys(copies ?? {}), [boxId], '{ID}:FILE:PROCESSED_FILES lists the box');
  // The copy is recorded as delivered first, and the entry taken off the processing list after it.
  t.ok(await eventually(async () => (await c.llen(pk.sendingProcessing)) === 0), 'the entry left the processing list when delivered');
  t.equal(await c.llen(pk.sendingQueue), 0);

  // Stored and served through the box's nginx.
  const stored = path.join(box.baseDirectory, pub.id, 'clip.ts');
  t.ok(existsSync(stored), 'the box stored the file');
  t.ok((await c.zscore(bk.expireFiles, `${pub.id}/clip.ts`)) !== null, 'with its deadline in {ID}:EXPIRE_FILES');
  t.ok(await c.exists(bk.subscribe(pub.id)), 'the PUBLISH handshake was recorded (the records script)');
  const served = await fetch(`${box.httpBase}/${pub.id}/clip.ts`);
  t.equal(served.status, 200);
  t.ok(Buffer.from(await served.arrayBuffer()).equals(content), 'nginx serves the same bytes');

  // The access log is tailed into the cluster and sent with the next EXCHANGE; the entrance counts it once.
  const counted = await eventually(async () => Number(await e.hget(trafficKeys().boxTotal(boxId), 'requests')) === 1 ? e.hgetall(trafficKeys().boxTotal(boxId)) : undefined);
  t.ok(Number(counted?.bytes) >= content.length, `the entrance counted the box's traffic (${counted?.bytes} bytes, 1 request)`);
  t.ok(await eventually(async () => (await c.hlen(bk.trafficPending)) === 0), 'acknowledged aggregates left {ID}:TRAFFIC_PENDING');
  t.equal(await c.llen(bk.trafficRejected), 0, 'no stored traffic was refused (records go under their original names)');
  t.same(await c.hgetall(bk.trafficOffset).then((h) => Number(h.offset) > 0), true, 'the tail\'s position is kept in {ID}:TRAFFIC_OFFSET');

  // Every key either role wrote carries its tag; none has the single-Redis name.
  const boxKeysWritten = await keysLike(c, `{${boxId}}:*`);
  const pubKeysWritten = await keysLike(c, `{${pub.id}}:*`);
  t.ok(boxKeysWritten.includes(bk.selfExchange) && boxKeysWritten.includes(bk.expireFiles), `the box's keys are tagged: ${boxKeysWritten.length} keys`);
  t.ok(pubKeysWritten.includes(pk.boxRanking) && pubKeysWritten.includes(pk.search(boxId)), `the publisher's keys are tagged: ${pubKeysWritten.length} keys`);
  t.same([...await keysLike(c, `${boxId}:*`), ...await keysLike(c, `${pub.id}:*`)], [], 'nothing under the single-Redis names');

  // The expiry sweep, reading the deadline from the cluster, deletes the file.
  t.ok(await eventually(() => !existsSync(stored), 15_000), 'the file is deleted once its TTL passed');
  // The sweep deletes the file first and its entry after (a crash between them retries, never leaks), so wait for it.
  t.ok(await eventually(async () => (await c.zscore(bk.expireFiles, `${pub.id}/clip.ts`)) === null), 'and its entry in {ID}:EXPIRE_FILES');
  t.equal((await fetch(`${box.httpBase}/${pub.id}/clip.ts`)).status, 404, 'nginx no longer serves it');
});
