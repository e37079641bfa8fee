// Several entrances as one (FLEET_ID): a box registered through one is found by SEARCH on another, each
// names the others in ENTRANCE_URLS, a revocation made on one closes the box's socket on the other, any
// entrance's dashboard lists the whole fleet; without FLEET_ID each keeps its own registry, as the original.
import t from 'tap';
import type { Test } from 'tap';
import { loadRoleConfig } from '../../shared/src/config/load.js';
import { hashPassword } from '../../shared/src/password.js';
import { Close } from '../../shared/src/protocol/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import type { RunningEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { ask, enrol, newKey, signedHeaders, upgrade } from '../../test/helpers/enrolment.js';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { EnrolmentStore } from '../src/enrolment/store.js';

const API_TOKEN = 'fleet-script-token';
const bearer = { authorization: `Bearer ${API_TOKEN}` };
const OPERATOR_PASSWORD = 'operator-pass';
const httpBase = (e: RunningEntrance): string => e.url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');

async function boxesSearchedAt(url: string): Promise<string[]> {
  const publisher = await connectPeer(url);
  const reply = await publisher.ask(searchRequest('publisher-fleet'));
  await publisher.close();
  return Object.keys(reply.BOX_SET as object).sort();
}

async function apiBoxes(e: RunningEntrance): Promise<string[]> {
  const res = await fetch(`${httpBase(e)}/api/boxes`, { headers: bearer });
  return ((await res.json()) as { BOXES: Array<{ ID: string }> }).BOXES.map((b) => b.ID).sort();
}

async function fleetToken(redisUrl: string): Promise<string> {
  const client = await connectRedis({ REDIS_URL: redisUrl, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  const { token } = await new EnrolmentStore(client).createToken({ expiresInSeconds: 600, maxUses: 1 });
  client.disconnect();
  return token;
}

/** A dashboard login at `e`: its session cookie. */
async function login(e: RunningEntrance): Promise<string> {
  const form = await fetch(`${httpBase(e)}/dashboard/`);
  const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(await form.text())?.[1] ?? '';
  const res = await fetch(`${httpBase(e)}/dashboard/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.headers.get('set-cookie')?.split(';')[0] ?? '' },
    body: new URLSearchParams({ username: 'ops', password: OPERATOR_PASSWORD, csrf }).toString(),
  });
  return res.headers.getSetCookie().find((c) => c.startsWith('dandelion_session='))?.split(';')[0] ?? '';
}

async function twoEntrances(t: Test, redisUrl: string, env: Record<string, string>): Promise<[RunningEntrance, RunningEntrance]> {
  const tokens = JSON.stringify([await hashPassword(API_TOKEN)]);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword(OPERATOR_PASSWORD) }]);
  const start = (): Promise<RunningEntrance> => startEntrance(t, { redisUrl, env: { ...ORIGINAL_PUBLISHERS, DANDELION_API_TOKENS: tokens, DANDELION_DASHBOARD_USERS: users, ...env } });
  const a = await start();
  const b = await start();
  // A listened before B existed: its next pass learns B.
  await a.entrance.tick();
  return [a, b];
}

t.test('FLEET_ID shared: SEARCH and the dashboard on B see the box of A; each names the other', async (t) => {
  const redis = await startRedis(t);
  const [a, b] = await twoEntrances(t, redis.url, { DANDELION_FLEET_ID: 'fleet-test' });
  const box = await connectPeer(a.url);
  t.teardown(() => box.close());
  const reply = await box.ask(boxExchange('box-on-a'));
  t.equal(reply.MESSAGE, 'ACCEPTED');
  t.same(reply.ENTRANCE_URLS, [a.url, b.url], 'A names itself first, then B');
  const other = await connectPeer(b.url);
  const fromB = await other.ask(boxExchange('box-on-b'));
  await other.close();
  t.same(fromB.ENTRANCE_URLS, [b.url, a.url], 'B names itself first, then A');

  t.same(await boxesSearchedAt(b.url), ['box-on-a', 'box-on-b'], 'SEARCH on B finds the box registered through A');
  t.same(await boxesSearchedAt(a.url), ['box-on-a', 'box-on-b'], 'and A the box of B');
  t.same(await apiBoxes(b), ['box-on-a', 'box-on-b'], 'B\'s dashboard lists the box of A');
  const summary = (await (await fetch(`${httpBase(b)}/api/summary`, { headers: bearer })).json()) as { BOXES: { ONLINE: number } };
  t.equal(summary.BOXES.ONLINE, 2, 'B\'s summary counts the whole fleet');
  const cookie = await login(a);
  t.match(cookie, /^dandelion_session=/, 'logged in at A');
  t.equal((await fetch(`${httpBase(b)}/api/boxes`, { headers: { cookie } })).status, 200, 'the session is valid at B');
  const auditor = await connectPeer(b.url);
  await auditor.ask(searchRequest('publisher-auditor', { QUARANTINE: [{ BOX_ID: 'box-on-a', REASON: 'sha256 mismatch', PATH: 'live/seg-1.ts' }] }));
  await auditor.close();
  t.same(await boxesSearchedAt(a.url), ['box-on-b'], 'a quarantine reported at B holds at A');

  const r = redis.client();
  t.same(await r.zrange('fleet-test:BOX_SET', '0', '-1'), ['box-on-a', 'box-on-b'], 'one registry, under the fleet\'s name');
  t.equal(await r.hget(`${a.id}:OWN_INFO`, 'URL'), a.url, 'OWN_INFO stays each entrance\'s own');
  t.equal(await r.hget(`${b.id}:OWN_INFO`, 'URL'), b.url);
  t.same((await r.zrange('fleet-test:ENTRANCES', '0', '-1')).sort(), [a.url, b.url].sort(), 'both listed as live');

  await b.stop();
  t.same(await r.zrange('fleet-test:ENTRANCES', '0', '-1'), [a.url], 'a stopped entrance withdraws at once');
  await a.entrance.tick();
  t.same((await box.ask(boxExchange('box-on-a'))).ENTRANCE_URLS, [a.url], 'and is no longer named');
  const killed = 'ws://127.0.0.9:7071/dandelion/ws/';
  await r.zadd('fleet-test:ENTRANCES', Date.now() / 1000 - 1, killed); // an entrance killed before it could withdraw
  await a.entrance.tick();
  t.same((await box.ask(boxExchange('box-on-a'))).ENTRANCE_URLS, [a.url], 'an entry past its expiry is not named');
  t.equal(await r.zscore('fleet-test:ENTRANCES', killed), null, 'and is dropped');
});

t.test('a revocation made on B closes the box\'s socket on A and drops it from the fleet', async (t) => {
  const redis = await startRedis(t);
  const [a, b] = await twoEntrances(t, redis.url, { DANDELION_FLEET_ID: 'fleet-test', DANDELION_REQUIRE_ENROLMENT: 'true' });
  const key = newKey();
  t.equal((await enrol(a.url, 'box-revoked', key, await fleetToken(redis.url))).status, 200, 'enrolled through A');
  // Behind a load balancer the challenge may come from one entrance and the upgrade go to another.
  const socket = await upgrade(a.url, await signedHeaders(b.url, 'box-revoked', key));
  if (!socket.ok) throw new Error(`upgrade refused: ${socket.status}`);
  t.equal((await ask(socket, boxExchange('box-revoked'))).MESSAGE, 'ACCEPTED');
  t.same(await boxesSearchedAt(b.url), ['box-revoked']);

  const res = await fetch(`${httpBase(b)}/api/boxes/box-revoked/revoke`, { method: 'POST', headers: bearer });
  t.equal(res.status, 200, 'revoked through B\'s API');
  t.equal(await socket.closed, Close.REVOKED, 'A closed the box\'s socket');
  t.same(await boxesSearchedAt(b.url), [], 'no longer found anywhere');
  t.same(await boxesSearchedAt(a.url), []);
});

t.test('without FLEET_ID two entrances on one Redis keep their own registries (the original\'s layout)', async (t) => {
  const redis = await startRedis(t);
  const [a, b] = await twoEntrances(t, redis.url, {});
  const box = await connectPeer(a.url);
  t.teardown(() => box.close());
  const reply = await box.ask(boxExchange('box-only-a'));
  t.same(reply.ENTRANCE_URLS, [a.url], 'A names no other entrance');
  t.same(await boxesSearchedAt(a.url), ['box-only-a']);
  t.same(await boxesSearchedAt(b.url), [], 'B does not see the box of A');
  t.same(await apiBoxes(b), []);
  t.equal((await fetch(`${httpBase(b)}/api/boxes`, { headers: { cookie: await login(a) } })).status, 401, 'a login at A is not one at B');
  const r = redis.client();
  t.same(await r.zrange(`${a.id}:BOX_SET`, '0', '-1'), ['box-only-a'], 'the registry under A\'s own ID, as the original');
  t.equal(await r.exists(`${b.id}:BOX_SET`), 0);
});

t.test('FLEET_ID must name a fleet or an entrance', async (t) => {
  const load = (value: string) => () => loadRoleConfig('entrance', undefined, { DANDELION_FLEET_ID: value });
  t.equal(load('fleet-eu.1')().config.FLEET_ID, 'fleet-eu.1');
  t.equal(load('entrance-first')().config.FLEET_ID, 'entrance-first', 'an entrance ID keeps that entrance\'s registry for the fleet');
  t.throws(load('box-x'), /FLEET_ID: must look like fleet-/);
  t.throws(load('fleet-a:b'), /FLEET_ID: must look like fleet-/, 'no separators of the key layout');
});
