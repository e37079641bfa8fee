// The entrance on a real Redis Cluster (six nodes, started once for this file): boxes register through
// EXCHANGE into hash-tagged registry shards, SEARCH merges the shards with the documented ranking, a
// silent box expires out of every index, quarantined and unreachable boxes stay out of SEARCH, and the
// dashboard's API lists the fleet; traffic is counted once, and enrolment tokens, publisher accounts and
// the quarantine work with their keys in one slot per namespace; a fleet moves from one Redis to the cluster.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { REGISTRY_SHARDS, enrolmentKeys, entranceKeys, reachabilityKeys, registryShardIndex, trustKeys } from '../../shared/src/redis-keys.js';
import { hashPassword } from '../../shared/src/password.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { eventually } from '../../test/helpers/agent.js';
import { WebSocket, WebSocketServer } from 'ws';
import { silentLogger } from '../../shared/src/log.js';
import { Close, decodeMessage } from '../../shared/src/protocol/index.js';
import { PeerCredentials } from '../../shared/src/enrolment/peer-credentials.js';
import { ask, newKey, upgrade } from '../../test/helpers/enrolment.js';
import { EnrolmentStore } from '../src/enrolment/store.js';
import { RevocationWatch } from '../src/enrolment/revocation-watch.js';
import { BoxRegistry } from '../src/registry/registry.js';
import { PublisherAccounts, revokedPublisherIds } from '../src/publishers/accounts.js';
import { trafficTotals } from '../src/traffic/read.js';
import { Quarantine } from '../src/trust/quarantine.js';
import { startRedis } from '../../test/helpers/redis.js';
import { clusterNodes, startRedisCluster } from '../../test/helpers/redis-cluster.js';
import { awaitReplica } from '../../shared/src/redis-replica-wait.js';
import { Redis } from 'ioredis';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';

const run = promisify(execFile);
const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');
const TAIPEI = '25.03,121.56';
const TAICHUNG = '24.15,120.67'; // ~140 km from Taipei: same 500 km band
const TOKYO = '35.68,139.69'; // ~2100 km
const PARIS = '48.85,2.35';

const cluster = await startRedisCluster(t);
const redis = cluster.client();
/** Entrance env on this cluster; REDIS_URL is ignored when REDIS_CLUSTER_NODES is set. */
const onCluster = (env: Record<string, string> = {}) => ({
  redisUrl: 'redis://127.0.0.1:1/0',
  env: { ...ORIGINAL_PUBLISHERS, DANDELION_REDIS_CLUSTER_NODES: cluster.nodesEnv, ...env },
});

t.test('boxes register through EXCHANGE into hash-tagged shards, none under the single-Redis names', async (t) => {
  const { url, id } = await startEntrance(t, onCluster({ DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '120' }));
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const ids = Array.from({ length: 12 }, (_, i) => `box-shard-${i}`);
  for (const boxId of ids) t.equal((await box.ask(boxExchange(boxId, { GEOIP: { LOC: TAIPEI }, 'BANDWIDTH-IDLE-UP': 10 }))).MESSAGE, 'ACCEPTED');
  const shards = new Set<number>();
  for (const boxId of ids) {
    const n = registryShardIndex(boxId, REGISTRY_SHARDS);
    shards.add(n);
    t.equal((await redis.hgetall(`{${id}:${n}}:EXCHANGE:${boxId}`)).ID, boxId, `${boxId}'s exchange in shard ${n}`);
    t.ok(Number(await redis.zscore(`{${id}:${n}}:BOX_SET`, boxId)) > Date.now() / 1000, 'listed in its shard\'s BOX_SET');
    t.not(await redis.geopos(`{${id}:${n}}:BOX_GEO`, boxId), [null], 'placed in its shard\'s BOX_GEO');
  }
  t.ok(shards.size > 1, `the boxes spread over ${shards.size} shards`);
  for (const key of [`${id}:BOX_SET`, `${id}:BOX_GEO`, `${id}:BOX_CAPACITY`, `${id}:EXCHANGE:${ids[0]}`]) t.equal(await redis.exists(key), 0, `nothing at ${key}`);
  t.equal(entranceKeys(id, 'cluster').exchange('box-shard-0'), `{${id}:${registryShardIndex('box-shard-0', REGISTRY_SHARDS)}}:EXCHANGE:box-shard-0`);
});

t.test('SEARCH merges the shards with the documented ranking, nearer first within a band', async (t) => {
  const { url } = await startEntrance(t, onCluster({ DANDELION_AMOUNT_OF_BOXES_PER_REQUEST: '6' }));
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  const boxes: Array<[string, Record<string, unknown>]> = [
    ['box-paris-fast', { GEOIP: { LOC: PARIS }, 'BANDWIDTH-IDLE-UP': 900 }],
    ['box-tokyo', { GEOIP: { LOC: TOKYO }, 'BANDWIDTH-IDLE-UP': 50 }],
    ['box-taipei-slow', { GEOIP: { LOC: TAIPEI }, 'BANDWIDTH-IDLE-UP': 5 }],
    ['box-taichung-fast', { GEOIP: { LOC: TAICHUNG }, 'BANDWIDTH-IDLE-UP': 80 }],
    ['box-taipei-slow-bigdisk', { GEOIP: { LOC: TAIPEI }, 'BANDWIDTH-IDLE-UP': 5, 'DISK-AVAIL': 500 }],
    ['box-a-taichung', { GEOIP: { LOC: TAICHUNG }, 'BANDWIDTH-IDLE-UP': 20 }],
    ['box-b-taipei', { GEOIP: { LOC: TAIPEI }, 'BANDWIDTH-IDLE-UP': 20 }],
    ['box-nowhere', { 'BANDWIDTH-IDLE-UP': 1000 }],
  ];
  for (const [boxId, extra] of boxes) t.equal((await box.ask(boxExchange(boxId, extra))).MESSAGE, 'ACCEPTED');
  t.ok(new Set(boxes.map(([boxId]) => registryShardIndex(boxId, REGISTRY_SHARDS))).size > 1, 'the boxes are in several shards');

  const near = await publisher.ask(searchRequest('publisher-tw', { GEOIP: { LOC: TAIPEI } }));
  t.same(Object.keys(near.BOX_SET as object),
    ['box-taichung-fast', 'box-b-taipei', 'box-a-taichung', 'box-taipei-slow-bigdisk', 'box-taipei-slow', 'box-tokyo'],
    'band, then upload, then disk, then nearer; limit 6');
  t.same(Object.values(near.BOX_SET as Record<string, { RANK: number }>).map((b) => b.RANK), [1, 2, 3, 4, 5, 6]);
  const anywhere = await publisher.ask(searchRequest('publisher-nowhere'));
  t.same(Object.keys(anywhere.BOX_SET as object).slice(0, 3), ['box-nowhere', 'box-paris-fast', 'box-taichung-fast'], 'no publisher place: by capacity');
});

t.test('a silent box is hidden at once and swept out of its shard', async (t) => {
  let now = 1_700_000_000_000;
  const { url, id, entrance } = await startEntrance(t, { ...onCluster({ DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '60', DANDELION_ENTRANCE_SWEEP_FREQ: '60' }), now: () => now });
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  await box.ask(boxExchange('box-old', { GEOIP: { LOC: '1,1' } }));
  now += 30_000;
  await box.ask(boxExchange('box-new', { GEOIP: { LOC: '1,1' } }));
  t.same(Object.keys((await publisher.ask(searchRequest())).BOX_SET as object).sort(), ['box-new', 'box-old']);
  now += 40_000; // box-old silent for 70 s > 60 s
  t.same(Object.keys((await publisher.ask(searchRequest('publisher-x', { GEOIP: { LOC: '1,1' } }))).BOX_SET as object), ['box-new'], 'expired box filtered before any sweep');
  await entrance.tick();
  const old = `{${id}:${registryShardIndex('box-old', REGISTRY_SHARDS)}}`;
  t.equal(await redis.exists(`${old}:EXCHANGE:box-old`), 0, 'exchange removed');
  t.equal(await redis.zscore(`${old}:BOX_SET`, 'box-old'), null, 'BOX_SET entry removed');
  t.equal(await redis.zscore(`${old}:BOX_GEO`, 'box-old'), null, 'geo index entry removed');
  t.equal(await redis.zscore(`${old}:BOX_CAPACITY`, 'box-old'), null, 'capacity index entry removed');
  t.equal(await redis.exists(`{${id}:${registryShardIndex('box-new', REGISTRY_SHARDS)}}:EXCHANGE:box-new`), 1, 'live box kept');
});

t.test('quarantined and (with REQUIRE_REACHABLE) unreachable boxes stay out of SEARCH', async (t) => {
  const { url } = await startEntrance(t, onCluster({ DANDELION_REQUIRE_REACHABLE: 'true' }));
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  for (const boxId of ['box-ok', 'box-unknown', 'box-quarantined']) await box.ask(boxExchange(boxId, { 'BANDWIDTH-IDLE-UP': 10 }));
  const verdicts = reachabilityKeys();
  for (const boxId of ['box-ok', 'box-quarantined']) await redis.hset(verdicts.box(boxId), 'verdict', 'reachable');
  await redis.zadd(trustKeys('cluster').quarantine, Date.now() / 1000 + 3600, 'box-quarantined');
  t.same(Object.keys((await publisher.ask(searchRequest())).BOX_SET as object), ['box-ok']);
});

t.test('the dashboard API lists the fleet and counts it online', async (t) => {
  const tokens = JSON.stringify([await hashPassword('cluster-token-1')]);
  const { url } = await startEntrance(t, onCluster({ DANDELION_API_TOKENS: tokens }));
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  for (let i = 0; i < 5; i++) await box.ask(boxExchange(`box-dash-${i}`, { 'BANDWIDTH-IDLE-UP': i }));
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const get = async (route: string): Promise<Record<string, unknown>> => {
    const res = await fetch(`${base}${route}`, { headers: { authorization: 'Bearer cluster-token-1' } });
    t.equal(res.status, 200, route);
    return (await res.json()) as Record<string, unknown>;
  };
  const list = await get('/api/boxes?sort=BANDWIDTH_IDLE_UP&order=desc');
  t.equal(list.TOTAL, 5);
  t.same((list.BOXES as Array<{ ID: string; STATE: string }>).map((b) => [b.ID, b.STATE]), [4, 3, 2, 1, 0].map((i) => [`box-dash-${i}`, 'online']));
  t.match(await get('/api/summary'), { BOXES: { ONLINE: 5, TOTAL: 5 } });
  t.match(await get('/api/boxes/box-dash-2'), { EXCHANGE: { ID: 'box-dash-2' } });
});

t.test('traffic aggregates are counted once on a cluster', async (t) => {
  const { url } = await startEntrance(t, onCluster());
  const publisher = await connectPeer(url);
  const box = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  await publisher.ask(searchRequest('publisher-cl')); // a publisher that searched here is known: its traffic counts
  const from = Math.floor(Date.now() / 1000) - 20;
  const aggregates = [
    { ID: 'cl-1', PUBLISHER: 'publisher-cl', FILE: 'live/a.ts', REQUESTS: 2, BYTES: 1000, FROM: from, TO: from + 1 },
    { ID: 'cl-2', PUBLISHER: '', FILE: 'favicon.ico', REQUESTS: 1, BYTES: 40, FROM: from, TO: from + 1 },
  ];
  for (let i = 0; i < 2; i++) t.equal((await box.ask(boxExchange('box-traffic', { TRAFFIC_AGGREGATES: aggregates }))).MESSAGE, 'ACCEPTED');
  t.same(await trafficTotals(redis, { box: 'box-traffic' }), { bytes: 1040, requests: 3 }, 'sent twice, counted once');
  t.same(await trafficTotals(redis, { publisher: 'publisher-cl' }), { bytes: 1000, requests: 2 });
  t.equal(await redis.exists('{dandelion:TRAFFIC}:BOX:box-traffic:TOTAL'), 1, 'under the namespace\'s hash tag');
});

t.test('enrolment tokens, publisher accounts and the quarantine keep their keys in one slot per namespace', async (t) => {
  const enrolment = new EnrolmentStore(redis);
  const { info } = await enrolment.createToken({ expiresInSeconds: 3600, maxUses: 2, note: 'cluster' });
  t.match((await enrolment.listTokens()).find((tok) => tok.ID === info.ID), { MAX_USES: 2, NOTE: 'cluster' }, 'a token made and listed');

  const accounts = new PublisherAccounts(redis);
  t.ok(await accounts.create('publisher-revoked-cl', 0), 'an account made');
  t.ok(await accounts.revoke('publisher-revoked-cl'));
  t.equal(await accounts.stateOf('publisher-revoked-cl'), 'revoked');
  t.ok((await revokedPublisherIds(redis)).includes('publisher-revoked-cl'), 'boxes are told to refuse it');

  const { url, id } = await startEntrance(t, onCluster());
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  for (const boxId of ['box-fine', 'box-caught']) await box.ask(boxExchange(boxId, { 'BANDWIDTH-IDLE-UP': 10 }));
  const quarantine = new Quarantine({ redis, keys: entranceKeys(id, 'cluster'), trust: trustKeys('cluster') });
  t.same(await quarantine.record('publisher-auditor', [{ BOX_ID: 'box-caught', REASON: 'served other bytes', PATH: 'live/a.ts' }]), ['box-caught']);
  t.ok((await quarantine.current()).has('box-caught'));
  t.same(Object.keys((await publisher.ask(searchRequest())).BOX_SET as object).filter((b) => b === 'box-fine' || b === 'box-caught'), ['box-fine'], 'the quarantined box is left out of SEARCH');
});

t.test('a fleet moves from one Redis to the cluster: registry, ranking, tokens and traffic intact', async (t) => {
  const single = await startRedis(t);
  const env = { DANDELION_ID: 'entrance-moving', DANDELION_ENTRANCE_EXPIRE_BOX_TIME: '600' };
  const before = await startEntrance(t, { redisUrl: single.url, env: { ...ORIGINAL_PUBLISHERS, ...env } });
  const box = await connectPeer(before.url);
  const publisher = await connectPeer(before.url);
  await publisher.ask(searchRequest('publisher-mover'));
  const from = Math.floor(Date.now() / 1000) - 20;
  const traffic = [{ ID: 'mv-1', PUBLISHER: 'publisher-mover', FILE: 'live/a.ts', REQUESTS: 3, BYTES: 3000, FROM: from, TO: from + 1 }];
  const placed: Array<[string, string, number]> = [['box-mv-taichung', TAICHUNG, 20], ['box-mv-taipei', TAIPEI, 20], ['box-mv-tokyo', TOKYO, 90], ['box-mv-paused', TAIPEI, 99]];
  for (const [boxId, loc, up] of placed) {
    const paused = boxId === 'box-mv-paused' ? { PAUSED: 'quota' } : {};
    await box.ask(boxExchange(boxId, { GEOIP: { LOC: loc }, 'BANDWIDTH-IDLE-UP': up, TRAFFIC_AGGREGATES: boxId === 'box-mv-tokyo' ? traffic : [], ...paused }));
  }
  const ranked = Object.keys((await publisher.ask(searchRequest('publisher-mover', { GEOIP: { LOC: TAIPEI } }))).BOX_SET as object);
  const { info } = await new EnrolmentStore(single.client()).createToken({ expiresInSeconds: 3600, maxUses: 5, note: 'moved' });
  await Promise.all([box.close(), publisher.close()]);
  await before.stop();

  // The operator's command, with the single Redis and the cluster both named in its config.
  const { stdout } = await run(BIN, ['entrance', 'move-to-cluster', '--namespace', 'entrance-moving', '--json'], {
    env: { ...process.env, DANDELION_REDIS_URL: single.url, DANDELION_REDIS_CLUSTER_NODES: cluster.nodesEnv },
  });
  const report = JSON.parse(stdout) as { COPIED: number; INDEXES: number; MEMBERS: number };
  t.ok(report.COPIED > 0 && report.INDEXES >= 4 && report.MEMBERS >= 10, `moved: ${stdout.trim()}`);

  const after = await startEntrance(t, onCluster(env));
  const searcher = await connectPeer(after.url);
  t.teardown(() => searcher.close());
  const moved = Object.keys((await searcher.ask(searchRequest('publisher-mover', { GEOIP: { LOC: TAIPEI } }))).BOX_SET as object);
  t.same(moved, ranked, 'the same boxes in the same order, before any box heartbeats again');
  t.same(moved, ['box-mv-taipei', 'box-mv-taichung', 'box-mv-tokyo'], 'the paused box stays out');
  t.match((await new EnrolmentStore(redis).listTokens()).find((tok) => tok.ID === info.ID), { NOTE: 'moved', MAX_USES: 5 }, 'the enrolment token moved');
  t.same(await trafficTotals(redis, { box: 'box-mv-tokyo' }), { bytes: 3000, requests: 3 }, 'counted traffic moved');
  t.equal(await after.entrance.services.registry.countPaused().then((p) => p.quota), 1, 'the paused set moved');
});

t.test('a revocation published on the cluster closes the box\'s socket and drops it from its shard', async (t) => {
  const keys = entranceKeys('entrance-revoking', 'cluster');
  const registry = new BoxRegistry({ redis, keys, expireSeconds: 120, log: silentLogger() });
  const watch = new RevocationWatch({ redis, registry, log: silentLogger() });
  await watch.start();
  t.teardown(() => watch.stop());
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.teardown(() => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  });
  wss.on('connection', (ws) => watch.track(ws, 'box-revoked-cl'));
  await new Promise((resolve) => wss.once('listening', resolve));
  const address = wss.address();
  const client = new WebSocket(`ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`);
  await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
  const decoded = decodeMessage(boxExchange('box-revoked-cl'));
  if (decoded.kind !== 'EXCHANGE') throw new Error('test message did not decode');
  await registry.upsert(decoded.msg, undefined);
  const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
  await redis.publish(enrolmentKeys('cluster').revokedChannel, 'box-revoked-cl');
  t.equal(await closed, Close.REVOKED, 'closed with REVOKED');
  let registered = true;
  for (let i = 0; i < 200 && registered; i++) {
    registered = (await registry.expiriesOf(['box-revoked-cl']))[0] !== null;
    if (registered) await new Promise((r) => setTimeout(r, 10));
  }
  t.notOk(registered, 'the box left its shard');
});

t.test('a box enrols with a token and connects with a signed upgrade on a cluster', async (t) => {
  const { url } = await startEntrance(t, onCluster({ DANDELION_REQUIRE_ENROLMENT: 'true' }));
  const { token } = await new EnrolmentStore(redis).createToken({ expiresInSeconds: 600, maxUses: 1 });
  const creds = new PeerCredentials('box-enrolled-cl', newKey(), token);
  t.same(await creds.enrol(url), { ok: true }, 'enrolled');
  const headers = await creds.upgradeHeaders(url);
  if (!headers) throw new Error('no upgrade headers after enrolment');
  const socket = await upgrade(url, headers);
  t.teardown(() => (socket.ok ? socket.ws.close() : undefined));
  t.equal((await ask(socket, boxExchange('box-enrolled-cl'))).MESSAGE, 'ACCEPTED', 'its EXCHANGE is accepted');
  const replay = await upgrade(url, headers);
  t.equal(replay.ok, false, 'the same signed challenge cannot be used twice');
});

t.test('when the best boxes are quarantined, SEARCH reaches past them to the next ones', async (t) => {
  const { url } = await startEntrance(t, onCluster({ DANDELION_AMOUNT_OF_BOXES_PER_REQUEST: '4' }));
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  for (let i = 0; i < 45; i++) box.send(boxExchange(`box-deep-${String(i).padStart(2, '0')}`, { 'BANDWIDTH-IDLE-UP': 1000 - i }));
  for (let i = 0; i < 45; i++) await box.next();
  const until = Date.now() / 1000 + 3600;
  for (let i = 0; i < 38; i++) await redis.zadd(trustKeys('cluster').quarantine, until, `box-deep-${String(i).padStart(2, '0')}`);
  t.same(Object.keys((await publisher.ask(searchRequest())).BOX_SET as object), ['box-deep-38', 'box-deep-39', 'box-deep-40', 'box-deep-41'], 'the four best not quarantined');
  await redis.zrem(trustKeys('cluster').quarantine, ...Array.from({ length: 38 }, (_, i) => `box-deep-${String(i).padStart(2, '0')}`));
});

t.test('awaitReplica: on a cluster a write is on the replica when it resolves, and throws while the replica cannot take it', async (t) => {
  const key = enrolmentKeys('cluster').tokens;
  await redis.zadd(key, 1, 'token-replicated');
  await awaitReplica(redis, key);
  const master = await cluster.masterOf(key);
  const nodes = await clusterNodes(master.port);
  const masterId = [...nodes].find(([, n]) => n.flags.includes('myself'))?.[0];
  const replicaPort = [...nodes.values()].find((n) => n.master === masterId)!.port;
  const replica = new Redis({ host: '127.0.0.1', port: replicaPort, maxRetriesPerRequest: 1 });
  t.teardown(() => replica.disconnect());
  await replica.call('READONLY');
  t.equal(await replica.zscore(key, 'token-replicated'), '1', 'the replica has the write');

  const node = cluster.nodes.find((n) => n.port === replicaPort)!;
  node.proc.kill('SIGSTOP'); // for less than cluster-node-timeout: no failover, only no replica acks
  try {
    await redis.zadd(key, 2, 'token-unconfirmed');
    await t.rejects(awaitReplica(redis, key), { name: 'NotReplicatedError' }, 'not confirmed: the caller answers with an error and is asked again');
  } finally {
    node.proc.kill('SIGCONT');
  }
  // For a second after a WAIT timed out, the master's guarded writes fail at once (no second stall each).
  await t.rejects(awaitReplica(redis, key), { name: 'NotReplicatedError' }, 'a write just after fails at once');
  const confirmed = await eventually(() => awaitReplica(redis, key).then(() => true, () => false), 5_000, 100);
  t.ok(confirmed, 'confirmed again once the replica runs');

  const single = await startRedis(t);
  const one = single.client();
  await one.set('k', 'v');
  await awaitReplica(one, 'k');
  t.pass('one Redis: nothing is waited for (it has no replica to wait for)');
});

// Last: it kills a master of the cluster every subtest above shares.
t.test('a killed master\'s replica takes over and the entrance goes on registering and finding boxes', async (t) => {
  const { url, id } = await startEntrance(t, onCluster());
  const box = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  t.equal((await box.ask(boxExchange('box-failover', { 'BANDWIDTH-IDLE-UP': 5 }))).MESSAGE, 'ACCEPTED');
  const shardKey = `{${id}:${registryShardIndex('box-failover', REGISTRY_SHARDS)}}:BOX_SET`;
  const killed = await cluster.killMasterOf(shardKey);
  let found = false;
  // Failover takes cluster-node-timeout (2 s) and an election; the bound is loose for a loaded machine.
  for (let i = 0; i < 120 && !found; i++) {
    const reply = await box.ask(boxExchange('box-failover', { 'BANDWIDTH-IDLE-UP': 5 }));
    found = reply.MESSAGE === 'ACCEPTED' && 'box-failover' in ((await publisher.ask(searchRequest())).BOX_SET as object);
    if (!found) await new Promise((r) => setTimeout(r, 500));
  }
  t.ok(found, 'the box is registered and found again after the failover');
  t.not((await cluster.masterOf(shardKey)).port, killed.port, 'another node serves the slot now');
});
