// The box's capacity test finds the entrance's speed-test URL from its socket URL, measures a real
// entrance as positive finite Mbit/s, and turns every failure (closed port, busy or refusing entrance,
// silence, the caller's abort) into a SpeedTestError whose code and message say what failed.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { measureCapacity, mbitPerSecond, speedTestBaseUrl, uploadedBytes } from '../../src/bandwidth/speed-test.js';
import { SPEEDTEST_LIMITS } from '../../../entrance/src/speedtest/limits.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { startRedis } from '../../../test/helpers/redis.js';

t.test('the speed-test URL is derived from the socket URL', async (t) => {
  const cases: Array<[string, string]> = [
    ['ws://127.0.0.1:7071/dandelion/ws/', 'http://127.0.0.1:7071/dandelion/speedtest/'],
    ['ws://127.0.0.1:7071/dandelion/ws', 'http://127.0.0.1:7071/dandelion/speedtest/'],
    ['wss://entrance.example/dandelion/ws/', 'https://entrance.example/dandelion/speedtest/'],
    ['wss://entrance.example:8443/dandelion/ws/?x=1#y', 'https://entrance.example:8443/dandelion/speedtest/'],
    ['ws://[::1]:7071/dandelion/ws/', 'http://[::1]:7071/dandelion/speedtest/'],
    ['ws://h:7071/a/b/socket/', 'http://h:7071/a/b/speedtest/'],
    ['ws://h:7071/ws/', 'http://h:7071/speedtest/'],
    ['http://h:7071/dandelion/ws/', 'http://h:7071/dandelion/speedtest/'],
    ['https://h/dandelion/ws/', 'https://h/dandelion/speedtest/'],
  ];
  for (const [ws, http] of cases) t.equal(speedTestBaseUrl(ws).href, http, ws);
  t.throws(() => speedTestBaseUrl('ftp://h/dandelion/ws/'), TypeError, 'another scheme is refused');
  t.throws(() => speedTestBaseUrl('not a url'), TypeError, 'not a URL is refused');
});

t.test('Mbit/s is bits over seconds over a million', async (t) => {
  t.equal(mbitPerSecond(1_000_000, 1000), 8);
  t.ok(Number.isFinite(mbitPerSecond(1, 0)), 'a zero duration does not give Infinity');
});

t.test('a real entrance is measured in positive finite Mbit/s', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const before = Date.now();
  const capacity = await measureCapacity(url, { bytes: 2 * 1024 * 1024 + 5 });
  for (const key of ['upMbit', 'downMbit'] as const) t.ok(Number.isFinite(capacity[key]) && capacity[key] > 0, `${key} ${capacity[key]}`);
  t.ok(capacity.measuredAt >= before && capacity.measuredAt <= Date.now(), 'measuredAt is when it finished');
});

t.test('the upload counts what the interface sent meanwhile (viewers sharing the link), never less than the test itself', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const bytes = 4 * 1024 * 1024;
  // The kernel's counter as the box reads it before and after the upload: here viewers took nineteen
  // times the test's bytes meanwhile (far more than two runs on loopback differ by). (Loopback's own counter counts every test on this machine: the agent never reads it.)
  const readings = [10_000, 10_000 + 20 * bytes];
  const shared = await measureCapacity(url, { bytes, sentBytes: async () => readings.shift() });
  t.equal(readings.length, 0, 'the counter was read before and after the upload');
  t.ok(Number.isFinite(shared.upMbit) && shared.upMbit > 0, `with viewers counted: ${shared.upMbit.toFixed(0)} Mbit/s`);
  const wrapped = [5 * bytes, 10];
  const reset = await measureCapacity(url, { bytes, sentBytes: async () => wrapped.shift() });
  t.ok(reset.upMbit > 0, 'a counter that went back: a positive figure');
  // What each case counts, without timing two uploads (they differ by more than 5 × on a loaded machine).
  t.equal(uploadedBytes(bytes, 5 * bytes, 10), bytes, 'a counter that went back (interface restarted): the test\'s own bytes');
  t.equal(uploadedBytes(bytes, 10_000, 10_000 + 20 * bytes), 20 * bytes, 'viewers sharing the link are counted');
  t.equal(uploadedBytes(bytes, 0, bytes / 2), bytes, 'never less than the test itself');
  t.equal(uploadedBytes(bytes, undefined, 10), bytes, 'no counter: the test\'s own bytes');
  const unknown = await measureCapacity(url, { bytes, sentBytes: async () => undefined });
  t.ok(unknown.upMbit > 0, 'no counter: the test\'s own bytes');
});

t.test('a closed port rejects with E_NETWORK and a message naming what failed', async (t) => {
  const port = await closedPort();
  await t.rejects(measureCapacity(`ws://127.0.0.1:${port}/dandelion/ws/`, { bytes: 1000 }), {
    name: 'SpeedTestError',
    code: 'E_NETWORK',
    message: new RegExp(`^speed test download \\(http://127\\.0\\.0\\.1:${port}/dandelion/speedtest/download\\?bytes=1000\\) failed: .*ECONNREFUSED`),
  });
});

t.test('a busy or refusing entrance is reported with its reason', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const base = speedTestBaseUrl(url);
  // Hold a test from this address open (never read), so the next one is refused with 429.
  const held = await new Promise<http.ClientRequest>((resolve, reject) => {
    const req = http.get(new URL(`download?bytes=${SPEEDTEST_LIMITS.maxBytes}`, base), { agent: false }, (res) => {
      res.pause();
      res.on('error', () => {
        /* intentional: destroyed below */
      });
      resolve(req);
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
  await t.rejects(measureCapacity(url, { bytes: 1000 }), { code: 'E_BUSY', retryAfterMs: SPEEDTEST_LIMITS.retryAfterSeconds * 1000, message: /429.*already running/ });
  held.destroy();
  await t.rejects(measureCapacity(url, { bytes: SPEEDTEST_LIMITS.maxBytes + 1 }), { code: 'E_REFUSED', message: /400: bytes must be/ }, 'over the maximum: the entrance says why');
  await t.rejects(measureCapacity(url, { bytes: 0 }), RangeError, 'a size below 1 is refused before any request');
  await t.rejects(measureCapacity(url, { bytes: 1.5 }), RangeError);
});

t.test('a silent entrance times out, and the caller can abort', async (t) => {
  // Accepts connections and never answers.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/dandelion/ws/`;
  await t.rejects(measureCapacity(url, { bytes: 1000, timeoutMs: 100 }), { code: 'E_TIMEOUT', message: /download .* timed out after 100 ms/ });

  const ctl = new AbortController();
  const pending = measureCapacity(url, { bytes: 1000, signal: ctl.signal });
  ctl.abort();
  await t.rejects(pending, { code: 'E_ABORTED', message: /aborted by the caller/ });
  await t.rejects(measureCapacity(url, { bytes: 1000, signal: ctl.signal }), { code: 'E_ABORTED' }, 'an already aborted signal sends nothing');
});

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}
