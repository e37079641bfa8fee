// A publisher's /metrics on METRICS_PORT is Prometheus text a real parser reads, every metric with HELP
// and TYPE; a file from the watched folder shows as one file delivered, REPLICAS copies confirmed and
// REPLICAS × its size sent, and each box's own /metrics shows exactly that file received; a box that
// refuses shows as a failed copy under its ERROR_CODE on both sides, and the file as incomplete; the
// origin's bytes, the boxes connected and the files known are the publisher's own.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { REAL_BOXES, startEntrance } from '../../test/helpers/entrance.js';
import { eventually, startAgent } from '../../test/helpers/agent.js';
import type { RunningAgent } from '../../test/helpers/agent.js';
import { startPublisher } from '../../test/helpers/publisher.js';
import { freePort, sampleValue, scrape } from '../../test/helpers/prometheus.js';
import type { Family } from '../../test/helpers/prometheus.js';

/** Every publisher metric, with its type. */
const PUBLISHER_METRICS = {
  dandelion_queue_depth: 'GAUGE',
  dandelion_files_delivered_total: 'COUNTER',
  dandelion_files_incomplete_total: 'COUNTER',
  dandelion_copies_confirmed_total: 'COUNTER',
  dandelion_copies_failed_total: 'COUNTER',
  dandelion_sent_bytes_total: 'COUNTER',
  dandelion_boxes_connected: 'GAUGE',
  dandelion_origin_served_bytes_total: 'COUNTER',
  dandelion_origin_requests_total: 'COUNTER',
  dandelion_files_known: 'GAUGE',
  // prom-client's process metrics, prefixed too
  dandelion_process_cpu_seconds_total: 'COUNTER',
  dandelion_nodejs_heap_size_used_bytes: 'GAUGE',
} as const;

/** An entrance, boxes that each serve /metrics on a port of their own, and a publisher that does too. */
async function network(t: { teardown(fn: () => unknown): void }, boxEnv: Array<Record<string, string>>, publisherEnv: Record<string, string> = {}) {
  const redis = await startRedis(t);
  const entrance = await startEntrance(t, { redisUrl: redis.url, env: REAL_BOXES });
  const boxes: Array<{ box: RunningAgent; metrics: string }> = [];
  for (const [i, env] of boxEnv.entries()) {
    const port = await freePort();
    const box = await startAgent(t, { redisUrl: redis.url, entranceUrls: [entrance.url], boxId: `box-m${i}`, env: { ...env, DANDELION_METRICS_PORT: String(port) } });
    boxes.push({ box, metrics: `http://127.0.0.1:${port}/metrics` });
  }
  const r = redis.client();
  await eventually(async () => (await r.zcard(`${entrance.id}:BOX_SET`)) === boxes.length);
  const port = await freePort();
  const pub = await startPublisher(t, { redisUrl: redis.url, entranceUrls: [entrance.url], env: { ...publisherEnv, DANDELION_METRICS_PORT: String(port) } });
  await eventually(() => pub.publisher.pool.ready().length === boxes.length);
  return { boxes, pub, metrics: `http://127.0.0.1:${port}/metrics` };
}

/** Scrape until `ready` holds for the families (the delivery finishes in the background). */
async function scrapeUntil(url: string, ready: (f: Map<string, Family>) => boolean): Promise<Map<string, Family>> {
  let families = new Map<string, Family>();
  await eventually(async () => ready((families = (await scrape(url)).families)), 20_000);
  return families;
}

function writeSegment(watchDirectory: string, name: string, content: Buffer): void {
  mkdirSync(path.join(watchDirectory, 'live'), { recursive: true });
  writeFileSync(path.join(watchDirectory, 'live', name), content);
}

t.test('a delivered file, counted by the publisher and by each box', async (t) => {
  const { boxes, pub, metrics } = await network(t, [{}, {}]);
  const before = await scrape(metrics);
  t.equal(before.status, 200);
  t.match(before.contentType, /^text\/plain; version=0\.0\.4/);
  for (const [name, type] of Object.entries(PUBLISHER_METRICS)) {
    t.equal(before.families.get(name)?.type, type, `${name} is a ${type.toLowerCase()}`);
    t.ok(before.families.get(name)?.help, `${name} has HELP`);
  }
  for (const name of before.families.keys()) t.ok(name.startsWith('dandelion_'), `${name} is prefixed`);
  t.equal(sampleValue(before.families, 'dandelion_files_delivered_total'), 0);
  t.equal(sampleValue(before.families, 'dandelion_boxes_connected'), 2);

  const content = randomBytes(150_000);
  writeSegment(pub.watchDirectory, 'seg1.ts', content);
  const m = await scrapeUntil(metrics, (f) => sampleValue(f, 'dandelion_files_delivered_total') === 1);
  t.equal(sampleValue(m, 'dandelion_files_delivered_total'), 1, 'one file delivered');
  t.equal(sampleValue(m, 'dandelion_files_incomplete_total'), 0);
  t.equal(sampleValue(m, 'dandelion_copies_confirmed_total'), 2, 'REPLICAS copies confirmed');
  t.equal(m.get('dandelion_copies_failed_total')?.metrics.length, 0, 'no copy failed');
  t.equal(sampleValue(m, 'dandelion_sent_bytes_total'), 300_000, 'REPLICAS × the file');
  t.equal(sampleValue(m, 'dandelion_queue_depth'), 0, 'nothing left to send');
  t.equal(sampleValue(m, 'dandelion_files_known'), 1);
  t.equal(sampleValue(m, 'dandelion_boxes_connected'), 2);
  for (const { box, metrics: boxMetrics } of boxes) {
    const b = (await scrape(boxMetrics)).families;
    t.equal(sampleValue(b, 'dandelion_received_bytes_total'), 150_000, `${box.boxId} received exactly the file`);
    t.equal(sampleValue(b, 'dandelion_files_stored_total'), 1, `${box.boxId} stored one file`);
  }

  t.equal((await (await fetch(`${pub.base}/origin/live/seg1.ts`)).arrayBuffer()).byteLength, 150_000);
  // The origin counts bytes when the response has finished, just after the viewer has them.
  const o = await scrapeUntil(metrics, (f) => sampleValue(f, 'dandelion_origin_served_bytes_total') === 150_000);
  t.equal(sampleValue(o, 'dandelion_origin_served_bytes_total'), 150_000, 'the origin served the file once');
  t.equal(sampleValue(o, 'dandelion_origin_requests_total'), 1);
});

t.test('a refused copy: failed under its code on both sides, the file incomplete', async (t) => {
  // The third box keeps a reserve larger than any disk, so it refuses every file with E_DISK_FULL.
  // REPLICAS 3 makes the publisher try all three boxes at once, so exactly one copy fails.
  const { boxes, pub, metrics } = await network(t, [{}, {}, { DANDELION_DISK_RESERVE_MB: String(1024 * 1024 * 1024) }], { DANDELION_REPLICAS: '3' });
  writeSegment(pub.watchDirectory, 'seg1.ts', randomBytes(40_000));
  // With no fourth box, the replicator retries for a few seconds before it settles for two copies.
  const m = await scrapeUntil(metrics, (f) => sampleValue(f, 'dandelion_files_incomplete_total') === 1);
  t.equal(sampleValue(m, 'dandelion_files_incomplete_total'), 1, 'on fewer than REPLICAS boxes');
  t.equal(sampleValue(m, 'dandelion_files_delivered_total'), 0);
  t.equal(sampleValue(m, 'dandelion_copies_confirmed_total'), 2);
  t.equal(sampleValue(m, 'dandelion_copies_failed_total', { code: 'E_DISK_FULL' }), 1, 'the refusal, under the box\'s ERROR_CODE');
  t.equal(m.get('dandelion_copies_failed_total')?.metrics.length, 1, 'no other failure');
  t.equal(sampleValue(m, 'dandelion_sent_bytes_total'), 120_000, 'the refused copy was sent too');

  const full = boxes[2] as { box: RunningAgent; metrics: string };
  const b = (await scrape(full.metrics)).families;
  t.equal(sampleValue(b, 'dandelion_files_refused_total', { code: 'E_DISK_FULL' }), 1, 'the box counts the same refusal');
  t.equal(sampleValue(b, 'dandelion_files_stored_total'), 0);
  t.equal(sampleValue(b, 'dandelion_received_bytes_total'), 0);
});
