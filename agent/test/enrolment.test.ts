// A real agent against an entrance that requires enrolment: with a fleet token it generates its key
// (0600), enrols and registers by itself, and its LAN status page says so; without a token, or revoked,
// its status page says why it is not registered (a re-flashed card: it waits for an operator); its key and
// ID survive a restart without enrolling again.
import { statSync } from 'node:fs';
import t from 'tap';
import { newBoxKey, parseFleetToken, publicKeyText } from '../../shared/src/enrolment/codec.js';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { EnrolmentStore } from '../../entrance/src/enrolment/store.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';

async function statusOf(httpBase: string): Promise<{ STATUS: string; DETAIL: string } | undefined> {
  const res = await fetch(`${httpBase}/status/status.json`).catch(() => undefined);
  return res?.ok ? ((await res.json()) as { STATUS: string; DETAIL: string }) : undefined;
}

t.test('a box enrols with its fleet token and registers; its status page follows', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_REQUIRE_ENROLMENT: 'true' } });
  const client = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  t.teardown(() => client.disconnect());
  const store = new EnrolmentStore(client);
  const { token } = await store.createToken({ expiresInSeconds: 600, maxUses: 1 });

  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_ENROLMENT_TOKEN: token } });
  t.ok(await eventually(async () => (await client.zscore(`${entrance.id}:BOX_SET`, box.boxId)) !== null), 'registered');
  const keyMode = statSync(`${box.runDirectory}/box-key.pem`).mode & 0o777;
  t.equal(keyMode, 0o600, 'the private key is 0600');
  t.equal((await store.listBoxes()).find((b) => b.ID === box.boxId)?.STATE, 'enrolled');
  const status = await eventually(async () => {
    const s = await statusOf(box.httpBase);
    return s?.STATUS === 'registered' ? s : undefined;
  });
  t.match(status?.DETAIL, /registered with ws:\/\/127\.0\.0\.1/, 'the status page says registered');
  const html = await eventually(async () => {
    const text = await (await fetch(`${box.httpBase}/status/`)).text();
    return text.includes('Registered and serving') ? text : undefined;
  });
  t.match(html, /<td>registered<\/td>/, 'and the page a person opens says so');
  const exchange = await client.hgetall(`${entrance.id}:EXCHANGE:${box.boxId}`);
  t.equal(exchange.STATUS, 'registered', 'the status reaches the entrance (and its dashboard)');

  // A restart keeps its key: the token (one use, now spent) is not needed again.
  await box.stop();
  await client.zrem(`${entrance.id}:BOX_SET`, box.boxId);
  const again = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: box.boxId, runDirectory: box.runDirectory, env: { DANDELION_ENROLMENT_TOKEN: token } });
  t.ok(await eventually(async () => (await client.zscore(`${entrance.id}:BOX_SET`, again.boxId)) !== null), 'registered again after a restart with the same key');
  t.equal((await store.listTokens())[0]?.USES, 1, 'without spending another token use');

  // Revoked: the socket is closed and the status page says why.
  await store.setRevoked(again.boxId, true);
  const revoked = await eventually(async () => {
    const s = await statusOf(again.httpBase);
    return s?.STATUS === 'revoked' ? s : undefined;
  });
  t.ok(revoked, 'status: revoked');
});

t.test('without a token, or with a used-up one, the status page says why', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_REQUIRE_ENROLMENT: 'true' } });
  const client = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  t.teardown(() => client.disconnect());
  const store = new EnrolmentStore(client);

  const bare = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url] });
  const notEnrolled = await eventually(async () => {
    const s = await statusOf(bare.httpBase);
    return s?.STATUS === 'not-enrolled' ? s : undefined;
  });
  t.match(notEnrolled?.DETAIL, /no ENROLMENT_TOKEN/);
  t.ok((await store.listPending()).some((p) => p.ID === bare.boxId), 'the entrance lists it as pending');

  const { token } = await store.createToken({ expiresInSeconds: 600, maxUses: 1 });
  const parsed = parseFleetToken(token);
  if (!parsed) throw new Error('token not parsed');
  t.ok((await store.enrol({ boxId: 'box-someone-else', publicKey: publicKeyText(newBoxKey()), ip: '127.0.0.1', ...parsed })).ok, 'another box took the only use');
  const late = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_ENROLMENT_TOKEN: token } });
  const refused = await eventually(async () => {
    const s = await statusOf(late.httpBase);
    return s?.STATUS === 'token-refused' ? s : undefined;
  });
  t.match(refused?.DETAIL, /used up/, 'token refused: used up');

  // A re-flashed card: its ID is enrolled with the old card's key, and a token alone does not replace it.
  const spare = await store.createToken({ expiresInSeconds: 600, maxUses: 5 });
  const spareToken = parseFleetToken(spare.token);
  if (!spareToken) throw new Error('token not parsed');
  const oldKey = publicKeyText(newBoxKey());
  t.ok((await store.enrol({ boxId: 'box-reflashed', publicKey: oldKey, ip: '127.0.0.1', ...spareToken })).ok, 'the old card enrolled');
  const reflashed = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-reflashed', env: { DANDELION_ENROLMENT_TOKEN: spare.token } });
  const waiting = await eventually(async () => {
    const s = await statusOf(reflashed.httpBase);
    return s?.STATUS === 'awaiting-approval' ? s : undefined;
  });
  t.match(waiting?.DETAIL, /waiting for an operator to approve this box's new key/, 'the status page says it waits for an operator');
  t.equal((await store.boxRecord('box-reflashed'))?.publicKey, oldKey, 'the enrolled key is unchanged');
  t.ok((await store.listBoxes()).find((b) => b.ID === 'box-reflashed')?.REQUESTED, 'the entrance holds its request for an operator');

  const down = await startAgent(t, { redisUrl: redis.url, entranceUrls: ['ws://127.0.0.1:9/dandelion/ws/'] });
  const unreachable = await eventually(async () => {
    const s = await statusOf(down.httpBase);
    return s?.STATUS === 'entrance-unreachable' ? s : undefined;
  });
  t.match(unreachable?.DETAIL, /cannot reach the entrance/);
});
