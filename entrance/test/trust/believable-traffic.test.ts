// Traffic an enrolled box reports is believed only as far as it can be: an aggregate counts only up to
// what the box's measured upload allows over its interval (the rest shows as implausible, per box, on
// /metrics and the dashboard), only for a publisher the entrance knows (others create no per-publisher
// keys or metric labels), and a flood of made-up publisher IDs leaves /metrics and Redis bounded. A
// plausible aggregate still counts exactly once.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import { hashPassword } from '../../../shared/src/password.js';
import { MAX_LABEL_VALUES } from '../../src/metric-labels.js';
import { UNMEASURED_ALLOWANCE_BYTES, allowanceBytes } from '../../src/traffic/plausible.js';
import { trafficTotals } from '../../src/traffic/read.js';
import { enrolledBox } from '../../../test/helpers/enrolment.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { boxExchange, searchRequest } from '../../../test/helpers/messages.js';
import { sampleValue, scrape } from '../../../test/helpers/prometheus.js';
import type { Family } from '../../../test/helpers/prometheus.js';
import { startRedis } from '../../../test/helpers/redis.js';
import type { RedisServer } from '../../../test/helpers/redis.js';
import { connectPeer } from '../../../test/helpers/ws-client.js';
import type { TestPeer } from '../../../test/helpers/ws-client.js';

const API_TOKEN = 'traffic-script-token-1';
const KNOWN = 'publisher-known';
/** The box's measured upload, Mbit/s, as its EXCHANGE reports it. */
const UP_MBIT = 100;

interface Setup {
  redis: RedisServer;
  url: string;
  http: string;
  box: TestPeer;
  boxId: string;
  /** Send one EXCHANGE from the box with these aggregates; the reply. */
  send(aggregates: unknown[], extra?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Make `publisherId` one the entrance knows (today: it SEARCHed here). */
  makeKnown(...publisherIds: string[]): Promise<void>;
  metrics(): Promise<{ text: string; families: Map<string, Family> }>;
  api(path: string): Promise<Record<string, unknown>>;
}

async function setup(t: Test, boxId = 'box-honest'): Promise<Setup> {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, {
    redisUrl: redis.url,
    env: {
      DANDELION_REQUIRE_ENROLMENT: 'true',
      DANDELION_REQUIRE_PUBLISHER_AUTH: 'false',
      DANDELION_METRICS_PUBLIC: 'true',
      DANDELION_API_TOKENS: JSON.stringify([await hashPassword(API_TOKEN)]),
    },
  });
  const http = url.replace('ws:', 'http:').replace(/\/dandelion\/ws\/$/, '');
  const box = await connectPeer(url, { headers: await enrolledHeaders(redis.url, url, boxId) });
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box.close(), publisher.close()]));
  return {
    redis, url, http, box, boxId,
    send: (aggregates, extra = {}) => box.ask(boxExchange(boxId, { 'BANDWIDTH-UP': UP_MBIT, ...extra, TRAFFIC_AGGREGATES: aggregates })),
    async makeKnown(...ids) {
      for (const id of ids) t.equal((await publisher.ask(searchRequest(id))).COMMAND, 'SEARCH', `${id} searched`);
    },
    async metrics() {
      const s = await scrape(`${http}/metrics`);
      return { text: s.text, families: s.families };
    },
    async api(path) {
      const res = await fetch(`${http}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      t.equal(res.status, 200, `GET ${path}`);
      return (await res.json()) as Record<string, unknown>;
    },
  };
}

/** Enrol `boxId` with a fleet token as the agent does, and the signed headers of its next upgrade. */
async function enrolledHeaders(redisUrl: string, wsUrl: string, boxId: string): Promise<Record<string, string>> {
  const creds = await enrolledBox(redisUrl, wsUrl, boxId);
  const headers = await creds.upgradeHeaders(wsUrl);
  if (!headers) throw new Error('no challenge for the upgrade');
  return headers;
}

/** An aggregate inside one minute (FROM and TO on the same second), 20 s ago. */
function agg(id: string, publisher: string, bytes: number, requests = 1): Record<string, unknown> {
  const minute = Math.floor(Date.now() / 60_000) * 60 - 60; // the whole previous minute, never the next one
  return { ID: id, PUBLISHER: publisher, FILE: 'live/seg-1.ts', REQUESTS: requests, BYTES: bytes, FROM: minute + 10, TO: minute + 10 };
}

const seriesOf = (families: Map<string, Family>, name: string): Array<{ labels: Record<string, string>; value: number }> =>
  (families.get(name)?.metrics ?? []).map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));

t.test('a 9e15-byte aggregate counts only what the box could send; the excess is implausible, on /metrics and the dashboard', async (t) => {
  const s = await setup(t);
  await s.makeKnown(KNOWN);
  const huge = agg('huge', KNOWN, 9e15, 1000);
  for (let i = 0; i < 2; i++) t.equal((await s.send([huge])).MESSAGE, 'ACCEPTED', 'accepted (the box may drop it), resent once');
  const r = s.redis.client();
  const allowed = allowanceBytes(UP_MBIT, 60);
  t.ok(allowed < 2e9, `a minute at ${UP_MBIT} Mbit/s with the margin is about a gigabyte (${allowed})`);
  const fleet = await trafficTotals(r);
  t.equal(fleet.bytes, allowed, 'the fleet counts what the box could have sent in that minute, no more');
  t.ok(fleet.requests <= 1000 && fleet.requests < allowed, 'requests are cut with the bytes');
  t.same(await trafficTotals(r, { publisher: KNOWN }), fleet, 'and so does the publisher');
  const excess = 9e15 - allowed;

  t.equal((await s.send([agg('more', KNOWN, 5_000)])).MESSAGE, 'ACCEPTED');
  t.equal((await trafficTotals(r)).bytes, allowed, 'that minute is full: a further aggregate in it counts nothing');

  const m = (await s.metrics()).families;
  t.equal(sampleValue(m, 'dandelion_fleet_served_bytes'), allowed);
  t.equal(sampleValue(m, 'dandelion_box_implausible_bytes', { box: s.boxId }), excess + 5_000, 'the excess, per box, once');
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'implausible' }), 2);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'duplicates' }), 1, 'the resend');

  const list = await s.api('/api/boxes');
  const rows = list.BOXES as Array<Record<string, unknown>>;
  t.match(rows.find((b) => b.ID === s.boxId), { BYTES_TOTAL: allowed, IMPLAUSIBLE_BYTES: excess + 5_000 }, 'the fleet list shows it');
  t.match((await s.api(`/api/boxes/${s.boxId}`)).BOX, { IMPLAUSIBLE_BYTES: excess + 5_000 }, 'and the box page');
});

t.test('a box without a measured upload gets a small allowance per minute', async (t) => {
  const s = await setup(t, 'box-new');
  await s.makeKnown(KNOWN);
  t.equal((await s.send([agg('n1', KNOWN, 10 * UNMEASURED_ALLOWANCE_BYTES)], { 'BANDWIDTH-UP': undefined })).MESSAGE, 'ACCEPTED');
  t.equal((await trafficTotals(s.redis.client())).bytes, UNMEASURED_ALLOWANCE_BYTES);
  t.equal(sampleValue((await s.metrics()).families, 'dandelion_box_implausible_bytes', { box: 'box-new' }), 9 * UNMEASURED_ALLOWANCE_BYTES);
});

t.test('an aggregate for a publisher the entrance does not know creates no publisher keys or metric labels', async (t) => {
  const s = await setup(t);
  const stranger = 'publisher-never-searched';
  t.equal((await s.send([agg('u1', stranger, 4_000, 2)])).MESSAGE, 'ACCEPTED', 'accepted, so the box drops it');
  const r = s.redis.client();
  t.same(await r.keys('dandelion:TRAFFIC:PUBLISHER:*'), [], 'no TRAFFIC:PUBLISHER keys');
  t.same(await trafficTotals(r), { bytes: 0, requests: 0 }, 'not in the fleet totals either');
  t.equal(await r.hget('dandelion:TRAFFIC:FLEET:PUBLISHERS', stranger), null, 'nor in the by-publisher breakdown');
  const { text, families } = await s.metrics();
  t.notMatch(text, stranger, 'no metric names it');
  t.same(seriesOf(families, 'dandelion_publisher_served_bytes'), [], 'no publisher series at all');
  t.equal(sampleValue(families, 'dandelion_traffic_aggregates_total', { result: 'unknown_publisher' }), 1);
  t.equal(sampleValue(families, 'dandelion_unknown_publisher_bytes'), 4_000, 'tallied, as a warning sign, in one fleet-wide figure');
});

t.test('a flood of 5,000 made-up publisher IDs leaves /metrics and Redis bounded', async (t) => {
  const s = await setup(t);
  await s.makeKnown(KNOWN);
  t.equal((await s.send([agg('k1', KNOWN, 1_000)])).MESSAGE, 'ACCEPTED');
  const r = s.redis.client();
  const before = { keys: await r.dbsize(), metrics: (await s.metrics()).text.length };
  for (let batch = 0; batch < 10; batch++) {
    const aggregates = Array.from({ length: 500 }, (_, i) => agg(`f${batch}-${i}`, `publisher-${randomBytes(6).toString('hex')}`, 100));
    t.equal((await s.send(aggregates)).MESSAGE, 'ACCEPTED', `batch ${batch}`);
  }
  const after = { keys: await r.dbsize(), metrics: (await s.metrics()).text };
  t.ok(after.keys - before.keys <= 2, `Redis grew by ${after.keys - before.keys} keys, not thousands`);
  t.same((await r.keys('dandelion:TRAFFIC:PUBLISHER:*')).filter((k) => !k.includes(KNOWN)), [], 'none for a made-up ID');
  t.ok(after.metrics.length - before.metrics < 2_000, `/metrics grew by ${after.metrics.length - before.metrics} characters`);
  const series = seriesOf((await s.metrics()).families, 'dandelion_publisher_served_bytes');
  t.same(series.map((x) => x.labels.publisher), [KNOWN], 'one series: the known publisher');
});

t.test('per-publisher series are capped: beyond the cap, the smallest are summed into "other"', async (t) => {
  const s = await setup(t);
  const count = MAX_LABEL_VALUES + 15;
  const ids = Array.from({ length: count }, (_, i) => `publisher-p${String(i).padStart(4, '0')}`);
  await s.makeKnown(...ids);
  const aggregates = ids.map((id, i) => agg(`c${i}`, id, 1_000 + i));
  for (let i = 0; i < aggregates.length; i += 500) t.equal((await s.send(aggregates.slice(i, i + 500))).MESSAGE, 'ACCEPTED');
  const series = seriesOf((await s.metrics()).families, 'dandelion_publisher_served_bytes');
  t.equal(series.length, MAX_LABEL_VALUES, `at most ${MAX_LABEL_VALUES} label values`);
  const other = series.find((x) => x.labels.publisher === 'other');
  const smallest = Array.from({ length: count - MAX_LABEL_VALUES + 1 }, (_, i) => 1_000 + i);
  t.equal(other?.value, smallest.reduce((a, b) => a + b, 0), 'the smallest publishers, summed');
  t.equal(series.reduce((a, x) => a + x.value, 0), (await trafficTotals(s.redis.client())).bytes, 'nothing lost: the series add up to the fleet total');
});

t.test('a plausible aggregate for a known publisher counts exactly once, as before', async (t) => {
  const s = await setup(t);
  await s.makeKnown(KNOWN);
  const one = agg('p1', KNOWN, 5_000, 3);
  for (let i = 0; i < 3; i++) t.equal((await s.send([one, agg('p2', '', 40)])).MESSAGE, 'ACCEPTED');
  const r = s.redis.client();
  t.same(await trafficTotals(r), { bytes: 5_040, requests: 4 });
  t.same(await trafficTotals(r, { publisher: KNOWN }), { bytes: 5_000, requests: 3 });
  const m = (await s.metrics()).families;
  t.equal(sampleValue(m, 'dandelion_publisher_served_bytes', { publisher: KNOWN }), 5_000);
  t.equal(sampleValue(m, 'dandelion_publisher_served_bytes', { publisher: '-' }), 40);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'counted' }), 2);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'implausible' }), 0);
  t.equal(sampleValue(m, 'dandelion_box_implausible_bytes', { box: s.boxId }), undefined, 'no implausible series for an honest box');
  t.match((await s.api(`/api/boxes/${s.boxId}`)).BOX, { BYTES_TOTAL: 5_040, IMPLAUSIBLE_BYTES: 0 });
});
