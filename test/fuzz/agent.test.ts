// `dandelion agent` with its managed nginx, fuzzed as a running process: at least 10,000 generated raw
// HTTP requests on each listening port (BOX_PORT, METRICS_PORT and nginx's viewer port BOX_HTTP_PORT) and
// 10,000 generated WebSocket frames on each publishers' endpoint (/dandelion/<box-id>/ws/ on BOX_PORT,
// and the same through nginx), each target against its own agent and Redis. Afterwards each agent is
// alive and never died, a publisher's PUBLISH and file round trip works and nginx serves the file, the
// agent's RSS is within RSS_GROWTH_LIMIT of its idle RSS after a warm-up (nginx's is reported), and the
// fuzz left no more lasting Redis records than the cap. A failure names FUZZ_SEED to replay it, the
// shrunk input and the child's stack trace.
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import t from 'tap';
import { encodeFrame as encodeDandelionFrame } from '../../shared/src/protocol/frame.js';
import { killNginxGroup } from '../helpers/agent.js';
import { startRedis } from '../helpers/redis.js';
import { connectPeer } from '../helpers/ws-client.js';
import { LASTING_RECORDS_CAP, NOT_COUNTED, RSS_GROWTH_LIMIT } from './caps.js';
import { floodArb, httpBatchArb, sprayArb, validGet, wsBatchArb } from './generators.js';
import type { HttpConnectionSpec, WsItem } from './generators.js';
import { FUZZ_SEED, answers, closedPort, dandelionEnv, freePorts, fuzzTarget, inParallel, nginxRssKiB, rawRequest, sendHttpConnection, sendWsItem, startRole, tempDir } from './harness.js';
import type { Tap, Target } from './harness.js';

const TARGET = 10_000;
const BOX_ID = 'box-fuzz';
const WS_PATH = `/dandelion/${BOX_ID}/ws/`;
const PUBLISHER = 'publisher-fuzzvalid';
/** The agent's default MAX_FILE_MB, in bytes: flood frames go up to a tenth of it each. */
const MAX_FILE_BYTES = 50 * 1024 * 1024;
const KNOWN_PATHS = [
  '/', '/dandelion', '/dandelion/', WS_PATH, `/dandelion/${BOX_ID}/ws`, '/dandelion/box-other/ws/', '/metrics', '/status/', '/status/status.json',
  `/${PUBLISHER}/live/seg-0.ts`, `/${PUBLISHER}/live/index.m3u8`, '/publisher-x/../../etc/passwd', '/publisher-x/.tmp', '/.hidden', '/favicon.ico',
];
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** An agent process (and its nginx) with its own Redis; a publisher that uses it as a real client. */
async function agent(t: Tap) {
  const redis = await startRedis(t);
  const [boxPort, httpPort, metricsPort] = (await freePorts(3)) as [number, number, number];
  const dir = tempDir('dandelion-fuzz-box-');
  const runDirectory = path.join(dir, 'run');
  const proc = await startRole(t, {
    role: 'agent',
    env: dandelionEnv({
      ID: BOX_ID, REDIS_URL: redis.url, ENTRANCE_URLS: [`ws://127.0.0.1:${await closedPort()}/dandelion/ws/`], BOX_SERVER_IP: '127.0.0.1',
      BOX_PORT: boxPort, BOX_HTTP_PORT: httpPort, METRICS_PORT: metricsPort, BASE_DIRECTORY: path.join(dir, 'files'), RUN_DIRECTORY: runDirectory,
      BANDWIDTH_TEST_CRON: '', BANDWIDTH_UP: 100, BANDWIDTH_DOWN: 500, DISK_RESERVE_MB: 1, LOG_LEVEL: 'warn',
      // nginx refuses connections beyond this with 503 before they reach anything; the fuzz's own
      // parallelism must not be refused there, or the handlers behind would never be reached.
      VIEWER_MAX_CONNECTIONS: 512,
      // All the fuzz comes from 127.0.0.1: the per-address limits (tested on their own) would refuse it
      // before it reached what it fuzzes.
      MAX_SOCKETS_PER_IP: 100_000, MAX_HANDSHAKES_PER_SECOND_PER_IP: 100_000,
    }),
    ports: { BOX_PORT: boxPort, BOX_HTTP_PORT: httpPort, METRICS_PORT: metricsPort },
    ready: async () => (await answers(boxPort, '/dandelion/')) && (await answers(httpPort, '/status/')) && answers(metricsPort, '/metrics'),
    // nginx is in its own process group: kill that group, never ours.
    atDeath: () => killNginxGroup(runDirectory),
  });
  const r = redis.client();

  /** PUBLISH and one file on `port`, then the file through nginx. */
  async function publishRound(t: Tap, when: string, port: number, n: number): Promise<void> {
    const peer = await connectPeer(`ws://127.0.0.1:${port}${WS_PATH}`);
    t.equal((await peer.ask({ ID: PUBLISHER, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' })).MESSAGE, 'ACCEPTED', `${when}: PUBLISH accepted on port ${port}`);
    const content = randomBytes(10_000);
    peer.sendRaw(encodeDandelionFrame({ FILE_PATH: `live/seg-${n}.ts`, TTL: 60 }, content), true);
    const reply = await peer.next();
    await peer.close();
    t.equal(reply.SHA256, sha(content), `${when}: the file is stored and confirmed`);
    const served = await fetch(`http://127.0.0.1:${httpPort}/${PUBLISHER}/live/seg-${n}.ts`);
    t.equal(sha(Buffer.from(await served.arrayBuffer())), sha(content), `${when}: nginx serves it`);
  }
  let round = 0;
  async function validRound(t: Tap, when: string): Promise<void> {
    await publishRound(t, when, boxPort, round++);
    await publishRound(t, when, httpPort, round++);
    t.match(await rawRequest(metricsPort, validGet('/metrics')), /^HTTP\/1\.1 200/, `${when}: /metrics answers`);
    t.match(await rawRequest(boxPort, validGet('/dandelion/')), /^HTTP\/1\.1 200/, `${when}: BOX_PORT answers`);
  }
  async function warmUp(): Promise<void> {
    for (const port of [boxPort, httpPort]) {
      const peer = await connectPeer(`ws://127.0.0.1:${port}${WS_PATH}`);
      await peer.ask({ ID: PUBLISHER, IP: '127.0.0.1', TYPE: 'PUBLISHER', COMMAND: 'PUBLISH' });
      for (let i = 0; i < 100; i++) {
        peer.sendRaw(encodeDandelionFrame({ FILE_PATH: `warm/${i}.ts`, TTL: 30 }, randomBytes(i * 1000)), true);
        await peer.next();
      }
      await peer.close();
    }
    const gets = Array.from({ length: 1500 }, (_, i) => [[boxPort, httpPort, metricsPort][i % 3] as number, KNOWN_PATHS[i % KNOWN_PATHS.length] as string] as const);
    await inParallel(gets, 16, async ([port, p]) => void (await rawRequest(port, validGet(p))));
  }
  return { proc, redis: r, boxPort, httpPort, metricsPort, runDirectory, validRound, warmUp };
}

type Agent = Awaited<ReturnType<typeof agent>>;

function httpTarget(name: string, a: Agent, port: number): Target<HttpConnectionSpec> {
  return {
    name: `agent ${name} (raw HTTP)`,
    ...a,
    helperRss: () => nginxRssKiB(a.runDirectory),
    fuzz: { batch: httpBatchArb(KNOWN_PATHS, 128), send: (c) => sendHttpConnection(port, c), concurrency: 48, target: TARGET, runsPerRound: 130 },
    recordsCap: LASTING_RECORDS_CAP.agent,
    recordsIgnore: NOT_COUNTED,
    rssLimit: RSS_GROWTH_LIMIT,
  };
}

function wsTarget(name: string, a: Agent, port: number): Target<WsItem> {
  return {
    name: `agent ${WS_PATH} on ${name} (WebSocket)`,
    ...a,
    helperRss: () => nginxRssKiB(a.runDirectory),
    fuzz: {
      batch: wsBatchArb(48, { flood: floodArb({ maxSockets: 4, maxFrames: 24, maxBytes: MAX_FILE_BYTES / 10 }), spray: sprayArb('PUBLISH') }, 8),
      send: (item) => sendWsItem(port, WS_PATH, item, 'box'),
      concurrency: 24,
      target: TARGET,
      runsPerRound: 75,
    },
    recordsCap: LASTING_RECORDS_CAP.agent,
    recordsIgnore: NOT_COUNTED,
    rssLimit: RSS_GROWTH_LIMIT,
  };
}

t.test('the agent survives fuzzing of its ports and of its publishers\' socket', async (t) => {
  t.comment(`FUZZ_SEED=${FUZZ_SEED}`);
  const agents = await Promise.all(Array.from({ length: 5 }, () => agent(t)));
  const [a, b, c, d, e] = agents as [Agent, Agent, Agent, Agent, Agent];
  await Promise.all<unknown>([
    fuzzTarget(t, httpTarget('BOX_PORT', a, a.boxPort)),
    fuzzTarget(t, httpTarget('METRICS_PORT', b, b.metricsPort)),
    fuzzTarget(t, httpTarget('BOX_HTTP_PORT (nginx)', c, c.httpPort)),
    fuzzTarget(t, wsTarget('BOX_PORT', d, d.boxPort)),
    fuzzTarget(t, wsTarget('BOX_HTTP_PORT (through nginx)', e, e.httpPort)),
  ]);
});
