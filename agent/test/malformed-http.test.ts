// No request a stranger sends can stop a box agent: a request-target that cannot be parsed, on
// BOX_PORT (plain request or WebSocket upgrade) and on METRICS_PORT, gets 400 with a JSON
// {ERROR, ERROR_CODE: E_BAD_REQUEST}; a path starting with // is a path nothing serves (404); bytes that are no HTTP at all get the same; an upgrade to another
// path gets 404 with its ERROR_CODE; and afterwards the agent still takes a publisher's files and
// answers Prometheus.
import t from 'tap';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { startAgent } from '../../test/helpers/agent.js';
import { freePort, scrape } from '../../test/helpers/prometheus.js';
import { SLASH_SLASH_TARGETS, UNPARSEABLE_TARGETS, errorCodeOf, rawGet, rawUpgrade, sendRaw } from '../../test/helpers/raw-http.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const PUBLISH = { ID: 'publisher-tester', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };

t.test('unparseable requests on BOX_PORT and METRICS_PORT are refused; the agent goes on', async (t) => {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url });
  const metricsPort = await freePort();
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_METRICS_PORT: String(metricsPort) } });
  const { boxPort } = box.status;

  for (const target of UNPARSEABLE_TARGETS) {
    for (const [name, port, bytes] of [
      ['BOX_PORT request', boxPort, rawGet(target)],
      ['BOX_PORT upgrade', boxPort, rawUpgrade(target)],
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
    for (const [name, port, code] of [['BOX_PORT', boxPort, 'E_NOT_FOUND'], ['METRICS_PORT', metricsPort, 'E_NOT_FOUND']] as const) {
      for (const bytes of [rawGet(target), rawUpgrade(target)]) {
        const answer = await sendRaw(port, bytes);
        t.equal(answer.status, 404, `${name} ${target}: 404`);
        if (code) t.equal(errorCodeOf(answer), code, `${name} ${target}: ${code}`);
      }
    }
  }

  for (const port of [boxPort, metricsPort]) {
    const garbage = await sendRaw(port, 'this is not HTTP\r\n\r\n');
    t.equal(garbage.status, 400, 'no HTTP at all: 400');
    t.equal(errorCodeOf(garbage), 'E_BAD_REQUEST');
  }
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
