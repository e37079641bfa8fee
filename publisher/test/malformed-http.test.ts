// No request a stranger sends can stop a publisher: a request-target that cannot be parsed, on
// PUBLISHER_HTTP_PORT and on METRICS_PORT, gets 400 with a JSON {ERROR, ERROR_CODE: E_BAD_REQUEST}
// (not a 500, not a dead process); a path starting with // is a path nothing serves (404 E_NOT_FOUND); bytes that are no HTTP at all get the same; a target whose
// percent-encoding is broken is a 404 E_NOT_FOUND like any other unknown file; and afterwards the viewer page and
// the metrics are still served.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { freePort, scrape } from '../../test/helpers/prometheus.js';
import { checkMalformedRefused, errorCodeOf, rawGet, sendRaw } from '../../test/helpers/raw-http.js';

t.test('unparseable requests on PUBLISHER_HTTP_PORT and METRICS_PORT are refused; the publisher goes on', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const metricsPort = await freePort();
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_METRICS_PORT: String(metricsPort) } });
  const webPort = Number(new URL(pub.base).port);

  await checkMalformedRefused(t, [
    // The web server serves no upgrade: an upgrade to a // path is a plain request for it.
    { name: 'PUBLISHER_HTTP_PORT', port: webPort, requestNotFoundCode: 'E_NOT_FOUND', upgradeNotFoundCode: 'E_NOT_FOUND' },
    { name: 'METRICS_PORT', port: metricsPort, requestNotFoundCode: 'E_NOT_FOUND', upgradeNotFoundCode: 'E_NOT_FOUND' },
  ]);
  const broken = await sendRaw(webPort, rawGet('/origin/%zz.ts'));
  t.equal(broken.status, 404, 'broken percent-encoding: an unknown file');
  t.equal(errorCodeOf(broken), 'E_NOT_FOUND', 'broken percent-encoding: E_NOT_FOUND');

  const page = await fetch(`${pub.base}/`);
  t.equal(page.status, 200, 'the viewer page is still served');
  t.equal((await scrape(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200, 'METRICS_PORT answers a scrape');
});
