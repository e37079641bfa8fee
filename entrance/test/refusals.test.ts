// Every class of malformed message is answered with the entrance's own info plus ERROR, the socket is
// closed with a fitting code, and the entrance keeps serving everyone else.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';

const cases: Array<{ name: string; send: string | Buffer; binary?: boolean; code: string; close: number }> = [
  { name: 'not JSON', send: '{"ID": "box-1", ', code: 'E_FORMAT', close: 4000 },
  { name: 'JSON but not an object', send: '["EXCHANGE"]', code: 'E_FORMAT', close: 4000 },
  { name: 'missing ID', send: JSON.stringify({ ...boxExchange('box-1'), ID: undefined }), code: 'E_FORMAT', close: 4000 },
  { name: 'missing IP', send: JSON.stringify({ ...boxExchange('box-1'), IP: undefined }), code: 'E_FORMAT', close: 4000 },
  { name: 'missing PORT for a box', send: JSON.stringify({ ...boxExchange('box-1'), PORT: undefined }), code: 'E_FORMAT', close: 4000 },
  { name: 'missing TYPE', send: JSON.stringify({ ...boxExchange('box-1'), TYPE: undefined }), code: 'E_FORMAT', close: 4000 },
  { name: 'empty IP', send: JSON.stringify({ ...boxExchange('box-1'), IP: '' }), code: 'E_FORMAT', close: 4000 },
  { name: 'blank ID', send: JSON.stringify({ ...boxExchange('box-1'), ID: '   ' }), code: 'E_FORMAT', close: 4000 },
  { name: 'wrong prefix', send: JSON.stringify(boxExchange('publisher-1')), code: 'E_ID', close: 4000 },
  { name: 'ID with a colon (Redis key injection)', send: JSON.stringify(boxExchange('box-1:BOX_SET')), code: 'E_ID', close: 4000 },
  { name: 'unknown TYPE', send: JSON.stringify({ ...boxExchange('box-1'), TYPE: 'TOASTER' }), code: 'E_TYPE', close: 4000 },
  { name: 'SEARCH sent by a box', send: JSON.stringify({ ...boxExchange('box-1'), COMMAND: 'SEARCH' }), code: 'E_TYPE', close: 4000 },
  { name: 'unknown COMMAND', send: JSON.stringify({ ...boxExchange('box-1'), COMMAND: 'DANCE' }), code: 'E_COMMAND', close: 4000 },
  { name: 'PUBLISH sent to the entrance', send: JSON.stringify({ ...searchRequest(), COMMAND: 'PUBLISH' }), code: 'E_COMMAND', close: 4000 },
  { name: 'reading that is not a number', send: JSON.stringify(boxExchange('box-1', { 'CPU-USR': 'lots' })), code: 'E_FORMAT', close: 4000 },
  { name: 'negative reading', send: JSON.stringify(boxExchange('box-1', { 'DISK-AVAIL': -1 })), code: 'E_FORMAT', close: 4000 },
  { name: 'PORT out of range', send: JSON.stringify({ ...boxExchange('box-1'), PORT: 70000 }), code: 'E_FORMAT', close: 4000 },
  { name: 'GEOIP LOC not lat,lon', send: JSON.stringify(boxExchange('box-1', { GEOIP: { LOC: 'here' } })), code: 'E_FORMAT', close: 4000 },
  { name: 'GEOIP not an object', send: JSON.stringify(boxExchange('box-1', { GEOIP: 'Taipei' })), code: 'E_FORMAT', close: 4000 },
  { name: 'CONNECT_WS not a URL', send: JSON.stringify(boxExchange('box-1', { CONNECT_WS: 'nowhere' })), code: 'E_FORMAT', close: 4000 },
  { name: 'traffic record of another box', send: JSON.stringify(boxExchange('box-1', { 'box-2:TRAFFIC_FLOW:log-1': { url: '/a', status: 200, size: 1 } })), code: 'E_FORMAT', close: 4000 },
  { name: 'nested object under an unknown key', send: JSON.stringify(boxExchange('box-1', { EXTRA: { a: 1 } })), code: 'E_FORMAT', close: 4000 },
  { name: 'over-long value', send: JSON.stringify(boxExchange('box-1', { NOTE: 'x'.repeat(5000) })), code: 'E_TOO_BIG', close: 4000 },
  { name: 'a binary frame', send: Buffer.from('<Dandelion>{"FILE_PATH":"a"}</Dandelion>data'), binary: true, code: 'E_BINARY', close: 1003 },
];

t.test('each malformed message is refused and the socket closed; others keep being served', async (t) => {
  const redis = await startRedis(t);
  const { url, id } = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const healthy = await connectPeer(url);
  t.teardown(() => healthy.close());
  for (const c of cases) {
    const bad = await connectPeer(url);
    bad.sendRaw(c.send, c.binary);
    const reply = await bad.next();
    t.equal(reply.ERROR_CODE, c.code, `${c.name}: code`);
    t.match(reply.ERROR, /^Wrong format in your message: /, `${c.name}: original's ERROR text`);
    t.equal(reply.ID, id, `${c.name}: answered with the entrance's own info`);
    t.equal(reply.TYPE, 'ENTRANCE');
    t.equal((await bad.closed).code, c.close, `${c.name}: closed with ${c.close}`);
    t.equal((await healthy.ask(boxExchange('box-healthy'))).MESSAGE, 'ACCEPTED', `${c.name}: others still served`);
  }
  const r = redis.client();
  t.same(await r.zrange(`${id}:BOX_SET`, '0', '-1'), ['box-healthy'], 'nothing refused was stored');
});

t.test('an oversized frame is refused with close code 1009', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_MAX_MESSAGE_BYTES: '8192' } });
  const bad = await connectPeer(url);
  bad.send(boxExchange('box-big', Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`K${i}`, 'z'.repeat(100)]))));
  t.equal((await bad.closed).code, 1009);
  const healthy = await connectPeer(url);
  t.teardown(() => healthy.close());
  t.equal((await healthy.ask(boxExchange('box-small'))).MESSAGE, 'ACCEPTED', 'still serving');
});

t.test('prototype-poisoning keys are dropped, not merged', async (t) => {
  const redis = await startRedis(t);
  const { url, id } = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const raw = JSON.stringify(boxExchange('box-proto')).replace(/}$/, ',"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}');
  box.sendRaw(raw);
  t.equal((await box.next()).MESSAGE, 'ACCEPTED');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  const hash = await redis.client().hgetall(`${id}:EXCHANGE:box-proto`);
  t.notOk(Object.hasOwn(hash, '__proto__') || Object.hasOwn(hash, 'constructor'), 'poison keys not stored');
});

t.test('unknown paths are refused before the upgrade', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  await t.rejects(connectPeer(url.replace('/dandelion/ws/', '/elsewhere/')), /404/);
});
