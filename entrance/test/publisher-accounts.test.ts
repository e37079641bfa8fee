// Operators manage publisher accounts from a shell (`dandelion entrance publisher create|list|revoke`) and
// through /api/publisher-accounts (a bearer token, or a session with its CSRF token): the token is shown
// once and enrols that publisher only; a bad NAME or quota is a usage error (exit 2, 400) naming the problem.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { publisherAccountKeys } from '../../shared/src/redis-keys.js';
import { publisherAccount, revokedPublisherIds } from '../src/publishers/accounts.js';
import { runDandelion } from '../../test/helpers/cli.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { enrol, newKey } from '../../test/helpers/enrolment.js';

t.test('publisher create, list and revoke from a shell', async (t) => {
  const redis = await startRedis(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-pubcli-'));
  const config = path.join(dir, 'entrance.yaml');
  writeFileSync(config, `REDIS_URL: ${redis.url}\n`);
  const cli = (...args: string[]) => runDandelion(['entrance', 'publisher', ...args, '--config', config]);

  const made = await cli('create', 'acme', '--quota-gb', '5');
  t.equal(made.code, 0, made.stderr);
  const [token = '', note = ''] = made.stdout.trim().split('\n');
  t.match(token, /^dlp_acme_[A-Za-z0-9_-]{43}$/, 'the token is printed');
  t.match(note, /publisher-acme: quota 5 GB per box.*Shown once/);
  const r = redis.client();
  const stored = await r.hgetall(publisherAccountKeys().account('publisher-acme'));
  t.notMatch(JSON.stringify(stored), token.slice(-43), 'only the token\'s hash is kept');
  t.same(await publisherAccount(r, 'publisher-acme'), { id: 'publisher-acme', quotaBytes: 5e9, revoked: false }, 'the quota is read by publisherAccount');

  const json = await cli('create', 'publisher-beta', '--json');
  t.equal(json.code, 0, json.stderr);
  const beta = JSON.parse(json.stdout) as Record<string, unknown>;
  t.same([beta.ID, beta.STATE, beta.QUOTA_BYTES], ['publisher-beta', 'created', 2e9], 'a publisher ID is taken as the name; the default quota is 2 GB');

  const again = await cli('create', 'acme');
  t.equal(again.code, 1, 'a name is not given out twice');
  t.match(again.stderr, /publisher-acme already has an account/);

  for (const [args, why] of [[['create', 'bad name!'], /not a publisher name/], [['create', 'a:b'], /not a publisher name/], [['create', 'x'.repeat(65)], /not a publisher name/],
    [['create'], /name the publisher/], [['create', 'ok', '--quota-gb', 'lots'], /--quota-gb: "lots" is not a number/], [['create', 'ok', '--quota-gb', '0'], /--quota-gb/],
    [['revoke', 'nobody'], /no account publisher-nobody/], [['frobnicate'], /unknown command/]] as const) {
    const bad = await cli(...args);
    t.equal(bad.code, 2, `${args.join(' ')}: exit 2`);
    t.match(bad.stderr, why, `${args.join(' ')}: says why`);
  }

  const list = await cli('list');
  t.equal(list.code, 0);
  t.match(list.stdout, /publisher-acme {2}CREATED {2}quota 5 GB\/box {2}no key yet/);
  t.match(list.stdout, /publisher-beta {2}CREATED/);

  const revoked = await cli('revoke', 'acme');
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(revoked.stdout, /publisher-acme revoked/);
  t.same(await revokedPublisherIds(r), ['publisher-acme'], 'listed among the revoked publishers');
  t.equal((await publisherAccount(r, 'publisher-acme'))?.revoked, true);
  const listed = JSON.parse((await cli('list', '--json')).stdout) as { PUBLISHERS: Array<{ ID: string; STATE: string }> };
  t.same(listed.PUBLISHERS.map((p) => [p.ID, p.STATE]).sort(), [['publisher-acme', 'revoked'], ['publisher-beta', 'created']]);
});

t.test('/api/publisher-accounts: create and revoke with a bearer token or a session and its CSRF token', async (t) => {
  const redis = await startRedis(t);
  const users = JSON.stringify([{ USERNAME: 'ops', PASSWORD_HASH: await hashPassword('operator-pass') }]);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { DANDELION_DASHBOARD_USERS: users, DANDELION_API_TOKENS: JSON.stringify([await hashPassword('script-token-123')]) } });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const api = `${base}/api/publisher-accounts`;
  const bearer = { authorization: 'Bearer script-token-123', 'content-type': 'application/json' };

  t.equal((await fetch(api, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"NAME":"x"}' })).status, 401, 'no credentials: 401');
  const created = await fetch(api, { method: 'POST', headers: bearer, body: JSON.stringify({ NAME: 'news', QUOTA_GB: 1.5 }) });
  t.equal(created.status, 201);
  const body = (await created.json()) as { TOKEN: string; ID: string; QUOTA_BYTES: number };
  t.same([body.ID, body.QUOTA_BYTES], ['publisher-news', 1.5e9]);
  t.equal((await enrol(url, 'publisher-news', newKey(), body.TOKEN)).status, 200, 'the token enrols the publisher');

  const bad = await fetch(api, { method: 'POST', headers: bearer, body: JSON.stringify({ NAME: 'no spaces' }) });
  t.same([bad.status, ((await bad.json()) as { ERROR_CODE: string }).ERROR_CODE], [400, 'E_FORMAT'], 'a bad NAME: 400');
  t.equal((await fetch(api, { method: 'POST', headers: bearer, body: JSON.stringify({ NAME: 'news' }) })).status, 409, 'a taken name: 409');

  // A logged-in operator: the session cookie alone is not enough for a change.
  const form = await fetch(`${base}/dashboard/`);
  const csrfForm = /name="csrf" value="([0-9a-f]+)"/.exec(await form.text())?.[1] ?? '';
  const login = await fetch(`${base}/dashboard/login`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.headers.get('set-cookie')?.split(';')[0] ?? '' },
    body: new URLSearchParams({ username: 'ops', password: 'operator-pass', csrf: csrfForm }).toString(),
  });
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith('dandelion_session='))?.split(';')[0] ?? '';
  const { CSRF } = (await (await fetch(`${base}/api/session`, { headers: { cookie } })).json()) as { CSRF: string };
  const revokePath = `${api}/publisher-news/revoke`;
  t.equal((await fetch(revokePath, { method: 'POST', headers: { cookie } })).status, 403, 'without X-CSRF-Token: 403');
  const revoked = await fetch(revokePath, { method: 'POST', headers: { cookie, 'x-csrf-token': CSRF } });
  t.equal(revoked.status, 200);
  t.same(await revoked.json(), { ID: 'publisher-news', STATE: 'revoked' });
  t.equal((await fetch(`${api}/publisher-nobody/revoke`, { method: 'POST', headers: bearer })).status, 404, 'no such account: 404');
  t.equal((await fetch(revokePath, { headers: bearer })).status, 405, 'revoke is POST only');

  const list = (await (await fetch(api, { headers: { cookie } })).json()) as { REQUIRE_PUBLISHER_AUTH: boolean; PUBLISHERS: Array<{ ID: string; STATE: string; FINGERPRINT?: string }> };
  t.equal(list.REQUIRE_PUBLISHER_AUTH, true);
  t.same(list.PUBLISHERS.map((p) => [p.ID, p.STATE, typeof p.FINGERPRINT]), [['publisher-news', 'revoked', 'string']]);
  t.notMatch(JSON.stringify(list), body.TOKEN.slice(-43), 'the token is never listed');
});
