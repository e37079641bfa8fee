// The entrance counts boxes' TRAFFIC_AGGREGATES exactly once, fleet-wide: totals are exact over several
// exchanges, redelivery (same socket, same exchange, reordered, or to two entrances sharing one Redis)
// never counts twice, buckets split exactly at UTC minute/hour/day boundaries, retention sets the TTLs,
// TRAFFIC_FLOW records never count, malformed aggregates are refused with nothing counted, a failed fold
// is answered E_INTERNAL and the resend counts once, and series come back zero-filled.
import t from 'tap';
import type { TrafficAggregate } from '../../shared/src/protocol/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import type { TestPeer } from '../../test/helpers/ws-client.js';
import { ORIGINAL_PUBLISHERS, boxExchange, searchRequest } from '../../test/helpers/messages.js';
import {
  NO_PUBLISHER,
  boxesOfPublisher,
  publishersOfBox,
  trafficBoxes,
  trafficPublishers,
  trafficSeries,
  trafficTotals,
} from '../src/traffic/read.js';

/** UTC midnight that starts the test's "today", and a fake clock at 12:30:30 that day. */
const DAY = Date.UTC(2025, 5, 15) / 1000;
const NOW = DAY + 12 * 3600 + 30 * 60 + 30;
const clock = (): number => NOW * 1000;
const P1 = 'publisher-one';
const P2 = 'publisher-two';

type Agg = TrafficAggregate;

function agg(id: string, over: Partial<Agg> = {}): Agg {
  const from = over.FROM ?? NOW - 20;
  return { ID: id, PUBLISHER: P1, FILE: 'live/seg-1.ts', REQUESTS: 1, BYTES: 100, FROM: from, TO: from + 0.5, ...over };
}

/**
 * An entrance that knows P1 and P2, so their traffic is counted (traffic for publishers an entrance does
 * not know is not: trust/believable-traffic.test.ts). Today a publisher is known once it SEARCHed there.
 */
async function startCountingEntrance(...[t, opts]: Parameters<typeof startEntrance>): ReturnType<typeof startEntrance> {
  // P1 and P2 are original publishers here (no account): they search without credentials.
  const entrance = await startEntrance(t, { ...opts, env: { ...ORIGINAL_PUBLISHERS, ...opts.env } });
  const publisher = await connectPeer(entrance.url);
  for (const id of [P1, P2]) await publisher.ask(searchRequest(id));
  await publisher.close();
  return entrance;
}

async function send(peer: TestPeer, box: string, aggregates: unknown[], extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return peer.ask(boxExchange(box, { ...extra, TRAFFIC_AGGREGATES: aggregates }));
}

t.test('totals are exact over several exchanges and boxes, per box, publisher and fleet', async (t) => {
  const redis = await startRedis(t);
  const { url, id } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const a = await connectPeer(url);
  const b = await connectPeer(url);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const shared = '2049:0-4096:0:5b0c8c5e'; // the same aggregate ID from two boxes is two aggregates
  t.equal((await send(a, 'box-a', [agg(shared, { BYTES: 1000, REQUESTS: 2 }), agg('a2', { PUBLISHER: P2, BYTES: 500 })])).MESSAGE, 'ACCEPTED');
  t.equal((await send(a, 'box-a', [agg('a3', { BYTES: 250 }), agg('a4', { PUBLISHER: '', FILE: 'favicon.ico', BYTES: 40 })])).MESSAGE, 'ACCEPTED');
  t.equal((await send(b, 'box-b', [agg(shared, { BYTES: 4000, REQUESTS: 8 })])).MESSAGE, 'ACCEPTED');
  t.equal((await send(b, 'box-b', [])).MESSAGE, 'ACCEPTED', 'an empty list is fine');

  const r = redis.client();
  t.same(await trafficTotals(r), { bytes: 5790, requests: 13 }, 'fleet');
  t.same(await trafficTotals(r, { box: 'box-a' }), { bytes: 1790, requests: 5 }, 'box-a, its no-publisher request included');
  t.same(await trafficTotals(r, { box: 'box-b' }), { bytes: 4000, requests: 8 });
  t.same(await trafficTotals(r, { publisher: P1 }), { bytes: 5250, requests: 11 });
  t.same(await trafficTotals(r, { publisher: P2 }), { bytes: 500, requests: 1 });
  t.same(await trafficTotals(r, { publisher: 'publisher-nobody' }), { bytes: 0, requests: 0 });
  t.same(await boxesOfPublisher(r, P1), [{ box: 'box-b', bytes: 4000 }, { box: 'box-a', bytes: 1250 }]);
  t.same(await publishersOfBox(r, 'box-a'), [{ publisher: P1, bytes: 1250 }, { publisher: P2, bytes: 500 }, { publisher: NO_PUBLISHER, bytes: 40 }]);
  t.same(await trafficPublishers(r), [{ publisher: P1, bytes: 5250 }, { publisher: P2, bytes: 500 }, { publisher: '-', bytes: 40 }]);
  t.same(await trafficBoxes(r), [{ box: 'box-b', bytes: 4000 }, { box: 'box-a', bytes: 1790 }]);

  const publisherKeys = await r.keys('dandelion:TRAFFIC:PUBLISHER:*');
  t.ok(publisherKeys.length > 0 && publisherKeys.every((k) => k.startsWith('dandelion:TRAFFIC:PUBLISHER:publisher-')), 'no-publisher traffic has no publisher keys');
  t.same(await r.keys(`${id}:*TRAFFIC*`), [], 'nothing under the entrance\'s own namespace');
  t.notOk('TRAFFIC_AGGREGATES' in (await r.hgetall(`${id}:EXCHANGE:box-a`)), 'aggregates are counted, not kept in the stored exchange');
});

t.test('the same aggregate sent twice on one socket, or twice in one exchange, counts once', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  t.equal((await send(box, 'box-x', [agg('x1', { BYTES: 300, REQUESTS: 3 }), agg('x1', { BYTES: 300, REQUESTS: 3 })])).MESSAGE, 'ACCEPTED');
  t.equal((await send(box, 'box-x', [agg('x1', { BYTES: 300, REQUESTS: 3 }), agg('x2', { BYTES: 7 })])).MESSAGE, 'ACCEPTED', 'redelivered with a new one');
  t.equal((await send(box, 'box-x', [agg('x2', { BYTES: 7 }), agg('x1', { BYTES: 300, REQUESTS: 3 })])).MESSAGE, 'ACCEPTED');
  const r = redis.client();
  t.same(await trafficTotals(r, { box: 'box-x' }), { bytes: 307, requests: 4 });
  t.same(await trafficTotals(r), { bytes: 307, requests: 4 });
  t.same(await boxesOfPublisher(r, P1), [{ box: 'box-x', bytes: 307 }]);
  const minute = Math.floor((NOW - 20) / 60) * 60;
  t.same(await r.hgetall(`dandelion:TRAFFIC:BOX:box-x:MINUTE:${minute}`), { bytes: '307', requests: '4' }, 'buckets counted once too');
});

t.test('aggregates delivered out of order count once each, in their own buckets', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const base = Math.floor(NOW / 60) * 60 - 600; // ten minutes ago, on a minute
  const g = [1, 2, 3, 4].map((n) => agg(`g${n}`, { FROM: base + n * 60 + 1, BYTES: 10 ** n, REQUESTS: n }));
  const [g1, g2, g3, g4] = g as [Agg, Agg, Agg, Agg];
  await send(box, 'box-r', [g3, g4]);
  await send(box, 'box-r', [g1]);
  await send(box, 'box-r', [g4, g2, g1, g3]);
  const r = redis.client();
  t.same(await trafficTotals(r, { box: 'box-r' }), { bytes: 11110, requests: 10 });
  const series = await trafficSeries(r, { scope: 'box', id: 'box-r', resolution: 'minute', from: base + 60, to: base + 240 });
  t.same(series, [
    { t: base + 60, bytes: 10, requests: 1 },
    { t: base + 120, bytes: 100, requests: 2 },
    { t: base + 180, bytes: 1000, requests: 3 },
    { t: base + 240, bytes: 10000, requests: 4 },
  ]);
});

t.test('two entrances sharing one Redis count the same aggregates once', async (t) => {
  const redis = await startRedis(t);
  const first = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const second = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  t.not(first.id, second.id, 'different entrance IDs');
  const toFirst = await connectPeer(first.url);
  const toSecond = await connectPeer(second.url);
  t.teardown(() => Promise.all([toFirst.close(), toSecond.close()]));
  const batch = Array.from({ length: 200 }, (_, i) => agg(`s${i}`, { BYTES: i + 1, REQUESTS: 1, PUBLISHER: i % 2 ? P1 : P2 }));
  // The box sends its pending aggregates to every entrance it knows, at once, until one accepts.
  for (let round = 0; round < 3; round++) {
    const replies = await Promise.all([send(toFirst, 'box-two', batch), send(toSecond, 'box-two', [...batch].reverse())]);
    t.same(replies.map((m) => m.MESSAGE), ['ACCEPTED', 'ACCEPTED']);
  }
  const r = redis.client();
  t.same(await trafficTotals(r), { bytes: (200 * 201) / 2, requests: 200 });
  t.same(await trafficTotals(r, { publisher: P1 }), { bytes: 100 * 101, requests: 100 }, 'odd i: 2+4+…+200');
  t.same(await trafficTotals(r, { publisher: P2 }), { bytes: 100 * 100, requests: 100 }, 'even i: 1+3+…+199');
  t.equal(await r.zscore(`${first.id}:BOX_SET`, 'box-two') !== null, true, 'each entrance keeps its own registry');
  t.equal(await r.zscore(`${second.id}:BOX_SET`, 'box-two') !== null, true);
});

t.test('buckets split exactly at UTC minute, hour and day boundaries', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  await send(box, 'box-edge', [
    agg('e1', { FROM: DAY - 0.001, BYTES: 1 }), // 23:59:59.999 the day before
    agg('e2', { FROM: DAY, BYTES: 10 }), // 00:00:00.000
    agg('e3', { FROM: DAY + 3599.999, BYTES: 100 }), // 00:59:59.999
    agg('e4', { FROM: DAY + 3600, BYTES: 1000 }), // 01:00:00.000
    agg('e5', { FROM: DAY + 3659.5, BYTES: 10000 }), // 01:00:59.5
    agg('e6', { FROM: DAY + 3660, BYTES: 100000 }), // 01:01:00.000
  ]);
  const r = redis.client();
  const q = { scope: 'box', id: 'box-edge' } as const;
  const bytesOf = (points: Array<{ t: number; bytes: number }>): Array<[number, number]> => points.map((p) => [p.t, p.bytes]);
  t.same(bytesOf(await trafficSeries(r, { ...q, resolution: 'day', from: DAY - 86400, to: DAY })), [[DAY - 86400, 1], [DAY, 111110]]);
  t.same(bytesOf(await trafficSeries(r, { ...q, resolution: 'hour', from: DAY - 3600, to: DAY + 3600 })), [[DAY - 3600, 1], [DAY, 110], [DAY + 3600, 111000]]);
  t.same(bytesOf(await trafficSeries(r, { ...q, resolution: 'minute', from: DAY - 60, to: DAY })), [[DAY - 60, 1], [DAY, 10]]);
  t.same(bytesOf(await trafficSeries(r, { ...q, resolution: 'minute', from: DAY + 3540, to: DAY + 3660 })), [[DAY + 3540, 100], [DAY + 3600, 11000], [DAY + 3660, 100000]]);
  t.same(await r.hgetall(`dandelion:TRAFFIC:BOX:box-edge:MINUTE:${DAY + 3600}`), { bytes: '11000', requests: '2' }, 'bucket key names the bucket start in seconds');
  t.same(await r.hgetall(`dandelion:TRAFFIC:FLEET:HOUR:${DAY}`), { bytes: '110', requests: '2' });
  t.same(await r.hgetall(`dandelion:TRAFFIC:PUBLISHER:${P1}:DAY:${DAY - 86400}`), { bytes: '1', requests: '1' });
});

t.test('retention: buckets expire their retention after the bucket ends, totals never; too old is not counted', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startCountingEntrance(t, {
    redisUrl: redis.url,
    now: clock,
    env: { DANDELION_TRAFFIC_MINUTE_DAYS: '1', DANDELION_TRAFFIC_HOUR_DAYS: '2', DANDELION_TRAFFIC_DAY_DAYS: '3' },
  });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const r = redis.client();
  // PTTL counts down in real time from what the fake clock set; a minute of slack, never more than the deadline.
  const within = async (key: string, deadlineSeconds: number, what: string): Promise<void> => {
    const expected = deadlineSeconds * 1000 - NOW * 1000;
    const pttl = await r.pttl(key);
    t.ok(pttl <= expected && pttl > expected - 60_000, `${what}: PTTL ${pttl} ms, expected about ${expected}`);
  };

  const from = NOW - 10; // 12:30:20
  await send(box, 'box-ttl', [agg('fresh', { FROM: from })]);
  const minute = Math.floor(from / 60) * 60;
  const hour = Math.floor(from / 3600) * 3600;
  for (const owner of ['FLEET', 'BOX:box-ttl', `PUBLISHER:${P1}`]) {
    await within(`dandelion:TRAFFIC:${owner}:MINUTE:${minute}`, minute + 60 + 1 * 86400, `${owner} minute`);
    await within(`dandelion:TRAFFIC:${owner}:HOUR:${hour}`, hour + 3600 + 2 * 86400, `${owner} hour`);
    await within(`dandelion:TRAFFIC:${owner}:DAY:${DAY}`, DAY + 86400 + 3 * 86400, `${owner} day`);
    t.equal(await r.pttl(`dandelion:TRAFFIC:${owner}:TOTAL`), -1, `${owner} total kept for ever`);
  }
  await within('dandelion:TRAFFIC:SEEN:box-ttl:fresh', DAY + 86400 + 3 * 86400 + 86400, 'dedupe marker outlives the day bucket by a day');
  for (const key of ['dandelion:TRAFFIC:FLEET:BOXES', 'dandelion:TRAFFIC:FLEET:PUBLISHERS', 'dandelion:TRAFFIC:BOX:box-ttl:PUBLISHERS', `dandelion:TRAFFIC:PUBLISHER:${P1}:BOXES`]) {
    t.equal(await r.pttl(key), -1, `${key} kept for ever`);
  }

  const before = await r.keys('dandelion:TRAFFIC:*');
  // 36 hours old: past the minute retention (1 day), within hour (2) and day (3).
  const old = NOW - 36 * 3600;
  await send(box, 'box-ttl', [agg('old', { FROM: old, BYTES: 5 })]);
  t.equal(await r.exists(`dandelion:TRAFFIC:BOX:box-ttl:MINUTE:${Math.floor(old / 60) * 60}`), 0, 'no minute bucket past its retention');
  t.same(await r.hgetall(`dandelion:TRAFFIC:BOX:box-ttl:HOUR:${Math.floor(old / 3600) * 3600}`), { bytes: '5', requests: '1' });
  t.same(await r.hgetall(`dandelion:TRAFFIC:BOX:box-ttl:DAY:${DAY - 86400}`), { bytes: '5', requests: '1' });

  // Five days old (past the day retention) or two days ahead (a wrong clock): accepted, not counted.
  const reply = await send(box, 'box-ttl', [agg('ancient', { FROM: NOW - 5 * 86400, BYTES: 1000 }), agg('ahead', { FROM: NOW + 2 * 86400, BYTES: 1000 })]);
  t.equal(reply.MESSAGE, 'ACCEPTED', 'the box may drop them');
  t.same(await trafficTotals(r, { box: 'box-ttl' }), { bytes: 105, requests: 2 }, 'fresh and old only');
  t.equal(await r.exists('dandelion:TRAFFIC:SEEN:box-ttl:ancient', 'dandelion:TRAFFIC:SEEN:box-ttl:ahead'), 0, 'no markers for them');
  t.equal((await r.keys('dandelion:TRAFFIC:*')).length, before.length + 1 + 3 * 2, 'only the old aggregate\'s marker and its hour and day buckets were added');
});

t.test('TRAFFIC_FLOW records, sent again and again, never change the totals', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const records = {
    'box-flow:TRAFFIC_FLOW:log-aaaa': { datetime: '15/Jun/2025:12:30:00 +0000', url: `/${P1}/live/seg-1.ts`, status: 200, size: 99999 },
    'box-flow:TRAFFIC_FLOW:log-bbbb': { datetime: '15/Jun/2025:12:30:01 +0000', url: `/${P1}/live/seg-2.ts`, status: 206, size: 88888 },
  };
  t.equal((await box.ask(boxExchange('box-flow', records))).MESSAGE, 'ACCEPTED');
  const r = redis.client();
  t.same(await r.keys('dandelion:TRAFFIC:*'), [], 'records alone count nothing');
  for (let i = 0; i < 3; i++) t.equal((await send(box, 'box-flow', [agg('f1', { BYTES: 777, REQUESTS: 2 })], records)).MESSAGE, 'ACCEPTED');
  t.same(await trafficTotals(r), { bytes: 777, requests: 2 }, 'only the aggregate counts');
  t.same(await trafficTotals(r, { box: 'box-flow' }), { bytes: 777, requests: 2 });
});

t.test('a malformed aggregate refuses the whole EXCHANGE and nothing is counted', async (t) => {
  const redis = await startRedis(t);
  const { url, id } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const cases: Array<{ name: string; bad: Record<string, unknown> }> = [
    { name: 'negative BYTES (decoder)', bad: { BYTES: -1 } },
    { name: 'negative REQUESTS (decoder)', bad: { REQUESTS: -3 } },
    { name: 'BYTES not a number (decoder)', bad: { BYTES: 'lots' } },
    { name: 'fractional BYTES', bad: { BYTES: 1.5 } },
    { name: 'PUBLISHER not a publisher ID', bad: { PUBLISHER: 'box-1' } },
    { name: 'PUBLISHER that would climb out of its key', bad: { PUBLISHER: 'publisher-a:TOTAL' } },
  ];
  for (const c of cases) {
    const box = await connectPeer(url);
    const reply = await send(box, 'box-bad', [agg('good', { BYTES: 50 }), { ...agg('bad'), ...c.bad }]);
    t.equal(reply.ERROR_CODE, 'E_FORMAT', c.name);
    t.match(reply.ERROR, /TRAFFIC_AGGREGATES\[1\]/, `${c.name}: the error names the aggregate`);
    if (reply.ERROR_CODE !== 'E_FORMAT') await box.close(); // fail below at once rather than wait for a close that will not come
    t.equal((await box.closed).code, 4000, `${c.name}: socket closed as for any malformed message`);
  }
  const r = redis.client();
  t.same(await r.keys('dandelion:TRAFFIC:*'), [], 'not even the good aggregate beside it');
  t.equal(await r.zscore(`${id}:BOX_SET`, 'box-bad'), null, 'the refused exchange was not stored either');
});

t.test('a fold that fails is answered E_INTERNAL with nothing counted, and the resend counts once', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const r = redis.client();
  await r.set('dandelion:TRAFFIC:FLEET:TOTAL', 'not a hash'); // something else wrote there
  const batch = [agg('i1', { BYTES: 11 }), agg('i2', { BYTES: 22 })];
  const failed = await send(box, 'box-int', batch);
  t.equal(failed.ERROR_CODE, 'E_INTERNAL', 'the box keeps its aggregates and sends them again');
  t.same((await r.keys('dandelion:TRAFFIC:*')).sort(), ['dandelion:TRAFFIC:FLEET:TOTAL'], 'no marker, no bucket: nothing half counted');
  await r.del('dandelion:TRAFFIC:FLEET:TOTAL');
  t.equal((await send(box, 'box-int', batch)).MESSAGE, 'ACCEPTED', 'same socket, still open');
  t.equal((await send(box, 'box-int', batch)).MESSAGE, 'ACCEPTED');
  t.same(await trafficTotals(r), { bytes: 33, requests: 2 });
});

t.test('series are zero-filled, start at the bucket holding `from`, and refuse bad queries', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const m = Math.floor(NOW / 60) * 60 - 300;
  await send(box, 'box-z', [agg('z1', { FROM: m + 5, BYTES: 64, REQUESTS: 2 }), agg('z2', { FROM: m + 125, PUBLISHER: '', BYTES: 8 })]);
  const r = redis.client();
  t.same(await trafficSeries(r, { scope: 'fleet', resolution: 'minute', from: m - 90, to: m + 180 }), [
    { t: m - 120, bytes: 0, requests: 0 },
    { t: m - 60, bytes: 0, requests: 0 },
    { t: m, bytes: 64, requests: 2 },
    { t: m + 60, bytes: 0, requests: 0 },
    { t: m + 120, bytes: 8, requests: 1 },
    { t: m + 180, bytes: 0, requests: 0 },
  ]);
  t.same(await trafficSeries(r, { scope: 'publisher', id: P1, resolution: 'minute', from: m, to: m + 120 }), [
    { t: m, bytes: 64, requests: 2 },
    { t: m + 60, bytes: 0, requests: 0 },
    { t: m + 120, bytes: 0, requests: 0 },
  ], 'no-publisher traffic is not a publisher\'s');
  t.same(await trafficSeries(r, { scope: 'box', id: 'box-unknown', resolution: 'hour', from: NOW - 7200, to: NOW }), [
    { t: Math.floor(NOW / 3600) * 3600 - 7200, bytes: 0, requests: 0 },
    { t: Math.floor(NOW / 3600) * 3600 - 3600, bytes: 0, requests: 0 },
    { t: Math.floor(NOW / 3600) * 3600, bytes: 0, requests: 0 },
  ]);
  await t.rejects(trafficSeries(r, { scope: 'box', resolution: 'minute', from: m, to: m }), RangeError, 'box without an ID');
  await t.rejects(trafficSeries(r, { scope: 'box', id: 'box-z:TOTAL', resolution: 'minute', from: m, to: m }), RangeError, 'ID that is not one');
  await t.rejects(trafficSeries(r, { scope: 'fleet', resolution: 'minute', from: m, to: m - 60 }), RangeError, 'from after to');
  await t.rejects(trafficSeries(r, { scope: 'fleet', resolution: 'minute', from: 0, to: NOW }), RangeError, 'too many buckets');
  await t.rejects(trafficTotals(r, { box: 'box-z', publisher: P1 }), RangeError, 'box and publisher together');
});

t.test('aggregates older than TRAFFIC_DEDUPE_DAYS are accepted but not counted, and their markers are bounded', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startCountingEntrance(t, { redisUrl: redis.url, now: clock, env: { DANDELION_TRAFFIC_DEDUPE_DAYS: '2' } });
  const box = await connectPeer(url);
  t.teardown(() => box.close());
  const reply = await send(box, 'box-dd', [agg('three-days', { FROM: NOW - 3 * 86400, BYTES: 7 }), agg('one-day', { FROM: NOW - 86400, BYTES: 11 })]);
  t.equal(reply.MESSAGE, 'ACCEPTED');
  const r = redis.client();
  t.same(await trafficTotals(r, { box: 'box-dd' }), { bytes: 11, requests: 1 }, 'only the aggregate inside the window counts');
  const pttl = await r.pttl('dandelion:TRAFFIC:SEEN:box-dd:one-day');
  // Counted until FROM + 2 days, marker one margin day longer: 2 days from now, give or take the real-time drift.
  t.ok(pttl <= 2 * 86_400_000 && pttl > 2 * 86_400_000 - 60_000, `marker lives until the window closes plus a day (${pttl} ms)`);
});
