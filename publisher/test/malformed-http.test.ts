// No request a stranger sends can stop a publisher: a request-target that cannot be parsed, on
// PUBLISHER_HTTP_PORT and on METRICS_PORT, gets 400 with a JSON {ERROR, ERROR_CODE: E_BAD_REQUEST}
// (not a 500, not a dead process); a path starting with // is a path nothing serves (404); bytes that are no HTTP at all get the same; a target whose
// percent-encoding is broken is a 404 like any other unknown file; and afterwards the viewer page and
// the metrics are still served.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { freePort, scrape } from '../../test/helpers/prometheus.js';
import { SLASH_SLASH_TARGETS, UNPARSEABLE_TARGETS, errorCodeOf, rawGet, rawUpgrade, sendRaw } from '../../test/helpers/raw-http.js';

t.test('unparseable requests on PUBLISHER_HTTP_PORT and METRICS_PORT are refused; the publisher goes on', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const metricsPort = await freePort();
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_METRICS_PORT: String(metricsPort) } });
  const webPort = Number(new URL(pub.base).port);

  for (const target of UNPARSEABLE_TARGETS) {
    for (const [name, port, bytes] of [
      ['PUBLISHER_HTTP_PORT request', webPort, rawGet(target)],
      ['PUBLISHER_HTTP_PORT upgrade', webPort, rawUpgrade(target)],
      ['METRICS_PORT request', metricsPort, rawGet(target)],
      ['METRICS_PORT upgrade', metricsPort, rawUpgrade(target)],
    ] as const) {
      const answer = await sendRaw(port, bytes);
      t.equal(answer.status, 400, `${name} ${target}: 400`);
      t.equal(errorCodeOf(answer), 'E_BAD_REQUEST', `${name} ${target}: E_BAD_REQUEST`);
    }
  }
  // Paths that start with // (new URL took them for a host, and threw): nothing serves them.
  for (const target of SLASH_SLASH_TARGETS) {
    for (const [name, port, code] of [['PUBLISHER_HTTP_PORT', webPort, undefined], ['METRICS_PORT', metricsPort, 'E_NOT_FOUND']] as const) {
      for (const bytes of [rawGet(target), rawUpgrade(target)]) {
        const answer = await sendRaw(port, bytes);
        t.equal(answer.status, 404, `${name} ${target}: 404`);
        if (code) t.equal(errorCodeOf(answer), code, `${name} ${target}: ${code}`);
      }
    }
  }
  for (const port of [webPort, metricsPort]) {
    const garbage = await sendRaw(port, 'this is not HTTP\r\n\r\n');
    t.equal(garbage.status, 400, 'no HTTP at all: 400');
    t.equal(errorCodeOf(garbage), 'E_BAD_REQUEST');
  }
  t.equal((await sendRaw(webPort, rawGet('/origin/%zz.ts'))).status, 404, 'broken percent-encoding: an unknown file');

  const page = await fetch(`${pub.base}/`);
  t.equal(page.status, 200, 'the viewer page is still served');
  t.equal((await scrape(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200, 'METRICS_PORT answers a scrape');
});
