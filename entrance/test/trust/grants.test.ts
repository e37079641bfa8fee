// The entrance's side of grants against a real Redis: with REQUIRE_PUBLISHER_AUTH a SEARCH reply carries
// a grant for the searching publisher, signed by a key the boxes are told in EXCHANGE replies and the
// enrolment answer, beside the revoked publishers; a revoked publisher gets no grant. Without it, none of
// these fields, so boxes take any PUBLISH as before.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { parsePublicKey } from '../../../shared/src/enrolment/codec.js';
import { trustKeys } from '../../../shared/src/redis-keys.js';
import { verifyGrant } from '../../../shared/src/trust/grant.js';
import { EnrolmentStore } from '../../src/enrolment/store.js';
import { FleetKeys } from '../../src/trust/fleet-keys.js';
import { GRANT_SECONDS } from '../../src/trust/publisher-trust.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { startRedis } from '../../../test/helpers/redis.js';
import { connectPeer } from '../../../test/helpers/ws-client.js';
import { boxExchange, searchRequest } from '../../../test/helpers/messages.js';
import { ask, enrol, newKey, signedHeaders, upgrade } from '../../../test/helpers/enrolment.js';
import { PublisherAccounts } from '../../src/publishers/accounts.js';

/** The reply's FLEET_KEYS as the key map verifyGrant takes. */
function keyMap(fleetKeys: unknown): Map<string, ReturnType<typeof newKey>> {
  const out = new Map<string, ReturnType<typeof newKey>>();
  for (const [keyId, text] of Object.entries((fleetKeys ?? {}) as Record<string, string>)) {
    const key = parsePublicKey(text);
    if (key) out.set(keyId, key);
  }
  return out;
}

t.test('with REQUIRE_PUBLISHER_AUTH: grants in SEARCH, keys and revocations in EXCHANGE and enrolment', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_REQUIRE_PUBLISHER_AUTH: 'true' } });
  const r = redis.client();
  await r.sadd(trustKeys().revokedPublishers, 'publisher-gone');

  const box = await connectPeer(entrance.url);
  t.teardown(() => box.close());
  const accepted = await box.ask(boxExchange('box-g1'));
  t.equal(accepted.MESSAGE, 'ACCEPTED');
  const keys = keyMap(accepted.FLEET_KEYS);
  t.equal(keys.size, 1, 'one fleet key, made by the first entrance to need it');
  t.same(accepted.REVOKED_PUBLISHERS, ['publisher-gone']);

  // Only an enrolled publisher is answered with REQUIRE_PUBLISHER_AUTH (publishers/accounts.ts).
  const accounts = new PublisherAccounts(r);
  const account = await accounts.create('publisher-a', 5e9);
  const key = newKey();
  t.equal((await enrol(entrance.url, 'publisher-a', key, account?.token ?? '')).status, 200);
  const publisher = await upgrade(entrance.url, await signedHeaders(entrance.url, 'publisher-a', key));
  if (!publisher.ok) throw new Error('publisher-a refused');
  t.teardown(() => publisher.ws.terminate());
  const reply = await ask(publisher, searchRequest('publisher-a'));
  const now = Math.floor(Date.now() / 1000);
  const check = verifyGrant(reply.GRANT, keys, now);
  t.ok(check.ok, 'the grant verifies with the keys the box was told, offline');
  if (check.ok) {
    t.equal(check.grant.PUBLISHER, 'publisher-a');
    t.equal(check.grant.QUOTA_BYTES, 5e9, 'with the quota of the publisher\'s account');
    t.ok(Math.abs(check.grant.EXPIRES - now - GRANT_SECONDS) <= 5, 'lives GRANT_SECONDS');
    t.notOk(verifyGrant(reply.GRANT, keys, check.grant.EXPIRES).ok, 'and not longer');
  }
  t.ok(await accounts.revoke('publisher-a'));
  t.equal(await publisher.closed, 4403, 'a revoked publisher is cut off');
  const again = await upgrade(entrance.url, await signedHeaders(entrance.url, 'publisher-a', key));
  t.equal(again.ok, false, 'and gets no more grants');
  t.same((await box.ask(boxExchange('box-g1'))).REVOKED_PUBLISHERS, ['publisher-a', 'publisher-gone'], 'boxes are told of the revocation');

  const { token } = await new EnrolmentStore(r).createToken({ expiresInSeconds: 600, maxUses: 1 });
  const enrolled = await enrol(entrance.url, 'box-g2', newKey(), token);
  t.equal(enrolled.status, 200);
  t.same(Object.keys((enrolled.body.FLEET_KEYS ?? {}) as object), [...keys.keys()], 'the enrolment answer carries the keys to pin');
});

t.test('without REQUIRE_PUBLISHER_AUTH: no grants, no keys', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_REQUIRE_PUBLISHER_AUTH: 'false' } });
  const box = await connectPeer(entrance.url);
  t.teardown(() => box.close());
  const accepted = await box.ask(boxExchange('box-g3'));
  t.equal(accepted.MESSAGE, 'ACCEPTED');
  t.equal(accepted.FLEET_KEYS, undefined, 'the box is not told to check grants');
  t.equal(accepted.REVOKED_PUBLISHERS, undefined);
  const publisher = await connectPeer(entrance.url);
  t.teardown(() => publisher.close());
  t.equal((await publisher.ask(searchRequest('publisher-a'))).GRANT, undefined);
  t.equal(await redis.client().exists(trustKeys().currentFleetKey), 0, 'no fleet key made');
});

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../bin/dandelion');

t.test('dandelion entrance fleet-key rotate and list', async (t) => {
  const redis = await startRedis(t);
  const fleet = new FleetKeys({ redis: redis.client(), keys: trustKeys(), grantSeconds: GRANT_SECONDS });
  const before = (await fleet.current()).keyId;
  const run = async (...args: string[]): Promise<Record<string, unknown>> => {
    const { stdout } = await promisify(execFile)(BIN, ['entrance', 'fleet-key', ...args, '--json'], { env: { ...process.env, DANDELION_REDIS_URL: redis.url } });
    return JSON.parse(stdout) as Record<string, unknown>;
  };
  const rotated = await run('rotate');
  t.not(rotated.CURRENT, before, 'a new key');
  t.equal((await fleet.current()).keyId, rotated.CURRENT, 'grants are signed with it from now on');
  t.same(await run('list'), { CURRENT: rotated.CURRENT, KEYS: [before, String(rotated.CURRENT)].sort() }, 'the retired key is still listed');
  await t.rejects(run('frobnicate'), /unknown command "fleet-key frobnicate"/);
});
