// The entrance's /metrics is Prometheus text that a real parser reads, every metric with HELP and TYPE;
// heartbeats, searches, refusals (by ERROR_CODE), sockets, boxes online and traffic count exactly what
// the test sent; with METRICS_TOKEN set, only the right bearer token gets the metrics (a token
// that passed is remembered, wrong ones are checked a few at a time); with neither METRICS_TOKEN nor
// METRICS_PUBLIC, /metrics is closed and says which key to set.
import type { IncomingMessage } from 'node:http';
import t from 'tap';
import { hashPassword } from '../../shared/src/password.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { eventually } from '../../test/helpers/agent.js';
import { boxExchange, searchRequest, ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { sampleValue, scrape } from '../../test/helpers/prometheus.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { TOKEN_CACHE_MS, createBearerCheck } from '../src/bearer.js';

const P1 = 'publisher-one';
const P2 = 'publisher-two';

/** Every entrance metric, with its type. */
const ENTRANCE_METRICS = {
  dandelion_boxes_online: 'GAUGE',
  dandelion_boxes_paused: 'GAUGE',
  dandelion_heartbeats_total: 'COUNTER',
  dandelion_searches_total: 'COUNTER',
  dandelion_search_duration_seconds: 'HISTOGRAM',
  dandelion_rejected_messages_total: 'COUNTER',
  dandelion_websocket_connections: 'GAUGE',
  dandelion_fleet_served_bytes: 'GAUGE',
  dandelion_fleet_served_requests: 'GAUGE',
  dandelion_publisher_served_bytes: 'GAUGE',
  dandelion_traffic_aggregates_total: 'COUNTER',
  dandelion_box_implausible_bytes: 'GAUGE',
  dandelion_unknown_publisher_bytes: 'GAUGE',
  // prom-client's process metrics, prefixed too
  dandelion_process_cpu_seconds_total: 'COUNTER',
  dandelion_process_resident_memory_bytes: 'GAUGE',
  dandelion_nodejs_eventloop_lag_seconds: 'GAUGE',
} as const;

function agg(id: string, publisher: string, bytes: number, requests: number): Record<string, unknown> {
  const from = Math.floor(Date.now() / 1000) - 20;
  return { ID: id, PUBLISHER: publisher, FILE: 'live/seg-1.ts', REQUESTS: requests, BYTES: bytes, FROM: from, TO: from + 1 };
}

const metricsUrl = (wsUrl: string): string => `${new URL(wsUrl).origin.replace(/^ws/, 'http')}/metrics`;

t.test('counts exactly what boxes and publishers sent', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_METRICS_PUBLIC: 'true' } });
  const endpoint = metricsUrl(url);

  const before = await scrape(endpoint);
  t.equal(before.status, 200, 'open to anyone with METRICS_PUBLIC');
  t.match(before.contentType, /^text\/plain; version=0\.0\.4/);
  for (const [name, type] of Object.entries(ENTRANCE_METRICS)) {
    t.equal(before.families.get(name)?.type, type, `${name} is a ${type.toLowerCase()}`);
    t.ok(before.families.get(name)?.help, `${name} has HELP`);
  }
  for (const name of before.families.keys()) t.ok(name.startsWith('dandelion_'), `${name} is prefixed`);
  t.equal(sampleValue(before.families, 'dandelion_heartbeats_total'), 0);
  t.equal(sampleValue(before.families, 'dandelion_boxes_online'), 0);

  const box1 = await connectPeer(url);
  const box2 = await connectPeer(url);
  const publisher = await connectPeer(url);
  t.teardown(() => Promise.all([box1.close(), box2.close(), publisher.close()]));
  // First, so both publishers are known: traffic is counted only for publishers the entrance knows.
  for (let i = 0; i < 4; i++) t.equal((await publisher.ask(searchRequest(i % 2 ? P2 : P1))).COMMAND, 'SEARCH');
  for (let i = 0; i < 3; i++) {
    const aggregates = i === 0 ? [agg('a1', P1, 1000, 1), agg('a2', P2, 500, 2)] : [];
    t.equal((await box1.ask(boxExchange('box-m1', { TRAFFIC_AGGREGATES: aggregates }))).MESSAGE, 'ACCEPTED');
  }
  for (let i = 0; i < 2; i++) {
    // The same aggregate twice, as a box resends one the entrance's ACCEPTED did not reach: counted once.
    t.equal((await box2.ask(boxExchange('box-m2', { TRAFFIC_AGGREGATES: [agg('b1', P1, 250, 1)] }))).MESSAGE, 'ACCEPTED');
  }

  // Refusals: each socket is closed after its ERROR, so one fresh socket per message.
  const refusals = [
    { send: '{"ID": "box-1", ', code: 'E_FORMAT' },
    { send: JSON.stringify({ ...boxExchange('box-1'), ID: undefined }), code: 'E_FORMAT' },
    { send: JSON.stringify({ ...searchRequest(), COMMAND: 'PUBLISH' }), code: 'E_COMMAND' },
    { send: JSON.stringify(boxExchange('box-m3', { TRAFFIC_AGGREGATES: [agg('c1', 'nobody', 1, 1)] })), code: 'E_FORMAT' },
  ];
  for (const { send, code } of refusals) {
    const peer = await connectPeer(url);
    peer.sendRaw(send);
    t.equal((await peer.next()).ERROR_CODE, code, `refused with ${code}`);
    await peer.closed;
  }

  const m = (await scrape(endpoint)).families;
  t.equal(sampleValue(m, 'dandelion_heartbeats_total'), 5, 'one per accepted EXCHANGE');
  t.equal(sampleValue(m, 'dandelion_searches_total'), 4, 'one per SEARCH');
  t.equal(m.get('dandelion_search_duration_seconds')?.metrics[0]?.count, '4', 'each SEARCH timed');
  t.equal(m.get('dandelion_search_duration_seconds')?.metrics[0]?.buckets?.['+Inf'], '4');
  t.equal(sampleValue(m, 'dandelion_rejected_messages_total', { code: 'E_FORMAT' }), 3);
  t.equal(sampleValue(m, 'dandelion_rejected_messages_total', { code: 'E_COMMAND' }), 1);
  t.equal(m.get('dandelion_rejected_messages_total')?.metrics.length, 2, 'no other codes');
  t.equal(sampleValue(m, 'dandelion_boxes_online'), 2, 'box-m3 was refused, so never registered');
  t.equal(sampleValue(m, 'dandelion_fleet_served_bytes'), 1750);
  t.equal(sampleValue(m, 'dandelion_fleet_served_requests'), 4);
  t.equal(sampleValue(m, 'dandelion_publisher_served_bytes', { publisher: P1 }), 1250);
  t.equal(sampleValue(m, 'dandelion_publisher_served_bytes', { publisher: P2 }), 500);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'counted' }), 3);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'duplicates' }), 1);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'stale' }), 0);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'future' }), 0);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'implausible' }), 0);
  t.equal(sampleValue(m, 'dandelion_traffic_aggregates_total', { result: 'unknown_publisher' }), 0);
  t.equal(sampleValue(m, 'dandelion_unknown_publisher_bytes'), 0);
  t.equal(
    await eventually(async () => sampleValue((await scrape(endpoint)).families, 'dandelion_websocket_connections') === 3),
    true,
    'the three sockets still open (the refused ones closed)',
  );

  await Promise.all([box1.close(), box2.close(), publisher.close()]);
  t.equal(await eventually(async () => sampleValue((await scrape(endpoint)).families, 'dandelion_websocket_connections') === 0), true, 'none once closed');
});

t.test('METRICS_TOKEN: 401 without or with a wrong token, 200 with the right one', async (t) => {
  const token = 'scrape-me-7f3a';
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_METRICS_TOKEN: await hashPassword(token) } });
  const endpoint = metricsUrl(url);

  const none = await scrape(endpoint);
  t.equal(none.status, 401, 'no token');
  t.equal((await fetch(endpoint)).headers.get('www-authenticate'), 'Bearer realm="dandelion metrics"');
  t.notMatch(none.text, /dandelion_/, 'no metrics in the refusal');
  t.equal((await scrape(endpoint, { authorization: 'Bearer not-the-token' })).status, 401, 'wrong token');
  t.equal((await scrape(endpoint, { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` })).status, 401, 'the token, but not as a bearer token');
  const ok = await scrape(endpoint, { authorization: `Bearer ${token}` });
  t.equal(ok.status, 200, 'right token');
  t.equal(ok.families.get('dandelion_heartbeats_total')?.type, 'COUNTER', 'and the metrics with it');
  t.equal((await scrape(endpoint, { authorization: `Bearer ${token}` })).status, 200, 'again (remembered)');
  t.equal((await fetch(endpoint, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 405, 'GET only');
  t.equal((await fetch(`${new URL(endpoint).origin}/dandelion/`)).status, 200, 'the rest of the entrance needs no token');
});

t.test('neither METRICS_TOKEN nor METRICS_PUBLIC: /metrics is closed and says which key to set', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const closed = await scrape(metricsUrl(url));
  t.equal(closed.status, 403, 'closed by default');
  t.notMatch(closed.text, /dandelion_/, 'no metrics in the refusal');
  const body = JSON.parse(closed.text) as { ERROR: string; ERROR_CODE: string };
  t.equal(body.ERROR_CODE, 'E_FORBIDDEN');
  t.match(body.ERROR, /METRICS_TOKEN/, 'names METRICS_TOKEN');
  t.match(body.ERROR, /METRICS_PUBLIC: true/, 'and METRICS_PUBLIC');
  t.equal((await fetch(`${new URL(metricsUrl(url)).origin}/dandelion/`)).status, 200, 'the rest of the entrance is unaffected');
});

t.test('METRICS_TOKEN wins over METRICS_PUBLIC', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url, env: { ...ORIGINAL_PUBLISHERS, DANDELION_METRICS_TOKEN: await hashPassword('scrape-token-9'), DANDELION_METRICS_PUBLIC: 'true' } });
  t.equal((await scrape(metricsUrl(url))).status, 401, 'no token: 401 although METRICS_PUBLIC is true');
  t.equal((await scrape(metricsUrl(url), { authorization: 'Bearer scrape-token-9' })).status, 200);
});

t.test('a token that passed is remembered for TOKEN_CACHE_MS; wrong ones are checked at most two at a time', async (t) => {
  const token = 'scrape-me-too';
  let now = 1_000_000;
  const check = createBearerCheck([await hashPassword(token)], () => now);
  const asking = (tok: string): IncomingMessage => ({ headers: { authorization: `Bearer ${tok}` } }) as IncomingMessage;

  t.equal(await check(asking(token)), 'ok');
  // Two wrong tokens take both checking slots; a third check would have to wait.
  const wrong = [check(asking('wrong-1')), check(asking('wrong-2'))];
  t.equal(await check(asking('wrong-3')), 'busy', 'a third check at once is refused as busy');
  t.equal(await check(asking(token)), 'ok', 'the remembered token needs no check, so it is never busy');
  t.same(await Promise.all(wrong), ['refused', 'refused']);

  now += TOKEN_CACHE_MS + 1;
  const again = [check(asking('wrong-4')), check(asking('wrong-5'))];
  t.equal(await check(asking(token)), 'busy', 'after TOKEN_CACHE_MS the token is checked again');
  await Promise.all(again);
  t.equal(await check(asking(token)), 'ok');
  t.equal(await check({ headers: {} } as IncomingMessage), 'refused', 'no Authorization header');
});
