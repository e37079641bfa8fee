// `dandelion publisher` fuzzed as a running process: at least 10,000 generated raw HTTP requests on each
// of its listening ports (PUBLISHER_HTTP_PORT, the viewers' web server, and METRICS_PORT), each against its
// own publisher and Redis. Afterwards each is alive and never died, still serves the viewer page, a file
// of its watched folder at /origin/ and /metrics, its RSS is within RSS_GROWTH_LIMIT of its idle RSS after
// a warm-up, and the fuzz left no lasting Redis records. A failure names FUZZ_SEED to replay it, the
// shrunk input and the child's stack trace.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startRedis } from '../helpers/redis.js';
import { LASTING_RECORDS_CAP, RSS_GROWTH_LIMIT } from './caps.js';
import { httpBatchArb, validGet } from './generators.js';
import type { HttpConnectionSpec } from './generators.js';
import { FUZZ_SEED, answers, closedPort, dandelionEnv, freePorts, fuzzTarget, inParallel, rawRequest, sendHttpConnection, startRole, tempDir } from './harness.js';
import type { Tap, Target } from './harness.js';

const TARGET = 10_000;
const KNOWN_PATHS = [
  '/', '/?src=live/index.m3u8', '/static/hls.min.js', '/stats', '/metrics', '/origin/live/seg-0.ts', '/origin/', '/hls/live/index.m3u8', '/hls/x.ts',
  '/files/live/seg-0.ts', '/r/live/seg-0.ts', '/r/live/seg-0.ts?exclude=127.0.0.1:1', '/origin/../../etc/passwd', '/origin/%2e%2e/x',
];

async function publisher(t: Tap) {
  const redis = await startRedis(t);
  const [httpPort, metricsPort] = (await freePorts(2)) as [number, number];
  const dir = tempDir('dandelion-fuzz-publisher-');
  const watch = path.join(dir, 'live');
  mkdirSync(path.join(watch, 'live'), { recursive: true });
  const segment = randomBytes(20_000);
  writeFileSync(path.join(watch, 'live', 'seg-0.ts'), segment);
  writeFileSync(path.join(watch, 'live', 'index.m3u8'), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg-0.ts\n');
  const proc = await startRole(t, {
    role: 'publisher',
    env: dandelionEnv({
      ID: 'publisher-fuzz', REDIS_URL: redis.url, ENTRANCE_URLS: [`ws://127.0.0.1:${await closedPort()}/dandelion/ws/`], PUBLISHER_HTTP_IP: '127.0.0.1',
      PUBLISHER_HTTP_PORT: httpPort, METRICS_PORT: metricsPort, PUBLISHER_WATCH_DIRECTORY: watch, RUN_DIRECTORY: path.join(dir, 'run'), LOG_LEVEL: 'warn',
    }),
    ports: { PUBLISHER_HTTP_PORT: httpPort, METRICS_PORT: metricsPort },
    ready: async () => (await answers(httpPort, '/stats')) && answers(metricsPort, '/metrics'),
  });

  async function validRound(t: Tap, when: string): Promise<void> {
    t.match(await rawRequest(httpPort, validGet('/')), /^HTTP\/1\.1 200[^]*<html/i, `${when}: the viewer page is served`);
    const origin = await fetch(`http://127.0.0.1:${httpPort}/origin/live/seg-0.ts`);
    t.ok(Buffer.from(await origin.arrayBuffer()).equals(segment), `${when}: /origin/ serves the watched folder's file`);
    t.match(await rawRequest(metricsPort, validGet('/metrics')), /^HTTP\/1\.1 200/, `${when}: /metrics answers`);
  }
  async function warmUp(): Promise<void> {
    const gets = Array.from({ length: 2000 }, (_, i) => [i % 2 ? httpPort : metricsPort, KNOWN_PATHS[i % KNOWN_PATHS.length] as string] as const);
    await inParallel(gets, 16, async ([port, p]) => void (await rawRequest(port, validGet(p))));
  }
  return { proc, redis: redis.client(), httpPort, metricsPort, validRound, warmUp };
}

type Publisher = Awaited<ReturnType<typeof publisher>>;

function httpTarget(name: string, p: Publisher, port: number): Target<HttpConnectionSpec> {
  return {
    name: `publisher ${name} (raw HTTP)`,
    ...p,
    fuzz: { batch: httpBatchArb(KNOWN_PATHS, 128), send: (c) => sendHttpConnection(port, c), concurrency: 64, target: TARGET, runsPerRound: 130 },
    recordsCap: LASTING_RECORDS_CAP.publisher,
    rssLimit: RSS_GROWTH_LIMIT,
  };
}

t.test('the publisher survives fuzzing of its ports', async (t) => {
  t.comment(`FUZZ_SEED=${FUZZ_SEED}`);
  const [a, b] = await Promise.all([publisher(t), publisher(t)]);
  await Promise.all([fuzzTarget(t, httpTarget('PUBLISHER_HTTP_PORT', a, a.httpPort)), fuzzTarget(t, httpTarget('METRICS_PORT', b, b.metricsPort))]);
});
