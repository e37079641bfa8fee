// A fleet token alone cannot take over an enrolled box (docs/enrolment.md, "A new key for an enrolled ID"):
// a new key for an enrolled ID is refused 409 E_PENDING and listed as pending with its reason, the enrolled
// key untouched and no token use taken, until an operator approves that key (CLI or dashboard API, CSRF for
// sessions) or the old key signs the rotation; then it enrols and the old key is refused. A rotation signed by
// any other key is refused; the same key again stays idempotent. Real entrance, real Redis, real Ed25519 keys.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { keyFingerprint, publicKeyText } from '../../../shared/src/enrolment/codec.js';
import { hashPassword } from '../../../shared/src/password.js';
import { silentLogger } from '../../../shared/src/log.js';
import { connectRedis } from '../../../shared/src/redis.js';
import { EnrolmentStore } from '../../src/enrolment/store.js';
import { NEW_KEY_REASON } from '../../src/enrolment/gate.js';
import { runDandelion } from '../../../test/helpers/cli.js';
import { ask, enrol, newKey, signedHeaders, upgrade } from '../../../test/helpers/enrolment.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { startRedis } from '../../../test/helpers/redis.js';

function exchange(boxId: string): Record<string, unknown> {
  return { ID: boxId, IP: '127.0.0.1', PORT: 7071, TYPE: 'BOX', COMMAND: 'EXCHANGE', CONNECT_WS: `ws://127.0.0.1:7071/dandelion/${boxId}/ws/` };
}

/** A logged-in operator's session cookie and its CSRF token. */
async function session(base: string, username: string, password: string): Promise<{ cookie: string; csrf: string }> {
  const form = await fetch(`${base}/dashboard/`);
  const formCsrf = /name="csrf" value="([0-9a-f]+)"/.exec(await form.text())?.[1] ?? '';
  const res = await fetch(`${base}/dashboard/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.headers.get('set-cookie')?.split(';')[0] ?? '' },
    body: new URLSearchParams({ username, password, csrf: formCsrf }).toString(),
  });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('dandelion_session='))?.split(';')[0] ?? '';
  const csrf = ((await (await fetch(`${base}/api/session`, { headers: { cookie } })).json()) as { CSRF: string }).CSRF;
  return { cookie, csrf };
}

t.test('re-enrolling an enrolled box ID with a new key', async (t) => {
  const redis = await startRedis(t);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_REQUIRE_ENROLMENT: 'true', DANDELION_DASHBOARD_USERS: users } });
  const url = entrance.url;
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const client = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  t.teardown(() => client.disconnect());
  const store = new EnrolmentStore(client);
  const { token, info } = await store.createToken({ expiresInSeconds: 3600, maxUses: 20 });
  const uses = async (): Promise<number | undefined> => (await store.listTokens()).find((x) => x.ID === info.ID)?.USES;
  const record = (boxId: string): Promise<Record<string, string>> => client.hgetall(`dandelion:ENROL:BOX:${boxId}`);

  await t.test('with only a fleet token: refused 409 E_PENDING, listed as pending; nothing about the enrolled key changes', async (t) => {
    const owner = newKey();
    t.equal((await enrol(url, 'box-owned', owner, token)).status, 200, 'the real box enrols');
    const before = await record('box-owned');
    const usesBefore = await uses();
    const open = await upgrade(url, await signedHeaders(url, 'box-owned', owner));
    t.equal((await ask(open, exchange('box-owned'))).MESSAGE, 'ACCEPTED');

    const thief = newKey();
    const attempt = await enrol(url, 'box-owned', thief, token);
    t.equal(attempt.status, 409);
    t.equal(attempt.body.ERROR_CODE, 'E_PENDING');
    t.match(attempt.body.ERROR, /enrolled with another key/);
    const pending = (await store.listPending()).find((p) => p.ID === 'box-owned');
    t.equal(pending?.REASON, NEW_KEY_REASON, 'pending with its reason');
    t.match(pending?.REASON, /re-flashed box: new key for an enrolled ID/);
    t.equal(pending?.FINGERPRINT, keyFingerprint(publicKeyText(thief)), 'the new key\'s fingerprint');
    t.equal(pending?.IP, '127.0.0.1', 'the address it came from');
    t.ok((pending?.SEEN ?? 0) > Date.now() / 1000 - 60, 'and when');

    const after = await record('box-owned');
    for (const field of ['PUBLIC_KEY', 'STATE', 'TOKEN', 'ENROLLED_AT', 'IP']) t.equal(after[field], before[field], `${field} unchanged`);
    t.equal(await uses(), usesBefore, 'a refused attempt takes no token use');
    const listed = (await store.listBoxes()).find((b) => b.ID === 'box-owned');
    t.equal(listed?.REQUESTED?.FINGERPRINT, keyFingerprint(publicKeyText(thief)), 'the enrolled box shows the key asking for it');
    t.equal(listed?.REQUESTED?.APPROVED, false);

    const thiefSocket = await upgrade(url, await signedHeaders(url, 'box-owned', thief));
    t.equal(thiefSocket.ok ? 0 : thiefSocket.status, 401, 'the new key opens no socket');
    t.equal((await ask(open, exchange('box-owned'))).MESSAGE, 'ACCEPTED', 'the enrolled box goes on');
    const again = await upgrade(url, await signedHeaders(url, 'box-owned', owner));
    t.ok(again.ok, 'and its key still opens sockets');
    if (again.ok) again.ws.close();
    if (open.ok) open.ws.close();
  });

  await t.test('the same key again stays allowed and takes no use', async (t) => {
    const key = newKey();
    t.equal((await enrol(url, 'box-same', key, token)).body.DETAIL, 'enrolled');
    const usesBefore = await uses();
    const again = await enrol(url, 'box-same', key, token);
    t.same([again.status, again.body.DETAIL], [200, 'already enrolled']);
    t.equal(await uses(), usesBefore);
  });

  await t.test('approved in the CLI: the next attempt enrols the new key and the old key is refused', async (t) => {
    const oldKey = newKey();
    const newCard = newKey();
    t.equal((await enrol(url, 'box-cli', oldKey, token)).status, 200);
    const oldSocket = await upgrade(url, await signedHeaders(url, 'box-cli', oldKey));
    t.equal((await ask(oldSocket, exchange('box-cli'))).MESSAGE, 'ACCEPTED');
    t.equal((await enrol(url, 'box-cli', newCard, token)).status, 409, 'the re-flashed card waits');

    const dir = t.testdir();
    const file = path.join(dir, 'entrance.yaml');
    writeFileSync(file, `REDIS_URL: ${redis.url}\nRUN_DIRECTORY: ${dir}\n`);
    const listing = await runDandelion(['entrance', 'box', 'list', '--config', file]);
    t.match(listing.stdout, /box-cli {2}PENDING {2}127\.0\.0\.1 {2}re-flashed box: new key for an enrolled ID/, 'box list shows it pending with its reason');
    const wrong = await runDandelion(['entrance', 'box', 'approve', 'box-cli', '--config', file, '--fingerprint', 'SHA256:notthisone']);
    t.not(wrong.code, 0, 'a fingerprint that is not the waiting key\'s is refused');
    t.match(wrong.stderr, /another key asks now/);
    const nothing = await runDandelion(['entrance', 'box', 'approve', 'box-same', '--config', file]);
    t.not(nothing.code, 0);
    t.match(nothing.stderr, /no new key waits for approval/, 'nothing to approve is said so');
    const approved = await runDandelion(['entrance', 'box', 'approve', 'box-cli', '--config', file, '--fingerprint', keyFingerprint(publicKeyText(newCard)), '--json']);
    t.equal(approved.code, 0, approved.stderr);
    t.same(JSON.parse(approved.stdout), { ID: 'box-cli', APPROVED: keyFingerprint(publicKeyText(newCard)) });

    const stranger = await enrol(url, 'box-cli', newKey(), token);
    t.equal(stranger.status, 409, 'approval is for that key only: another new key still waits');
    const usesBefore = await uses();
    const enrolled = await enrol(url, 'box-cli', newCard, token);
    t.same([enrolled.status, enrolled.body.DETAIL], [200, 'approved'], 'the approved key enrols');
    t.equal(await uses(), (usesBefore ?? 0) + 1, 'a successful enrolment takes one use');
    t.notOk((await store.listPending()).some((p) => p.ID === 'box-cli'), 'no longer pending');
    t.equal(oldSocket.ok ? await oldSocket.closed : 0, 4403, 'the old key\'s open socket is closed');
    const old = await upgrade(url, await signedHeaders(url, 'box-cli', oldKey));
    t.same(old.ok ? [] : [old.status, old.body.ERROR_CODE], [401, 'E_AUTH'], 'the old key is refused at the next upgrade');
    const fresh = await upgrade(url, await signedHeaders(url, 'box-cli', newCard));
    t.equal((await ask(fresh, exchange('box-cli'))).MESSAGE, 'ACCEPTED', 'the new key registers');
    if (fresh.ok) fresh.ws.close();
    t.equal((await store.listBoxes()).find((b) => b.ID === 'box-cli')?.REQUESTED, undefined, 'no request left');
  });

  await t.test('approved in the dashboard API (session and CSRF, as the other buttons)', async (t) => {
    const oldKey = newKey();
    const newCard = newKey();
    t.equal((await enrol(url, 'box-dash', oldKey, token)).status, 200);
    t.equal((await enrol(url, 'box-dash', newCard, token)).status, 409);
    const { cookie, csrf } = await session(base, 'ops', 'operator-pass');
    const approve = (boxId: string, body: unknown, withCsrf = true): Promise<Response> =>
      fetch(`${base}/api/boxes/${boxId}/approve`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...(withCsrf ? { 'x-csrf-token': csrf } : {}) }, body: JSON.stringify(body) });
    t.equal((await approve('box-dash', {}, false)).status, 403, 'without the CSRF token: refused');
    const stale = await approve('box-dash', { FINGERPRINT: keyFingerprint(publicKeyText(newKey())) });
    t.same([stale.status, ((await stale.json()) as { ERROR_CODE: string }).ERROR_CODE], [409, 'E_PENDING'], 'a fingerprint that is not the waiting one: 409');
    t.equal((await approve('box-nobody', {})).status, 404, 'a box that never enrolled: 404');
    t.equal((await approve('box-same', {})).status, 409, 'nothing waiting: 409');
    t.equal((await approve('not-a-box', {})).status, 400, 'not a box ID: 400');
    t.equal((await fetch(`${base}/api/boxes/box-dash/approve`, { headers: { cookie } })).status, 405, 'POST only');
    const ok = await approve('box-dash', { FINGERPRINT: keyFingerprint(publicKeyText(newCard)) });
    t.equal(ok.status, 200);
    const listing = (await (await fetch(`${base}/api/enrolment`, { headers: { cookie } })).json()) as { BOXES: Array<{ ID: string; REQUESTED?: { APPROVED: boolean } }> };
    t.equal(listing.BOXES.find((b) => b.ID === 'box-dash')?.REQUESTED?.APPROVED, true, 'the panel shows it approved, waiting for the box');

    t.equal((await enrol(url, 'box-dash', newCard, token)).body.DETAIL, 'approved');
    const old = await upgrade(url, await signedHeaders(url, 'box-dash', oldKey));
    t.equal(old.ok ? 0 : old.status, 401, 'the old key is refused at the next upgrade');
    const fresh = await upgrade(url, await signedHeaders(url, 'box-dash', newCard));
    t.ok(fresh.ok, 'the new key opens a socket');
    if (fresh.ok) fresh.ws.close();
  });

  await t.test('a rotation signed by the old key enrols at once; one signed by any other key is refused', async (t) => {
    const oldKey = newKey();
    const next = newKey();
    t.equal((await enrol(url, 'box-rot', oldKey, token)).status, 200);
    const before = await record('box-rot');

    const forged = await enrol(url, 'box-rot', next, token, newKey());
    t.same([forged.status, forged.body.ERROR_CODE], [401, 'E_AUTH'], 'a stranger\'s rotation signature: refused');
    t.match(forged.body.ERROR, /ROTATION_SIGNATURE/);
    t.equal((await record('box-rot')).PUBLIC_KEY, before.PUBLIC_KEY, 'the enrolled key is unchanged');
    const selfSigned = await enrol(url, 'box-rot', next, token, next);
    t.equal(selfSigned.status, 401, 'the new key signing its own rotation: refused');
    const unknown = await enrol(url, 'box-never', next, token, oldKey);
    t.equal(unknown.status, 401, 'a rotation for an ID that is not enrolled: refused');

    const rotated = await enrol(url, 'box-rot', next, token, oldKey);
    t.same([rotated.status, rotated.body.DETAIL], [200, 'rotated'], 'signed by the old key: enrolled at once');
    t.equal((await record('box-rot')).PUBLIC_KEY, publicKeyText(next));
    const old = await upgrade(url, await signedHeaders(url, 'box-rot', oldKey));
    t.equal(old.ok ? 0 : old.status, 401, 'the old key is refused');
    const fresh = await upgrade(url, await signedHeaders(url, 'box-rot', next));
    t.equal((await ask(fresh, exchange('box-rot'))).MESSAGE, 'ACCEPTED');
    if (fresh.ok) fresh.ws.close();
    const replay = await enrol(url, 'box-rot', newKey(), token, oldKey);
    t.equal(replay.status, 401, 'the retired key can sign no further rotation');
  });

  await t.test('a revoked box stays revoked whatever key or signature comes', async (t) => {
    const key = newKey();
    t.equal((await enrol(url, 'box-rev', key, token)).status, 200);
    await store.setRevoked('box-rev', true);
    t.equal((await enrol(url, 'box-rev', newKey(), token)).body.ERROR_CODE, 'E_REVOKED');
    t.equal((await enrol(url, 'box-rev', newKey(), token, key)).body.ERROR_CODE, 'E_REVOKED', 'a rotation does not undo a revocation');
  });
});
