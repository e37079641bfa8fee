// `dandelion agent` that cannot listen where its config says exits 1 with a message naming the key:
// BOX_PORT, METRICS_PORT or BOX_HTTP_PORT (nginx's) when another program holds the port.
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { occupiedPort, runDandelion } from '../../test/helpers/cli.js';

t.test('a taken BOX_PORT, METRICS_PORT or BOX_HTTP_PORT is named; exit 1', async (t) => {
  const redis = await startRedis(t);
  const port = await occupiedPort(t);
  const dir = t.testdir();
  const env = {
    DANDELION_ID: 'box-porttaken', DANDELION_REDIS_URL: redis.url, DANDELION_BOX_SERVER_IP: '127.0.0.1',
    DANDELION_BASE_DIRECTORY: `${dir}/files`, DANDELION_RUN_DIRECTORY: `${dir}/run`, DANDELION_BANDWIDTH_TEST_CRON: '', DANDELION_BANDWIDTH_UP: '50',
    DANDELION_DISK_RESERVE_MB: '1',
  };

  const box = await runDandelion(['agent'], { ...env, DANDELION_BOX_PORT: String(port), DANDELION_METRICS_PORT: '0', DANDELION_BOX_HTTP_PORT: '0' });
  t.equal(box.code, 1, 'exit 1: failure while running');
  t.match(box.stderr, new RegExp(`dandelion: BOX_PORT ${port}: address in use`), box.stderr);

  const metrics = await runDandelion(['agent'], { ...env, DANDELION_BOX_PORT: '0', DANDELION_METRICS_PORT: String(port), DANDELION_BOX_HTTP_PORT: '0' });
  t.equal(metrics.code, 1, 'exit 1: failure while running');
  t.match(metrics.stderr, new RegExp(`dandelion: METRICS_PORT ${port}: address in use`), metrics.stderr);

  const viewers = await runDandelion(['agent'], { ...env, DANDELION_BOX_PORT: '0', DANDELION_METRICS_PORT: '0', DANDELION_BOX_HTTP_PORT: String(port) });
  t.equal(viewers.code, 1, 'exit 1: failure while running');
  t.match(viewers.stderr, new RegExp(`dandelion: BOX_HTTP_PORT ${port}: address in use`), viewers.stderr);
});
