// `dandelion publisher` that cannot listen where its config says exits 1 with a message naming the
// key: PUBLISHER_HTTP_PORT or METRICS_PORT when another program holds the port.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { occupiedPort, runDandelion } from '../../test/helpers/cli.js';

t.test('a taken PUBLISHER_HTTP_PORT or METRICS_PORT is named; exit 1', async (t) => {
  const redis = await startRedis(t);
  const port = await occupiedPort(t);
  const dir = t.testdir();
  const env = {
    DANDELION_ID: 'publisher-porttaken', DANDELION_REDIS_URL: redis.url, DANDELION_PUBLISHER_HTTP_IP: '127.0.0.1',
    DANDELION_PUBLISHER_WATCH_DIRECTORY: `${dir}/live`, DANDELION_RUN_DIRECTORY: `${dir}/run`,
  };

  const web = await runDandelion(['publisher'], { ...env, DANDELION_PUBLISHER_HTTP_PORT: String(port), DANDELION_METRICS_PORT: '0' });
  t.equal(web.code, 1, 'exit 1: failure while running');
  t.match(web.stderr, new RegExp(`dandelion: PUBLISHER_HTTP_PORT ${port}: address in use`), web.stderr);

  const metrics = await runDandelion(['publisher'], { ...env, DANDELION_PUBLISHER_HTTP_PORT: '0', DANDELION_METRICS_PORT: String(port) });
  t.equal(metrics.code, 1, 'exit 1: failure while running');
  t.match(metrics.stderr, new RegExp(`dandelion: METRICS_PORT ${port}: address in use`), metrics.stderr);
});
