// The URLs a box announces are what publishers and viewers are sent to, so the entrance takes CONNECT_WS and
// HTTP_URL only when their host is the address the box's socket comes from (after TRUSTED_PROXIES) or a name
// resolving there; a loopback or wildcard host only from a loopback peer. Otherwise the EXCHANGE is refused
// with E_ADDRESS naming the key and the address the entrance sees, and the registry keeps nothing of it.
// Real entrance and Redis; the peer's address is set through a trusted proxy's X-Forwarded-For.
import t from 'tap';
import { silentLogger } from '../../shared/src/log.js';
import { connectRedis } from '../../shared/src/redis.js';
import { EnrolmentStore } from '../src/enrolment/store.js';
import { VouchedAddresses, systemResolve } from '../src/handlers/vouched-address.js';
import { ask, enrol, newKey, signedHeaders, upgrade } from '../../test/helpers/enrolment.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const PUBLIC = '203.0.113.5';
const ELSEWHERE = '198.51.100.66';

t.test('a box announces only URLs that lead to itself', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_REQUIRE_ENROLMENT: 'true', DANDELION_TRUSTED_PROXIES: '127.0.0.1' } });
  const url = entrance.url;
  const client = await connectRedis({ REDIS_URL: redis.url, REDIS_HOST: '', REDIS_PORT: 0, DB: 0 }, silentLogger());
  t.teardown(() => client.disconnect());
  const store = new EnrolmentStore(client);
  const { token } = await store.createToken({ expiresInSeconds: 3600, maxUses: 10 });
  const stored = (boxId: string): Promise<Record<string, string>> => client.hgetall(`${entrance.id}:EXCHANGE:${boxId}`);
  /** A signed socket for `boxId` that the entrance sees coming from `from` (through its trusted proxy), or from loopback. */
  const socketOf = async (boxId: string, key: ReturnType<typeof newKey>, from?: string) =>
    upgrade(url, { ...(await signedHeaders(url, boxId, key)), ...(from ? { 'x-forwarded-for': from } : {}) });
  const at = (host: string, boxId: string) => ({ CONNECT_WS: `ws://${host}:7071/dandelion/${boxId}/ws/`, HTTP_URL: `http://${host}:8080/` });

  const key = newKey();
  t.equal((await enrol(url, 'box-home', key, token)).status, 200);

  await t.test('its own address is accepted', async (t) => {
    const sock = await socketOf('box-home', key, PUBLIC);
    const reply = await ask(sock, boxExchange('box-home', { IP: PUBLIC, ...at(PUBLIC, 'box-home') }));
    t.equal(reply.MESSAGE, 'ACCEPTED');
    t.equal(reply.PUBLIC_IP, PUBLIC, 'the address is the one the trusted proxy forwarded');
    if (sock.ok) sock.ws.close();
  });

  await t.test('a hijack attempt pointing CONNECT_WS elsewhere is refused; nothing of it is kept', async (t) => {
    const sock = await socketOf('box-home', key, PUBLIC);
    const reply = await ask(sock, boxExchange('box-home', { IP: ELSEWHERE, ...at(ELSEWHERE, 'box-home') }));
    t.equal(reply.ERROR_CODE, 'E_ADDRESS');
    t.match(reply.ERROR, /CONNECT_WS: host 198\.51\.100\.66 is not the address this box connects from \(203\.0\.113\.5\)/);
    t.equal(reply.PUBLIC_IP, PUBLIC, 'the refusal names the address the entrance sees');
    t.equal(sock.ok ? await sock.closed : 0, 4000);
    const kept = await stored('box-home');
    t.equal(kept.CONNECT_WS, `ws://${PUBLIC}:7071/dandelion/box-home/ws/`, 'the stored exchange is the last accepted one');
    t.notMatch(JSON.stringify(kept), ELSEWHERE, 'nothing of the refused one');

    const fresh = newKey();
    t.equal((await enrol(url, 'box-new', fresh, token)).status, 200);
    const first = await socketOf('box-new', fresh, PUBLIC);
    t.equal((await ask(first, boxExchange('box-new', at(ELSEWHERE, 'box-new')))).ERROR_CODE, 'E_ADDRESS');
    t.same(await stored('box-new'), {}, 'a box whose first EXCHANGE is refused is not stored');
    t.equal(await client.zscore(`${entrance.id}:BOX_SET`, 'box-new'), null, 'nor registered');
    const pub = await connectPeer(url);
    t.teardown(() => pub.close());
    t.notOk(((await pub.ask(searchRequest())).BOX_SET as Record<string, unknown>)['box-new'], 'nor found by SEARCH');
  });

  await t.test('HTTP_URL elsewhere is refused, naming HTTP_URL', async (t) => {
    const sock = await socketOf('box-home', key, PUBLIC);
    const reply = await ask(sock, boxExchange('box-home', { ...at(PUBLIC, 'box-home'), HTTP_URL: `http://${ELSEWHERE}/` }));
    t.equal(reply.ERROR_CODE, 'E_ADDRESS');
    t.match(reply.ERROR, /^Wrong format in your message: HTTP_URL: host 198\.51\.100\.66/);
  });

  await t.test('loopback and wildcard hosts only from a loopback peer; names by what they resolve to', async (t) => {
    const remote = await socketOf('box-home', key, PUBLIC);
    t.equal((await ask(remote, boxExchange('box-home', at('127.0.0.1', 'box-home')))).ERROR_CODE, 'E_ADDRESS', 'loopback from a public address: refused');
    const local = await socketOf('box-home', key);
    t.equal((await ask(local, boxExchange('box-home', at('127.0.0.1', 'box-home')))).MESSAGE, 'ACCEPTED', 'loopback from loopback (the demo)');
    t.equal((await ask(local, boxExchange('box-home', at('0.0.0.0', 'box-home')))).MESSAGE, 'ACCEPTED', 'a wildcard from loopback');
    t.equal((await ask(local, boxExchange('box-home', at('localhost', 'box-home')))).MESSAGE, 'ACCEPTED', 'a name resolving to the peer');
    const unresolved = await ask(local, boxExchange('box-home', at('no-such-box.invalid', 'box-home')));
    t.equal(unresolved.ERROR_CODE, 'E_ADDRESS', 'a name that does not resolve: refused');
    t.match(unresolved.ERROR, /no-such-box\.invalid does not resolve/);
  });
});

t.test('name lookups are cached briefly and bounded in time', async (t) => {
  let now = 1_000_000;
  let lookups = 0;
  const vouched = new VouchedAddresses(async (name) => {
    lookups += 1;
    return systemResolve(name);
  }, () => now);
  t.equal(await vouched.refusal('ws://localhost:7071/', '127.0.0.1'), undefined);
  t.equal(await vouched.refusal('http://localhost:8080/', '127.0.0.1'), undefined);
  t.equal(lookups, 1, 'the second URL with the same name costs no lookup');
  now += 61_000;
  await vouched.refusal('ws://localhost:7071/', '127.0.0.1');
  t.equal(lookups, 2, 'looked up again after a minute');
  t.match(await vouched.refusal('ws://localhost:7071/', PUBLIC), /host localhost is not the address this box connects from \(203\.0\.113\.5\) but /, 'localhost from a public peer: refused');
  t.equal(await vouched.refusal(`ws://[::ffff:${PUBLIC}]:7071/`, PUBLIC), undefined, 'an IPv4-mapped literal is that address');

  const stalled = new VouchedAddresses(() => new Promise<string[]>(() => undefined));
  const started = Date.now();
  t.match(await stalled.refusal('ws://slow.example:7071/', PUBLIC), /does not resolve \(within 2 s\)/, 'a resolver that never answers is given up on');
  t.ok(Date.now() - started < 10_000, 'in bounded time');
});
