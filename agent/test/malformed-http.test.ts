// No request a stranger sends can stop a box agent: a request-target that cannot be parsed, on
// BOX_PORT (plain request or WebSocket upgrade) and on METRICS_PORT, gets 400 with a JSON
// {ERROR, ERROR_CODE: E_BAD_REQUEST}; a path starting with // is a path nothing serves (404); bytes that are no HTTP at all get the same; an upgrade to another
// path gets 404 with its ERROR_CODE; and afterwards the agent still takes a publisher's files and
// answers Prometheus.
import t from 'tap';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { startAgent } from '../../test/helpers/agent.js';
import { freePort, scrape } from '../../test/helpers/prometheus.js';
import { checkMalformedRefused, errorCodeOf, rawUpgrade, sendRaw } from '../../test/helpers/raw-http.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const PUBLISH = { ID: 'publisher-tester', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };

t.test('unparseable requests on BOX_PORT and METRICS_PORT are refused; the agent goes on', async (t) => {
  const redis = await startRedis(t);
  // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const metricsPort = await freePort();
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_METRICS_PORT: String(metricsPort) } });
  const { boxPort } = box.status;

  await checkMalformedRefused(t, [
    { name: 'BOX_PORT', port: boxPort, requestNotFoundCode: 'E_NOT_FOUND', upgradeNotFoundCode: 'E_NOT_FOUND' },
    { name: 'METRICS_PORT', port: metricsPort, requestNotFoundCode: 'E_NOT_FOUND', upgradeNotFoundCode: 'E_NOT_FOUND' },
  ]);
  const elsewhere = await sendRaw(boxPort, rawUpgrade('/somewhere/else/'));
  t.equal(elsewhere.status, 404, 'an upgrade to another path: 404');
  t.equal(errorCodeOf(elsewhere), 'E_NOT_FOUND', 'with its ERROR_CODE');

  // Still alive and serving.
  const index = await fetch(`http://127.0.0.1:${boxPort}/dandelion/`);
  t.equal(index.status, 200, 'BOX_PORT answers its index');
  t.equal((await scrape(`http://127.0.0.1:${metricsPort}/metrics`)).status, 200, 'METRICS_PORT answers a scrape');
  const publisher = await connectPeer(box.status.connectWs);
  t.teardown(() => publisher.close());
  t.equal((await publisher.ask(PUBLISH)).MESSAGE, 'ACCEPTED', 'a publisher still connects');
  publisher.sendRaw(encodeFrame({ FILE_PATH: 'live/seg-1.ts' }, Buffer.from('segment')), true);
  t.equal((await publisher.next()).MESSAGE, 'ACCEPTED', 'and its file is stored');
});
