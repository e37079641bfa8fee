/** The entrance's speed test alone on a loopback port, with limits a test can make short. */
import { createHttpApp } from '../../shared/src/http-app.js';
import { silentLogger } from '../../shared/src/log.js';
import { NO_PROXIES } from '../../shared/src/peer-address.js';
import { speedTestRoutes } from '../../entrance/src/speedtest/routes.js';
import type { SpeedTestLimits } from '../../entrance/src/speedtest/limits.js';

export async function startSpeedTest(t: { teardown(fn: () => unknown): void }, limits: Partial<SpeedTestLimits>): Promise<{ base: string; port: number }> {
  const web = createHttpApp({ log: silentLogger() });
  await web.app.register(speedTestRoutes({ basePath: '/dandelion', trustedProxies: NO_PROXIES, log: silentLogger(), limits }));
  const port = await web.listen('127.0.0.1', 0, { port: 'TEST_PORT', host: 'TEST_IP' });
  t.teardown(() => web.close());
  return { base: `http://127.0.0.1:${port}/dandelion/speedtest/`, port };
}
