// A publisher enrols itself with the token an operator created (ENROLMENT_TOKEN) and proves its key at every
// upgrade: with REQUIRE_PUBLISHER_AUTH on it finds boxes only then, keeps one key in RUN_DIRECTORY across
// restarts, and takes its ID from the token. Without a token it learns no box.
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { PublisherAccounts } from '../../entrance/src/publishers/accounts.js';
import { resolvePublisherId } from '../src/identity.js';
import { startRedis } from '../../test/helpers/redis.js';
import { REAL_BOXES, startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { startPublisher } from '../../test/helpers/publisher.js';

t.test('an enrolled publisher finds boxes; one without a token finds none', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: 'box-enrol' });
  const r = redis.client();
  await eventually(async () => (await r.zcard(`${entrance.id}:BOX_SET`)) === 1);

  const stranger = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], id: 'publisher-stranger', account: false });
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], id: 'publisher-member' });
  await eventually(() => pub.publisher.pool.get('box-enrol') !== undefined, 30_000);
  t.pass('the publisher with an account learnt the box');
  const accounts = await new PublisherAccounts(r).list();
  t.same(accounts.map((a) => [a.ID, a.STATE]), [['publisher-member', 'enrolled']], 'it enrolled its key with the token');
  t.ok(existsSync(path.join(pub.configEnv.DANDELION_RUN_DIRECTORY ?? '', 'publisher-key.pem')), 'its key is kept in RUN_DIRECTORY');
  t.equal(stranger.publisher.pool.get('box-enrol'), undefined, 'the publisher without an account learnt no box');
  t.equal(await r.hget(`${entrance.id}:PUBLISHERS`, 'publisher-stranger'), null, 'nor was it recorded');
});

t.test('the publisher\'s ID comes from its token; an ID naming another publisher is refused', async (t) => {
  const token = `dlp_acme_${'A'.repeat(43)}`;
  t.equal(await resolvePublisherId({ ID: undefined, ENROLMENT_TOKEN: token, RUN_DIRECTORY: '/nonexistent' }), 'publisher-acme');
  t.equal(await resolvePublisherId({ ID: 'publisher-acme', ENROLMENT_TOKEN: token, RUN_DIRECTORY: '/nonexistent' }), 'publisher-acme');
  await t.rejects(resolvePublisherId({ ID: 'publisher-other', ENROLMENT_TOKEN: token, RUN_DIRECTORY: '/nonexistent' }), { name: 'UsageError', message: /ENROLMENT_TOKEN is publisher-acme's but ID is publisher-other/ });
});
