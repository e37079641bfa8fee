// Enrolment against a real entrance and Redis with REQUIRE_ENROLMENT on: fleet tokens (good, expired,
// used up, revoked), the signed challenge at the upgrade (good, replayed, wrong key), revocation taking
// effect on the open socket and the next heartbeat, re-flashing, and anonymous peers.
import t from 'tap';
import { AUTH_HEADERS, enrolPayload, enrolmentUrl, publicKeyText, signPayload } from '../../shared/src/enrolment/codec.js';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { EnrolmentStore } from '../src/enrolment/store.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { ask, challenge, enrol, newKey, signedHeaders, upgrade } from '../../test/helpers/enrolment.js';

function exchange(boxId: string): Record<string, unknown> {
  return { ID: boxId, IP: '127.0.0.1', PORT: 7071, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: `ws://127.0.0.1:7071/dandelion/${boxId}/ws/` };
}

t.test('enrolment and the signed upgrade', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_REQUIRE_ENROLMENT: 'true' } });
  const url = entrance.url;
  const client = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  t.teardown(() => client.disconnect());
  const store = new EnrolmentStore(client);

  await t.test('an anonymous box is refused; an anonymous publisher still searches', async (t) => {
    const peer = await connectPeer(url);
    const reply = await peer.ask(exchange('box-anon'));
    t.equal(reply.ERROR_CODE, 'E_AUTH');
    t.equal((await peer.closed).code, 4401, 'closed with 4401');
    const pub = await connectPeer(url);
    t.teardown(() => pub.close());
    t.ok((await pub.ask(searchRequest())).BOX_SET !== undefined, 'SEARCH answered');
    t.equal(await client.exists(`${entrance.id}:EXCHANGE:box-anon`), 0, 'nothing stored for it');
  });

  const { token } = await store.createToken({ expiresInSeconds: 3600, maxUses: 2 });
  const keyA = newKey();

  await t.test('a good token enrols; the key then opens sockets, each challenge once', async (t) => {
    const refusedBefore = await upgrade(url, await signedHeaders(url, 'box-a', keyA));
    t.equal(refusedBefore.ok ? 0 : refusedBefore.status, 401, 'not enrolled yet: 401');
    t.equal(refusedBefore.ok ? '' : refusedBefore.body.ERROR_CODE, 'E_AUTH');
    const pending = await store.listPending();
    t.ok(pending.some((p) => p.ID === 'box-a' && p.REASON === 'not enrolled'), 'shown as pending');

    const enrolled = await enrol(url, 'box-a', keyA, token);
    t.equal(enrolled.status, 200, 'enrolled');
    t.equal(enrolled.body.DETAIL, 'enrolled');
    t.equal((await enrol(url, 'box-a', keyA, token)).body.DETAIL, 'already enrolled', 'enrolling again with the same key is idempotent');
    t.equal((await store.listTokens())[0]?.USES, 1, 'and used the token once');
    t.notOk((await store.listPending()).some((p) => p.ID === 'box-a'), 'no longer pending');

    const headers = await signedHeaders(url, 'box-a', keyA);
    const sock = await upgrade(url, headers);
    t.ok(sock.ok, 'signed upgrade accepted');
    const reply = await ask(sock, exchange('box-a'));
    t.equal(reply.MESSAGE, 'ACCEPTED');
    const other = await ask(sock, exchange('box-b'));
    t.equal(other.ERROR_CODE, 'E_AUTH', 'a socket authenticated as box-a cannot speak for box-b');
    const pub = await connectPeer(url);
    t.teardown(() => pub.close());
    const found = (await pub.ask(searchRequest())).BOX_SET as Record<string, unknown>;
    t.ok(found['box-a'], 'the enrolled box is found by SEARCH');

    const replay = await upgrade(url, headers);
    t.equal(replay.ok ? 0 : replay.status, 401, 'the same signed challenge twice: refused');
    t.match(replay.ok ? '' : String(replay.body.ERROR), /replayed/);
  });

  await t.test('a wrong key is refused and noted', async (t) => {
    const res = await upgrade(url, await signedHeaders(url, 'box-a', newKey()));
    t.equal(res.ok ? 0 : res.status, 401);
    t.match(res.ok ? '' : String(res.body.ERROR), /does not match the enrolled key/);
    const forged = await signedHeaders(url, 'box-a', keyA);
    forged[AUTH_HEADERS.nonce] = await challenge(url); // signature over another nonce
    const res2 = await upgrade(url, forged);
    t.equal(res2.ok ? 0 : res2.status, 401, 'a signature over another nonce is refused');
    const half = await upgrade(url, { [AUTH_HEADERS.box]: 'box-a' });
    t.equal(half.ok ? 0 : half.status, 400, 'some of the headers but not all: 400');
  });

  await t.test('expired, used-up, revoked and malformed tokens', async (t) => {
    const past = new EnrolmentStore(client, () => Date.now() - 2 * 86400_000);
    const expired = (await past.createToken({ expiresInSeconds: 86400, maxUses: 5 })).token;
    const r1 = await enrol(url, 'box-c', newKey(), expired);
    t.equal(r1.status, 403);
    t.same([r1.body.ERROR_CODE, r1.body.ERROR], ['E_TOKEN', 'fleet token expired']);

    const single = (await store.createToken({ expiresInSeconds: 3600, maxUses: 1 })).token;
    t.equal((await enrol(url, 'box-d', newKey(), single)).status, 200, 'first use');
    const r2 = await enrol(url, 'box-e', newKey(), single);
    t.same([r2.status, r2.body.ERROR], [403, 'fleet token used up'], 'second box: used up');
    t.ok((await store.listPending()).some((p) => p.ID === 'box-e' && p.REASON === 'fleet token used up'), 'the refused box is pending with the reason');

    const revocable = await store.createToken({ expiresInSeconds: 3600, maxUses: 5 });
    t.ok(await store.revokeToken(revocable.info.ID));
    t.same((await enrol(url, 'box-f', newKey(), revocable.token)).body.ERROR, 'fleet token revoked');

    const wrongSecret = `${single.slice(0, 17)}${'A'.repeat(43)}`;
    t.same((await enrol(url, 'box-g', newKey(), wrongSecret)).body.ERROR, 'unknown fleet token', 'right ID, wrong secret');
    t.equal((await enrol(url, 'box-g', newKey(), 'not-a-token')).status, 403);

    for (const body of ['{', '[]', JSON.stringify({ ID: 'box-g' }), JSON.stringify({ ID: 'nobox', PUBLIC_KEY: 'x', TOKEN: single, NONCE: 'n', SIGNATURE: 's' }), 'x'.repeat(9000)]) {
      const res = await fetch(enrolmentUrl(url, 'enrol'), { method: 'POST', body });
      t.ok(res.status === 400 || res.status === 413, `malformed enrolment → ${res.status}`);
      t.ok(((await res.json()) as { ERROR?: string }).ERROR, 'with an ERROR');
    }
    const key = newKey();
    const nonce = await challenge(url);
    const res = await fetch(enrolmentUrl(url, 'enrol'), {
      method: 'POST',
      body: JSON.stringify({ ID: 'box-h', PUBLIC_KEY: publicKeyText(key), TOKEN: token, NONCE: nonce, SIGNATURE: signPayload(newKey(), enrolPayload('box-h', nonce, publicKeyText(key))) }),
    });
    t.equal(res.status, 401, 'an enrolment signed by another key than the one presented is refused');
  });

  await t.test('revocation closes the socket, refuses the next upgrade and re-enrolment; restore undoes it', async (t) => {
    const sock = await upgrade(url, await signedHeaders(url, 'box-a', keyA));
    t.equal((await ask(sock, exchange('box-a'))).MESSAGE, 'ACCEPTED');
    t.ok(await store.setRevoked('box-a', true));
    t.equal(sock.ok ? await sock.closed : 0, 4403, 'the open socket is closed with 4403');
    const again = await upgrade(url, await signedHeaders(url, 'box-a', keyA));
    t.same(again.ok ? [] : [again.status, again.body.ERROR_CODE], [403, 'E_REVOKED'], 'the next upgrade is refused');
    t.same((await enrol(url, 'box-a', keyA, token)).body.ERROR_CODE, 'E_REVOKED', 'the token on its card does not bring it back');
    const pub = await connectPeer(url);
    t.teardown(() => pub.close());
    const found = (await pub.ask(searchRequest())).BOX_SET as Record<string, unknown>;
    t.notOk(found['box-a'], 'gone from SEARCH at once');

    t.ok(await store.setRevoked('box-a', false));
    const back = await upgrade(url, await signedHeaders(url, 'box-a', keyA));
    t.equal((await ask(back, exchange('box-a'))).MESSAGE, 'ACCEPTED', 'restored');
  });

  await t.test('revocation missed by the socket takes effect on the next heartbeat', async (t) => {
    const sock = await upgrade(url, await signedHeaders(url, 'box-a', keyA));
    t.equal((await ask(sock, exchange('box-a'))).MESSAGE, 'ACCEPTED');
    // Written straight to Redis, without the notice entrances listen for.
    await client.hset('dandelion:ENROL:BOX:box-a', 'STATE', 'revoked');
    const reply = await ask(sock, exchange('box-a'));
    t.equal(reply.ERROR_CODE, 'E_REVOKED');
    t.equal(sock.ok ? await sock.closed : 0, 4403);
    t.equal(await client.zscore(`${entrance.id}:BOX_SET`, 'box-a'), null, 'dropped from the registry');
    await store.setRevoked('box-a', false);
  });

  await t.test('re-flashing: the same box ID with a new key waits for an operator; once approved it enrols and the old key stops working', async (t) => {
    const keyA2 = newKey();
    const waiting = await enrol(url, 'box-a', keyA2, token);
    t.same([waiting.status, waiting.body.ERROR_CODE], [409, 'E_PENDING'], 'a fleet token alone does not replace an enrolled key');
    t.equal((await store.approve('box-a')).ok, true, 'the operator approves');
    t.equal((await enrol(url, 'box-a', keyA2, token)).body.DETAIL, 'approved');
    const old = await upgrade(url, await signedHeaders(url, 'box-a', keyA));
    t.equal(old.ok ? 0 : old.status, 401, 'the old card\'s key is refused');
    const fresh = await upgrade(url, await signedHeaders(url, 'box-a', keyA2));
    t.equal((await ask(fresh, exchange('box-a'))).MESSAGE, 'ACCEPTED');
    if (fresh.ok) fresh.ws.close();
    t.ok(await store.forget('box-a'), 'forget');
    const gone = await upgrade(url, await signedHeaders(url, 'box-a', keyA2));
    t.equal(gone.ok ? 0 : gone.status, 401, 'a forgotten box must enrol again');
  });
});

t.test('without REQUIRE_ENROLMENT original boxes register, but nobody may speak for an enrolled one', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const client = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  t.teardown(() => client.disconnect());
  const store = new EnrolmentStore(client);
  const peer = await connectPeer(entrance.url);
  t.equal((await peer.ask(exchange('box-original'))).MESSAGE, 'ACCEPTED', 'no credentials, accepted as before');
  await peer.close();
  const { token } = await store.createToken({ expiresInSeconds: 600, maxUses: 1 });
  t.equal((await enrol(entrance.url, 'box-keyed', newKey(), token)).status, 200);
  const spoof = await connectPeer(entrance.url);
  const reply = await spoof.ask(exchange('box-keyed'));
  t.equal(reply.ERROR_CODE, 'E_AUTH', 'an anonymous EXCHANGE for an enrolled ID is refused');
  const unenrolledKey = await upgrade(entrance.url, await signedHeaders(entrance.url, 'box-new', newKey()));
  t.ok(unenrolledKey.ok, 'a box with a key it never enrolled is taken as an original box');
  if (unenrolledKey.ok) {
    t.equal((await ask(unenrolledKey, exchange('box-new'))).MESSAGE, 'ACCEPTED');
    unenrolledKey.ws.close();
  }
});
