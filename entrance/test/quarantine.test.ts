// QUARANTINE in a SEARCH: a box a publisher's audit caught is left out of every publisher's SEARCH
// reply and shown on the dashboard API; only boxes the entrance knows are taken, and one publisher may
// quarantine at most MAX_PER_PUBLISHER_PER_DAY boxes a day, so a lying publisher cannot empty the fleet.
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { ORIGINAL_PUBLISHERS, boxExchange, searchRequest } from '../../test/helpers/messages.js';
import { MAX_PER_PUBLISHER_PER_DAY } from '../src/trust/quarantine.js';

const TOKEN = 'quarantine-api-token';

t.test('a publisher quarantines known boxes, up to its daily share', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_AMOUNT_OF_BOXES_PER_REQUEST: '100', DANDELION_API_TOKENS: JSON.stringify([await hashPassword(TOKEN)]) } });
  const base = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const box = await connectPeer(url);
  const liar = await connectPeer(url);
  const other = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), liar.close(), other.close()]));
  const ids = Array.from({ length: 30 }, (_, i) => `box-q${String(i).padStart(2, '0')}`);
  for (const id of ids) t.equal((await box.ask(boxExchange(id))).MESSAGE, 'ACCEPTED');

  const entry = (id: string) => ({ BOX_ID: id, REASON: `served SHA-256 0000 for ${id}`, PATH: 'live/seg1.ts' });
  const first = await liar.ask(searchRequest('publisher-liar', { QUARANTINE: [entry('box-unknown'), ...ids.slice(0, 15).map(entry)] }));
  t.equal(Object.keys(first.BOX_SET as object).length, 15, 'its own reply already leaves the 15 out');
  const second = await liar.ask(searchRequest('publisher-liar', { QUARANTINE: ids.slice(15, 30).map(entry) }));
  t.equal(Object.keys(second.BOX_SET as object).length, 30 - MAX_PER_PUBLISHER_PER_DAY, `no more than ${MAX_PER_PUBLISHER_PER_DAY} boxes a day from one publisher`);

  const seen = Object.keys((await other.ask(searchRequest('publisher-other'))).BOX_SET as object);
  t.equal(seen.length, 30 - MAX_PER_PUBLISHER_PER_DAY, 'every other publisher\'s SEARCH leaves them out too');
  t.notOk(seen.includes('box-q00'), 'a quarantined box is not listed');

  const api = async (path: string): Promise<Record<string, unknown>> => (await (await fetch(`${base}/api/${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Record<string, unknown>;
  const list = (await api('boxes?state=quarantined&per_page=100')) as { TOTAL: number; BOXES: Array<{ ID: string; QUARANTINE: { PUBLISHER: string } }> };
  t.equal(list.TOTAL, MAX_PER_PUBLISHER_PER_DAY, 'the dashboard lists the quarantined boxes');
  t.ok(list.BOXES.every((b) => b.QUARANTINE.PUBLISHER === 'publisher-liar'), 'each says which publisher quarantined it');
  t.notOk(list.BOXES.some((b) => b.ID === 'box-unknown'), 'a box the entrance does not know is not recorded');
  const one = (await api('boxes/box-q00')) as { BOX: { QUARANTINE: { REASON: string; PATH: string } } };
  t.match(one.BOX.QUARANTINE, { REASON: 'served SHA-256 0000 for box-q00', PATH: 'live/seg1.ts' }, 'one box\'s page says why');

  const again = await liar.ask(searchRequest('publisher-liar', { QUARANTINE: [entry('box-q00')] }));
  t.equal(Object.keys(again.BOX_SET as object).length, 30 - MAX_PER_PUBLISHER_PER_DAY, 'repeating a verdict changes nothing');
  const cleared = await fetch(`${base}/api/boxes/box-q00/unquarantine`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(cleared.status, 200, 'an operator clears one');
  t.ok(Object.keys((await other.ask(searchRequest('publisher-other'))).BOX_SET as object).includes('box-q00'), 'it is listed again');
  t.equal((await fetch(`${base}/api/boxes/box-q00/unquarantine`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 404, 'clearing a box not quarantined: 404');
});
