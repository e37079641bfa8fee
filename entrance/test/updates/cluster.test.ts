// Updates over the air on a Redis Cluster: the release and rollout keys carry the `{dandelion:RELEASE}` hash
// tag, so an upload's rename and the rollout's scripts stay in one slot; upload, Range download, an offer
// and a rollout decision all work there.
import t from 'tap';
import { hashPassword } from '../../../shared/src/password.js';
import { releaseKeys } from '../../../shared/src/redis-keys.js';
import { startRedisCluster } from '../../../test/helpers/redis-cluster.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { boxExchange } from '../../../test/helpers/messages.js';
import { connectPeer } from '../../../test/helpers/ws-client.js';
import { bucketOf } from '../../src/updates/rollout-policy.js';
import { makeRelease, releaseKey, sha256 } from './fixtures/releases.js';

const TOKEN = 'cluster-release-token';

t.test('upload, download, offer and decide on a cluster', async (t) => {
  const cluster = await startRedisCluster(t);
  const key = releaseKey();
  const { url, entrance } = await startEntrance(t, {
    redisUrl: 'redis://127.0.0.1:1', releaseKeys: key.trusted,
    env: { DANDELION_REDIS_CLUSTER_NODES: cluster.nodesEnv, DANDELION_API_TOKENS: JSON.stringify([await hashPassword(TOKEN)]), DANDELION_ENTRANCE_SWEEP_FREQ: '60' },
  });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const auth = { authorization: `Bearer ${TOKEN}` };
  const release = makeRelease(key, '2.0.0', 'arm64', 700_000);
  const up = await fetch(`${base}/api/releases`, { method: 'POST', headers: { ...auth, 'x-dandelion-release': release.line }, body: new Uint8Array(release.binary) });
  t.equal(up.status, 201, await up.clone().text());
  const k = releaseKeys('cluster');
  t.ok(k.binary('2.0.0', 'arm64').startsWith('{dandelion:RELEASE}:'), 'hash-tagged');
  t.equal(await cluster.client().strlen(k.binary('2.0.0', 'arm64')), 700_000, 'stored on the cluster');
  const part = await fetch(`${base}/dandelion/releases/2.0.0/arm64`, { headers: { range: 'bytes=300000-' } });
  t.equal(part.status, 206);
  t.equal(sha256(Buffer.from(await part.arrayBuffer())), sha256(release.binary.subarray(300_000)), 'a range of it');

  const start = await fetch(`${base}/api/rollout`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ VERSION: '2.0.0', PERCENT: 100, STAGES: [50, 100], STAGE_SECONDS: 0.001 }) });
  t.equal(start.status, 201);
  let id = 'box-k0';
  for (let i = 0; bucketOf(id) >= 50; i++) id = `box-k${i}`;
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const reply = await box.ask(boxExchange(id, { AGENT_VERSION: '1.0.0', AGENT_ARCH: 'arm64' }));
  t.match(reply.UPDATE, { ACTION: 'install', VERSION: '2.0.0', URL: `${base}/dandelion/releases/2.0.0/arm64` }, 'offered');
  await new Promise((resolve) => setTimeout(resolve, 20));
  await entrance.tick();
  t.equal(await cluster.client().hget(k.rollout, 'STAGE'), '1', 'the background pass advanced it');
});
