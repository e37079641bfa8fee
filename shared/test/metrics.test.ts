// Metrics done the same way by every role, on a real HTTP server over loopback: each role instance has
// its own registry carrying the process metrics, every name starts with dandelion_, the small server
// answers GET and HEAD /metrics only, a gauge that fails to collect makes the scrape 500, and a port
// already taken is a ListenError naming METRICS_PORT.
import http from 'node:http';
import t from 'tap';
import { Counter, Gauge } from 'prom-client';
import { ListenError, listenOn } from '../src/listen.js';
import { silentLogger } from '../src/log.js';
import { METRICS_PATH, METRICS_PREFIX, createMetricsRegistry, startMetricsServer } from '../src/metrics.js';
import { httpRequest } from '../../test/helpers/http-request.js';


t.test('each registry is its own, with the process metrics on it, every name prefixed', async (t) => {
  const a = createMetricsRegistry();
  const b = createMetricsRegistry();
  new Counter({ name: 'dandelion_test_a_total', help: 'only on a', registers: [a] }).inc(3);
  new Counter({ name: 'dandelion_test_a_total', help: 'the same name on b is no duplicate', registers: [b] }).inc(1);
  const textA = await a.metrics();
  const textB = await b.metrics();
  t.match(textA, /^dandelion_test_a_total 3$/m);
  t.match(textB, /^dandelion_test_a_total 1$/m, 'numbers do not mix');
  for (const text of [textA, textB]) {
    t.match(text, /^dandelion_process_cpu_user_seconds_total /m, 'process metrics on it');
    const names = text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2] as string);
    t.ok(names.length > 5);
    t.same(names.filter((n) => !n.startsWith(METRICS_PREFIX)), [], 'every name starts with dandelion_');
  }
});

t.test('the metrics server answers GET and HEAD /metrics, refuses the rest with a code, and 500s when a gauge fails', async (t) => {
  const registry = createMetricsRegistry();
  let failing = false;
  new Gauge({
    name: 'dandelion_test_queue',
    help: 'read at scrape time',
    registers: [registry],
    collect() {
      if (failing) throw new Error('redis went away');
      this.set(7);
    },
  });
  const server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0, log: silentLogger() });
  t.teardown(() => server.stop());
  t.ok(server.port > 0, 'port 0 picked a free port');

  const get = await httpRequest(server.port, 'GET', METRICS_PATH);
  t.equal(get.status, 200);
  t.match(get.headers['content-type'], /^text\/plain/);
  t.equal(get.headers['cache-control'], 'no-store');
  t.match(get.body, /^dandelion_test_queue 7$/m);
  const head = await httpRequest(server.port, 'HEAD', METRICS_PATH);
  t.equal(head.status, 200);
  t.equal(head.body, '', 'HEAD has no body');
  t.ok(Number(head.headers['content-length']) > 0, 'HEAD says how long GET would be');

  const post = await httpRequest(server.port, 'POST', METRICS_PATH);
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
  t.match(JSON.parse(post.body), { ERROR_CODE: 'E_BAD_REQUEST' });
  const elsewhere = await httpRequest(server.port, 'GET', '/');
  t.equal(elsewhere.status, 404);
  t.match(JSON.parse(elsewhere.body), { ERROR_CODE: 'E_NOT_FOUND' });

  failing = true;
  const failed = await httpRequest(server.port, 'GET', METRICS_PATH);
  t.equal(failed.status, 500, 'a number that cannot be read is not served stale');
  t.match(failed.body, /metrics not collected: redis went away/);
  failing = false;
  t.equal((await httpRequest(server.port, 'GET', METRICS_PATH)).status, 200, 'and the server answers afterwards');
});

t.test('stop closes a kept-alive scrape connection too', async (t) => {
  const server = await startMetricsServer({ registry: createMetricsRegistry(), host: '127.0.0.1', port: 0, log: silentLogger() });
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const status = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path: METRICS_PATH, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
  t.equal(status, 200);
  const began = Date.now();
  await server.stop();
  t.ok(Date.now() - began < 4_000, 'did not wait for the idle connection to time out');
  await t.rejects(httpRequest(server.port, 'GET', METRICS_PATH), { code: 'ECONNREFUSED' });
});

t.test('a port already taken is a ListenError naming METRICS_PORT', async (t) => {
  const holder = http.createServer();
  const port = await listenOn(holder, '127.0.0.1', 0);
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const err = await startMetricsServer({ registry: createMetricsRegistry(), host: '127.0.0.1', port, log: silentLogger() }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ListenError);
  t.match(err, { key: 'METRICS_PORT', code: 'EADDRINUSE', message: new RegExp(`^METRICS_PORT ${port}: address in use`) });
});
