// When the box measures its capacity: never with the figures fixed in config, nothing without an
// entrance, a real entrance measured once however many ask at the same time (BANDWIDTH_DOWN wins over
// the measured download), a busy entrance asked again a bounded number of times, and stop() ends it all.
import http from 'node:http';
import t from 'tap';
import { silentLogger } from '../../../shared/src/log.js';
import { listenOn } from '../../../shared/src/listen.js';
import { CapacityTests } from '../../src/bandwidth/capacity-tests.js';
import type { CapacityTestsDeps } from '../../src/bandwidth/capacity-tests.js';
import type { KnownCapacity } from '../../src/bandwidth/budget.js';
import { startEntrance } from '../../../test/helpers/entrance.js';
import { startRedis } from '../../../test/helpers/redis.js';

function tests(t: { teardown(fn: () => unknown): void }, overrides: Partial<CapacityTestsDeps>): { tests: CapacityTests; measured: KnownCapacity[] } {
  const measured: KnownCapacity[] = [];
  const c = new CapacityTests({
    fixed: false, schedule: '', bytes: 64 * 1024, fixedDownMbit: 0, periodMs: 60_000, log: silentLogger(),
    entrance: () => undefined,
    authHeaders: async () => undefined,
    onMeasured: (capacity) => void measured.push(capacity),
    ...overrides,
  });
  t.teardown(() => c.stop());
  return { tests: c, measured };
}

t.test('fixed figures or no entrance: nothing is measured', async (t) => {
  let asked = 0;
  const fixed = tests(t, { fixed: true, entrance: () => (asked++, 'ws://127.0.0.1:9/dandelion/ws/') });
  await fixed.tests.measureNow();
  t.equal(asked, 0, 'with BANDWIDTH_UP set no entrance is even looked for');
  const none = tests(t, {});
  await none.tests.measureNow();
  t.same(none.measured, []);
});

t.test('a real entrance, measured once for callers at the same time; BANDWIDTH_DOWN wins', async (t) => {
  const redis = await startRedis(t);
  const { url } = await startEntrance(t, { redisUrl: redis.url });
  const { tests: c, measured } = tests(t, { entrance: () => url, fixedDownMbit: 123 });
  await Promise.all([c.measureNow(), c.measureNow(), c.measureNow()]);
  t.equal(measured.length, 1, 'one test for three callers');
  t.ok((measured[0]?.upMbit ?? 0) > 0, 'upload measured');
  t.equal(measured[0]?.downMbit, 123, 'download from config');
  await c.measureNow();
  t.equal(measured.length, 2, 'a later call measures again');
});

t.test('a busy entrance is asked again, a bounded number of times', async (t) => {
  let requests = 0;
  const busy = http.createServer((_req, res) => {
    requests += 1;
    res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' });
    res.end(JSON.stringify({ ERROR: 'a test is already running', ERROR_CODE: 'E_BUSY' }));
  });
  const port = await listenOn(busy, '127.0.0.1', 0);
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const { tests: c, measured } = tests(t, { entrance: () => `ws://127.0.0.1:${port}/dandelion/ws/` });
  await c.measureNow();
  t.equal(requests, 5, 'five attempts, then the previous figures are kept');
  t.same(measured, []);
});

t.test('stop() aborts a test waiting to retry and ends the schedule', async (t) => {
  const busy = http.createServer((_req, res) => {
    res.writeHead(429, { 'retry-after': '60' });
    res.end();
  });
  const port = await listenOn(busy, '127.0.0.1', 0);
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())));
  const { tests: c } = tests(t, { entrance: () => `ws://127.0.0.1:${port}/dandelion/ws/`, schedule: '* * * * * *' });
  c.start();
  const running = c.measureNow();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const began = Date.now();
  await c.stop();
  await running;
  t.ok(Date.now() - began < 10_000, 'did not wait out the 30-90 s retry');
});
