// The fleet's signing keys on a real Redis: every entrance gets the same current key (created once, even
// when two ask at once); grants signed with it verify against the public keys boxes are told; rotation
// makes a new key current while the retired one stays listed until its grants expire, then is pruned; a
// damaged entry is skipped, never trusted.
import t from 'tap';
import type { KeyObject } from 'node:crypto';
import { parsePublicKey } from '../../../shared/src/enrolment/codec.js';
import { trustKeys } from '../../../shared/src/redis-keys.js';
import { signGrant, verifyGrant } from '../../../shared/src/trust/grant.js';
import { FleetKeys, decodeStoredKey } from '../../src/trust/fleet-keys.js';
import { startRedis } from '../../../test/helpers/redis.js';

const GRANT_SECONDS = 600;

function boxView(listed: Record<string, string>): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  for (const [keyId, text] of Object.entries(listed)) {
    const key = parsePublicKey(text);
    if (key) out.set(keyId, key);
  }
  return out;
}

t.test('one current key for every entrance, and rotation that strands no grant', async (t) => {
  const redis = await startRedis(t);
  let now = 1_800_000_000_000;
  const make = () => new FleetKeys({ redis: redis.client(), keys: trustKeys(), grantSeconds: GRANT_SECONDS, now: () => now });
  const [a, b] = [make(), make()];
  const [fromA, fromB] = await Promise.all([a.current(), b.current()]);
  t.equal(fromA.keyId, fromB.keyId, 'two entrances asking at once agree on one key');
  t.same(Object.keys(await a.publicKeys()), [fromA.keyId], 'and only that key is stored');

  const issued = Math.floor(now / 1000);
  const grant = signGrant({ PUBLISHER: 'publisher-alice', ISSUED: issued, EXPIRES: issued + GRANT_SECONDS, QUOTA_BYTES: 0, KEY_ID: fromA.keyId }, fromA.privateKey);
  t.ok(verifyGrant(grant, boxView(await b.publicKeys()), issued).ok, 'a grant one entrance signed verifies with the keys any entrance lists');

  const rotated = await b.rotate();
  t.not(rotated, fromA.keyId);
  t.equal((await a.current()).keyId, rotated, 'after rotation every entrance signs with the new key');
  now += 300_000;
  t.ok(verifyGrant(grant, boxView(await a.publicKeys()), Math.floor(now / 1000)).ok, 'a grant of the retired key still verifies while it lives');
  t.equal(await a.prune(), 0, 'nothing to prune while a grant of the retired key may live');
  now += 301_000;
  t.same(Object.keys(await a.publicKeys()), [rotated], 'once its grants expired the retired key is no longer listed');
  t.equal(await a.prune(), 1, 'and is pruned');
});

t.test('a damaged entry is skipped', async (t) => {
  const redis = await startRedis(t);
  const client = redis.client();
  const keys = trustKeys();
  const fleet = new FleetKeys({ redis: client, keys, grantSeconds: GRANT_SECONDS });
  const { keyId } = await fleet.current();
  await client.hset(keys.fleetKeys, 'broken', '{"PUBLIC_KEY":"not a key","PRIVATE_KEY":"x","CREATED":1}', 'text', 'not json');
  t.same(Object.keys(await fleet.publicKeys()), [keyId], 'only the readable key is listed');
  for (const text of ['', 'null', '[]', '{"PUBLIC_KEY":1}', '{"PUBLIC_KEY":"AAAA","PRIVATE_KEY":"x","CREATED":1}']) {
    t.equal(decodeStoredKey(text), undefined, `${JSON.stringify(text)} is not a key`);
  }
  await client.set(keys.currentFleetKey, 'broken');
  await t.rejects(fleet.current(), /current fleet key broken is missing or unreadable/, 'a current key that cannot be read is an error, not a guess');
});
