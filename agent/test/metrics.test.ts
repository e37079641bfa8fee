// A box agent's /metrics on METRICS_PORT is Prometheus text a real parser reads, every metric with HELP
// and TYPE; bytes received and files stored equal what a publisher sent; each refused file counts
// under its ERROR_CODE and nowhere else; files held and due come from EXPIRE_FILES; bytes served equal
// the sum of nginx's access log; the log lag, viewer budget and entrance links are the agent's own.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { encodeFrame } from '../../shared/src/protocol/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startEntrance } from '../../test/helpers/entrance.js';
import { ORIGINAL_PUBLISHERS } from '../../test/helpers/messages.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import { freePort, sampleValue, scrape } from '../../test/helpers/prometheus.js';
import { connectPeer } from '../../test/helpers/ws-client.js';

const PUBLISH = { ID: 'publisher-tester', IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' };

/** Every agent metric, with its type. */
const AGENT_METRICS = {
  dandelion_received_bytes_total: 'COUNTER',
  dandelion_files_stored_total: 'COUNTER',
  dandelion_files_refused_total: 'COUNTER',
  dandelion_files_held: 'GAUGE',
  dandelion_expiry_backlog_files: 'GAUGE',
  dandelion_viewer_served_bytes_total: 'COUNTER',
  dandelion_access_log_lag_bytes: 'GAUGE',
  dandelion_viewer_budget_megabits_per_second: 'GAUGE',
  dandelion_entrance_links: 'GAUGE',
  dandelion_entrance_links_healthy: 'GAUGE',
  // prom-client's process metrics, prefixed too
  dandelion_process_cpu_seconds_total: 'COUNTER',
  dandelion_nodejs_heap_size_used_bytes: 'GAUGE',
} as const;

/** $bytes_sent summed over the complete lines of nginx's access log. */
function bytesInAccessLog(file: string): { lines: number; bytes: number } {
  const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1);
  return { lines: lines.length, bytes: lines.reduce((sum, line) => sum + Number((JSON.parse(line) as { bytes: string }).bytes), 0) };
}

t.test('what a publisher sent, what was refused, held, due and served', async (t) => {
  const redis = await startRedis(t);
  // Its publishers send PUBLISH without a grant, as the original's do (grants: agent/test/trust/).
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: ORIGINAL_PUBLISHERS });
  const port = await freePort();
  // The expiry sweep never runs during the test (once a year), so a file past its TTL stays due.
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { DANDELION_METRICS_PORT: String(port), DANDELION_EXPIRY_CRON: '0 0 0 1 1 *' } });
  t.equal(box.status.metricsPort, port, 'on METRICS_PORT');
  const endpoint = `http://127.0.0.1:${port}/metrics`;

  const before = await scrape(endpoint);
  t.equal(before.status, 200);
  t.match(before.contentType, /^text\/plain; version=0\.0\.4/);
  for (const [name, type] of Object.entries(AGENT_METRICS)) {
    t.equal(before.families.get(name)?.type, type, `${name} is a ${type.toLowerCase()}`);
    t.ok(before.families.get(name)?.help, `${name} has HELP`);
  }
  for (const name of before.families.keys()) t.ok(name.startsWith('dandelion_'), `${name} is prefixed`);
  t.equal(sampleValue(before.families, 'dandelion_received_bytes_total'), 0);
  t.equal(sampleValue(before.families, 'dandelion_files_stored_total'), 0);
  t.equal(sampleValue(before.families, 'dandelion_files_held'), 0);

  const publisher = await connectPeer(box.status.connectWs);
  t.teardown(() => publisher.close());
  publisher.sendRaw(encodeFrame({ FILE_PATH: 'early.ts' }, Buffer.from('x')), true);
  t.equal((await publisher.next()).ERROR_CODE, 'E_HANDSHAKE', 'a file before PUBLISH is refused');
  t.equal((await publisher.ask(PUBLISH)).MESSAGE, 'ACCEPTED');
  const files = [randomBytes(1_000), randomBytes(20_000), randomBytes(300_000)];
  for (const [i, content] of files.entries()) {
    publisher.sendRaw(encodeFrame({ FILE_PATH: `live/seg-${i}.ts`, TTL: i === 0 ? 1 : 600 }, content), true);
    t.equal((await publisher.next()).MESSAGE, 'ACCEPTED', `seg-${i} stored`);
  }
  for (const bad of ['../escape.ts', 'a/../../escape.ts']) {
    publisher.sendRaw(encodeFrame({ FILE_PATH: bad }, randomBytes(5_000)), true);
    t.equal((await publisher.next()).ERROR_CODE, 'E_PATH', `${bad} refused`);
  }

  const m = (await scrape(endpoint)).families;
  t.equal(sampleValue(m, 'dandelion_received_bytes_total'), 321_000, 'the bytes of the stored files, no more');
  t.equal(sampleValue(m, 'dandelion_files_stored_total'), 3);
  t.equal(sampleValue(m, 'dandelion_files_refused_total', { code: 'E_PATH' }), 2);
  t.equal(sampleValue(m, 'dandelion_files_refused_total', { code: 'E_HANDSHAKE' }), 1);
  t.equal(m.get('dandelion_files_refused_total')?.metrics.length, 2, 'no other codes');
  t.equal(sampleValue(m, 'dandelion_files_held'), 3);
  t.ok(
    await eventually(async () => sampleValue((await scrape(endpoint)).families, 'dandelion_expiry_backlog_files') === 1),
    'seg-0 is due once its 1 s TTL has passed (the sweep has not run)',
  );
  t.equal(sampleValue((await scrape(endpoint)).families, 'dandelion_files_held'), 3, 'and still held until the sweep');

  t.equal((await fetch(`${box.httpBase}/publisher-tester/live/seg-2.ts`)).status, 200);
  t.equal((await fetch(`${box.httpBase}/publisher-tester/live/none.ts`)).status, 404);
  let served: number | undefined;
  const logged = await eventually(async () => {
    const log = bytesInAccessLog(box.status.accessLogPath);
    served = sampleValue((await scrape(endpoint)).families, 'dandelion_viewer_served_bytes_total');
    return log.lines === 2 && served === log.bytes ? log : undefined;
  });
  t.ok(logged, `bytes served (${served}) are the access log's $bytes_sent, both requests`);
  t.ok((served ?? 0) > 300_000, 'the segment and its headers, and the 404');
  t.equal(sampleValue((await scrape(endpoint)).families, 'dandelion_access_log_lag_bytes'), 0, 'the tail has read the whole log');

  t.ok(
    await eventually(async () => {
      const f = (await scrape(endpoint)).families;
      return sampleValue(f, 'dandelion_entrance_links') === 1 && sampleValue(f, 'dandelion_entrance_links_healthy') === 1;
    }),
    'one entrance link, healthy',
  );
  t.ok(
    await eventually(async () => sampleValue((await scrape(endpoint)).families, 'dandelion_viewer_budget_megabits_per_second') === box.agent.status().viewerBudgetMbit),
    'the viewer budget nginx applies',
  );

  t.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404, 'nothing but /metrics on that port');
  t.equal((await fetch(endpoint, { method: 'POST' })).status, 405);
});

t.test('METRICS_PORT 0: no metrics server', async (t) => {
  const redis = await startRedis(t);
  const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: ['ws://127.0.0.1:9/dandelion/ws/'], env: { DANDELION_METRICS_PORT: '0' } });
  t.equal(box.status.metricsPort, undefined);
});
