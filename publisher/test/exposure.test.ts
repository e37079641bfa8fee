// A publisher's /metrics listens on METRICS_IP, loopback unless configured, not on PUBLISHER_HTTP_IP
// where viewers reach its web server.
import t from 'tap';
import { loadRoleConfig } from '../../shared/src/config/load.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { freePort, scrape } from '../../test/helpers/prometheus.js';

t.test('/metrics binds METRICS_IP (127.0.0.1 by default), not PUBLISHER_HTTP_IP', async (t) => {
  t.equal(loadRoleConfig('publisher', undefined, {}).config.METRICS_IP, '127.0.0.1', 'the default is loopback');
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  // 127.0.0.2 is loopback too (all of 127/8 is on Linux), so the test can tell the two binds apart.
  const port = await freePort();
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_PUBLISHER_HTTP_IP: '127.0.0.2', DANDELION_METRICS_PORT: String(port) } });
  t.equal((await fetch(`${pub.base}/`)).status, 200, 'the web server is on PUBLISHER_HTTP_IP');
  t.equal((await scrape(`http://127.0.0.1:${port}/metrics`)).status, 200, '/metrics on 127.0.0.1');
  t.notOk(await fetch(`http://127.0.0.2:${port}/metrics`).then(() => true, () => false), 'not on PUBLISHER_HTTP_IP');
});
